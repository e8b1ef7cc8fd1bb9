//! Processes and directories that tests, benchmarks and the lab start and must not leave
//! behind: a child process ended by its own pid ([`Process`]), a temporary directory
//! ([`TempDir`]), what /proc says about a process ([`proc_stat`]) and where a tool is installed
//! ([`require`]).
//!
//! A [`Process`] dies with the thread that started it (`PR_SET_PDEATHSIG`), so a test binary
//! killed by a timeout leaves no daemon holding its 127.0.0.x:179. It is reaped with `wait4`,
//! which also gives the CPU time of runs that ended (a restarted daemon's total).

use anyhow::{bail, Context, Result};
use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Where `binary` is installed: FRR's bgpd in /usr/lib/frr first (/usr/sbin/bgpd is OpenBGPD's
/// when openbgpd is installed), then PATH and the usual sbin and bin directories.
pub fn find(binary: &str) -> Option<PathBuf> {
    let frr = Path::new("/usr/lib/frr").join(binary);
    if binary == "bgpd" && frr.is_file() {
        return Some(frr);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/lib/frr", "/usr/local/sbin", "/usr/local/bin"]
                .map(PathBuf::from),
        )
        .map(|d| d.join(binary))
        .find(|p| p.is_file())
}

/// [`find`], or a panic naming the Debian package list: the tests exist to run against the
/// real tools, a missing one fails them (never a skip).
pub fn require(binary: &str) -> PathBuf {
    find(binary).unwrap_or_else(|| {
        panic!(
            "{binary} is not installed; the tests need it (Debian: apt-get install -y --no-install-recommends \
             $(cat scripts/test-packages.txt))"
        )
    })
}

