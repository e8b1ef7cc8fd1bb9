//! The processes and files a rehearsal creates: its temporary directory, the keeld under
//! test (started, stopped with SIGTERM, killed with SIGKILL, always reaped) and what /proc
//! says about them. Everything is removed or ended on drop, so an early return, an error or
//! Ctrl-C leaves nothing behind.

use anyhow::{bail, Context, Result};
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The rehearsal's temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Result<TempDir> {
        let dir = std::env::temp_dir().join(format!("keel-lab-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

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

/// CPU seconds (user + system) and resident set (KiB) of a live process.
pub fn proc_stat(pid: i32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Some(((utime + stime) / ticks, rss))
}

/// Returns once `pid` has exited (a zombie waiting to be reaped, or gone).
pub async fn exited(pid: Option<i32>) {
    let Some(pid) = pid else { return };
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.rsplit(')').next().and_then(|r| r.split_whitespace().next()).is_none_or(|state| state == "Z") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The keeld under test. One process at a time; every run is reaped with `wait4`, which also
/// gives the CPU time of runs that ended.
pub struct Keeld {
    exe: PathBuf,
    pub config: PathBuf,
    pub state_dir: PathBuf,
    log: PathBuf,
    pid: Option<i32>,
    /// CPU seconds of the runs that ended.
    dead_cpu: f64,
    /// Every pid it had, for the report.
    pub pids: Vec<u32>,
    /// The pid the sampler reads (0 while no keeld runs).
    pub current: std::sync::Arc<std::sync::atomic::AtomicI32>,
}

impl Keeld {
    pub fn new(exe: PathBuf, state_dir: PathBuf, config_text: &str) -> Result<Keeld> {
        std::fs::create_dir_all(&state_dir)?;
        let config = state_dir.join("keel.toml");
        std::fs::write(&config, config_text)?;
        Ok(Keeld {
            exe,
            config,
            log: state_dir.join("keeld.log"),
            state_dir,
            pid: None,
            dead_cpu: 0.0,
            pids: Vec::new(),
            current: Default::default(),
        })
    }

    pub fn api(&self) -> PathBuf {
        self.state_dir.join("keel.sock")
    }

    pub fn fib_journal(&self) -> PathBuf {
        self.state_dir.join("fib.journal")
    }

    /// The last `lines` lines keeld logged (the directory goes when the lab ends).
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub fn pid(&self) -> Option<i32> {
        self.pid
    }

    pub fn start(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let mut command = Command::new(&self.exe);
        command
            .arg("--config")
            .arg(&self.config)
            .env("KEEL_LOG", std::env::var("KEEL_LAB_LOG").unwrap_or_else(|_| "info".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            // Its own process group: a Ctrl-C at the terminal reaches the lab, which ends keeld.
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; keeld dies with the lab even on SIGKILL.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command.spawn().with_context(|| format!("cannot start {}", self.exe.display()))?;
        let pid = child.id();
        // The child is reaped by `wait4` below, not by `Child`.
        drop(child);
        self.pid = Some(pid as i32);
        self.pids.push(pid);
        self.current.store(pid as i32, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// CPU seconds of every run so far, including the running one.
    pub fn cpu_total(&self) -> f64 {
        self.dead_cpu + self.pid.and_then(proc_stat).map_or(0.0, |s| s.0)
    }

    /// Whether the process still runs; reaps it if it ended on its own.
    pub fn alive(&mut self) -> bool {
        self.reap(false);
        self.pid.is_some()
    }

    fn reap(&mut self, block: bool) -> bool {
        let Some(pid) = self.pid else { return true };
        let mut status = 0;
        // SAFETY: an all-zero rusage is valid; wait4 fills it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let flags = if block { 0 } else { libc::WNOHANG };
        // SAFETY: valid pointers; `pid` is our own child.
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if r == pid || (r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD)) {
            let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            if r == pid {
                self.dead_cpu += secs(usage.ru_utime) + secs(usage.ru_stime);
            }
            self.pid = None;
            self.current.store(0, std::sync::atomic::Ordering::Relaxed);
            return true;
        }
        false
    }

    /// Sends `signal` and waits up to `timeout` for the exit; SIGKILL after that.
    pub async fn stop(&mut self, signal: i32, timeout: Duration) {
        let Some(pid) = self.pid else { return };
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, signal) };
        let deadline = Instant::now() + timeout;
        while !self.reap(false) {
            if Instant::now() > deadline {
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                self.reap(true);
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Keeld {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            // SAFETY: our own child; then reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            self.reap(true);
        }
    }
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
/// the death signal, so only the lab's own exit paths end it), always reaped.
#[derive(Default)]
pub struct Daemon {
    pid: Option<i32>,
}

impl Daemon {
    pub fn running(&self) -> bool {
        self.pid.is_some()
    }

    pub fn spawn(&mut self, mut command: Command, what: &str) -> Result<()> {
        command.stdin(Stdio::null()).process_group(0);
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command.spawn().with_context(|| format!("cannot start {what}"))?;
        self.pid = Some(child.id() as i32);
        // Reaped by `wait_exit`, not by `Child`.
        drop(child);
        Ok(())
    }

    pub fn signal(&self, signal: i32) {
        if let Some(pid) = self.pid {
            // SAFETY: our own child, not yet reaped.
            unsafe { libc::kill(pid, signal) };
        }
    }

    /// Waits for the exit (up to `timeout`, then SIGKILL) and reaps it.
    pub async fn wait_exit(&mut self, timeout: Duration) {
        let Some(pid) = self.pid else { return };
        let deadline = Instant::now() + timeout;
        loop {
            let mut status = 0;
            // SAFETY: our own child.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r != 0 {
                break;
            }
            if Instant::now() > deadline {
                // SAFETY: our own child; then reaped.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut status, 0);
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.pid = None;
    }

    /// Whether it exited on its own (then reaped).
    pub fn exited(&mut self) -> bool {
        let Some(pid) = self.pid else { return true };
        let mut status = 0;
        // SAFETY: our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r != 0 {
            self.pid = None;
        }
        r != 0
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            let mut status = 0;
            // SAFETY: our own child; then reaped.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
        }
    }
}

/// GET `path` from keeld's API at `api` (off the runtime's threads); `None` when keeld or its
/// API does not answer.
pub async fn api_get(api: &Path, path: &str) -> Option<serde_json::Value> {
    let (api, path) = (api.to_path_buf(), path.to_string());
    tokio::task::spawn_blocking(move || keel_api::request(&api, "GET", &path)).await.ok()?.ok()
}

/// The last `lines` lines of a file (a daemon's log), for error messages.
pub fn file_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
