//! keeld's top level: starts the RIB task, one task per neighbor, the BGP listeners, the API
//! and metrics servers; reloads the configuration on SIGHUP or `keel reload`; stops on
//! SIGTERM or `keel stop`.
//!
//! ```text
//!  listener --TcpStream--> neighbor task --UPDATE--> RIB task --bytes--> neighbor writer
//!                              ^   |                     ^
//!  API (Unix socket) ----------+---+---------------------+   metrics (TCP, optional)
//! ```

use crate::config::Config;
use crate::events::{FibCommand, ForwardingState, Network, RestartState, RibEvent};
use crate::fib_task::FibTask;
use crate::neighbor::task::{self, Command, NeighborHandle, StopKind};
use crate::neighbor::transport;
use crate::neighbor::NeighborConfig;
use crate::rib_task::RibTask;
use crate::{api, metrics::Metrics};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, RwLock};
use tracing::{error, info, warn};

/// Depth of the queue into the RIB task, in events (an UPDATE each).
const RIB_QUEUE: usize = 1024;

pub struct Daemon {
    pub config_path: Option<PathBuf>,
    pub config: RwLock<Config>,
    pub neighbors: RwLock<BTreeMap<IpAddr, NeighborHandle>>,
    pub rib: mpsc::Sender<RibEvent>,
    pub metrics: Arc<Metrics>,
    pub started: Instant,
    listeners: RwLock<Vec<Arc<TcpListener>>>,
    shutdown: watch::Sender<Option<StopKind>>,
    /// The GR F bit keel advertises (RFC 4724 §3).
    forwarding: ForwardingState,
    /// The GR R bit keel advertises while it restarts (RFC 4724 §4.1).
    restarting: RestartState,
    /// `keel restart`: after the graceful stop, run the (possibly new) keeld binary again.
    pub reexec: std::sync::atomic::AtomicBool,
    /// Fingerprints of each neighbor's import and export chains as the RIB task has them.
    policy_fingerprints: RwLock<BTreeMap<IpAddr, (u64, u64)>>,
    /// Who may change keeld through the API (`[global] api_group`).
    pub api_access: crate::access::Admins,
}

pub fn networks(config: &Config) -> Vec<Network> {
    config
        .networks
        .iter()
        .filter_map(|n| {
            Some(Network {
                prefix: n.prefix.get_ref().parse().ok()?,
                next_hop: n.next_hop,
                communities: n.communities.iter().filter_map(|c| c.get_ref().parse().ok()).collect(),
            })
        })
        .collect()
}