/// Runs a command to completion with stdin from /dev/null: (exit code, stdout, stderr).
/// Panics when it cannot start (a test's tool is missing).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The last `lines` lines of a file (a daemon's log), for error messages.
pub fn file_tail(path: &Path, lines: usize) -> String {
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// CPU seconds (user + system) and resident set (KiB) of a live process.
pub fn proc_stat(pid: i32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(((utime + stime) / ticks, status_kib(pid, "VmRSS:").unwrap_or(0)))
}

/// The peak resident set (VmHWM, KiB) of a live process.
pub fn peak_rss_kib(pid: i32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

fn status_kib(pid: i32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` has exited (a zombie waiting to be reaped, or gone), from /proc: callers that
/// do not own the child can watch it too.
pub fn gone(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(')').next().and_then(|r| r.split_whitespace().next()).is_none_or(|state| state == "Z")
}

/// Returns once `pid` has exited ([`gone`]); at once for `None`.
pub async fn exited(pid: Option<i32>) {
    let Some(pid) = pid else { return };
    while !gone(pid) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Temporary directories

/// A fresh directory under the system temp dir (mode 0755: daemons that drop privileges, like
/// FRR's bgpd running as user frr, must reach it). Removed on drop, unless a test is failing:
/// then it is kept and its path printed so the logs can be read.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// `$TMPDIR/NAME`, emptied first; `name` may hold a `/` (a per-run parent directory,
    /// removed with its last child).
    pub fn new(name: &str) -> Result<TempDir> {
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut d = path.as_path();
        while let Some(parent) = d.parent().filter(|p| *p != std::env::temp_dir()) {
            d = parent;
        }
        for dir in [d, path.as_path()] {
            let _ = std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755));
        }
        Ok(TempDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A subdirectory (mode 0755), created; panics when it cannot be (a test's disk is full).
    pub fn sub(&self, name: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("cannot create {}: {e}", p.display()));
        let _ = std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755));
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed, files kept in {}", self.path.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.path);
        // A per-run parent goes with its last child (fails while others still use it).
        if let Some(parent) = self.path.parent().filter(|p| *p != std::env::temp_dir()) {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Processes

/// How a [`Process`] is ended when it is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// SIGKILL at once (a crash, as far as its peers can tell).
    Kill,
    /// SIGTERM, then SIGKILL after this long.
    Term(Duration),
}

/// How [`Process::spawn`] starts a command.
#[derive(Debug, Clone, Default)]
pub struct Spawn {
    /// stdout and stderr appended to this file (created), else what the command says.
    pub log: Option<PathBuf>,
    /// Its own process group (a Ctrl-C at the terminal reaches only the parent, which then
    /// ends it; [`Process::signal_group`] reaches its children).
    pub process_group: bool,
    /// The child's umask (set between fork and exec; the parent's own is never changed, as
    /// concurrent tests would see it).
    pub umask: Option<libc::mode_t>,
    /// More logs to show when a test fails.
    pub extra_logs: Vec<PathBuf>,
    /// The child outlives the thread that starts it (one started from tokio's blocking pool,
    /// whose threads end when idle); else it gets SIGKILL when that thread ends.
    pub outlive_thread: bool,
}

/// A child process ended by its pid on drop (see [`Ending`]), also when a test fails (then the
/// tails of its logs go to stderr). Every method takes `&self`, so a test can watch the
/// process from inside a polling closure.
pub struct Process {
    pub name: String,
    /// The file stdout and stderr go to, and other logs worth showing on failure.
    logs: Vec<PathBuf>,
    state: Mutex<State>,
    pub ending: Ending,
    /// Set to 0 when the process is reaped (a sampler on another task reads the pid here).
    watch: Option<Arc<AtomicI32>>,
}

struct State {
    /// None once reaped.
    pid: Option<i32>,
    status: Option<ExitStatus>,
    /// CPU seconds of the process once it ended.
    cpu: f64,
}

impl Process {
    /// Starts `cmd` (stdin from /dev/null) as told by `how`.
    pub fn spawn(name: &str, mut cmd: Command, how: &Spawn) -> Result<Process> {
        cmd.stdin(Stdio::null());
        let mut logs = Vec::new();
        if let Some(path) = &how.log {
            let f = File::options()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            cmd.stdout(f.try_clone()?).stderr(f);
            logs.push(path.clone());
        }
        logs.extend(how.extra_logs.iter().cloned());
        if how.process_group {
            cmd.process_group(0);
        }
        let (umask, die_with_thread) = (how.umask, !how.outlive_thread);
        // SAFETY: prctl and umask are async-signal-safe and change only the child's own state.
        unsafe {
            cmd.pre_exec(move || {
                // Should the starting thread end (a test binary killed by a timeout), the child
                // goes with it instead of holding its address for the next run.
                if die_with_thread {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                }
                if let Some(mask) = umask {
                    libc::umask(mask);
                }
                Ok(())
            });
        }
        let child = cmd.spawn().with_context(|| format!("cannot start {name} ({cmd:?})"))?;
        let pid = child.id() as i32;
        // Reaped with wait4 below, not by `Child`.
        drop(child);
        Ok(Process {
            name: name.to_string(),
            logs,
            state: Mutex::new(State { pid: Some(pid), status: None, cpu: 0.0 }),
            ending: Ending::Term(Duration::from_secs(1)),
            watch: None,
        })
    }

    /// Stores the pid in `watch` now, and 0 once the process is reaped.
    pub fn watched_by(mut self, watch: Arc<AtomicI32>) -> Process {
        watch.store(self.pid().unwrap_or(0), Ordering::Relaxed);
        self.watch = Some(watch);
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pid while the process was not reaped.
    pub fn pid(&self) -> Option<i32> {
        self.state().pid
    }

    /// Sends `signal` to the process, if it was not reaped.
    pub fn signal(&self, signal: libc::c_int) {
        if let Some(pid) = self.pid() {
            // SAFETY: kill(2) of our own child, not yet reaped.
            unsafe { libc::kill(pid, signal) };
        }
    }

    /// Sends `signal` to the process's group (see [`Spawn::process_group`]).
    pub fn signal_group(&self, signal: libc::c_int) {
        if let Some(pid) = self.pid() {
            // SAFETY: kill(2) of the process group our own child leads.
            unsafe { libc::kill(-pid, signal) };
        }
    }

    /// Reaps the process if it ended (`block`: waits for it); whether it ended.
    fn reap(&self, block: bool) -> bool {
        let mut st = self.state();
        let Some(pid) = st.pid else { return true };
        let mut status = 0;
        // SAFETY: an all-zero rusage is valid; wait4 fills it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers; `pid` is our own child.
        let r = unsafe { libc::wait4(pid, &mut status, if block { 0 } else { libc::WNOHANG }, &mut usage) };
        if r == pid || (r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD)) {
            if r == pid {
                let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
                st.cpu = secs(usage.ru_utime) + secs(usage.ru_stime);
                st.status = Some(ExitStatus::from_raw(status));
            }
            st.pid = None;
            if let Some(w) = &self.watch {
                w.store(0, Ordering::Relaxed);
            }
            return true;
        }
        false
    }

    /// Whether the process still runs (reaps it if it ended).
    pub fn running(&self) -> bool {
        !self.reap(false)
    }

    /// How the process ended, once it was reaped.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.state().status
    }

    /// Fails with the tails of its logs when the process exited.
    pub fn check_running(&self) -> Result<()> {
        if self.running() {
            return Ok(());
        }
        let status = self.exit_status().map_or("an unknown status".to_string(), |s| s.to_string());
        bail!("{} exited with {status}:\n{}", self.name, self.log_tail(40))
    }

    /// Panics (a failing test) with the tails of its logs when the process exited.
    pub fn assert_running(&self) {
        if let Err(e) = self.check_running() {
            panic!("{e:#}");
        }
    }

    /// Waits up to `timeout` for the exit; whether it exited (and was reaped).
    pub fn wait_exit(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.reap(false) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// [`wait_exit`](Self::wait_exit) on tokio's clock.
    pub async fn wait_exit_async(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.reap(false) {
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Sends `signal`, waits up to `timeout` for the exit, then SIGKILL; reaped either way.
    pub fn stop_with(&self, signal: libc::c_int, timeout: Duration) {
        if !self.running() {
            return;
        }
        self.signal(signal);
        if !self.wait_exit(timeout) {
            self.signal(libc::SIGKILL);
            self.reap(true);
        }
    }

    /// [`stop_with`](Self::stop_with) on tokio's clock.
    pub async fn stop_with_async(&self, signal: libc::c_int, timeout: Duration) {
        if !self.running() {
            return;
        }
        self.signal(signal);
        if !self.wait_exit_async(timeout).await {
            self.signal(libc::SIGKILL);
            self.reap(true);
        }
    }

    /// Sends `signal` to the process's group, waits up to `timeout` for the leader's exit, then
    /// SIGKILLs whatever is left of the group (see [`Spawn::process_group`]); reaped either way.
    pub fn stop_group(&self, signal: libc::c_int, timeout: Duration) {
        let Some(pgid) = self.pid() else { return };
        self.signal_group(signal);
        self.wait_exit(timeout);
        // SAFETY: kill(2) of the group our own child led; nothing of it is left afterwards.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        self.reap(true);
    }

    /// Ends the process as its [`Ending`] says and reaps it.
    pub fn stop(&self) {
        match self.ending {
            Ending::Kill => self.stop_with(libc::SIGKILL, Duration::from_secs(5)),
            Ending::Term(grace) => self.stop_with(libc::SIGTERM, grace),
        }
    }

    /// CPU seconds of the process, running or ended.
    pub fn cpu_seconds(&self) -> f64 {
        let st = self.state();
        match st.pid {
            Some(pid) => proc_stat(pid).map_or(0.0, |s| s.0),
            None => st.cpu,
        }
    }

    /// The last `lines` lines of each log, headed by its path.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut s = String::new();
        for l in &self.logs {
            s += &format!("--- {}\n{}\n", l.display(), file_tail(l, lines));
        }
        s
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{} (pid {:?}) logs:\n{}", self.name, self.pid(), self.log_tail(40));
        }
        self.stop();
    }
}

/// `program` with `args`, as a [`Command`] (for callers that build one in an expression).
pub fn command<S: AsRef<std::ffi::OsStr>>(program: impl AsRef<std::ffi::OsStr>, args: &[S]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}
