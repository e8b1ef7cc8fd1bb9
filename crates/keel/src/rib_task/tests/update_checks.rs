//! What the RIB task refuses or corrects on the way in: next hops (RFC 4271 §5.1.3, §6.3), confederation segments (RFC 5065), first AS, attributes from external neighbors (RFC 7606).

use super::*;

#[tokio::test(start_paused = true)]
async fn a_new_next_hop_is_resolved_once_as_soon_as_it_is_seen() {
    let (fib_tx, mut fib_rx) = mpsc::channel(64);
    let rig = Rig::with_fib(Some(fib_tx));
    let a = Neighbor::new(1, 65001, false);
    rig.send(a.up()).await;
    rig.send(a.announce(&["198.51.100.0/24"], &[65001], vec![])).await;
    rig.send(a.announce(&["203.0.113.0/24"], &[65001, 65002], vec![])).await;
    rig.routes().await;
    let mut resolved = Vec::new();
    while let Ok(cmd) = fib_rx.try_recv() {
        if let crate::events::FibCommand::Resolve(addr) = cmd {
            resolved.push(addr);
        }
    }
    assert_eq!(resolved, vec![IpAddr::from([192, 0, 2, 9])], "asked once, for the neighbor's next hop");
}

/// A path as AS_PATH segments, for paths with confederation segments and sets.
fn segments(segments: &[(SegmentType, &[u32])]) -> AsPath {
    AsPath {
        segments: segments
            .iter()
            .map(|(kind, asns)| AsSegment { kind: *kind, asns: asns.iter().copied().collect() })
            .collect(),
    }
}

/// Issue 16 defect 4. keel is in no confederation, so an external neighbor is never in "the
/// same confederation": RFC 5065 §5 makes its AS_PATH with AS_CONFED_SEQUENCE malformed, and
/// RFC 7606 §7.2 says a malformed AS_PATH is treat-as-withdraw. The route it replaces goes
/// too, the session stays, and nothing reaches the other eBGP neighbor.
#[tokio::test(start_paused = true)]
async fn confederation_segments_from_external_neighbor_are_withdrawn() {
    let rig = Rig::start();
    let a = Neighbor::new(1, 65001, false);
    let mut d = Neighbor::new(4, 65004, false);
    rig.send(a.up()).await;
    rig.send(d.up()).await;
    rig.send(a.announce(&["198.51.100.0/24"], &[65001], vec![])).await;
    assert_eq!(rig.best("198.51.100.0/24").await, Some((Some(a.address), false)));
    assert_eq!(d.received().0.len(), 1, "the well-formed route went out");
    for kind in [SegmentType::ConfedSequence, SegmentType::ConfedSet] {
        // As in the issue: the confederation segment, then the neighbor's own AS.
        let path = segments(&[(kind, &[65010]), (SegmentType::Sequence, &[65001])]);
        rig.send(a.announce_path(&["198.51.100.0/24", "203.0.113.0/24"], path)).await;
        let routes = rig.routes().await;
        assert!(routes.is_empty(), "{kind:?}: {routes:?}");
    }
    let (announced, withdrawn) = d.received();
    assert!(announced.is_empty(), "{announced:?}");
    assert_eq!(withdrawn, vec!["198.51.100.0/24".to_string()]);
    // The session is still up: a well-formed route is taken again.
    rig.send(a.announce(&["203.0.113.0/24"], &[65001], vec![])).await;
    assert_eq!(rig.best("203.0.113.0/24").await, Some((Some(a.address), false)));
}

/// Issue 16 defect 4. An internal neighbor is in keel's own AS, so in whatever confederation
/// that AS belongs to: its confederation segments are kept (RFC 5065 §5 only rejects them from
/// outside), but RFC 5065 §4.1 c) and §5 say they never go to a neighbor outside the
/// confederation, which every external neighbor of keel is.
#[tokio::test(start_paused = true)]
async fn confederation_segments_never_leave() {
    let rig = Rig::start();
    let c = Neighbor::new(3, KEEL_AS, false);
    let mut d = Neighbor::new(4, 65004, false);
    rig.send(c.up()).await;
    rig.send(d.up()).await;
    let path = segments(&[
        (SegmentType::ConfedSequence, &[65010, 65011]),
        (SegmentType::ConfedSet, &[65012]),
        (SegmentType::Sequence, &[65020]),
    ]);
    rig.send(c.announce_path(&["198.51.100.0/24"], path.clone())).await;
    let routes = rig.routes().await;
    assert_eq!(routes.len(), 1, "taken from the internal neighbor");
    assert_eq!(routes[0].as_path, vec![65010, 65011, 65012, 65020]);
    let sent = d.updates();
    let paths: Vec<_> = sent.iter().filter_map(|u| u.attributes.as_path.clone()).collect();
    assert_eq!(paths, vec![AsPath::sequence(vec![KEEL_AS, 65020])], "stripped, then prepended");
}

