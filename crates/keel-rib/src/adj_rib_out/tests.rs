//! The Adj-RIB-Out without a daemon: a RIB with one upstream, one downstream neighbor, and
//! the bytes [`AdjRibOut::pack`] gives, decoded.

use super::*;
use crate::policy::{Action, Link, Policy, Term};
use crate::rib::tests::info;
use keel_wire::{AsPath, NextHop, Origin, PathAttributes};
use std::net::{IpAddr, Ipv4Addr};

const V4: Family = Family::IPV4_UNICAST;
const V6: Family = Family::IPV6_UNICAST;
const UPSTREAM: PeerId = PeerId(1);
const DOWNSTREAM: PeerId = PeerId(2);
const NO_POLICY: ExportPolicy = ExportPolicy { chain: None, vrps: None, local_asn: 65000, graceful_shutdown: false };

/// ORIGIN IGP, AS_PATH `path`, MED `med`.
fn set(path: &[u32], med: u32) -> AttrSet {
    AttrSet {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence(path.to_vec())),
            med: Some(med),
            ..Default::default()
        },
        next_hop: NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)),
    }
}

/// 10.x.y.0/24 for the `i`th prefix.
fn prefix(i: usize) -> Prefix {
    let [_, _, x, y] = (i as u32).to_be_bytes();
    Prefix::new(IpAddr::from([10, x, y, 0]), 24).expect("prefix")
}

/// A RIB with an external upstream (AS 65001) and an external downstream (AS 65002).
fn rib() -> Rib {
    let mut rib = Rib::default();
    rib.add_peer(UPSTREAM, info(65001, 1));
    rib.add_peer(DOWNSTREAM, info(65002, 2));
    rib
}

/// `rib` with prefixes `0..n` from the upstream, prefix `i` with attribute set `i % sets`.
fn loaded(n: usize, sets: usize) -> Rib {
    let mut rib = rib();
    let sets: Vec<Arc<AttrSet>> = (0..sets).map(|s| rib.attrs.intern(set(&[65001], s as u32))).collect();
    for i in 0..n {
        rib.announce(UPSTREAM, V4, prefix(i), 0, sets[i % sets.len()].clone());
    }
    rib.take_changed();
    rib
}

fn session(rib: &Rib) -> AdjRibOut {
    AdjRibOut::new(vec![V4], CodecOptions::default(), false, rib, None)
}

/// Packs everything at `budget`; every call's output, in order.
fn drain(out: &mut AdjRibOut, rib: &Rib, budget: usize) -> Vec<Packed> {
    let mut v = Vec::new();
    while out.has_work() {
        let p = out.pack(rib, DOWNSTREAM, &NO_POLICY, budget);
        assert!(!p.bytes.is_empty(), "a call with work left made no progress");
        v.push(p);
        assert!(v.len() < 1_000_000, "no end");
    }
    v
}

/// The messages in `bytes`, decoded with `codec`.
fn messages(bytes: &[u8], codec: &CodecOptions) -> Vec<Message> {
    let mut rest = bytes;
    let mut v = Vec::new();
    while !rest.is_empty() {
        let frame = Message::next_frame(rest, codec).expect("frame").expect("whole message");
        v.push(Message::decode(frame, codec).expect("decodes"));
        rest = &rest[frame.len()..];
    }
    v
}

fn updates(bytes: &[u8]) -> Vec<Update> {
    messages(bytes, &CodecOptions::default())
        .into_iter()
        .filter_map(|m| match m {
            Message::Update(u) => Some(*u),
            _ => None,
        })
        .collect()
}

/// The prefixes announced in `bytes`, and those withdrawn.
fn announced_withdrawn(bytes: &[u8]) -> (Vec<Prefix>, Vec<Prefix>) {
    let (mut a, mut w) = (Vec::new(), Vec::new());
    for u in updates(bytes) {
        a.extend(u.announced.iter().map(|n| n.prefix));
        w.extend(u.withdrawn_routes().map(|(_, n)| n.prefix));
    }
    (a, w)
}

fn sorted(mut v: Vec<Prefix>) -> Vec<Prefix> {
    v.sort();
    v
}

#[test]
fn initial_advertisement_groups_prefixes_by_attributes_then_end_of_rib() {
    let rib = loaded(10, 2);
    let mut out = session(&rib);
    let p = out.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX);
    let u = updates(&p.bytes);
    assert_eq!(u.len(), 3, "one UPDATE per attribute set, then End-of-RIB: {u:?}");
    assert_eq!(p.updates, 3);
    assert_eq!(u[2].as_end_of_rib(), Some(V4), "End-of-RIB last (RFC 4724 §4.1)");
    assert_eq!(p.end_of_rib, vec![V4]);
    assert!(p.errors.is_empty());
    for x in &u[..2] {
        assert_eq!(x.announced.len(), 5);
        // Exported to an external neighbor: keel's AS prepended, next hop self.
        assert_eq!(x.attributes.as_path, Some(AsPath::sequence(vec![65000, 65001])));
        assert_eq!(x.attributes.next_hop, Some(Ipv4Addr::new(127, 0, 0, 100)));
    }
    assert_eq!(sorted(announced_withdrawn(&p.bytes).0), sorted((0..10).map(prefix).collect()));
    assert_eq!(out.len(), 10);
    assert!(!out.has_work());
    assert!(out.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX).bytes.is_empty(), "nothing more");
}

