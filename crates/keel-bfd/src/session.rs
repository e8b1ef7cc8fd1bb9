//! One BFD session in Asynchronous mode: the state machine of RFC 5880 §6.2, the state variables
//! of §6.8.1, reception (§6.8.6), transmission (§6.8.7), detection (§6.8.4), Poll and Final
//! (§6.5), administrative control (§6.8.16) and forwarding plane reset (§6.8.15).
//!
//! ```text
//!                     +--+ Up, AdminDown, timer
//!                     |  v
//!          Down    +------+     Init
//!     +------------| Down |-------------+
//!     |   +------->|      |<--------+   |
//!     |   |        +------+         |   |
//!     |   | AdminDown, timer        | AdminDown, Down, timer
//!     v   |                         |   v
//!   +------+       Init, Up        +------+
//!   | Init |---------------------->|  Up  |  Init, Up: stay
//!   +------+                       +------+
//!   Down: stay
//! ```
//! (§6.2; arcs are the State field received or the Detection Time expiring. AdminDown is
//! entered and left only by [`Session::set_admin_down`] and [`Session::set_admin_up`].)
//!
//! Events in, actions out, as keel's graceful-restart machines: the daemon passes each received
//! datagram to [`Session::receive`], calls [`Session::poll_timers`] at [`Session::next_deadline`],
//! and carries out the [`Action`]s: send the bytes, report the state change. After any call the
//! deadline may have moved; read it again. Nothing here reads a clock or touches a socket, so
//! the session is plain data that can be handed to another process.
//!
//! Not implemented: Demand mode (bfd.DemandMode is always 0 and D is never sent) and the Echo
//! function (Required Min Echo RX Interval is sent as 0, so the peer sends no Echo packets).

use crate::auth::{self, AuthConfigError, AuthError, AuthState, Authentication};
use crate::packet::{ControlPacket, Diagnostic, PacketError, State};
use crate::timers::{self, LocalIntervals, Random};
use std::time::{Duration, Instant};
use thiserror::Error;

/// What one session is told by its application (RFC 5880 §6.8.1 leaves these to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// bfd.LocalDiscr: nonzero and unique among this system's sessions (the daemon's job).
    pub local_discriminator: u32,
    /// bfd.DesiredMinTxInterval once Up; while not Up at least one second is used (§6.8.3).
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval; nonzero (keel does not hold sessions down with zero, §6.8.18).
    pub required_min_rx: Duration,
    /// bfd.DetectMult, nonzero.
    pub detect_mult: u8,
    /// The C bit sent (RFC 5880 §4.1, RFC 5882 §4.3): set only when this session keeps running
    /// through a restart of the control plane.
    pub control_plane_independent: bool,
    /// The Passive role of §6.1: send nothing until the remote's discriminator is known.
    pub passive: bool,
    /// bfd.AuthType and its keys; `None` for no authentication.
    pub authentication: Option<Authentication>,
    /// Seeds the transmit jitter (§6.8.7) and the first bfd.XmitAuthSeq (§6.8.1, "MUST be
    /// initialized to a random 32-bit value"): the daemon passes a random number, tests a fixed
    /// one.
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("local discriminator is zero (RFC 5880 §6.8.1: MUST be nonzero)")]
    LocalDiscriminatorZero,
    #[error("detect multiplier is zero (RFC 5880 §6.8.1: MUST be nonzero)")]
    DetectMultZero,
    #[error("desired min TX interval is zero (reserved, RFC 5880 §4.1)")]
    DesiredMinTxZero,
    #[error("required min RX interval is zero (would ask the peer to send nothing, RFC 5880 §6.8.18)")]
    RequiredMinRxZero,
    #[error("interval {0:?} does not fit the 32-bit microsecond field")]
    IntervalTooLarge(Duration),
    #[error(transparent)]
    Authentication(#[from] AuthConfigError),
}

/// What the daemon must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this BFD Control packet (the UDP payload) to the remote system.
    Transmit(Vec<u8>),
    /// bfd.SessionState changed (§6.8.1: "it is expected that this state change ... is reported to
    /// other components of the system"). `diagnostic` is bfd.LocalDiag after the change.
    StateChange { from: State, to: State, diagnostic: Diagnostic },
}

