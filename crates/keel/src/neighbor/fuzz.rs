//! Session-level fuzzing (issue 16): bytes, as a peer would send them, into a real neighbor
//! task and RIB task of keeld, on a current-thread tokio runtime with a paused clock (so the
//! run is deterministic and no timer needs a real wait). What keel did is then checked against
//! an oracle built on keel-wire's decoder: the NOTIFICATION of RFC 4271 §6 (and FSM errors of
//! §8.2.2, RFC 6608) for what cannot be accepted, the session kept for what RFC 7606 lets
//! through, and no route in the RIB that a treat-as-withdraw UPDATE announced.
//!
//! Used by the cargo-fuzz target `fuzz/fuzz_targets/session.rs` and the bounded run in
//! `tests/session_fuzz.rs`.
//!
//! # Input
//!
//! `[flags] [capabilities] body...`
//!
//! - `flags` bits 0-1: what the harness sends before the body: 0 nothing (the body opens the
//!   session itself), 1 a valid OPEN, 2 or 3 a valid OPEN and a KEEPALIVE (the body arrives on
//!   an Established session). Bit 2: the body is records `[type][length: u16][bytes]` that the
//!   harness wraps in valid headers, so mutations reach message bodies; else raw bytes. Bit 3:
//!   the peer is internal (iBGP), else external. Bit 4: the peer's hold time is 0 (no
//!   keepalives, RFC 4271 §4.2) instead of 90. Bits 5-6: the stream is written in one piece, or
//!   in pieces of 64, 7 or 1 octet(s), so reads end inside messages.
//! - `capabilities`, of the peer's OPEN: bit 0 four-octet AS (RFC 6793), 1 IPv6 unicast
//!   (RFC 4760), 2 Add-Path both ways (RFC 7911), 3 graceful restart with the N bit (RFC 4724,
//!   RFC 8538), 4 extended messages (RFC 8654), 5 route refresh and enhanced route refresh
//!   (RFC 2918, RFC 7313), 6 LLGR for IPv4 unicast (RFC 9494), 7 no Multiprotocol capability at
//!   all (IPv4 unicast implied).

use super::connection;
use super::fsm::State;
use super::task::{self, Command, StopKind};
use super::NeighborConfig;
use crate::events::RibEvent;
use crate::metrics::Metrics;
use crate::negotiate::Negotiated;
use crate::rib_task::RibTask;
use crate::views::{RouteFilter, RouteView};
use keel_config::Config;
use keel_wire::attribute::{AsPath, Origin};
use keel_wire::capability::{AddPathFamily, GracefulRestart, GracefulRestartFamily, LongLivedFamily};
use keel_wire::error::{code, open as open_err};
use keel_wire::{
    builder, header, Capability, CodecOptions, Community, Family, Message, MessageType, NextHop, Nlri, Notification,
    Open, PathAttributes, Prefix, RefreshSubtype, RouteRefresh, Update,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

/// keel's AS and the peer's, external or internal.
const LOCAL_AS: u32 = 65000;
const EXTERNAL_AS: u32 = 65002;
const LOCAL_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// How long (virtual time) the tasks get after the last byte, and to answer queries.
const SETTLE: Duration = Duration::from_secs(1);
const ANSWER: Duration = Duration::from_secs(10);

/// What one run did, for a corpus to show what it reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The session was Established at some point, and is at the end.
    pub reached_established: bool,
    pub established: bool,
    /// (code, subcode) of the NOTIFICATION keel sent.
    pub notification_sent: Option<(u8, u8)>,
    pub notification_received: bool,
    /// keel closed the connection.
    pub closed: bool,
    /// UPDATEs taken on the Established session, and those treated as withdraw (RFC 7606).
    pub updates: usize,
    pub treat_as_withdraw: usize,
    /// Routes from the peer in the RIB at the end.
    pub routes: usize,
}

/// keeld's configuration for the run: one passive neighbor at 192.0.2.2 with every family and
/// capability keel has, importing and exporting everything, and two networks to advertise.
struct Setup {
    config: Config,
    neighbor: NeighborConfig,
    peer_as: u32,
}