#[test]
fn end_of_rib_follows_an_empty_table_at_once() {
    let rib = rib();
    let mut out = AdjRibOut::new(vec![V4, V6], CodecOptions::default(), false, &rib, None);
    let p = out.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX);
    let eor: Vec<_> = updates(&p.bytes).iter().map(|u| u.as_end_of_rib()).collect();
    assert_eq!(eor, vec![Some(V4), Some(V6)]);
    assert_eq!((p.end_of_rib, p.updates), (vec![V4, V6], 2));
}

/// Each call stays within the budget, each message within 4096 octets, and the stream is
/// the same whatever the budget.
#[test]
fn packing_respects_the_budget_and_the_message_limit() {
    // 4000 prefixes of one attribute set: several full messages.
    let rib = loaded(4000, 1);
    let whole = session(&rib).pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX).bytes;
    assert!(whole.len() > 3 * 4096, "{}", whole.len());
    let mut rest = whole.as_slice();
    while let Some(frame) = Message::next_frame(rest, &CodecOptions::default()).expect("frame") {
        assert!(frame.len() <= 4096, "{}", frame.len());
        rest = &rest[frame.len()..];
    }
    for budget in [5000, 4096, 9000] {
        let mut out = session(&rib);
        let chunks = drain(&mut out, &rib, budget);
        assert!(chunks.len() > 1);
        assert!(chunks.iter().all(|c| c.bytes.len() <= budget), "budget {budget}");
        assert_eq!(chunks.concat_bytes(), whole, "budget {budget}: same stream");
        let eor: Vec<_> = chunks.iter().map(|c| c.end_of_rib.clone()).collect();
        assert_eq!(eor.iter().flatten().count(), 1);
        assert_eq!(eor.last(), Some(&vec![V4]), "reported with the chunk that carries it");
        assert_eq!(chunks.iter().map(|c| c.updates).sum::<usize>(), updates(&whole).len());
    }
}

#[test]
fn a_budget_of_zero_hands_out_one_message_per_call() {
    let rib = loaded(3000, 7);
    let whole = session(&rib).pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX).bytes;
    let mut out = session(&rib);
    let chunks = drain(&mut out, &rib, 0);
    assert!(chunks.iter().all(|c| messages(&c.bytes, &CodecOptions::default()).len() == 1));
    assert_eq!(chunks.len(), updates(&whole).len());
    assert_eq!(chunks.concat_bytes(), whole);
}

trait Concat {
    fn concat_bytes(&self) -> Vec<u8>;
}

impl Concat for Vec<Packed> {
    fn concat_bytes(&self) -> Vec<u8> {
        self.iter().flat_map(|c| c.bytes.iter().copied()).collect()
    }
}

#[test]
fn a_withdrawn_route_is_withdrawn_once_and_an_unknown_one_not_at_all() {
    let mut rib = loaded(4, 1);
    let mut out = session(&rib);
    drain(&mut out, &rib, usize::MAX);
    rib.withdraw(UPSTREAM, V4, prefix(1), 0);
    out.consider([(V4, prefix(1)), (V4, prefix(99))]);
    let p = out.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX);
    assert_eq!(announced_withdrawn(&p.bytes), (vec![], vec![prefix(1)]));
    assert_eq!((p.updates, out.len()), (1, 3));
    out.consider([(V4, prefix(1))]);
    assert!(out.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX).bytes.is_empty(), "withdrawn already");
}

#[test]
fn a_route_is_sent_again_only_when_its_source_changed() {
    let mut rib = loaded(4, 1);
    let mut out = session(&rib);
    drain(&mut out, &rib, usize::MAX);
    out.consider((0..4).map(|i| (V4, prefix(i))));
    assert!(out.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX).bytes.is_empty(), "unchanged: nothing");
    let other = rib.attrs.intern(set(&[65001, 65003], 0));
    rib.announce(UPSTREAM, V4, prefix(2), 0, other);
    out.consider((0..4).map(|i| (V4, prefix(i))));
    let p = out.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX);
    let u = updates(&p.bytes);
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].announced.iter().map(|n| n.prefix).collect::<Vec<_>>(), vec![prefix(2)]);
    assert_eq!(u[0].attributes.as_path, Some(AsPath::sequence(vec![65000, 65001, 65003])));
}

