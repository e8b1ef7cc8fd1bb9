//! Properties: decoding never panics, valid packets round-trip, and a session fed anything
//! neither panics nor leaves a deadline it cannot get past.

use crate::{config, from_remote, ms};
use keel_bfd::{AuthSection, AuthType, ControlPacket, Diagnostic, Session, State};
use proptest::prelude::*;
use std::time::Instant;

fn state() -> impl Strategy<Value = State> {
    prop_oneof![Just(State::AdminDown), Just(State::Down), Just(State::Init), Just(State::Up)]
}

fn auth() -> impl Strategy<Value = Option<AuthSection>> {
    let keyed = prop_oneof![
        Just((AuthType::KeyedMd5, 16usize)),
        Just((AuthType::MeticulousKeyedMd5, 16)),
        Just((AuthType::KeyedSha1, 20)),
        Just((AuthType::MeticulousKeyedSha1, 20)),
    ];
    prop_oneof![
        Just(None),
        (any::<u8>(), prop::collection::vec(any::<u8>(), 1..=16))
            .prop_map(|(key_id, password)| Some(AuthSection::SimplePassword { key_id, password })),
        (keyed, any::<u8>(), any::<u32>(), any::<[u8; 20]>()).prop_map(|((auth_type, len), key_id, sequence, d)| {
            Some(AuthSection::Keyed { auth_type, key_id, sequence, digest: d[..len].to_vec() })
        }),
    ]
}

/// Packets that pass every check of RFC 5880 §6.8.6 the decoder makes.
fn valid_packet() -> impl Strategy<Value = ControlPacket> {
    (
        (0u8..32, state(), any::<[bool; 4]>(), 1u8..=255),
        (1u32.., any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()),
        auth(),
    )
        .prop_map(|((diag, state, [poll, final_, c, demand], detect_mult), (my, your, tx, rx, echo), auth)| {
            let your = if matches!(state, State::Down | State::AdminDown) { your } else { your.max(1) };
            ControlPacket {
                diagnostic: Diagnostic::from_code(diag),
                state,
                poll,
                final_,
                control_plane_independent: c,
                demand,
                detect_mult,
                my_discriminator: my,
                your_discriminator: your,
                desired_min_tx: tx,
                required_min_rx: rx,
                required_min_echo_rx: echo,
                auth,
            }
        })
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        let _ = ControlPacket::decode(&bytes);
    }

    #[test]
    fn valid_packets_round_trip(packet in valid_packet()) {
        let bytes = packet.encode();
        prop_assert_eq!(bytes.len(), packet.len());
        prop_assert_eq!(ControlPacket::decode(&bytes), Ok(packet));
    }

    /// Any one byte of a valid packet changed: decoding still never panics, and whatever it
    /// accepts encodes back to the same bytes (up to the ignored reserved byte and Length's tail).
    #[test]
    fn mutated_packets_never_panic(packet in valid_packet(), at in any::<prop::sample::Index>(), value in any::<u8>()) {
        let mut bytes = packet.encode();
        let i = at.index(bytes.len());
        bytes[i] = value;
        if let Ok(decoded) = ControlPacket::decode(&bytes) {
            let again = decoded.encode();
            prop_assert_eq!(ControlPacket::decode(&again), Ok(decoded));
        }
    }

    #[test]
    fn session_receive_never_panics(inputs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..60), 0..20)) {
        let now = Instant::now();
        let mut s = Session::new(config(1), now).unwrap();
        for (i, bytes) in inputs.iter().enumerate() {
            let _ = s.receive(bytes, now + ms(i as u64 * 10));
        }
    }

    /// Any sequence of packets from the remote and timer runs: the session never panics, and
    /// once it has run its timers at a deadline the next deadline is later (no busy loop).
    #[test]
    fn session_deadlines_always_move_on(
        steps in prop::collection::vec((valid_packet(), 0u64..400, any::<bool>()), 0..40),
    ) {
        let start = Instant::now();
        let mut s = Session::new(config(1), start).unwrap();
        let mut now = start;
        for (mut packet, wait, for_this_session) in steps {
            packet.auth = None;
            if for_this_session && packet.your_discriminator != 0 {
                packet.your_discriminator = 1;
            }
            now += ms(wait);
            while let Some(deadline) = s.next_deadline().filter(|d| *d <= now) {
                s.poll_timers(deadline.max(start));
                prop_assert!(s.next_deadline().is_none_or(|next| next > deadline), "stuck at {:?}", deadline - start);
            }
            let _ = s.receive(&packet.encode(), now);
        }
    }

    /// Whatever the remote sends, what the session sends is valid, never has both P and F
    /// (RFC 5880 §6.5), never has D (§6.8.7, no Demand mode), and is slow while not Up (§6.8.3).
    #[test]
    fn session_sends_valid_packets(states in prop::collection::vec((state(), any::<bool>(), any::<bool>()), 1..30)) {
        let now = Instant::now();
        let mut s = Session::new(config(1), now).unwrap();
        let mut out = crate::sent(&s.poll_timers(now));
        for (i, (state, poll, final_)) in states.into_iter().enumerate() {
            let your = if matches!(state, State::Down | State::AdminDown) { 0 } else { 1 };
            let mut p = from_remote(state, your);
            (p.poll, p.final_) = (poll, final_);
            let at = now + ms(i as u64 * 50);
            out.extend(crate::sent(&s.receive(&p.encode(), at).unwrap()));
            out.extend(crate::sent(&s.poll_timers(at)));
        }
        for p in out {
            prop_assert!(!(p.poll && p.final_));
            prop_assert!(!p.demand);
            prop_assert!(p.state == State::Up || p.desired_min_tx >= 1_000_000);
        }
    }
}
