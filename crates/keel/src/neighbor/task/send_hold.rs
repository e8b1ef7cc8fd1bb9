//! The send hold timer (RFC 9687): a neighbor that takes nothing keel sends it for the
//! SendHoldTime loses its session, so a stuck peer cannot pin keel's memory and sockets.

use super::NeighborTask;
use crate::neighbor::fsm::{Event, State};
use std::time::Duration;
use tokio::time::Instant;
use tracing::warn;

/// How often an Established session's send hold timer is checked, on a tick of its own: the
/// keepalive timer's follows the hold time (every 30 s at 90 s) and would make the expiry that
/// late.
pub(super) const SEND_HOLD_CHECK: Duration = Duration::from_secs(1);

/// The RFC 9687 SendHoldTime of a session, `None` when the timer does not run: §4.3 stops it
/// when the SendHoldTime or the negotiated HoldTime is zero. Otherwise the configured value
/// (default 8 minutes), and at least twice the negotiated HoldTime: §6's default is the
/// greater of the two.
pub fn send_hold_limit(send_hold_time: u32, negotiated_hold_time: u16) -> Option<Duration> {
    if send_hold_time == 0 || negotiated_hold_time == 0 {
        return None;
    }
    Some(Duration::from_secs(u64::from(send_hold_time).max(2 * u64::from(negotiated_hold_time))))
}

impl NeighborTask {
    /// The SendHoldTime of the Established session, if its send hold timer runs.
    fn send_hold_limit(&self) -> Option<Duration> {
        let n = self.fsm.negotiated().filter(|_| self.fsm.state() == State::Established)?;
        send_hold_limit(self.config.send_hold_time, n.hold_time)
    }

    /// RFC 9687: the peer has taken nothing of what keel has for it for the SendHoldTime
    /// (Event 29); else look again in a while. The timer runs in Established only (§4.3).
    pub(super) async fn check_send_hold(&mut self) {
        let Some(limit) = self.send_hold_limit() else { return };
        let stalled = self.main.as_ref().map_or(Duration::ZERO, |c| c.send_stalled_for());
        if stalled < limit {
            self.send_hold_check = Some(Instant::now() + SEND_HOLD_CHECK);
            return;
        }
        // §4.3 and §5: an error is logged (the NOTIFICATION may not get through).
        warn!(
            neighbor = %self.address(),
            stalled_s = stalled.as_secs(),
            send_hold_time_s = limit.as_secs(),
            "send hold timer expired: the neighbor has taken nothing keel sent it"
        );
        // §4.3: the NOTIFICATION only if it does not delay dropping the connection. It waits
        // behind what the peer does not take, so it gets no grace: it is written if the kernel
        // takes it at once, then the connection is aborted.
        if let Some(c) = self.main.as_mut() {
            c.set_close_grace(Duration::ZERO);
        }
        self.fsm_event(Event::SendHoldTimerExpires).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_hold_limit_follows_rfc_9687() {
        let s = |secs| Some(Duration::from_secs(secs));
        // §6: the greater of 8 minutes and twice the negotiated HoldTime.
        assert_eq!(send_hold_limit(480, 90), s(480));
        assert_eq!(send_hold_limit(480, 300), s(600));
        // A configured value, never under twice the negotiated HoldTime.
        assert_eq!(send_hold_limit(4, 3), s(6));
        assert_eq!(send_hold_limit(100, 30), s(100));
        // §4.3: stopped when the SendHoldTime or the negotiated HoldTime is zero.
        assert_eq!(send_hold_limit(0, 90), None);
        assert_eq!(send_hold_limit(480, 0), None);
    }
}
