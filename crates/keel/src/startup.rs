//! keeld's start-up and stop: the RIB task, the FIB task, one task per neighbor, the BGP
//! listeners, the API and metrics servers; then the wait for SIGHUP (reload), SIGTERM or
//! `keel stop`, and the stop sequence that leaves the kernel's routes for a graceful restart.
//! The top of the daemon: it wires [`crate::daemon::Daemon`] to the API ([`crate::api`]), which
//! in turn only knows the `Daemon`.
//!
//! ```text
//!  listener --TcpStream--> neighbor task --UPDATE--> RIB task --bytes--> neighbor writer
//!                              ^   |                     ^
//!  API (Unix socket) ----------+---+---------------------+   metrics (TCP, optional)
//! ```

use crate::api;
use crate::daemon::listen::accept_loop;
use crate::daemon::state::{read_state, update_state, write_state};
use crate::daemon::Daemon;
use crate::events::{FibCommand, ForwardingState, RestartState, RibEvent};
use crate::fib_task::FibTask;
use crate::metrics::Metrics;
use crate::neighbor::task::{Command, NeighborHandle, StopKind};
use crate::neighbor::transport;
use crate::neighbor::NeighborConfig;
use crate::rib_task::RibTask;
use keel_config::Config;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, RwLock};
use tracing::{error, info};

/// What keeps keeld from starting at all. Nothing else does: a neighbor that cannot be
/// reached is only a session that stays down.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Another keeld has the state directory (or it cannot be locked): nothing was changed.
    #[error(transparent)]
    StateDir(#[from] crate::daemon::state::LockError),
    #[error("cannot open the kernel FIB: {0}")]
    KernelFib(keel_fib::FibError),
    #[error("cannot open the in-memory FIB {}: {source}", .path.display())]
    MemoryFib { path: PathBuf, source: std::io::Error },
    #[error("cannot listen on {addr}: {source}{}", listen_hint(.addr, .source))]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("cannot bind API socket {}: {source}", .path.display())]
    ApiSocket { path: PathBuf, source: std::io::Error },
    #[error("cannot bind metrics {addr}: {source}")]
    Metrics { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("cannot handle signals: {0}")]
    Signals(std::io::Error),
}

/// What to do about a listening socket keeld could not have.
fn listen_hint(addr: &std::net::SocketAddr, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied if addr.port() < 1024 => format!(
            " (port {} needs root or CAP_NET_BIND_SERVICE: run keeld as root, give it the capability, or \
             listen on a port above 1023 in [global] listen)",
            addr.port()
        ),
        std::io::ErrorKind::AddrInUse => format!(
            " (another process listens on port {}: stop it, or change [global] listen; `ss -ltnp` names it)",
            addr.port()
        ),
        std::io::ErrorKind::AddrNotAvailable => {
            format!(
                " ({} is not an address of this machine: add it to an interface or change [global] listen)",
                addr.ip()
            )
        }
        _ => String::new(),
    }
}

/// Depth of the queue into the RIB task, in events: up to
/// [`UPDATE_BATCH`](crate::neighbor::task::UPDATE_BATCH) UPDATEs each, about 1,024 UPDATEs in all.
const RIB_QUEUE: usize = 32;