/// Why [`Session::receive`] discarded a packet, one variant per check of RFC 5880 §6.8.6.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Discard {
    #[error(transparent)]
    Packet(#[from] PacketError),
    #[error("Your Discriminator {received} is not this session's {local} (RFC 5880 §6.8.6)")]
    YourDiscriminator { received: u32, local: u32 },
    #[error(transparent)]
    Authentication(#[from] AuthError),
}

/// The last accepted packet's fields that outlive it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remote {
    pub diagnostic: Diagnostic,
    pub detect_mult: u8,
    /// Desired Min TX Interval, microseconds.
    pub desired_min_tx: u32,
    /// The remote's C bit: RFC 5882 §4.3 decides from it whether a BFD Down during a graceful
    /// restart is a forwarding failure (set) or may be the control plane restarting (clear).
    pub control_plane_independent: bool,
}

/// A snapshot for display (`keel show neighbor`) and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    pub remote_state: State,
    pub local_diagnostic: Diagnostic,
    pub local_discriminator: u32,
    pub remote_discriminator: u32,
    pub control_plane_independent: bool,
    pub detect_mult: u8,
    /// bfd.DesiredMinTxInterval and bfd.RequiredMinRxInterval as advertised.
    pub desired_min_tx: Duration,
    pub required_min_rx: Duration,
    /// bfd.RemoteMinRxInterval.
    pub remote_min_rx: Duration,
    /// The negotiated interval between periodic packets, before jitter; `None` when the remote
    /// asked for none.
    pub transmit_interval: Option<Duration>,
    /// `None` until a packet has been received.
    pub detection_time: Option<Duration>,
    pub polling: bool,
    /// `None` until a packet has been received.
    pub remote: Option<Remote>,
}

/// One BFD session (RFC 5880 §6.8.1 state variables, plus the timers that drive them).
#[derive(Debug, Clone)]
pub struct Session {
    /// bfd.SessionState.
    state: State,
    /// bfd.RemoteSessionState.
    remote_state: State,
    /// bfd.LocalDiscr.
    local_discriminator: u32,
    /// bfd.RemoteDiscr.
    remote_discriminator: u32,
    /// bfd.LocalDiag.
    local_diagnostic: Diagnostic,
    /// bfd.DesiredMinTxInterval and bfd.RequiredMinRxInterval, with the §6.8.3 Poll Sequence.
    intervals: LocalIntervals,
    /// bfd.RemoteMinRxInterval, microseconds.
    remote_min_rx: u32,
    /// bfd.RemoteDemandMode: recorded, not acted on (Demand mode is not implemented).
    remote_demand_mode: bool,
    /// bfd.DetectMult.
    detect_mult: u8,
    /// bfd.AuthType, bfd.XmitAuthSeq, bfd.RcvAuthSeq, bfd.AuthSeqKnown.
    auth: Option<AuthState>,
    control_plane_independent: bool,
    passive: bool,
    remote: Option<Remote>,
    random: Random,
    /// When the last packet was accepted: the Detection Time runs from here.
    last_received: Option<Instant>,
    /// The Detection Time since `last_received` has passed and its consequences were applied.
    detection_expired: bool,
    last_transmit: Option<Instant>,
    /// The next periodic transmission; `None` while bfd.RemoteMinRxInterval is zero.
    next_transmit: Option<Instant>,
    /// The last packet sent, without P, F and authentication, to tell when contents change.
    last_sent: Option<ControlPacket>,
}

impl Session {
    /// A new session in Down state (§6.8.1). An active session sends its first packet at `now`.
    pub fn new(config: SessionConfig, now: Instant) -> Result<Session, ConfigError> {
        if config.local_discriminator == 0 {
            return Err(ConfigError::LocalDiscriminatorZero);
        }
        let (tx, rx) = check_intervals(config.desired_min_tx, config.required_min_rx, config.detect_mult)?;
        let mut random = Random::new(config.seed);
        let auth = match config.authentication {
            Some(settings) => Some(AuthState::new(settings, random.next_u32())?),
            None => None,
        };
        Ok(Session {
            state: State::Down,
            remote_state: State::Down,
            local_discriminator: config.local_discriminator,
            remote_discriminator: 0,
            local_diagnostic: Diagnostic::NoDiagnostic,
            intervals: LocalIntervals::new(tx, rx),
            remote_min_rx: 1,
            remote_demand_mode: false,
            detect_mult: config.detect_mult,
            auth,
            control_plane_independent: config.control_plane_independent,
            passive: config.passive,
            remote: None,
            random,
            last_received: None,
            detection_expired: false,
            last_transmit: None,
            next_transmit: Some(now),
            last_sent: None,
        })
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn local_discriminator(&self) -> u32 {
        self.local_discriminator
    }

    /// The C bit of the last accepted packet, `None` before one (RFC 5882 §4.3).
    pub fn remote_control_plane_independent(&self) -> Option<bool> {
        self.remote.map(|r| r.control_plane_independent)
    }

    pub fn status(&self) -> Status {
        Status {
            state: self.state,
            remote_state: self.remote_state,
            local_diagnostic: self.local_diagnostic,
            local_discriminator: self.local_discriminator,
            remote_discriminator: self.remote_discriminator,
            control_plane_independent: self.control_plane_independent,
            detect_mult: self.detect_mult,
            desired_min_tx: timers::micros(self.intervals.desired_min_tx()),
            required_min_rx: timers::micros(self.intervals.required_min_rx()),
            remote_min_rx: timers::micros(self.remote_min_rx),
            transmit_interval: self.transmit_interval().map(timers::micros),
            detection_time: self.detection_time(),
            polling: self.intervals.polling(),
            remote: self.remote,
        }
    }

    /// The earliest instant at which [`Session::poll_timers`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let transmit = self.next_transmit.filter(|_| self.may_transmit());
        let detection = match (self.last_received, self.detection_time()) {
            (Some(at), Some(time)) if !self.detection_expired => Some(at + time),
            _ => None,
        };
        let forget = match (self.last_received, self.detection_time(), &self.auth) {
            (Some(at), Some(time), Some(auth)) if auth.sequence_known() => Some(at + time * 2),
            _ => None,
        };
        [transmit, detection, forget].into_iter().flatten().min()
    }