impl Daemon {
    /// Runs keeld until it is told to stop; `Ok(true)` when it should run again (`keel
    /// restart`). Errors only for what prevents starting at all.
    pub async fn run(config: Config, config_path: Option<PathBuf>) -> anyhow::Result<bool> {
        let (rib, rib_rx) = mpsc::channel(RIB_QUEUE);
        let metrics = Arc::new(Metrics::default());
        // keeld restarts when it ran before (its state file is there) and is a restarting
        // speaker: R=1 and selection deferral until End-of-RIB (RFC 4724 §4.1).
        let previous = read_state(&config);
        let gr = &config.graceful_restart;
        let restart = previous.is_some() && gr.mode == crate::config::GrMode::Restart;
        if let Some(p) = &previous {
            info!(clean_exit = p.clean_exit, seconds_ago = p.seconds_ago, restart, "previous run found");
        }
        let started = Instant::now();
        let restarting: RestartState = Arc::new(std::sync::atomic::AtomicBool::new(restart));
        let deferral = restart.then(|| std::time::Duration::from_secs(gr.selection_deferral_time.into()));
        // Without a FIB keel is not in the forwarding path: a restart of keel cannot disturb
        // forwarding. With one, the FIB task says whether routes survived (RFC 4724 §3).
        let forwarding: ForwardingState = Arc::new(std::sync::atomic::AtomicBool::new(!config.fib.enabled));
        let fib = if config.fib.enabled {
            let tx = match config.fib.backend {
                crate::config::FibBackend::Kernel => {
                    let f = keel_fib::NetlinkFib::new(config.fib.table, config.fib.protocol)
                        .map_err(|e| anyhow::anyhow!("cannot open the kernel FIB: {e}"))?;
                    start_fib(f, &rib, &forwarding, &metrics).await
                }
                crate::config::FibBackend::Memory => {
                    let path = config.global.state_dir.join("fib.journal");
                    let _ = std::fs::create_dir_all(&config.global.state_dir);
                    let f = keel_fib::JournalFib::open(&path)
                        .map_err(|e| anyhow::anyhow!("cannot open the in-memory FIB {}: {e}", path.display()))?;
                    start_fib(f, &rib, &forwarding, &metrics).await
                }
            };
            info!(table = config.fib.table, protocol = config.fib.protocol, backend = ?config.fib.backend, "FIB enabled");
            Some(tx)
        } else {
            None
        };
        let router_id = *config.global.router_id.get_ref();
        let options = keel_rib::decision::Options {
            always_compare_med: config.global.always_compare_med,
            max_paths: config.global.max_paths.max(1) as usize,
        };
        let (deferral_ended, deferral_ended_rx) = tokio::sync::oneshot::channel();
        let rib_task = RibTask::new(
            *config.global.asn.get_ref(),
            router_id,
            config.global.cluster_id.unwrap_or(router_id),
            options,
            networks(&config),
            fib.clone(),
        )
        .with_deferral(
            deferral,
            restarting.clone(),
            config.neighbors.iter().map(|n| *n.address.get_ref()).collect(),
            Some(deferral_ended),
        )
        .with_rpki(crate::rpki::Rpki::start(&config.rpki, *config.global.asn.get_ref()))
        // Kernel routes of an earlier run are kept while the RIB converges: until the
        // deferral ends when keel restarts, else for up to the selection deferral time; with
        // graceful restart disabled they go at once.
        .with_inherited_hold(match gr.mode {
            crate::config::GrMode::Disabled => std::time::Duration::ZERO,
            _ => std::time::Duration::from_secs(gr.selection_deferral_time.into()),
        });
        tokio::spawn(rib_task.run(rib_rx));
        let (shutdown, mut shutdown_rx) = watch::channel(None);
        let daemon = Arc::new(Daemon {
            config_path,
            config: RwLock::new(config.clone()),
            neighbors: RwLock::new(BTreeMap::new()),
            rib,
            metrics: metrics.clone(),
            started,
            listeners: RwLock::new(Vec::new()),
            shutdown,
            forwarding: forwarding.clone(),
            restarting: restarting.clone(),
            reexec: std::sync::atomic::AtomicBool::new(false),
            policy_fingerprints: RwLock::new(BTreeMap::new()),
            api_access: crate::access::Admins::new(config.global.api_gid),
        });
        write_state(&config, false);
        // The restart's length, for `keel check`: from the previous keeld's exit record to the
        // end of this one's selection deferral. Only a clean exit recorded when it happened.
        let measured = previous.as_ref().filter(|p| restart && p.clean_exit).map(|p| p.seconds_ago);
        let state_dir = config.global.state_dir.clone();
        tokio::spawn(async move {
            if let (Ok(()), Some(down)) = (deferral_ended_rx.await, measured) {
                let seconds = down + started.elapsed().as_secs();
                info!(seconds, "restart measured (previous exit to end of selection deferral)");
                update_state(&state_dir, serde_json::json!({ "last_restart_seconds": seconds }));
            }
        });

        // BGP listeners.
        for addr in &config.global.listen {
            let addr = *addr.get_ref();
            let l = Arc::new(transport::listen(addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?);
            info!(%addr, "listening for BGP");
            daemon.listeners.write().await.push(l.clone());
            tokio::spawn(accept_loop(daemon.clone(), l));
        }
        // API.
        let api_path = config.global.api.clone();
        let api_listener = bind_api(&api_path, config.global.api_gid)
            .map_err(|e| anyhow::anyhow!("cannot bind API socket {}: {e}", api_path.display()))?;
        info!(path = %api_path.display(), group = %daemon.api_access.group, "API listening");
        tokio::spawn({
            let router = api::router(daemon.clone());
            async move {
                // Each connection carries its peer's credentials to the handlers (api::guard).
                let service = router.into_make_service_with_connect_info::<crate::access::PeerCredentials>();
                if let Err(e) = axum::serve(api_listener, service).await {
                    error!(error = %e, "API server failed");
                }
            }
        });
        // Metrics.
        if let Some(addr) = config.global.metrics {
            let l = TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot bind metrics {addr}: {e}"))?;
            info!(%addr, "metrics listening");
            let d = daemon.clone();
            let router = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let d = d.clone();
                    async move {
                        let counts = api::peer_counts(&d).await;
                        let restarting = d.restarting.load(std::sync::atomic::Ordering::Relaxed);
                        d.metrics.render(&counts, restarting)
                    }
                }),
            );
            tokio::spawn(async move {
                let _ = axum::serve(l, router).await;
            });
        }
        // Neighbors, their policies first.
        daemon.set_policies(&config).await;
        for n in NeighborConfig::from_config(&config) {
            daemon.add_neighbor(n).await;
        }
        // Signals.
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let kind = loop {
            tokio::select! {
                _ = hup.recv() => match daemon.reload().await {
                    Ok(s) => info!(summary = %s, "configuration reloaded (SIGHUP)"),
                    Err(e) => error!(error = %e, "reload refused; the running configuration stays"),
                },
                _ = term.recv() => break StopKind::Graceful,
                _ = tokio::signal::ctrl_c() => break StopKind::Graceful,
                _ = shutdown_rx.changed() => if let Some(k) = *shutdown_rx.borrow() { break k },
            }
        };
        info!(?kind, "stopping");
        // Kernel routes stay for a graceful restart (RFC 4724 §4.1); otherwise they go.
        let mode = daemon.config.read().await.graceful_restart.mode;
        let graceful = kind == StopKind::Graceful && mode == crate::config::GrMode::Restart;
        if let (Some(fib), true) = (&fib, graceful) {
            let (done, rx) = tokio::sync::oneshot::channel();
            if fib.send(FibCommand::Freeze(done)).await.is_ok() {
                let _ = rx.await;
            }
        }
        let handles: Vec<NeighborHandle> = daemon.neighbors.read().await.values().cloned().collect();
        let mut waits = Vec::new();
        for h in handles {
            let (done, rx) = tokio::sync::oneshot::channel();
            if h.commands.send(Command::Shutdown { kind, done }).await.is_ok() {
                waits.push(rx);
            }
        }
        for w in waits {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), w).await;
        }
        if let (Some(fib), false) = (&fib, graceful) {
            let (done, rx) = tokio::sync::oneshot::channel();
            if fib.send(FibCommand::Flush(done)).await.is_ok() {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(30), rx).await;
            }
        }
        let _ = std::fs::remove_file(&api_path);
        write_state(&*daemon.config.read().await, true);
        Ok(daemon.reexec.load(std::sync::atomic::Ordering::Relaxed))
    }

    pub fn request_shutdown(&self, kind: StopKind) {
        let _ = self.shutdown.send(Some(kind));
    }

    /// Sends the RIB task every neighbor's import and export chains that differ from what it
    /// has (all of them at start); it re-evaluates routes without a session reset.
    async fn set_policies(&self, config: &Config) -> usize {
        let mut changed = 0;
        let mut known = self.policy_fingerprints.write().await;
        known.retain(|a, _| config.neighbors.iter().any(|n| n.address.get_ref() == a));
        for n in &config.neighbors {
            let (import, export) = config.neighbor_policy(n);
            let fps = (import.fingerprint, export.fingerprint);
            let address = *n.address.get_ref();
            if known.insert(address, fps) == Some(fps) {
                continue;
            }
            let ev = RibEvent::SetPolicy {
                address,
                import: import.chain,
                export: export.chain,
                import_fingerprint: fps.0,
                export_fingerprint: fps.1,
            };
            let _ = self.rib.send(ev).await;
            changed += 1;
        }
        changed
    }

    async fn add_neighbor(&self, n: NeighborConfig) {
        self.set_md5(&n).await;
        self.metrics.neighbor_added();
        let h =
            task::spawn(n, self.rib.clone(), self.metrics.clone(), self.forwarding.clone(), self.restarting.clone());
        self.neighbors.write().await.insert(h.config.address, h);
    }

    /// TCP MD5 keys live on the listening sockets too (RFC 2385), per neighbor address.
    async fn set_md5(&self, n: &NeighborConfig) {
        for l in self.listeners.read().await.iter() {
            let local_v4 = l.local_addr().map(|a| a.is_ipv4()).unwrap_or(true);
            if local_v4 != n.address.is_ipv4() {
                continue;
            }
            let key = n.password.as_deref().unwrap_or("").as_bytes();
            if let Err(e) = transport::set_md5(&SocketFd(l.as_raw_fd()), n.address, key) {
                if !key.is_empty() {
                    warn!(neighbor = %n.address, error = %e, "cannot set TCP MD5 key on listener");
                }
            }
        }
    }

    /// Re-reads the configuration file: unchanged neighbors keep their sessions, changed ones
    /// restart, removed ones get Cease/Peer De-configured, new ones start. A broken file
    /// changes nothing.
    pub async fn reload(&self) -> Result<String, String> {
        let Some(path) = &self.config_path else {
            return Err("keeld runs on its embedded default configuration; nothing to reload".into());
        };
        let new = Config::load(path).map_err(|e| e.to_string())?;
        let old = self.config.read().await.clone();
        if new.global.asn.get_ref() != old.global.asn.get_ref()
            || new.global.router_id.get_ref() != old.global.router_id.get_ref()
            || new.global.listen.iter().map(|a| *a.get_ref()).collect::<Vec<SocketAddr>>()
                != old.global.listen.iter().map(|a| *a.get_ref()).collect::<Vec<SocketAddr>>()
            || new.global.api != old.global.api
            || new.global.api_gid != old.global.api_gid
        {
            return Err(
                "changes to global asn, router_id, listen, api or api_group need a restart (keel restart)".into()
            );
        }
        let wanted: BTreeMap<IpAddr, NeighborConfig> =
            NeighborConfig::from_config(&new).into_iter().map(|n| (n.address, n)).collect();
        // Policies before sessions: a restarted or new neighbor comes up with its new chains.
        let policies = self.set_policies(&new).await;
        let (mut kept, mut changed, mut removed, mut added) = (0, 0, 0, 0);
        let current: Vec<(IpAddr, NeighborHandle)> =
            self.neighbors.read().await.iter().map(|(a, h)| (*a, h.clone())).collect();
        for (addr, h) in current {
            match wanted.get(&addr) {
                Some(n) if *n == h.config => kept += 1,
                other => {
                    let kind = if other.is_some() { StopKind::ConfigChange } else { StopKind::Deconfigured };
                    let (done, rx) = tokio::sync::oneshot::channel();
                    let _ = h.commands.send(Command::Shutdown { kind, done }).await;
                    let _ = rx.await;
                    self.metrics.neighbor_removed(h.status.borrow().state);
                    self.neighbors.write().await.remove(&addr);
                    if other.is_none() {
                        let _ = self.rib.send(RibEvent::PeerRemoved { address: addr }).await;
                    }
                    if let Some(n) = other {
                        changed += 1;
                        self.add_neighbor(n.clone()).await;
                    } else {
                        removed += 1;
                    }
                }
            }
        }
        for (addr, n) in wanted {
            if !self.neighbors.read().await.contains_key(&addr) {
                added += 1;
                self.add_neighbor(n).await;
            }
        }
        let _ = self.rib.send(RibEvent::SetNetworks(networks(&new))).await;
        // The RTR clients run on the configuration keeld started with.
        let rpki = if new.rpki != old.rpki { "; [rpki] changes apply at the next start (keel restart)" } else { "" };
        *self.config.write().await = new;
        Ok(format!(
            "{kept} neighbor(s) kept, {changed} restarted, {removed} removed, {added} added; \
             policies re-applied to {policies} neighbor(s){rpki}"
        ))
    }
}

