//! A second connection to the same neighbor (RFC 4271 §6.8, RFC 4724 §4.2).
//!
//! While our own connection is in OpenSent/OpenConfirm, an incoming one is a collision: keel
//! sends its OPEN on it, and once both BGP Identifiers are known the connection initiated by
//! the higher one wins. While Established, a new connection from a graceful-restart neighbor
//! waits aside, and only a valid OPEN on it means the neighbor restarted. Whatever goes wrong
//! on the connection waiting aside closes it alone, never the session (RFC 4271 §8.2.2).

use super::NeighborTask;
use crate::events::{DownReason, RibEvent};
use crate::neighbor::connection::Connection;
use crate::neighbor::fsm::{fsm_error, Event, Fsm, State, Timer};
use keel_config::GrMode;
use keel_wire::error::{cease, code};
use keel_wire::{CodecOptions, Message, Notification};
use std::time::Duration;
use tokio::time::Instant;
use tracing::{debug, info};

/// How long a new connection waits aside, once its OPEN arrived, while the old session might
/// still be ending (its NOTIFICATION or FIN is read first, RFC 4724 §4.2).
pub(super) const RESTART_CHECK: Duration = Duration::from_millis(200);

impl NeighborTask {
    /// When the connection waiting aside must have sent its OPEN: the OpenSent hold time
    /// after it came (RFC 4271 §8.2.2), so one that never speaks does not stay forever.
    pub(super) fn pending_hold(&self) -> Option<Instant> {
        self.pending.as_ref().filter(|p| p.remote_open.is_none()).map(|p| p.since + self.fsm.settings.open_hold)
    }

    /// Takes an incoming connection as the FSM's state allows (RFC 4271 §6.8, RFC 4724 §4.2).
    pub(super) async fn accept(&mut self, conn: Connection) {
        match self.fsm.state() {
            State::Idle | State::Connect | State::Active => {
                if !self.fsm.accept_incoming() {
                    debug!(neighbor = %self.address(), "incoming connection refused: neighbor is shut down");
                    self.refuse(conn, Notification::new(code::CEASE, cease::CONNECTION_REJECTED, Vec::new()));
                    return;
                }
                if let Some((_, h)) = self.connecting.take() {
                    h.abort();
                }
                if let Some(old) = self.main.take() {
                    old.close();
                }
                debug!(neighbor = %self.address(), remote = %conn.remote, "incoming connection accepted");
                self.main = Some(conn);
                self.fsm_event(Event::TcpConnected).await;
            }
            State::OpenSent | State::OpenConfirm => {
                if let Some(old) = self.pending.take() {
                    old.close();
                }
                let mut conn = conn;
                self.send_open(&mut conn);
                self.pending = Some(conn);
            }
            State::Established => {
                let graceful = self.config.graceful_restart.mode != GrMode::Disabled
                    && self.fsm.negotiated().is_some_and(|n| n.remote_graceful_restart().is_some());
                if !graceful {
                    // RFC 4271 §6.8: a collision with an Established session closes the new one.
                    self.refuse(conn, Fsm::collision_cease());
                    return;
                }
                // RFC 4724 §4.2: a new OPEN from a graceful-restart neighbor while the old
                // session looks Established means it restarted; a connection alone proves
                // nothing (a port check from the neighbor router, a half-open attempt). It
                // waits aside until its OPEN (`pending_message`); a newer one replaces it.
                if let Some(old) = self.pending.take() {
                    old.close();
                }
                self.restart_check = None;
                let mut conn = conn;
                self.send_open(&mut conn);
                self.pending = Some(conn);
            }
        }
    }

    /// The old session still stands [`RESTART_CHECK`] after a valid OPEN on the new connection:
    /// drop it without a NOTIFICATION, keep the neighbor's routes (helper), carry on with the
    /// new connection (RFC 4724 §4.2).
    pub(super) async fn restarted(&mut self) {
        let opened = self.pending.as_ref().is_some_and(|p| p.remote_open.is_some());
        if self.fsm.state() != State::Established || !opened {
            return;
        }
        info!(neighbor = %self.address(), "new OPEN while Established: neighbor restarted");
        if let Some(old) = self.main.take() {
            old.close();
        }
        for t in [Timer::Hold, Timer::Keepalive] {
            self.timers.stop(t);
        }
        self.codec = CodecOptions::default();
        self.status.send_modify(|s| s.negotiated = None);
        self.send_rib(RibEvent::PeerDown { address: self.address(), reason: DownReason::Restarted }).await;
        self.fsm.reset_to_active();
        self.main = self.pending.take();
        self.take_over().await;
    }

    /// The connection that waited aside is now the main one: replay what it received.
    pub(super) async fn take_over(&mut self) {
        // The automatic restart the old session's end scheduled is not wanted any more.
        self.timers.stop(Timer::IdleHold);
        let (open, keepalive) = self.main.as_ref().map_or((None, false), |c| (c.remote_open.clone(), c.keepalive_seen));
        self.fsm_event(Event::TcpConnected).await;
        if let Some(open) = open {
            self.fsm_event(Event::OpenReceived(Box::new(open))).await;
            if keepalive {
                self.fsm_event(Event::KeepaliveReceived).await;
            }
        }
    }