    /// Handles a received datagram (RFC 5880 §6.8.6). `Err` says which check discarded it; a
    /// discarded packet changes nothing. A packet received in AdminDown updates the remote's
    /// variables and is then discarded as §6.8.6 says, returning `Ok` with no action.
    pub fn receive(&mut self, bytes: &[u8], now: Instant) -> Result<Vec<Action>, Discard> {
        let packet = ControlPacket::decode(bytes)?;
        // "If the Your Discriminator field is nonzero, it MUST be used to select the session
        // ... If no session is found, the packet MUST be discarded." The daemon selects by it;
        // this guards against a wrong choice (and packets for a previous discriminator).
        if packet.your_discriminator != 0 && packet.your_discriminator != self.local_discriminator {
            return Err(Discard::YourDiscriminator {
                received: packet.your_discriminator,
                local: self.local_discriminator,
            });
        }
        auth::check(self.auth.as_mut(), &packet, bytes)?;

        let before = self.transmit_interval();
        self.remote_discriminator = packet.my_discriminator;
        self.remote_state = packet.state;
        self.remote_demand_mode = packet.demand;
        self.remote_min_rx = packet.required_min_rx;
        self.remote = Some(Remote {
            diagnostic: packet.diagnostic,
            detect_mult: packet.detect_mult,
            desired_min_tx: packet.desired_min_tx,
            control_plane_independent: packet.control_plane_independent,
        });
        // "If a Poll Sequence is being transmitted by the local system and the Final (F) bit in
        // the received packet is set, the Poll Sequence MUST be terminated."
        if packet.final_ {
            self.intervals.final_received();
        } else {
            self.intervals.non_final_received();
        }
        // Received for the purposes of the Detection Time (§6.8.4).
        self.last_received = Some(now);
        self.detection_expired = false;

        let mut actions = Vec::new();
        if self.state == State::AdminDown {
            // "If bfd.SessionState is AdminDown: Discard the packet".
            self.settle(before, false, now, &mut actions);
            return Ok(actions);
        }
        // The transitions of §6.8.6. Entering Init or Up sets bfd.LocalDiag to 0 (No
        // Diagnostic), where the RFC's pseudo-code leaves it: reaching them needs no reason, and a
        // stale "Neighbor Signaled Session Down" in an Up session's packets would mislead the
        // remote's operator. BIRD and FRR do the same.
        match (self.state, packet.state) {
            (State::Down, _) if packet.state == State::AdminDown => {}
            (_, State::AdminDown) => self.change(State::Down, Diagnostic::NeighborSignaledSessionDown, &mut actions),
            (State::Down, State::Down) => self.change(State::Init, Diagnostic::NoDiagnostic, &mut actions),
            (State::Down, State::Init) | (State::Init, State::Init | State::Up) => {
                self.change(State::Up, Diagnostic::NoDiagnostic, &mut actions)
            }
            (State::Up, State::Down) => self.change(State::Down, Diagnostic::NeighborSignaledSessionDown, &mut actions),
            _ => {}
        }
        // "If the Poll (P) bit is set, send a BFD Control packet to the remote system with the
        // Poll (P) bit clear, and the Final (F) bit set"
        self.settle(before, packet.poll, now, &mut actions);
        Ok(actions)
    }