/// Starts the FIB task on `fib` after reading back what an earlier run left there.
async fn start_fib<F: keel_fib::Fib + Send + 'static>(
    fib: F,
    rib: &mpsc::Sender<RibEvent>,
    forwarding: &ForwardingState,
    metrics: &Arc<Metrics>,
) -> mpsc::Sender<FibCommand> {
    let (tx, rx) = mpsc::channel(64);
    let mut task = FibTask::new(fib, rib.clone(), forwarding.clone()).with_metrics(metrics.clone());
    task.inherit().await;
    tokio::spawn(task.run(rx));
    tx
}

/// The API socket at `path`: mode 0660 whatever keeld's umask, in group `gid` (else keeld's
/// own), so that only root, keeld's user and that group can connect (issue 16).
///
/// The order makes it race-free: bind(2) creates the file with the umask's mode, chmod and
/// chown fix mode and group, and only then listen(2) opens it; until then a connect(2) gets
/// ECONNREFUSED, so nobody is ever served through a socket with the wrong permissions. (Setting
/// a restrictive umask around bind would change it for every thread of keeld, and fchmod of the
/// socket before bind is a Linux implementation detail that the umask still narrows.)
fn bind_api(path: &std::path::Path, gid: Option<u32>) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        // Not world-writable even under umask 000: whoever can write the directory can put
        // another socket in keeld's place.
        std::fs::DirBuilder::new().recursive(true).mode(0o755).create(dir)?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    socket.bind(&socket2::SockAddr::unix(path)?)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(path, None, Some(gid)).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot give it to api_group (gid {gid}; keeld must be root or in it): {e}"),
            )
        })?;
    }
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    tokio::net::UnixListener::from_std(socket.into())
}

