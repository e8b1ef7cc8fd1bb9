//! `keel lab --peer gobgp`: gobgpd as the upstream, its API on UPSTREAM:50051. The generated
//! table (prefixes and their attributes, AS paths and communities included) is written once as
//! an MRT TABLE_DUMP_V2 file (RFC 6396 §4.3) and loaded with `gobgp mrt inject global` while
//! the neighbor is still `admin-down`, then the neighbor is enabled: so after a restart the
//! whole table is in GoBGP's RIB before it opens the session (one `gobgp global rib add` per
//! route would take minutes). GR with the N bit and F=1, restart time
//! [`UPSTREAM_RESTART_TIME`], LLGR. `peer-restart` kills gobgpd (a TCP loss to keeld) and
//! starts it with `-r` (R=1, RFC 4724 §4.1, only when keeld has GR); `llgr` kills it and
//! waits; `hard-reset` is refused (see [`GoBgpUpstream::reset`]).
//!
//! A second gobgpd is the observer ([`GoBgpObserver`]): a graceful-restart and LLGR helper for
//! keeld that passes its routes on to keel's speaker (the tap, see [`super::observer`]).

use super::peers::{PeerStats, LONG_LIVED_STALE_TIME, UPSTREAM_RESTART_TIME};
use super::process::{file_tail, Daemon, Task};
use super::roles::{DAEMON_UPSTREAM_ASN, KEELD_ASN, OBSERVER_ASN, TAP_ASN};
use anyhow::{bail, Context, Result};
use keel_tablegen::{Table, TableSpec};
use keel_wire::{builder, CodecOptions, Family};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct GoBgpUpstream {
    dir: PathBuf,
    local: Ipv4Addr,
    keel: SocketAddr,
    daemon: Daemon,
    /// Whether keeld has graceful restart: gobgpd gets `-r` only then (a restarting gobgpd
    /// sends nothing to a peer without GR for longer than the lab waits).
    keel_graceful_restart: bool,
    pub stats: Arc<PeerStats>,
    routes: u64,
    _poller: Task,
}

/// A neighbor's families, both with graceful restart and LLGR.
fn families() -> String {
    ["ipv4-unicast", "ipv6-unicast"]
        .map(|name| {
            format!(
                "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"{name}\"\n\
                 \x20   [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true\n\
                 \x20   [neighbors.afi-safis.long-lived-graceful-restart.config]\n      enabled = true\n\
                 \x20     restart-time = {LONG_LIVED_STALE_TIME}\n"
            )
        })
        .concat()
}

fn config(local: Ipv4Addr, keel: SocketAddr) -> String {
    format!(
        "{global}[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{k}\"\n    peer-as = {KEELD_ASN}\n    admin-down = true\n\
         \x20 [neighbors.timers.config]\n    hold-time = 30\n    keepalive-interval = 10\n    connect-retry = 1\n    idle-hold-time-after-reset = 1\n\
         \x20 [neighbors.transport.config]\n    local-address = \"{local}\"\n    remote-port = {port}\n\
         \x20 [neighbors.ebgp-multihop.config]\n    enabled = true\n    multihop-ttl = 2\n\
         \x20 [neighbors.graceful-restart.config]\n    enabled = true\n    restart-time = {UPSTREAM_RESTART_TIME}\n\
         \x20   notification-enabled = true\n    long-lived-enabled = true\n{}",
        families(),
        global = crate::daemons::gobgp::global(DAEMON_UPSTREAM_ASN, &local.to_string(), 179, &local.to_string()),
        k = keel.ip(),
        port = keel.port(),
    )
}

fn mrt_record(out: &mut Vec<u8>, subtype: u16, body: &[u8]) {
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&13u16.to_be_bytes()); // TABLE_DUMP_V2
    out.extend_from_slice(&subtype.to_be_bytes());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
}

