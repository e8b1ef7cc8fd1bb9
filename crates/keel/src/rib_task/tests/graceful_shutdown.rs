//! Graceful shutdown (RFC 8326) received and sent.

use super::policy::{import_policy, set_policy};
use super::*;

async fn graceful_shutdown(rig: &Rig, neighbors: Option<Vec<IpAddr>>, on: bool) -> Vec<IpAddr> {
    let (reply, rx) = oneshot::channel();
    rig.send(RibEvent::GracefulShutdown { neighbors, on, reply }).await;
    rx.await.expect("RIB task gone")
}

/// RFC 8326 §4.1 receiver step: a route tagged with GRACEFUL_SHUTDOWN gets LOCAL_PREF 0, after
/// an import policy that sets LOCAL_PREF (so that it cannot undo it), and without one; the
/// other path wins. Turned off, routes are re-evaluated (stale ones too) and keep what the
/// policy gave; on again, lowered again.
#[tokio::test(start_paused = true)]
async fn rfc8326_received_graceful_shutdown_gets_local_pref_0_after_import_policy() {
    let rig = Rig::start();
    let a = Neighbor::new(1, 65001, false);
    let b = Neighbor::new(2, 65002, false);
    rig.send(set_policy(a.address, import_policy(), Arc::new(Chain::accept_all()), (1, 0))).await;
    rig.send(a.up()).await;
    rig.send(b.up()).await;
    let gshut = vec![Community::GRACEFUL_SHUTDOWN];
    // A has the shorter path, but tags it; B's longer one must win.
    rig.send(a.announce(&["198.51.100.0/24"], &[65001], gshut.clone())).await;
    rig.send(b.announce(&["198.51.100.0/24"], &[65002, 65010, 65100], vec![])).await;
    rig.send(b.announce(&["203.0.113.0/24"], &[65002], gshut)).await;
    let local_pref = |routes: &[RouteView], from: IpAddr, prefix: &str| {
        routes.iter().find(|r| r.neighbor == Some(from) && r.prefix == prefix).map(|r| r.local_pref)
    };
    let routes = rig.routes().await;
    assert_eq!(local_pref(&routes, a.address, "198.51.100.0/24"), Some(Some(0)), "policy set 300; then 0");
    assert_eq!(local_pref(&routes, b.address, "203.0.113.0/24"), Some(Some(0)), "no policy");
    assert_eq!(rig.best("198.51.100.0/24").await, Some((Some(b.address), false)));
    // Off (a reload): re-evaluated as for a new import policy; A's route is stale by then.
    rig.send(a.down(DownReason::TcpFailure)).await;
    rig.send(RibEvent::HonourGracefulShutdown(false)).await;
    let routes = rig.routes().await;
    assert_eq!(local_pref(&routes, a.address, "198.51.100.0/24"), Some(Some(300)), "{routes:?}");
    assert_eq!(local_pref(&routes, b.address, "203.0.113.0/24"), Some(None));
    assert_eq!(rig.best("198.51.100.0/24").await, Some((Some(a.address), false)));
    rig.send(RibEvent::HonourGracefulShutdown(true)).await;
    let routes = rig.routes().await;
    assert_eq!(local_pref(&routes, a.address, "198.51.100.0/24"), Some(Some(0)));
    assert_eq!(local_pref(&routes, b.address, "203.0.113.0/24"), Some(Some(0)));
}

/// RFC 8326 §4.2 sender step through the RIB task: on for one neighbor, its routes go out
/// again with GRACEFUL_SHUTDOWN (LOCAL_PREF 0 to the internal one), the others hear nothing;
/// on again changes nothing; off sends them without it. The state shows in the counts and
/// outlives the session.
#[tokio::test(start_paused = true)]
async fn rfc8326_graceful_shutdown_re_advertises_through_the_adj_rib_out() {
    let (rig, a, _b, mut c, mut d) = topology().await;
    assert_eq!(graceful_shutdown(&rig, Some(vec![c.address]), true).await, vec![c.address]);
    rig.routes().await;
    let updates = c.updates();
    let announced: usize = updates.iter().map(|u| u.announced.len()).sum();
    assert_eq!(announced, 3, "{updates:?}");
    for u in &updates {
        assert_eq!(u.attributes.communities.iter().filter(|x| **x == Community::GRACEFUL_SHUTDOWN).count(), 1);
        assert_eq!(u.attributes.local_pref, Some(0), "internal neighbor");
    }
    assert!(d.updates().is_empty(), "not D");
    assert!(rig.counts(c.address).await.graceful_shutdown);
    assert!(!rig.counts(d.address).await.graceful_shutdown);
    assert!(graceful_shutdown(&rig, Some(vec![c.address]), true).await.is_empty(), "already on");
    rig.routes().await;
    assert!(c.updates().is_empty());
    // A new route goes out tagged too; towards eBGP without LOCAL_PREF.
    assert_eq!(graceful_shutdown(&rig, None, true).await, vec![a.address, _b.address, d.address]);
    rig.routes().await;
    for u in d.updates() {
        assert!(u.attributes.communities.contains(&Community::GRACEFUL_SHUTDOWN));
        assert_eq!(u.attributes.local_pref, None);
    }
    // The session flaps: the state stays, the new session's routes are tagged.
    rig.send(c.down(DownReason::TcpFailure)).await;
    rig.send(c.up()).await;
    rig.routes().await;
    let updates = c.updates();
    assert!(updates
        .iter()
        .filter(|u| !u.announced.is_empty())
        .all(|u| u.attributes.communities.contains(&Community::GRACEFUL_SHUTDOWN)));
    assert_eq!(graceful_shutdown(&rig, Some(vec![c.address]), false).await, vec![c.address]);
    rig.routes().await;
    let updates = c.updates();
    assert_eq!(updates.iter().map(|u| u.announced.len()).sum::<usize>(), 3);
    assert!(updates.iter().all(|u| !u.attributes.communities.contains(&Community::GRACEFUL_SHUTDOWN)));
    assert_eq!(updates.iter().map(|u| u.attributes.local_pref).collect::<Vec<_>>().first(), Some(&Some(100)));
}
