//! `keel lab --peer bird`: BIRD 2 as the upstream, in its own directory, feeding the generated
//! table's prefixes from static routes (blackhole, exported with next hop self; the table's
//! AS paths and communities are not reproduced). It restarts the way BIRD does: `birdc
//! graceful restart`, then `bird -R` (RFC 4724 §4.1, R=1); it crashes with SIGKILL; BIRD has no
//! N bit (RFC 8538), so `hard-reset` is `birdc restart`, a Cease/Administrative Reset that
//! keeld, without the N bit, must treat as non-graceful (RFC 4724 §4.2).
//!
//! A second BIRD is the observer ([`BirdObserver`]): a graceful-restart and LLGR helper for
//! keeld that passes its routes on to keel's speaker (the tap, see [`super::observer`]).

use super::peers::{PeerStats, UPSTREAM_RESTART_TIME};
use super::process::{Daemon, Task};
use super::roles::{DAEMON_UPSTREAM_ASN, KEELD_ASN, OBSERVER_ASN, TAP_ASN};
use crate::daemons::bird;
use anyhow::{bail, Context, Result};
use keel_tablegen::{Table, TableSpec};
use keel_wire::Family;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What BIRD logs in the lab.
const LOG: &str = "{ info, warning, error, fatal }";

pub struct BirdUpstream {
    dir: PathBuf,
    daemon: Daemon,
    pub stats: Arc<PeerStats>,
    routes: u64,
    _poller: Task,
}

fn config(local: Ipv4Addr, keel: SocketAddr, ipv4: usize, ipv6: usize, dir: &Path) -> String {
    let table = Table::generate(&TableSpec { seed: 1, ipv4_routes: ipv4, ipv6_routes: ipv6, peer: 0 });
    let mut c = bird::header(&local.to_string(), &dir.join("bird.log"), LOG, "");
    for (family, channel) in [(Family::IPV4_UNICAST, "ipv4"), (Family::IPV6_UNICAST, "ipv6")] {
        c.push_str(&format!("protocol static feed_{channel} {{\n  {channel};\n"));
        for g in table.family(family) {
            for n in &g.prefixes {
                c.push_str(&format!("  route {} blackhole;\n", n.prefix));
            }
        }
        c.push_str("}\n");
    }
    c.push_str(&format!(
        "protocol bgp keel {{\n  local {local} as {DAEMON_UPSTREAM_ASN};\n  neighbor {} port {} as {KEELD_ASN};\n  multihop;\n  strict bind on;\n\
         \x20 hold time 240;\n  connect delay time 1;\n  connect retry time 1;\n  error wait time 1, 2;\n\
         \x20 graceful restart on;\n  graceful restart time {UPSTREAM_RESTART_TIME};\n\
         \x20 long lived graceful restart on;\n  long lived stale time {};\n\
         \x20 ipv4 {{ import none; export all; next hop self; }};\n\
         \x20 ipv6 {{ import none; export all; next hop address 2001:db8::1; }};\n}}\n",
        keel.ip(),
        keel.port(),
        super::peers::LONG_LIVED_STALE_TIME
    ));
    c
}

fn birdc(dir: &Path, command: &str) -> Result<String> {
    let (_, out, _) = bird::birdc(&dir.join("bird.ctl"), command).context("cannot run birdc")?;
    Ok(out)
}