/// The table as MRT TABLE_DUMP_V2 (RFC 6396 §4.3): a PEER_INDEX_TABLE with one peer, then one
/// RIB_IPV4_UNICAST or RIB_IPV6_UNICAST record per prefix. Each entry's attributes are those
/// of a one-prefix UPDATE (4-octet AS_PATH, §4.3.4); IPv6 entries keep the whole
/// MP_REACH_NLRI rather than §4.3.4's next hop alone (GoBGP decodes that form).
pub fn mrt(ipv4: usize, ipv6: usize, local: Ipv4Addr) -> Result<Vec<u8>> {
    let table = Table::generate(&TableSpec { seed: 1, ipv4_routes: ipv4, ipv6_routes: ipv6, peer: 0 });
    let mut out = Vec::new();
    let mut index = Vec::new();
    index.extend_from_slice(&local.octets()); // collector BGP ID
    index.extend_from_slice(&0u16.to_be_bytes()); // no view name
    index.extend_from_slice(&1u16.to_be_bytes());
    index.push(0x02); // IPv4 peer address, 4-octet AS
    index.extend_from_slice(&local.octets());
    index.extend_from_slice(&local.octets());
    index.extend_from_slice(&table.peer_as.to_be_bytes());
    mrt_record(&mut out, 1, &index);
    let start = out.len();
    let opts = CodecOptions::default();
    let mut sequence = 0u32;
    let mut update = Vec::new();
    for (family, subtype) in [(Family::IPV4_UNICAST, 2u16), (Family::IPV6_UNICAST, 4)] {
        for g in table.family(family) {
            for n in &g.prefixes {
                update.clear();
                builder::announce(family, &g.attributes, g.next_hop, std::slice::from_ref(n), &opts, &mut update)?;
                // Header (19), withdrawn routes length (2, zero), path attribute length (2).
                let attr_len = update.get(21..23).map(|b| u16::from_be_bytes([b[0], b[1]]) as usize).unwrap_or(0);
                let attrs = update.get(23..23 + attr_len).context("short UPDATE from the builder")?;
                let mut body = Vec::with_capacity(attrs.len() + 32);
                body.extend_from_slice(&sequence.to_be_bytes());
                let len = n.prefix.len();
                body.push(len);
                let addr = match n.prefix.addr() {
                    std::net::IpAddr::V4(a) => a.octets().to_vec(),
                    std::net::IpAddr::V6(a) => a.octets().to_vec(),
                };
                body.extend_from_slice(&addr[..usize::from(len).div_ceil(8)]);
                body.extend_from_slice(&1u16.to_be_bytes());
                body.extend_from_slice(&0u16.to_be_bytes()); // peer index
                body.extend_from_slice(&0u32.to_be_bytes()); // originated
                body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
                body.extend_from_slice(attrs);
                mrt_record(&mut out, subtype, &body);
                sequence += 1;
            }
        }
    }
    // `gobgp mrt inject` (GoBGP 3.10) ends its stream before gobgpd has read the tail of it:
    // the last few hundred routes go missing. The table is written twice, so only the second
    // copy loses routes.
    out.extend_from_within(start..);
    Ok(out)
}

fn gobgp(local: Ipv4Addr, args: &[&str]) -> Result<(bool, String)> {
    let out = crate::daemons::gobgp::cli_command(&local.to_string(), None, args)
        .stdin(Stdio::null())
        .output()
        .context("cannot run gobgp")?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Ok((out.status.success(), text))
}

