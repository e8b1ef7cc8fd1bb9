//! Adj-RIB-Out micro-benchmarks: packing a full table for one neighbor (its initial
//! advertisement: export, grouping per attribute set, encoding), and considering the whole
//! table again when nothing changed for it (the cost of a large backlog that sends nothing).
//!
//! `cargo bench -p keel-rib --bench adj_rib_out`

mod support;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use keel_rib::adj_rib_out::{AdjRibOut, ExportPolicy};
use keel_rib::{PeerId, Rib};
use keel_tablegen::{Table, TableSpec};
use keel_wire::{CodecOptions, Family};
use std::hint::black_box;
use std::time::Duration;
use support::{load, peer};

const UPSTREAM: PeerId = PeerId(1);
const DOWNSTREAM: PeerId = PeerId(2);
/// The RIB task's write budget.
const BUDGET: usize = 64 * 1024;
const FAMILIES: [Family; 2] = [Family::IPV4_UNICAST, Family::IPV6_UNICAST];

/// A RIB holding the upstream's full table, and an external downstream neighbor.
fn loaded(table: &Table) -> Rib {
    let mut rib = Rib::default();
    rib.add_peer(UPSTREAM, peer(1, table.peer_as));
    rib.add_peer(DOWNSTREAM, peer(2, 65002));
    load(&mut rib, UPSTREAM, table);
    rib
}

/// Packs all `out` owes; (bytes, UPDATEs, calls).
fn pack_all(out: &mut AdjRibOut, rib: &Rib) -> (usize, usize, usize) {
    let policy = ExportPolicy { chain: None, vrps: None, local_asn: 65000, graceful_shutdown: false };
    let (mut bytes, mut updates, mut calls) = (0, 0, 0);
    while out.has_work() {
        let p = out.pack(rib, DOWNSTREAM, &policy, BUDGET);
        if p.bytes.is_empty() {
            break;
        }
        bytes += p.bytes.len();
        updates += p.updates;
        calls += 1;
        black_box(&p.bytes);
    }
    (bytes, updates, calls)
}

fn session(rib: &Rib) -> AdjRibOut {
    AdjRibOut::new(FAMILIES.to_vec(), CodecOptions::default(), false, rib, None)
}

fn benches(c: &mut Criterion) {
    let table = Table::generate(&TableSpec::default());
    let rib = loaded(&table);
    let (bytes, updates, calls) = pack_all(&mut session(&rib), &rib);
    eprintln!(
        "full table: {} prefixes, {} attribute sets -> {bytes} bytes in {updates} UPDATEs, {calls} writes of up to {BUDGET} bytes",
        rib.len(),
        rib.attrs.len(),
    );

    let mut g = c.benchmark_group("adj_rib_out");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.bench_function("pack full table (1.28M prefixes)", |b| {
        b.iter_batched(|| session(&rib), |mut out| pack_all(&mut out, &rib), BatchSize::PerIteration)
    });
    // Everything advertised, then every destination considered again with no change.
    g.bench_function("consider 1.28M unchanged", |b| {
        b.iter_batched(
            || {
                let mut out = session(&rib);
                pack_all(&mut out, &rib);
                out.consider(rib.iter(None).map(|(f, p, _)| (f, p)));
                out
            },
            |mut out| {
                let (bytes, _, _) = pack_all(&mut out, &rib);
                assert_eq!(bytes, 0, "nothing changed, nothing sent");
                out
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(adj_rib_out, benches);
criterion_main!(adj_rib_out);
