//! keel-bfdd's sessions, without sockets: which session a datagram belongs to (RFC 5880 §6.3,
//! RFC 5881 §3), which client hears about which session, and what becomes of a session nobody
//! asks about any more. Time is an argument, so the tests drive it.
//!
//! ```text
//!   register --> Session (Down ... Up) --client gone--> orphan --orphan_time--> AdminDown --3 s--> removed
//!                     ^                                    |                        |
//!                     +--------- register again -----------+------------------------+
//!   remove ---------------------------------------------------------------> AdminDown --3 s--> removed
//! ```
//! keel-bfdd's own stop ([`Table::shutdown`]) sends AdminDown on every session too. AdminDown
//! before removal tells the neighbor that the session was taken down on purpose, which
//! it "MUST NOT" take for a forwarding failure (RFC 5882 §3.2).

use crate::protocol::{Key, SessionSpec};
use crate::udp::Datagram;
use keel_api::bfd::BfdView;
use keel_bfd::{Action, ControlPacket, Diagnostic, Discard, Session, SessionConfig, State};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// How long a removed or orphaned session keeps sending AdminDown before it goes.
pub const ADMIN_DOWN_LINGER: Duration = Duration::from_secs(3);

/// What the sockets and clients must be told after an input.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outputs {
    /// Send these bytes to the session's peer.
    pub transmit: Vec<(Key, Vec<u8>)>,
    /// Tell this client this session's view.
    pub notify: Vec<(u64, BfdView)>,
    /// Sessions created (they need a sending socket) and removed.
    pub created: Vec<SessionSpec>,
    pub removed: Vec<Key>,
}

struct Entry {
    spec: SessionSpec,
    session: Session,
    flaps: u64,
    clients: BTreeSet<u64>,
    /// Since when no client has asked for it.
    orphan_since: Option<Instant>,
    /// AdminDown is being sent; the session goes at this instant.
    removing_at: Option<Instant>,
    /// What its clients were last told.
    last_view: Option<BfdView>,
    /// What that view was made of: a view (strings and all) is made again only when this
    /// changed, not for each of the ten or more packets a session sends and receives a second.
    last_made_of: Option<(keel_bfd::Status, u64, u64)>,
    /// Packets that failed authentication (RFC 5880 §6.7), and when that was last logged
    /// and told.
    auth_failures: u64,
    auth_failure_noted: Option<Instant>,
}

/// Authentication failures are logged and told to keeld at most this often per session: a
/// neighbor with the wrong key sends one every interval.
pub const AUTH_FAILURE_NOTE_INTERVAL: Duration = Duration::from_secs(1);

pub struct Table {
    entries: BTreeMap<Key, Entry>,
    by_discriminator: HashMap<u32, Key>,
    next_discriminator: u32,
    /// The C bit every session sends (RFC 5880 §4.1).
    control_plane_independent: bool,
    orphan_time: Duration,
    seed: u64,
}