/// A borrowed raw fd, for socket options on a tokio listener.
struct SocketFd(std::os::fd::RawFd);

impl AsRawFd for SocketFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0
    }
}

async fn accept_loop(daemon: Arc<Daemon>, listener: Arc<TcpListener>) {
    // Refusals are logged once a minute per address: a flood of connections must not flood
    // the log (the map is bounded; it only spaces the lines out).
    let mut refused_logged: HashMap<IpAddr, std::time::Instant> = HashMap::new();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        // Match IPv4-mapped IPv6 peers to their IPv4 neighbor.
        let ip = match peer.ip() {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        let handle = daemon.neighbors.read().await.get(&ip).cloned();
        let why = match handle {
            // Never wait on one neighbor's task here: a busy one must not hold up the
            // connections of every other neighbor. Its own connection attempts carry on.
            Some(h) => match h.commands.try_send(Command::Incoming(stream)) {
                Ok(()) => continue,
                Err(_) => "the neighbor's task is busy",
            },
            None => "not a configured neighbor",
        };
        let now = std::time::Instant::now();
        if refused_logged.get(&ip).is_none_or(|t| now.duration_since(*t) >= std::time::Duration::from_secs(60)) {
            if refused_logged.len() >= 1024 {
                refused_logged.clear();
            }
            refused_logged.insert(ip, now);
            info!(%peer, reason = why, "connection refused (logged once a minute per address)");
        }
    }
}

