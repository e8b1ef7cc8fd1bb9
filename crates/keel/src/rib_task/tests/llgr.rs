//! Long-lived graceful restart (RFC 9494) through the RIB task: GR turning into LLGR, a return during LLGR, Hard Reset.

use super::*;

#[tokio::test(start_paused = true)]
async fn gr_turns_into_llgr_when_the_restart_timer_expires() {
    let (rig, a, b, mut c, mut d) = topology().await;
    rig.send(a.down(DownReason::TcpFailure)).await;
    assert_eq!(rig.best("198.51.100.0/24").await, Some((Some(a.address), false)), "GR: kept, not de-preferred");
    advance(119).await;
    assert_eq!(rig.routes().await.len(), 4, "still GR-stale at 119 s");
    assert!(c.received().0.is_empty() && d.received().1.is_empty(), "zero churn during GR");
    advance(2).await;
    let routes = rig.routes().await;
    assert!(!routes.iter().any(|r| r.prefix == "192.0.2.0/24"), "NO_LLGR route deleted (RFC 9494 §4.2)");
    assert_eq!(rig.best("198.51.100.0/24").await, Some((Some(b.address), false)), "fresh path from B wins");
    assert_eq!(rig.best("203.0.113.0/24").await, Some((Some(a.address), true)), "kept LLGR-stale");
    let counts = rig.counts(a.address).await;
    assert_eq!((counts.llgr_stale_prefixes, counts.long_lived_families.clone()), (2, vec![V4]));
    assert!(counts.timers.contains_key("long_lived_stale:ipv4-unicast"));
    // C (LLGR) gets the stale route with LLGR_STALE and B's path; D (no LLGR) a withdrawal.
    let (announced, withdrawn) = c.received();
    assert!(announced.contains(&("203.0.113.0/24".into(), vec![Community::LLGR_STALE])), "{announced:?}");
    assert!(announced.iter().any(|(p, cs)| p == "198.51.100.0/24" && cs.is_empty()));
    assert_eq!(withdrawn, vec!["192.0.2.0/24".to_string()]);
    let (announced, mut withdrawn) = d.received();
    withdrawn.sort();
    assert_eq!(withdrawn, vec!["192.0.2.0/24".to_string(), "203.0.113.0/24".to_string()], "RFC 9494 §4.3");
    assert_eq!(announced.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(), vec!["198.51.100.0/24"]);
    // The long-lived stale time runs out: the rest goes.
    advance(3600).await;
    assert!(rig.best("203.0.113.0/24").await.is_none());
    assert_eq!(rig.counts(a.address).await.llgr_stale_prefixes, 0);
    assert!(c.received().1.contains(&"203.0.113.0/24".to_string()));
}

#[tokio::test(start_paused = true)]
async fn return_during_llgr_restores_preference_and_end_of_rib_sweeps() {
    let (rig, a, b, mut c, mut d) = topology().await;
    rig.send(a.down(DownReason::TcpFailure)).await;
    rig.routes().await;
    advance(121).await;
    assert_eq!(rig.best("198.51.100.0/24").await, Some((Some(b.address), false)));
    c.received();
    d.received();
    // A is back (LLGR F=1) and re-sends one route: it wins again and goes out without LLGR_STALE.
    rig.send(a.up()).await;
    rig.send(a.announce(&["198.51.100.0/24"], &[65001], vec![])).await;
    assert_eq!(rig.best("198.51.100.0/24").await, Some((Some(a.address), false)));
    assert_eq!(rig.best("203.0.113.0/24").await, Some((Some(a.address), true)), "not refreshed yet");
    let counts = rig.counts(a.address).await;
    assert!(counts.timers.contains_key("long_lived_stale:ipv4-unicast"), "runs until End-of-RIB");
    assert!(c.received().0.iter().any(|(p, cs)| p == "198.51.100.0/24" && cs.is_empty()));
    rig.send(a.end_of_rib()).await;
    assert!(rig.best("203.0.113.0/24").await.is_none(), "swept at End-of-RIB");
    let counts = rig.counts(a.address).await;
    assert!(!counts.helper_active && counts.timers.is_empty(), "{counts:?}");
    assert!(d.received().0.iter().any(|(p, _)| p == "198.51.100.0/24"));
}

#[tokio::test(start_paused = true)]
async fn restart_time_zero_enters_llgr_at_once() {
    let rig = Rig::start();
    let a = Neighbor::new(1, 65001, true);
    let mut c = Neighbor::new(3, KEEL_AS, true);
    let mut up = a.up();
    if let RibEvent::PeerUp { negotiated, .. } = &mut up {
        let mut remote = negotiated.remote.clone();
        for cap in remote.capabilities.iter_mut() {
            if let Capability::GracefulRestart(g) = cap {
                g.restart_time = 0;
            }
        }
        *negotiated = Arc::new(Negotiated::new(negotiated.local.clone(), remote));
    }
    rig.send(up).await;
    rig.send(c.up()).await;
    rig.send(a.announce(&["203.0.113.0/24"], &[65001], vec![])).await;
    rig.routes().await;
    c.received();
    rig.send(a.down(DownReason::TcpFailure)).await;
    assert_eq!(rig.best("203.0.113.0/24").await, Some((Some(a.address), true)));
    assert_eq!(c.received().0, vec![("203.0.113.0/24".to_string(), vec![Community::LLGR_STALE])]);
}

#[tokio::test(start_paused = true)]
async fn hard_reset_flushes_llgr_stale_routes() {
    let (rig, a, _b, _c, mut d) = topology().await;
    rig.send(a.down(DownReason::TcpFailure)).await;
    rig.routes().await;
    advance(121).await;
    rig.send(a.up()).await;
    rig.routes().await;
    d.received();
    let hard_reset = DownReason::NotificationReceived {
        code: keel_wire::error::code::CEASE,
        subcode: keel_wire::error::cease::HARD_RESET,
        data: vec![],
    };
    rig.send(a.down(hard_reset)).await;
    let routes = rig.routes().await;
    assert!(routes.iter().all(|r| r.neighbor != Some(a.address)), "{routes:?}");
    assert_eq!(rig.counts(a.address).await.timers.len(), 0);
}