/// The state directory's lock. A keeld killed a moment ago may still be exiting, and its lock
/// goes with it: a held lock is tried again for a second before keeld gives up.
async fn take_state_lock(dir: &std::path::Path) -> Result<crate::daemon::state::StateLock, StartError> {
    use crate::daemon::state::{lock_state_dir, LockError};
    let deadline = Instant::now() + std::time::Duration::from_secs(1);
    loop {
        match lock_state_dir(dir) {
            Err(LockError::Held { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await
            }
            r => return Ok(r?),
        }
    }
}

/// What keeld executes in its place when it stops (`keel restart`, `keel upgrade`).
#[derive(Debug)]
pub struct Exec {
    pub binary: PathBuf,
    /// `keel upgrade`: the memfd holding the handoff state, passed as `--handoff-fd`.
    pub handoff_fd: Option<std::os::fd::RawFd>,
}

/// Runs keeld until it is told to stop; `Ok(Some(exec))` when a binary should be executed in
/// its place. `handoff` is the state a previous image handed over (`keel upgrade`): its
/// sessions go on. Errors only for what prevents starting at all.
pub async fn run(
    config: Config,
    config_path: Option<PathBuf>,
    handoff: Option<keel_handoff::Handoff>,
) -> Result<Option<Exec>, StartError> {
    // One keeld per state directory, taken before anything is read or written: a second
    // keeld leaves the first one's state file, FIB journal and API socket alone.
    let _state_lock = take_state_lock(&config.global.state_dir).await?;
    let (rib, rib_rx) = mpsc::channel(RIB_QUEUE);
    let metrics = Arc::new(Metrics::default());
    // keeld restarts when it ran before (its state file is there) and is a restarting
    // speaker: R=1 and selection deferral until End-of-RIB (RFC 4724 §4.1).
    let previous = read_state(&config);
    let gr = &config.graceful_restart;
    // A hitless upgrade is no restart: the sessions go on, nobody was told anything.
    let restart = previous.is_some() && gr.mode == keel_config::GrMode::Restart && handoff.is_none();
    let handed_at_ms = handoff.as_ref().map(|h| h.daemon.time_unix_ms);
    let (mut resume, mut inherited, mut last_upgrade) = resumable(&config, handoff);
    if let Some(at) = handed_at_ms {
        // N2 at once, before the FIB is read back (seconds with a full table): each handed-over
        // session's unwritten bytes and a KEEPALIVE.
        crate::daemon::handoff::greet(&mut resume);
        // N8: the handoff as the neighbors saw it, from the old image's stamp (its KEEPALIVEs)
        // to these: the next upgrade's budget.
        let ms = crate::daemon::handoff::unix_ms().saturating_sub(at);
        info!(ms, "upgrade: sessions greeted (handoff measured)");
        if let Some(u) = last_upgrade.as_mut() {
            u.handoff_ms = Some(ms);
        }
        update_state(&config.global.state_dir, serde_json::json!({ "last_handoff_ms": ms }));
    }
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
            keel_config::FibBackend::Kernel => {
                let f =
                    keel_fib::NetlinkFib::new(config.fib.table, config.fib.protocol).map_err(StartError::KernelFib)?;
                start_fib(f, &rib, &forwarding, &metrics).await
            }
            keel_config::FibBackend::Memory => {
                let path = config.global.state_dir.join("fib.journal");
                let _ = std::fs::create_dir_all(&config.global.state_dir);
                let f = keel_fib::JournalFib::open(&path)
                    .map_err(|source| StartError::MemoryFib { path: path.clone(), source })?;
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
    let rpki = crate::rpki::Rpki::start(&config.rpki, *config.global.asn.get_ref());
    let rib_task = RibTask::new(
        *config.global.asn.get_ref(),
        router_id,
        config.global.cluster_id.unwrap_or(router_id),
        options,
        crate::events::Network::from_config(&config),
        fib.clone(),
    )
    .with_deferral(
        deferral,
        restarting.clone(),
        config.neighbors.iter().map(|n| *n.address.get_ref()).collect(),
        Some(deferral_ended),
    )
    .with_rpki(rpki.clone())
    .with_resuming(resume.keys().copied().collect())
    // Kernel routes of an earlier run are kept while the RIB converges: until the
    // deferral ends when keel restarts, else for up to the selection deferral time; with
    // graceful restart disabled they go at once.
    .with_inherited_hold(match gr.mode {
        keel_config::GrMode::Disabled => std::time::Duration::ZERO,
        _ => std::time::Duration::from_secs(gr.selection_deferral_time.into()),
    });
    // BMP stations (keel_bmp::station), their requests forwarded to the RIB task.
    let sys_descr = format!("keel {} (keeld, BGP-4)", env!("CARGO_PKG_VERSION"));
    let (feeds, stations, mut requests) =
        keel_bmp::station::start(&config.bmp.station, &router_id.to_string(), &sys_descr);
    for s in &stations {
        metrics.bmp_station(s.link.clone());
    }
    let forward = rib.clone();
    tokio::spawn(async move {
        while let Some(r) = requests.recv().await {
            let _ = forward.send(RibEvent::Bmp(r)).await;
        }
    });
    tokio::spawn(rib_task.with_bmp(feeds).run(rib_rx));
    // RFC 8326 §4.1 receiver step; before any neighbor starts, so no route misses it.
    let _ = rib.send(RibEvent::HonourGracefulShutdown(config.global.honour_graceful_shutdown)).await;
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
        reexec: std::sync::Mutex::new(None),
        last_upgrade,
        policy_fingerprints: RwLock::new(BTreeMap::new()),
        api_access: crate::access::Admins::new(config.global.api_gid),
        rpki,
    });
    Daemon::warn_rfc_8212(&config);
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

    // BGP listeners: handed over by the previous image (no connection attempt refused
    // during the upgrade), else bound.
    for addr in &config.global.listen {
        let addr = *addr.get_ref();
        let l = match inherited.remove(&addr).map(transport::adopt_listener) {
            Some(Ok(l)) => l,
            other => {
                if let Some(Err(e)) = other {
                    error!(%addr, error = %e, "handed-over listener unusable: binding again");
                }
                transport::listen(addr).map_err(|source| StartError::Listen { addr, source })?
            }
        };
        info!(%addr, "listening for BGP");
        daemon.listeners.write().await.push(Arc::new(l));
    }
    // Listeners the configuration no longer has.
    for (_, fd) in inherited {
        // SAFETY: the old image handed this descriptor to this process; nothing took it.
        drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
    }
    // API.
    let api_path = config.global.api.clone();
    let api_listener = bind_api(&api_path, config.global.api_gid)
        .map_err(|source| StartError::ApiSocket { path: api_path.clone(), source })?;
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
        let l = TcpListener::bind(addr).await.map_err(|source| StartError::Metrics { addr, source })?;
        info!(%addr, "metrics listening");
        let d = daemon.clone();
        let router = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let d = d.clone();
                async move {
                    let counts = d.peer_counts().await;
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
        let handed = resume.remove(&n.address);
        daemon.add_neighbor(n, handed).await;
    }
    // Connections are taken only now that every neighbor is known: one that came earlier
    // waited in the listen backlog instead of being refused as "not a configured neighbor"
    // (its sender may not even see that refusal: with GTSM it drops a FIN sent with TTL 64).
    for l in daemon.listeners.read().await.iter() {
        tokio::spawn(accept_loop(daemon.clone(), l.clone()));
    }
    // Signals.
    let mut hup =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).map_err(StartError::Signals)?;
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(StartError::Signals)?;
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
    // BMP stations hear of it first: a Termination, before the sessions' Peer Downs.
    for s in stations {
        s.terminate(std::time::Duration::from_secs(1)).await;
    }
    let reexec = daemon.reexec.lock().map(|mut r| r.take()).unwrap_or_else(|mut e| e.get_mut().take());
    // `keel upgrade`: the sessions go to the new image, nothing is closed.
    if let Some(r) = reexec.as_ref().filter(|r| r.hitless && kind == StopKind::Graceful) {
        match crate::daemon::handoff::hand_off(&daemon, fib.as_ref()).await {
            Ok(fd) => {
                let _ = std::fs::remove_file(&api_path);
                write_state(&*daemon.config.read().await, true);
                return Ok(Some(Exec { binary: r.binary.clone(), handoff_fd: Some(fd) }));
            }
            Err(e) => error!(error = %e, "handoff failed: stopping for a graceful restart instead"),
        }
    }
    // Kernel routes stay for a graceful restart (RFC 4724 §4.1); otherwise they go.
    let mode = daemon.config.read().await.graceful_restart.mode;
    let graceful = kind == StopKind::Graceful && mode == keel_config::GrMode::Restart;
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
    Ok(reexec.map(|r| Exec { binary: r.binary, handoff_fd: None }))
}

