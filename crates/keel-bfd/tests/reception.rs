//! One session fed hand-made packets: the session-level rules of RFC 5880 §6.8.6 and the timing
//! rules of §6.8.1, §6.8.3, §6.8.4 and §6.8.7 that they drive. Each test names its section.

use crate::{changes, config, from_remote, ms, sent, session_in};
use keel_bfd::{AuthError, AuthType, Authentication, ControlPacket, Diagnostic, Discard, Key, Session, State};
use std::time::{Duration, Instant};

#[test]
fn rfc5880_6_8_6_your_discriminator_selects_the_session() {
    let now = Instant::now();
    let mut s = session_in(State::Init, now);
    assert_eq!(
        s.receive(&from_remote(State::Up, 77).encode(), now),
        Err(Discard::YourDiscriminator { received: 77, local: 1 })
    );
    assert_eq!(s.state(), State::Init, "a discarded packet changes nothing");
}

#[test]
fn rfc5880_6_8_6_a_bit_set_without_authentication_in_use() {
    let now = Instant::now();
    let mut s = Session::new(config(1), now).unwrap();
    let mut p = from_remote(State::Down, 0);
    p.auth = Some(keel_bfd::AuthSection::SimplePassword { key_id: 1, password: b"x".to_vec() });
    assert_eq!(s.receive(&p.encode(), now), Err(Discard::Authentication(AuthError::Unexpected)));
}

#[test]
fn rfc5880_6_8_6_a_bit_clear_with_authentication_in_use() {
    let now = Instant::now();
    let mut c = config(1);
    c.authentication = Some(Authentication {
        auth_type: AuthType::MeticulousKeyedSha1,
        keys: vec![Key { id: 1, secret: b"k".to_vec() }],
        transmit_key_id: 1,
    });
    let mut s = Session::new(c, now).unwrap();
    assert_eq!(s.receive(&from_remote(State::Down, 0).encode(), now), Err(Discard::Authentication(AuthError::Missing)));
    assert_eq!(s.status().remote_discriminator, 0, "bfd.RemoteDiscr is set only after authentication");
}

#[test]
fn rfc5880_6_8_6_packet_checks_come_first() {
    let now = Instant::now();
    let mut s = Session::new(config(1), now).unwrap();
    let mut bytes = from_remote(State::Down, 0).encode();
    bytes[2] = 0;
    assert_eq!(s.receive(&bytes, now), Err(Discard::Packet(keel_bfd::PacketError::DetectMultZero)));
}

/// The state transitions of §6.8.6 (and the diagram of §6.2), one row per local state and
/// received State.
#[test]
fn rfc5880_6_8_6_state_transitions() {
    use Diagnostic::*;
    use State::*;
    let rows = [
        (Down, AdminDown, Down, None),
        (Down, Down, Init, Some(NoDiagnostic)),
        (Down, Init, Up, Some(NoDiagnostic)),
        (Down, Up, Down, None),
        (Init, AdminDown, Down, Some(NeighborSignaledSessionDown)),
        (Init, Down, Init, None),
        (Init, Init, Up, Some(NoDiagnostic)),
        (Init, Up, Up, Some(NoDiagnostic)),
        (Up, AdminDown, Down, Some(NeighborSignaledSessionDown)),
        (Up, Down, Down, Some(NeighborSignaledSessionDown)),
        (Up, Init, Up, None),
        (Up, Up, Up, None),
    ];
    for (local, received, next, change) in rows {
        let now = Instant::now();
        let mut s = session_in(local, now);
        let your = if matches!(received, Down | AdminDown) { 0 } else { 1 };
        let actions = s.receive(&from_remote(received, your).encode(), now).unwrap();
        assert_eq!(s.state(), next, "{local:?} + {received:?}");
        let expected: Vec<_> = change.map(|d| (next, d)).into_iter().collect();
        assert_eq!(changes(&actions), expected, "{local:?} + {received:?}");
    }
}

/// §6.8.6 "If bfd.SessionState is AdminDown: Discard the packet", after the remote's variables
/// are updated; and §6.8.16: entering AdminDown is sent at once, leaving it goes to Down.
#[test]
fn rfc5880_6_8_16_admin_down() {
    let now = Instant::now();
    let mut s = session_in(State::Up, now);
    let actions = s.set_admin_down(Diagnostic::AdministrativelyDown, now);
    assert_eq!(changes(&actions), [(State::AdminDown, Diagnostic::AdministrativelyDown)]);
    let p = sent(&actions);
    assert_eq!((p[0].state, p[0].diagnostic), (State::AdminDown, Diagnostic::AdministrativelyDown));
    assert_eq!(p[0].desired_min_tx, 1_000_000, "not Up: one second (§6.8.3)");

    let mut poll = from_remote(State::Init, 1);
    poll.poll = true;
    poll.control_plane_independent = true;
    let actions = s.receive(&poll.encode(), now).unwrap();
    assert_eq!(s.state(), State::AdminDown);
    assert!(sent(&actions).iter().all(|p| !p.final_), "discarded before the Poll is answered");
    assert_eq!(s.remote_control_plane_independent(), Some(true), "remote variables were updated");

    // Packets continue while AdminDown.
    let later = s.poll_timers(now + ms(1000));
    assert_eq!(sent(&later)[0].state, State::AdminDown);

    let actions = s.set_admin_up(now + ms(1000));
    assert_eq!(changes(&actions), [(State::Down, Diagnostic::AdministrativelyDown)]);
}

