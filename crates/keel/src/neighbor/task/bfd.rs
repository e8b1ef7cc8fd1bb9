//! The neighbor task's BFD room: what keel-bfdd reports about the neighbor's session
//! (`bfd = true`) and the BGP session's end when it goes Down.
//!
//! RFC 5882 §3.2 and RFC 9384: BFD Down ends the BGP session at once, with Cease/BFD Down,
//! through the FSM ([`Event::BfdDown`]), so that the RIB task's graceful-restart helper takes
//! the RFC 5882 §4.3 decision on the same path as any other session end. Not a Down: the
//! neighbor signalling AdminDown ("MUST NOT indicate a connectivity failure", §3.2), a session
//! that was never Up since this keeld connected, and keel-bfdd being unreachable (state
//! unknown: BGP's own timers judge). A BFD Down after the BGP session already ended (the
//! neighbor's TCP connection closed first) still reaches the helper when it calls for a flush.

use super::NeighborTask;
use crate::events::{DownReason, RibEvent};
use crate::neighbor::fsm::{Event, State};
use keel_api::bfd::BfdView;
use tokio::sync::watch;
use tracing::{info, warn};

/// The next view keel-bfdd reports; never ready without BFD or once the link is gone.
pub(super) async fn changed(view: &mut Option<watch::Receiver<Option<BfdView>>>) -> Option<Option<BfdView>> {
    if let Some(rx) = view {
        if rx.changed().await.is_ok() {
            return Some(rx.borrow_and_update().clone());
        }
    }
    std::future::pending().await
}

impl NeighborTask {
    pub(super) async fn bfd_changed(&mut self, view: Option<BfdView>) {
        let was_up = self.bfd_up;
        self.bfd_up = view.as_ref().is_some_and(BfdView::is_up);
        self.status.send_modify(|s| s.bfd = view.clone());
        let Some(v) = view else { return };
        if !was_up || v.state != "down" {
            return;
        }
        if v.remote_state == "admin-down" {
            info!(neighbor = %self.address(), "BFD: the neighbor took its session down administratively; BGP stays");
            return;
        }
        let control_plane_independent = v.remote_control_plane_independent.unwrap_or(false);
        warn!(
            neighbor = %self.address(),
            diagnostic = v.diagnostic,
            remote_c_bit = control_plane_independent,
            "BFD Down: closing the BGP session (Cease/BFD Down)"
        );
        let strict = self.config.bfd_strict;
        if !matches!(self.fsm.state(), State::OpenSent | State::OpenConfirm | State::Established) {
            // The session already ended (a control plane that restarts usually closes its TCP
            // connections first): if the helper kept the routes and RFC 5882 §4.3 says they
            // go (C=1, or bfd_strict), the helper hears of the BFD Down too.
            if self.ever_established && (control_plane_independent || strict) {
                let reason = DownReason::BfdDown { control_plane_independent, strict };
                self.send_rib(RibEvent::PeerDown { address: self.address(), reason }).await;
            }
            return;
        }
        self.fsm_event(Event::BfdDown { control_plane_independent, strict }).await;
        if let Some(p) = self.pending.take() {
            p.close();
        }
    }

    /// The neighbor was removed from the configuration: its BFD session goes too.
    pub(super) async fn bfd_remove(&mut self) {
        if let Some(link) = self.bfd.take() {
            link.remove().await;
        }
    }
}