#[test]
fn a_new_export_policy_sends_everything_again_through_it() {
    let rib = loaded(4, 1);
    let mut out = session(&rib);
    drain(&mut out, &rib, usize::MAX);
    let term = Term { name: "med".into(), matches: vec![], actions: vec![Action::SetMed(77)], verdict: None };
    let chain =
        Chain { links: vec![Link::Policy(Arc::new(Policy { name: "p".into(), terms: vec![term] })), Link::AcceptAll] };
    let policy = ExportPolicy { chain: Some(&chain), ..NO_POLICY };
    out.export_policy_changed(&rib);
    let p = out.pack(&rib, DOWNSTREAM, &policy, usize::MAX);
    let u = updates(&p.bytes);
    assert_eq!(u.len(), 1, "no End-of-RIB again");
    assert_eq!((u[0].announced.len(), u[0].attributes.med), (4, Some(77)));
    let (family, sent) = out.sent().map(|((f, _), s)| (f, s.clone())).next().expect("sent");
    let shown = exported(&rib, DOWNSTREAM, &policy, family, &prefix(0), &sent).expect("exported");
    assert_eq!(shown.attributes.med, Some(77), "the Adj-RIB-Out shows what went out");
}

#[test]
fn add_path_sends_path_id_zero_for_the_one_path() {
    let rib = loaded(3, 1);
    let codec = CodecOptions { add_path: vec![V4], ..Default::default() };
    let mut out = AdjRibOut::new(vec![V4], codec.clone(), false, &rib, None);
    let p = out.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX);
    let sent: Vec<_> = messages(&p.bytes, &codec)
        .into_iter()
        .filter_map(|m| match m {
            Message::Update(u) => Some(u.announced),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(sent.len(), 3);
    assert!(sent.iter().all(|n| n.path_id == Some(0)), "{sent:?}");
    let plain = session(&rib).pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX).bytes;
    assert_eq!(p.bytes.len(), plain.len() + 3 * 4, "a 4-octet id per prefix on the wire (RFC 7911 §3)");
}

#[test]
fn enhanced_route_refresh_frames_the_routes_with_borr_and_eorr() {
    let rib = loaded(4, 1);
    let mut out = AdjRibOut::new(vec![V4], CodecOptions::default(), true, &rib, None);
    drain(&mut out, &rib, usize::MAX);
    out.route_refresh(V4, &rib);
    let p = out.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX);
    let kinds: Vec<String> = messages(&p.bytes, &CodecOptions::default())
        .iter()
        .map(|m| match m {
            Message::RouteRefresh(r) => r.subtype.name().to_string(),
            Message::Update(u) => format!("update {}", u.announced.len()),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, vec!["begin", "update 4", "end"]);
    assert_eq!(p.updates, 1, "the markers are no UPDATEs");
}

#[test]
fn plain_route_refresh_sends_the_family_again_unframed() {
    let rib = loaded(4, 1);
    let mut out = session(&rib);
    drain(&mut out, &rib, usize::MAX);
    out.route_refresh(V4, &rib);
    let p = out.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX);
    assert_eq!(messages(&p.bytes, &CodecOptions::default()).len(), 1);
    assert_eq!(sorted(announced_withdrawn(&p.bytes).0), sorted((0..4).map(prefix).collect()));
}

/// RFC 8654 §4: attributes too large for 4096 octets are not sent; the route sent before
/// them is withdrawn, and the error comes back to be logged.
#[test]
fn attributes_too_large_for_a_message_withdraw_the_route() {
    let mut rib = loaded(2, 1);
    let mut out = session(&rib);
    drain(&mut out, &rib, usize::MAX);
    let mut big = set(&[65001], 0);
    big.attributes.communities = (0..1100).map(|i| Community(0xfde8_0000 + i)).collect();
    let big = rib.attrs.intern(big);
    rib.announce(UPSTREAM, V4, prefix(0), 0, big);
    out.consider([(V4, prefix(0))]);
    let p = out.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX);
    assert_eq!(announced_withdrawn(&p.bytes), (vec![], vec![prefix(0)]));
    assert!(
        matches!(
            &p.errors[..],
            [PackError::RoutesNotSent { family: V4, routes: 1, error: EncodeError::TooLarge { .. } }]
        ),
        "{:?}",
        p.errors
    );
    assert_eq!(out.len(), 1, "only the other route is held");
}