/// What a handoff gives this process: the sessions this configuration still has, by neighbor;
/// the listening sockets, by address; and what `/v1/status` says of the upgrade.
type Resumable = (
    BTreeMap<std::net::IpAddr, keel_handoff::NeighborState>,
    BTreeMap<std::net::SocketAddr, std::os::fd::RawFd>,
    Option<keel_api::UpgradeView>,
);

/// [`Resumable`] from a handoff. The sockets of neighbors no longer configured are closed (the
/// neighbor sees the connection end, as after a crash).
fn resumable(config: &Config, handoff: Option<keel_handoff::Handoff>) -> Resumable {
    let Some(h) = handoff else { return (BTreeMap::new(), BTreeMap::new(), None) };
    let listeners = h.listeners.iter().map(|l| (l.address, l.fd)).collect();
    let mut resume = BTreeMap::new();
    for n in h.neighbors {
        if config.neighbors.iter().any(|c| *c.address.get_ref() == n.address) && !resume.contains_key(&n.address) {
            resume.insert(n.address, n);
        } else {
            info!(neighbor = %n.address, "handed-over session of a neighbor no longer configured: closed");
            // SAFETY: the old image handed this descriptor to this process; nothing took it.
            drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(n.fd) });
        }
    }
    let view = keel_api::UpgradeView {
        from_version: h.daemon.version.clone(),
        from_pid: h.daemon.pid,
        at_unix: h.daemon.time_unix_ms / 1000,
        sessions: resume.len() as u64,
        handoff_ms: None,
    };
    info!(from = %h.daemon.version, sessions = resume.len(), "upgraded: sessions handed over");
    (resume, listeners, Some(view))
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
