//! The harness's own speakers: testers (one tokio task per session, all in this process,
//! each writing a pre-encoded table) and the monitor (one session from the DUT, or one per
//! tester for the `direct` baseline) that records what arrives and when.
//!
//! The monitor acts like a graceful-restart helper that never sweeps: a lost session keeps
//! its prefixes, so a restart shows up only as the UPDATEs and withdrawals it causes.

use crate::speaker::{self, SessionReader, SessionWriter, SpeakerConfig};
use keel_wire::capability::{GracefulRestart, GracefulRestartFamily};
use keel_wire::{Community, Family, Message, Prefix};
use rustc_hash::FxHashMap;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Community AS of the churn and helper tags: (TAG_AS, round).
pub const TAG_AS: u32 = 64512;

pub fn tag(round: u16) -> Community {
    Community((TAG_AS << 16) | round as u32)
}

/// Whether group `i` of a table's `groups` attribute groups carries a round's tag: every
/// hundredth (at least one), starting at `offset`, so a round changes 1% of the prefixes.
pub fn tagged_group(i: usize, offset: usize, groups: usize) -> bool {
    (i + offset).is_multiple_of(100usize.min(groups.max(1)))
}

/// What the monitor saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Each prefix with a hash of the attributes it arrived with.
    pub prefixes: FxHashMap<Prefix, u64>,
    /// Announcements that changed the prefix's attributes (or added it): the churn a real
    /// neighbor would pass on. Identical re-announcements are not counted.
    pub changed: u64,
    /// UPDATEs (End-of-RIB markers not counted).
    pub updates: u64,
    /// Prefixes announced and withdrawn, counted per NLRI.
    pub announced: u64,
    pub withdrawn: u64,
    pub last_change: Option<Instant>,
    /// The last End-of-RIB (IPv4 unicast) received.
    pub end_of_rib: Option<Instant>,
    pub sessions_up: u64,
    /// The graceful-restart capability of the DUT's last OPEN: `Some(R bit)`, `None` without.
    pub dut_restart_state: Option<bool>,
    pub sessions_down: u64,
    /// Delays (ms) from a tagged round's send time to its arrival, per prefix.
    pub delays_ms: Vec<f64>,
}

impl Seen {
    /// Resets the counters (not the prefixes) before a scenario phase.
    pub fn reset_counters(&mut self) {
        self.updates = 0;
        self.announced = 0;
        self.withdrawn = 0;
        self.changed = 0;
        self.end_of_rib = None;
        self.delays_ms.clear();
    }
}

pub type Shared = Arc<Mutex<Seen>>;
/// Send times of tagged rounds, indexed by round.
pub type Rounds = Arc<Mutex<Vec<Instant>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn config(local: Ipv4Addr, remote: SocketAddr, asn: u32, restarting: bool) -> SpeakerConfig {
    SpeakerConfig {
        local: IpAddr::V4(local),
        remote,
        asn,
        router_id: local,
        hold_time: 90,
        families: vec![Family::IPV4_UNICAST],
        graceful_restart: Some(GracefulRestart {
            restart_state: restarting,
            notification: false,
            restart_time: super::dut::RESTART_TIME,
            families: vec![GracefulRestartFamily { family: Family::IPV4_UNICAST, forwarding_state: restarting }],
        }),
        long_lived: Vec::new(),
    }
}

