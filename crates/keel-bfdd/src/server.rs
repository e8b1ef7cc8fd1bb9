//! keel-bfdd's event loop: one task owns the [`Table`]; the listening UDP sockets, the Unix
//! socket's connections and the timers feed it.
//!
//! ```text
//!   UDP 3784/4784 (v4, v6) --Datagram--+
//!   client connections ---Request------+--> Table --transmit--> per-session UDP socket
//!   timer (Table::next_deadline) ------+          --notify----> client connections
//! ```

use crate::protocol::{line, Key, Reply, Request};
use crate::table::{Outputs, Table};
use crate::udp::{self, Datagram};
use anyhow::Context;
use std::collections::HashMap;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UdpSocket, UnixListener};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, warn};

#[derive(Debug, Clone)]
pub struct Options {
    /// The Unix socket keeld connects to.
    pub socket: PathBuf,
    /// The C bit (see [`crate::independence`]).
    pub control_plane_independent: bool,
    /// How long a session nobody asks for keeps running.
    pub orphan_time: Duration,
    /// Exit once no client and no session has been left for the orphan time (a keel-bfdd keeld
    /// started itself; the packaged unit runs without it).
    pub exit_when_idle: bool,
}

enum Input {
    Datagram(Datagram),
    Connected(u64, mpsc::Sender<Vec<u8>>),
    Request(u64, Request),
    Gone(u64),
}

/// The lock beside the socket (`bfdd.lock`, holding the pid): one keel-bfdd per socket path.
/// `None` when another holds it.
fn lock(socket: &std::path::Path) -> anyhow::Result<Option<std::fs::File>> {
    let path = socket.with_extension("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    // SAFETY: flock on a descriptor owned by `file`, no memory passed.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Ok(None);
    }
    // The holder's pid, for operators and tests that must end it.
    let mut f = &file;
    let _ = f.set_len(0).and_then(|_| writeln!(f, "{}", std::process::id()));
    Ok(Some(file))
}

