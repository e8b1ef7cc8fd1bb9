//! `keel lab --peer frr`: FRR's bgpd (standalone, `-Z`, no zebra) as the upstream, in its own
//! directory owned by user frr, announcing the generated table's prefixes with `network`
//! statements (an outbound route-map gives them the documentation next hops 192.0.2.1 and
//! 2001:db8::1: FRR refuses 127/8 next hops; the table's AS paths and communities are not
//! reproduced). Graceful restart with F=1 (`preserve-fw-state`, else RFC 4724 §4.2 lets keeld
//! drop the routes), restart time [`UPSTREAM_RESTART_TIME`], LLGR. FRR has no command that
//! restarts it gracefully: `peer-restart` ends bgpd with SIGTERM (it sends Cease/Peer
//! De-configured, graceful with the N bit, RFC 8538 §2) and starts it again (R=1 in the OPEN
//! after a start); `llgr` kills it; `hard-reset` is `clear bgp KEEL`, a Cease/Hard Reset in
//! FRR 8.4 (RFC 8538 §3).
//!
//! A second bgpd is the observer ([`FrrObserver`]): a graceful-restart and LLGR helper for
//! keeld that passes its routes on to keel's speaker (the tap, see [`super::observer`]).

use super::peers::{PeerStats, LONG_LIVED_STALE_TIME, UPSTREAM_RESTART_TIME};
use super::process::{file_tail, Daemon, Task};
use super::roles::{DAEMON_UPSTREAM_ASN, KEELD_ASN, OBSERVER_ASN, TAP_ASN};
use crate::daemons::frr::{self, command, BGPD};
use anyhow::{bail, Context, Result};
use keel_tablegen::{Table, TableSpec};
use keel_wire::Family;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// FRR 8.4 sets R=1 in its OPENs while its startup timer runs (about 120 s, the default
/// restart time, whatever `restart-time` says; measured): it claims to be restarting, so a
/// restarting keeld does not wait for it (RFC 4724 §4.1) and, as a helper, it does not keep
/// keeld's routes. The lab runs keeld's own restarts after that window.
pub const STARTUP_WINDOW: Duration = Duration::from_secs(130);

pub struct FrrUpstream {
    dir: PathBuf,
    local: Ipv4Addr,
    keel: SocketAddr,
    daemon: Daemon,
    pub stats: Arc<PeerStats>,
    routes: u64,
    _poller: Task,
    /// When the running bgpd's startup window ends ([`STARTUP_WINDOW`]).
    pub startup_ends: Instant,
}

fn config(local: Ipv4Addr, keel: SocketAddr, ipv4: usize, ipv6: usize, dir: &Path) -> String {
    let table = Table::generate(&TableSpec { seed: 1, ipv4_routes: ipv4, ipv6_routes: ipv6, peer: 0 });
    let k = keel.ip();
    // The route-maps come before `router bgp` (else bgpd first sends End-of-RIB without routes).
    let mut c = frr::header("keel-lab-upstream", dir, Some("informational"))
        + &format!(
            "route-map OUT4 permit 10\n set ip next-hop 192.0.2.1\n!\n\
         route-map OUT6 permit 10\n set ipv6 next-hop global 2001:db8::1\n!\n\
         router bgp {DAEMON_UPSTREAM_ASN}\n bgp router-id {local}\n no bgp ebgp-requires-policy\n no bgp network import-check\n\
         \x20bgp graceful-restart\n bgp graceful-restart preserve-fw-state\n\
         \x20bgp graceful-restart restart-time {UPSTREAM_RESTART_TIME}\n bgp graceful-restart select-defer-time 5\n\
         \x20bgp long-lived-graceful-restart stale-time {LONG_LIVED_STALE_TIME}\n\
         \x20neighbor {k} remote-as {KEELD_ASN}\n neighbor {k} port {}\n neighbor {k} update-source {local}\n\
         \x20neighbor {k} ebgp-multihop 2\n neighbor {k} timers 10 30\n neighbor {k} timers connect 1\n",
        keel.port(),
    );
    for (family, afi) in [(Family::IPV4_UNICAST, "ipv4"), (Family::IPV6_UNICAST, "ipv6")] {
        c.push_str(&format!(" address-family {afi} unicast\n"));
        for g in table.family(family) {
            for n in &g.prefixes {
                c.push_str(&format!("  network {}\n", n.prefix));
            }
        }
        if afi == "ipv6" {
            c.push_str(&format!("  neighbor {k} activate\n"));
        }
        c.push_str(&format!("  neighbor {k} route-map OUT{} out\n exit-address-family\n", &afi[3..]));
    }
    c + "!\n"
}

