//! The RIB: announce, withdraw, decision, stale marking and sweeps; `info` is shared with the
//! export tests.

use super::*;
use keel_wire::{AsPath, PathAttributes};

/// Neighbor 127.0.0.`last` (router id 192.0.2.`last`) of keel AS 65000 at 127.0.0.100;
/// shared with the export tests.
pub(crate) fn info(asn: u32, last: u8) -> PeerInfo {
    PeerInfo::new(
        IpAddr::from([127, 0, 0, last]),
        asn,
        Ipv4Addr::new(192, 0, 2, last),
        65000,
        Ipv4Addr::new(192, 0, 2, 100),
        IpAddr::from([127, 0, 0, 100]),
    )
}

fn set(path: &[u32]) -> AttrSet {
    AttrSet {
        attributes: PathAttributes { as_path: Some(AsPath::sequence(path.to_vec())), ..Default::default() },
        next_hop: NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)),
    }
}

const F: Family = Family::IPV4_UNICAST;

fn prefix(s: &str) -> Prefix {
    s.parse().unwrap()
}

#[test]
fn best_path_follows_announcements_and_withdrawals() {
    let mut rib = Rib::default();
    rib.add_peer(PeerId(1), info(65001, 1));
    rib.add_peer(PeerId(2), info(65002, 2));
    let p = prefix("198.51.100.0/24");
    rib.announce_set(PeerId(1), F, p, 0, set(&[65001, 65010, 65100]));
    assert_eq!(rib.take_changed(), vec![Changed { family: F, prefix: p }]);
    rib.announce_set(PeerId(2), F, p, 0, set(&[65002, 65100]));
    assert_eq!(rib.best(F, &p).unwrap().peer, PeerId(2));
    assert_eq!(rib.take_changed().len(), 1);
    // Same attributes again: refreshed, no change.
    rib.announce_set(PeerId(2), F, p, 0, set(&[65002, 65100]));
    assert!(rib.take_changed().is_empty());
    rib.withdraw(PeerId(2), F, p, 0);
    assert_eq!(rib.best(F, &p).unwrap().peer, PeerId(1));
    rib.flush_peer(PeerId(1), None);
    assert!(rib.dest(F, &p).is_none());
    assert_eq!((rib.received(PeerId(1)), rib.received(PeerId(2))), (0, 0));
}

/// A set equal to the one a neighbor's path already holds is that path's copy; any other
/// set, or another neighbor's, goes through the intern table.
#[test]
fn a_re_sent_set_is_found_in_the_path_that_holds_it() {
    let mut rib = Rib::default();
    rib.add_peer(PeerId(1), info(65001, 1));
    rib.add_peer(PeerId(2), info(65002, 2));
    let p = prefix("198.51.100.0/24");
    let a = rib.intern_as_held(PeerId(1), F, &p, 0, set(&[65001, 65100]));
    rib.announce(PeerId(1), F, p, 0, a.clone());
    let interned = rib.attrs.len();
    let again = rib.intern_as_held(PeerId(1), F, &p, 0, set(&[65001, 65100]));
    assert!(Arc::ptr_eq(&a, &again));
    assert_eq!(rib.attrs.len(), interned, "no new set");
    let other = rib.intern_as_held(PeerId(1), F, &p, 0, set(&[65001, 65200]));
    assert!(!Arc::ptr_eq(&a, &other));
    assert_eq!(rib.attrs.len(), interned + 1);
    // Another neighbor's path, another path id, another prefix: the intern table's copy.
    let shared = rib.intern_as_held(PeerId(2), F, &p, 0, set(&[65001, 65100]));
    assert!(Arc::ptr_eq(&a, &shared), "the same set, interned");
    let q = prefix("203.0.113.0/24");
    assert!(Arc::ptr_eq(&a, &rib.intern_as_held(PeerId(1), F, &q, 7, set(&[65001, 65100]))));
    assert_eq!(rib.attrs.len(), interned + 1);
}

/// Ten neighbors' paths to one destination take room for 13, not the 16 doubling gives.
#[test]
fn a_destination_grows_its_path_list_by_half() {
    let mut rib = Rib::default();
    let p = prefix("198.51.100.0/24");
    for n in 1..=10u8 {
        rib.add_peer(PeerId(u32::from(n)), info(65000 + u32::from(n), n));
        rib.announce_set(PeerId(u32::from(n)), F, p, 0, set(&[65000 + u32::from(n)]));
    }
    let d = rib.dest(F, &p).expect("the destination");
    assert_eq!(d.paths.len(), 10);
    assert_eq!(d.paths.capacity(), 13);
}

