//! The BGP finite state machine of one connection (RFC 4271 §8), pure: events in, actions
//! out. Timers are actions ([`Action::Timer`]); the neighbor task turns them into tokio
//! timers, so tests drive the machine without a clock.
//!
//! ```text
//!  Idle --start--> Connect <--retry--> Active
//!                     \   TCP up        /
//!                      +--> OpenSent <-+
//!                              | OPEN ok: KEEPALIVE
//!                           OpenConfirm
//!                              | KEEPALIVE
//!                           Established
//!  any error / NOTIFICATION / TCP loss / hold timer --> Idle (then automatic start after backoff)
//! ```

use crate::events::DownReason;
use crate::negotiate::Negotiated;
use keel_wire::capability::role;
use keel_wire::error::{cease, code, open as open_err};
use keel_wire::{Capability, Notification, Open, WireError};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::time::Duration;

/// RFC 4271 §8.2.2 states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Connect => "connect",
            State::Active => "active",
            State::OpenSent => "opensent",
            State::OpenConfirm => "openconfirm",
            State::Established => "established",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    ConnectRetry,
    Hold,
    Keepalive,
    /// Delay before the automatic restart after a failure (RFC 4271 §8.1.1, IdleHoldTimer).
    IdleHold,
}

/// Inputs, numbered as in RFC 4271 §8.1 where they have a number.
#[derive(Debug, Clone)]
pub enum Event {
    /// 1
    ManualStart,
    /// 2: administrative stop, with the Cease to send if a connection is open (none: close
    /// the TCP connection silently, as a graceful restart wants, RFC 4724 §4.1).
    ManualStop(Option<Notification>),
    /// 3, after the idle hold timer.
    AutomaticStart,
    /// 9
    ConnectRetryTimerExpires,
    /// 10
    HoldTimerExpires,
    /// 11
    KeepaliveTimerExpires,
    /// 16/17: a TCP connection is up, outgoing or incoming.
    TcpConnected,
    /// 18
    TcpConnectionFails,
    /// 19
    OpenReceived(Box<Open>),
    /// 21, 22, 28: a message that cannot be accepted, with the NOTIFICATION it calls for.
    MessageError(WireError),
    /// 24, 25
    NotificationReceived(Notification),
    /// 26
    KeepaliveReceived,
    /// 27 (the UPDATE itself goes to the RIB; the FSM only restarts the hold timer)
    UpdateReceived,
    /// ROUTE-REFRESH (RFC 2918); like an UPDATE for the FSM.
    RouteRefreshReceived,
    /// RFC 9687: the peer has not read what keel sends for the send hold time.
    SendHoldTimerExpires,
    /// The neighbor's BFD session went Down (RFC 5882 §3.2; not when it signalled AdminDown).
    /// `control_plane_independent`: its C bit; `strict`: `bfd_strict`.
    BfdDown { control_plane_independent: bool, strict: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Open an outgoing TCP connection.
    Connect,
    /// Drop the TCP connection (after sending what was queued).
    CloseConnection,
    SendOpen,
    SendKeepalive,
    SendNotification(Notification),
    /// Start (Some) or stop (None) a timer.
    Timer(Timer, Option<Duration>),
    /// The session is Established.
    Established(Box<Negotiated>),
    /// An Established session ended.
    SessionDown(DownReason),
    /// A connection attempt or handshake failed before Established.
    HandshakeFailed(String),
}

/// What the FSM needs to know about the neighbor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub local_open: Open,
    pub local_router_id: Ipv4Addr,
    pub peer_as: u32,
    pub passive: bool,
    pub connect_retry: Duration,
    /// RFC 4271 §8.2.2: hold time while waiting for the OPEN ("large value", 4 minutes).
    pub open_hold: Duration,
    pub idle_hold_min: Duration,
    pub idle_hold_max: Duration,
    /// RFC 9234 §4.2 strict mode: refuse a neighbor without a Role capability (with a role in
    /// `local_open`).
    #[serde(default)]
    pub strict_role: bool,
}

/// The session's state as plain data, apart from its socket and timers' clocks: it can be
/// written out and read back (by a new keeld process taking over the session).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fsm {
    pub settings: Settings,
    state: State,
    negotiated: Option<Negotiated>,
    idle_hold: Duration,
    /// False after a manual stop: no automatic restart.
    enabled: bool,
}

