//! Shared helpers for tests that run keeld and keel: start keeld with a generated config in
//! its own temporary directory, run the CLI, poll with a deadline.
#![allow(dead_code)]

pub mod netns;
pub mod rng;
pub mod session;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One `[[neighbor]]` of a generated config.
pub struct Neighbor<'a> {
    pub last: u8,
    pub asn: u32,
    pub extra: &'a str,
}

pub struct Keeld {
    pub child: Child,
    pub dir: PathBuf,
}

impl Drop for Keeld {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Keeld {
    pub fn api(&self) -> PathBuf {
        self.dir.join("keel.sock")
    }
}

/// Starts keeld as 127.0.0.`me` (AS 65000+me) with one eBGP neighbor 127.0.0.`peer`
/// (AS 65000+peer), importing and exporting everything, originating `network`.
pub fn keeld(test: &str, me: u8, peer: u8, extra_global: &str, extra_neighbor: &str, network: &str) -> Keeld {
    let extra = format!("import = \"all\"\nexport = \"all\"\n{extra_neighbor}");
    let n = Neighbor { last: peer, asn: 65000 + peer as u32, extra: &extra };
    keeld_with(test, me, 65000 + me as u32, &[n], extra_global, &[network])
}

pub fn keel(api: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keel")).arg("--api").arg(api).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

pub fn json(api: &Path, args: &[&str]) -> Option<Value> {
    let (ok, out) = keel(api, args);
    if ok {
        serde_json::from_str(&out).ok()
    } else {
        None
    }
}

/// Polls `f` until it returns Some, for up to 20 s.
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn established(api: &Path, peer: &str) -> Value {
    wait_for("session established", || {
        json(api, &["show", "neighbor", peer, "--json"]).filter(|v| v["state"] == "established")
    })
}

/// Starts keeld as 127.0.0.`me` in AS `asn` with several neighbors and networks.
pub fn keeld_with(
    test: &str,
    me: u8,
    asn: u32,
    neighbors: &[Neighbor],
    extra_global: &str,
    networks: &[&str],
) -> Keeld {
    let dir = std::env::temp_dir().join(format!("keel-test-{test}-{me}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = format!(
        "[global]\nasn = {asn}\nrouter_id = \"192.0.2.{me}\"\nlisten = [\"127.0.0.{me}:179\"]\napi = \"{}\"\nstate_dir = \"{}\"\n{extra_global}\n",
        dir.join("keel.sock").display(),
        dir.display()
    );
    for n in neighbors {
        config.push_str(&format!(
            "[[neighbor]]\naddress = \"127.0.0.{}\"\nasn = {}\nlocal_address = \"127.0.0.{me}\"\nhold_time = 9\nconnect_retry_time = 1\n{}\n",
            n.last, n.asn, n.extra
        ));
    }
    for p in networks {
        config.push_str(&format!("[[network]]\nprefix = \"{p}\"\ncommunities = [\"65000:{me}\"]\n"));
    }
    start_with_config(dir, &config)
}

pub fn start_with_config(dir: PathBuf, config: &str) -> Keeld {
    start_with_umask(dir, config, None)
}

/// Like [`start_with_config`], keeld running under `umask` when given (what a service manager
/// or a shell would have set).
pub fn start_with_umask(dir: PathBuf, config: &str, umask: Option<libc::mode_t>) -> Keeld {
    use std::os::unix::process::CommandExt;
    let path = dir.join("keel.toml");
    std::fs::write(&path, config).unwrap();
    let log = std::fs::File::create(dir.join("keeld.log")).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_keeld"));
    command.arg("--config").arg(&path).stdout(Stdio::null()).stderr(log);
    if let Some(mask) = umask {
        // SAFETY: umask is async-signal-safe and touches only the child's own state.
        unsafe {
            command.pre_exec(move || {
                libc::umask(mask);
                Ok(())
            });
        }
    }
    let child = command.spawn().expect("start keeld");
    Keeld { child, dir }
}

/// Routes as `keel show routes --json` with the given extra arguments.
pub fn routes(api: &Path, args: &[&str]) -> Vec<Value> {
    let mut a = vec!["show", "routes", "--json"];
    a.extend_from_slice(args);
    json(api, &a).and_then(|v| v.as_array().cloned()).unwrap_or_default()
}