/// RFC 7947 §2.3.2: when the best path is the client's own (split horizon), it gets the
/// next best rather than nothing.
#[test]
fn a_route_server_client_gets_the_best_path_it_may_have() {
    let mut rib = rib();
    let client = PeerInfo { route_server_client: true, ..info(65002, 2) };
    rib.add_peer(DOWNSTREAM, client);
    let own = rib.attrs.intern(set(&[65002], 0));
    let other = rib.attrs.intern(set(&[65001, 65005, 65006], 0));
    rib.announce(DOWNSTREAM, V4, prefix(0), 0, own);
    rib.announce(UPSTREAM, V4, prefix(0), 0, other);
    assert_eq!(rib.best(V4, &prefix(0)).map(|p| p.peer), Some(DOWNSTREAM), "the client's own path is best");
    let mut out = session(&rib);
    let u = updates(&out.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX).bytes);
    assert_eq!(u[0].announced.len(), 1);
    // RFC 7947 §2.2: the route server adds no AS.
    assert_eq!(u[0].attributes.as_path, Some(AsPath::sequence(vec![65001, 65005, 65006])));
}

/// A large backlog is sorted by attribute set before it is sent: prefixes sharing one share
/// UPDATEs across the whole backlog, not just within a batch.
#[test]
fn a_large_backlog_shares_updates_across_batches() {
    let sets = 1000;
    let rib = loaded(20 * sets, sets);
    let mut out = session(&rib);
    let u = updates(&out.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX).bytes);
    // One UPDATE per set, plus at most one split set per batch boundary, plus End-of-RIB;
    // unsorted, each batch of 4096 holds some 4 prefixes of every set: ~5000 UPDATEs.
    let batches = (20 * sets).div_ceil(BATCH);
    assert!(u.len() <= sets + batches + 1, "{} UPDATEs", u.len());
    assert_eq!(u.iter().map(|u| u.announced.len()).sum::<usize>(), 20 * sets);
}

#[test]
fn a_target_not_in_the_rib_gets_nothing_and_keeps_its_backlog() {
    let rib = loaded(4, 1);
    let mut out = session(&rib);
    let p = out.pack(&rib, PeerId(9), &NO_POLICY, usize::MAX);
    assert!(p.bytes.is_empty() && p.errors.is_empty());
    assert!(out.has_work() && out.backlog());
}

#[test]
fn only_the_session_families_are_considered() {
    let rib = loaded(2, 1);
    let mut out = AdjRibOut::new(vec![V6], CodecOptions::default(), false, &rib, None);
    out.consider([(V4, prefix(0))]);
    let p = out.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX);
    let u = updates(&p.bytes);
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].as_end_of_rib(), Some(V6), "no IPv4 route on an IPv6 session");
}

#[test]
fn advertise_in_order_replaces_the_backlog() {
    let rib = loaded(6, 2);
    let mut out = session(&rib);
    let order = initial_order(&rib);
    assert_eq!(order.len(), 6);
    out.advertise_in_order(&order[..2]);
    let (announced, _) = announced_withdrawn(&out.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX).bytes);
    assert_eq!(sorted(announced), sorted(order[..2].iter().map(|(_, p)| *p).collect()));
}

/// RFC 8326 §4.2: graceful shutdown on re-advertises every route tagged with
/// GRACEFUL_SHUTDOWN, last after the export policy (which cannot take it off); routes that
/// already carried it are not sent again; off sends them back without it.
#[test]
fn graceful_shutdown_re_sends_only_routes_it_changes() {
    use crate::graceful_shutdown::COMMUNITY;
    let mut rib = rib();
    let plain = rib.attrs.intern(set(&[65001], 1));
    let tagged = rib.attrs.intern(AttrSet {
        attributes: PathAttributes { communities: vec![COMMUNITY].into(), ..set(&[65001], 2).attributes },
        ..set(&[65001], 2)
    });
    for i in 0..4 {
        rib.announce(UPSTREAM, V4, prefix(i), 0, if i < 3 { plain.clone() } else { tagged.clone() });
    }
    rib.take_changed();
    let mut out = session(&rib);
    drain(&mut out, &rib, usize::MAX);
    let term = Term {
        name: "strip".into(),
        matches: vec![],
        actions: vec![Action::ReplaceCommunities(vec![])],
        verdict: None,
    };
    let strip =
        Chain { links: vec![Link::Policy(Arc::new(Policy { name: "p".into(), terms: vec![term] })), Link::AcceptAll] };
    let on = ExportPolicy { graceful_shutdown: true, ..NO_POLICY };
    out.graceful_shutdown_changed();
    let p = out.pack(&rib, DOWNSTREAM, &on, usize::MAX);
    let u = updates(&p.bytes);
    assert_eq!(sorted(announced_withdrawn(&p.bytes).0), (0..3).map(prefix).collect::<Vec<_>>(), "{u:?}");
    for x in &u {
        assert_eq!(x.attributes.communities.iter().filter(|c| **c == COMMUNITY).count(), 1);
        assert_eq!(x.attributes.local_pref, None, "external neighbor");
    }
    // Nothing more to send while it stays on.
    out.graceful_shutdown_changed();
    assert!(out.pack(&rib, DOWNSTREAM, &on, usize::MAX).bytes.is_empty());
    let (family, sent) = out.sent().map(|((f, _), s)| (f, s.clone())).next().expect("sent");
    let shown = exported(&rib, DOWNSTREAM, &on, family, &prefix(0), &sent).expect("exported");
    assert_eq!(shown.attributes.communities, vec![COMMUNITY], "the Adj-RIB-Out shows what went out");
    // An export policy that removes every community does not take the tag off.
    let stripped = ExportPolicy { chain: Some(&strip), ..on };
    out.export_policy_changed(&rib);
    let p = out.pack(&rib, DOWNSTREAM, &stripped, usize::MAX);
    assert_eq!(announced_withdrawn(&p.bytes).0.len(), 4);
    assert!(updates(&p.bytes).iter().all(|x| x.attributes.communities == vec![COMMUNITY]));
    // Off: the three go out again without it; the one received with it is unchanged.
    out.export_policy_changed(&rib);
    drain(&mut out, &rib, usize::MAX);
    out.graceful_shutdown_changed();
    let p = out.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX);
    assert!(p.bytes.is_empty(), "off again: nothing changes");
    out.graceful_shutdown_changed();
    let p = out.pack(&rib, DOWNSTREAM, &on, usize::MAX);
    assert_eq!(announced_withdrawn(&p.bytes).0.len(), 3);
    out.graceful_shutdown_changed();
    let p = out.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX);
    assert_eq!(sorted(announced_withdrawn(&p.bytes).0), (0..3).map(prefix).collect::<Vec<_>>());
    assert!(updates(&p.bytes).iter().all(|x| !x.attributes.communities.contains(&COMMUNITY)));
}