impl Table {
    /// `seed` picks the first discriminator and the jitter seeds: a restarted keel-bfdd
    /// should not reuse its predecessor's discriminators.
    pub fn new(control_plane_independent: bool, orphan_time: Duration, seed: u64) -> Table {
        Table {
            entries: BTreeMap::new(),
            by_discriminator: HashMap::new(),
            next_discriminator: (seed as u32 & 0x00ff_ffff).max(1),
            control_plane_independent,
            orphan_time,
            seed,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn control_plane_independent(&self) -> bool {
        self.control_plane_independent
    }

    /// A client wants `spec`: the running session if there is one (new timers go through a Poll
    /// Sequence), else a new one. The client hears the session's state at once.
    pub fn register(&mut self, client: u64, spec: SessionSpec, now: Instant) -> Outputs {
        let mut out = Outputs::default();
        let key = spec.key();
        if !self.entries.contains_key(&key) {
            let Some(session) = self.new_session(&spec, now) else { return out };
            info!(peer = %spec.peer, multihop = spec.multihop, discriminator = session.local_discriminator(), "session created");
            self.by_discriminator.insert(session.local_discriminator(), key);
            out.created.push(spec.clone());
            let entry = Entry {
                spec: spec.clone(),
                session,
                flaps: 0,
                clients: BTreeSet::new(),
                orphan_since: None,
                removing_at: None,
                last_view: None,
                last_made_of: None,
                auth_failures: 0,
                auth_failure_noted: None,
            };
            self.entries.insert(key, entry);
        }
        let Some(e) = self.entries.get_mut(&key) else { return out };
        e.clients.insert(client);
        e.orphan_since = None;
        let mut actions = Vec::new();
        if e.removing_at.take().is_some() {
            actions.extend(e.session.set_admin_up(now));
        }
        if e.spec.auth != spec.auth {
            // RFC 5880 §6.7.1 leaves changing authentication on a running session to the
            // implementation; keel starts the session afresh (same discriminator) with the new
            // settings: it goes Down at the neighbor until both ends agree again.
            let config =
                session_config(&spec, e.session.local_discriminator(), self.control_plane_independent, self.seed);
            match Session::new(config, now) {
                Ok(session) => {
                    info!(peer = %spec.peer, auth = auth_name(&spec), "authentication changed: session restarted");
                    if e.session.state() == State::Up {
                        e.flaps += 1;
                    }
                    e.session = session;
                    e.auth_failures = 0;
                    e.spec.auth = spec.auth.clone();
                    // Timers are the new session's already.
                    e.spec.min_tx_ms = spec.min_tx_ms;
                    e.spec.min_rx_ms = spec.min_rx_ms;
                    e.spec.multiplier = spec.multiplier;
                }
                Err(err) => warn!(peer = %spec.peer, error = %err, "new authentication refused"),
            }
        }
        if (e.spec.min_tx_ms, e.spec.min_rx_ms, e.spec.multiplier) != (spec.min_tx_ms, spec.min_rx_ms, spec.multiplier)
        {
            match e.session.set_timers(spec.min_tx(), spec.min_rx(), spec.multiplier, now) {
                Ok(a) => actions.extend(a),
                Err(err) => warn!(peer = %spec.peer, error = %err, "timers refused"),
            }
        }
        e.spec = spec;
        self.carry_out(key, actions, &mut out);
        if let Some(e) = self.entries.get_mut(&key) {
            let view = view(e);
            out.notify.push((client, view.clone()));
            e.last_view = Some(view);
        }
        out
    }

    fn new_session(&mut self, spec: &SessionSpec, now: Instant) -> Option<Session> {
        while self.next_discriminator == 0 || self.by_discriminator.contains_key(&self.next_discriminator) {
            self.next_discriminator = self.next_discriminator.wrapping_add(1);
        }
        let local_discriminator = self.next_discriminator;
        self.next_discriminator = self.next_discriminator.wrapping_add(1);
        let config = session_config(spec, local_discriminator, self.control_plane_independent, self.seed);
        match Session::new(config, now) {
            Ok(s) => Some(s),
            Err(e) => {
                warn!(peer = %spec.peer, error = %e, "session refused");
                None
            }
        }
    }

    /// keeld no longer wants the session (neighbor removed or `bfd = false`): AdminDown, then
    /// gone after [`ADMIN_DOWN_LINGER`].
    pub fn remove(&mut self, key: Key, now: Instant) -> Outputs {
        let mut out = Outputs::default();
        self.admin_down(key, now, &mut out);
        out
    }

    fn admin_down(&mut self, key: Key, now: Instant, out: &mut Outputs) {
        let Some(e) = self.entries.get_mut(&key) else { return };
        if e.removing_at.is_none() {
            info!(peer = %key.peer, "session taken down (AdminDown) and removed");
            e.removing_at = Some(now + ADMIN_DOWN_LINGER);
            let actions = e.session.set_admin_down(Diagnostic::AdministrativelyDown, now);
            self.carry_out(key, actions, out);
        }
    }

    /// keel-bfdd stops on purpose: every session sends AdminDown (RFC 5880 §6.8.16) once.
    pub fn shutdown(&mut self, now: Instant) -> Outputs {
        let mut out = Outputs::default();
        let keys: Vec<Key> = self.entries.keys().copied().collect();
        for key in keys {
            if let Some(e) = self.entries.get_mut(&key) {
                let actions = e.session.set_admin_down(Diagnostic::AdministrativelyDown, now);
                self.carry_out(key, actions, &mut out);
            }
        }
        out
    }

    /// A client's connection closed: its sessions go on; one nobody else wants becomes an
    /// orphan.
    pub fn client_gone(&mut self, client: u64, now: Instant) {
        for e in self.entries.values_mut() {
            if e.clients.remove(&client) && e.clients.is_empty() {
                e.orphan_since = Some(now);
            }
        }
    }

    /// A datagram from a listening socket (RFC 5880 §6.8.6 demultiplexing; the session does the
    /// rest of the reception checks).
    pub fn receive(&mut self, d: &Datagram, now: Instant) -> Outputs {
        let mut out = Outputs::default();
        if !d.passes_ttl_check() {
            debug!(from = %d.from, ttl = ?d.ttl, "single-hop packet without TTL 255 discarded (RFC 5881 §5)");
            return out;
        }
        let packet = match ControlPacket::decode(&d.bytes) {
            Ok(p) => p,
            Err(e) => {
                debug!(from = %d.from, error = %e, "packet discarded");
                return out;
            }
        };
        // RFC 5880 §6.8.6: "If the Your Discriminator field is nonzero, it MUST be used to select
        // the session ... If the Your Discriminator field is zero, the session MUST be selected
        // based on some combination of other fields" (RFC 5881 §3: the source address).
        let key = if packet.your_discriminator != 0 {
            self.by_discriminator.get(&packet.your_discriminator).copied()
        } else {
            Some(Key { peer: d.from.ip(), multihop: d.multihop })
        };
        let Some(key) = key.filter(|k| k.peer == d.from.ip() && k.multihop == d.multihop) else {
            debug!(from = %d.from, "no session for packet");
            return out;
        };
        let Some(e) = self.entries.get_mut(&key) else { return out };
        match e.session.receive(&d.bytes, now) {
            Ok(actions) => self.carry_out(key, actions, &mut out),
            Err(Discard::Authentication(err)) => {
                e.auth_failures += 1;
                if e.auth_failure_noted.is_none_or(|t| now >= t + AUTH_FAILURE_NOTE_INTERVAL) {
                    e.auth_failure_noted = Some(now);
                    warn!(from = %d.from, error = %err, failures = e.auth_failures, auth = auth_name(&e.spec), "packet failed authentication (RFC 5880 §6.7)");
                    let view = view(e);
                    out.notify.extend(e.clients.iter().map(|c| (*c, view.clone())));
                    e.last_view = Some(view);
                }
            }
            Err(err) => debug!(from = %d.from, error = %err, "packet discarded"),
        }
        out
    }

    /// Runs every session's timers due at `now`, and the orphan and removal deadlines.
    pub fn poll(&mut self, now: Instant) -> Outputs {
        let mut out = Outputs::default();
        let keys: Vec<Key> = self.entries.keys().copied().collect();
        for key in keys {
            let Some(e) = self.entries.get_mut(&key) else { continue };
            if e.removing_at.is_some_and(|t| now >= t) {
                self.by_discriminator.remove(&e.session.local_discriminator());
                self.entries.remove(&key);
                out.removed.push(key);
                continue;
            }
            if e.orphan_since.is_some_and(|t| now >= t + self.orphan_time) {
                warn!(peer = %key.peer, "no keeld has asked for this session for the orphan time: taking it down");
                e.orphan_since = None;
                self.admin_down(key, now, &mut out);
            }
            if let Some(e) = self.entries.get_mut(&key) {
                let actions = e.session.poll_timers(now);
                self.carry_out(key, actions, &mut out);
            }
        }
        out
    }

    /// When [`Table::poll`] next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries
            .values()
            .flat_map(|e| [e.session.next_deadline(), e.removing_at, e.orphan_since.map(|t| t + self.orphan_time)])
            .flatten()
            .min()
    }

    fn carry_out(&mut self, key: Key, actions: Vec<Action>, out: &mut Outputs) {
        let Some(e) = self.entries.get_mut(&key) else { return };
        for a in actions {
            match a {
                Action::Transmit(bytes) => out.transmit.push((key, bytes)),
                Action::StateChange { from, to, diagnostic } => {
                    info!(peer = %key.peer, from = state_name(from), to = state_name(to), diagnostic = diagnostic_name(diagnostic), "BFD session state");
                    if from == State::Up {
                        e.flaps += 1;
                    }
                }
            }
        }
        let made_of = (e.session.status(), e.flaps, e.auth_failures);
        if e.last_made_of.as_ref() == Some(&made_of) {
            return;
        }
        e.last_made_of = Some(made_of);
        let view = view(e);
        if e.last_view.as_ref() != Some(&view) {
            out.notify.extend(e.clients.iter().map(|c| (*c, view.clone())));
            e.last_view = Some(view);
        }
    }
}

/// A session's keel-bfd settings from keeld's `spec`.
fn session_config(
    spec: &SessionSpec,
    local_discriminator: u32,
    control_plane_independent: bool,
    seed: u64,
) -> SessionConfig {
    SessionConfig {
        local_discriminator,
        desired_min_tx: spec.min_tx(),
        required_min_rx: spec.min_rx(),
        detect_mult: spec.multiplier,
        control_plane_independent,
        passive: false,
        authentication: spec.auth.as_ref().map(|a| a.authentication()),
        seed: seed ^ u64::from(local_discriminator).rotate_left(17),
    }
}

fn auth_name(spec: &SessionSpec) -> &'static str {
    spec.auth.as_ref().map_or("none", |a| a.auth_type.name())
}