#[test]
fn loops_are_refused() {
    let mut rib = Rib::default();
    rib.add_peer(PeerId(1), info(65001, 1));
    rib.announce_set(PeerId(1), F, prefix("198.51.100.0/24"), 0, set(&[65001, 65000, 65100]));
    assert!(rib.is_empty());
    let mut s = set(&[65001]);
    s.attributes.originator_id = Some(Ipv4Addr::new(192, 0, 2, 100));
    rib.announce_set(PeerId(1), F, prefix("198.51.100.0/24"), 0, s);
    assert!(rib.is_empty());
}

#[test]
fn generations_make_paths_stale_and_sweep_only_old_ones() {
    let mut rib = Rib::default();
    rib.add_peer(PeerId(1), info(65001, 1));
    let (a, b) = (prefix("198.51.100.0/24"), prefix("203.0.113.0/24"));
    rib.announce_set(PeerId(1), F, a, 0, set(&[65001]));
    rib.announce_set(PeerId(1), F, b, 0, set(&[65001]));
    rib.take_changed();
    rib.bump_generation(PeerId(1));
    assert_eq!(rib.stale_count(PeerId(1)), 2);
    assert!(rib.take_changed().is_empty(), "marking stale changes no best path");
    rib.announce_set(PeerId(1), F, a, 0, set(&[65001]));
    assert!(rib.take_changed().is_empty(), "an unchanged refresh is no change");
    assert_eq!(rib.sweep_stale(PeerId(1), Some(F)), 1);
    assert_eq!(rib.take_changed(), vec![Changed { family: F, prefix: b }]);
    assert!(rib.best(F, &a).is_some());
}

#[test]
fn multipath_keeps_equal_paths_and_reports_a_change_of_the_set() {
    let mut rib = Rib::new(Options { always_compare_med: false, max_paths: 4 });
    rib.add_peer(PeerId(1), info(65001, 1));
    rib.add_peer(PeerId(2), info(65001, 2));
    let p = prefix("198.51.100.0/24");
    let mut other = set(&[65001, 65100]);
    other.next_hop = NextHop::V4(Ipv4Addr::new(192, 0, 2, 2));
    rib.announce_set(PeerId(1), F, p, 0, set(&[65001, 65100]));
    rib.take_changed();
    rib.announce_set(PeerId(2), F, p, 0, other);
    assert_eq!(rib.take_changed().len(), 1, "a new equal-cost path changes the multipath set");
    let hops: Vec<_> = rib.dest(F, &p).unwrap().multipath().map(|x| x.attrs.next_hop).collect();
    assert_eq!(hops.len(), 2);
}

#[test]
fn long_lived_marking_deletes_no_llgr_and_loses_to_any_fresh_path() {
    let mut rib = Rib::default();
    rib.add_peer(PeerId(1), info(65001, 1));
    rib.add_peer(PeerId(2), info(65002, 2));
    let (a, b, c) = (prefix("198.51.100.0/24"), prefix("203.0.113.0/24"), prefix("192.0.2.0/24"));
    // Peer 1 has the better paths (shorter AS path) everywhere.
    rib.announce_set(PeerId(1), F, a, 0, set(&[65001]));
    rib.announce_set(PeerId(1), F, b, 0, set(&[65001]));
    let mut no_llgr = set(&[65001]);
    no_llgr.attributes.communities = vec![Community::NO_LLGR].into();
    rib.announce_set(PeerId(1), F, c, 0, no_llgr);
    rib.announce_set(PeerId(2), F, a, 0, set(&[65002, 65010, 65100]));
    rib.take_changed();
    rib.bump_generation(PeerId(1));
    assert!(rib.take_changed().is_empty(), "GR stale: nothing moves");
    assert_eq!(rib.best(F, &a).unwrap().peer, PeerId(1));
    assert_eq!(rib.enter_long_lived(PeerId(1), F), 1, "the NO_LLGR path is deleted");
    assert!(rib.dest(F, &c).is_none());
    assert_eq!(rib.best(F, &a).unwrap().peer, PeerId(2), "LLGR-stale loses to the longer fresh path");
    let kept = rib.best(F, &b).unwrap();
    assert!(rib.is_llgr_stale(F, kept), "only path: still best, now LLGR-stale");
    let mut changed = rib.take_changed();
    changed.sort();
    let mut expected: Vec<_> = [a, b, c].into_iter().map(|prefix| Changed { family: F, prefix }).collect();
    expected.sort();
    assert_eq!(changed, expected, "every selected path's advertisement changes");
    assert_eq!(rib.stale_counts(PeerId(1)), vec![(F, StaleCount { stale: 2, long_lived: 2 })]);
    assert_eq!(rib.received(PeerId(1)), 2);
    // The neighbor is back and re-sends `a`: fresh again, best again.
    rib.announce_set(PeerId(1), F, a, 0, set(&[65001]));
    assert_eq!(rib.best(F, &a).unwrap().peer, PeerId(1));
    assert!(!rib.is_llgr_stale(F, rib.best(F, &a).unwrap()));
    assert_eq!(rib.sweep_stale(PeerId(1), Some(F)), 1);
    assert!(rib.dest(F, &b).is_none());
}

