//! Two sessions wired back to back through the codec on a simulated clock: each packet one side
//! sends arrives at the other after a fixed latency, unless that direction is cut.

use crate::{config, ms};
use keel_bfd::{
    Action, AuthError, AuthSection, AuthType, Authentication, ControlPacket, Diagnostic, Discard, Key, Session,
    SessionConfig, State,
};
use std::time::{Duration, Instant};

const A: usize = 0;
const B: usize = 1;

struct Wire {
    start: Instant,
    now: Instant,
    sessions: [Session; 2],
    /// (arrival, receiving side, bytes)
    in_flight: Vec<(Instant, usize, Vec<u8>)>,
    latency: Duration,
    /// `cut[side]`: what `side` sends is lost.
    cut: [bool; 2],
    /// (time since start, sending or changing side, action)
    log: Vec<(Duration, usize, Action)>,
    discards: Vec<(usize, Discard)>,
}

impl Wire {
    fn new(a: SessionConfig, b: SessionConfig) -> Wire {
        let start = Instant::now();
        Wire {
            start,
            now: start,
            sessions: [Session::new(a, start).unwrap(), Session::new(b, start).unwrap()],
            in_flight: Vec::new(),
            latency: ms(1),
            cut: [false; 2],
            log: Vec::new(),
            discards: Vec::new(),
        }
    }

    /// Runs every event up to `until` after the start.
    fn run_until(&mut self, until: Duration) {
        let end = self.start + until;
        let mut steps_at_same_instant = 0;
        loop {
            let deadlines = self.sessions.iter().filter_map(Session::next_deadline);
            let arrivals = self.in_flight.iter().map(|(at, ..)| *at);
            let Some(next) = deadlines.chain(arrivals).min() else { break };
            if next > end {
                break;
            }
            let next = next.max(self.now);
            steps_at_same_instant = if next == self.now { steps_at_same_instant + 1 } else { 0 };
            assert!(steps_at_same_instant < 100, "no progress at {:?}", self.now - self.start);
            self.now = next;
            let (due, later): (Vec<_>, Vec<_>) = self.in_flight.drain(..).partition(|(at, ..)| *at <= next);
            self.in_flight = later;
            for (_, to, bytes) in due {
                match self.sessions[to].receive(&bytes, next) {
                    Ok(actions) => self.carry_out(to, actions),
                    Err(discard) => self.discards.push((to, discard)),
                }
            }
            for side in [A, B] {
                if self.sessions[side].next_deadline().is_some_and(|d| d <= next) {
                    let actions = self.sessions[side].poll_timers(next);
                    self.carry_out(side, actions);
                }
            }
        }
        self.now = self.now.max(end);
    }

    fn carry_out(&mut self, side: usize, actions: Vec<Action>) {
        for action in actions {
            if let Action::Transmit(bytes) = &action {
                if !self.cut[side] {
                    self.in_flight.push((self.now + self.latency, 1 - side, bytes.clone()));
                }
            }
            self.log.push((self.now - self.start, side, action));
        }
    }

    fn at(&self, t: Duration) -> Instant {
        self.start + t
    }

    /// Calls `f` on one session at `t` and carries out what it returns.
    fn act(&mut self, side: usize, t: Duration, f: impl FnOnce(&mut Session, Instant) -> Vec<Action>) {
        self.run_until(t);
        let at = self.at(t);
        let actions = f(&mut self.sessions[side], at);
        self.carry_out(side, actions);
    }

    fn changes(&self, side: usize) -> Vec<(Duration, State, Diagnostic)> {
        let log = self.log.iter().filter(|(_, s, _)| *s == side);
        log.filter_map(|(t, _, a)| match a {
            Action::StateChange { to, diagnostic, .. } => Some((*t, *to, *diagnostic)),
            Action::Transmit(_) => None,
        })
        .collect()
    }

    fn sent(&self, side: usize) -> Vec<(Duration, ControlPacket)> {
        let log = self.log.iter().filter(|(_, s, _)| *s == side);
        log.filter_map(|(t, _, a)| match a {
            Action::Transmit(bytes) => Some((*t, ControlPacket::decode(bytes).unwrap())),
            Action::StateChange { .. } => None,
        })
        .collect()
    }

    fn states(&self) -> (State, State) {
        (self.sessions[A].state(), self.sessions[B].state())
    }
}

/// Largest gap between consecutive packets `side` sent within `from..to`.
fn largest_gap(packets: &[(Duration, ControlPacket)], from: Duration, to: Duration) -> Duration {
    let times: Vec<_> = packets.iter().map(|(t, _)| *t).filter(|t| (from..to).contains(t)).collect();
    times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default()
}