fn setup(ibgp: bool) -> Result<&'static Setup, String> {
    static SETUPS: [OnceLock<Result<Setup, String>>; 2] = [OnceLock::new(), OnceLock::new()];
    let peer_as = if ibgp { LOCAL_AS } else { EXTERNAL_AS };
    SETUPS[usize::from(ibgp)]
        .get_or_init(|| {
            let text = format!(
                "[global]\nasn = {LOCAL_AS}\nrouter_id = \"{LOCAL_ID}\"\nlisten = []\n\
                 [long_lived_graceful_restart]\nfamilies = [\"ipv4-unicast\"]\n\
                 [[neighbor]]\naddress = \"{PEER_ID}\"\nasn = {peer_as}\npassive = true\n\
                 families = [\"ipv4-unicast\", \"ipv6-unicast\"]\nadd_path = \"both\"\n\
                 import = \"all\"\nexport = \"all\"\n\
                 [[network]]\nprefix = \"198.51.100.0/24\"\ncommunities = [\"65000:1\"]\n\
                 [[network]]\nprefix = \"2001:db8:100::/48\"\n"
            );
            let config = Config::parse(&text, "<session fuzz>").map_err(|e| e.to_string())?;
            let neighbor = NeighborConfig::from_config(&config).pop().ok_or("no neighbor")?;
            Ok(Setup { config, neighbor, peer_as })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The OPEN keel sends on the session (the F bit set: without a FIB forwarding is not keel's
/// to lose, as in keeld).
fn local_open(s: &Setup) -> Open {
    s.neighbor.local_open_with(true, false)
}

/// The peer's OPEN for the `capabilities` byte (see the module doc).
pub fn peer_open(capabilities: u8, ibgp: bool, hold_time: u16) -> Open {
    let bit = |b: u8| capabilities & (1 << b) != 0;
    let peer_as = if ibgp { LOCAL_AS } else { EXTERNAL_AS };
    let mut families = vec![Family::IPV4_UNICAST];
    if bit(1) {
        families.push(Family::IPV6_UNICAST);
    }
    let mut caps = Vec::new();
    if !bit(7) {
        caps.extend(families.iter().map(|f| Capability::Multiprotocol(*f)));
    }
    if bit(2) {
        caps.push(Capability::AddPath(
            families.iter().map(|&family| AddPathFamily { family, receive: true, send: true }).collect(),
        ));
    }
    if bit(3) {
        caps.push(Capability::GracefulRestart(GracefulRestart {
            restart_state: false,
            notification: true,
            restart_time: 120,
            families: families.iter().map(|&family| GracefulRestartFamily { family, forwarding_state: true }).collect(),
        }));
    }
    if bit(4) {
        caps.push(Capability::ExtendedMessage);
    }
    if bit(5) {
        caps.push(Capability::RouteRefresh);
        caps.push(Capability::EnhancedRouteRefresh);
    }
    if bit(6) {
        caps.push(Capability::LongLivedGracefulRestart(vec![LongLivedFamily {
            family: Family::IPV4_UNICAST,
            forwarding_state: true,
            stale_time: 3600,
        }]));
    }
    let mut open = Open::new(peer_as, hold_time, PEER_ID, caps);
    if !bit(0) {
        open.capabilities.retain(|c| !matches!(c, Capability::FourOctetAs(_)));
    }
    open
}

/// The decoded flags byte.
#[derive(Debug, Clone, Copy)]
struct Flags {
    prefix: u8,
    records: bool,
    ibgp: bool,
    hold_time: u16,
    piece: usize,
}

impl Flags {
    fn new(b: u8) -> Flags {
        Flags {
            prefix: (b & 3).min(2),
            records: b & 4 != 0,
            ibgp: b & 8 != 0,
            hold_time: if b & 16 != 0 { 0 } else { 90 },
            piece: [usize::MAX, 64, 7, 1][usize::from((b >> 5) & 3)],
        }
    }
}

/// Wraps records `[type][length: u16][bytes]` in valid message headers.
fn records(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some((&t, rest)) = body.split_first() {
        let len = match rest {
            [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
            _ => 0,
        };
        let rest = rest.get(2..).unwrap_or_default();
        let (bytes, next) = rest.split_at(len.min(rest.len()));
        out.extend_from_slice(&header::MARKER);
        out.extend_from_slice(&((header::LEN + bytes.len()).min(usize::from(u16::MAX)) as u16).to_be_bytes());
        out.push(t);
        out.extend_from_slice(bytes);
        body = next;
    }
    out
}

/// Everything the peer sends, from the input.
fn peer_stream(input: &[u8]) -> (Flags, Option<Open>, Vec<u8>) {
    let flags = Flags::new(input.first().copied().unwrap_or(0));
    let caps = input.get(1).copied().unwrap_or(0);
    let body = input.get(2..).unwrap_or_default();
    let mut stream = Vec::new();
    let open = (flags.prefix >= 1).then(|| peer_open(caps, flags.ibgp, flags.hold_time));
    if let Some(open) = &open {
        stream.extend(Message::Open(open.clone()).encode(&CodecOptions::default()).unwrap_or_default());
    }
    if flags.prefix >= 2 {
        stream.extend(Message::Keepalive.encode(&CodecOptions::default()).unwrap_or_default());
    }
    if flags.records {
        stream.extend(records(body));
    } else {
        stream.extend_from_slice(body);
    }
    (flags, open, stream)
}

/// What the oracle says keel must have done at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// The session is still there, in this state.
    Up(State),
    /// keel sent this NOTIFICATION and closed the connection.
    Reset(Notification),
    /// The peer's NOTIFICATION ended the session: keel closed without one.
    PeerNotification,
}

/// The expected session, message by message, from keel-wire's decoder and RFC 4271 §8.2.2.
struct Oracle {
    state: State,
    codec: CodecOptions,
    local: Open,
    peer_as: u32,
    ibgp: bool,
    negotiated: Option<Negotiated>,
    /// The Adj-RIB-In: path ids per (family, prefix) that the peer validly announced.
    routes: BTreeMap<(Family, Prefix), BTreeSet<u32>>,
    updates: usize,
    treat_as_withdraw: usize,
}

/// RFC 6608 §4: the FSM Error subcode for an unexpected message in `state`.
fn fsm_error(state: State) -> Notification {
    let sub = match state {
        State::OpenSent => 1,
        State::OpenConfirm => 2,
        _ => 3,
    };
    Notification::new(code::FSM, sub, Vec::new())
}

impl Oracle {
    fn new(s: &Setup) -> Oracle {
        Oracle {
            state: State::OpenSent,
            codec: CodecOptions::default(),
            local: local_open(s),
            peer_as: s.peer_as,
            ibgp: s.peer_as == LOCAL_AS,
            negotiated: None,
            routes: BTreeMap::new(),
            updates: 0,
            treat_as_withdraw: 0,
        }
    }

    /// Runs the whole stream: what keel must show at the end.
    fn run(&mut self, mut rest: &[u8]) -> Expect {
        let framing = connection::framing();
        loop {
            match header::parse(rest, &framing) {
                Err(e) => return Expect::Reset(Notification::from_error(&e)),
                Ok(Some(h)) if rest.len() >= h.length => {
                    let (frame, next) = rest.split_at(h.length);
                    rest = next;
                    if let Some(end) = self.message(frame) {
                        return end;
                    }
                }
                // An incomplete message waits for more.
                Ok(_) => return Expect::Up(self.state),
            }
        }
    }

    fn message(&mut self, frame: &[u8]) -> Option<Expect> {
        let m = match Message::decode(frame, &self.codec) {
            Ok(m) => m,
            Err(e) => return Some(Expect::Reset(Notification::from_error(&e))),
        };
        match (self.state, m) {
            (_, Message::Notification(_)) => Some(Expect::PeerNotification),
            (State::OpenSent, Message::Open(open)) => {
                // RFC 4271 §6.2 as keel checks it (fsm::Fsm::check_open).
                if open.asn() != self.peer_as {
                    return Some(Expect::Reset(Notification::new(code::OPEN_MESSAGE, open_err::BAD_PEER_AS, vec![])));
                }
                if self.ibgp && open.router_id == LOCAL_ID {
                    let n = Notification::new(code::OPEN_MESSAGE, open_err::BAD_BGP_IDENTIFIER, vec![]);
                    return Some(Expect::Reset(n));
                }
                self.negotiated = Some(Negotiated::new(self.local.clone(), open));
                self.state = State::OpenConfirm;
                None
            }
            (State::OpenConfirm, Message::Keepalive) => {
                self.state = State::Established;
                self.codec = self.negotiated.as_ref().map(Negotiated::codec_receive).unwrap_or_default();
                None
            }
            (State::Established, Message::Keepalive | Message::RouteRefresh(_)) => None,
            (State::Established, Message::Update(u)) => {
                self.update(&u);
                None
            }
            (state, _) => Some(Expect::Reset(fsm_error(state))),
        }
    }

    /// The Adj-RIB-In after `u`, as RFC 4271 §9 and RFC 7606 §2 want it.
    fn update(&mut self, u: &Update) {
        self.updates += 1;
        if u.as_end_of_rib().is_some() {
            return;
        }
        let external = !self.ibgp;
        let a = &u.attributes;
        // RFC 7606 §7.5/§7.9/§7.10: from an external neighbor LOCAL_PREF, ORIGINATOR_ID and
        // CLUSTER_LIST are discarded, malformed or not, so their errors withdraw nothing.
        let internal_only = |e: &keel_wire::WireError| matches!(e.attribute, Some(5 | 9 | 10));
        let decoded_withdraw = u
            .errors
            .iter()
            .any(|e| e.action == keel_wire::error::Action::TreatAsWithdraw && !(external && internal_only(e)));
        // From an external neighbor (RFC 5065 §5, RFC 4271 §6.3 with enforce_first_as on by
        // default): confederation segments, or a leftmost AS that is not the neighbor's, make
        // the AS_PATH malformed (treat-as-withdraw, RFC 7606 §7.2) when routes are announced.
        let announces = !u.announced.is_empty() || a.mp_reach.as_ref().is_some_and(|m| !m.nlri.is_empty());
        let bad_external_path = external
            && announces
            && a.as_path.as_ref().is_some_and(|p| {
                let first = p.segments.first();
                p.segments.iter().any(|s| s.kind.is_confed())
                    || first.is_none_or(|s| s.kind != keel_wire::attribute::SegmentType::Sequence)
                    || first.and_then(|s| s.asns.first()) != Some(&self.peer_as)
            });
        let withdraw = decoded_withdraw || bad_external_path;
        self.treat_as_withdraw += usize::from(withdraw);
        // RFC 4271 §9.1.2 and RFC 4456 §8: a path through keel's own AS, or that keel
        // originated or reflected, is refused, and so replaces an earlier one as a withdrawal
        // (keel_rib::Rib refuses them). From an external neighbor ORIGINATOR_ID and CLUSTER_LIST
        // were discarded first.
        let looped = a.as_path.as_ref().is_some_and(|p| p.contains(LOCAL_AS))
            || (!external && (a.originator_id == Some(LOCAL_ID) || a.cluster_list.contains(&LOCAL_ID)));
        // RFC 4271 §6.3: a NEXT_HOP that is keel's own address on the session is ignored.
        let ours = |addr: IpAddr| addr.to_canonical() == IpAddr::V4(LOCAL_ID);
        for (family, n) in u.withdrawn_routes() {
            self.remove(family, n);
        }
        // As the RIB task groups them: the NLRI field (unusable without a NEXT_HOP, RFC 4271
        // §5.1.3), then MP_REACH_NLRI.
        let classic_usable = u.attributes.next_hop.is_some_and(|h| !ours(IpAddr::V4(h)));
        let classic = u.announced.iter().map(|n| (Family::IPV4_UNICAST, n, classic_usable));
        let mp = u
            .attributes
            .mp_reach
            .iter()
            .flat_map(|m| m.nlri.iter().map(move |n| (m.family, n, !ours(m.next_hop.addr()))));
        let negotiated = self.negotiated.as_ref().map(|n| n.families.clone()).unwrap_or_default();
        for (family, n, usable) in classic.chain(mp) {
            // RFC 4760 §8: routes of a family not negotiated are ignored (and replace nothing).
            if !negotiated.contains(&family) {
                continue;
            }
            if withdraw || looped || !usable {
                self.remove(family, n);
            } else {
                self.routes.entry((family, n.prefix)).or_default().insert(n.path_id.unwrap_or(0));
            }
        }
    }

    fn remove(&mut self, family: Family, n: &Nlri) {
        if let Some(ids) = self.routes.get_mut(&(family, n.prefix)) {
            ids.remove(&n.path_id.unwrap_or(0));
            if ids.is_empty() {
                self.routes.remove(&(family, n.prefix));
            }
        }
    }
}

/// Runs one input; `Err` names the invariant that broke. A panic inside keel's tasks shows up
/// as a task that no longer answers (and aborts the process under libFuzzer, whose panic hook
/// aborts).
pub fn run(input: &[u8]) -> Result<Outcome, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| format!("cannot build a runtime: {e}"))?;
    runtime.block_on(session(input))
}

/// What keel wrote to the peer, read as it comes.
#[derive(Default)]
struct Received {
    bytes: Vec<u8>,
    eof: bool,
}

async fn session(input: &[u8]) -> Result<Outcome, String> {
    let (flags, _, stream) = peer_stream(input);
    let s = setup(flags.ibgp)?;
    let address = s.neighbor.address;
    let (rib, rib_rx) = mpsc::channel(1024);
    let c = &s.config;
    let options = keel_rib::decision::Options { always_compare_med: false, max_paths: 1 };
    let rib_task = RibTask::new(LOCAL_AS, LOCAL_ID, LOCAL_ID, options, crate::events::Network::from_config(c), None);
    tokio::spawn(rib_task.run(rib_rx));
    let (import, export) = c.neighbor_policy(&c.neighbors[0]);
    let ev = RibEvent::SetPolicy {
        address,
        import: import.chain,
        export: export.chain,
        import_fingerprint: import.fingerprint,
        export_fingerprint: export.fingerprint,
    };
    rib.send(ev).await.map_err(|_| "the RIB task ended at start")?;
    let handle = task::spawn(
        s.neighbor.clone(),
        rib.clone(),
        Arc::new(Metrics::default()),
        Arc::new(AtomicBool::new(true)),
        Arc::new(AtomicBool::new(false)),
        None,
    );
    let (ours, theirs) = tokio::io::duplex(stream.len().max(1 << 16) + 1024);
    let (local, remote) = (SocketAddr::new(IpAddr::V4(LOCAL_ID), 179), SocketAddr::new(address, 179));
    let pipe = Command::IncomingPipe { io: theirs, local, remote };
    handle.commands.send(pipe).await.map_err(|_| "the neighbor task ended at start")?;
    let (mut rd, mut wr) = tokio::io::split(ours);
    let received = Arc::new(Mutex::new(Received::default()));
    tokio::spawn({
        let received = received.clone();
        async move {
            let mut buf = vec![0; 1 << 16];
            loop {
                let n = rd.read(&mut buf).await.unwrap_or(0);
                let Ok(mut r) = received.lock() else { return };
                match buf.get(..n) {
                    Some(b) if n > 0 => r.bytes.extend_from_slice(b),
                    _ => {
                        r.eof = true;
                        return;
                    }
                }
            }
        }
    });
    for piece in stream.chunks(flags.piece) {
        // Fails only once keel dropped its end: the rest is not read anyway.
        if wr.write_all(piece).await.is_err() {
            break;
        }
        // On the paused clock, a sleep returns once every task has done what it could.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(SETTLE).await;

    let (out, eof) = match received.lock() {
        Ok(r) => (r.bytes.clone(), r.eof),
        Err(_) => return Err("the harness's reader panicked".into()),
    };
    let status = handle.status.borrow().clone();
    if handle.commands.is_closed() {
        return Err("the neighbor task ended (panicked?)".into());
    }
    let routes = query(&rib, |reply| RibEvent::Routes {
        filter: RouteFilter { neighbor: Some(address), ..Default::default() },
        reply,
    })
    .await?;
    query(&rib, |reply| RibEvent::Counts { reply }).await?;
    // The neighbor task still takes commands: it stops the session when told (its
    // NOTIFICATION comes after the snapshot above).
    let (done, stopped) = oneshot::channel();
    handle
        .commands
        .send(Command::Shutdown { kind: StopKind::Graceful, done })
        .await
        .map_err(|_| "the neighbor task ended (panicked?)")?;
    match tokio::time::timeout(ANSWER, stopped).await {
        Ok(Ok(())) => {}
        _ => return Err("the neighbor task did not answer a shutdown".into()),
    }

    let mut oracle = Oracle::new(s);
    let expect = oracle.run(&stream);
    let sent = keel_wrote(&out, eof, oracle.negotiated.as_ref())?;
    let outcome = Outcome {
        reached_established: status.established_transitions > 0,
        established: status.state == State::Established,
        notification_sent: sent.map(|n| (n.code, n.subcode)),
        notification_received: status.last_notification_received.is_some(),
        closed: eof,
        updates: oracle.updates,
        treat_as_withdraw: oracle.treat_as_withdraw,
        routes: routes.len(),
    };
    let recorded = status.last_notification_sent.as_ref().map(|r| (r.code, r.subcode));
    if outcome.notification_sent != recorded {
        return Err(format!("NOTIFICATION on the wire {:?}, recorded {recorded:?}", outcome.notification_sent));
    }
    match &expect {
        Expect::Up(state) => {
            if outcome.notification_sent.is_some() || eof || status.state != *state {
                return Err(format!("expected the session up in {state:?}, got {outcome:?} in {:?}", status.state));
            }
            if *state == State::Established {
                let codec = status.negotiated.as_ref().map(|n| n.codec_receive());
                if codec.as_ref() != Some(&oracle.codec) {
                    return Err(format!("decoding with {codec:?}, the OPENs say {:?}", oracle.codec));
                }
            }
        }
        Expect::Reset(n) => {
            // RFC 4271 §6: the NOTIFICATION, then the connection closes.
            if outcome.notification_sent != Some((n.code, n.subcode)) || !eof || outcome.established {
                return Err(format!("expected NOTIFICATION {}/{} and a close, got {outcome:?}", n.code, n.subcode));
            }
        }
        Expect::PeerNotification => {
            if outcome.notification_sent.is_some() || !eof || outcome.established || !outcome.notification_received {
                return Err(format!("expected a close after the peer's NOTIFICATION, got {outcome:?}"));
            }
        }
    }
    check_routes(&routes, &oracle.routes, matches!(expect, Expect::Up(State::Established)))?;
    Ok(outcome)
}

async fn query<T>(
    rib: &mpsc::Sender<RibEvent>,
    event: impl FnOnce(oneshot::Sender<T>) -> RibEvent,
) -> Result<T, String> {
    let (reply, rx) = oneshot::channel();
    rib.send(event(reply)).await.map_err(|_| "the RIB task ended (panicked?)")?;
    match tokio::time::timeout(ANSWER, rx).await {
        Ok(Ok(v)) => Ok(v),
        _ => Err("the RIB task did not answer".into()),
    }
}

/// Checks what keel wrote: whole, valid messages (UPDATEs decodable without error under what
/// was negotiated), at most one NOTIFICATION and then nothing more. Returns that NOTIFICATION.
fn keel_wrote(mut out: &[u8], eof: bool, negotiated: Option<&Negotiated>) -> Result<Option<Notification>, String> {
    let framing = connection::framing();
    let send = negotiated.map(Negotiated::codec_send);
    let mut notification = None;
    while !out.is_empty() {
        let h = match header::parse(out, &framing) {
            Ok(Some(h)) if out.len() >= h.length => h,
            Ok(_) if !eof => break,
            Ok(_) => return Err(format!("keel closed the connection inside a message: {out:02x?}")),
            Err(e) => return Err(format!("keel wrote a bad header: {e}")),
        };
        let (frame, rest) = out.split_at(h.length);
        out = rest;
        if let Some(n) = &notification {
            return Err(format!("keel wrote a {:?} after its NOTIFICATION {n:?}", h.message_type));
        }
        let codec = match (&send, h.message_type) {
            (Some(c), MessageType::Update) => c.clone(),
            // Without the OPENs the UPDATE's layout is unknown; the header was checked.
            (None, MessageType::Update) => continue,
            _ => CodecOptions {
                extended_message: send.as_ref().is_some_and(|c| c.extended_message),
                ..Default::default()
            },
        };
        match Message::decode(frame, &codec) {
            Ok(Message::Notification(n)) => notification = Some(n),
            Ok(Message::Update(u)) if !u.errors.is_empty() => {
                return Err(format!("keel sent an UPDATE with errors {:?}: {frame:02x?}", u.errors));
            }
            Ok(_) => {}
            Err(e) => return Err(format!("keel sent a message that does not decode ({e}): {frame:02x?}")),
        }
    }
    Ok(notification)
}

/// Every route of the peer's in the RIB was validly announced and not withdrawn since: none
/// comes from a treat-as-withdraw UPDATE (RFC 7606 §2). On a session still Established, every
/// such route is there too.
fn check_routes(
    routes: &[RouteView],
    expected: &BTreeMap<(Family, Prefix), BTreeSet<u32>>,
    complete: bool,
) -> Result<(), String> {
    let mut found: BTreeMap<(String, String), BTreeSet<u32>> = BTreeMap::new();
    for r in routes {
        let ok = expected.iter().any(|((f, p), ids)| {
            f.to_string() == r.family && p.to_string() == r.prefix && r.path_id.is_none_or(|id| ids.contains(&id))
        });
        if !ok {
            return Err(format!(
                "the RIB holds {} {} path {:?}, which was not validly announced",
                r.family, r.prefix, r.path_id
            ));
        }
        found.entry((r.family.clone(), r.prefix.clone())).or_default().extend(r.path_id);
    }
    if complete {
        for ((f, p), ids) in expected {
            let key = (f.to_string(), p.to_string());
            let Some(have) = found.get(&key) else {
                return Err(format!("{f} {p} was announced but is not in the RIB"));
            };
            if !have.is_empty() && have != ids {
                return Err(format!("{f} {p}: path ids {have:?} in the RIB, {ids:?} announced"));
            }
        }
    }
    Ok(())
}

/// Structured inputs that get past the handshake: each session shape with announcements,
/// withdrawals, End-of-RIB, route refresh, a treat-as-withdraw UPDATE, and the malformed
/// messages of RFC 4271 §6 and RFC 7606. The seed corpus of the fuzz target and the base of
/// the bounded run's mutations.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    // (flags, capabilities): Established through the harness's prefix, eBGP and iBGP, with
    // every capability, with none, and a few in between; records and raw bodies.
    let shapes: &[(u8, u8)] =
        &[(2, 0x7f), (2 | 8, 0x7f), (2, 0x80), (2, 0x01), (2 | 16, 0x03), (2, 0x05), (2 | 96, 0x7f), (2 | 32, 0x3f)];
    for &(flags, caps) in shapes {
        let codec = receive_codec(flags, caps);
        for body in bodies(&codec, flags & 8 != 0, caps & 2 != 0) {
            v.push([&[flags, caps][..], &body].concat());
            v.push([&[flags | 4, caps][..], &as_records(&body)].concat());
        }
    }
    // The handshake itself in the body: an OPEN, then a KEEPALIVE and an UPDATE.
    for caps in [0x7f, 0x00] {
        let open = Message::Open(peer_open(caps, false, 90)).encode(&CodecOptions::default()).unwrap_or_default();
        let keepalive = Message::Keepalive.encode(&CodecOptions::default()).unwrap_or_default();
        let codec = receive_codec(2, caps);
        let update = bodies(&codec, false, false).into_iter().next().unwrap_or_default();
        v.push([&[0, 0][..], &open, &keepalive, &update].concat());
        v.push([&[1, caps][..], &keepalive, &update].concat());
    }
    v
}

/// How keel decodes what the peer sends on an Established session of this shape.
fn receive_codec(flags: u8, caps: u8) -> CodecOptions {
    let f = Flags::new(flags);
    match setup(f.ibgp) {
        Ok(s) => Negotiated::new(local_open(s), peer_open(caps, f.ibgp, f.hold_time)).codec_receive(),
        Err(_) => CodecOptions::default(),
    }
}

/// A stream of messages as records `[type][length][body]` (see the module doc).
fn as_records(mut stream: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(Some(frame)) = Message::next_frame(stream, &connection::framing()) {
        out.push(frame[18]);
        out.extend_from_slice(&((frame.len() - header::LEN) as u16).to_be_bytes());
        out.extend_from_slice(&frame[header::LEN..]);
        stream = &stream[frame.len()..];
    }
    out.extend_from_slice(stream);
    out
}

/// Bodies (message streams after the handshake) for one session shape.
fn bodies(codec: &CodecOptions, ibgp: bool, ipv6: bool) -> Vec<Vec<u8>> {
    let peer_as = if ibgp { LOCAL_AS } else { EXTERNAL_AS };
    let attributes = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::sequence(if ibgp { vec![] } else { vec![peer_as, 64512] })),
        med: Some(10),
        local_pref: ibgp.then_some(100),
        communities: vec![Community(0xfde8_0001)].into(),
        ..Default::default()
    };
    let id = |i: u32| codec.add_path_for(Family::IPV4_UNICAST).then_some(i);
    let v4 = |p: &str, i: u32| p.parse().ok().map(|prefix| Nlri { prefix, path_id: id(i) });
    let v4_nlri: Vec<Nlri> = [("203.0.113.0/24", 1), ("203.0.113.0/24", 2), ("192.0.2.128/25", 1)]
        .iter()
        .filter_map(|(p, i)| v4(p, *i))
        .collect();
    let v6_id = codec.add_path_for(Family::IPV6_UNICAST).then_some(7);
    let v6_nlri: Vec<Nlri> = ["2001:db8:2::/48", "2001:db8:3::/64"]
        .iter()
        .filter_map(|p| p.parse().ok().map(|prefix| Nlri { prefix, path_id: v6_id }))
        .collect();
    let mut announce = Vec::new();
    let _ = builder::announce(
        Family::IPV4_UNICAST,
        &attributes,
        NextHop::V4(Ipv4Addr::new(192, 0, 2, 2)),
        &v4_nlri,
        codec,
        &mut announce,
    );
    if ipv6 {
        let nh = NextHop::V6 { global: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2), link_local: None };
        let _ = builder::announce(Family::IPV6_UNICAST, &attributes, nh, &v6_nlri, codec, &mut announce);
    }
    let mut withdraw = Vec::new();
    let _ = builder::withdraw(Family::IPV4_UNICAST, &v4_nlri[..1], codec, &mut withdraw);
    let eor = |f: Family| Update::end_of_rib(f).encode(codec).unwrap_or_default();
    let keepalive = Message::Keepalive.encode(codec).unwrap_or_default();
    let refresh = |subtype| {
        Message::RouteRefresh(RouteRefresh { family: Family::IPV4_UNICAST, subtype }).encode(codec).unwrap_or_default()
    };
    // RFC 7606 §7.1: a bad ORIGIN value is treat-as-withdraw.
    let mut bad_origin = announce.clone();
    if let Some(i) = bad_origin.windows(4).position(|w| w == [0x40, 1, 1, 0]) {
        bad_origin[i + 3] = 7;
    }
    // RFC 7606 §4: an attribute length running past the list is treat-as-withdraw too.
    let mut bad_length = announce.clone();
    if let Some(i) = bad_length.windows(3).position(|w| w == [0x40, 1, 1]) {
        bad_length[i + 2] = 200;
    }
    // RFC 4271 §6.3, RFC 7606 §5.3: a Withdrawn Routes length past the message (Malformed
    // Attribute List) and a prefix longer than 32 bits (Invalid Network Field) reset it.
    let mut bad_withdrawn_length = withdraw.clone();
    if let Some(b) = bad_withdrawn_length.get_mut(header::LEN..header::LEN + 2) {
        b.copy_from_slice(&[0xff, 0xff]);
    }
    let mut bad_prefix = withdraw.clone();
    let at = header::LEN + 2 + if codec.add_path_for(Family::IPV4_UNICAST) { 4 } else { 0 };
    if let Some(b) = bad_prefix.get_mut(at) {
        *b = 33;
    }
    let cease = Message::Notification(Notification::new(code::CEASE, 2, Vec::new())).encode(codec).unwrap_or_default();
    let mut bad_marker = keepalive.clone();
    bad_marker[3] = 0;
    let all = [announce.clone(), eor(Family::IPV4_UNICAST), eor(Family::IPV6_UNICAST)].concat();
    vec![
        all.clone(),
        [all.clone(), withdraw.clone(), keepalive.clone(), refresh(RefreshSubtype::Request)].concat(),
        [all.clone(), refresh(RefreshSubtype::Begin), announce.clone(), refresh(RefreshSubtype::End)].concat(),
        [all.clone(), bad_origin].concat(),
        [all.clone(), bad_length].concat(),
        [all.clone(), bad_withdrawn_length].concat(),
        [all.clone(), bad_prefix].concat(),
        [all.clone(), cease].concat(),
        [all.clone(), bad_marker].concat(),
        [announce, withdraw, keepalive].concat(),
    ]
}
