//! keeld's state file: whether the previous run exited cleanly and when, which makes the next
//! start a restart (RFC 4724 §4.1), and how long the last restart took (for `keel check`).

use crate::config::Config;
use tracing::warn;

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

pub fn read_state(config: &Config) -> Option<Previous> {
    let text = std::fs::read_to_string(config.global.state_dir.join(STATE_FILE)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let now = unix_now();
    Some(Previous {
        clean_exit: v["clean_exit"].as_bool().unwrap_or(false),
        seconds_ago: now.saturating_sub(v["time"].as_u64().unwrap_or(now)),
    })
}

/// The restart measured by the last keeld that used `state_dir`, in seconds.
pub fn last_restart_seconds(state_dir: &std::path::Path) -> std::io::Result<Option<u64>> {
    let text = match std::fs::read_to_string(state_dir.join(STATE_FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Ok(v["last_restart_seconds"].as_u64())
}

/// Whether the last exit was clean, and when (for the restarting speaker, RFC 4724 §4.1).
pub fn write_state(config: &Config, clean_exit: bool) {
    let fields = serde_json::json!({"clean_exit": clean_exit, "time": unix_now(), "pid": std::process::id()});
    update_state(&config.global.state_dir, fields);
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