#[test]
fn next_hop_metrics_re_decide_only_where_they_can_matter() {
    let mut rib = Rib::default();
    rib.add_peer(PeerId(1), info(65001, 1));
    rib.add_peer(PeerId(2), info(65001, 2));
    let (both, lone) = (prefix("198.51.100.0/24"), prefix("203.0.113.0/24"));
    let via = |last: u8| {
        let mut a = set(&[65001]);
        a.next_hop = NextHop::V4(Ipv4Addr::new(192, 0, 2, last));
        a
    };
    rib.announce_set(PeerId(1), F, both, 0, via(11));
    rib.announce_set(PeerId(2), F, both, 0, via(12));
    rib.announce_set(PeerId(2), F, lone, 0, via(12));
    rib.take_changed();
    // Equal paths: the lower router id (peer 1) wins.
    assert_eq!(rib.best(F, &both).unwrap().peer, PeerId(1));
    let nh = |last: u8| IpAddr::from([192, 0, 2, last]);
    // Metric 0 is what an unknown next hop counted as: nothing to decide again.
    rib.set_next_hop(nh(12), Some(0));
    assert!(rib.take_changed().is_empty());
    // A worse IGP metric to peer 1's next hop: peer 2 wins (RFC 4271 §9.1.2.2 e).
    rib.set_next_hop(nh(11), Some(100));
    assert_eq!(rib.take_changed(), vec![Changed { family: F, prefix: both }]);
    assert_eq!(rib.best(F, &both).unwrap().peer, PeerId(2));
    // Unreachable: the lone path is no longer eligible (§9.1.2.1).
    rib.set_next_hop(nh(12), None);
    let mut changed = rib.take_changed();
    changed.sort();
    assert_eq!(changed, vec![Changed { family: F, prefix: both }, Changed { family: F, prefix: lone }]);
    assert!(rib.best(F, &lone).is_none());
    assert_eq!(rib.best(F, &both).unwrap().peer, PeerId(1));
}