#[test]
fn rfc5880_6_8_15_forwarding_plane_reset() {
    let now = Instant::now();
    let mut s = session_in(State::Up, now);
    assert_eq!(changes(&s.forwarding_plane_reset(now)), [(State::Down, Diagnostic::ForwardingPlaneReset)]);
}

/// §6.8.6 and §6.8.7: a Poll is answered at once with F set and P clear, whatever the timers.
#[test]
fn rfc5880_6_8_7_poll_answered_at_once_with_final() {
    let now = Instant::now();
    let mut s = session_in(State::Up, now);
    s.poll_timers(now + ms(1)); // nothing due yet
    let mut poll = from_remote(State::Up, 1);
    poll.poll = true;
    let p = sent(&s.receive(&poll.encode(), now + ms(2)).unwrap());
    assert_eq!(p.len(), 1);
    assert!(p[0].final_ && !p[0].poll, "§6.5: never both P and F");
}

/// §6.5, §6.8.3: going Up changes bfd.DesiredMinTxInterval (1 s to 100 ms), so packets carry P
/// until a Final arrives.
#[test]
fn rfc5880_6_5_poll_sequence_until_final() {
    let now = Instant::now();
    let mut s = session_in(State::Up, now);
    assert!(s.status().polling);
    let p = sent(&s.poll_timers(now + ms(100)));
    assert!(p[0].poll && p[0].desired_min_tx == 100_000);
    let mut fin = from_remote(State::Up, 1);
    fin.final_ = true;
    s.receive(&fin.encode(), now + ms(101)).unwrap();
    assert!(!s.status().polling);
    let p = sent(&s.poll_timers(now + ms(200)));
    assert!(!p[0].poll, "§6.5: subsequent packets are sent with the Poll bit cleared");
}

/// §6.8.4: Detect Mult received x the greater of bfd.RequiredMinRxInterval and the last
/// received Desired Min TX Interval.
#[test]
fn rfc5880_6_8_4_detection_time_from_remote_values() {
    let now = Instant::now();
    let mut s = Session::new(config(1), now).unwrap();
    let mut p = from_remote(State::Down, 0);
    (p.detect_mult, p.desired_min_tx) = (5, 250_000);
    s.receive(&p.encode(), now).unwrap();
    assert_eq!(s.status().detection_time, Some(ms(1250)));
    (p.detect_mult, p.desired_min_tx) = (2, 50_000);
    s.receive(&p.encode(), now).unwrap();
    assert_eq!(s.status().detection_time, Some(ms(200)), "max(100 ms required, 50 ms) x 2");
}

/// §6.8.4: "a period of time equal to the Detection Time passes without receiving a BFD Control
/// packet ... and bfd.SessionState is Init or Up": Down with diagnostic 1. §6.8.1: bfd.RemoteDiscr
/// is zeroed too, and §6.8.18: bfd.RemoteMinRxInterval goes back to 1.
#[test]
fn rfc5880_6_8_4_detection_time_expiry() {
    for state in [State::Init, State::Up] {
        let now = Instant::now();
        let mut s = session_in(state, now);
        assert_eq!(s.next_deadline().map(|d| d <= now + ms(300)), Some(true));
        assert_eq!(changes(&s.poll_timers(now + ms(299))), []);
        let actions = s.poll_timers(now + ms(300));
        assert_eq!(changes(&actions), [(State::Down, Diagnostic::ControlDetectionTimeExpired)], "{state:?}");
        let status = s.status();
        assert_eq!((status.remote_discriminator, status.remote_min_rx), (0, Duration::from_micros(1)));
        assert!(sent(&actions).iter().all(|p| p.your_discriminator == 0 && p.state == State::Down));
    }
}

/// §6.8.1: in Down state the Detection Time changes no state but still zeroes bfd.RemoteDiscr.
#[test]
fn rfc5880_6_8_1_remote_discriminator_zeroed_in_down() {
    let now = Instant::now();
    let mut s = Session::new(config(1), now).unwrap();
    s.receive(&from_remote(State::Up, 1).encode(), now).unwrap(); // Down ignores Up
    assert_eq!(s.status().remote_discriminator, 2);
    let actions = s.poll_timers(now + ms(300));
    assert_eq!(changes(&actions), []);
    assert_eq!(s.status().remote_discriminator, 0);
}