fn vtysh(dir: &Path, command: &str) -> Result<String> {
    let (_, out, _) = crate::daemons::frr::vtysh(dir, &[command]).context("cannot run vtysh")?;
    Ok(out)
}

/// Whether every family's session with keeld is established, and the prefixes sent on it,
/// from `show bgp summary json`.
fn poll(dir: &Path, keel: &str) -> Option<(bool, u64)> {
    let v: serde_json::Value = serde_json::from_str(&vtysh(dir, "show bgp summary json").ok()?).ok()?;
    let mut established = true;
    let mut sent = 0;
    for afi in ["ipv4Unicast", "ipv6Unicast"] {
        let p = &v[afi]["peers"][keel];
        established &= p["state"] == "Established";
        sent += p["pfxSnt"].as_u64().unwrap_or(0);
    }
    Some((established, sent))
}

/// How many times FRR's session with keeld was dropped (`connectionsDropped`).
fn dropped(dir: &Path, keel: &str) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(&vtysh(dir, "show bgp summary json").ok()?).ok()?;
    v["ipv4Unicast"]["peers"][keel]["connectionsDropped"].as_u64()
}

/// Checks that FRR can run, then writes `config` as DIR/bgpd.conf, both owned by user frr.
fn prepare(dir: &Path, config: &str) -> Result<()> {
    if !Path::new(BGPD).is_file() || Command::new("vtysh").arg("--version").output().is_err() {
        bail!("--peer frr: FRR is not installed (apt-get install -y --no-install-recommends frr)");
    }
    if !super::process::is_root() {
        bail!("--peer frr needs root (bgpd listens on port 179 of its address)");
    }
    crate::daemons::frr::install_config(dir, config)
}

/// Starts bgpd on `local`, its vty socket in `dir`.
fn spawn(daemon: &mut Daemon, dir: &Path, local: Ipv4Addr) -> Result<()> {
    let mut command = command(dir, local.into(), None);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    daemon.spawn(command, BGPD, dir)
}

/// bgpd observing keeld: a helper for keeld's graceful restart (RFC 4724 §4.2) and LLGR
/// (RFC 9494 §4.2) that passes every route on to the tap, which counts what leaves its table.
/// keeld gives it documentation next hops (FRR refuses 127/8 as martian).
pub struct FrrObserver {
    dir: PathBuf,
    _daemon: Daemon,
    /// When its startup window ends ([`STARTUP_WINDOW`]).
    pub startup_ends: Instant,
}

impl FrrObserver {
    pub fn start(dir: PathBuf, local: Ipv4Addr, keel: SocketAddr, tap: Ipv4Addr) -> Result<FrrObserver> {
        let k = keel.ip();
        let config = frr::header("keel-lab-observer", &dir, Some("informational"))
            + &format!(
                "route-map TAP4 permit 10\n set ip next-hop 192.0.2.3\n!\n\
             route-map TAP6 permit 10\n set ipv6 next-hop global 2001:db8::3\n!\n\
             router bgp {OBSERVER_ASN}\n bgp router-id {local}\n no bgp ebgp-requires-policy\n\
             \x20bgp graceful-restart\n bgp long-lived-graceful-restart stale-time {LONG_LIVED_STALE_TIME}\n\
             \x20neighbor {k} remote-as {KEELD_ASN}\n neighbor {k} port {}\n neighbor {k} update-source {local}\n\
             \x20neighbor {k} ebgp-multihop 2\n neighbor {k} timers 10 30\n neighbor {k} timers connect 1\n\
             \x20neighbor {tap} remote-as {TAP_ASN}\n neighbor {tap} update-source {local}\n\
             \x20neighbor {tap} ebgp-multihop 2\n neighbor {tap} passive\n neighbor {tap} advertisement-interval 0\n\
             \x20address-family ipv4 unicast\n  neighbor {tap} route-map TAP4 out\n exit-address-family\n\
             \x20address-family ipv6 unicast\n  neighbor {k} activate\n  neighbor {tap} activate\n\
             \x20 neighbor {tap} route-map TAP6 out\n exit-address-family\n!\n",
                keel.port(),
            );
        prepare(&dir, &config)?;
        let mut daemon = Daemon::default();
        spawn(&mut daemon, &dir, local)?;
        Ok(FrrObserver { dir, _daemon: daemon, startup_ends: Instant::now() + STARTUP_WINDOW })
    }

