//! The rehearsal's two BGP peers, both [`crate::speaker`] sessions inside the lab process:
//!
//! - the **upstream** feeds keeld a generated table ([`Feed`]) and can restart (TCP loss,
//!   then back with R=1, RFC 4724 §4.2 from keeld's side), stay away past its restart time
//!   (RFC 9494 §4.2) or send a Hard Reset (RFC 8538 §3);
//! - the **observer** receives what keeld advertises and keeps its own Adj-RIB-In the way a
//!   graceful-restart helper does (RFC 4724 §4.2): routes of a lost session stay, stale, when
//!   graceful restart was negotiated and the loss was graceful (no NOTIFICATION, or with the N
//!   bit one that is not a Hard Reset, RFC 8538 §3), until the End-of-RIB of the new session
//!   or the restart time; otherwise they go at once. Every route that leaves it is counted.

use crate::speaker::{self, SessionWriter, SpeakerConfig};
use keel_tablegen::{Table, TableSpec};
use keel_wire::capability::{GracefulRestart, GracefulRestartFamily, LongLivedFamily};
use keel_wire::error::{cease, code};
use keel_wire::{builder, CodecOptions, Community, Family, Message, Notification, Prefix, Update};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub const FAMILIES: [Family; 2] = [Family::IPV4_UNICAST, Family::IPV6_UNICAST];

/// The upstream's restart time (RFC 4724 §3): short, so the `llgr` scenario can outlast it.
pub const UPSTREAM_RESTART_TIME: u16 = 3;
/// The upstream's and the observer's LLGR stale time (RFC 9494 §3).
pub const LONG_LIVED_STALE_TIME: u32 = 3600;

/// A generated table as UPDATE bytes, in pieces of about 256 KiB so a feed shows progress.
pub struct Feed {
    pub chunks: Vec<Chunk>,
    pub routes: u64,
    pub peer_as: u32,
    /// Addresses inside the table's IPv4 prefixes, for `--netns`'s traffic flow.
    pub destinations: Vec<Ipv4Addr>,
}

pub struct Chunk {
    pub bytes: Vec<u8>,
    pub routes: u64,
    pub updates: u64,
}

/// The feed of `ipv4` + `ipv6` generated prefixes, each family closed by End-of-RIB.
pub fn feed(ipv4: usize, ipv6: usize) -> Result<Feed, keel_wire::EncodeError> {
    let table = Table::generate(&TableSpec { seed: 1, ipv4_routes: ipv4, ipv6_routes: ipv6, peer: 0 });
    let opts = CodecOptions { extended_message: true, ..CodecOptions::default() };
    let mut chunks = Vec::new();
    let mut current = Chunk { bytes: Vec::with_capacity(300 * 1024), routes: 0, updates: 0 };
    let mut routes = 0;
    let v4: Vec<Prefix> =
        table.family(Family::IPV4_UNICAST).flat_map(|g| g.prefixes.iter().map(|n| n.prefix)).collect();
    let destinations = super::netns::destinations(&v4);
    for family in FAMILIES {
        for g in table.family(family) {
            current.updates +=
                builder::announce(family, &g.attributes, g.next_hop, &g.prefixes, &opts, &mut current.bytes)? as u64;
            current.routes += g.prefixes.len() as u64;
            routes += g.prefixes.len() as u64;
            if current.bytes.len() >= 256 * 1024 {
                chunks.push(std::mem::replace(
                    &mut current,
                    Chunk { bytes: Vec::with_capacity(300 * 1024), routes: 0, updates: 0 },
                ));
            }
        }
        current.bytes.extend(Update::end_of_rib(family).encode(&opts)?);
    }
    chunks.push(current);
    Ok(Feed { chunks, routes, peer_as: table.peer_as, destinations })
}

/// What the timeline samples of one peer.
#[derive(Debug, Default)]
pub struct PeerStats {
    pub established: AtomicBool,
    /// UPDATEs sent (upstream) or received (observer), End-of-RIB markers included.
    pub updates: AtomicU64,
    /// Routes announced on the current session (upstream) or held (observer).
    pub routes: AtomicU64,
}

fn speaker_config(local: Ipv4Addr, remote: SocketAddr, asn: u32, restart_time: u16, forwarding: bool) -> SpeakerConfig {
    SpeakerConfig {
        local: IpAddr::V4(local),
        remote,
        asn,
        router_id: local,
        // No KEEPALIVEs or hold timer (RFC 4271 §4.2): a session ends only on purpose or when
        // keeld's process goes, which closes the connection.
        hold_time: 0,
        families: FAMILIES.to_vec(),
        graceful_restart: Some(GracefulRestart {
            restart_state: false,
            notification: true,
            restart_time,
            families: FAMILIES.map(|family| GracefulRestartFamily { family, forwarding_state: forwarding }).to_vec(),
        }),
        long_lived: FAMILIES
            .map(|family| LongLivedFamily { family, forwarding_state: forwarding, stale_time: LONG_LIVED_STALE_TIME })
            .to_vec(),
    }
}