/// §6.8.1 bfd.AuthSeqKnown: zero "after no packets have been received on this session for at
/// least twice the Detection Time", so a restarted peer's new sequence numbers are accepted.
#[test]
fn rfc5880_6_8_1_auth_sequence_forgotten_after_twice_detection_time() {
    let now = Instant::now();
    let settings = || Authentication {
        auth_type: AuthType::MeticulousKeyedSha1,
        keys: vec![Key { id: 1, secret: b"k".to_vec() }],
        transmit_key_id: 1,
    };
    let mut rx_config = config(1);
    rx_config.authentication = Some(settings());
    let mut rx = Session::new(rx_config, now).unwrap();
    let mut tx_config = config(2);
    tx_config.authentication = Some(settings());
    let first = |seed| {
        let mut c = tx_config.clone();
        c.seed = seed;
        let mut tx = Session::new(c, now).unwrap();
        match tx.poll_timers(now).remove(0) {
            keel_bfd::Action::Transmit(bytes) => (tx, bytes),
            other => panic!("{other:?}"),
        }
    };
    let (_, bytes) = first(10);
    rx.receive(&bytes, now).unwrap();
    // The same peer restarted: its sequence numbers start elsewhere.
    let (_, restarted) = first(11);
    assert!(matches!(rx.receive(&restarted, now + ms(100)), Err(Discard::Authentication(AuthError::Sequence { .. }))));
    // Detection Time 3 s (Detect Mult 3 x the peer's 1 s while not Up): forgotten at 6 s.
    rx.poll_timers(now + ms(5999));
    assert!(rx.receive(&restarted, now + ms(5999)).is_err());
    rx.poll_timers(now + ms(6000));
    assert_eq!(rx.receive(&restarted, now + ms(6000)).map(|_| ()), Ok(()));
}

/// §6.8.3: "If bfd.RequiredMinRxInterval is reduced and bfd.SessionState is Up, the previous
/// value ... MUST be used when calculating the Detection Time ... until the Poll Sequence ... has
/// terminated."
#[test]
fn rfc5880_6_8_3_rx_reduction_keeps_detection_time_until_final() {
    let now = Instant::now();
    let mut c = config(1);
    c.required_min_rx = ms(500);
    let mut s = Session::new(c, now).unwrap();
    s.receive(&from_remote(State::Init, 1).encode(), now).unwrap();
    let mut fin = from_remote(State::Up, 1);
    fin.final_ = true;
    s.receive(&fin.encode(), now).unwrap(); // ends the Poll Sequence of going Up
    s.receive(&from_remote(State::Up, 1).encode(), now).unwrap();
    assert_eq!(s.status().detection_time, Some(ms(1500)));
    let p = sent(&s.set_timers(ms(100), ms(100), 3, now).unwrap());
    assert!(p[0].poll && p[0].required_min_rx == 100_000, "advertised at once, with P");
    assert_eq!(s.status().detection_time, Some(ms(1500)), "old value until the Final");
    s.receive(&fin.encode(), now + ms(10)).unwrap();
    assert_eq!(s.status().detection_time, Some(ms(300)));
}

/// §6.8.3: "If the local system reduces its transmit interval due to bfd.RemoteMinRxInterval
/// being reduced ... the local system cannot wait longer than the new interval between the
/// previous packet transmission and the next one."
#[test]
fn rfc5880_6_8_3_remote_min_rx_reduction_honoured_at_once() {
    let now = Instant::now();
    let mut s = session_in(State::Up, now);
    // The remote sends every 2 s (a Detection Time of 6 s, out of the way) and asks for 2 s.
    let mut slow = from_remote(State::Up, 1);
    (slow.desired_min_tx, slow.required_min_rx, slow.final_) = (2_000_000, 2_000_000, true);
    s.receive(&slow.encode(), now).unwrap();
    let last = now + ms(10);
    assert_eq!(sent(&s.poll_timers(last)).len(), 0);
    // Force a transmission so "the previous packet transmission" is known.
    let poll = ControlPacket { poll: true, final_: false, ..slow.clone() };
    s.receive(&poll.encode(), last).unwrap();
    assert!(s.next_deadline().unwrap() >= last + ms(1500), "2 s interval, jittered");
    let fast = ControlPacket { required_min_rx: 100_000, final_: false, ..slow };
    s.receive(&fast.encode(), last + ms(50)).unwrap();
    assert!(s.next_deadline().unwrap() <= last + ms(100), "the new 100 ms interval counts from the last packet");
}

