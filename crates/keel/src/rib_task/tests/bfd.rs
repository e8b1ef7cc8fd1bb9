//! BFD Down through the RIB task (RFC 5882 §4.3): the neighbor's C bit and `bfd_strict` decide
//! whether its routes stay as after a TCP failure or go at once, and a second report of the
//! same BFD Down after a TCP failure still flushes when it calls for it.

use super::*;

fn bfd_down(control_plane_independent: bool, strict: bool) -> DownReason {
    DownReason::BfdDown { control_plane_independent, strict }
}

#[tokio::test(start_paused = true)]
async fn rfc5882_4_3_c1_flushes_c0_helps_strict_flushes() {
    for (reason, kept) in
        [(bfd_down(true, false), false), (bfd_down(false, false), true), (bfd_down(false, true), false)]
    {
        let (rig, a, ..) = topology().await;
        rig.send(a.down(reason.clone())).await;
        let best = rig.best("203.0.113.0/24").await;
        assert_eq!(best.is_some(), kept, "{reason:?}");
        assert_eq!(rig.counts(a.address).await.helper_active, kept, "{reason:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn bfd_down_after_a_tcp_failure_flushes_what_the_helper_kept() {
    let (rig, a, ..) = topology().await;
    rig.send(a.down(DownReason::TcpFailure)).await;
    assert!(rig.best("203.0.113.0/24").await.is_some(), "kept as helper");
    rig.send(a.down(bfd_down(true, false))).await;
    assert!(rig.best("203.0.113.0/24").await.is_none(), "C=1: a forwarding failure after all");
    assert!(!rig.counts(a.address).await.helper_active);
}
