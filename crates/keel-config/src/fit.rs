//! The embedded default fitted to the process that runs it (issue 18).
//!
//! A bare `keeld` (no `--config`) runs on the embedded default: BGP on 127.0.0.1:179, the API
//! socket in /run/keel, the state in /var/lib/keel/default. Whether this process may use them
//! is asked of the system, not inferred from "am I root": keeld under systemd runs as user
//! `keel` with CAP_NET_BIND_SERVICE, /run/keel (RuntimeDirectory) and /var/lib/keel
//! (StateDirectory) are its own, and it keeps the system paths and port 179 like root does. An
//! ordinary user has neither: BGP moves to port 1179 (+1000) and socket and state to
//! `keel_api::unprivileged_dir`, where `keel` looks for the socket too. The two decisions are
//! separate (a port is a capability, a path a permission); socket and state move together, so
//! a keeld's files are either all in the system places or all in its `keel-UID` directory.

use crate::Config;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// CAP_NET_BIND_SERVICE's bit in the capability sets (capabilities(7)).
const CAP_NET_BIND_SERVICE: u32 = 10;

/// What this process may use of the embedded default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// The lowest port it may bind: 0 with CAP_NET_BIND_SERVICE, else the kernel's
    /// `net.ipv4.ip_unprivileged_port_start` (1024 unless changed).
    pub lowest_port: u16,
    /// Whether it may create or write both the API socket's directory and the state directory.
    pub system_paths: bool,
    /// Its effective uid, naming the fallback directory.
    pub uid: u32,
}

impl Reach {
    /// Asks the kernel about this process and `config`'s paths.
    pub fn of_this_process(config: &Config) -> Reach {
        let lowest_port = if has_effective_capability(CAP_NET_BIND_SERVICE) {
            0
        } else {
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(1024)
        };
        let api_dir = config.global.api.parent().unwrap_or(Path::new("/"));
        Reach {
            lowest_port,
            system_paths: can_write(api_dir) && can_write(&config.global.state_dir),
            // SAFETY: geteuid has no preconditions and cannot fail.
            uid: unsafe { libc::geteuid() },
        }
    }
}

/// The embedded default fitted to this process ([`Reach::of_this_process`], [`fit`]).
pub fn for_this_process(config: Config) -> Config {
    let reach = Reach::of_this_process(&config);
    fit(config, reach)
}

/// `config` with its listen ports below `reach.lowest_port` moved up by
/// [`keel_api::UNPRIVILEGED_PORT_OFFSET`] (179 -> [`keel_api::UNPRIVILEGED_BGP_PORT`], 1179) and,
/// without the system paths, socket and state in `keel_api::unprivileged_dir`.
pub fn fit(mut config: Config, reach: Reach) -> Config {
    for a in config.global.listen.iter_mut() {
        if a.get_ref().port() < reach.lowest_port {
            let mut addr = *a.get_ref();
            addr.set_port(keel_api::unprivileged_port(addr.port()));
            *a = toml::Spanned::new(a.span(), addr);
        }
    }
    if !reach.system_paths {
        let dir = keel_api::unprivileged_dir(reach.uid);
        config.global.api = dir.join("keel.sock");
        config.global.state_dir = dir;
    }
    config
}

/// Whether `bit` is in this process's effective capability set (`CapEff` in
/// /proc/self/status, proc(5)); false when that cannot be read.
fn has_effective_capability(bit: u32) -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
            u64::from_str_radix(hex.trim(), 16).ok()
        })
        .is_some_and(|mask| mask & (1u64 << bit) != 0)
}

/// Whether this process may write in `dir`, or create it: the nearest part of the path that
/// exists is a directory it may write and search (with its effective ids, as open(2) checks).
pub fn can_write(dir: &Path) -> bool {
    let Some(existing) = dir.ancestors().find(|p| !p.as_os_str().is_empty() && p.exists()) else {
        return false;
    };
    if !existing.is_dir() {
        return false;
    }
    let Ok(path) = std::ffi::CString::new(existing.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `path` is a NUL-terminated string that outlives the call; faccessat only reads it.
    unsafe { libc::faccessat(libc::AT_FDCWD, path.as_ptr(), libc::W_OK | libc::X_OK, libc::AT_EACCESS) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen(c: &Config) -> Vec<String> {
        c.global.listen.iter().map(|a| a.get_ref().to_string()).collect()
    }

    /// Port and paths are decided apart: a capability for the port, permissions for the paths.
    #[test]
    fn the_default_keeps_what_the_process_may_use() {
        let default = || Config::embedded_default().expect("embedded default");
        let fallback = keel_api::unprivileged_dir(4242);
        let cases = [
            // (lowest_port, system_paths) -> (listen, api, state_dir)
            (0, true, "127.0.0.1:179", "/run/keel/keel.sock".into(), "/var/lib/keel/default".into()),
            (1024, false, "127.0.0.1:1179", fallback.join("keel.sock"), fallback.clone()),
            (0, false, "127.0.0.1:179", fallback.join("keel.sock"), fallback.clone()),
            (1024, true, "127.0.0.1:1179", "/run/keel/keel.sock".into(), "/var/lib/keel/default".into()),
            // net.ipv4.ip_unprivileged_port_start lowered below 179: no capability needed.
            (100, false, "127.0.0.1:179", fallback.join("keel.sock"), fallback.clone()),
        ];
        for (lowest_port, system_paths, port, api, state) in cases {
            let c = fit(default(), Reach { lowest_port, system_paths, uid: 4242 });
            let row = format!("lowest_port {lowest_port}, system_paths {system_paths}");
            assert_eq!(listen(&c), vec![port.to_string()], "{row}");
            assert_eq!(c.global.api, api, "{row}");
            assert_eq!(c.global.state_dir, state, "{row}");
        }
    }

    #[test]
    fn can_write_looks_at_the_nearest_existing_directory() {
        let dir = std::env::temp_dir().join(format!("keel-can-write-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temporary directory");
        assert!(can_write(&dir));
        assert!(can_write(&dir.join("not/yet/there")), "creatable below a writable directory");
        let file = dir.join("file");
        std::fs::write(&file, "").expect("file");
        assert!(!can_write(&file.join("below")), "a file is in the way");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// This process's own answer agrees with what it is (the tests run as root or not).
    #[test]
    fn reach_of_this_process_agrees_with_its_capabilities() {
        let config = Config::embedded_default().expect("embedded default");
        let reach = Reach::of_this_process(&config);
        assert_eq!(reach.lowest_port == 0, has_effective_capability(CAP_NET_BIND_SERVICE));
        // SAFETY: geteuid has no preconditions.
        assert_eq!(reach.uid, unsafe { libc::geteuid() });
    }
}
