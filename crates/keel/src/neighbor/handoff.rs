//! One session's part of `keel upgrade`'s handoff (docs/upgrade.md): what the old image writes
//! of an Established session ([`capture`]) and what the new one negotiates again from it
//! ([`renegotiate`]).
//!
//! The negotiated capabilities are not stored: the two OPEN messages are, re-encoded from the
//! session's [`Negotiated`], and the new image runs [`Negotiated::new`] on them, so a release
//! that negotiates something more reads it from the same bytes both sides exchanged.
//!
//! Not wired yet: the neighbor task's quiesce (stop reading at a message boundary, the unread
//! and unwritten bytes, the socket's descriptor) is the next step; until then [`capture`] has
//! the parts the task publishes, and the new image's hold and keepalive timers start afresh
//! (it sends a KEEPALIVE at once).

use super::fsm::State;
use super::status::NeighborStatus;
use crate::negotiate::Negotiated;
use keel_handoff::state::Counters;
use keel_handoff::NeighborState;
use keel_wire::{Afi, CodecOptions, Family, Message, Safi};
use std::net::IpAddr;

/// `message` as bytes on the wire (an OPEN needs no negotiated option).
fn encode(message: Message) -> Option<Vec<u8>> {
    message.encode(&CodecOptions::default()).ok()
}

/// The state of an Established session with `address` on socket `fd`, from its published
/// status; `None` when it is not Established (such sessions are not handed over).
pub fn capture(address: IpAddr, fd: i32, status: &NeighborStatus) -> Option<NeighborState> {
    let negotiated = status.negotiated.as_ref().filter(|_| status.state == State::Established)?;
    let hold_ms = u32::from(negotiated.hold_time) * 1000;
    Some(NeighborState {
        local_open: encode(Message::Open(negotiated.local.clone()))?,
        remote_open: encode(Message::Open(negotiated.remote.clone()))?,
        hold_time: negotiated.hold_time,
        hold_left_ms: hold_ms,
        established_ms: u64::try_from(status.since.elapsed().as_millis()).unwrap_or(u64::MAX),
        counters: Counters {
            messages_received: status.messages_received,
            messages_sent: status.messages_sent,
            updates_received: status.updates_received,
            updates_sent: 0,
            established_transitions: status.established_transitions,
        },
        ..NeighborState::new(address, fd, status.local_address?)
    })
}

/// A family as the handoff state keeps it, and back (keel-handoff needs no codec).
pub fn afi_safi(f: Family) -> keel_handoff::state::AfiSafi {
    (f.afi.0, f.safi.0)
}

pub fn family((afi, safi): keel_handoff::state::AfiSafi) -> Family {
    Family::new(Afi(afi), Safi(safi))
}

/// The session's capabilities, negotiated again from its saved OPENs.
pub fn renegotiate(state: &NeighborState) -> Result<Negotiated, String> {
    let open = |bytes: &[u8], which: &str| match Message::decode(bytes, &CodecOptions::default()) {
        Ok(Message::Open(o)) => Ok(o),
        Ok(other) => Err(format!("the saved {which} OPEN of {} is a {other:?}", state.address)),
        Err(e) => Err(format!("the saved {which} OPEN of {} does not decode: {e}", state.address)),
    };
    Ok(Negotiated::new(open(&state.local_open, "local")?, open(&state.remote_open, "remote")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_handoff::Handoff;
    use keel_wire::capability::{Capability, GracefulRestart, GracefulRestartFamily};
    use keel_wire::{Family, Open};
    use std::net::Ipv4Addr;

    fn status(state: State) -> NeighborStatus {
        let gr = GracefulRestart {
            restart_state: false,
            notification: true,
            restart_time: 120,
            families: vec![GracefulRestartFamily { family: Family::IPV4_UNICAST, forwarding_state: true }],
        };
        let local = Open::new(
            65001,
            90,
            Ipv4Addr::new(192, 0, 2, 1),
            vec![Capability::Multiprotocol(Family::IPV4_UNICAST), Capability::GracefulRestart(gr)],
        );
        let remote = Open::new(
            4_200_000_000,
            9,
            Ipv4Addr::new(192, 0, 2, 2),
            vec![Capability::Multiprotocol(Family::IPV4_UNICAST), Capability::RouteRefresh],
        );
        NeighborStatus {
            state,
            negotiated: Some(std::sync::Arc::new(Negotiated::new(local, remote))),
            local_address: Some("192.0.2.1:179".parse().expect("socket address")),
            messages_received: 5,
            established_transitions: 1,
            ..NeighborStatus::default()
        }
    }

    #[test]
    fn an_established_session_is_negotiated_the_same_after_the_handoff() {
        let s = status(State::Established);
        let address: IpAddr = "192.0.2.2".parse().expect("address");
        let state = capture(address, 9, &s).expect("Established");
        assert_eq!((state.hold_time, state.hold_left_ms, state.fd), (9, 9_000, 9));
        assert_eq!(state.counters.messages_received, 5);
        let h = Handoff { neighbors: vec![state], ..Handoff::default() };
        let back = Handoff::decode(&h.encode().expect("encodes")).expect("decodes");
        let negotiated = renegotiate(&back.neighbors[0]).expect("renegotiates");
        assert_eq!(Some(&negotiated), s.negotiated.as_deref());
    }

    #[test]
    fn sessions_not_established_are_not_handed_over_and_bad_opens_say_why() {
        let address: IpAddr = "192.0.2.2".parse().expect("address");
        assert!(capture(address, 9, &status(State::OpenConfirm)).is_none());
        let mut state = capture(address, 9, &status(State::Established)).expect("Established");
        state.remote_open = vec![0xff; 19];
        assert!(renegotiate(&state).expect_err("not an OPEN").contains("remote OPEN of 192.0.2.2"));
        state.local_open.truncate(10);
        assert!(renegotiate(&state).expect_err("short").contains("local OPEN"));
    }
}
