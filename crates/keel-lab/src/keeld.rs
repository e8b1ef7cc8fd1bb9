//! keeld driven from outside, the one handle tests, benchmarks and the lab share: a keeld in
//! its own directory (`keel.toml`, `keeld.log`, the API socket `keel.sock`), started, signalled,
//! killed and started again, optionally inside a network namespace, asked through its JSON API
//! (`keel-api`'s client) and measured from /proc (CPU over every run, resident set).
//!
//! ```text
//! DIR/keel.toml   the configuration (written by the caller, rewritten for a reload)
//! DIR/keeld.log   stdout and stderr of every run, appended
//! DIR/keel.sock   the API, where the configuration must put it ([`Keeld::api`])
//! ```
//!
//! Dropping the handle ends keeld with SIGKILL (a crash, as its peers see it), and removes the
//! directory when [`Keeld::remove_dir_on_drop`] asked for it and no test is failing.

use crate::netns::Namespace;
use crate::process::{file_tail, peak_rss_kib, proc_stat, Ending, Process, Spawn};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::AtomicI32;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What /proc says about a running keeld.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// CPU seconds, user and system, of every run so far.
    pub cpu_seconds: f64,
    pub rss_kib: u64,
    /// VmHWM of the running process.
    pub peak_rss_kib: u64,
}

/// One keeld (see the module documentation). Built with [`Keeld::new`] and the setters, then
/// [`Keeld::start`]ed, as often as needed.
pub struct Keeld {
    exe: PathBuf,
    dir: PathBuf,
    netns: Option<String>,
    env: Vec<(String, String)>,
    umask: Option<libc::mode_t>,
    process_group: bool,
    remove_dir: bool,
    process: Option<Process>,
    /// CPU seconds of the runs that ended.
    dead_cpu: f64,
    /// Every pid it had.
    pids: Vec<u32>,
    /// The running pid, 0 while none runs (for samplers on other tasks).
    current: Arc<AtomicI32>,
}