#[test]
fn two_sessions_reach_up_and_negotiate() {
    let mut w = Wire::new(config(1), config(2));
    w.run_until(ms(3000));
    assert_eq!(w.states(), (State::Up, State::Up));
    for side in [A, B] {
        // §6.2: both sent Down at once, so each goes Down -> Init -> Up in two latencies.
        let changes = w.changes(side);
        assert_eq!(
            changes,
            [(ms(1), State::Init, Diagnostic::NoDiagnostic), (ms(2), State::Up, Diagnostic::NoDiagnostic)]
        );
        let status = w.sessions[side].status();
        assert_eq!(status.transmit_interval, Some(ms(100)));
        assert_eq!(status.detection_time, Some(ms(300)));
        assert_eq!(status.desired_min_tx, ms(100), "fast once Up (§6.8.3)");
        assert!(!status.polling, "the Poll Sequence of going Up ended");
    }
    assert!(w.discards.is_empty());
}

/// §6.8.7: periodic packets at most the negotiated interval apart, 12.5% less on average, and no
/// false Down over a simulated minute.
#[test]
fn stays_up_with_jittered_packets() {
    let mut w = Wire::new(config(1), config(2));
    w.run_until(ms(60_000));
    assert_eq!(w.changes(A).len(), 2, "{:?}", w.changes(A));
    let sent = w.sent(A);
    assert!(largest_gap(&sent, ms(100), ms(60_000)) <= ms(100));
    let count = sent.iter().filter(|(t, _)| *t >= ms(1000)).count() as u64;
    let mean = ms(59_000) / count as u32;
    assert!((ms(84)..=ms(91)).contains(&mean), "mean interval {mean:?}");
}

/// §6.8.7 with bfd.DetectMult 1: the interval is 75% to 90% of the negotiated one, so a
/// Detection Time of one interval does not pass between packets.
#[test]
fn detect_mult_1_keeps_the_session_up() {
    let (mut a, mut b) = (config(1), config(2));
    (a.detect_mult, b.detect_mult) = (1, 1);
    let mut w = Wire::new(a, b);
    w.run_until(ms(30_000));
    assert_eq!(w.states(), (State::Up, State::Up));
    assert_eq!(w.changes(A).len(), 2);
    assert!(largest_gap(&w.sent(A), ms(100), ms(30_000)) <= ms(90));
}

/// §6.8.3: "When bfd.SessionState is not Up, the system MUST set bfd.DesiredMinTxInterval to a
/// value of not less than one second", and the interval follows it.
#[test]
fn rfc5880_6_8_3_one_second_while_not_up() {
    let mut w = Wire::new(config(1), config(2));
    w.cut = [true, true];
    w.run_until(ms(10_000));
    let sent = w.sent(A);
    assert!((10..=14).contains(&sent.len()), "{} packets in 10 s", sent.len());
    assert!(sent.iter().all(|(_, p)| p.desired_min_tx == 1_000_000 && p.state == State::Down));
    let gaps: Vec<_> = sent.windows(2).map(|p| p[1].0 - p[0].0).collect();
    assert!(gaps.iter().all(|g| (ms(750)..=ms(1000)).contains(g)), "{gaps:?}");
}

/// §6.8.4: one direction dies; the side that stops hearing goes Down with diagnostic 1 one
/// Detection Time after the last packet; the other hears it and goes Down with diagnostic 3.
/// Restored, the sessions come back Up.
#[test]
fn detection_time_expiry_and_recovery() {
    let mut w = Wire::new(config(1), config(2));
    w.run_until(ms(5000));
    w.cut[A] = true;
    w.run_until(ms(8000));
    let down_b = w.changes(B)[2];
    assert_eq!((down_b.1, down_b.2), (State::Down, Diagnostic::ControlDetectionTimeExpired));
    // A's last packet arrived at most 100 ms before the cut (plus latency); B waits 300 ms.
    assert!((ms(5200)..=ms(5301)).contains(&down_b.0), "B down at {:?}", down_b.0);
    let down_a = w.changes(A)[2];
    assert_eq!(down_a, (down_b.0 + ms(1), State::Down, Diagnostic::NeighborSignaledSessionDown));
    // B's next Down packet moves A to Init (§6.2: B is still heard), where it stays: B never
    // hears A, so never leaves Down.
    assert_eq!(w.states(), (State::Init, State::Down));
    let init_a = w.changes(A)[3];
    assert_eq!((init_a.1, init_a.2), (State::Init, Diagnostic::NoDiagnostic));
    // B's next packet comes one jittered second later: it is slow now that it is Down (§6.8.3).
    assert!((down_b.0 + ms(751)..=down_b.0 + ms(1001)).contains(&init_a.0), "{init_a:?}");
    assert_eq!((w.changes(A).len(), w.changes(B).len()), (4, 3));

    w.cut[A] = false;
    w.run_until(ms(12_000));
    assert_eq!(w.states(), (State::Up, State::Up));
}