/// FSM Error subcodes (RFC 6608 §4): the NOTIFICATION for a message `state` does not expect.
pub fn fsm_error(state: State) -> Notification {
    let sub = match state {
        State::OpenSent => 1,
        State::OpenConfirm => 2,
        State::Established => 3,
        _ => 0,
    };
    Notification::new(code::FSM, sub, Vec::new())
}

impl Fsm {
    pub fn new(settings: Settings) -> Fsm {
        let idle_hold = settings.idle_hold_min;
        Fsm { settings, state: State::Idle, negotiated: None, idle_hold, enabled: false }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// An Established session handed over by the previous keeld image (`keel upgrade`),
    /// negotiated again from its OPENs; with the actions that start its hold and keepalive
    /// timers afresh (a KEEPALIVE goes out at once, so the neighbor's hold timer restarts too).
    pub fn resumed(settings: Settings, negotiated: Negotiated) -> (Fsm, Vec<Action>) {
        let idle_hold = settings.idle_hold_min;
        let fsm = Fsm { settings, state: State::Established, negotiated: Some(negotiated), idle_hold, enabled: true };
        let timers = vec![Action::Timer(Timer::Hold, fsm.hold()), Action::Timer(Timer::Keepalive, fsm.keepalive())];
        (fsm, timers)
    }

    /// Drops the current connection's progress without a transition (it lost a collision,
    /// RFC 4271 §6.8); the caller continues with the winning connection.
    pub fn reset_to_active(&mut self) {
        self.state = State::Active;
        self.negotiated = None;
    }

    /// Takes an incoming connection from Idle (when enabled), Connect or Active: the state
    /// becomes Active and the caller follows with [`Event::TcpConnected`]. Any outgoing attempt
    /// is the caller's to cancel. False when the connection must be refused.
    pub fn accept_incoming(&mut self) -> bool {
        match self.state {
            State::Connect | State::Active => true,
            State::Idle if self.enabled => {
                self.state = State::Active;
                true
            }
            _ => false,
        }
    }
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// Checks a received OPEN against the configuration (RFC 4271 §6.2, RFC 6286 §2.2); what
    /// the decoder already refuses (version, hold time, a zero BGP Identifier) is not repeated.
    /// Also used on a second connection before it may replace the session (RFC 4724 §4.2).
    pub fn check_open(&self, open: &Open) -> Result<(), Notification> {
        if open.asn() != self.settings.peer_as {
            return Err(Notification::new(code::OPEN_MESSAGE, open_err::BAD_PEER_AS, Vec::new()));
        }
        let ibgp = self.settings.peer_as == self.settings.local_open.asn();
        if ibgp && open.router_id == self.settings.local_router_id {
            return Err(Notification::new(code::OPEN_MESSAGE, open_err::BAD_BGP_IDENTIFIER, Vec::new()));
        }
        if self.role_mismatch(open).is_some() {
            return Err(Notification::new(code::OPEN_MESSAGE, open_err::ROLE_MISMATCH, Vec::new()));
        }
        Ok(())
    }

    /// RFC 9234 §4.2: why `open`'s Role capabilities refuse the session, if they do: a pair
    /// outside Table 2, several differing values, or none in strict mode. keel's role is the
    /// one in its own OPEN.
    pub fn role_mismatch(&self, open: &Open) -> Option<role::Mismatch> {
        let local = self.settings.local_open.capabilities.iter().find_map(|c| match c {
            Capability::Role(r) => Some(*r),
            _ => None,
        });
        role::check(local, self.settings.strict_role, &open.capabilities).err()
    }

    fn start(&mut self, out: &mut Vec<Action>) {
        self.enabled = true;
        out.push(Action::Timer(Timer::ConnectRetry, Some(self.settings.connect_retry)));
        if self.settings.passive {
            self.state = State::Active;
        } else {
            self.state = State::Connect;
            out.push(Action::Connect);
        }
    }

    /// Leaves for Idle after a failure: stop every timer, schedule the automatic restart with
    /// exponential backoff (RFC 4271 §8.1.1 DampPeerOscillations, simplified).
    fn enter_idle(&mut self, out: &mut Vec<Action>, reason: Option<DownReason>, failure: &str) {
        let was_established = self.state == State::Established;
        out.push(Action::CloseConnection);
        for t in [Timer::ConnectRetry, Timer::Hold, Timer::Keepalive] {
            out.push(Action::Timer(t, None));
        }
        self.state = State::Idle;
        self.negotiated = None;
        if was_established {
            if let Some(r) = reason {
                out.push(Action::SessionDown(r));
            }
            self.idle_hold = self.settings.idle_hold_min;
        } else {
            out.push(Action::HandshakeFailed(failure.to_string()));
        }
        if self.enabled {
            out.push(Action::Timer(Timer::IdleHold, Some(self.idle_hold)));
            self.idle_hold = (self.idle_hold * 2).min(self.settings.idle_hold_max);
        }
    }

    fn notify_and_idle(&mut self, n: Notification, out: &mut Vec<Action>, failure: &str) {
        let reason = DownReason::NotificationSent { code: n.code, subcode: n.subcode, data: n.data.clone() };
        out.push(Action::SendNotification(n));
        self.enter_idle(out, Some(reason), failure);
    }

    fn hold(&self) -> Option<Duration> {
        self.negotiated.as_ref().and_then(|n| (n.hold_time > 0).then(|| Duration::from_secs(n.hold_time.into())))
    }
    fn keepalive(&self) -> Option<Duration> {
        self.negotiated
            .as_ref()
            .and_then(|n| (n.hold_time > 0).then(|| Duration::from_secs(n.keepalive_time().max(1).into())))
    }

    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        use Event as E;
        use State as S;
        let mut out = Vec::new();
        match (self.state, event) {
            (S::Idle, E::ManualStart) => self.start(&mut out),
            (S::Idle, E::AutomaticStart) if self.enabled => self.start(&mut out),
            (_, E::ManualStart) => self.enabled = true,
            (S::Idle, _) => {}
            (_, E::ManualStop(n)) => {
                self.enabled = false;
                let reason = DownReason::AdministrativeStop {
                    code: n.as_ref().map(|n| n.code),
                    subcode: n.as_ref().map(|n| n.subcode),
                    data: n.as_ref().map(|n| n.data.clone()).unwrap_or_default(),
                };
                if let Some(n) = n.filter(|_| matches!(self.state, S::OpenSent | S::OpenConfirm | S::Established)) {
                    out.push(Action::SendNotification(n));
                }
                out.push(Action::Timer(Timer::IdleHold, None));
                self.enter_idle(&mut out, Some(reason), "stopped");
            }
            (_, E::AutomaticStart) => {}
            (S::Connect | S::Active, E::ConnectRetryTimerExpires) => {
                out.push(Action::Timer(Timer::ConnectRetry, Some(self.settings.connect_retry)));
                if !self.settings.passive {
                    out.push(Action::CloseConnection);
                    out.push(Action::Connect);
                    self.state = S::Connect;
                }
            }
            (S::Connect | S::Active, E::TcpConnected) => {
                out.push(Action::Timer(Timer::ConnectRetry, None));
                out.push(Action::SendOpen);
                out.push(Action::Timer(Timer::Hold, Some(self.settings.open_hold)));
                self.state = S::OpenSent;
            }
            (S::Connect, E::TcpConnectionFails) => {
                // RFC 4271 §8.2.2: back to Active; the retry timer brings us to Connect again.
                self.state = S::Active;
            }
            (S::Connect | S::Active, _) => {}
            (S::OpenSent, E::OpenReceived(open)) => match self.check_open(&open) {
                Err(n) => {
                    let why = self
                        .role_mismatch(&open)
                        .map_or("OPEN rejected".to_string(), |m| format!("Role Mismatch: {m}"));
                    self.notify_and_idle(n, &mut out, &why)
                }
                Ok(()) => {
                    self.negotiated = Some(Negotiated::new(self.settings.local_open.clone(), *open));
                    out.push(Action::SendKeepalive);
                    out.push(Action::Timer(Timer::Hold, self.hold()));
                    out.push(Action::Timer(Timer::Keepalive, self.keepalive()));
                    self.state = S::OpenConfirm;
                }
            },
            (S::OpenConfirm, E::KeepaliveReceived) => {
                out.push(Action::Timer(Timer::Hold, self.hold()));
                self.state = S::Established;
                if let Some(n) = &self.negotiated {
                    out.push(Action::Established(Box::new(n.clone())));
                }
            }
            (S::OpenConfirm | S::Established, E::KeepaliveTimerExpires) => {
                out.push(Action::SendKeepalive);
                out.push(Action::Timer(Timer::Keepalive, self.keepalive()));
            }
            (S::Established, E::KeepaliveReceived | E::UpdateReceived | E::RouteRefreshReceived) => {
                out.push(Action::Timer(Timer::Hold, self.hold()));
            }
            (S::OpenSent | S::OpenConfirm | S::Established, E::SendHoldTimerExpires) => {
                // RFC 9687 §4: NOTIFICATION (likely undeliverable) and close.
                let n = Notification::new(code::SEND_HOLD_TIMER_EXPIRED, 0, Vec::new());
                self.notify_and_idle(n, &mut out, "send hold timer expired (the peer stopped reading)");
            }
            (S::OpenSent | S::OpenConfirm | S::Established, E::BfdDown { control_plane_independent, strict }) => {
                // RFC 9384: Cease/BFD Down, "when a BGP session is terminated due to BFD going
                // down" (likely lost on a dead path); the session ends at once.
                out.push(Action::SendNotification(Notification::new(code::CEASE, cease::BFD_DOWN, Vec::new())));
                let reason = DownReason::BfdDown { control_plane_independent, strict };
                self.enter_idle(&mut out, Some(reason), "BFD Down");
            }
            (S::OpenSent | S::OpenConfirm | S::Established, E::HoldTimerExpires) => {
                let n = Notification::new(code::HOLD_TIMER_EXPIRED, 0, Vec::new());
                out.push(Action::SendNotification(n));
                self.enter_idle(&mut out, Some(DownReason::HoldTimerExpired), "hold timer expired");
            }
            (S::OpenSent | S::OpenConfirm | S::Established, E::MessageError(e)) => {
                let n = Notification::from_error(&e);
                self.notify_and_idle(n, &mut out, &e.reason);
            }
            (S::OpenSent | S::OpenConfirm | S::Established, E::NotificationReceived(n)) => {
                let reason =
                    DownReason::NotificationReceived { code: n.code, subcode: n.subcode, data: n.data.clone() };
                self.enter_idle(&mut out, Some(reason), &format!("NOTIFICATION received: {}", n.describe()));
            }
            (S::OpenSent | S::OpenConfirm | S::Established, E::TcpConnectionFails) => {
                self.enter_idle(&mut out, Some(DownReason::TcpFailure), "connection lost");
            }
            (S::OpenSent | S::OpenConfirm | S::Established, E::TcpConnected) => {
                // A second connection is the task's business (collision, RFC 4271 §6.8).
            }
            (S::OpenSent | S::OpenConfirm | S::Established, E::ConnectRetryTimerExpires) => {}
            (S::OpenSent, E::KeepaliveTimerExpires) => {}
            (
                state @ (S::OpenSent | S::OpenConfirm | S::Established),
                E::OpenReceived(_) | E::KeepaliveReceived | E::UpdateReceived | E::RouteRefreshReceived,
            ) => {
                self.notify_and_idle(fsm_error(state), &mut out, "unexpected message");
            }
        }
        out
    }