impl Keeld {
    /// keeld `exe` living in `dir` (created); nothing runs yet.
    pub fn new(exe: impl Into<PathBuf>, dir: impl Into<PathBuf>) -> Result<Keeld> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Keeld {
            exe: exe.into(),
            dir,
            netns: None,
            env: Vec::new(),
            umask: None,
            process_group: false,
            remove_dir: false,
            process: None,
            dead_cpu: 0.0,
            pids: Vec::new(),
            current: Arc::default(),
        })
    }

    /// [`new`](Self::new), the configuration written and keeld started.
    pub fn launch(exe: impl Into<PathBuf>, dir: impl Into<PathBuf>, config: &str) -> Result<Keeld> {
        let mut k = Keeld::new(exe, dir)?;
        k.write_config(config)?;
        k.start()?;
        Ok(k)
    }

    /// Runs keeld inside `namespace` (`ip netns exec`).
    pub fn in_netns(mut self, namespace: &Namespace) -> Keeld {
        self.netns = Some(namespace.name().to_string());
        self
    }

    /// Sets an environment variable for keeld (`KEEL_LOG`).
    pub fn env(mut self, key: &str, value: &str) -> Keeld {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// keeld's umask, as a service manager or a shell would have set it.
    pub fn umask(mut self, mask: libc::mode_t) -> Keeld {
        self.umask = Some(mask);
        self
    }

    /// keeld in its own process group: a Ctrl-C at the terminal reaches only its parent.
    pub fn own_process_group(mut self) -> Keeld {
        self.process_group = true;
        self
    }

    /// Removes the directory on drop (kept when a test is failing, for its logs).
    pub fn remove_dir_on_drop(mut self) -> Keeld {
        self.remove_dir = true;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The API socket, `DIR/keel.sock`.
    pub fn api(&self) -> PathBuf {
        self.dir.join("keel.sock")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("keel.toml")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("keeld.log")
    }

    /// The in-memory FIB's journal when `state_dir` is the directory (`[fib] backend = "memory"`).
    pub fn fib_journal(&self) -> PathBuf {
        self.dir.join("fib.journal")
    }

    /// Writes `DIR/keel.toml` (read at the next start or reload).
    pub fn write_config(&self, config: &str) -> Result<()> {
        std::fs::write(self.config_path(), config)
            .with_context(|| format!("cannot write {}", self.config_path().display()))
    }

    /// Everything keeld logged so far, every run.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.log_path()).unwrap_or_default()).into_owned()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        file_tail(&self.log_path(), lines)
    }

    /// Starts keeld on `DIR/keel.toml`. The last run must have ended.
    pub fn start(&mut self) -> Result<()> {
        if self.running() {
            bail!("keeld already runs (pid {:?})", self.pid());
        }
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&self.exe);
                c
            }
            None => Command::new(&self.exe),
        };
        cmd.arg("--config").arg(self.config_path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let how = Spawn {
            log: Some(self.log_path()),
            process_group: self.process_group,
            umask: self.umask,
            ..Spawn::default()
        };
        let mut p = Process::spawn("keeld", cmd, &how)?.watched_by(self.current.clone());
        p.ending = Ending::Kill;
        self.pids.push(p.pid().unwrap_or(0) as u32);
        if let Some(old) = self.process.replace(p) {
            self.dead_cpu += old.cpu_seconds();
        }
        Ok(())
    }

    /// The running pid (None when no run is going on, or it was reaped).
    pub fn pid(&self) -> Option<i32> {
        self.process.as_ref().and_then(Process::pid)
    }

    /// Every pid keeld had, oldest first (one per start; `keel restart` keeps the pid).
    pub fn pids(&self) -> &[u32] {
        &self.pids
    }

    /// The running pid, 0 while none runs, for a sampler on another task.
    pub fn pid_watch(&self) -> Arc<AtomicI32> {
        self.current.clone()
    }

    /// Whether keeld runs; reaps it if it ended on its own.
    pub fn running(&self) -> bool {
        self.process.as_ref().is_some_and(Process::running)
    }

    /// Fails with the log's tail when keeld is not running.
    pub fn check_running(&self) -> Result<()> {
        if self.running() {
            return Ok(());
        }
        let status = self.exit_status().map_or("never started".to_string(), |s| s.to_string());
        bail!("keeld is not running ({status}); its log ends with:\n{}", self.log_tail(40))
    }

    /// Panics (a failing test) with the log's tail when keeld is not running.
    pub fn assert_running(&self) {
        if let Err(e) = self.check_running() {
            panic!("{e:#}");
        }
    }

    /// How the last run ended, once it was reaped.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.process.as_ref().and_then(Process::exit_status)
    }

    /// Sends `signal` to the running keeld.
    pub fn signal(&self, signal: libc::c_int) {
        if let Some(p) = &self.process {
            p.signal(signal);
        }
    }

    /// Waits up to `timeout` for keeld to exit; whether it did (reaped).
    pub fn wait_exit(&self, timeout: Duration) -> bool {
        self.process.as_ref().is_none_or(|p| p.wait_exit(timeout))
    }

    /// Sends `signal` and waits up to `timeout` for the exit; SIGKILL after that.
    pub fn stop(&self, signal: libc::c_int, timeout: Duration) {
        if let Some(p) = &self.process {
            p.stop_with(signal, timeout);
        }
    }

    /// [`stop`](Self::stop) on tokio's clock.
    pub async fn stop_async(&self, signal: libc::c_int, timeout: Duration) {
        if let Some(p) = &self.process {
            p.stop_with_async(signal, timeout).await;
        }
    }

    /// SIGKILL, and the exit waited for (5 s at most).
    pub fn kill(&self) -> Result<()> {
        self.signal(libc::SIGKILL);
        if !self.wait_exit(Duration::from_secs(5)) {
            bail!("keeld did not exit on SIGKILL within 5 s");
        }
        Ok(())
    }

    /// SIGTERM (keeld's graceful stop), and the exit waited for (`timeout` at most).
    pub fn term(&self, timeout: Duration) -> Result<()> {
        self.signal(libc::SIGTERM);
        if !self.wait_exit(timeout) {
            bail!("keeld did not exit on SIGTERM within {timeout:?}; its log ends with:\n{}", self.log_tail(20));
        }
        Ok(())
    }

    /// CPU seconds of every run so far, the running one included.
    pub fn cpu_total(&self) -> f64 {
        self.dead_cpu + self.process.as_ref().map_or(0.0, Process::cpu_seconds)
    }

    /// CPU over every run, resident set and peak of the running keeld.
    pub fn usage(&self) -> Usage {
        let pid = self.pid();
        Usage {
            cpu_seconds: self.cpu_total(),
            rss_kib: pid.and_then(proc_stat).map_or(0, |s| s.1),
            peak_rss_kib: pid.and_then(peak_rss_kib).unwrap_or(0),
        }
    }

    // -----------------------------------------------------------------------------------------
    // The API

    /// `METHOD PATH` on keeld's API: the JSON answer, or the API's error.
    pub fn request(&self, method: &str, path: &str) -> Result<Value> {
        keel_api::request(&self.api(), method, path)
    }

    /// `GET PATH` on keeld's API.
    pub fn get(&self, path: &str) -> Result<Value> {
        self.request("GET", path)
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Result<Value> {
        self.get("/v1/status")
    }

    /// `GET /v1/neighbors/ADDRESS`.
    pub fn neighbor(&self, address: &str) -> Result<Value> {
        self.get(&format!("/v1/neighbors/{address}"))
    }

    /// `GET /v1/routes?QUERY` (`neighbor=A&prefix=P`, ... or empty).
    pub fn routes(&self, query: &str) -> Result<Vec<Value>> {
        match self.get(&format!("/v1/routes?{query}"))? {
            Value::Array(v) => Ok(v),
            other => bail!("/v1/routes?{query}: not an array: {other}"),
        }
    }

    /// Waits up to `timeout` until the API answers; fails at once with the log's tail when
    /// keeld exits meanwhile.
    pub fn wait_api(&self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            self.check_running()?;
            match self.status() {
                Ok(_) => return Ok(()),
                Err(e) if start.elapsed() >= timeout => {
                    bail!(
                        "keeld's API does not answer after {timeout:?}: {e:#}; its log ends with:\n{}",
                        self.log_tail(20)
                    )
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

impl Drop for Keeld {
    fn drop(&mut self) {
        // Ended before the directory goes (its log may be printed on failure).
        self.process = None;
        if self.remove_dir && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
