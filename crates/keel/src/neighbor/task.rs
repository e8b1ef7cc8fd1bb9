//! The neighbor task: one per configured neighbor. It owns the FSM, the TCP connection(s),
//! the hold/keepalive/connect-retry timers, decodes what the peer sends and hands UPDATEs to
//! the RIB task in order.
//!
//! Connection collisions (RFC 4271 §6.8): an incoming connection that arrives while our own is
//! in OpenSent/OpenConfirm is kept aside; we send our OPEN on it, and once both sides' BGP
//! Identifiers are known the connection initiated by the higher Identifier wins, the other
//! gets Cease/Connection Collision Resolution. A new connection while Established is refused
//! with the same Cease, except from a graceful-restart neighbor: that one waits aside, and only
//! a valid OPEN on it means the neighbor restarted (RFC 4724 §4.2). A connection that waits
//! aside is in OpenSent (keel's OPEN went out on it): it gets the OpenSent hold time to send its
//! OPEN, and whatever goes wrong on it closes it alone (RFC 4271 §8.2.2), never the session.

use super::connection::{ConnEvent, Connection};
use super::fsm::{fsm_error, Action, Event, Fsm, Settings, State, Timer};
use super::status::{notification_record, NeighborStatus};
use super::transport::Transport;
use super::NeighborConfig;
use crate::config::GrMode;
use crate::events::{sleep_until, DownReason, ForwardingState, Out, PeerPolicy, RestartState, RibEvent};
use crate::metrics::Metrics;
use keel_wire::error::{cease, code};
use keel_wire::{CodecOptions, Message, Notification, RefreshSubtype, RouteRefresh};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// A neighbor that could not be reached for this long after keeld started is taken as down by
/// selection deferral.
const DOWN_GRACE: Duration = Duration::from_secs(15);

/// How long a new connection waits aside, once its OPEN arrived, while the old session might
/// still be ending (its NOTIFICATION or FIN is read first, RFC 4724 §4.2).
const RESTART_CHECK: Duration = Duration::from_millis(200);

/// How often an Established session's send hold timer is checked (RFC 9687), on a tick of its
/// own: the keepalive timer's follows the hold time (every 30 s at 90 s) and would make the
/// expiry that late.
const SEND_HOLD_CHECK: Duration = Duration::from_secs(1);

/// The RFC 9687 SendHoldTime of a session, `None` when the timer does not run: §4.3 stops it
/// when the SendHoldTime or the negotiated HoldTime is zero. Otherwise the configured value
/// (default 8 minutes), and at least twice the negotiated HoldTime: §6's default is the
/// greater of the two.
pub fn send_hold_limit(send_hold_time: u32, negotiated_hold_time: u16) -> Option<Duration> {
    if send_hold_time == 0 || negotiated_hold_time == 0 {
        return None;
    }
    Some(Duration::from_secs(u64::from(send_hold_time).max(2 * u64::from(negotiated_hold_time))))
}

/// Why keel itself ends a session; the Cease it sends depends on what was negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopKind {
    /// keeld stops or restarts and wants its neighbors to keep its routes (RFC 4724 §4.1):
    /// Cease/Administrative Reset where the N bit was exchanged, else no NOTIFICATION at all.
    /// With graceful restart disabled, Cease/Administrative Shutdown.
    Graceful,
    /// `keel stop --withdraw`: Cease/Administrative Shutdown, as a Hard Reset with N.
    Withdraw,
    /// `keel clear neighbor`: Cease/Administrative Reset; `hard` wraps it in a Hard Reset
    /// when N was exchanged (RFC 8538 §5.1).
    Reset { hard: bool },
    /// Removed from the configuration: Cease/Peer De-configured, as a Hard Reset with N.
    Deconfigured,
    /// Settings changed on reload: Cease/Other Configuration Change.
    ConfigChange,
}