/// keeld's state file in `state_dir`, a JSON object: `clean_exit` (whether the last write was
/// at a clean exit), `time` (Unix seconds of that write), `pid`, and `last_restart_seconds`
/// once a restart was measured. Writers merge their fields into what is there.
pub const STATE_FILE: &str = "keeld.state";

/// What the previous run left in the state file.
#[derive(Debug)]
struct Previous {
    clean_exit: bool,
    seconds_ago: u64,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn read_state(config: &Config) -> Option<Previous> {
    let text = std::fs::read_to_string(config.global.state_dir.join(STATE_FILE)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let now = unix_now();
    Some(Previous {
        clean_exit: v["clean_exit"].as_bool().unwrap_or(false),
        seconds_ago: now.saturating_sub(v["time"].as_u64().unwrap_or(now)),
    })
}

/// The restart measured by the last keeld that used `state_dir`, in seconds.
pub fn last_restart_seconds(state_dir: &std::path::Path) -> std::io::Result<Option<u64>> {
    let text = match std::fs::read_to_string(state_dir.join(STATE_FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Ok(v["last_restart_seconds"].as_u64())
}

/// Whether the last exit was clean, and when (for the restarting speaker, RFC 4724 §4.1).
fn write_state(config: &Config, clean_exit: bool) {
    let fields = serde_json::json!({"clean_exit": clean_exit, "time": unix_now(), "pid": std::process::id()});
    update_state(&config.global.state_dir, fields);
}

/// Merges `fields` into the state file, keeping the others. Failure is logged, not fatal.
fn update_state(dir: &std::path::Path, fields: serde_json::Value) {
    static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _writing = WRITING.lock();
    let path = dir.join(STATE_FILE);
    let mut state = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    if let (Some(state), Some(fields)) = (state.as_object_mut(), fields.as_object()) {
        state.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let result = std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&path, state.to_string()));
    if let Err(e) = result {
        warn!(dir = %dir.display(), error = %e, "cannot write state file");
    }
}
