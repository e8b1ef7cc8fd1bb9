//! The observer downstream of keeld, where the rehearsal counts what keeld's neighbors see.
//!
//! Without `--peer` it is keel's own speaker ([`peers::Observer`]), a helper that keeps its
//! Adj-RIB-In by RFC 4724 §4.2 and counts every route leaving it. With `--peer` it is that
//! daemon (BIRD, FRR's bgpd, gobgpd), peered with keeld as a graceful-restart and LLGR helper,
//! so the rehearsal shows how that implementation treats keel's restarts. A daemon has no
//! counter of "routes that ever left my table", so keel's speaker sits behind it, the **tap**:
//! the daemon exports every route it holds to the tap, and each route that leaves the daemon's
//! table (withdrawn by keeld, flushed with a session, swept as stale) reaches the tap as a
//! withdrawal. What the daemon received from keeld (UPDATEs, End-of-RIB, its session) is read
//! from keeld's own API (`updates_sent`, `end_of_rib_sent`, `state` of that neighbor).

use super::peers::{self, Observer, PeerStats};
use super::process::Task;
use super::roles::{Addresses, PeerKind, OBSERVER_ASN, TAP_ASN};
use super::{bird, frr, gobgp};
use anyhow::Result;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The tap's hold time (RFC 4271 §4.2): GoBGP refuses a session without one.
const TAP_HOLD_TIME: u16 = 90;

/// What the lab reads of the observer at one moment. The counters only grow.
#[derive(Debug, Clone, Copy, Default)]
pub struct View {
    /// Routes held now.
    pub routes: u64,
    /// Of those, stale (RFC 4724 §4.2), as far as the lab can see.
    pub stale: u64,
    /// The session with keeld is up and its End-of-RIB came for every family.
    pub end_of_rib_complete: bool,
    /// When keeld's End-of-RIB completed on the current session.
    pub end_of_rib_at: Option<Instant>,
    /// The last UPDATE that moved anything the lab watches.
    pub last_update: Option<Instant>,
    /// Routes that left the observer's table at any moment.
    pub removed: u64,
    /// UPDATEs the observer received from keeld, End-of-RIB markers not counted.
    pub updates: u64,
    pub withdrawals: u64,
    pub announcements: u64,
    pub llgr_stale: u64,
}

enum Daemon {
    Bird(bird::BirdObserver),
    Frr(frr::FrrObserver),
    GoBgp(gobgp::GoBgpObserver),
}

/// What keeld's API shows of its session with a daemon observer.
#[derive(Debug, Default)]
struct KeelSide {
    established: bool,
    /// keeld's pid and `updates_sent` at the last poll (the counter starts again with keeld).
    pid: i32,
    raw_updates: u64,
    raw_end_of_rib: u64,
    /// UPDATEs sent over all keeld processes, End-of-RIB markers excluded.
    updates: u64,
    end_of_rib_complete: bool,
    end_of_rib_at: Option<Instant>,
    last_update: Option<Instant>,
}

impl KeelSide {
    /// One poll of `/v1/neighbors/OBSERVER` of keeld `pid` (`None`: keeld or its API is down).
    fn poll(&mut self, pid: i32, v: Option<&serde_json::Value>) {
        let Some(v) = v else {
            self.established = false;
            self.end_of_rib_complete = false;
            return;
        };
        if pid != self.pid {
            (self.pid, self.raw_updates, self.raw_end_of_rib) = (pid, 0, 0);
        }
        self.established = v["state"] == "established";
        let eor = v["graceful_restart"]["end_of_rib_sent"].as_array().map_or(0, |a| a.len() as u64);
        let sent = v["updates_sent"].as_u64().unwrap_or(0);
        // End-of-RIB markers are UPDATEs too; each family's is sent once per session.
        let eor_new = if eor >= self.raw_end_of_rib { eor - self.raw_end_of_rib } else { eor };
        let sent_new = sent.saturating_sub(self.raw_updates);
        if sent_new > 0 {
            self.last_update = Some(Instant::now());
        }
        self.updates += sent_new.saturating_sub(eor_new);
        (self.raw_updates, self.raw_end_of_rib) = (sent, eor);
        let complete = self.established && eor as usize == peers::FAMILIES.len();
        if complete && !self.end_of_rib_complete {
            self.end_of_rib_at = Some(Instant::now());
        }
        self.end_of_rib_complete = complete;
    }
}

/// The observer, of either kind.
pub struct ObserverPeer {
    /// "keel" or the daemon's name.
    pub kind: &'static str,
    /// keel's speaker: the observer itself, or the tap behind the daemon.
    speaker: Observer,
    /// What the timeline samples: the speaker's own, or the daemon's session with keeld.
    pub stats: Arc<PeerStats>,
    daemon: Option<(Daemon, Arc<Mutex<KeelSide>>)>,
    _tasks: Vec<Task>,
}

impl ObserverPeer {
    /// keel's speaker, peering with keeld from `addresses.observer`; a graceful-restart and
    /// LLGR helper unless `helper` is false (`--observer-no-gr`).
    pub fn speaker(addresses: &Addresses, helper: bool) -> ObserverPeer {
        let speaker = Observer::new();
        let task = Task(tokio::spawn(Observer::run(
            speaker.state.clone(),
            speaker.stats.clone(),
            addresses.observer,
            addresses.keel,
            (OBSERVER_ASN, 0, helper),
        )));
        let stats = speaker.stats.clone();
        ObserverPeer { kind: "keel", speaker, stats, daemon: None, _tasks: vec![task] }
    }