/// Connects, retrying until `deadline`.
pub async fn connect_retry(
    cfg: &SpeakerConfig,
    deadline: Instant,
) -> std::io::Result<(SessionReader, SessionWriter, keel_wire::Open)> {
    loop {
        match speaker::connect(cfg).await {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Reads one session into `seen` until it ends.
async fn record(mut rd: SessionReader, seen: Shared, rounds: Rounds) {
    lock(&seen).sessions_up += 1;
    while let Ok(Some(m)) = rd.next().await {
        let Message::Update(u) = m else { continue };
        let now = Instant::now();
        let mut s = lock(&seen);
        if u.as_end_of_rib() == Some(Family::IPV4_UNICAST) {
            s.end_of_rib = Some(now);
            continue;
        }
        s.updates += 1;
        let round = u.attributes.communities.iter().find(|c| c.0 >> 16 == TAG_AS).map(|c| (c.0 & 0xffff) as usize);
        let sent = round.and_then(|r| lock(&rounds).get(r).copied());
        for (_, n) in u.withdrawn_routes() {
            s.withdrawn += 1;
            s.prefixes.remove(&n.prefix);
        }
        let attributes = {
            let mut h = rustc_hash::FxHasher::default();
            u.attributes.hash(&mut h);
            h.finish()
        };
        for (_, n) in u.announced_routes() {
            s.announced += 1;
            if s.prefixes.insert(n.prefix, attributes) != Some(attributes) {
                s.changed += 1;
            }
            if let Some(t) = sent {
                s.delays_ms.push(now.saturating_duration_since(t).as_secs_f64() * 1e3);
            }
        }
        s.last_change = Some(now);
    }
    lock(&seen).sessions_down += 1;
}

/// The monitor: sessions keep coming back (after a DUT restart) until it is dropped.
pub struct Monitor {
    pub seen: Shared,
    pub rounds: Rounds,
    task: JoinHandle<()>,
}

impl Monitor {
    /// A monitor session from `local` to the DUT at `dut`, reconnecting whenever it ends.
    pub fn to_dut(local: Ipv4Addr, dut: SocketAddr) -> Monitor {
        let seen = Shared::default();
        let rounds = Rounds::default();
        let (s, r) = (seen.clone(), rounds.clone());
        let task = tokio::spawn(async move {
            loop {
                let cfg = config(local, dut, super::dut::MONITOR_AS, false);
                let Ok((rd, wr, open)) = connect_retry(&cfg, Instant::now() + Duration::from_secs(3600)).await else {
                    return;
                };
                lock(&s).dut_restart_state = open.graceful_restart().map(|g| g.restart_state);
                let ka = tokio::spawn(keepalives(wr));
                record(rd, s.clone(), r.clone()).await;
                ka.abort();
            }
        });
        Monitor { seen, rounds, task }
    }

    /// The direct baseline: the monitor listens where a DUT would and takes every tester's
    /// session itself.
    pub async fn direct(listen: SocketAddr) -> std::io::Result<Monitor> {
        let seen = Shared::default();
        let rounds = Rounds::default();
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(listen)?;
        let listener = socket.listen(64)?;
        let local = match listen.ip() {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => Ipv4Addr::LOCALHOST,
        };
        let (s, r) = (seen.clone(), rounds.clone());
        let task = tokio::spawn(async move {
            let mut sessions = Vec::new();
            loop {
                let cfg = config(local, listen, super::dut::DUT_AS, false);
                match speaker::accept(&cfg, &listener).await {
                    Ok((rd, wr, _)) => {
                        let (s, r) = (s.clone(), r.clone());
                        sessions.push(tokio::spawn(async move {
                            let ka = tokio::spawn(keepalives(wr));
                            record(rd, s, r).await;
                            ka.abort();
                        }));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        Ok(Monitor { seen, rounds, task })
    }

    pub fn snapshot<R>(&self, f: impl FnOnce(&Seen) -> R) -> R {
        f(&lock(&self.seen))
    }

    pub fn reset_counters(&self) {
        lock(&self.seen).reset_counters();
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sends End-of-RIB (the monitor has nothing to announce: a restarting DUT must not wait
/// for it, RFC 4724 §4.1), then a KEEPALIVE every 25 s.
async fn keepalives(mut wr: SessionWriter) {
    let eor = keel_wire::Update::end_of_rib(Family::IPV4_UNICAST).encode(&keel_wire::CodecOptions::default());
    match eor {
        Ok(bytes) if wr.send(&bytes).await.is_ok() => {}
        _ => return,
    }
    loop {
        tokio::time::sleep(Duration::from_secs(25)).await;
        if wr.keepalive().await.is_err() {
            return;
        }
    }
}

/// When a tester finished writing its table.
pub type Done = Arc<Mutex<Option<Instant>>>;

/// A tester: connects, writes `feed` (UPDATEs and End-of-RIB), keeps the session with
/// keepalives, and (with `reconnect`) connects again and re-sends when the session ends,
/// as a tester that helps a restarting DUT must.
pub struct Tester {
    pub done: Done,
    /// What it sends on every session.
    pub feed: Arc<Vec<u8>>,
    pub writer: Arc<tokio::sync::Mutex<Option<SessionWriter>>>,
    task: JoinHandle<()>,
}

impl Tester {
    pub fn start(cfg: SpeakerConfig, feed: Arc<Vec<u8>>, reconnect: bool) -> Tester {
        let done = Done::default();
        let writer: Arc<tokio::sync::Mutex<Option<SessionWriter>>> = Default::default();
        let (d, w, f) = (done.clone(), writer.clone(), feed.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut rd, mut wr, _)) = connect_retry(&cfg, Instant::now() + Duration::from_secs(120)).await
                else {
                    return;
                };
                if wr.send(&feed).await.is_err() {
                    if reconnect {
                        continue;
                    }
                    return;
                }
                *lock(&d) = Some(Instant::now());
                *w.lock().await = Some(wr);
                let w2 = w.clone();
                let ka = tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(25)).await;
                        let mut g = w2.lock().await;
                        let Some(wr) = g.as_mut() else { return };
                        if wr.keepalive().await.is_err() {
                            return;
                        }
                    }
                });
                while let Ok(Some(_)) = rd.next().await {}
                ka.abort();
                *w.lock().await = None;
                if !reconnect {
                    return;
                }
            }
        });
        Tester { done, feed: f, writer, task }
    }

    pub fn done(&self) -> Option<Instant> {
        *lock(&self.done)
    }

    /// Sends more bytes on the current session (churn).
    pub async fn send(&self, bytes: &[u8]) -> bool {
        let mut g = self.writer.lock().await;
        match g.as_mut() {
            Some(wr) => wr.send(bytes).await.is_ok(),
            None => false,
        }
    }

    /// Drops the session without a NOTIFICATION (the TCP connection just ends), as a
    /// restarting speaker's connection does.
    pub async fn vanish(self) {
        self.task.abort();
        // Give the aborted task a moment to drop its reading half.
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Some(w) = self.writer.lock().await.take() {
            drop(w);
        }
    }
}

impl Drop for Tester {
    fn drop(&mut self) {
        self.task.abort();
    }
}
