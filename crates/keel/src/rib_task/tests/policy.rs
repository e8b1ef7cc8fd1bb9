//! Import and export policy, route-server clients and the UPDATE counters through the RIB task.

use super::*;

/// An import policy that rejects 192.0.2.0/24 and sets LOCAL_PREF 300 on the rest.
pub(super) fn import_policy() -> Arc<Chain> {
    use keel_rib::policy::{Action, Link, Match, Policy, PrefixList, Term};
    let bogon = Term {
        name: "bogon".into(),
        matches: vec![Match::Prefix(Arc::new(PrefixList::new(["192.0.2.0/24".parse().expect("entry")])))],
        actions: vec![],
        verdict: Some(Verdict::Reject),
    };
    let rest = Term {
        name: "rest".into(),
        matches: vec![],
        actions: vec![Action::SetLocalPref(300)],
        verdict: Some(Verdict::Accept),
    };
    Arc::new(Chain { links: vec![Link::Policy(Arc::new(Policy { name: "in".into(), terms: vec![bogon, rest] }))] })
}

pub(super) fn set_policy(
    address: IpAddr,
    import: Arc<Chain>,
    export: Arc<Chain>,
    fingerprints: (u64, u64),
) -> RibEvent {
    RibEvent::SetPolicy {
        address,
        import,
        export,
        import_fingerprint: fingerprints.0,
        export_fingerprint: fingerprints.1,
    }
}

#[tokio::test(start_paused = true)]
async fn import_policy_filters_rewrites_and_is_re_evaluated_on_change() {
    let rig = Rig::start();
    let a = Neighbor::new(1, 65001, false);
    let mut c = Neighbor::new(3, KEEL_AS, false);
    let all = Arc::new(Chain::accept_all());
    rig.send(set_policy(a.address, import_policy(), all.clone(), (1, 0))).await;
    rig.send(a.up()).await;
    rig.send(c.up()).await;
    rig.send(a.announce(&["198.51.100.0/24", "192.0.2.0/24"], &[65001], vec![])).await;
    let routes = rig.routes().await;
    assert_eq!(routes.len(), 1, "{routes:?}");
    assert_eq!((routes[0].prefix.as_str(), routes[0].local_pref), ("198.51.100.0/24", Some(300)));
    c.received();
    // The policy changes to accept everything: the rejected route comes back from the stored
    // Adj-RIB-In, the other loses its LOCAL_PREF; no session event at all.
    rig.send(set_policy(a.address, all.clone(), all.clone(), (2, 0))).await;
    let mut routes = rig.routes().await;
    routes.sort_by(|x, y| x.prefix.cmp(&y.prefix));
    let got: Vec<(&str, Option<u32>)> = routes.iter().map(|r| (r.prefix.as_str(), r.local_pref)).collect();
    assert_eq!(got, vec![("192.0.2.0/24", None), ("198.51.100.0/24", None)]);
    let (announced, _) = c.received();
    assert!(announced.iter().any(|(p, _)| p == "192.0.2.0/24"), "{announced:?}");
    // And back: the route goes again.
    rig.send(set_policy(a.address, import_policy(), all, (1, 0))).await;
    assert_eq!(rig.routes().await.len(), 1);
    assert_eq!(c.received().1, vec!["192.0.2.0/24".to_string()]);
}

#[tokio::test(start_paused = true)]
async fn export_policy_change_recomputes_the_adj_rib_out() {
    let rig = Rig::start();
    let a = Neighbor::new(1, 65001, false);
    let mut c = Neighbor::new(3, KEEL_AS, false);
    let all = Arc::new(Chain::accept_all());
    rig.send(a.up()).await;
    rig.send(c.up()).await;
    rig.send(a.announce(&["198.51.100.0/24", "192.0.2.0/24"], &[65001], vec![])).await;
    rig.routes().await;
    assert_eq!(c.received().0.len(), 2);
    rig.send(set_policy(c.address, all.clone(), import_policy(), (0, 1))).await;
    rig.routes().await;
    let (announced, withdrawn) = c.received();
    assert_eq!(withdrawn, vec!["192.0.2.0/24".to_string()], "rejected by the new export policy");
    assert_eq!(announced.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(), vec!["198.51.100.0/24"]);
}

#[tokio::test(start_paused = true)]
async fn route_server_client_gets_the_best_path_its_policy_allows() {
    use keel_rib::policy::{Link, Match, Policy, Term};
    let rig = Rig::start();
    let a = Neighbor::new(1, 65001, false);
    let b = Neighbor::new(2, 65002, false);
    let mut c = Neighbor::new(3, 65003, false);
    // C takes nothing that came through AS 65001.
    let no_a = Term {
        name: "no-a".into(),
        matches: vec![Match::NeighborAs(65001)],
        actions: vec![],
        verdict: Some(Verdict::Reject),
    };
    let export = Arc::new(Chain {
        links: vec![Link::Policy(Arc::new(Policy { name: "c-out".into(), terms: vec![no_a] })), Link::AcceptAll],
    });
    rig.send(set_policy(c.address, Arc::new(Chain::accept_all()), export, (0, 1))).await;
    rig.send(a.up()).await;
    rig.send(b.up()).await;
    rig.send(c.up_with(PeerPolicy { route_server_client: true, ..PeerPolicy::default_ibgp() })).await;
    rig.send(a.announce(&["198.51.100.0/24"], &[65001], vec![])).await;
    rig.send(b.announce(&["198.51.100.0/24"], &[65002, 65010], vec![])).await;
    assert_eq!(rig.best("198.51.100.0/24").await, Some((Some(a.address), false)), "A is best overall");
    let (announced, _) = c.received();
    assert_eq!(announced.len(), 1, "{announced:?}");
    // B's path, as a route server sends it (no AS added).
    let path = rig.routes().await;
    assert!(path.iter().any(|r| r.neighbor == Some(b.address)));
    // A change of B's path (not the best) reaches C too.
    rig.send(b.announce(&["198.51.100.0/24"], &[65002, 65020], vec!["65002:1".parse().unwrap()])).await;
    rig.routes().await;
    let (announced, _) = c.received();
    assert_eq!(announced, vec![("198.51.100.0/24".to_string(), vec!["65002:1".parse().unwrap()])]);
    // B withdraws: C has nothing it may get.
    rig.send(RibEvent::Update {
        address: b.address,
        update: match Message::decode(
            &{
                let mut v = Vec::new();
                builder::withdraw(
                    V4,
                    &[Nlri::new("198.51.100.0/24".parse().unwrap())],
                    &CodecOptions::default(),
                    &mut v,
                )
                .expect("encode");
                v
            },
            &CodecOptions::default(),
        ) {
            Ok(Message::Update(u)) => u,
            other => panic!("{other:?}"),
        },
    })
    .await;
    rig.routes().await;
    assert_eq!(c.received().1, vec!["198.51.100.0/24".to_string()]);
}

#[tokio::test(start_paused = true)]
async fn updates_sent_counts_every_update_written() {
    let (rig, a, _b, mut c, _d) = topology().await;
    let before = rig.counts(c.address).await.updates_sent;
    // The table (one attribute set per UPDATE) and End-of-RIB.
    assert!(before >= 2, "{before}");
    rig.send(a.announce(&["192.0.2.128/25"], &[65001, 65020], vec![])).await;
    rig.send(a.announce(&["203.0.113.128/25"], &[65001, 65030], vec![])).await;
    rig.routes().await;
    let sent = rig.counts(c.address).await.updates_sent - before;
    let frames = c.updates().len() as u64;
    assert_eq!((sent, frames), (2, 2), "two attribute sets, two UPDATEs, as counted and as written");
}