/// Connects, retrying every 50 ms until `deadline` (keeld may be starting).
async fn connect_until(
    cfg: &SpeakerConfig,
    deadline: Instant,
) -> io::Result<(speaker::SessionReader, SessionWriter, keel_wire::Open)> {
    loop {
        match speaker::connect(cfg).await {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

pub struct Upstream {
    cfg: SpeakerConfig,
    feed: Arc<Feed>,
    pub stats: Arc<PeerStats>,
    writer: Option<SessionWriter>,
    reader: Option<super::process::Task>,
    /// When the feed's last End-of-RIB was written on the current session.
    pub end_of_rib_sent: Option<Instant>,
}

impl Upstream {
    pub fn new(local: Ipv4Addr, keel: SocketAddr, feed: Arc<Feed>) -> Upstream {
        let cfg = speaker_config(local, keel, feed.peer_as, UPSTREAM_RESTART_TIME, true);
        Upstream { cfg, feed, stats: Arc::default(), writer: None, reader: None, end_of_rib_sent: None }
    }

    /// Opens a session (R=1 when `restarting`, RFC 4724 §4.1) and sends the whole table.
    pub async fn connect_and_feed(&mut self, restarting: bool, deadline: Instant) -> io::Result<()> {
        self.close();
        let mut cfg = self.cfg.clone();
        if let Some(g) = cfg.graceful_restart.as_mut() {
            g.restart_state = restarting;
        }
        let (mut rd, wr, _) = connect_until(&cfg, deadline).await?;
        self.stats.established.store(true, Ordering::Relaxed);
        self.stats.routes.store(0, Ordering::Relaxed);
        let stats = self.stats.clone();
        self.reader = Some(super::process::Task(tokio::spawn(async move {
            while let Ok(Some(_)) = rd.next().await {}
            stats.established.store(false, Ordering::Relaxed);
        })));
        let writer = self.writer.insert(wr);
        for c in &self.feed.chunks {
            writer.send(&c.bytes).await?;
            self.stats.updates.fetch_add(c.updates + 1, Ordering::Relaxed);
            self.stats.routes.fetch_add(c.routes, Ordering::Relaxed);
        }
        self.end_of_rib_sent = Some(Instant::now());
        Ok(())
    }

    /// Ends the session without a NOTIFICATION: to keeld, a TCP failure (RFC 4724 §4.2).
    pub fn close(&mut self) {
        self.writer = None;
        self.reader = None;
        self.stats.established.store(false, Ordering::Relaxed);
        self.stats.routes.store(0, Ordering::Relaxed);
        self.end_of_rib_sent = None;
    }

    /// Ends the session with Cease/Hard Reset (RFC 8538 §3), wrapping Administrative Reset.
    pub async fn hard_reset(&mut self) {
        if let Some(w) = self.writer.as_mut() {
            let n = Notification::hard_reset(&Notification::new(code::CEASE, cease::ADMINISTRATIVE_RESET, Vec::new()));
            if let Ok(bytes) = Message::Notification(n).encode(&CodecOptions::default()) {
                let _ = w.send(&bytes).await;
            }
        }
        if let Some(w) = self.writer.take() {
            w.close().await;
        }
        self.close();
    }
}

/// The observer's Adj-RIB-In and what it saw.
#[derive(Debug, Default)]
pub struct ObserverState {
    /// Prefix -> stale (RFC 4724 §4.2).
    rib: HashMap<Prefix, bool>,
    stale: usize,
    pub session_up: bool,
    pub sessions: u64,
    /// UPDATEs received, End-of-RIB markers not counted.
    pub updates: u64,
    pub withdrawals: u64,
    pub announcements: u64,
    /// Routes announced with LLGR_STALE (RFC 9494 §4.3).
    pub llgr_stale: u64,
    /// Routes that left the RIB: withdrawn, lost with a session, or swept as stale.
    pub removed: u64,
    /// End-of-RIB still awaited on the current session.
    eor_pending: Vec<Family>,
    /// When the current session's End-of-RIB completed (every family).
    pub end_of_rib_at: Option<Instant>,
    pub last_update: Option<Instant>,
    /// Stale routes are dropped when the peer is not back by then (restart timer).
    restart_deadline: Option<Instant>,
}

impl ObserverState {
    pub fn routes(&self) -> usize {
        self.rib.len()
    }
    pub fn stale(&self) -> usize {
        self.stale
    }
    pub fn end_of_rib_complete(&self) -> bool {
        self.session_up && self.eor_pending.is_empty()
    }

    fn update(&mut self, u: &Update) {
        self.last_update = Some(Instant::now());
        if let Some(family) = u.as_end_of_rib() {
            // RFC 4724 §4.2: End-of-RIB ends the wait; routes still stale go.
            self.sweep(|p| family_of(p) == family);
            self.eor_pending.retain(|f| *f != family);
            if self.eor_pending.is_empty() {
                self.end_of_rib_at = Some(Instant::now());
            }
            return;
        }
        self.updates += 1;
        let withdraw_all = u.treat_as_withdraw();
        for (_, n) in u.withdrawn_routes() {
            self.withdraw(n.prefix);
        }
        let llgr_stale = u.attributes.communities.contains(&Community::LLGR_STALE);
        for (_, n) in u.announced_routes() {
            if withdraw_all {
                self.withdraw(n.prefix);
                continue;
            }
            self.announcements += 1;
            self.llgr_stale += u64::from(llgr_stale);
            if self.rib.insert(n.prefix, false) == Some(true) {
                self.stale -= 1;
            }
        }
    }

    fn withdraw(&mut self, p: Prefix) {
        self.withdrawals += 1;
        if let Some(stale) = self.rib.remove(&p) {
            self.removed += 1;
            self.stale -= usize::from(stale);
        }
    }

    fn sweep(&mut self, which: impl Fn(&Prefix) -> bool) {
        let before = self.rib.len();
        self.rib.retain(|p, stale| !(*stale && which(p)));
        let gone = before - self.rib.len();
        self.removed += gone as u64;
        self.stale -= gone;
    }

    fn session_down(&mut self, graceful: Option<Duration>) {
        self.session_up = false;
        match graceful {
            Some(restart_time) => {
                self.rib.values_mut().for_each(|s| *s = true);
                self.stale = self.rib.len();
                self.restart_deadline = Some(Instant::now() + restart_time);
            }
            None => {
                self.removed += self.rib.len() as u64;
                self.rib.clear();
                self.stale = 0;
            }
        }
    }
}

/// How long the observer keeps a lost session's routes: keeld's restart time when the loss
/// is graceful, `None` when they go at once. `keel` is keeld's GR capability (the observer
/// always sends one). RFC 4724 §4.2 with RFC 8538 §3: a TCP loss is graceful; a NOTIFICATION
/// is graceful only with the N bit and when it is not a Hard Reset.
fn graceful_loss(keel: Option<&GracefulRestart>, notification: Option<&Notification>) -> Option<Duration> {
    let keel = keel?;
    let graceful = notification.is_none_or(|n| keel.notification && !n.is_hard_reset());
    graceful.then(|| Duration::from_secs(keel.restart_time.into()))
}

fn family_of(p: &Prefix) -> Family {
    if p.is_ipv4() {
        Family::IPV4_UNICAST
    } else {
        Family::IPV6_UNICAST
    }
}

pub struct Observer {
    pub state: Arc<Mutex<ObserverState>>,
    pub stats: Arc<PeerStats>,
}

impl Observer {
    pub fn new() -> Observer {
        Observer { state: Arc::default(), stats: Arc::default() }
    }

    pub fn lock(&self) -> MutexGuard<'_, ObserverState> {
        // A poisoned lock only means a panic elsewhere; the counters are still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps a session to `remote` (keeld, or the daemon observing it) up for as long as the
    /// task lives, reconnecting after every loss. `asn` is the observer's own; with a
    /// `hold_time` (GoBGP does not take 0) it sends a KEEPALIVE every third of it. Unless
    /// `helper`, it advertises neither graceful restart nor LLGR, so no lost session is
    /// graceful: its routes go at once (RFC 4724 §4.2 applies only when GR was negotiated).
    pub async fn run(
        state: Arc<Mutex<ObserverState>>,
        stats: Arc<PeerStats>,
        local: Ipv4Addr,
        remote: SocketAddr,
        (asn, hold_time, helper): (u32, u16, bool),
    ) {
        let mut cfg = speaker_config(local, remote, asn, 120, false);
        cfg.hold_time = hold_time;
        if !helper {
            cfg.graceful_restart = None;
            cfg.long_lived = Vec::new();
        }
        let opts = CodecOptions { extended_message: true, ..CodecOptions::default() };
        let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let (mut rd, mut wr, remote) = match speaker::connect(&cfg).await {
                Ok(s) => s,
                Err(_) => {
                    {
                        let mut s = lock();
                        // RFC 4724 §4.2: the restart timer ran out; stale routes go.
                        if s.restart_deadline.is_some_and(|d| Instant::now() > d) {
                            s.restart_deadline = None;
                            s.sweep(|_| true);
                            stats.routes.store(s.rib.len() as u64, Ordering::Relaxed);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            {
                let mut s = lock();
                s.session_up = true;
                s.sessions += 1;
                s.eor_pending = FAMILIES.to_vec();
                s.end_of_rib_at = None;
                s.restart_deadline = None;
            }
            stats.established.store(true, Ordering::Relaxed);
            // Nothing to announce: End-of-RIB at once (keeld's selection deferral waits for it).
            for f in FAMILIES {
                if let Ok(b) = Update::end_of_rib(f).encode(&opts) {
                    let _ = wr.send(&b).await;
                }
            }
            let gr = remote.graceful_restart().cloned().filter(|_| helper);
            // Owns the writer until the session ends (dropping it would close the connection).
            let _keepalives = super::process::Task(tokio::spawn(async move {
                if hold_time == 0 {
                    return std::future::pending().await;
                }
                loop {
                    tokio::time::sleep(Duration::from_secs((hold_time / 3).max(1).into())).await;
                    if wr.keepalive().await.is_err() {
                        return;
                    }
                }
            }));
            let mut notification = None;
            loop {
                match rd.next().await {
                    Ok(Some(Message::Update(u))) => {
                        let mut s = lock();
                        s.update(&u);
                        stats.updates.fetch_add(1, Ordering::Relaxed);
                        stats.routes.store(s.rib.len() as u64, Ordering::Relaxed);
                    }
                    Ok(Some(Message::Notification(n))) => {
                        notification = Some(n);
                        break;
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            let mut s = lock();
            s.session_down(graceful_loss(gr.as_ref(), notification.as_ref()));
            stats.established.store(false, Ordering::Relaxed);
            stats.routes.store(s.rib.len() as u64, Ordering::Relaxed);
        }
    }
}

impl Default for Observer {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announce(prefixes: &[&str]) -> Update {
        let mut u = Update::end_of_rib(Family::IPV4_UNICAST);
        u.announced = prefixes.iter().map(|p| keel_wire::Nlri::new(p.parse().unwrap())).collect();
        u
    }

    #[test]
    fn graceful_loss_keeps_routes_until_end_of_rib() {
        let mut s = ObserverState::default();
        s.update(&announce(&["198.51.100.0/24", "203.0.113.0/24"]));
        s.session_down(Some(Duration::from_secs(120)));
        assert_eq!((s.routes(), s.stale(), s.removed), (2, 2, 0));
        s.update(&announce(&["198.51.100.0/24"]));
        s.update(&Update::end_of_rib(Family::IPV4_UNICAST));
        assert_eq!((s.routes(), s.stale(), s.removed), (1, 0, 1));
    }

    #[test]
    fn loss_without_graceful_restart_removes_every_route() {
        let mut s = ObserverState::default();
        s.update(&announce(&["198.51.100.0/24", "203.0.113.0/24"]));
        s.session_down(None);
        assert_eq!((s.routes(), s.removed), (0, 2));
    }

    #[test]
    fn graceful_loss_follows_rfc_4724_and_8538() {
        let gr =
            |n_bit| GracefulRestart { restart_state: false, notification: n_bit, restart_time: 30, families: vec![] };
        let cease = |sub| Notification::new(code::CEASE, sub, Vec::new());
        let reset = cease(cease::ADMINISTRATIVE_RESET);
        let hard = Notification::hard_reset(&reset);
        let kept = Some(Duration::from_secs(30));
        assert_eq!(graceful_loss(Some(&gr(true)), None), kept, "TCP loss");
        assert_eq!(graceful_loss(Some(&gr(false)), None), kept, "TCP loss without N bit");
        assert_eq!(graceful_loss(Some(&gr(true)), Some(&reset)), kept, "Administrative Reset with N bit");
        assert_eq!(graceful_loss(Some(&gr(false)), Some(&reset)), None, "NOTIFICATION without N bit");
        assert_eq!(graceful_loss(Some(&gr(true)), Some(&hard)), None, "Hard Reset");
        assert_eq!(graceful_loss(None, None), None, "no GR from keeld");
    }

    #[test]
    fn feed_counts_every_route() {
        let f = feed(500, 100).unwrap();
        assert_eq!(f.routes, 600);
        assert_eq!(f.chunks.iter().map(|c| c.routes).sum::<u64>(), 600);
    }
}
