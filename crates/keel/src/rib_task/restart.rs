//! The graceful-restart coordinator of the RIB task: keel_rib's machines decide, this module
//! turns their actions into RIB operations and tokio deadlines.
//!
//! - As helper (RFC 4724 §4.2, RFC 8538, RFC 9494): when a neighbor's session ends its
//!   [`Helper`](keel_rib::graceful_restart::helper::Helper) says whether its routes stay
//!   (stale, then LLGR-stale) or go, and which restart, stale-routes and long-lived stale
//!   timers run; End-of-RIB sweeps what was not sent again.
//! - As restarting speaker (RFC 4724 §4.1): while keeld restarts, route selection,
//!   advertisement and kernel changes wait for the selection deferral to end (every awaited
//!   End-of-RIB in, or its timer), and kernel routes of the earlier run are held until then.
//!
//! ```text
//!   PeerDown --> Helper::session_down --> actions --> graceful_restart(): RIB stale marks,
//!   End-of-RIB --> Helper::end_of_rib --/                 flushes, sweeps; timers (deadlines)
//!   deadline --> fire_timers() --> Helper::timer_expired --/
//!   PeerUp / End-of-RIB / PeerDown / deadline --> restarting::Deferral --> end_deferral()
//! ```
//!
//! The deadlines live in [`RibTask`]'s `timers`, `deferral` and `inherited_until`; the run
//! loop sleeps until the earliest ([`RibTask::next_timer`]).

use super::{Deferral, RibTask};
use crate::events::{DownReason, RestartState};
use keel_rib::graceful_restart::helper::{self, Ending};
use keel_rib::graceful_restart::restarting;
use keel_wire::Family;
use std::net::IpAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{debug, info};

impl RibTask {
    /// Starts in selection deferral (keeld is restarting) for `deferral`, waiting for `expected`;
    /// `ended` hears when it is over.
    pub fn with_deferral(
        mut self,
        deferral: Option<Duration>,
        restarting: RestartState,
        expected: Vec<IpAddr>,
        ended: Option<oneshot::Sender<()>>,
    ) -> Self {
        if let Some(d) = deferral {
            info!(seconds = d.as_secs(), neighbors = expected.len(), "restarting: selection deferred until End-of-RIB");
            self.deferral = Some(Deferral {
                until: Instant::now() + d,
                state: restarting::Deferral::new(expected),
                restarting,
                ended,
            });
            self.check_deferral();
        }
        self
    }

    /// Kernel routes of an earlier run stay for `hold` when keel is not deferring selection
    /// (graceful restart as helper only, or no record of the earlier run): the FIB sweeps
    /// those not chosen again once it has passed. With a deferral the sweep follows the
    /// deferral's end instead, whenever and however it ends (RFC 4724 §4.1). This task is the
    /// only one that decides: the sweep is queued after the table it confirms.
    pub fn with_inherited_hold(mut self, hold: Duration) -> Self {
        self.inherited_until = Some(Instant::now() + hold);
        self
    }

    /// The earliest deadline: a helper timer, the deferral's end or the inherited-route hold.
    pub(super) fn next_timer(&self) -> Option<Instant> {
        self.timers
            .values()
            .chain(self.deferral.as_ref().map(|d| &d.until))
            .chain(self.inherited_until.as_ref())
            .chain(self.resuming.as_ref().map(|r| &r.until))
            .min()
            .copied()
    }

    /// Feeds an event to the selection deferral, and ends it when that was the last wait.
    pub(super) fn deferral_event(
        &mut self,
        event: impl FnOnce(&mut restarting::Deferral<IpAddr>) -> Option<restarting::Ended>,
    ) {
        if let Some(d) = self.deferral.as_mut() {
            event(&mut d.state);
        }
        self.check_deferral();
    }

    fn check_deferral(&mut self) {
        match self.deferral.as_ref().and_then(|d| d.state.ended()) {
            Some(restarting::Ended::AllSettled) => self.end_deferral("every awaited End-of-RIB arrived"),
            Some(restarting::Ended::Timer) => self.end_deferral("selection_deferral_time expired"),
            None => {}
        }
    }

    fn end_deferral(&mut self, why: &str) {
        if let Some(d) = self.deferral.take() {
            info!(
                reason = why,
                routes = self.rib.len(),
                "selection deferral over: best paths advertised and installed"
            );
            d.restarting.store(false, std::sync::atomic::Ordering::Relaxed);
            if let Some(ended) = d.ended {
                let _ = ended.send(());
            }
            self.deferral_ended = true;
        }
    }

    /// A neighbor's End-of-RIB (RFC 4724 §2): its helper may sweep its stale routes, and the
    /// deferral may end.
    pub(super) fn end_of_rib_received(&mut self, address: IpAddr, family: Family) {
        let Some(peer) = self.peers.get_mut(&address) else { return };
        debug!(neighbor = %address, %family, "End-of-RIB received");
        peer.end_of_rib_received.insert(family);
        let actions = peer.helper.end_of_rib(family);
        self.graceful_restart(address, actions);
        self.deferral_event(|d| d.end_of_rib(address, family));
    }