/// Session state and exported routes from `show protocols all keel`.
fn poll(dir: &Path) -> Option<(bool, u64)> {
    let text = birdc(dir, "show protocols all keel").ok()?;
    let established = text.lines().any(|l| l.trim_start().starts_with("BGP state:") && l.contains("Established"));
    let exported: u64 = text
        .lines()
        .filter(|l| l.trim_start().starts_with("Routes:"))
        .filter_map(|l| l.split(',').nth(1)?.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Some((established, exported))
}

fn require() -> Result<()> {
    if Command::new("bird").arg("--version").output().is_err() {
        bail!("--peer bird: bird is not installed (apt-get install -y --no-install-recommends bird2)");
    }
    if !super::process::is_root() {
        bail!("--peer bird needs root (BIRD listens on port 179 of its address)");
    }
    Ok(())
}

fn spawn(daemon: &mut Daemon, dir: &Path, recovery: bool) -> Result<()> {
    let mut command = bird::command(dir, recovery);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    daemon.spawn(command, "bird", dir)
}

/// BIRD observing keeld: a helper for keeld's graceful restart (RFC 4724 §4.2) and LLGR
/// (RFC 9494 §4.2) that exports everything to the tap, which counts what leaves its table.
pub struct BirdObserver {
    dir: PathBuf,
    _daemon: Daemon,
}

impl BirdObserver {
    pub fn start(dir: PathBuf, local: Ipv4Addr, keel: SocketAddr, tap: Ipv4Addr) -> Result<BirdObserver> {
        require()?;
        std::fs::create_dir_all(&dir)?;
        let stale = super::peers::LONG_LIVED_STALE_TIME;
        let config = bird::header(&local.to_string(), &dir.join("bird.log"), LOG, "")
            + &format!(
                "protocol bgp keel {{\n  local {local} as {OBSERVER_ASN};\n  neighbor {} port {} as {KEELD_ASN};\n  multihop;\n  strict bind on;\n\
             \x20 hold time 240;\n  connect delay time 1;\n  connect retry time 1;\n  error wait time 1, 2;\n\
             \x20 graceful restart on;\n  long lived graceful restart on;\n  long lived stale time {stale};\n\
             \x20 ipv4 {{ import all; export none; }};\n  ipv6 {{ import all; export none; }};\n}}\n\
             protocol bgp tap {{\n  local {local} as {OBSERVER_ASN};\n  neighbor {tap} as {TAP_ASN};\n  multihop;\n  strict bind on;\n  passive on;\n\
             \x20 graceful restart on;\n  long lived graceful restart on;\n  long lived stale time {stale};\n\
             \x20 ipv4 {{ import none; export all; next hop self; }};\n\
             \x20 ipv6 {{ import none; export all; next hop address 2001:db8::3; }};\n}}\n",
                keel.ip(),
                keel.port(),
            );
        std::fs::write(dir.join("bird.conf"), config)?;
        let mut daemon = Daemon::default();
        spawn(&mut daemon, &dir, false)?;
        Ok(BirdObserver { dir, _daemon: daemon })
    }

    pub fn log_tail(&self) -> String {
        super::process::file_tail(&self.dir.join("bird.log"), 10)
    }
}

impl BirdUpstream {
    pub fn new(dir: PathBuf, local: Ipv4Addr, keel: SocketAddr, ipv4: usize, ipv6: usize) -> Result<BirdUpstream> {
        require()?;
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("bird.conf"), config(local, keel, ipv4, ipv6, &dir))?;
        let stats: Arc<PeerStats> = Arc::default();
        let poller = {
            let (dir, stats) = (dir.clone(), stats.clone());
            Task(tokio::spawn(async move {
                loop {
                    let d = dir.clone();
                    if let Ok(Some((up, routes))) = tokio::task::spawn_blocking(move || poll(&d)).await {
                        stats.established.store(up, Ordering::Relaxed);
                        stats.routes.store(if up { routes } else { 0 }, Ordering::Relaxed);
                    } else {
                        stats.established.store(false, Ordering::Relaxed);
                        stats.routes.store(0, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }))
        };
        Ok(BirdUpstream { dir, daemon: Daemon::default(), stats, routes: (ipv4 + ipv6) as u64, _poller: poller })
    }

    fn start(&mut self, recovery: bool) -> Result<()> {
        spawn(&mut self.daemon, &self.dir, recovery)
    }

    /// Waits for BIRD's exit (up to `timeout`, then SIGKILL) and reaps it.
    async fn wait_exit(&mut self, timeout: Duration) {
        self.daemon.wait_exit(timeout).await;
        self.stats.established.store(false, Ordering::Relaxed);
        self.stats.routes.store(0, Ordering::Relaxed);
    }

    /// Starts BIRD if it is not running (`-R` when `restarting`) and waits for its session.
    pub async fn connect_and_feed(&mut self, restarting: bool, deadline: Instant) -> Result<()> {
        if !self.daemon.running() {
            self.start(restarting)?;
        }
        // The poller may still show the state from before the disruption.
        tokio::time::sleep(Duration::from_millis(400)).await;
        while !self.stats.established.load(Ordering::Relaxed) {
            if Instant::now() > deadline {
                let tail = super::process::file_tail(&self.dir.join("bird.log"), 10);
                bail!("BIRD did not establish its session; bird.log ends with:\n{tail}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    pub fn ready(&self) -> bool {
        self.stats.established.load(Ordering::Relaxed) && self.stats.routes.load(Ordering::Relaxed) == self.routes
    }

    /// `birdc graceful restart`: BIRD leaves so that helpers keep its routes.
    pub async fn graceful_stop(&mut self) {
        let dir = self.dir.clone();
        let _ = tokio::task::spawn_blocking(move || birdc(&dir, "graceful restart")).await;
        self.wait_exit(Duration::from_secs(10)).await;
    }

    pub async fn kill(&mut self) {
        self.daemon.signal(libc::SIGKILL);
        self.wait_exit(Duration::from_secs(5)).await;
    }

    /// BIRD has no N bit: `birdc restart keel` sends Cease/Administrative Reset.
    pub async fn reset(&mut self) {
        let dir = self.dir.clone();
        let _ = tokio::task::spawn_blocking(move || birdc(&dir, "restart keel")).await;
        self.stats.established.store(false, Ordering::Relaxed);
    }
}