fn millis(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

fn view(e: &Entry) -> BfdView {
    let s = e.session.status();
    BfdView {
        auth: auth_name(&e.spec).into(),
        auth_failures: e.auth_failures,
        control_plane_independent: s.control_plane_independent,
        detection_time_ms: s.detection_time.map(millis),
        diagnostic: diagnostic_name(s.local_diagnostic).into(),
        flaps: e.flaps,
        local_discriminator: s.local_discriminator,
        min_rx_ms: millis(s.required_min_rx),
        min_tx_ms: millis(s.desired_min_tx),
        multihop: e.spec.multihop,
        multiplier: s.detect_mult,
        on_down: None,
        peer: e.spec.peer,
        remote_control_plane_independent: s.remote.map(|r| r.control_plane_independent),
        remote_discriminator: s.remote_discriminator,
        remote_min_tx_ms: s.remote.map(|r| u64::from(r.desired_min_tx) / 1000),
        remote_multiplier: s.remote.map(|r| r.detect_mult),
        remote_min_rx_ms: millis(s.remote_min_rx),
        remote_state: state_name(s.remote_state).into(),
        state: state_name(s.state).into(),
        transmit_interval_ms: s.transmit_interval.map(millis),
    }
}

pub fn state_name(s: State) -> &'static str {
    match s {
        State::AdminDown => "admin-down",
        State::Down => "down",
        State::Init => "init",
        State::Up => "up",
    }
}

pub fn diagnostic_name(d: Diagnostic) -> &'static str {
    match d {
        Diagnostic::NoDiagnostic => "none",
        Diagnostic::ControlDetectionTimeExpired => "control-detection-time-expired",
        Diagnostic::EchoFunctionFailed => "echo-function-failed",
        Diagnostic::NeighborSignaledSessionDown => "neighbor-signaled-session-down",
        Diagnostic::ForwardingPlaneReset => "forwarding-plane-reset",
        Diagnostic::PathDown => "path-down",
        Diagnostic::ConcatenatedPathDown => "concatenated-path-down",
        Diagnostic::AdministrativelyDown => "administratively-down",
        Diagnostic::ReverseConcatenatedPathDown => "reverse-concatenated-path-down",
        Diagnostic::Unassigned(_) => "unassigned",
    }
}

#[cfg(test)]
mod tests;