#[test]
fn longest_match_finds_the_most_specific_covering_destination_with_a_best_path() {
    let mut rib = Rib::default();
    rib.add_peer(PeerId(1), info(65001, 1));
    let mut via = |p: &str, last: u8| {
        let mut a = set(&[65001]);
        a.next_hop = NextHop::V4(Ipv4Addr::new(192, 0, 2, last));
        rib.announce_set(PeerId(1), F, prefix(p), 0, a);
    };
    via("0.0.0.0/0", 1);
    via("203.0.113.0/24", 1);
    via("203.0.113.0/25", 9);
    let v6 = Family::IPV6_UNICAST;
    rib.announce_set(PeerId(1), v6, prefix("2001:db8::/32"), 0, set(&[65001]));
    let matches = |rib: &Rib, family: Option<Family>, q: &str| -> Vec<String> {
        let q: Prefix = q.parse().unwrap_or_else(|_| Prefix::host(q.parse().unwrap()));
        rib.longest_match(family, &q).map(|(f, p, _)| format!("{f} {p}")).collect()
    };
    assert_eq!(matches(&rib, None, "203.0.113.5"), ["ipv4-unicast 203.0.113.0/25"]);
    assert_eq!(matches(&rib, None, "203.0.113.0/25"), ["ipv4-unicast 203.0.113.0/25"], "itself");
    assert_eq!(matches(&rib, None, "203.0.112.0/23"), ["ipv4-unicast 0.0.0.0/0"], "none as long");
    assert_eq!(matches(&rib, None, "203.0.113.200"), ["ipv4-unicast 203.0.113.0/24"]);
    assert_eq!(matches(&rib, None, "198.51.100.1"), ["ipv4-unicast 0.0.0.0/0"]);
    assert_eq!(matches(&rib, None, "2001:db8::1"), ["ipv6-unicast 2001:db8::/32"]);
    assert!(matches(&rib, None, "2001:db9::1").is_empty());
    assert!(matches(&rib, Some(v6), "203.0.113.5").is_empty(), "only the family asked");
    // A destination without an eligible path is not in the Loc-RIB: the next shorter one is.
    rib.set_next_hop(IpAddr::from([192, 0, 2, 9]), None);
    assert_eq!(matches(&rib, Some(F), "203.0.113.5"), ["ipv4-unicast 203.0.113.0/24"]);
}

/// One step of [`kept_stale_counts_equal_a_walk`].
#[derive(Debug, Clone)]
enum Op {
    Announce {
        peer: u32,
        v6: bool,
        prefix: u8,
        community: u8,
    },
    Withdraw {
        peer: u32,
        v6: bool,
        prefix: u8,
    },
    /// Through import policy: 0 accepted as is, 1 changed (LOCAL_PREF), 2 rejected.
    Filtered {
        peer: u32,
        v6: bool,
        prefix: u8,
        verdict: u8,
    },
    Bump(u32),
    LongLived(u32, bool),
    Sweep(u32, Option<bool>),
    Flush(u32, Option<bool>),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    let peer = 1u32..3;
    let family = proptest::option::of(any::<bool>());
    prop_oneof![
        6 => (peer.clone(), any::<bool>(), 0u8..8, 0u8..3)
            .prop_map(|(peer, v6, prefix, community)| Op::Announce { peer, v6, prefix, community }),
        3 => (peer.clone(), any::<bool>(), 0u8..8).prop_map(|(peer, v6, prefix)| Op::Withdraw { peer, v6, prefix }),
        4 => (peer.clone(), any::<bool>(), 0u8..8, 0u8..3)
            .prop_map(|(peer, v6, prefix, verdict)| Op::Filtered { peer, v6, prefix, verdict }),
        1 => peer.clone().prop_map(Op::Bump),
        1 => (peer.clone(), any::<bool>()).prop_map(|(p, v6)| Op::LongLived(p, v6)),
        1 => (peer.clone(), family.clone()).prop_map(|(p, f)| Op::Sweep(p, f)),
        1 => (peer, family).prop_map(|(p, f)| Op::Flush(p, f)),
    ]
}