/// §6.5 and §6.8.3 on an interval change while Up. A raises both intervals to 300 ms while B's
/// packets to it are lost for 200 ms, so its Poll Sequence runs several packets. Until the Final
/// arrives A keeps transmitting every 100 ms (a larger transmit interval waits for the Final);
/// the larger receive interval and B's new Detection Time apply at once.
#[test]
fn rfc5880_6_8_3_poll_sequence_on_interval_change() {
    let mut w = Wire::new(config(1), config(2));
    w.run_until(ms(5000));
    w.cut[B] = true;
    w.act(A, ms(5000), |s, now| s.set_timers(ms(300), ms(300), 3, now).unwrap());
    assert_eq!(w.sessions[A].status().detection_time, Some(ms(900)), "rx increase: at once");
    w.run_until(ms(5005));
    assert_eq!(w.sessions[B].status().detection_time, Some(ms(900)), "B saw 300 ms Desired Min TX");
    assert_eq!(w.sessions[B].status().transmit_interval, Some(ms(300)), "B honours Required Min RX 300 ms");
    w.run_until(ms(5200));
    let polls: Vec<_> = w.sent(A).into_iter().filter(|(t, _)| *t >= ms(5000)).collect();
    assert!(polls.len() >= 3 && polls.iter().all(|(_, p)| p.poll && p.desired_min_tx == 300_000), "{polls:?}");
    assert!(largest_gap(&polls, ms(5000), ms(5200)) <= ms(100), "old interval until the Final");
    assert_eq!(w.sessions[A].status().transmit_interval, Some(ms(100)));

    w.cut[B] = false;
    w.run_until(ms(8000));
    assert_eq!(w.states(), (State::Up, State::Up), "no false Down on either side");
    let status = w.sessions[A].status();
    assert_eq!((status.polling, status.transmit_interval), (false, Some(ms(300))));
    let finals = w.sent(B).into_iter().filter(|(t, p)| *t >= ms(5200) && p.final_).count();
    assert_eq!(finals, 1, "one Final ends the sequence");
    let after: Vec<_> = w.sent(A).into_iter().filter(|(t, _)| *t >= ms(5600)).collect();
    assert!(after.iter().all(|(_, p)| !p.poll));
    let gap = largest_gap(&after, ms(5600), ms(8000));
    assert!((ms(225)..=ms(300)).contains(&gap), "{gap:?}");
}

/// §6.8.16: A goes AdminDown; B goes Down with diagnostic 3 and stays Down (§6.2: AdminDown
/// holds the remote in Down); A enabled again, both come Up.
#[test]
fn rfc5880_6_8_16_admin_down_holds_the_remote_down() {
    let mut w = Wire::new(config(1), config(2));
    w.run_until(ms(5000));
    w.act(A, ms(5000), |s, now| s.set_admin_down(Diagnostic::AdministrativelyDown, now));
    w.run_until(ms(10_000));
    assert_eq!(w.states(), (State::AdminDown, State::Down));
    assert_eq!(w.changes(B)[2], (ms(5001), State::Down, Diagnostic::NeighborSignaledSessionDown));
    assert_eq!(w.changes(B).len(), 3, "B never left Down while A was AdminDown");
    w.act(A, ms(10_000), |s, now| s.set_admin_up(now));
    w.run_until(ms(14_000));
    assert_eq!(w.states(), (State::Up, State::Up));
}

/// RFC 5882 §4.3: each side sees the other's C bit.
#[test]
fn c_bits_cross() {
    let mut a = config(1);
    a.control_plane_independent = true;
    let mut w = Wire::new(a, config(2));
    w.run_until(ms(1000));
    assert_eq!(w.sessions[B].remote_control_plane_independent(), Some(true));
    assert_eq!(w.sessions[A].remote_control_plane_independent(), Some(false));
}

