//! keeld's state directory: its lock (one keeld per `state_dir`), and the state file: whether
//! the previous run exited cleanly and when, which makes the next start a restart (RFC 4724
//! §4.1), and how long the last restart took (for `keel check`).

use keel_config::Config;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use tracing::warn;

/// The lock file in `state_dir`: held (flock) by the keeld using that directory, holding its pid.
pub const LOCK_FILE: &str = "keeld.lock";

/// Why keeld cannot have its state directory.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("keeld already running (pid {pid}) with state_dir {}", .dir.display())]
    Held { pid: String, dir: PathBuf },
    #[error("cannot lock state_dir {}: {source}", .dir.display())]
    Io { dir: PathBuf, source: std::io::Error },
}

/// The exclusive lock on a state directory, released when dropped (or when the process ends,
/// however it ends). The descriptor is close-on-exec, so `keel restart`'s new image takes it
/// again.
#[derive(Debug)]
pub struct StateLock {
    _file: std::fs::File,
}

/// Takes `dir`'s lock before anything in it is read or written; fails at once, naming the
/// holder's pid, when another keeld has it.
pub fn lock_state_dir(dir: &Path) -> Result<StateLock, LockError> {
    let io = |source| LockError::Io { dir: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOCK_FILE))
        .map_err(io)?;
    // SAFETY: flock on a descriptor this function owns; no memory is passed.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(io(e));
        }
        let mut pid = String::new();
        let _ = file.read_to_string(&mut pid);
        let pid = if pid.trim().is_empty() { "unknown".to_string() } else { pid.trim().to_string() };
        return Err(LockError::Held { pid, dir: dir.to_path_buf() });
    }
    file.set_len(0).and_then(|_| file.rewind()).and_then(|_| writeln!(file, "{}", std::process::id())).map_err(io)?;
    Ok(StateLock { _file: file })
}

/// keeld's state file in `state_dir`, a JSON object: `clean_exit` (whether the last write was
/// at a clean exit), `time` (Unix seconds of that write), `pid`, and `last_restart_seconds`
/// once a restart was measured. Writers merge their fields into what is there.
pub const STATE_FILE: &str = "keeld.state";

/// What the previous run left in the state file.
#[derive(Debug)]
pub struct Previous {
    pub clean_exit: bool,
    pub seconds_ago: u64,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The previous run of the same speaker: a state file written by a keeld with another AS
/// number or BGP Identifier (another configuration sharing the directory) is not this
/// speaker's restart. A state file without them (older keeld) is taken as this speaker's.
pub fn read_state(config: &Config) -> Option<Previous> {
    let text = std::fs::read_to_string(config.global.state_dir.join(STATE_FILE)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let (asn, router_id) = identity(config);
    let other = |field: &str, mine: &serde_json::Value| !v[field].is_null() && v[field] != *mine;
    if other("asn", &asn) || other("router_id", &router_id) {
        warn!(
            state_dir = %config.global.state_dir.display(),
            "the state file is another speaker's (AS number or BGP Identifier differ): this start is not a restart"
        );
        return None;
    }
    let now = unix_now();
    Some(Previous {
        clean_exit: v["clean_exit"].as_bool().unwrap_or(false),
        seconds_ago: now.saturating_sub(v["time"].as_u64().unwrap_or(now)),
    })
}

/// The restart measured by the last keeld that used `state_dir`, in seconds.
pub fn last_restart_seconds(state_dir: &std::path::Path) -> std::io::Result<Option<u64>> {
    state_number(state_dir, "last_restart_seconds")
}

/// How long the last `keel upgrade` left the sessions without a message, in milliseconds: from
/// the old image's handoff stamp to the new image's KEEPALIVEs (docs/upgrade.md, N8). The next
/// upgrade's budget counts on it.
pub fn last_handoff_ms(state_dir: &std::path::Path) -> Option<u64> {
    state_number(state_dir, "last_handoff_ms").ok().flatten()
}

/// A number in the state file; `None` without the file or the field.
fn state_number(state_dir: &std::path::Path, key: &str) -> std::io::Result<Option<u64>> {
    let text = match std::fs::read_to_string(state_dir.join(STATE_FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Ok(v[key].as_u64())
}

/// Whether the last exit was clean, and when (for the restarting speaker, RFC 4724 §4.1).
pub fn write_state(config: &Config, clean_exit: bool) {
    let (asn, router_id) = identity(config);
    let fields = serde_json::json!({
        "clean_exit": clean_exit, "time": unix_now(), "pid": std::process::id(),
        "asn": asn, "router_id": router_id,
    });
    update_state(&config.global.state_dir, fields);
}

/// The speaker a state file belongs to: its AS number and BGP Identifier.
fn identity(config: &Config) -> (serde_json::Value, serde_json::Value) {
    (serde_json::json!(config.global.asn.get_ref()), serde_json::json!(config.global.router_id.get_ref().to_string()))
}

/// Merges `fields` into the state file, keeping the others. Failure is logged, not fatal.
pub fn update_state(dir: &std::path::Path, fields: serde_json::Value) {
    static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _writing = WRITING.lock();
    let path = dir.join(STATE_FILE);
    let mut state = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    if let (Some(state), Some(fields)) = (state.as_object_mut(), fields.as_object()) {
        state.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let result = std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&path, state.to_string()));
    if let Err(e) = result {
        warn!(dir = %dir.display(), error = %e, "cannot write state file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, router_id: &str) -> Config {
        let text = format!(
            "[global]\nasn = 65000\nrouter_id = \"{router_id}\"\nlisten = []\napi = \"{}\"\nstate_dir = \"{}\"\n",
            dir.join("keel.sock").display(),
            dir.display()
        );
        Config::parse(&text, "test.toml").expect("valid config")
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("keel-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_second_lock_on_the_state_dir_is_refused_with_the_holders_pid() {
        let dir = temp_dir("lock");
        let first = lock_state_dir(&dir).expect("first lock");
        match lock_state_dir(&dir) {
            Err(LockError::Held { pid, dir: d }) => {
                assert_eq!(pid, std::process::id().to_string());
                assert_eq!(d, dir);
            }
            other => panic!("second lock: {other:?}"),
        }
        drop(first);
        assert!(lock_state_dir(&dir).is_ok(), "the lock goes with its holder");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn another_speakers_state_file_is_not_a_restart() {
        let dir = temp_dir("identity");
        let a = config(&dir, "192.0.2.1");
        write_state(&a, true);
        assert!(read_state(&a).is_some_and(|p| p.clean_exit), "the same speaker restarts");
        assert!(read_state(&config(&dir, "192.0.2.2")).is_none(), "another BGP Identifier does not");
        // A state file from a keeld that did not record its identity still counts.
        std::fs::write(dir.join(STATE_FILE), r#"{"clean_exit":true,"time":1}"#).expect("write");
        assert!(read_state(&a).is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