/// Add-Path send (RFC 7911): upstreams 10..10+n (AS 65010+i, AS_PATH of i+1 hops: upstream 10
/// best, then 11, ...), each with prefix 0, and the downstream.
mod add_path_send {
    use super::*;
    use crate::adj_rib_out::add_path::path_id;

    fn up(i: u8) -> PeerId {
        PeerId(10 + u32::from(i))
    }

    /// AS_PATH of `i + 1` hops from upstream `i`.
    fn route(rib: &mut Rib, i: u8, med: u32) {
        let path: Vec<u32> = (0..=u32::from(i)).map(|h| 65010 + u32::from(i) + 100 * h).collect();
        let a = rib.attrs.intern(set(&path, med));
        rib.announce(up(i), V4, prefix(0), 0, a);
    }

    /// The RIB with upstreams `order` added and announcing in that order.
    fn rib_of(order: &[u8]) -> Rib {
        let mut rib = rib();
        for &i in order {
            rib.add_peer(up(i), info(65010 + u32::from(i), 10 + i));
        }
        for &i in order {
            route(&mut rib, i, 0);
        }
        rib.take_changed();
        rib
    }

    fn codec() -> CodecOptions {
        CodecOptions { add_path: vec![V4], ..Default::default() }
    }

    fn session(rib: &Rib, paths: usize) -> AdjRibOut {
        AdjRibOut::new(vec![V4], codec(), false, rib, None).with_add_path_send(paths)
    }

    /// Announced (path id, first AS) and withdrawn path ids in one pack.
    fn pack(out: &mut AdjRibOut, rib: &Rib) -> (Vec<(u32, u32)>, Vec<u32>) {
        let p = out.pack(rib, DOWNSTREAM, &NO_POLICY, usize::MAX);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let (mut a, mut w) = (Vec::new(), Vec::new());
        for m in messages(&p.bytes, &codec()) {
            let Message::Update(u) = m else { continue };
            // The AS after keel's own: the upstream's.
            let first = u.attributes.as_path.as_ref().and_then(|p| p.asns().nth(1)).unwrap_or(0);
            a.extend(u.announced.iter().map(|n| (n.path_id.expect("a path id"), first)));
            w.extend(u.withdrawn_routes().map(|(_, n)| n.path_id.expect("a path id")));
        }
        (a, w)
    }

    /// The id keel sends for upstream `i`'s path.
    fn id(i: u8) -> u32 {
        path_id(IpAddr::from([127, 0, 0, 10 + i]), 0)
    }

    /// What the neighbor holds, best first: (path id, source).
    fn held(out: &AdjRibOut) -> Vec<(u32, PeerId)> {
        out.sent_paths().map(|(_, id, s)| (id.expect("an id"), s.source)).collect()
    }