/// §6.1: a passive side waits for the active one, then the session comes up.
#[test]
fn rfc5880_6_1_active_and_passive() {
    let mut b = config(2);
    b.passive = true;
    let mut w = Wire::new(config(1), b);
    w.run_until(ms(3000));
    assert_eq!(w.states(), (State::Up, State::Up));
    assert!(w.sent(B)[0].0 >= ms(1), "B spoke only after A's first packet arrived");
}

fn with_auth(discriminator: u32, auth_type: AuthType, keys: &[(u8, &[u8])], transmit_key_id: u8) -> SessionConfig {
    let mut c = config(discriminator);
    let keys = keys.iter().map(|(id, secret)| Key { id: *id, secret: secret.to_vec() }).collect();
    c.authentication = Some(Authentication { auth_type, keys, transmit_key_id });
    c
}

#[test]
fn rfc5880_6_7_authenticated_sessions_come_up_and_stay_up() {
    for auth_type in [AuthType::SimplePassword, AuthType::KeyedSha1, AuthType::MeticulousKeyedSha1] {
        let a = with_auth(1, auth_type, &[(1, b"secret")], 1);
        let b = with_auth(2, auth_type, &[(1, b"secret"), (2, b"other")], 1);
        let mut w = Wire::new(a, b);
        w.run_until(ms(20_000));
        assert_eq!(w.states(), (State::Up, State::Up), "{auth_type:?}");
        assert_eq!(w.changes(A).len(), 2, "{auth_type:?}");
        assert!(w.discards.is_empty(), "{auth_type:?}: {:?}", w.discards);
        let sequences: Vec<u32> = w
            .sent(A)
            .iter()
            .filter_map(|(_, p)| match p.auth {
                Some(AuthSection::Keyed { sequence, .. }) => Some(sequence),
                _ => None,
            })
            .collect();
        if auth_type == AuthType::MeticulousKeyedSha1 {
            // §6.7.4: "incremented for each successive packet transmitted"
            assert!(sequences.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
        }
        if auth_type == AuthType::KeyedSha1 {
            // Incremented only when the contents change (Down, Init, Up, and after the Final).
            assert!(sequences.windows(2).all(|w| w[1] == w[0] || w[1] == w[0].wrapping_add(1)));
            assert!(sequences.first() != sequences.last());
        }
    }
}

#[test]
fn rfc5880_6_7_wrong_secrets_keep_the_session_down() {
    let cases = [
        (AuthType::SimplePassword, b"secreT", 1, AuthError::WrongPassword(1)),
        (AuthType::SimplePassword, b"secret", 9, AuthError::UnknownKeyId(9)),
        (AuthType::KeyedSha1, b"secreT", 1, AuthError::WrongHash(1)),
        (AuthType::MeticulousKeyedSha1, b"secret", 9, AuthError::UnknownKeyId(9)),
    ];
    for (auth_type, secret, key_id, expected) in cases {
        let a = with_auth(1, auth_type, &[(key_id, &secret[..])], key_id);
        let b = with_auth(2, auth_type, &[(1, b"secret")], 1);
        let mut w = Wire::new(a, b);
        w.run_until(ms(5000));
        assert_eq!(w.sessions[B].state(), State::Down, "{auth_type:?}");
        assert_eq!(w.sessions[B].status().remote_discriminator, 0);
        let b_discards: Vec<_> = w.discards.iter().filter(|(side, _)| *side == B).collect();
        assert!(!b_discards.is_empty());
        assert!(
            b_discards.iter().all(|(_, d)| *d == Discard::Authentication(expected.clone())),
            "{auth_type:?}: {b_discards:?}"
        );
    }
}

/// §6.7.4 Meticulous Keyed SHA1: a packet replayed to the session is discarded.
#[test]
fn rfc5880_6_7_4_meticulous_replay_is_discarded() {
    let a = with_auth(1, AuthType::MeticulousKeyedSha1, &[(1, b"secret")], 1);
    let b = with_auth(2, AuthType::MeticulousKeyedSha1, &[(1, b"secret")], 1);
    let mut w = Wire::new(a, b);
    w.run_until(ms(3000));
    let captured = w
        .log
        .iter()
        .rev()
        .find_map(|(_, side, a)| match a {
            Action::Transmit(bytes) if *side == A => Some(bytes.clone()),
            _ => None,
        })
        .unwrap();
    w.run_until(ms(3100)); // delivered once already
    let replay = w.sessions[B].receive(&captured, w.at(ms(3100)));
    assert!(matches!(replay, Err(Discard::Authentication(AuthError::Sequence { .. }))), "{replay:?}");
    assert_eq!(w.states(), (State::Up, State::Up));
}