/// RFC 4271 §6.3: a NEXT_HOP that is keel's own address on the session (127.0.0.100 here) is
/// logged and its routes ignored, the route it replaces gone too; no NOTIFICATION, the session
/// goes on. Only the routes with that next hop: one row per next hop.
#[tokio::test(start_paused = true)]
async fn rfc4271_6_3_next_hop_of_keel_itself_is_ignored() {
    let rig = Rig::start();
    let a = Neighbor::new(1, 65001, false);
    rig.send(a.up()).await;
    let attributes = igp_path(&[65001]);
    let rows = [
        (Ipv4Addr::new(192, 0, 2, 9), true),
        (Ipv4Addr::new(127, 0, 0, 100), false),
        (Ipv4Addr::new(192, 0, 2, 9), true),
    ];
    for (i, (nh, installed)) in rows.into_iter().enumerate() {
        rig.send(a.announce_attributes(&["198.51.100.0/24"], &attributes, NextHop::V4(nh))).await;
        let best = rig.best("198.51.100.0/24").await;
        assert_eq!(best.is_some(), installed, "row {i}: next hop {nh}");
    }
}

/// RFC 4271 §6.3 with RFC 7606 §7.2: with `enforce_first_as` an external neighbor's path
/// must start with its AS, else treat-as-withdraw; off (a route server neighbor, RFC 7947),
/// the path is taken as it is. One row per (enforce_first_as, first AS, taken).
#[tokio::test(start_paused = true)]
async fn rfc4271_6_3_enforce_first_as_through_the_rib_task() {
    let rows = [(true, 65001, true), (true, 65099, false), (false, 65099, true)];
    for (i, (enforce, first, taken)) in rows.into_iter().enumerate() {
        let rig = Rig::start();
        let a = Neighbor::new(1, 65001, false);
        rig.send(a.up_with(PeerPolicy { enforce_first_as: enforce, ..PeerPolicy::default_ibgp() })).await;
        rig.send(a.announce(&["198.51.100.0/24"], &[first, 65020], vec![])).await;
        assert_eq!(rig.best("198.51.100.0/24").await.is_some(), taken, "row {i}");
    }
}

/// RFC 7606 §7.5: a malformed LOCAL_PREF (length 3) from an external neighbor is discarded and
/// the route kept; from an internal neighbor it stays treat-as-withdraw. RFC 4271 §5.1.5: a
/// well-formed one from an external neighbor is not used either. One row per case.
#[tokio::test(start_paused = true)]
async fn rfc7606_7_5_local_pref_from_external_neighbor_is_discarded() {
    // ORIGIN, AS_PATH [65001] (4-octet), NEXT_HOP 192.0.2.9, then LOCAL_PREF.
    let update = |local_pref: &[u8]| {
        let mut attrs = vec![0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9, 0x40, 3, 4, 192, 0, 2, 9];
        attrs.extend_from_slice(local_pref);
        let nlri = [24, 198, 51, 100];
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&((23 + attrs.len() + nlri.len()) as u16).to_be_bytes());
        m.extend_from_slice(&[2, 0, 0]);
        m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        m.extend(attrs);
        m.extend_from_slice(&nlri);
        m
    };
    let malformed: &[u8] = &[0x40, 5, 3, 0, 0, 200];
    let well_formed: &[u8] = &[0x40, 5, 4, 0, 0, 0, 200];
    // (neighbor AS, LOCAL_PREF bytes, route kept, LOCAL_PREF kept)
    let rows = [
        (65001, malformed, true, None),
        (65001, well_formed, true, None),
        (KEEL_AS, malformed, false, None),
        (KEEL_AS, well_formed, true, Some(200)),
    ];
    for (i, (asn, lp, kept, local_pref)) in rows.into_iter().enumerate() {
        let rig = Rig::start();
        let a = Neighbor::new(1, asn, false);
        rig.send(a.up()).await;
        rig.send(a.update(&update(lp))).await;
        let routes = rig.routes().await;
        assert_eq!(routes.len(), usize::from(kept), "row {i}");
        if let Some(r) = routes.first() {
            assert_eq!(r.local_pref, local_pref, "row {i}");
        }
    }
}