/// §6.8.7: "A system MUST NOT periodically transmit BFD Control packets if
/// bfd.RemoteMinRxInterval is zero", but a Poll is still answered.
#[test]
fn rfc5880_6_8_7_remote_min_rx_zero_stops_periodic_packets() {
    let now = Instant::now();
    let mut s = Session::new(config(1), now).unwrap();
    let mut p = from_remote(State::Down, 0);
    p.required_min_rx = 0;
    s.receive(&p.encode(), now).unwrap(); // Down -> Init: sent once, as the contents changed
    assert_eq!(s.status().transmit_interval, None);
    let mut t = now;
    for _ in 0..20 {
        t += ms(200);
        assert!(sent(&s.poll_timers(t)).is_empty(), "no periodic packet at {:?}", t - now);
        assert!(sent(&s.receive(&p.encode(), t).unwrap()).is_empty());
    }
    p.poll = true;
    assert!(sent(&s.receive(&p.encode(), t).unwrap())[0].final_);
}

/// §6.1 and §6.8.7: "A system MUST NOT transmit BFD Control packets if bfd.RemoteDiscr is zero
/// and the system is taking the Passive role."
#[test]
fn rfc5880_6_1_passive_role_waits_for_the_remote() {
    let now = Instant::now();
    let mut c = config(1);
    c.passive = true;
    let mut s = Session::new(c, now).unwrap();
    assert_eq!(s.next_deadline(), None, "nothing to do: no busy loop");
    assert!(s.poll_timers(now + ms(5000)).is_empty());
    let p = sent(&s.receive(&from_remote(State::Down, 0).encode(), now + ms(5000)).unwrap());
    assert_eq!((p[0].state, p[0].your_discriminator), (State::Init, 2));
}

/// Demand mode is not implemented: a remote D bit is recorded but periodic packets go on, and
/// D is never sent (§6.8.7: "MUST NOT set the Demand (D) bit unless bfd.DemandMode is 1").
#[test]
fn rfc5880_6_6_remote_demand_does_not_stop_transmission() {
    let now = Instant::now();
    let mut s = session_in(State::Up, now);
    let mut p = from_remote(State::Up, 1);
    p.demand = true;
    s.receive(&p.encode(), now).unwrap();
    let mut t = now;
    let mut packets = Vec::new();
    for _ in 0..30 {
        t += ms(100);
        packets.extend(sent(&s.poll_timers(t)));
        s.receive(&p.encode(), t).unwrap();
    }
    assert!(packets.len() >= 2 && packets.iter().all(|p| !p.demand));
}

/// RFC 5882 §4.3 needs the remote's C bit; it follows the last accepted packet.
#[test]
fn rfc5882_4_3_remote_c_bit_exposed() {
    let now = Instant::now();
    let mut s = Session::new(config(1), now).unwrap();
    assert_eq!(s.remote_control_plane_independent(), None);
    let mut p = from_remote(State::Down, 0);
    p.control_plane_independent = true;
    s.receive(&p.encode(), now).unwrap();
    assert_eq!(s.remote_control_plane_independent(), Some(true));
    p.control_plane_independent = false;
    s.receive(&p.encode(), now).unwrap();
    assert_eq!(s.remote_control_plane_independent(), Some(false));
}

/// The local C bit is a session setting, sent at once when it changes (§6.8.7 SHOULD).
#[test]
fn c_bit_setting_is_sent() {
    let now = Instant::now();
    let mut c = config(1);
    c.control_plane_independent = true;
    let mut s = Session::new(c, now).unwrap();
    assert!(sent(&s.poll_timers(now))[0].control_plane_independent);
    let p = sent(&s.set_control_plane_independent(false, now + ms(1)));
    assert!(!p[0].control_plane_independent);
}

#[test]
fn config_checks() {
    let now = Instant::now();
    let try_new = |edit: fn(&mut keel_bfd::SessionConfig)| {
        let mut c = config(1);
        edit(&mut c);
        Session::new(c, now).err()
    };
    use keel_bfd::ConfigError::*;
    assert_eq!(try_new(|c| c.local_discriminator = 0), Some(LocalDiscriminatorZero));
    assert_eq!(try_new(|c| c.detect_mult = 0), Some(DetectMultZero));
    assert_eq!(try_new(|c| c.desired_min_tx = Duration::ZERO), Some(DesiredMinTxZero));
    assert_eq!(try_new(|c| c.required_min_rx = Duration::ZERO), Some(RequiredMinRxZero));
    assert_eq!(
        try_new(|c| c.required_min_rx = Duration::from_secs(5000)),
        Some(IntervalTooLarge(Duration::from_secs(5000)))
    );
    assert_eq!(try_new(|_| {}), None);
}
