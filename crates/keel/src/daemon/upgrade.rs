//! `keel upgrade`'s side in the running keeld (docs/upgrade.md): the pre-checks that change
//! nothing when they fail (step O0), and the binary keeld executes again, which `keel restart`
//! and `keel upgrade` share ([`own_binary`], [`Daemon::reexec`]).
//!
//! The checks: the new binary exists, is a regular file and keeld may execute it (`access(2)`
//! with `X_OK`, as keeld's own user); every Established session's negotiated hold time is
//! longer than the handoff budget ([`keel_handoff::plan`]); no neighbor is restarting (its
//! stale routes and graceful-restart timers are not handed over yet) and keel is not in its
//! own selection deferral. Past them the stop hands the sessions over ([`super::handoff`]).

use super::Daemon;
use crate::neighbor::fsm::State;
use keel_handoff::plan::{self, Budget};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The keeld binary now on disk at this process's own path. After a package replaced the file,
/// `/proc/self/exe` names the old one "(deleted)": the new file has the path without it.
pub fn own_binary() -> PathBuf {
    std::env::current_exe()
        .map(|p| PathBuf::from(p.to_string_lossy().trim_end_matches(" (deleted)").to_string()))
        .unwrap_or_else(|_| PathBuf::from("keeld"))
}

/// What keeld executes in its place once stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reexec {
    pub binary: PathBuf,
    /// `keel upgrade`: the sessions are handed over (else `keel restart`: a graceful restart).
    pub hitless: bool,
}

/// Why `keel upgrade` changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The binary cannot be executed (missing, not a file, not executable, relative path).
    Binary(String),
    /// Sessions whose hold time is too short for the handoff, or an upgrade already under way.
    Conflict(String),
}

/// Whether keeld can execute `path`: absolute, a regular file, executable by keeld's user.
pub fn check_binary(path: &Path) -> Result<(), String> {
    let shown = path.display();
    if !path.is_absolute() {
        return Err(format!("the new binary {shown} is not an absolute path"));
    }
    let meta = std::fs::metadata(path).map_err(|e| format!("the new binary {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("the new binary {shown} is not a regular file"));
    }
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| format!("the new binary {shown}: NUL in path"))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    if unsafe { libc::access(c.as_ptr(), libc::X_OK) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(format!("the new binary {shown} is not executable by keeld: {e}"));
    }
    Ok(())
}

impl Daemon {
    /// The Established sessions with their negotiated hold times.
    async fn established_sessions(&self) -> Vec<plan::Session> {
        let neighbors = self.neighbors.read().await;
        let mut sessions = Vec::new();
        for h in neighbors.values() {
            let s = h.status.borrow();
            if let (State::Established, Some(n)) = (s.state, s.negotiated.as_ref()) {
                sessions.push(plan::Session { address: h.config.address, hold_time: n.hold_time });
            }
        }
        sessions
    }

    /// The handoff budget now: every route held in Adj-RIBs-In and Adj-RIBs-Out counts.
    pub async fn handoff_budget(&self) -> Budget {
        let routes: usize =
            self.peer_counts().await.values().map(|c| c.received_prefixes + c.advertised_prefixes).sum();
        // The last upgrade's measured handoff, if any (docs/upgrade.md, step N8).
        let state_dir = self.config.read().await.global.state_dir.clone();
        Budget::new(routes as u64, super::state::last_handoff_ms(&state_dir))
    }

    /// `keel upgrade`'s pre-checks (docs/upgrade.md, O0); on success keeld is set to execute
    /// `binary` (default: [`own_binary`]) after its graceful stop, which the caller requests.
    pub async fn prepare_upgrade(&self, binary: Option<PathBuf>) -> Result<PathBuf, Refusal> {
        let binary = binary.unwrap_or_else(own_binary);
        check_binary(&binary).map_err(Refusal::Binary)?;
        let budget = self.handoff_budget().await;
        let mut refused: Vec<String> =
            plan::too_short(&self.established_sessions().await, &budget).iter().map(ToString::to_string).collect();
        refused.extend(self.restarting_now().await);
        if !refused.is_empty() {
            return Err(Refusal::Conflict(format!("no hitless upgrade now: {}", refused.join("; "))));
        }
        let mut reexec = self.reexec.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(other) = reexec.as_ref() {
            return Err(Refusal::Conflict(format!("a restart into {} is already under way", other.binary.display())));
        }
        *reexec = Some(Reexec { binary: binary.clone(), hitless: true });
        Ok(binary)
    }

    /// Graceful restarts going on, which an upgrade does not hand over yet: a neighbor's (keel
    /// its helper, with stale routes or timers) or keel's own selection deferral.
    async fn restarting_now(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.restarting.load(std::sync::atomic::Ordering::Relaxed) {
            v.push("keel's own selection deferral runs (RFC 4724 §4.1): wait for it to end".to_string());
        }
        let mut counts: Vec<_> = self.peer_counts().await.into_iter().collect();
        counts.sort_by_key(|(a, _)| *a);
        for (address, c) in counts {
            if c.helper_active || c.stale_prefixes > 0 || c.llgr_stale_prefixes > 0 || !c.timers.is_empty() {
                v.push(format!(
                    "{address} is restarting (keel helps it, {} stale routes): wait for its End-of-RIB",
                    c.stale_prefixes + c.llgr_stale_prefixes
                ));
            }
        }
        v
    }

    /// `keel restart`: execute keeld's own binary after the graceful stop (a second request
    /// while one is under way changes nothing).
    pub fn prepare_restart(&self) {
        let mut reexec = self.reexec.lock().unwrap_or_else(|e| e.into_inner());
        reexec.get_or_insert_with(|| Reexec { binary: own_binary(), hitless: false });
    }
}

#[cfg(test)]
mod tests {
    use super::check_binary;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn binary_checks_name_the_reason() {
        let dir = std::env::temp_dir().join(format!("keel-upgrade-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let missing = dir.join("missing");
        let e = check_binary(&missing).expect_err("missing");
        assert!(e.contains("No such file"), "{e}");
        assert!(check_binary(std::path::Path::new("keeld")).expect_err("relative").contains("absolute"));
        assert!(check_binary(&dir).expect_err("directory").contains("not a regular file"));
        let plain = dir.join("plain");
        std::fs::write(&plain, b"#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(check_binary(&plain).expect_err("not executable").contains("not executable"));
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(check_binary(&plain), Ok(()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
