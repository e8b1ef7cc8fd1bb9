//! keeld's end of keel-bfdd's socket: one connection per neighbor with `bfd = true`, which
//! registers the neighbor's session and publishes each state keel-bfdd reports. When the
//! socket does not answer, keel-bfdd is started ([`start_daemon`]) and the connection tried
//! again; when keel-bfdd goes, the state becomes unknown (`None`), which takes no BGP session
//! down, and the link reconnects.

use crate::protocol::{line, Key, Reply, Request, SessionSpec};
use keel_api::bfd::BfdView;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

/// The environment variable naming the keel-bfdd binary (tests, unusual layouts); else the
/// one beside the running executable, else `keel-bfdd` on the PATH.
pub const BINARY_ENV: &str = "KEEL_BFDD";

/// A neighbor's link to its session in keel-bfdd. Dropping it leaves the session running
/// (keeld restarting); [`Link::remove`] ends it.
#[derive(Debug)]
pub struct Link {
    pub view: watch::Receiver<Option<BfdView>>,
    remove: mpsc::Sender<()>,
}

impl Link {
    /// The neighbor was removed: keel-bfdd sends AdminDown and forgets the session.
    pub async fn remove(&self) {
        let _ = self.remove.send(()).await;
    }
}

/// Connects to keel-bfdd at `socket` (starting it if `start` and nothing answers) and
/// registers `spec`; reconnects whenever the connection ends.
pub fn connect(socket: PathBuf, spec: SessionSpec, start: bool) -> Link {
    let (tx, view) = watch::channel(None);
    let (remove, remove_rx) = mpsc::channel(1);
    tokio::spawn(keep_linked(socket, spec, start, tx, remove_rx));
    Link { view, remove }
}

async fn keep_linked(
    socket: PathBuf,
    spec: SessionSpec,
    start: bool,
    tx: watch::Sender<Option<BfdView>>,
    mut remove: mpsc::Receiver<()>,
) {
    let mut started = false;
    let mut backoff = Duration::from_millis(100);
    loop {
        let stream = tokio::select! {
            s = UnixStream::connect(&socket) => s,
            _ = tx.closed() => return,
        };
        let stream = match stream {
            Ok(s) => {
                started = false;
                backoff = Duration::from_millis(100);
                s
            }
            Err(e) => {
                if start && !started {
                    started = true;
                    if !may_start_now() {
                        // Another neighbor's link started one a moment ago.
                    } else {
                        match start_daemon(&socket) {
                            Ok(binary) => info!(binary = %binary.display(), "keel-bfdd started"),
                            Err(e) => warn!(error = %e, "cannot start keel-bfdd"),
                        }
                    }
                } else {
                    tracing::debug!(error = %e, socket = %socket.display(), "keel-bfdd not reachable");
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = tx.closed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
                // A keel-bfdd that was started and still does not answer may have died.
                if backoff == Duration::from_secs(2) {
                    started = false;
                }
                continue;
            }
        };
        let (read, mut write) = stream.into_split();
        if write.write_all(&line(&Request::Register(spec.clone()))).await.is_err() {
            continue;
        }
        let mut lines = BufReader::new(read).lines();
        loop {
            tokio::select! {
                // A removal first: when it comes the neighbor task is ending, and `closed`
                // would be ready too.
                biased;
                r = remove.recv() => {
                    if r.is_some() {
                        let key: Key = spec.key();
                        let _ = write.write_all(&line(&Request::Remove(key))).await;
                    }
                    return;
                }
                l = lines.next_line() => match l {
                    Ok(Some(l)) => match serde_json::from_str::<Reply>(&l) {
                        Ok(Reply::Status(v)) if v.peer == spec.peer && v.multihop == spec.multihop => {
                            tx.send_replace(Some(*v));
                        }
                        Ok(_) => {}
                        Err(e) => warn!(error = %e, "bad line from keel-bfdd"),
                    },
                    _ => break,
                },
                _ = tx.closed() => return,
            }
        }
        warn!(socket = %socket.display(), peer = %spec.peer, "keel-bfdd connection lost: BFD state unknown");
        tx.send_replace(None);
    }
}

/// One start per process in any 2 s: every neighbor's link finds the socket silent at once
/// when keeld starts, and one keel-bfdd serves them all (a second would find the lock held and
/// exit).
fn may_start_now() -> bool {
    static LAST: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
    let Ok(mut last) = LAST.lock() else { return true };
    let now = std::time::Instant::now();
    if last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(2)) {
        return false;
    }
    *last = Some(now);
    true
}

/// The keel-bfdd binary to start.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os(BINARY_ENV) {
        return PathBuf::from(p);
    }
    if let Some(beside) = std::env::current_exe().ok().and_then(|e| e.parent().map(|d| d.join("keel-bfdd"))) {
        if beside.exists() {
            return beside;
        }
    }
    PathBuf::from("keel-bfdd")
}

/// Starts keel-bfdd for `socket` in a session of its own (setsid), so that keeld's exit,
/// crash or exec leaves it running; its log goes to `socket` with the extension `log`. It
/// exits by itself once idle (`--exit-when-idle`).
pub fn start_daemon(socket: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::process::CommandExt;
    let binary = binary();
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let log = std::fs::OpenOptions::new().create(true).append(true).open(socket.with_extension("log"))?;
    let mut command = Command::new(&binary);
    command
        .arg("--socket")
        .arg(socket)
        .arg("--exit-when-idle")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe and touches no memory of this process.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = command.spawn()?;
    // Reap it if it exits while keeld runs.
    std::thread::spawn(move || child.wait());
    Ok(binary)
}
