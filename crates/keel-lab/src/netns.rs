//! Network namespaces, the one helper behind every topology that runs keeld with the kernel FIB
//! (the tests' labs, `keel lab --netns`, the restart benchmark): a named namespace created with
//! its loopback up and deleted on drop, `ip -n` and `ip netns exec` in it, veth pairs between
//! two of them, and moving the calling thread into one (`setns(2)` affects that thread only, so
//! concurrent tests do not see it).
//!
//! Names must be unique on the host while their owner runs: callers put their pid and a tag in
//! them (`keel-fwd-r-1234`), and a leftover namespace of the same name (a SIGKILLed earlier
//! run) is deleted first.

use anyhow::{bail, Context, Result};
use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

/// Runs `ip ARGS`; its stdout, or an error with its stderr.
pub fn ip(args: &[&str]) -> Result<String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run ip {}", args.join(" ")))?;
    if !out.status.success() {
        bail!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A named network namespace (`/run/netns/NAME`), deleted on drop with the interfaces in it.
pub struct Namespace {
    name: String,
}

impl Namespace {
    /// Creates the namespace (deleting a leftover of the same name first) with `lo` up.
    pub fn create(name: &str) -> Result<Namespace> {
        let _ = Command::new("ip").args(["netns", "del", name]).stderr(Stdio::null()).status();
        ip(&["netns", "add", name])?;
        let ns = Namespace { name: name.to_string() };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// `ip netns exec NAME PROGRAM`, to add arguments to. `ip` execs the program: the child's
    /// pid is the program's.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// `sysctl -q -w KEY=VALUE` inside the namespace.
    pub fn sysctl(&self, setting: &str) -> Result<()> {
        let out = self.command("sysctl").args(["-q", "-w", setting]).stdin(Stdio::null()).output();
        let out = out.context("cannot run sysctl")?;
        if !out.status.success() {
            bail!("sysctl {setting} in {}: {}", self.name, String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    }

    /// Moves the calling thread into the namespace until the guard is dropped (threads and
    /// processes it starts meanwhile live there too).
    pub fn enter(&self) -> Result<Entered> {
        enter(&self.name)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).stderr(Stdio::null()).status();
    }
}

/// Adds a veth pair: `a_dev` in `a`, `b_dev` in `b`.
pub fn veth(a: &Namespace, a_dev: &str, b: &Namespace, b_dev: &str) -> Result<()> {
    a.ip(&["link", "add", a_dev, "type", "veth", "peer", "name", b_dev, "netns", b.name()])?;
    Ok(())
}

/// Moves the calling thread into the namespace named `name` (one this process does not own,
/// or from a thread that cannot borrow its [`Namespace`]) until the guard is dropped.
pub fn enter(name: &str) -> Result<Entered> {
    let original = File::open("/proc/thread-self/ns/net").context("cannot open this thread's namespace")?;
    set(&format!("/run/netns/{name}"))?;
    Ok(Entered { original })
}

fn set(path: &str) -> Result<()> {
    let f = File::open(path).with_context(|| format!("cannot open {path}"))?;
    // SAFETY: a valid namespace fd; setns affects only the calling thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        bail!("setns {path}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// The calling thread inside a [`Namespace`]; back in the namespace it came from on drop.
pub struct Entered {
    original: File,
}

impl Drop for Entered {
    fn drop(&mut self) {
        // SAFETY: the fd of the namespace this thread was in.
        unsafe { libc::setns(self.original.as_raw_fd(), libc::CLONE_NEWNET) };
    }
}