    /// The daemon `kind` at `addresses.observer`, peering with keeld and the tap at
    /// `addresses.tap`. `api` is keeld's API socket, `keeld` its current pid.
    pub fn daemon(
        kind: PeerKind,
        dir: PathBuf,
        addresses: &Addresses,
        api: PathBuf,
        keeld: Arc<AtomicI32>,
    ) -> Result<ObserverPeer> {
        let (local, keel, tap) = (addresses.observer, addresses.keel, addresses.tap);
        let (name, daemon) = match kind {
            PeerKind::Bird => ("bird", Daemon::Bird(bird::BirdObserver::start(dir, local, keel, tap)?)),
            PeerKind::Frr => ("frr", Daemon::Frr(frr::FrrObserver::start(dir, local, keel, tap)?)),
            PeerKind::Gobgp => ("gobgp", Daemon::GoBgp(gobgp::GoBgpObserver::start(dir, local, keel, tap)?)),
        };
        let speaker = Observer::new();
        let tap_task = Task(tokio::spawn(Observer::run(
            speaker.state.clone(),
            speaker.stats.clone(),
            tap,
            SocketAddr::new(local.into(), 179),
            (TAP_ASN, TAP_HOLD_TIME, true),
        )));
        let side: Arc<Mutex<KeelSide>> = Arc::default();
        let stats: Arc<PeerStats> = Arc::default();
        let poller =
            Task(tokio::spawn(poll_keel_side(side.clone(), stats.clone(), speaker.stats.clone(), api, local, keeld)));
        Ok(ObserverPeer { kind: name, speaker, stats, daemon: Some((daemon, side)), _tasks: vec![tap_task, poller] })
    }

    pub fn view(&self) -> View {
        let s = self.speaker.lock();
        let mut v = View {
            routes: s.routes() as u64,
            stale: s.stale() as u64,
            end_of_rib_complete: s.end_of_rib_complete(),
            end_of_rib_at: s.end_of_rib_at,
            last_update: s.last_update,
            removed: s.removed,
            updates: s.updates,
            withdrawals: s.withdrawals,
            announcements: s.announcements,
            llgr_stale: s.llgr_stale,
        };
        drop(s);
        if let Some((_, side)) = &self.daemon {
            let k = side.lock().unwrap_or_else(|e| e.into_inner());
            v.end_of_rib_complete &= k.end_of_rib_complete;
            v.end_of_rib_at = k.end_of_rib_at;
            v.last_update = v.last_update.max(k.last_update);
            v.updates = k.updates;
        }
        v
    }

    /// How long nothing must move before the observer counts as settled: a daemon gets time
    /// to act on keeld's last message (its stale sweep after End-of-RIB) before the lab looks.
    pub fn quiet(&self, lab: Duration) -> Duration {
        if self.daemon.is_some() {
            lab.max(Duration::from_secs(1))
        } else {
            lab
        }
    }

    /// When FRR's startup window ends, for an FRR observer ([`frr::STARTUP_WINDOW`]).
    pub fn startup_ends(&self) -> Option<Instant> {
        match &self.daemon {
            Some((Daemon::Frr(d), _)) => Some(d.startup_ends),
            _ => None,
        }
    }

    /// The daemon's log, for errors.
    pub fn log_tail(&self) -> String {
        match &self.daemon {
            Some((Daemon::Bird(d), _)) => d.log_tail(),
            Some((Daemon::Frr(d), _)) => d.log_tail(),
            Some((Daemon::GoBgp(d), _)) => d.log_tail(),
            None => String::new(),
        }
    }
}

/// Polls keeld's view of the daemon observer every 100 ms into `side` and the timeline's
/// `stats` (routes from the tap).
async fn poll_keel_side(
    side: Arc<Mutex<KeelSide>>,
    stats: Arc<PeerStats>,
    tap: Arc<PeerStats>,
    api: PathBuf,
    observer: Ipv4Addr,
    keeld: Arc<AtomicI32>,
) {
    let path = format!("/v1/neighbors/{observer}");
    loop {
        let pid = keeld.load(Ordering::Relaxed);
        let v = if pid > 0 { super::process::api_get(&api, &path).await } else { None };
        {
            let mut k = side.lock().unwrap_or_else(|e| e.into_inner());
            k.poll(pid, v.as_ref());
            stats.established.store(k.established, Ordering::Relaxed);
            stats.updates.store(k.updates, Ordering::Relaxed);
        }
        stats.routes.store(tap.routes.load(Ordering::Relaxed), Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn neighbor(state: &str, updates: u64, eor: usize) -> serde_json::Value {
        let families = ["ipv4-unicast", "ipv6-unicast"][..eor].to_vec();
        json!({"state": state, "updates_sent": updates, "graceful_restart": {"end_of_rib_sent": families}})
    }

    #[test]
    fn keel_side_counts_updates_across_keeld_restarts() {
        let mut k = KeelSide::default();
        k.poll(10, Some(&neighbor("established", 50, 2)));
        assert_eq!((k.updates, k.end_of_rib_complete), (48, true));
        let first = k.end_of_rib_at;
        k.poll(10, Some(&neighbor("established", 53, 2)));
        assert_eq!(k.updates, 51);
        assert_eq!(k.end_of_rib_at, first, "End-of-RIB time stays while complete");
        // keeld restarts: its counter starts again from zero.
        k.poll(0, None);
        assert!(!k.established && !k.end_of_rib_complete);
        k.poll(11, Some(&neighbor("established", 20, 1)));
        assert_eq!((k.updates, k.end_of_rib_complete), (70, false));
        k.poll(11, Some(&neighbor("established", 31, 2)));
        assert_eq!((k.updates, k.end_of_rib_complete), (80, true));
        assert!(k.end_of_rib_at > first);
    }
}