    pub fn log_tail(&self) -> String {
        file_tail(&self.dir.join("bgpd.log"), 10)
    }
}

impl FrrUpstream {
    pub fn new(dir: PathBuf, local: Ipv4Addr, keel: SocketAddr, ipv4: usize, ipv6: usize) -> Result<FrrUpstream> {
        prepare(&dir, &config(local, keel, ipv4, ipv6, &dir))?;
        let stats: Arc<PeerStats> = Arc::default();
        let poller = {
            let (dir, stats, keel) = (dir.clone(), stats.clone(), keel.ip().to_string());
            Task(tokio::spawn(async move {
                loop {
                    let (d, k) = (dir.clone(), keel.clone());
                    let (up, routes) =
                        tokio::task::spawn_blocking(move || poll(&d, &k)).await.ok().flatten().unwrap_or_default();
                    stats.established.store(up, Ordering::Relaxed);
                    stats.routes.store(if up { routes } else { 0 }, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }))
        };
        Ok(FrrUpstream {
            dir,
            local,
            keel,
            daemon: Daemon::default(),
            stats,
            routes: (ipv4 + ipv6) as u64,
            _poller: poller,
            startup_ends: Instant::now(),
        })
    }

    fn start(&mut self) -> Result<()> {
        self.startup_ends = Instant::now() + STARTUP_WINDOW;
        spawn(&mut self.daemon, &self.dir, self.local)
    }

    /// Starts bgpd if it is not running (it sends R=1 after every start but the first,
    /// whatever `restarting` says) and waits for its session.
    pub async fn connect_and_feed(&mut self, _restarting: bool, deadline: Instant) -> Result<()> {
        if !self.daemon.running() {
            self.start()?;
        }
        // The poller may still show the state from before the disruption.
        tokio::time::sleep(Duration::from_millis(400)).await;
        while !self.stats.established.load(Ordering::Relaxed) {
            if Instant::now() > deadline || self.daemon.exited() {
                bail!(
                    "FRR did not establish its session with {}; bgpd.log ends with:\n{}",
                    self.keel,
                    file_tail(&self.dir.join("bgpd.log"), 10)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    pub fn ready(&self) -> bool {
        self.stats.established.load(Ordering::Relaxed) && self.stats.routes.load(Ordering::Relaxed) == self.routes
    }

    fn down(&self) {
        self.stats.established.store(false, Ordering::Relaxed);
        self.stats.routes.store(0, Ordering::Relaxed);
    }

    /// SIGTERM: bgpd sends Cease/Peer De-configured and exits; keeld, with the N bit, keeps
    /// its routes (RFC 8538 §2).
    pub async fn graceful_stop(&mut self) {
        self.daemon.signal(libc::SIGTERM);
        self.daemon.wait_exit(Duration::from_secs(10)).await;
        self.down();
    }

    pub async fn kill(&mut self) {
        self.daemon.signal(libc::SIGKILL);
        self.daemon.wait_exit(Duration::from_secs(5)).await;
        self.down();
    }

    /// `clear bgp KEEL`: Cease/Hard Reset in FRR 8.4 (`bgp hard-administrative-reset`). A
    /// bgpd busy with a large table may not take the command at once: it is repeated until
    /// FRR counts the session as dropped (up to 3 times, 5 s each).
    pub async fn reset(&mut self) {
        let dropped = || {
            let (dir, keel) = (self.dir.clone(), self.keel.ip().to_string());
            async move { tokio::task::spawn_blocking(move || dropped(&dir, &keel)).await.ok().flatten() }
        };
        let before = dropped().await;
        for _ in 0..3 {
            let (dir, keel) = (self.dir.clone(), self.keel.ip());
            let _ = tokio::task::spawn_blocking(move || vtysh(&dir, &format!("clear bgp {keel}"))).await;
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if before.is_none() || dropped().await.zip(before).is_some_and(|(a, b)| a > b) {
                    self.down();
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        self.down();
    }
}