/// Runs keel-bfdd until it is idle (with `exit_when_idle`) or killed.
pub async fn run(options: Options) -> anyhow::Result<()> {
    if let Some(dir) = options.socket.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let Some(_lock) = lock(&options.socket)? else {
        info!(socket = %options.socket.display(), "another keel-bfdd serves this socket");
        return Ok(());
    };
    let _ = std::fs::remove_file(&options.socket);
    let listener = UnixListener::bind(&options.socket)
        .with_context(|| format!("cannot listen on {}", options.socket.display()))?;
    // Requests carry BFD passwords and create sessions: keeld's user only (keel-bfdd runs as
    // that user, started by keeld or by keel-bfdd.service with the same User=).
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&options.socket, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {} to its owner", options.socket.display()))?;
    }
    info!(
        socket = %options.socket.display(),
        control_plane_independent = options.control_plane_independent,
        "keel-bfdd running"
    );
    let (tx, mut rx) = mpsc::channel::<Input>(1024);
    for (ipv6, port, multihop) in [
        (false, udp::SINGLE_HOP_PORT, false),
        (true, udp::SINGLE_HOP_PORT, false),
        (false, udp::MULTIHOP_PORT, true),
        (true, udp::MULTIHOP_PORT, true),
    ] {
        match udp::listener(ipv6, port) {
            Ok(socket) => {
                let tx = tx.clone();
                tokio::spawn(async move {
                    loop {
                        match udp::receive(&socket, multihop).await {
                            Ok(d) => {
                                if tx.send(Input::Datagram(d)).await.is_err() {
                                    return;
                                }
                            }
                            Err(e) => warn!(port, ipv6, error = %e, "receive failed"),
                        }
                    }
                });
            }
            Err(e) => warn!(port, ipv6, error = %e, "cannot listen for BFD"),
        }
    }
    tokio::spawn(accept(listener, tx));

    let seed = u64::from(std::process::id()) << 32
        ^ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut table = Table::new(options.control_plane_independent, options.orphan_time, seed);
    let mut senders: HashMap<Key, Arc<UdpSocket>> = HashMap::new();
    let mut clients: HashMap<u64, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let mut idle_since = Some(Instant::now());
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    loop {
        let deadline = table.next_deadline().map(Instant::from_std);
        let idle_deadline = idle_since.filter(|_| options.exit_when_idle).map(|t| t + options.orphan_time);
        let wake = [deadline, idle_deadline].into_iter().flatten().min();
        tokio::select! {
            input = rx.recv() => {
                let now = Instant::now().into_std();
                let out = match input {
                    None => return Ok(()),
                    Some(Input::Datagram(d)) => table.receive(&d, now),
                    Some(Input::Connected(id, writer)) => {
                        let hello = Reply::Hello {
                            pid: std::process::id(),
                            control_plane_independent: table.control_plane_independent(),
                        };
                        let _ = writer.send(line(&hello)).await;
                        clients.insert(id, writer);
                        Outputs::default()
                    }
                    Some(Input::Request(id, Request::Register(spec))) => table.register(id, spec, now),
                    Some(Input::Request(_, Request::Remove(key))) => table.remove(key, now),
                    Some(Input::Gone(id)) => {
                        clients.remove(&id);
                        table.client_gone(id, now);
                        Outputs::default()
                    }
                };
                apply(out, &mut senders, &clients).await;
            }
            _ = sleep_until(wake) => {
                let out = table.poll(Instant::now().into_std());
                apply(out, &mut senders, &clients).await;
            }
            _ = async { tokio::select! { _ = terminate.recv() => {}, _ = interrupt.recv() => {} } } => {
                // Stopped on purpose (its own restart or upgrade, the host going down): AdminDown,
                // which the neighbors must not take for a forwarding failure (RFC 5882 §3.2).
                info!(sessions = table.len(), "stopping: sessions set AdminDown");
                let out = table.shutdown(Instant::now().into_std());
                apply(out, &mut senders, &clients).await;
                let _ = std::fs::remove_file(&options.socket);
                return Ok(());
            }
        }
        if clients.is_empty() && table.is_empty() {
            if idle_since.is_none() {
                idle_since = Some(Instant::now());
            } else if options.exit_when_idle && idle_since.is_some_and(|t| t + options.orphan_time <= Instant::now()) {
                info!("no keeld and no session left: exiting");
                let _ = std::fs::remove_file(&options.socket);
                return Ok(());
            }
        } else {
            idle_since = None;
        }
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Carries out a table's outputs: sockets for new sessions, datagrams, client notices.
async fn apply(
    out: Outputs,
    senders: &mut HashMap<Key, Arc<UdpSocket>>,
    clients: &HashMap<u64, mpsc::Sender<Vec<u8>>>,
) {
    for spec in out.created {
        // Spread the sessions' source ports by address so restarts tend to reuse them.
        let first = 49152 + (senders.len() as u16 % 16000);
        match udp::sender(spec.local, spec.peer, first) {
            Ok(s) => {
                senders.insert(spec.key(), Arc::new(s));
            }
            Err(e) => warn!(peer = %spec.peer, error = %e, "cannot open the session's socket"),
        }
    }
    for (key, bytes) in out.transmit {
        let port = if key.multihop { udp::MULTIHOP_PORT } else { udp::SINGLE_HOP_PORT };
        if let Some(s) = senders.get(&key) {
            if let Err(e) = s.try_send_to(&bytes, (key.peer, port).into()) {
                tracing::debug!(peer = %key.peer, error = %e, "send failed");
            }
        }
    }
    for (client, view) in out.notify {
        if let Some(w) = clients.get(&client) {
            let _ = w.try_send(line(&Reply::Status(Box::new(view))));
        }
    }
    for key in out.removed {
        senders.remove(&key);
    }
}

async fn accept(listener: UnixListener, tx: mpsc::Sender<Input>) {
    let mut next_id = 0u64;
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        next_id += 1;
        let id = next_id;
        let (read, mut write) = stream.into_split();
        let (writer, mut lines) = mpsc::channel::<Vec<u8>>(256);
        if tx.send(Input::Connected(id, writer)).await.is_err() {
            return;
        }
        tokio::spawn(async move {
            while let Some(l) = lines.recv().await {
                if write.write_all(&l).await.is_err() {
                    break;
                }
            }
        });
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(read).lines();
            while let Ok(Some(l)) = reader.next_line().await {
                match serde_json::from_str::<Request>(&l) {
                    Ok(r) => {
                        if tx.send(Input::Request(id, r)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => warn!(error = %e, "bad request from a client"),
                }
            }
            let _ = tx.send(Input::Gone(id)).await;
        });
    }
}
