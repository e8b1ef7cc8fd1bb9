//! keel-bfd's one integration test binary: golden bytes, RFC 5880 §6.8.6 reception rules on one
//! session, §6.8.7 transmission timing on a simulated clock, two sessions wired back to back, and
//! properties.

mod back_to_back;
mod golden;
mod properties;
mod reception;
mod transmission;

use keel_bfd::{Action, ControlPacket, Diagnostic, Session, SessionConfig, State};
use std::time::{Duration, Instant};

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// 100 ms x 3, active, no authentication, C=0.
pub fn config(local_discriminator: u32) -> SessionConfig {
    SessionConfig {
        local_discriminator,
        desired_min_tx: ms(100),
        required_min_rx: ms(100),
        detect_mult: 3,
        control_plane_independent: false,
        passive: false,
        authentication: None,
        seed: u64::from(local_discriminator),
    }
}

/// The packets among `actions`, decoded.
pub fn sent(actions: &[Action]) -> Vec<ControlPacket> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Transmit(bytes) => Some(ControlPacket::decode(bytes).expect("a session sends valid packets")),
            Action::StateChange { .. } => None,
        })
        .collect()
}

/// The state changes among `actions` as (to, diagnostic).
pub fn changes(actions: &[Action]) -> Vec<(State, Diagnostic)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::StateChange { to, diagnostic, .. } => Some((*to, *diagnostic)),
            Action::Transmit(_) => None,
        })
        .collect()
}

/// A packet from the remote system (discriminator 2) to session 1, 100 ms x 3.
pub fn from_remote(state: State, your_discriminator: u32) -> ControlPacket {
    ControlPacket {
        diagnostic: Diagnostic::NoDiagnostic,
        state,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: 2,
        your_discriminator,
        desired_min_tx: 100_000,
        required_min_rx: 100_000,
        required_min_echo_rx: 0,
        auth: None,
    }
}

/// Session 1 brought to `state` by hand-made packets from discriminator 2, at `now`.
pub fn session_in(state: State, now: Instant) -> Session {
    let mut s = Session::new(config(1), now).unwrap();
    s.poll_timers(now);
    let steps: &[State] = match state {
        State::Down => &[],
        State::Init => &[State::Down],
        State::Up => &[State::Down, State::Init],
        State::AdminDown => unreachable!("use set_admin_down"),
    };
    for step in steps {
        s.receive(&from_remote(*step, if *step == State::Down { 0 } else { 1 }).encode(), now).unwrap();
    }
    assert_eq!(s.state(), state);
    s
}
