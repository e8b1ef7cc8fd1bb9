//! The real BGP daemons keeld meets in the tests, the lab and the benchmarks, one driver per
//! daemon, and what they need of the host.
//!
//! Each driver says how its daemon is started (`command`), asked (its CLI) and configured
//! towards keel, for every user; the tests use its struct ([`bird::Bird`], [`frr::Frr`],
//! [`gobgp::GoBgp`], [`exabgp::ExaBgp`], [`stayrtr::start`], [`pmacct::Pmbmpd`]), whose methods fail the calling
//! test (`try_start` returns the error instead), the lab and `keel bench` its functions, which
//! return errors. Every daemon is started by [`spawn`] and awaited by [`wait_ready`], runs in
//! its own directory, bound to its own 127.0.0.0/8 address (or inside a namespace), and is
//! ended by its pid ([`crate::process::Process`]). Recipes and quirks: /work/shared/interop.md.

pub mod bird;
pub mod exabgp;
pub mod frr;
pub mod gobgp;
pub mod openbgpd;
pub mod pmacct;
pub mod stayrtr;

use crate::netns::Namespace;
use crate::process::{Process, Spawn};
use anyhow::{anyhow, Result};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the drivers wait for a daemon to answer, or for a state it normally reaches in a
/// few seconds.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Starts a driver's `command` as process `name` in `dir`, inside `netns` when given, as `how`
/// says: the one way the tests, the lab and `keel bench` start a daemon.
pub fn spawn(name: &str, command: Command, dir: &Path, netns: Option<&Namespace>, how: &Spawn) -> Result<Process> {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = ns.command(command.get_program());
            c.args(command.get_args());
            c
        }
        None => command,
    };
    cmd.current_dir(dir);
    Process::spawn(name, cmd, how)
}

/// Asks `ready` until it answers `Ok` (up to [`DEADLINE`]); an error with what it saw last when
/// it never does, or with `process`'s logs as soon as `process` exits.
pub fn wait_ready(what: &str, process: &Process, mut ready: impl FnMut() -> Result<(), String>) -> Result<()> {
    let mut exited = None;
    let answer = crate::wait::poll(DEADLINE, crate::wait::POLL, || match process.check_running() {
        Ok(()) => ready(),
        Err(e) => {
            exited = Some(e);
            Ok(())
        }
    });
    if let Some(e) = exited {
        return Err(e);
    }
    answer.map_err(|(e, took)| anyhow!("timed out after {:.1}s waiting for {what}: {e}", took.as_secs_f64()))
}

/// Daemons that Debian starts as services and that would hold `*:179`.
const SERVICE_DAEMONS: [&str; 6] = ["bird", "bgpd", "gobgpd", "watchfrr", "zebra", "exabgp"];

/// A listener on 0.0.0.0:179 or [::]:179 makes every bind to 127.0.0.x:179 fail. Packaged
/// services (bird, frr, gobgpd) may run one after installation: this stops them (systemd units,
/// then the processes) and panics when the port stays taken. Our own daemons bind only their
/// own address. Callers run it once per process before their first daemon starts (it stops
/// host services: not something two tests should do at once).
pub fn free_port_179() {
    if wildcard_179_owners().is_empty() {
        return;
    }
    if Path::new("/run/systemd/system").exists() {
        for unit in ["bird", "frr", "gobgpd", "exabgp"] {
            let _ = Command::new("systemctl").args(["stop", unit]).stdin(Stdio::null()).output();
        }
    }
    for (pid, comm) in wildcard_179_owners() {
        if SERVICE_DAEMONS.iter().any(|d| comm.starts_with(d)) {
            eprintln!("stopping {comm} (pid {pid}), it listens on *:179");
            // SAFETY: plain kill(2) of a pid we identified as a BGP service daemon.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until && !can_bind_179() {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        can_bind_179(),
        "processes listen on *:179 and block 127.0.0.x:179 for the tests: {:?}",
        wildcard_179_owners()
    );
}

/// Whether a listener on 127.0.0.199:179 (an address no test uses) is possible: a
/// dual-stack or IPv4 wildcard listener on port 179 prevents it.
fn can_bind_179() -> bool {
    // std sets SO_REUSEADDR: a connection of an earlier listener in TIME_WAIT is no obstacle.
    std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 199], 179))).is_ok()
}

/// (pid, command name) of every process listening on TCP port 179 of a wildcard address.
fn wildcard_179_owners() -> Vec<(i32, String)> {
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let mut inodes = Vec::new();
    for (file, wildcard) in
        [("/proc/net/tcp", "00000000:00B3"), ("/proc/net/tcp6", "00000000000000000000000000000000:00B3")]
    {
        for line in read(Path::new(file)).lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st ... inode(9)
            if f.len() > 9 && f[1] == wildcard && f[3] == "0A" {
                inodes.push(format!("socket:[{}]", f[9]));
            }
        }
    }
    if inodes.is_empty() {
        return Vec::new();
    }
    let mut owners = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let fds = std::fs::read_dir(entry.path().join("fd"));
        let holds =
            fds.into_iter().flatten().flatten().any(|fd| {
                std::fs::read_link(fd.path()).is_ok_and(|l| inodes.iter().any(|i| l.to_string_lossy() == *i))
            });
        if holds {
            owners.push((pid, read(&entry.path().join("comm")).trim().to_string()));
        }
    }
    if owners.is_empty() {
        owners.push((0, "unknown process".into()));
    }
    owners
}
