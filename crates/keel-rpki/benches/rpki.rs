//! RPKI origin validation on a full IPv4 feed: building the VRP table from ~500k VRPs (the
//! size of today's global set), validating all 1.05M routes, and importing the feed into a
//! RIB with and without validating each route.
//!
//! `cargo bench -p keel-rpki --bench rpki`
//!
//! The VRPs are derived deterministically from the generated table, from routes that cover no
//! other route (so that one VRP does not invalidate a route's more specifics wholesale): chosen
//! by a hash of the route's index, enough of them to cover ~48% of all routes get a VRP of their
//! own prefix and origin (valid), 1% one with another origin (invalid), 1% one for the covering
//! prefix one bit shorter with max length equal to that length (too specific: invalid). Counts,
//! the table's heap size and the process RSS around the build are printed before timing.

use criterion::{criterion_group, criterion_main, Criterion};
use keel_rib::{AttrSet, PeerId, PeerInfo, Rib};
use keel_rpki::{route_origin_asn, RpkiState, VrpTable};
use keel_tablegen::{Table, TableSpec};
use keel_wire::{Family, Prefix};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

const LOCAL_AS: u32 = 65000;

/// Every IPv4 route of the table with its Route Origin ASN.
fn routes(table: &Table) -> Vec<(Prefix, Option<u32>)> {
    table
        .family(Family::IPV4_UNICAST)
        .flat_map(|g| {
            let origin = route_origin_asn(g.attributes.as_path.as_ref(), LOCAL_AS);
            g.prefixes.iter().map(move |n| (n.prefix, origin))
        })
        .collect()
}

/// Resident set size of this process in bytes (Linux /proc/self/statm).
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// CPU time of this thread: less disturbed than wall time on a loaded machine.
fn thread_cpu() -> Duration {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we pass and nothing else.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn peer() -> PeerInfo {
    PeerInfo::new(
        IpAddr::from([127, 0, 0, 1]),
        64496,
        Ipv4Addr::new(192, 0, 2, 1),
        LOCAL_AS,
        Ipv4Addr::new(192, 0, 2, 100),
        IpAddr::from([127, 0, 0, 100]),
    )
}

/// Imports the IPv4 feed into a fresh RIB; with `vrps`, validates every route as it comes in
/// and returns how many were invalid (what an "invalid -> reject" policy would drop).
fn import(table: &Table, vrps: Option<&VrpTable>) -> (Rib, usize) {
    let mut rib = Rib::default();
    rib.add_peer(PeerId(1), peer());
    let mut invalid = 0;
    for g in table.family(Family::IPV4_UNICAST) {
        let set = rib.attrs.intern(AttrSet { attributes: g.attributes.clone(), next_hop: g.next_hop });
        let origin = route_origin_asn(g.attributes.as_path.as_ref(), LOCAL_AS);
        for n in &g.prefixes {
            if let Some(t) = vrps {
                if t.validate(&n.prefix, origin) == RpkiState::Invalid {
                    invalid += 1;
                }
            }
            rib.announce(PeerId(1), g.family, n.prefix, 0, set.clone());
        }
    }
    rib.take_changed();
    (rib, invalid)
}

fn benches(c: &mut Criterion) {
    let table = Table::generate(&TableSpec { ipv6_routes: 0, ..TableSpec::default() });
    let routes = routes(&table);
    let vrps = keel_rpki::synthetic::vrps(&routes);

    let before = rss();
    let (start, cpu) = (Instant::now(), thread_cpu());
    let t = VrpTable::new(vrps.iter().copied());
    let (built, built_cpu) = (start.elapsed(), thread_cpu() - cpu);
    let after = rss();
    let mut counts = [0usize; 3];
    let (start, cpu) = (Instant::now(), thread_cpu());
    for (p, o) in &routes {
        counts[t.validate(p, *o) as usize] += 1;
    }
    let (validated, validated_cpu) = (start.elapsed(), thread_cpu() - cpu);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{} routes, {} VRPs ({} distinct); table built in {:.1} ms ({:.1} ms CPU), heap {:.1} MiB, RSS +{:.1} MiB; \
         validated in {:.1} ms ({:.1} ms CPU): {} valid, {} invalid, {} not-found",
        routes.len(),
        vrps.len(),
        t.len(),
        ms(built),
        ms(built_cpu),
        t.heap_bytes() as f64 / (1 << 20) as f64,
        after.saturating_sub(before) as f64 / (1 << 20) as f64,
        ms(validated),
        ms(validated_cpu),
        counts[RpkiState::Valid as usize],
        counts[RpkiState::Invalid as usize],
        counts[RpkiState::NotFound as usize],
    );

    let mut g = c.benchmark_group("rpki");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("build VRP table (500k VRPs)", |b| b.iter(|| black_box(VrpTable::new(vrps.iter().copied()))));
    g.bench_function("validate full IPv4 feed (1.05M routes)", |b| {
        b.iter(|| routes.iter().filter(|(p, o)| t.validate(p, *o) == RpkiState::Invalid).count())
    });
    g.measurement_time(Duration::from_secs(30));
    g.bench_function("import full IPv4 feed, RPKI off", |b| b.iter(|| black_box(import(&table, None))));
    g.bench_function("import full IPv4 feed, RPKI on", |b| b.iter(|| black_box(import(&table, Some(&t)))));
    g.finish();
}

criterion_group!(rpki, benches);
criterion_main!(rpki);