    /// A neighbor's session ended: its helper decides what happens to its routes (RFC 4724
    /// §4.2, RFC 8538 §4, RFC 9494 §4.2), and the deferral stops waiting for it.
    pub(super) fn peer_down(&mut self, address: IpAddr, reason: DownReason) {
        let Some(peer) = self.peers.get_mut(&address) else { return };
        peer.session = None;
        let (n_bit, families) =
            peer.last.as_ref().map_or((false, Vec::new()), |n| (n.notification_bit(), n.families.clone()));
        let remote = peer.last.as_ref().and_then(|n| n.remote_graceful_restart().cloned());
        let long_lived = peer.last.as_ref().map(|n| n.long_lived()).unwrap_or_default();
        let before = self.rib.received(peer.id);
        let now = Instant::now().into_std();
        let actions = peer.helper.session_down(ending(&reason), n_bit, remote.as_ref(), &long_lived, &families, now);
        info!(neighbor = %address, routes = before, ?reason, "neighbor down");
        self.graceful_restart(address, actions);
        self.rib.attrs.purge();
        self.deferral_event(|d| d.peer_down(address));
    }

    /// Carries out what the graceful-restart helper decided for a neighbor.
    pub(super) fn graceful_restart(&mut self, address: IpAddr, actions: Vec<helper::Action>) {
        let Some(id) = self.peers.get(&address).map(|p| p.id) else { return };
        for a in actions {
            match a {
                helper::Action::BumpGeneration => {
                    self.rib.bump_generation(id);
                }
                helper::Action::EnterLongLived(f) => {
                    let deleted = self.rib.enter_long_lived(id, f);
                    info!(neighbor = %address, family = %f, no_llgr_deleted = deleted, "routes are long-lived stale");
                }
                helper::Action::Flush(f) => {
                    let n = self.rib.flush_peer(id, f);
                    if n > 0 {
                        info!(neighbor = %address, family = ?f, routes = n, "routes withdrawn");
                    }
                }
                helper::Action::SweepStale(f) => {
                    let n = self.rib.sweep_stale(id, f);
                    info!(neighbor = %address, family = ?f, routes = n, "stale routes swept");
                }
                helper::Action::StartTimer(t, d) => {
                    self.timers.insert((address, t), Instant::now() + d);
                }
                helper::Action::StopTimer(t) => {
                    self.timers.remove(&(address, t));
                }
                helper::Action::Log(m) => info!(neighbor = %address, "graceful restart: {m}"),
            }
        }
    }

    pub(super) fn fire_timers(&mut self) {
        let now = Instant::now();
        if self.inherited_until.is_some_and(|t| t <= now) {
            self.inherited_until = None;
            // While deferring, the deferral's end sweeps (after the table it decided).
            self.sweep_due = self.deferral.is_none();
        }
        if self.deferral.as_ref().is_some_and(|d| d.until <= now) {
            self.deferral_event(|d| d.timer_expired());
        }
        let due: Vec<(IpAddr, helper::Timer)> =
            self.timers.iter().filter(|(_, &t)| t <= now).map(|(k, _)| *k).collect();
        for (address, t) in due {
            self.timers.remove(&(address, t));
            if let Some(peer) = self.peers.get_mut(&address) {
                let actions = peer.helper.timer_expired(t);
                self.graceful_restart(address, actions);
            }
        }
    }
}

/// How the helper sees a session's end.
fn ending(reason: &DownReason) -> Ending {
    match *reason {
        DownReason::TcpFailure => Ending::TcpFailure,
        DownReason::Restarted => Ending::Restarted,
        DownReason::HoldTimerExpired => Ending::HoldTimerExpired,
        DownReason::NotificationSent { code, subcode, .. } | DownReason::NotificationReceived { code, subcode, .. } => {
            Ending::Notification { hard_reset: is_hard_reset(code, subcode) }
        }
        DownReason::AdministrativeStop { code: Some(code), subcode: Some(subcode), .. } => {
            Ending::Notification { hard_reset: is_hard_reset(code, subcode) }
        }
        // Closed by us without a NOTIFICATION: as a TCP loss for the neighbor.
        DownReason::AdministrativeStop { .. } => Ending::TcpFailure,
        // RFC 5882 §4.3, decided in keel_rib's helper: the Cease/BFD Down keel sent is not the
        // reason, the BFD session's end is.
        DownReason::BfdDown { control_plane_independent, strict } => {
            Ending::BfdDown { control_plane_independent, strict }
        }
    }
}

/// Cease/Hard Reset (RFC 8538 §3).
fn is_hard_reset(code: u8, subcode: u8) -> bool {
    code == keel_wire::error::code::CEASE && subcode == keel_wire::error::cease::HARD_RESET
}
