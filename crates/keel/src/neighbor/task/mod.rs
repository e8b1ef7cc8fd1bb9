//! The neighbor task: one per configured neighbor. It owns the FSM, the TCP connection(s),
//! the hold/keepalive/connect-retry timers, decodes what the peer sends and hands UPDATEs to
//! the RIB task in order.
//!
//! Rooms: `second_connection` (collisions, RFC 4271 §6.8, and a graceful-restart neighbor's
//! new connection, RFC 4724 §4.2), `send_hold` (RFC 9687), `handoff` (`keel upgrade`: a
//! session handed to the next keeld image and resumed there).

mod bfd;
mod handoff;
mod second_connection;
mod send_hold;

use super::connection::{ConnEvent, Connection};
use super::fsm::{Action, Event, Fsm, Settings, State, Timer};
use super::session::Timers;
use super::status::{notification_record, unix_now, NeighborStatus};
use super::transport::Transport;
use super::NeighborConfig;
use crate::events::{sleep_until, ForwardingState, Out, PeerPolicy, RestartState, ResumedRibs, RibEvent};
use crate::metrics::{Metrics, ReceivedCounters};
use crate::negotiate::Negotiated;
use keel_config::GrMode;
use keel_rib::prefix_limit::{self, Crossing};
use keel_wire::error::{cease, code};
use keel_wire::{CodecOptions, Message, Notification, RefreshSubtype, RouteRefresh};
pub use send_hold::send_hold_limit;
use send_hold::SEND_HOLD_CHECK;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// UPDATEs handed to the RIB task in one event at most: few enough that the RIB task's
/// queue (`RIB_QUEUE` events in `startup`) still holds about as many UPDATEs as before
/// they were batched, so a fast neighbor cannot fill memory ahead of the RIB.
pub(crate) const UPDATE_BATCH: usize = 32;

/// A neighbor that could not be reached for this long after keeld started is taken as down by
/// selection deferral.
const DOWN_GRACE: Duration = Duration::from_secs(15);

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
    /// `keel upgrade`, first step (docs/upgrade.md, O1): an Established session sends a
    /// KEEPALIVE and stops reading at a message boundary; `done` says whether it can be
    /// handed over.
    Quiesce {
        done: oneshot::Sender<bool>,
    },
    /// `keel upgrade`, second step (O2): the quiesced session's state and socket (kept open,
    /// close-on-exec cleared), after which the task ends without closing anything; `None`
    /// when it cannot be handed over (the task then goes on, and its connection closes when
    /// the process image is replaced).
    HandOver {
        reply: oneshot::Sender<Option<keel_handoff::NeighborState>>,
    },
}

/// The API's and the daemon's grip on a running neighbor task.
#[derive(Debug, Clone)]
pub struct NeighborHandle {
    pub config: NeighborConfig,
    pub commands: mpsc::Sender<Command>,
    pub status: watch::Receiver<NeighborStatus>,
}

/// Starts a neighbor's task: from Idle, or with the Established session `resume` that the
/// previous keeld image handed over (`keel upgrade`).
pub fn spawn(
    config: NeighborConfig,
    rib: mpsc::Sender<RibEvent>,
    metrics: Arc<Metrics>,
    forwarding: ForwardingState,
    restarting: RestartState,
    resume: Option<keel_handoff::NeighborState>,
) -> NeighborHandle {
    let (commands, command_rx) = mpsc::channel(16);
    let (status_tx, status) = watch::channel(NeighborStatus::default());
    let (events, event_rx) = mpsc::channel(64);
    let (limit_crossed, limit_rx) = mpsc::channel(16);
    let settings = Settings {
        local_open: config.local_open(),
        local_router_id: config.router_id,
        peer_as: config.asn,
        passive: config.passive,
        connect_retry: config.connect_retry,
        open_hold: config.open_hold,
        idle_hold_min: Duration::from_secs(1),
        idle_hold_max: Duration::from_secs(60),
        strict_role: config.strict_role,
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
        timers: Timers::default(),
        events,
        codec: CodecOptions::default(),
        rib,
        status: status_tx,
        metrics,
        received: ReceivedCounters::default(),
        updates: Vec::new(),
        next_id: 0,
        published: State::Idle,
        forwarding,
        restarting,
        restart_check: None,
        send_hold_check: None,
        take_over_next: false,
        ever_established: false,
        started: Instant::now(),
        limit_crossed,
        limit_restart: None,
        bfd: config.bfd.as_ref().map(|b| keel_bfdd::client::connect(b.socket.clone(), b.spec.clone(), true)),
        bfd_up: false,
        unread: None,
    };
    tokio::spawn(task.run(command_rx, event_rx, limit_rx, resume));
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
    timers: Timers,
    events: mpsc::Sender<(u64, ConnEvent)>,
    /// How to decode what the peer sends (negotiated once the OPENs are exchanged).
    codec: CodecOptions,
    rib: mpsc::Sender<RibEvent>,
    status: watch::Sender<NeighborStatus>,
    metrics: Arc<Metrics>,
    received: ReceivedCounters,
    /// UPDATEs decoded from the current read, handed to the RIB task together
    /// ([`RibEvent::Updates`]) before anything else is sent to it. Boxed as the decoder
    /// gives them: the RIB task takes them boxed, so none is copied on the way.
    #[allow(clippy::vec_box)]
    updates: Vec<Box<keel_wire::Update>>,
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
    /// The connection waiting aside became the main one during this event's actions: it
    /// takes over once they are all done.
    take_over_next: bool,
    /// Where the RIB task reports prefix-limit crossings (handed to it in each PeerUp).
    limit_crossed: mpsc::Sender<Crossing>,
    /// After a prefix-limit reset: when the session starts again (`restart_after`).
    limit_restart: Option<Instant>,
    /// The neighbor's BFD session in keel-bfdd (`bfd = true`).
    bfd: Option<keel_bfdd::client::Link>,
    /// Whether keel-bfdd last reported it Up.
    bfd_up: bool,
    /// After [`Command::Quiesce`]: the main connection's bytes read and not processed.
    unread: Option<Vec<u8>>,
}

