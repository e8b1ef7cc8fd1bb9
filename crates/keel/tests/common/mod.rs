//! What the integration tests share on top of `keel_lab`'s harness (the keeld handle
//! [`Keeld`], namespaces, polling, daemon drivers): this crate's binaries, keeld started as
//! 127.0.0.x with a generated configuration in its own temporary directory, the `keel` CLI.
#![allow(dead_code)]

pub mod netns;
pub mod rng;
pub mod session;

pub use keel_lab::keeld::Keeld;
pub use keel_lab::wait::wait_for;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;
use std::time::Duration;

/// How long the keeld-against-keeld tests wait for something that takes a moment.
pub const WAIT: Duration = Duration::from_secs(20);

/// The keeld binary cargo built for this test run.
pub fn keeld_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keeld"))
}

/// The keel binary cargo built for this test run.
pub fn keel_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keel"))
}

/// Makes sure no packaged service holds `*:179` (which blocks every 127.0.0.x:179), once per
/// run, before the first daemon of any test starts; concurrent callers wait for the first.
pub fn preflight() {
    static ONCE: Once = Once::new();
    ONCE.call_once(keel_lab::daemons::free_port_179);
}

/// One `[[neighbor]]` of a generated config.
pub struct Neighbor<'a> {
    pub last: u8,
    pub asn: u32,
    pub extra: &'a str,
}

/// Starts keeld as 127.0.0.`me` (AS 65000+me) with one eBGP neighbor 127.0.0.`peer`
/// (AS 65000+peer), importing and exporting everything, originating `network`.
pub fn keeld(test: &str, me: u8, peer: u8, extra_global: &str, extra_neighbor: &str, network: &str) -> Keeld {
    let extra = format!("import = \"all\"\nexport = \"all\"\n{extra_neighbor}");
    let n = Neighbor { last: peer, asn: 65000 + peer as u32, extra: &extra };
    keeld_with(test, me, 65000 + me as u32, &[n], extra_global, &[network])
}

pub fn keel(api: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(keel_bin()).arg("--api").arg(api).args(args).output().unwrap();
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

/// `keel show neighbor ADDR --json`, or null while keeld does not answer.
pub fn neighbor(api: &Path, addr: &str) -> Value {
    json(api, &["show", "neighbor", addr, "--json"]).unwrap_or(Value::Null)
}

pub fn established(api: &Path, peer: &str) -> Value {
    wait_for("session established", WAIT, || {
        json(api, &["show", "neighbor", peer, "--json"]).filter(|v| v["state"] == "established")
    })
}

/// A fresh directory for a test's keeld: `$TMPDIR/keel-test-NAME-PID`.
pub fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keel-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
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
    let dir = test_dir(&format!("{test}-{me}"));
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

/// keeld on `config` in `dir` (removed when the handle goes, unless the test failed).
pub fn start_with_config(dir: PathBuf, config: &str) -> Keeld {
    start(Keeld::new(keeld_bin(), dir).expect("keeld's directory"), config)
}

/// Writes `config` into keeld's directory and starts it; the directory goes with the handle
/// unless the test failed.
pub fn start(keeld: Keeld, config: &str) -> Keeld {
    preflight();
    let mut k = keeld.remove_dir_on_drop();
    k.write_config(config).expect("keeld's configuration");
    k.start().expect("start keeld");
    k
}

/// Routes as `keel show routes --json` with the given extra arguments.
pub fn routes(api: &Path, args: &[&str]) -> Vec<Value> {
    let mut a = vec!["show", "routes", "--json"];
    a.extend_from_slice(args);
    json(api, &a).and_then(|v| v.as_array().cloned()).unwrap_or_default()
}