    /// The Cease to send on a connection that loses a collision (RFC 4271 §6.8).
    pub fn collision_cease() -> Notification {
        Notification::new(code::CEASE, cease::CONNECTION_COLLISION_RESOLUTION, Vec::new())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use keel_wire::Capability;

    pub(crate) fn settings(passive: bool) -> Settings {
        Settings {
            local_open: Open::new(65001, 90, Ipv4Addr::new(192, 0, 2, 1), vec![Capability::RouteRefresh]),
            local_router_id: Ipv4Addr::new(192, 0, 2, 1),
            peer_as: 65002,
            passive,
            connect_retry: Duration::from_secs(30),
            open_hold: Duration::from_secs(240),
            idle_hold_min: Duration::from_secs(1),
            idle_hold_max: Duration::from_secs(60),
            strict_role: false,
        }
    }

    fn remote(asn: u32, hold: u16) -> Event {
        Event::OpenReceived(Box::new(Open::new(asn, hold, Ipv4Addr::new(192, 0, 2, 2), vec![])))
    }

    pub(crate) fn up(fsm: &mut Fsm) -> Vec<Action> {
        fsm.handle(Event::ManualStart);
        fsm.handle(Event::TcpConnected);
        fsm.handle(remote(65002, 30));
        fsm.handle(Event::KeepaliveReceived)
    }

    #[test]
    fn handshake_to_established() {
        let mut fsm = Fsm::new(settings(false));
        assert!(fsm.handle(Event::ManualStart).contains(&Action::Connect));
        assert_eq!(fsm.state(), State::Connect);
        let a = fsm.handle(Event::TcpConnected);
        assert!(a.contains(&Action::SendOpen));
        assert_eq!(fsm.state(), State::OpenSent);
        let a = fsm.handle(remote(65002, 30));
        assert!(a.contains(&Action::SendKeepalive));
        assert!(a.contains(&Action::Timer(Timer::Hold, Some(Duration::from_secs(30)))));
        assert!(a.contains(&Action::Timer(Timer::Keepalive, Some(Duration::from_secs(10)))));
        let a = fsm.handle(Event::KeepaliveReceived);
        assert!(matches!(a.last(), Some(Action::Established(_))));
        assert_eq!(fsm.state(), State::Established);
    }

    /// Session state is plain data (issue 17, for the hitless upgrade of issue 21): an
    /// Established FSM written out and read back is the same FSM, and carries on the same.
    #[test]
    fn established_session_state_round_trips_through_json() {
        let mut fsm = Fsm::new(settings(false));
        up(&mut fsm);
        assert_eq!(fsm.state(), State::Established);
        let text = serde_json::to_string(&fsm).expect("serialize");
        let mut back: Fsm = serde_json::from_str(&text).expect("deserialize");
        assert_eq!(back, fsm);
        assert_eq!(back.negotiated().map(|n| n.hold_time), Some(30));
        assert_eq!(back.handle(Event::KeepaliveReceived), fsm.handle(Event::KeepaliveReceived));
        assert_eq!(back.handle(Event::HoldTimerExpires), fsm.handle(Event::HoldTimerExpires));
        assert_eq!(back.state(), State::Idle);
    }

    #[test]
    fn passive_waits_in_active() {
        let mut fsm = Fsm::new(settings(true));
        assert!(!fsm.handle(Event::ManualStart).contains(&Action::Connect));
        assert_eq!(fsm.state(), State::Active);
        assert!(!fsm.handle(Event::ConnectRetryTimerExpires).contains(&Action::Connect));
        fsm.handle(Event::TcpConnected);
        assert_eq!(fsm.state(), State::OpenSent);
    }

    #[test]
    fn wrong_as_gets_bad_peer_as() {
        let mut fsm = Fsm::new(settings(false));
        fsm.handle(Event::ManualStart);
        fsm.handle(Event::TcpConnected);
        let a = fsm.handle(remote(65099, 90));
        assert!(a.contains(&Action::SendNotification(Notification::new(2, 2, vec![]))));
        assert_eq!(fsm.state(), State::Idle);
        assert!(a.contains(&Action::Timer(Timer::IdleHold, Some(Duration::from_secs(1)))));
        // Backoff doubles on each failure.
        fsm.handle(Event::AutomaticStart);
        fsm.handle(Event::TcpConnected);
        let a = fsm.handle(remote(65099, 90));
        assert!(a.contains(&Action::Timer(Timer::IdleHold, Some(Duration::from_secs(2)))));
    }

    /// RFC 9234 §4.2 in the FSM: keel (customer) against each answer; Role Mismatch is
    /// OPEN Message Error subcode 11.
    #[test]
    fn role_capability_outcomes() {
        use keel_wire::capability::Role;
        let mismatch = Action::SendNotification(Notification::new(2, 11, vec![]));
        for (strict, theirs, established) in [
            (false, vec![Capability::Role(Role::Provider)], true),
            (true, vec![Capability::Role(Role::Provider)], true),
            (false, vec![Capability::Role(Role::Peer)], false),
            (false, vec![], true),
            (true, vec![], false),
            (false, vec![Capability::Role(Role::Provider), Capability::Role(Role::Provider)], true),
            (false, vec![Capability::Role(Role::Provider), Capability::Role(Role::Customer)], false),
        ] {
            let mut s = settings(false);
            s.local_open.capabilities.push(Capability::Role(Role::Customer));
            s.strict_role = strict;
            let mut fsm = Fsm::new(s);
            fsm.handle(Event::ManualStart);
            fsm.handle(Event::TcpConnected);
            let open = Open::new(65002, 90, Ipv4Addr::new(192, 0, 2, 2), theirs.clone());
            let a = fsm.handle(Event::OpenReceived(Box::new(open)));
            assert_eq!(a.contains(&mismatch), !established, "strict {strict}, {theirs:?}: {a:?}");
            assert_eq!(fsm.state() == State::OpenConfirm, established, "strict {strict}, {theirs:?}");
        }
    }

    #[test]
    fn rfc9384_bfd_down_sends_cease_10_and_ends_the_session_at_once() {
        let mut fsm = Fsm::new(settings(false));
        up(&mut fsm);
        let a = fsm.handle(Event::BfdDown { control_plane_independent: true, strict: false });
        assert!(a.contains(&Action::SendNotification(Notification::new(code::CEASE, cease::BFD_DOWN, Vec::new()))));
        assert!(a.contains(&Action::CloseConnection));
        assert!(
            a.contains(&Action::SessionDown(DownReason::BfdDown { control_plane_independent: true, strict: false }))
        );
        assert_eq!(fsm.state(), State::Idle);
        // Before a connection, BFD has nothing to end.
        let mut idle = Fsm::new(settings(false));
        assert!(idle.handle(Event::BfdDown { control_plane_independent: false, strict: false }).is_empty());
    }

    #[test]
    fn hold_timer_expiry_sends_4_0_and_reports_down() {
        let mut fsm = Fsm::new(settings(false));
        up(&mut fsm);
        let a = fsm.handle(Event::HoldTimerExpires);
        assert!(a.contains(&Action::SendNotification(Notification::new(4, 0, vec![]))));
        assert!(a.contains(&Action::SessionDown(DownReason::HoldTimerExpired)));
        assert_eq!(fsm.state(), State::Idle);
    }

    #[test]
    fn unexpected_open_in_established_is_fsm_error() {
        let mut fsm = Fsm::new(settings(false));
        up(&mut fsm);
        let a = fsm.handle(remote(65002, 90));
        assert!(a.contains(&Action::SendNotification(Notification::new(5, 3, vec![]))));
    }

    #[test]
    fn manual_stop_sends_cease_and_stays_down() {
        let mut fsm = Fsm::new(settings(false));
        up(&mut fsm);
        // A shutdown communication (RFC 9003): its data goes with the reason, for BMP's Peer Down.
        let cease = Notification::new(6, 2, b"\x03bye".to_vec());
        let a = fsm.handle(Event::ManualStop(Some(cease.clone())));
        assert!(a.contains(&Action::SendNotification(cease)));
        let reason = DownReason::AdministrativeStop { code: Some(6), subcode: Some(2), data: b"\x03bye".to_vec() };
        assert!(a.contains(&Action::SessionDown(reason)));
        assert!(!a.iter().any(|x| matches!(x, Action::Timer(Timer::IdleHold, Some(_)))));
        assert!(fsm.handle(Event::AutomaticStart).is_empty());
    }

    #[test]
    fn send_hold_timer_expiry_sends_8_and_closes() {
        let mut fsm = Fsm::new(settings(false));
        up(&mut fsm);
        let a = fsm.handle(Event::SendHoldTimerExpires);
        assert!(a.contains(&Action::SendNotification(Notification::new(8, 0, vec![]))));
        assert!(a.contains(&Action::SessionDown(DownReason::NotificationSent { code: 8, subcode: 0, data: vec![] })));
    }

    #[test]
    fn zero_hold_time_means_no_timers() {
        let mut fsm = Fsm::new(settings(false));
        fsm.handle(Event::ManualStart);
        fsm.handle(Event::TcpConnected);
        let a = fsm.handle(remote(65002, 0));
        assert!(a.contains(&Action::Timer(Timer::Hold, None)));
        assert!(a.contains(&Action::Timer(Timer::Keepalive, None)));
    }
}