proptest::proptest! {
    /// The stale and LLGR-stale counts kept as paths come and go equal a walk over the
    /// table, whatever the sequence of GR and LLGR events.
    #[test]
    fn kept_stale_counts_equal_a_walk(ops in proptest::collection::vec(op(), 1..60)) {
        let mut rib = Rib::default();
        rib.add_peer(PeerId(1), info(65001, 1));
        rib.add_peer(PeerId(2), info(65002, 2));
        let family = |v6: bool| if v6 { Family::IPV6_UNICAST } else { F };
        let prefix = |v6: bool, n: u8| -> Prefix {
            if v6 { format!("2001:db8:{n}::/48").parse().unwrap() } else { format!("198.51.{n}.0/24").parse().unwrap() }
        };
        for op in ops {
            match op {
                Op::Announce { peer, v6, prefix: n, community } => {
                    let mut a = set(&[65000 + peer]);
                    a.attributes.communities = match community {
                        1 => vec![Community::LLGR_STALE].into(),
                        2 => vec![Community::NO_LLGR].into(),
                        _ => vec![].into(),
                    };
                    rib.announce_set(PeerId(peer), family(v6), prefix(v6, n), 0, a);
                }
                Op::Withdraw { peer, v6, prefix: n } => rib.withdraw(PeerId(peer), family(v6), prefix(v6, n), 0),
                Op::Filtered { peer, v6, prefix: n, verdict } => {
                    let original = rib.attrs.intern(set(&[65000 + peer]));
                    let mut changed = set(&[65000 + peer]);
                    changed.attributes.local_pref = Some(300);
                    let accepted = match verdict {
                        0 => Some(original.clone()),
                        1 => Some(rib.attrs.intern(changed)),
                        _ => None,
                    };
                    rib.announce_filtered(PeerId(peer), family(v6), prefix(v6, n), 0, original, accepted);
                }
                Op::Bump(peer) => {
                    rib.bump_generation(PeerId(peer));
                }
                Op::LongLived(peer, v6) => {
                    rib.enter_long_lived(PeerId(peer), family(v6));
                }
                Op::Sweep(peer, f) => {
                    rib.sweep_stale(PeerId(peer), f.map(family));
                }
                Op::Flush(peer, f) => {
                    rib.flush_peer(PeerId(peer), f.map(family));
                }
            }
            for peer in [PeerId(1), PeerId(2)] {
                proptest::prop_assert_eq!(rib.stale_counts(peer), rib.stale_counts_walked(peer));
                let walked = rib.iter(None).flat_map(|(_, _, d)| d.paths.iter()).filter(|p| p.peer == peer).count();
                proptest::prop_assert_eq!(rib.received(peer), walked);
                // The prefix-limit counts, kept as routes come and go, equal a walk too.
                let received = rib.received_routes(peer);
                for f in [F, Family::IPV6_UNICAST] {
                    let walked = rib.iter(Some(f)).flat_map(|(_, _, d)| d.paths.iter()).filter(|p| p.peer == peer).count();
                    proptest::prop_assert_eq!(rib.adj_rib_in_count(peer, f, AdjRibInCount::Accepted), walked);
                    let all = received.iter().filter(|r| r.family == f).count();
                    proptest::prop_assert_eq!(rib.adj_rib_in_count(peer, f, AdjRibInCount::Received), all);
                }
            }
        }
    }
}

#[test]
fn routes_before_policy_are_kept_for_re_evaluation_and_follow_generations() {
    let mut rib = Rib::default();
    rib.add_peer(PeerId(1), info(65001, 1));
    let (a, b, c) = (prefix("198.51.100.0/24"), prefix("203.0.113.0/24"), prefix("192.0.2.0/24"));
    let original = rib.attrs.intern(set(&[65001]));
    let mut changed = set(&[65001]);
    changed.attributes.local_pref = Some(300);
    let changed = rib.attrs.intern(changed);
    rib.announce_filtered(PeerId(1), F, a, 0, original.clone(), Some(original.clone()));
    rib.announce_filtered(PeerId(1), F, b, 0, original.clone(), Some(changed.clone()));
    rib.announce_filtered(PeerId(1), F, c, 0, original.clone(), None);
    assert_eq!(rib.best(F, &b).unwrap().attrs.attributes.local_pref, Some(300));
    assert!(rib.dest(F, &c).is_none(), "rejected");
    let mut got: Vec<(Prefix, bool)> =
        rib.received_routes(PeerId(1)).iter().map(|r| (r.prefix, Arc::ptr_eq(&r.attrs, &original))).collect();
    got.sort();
    assert_eq!(got, vec![(c, true), (a, true), (b, true)], "all three, as received");
    // Re-evaluation after a policy change keeps the generation: stale stays stale.
    rib.bump_generation(PeerId(1));
    let r = rib.received_routes(PeerId(1)).into_iter().find(|r| r.prefix == c).unwrap();
    rib.put_filtered(PeerId(1), r, Some(original.clone()));
    assert!(rib.is_stale(rib.best(F, &c).unwrap()), "accepted now, still stale");
    // A sweep drops stale routes whether accepted or not.
    assert_eq!(rib.sweep_stale(PeerId(1), None), 3);
    assert!(rib.received_routes(PeerId(1)).is_empty());
    // A withdrawal forgets the route before policy too.
    rib.announce_filtered(PeerId(1), F, c, 0, original.clone(), None);
    rib.withdraw(PeerId(1), F, c, 0);
    assert!(rib.received_routes(PeerId(1)).is_empty());
}