    /// Runs what is due at `now`: the Detection Time (§6.8.4), forgetting the authentication
    /// sequence (§6.8.1), and the periodic transmission (§6.8.7).
    pub fn poll_timers(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let before = self.transmit_interval();
        if let (Some(at), Some(time)) = (self.last_received, self.detection_time()) {
            if !self.detection_expired && now >= at + time {
                self.detection_expired = true;
                // "If Demand mode is not active, and a period of time equal to the Detection
                // Time passes without receiving a BFD Control packet from the remote system,
                // and bfd.SessionState is Init or Up, the session has gone down"
                if matches!(self.state, State::Init | State::Up) {
                    self.change(State::Down, Diagnostic::ControlDetectionTimeExpired, &mut actions);
                }
                // §6.8.1 bfd.RemoteDiscr: "If a period of a Detection Time passes without the
                // receipt of a valid, authenticated BFD packet ... MUST be set to zero."
                self.remote_discriminator = 0;
                // §6.8.18: the remote "SHOULD reset bfd.RemoteMinRxInterval to its initial
                // value of 1 ... and then can transmit at its own rate".
                self.remote_min_rx = 1;
            }
            if let Some(auth) = &mut self.auth {
                // §6.8.1 bfd.AuthSeqKnown: "MUST be set to zero after no packets have been
                // received on this session for at least twice the Detection Time."
                if auth.sequence_known() && now >= at + time * 2 {
                    auth.forget_sequence();
                }
            }
        }
        self.settle(before, false, now, &mut actions);
        if self.next_transmit.is_some_and(|at| now >= at) {
            self.transmit(false, now, &mut actions);
        }
        actions
    }

    /// §6.8.16: "Set bfd.SessionState to AdminDown; Set bfd.LocalDiag to an appropriate value"
    /// (7, Administratively Down, or 5, Path Down, when the path is known to have failed).
    /// Packets go on being sent, at one per second or slower, so the remote learns and keeps
    /// the state (§6.8.16 allows this indefinitely).
    pub fn set_admin_down(&mut self, diagnostic: Diagnostic, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let before = self.transmit_interval();
        self.change(State::AdminDown, diagnostic, &mut actions);
        self.settle(before, false, now, &mut actions);
        actions
    }

    /// §6.8.16: "If enabling session, Set bfd.SessionState to Down". bfd.LocalDiag keeps the
    /// reason the session was disabled until the next change.
    pub fn set_admin_up(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.state == State::AdminDown {
            let before = self.transmit_interval();
            self.change(State::Down, self.local_diagnostic, &mut actions);
            self.settle(before, false, now, &mut actions);
        }
        actions
    }

    /// §6.8.15: the local forwarding plane was reset, so the remote "can no longer rely on the
    /// local forwarding state": Down with diagnostic 4. Ignored in AdminDown.
    pub fn forwarding_plane_reset(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.state != State::AdminDown {
            let before = self.transmit_interval();
            self.change(State::Down, Diagnostic::ForwardingPlaneReset, &mut actions);
            self.settle(before, false, now, &mut actions);
        }
        actions
    }

    /// New timer settings (§6.8.10-§6.8.12). Interval changes go through a Poll Sequence and
    /// §6.8.3's rules (see [`LocalIntervals::update`]); the detect multiplier is simply sent in
    /// the next packet ("the use of a Poll Sequence is not necessary", §6.8.12).
    pub fn set_timers(
        &mut self,
        desired_min_tx: Duration,
        required_min_rx: Duration,
        detect_mult: u8,
        now: Instant,
    ) -> Result<Vec<Action>, ConfigError> {
        let (tx, rx) = check_intervals(desired_min_tx, required_min_rx, detect_mult)?;
        let mut actions = Vec::new();
        let before = self.transmit_interval();
        self.intervals.configure(tx, rx);
        self.detect_mult = detect_mult;
        self.settle(before, false, now, &mut actions);
        Ok(actions)
    }

    /// Changes the C bit sent, e.g. when the daemon can no longer promise that the session
    /// survives a restart of its control plane (RFC 5882 §4.3).
    pub fn set_control_plane_independent(&mut self, independent: bool, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let before = self.transmit_interval();
        self.control_plane_independent = independent;
        self.settle(before, false, now, &mut actions);
        actions
    }

    fn change(&mut self, to: State, diagnostic: Diagnostic, actions: &mut Vec<Action>) {
        let from = self.state;
        self.local_diagnostic = diagnostic;
        if from != to {
            self.state = to;
            actions.push(Action::StateChange { from, to, diagnostic });
        }
    }