    /// Closes the connection waiting aside with `n`; the session on the main connection is
    /// not touched.
    pub(super) fn refuse_pending(&mut self, n: Notification, why: &str) {
        if let Some(p) = self.pending.take() {
            debug!(neighbor = %self.address(), remote = %p.remote, reason = why, notification = %n.describe(), "second connection closed");
            self.refuse(p, n);
        }
    }

    pub(super) fn refuse(&mut self, conn: Connection, n: Notification) {
        if let Ok(b) = Message::Notification(n.clone()).encode(&CodecOptions::default()) {
            conn.try_send(b);
        }
        self.record_sent(&n);
        conn.close();
    }

    /// A message on the connection waiting aside, which is in OpenSent until its OPEN and in
    /// OpenConfirm after (RFC 4271 §8.2.2). Whatever is wrong with it closes that connection
    /// alone, with the NOTIFICATION the FSM would send; the main session is not touched.
    pub(super) async fn pending_message(&mut self, decoded: Result<Message, keel_wire::WireError>) {
        let Some(has_open) = self.pending.as_ref().map(|p| p.remote_open.is_some()) else { return };
        match decoded {
            Ok(Message::Open(open)) if !has_open => {
                // RFC 4271 §6.2 checks before this OPEN may cost the session anything.
                if let Err(n) = self.fsm.check_open(&open) {
                    info!(neighbor = %self.address(), asn = open.asn(), router_id = %open.router_id, "OPEN on a second connection refused");
                    return self.refuse_pending(n, "OPEN refused");
                }
                let router_id = open.router_id;
                if let Some(p) = self.pending.as_mut() {
                    p.remote_open = Some(open);
                }
                if self.fsm.state() == State::Established {
                    // RFC 4724 §4.2: the neighbor restarted, unless the old connection ends
                    // on its own in the meantime (then the new one simply takes over).
                    debug!(neighbor = %self.address(), "OPEN on a new connection while Established");
                    self.restart_check = Some(Instant::now() + RESTART_CHECK);
                } else {
                    debug!(neighbor = %self.address(), %router_id, "OPEN on a second connection: collision");
                    self.resolve_collision().await;
                }
            }
            Ok(Message::Keepalive) if has_open => {
                if let Some(p) = self.pending.as_mut() {
                    p.keepalive_seen = true;
                }
            }
            Ok(Message::Notification(n)) => {
                debug!(neighbor = %self.address(), notification = %n.describe(), "NOTIFICATION on a second connection");
                if let Some(p) = self.pending.take() {
                    p.close();
                }
            }
            // RFC 6608 §4: an unexpected message in OpenSent / OpenConfirm.
            Ok(_) => {
                let state = if has_open { State::OpenConfirm } else { State::OpenSent };
                self.refuse_pending(fsm_error(state), "unexpected message");
            }
            Err(e) => self.refuse_pending(Notification::from_error(&e), "malformed message"),
        }
    }

    /// RFC 4271 §6.8: of two connections to the same neighbor, the one initiated by the
    /// speaker with the higher BGP Identifier stays. Whether that is the main connection,
    /// given the neighbor's BGP Identifier.
    fn keep_main(&self, remote_id: std::net::Ipv4Addr) -> bool {
        let main_outgoing = self.main.as_ref().is_some_and(|c| c.outgoing);
        (u32::from(self.config.router_id) > u32::from(remote_id)) == main_outgoing
    }

    /// The OPEN just read on the main connection (OpenSent) meets a connection waiting aside
    /// whose OPEN came first (RFC 4271 §6.8: "upon receipt of an OPEN message", the other
    /// connection already past its OPEN): true when the main connection is the one to close.
    pub(super) fn main_loses_collision(&self, open: &keel_wire::Open) -> bool {
        let pending_opened = self.pending.as_ref().is_some_and(|p| p.remote_open.is_some());
        self.fsm.state() == State::OpenSent && pending_opened && !self.keep_main(open.router_id)
    }

    /// Closes the main connection with Cease/Connection Collision Resolution and carries on
    /// with the one that waited aside (it replays that connection's OPEN to the FSM).
    pub(super) async fn drop_main_for_pending(&mut self) {
        info!(neighbor = %self.address(), keep_main = false, "connection collision resolved");
        if let Some(old) = self.main.take() {
            self.refuse(old, Fsm::collision_cease());
        }
        self.main = self.pending.take();
        self.fsm.reset_to_active();
        self.take_over().await;
    }

    /// RFC 4271 §6.8, once the BGP Identifier on both connections is known.
    pub(super) async fn resolve_collision(&mut self) {
        let Some(pending_open) = self.pending.as_ref().and_then(|p| p.remote_open.clone()) else { return };
        if self.fsm.state() != State::OpenConfirm {
            return;
        }
        if !self.keep_main(pending_open.router_id) {
            return self.drop_main_for_pending().await;
        }
        info!(neighbor = %self.address(), keep_main = true, "connection collision resolved");
        if let Some(p) = self.pending.take() {
            self.refuse(p, Fsm::collision_cease());
        }
    }
}
