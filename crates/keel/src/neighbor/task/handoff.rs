//! `keel upgrade` in a neighbor task (docs/upgrade.md): the old image quiesces an Established
//! session at a message boundary ([`NeighborTask::quiesce`]) and hands it over, socket open
//! ([`NeighborTask::hand_over`]); the new image resumes it Established on the inherited
//! socket ([`NeighborTask::resume`]), the neighbor none the wiser.

use super::{NeighborTask, State};
use crate::events::ResumedRibs;
use crate::neighbor::connection::{ConnEvent, Connection};
use crate::neighbor::fsm::Fsm;
use crate::neighbor::handoff::{capture, family, renegotiate};
use crate::neighbor::transport::set_cloexec;
use keel_handoff::NeighborState;
use keel_wire::{CodecOptions, Message};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{info, warn};

impl NeighborTask {
    /// Step O1: a KEEPALIVE (the neighbor's hold timer starts from full), then the reader
    /// stops at a message boundary. What it read and this task has not processed yet (the
    /// messages still in `events`, then the reader's rest) is kept for the handover. False
    /// when this session is not handed over: not Established, not on TCP, or sending
    /// several paths per destination (RFC 7911; not handed over yet).
    pub(super) async fn quiesce(&mut self, events: &mut mpsc::Receiver<(u64, super::ConnEvent)>) -> bool {
        if self.fsm.state() != State::Established || self.unread.is_some() {
            return false;
        }
        if self.fsm.negotiated().is_some_and(|n| !n.add_path_send.is_empty()) && self.config.add_path_send > 1 {
            info!(neighbor = %self.address(), "Add-Path send of several paths: the session is not handed over");
            return false;
        }
        if let Some(p) = self.pending.take() {
            p.close();
        }
        if let Ok(b) = Message::Keepalive.encode(&CodecOptions::default()) {
            self.send_main(b, "keepalive");
        }
        let Some(main) = self.main.as_mut() else { return false };
        let id = main.id;
        let rest = match main.stop_reading().await {
            Ok(rest) => rest,
            Err(e) => {
                warn!(neighbor = %self.address(), error = %e, "cannot quiesce the session");
                return false;
            }
        };
        // Messages the reader delivered before it stopped, not processed yet: they come first.
        let mut unread = Vec::new();
        while let Ok((cid, ev)) = events.try_recv() {
            match ev {
                ConnEvent::Frames(frames) if cid == id => frames.iter().for_each(|f| unread.extend_from_slice(f)),
                ConnEvent::HeaderError(_) | ConnEvent::Closed(_) if cid == id => return false,
                _ => {}
            }
        }
        unread.extend_from_slice(&rest);
        self.unread = Some(unread);
        true
    }

    /// Step O2: the quiesced session's state, its socket kept open across exec.
    pub(super) async fn hand_over(&mut self) -> Option<NeighborState> {
        let unread = self.unread.take()?;
        let main = self.main.take()?;
        let handed = match main.hand_over().await {
            Ok(h) => h,
            Err(e) => {
                warn!(neighbor = %self.address(), error = %e, "cannot hand the session over");
                return None;
            }
        };
        let fd = handed.stream.into_raw_fd();
        if let Err(e) = set_cloexec(fd, false) {
            warn!(neighbor = %self.address(), error = %e, "cannot keep the session's socket across exec");
            // SAFETY: `fd` came from `into_raw_fd` just above and is owned by nothing else.
            drop(unsafe { std::net::TcpStream::from_raw_fd(fd) });
            return None;
        }
        let status = self.status.borrow().clone();
        let mut state = capture(self.address(), fd, &status)?;
        state.unread = unread;
        state.unwritten = handed.unwritten;
        Some(state)
    }

    /// The new image's side: the session goes on Established on the inherited socket. What
    /// the old image had not written goes first (it may end a message), then a KEEPALIVE;
    /// the unread bytes are processed before anything read anew. Uptime and counters go on.
    pub(super) async fn resume(&mut self, mut state: NeighborState) -> Result<(), String> {
        let fd = state.fd;
        // SAFETY: the old image left this socket open for this process; nothing else here
        // took it (each neighbor's descriptor appears once in the state).
        let stream = unsafe { std::net::TcpStream::from_raw_fd(fd) };
        set_cloexec(fd, true).map_err(|e| format!("socket {fd}: {e}"))?;
        let negotiated = renegotiate(&state)?;
        stream.set_nonblocking(true).map_err(|e| e.to_string())?;
        let stream = tokio::net::TcpStream::from_std(stream).map_err(|e| e.to_string())?;
        let remote = stream.peer_addr().map_err(|e| format!("socket {fd}: {e}"))?;
        if remote.ip() != self.address() {
            return Err(format!("socket {fd} is connected to {remote}, not to this neighbor"));
        }
        // Collision resolution (RFC 4271 §6.8) only asks which side opened the connection.
        let outgoing = stream.local_addr().is_ok_and(|l| l.port() != self.config.remote().port());
        let id = self.new_id();
        let mut conn =
            Connection::resume(id, stream, outgoing, self.events.clone(), &state.unread).map_err(|e| e.to_string())?;
        let mut first = std::mem::take(&mut state.unwritten);
        first.extend(Message::Keepalive.encode(&CodecOptions::default()).map_err(|e| e.to_string())?);
        conn.try_send(first);
        conn.open_sent = true;
        conn.remote_open = Some(negotiated.remote.clone());
        self.main = Some(conn);
        let (fsm, timers) = Fsm::resumed(self.fsm.settings.clone(), negotiated.clone());
        self.fsm = fsm;
        for a in timers {
            self.act(a).await;
        }
        let up_for = Duration::from_millis(state.established_ms);
        let c = state.counters;
        self.published = State::Established;
        self.metrics.state_change(State::Idle.name(), State::Established.name());
        self.status.send_modify(|s| {
            s.state = State::Established;
            s.since = std::time::Instant::now().checked_sub(up_for).unwrap_or_else(std::time::Instant::now);
            s.messages_received = c.messages_received;
            s.messages_sent = c.messages_sent + 1;
            s.updates_received = c.updates_received;
            s.established_transitions = c.established_transitions;
        });
        let ribs = ResumedRibs {
            adj_rib_in: state.adj_rib_in.concat(),
            adj_rib_out: state.adj_rib_out.concat(),
            end_of_rib_sent: state.end_of_rib_sent.iter().map(|f| family(*f)).collect(),
            end_of_rib_received: state.end_of_rib_received.iter().map(|f| family(*f)).collect(),
            queued: Vec::new(),
        };
        info!(neighbor = %self.address(), uptime_s = up_for.as_secs(), "session resumed from the previous keeld image");
        self.established(Arc::new(negotiated), Some(Box::new(ribs))).await;
        Ok(())
    }
}