    /// After any input: bring the intervals in line with the state (§6.8.3), reschedule the
    /// periodic transmission if its interval changed, and send a packet now if a Final is owed
    /// or the contents changed.
    fn settle(&mut self, before: Option<u32>, send_final: bool, now: Instant, actions: &mut Vec<Action>) {
        self.intervals.update(self.state == State::Up);
        let after = self.transmit_interval();
        if after != before {
            // §6.8.7: "The transmit interval MUST be recalculated whenever
            // bfd.DesiredMinTxInterval changes, or whenever bfd.RemoteMinRxInterval changes".
            // From the last transmission, so a shorter interval is honoured at once (§6.8.3:
            // "the local system cannot wait longer than the new interval between the previous
            // packet transmission and the next one") and a longer one at once too.
            self.next_transmit = after.map(|interval| match self.last_transmit {
                Some(at) => at + timers::jittered(interval, self.detect_mult, &mut self.random),
                None => now,
            });
        }
        if send_final {
            // §6.8.7: "as soon as practicable, without respect to the transmission timer or any
            // other transmission limitations, without respect to the session state".
            self.transmit(true, now, actions);
        } else if self.last_sent.as_ref() != Some(&self.contents()) {
            // §6.8.7: "A BFD Control packet SHOULD be transmitted during the interval between
            // periodic Control packet transmissions when the contents of that packet would
            // differ from that in the previously transmitted packet (other than the Poll and
            // Final bits)".
            self.transmit(false, now, actions);
        }
    }

    /// §6.8.7: "A system MUST NOT transmit BFD Control packets if bfd.RemoteDiscr is zero and
    /// the system is taking the Passive role."
    fn may_transmit(&self) -> bool {
        !(self.passive && self.remote_discriminator == 0)
    }

    fn transmit_interval(&self) -> Option<u32> {
        timers::transmit_interval(self.intervals.tx_in_use(), self.remote_min_rx)
    }

    fn detection_time(&self) -> Option<Duration> {
        self.remote.map(|r| timers::detection_time(r.detect_mult, self.intervals.rx_in_use(), r.desired_min_tx))
    }

    /// The packet §6.8.7 says to send, with P, F and the Authentication Section left out.
    fn contents(&self) -> ControlPacket {
        ControlPacket {
            diagnostic: self.local_diagnostic,
            state: self.state,
            poll: false,
            final_: false,
            control_plane_independent: self.control_plane_independent,
            // "Set to bfd.DemandMode if bfd.SessionState is Up and bfd.RemoteSessionState is
            // Up": bfd.DemandMode is always 0 here.
            demand: false,
            detect_mult: self.detect_mult,
            my_discriminator: self.local_discriminator,
            your_discriminator: self.remote_discriminator,
            desired_min_tx: self.intervals.desired_min_tx(),
            required_min_rx: self.intervals.required_min_rx(),
            // The Echo function is not offered: "If this field is set to zero, the local system
            // is unwilling or unable to loop back BFD Echo packets".
            required_min_echo_rx: 0,
            auth: None,
        }
    }

    fn transmit(&mut self, final_: bool, now: Instant, actions: &mut Vec<Action>) {
        if !self.may_transmit() {
            return;
        }
        let contents = self.contents();
        let changed = self.last_sent.as_ref() != Some(&contents);
        let mut packet = contents.clone();
        // "A BFD Control packet MUST NOT have both the Poll (P) and Final (F) bits set" (§6.5).
        packet.poll = self.intervals.polling() && !final_;
        packet.final_ = final_;
        let bytes = match &mut self.auth {
            Some(auth) => auth.seal(&mut packet, changed),
            None => packet.encode(),
        };
        actions.push(Action::Transmit(bytes));
        self.last_sent = Some(contents);
        self.last_transmit = Some(now);
        self.next_transmit = self
            .transmit_interval()
            .map(|interval| now + timers::jittered(interval, self.detect_mult, &mut self.random));
    }
}

/// Intervals in microseconds, checked as §4.1 and §6.8.1 require.
fn check_intervals(
    desired_min_tx: Duration,
    required_min_rx: Duration,
    detect_mult: u8,
) -> Result<(u32, u32), ConfigError> {
    if detect_mult == 0 {
        return Err(ConfigError::DetectMultZero);
    }
    let tx = timers::to_micros(desired_min_tx).ok_or(ConfigError::IntervalTooLarge(desired_min_tx))?;
    let rx = timers::to_micros(required_min_rx).ok_or(ConfigError::IntervalTooLarge(required_min_rx))?;
    match (tx, rx) {
        (0, _) => Err(ConfigError::DesiredMinTxZero),
        (_, 0) => Err(ConfigError::RequiredMinRxZero),
        _ => Ok((tx, rx)),
    }
}