    #[test]
    fn sends_the_n_best_paths_best_first_with_derived_ids() {
        let rib = rib_of(&[2, 0, 1]);
        let mut out = session(&rib, 2);
        assert!(out.sends_several_paths());
        let (a, w) = pack(&mut out, &rib);
        assert!(w.is_empty());
        let mut a = a;
        a.sort();
        let mut want = vec![(id(0), 65010), (id(1), 65011)];
        want.sort();
        assert_eq!(a, want, "the two best, each under its own id");
        assert_eq!(held(&out), vec![(id(0), up(0)), (id(1), up(1))], "best first");
        assert_eq!(out.len(), 1, "one destination");
        assert_ne!(id(0), id(1));
    }

    #[test]
    fn all_sends_every_path_and_two_sends_two() {
        let rib = rib_of(&[0, 1, 2, 3]);
        let mut all = session(&rib, usize::MAX);
        assert_eq!(pack(&mut all, &rib).0.len(), 4);
        assert_eq!(held(&all).iter().map(|h| h.1).collect::<Vec<_>>(), vec![up(0), up(1), up(2), up(3)]);
        let mut two = session(&rib, 2);
        assert_eq!(pack(&mut two, &rib).0.len(), 2);
    }

    #[test]
    fn a_changed_non_best_path_keeps_its_id() {
        let mut rib = rib_of(&[0, 1, 2]);
        let mut out = session(&rib, usize::MAX);
        pack(&mut out, &rib);
        route(&mut rib, 1, 5);
        out.consider([(V4, prefix(0))]);
        let (a, w) = pack(&mut out, &rib);
        assert_eq!(a, vec![(id(1), 65011)], "only the changed path, under its id");
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(held(&out).iter().map(|h| h.0).collect::<Vec<_>>(), vec![id(0), id(1), id(2)]);
    }

    #[test]
    fn a_new_best_path_changes_no_id() {
        let mut rib = rib_of(&[0, 1]);
        let mut out = session(&rib, 2);
        pack(&mut out, &rib);
        // Upstream 1 becomes best: a shorter AS_PATH than upstream 0's.
        let a = rib.attrs.intern(set(&[65011], 0));
        rib.announce(up(1), V4, prefix(0), 0, a);
        let b = rib.attrs.intern(set(&[65010, 65110], 0));
        rib.announce(up(0), V4, prefix(0), 0, b);
        out.consider([(V4, prefix(0))]);
        let (mut a, w) = pack(&mut out, &rib);
        a.sort();
        let mut want = vec![(id(0), 65010), (id(1), 65011)];
        want.sort();
        assert_eq!(a, want, "both changed, each under its old id");
        assert!(w.is_empty());
        assert_eq!(held(&out), vec![(id(1), up(1)), (id(0), up(0))], "best first");
    }

    #[test]
    fn the_best_changing_among_the_sent_paths_sends_nothing() {
        let mut rib = rib_of(&[0, 1, 2]);
        let mut out = session(&rib, 2);
        pack(&mut out, &rib);
        rib.withdraw(up(2), V4, prefix(0), 0);
        out.consider([(V4, prefix(0))]);
        assert_eq!(pack(&mut out, &rib), (vec![], vec![]), "a path not sent went away");
    }

    #[test]
    fn a_withdrawn_path_is_withdrawn_under_its_id_and_the_next_takes_its_place() {
        let mut rib = rib_of(&[0, 1, 2]);
        let mut out = session(&rib, 2);
        pack(&mut out, &rib);
        rib.withdraw(up(0), V4, prefix(0), 0);
        out.consider([(V4, prefix(0))]);
        let (a, w) = pack(&mut out, &rib);
        assert_eq!(w, vec![id(0)]);
        assert_eq!(a, vec![(id(2), 65012)], "the third best moves up, under its own id");
        assert_eq!(held(&out), vec![(id(1), up(1)), (id(2), up(2))]);
        for i in [1, 2] {
            rib.withdraw(up(i), V4, prefix(0), 0);
        }
        out.consider([(V4, prefix(0))]);
        let (a, mut w) = pack(&mut out, &rib);
        w.sort();
        let mut want = vec![id(1), id(2)];
        want.sort();
        assert_eq!((a, w), (vec![], want));
        assert!(out.is_empty());
    }

    #[test]
    fn the_same_paths_get_the_same_ids_whatever_the_order() {
        // keel restarted (RFC 4724): new peer ids, upstreams up in another order.
        let first = rib_of(&[0, 1, 2, 3]);
        let mut before = session(&first, usize::MAX);
        let (mut a, _) = pack(&mut before, &first);
        let mut second = rib();
        for (n, &i) in [3u8, 1, 0, 2].iter().enumerate() {
            second.add_peer(PeerId(50 + n as u32), info(65010 + u32::from(i), 10 + i));
            let path: Vec<u32> = (0..=u32::from(i)).map(|h| 65010 + u32::from(i) + 100 * h).collect();
            let attrs = second.attrs.intern(set(&path, 0));
            second.announce(PeerId(50 + n as u32), V4, prefix(0), 0, attrs);
        }
        let mut after = session(&second, usize::MAX);
        let (mut b, _) = pack(&mut after, &second);
        a.sort();
        b.sort();
        assert_eq!(a, b, "same path ids for the same paths");
    }

