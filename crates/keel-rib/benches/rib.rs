//! RIB micro-benchmarks: the decision process, attribute interning, and the graceful-restart
//! operations on a full table (marking stale must not depend on the table size; the sweep
//! after End-of-RIB with 1% of the routes gone).
//!
//! `cargo bench -p keel-rib --bench rib`

mod support;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use keel_rib::decision::{decide, Candidate, Options, Source};
use keel_rib::{AttrSet, AttrTable, PeerId, Rib};
use keel_tablegen::{Table, TableSpec};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;
use support::{load, peer};

/// A RIB holding one peer's full table.
fn loaded(table: &Table) -> Rib {
    let mut rib = Rib::default();
    rib.add_peer(PeerId(1), peer(1, table.peer_as));
    load(&mut rib, PeerId(1), table);
    rib
}

fn benches(c: &mut Criterion) {
    let full = Table::generate(&TableSpec::default());
    let small = Table::generate(&TableSpec { ipv4_routes: 100_000, ipv6_routes: 20_000, ..TableSpec::default() });

    // The decision process among 10 paths differing in every tie breaker's input.
    let sets: Vec<AttrSet> = Table::generate(&TableSpec { ipv4_routes: 3000, ipv6_routes: 0, ..TableSpec::default() })
        .groups
        .iter()
        .take(10)
        .map(|g| AttrSet { attributes: g.attributes.clone(), next_hop: g.next_hop })
        .collect();
    let cands: Vec<Candidate> = sets
        .iter()
        .enumerate()
        .map(|(i, a)| Candidate {
            attrs: a,
            source: Some(Source {
                address: IpAddr::from([127, 0, 0, i as u8 + 1]),
                router_id: Ipv4Addr::new(192, 0, 2, i as u8 + 1),
                ebgp: i % 3 != 0,
            }),
            igp_metric: Some(i as u32 % 4),
            llgr_stale: false,
            path_id: 0,
        })
        .collect();
    c.bench_function("decision/10 paths", |b| b.iter(|| decide(black_box(&cands), &Options::default())));

    // Interning: the full table's attribute sets, as an UPDATE stream would present them.
    c.bench_function("attr_table/intern full table", |b| {
        b.iter_batched(
            AttrTable::default,
            |mut t| {
                for g in &full.groups {
                    black_box(t.intern(AttrSet { attributes: g.attributes.clone(), next_hop: g.next_hop }));
                }
                t
            },
            BatchSize::LargeInput,
        )
    });

    // Loading one full table into the RIB (announce + decision per prefix).
    let mut g = c.benchmark_group("rib");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("load full table (1.28M prefixes)", |b| b.iter(|| black_box(loaded(&full))));

    // Graceful restart: marking stale is O(1), whatever the table size.
    for (name, table) in [("120k", &small), ("1.28M", &full)] {
        let mut rib = loaded(table);
        g.bench_function(format!("mark stale ({name} prefixes)"), |b| {
            b.iter(|| black_box(rib.bump_generation(PeerId(1))))
        });
    }
    // Sweep after End-of-RIB when 1% of the full table did not come back.
    g.bench_function("sweep 1% stale of 1.28M", |b| {
        b.iter_batched(
            || {
                let mut rib = loaded(&full);
                rib.bump_generation(PeerId(1));
                let mut i = 0;
                for grp in &full.groups {
                    let set: Arc<AttrSet> =
                        rib.attrs.intern(AttrSet { attributes: grp.attributes.clone(), next_hop: grp.next_hop });
                    for n in &grp.prefixes {
                        i += 1;
                        if i % 100 != 0 {
                            rib.announce(PeerId(1), grp.family, n.prefix, 0, set.clone());
                        }
                    }
                }
                rib.take_changed();
                rib
            },
            |mut rib| {
                let n = rib.sweep_stale(PeerId(1), None);
                assert_eq!(n, (full.groups.iter().map(|g| g.prefixes.len()).sum::<usize>()) / 100);
                rib
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(rib, benches);
criterion_main!(rib);