/// Prefix limits count what the Adj-RIB-In holds: before policy ("received") or after
/// ("accepted"), one entry per prefix however often it is re-sent.
#[test]
fn adj_rib_in_counts_before_and_after_policy() {
    let mut rib = Rib::default();
    rib.add_peer(PeerId(1), info(65001, 1));
    let original = rib.attrs.intern(set(&[65001]));
    let (a, b) = (prefix("198.51.100.0/24"), prefix("203.0.113.0/24"));
    rib.announce_filtered(PeerId(1), F, a, 0, original.clone(), Some(original.clone()));
    rib.announce_filtered(PeerId(1), F, b, 0, original.clone(), None);
    let count = |rib: &Rib, c| rib.adj_rib_in_count(PeerId(1), F, c);
    assert_eq!((count(&rib, AdjRibInCount::Received), count(&rib, AdjRibInCount::Accepted)), (2, 1));
    assert!(rib.in_adj_rib_in(PeerId(1), F, &a, 0) && rib.in_adj_rib_in(PeerId(1), F, &b, 0));
    // Re-sent, the rejected one accepted now and the accepted one rejected: still two.
    rib.announce_filtered(PeerId(1), F, a, 0, original.clone(), None);
    rib.announce_filtered(PeerId(1), F, b, 0, original.clone(), Some(original.clone()));
    assert_eq!((count(&rib, AdjRibInCount::Received), count(&rib, AdjRibInCount::Accepted)), (2, 1));
    rib.withdraw(PeerId(1), F, a, 0);
    rib.withdraw(PeerId(1), F, b, 0);
    assert_eq!((count(&rib, AdjRibInCount::Received), count(&rib, AdjRibInCount::Accepted)), (0, 0));
    assert!(!rib.in_adj_rib_in(PeerId(1), F, &a, 0));
}

/// RFC 4724 §4.2: a restarting neighbor's stale routes stay in its Adj-RIB-In until the
/// End-of-RIB sweep, and count towards its limit until then; a stale route re-sent replaces
/// its stale entry (counted once), and the sweep takes the count down to the routes re-sent.
#[test]
fn stale_routes_count_until_the_sweep_and_are_not_counted_twice() {
    let mut rib = Rib::default();
    rib.add_peer(PeerId(1), info(65001, 1));
    let original = rib.attrs.intern(set(&[65001]));
    let prefixes: Vec<Prefix> = (0..5).map(|i| prefix(&format!("198.51.{i}.0/24"))).collect();
    for (i, p) in prefixes.iter().enumerate() {
        // One rejected by import policy, the others accepted.
        let accepted = (i != 4).then(|| original.clone());
        rib.announce_filtered(PeerId(1), F, *p, 0, original.clone(), accepted);
    }
    let count = |rib: &Rib, c| rib.adj_rib_in_count(PeerId(1), F, c);
    assert_eq!((count(&rib, AdjRibInCount::Received), count(&rib, AdjRibInCount::Accepted)), (5, 4));
    // The session goes, the routes are kept stale; the neighbor comes back.
    rib.bump_generation(PeerId(1));
    assert_eq!(count(&rib, AdjRibInCount::Received), 5, "stale routes count");
    // It re-sends three of them (one the rejected one) and a new one.
    for p in [prefixes[0], prefixes[1], prefixes[4]] {
        let accepted = (p != prefixes[4]).then(|| original.clone());
        rib.announce_filtered(PeerId(1), F, p, 0, original.clone(), accepted);
    }
    rib.announce_filtered(PeerId(1), F, prefix("192.0.2.0/24"), 0, original.clone(), Some(original.clone()));
    assert_eq!(
        (count(&rib, AdjRibInCount::Received), count(&rib, AdjRibInCount::Accepted)),
        (6, 5),
        "re-sent routes replace their stale entries: 5 kept + 1 new"
    );
    // End-of-RIB: the two not re-sent go.
    assert_eq!(rib.sweep_stale(PeerId(1), Some(F)), 2);
    assert_eq!((count(&rib, AdjRibInCount::Received), count(&rib, AdjRibInCount::Accepted)), (4, 3));
    rib.flush_peer(PeerId(1), None);
    assert_eq!(count(&rib, AdjRibInCount::Received), 0);
}
