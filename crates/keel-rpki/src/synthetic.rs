//! Deterministic VRP sets for benchmarks: among a table's routes that cover no other route,
//! chosen by a hash of the route's index, a VRP of the route's own prefix and origin for ~48%
//! of all routes (valid), 1% with another origin (invalid), 1% for the covering prefix one
//! bit shorter with max length equal to its length (too specific: invalid). The rest have
//! none (not-found). With the 1.05M-route generated table: ~521k VRPs, the size of the global
//! set.

use crate::vrp::Vrp;
use keel_wire::Prefix;
use std::collections::HashSet;

/// splitmix64 of `i`: which VRP a route gets.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// VRPs for `routes` (prefix, Route Origin ASN as RFC 6811 §2 defines it).
pub fn vrps(routes: &[(Prefix, Option<u32>)]) -> Vec<Vrp> {
    // Routes that cover no other route of the table: a VRP for one of them says nothing about
    // the others, as for most real ROAs.
    let mut sorted: Vec<Prefix> = routes.iter().map(|r| r.0).collect();
    sorted.sort_unstable();
    let covers = |p: &Prefix, q: &Prefix| q.len() > p.len() && Prefix::new(q.addr(), p.len()) == Some(*p);
    let leaves: HashSet<Prefix> = sorted
        .iter()
        .enumerate()
        .filter(|(i, p)| sorted.get(i + 1).is_none_or(|q| !covers(p, q)))
        .map(|(_, p)| *p)
        .collect();
    // Per mille of leaf routes given a valid VRP, so that ~48% of all routes get one.
    let valid = (480 * routes.len() / leaves.len().max(1)).min(980) as u64;
    let mut vrps = Vec::new();
    for (i, &(prefix, origin)) in routes.iter().enumerate() {
        let (Some(origin), true) = (origin, leaves.contains(&prefix)) else { continue };
        let r = mix(i as u64) % 1000;
        let vrp = if r < valid {
            Vrp::new(prefix, prefix.len(), origin)
        } else if r < valid + 10 {
            Vrp::new(prefix, prefix.len(), origin ^ 0x5a5a)
        } else if r < valid + 20 && prefix.len() > 8 {
            let shorter = Prefix::new(prefix.addr(), prefix.len() - 1).unwrap_or(prefix);
            Vrp::new(shorter, shorter.len(), origin)
        } else {
            continue;
        };
        vrps.extend(vrp.ok());
    }
    vrps
}