    #[test]
    fn colliding_ids_are_told_apart_and_kept() {
        // Two source addresses whose ids collide (found by a birthday search).
        let (x, y) = (IpAddr::from([173, 193, 126, 99]), IpAddr::from([195, 79, 179, 116]));
        assert_eq!(path_id(x, 0), path_id(y, 0));
        let mut rib = rib();
        for (n, a) in [(0u8, x), (1, y)] {
            let mut i = info(65010 + u32::from(n), 10 + n);
            i.address = a;
            rib.add_peer(up(n), i);
            route(&mut rib, n, 0);
        }
        let mut out = session(&rib, usize::MAX);
        pack(&mut out, &rib);
        let h = path_id(x, 0);
        assert_eq!(held(&out), vec![(h, up(0)), (h.wrapping_add(1), up(1))], "the second takes the next value");
        // The path holding the hash goes: the other keeps its id.
        rib.withdraw(up(0), V4, prefix(0), 0);
        out.consider([(V4, prefix(0))]);
        assert_eq!(pack(&mut out, &rib), (vec![], vec![h]));
        assert_eq!(held(&out), vec![(h.wrapping_add(1), up(1))]);
    }

    #[test]
    fn a_path_from_the_neighbor_itself_is_not_sent_back() {
        let mut rib = rib_of(&[0, 1]);
        // The downstream also sends the prefix, with the best AS_PATH of all.
        let a = rib.attrs.intern(set(&[65002], 0));
        rib.announce(DOWNSTREAM, V4, prefix(0), 0, a);
        let mut out = session(&rib, usize::MAX);
        pack(&mut out, &rib);
        assert_eq!(held(&out), vec![(id(0), up(0)), (id(1), up(1))], "its own path not among them");
    }

    #[test]
    fn without_add_path_send_negotiated_one_path_goes_out_without_id() {
        let rib = rib_of(&[0, 1]);
        let mut out =
            AdjRibOut::new(vec![V4], CodecOptions::default(), false, &rib, None).with_add_path_send(usize::MAX);
        assert!(!out.sends_several_paths());
        let p = out.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX);
        let (a, _) = announced_withdrawn(&p.bytes);
        assert_eq!(a, vec![prefix(0)]);
        assert_eq!(out.sent_paths().map(|(_, id, s)| (id, s.source)).collect::<Vec<_>>(), vec![(None, up(0))]);
    }

    #[test]
    fn export_policy_applies_per_path() {
        let rib = rib_of(&[0, 1, 2]);
        // Reject routes whose AS_PATH holds 65011 (upstream 1's).
        let term = Term {
            name: "no-65011".into(),
            matches: vec![crate::policy::Match::AsPathContains(65011)],
            actions: vec![],
            verdict: Some(Verdict::Reject),
        };
        let chain = Chain {
            links: vec![Link::Policy(Arc::new(Policy { name: "p".into(), terms: vec![term] })), Link::AcceptAll],
        };
        let policy = ExportPolicy { chain: Some(&chain), ..NO_POLICY };
        let mut out = session(&rib, 2);
        out.pack(&rib, DOWNSTREAM, &policy, usize::MAX);
        assert_eq!(held(&out), vec![(id(0), up(0)), (id(2), up(2))], "the rejected path skipped, the next taken");
    }
}

/// A large backlog of new destinations gets its room in `sent` at once, so the table is not
/// grown by doubling (old and new buckets alive together) while it is sent; a backlog of
/// destinations `sent` already holds (a new export policy) takes no more room.
#[test]
fn a_large_backlog_gets_its_room_once() {
    let n = ORDER_THRESHOLD + 1000;
    let rib = loaded(n, 7);
    let mut out = session(&rib);
    out.consider((0..n).map(|i| (V4, prefix(i))));
    let p = out.pack(&rib, DOWNSTREAM, &NO_POLICY, 0);
    assert!(!p.bytes.is_empty());
    let room = out.sent.capacity();
    assert!(room >= n, "room for {n} destinations before the first batch went out, got {room}");
    drain(&mut out, &rib, usize::MAX);
    assert_eq!((out.sent.len(), out.sent.capacity()), (n, room), "no growth while the backlog was sent");
    out.export_policy_changed(&rib);
    drain(&mut out, &rib, usize::MAX);
    assert_eq!(out.sent.capacity(), room, "a backlog of known destinations takes no more room");
}