#[derive(Debug)]
pub enum Command {
    Incoming(TcpStream),
    /// An incoming connection that is an in-memory pipe, with the addresses it stands for:
    /// the session fuzz harness (`neighbor::fuzz`) plays the peer through it.
    IncomingPipe {
        io: tokio::io::DuplexStream,
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// Close the session as `kind` says; start again afterwards when `restart`.
    Stop {
        kind: StopKind,
        restart: bool,
    },
    /// `keel clear neighbor --soft`: ask the peer to send its routes again (RFC 2918).
    RouteRefresh,
    /// Close as `kind` says, wait until the NOTIFICATION is written, then end the task.
    Shutdown {
        kind: StopKind,
        done: oneshot::Sender<()>,
    },
}

/// The API's and the daemon's grip on a running neighbor task.
#[derive(Debug, Clone)]
pub struct NeighborHandle {
    pub config: NeighborConfig,
    pub commands: mpsc::Sender<Command>,
    pub status: watch::Receiver<NeighborStatus>,
}

pub fn spawn(
    config: NeighborConfig,
    rib: mpsc::Sender<RibEvent>,
    metrics: Arc<Metrics>,
    forwarding: ForwardingState,
    restarting: RestartState,
) -> NeighborHandle {
    let (commands, command_rx) = mpsc::channel(16);
    let (status_tx, status) = watch::channel(NeighborStatus::default());
    let (events, event_rx) = mpsc::channel(64);
    let settings = Settings {
        local_open: config.local_open(),
        local_router_id: config.router_id,
        peer_as: config.asn,
        passive: config.passive,
        connect_retry: config.connect_retry,
        open_hold: config.open_hold,
        idle_hold_min: Duration::from_secs(1),
        idle_hold_max: Duration::from_secs(60),
    };
    let task = NeighborTask {
        transport: Transport {
            remote: config.remote(),
            local_address: config.local_address,
            password: config.password.clone(),
            ttl_security: config.ttl_security,
        },
        config: config.clone(),
        fsm: Fsm::new(settings),
        main: None,
        pending: None,
        connecting: None,
        timers: HashMap::new(),
        events,
        codec: CodecOptions::default(),
        rib,
        status: status_tx,
        metrics,
        next_id: 0,
        published: State::Idle,
        forwarding,
        restarting,
        restart_check: None,
        send_hold_check: None,
        ever_established: false,
        started: Instant::now(),
    };
    tokio::spawn(task.run(command_rx, event_rx));
    NeighborHandle { config, commands, status }
}

struct NeighborTask {
    config: NeighborConfig,
    transport: Transport,
    fsm: Fsm,
    main: Option<Connection>,
    /// A second connection: during a collision (RFC 4271 §6.8), or from a graceful-restart
    /// neighbor while Established (RFC 4724 §4.2).
    pending: Option<Connection>,
    /// The outgoing connection attempt, by connection id.
    connecting: Option<(u64, JoinHandle<()>)>,
    timers: HashMap<Timer, Instant>,
    events: mpsc::Sender<(u64, ConnEvent)>,
    /// How to decode what the peer sends (negotiated once the OPENs are exchanged).
    codec: CodecOptions,
    rib: mpsc::Sender<RibEvent>,
    status: watch::Sender<NeighborStatus>,
    metrics: Arc<Metrics>,
    next_id: u64,
    /// The state last published to the API and metrics.
    published: State,
    forwarding: ForwardingState,
    restarting: RestartState,
    /// Whether this neighbor has been Established since keeld started.
    ever_established: bool,
    started: Instant,
    /// A valid OPEN arrived on a new connection while Established: when this passes and the
    /// old session still stands, the neighbor restarted (RFC 4724 §4.2).
    restart_check: Option<Instant>,
    /// Next look at the send hold timer, while Established.
    send_hold_check: Option<Instant>,
}

impl NeighborTask {
    fn address(&self) -> IpAddr {
        self.config.address
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>, mut events: mpsc::Receiver<(u64, ConnEvent)>) {
        self.fsm_event(Event::ManualStart).await;
        loop {
            let pending_hold = self.pending_hold();
            let next = self
                .timers
                .values()
                .chain(self.restart_check.as_ref())
                .chain(pending_hold.as_ref())
                .chain(self.send_hold_check.as_ref())
                .min()
                .copied();
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Command::Shutdown { kind, done }) => {
                        self.stop(kind).await;
                        // Give the writer a moment to put the NOTIFICATION on the wire.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let _ = done.send(());
                        return;
                    }
                    Some(cmd) => self.command(cmd).await,
                    None => {
                        self.stop(StopKind::Graceful).await;
                        return;
                    }
                },
                Some((id, ev)) = events.recv() => self.conn_event(id, ev).await,
                _ = sleep_until(next), if next.is_some() => self.fire_timers().await,
            }
        }
    }

    /// When the connection waiting aside must have sent its OPEN: the OpenSent hold time
    /// after it came (RFC 4271 §8.2.2), so one that never speaks does not stay forever.
    fn pending_hold(&self) -> Option<Instant> {
        self.pending.as_ref().filter(|p| p.remote_open.is_none()).map(|p| p.since + self.fsm.settings.open_hold)
    }

    async fn fire_timers(&mut self) {
        let now = Instant::now();
        if self.restart_check.is_some_and(|t| t <= now) {
            self.restart_check = None;
            self.restarted().await;
        }
        if self.pending_hold().is_some_and(|t| t <= now) {
            // RFC 4271 §8.2.2: HoldTimer_Expires in OpenSent, on that connection only.
            self.refuse_pending(Notification::new(code::HOLD_TIMER_EXPIRED, 0, Vec::new()), "no OPEN in time");
        }
        if self.send_hold_check.is_some_and(|t| t <= now) {
            self.send_hold_check = None;
            self.check_send_hold().await;
        }
        let due: Vec<Timer> = self.timers.iter().filter(|(_, &t)| t <= now).map(|(k, _)| *k).collect();
        for t in due {
            self.timers.remove(&t);
            let ev = match t {
                Timer::ConnectRetry => Event::ConnectRetryTimerExpires,
                Timer::Hold => Event::HoldTimerExpires,
                Timer::Keepalive => Event::KeepaliveTimerExpires,
                Timer::IdleHold => Event::AutomaticStart,
            };
            self.fsm_event(ev).await;
        }
    }

    /// The SendHoldTime of the Established session, if its send hold timer runs.
    fn send_hold_limit(&self) -> Option<Duration> {
        let n = self.fsm.negotiated().filter(|_| self.fsm.state() == State::Established)?;
        send_hold_limit(self.config.send_hold_time, n.hold_time)
    }

    /// RFC 9687: the peer has taken nothing of what keel has for it for the SendHoldTime
    /// (Event 29); else look again in a while. The timer runs in Established only (§4.3).
    async fn check_send_hold(&mut self) {
        let Some(limit) = self.send_hold_limit() else { return };
        let stalled = self.main.as_ref().map_or(Duration::ZERO, |c| c.send_stalled_for());
        if stalled < limit {
            self.send_hold_check = Some(Instant::now() + SEND_HOLD_CHECK);
            return;
        }
        // §4.3 and §5: an error is logged (the NOTIFICATION may not get through).
        warn!(
            neighbor = %self.address(),
            stalled_s = stalled.as_secs(),
            send_hold_time_s = limit.as_secs(),
            "send hold timer expired: the neighbor has taken nothing keel sent it"
        );
        // §4.3: the NOTIFICATION only if it does not delay dropping the connection. It waits
        // behind what the peer does not take, so it gets no grace: it is written if the kernel
        // takes it at once, then the connection is aborted.
        if let Some(c) = self.main.as_mut() {
            c.set_close_grace(Duration::ZERO);
        }
        self.fsm_event(Event::SendHoldTimerExpires).await;
    }

    /// The notification `kind` calls for on the current session.
    fn stop_notification(&self, kind: StopKind) -> Option<Notification> {
        let n_bit = self.fsm.negotiated().is_some_and(|n| n.notification_bit());
        let cease = |sub| Notification::new(code::CEASE, sub, Vec::new());
        let hard = |n: Notification| if n_bit { Notification::hard_reset(&n) } else { n };
        match kind {
            StopKind::Graceful if self.config.graceful_restart.mode == GrMode::Disabled => {
                Some(cease(cease::ADMINISTRATIVE_SHUTDOWN))
            }
            // RFC 8538 §5.1: Administrative Reset is not a Hard Reset, so helpers keep routes.
            StopKind::Graceful => n_bit.then(|| cease(cease::ADMINISTRATIVE_RESET)),
            StopKind::Withdraw => Some(hard(cease(cease::ADMINISTRATIVE_SHUTDOWN))),
            StopKind::Reset { hard: true } => Some(hard(cease(cease::ADMINISTRATIVE_RESET))),
            StopKind::Reset { hard: false } => Some(cease(cease::ADMINISTRATIVE_RESET)),
            StopKind::Deconfigured => Some(hard(cease(cease::PEER_DECONFIGURED))),
            StopKind::ConfigChange => Some(cease(cease::OTHER_CONFIGURATION_CHANGE)),
        }
    }

    async fn stop(&mut self, kind: StopKind) {
        let n = self.stop_notification(kind);
        info!(neighbor = %self.address(), ?kind, notification = n.as_ref().map(|n| n.describe()), "stopping session");
        self.fsm_event(Event::ManualStop(n)).await;
        if let Some(p) = self.pending.take() {
            p.close();
        }
    }

    async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Incoming(stream) => self.incoming(stream).await,
            Command::IncomingPipe { io, local, remote } => {
                let (rd, wr) = tokio::io::split(io);
                let conn = Connection::start_io(self.new_id(), rd, wr, local, remote, false, self.events.clone());
                self.accept(conn).await;
            }
            Command::Stop { kind, restart } => {
                self.stop(kind).await;
                if restart {
                    self.fsm_event(Event::ManualStart).await;
                }
            }
            Command::RouteRefresh => {
                let Some(n) = self.fsm.negotiated().filter(|n| n.route_refresh || n.enhanced_route_refresh) else {
                    warn!(neighbor = %self.address(), "route refresh not negotiated");
                    return;
                };
                let mut bytes = Vec::new();
                for &family in &n.families {
                    let m = Message::RouteRefresh(RouteRefresh { family, subtype: RefreshSubtype::Request });
                    bytes.extend(m.encode(&CodecOptions::default()).unwrap_or_default());
                }
                self.send_main(bytes, "route-refresh");
            }
            Command::Shutdown { .. } => {}
        }
    }

    async fn incoming(&mut self, stream: TcpStream) {
        if self.config.ttl_security {
            if let Err(e) = super::transport::set_gtsm(&stream, self.config.address.is_ipv6()) {
                warn!(neighbor = %self.address(), error = %e, "cannot set GTSM; connection refused");
                return;
            }
        }
        let id = self.new_id();
        let conn = match Connection::start(id, stream, false, self.events.clone()) {
            Ok(c) => c,
            Err(e) => {
                debug!(neighbor = %self.address(), error = %e, "incoming connection unusable");
                return;
            }
        };
        self.accept(conn).await;
    }

    /// Takes an incoming connection as the FSM's state allows (RFC 4271 §6.8, RFC 4724 §4.2).
    async fn accept(&mut self, conn: Connection) {
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
    async fn restarted(&mut self) {
        let opened = self.pending.as_ref().is_some_and(|p| p.remote_open.is_some());
        if self.fsm.state() != State::Established || !opened {
            return;
        }
        info!(neighbor = %self.address(), "new OPEN while Established: neighbor restarted");
        if let Some(old) = self.main.take() {
            old.close();
        }
        for t in [Timer::Hold, Timer::Keepalive] {
            self.timers.remove(&t);
        }
        self.codec = CodecOptions::default();
        self.status.send_modify(|s| s.negotiated = None);
        let _ = self.rib.send(RibEvent::PeerDown { address: self.address(), reason: DownReason::Restarted }).await;
        self.fsm.reset_to_active();
        self.main = self.pending.take();
        self.take_over().await;
    }

    /// The connection that waited aside is now the main one: replay what it received.
    async fn take_over(&mut self) {
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
    fn refuse_pending(&mut self, n: Notification, why: &str) {
        if let Some(p) = self.pending.take() {
            debug!(neighbor = %self.address(), remote = %p.remote, reason = why, notification = %n.describe(), "second connection closed");
            self.refuse(p, n);
        }
    }

    fn refuse(&mut self, conn: Connection, n: Notification) {
        if let Ok(b) = Message::Notification(n.clone()).encode(&CodecOptions::default()) {
            conn.try_send(b);
        }
        self.record_sent(&n);
        conn.close();
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn send_open(&mut self, conn: &mut Connection) {
        if conn.open_sent {
            return;
        }
        let preserved = self.forwarding.load(std::sync::atomic::Ordering::Relaxed);
        let restarting = self.restarting.load(std::sync::atomic::Ordering::Relaxed);
        self.fsm.settings.local_open = self.config.local_open_with(preserved, restarting);
        match Message::Open(self.fsm.settings.local_open.clone()).encode(&CodecOptions::default()) {
            Ok(b) => {
                conn.try_send(b);
                conn.open_sent = true;
                self.count_sent("open");
            }
            Err(e) => warn!(neighbor = %self.address(), error = %e, "cannot encode OPEN"),
        }
    }

    fn send_main(&mut self, bytes: Vec<u8>, kind: &'static str) {
        if let Some(c) = &self.main {
            if c.try_send(bytes) {
                self.count_sent(kind);
            }
        }
    }

    fn count_sent(&self, kind: &'static str) {
        self.metrics.message_sent(self.address(), kind);
        self.status.send_modify(|s| s.messages_sent += 1);
    }

    fn record_sent(&self, n: &Notification) {
        self.metrics.notification(self.address(), "sent", n);
        self.status.send_modify(|s| s.last_notification_sent = Some(notification_record(n)));
    }

    async fn conn_event(&mut self, id: u64, ev: ConnEvent) {
        if let ConnEvent::Connected(result) = ev {
            return self.connected(id, result).await;
        }
        let is_main = self.main.as_ref().is_some_and(|c| c.id == id);
        let is_pending = self.pending.as_ref().is_some_and(|c| c.id == id);
        if !is_main && !is_pending {
            return;
        }
        match ev {
            ConnEvent::Frames(frames) => {
                for f in frames {
                    let still_there = if is_main {
                        self.main.as_ref().is_some_and(|c| c.id == id)
                    } else {
                        self.pending.as_ref().is_some_and(|c| c.id == id)
                    };
                    if !still_there {
                        break;
                    }
                    let decoded = Message::decode(&f, &self.codec);
                    if is_main {
                        self.main_message(decoded).await;
                    } else {
                        self.pending_message(decoded).await;
                    }
                }
            }
            ConnEvent::HeaderError(e) => {
                if is_main {
                    self.fsm_event(Event::MessageError(e)).await;
                } else {
                    // RFC 4271 §6.1: Message Header Error, on that connection only.
                    self.refuse_pending(Notification::from_error(&e), "bad message header");
                }
            }
            ConnEvent::Closed(why) => {
                if is_main {
                    debug!(neighbor = %self.address(), reason = ?why, "connection closed");
                    self.status.send_modify(|s| {
                        s.last_error = Some(why.unwrap_or_else(|| "connection closed by peer".into()))
                    });
                    self.fsm_event(Event::TcpConnectionFails).await;
                } else if let Some(p) = self.pending.take() {
                    p.close();
                }
            }
            ConnEvent::Connected(_) => {}
        }
    }

    async fn connected(&mut self, id: u64, result: Result<TcpStream, String>) {
        if self.connecting.as_ref().map(|(i, _)| *i) != Some(id) {
            return;
        }
        self.connecting = None;
        let conn = result.and_then(|s| Connection::start(id, s, true, self.events.clone()).map_err(|e| e.to_string()));
        match conn {
            Ok(c) if self.main.is_none() && matches!(self.fsm.state(), State::Connect | State::Active) => {
                self.main = Some(c);
                self.fsm_event(Event::TcpConnected).await;
            }
            Ok(c) => c.close(),
            Err(e) => {
                debug!(neighbor = %self.address(), error = %e, "connect failed");
                self.status.send_modify(|s| s.last_error = Some(format!("connect: {e}")));
                self.fsm_event(Event::TcpConnectionFails).await;
            }
        }
    }

    async fn main_message(&mut self, decoded: Result<Message, keel_wire::WireError>) {
        self.status.send_modify(|s| s.messages_received += 1);
        let msg = match decoded {
            Ok(m) => m,
            Err(e) => {
                warn!(neighbor = %self.address(), error = %e, "malformed message");
                self.metrics.message_received(self.address(), "malformed");
                return self.fsm_event(Event::MessageError(e)).await;
            }
        };
        self.metrics.message_received(self.address(), msg.message_type().name());
        match msg {
            Message::Open(open) => {
                if let Some(c) = self.main.as_mut() {
                    c.remote_open = Some(open.clone());
                }
                self.fsm_event(Event::OpenReceived(Box::new(open))).await;
                self.resolve_collision().await;
            }
            Message::Update(update) => {
                if self.fsm.state() == State::Established {
                    self.status.send_modify(|s| s.updates_received += 1);
                    // The RIB task logs the UPDATE's RFC 7606 errors, after the checks that
                    // depend on the neighbor (keel_rib::update_checks) have added theirs.
                    let ev = RibEvent::Update { address: self.address(), update };
                    if self.rib.send(ev).await.is_err() {
                        return;
                    }
                }
                self.fsm_event(Event::UpdateReceived).await;
            }
            Message::Notification(n) => {
                info!(neighbor = %self.address(), notification = %n.describe(), "NOTIFICATION received");
                self.metrics.notification(self.address(), "received", &n);
                self.status.send_modify(|s| s.last_notification_received = Some(notification_record(&n)));
                self.fsm_event(Event::NotificationReceived(n)).await;
            }
            Message::Keepalive => self.fsm_event(Event::KeepaliveReceived).await,
            Message::RouteRefresh(rr) => {
                if self.fsm.state() == State::Established && rr.subtype == RefreshSubtype::Request {
                    let _ = self.rib.send(RibEvent::RouteRefresh { address: self.address(), family: rr.family }).await;
                }
                self.fsm_event(Event::RouteRefreshReceived).await;
            }
        }
    }

    /// A message on the connection waiting aside, which is in OpenSent until its OPEN and in
    /// OpenConfirm after (RFC 4271 §8.2.2). Whatever is wrong with it closes that connection
    /// alone, with the NOTIFICATION the FSM would send; the main session is not touched.
    async fn pending_message(&mut self, decoded: Result<Message, keel_wire::WireError>) {
        let Some(has_open) = self.pending.as_ref().map(|p| p.remote_open.is_some()) else { return };
        match decoded {
            Ok(Message::Open(open)) if !has_open => {
                // RFC 4271 §6.2 checks before this OPEN may cost the session anything.
                if let Err(n) = self.fsm.check_open(&open) {
                    info!(neighbor = %self.address(), asn = open.asn(), router_id = %open.router_id, "OPEN on a second connection refused");
                    return self.refuse_pending(n, "OPEN refused");
                }
                if let Some(p) = self.pending.as_mut() {
                    p.remote_open = Some(open);
                }
                if self.fsm.state() == State::Established {
                    // RFC 4724 §4.2: the neighbor restarted, unless the old connection ends
                    // on its own in the meantime (then the new one simply takes over).
                    debug!(neighbor = %self.address(), "OPEN on a new connection while Established");
                    self.restart_check = Some(Instant::now() + RESTART_CHECK);
                } else {
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

    /// RFC 4271 §6.8, once the BGP Identifier on both connections is known.
    async fn resolve_collision(&mut self) {
        let Some(pending_open) = self.pending.as_ref().and_then(|p| p.remote_open.clone()) else { return };
        if self.fsm.state() != State::OpenConfirm {
            return;
        }
        let local_id = u32::from(self.config.router_id);
        let remote_id = u32::from(pending_open.router_id);
        let main_outgoing = self.main.as_ref().is_some_and(|c| c.outgoing);
        // Keep the connection initiated by the speaker with the higher BGP Identifier.
        let keep_main = (local_id > remote_id) == main_outgoing;
        info!(neighbor = %self.address(), keep_main, "connection collision resolved");
        if keep_main {
            if let Some(p) = self.pending.take() {
                self.refuse(p, Fsm::collision_cease());
            }
            return;
        }
        if let Some(old) = self.main.take() {
            self.refuse(old, Fsm::collision_cease());
        }
        self.main = self.pending.take();
        self.fsm.reset_to_active();
        self.take_over().await;
    }

    async fn fsm_event(&mut self, ev: Event) {
        let actions = self.fsm.handle(ev);
        for a in actions {
            self.act(a).await;
        }
        self.publish_state();
    }

    /// Publishes the FSM state to the API and metrics when it changed.
    fn publish_state(&mut self) {
        let (before, after) = (self.published, self.fsm.state());
        if before != after {
            self.published = after;
            self.metrics.state_change(before.name(), after.name());
            self.status.send_modify(|s| {
                s.state = after;
                s.since = std::time::Instant::now();
            });
            debug!(neighbor = %self.address(), from = before.name(), to = after.name(), "state change");
        }
    }

    async fn act(&mut self, action: Action) {
        match action {
            Action::Connect => {
                if let Some((_, h)) = self.connecting.take() {
                    h.abort();
                }
                let id = self.new_id();
                let transport = self.transport.clone();
                let events = self.events.clone();
                let h = tokio::spawn(async move {
                    let r = transport.connect().await.map_err(|e| e.to_string());
                    let _ = events.send((id, ConnEvent::Connected(r))).await;
                });
                self.connecting = Some((id, h));
            }
            Action::CloseConnection => {
                if let Some((_, h)) = self.connecting.take() {
                    h.abort();
                }
                if let Some(c) = self.main.take() {
                    c.close();
                }
                self.codec = CodecOptions::default();
                // A collision candidate carries on as the connection (RFC 4271 §6.8).
                if self.pending.is_some() && self.fsm.accept_incoming() {
                    self.main = self.pending.take();
                    Box::pin(self.take_over()).await;
                }
            }
            Action::SendOpen => {
                if let Some(mut c) = self.main.take() {
                    self.send_open(&mut c);
                    self.main = Some(c);
                }
            }
            Action::SendKeepalive => {
                if let Ok(b) = Message::Keepalive.encode(&CodecOptions::default()) {
                    self.send_main(b, "keepalive");
                }
            }
            Action::SendNotification(n) => {
                info!(neighbor = %self.address(), notification = %n.describe(), "NOTIFICATION sent");
                let codec = self.fsm.negotiated().map(|n| n.codec_send()).unwrap_or_default();
                if let Ok(b) = Message::Notification(n.clone()).encode(&codec) {
                    self.send_main(b, "notification");
                }
                self.record_sent(&n);
            }
            Action::Timer(t, Some(d)) => {
                self.timers.insert(t, Instant::now() + d);
            }
            Action::Timer(t, None) => {
                self.timers.remove(&t);
            }
            Action::Established(n) => {
                let n = Arc::new(*n);
                self.codec = n.codec_receive();
                let Some(c) = &self.main else { return };
                info!(
                    neighbor = %self.address(),
                    hold_time = n.hold_time,
                    families = ?n.families.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
                    "session established"
                );
                let local = c.local;
                let writer: mpsc::Sender<Out> = c.writer.clone();
                self.ever_established = true;
                if send_hold_limit(self.config.send_hold_time, n.hold_time).is_some() {
                    self.send_hold_check = Some(Instant::now() + SEND_HOLD_CHECK);
                }
                self.status.send_modify(|s| {
                    s.negotiated = Some(n.clone());
                    s.local_address = Some(local);
                    s.established_transitions += 1;
                    s.last_error = None;
                });
                let c = &self.config;
                let policy = PeerPolicy {
                    route_reflector_client: c.route_reflector_client,
                    route_server_client: c.route_server_client,
                    long_lived_to_internal: c.llgr_partial_deployment,
                    enforce_first_as: c.enforce_first_as,
                };
                let gr = &c.graceful_restart;
                let helper = keel_rib::graceful_restart::helper::Settings {
                    enabled: gr.mode != GrMode::Disabled,
                    max_restart_time: gr.max_restart_time,
                    stale_routes_time: gr.stale_routes_time,
                    max_restarts: gr.max_restarts,
                    restart_window: Duration::from_secs(gr.restart_window.into()),
                    max_stale_time: c.llgr_max_stale_time,
                };
                let ev = RibEvent::PeerUp { address: self.address(), negotiated: n, local, policy, helper, writer };
                let _ = self.rib.send(ev).await;
            }
            Action::SessionDown(reason) => {
                info!(neighbor = %self.address(), ?reason, "session down");
                self.status.send_modify(|s| s.negotiated = None);
                let _ = self.rib.send(RibEvent::PeerDown { address: self.address(), reason }).await;
            }
            Action::HandshakeFailed(why) => {
                debug!(neighbor = %self.address(), reason = %why, "handshake failed");
                // Selection deferral stops waiting for a neighbor that is down. A refused first
                // connection is no proof (a helper may still be in Idle after keel left): only a
                // neighbor never reached for DOWN_GRACE counts as down; the deferral timer
                // bounds the rest (RFC 4724 §4.1).
                if !self.ever_established && self.started.elapsed() >= DOWN_GRACE {
                    let _ = self.rib.send(RibEvent::PeerUnreachable { address: self.address() }).await;
                }
                self.status.send_modify(|s| s.last_error = Some(why));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_hold_limit_follows_rfc_9687() {
        let s = |secs| Some(Duration::from_secs(secs));
        // §6: the greater of 8 minutes and twice the negotiated HoldTime.
        assert_eq!(send_hold_limit(480, 90), s(480));
        assert_eq!(send_hold_limit(480, 300), s(600));
        // A configured value, never under twice the negotiated HoldTime.
        assert_eq!(send_hold_limit(4, 3), s(6));
        assert_eq!(send_hold_limit(100, 30), s(100));
        // §4.3: stopped when the SendHoldTime or the negotiated HoldTime is zero.
        assert_eq!(send_hold_limit(0, 90), None);
        assert_eq!(send_hold_limit(480, 0), None);
    }
}