impl NeighborTask {
    fn address(&self) -> IpAddr {
        self.config.address
    }

    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut events: mpsc::Receiver<(u64, ConnEvent)>,
        mut limit_rx: mpsc::Receiver<Crossing>,
        resume: Option<keel_handoff::NeighborState>,
    ) {
        match resume {
            Some(state) => {
                if let Err(e) = self.resume(state).await {
                    warn!(neighbor = %self.address(), error = %e, "handed-over session not resumed: starting afresh");
                    self.fsm_event(Event::ManualStart).await;
                }
            }
            None => self.fsm_event(Event::ManualStart).await,
        }
        let mut bfd_view = self.bfd.as_ref().map(|l| l.view.clone());
        loop {
            let pending_hold = self.pending_hold();
            let next = self
                .timers
                .next()
                .iter()
                .chain(self.restart_check.as_ref())
                .chain(pending_hold.as_ref())
                .chain(self.send_hold_check.as_ref())
                .chain(self.limit_restart.as_ref())
                .min()
                .copied();
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Command::Shutdown { kind, done }) => {
                        self.stop(kind).await;
                        if kind == StopKind::Deconfigured {
                            self.bfd_remove().await;
                        }
                        // Give the writer a moment to put the NOTIFICATION on the wire.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let _ = done.send(());
                        return;
                    }
                    Some(Command::Quiesce { done }) => {
                        let ok = self.quiesce(&mut events).await;
                        let _ = done.send(ok);
                    }
                    Some(Command::HandOver { reply }) => {
                        let state = self.hand_over().await;
                        let handed = state.is_some();
                        let _ = reply.send(state);
                        if handed {
                            return;
                        }
                    }
                    Some(cmd) => self.command(cmd).await,
                    None => {
                        self.stop(StopKind::Graceful).await;
                        return;
                    }
                },
                Some((id, ev)) = events.recv() => self.conn_event(id, ev).await,
                Some(c) = limit_rx.recv() => self.prefix_limit_crossed(c).await,
                Some(view) = bfd::changed(&mut bfd_view) => self.bfd_changed(view).await,
                _ = sleep_until(next), if next.is_some() => self.fire_timers().await,
            }
        }
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
        if self.limit_restart.is_some_and(|t| t <= now) {
            self.limit_restart = None;
            self.status.send_modify(|s| s.prefix_limit.restart_at = None);
            info!(neighbor = %self.address(), "prefix limit: restart_after passed, starting the session again");
            self.fsm_event(Event::ManualStart).await;
        }
        for t in self.timers.take_expired(now) {
            let ev = match t {
                Timer::ConnectRetry => Event::ConnectRetryTimerExpires,
                Timer::Hold => Event::HoldTimerExpires,
                Timer::Keepalive => Event::KeepaliveTimerExpires,
                Timer::IdleHold => Event::AutomaticStart,
            };
            self.fsm_event(ev).await;
        }
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

    /// The RIB task saw a prefix-limit crossing (RFC 4486 §4). A warning is logged there and
    /// shown here; going over the limit with `action = "reset"` closes the session with
    /// Cease/Maximum Number of Prefixes Reached, data AFI, SAFI and the limit, as a Hard Reset
    /// where the N bit was exchanged (RFC 8538 §5.1: neither side keeps the other's routes),
    /// and keeps the neighbor down (no connection out, none accepted: the FSM stays in Idle as
    /// after a ManualStop) until `restart_after` passes or `keel clear neighbor`.
    async fn prefix_limit_crossed(&mut self, c: Crossing) {
        let Some(limit) = self.config.prefix_limit.clone() else { return };
        let (family, max) = match c {
            Crossing::Warning { family, .. } => {
                self.status.send_modify(|s| {
                    s.prefix_limit.warned.insert(family);
                });
                return;
            }
            Crossing::Exceeded { family, max, .. } => (family, max),
        };
        let action = if limit.action == prefix_limit::Action::Reset { "reset" } else { "warn" };
        self.metrics.prefix_limit_tripped(self.address(), family, action);
        self.status.send_modify(|s| {
            // Going over implies the warning threshold.
            s.prefix_limit.warned.insert(family);
            s.prefix_limit.tripped = Some((family, unix_now()));
        });
        if limit.action != prefix_limit::Action::Reset || self.fsm.state() != State::Established {
            return;
        }
        let n_bit = self.fsm.negotiated().is_some_and(|n| n.notification_bit());
        let n = prefix_limit::Limit::notification(family, max, n_bit);
        info!(
            neighbor = %self.address(),
            %family,
            max,
            restart_after_s = self.config.prefix_limit_restart.map(|d| d.as_secs()),
            notification = %n.describe(),
            "prefix limit exceeded: closing the session"
        );
        self.fsm_event(Event::ManualStop(Some(n))).await;
        if let Some(p) = self.pending.take() {
            p.close();
        }
        self.limit_restart = self.config.prefix_limit_restart.map(|d| Instant::now() + d);
        let (restart_at, waiting_for_clear) = (self.limit_restart, self.limit_restart.is_none());
        self.status.send_modify(|s| {
            s.prefix_limit.restart_at = restart_at.map(Instant::into_std);
            s.prefix_limit.waiting_for_clear = waiting_for_clear;
        });
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
                let events = self.events.clone();
                let conn =
                    Connection::start_io(self.new_id(), rd, wr, local, remote, false, events, Default::default());
                self.accept(conn).await;
            }
            Command::Stop { kind, restart } => {
                // `keel clear neighbor` ends a prefix-limit wait too.
                if restart {
                    self.limit_restart = None;
                    self.status.send_modify(|s| {
                        s.prefix_limit.restart_at = None;
                        s.prefix_limit.waiting_for_clear = false;
                    });
                }
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
            Command::Shutdown { .. } | Command::Quiesce { .. } | Command::HandOver { .. } => {}
        }
    }

    async fn incoming(&mut self, stream: TcpStream) {
        let ipv6 = stream.local_addr().is_ok_and(|a| a.is_ipv6());
        if self.config.ttl_security {
            if let Err(e) = super::transport::set_gtsm(&stream, ipv6) {
                warn!(neighbor = %self.address(), error = %e, "cannot set GTSM; connection refused");
                return;
            }
        } else if let Err(e) = super::transport::set_default_ttl(&stream, ipv6) {
            debug!(neighbor = %self.address(), error = %e, "cannot restore the default TTL");
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
        self.count(|s| s.messages_sent += 1);
    }

    /// Sends `ev` to the RIB task after the UPDATEs read before it, so that the RIB sees the
    /// session's events in the order they happened.
    async fn send_rib(&mut self, ev: RibEvent) {
        self.flush_updates().await;
        // The RIB task ends only when keeld does.
        let _ = self.rib.send(ev).await;
    }

    /// Hands the UPDATEs decoded so far to the RIB task, in one event.
    async fn flush_updates(&mut self) {
        if self.updates.is_empty() {
            return;
        }
        let updates = std::mem::take(&mut self.updates);
        let _ = self.rib.send(RibEvent::Updates { address: self.address(), updates }).await;
    }

    /// Bumps a counter of the status without waking its watchers: nobody waits on a count,
    /// readers look when asked, and a wake-up per message costs a lock and a notify.
    fn count(&self, bump: impl FnOnce(&mut NeighborStatus)) {
        self.status.send_if_modified(|s| {
            bump(s);
            false
        });
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
                self.flush_updates().await;
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
        self.count(|s| s.messages_received += 1);
        let msg = match decoded {
            Ok(m) => m,
            Err(e) => {
                warn!(neighbor = %self.address(), error = %e, "malformed message");
                self.received.count(&self.metrics, self.config.address, "malformed");
                return self.fsm_event(Event::MessageError(e)).await;
            }
        };
        self.received.count(&self.metrics, self.config.address, msg.message_type().name());
        match msg {
            Message::Open(open) => {
                if let Some(c) = self.main.as_mut() {
                    c.remote_open = Some(open.clone());
                }
                // RFC 4271 §6.8: the collision is resolved on receipt of this OPEN, before the
                // FSM answers it: a main connection that loses gets Cease/Connection Collision
                // Resolution as its next message, never a KEEPALIVE first.
                if self.main_loses_collision(&open) {
                    return self.drop_main_for_pending().await;
                }
                self.fsm_event(Event::OpenReceived(Box::new(open))).await;
                self.resolve_collision().await;
            }
            Message::Update(update) => {
                if self.fsm.state() == State::Established {
                    self.count(|s| s.updates_received += 1);
                    // The RIB task logs the UPDATE's RFC 7606 errors, after the checks that
                    // depend on the neighbor (keel_rib::update_checks) have added theirs.
                    self.updates.push(update);
                    if self.updates.len() >= UPDATE_BATCH {
                        self.flush_updates().await;
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
                    self.send_rib(RibEvent::RouteRefresh { address: self.address(), family: rr.family }).await;
                }
                self.fsm_event(Event::RouteRefreshReceived).await;
            }
        }
    }

    async fn fsm_event(&mut self, ev: Event) {
        let actions = self.fsm.handle(ev);
        for a in actions {
            self.act(a).await;
        }
        self.publish_state();
        if std::mem::take(&mut self.take_over_next) {
            Box::pin(self.take_over()).await;
        }
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

    /// The session is Established (or was handed over Established, with the RIBs the
    /// previous image saved): the status and the RIB task hear of it.
    async fn established(&mut self, n: Arc<Negotiated>, resumed: Option<Box<ResumedRibs>>) {
        self.codec = n.codec_receive();
        let Some(c) = &self.main else { return };
        info!(
            neighbor = %self.address(),
            hold_time = n.hold_time,
            families = ?n.families.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
            resumed = resumed.is_some(),
            "session established"
        );
        let (local, remote) = (c.local, c.remote);
        let writer: mpsc::Sender<Out> = c.writer.clone();
        self.ever_established = true;
        if send_hold_limit(self.config.send_hold_time, n.hold_time).is_some() {
            self.send_hold_check = Some(Instant::now() + SEND_HOLD_CHECK);
        }
        let first = resumed.is_none();
        self.status.send_modify(|s| {
            s.negotiated = Some(n.clone());
            s.local_address = Some(local);
            if first {
                s.established_transitions += 1;
            }
            s.last_error = None;
        });
        let c = &self.config;
        let policy = PeerPolicy {
            route_reflector_client: c.route_reflector_client,
            route_server_client: c.route_server_client,
            long_lived_to_internal: c.llgr_partial_deployment,
            enforce_first_as: c.enforce_first_as,
            add_path_send: c.add_path_send,
            role: c.role,
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
        self.status.send_modify(|s| s.prefix_limit.warned.clear());
        let ev = RibEvent::PeerUp {
            address: self.address(),
            negotiated: n,
            local,
            remote,
            policy,
            helper,
            writer,
            prefix_limit: self.config.prefix_limit.clone(),
            limit_crossed: self.limit_crossed.clone(),
            resumed,
        };
        self.send_rib(ev).await;
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
                // A collision candidate carries on as the connection (RFC 4271 §6.8), once the
                // rest of this event's actions are done: they belong to the old session (its
                // timers stopped, its SessionDown sent to the RIB before the new PeerUp).
                if self.pending.is_some() && self.fsm.accept_incoming() {
                    self.main = self.pending.take();
                    self.take_over_next = true;
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
                self.timers.start(t, Instant::now(), d);
            }
            Action::Timer(t, None) => {
                self.timers.stop(t);
            }
            Action::Established(n) => self.established(Arc::new(*n), None).await,
            Action::SessionDown(reason) => {
                info!(neighbor = %self.address(), ?reason, "session down");
                self.status.send_modify(|s| s.negotiated = None);
                self.send_rib(RibEvent::PeerDown { address: self.address(), reason }).await;
            }
            Action::HandshakeFailed(why) => {
                debug!(neighbor = %self.address(), reason = %why, "handshake failed");
                // Selection deferral stops waiting for a neighbor that is down. A refused first
                // connection is no proof (a helper may still be in Idle after keel left): only a
                // neighbor never reached for DOWN_GRACE counts as down; the deferral timer
                // bounds the rest (RFC 4724 §4.1).
                if !self.ever_established && self.started.elapsed() >= DOWN_GRACE {
                    self.send_rib(RibEvent::PeerUnreachable { address: self.address() }).await;
                }
                self.status.send_modify(|s| s.last_error = Some(why));
            }
        }
    }
}