/// A neighbor coming back with its table: what it gave is left out of its initial
/// advertisement (it could be sent nothing for it), what others gave goes out, and a
/// destination left out comes in when its best path changes to another neighbor's.
#[test]
fn the_initial_advertisement_leaves_out_what_the_neighbor_gave() {
    let mut rib = loaded(6, 2);
    for i in 6..10 {
        rib.announce_set(DOWNSTREAM, V4, prefix(i), 0, set(&[65002], 0));
    }
    rib.take_changed();
    let mut out = AdjRibOut::new(vec![V4], CodecOptions::default(), false, &rib, Some(DOWNSTREAM));
    assert_eq!(out.pending.len(), 6, "the downstream's own four are not walked");
    let p = out.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX);
    assert_eq!(sorted(announced_withdrawn(&p.bytes).0), sorted((0..6).map(prefix).collect()));
    assert_eq!(p.end_of_rib, vec![V4]);
    // The downstream withdraws prefix 6; the upstream has it: now it goes out.
    rib.announce_set(UPSTREAM, V4, prefix(6), 0, set(&[65001], 9));
    rib.withdraw(DOWNSTREAM, V4, prefix(6), 0);
    out.consider(rib.take_changed().into_iter().map(|c| (c.family, c.prefix)));
    let p = out.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX);
    assert_eq!(announced_withdrawn(&p.bytes).0, vec![prefix(6)]);
    // The same walk without `own` sends the same routes: the four are refused by export.
    let mut all = AdjRibOut::new(vec![V4], CodecOptions::default(), false, &rib, None);
    assert_eq!(all.pending.len(), 10);
    let p = all.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX);
    assert_eq!(sorted(announced_withdrawn(&p.bytes).0), sorted((0..7).map(prefix).collect()));
}

/// What the neighbor holds, read back from the UPDATEs it was sent (as `keel upgrade` hands
/// an Adj-RIB-Out to the next keeld image).
fn held(bytes: &[u8]) -> Vec<(Family, Prefix, Arc<AttrSet>)> {
    updates(bytes)
        .iter()
        .flat_map(AttrSet::announced)
        .flat_map(|(f, set, nlri)| {
            let set = Arc::new(set);
            nlri.into_iter().map(move |n| (f, n.prefix, set.clone()))
        })
        .collect()
}

/// A session handed over by keel's previous image: the new image's decision, the same for
/// most destinations, sends nothing for them; a changed route, a new one, one no longer
/// there and one the neighbor holds that the RIB never had are all that go out; no
/// End-of-RIB (the neighbor had it).
#[test]
fn a_handed_over_session_sends_only_what_differs_from_what_the_neighbor_holds() {
    let mut rib = loaded(10, 2);
    let mut before = session(&rib);
    let sent: Vec<u8> = drain(&mut before, &rib, usize::MAX).into_iter().flat_map(|p| p.bytes).collect();
    let mut inherited = held(&sent);
    assert_eq!(inherited.len(), 10, "every route read back");
    inherited.push((V4, prefix(20), Arc::new(set(&[65009], 1))));
    rib.withdraw(UPSTREAM, V4, prefix(0), 0);
    rib.announce_set(UPSTREAM, V4, prefix(1), 0, set(&[65001, 65010], 1));
    rib.announce_set(UPSTREAM, V4, prefix(10), 0, set(&[65001], 0));
    rib.take_changed();

    let mut out = session(&rib);
    out.inherit(inherited.clone(), &[V4]);
    let p = drain(&mut out, &rib, usize::MAX);
    let bytes: Vec<u8> = p.iter().flat_map(|p| p.bytes.clone()).collect();
    let (a, w) = announced_withdrawn(&bytes);
    assert_eq!(sorted(a), vec![prefix(1), prefix(10)]);
    assert_eq!(sorted(w), vec![prefix(0), prefix(20)]);
    assert!(p.iter().all(|p| p.end_of_rib.is_empty()), "no End-of-RIB again");
    assert_eq!(out.inherited_left(), 0);
    assert_eq!(out.len(), 10, "what it holds now is known: prefixes 1-10");

    // Nothing changed at all: nothing goes out.
    let mut again = session(&rib);
    let now: Vec<u8> = drain(&mut again, &rib, usize::MAX).into_iter().flat_map(|p| p.bytes).collect();
    let mut same = session(&rib);
    same.inherit(held(&now), &[V4]);
    let p = same.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX);
    assert!(p.bytes.is_empty() && !same.has_work(), "no message at all: {} octets", p.bytes.len());
    // The previous image had not sent End-of-RIB yet: it is still owed, and goes out alone.
    let mut owed = session(&rib);
    owed.inherit(held(&now), &[]);
    let p = owed.pack(&rib, DOWNSTREAM, &NO_POLICY, usize::MAX);
    assert_eq!((p.end_of_rib.clone(), p.updates), (vec![V4], 1), "End-of-RIB alone");
    assert_eq!(same.len(), 10);
}