/// Whether the session with keeld is established, and the routes advertised on it, from
/// `gobgp neighbor KEEL -j`.
fn poll(local: Ipv4Addr, keel: &str) -> Option<(bool, u64)> {
    let (ok, text) = gobgp(local, &["neighbor", keel, "-j"]).ok()?;
    if !ok {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    // apipb.PeerState.SessionState: 6 is ESTABLISHED.
    let established = v["state"]["session_state"] == 6;
    let advertised =
        v["afi_safis"].as_array().map_or(0, |a| a.iter().filter_map(|f| f["state"]["advertised"].as_u64()).sum());
    Some((established, advertised))
}

/// Routes in GoBGP's global RIB, from `gobgp global rib summary`.
fn rib_routes(local: Ipv4Addr) -> u64 {
    ["ipv4", "ipv6"]
        .iter()
        .filter_map(|afi| gobgp(local, &["global", "rib", "summary", "-a", afi]).ok())
        .filter_map(|(_, text)| {
            let at = text.find("Destination:")?;
            text[at + 12..].split(',').next()?.trim().parse::<u64>().ok()
        })
        .sum()
}

/// Loads the table into GoBGP's global RIB, then enables the neighbor. `gobgp mrt inject`
/// loses the tail of the file (see [`mrt`]): it is checked and injected again until the RIB
/// holds every route (injecting a route again replaces it).
fn inject(local: Ipv4Addr, dir: &std::path::Path, keel: &str, routes: u64) -> Result<()> {
    let mrt = dir.join("table.mrt").display().to_string();
    let mut held = 0;
    for _ in 0..5 {
        let (ok, text) = gobgp(local, &["mrt", "inject", "global", &mrt])?;
        if !ok {
            bail!("gobgp mrt inject: {text}");
        }
        std::thread::sleep(Duration::from_millis(200));
        held = rib_routes(local);
        if held == routes {
            let (ok, text) = gobgp(local, &["neighbor", keel, "enable"])?;
            if !ok {
                bail!("gobgp neighbor {keel} enable: {text}");
            }
            return Ok(());
        }
    }
    bail!("gobgp mrt inject: GoBGP holds {held} of {routes} routes after 5 attempts")
}

fn require() -> Result<()> {
    if Command::new("gobgpd").arg("--version").output().is_err()
        || Command::new("gobgp").arg("--version").output().is_err()
    {
        bail!("--peer gobgp: gobgpd or gobgp is not installed (apt-get install -y --no-install-recommends gobgpd)");
    }
    if !super::process::is_root() {
        bail!("--peer gobgp needs root (gobgpd listens on port 179 of its address)");
    }
    Ok(())
}

/// Starts gobgpd with DIR/gobgp.toml, its API on LOCAL:50051, its log in DIR/gobgpd.log.
fn spawn(daemon: &mut Daemon, dir: &std::path::Path, local: Ipv4Addr, restarting: bool) -> Result<()> {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("gobgpd.log"))?;
    // Two gobgpds run at once (upstream and observer): the driver's has no pprof listener.
    let mut command = crate::daemons::gobgp::command(&dir.join("gobgp.toml"), &local.to_string(), restarting);
    command.stdout(log.try_clone()?).stderr(log);
    daemon.spawn(command, "gobgpd", dir)
}

/// gobgpd observing keeld: a helper for keeld's graceful restart (RFC 4724 §4.2) and LLGR
/// (RFC 9494 §4.2) that passes every route on to the tap, which counts what leaves its RIB.
pub struct GoBgpObserver {
    dir: PathBuf,
    _daemon: Daemon,
}

impl GoBgpObserver {
    pub fn start(dir: PathBuf, local: Ipv4Addr, keel: SocketAddr, tap: Ipv4Addr) -> Result<GoBgpObserver> {
        require()?;
        std::fs::create_dir_all(&dir)?;
        let config = format!(
            "{global}[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{k}\"\n    peer-as = {KEELD_ASN}\n\
             \x20 [neighbors.timers.config]\n    hold-time = 30\n    keepalive-interval = 10\n    connect-retry = 1\n    idle-hold-time-after-reset = 1\n\
             \x20 [neighbors.transport.config]\n    local-address = \"{local}\"\n    remote-port = {port}\n\
             \x20 [neighbors.ebgp-multihop.config]\n    enabled = true\n    multihop-ttl = 2\n\
             \x20 [neighbors.graceful-restart.config]\n    enabled = true\n    restart-time = 120\n\
             \x20   notification-enabled = true\n    long-lived-enabled = true\n{families}\
             [[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{tap}\"\n    peer-as = {tap_asn}\n\
             \x20 [neighbors.timers.config]\n    hold-time = 30\n    keepalive-interval = 10\n    connect-retry = 1\n    idle-hold-time-after-reset = 1\n\
             \x20 [neighbors.transport.config]\n    local-address = \"{local}\"\n    passive-mode = true\n\
             \x20 [neighbors.ebgp-multihop.config]\n    enabled = true\n    multihop-ttl = 2\n\
             \x20 [neighbors.graceful-restart.config]\n    enabled = true\n    restart-time = 120\n\
             \x20   notification-enabled = true\n    long-lived-enabled = true\n{families}",
            global = crate::daemons::gobgp::global(OBSERVER_ASN, &local.to_string(), 179, &local.to_string()),
            tap_asn = TAP_ASN,
            k = keel.ip(),
            port = keel.port(),
            families = families(),
        );
        std::fs::write(dir.join("gobgp.toml"), config)?;
        let mut daemon = Daemon::default();
        spawn(&mut daemon, &dir, local, false)?;
        Ok(GoBgpObserver { dir, _daemon: daemon })
    }

