//! The rehearsal's side of the shared harness: where keeld is ([`find_keeld`]), the peer daemons
//! it starts ([`Daemon`], a [`Process`] of its own group, killed when the lab ends), tokio
//! tasks that end with their owner ([`Task`]) and reading keeld's API off the runtime's threads
//! ([`api_get`]). The keeld handle, temporary directory and /proc readings are the harness's
//! ([`crate::keeld`], [`crate::process`]).

use crate::process::{Ending, Process, Spawn};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub use crate::process::{exited, file_tail, is_root, proc_stat, TempDir};

/// keeld: next to this executable, else on PATH.
pub fn find_keeld(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = flag {
        if p.is_file() {
            return Ok(p.to_path_buf());
        }
        bail!("--keeld {}: no such file", p.display());
    }
    let beside = std::env::current_exe().ok().and_then(|e| e.parent().map(|d| d.join("keeld")));
    if let Some(p) = beside.filter(|p| p.is_file()) {
        return Ok(p);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("keeld")).find(|p| p.is_file()))
        .unwrap_or_default();
    on_path.context(
        "keeld not found next to keel nor on PATH: build both binaries (cargo build --release --locked) \
         or name it with --keeld PATH",
    )
}

/// Aborts a tokio task when dropped (tasks of an abandoned rehearsal must not linger).
pub struct Task(pub tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A peer daemon the lab started (FRR's bgpd, gobgpd): its own process group, SIGKILLed when
/// the lab dies (while it keeps the lab's credentials: bgpd drops to user frr, which clears
/// the death signal, so only the lab's own exit paths end it), always reaped. `running` means
/// started and not yet waited for.
#[derive(Default)]
pub struct Daemon {
    process: Option<Process>,
}

impl Daemon {
    pub fn running(&self) -> bool {
        self.process.is_some()
    }

    /// Starts a driver's `command` (see [`crate::daemons::spawn`]) in `dir`, in its own group.
    pub fn spawn(&mut self, command: Command, what: &str, dir: &Path) -> Result<()> {
        let mut p =
            crate::daemons::spawn(what, command, dir, None, &Spawn { process_group: true, ..Spawn::default() })?;
        p.ending = Ending::Kill;
        self.process = Some(p);
        Ok(())
    }

    pub fn signal(&self, signal: i32) {
        if let Some(p) = &self.process {
            p.signal(signal);
        }
    }

    /// Waits for the exit (up to `timeout`, then SIGKILL) and reaps it.
    pub async fn wait_exit(&mut self, timeout: Duration) {
        if let Some(p) = self.process.take() {
            if !p.wait_exit_async(timeout).await {
                p.stop_with(libc::SIGKILL, Duration::from_secs(5));
            }
        }
    }

    /// Whether it exited on its own (then reaped).
    pub fn exited(&mut self) -> bool {
        match &self.process {
            Some(p) if p.running() => false,
            _ => {
                self.process = None;
                true
            }
        }
    }
}

/// GET `path` from keeld's API at `api` (off the runtime's threads); `None` when keeld or its
/// API does not answer.
pub async fn api_get(api: &Path, path: &str) -> Option<serde_json::Value> {
    api_call(api, "GET", path).await.ok()
}

/// `METHOD path` on keeld's API, off the runtime's threads: the answer, or why not.
pub async fn api_call(api: &Path, method: &'static str, path: &str) -> anyhow::Result<serde_json::Value> {
    let (api, path) = (api.to_path_buf(), path.to_string());
    tokio::task::spawn_blocking(move || keel_api::request(&api, method, &path)).await?
}