    pub fn log_tail(&self) -> String {
        file_tail(&self.dir.join("gobgpd.log"), 10)
    }
}

impl GoBgpUpstream {
    pub fn new(
        dir: PathBuf,
        local: Ipv4Addr,
        keel: SocketAddr,
        (ipv4, ipv6): (usize, usize),
        keel_graceful_restart: bool,
    ) -> Result<GoBgpUpstream> {
        require()?;
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("gobgp.toml"), config(local, keel))?;
        std::fs::write(dir.join("table.mrt"), mrt(ipv4, ipv6, local)?)?;
        let stats: Arc<PeerStats> = Arc::default();
        let poller = {
            let (stats, keel) = (stats.clone(), keel.ip().to_string());
            Task(tokio::spawn(async move {
                loop {
                    let k = keel.clone();
                    let (up, routes) =
                        tokio::task::spawn_blocking(move || poll(local, &k)).await.ok().flatten().unwrap_or_default();
                    stats.established.store(up, Ordering::Relaxed);
                    stats.routes.store(if up { routes } else { 0 }, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }))
        };
        Ok(GoBgpUpstream {
            dir,
            local,
            keel,
            daemon: Daemon::default(),
            keel_graceful_restart,
            stats,
            routes: (ipv4 + ipv6) as u64,
            _poller: poller,
        })
    }

    /// Starts gobgpd (`-r` when `restarting`), waits for its API, loads the table and
    /// enables the neighbor.
    async fn start(&mut self, restarting: bool, deadline: Instant) -> Result<()> {
        spawn(&mut self.daemon, &self.dir, self.local, restarting && self.keel_graceful_restart)?;
        let local = self.local;
        loop {
            let up =
                tokio::task::spawn_blocking(move || crate::daemons::gobgp::api_up(&local.to_string(), None)).await?;
            if up.is_ok() {
                break;
            }
            if Instant::now() > deadline || self.daemon.exited() {
                bail!("gobgpd's API did not answer; gobgpd.log ends with:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (dir, keel, routes) = (self.dir.clone(), self.keel.ip().to_string(), self.routes);
        tokio::task::spawn_blocking(move || inject(local, &dir, &keel, routes)).await??;
        Ok(())
    }

    fn log_tail(&self) -> String {
        file_tail(&self.dir.join("gobgpd.log"), 10)
    }

    /// Starts gobgpd if it is not running and waits for its session.
    pub async fn connect_and_feed(&mut self, restarting: bool, deadline: Instant) -> Result<()> {
        if !self.daemon.running() {
            self.start(restarting, deadline).await?;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        while !self.stats.established.load(Ordering::Relaxed) {
            if Instant::now() > deadline || self.daemon.exited() {
                bail!(
                    "GoBGP did not establish its session with {}; gobgpd.log ends with:\n{}",
                    self.keel,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// GoBGP's `advertised` counter counts each family's End-of-RIB too: at least the table.
    pub fn ready(&self) -> bool {
        self.stats.established.load(Ordering::Relaxed) && self.stats.routes.load(Ordering::Relaxed) >= self.routes
    }

    fn down(&self) {
        self.stats.established.store(false, Ordering::Relaxed);
        self.stats.routes.store(0, Ordering::Relaxed);
    }

    /// gobgpd has no graceful shutdown that keeps helpers' routes: SIGKILL, a TCP loss.
    pub async fn kill(&mut self) {
        self.daemon.signal(libc::SIGKILL);
        self.daemon.wait_exit(Duration::from_secs(5)).await;
        self.down();
    }

    /// `gobgp neighbor KEEL reset` (unused: `keel lab` refuses `hard-reset` with GoBGP): GoBGP
    /// 3.10 sends Cease/Administrative Reset, not a Hard Reset (RFC 8538 §3), and then does not
    /// reconnect within 30 s, even after `disable` and `enable`.
    pub async fn reset(&mut self) {
        let keel = self.keel.ip().to_string();
        let local = self.local;
        let _ = tokio::task::spawn_blocking(move || gobgp(local, &["neighbor", &keel, "reset"])).await;
        self.down();
    }
}
