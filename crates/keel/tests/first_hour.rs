//! What a newcomer meets in the first hour (issue 18): `keeld --check-config FILE`, one keeld
//! per state directory, keel finding an unprivileged keeld's API socket on its own, and a
//! keeld run as keeld.service runs it (a system user with capabilities) keeping the system
//! paths.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

fn config(dir: &Path, me: u8) -> String {
    format!(
        "[global]\nasn = 65000\nrouter_id = \"192.0.2.{me}\"\nlisten = [\"127.0.0.{me}:179\"]\napi = \"{}\"\nstate_dir = \"{}\"\n",
        dir.join("keel.sock").display(),
        dir.join("state").display()
    )
}

#[test]
fn check_config_takes_the_file_as_its_argument() {
    let dir = test_dir("check-config");
    let good = dir.join("good.toml");
    std::fs::write(&good, config(&dir, 2)).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[global]\nasn = 65000\nrouter_id = \"192.0.2.2\"\nhold = 3\n").unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(keeld_bin()).args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let (code, out) = run(&["--check-config".as_ref(), good.as_os_str()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with(&format!("{}: ok: as 65000 router-id 192.0.2.2", good.display())), "{out}");
    // The form with --config keeps working.
    let (code, out) = run(&["--config".as_ref(), good.as_os_str(), "--check-config".as_ref()]);
    assert_eq!(code, Some(0), "{out}");
    // A bad file: exit 1, the error names file, line and field.
    let (code, out) = run(&["--check-config".as_ref(), bad.as_os_str()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(&format!("{}:4", bad.display())) && out.contains("hold"), "{out}");
    // Two different files: refused rather than one silently chosen.
    let (code, out) = run(&["--config".as_ref(), good.as_os_str(), "--check-config".as_ref(), bad.as_os_str()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("give one"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_second_keeld_on_the_same_state_dir_exits_1_and_changes_nothing() {
    let dir = test_dir("state-lock");
    let text = config(&dir, 3);
    let first = start_with_config(dir.clone(), &text);
    first.wait_api(WAIT).expect("first keeld's API");
    let state = dir.join("state/keeld.state");
    let before = std::fs::read(&state).expect("state file");

    // The second keeld fails on the lock, before its listen address is even tried.
    let out = Command::new(keeld_bin()).arg("--config").arg(first.config_path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let pid = first.pid().expect("first keeld's pid");
    let expected = format!("keeld already running (pid {pid}) with state_dir {}", dir.join("state").display());
    assert!(stderr.contains(&expected), "{stderr}");
    assert_eq!(std::fs::read(&state).expect("state file"), before, "the state file was touched");
    // The first keeld is untouched: its API socket is still its own.
    first.assert_running();
    assert!(first.status().is_ok(), "first keeld's API");
}

/// A test directory user nobody can use (the build tree may be private): copies of keeld and
/// keel in it, and `tmp`, a temporary directory for anyone; (the directory, tmp).
fn nobody_dir(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = test_dir(name);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tmp = dir.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    for bin in [keeld_bin(), keel_bin()] {
        let copy = dir.join(bin.file_name().unwrap());
        std::fs::copy(&bin, &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    (dir, tmp)
}

#[test]
fn keel_reaches_an_unprivileged_keeld_without_api() {
    const NOBODY: u32 = 65534;
    let (dir, tmp) = nobody_dir("unprivileged");
    // std drops the supplementary groups when a root parent sets the uid.
    let as_nobody = |bin: &str| {
        let mut c = Command::new(dir.join(bin));
        c.uid(NOBODY).gid(NOBODY).env("TMPDIR", &tmp).env_remove("KEEL_API").current_dir(&tmp);
        c
    };
    preflight();
    // keeld with the embedded default: port 1179 and the socket in keel-UID under TMPDIR.
    let log = std::fs::File::create(dir.join("keeld.log")).unwrap();
    let mut keeld = as_nobody("keeld").stderr(log).spawn().expect("keeld as nobody");
    let socket = tmp.join(format!("keel-{NOBODY}/keel.sock"));
    let shown = keel_lab::wait::wait_for("keel show neighbors as nobody", WAIT, || {
        let out = as_nobody("keel").args(["show", "neighbors"]).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    });
    assert!(shown.starts_with("Neighbor"), "{shown}");
    assert!(socket.exists(), "keeld's socket is not where keel looked: {}", socket.display());
    let _ = keeld.kill();
    let _ = keeld.wait();
    let log = std::fs::read_to_string(dir.join("keeld.log")).unwrap_or_default();
    assert!(log.contains(&format!("127.0.0.1:{}", keel_api::UNPRIVILEGED_BGP_PORT)), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// keeld as keeld.service runs it: a system user owning /run/keel (RuntimeDirectory) and
/// /var/lib/keel (StateDirectory), with CAP_NET_BIND_SERVICE and CAP_NET_ADMIN as ambient
/// capabilities. Not root, yet it may use the system paths and port 179, so a bare keeld keeps
/// them instead of falling back to keel-UID and port 1179. User nobody stands in for keel; the
/// mount and network namespaces of its own (tmpfs over /run and /var/lib, its own loopback)
/// leave the host's directories and 127.0.0.1:179 alone.
#[test]
fn keeld_as_a_system_user_with_capabilities_keeps_the_system_paths() {
    const NOBODY: u32 = 65534;
    let (dir, tmp) = nobody_dir("system-user");
    // $1: the test directory. keeld is ended by its pid; the namespaces go with the shell.
    let script = format!(
        r#"set -e
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /var/lib
mkdir /run/keel /var/lib/keel
chown {NOBODY}:{NOBODY} /run/keel /var/lib/keel
ip link set lo up
as_keel="setpriv --reuid {NOBODY} --regid {NOBODY} --clear-groups"
$as_keel --inh-caps +net_bind_service,+net_admin --ambient-caps +net_bind_service,+net_admin \
  env TMPDIR="$1/tmp" "$1/keeld" 2>"$1/keeld.log" &
keeld=$!
for i in $(seq 200); do
  $as_keel env TMPDIR="$1/tmp" "$1/keel" show neighbors >"$1/shown" 2>&1 && break
  sleep 0.1
done
cat "$1/shown"
echo "socket: $(ls /run/keel)"
echo "state: $(ls /var/lib/keel/default)"
kill $keeld
wait $keeld || true
"#
    );
    let out = Command::new("unshare")
        .args(["--mount", "--net", "--propagation", "private", "sh", "-c", &script, "sh"])
        .arg(&dir)
        .env_remove("KEEL_API")
        .output()
        .expect("unshare");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let log = std::fs::read_to_string(dir.join("keeld.log")).unwrap_or_default();
    assert!(out.status.success(), "{text}\nkeeld's log:\n{log}");
    assert!(text.contains("socket: keel.sock"), "{text}\n{log}");
    assert!(text.contains("Neighbor"), "keel found keeld's socket at /run/keel/keel.sock: {text}\n{log}");
    assert!(text.contains("keeld.state") || text.contains("keeld.lock"), "state in /var/lib/keel/default: {text}");
    assert!(log.contains("127.0.0.1:179") && !log.contains("127.0.0.1:1179"), "{log}");
    assert!(std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0) == 0, "nothing in the fallback directory");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_neighbor_without_policy_says_why_nothing_flows() {
    let dir = test_dir("rfc8212");
    let text = config(&dir, 4)
        + "[[neighbor]]\naddress = \"127.0.0.5\"\nasn = 65005\nlocal_address = \"127.0.0.4\"\npassive = true\n\
           [[neighbor]]\naddress = \"127.0.0.6\"\nasn = 65000\nlocal_address = \"127.0.0.4\"\npassive = true\n\
           export = \"all\"\n";
    let k = start_with_config(dir.clone(), &text);
    k.wait_api(WAIT).expect("keeld's API");
    let ebgp = json(&k.api(), &["show", "neighbor", "127.0.0.5", "--json"]).expect("neighbor 127.0.0.5");
    assert_eq!((ebgp["import"].as_str(), ebgp["export"].as_str()), (Some("none (RFC 8212)"), Some("none (RFC 8212)")));
    let ibgp = json(&k.api(), &["show", "neighbor", "127.0.0.6", "--json"]).expect("neighbor 127.0.0.6");
    assert_eq!((ibgp["import"].as_str(), ibgp["export"].as_str()), (Some("all (iBGP default)"), Some("all")));
    let (ok, text) = keel(&k.api(), &["show", "neighbor", "127.0.0.5"]);
    assert!(ok && text.contains("Import/export:    none (RFC 8212) / none (RFC 8212)"), "{text}");
    // The log says it at start, once for the external neighbor only.
    let log = wait_for("the RFC 8212 warning", WAIT, || Some(k.log()).filter(|l| l.contains("RFC 8212")));
    assert!(log.contains("127.0.0.5") && log.contains("without import and export policy"), "{log}");
    assert_eq!(log.matches("RFC 8212 makes keel").count(), 1, "{log}");
}

/// `scripts/test` starts and stops BGP daemons and namespaces: run by anyone but root it stops
/// at once with one sentence that says so, before it installs or starts anything.
#[test]
fn the_test_command_refuses_to_run_without_root() {
    const NOBODY: u32 = 65534;
    let dir = test_dir("test-command");
    std::fs::create_dir(dir.join("scripts")).unwrap();
    let script = dir.join("scripts/test");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/test"), &script).unwrap();
    for (path, mode) in [(&dir, 0o755), (&dir.join("scripts"), 0o755), (&script, 0o755)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let out = Command::new("bash").arg(&script).uid(NOBODY).gid(NOBODY).output().expect("bash");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("must run as root") && err.contains("disposable machine"), "{err}");
    assert!(out.stdout.is_empty(), "it went on: {}", String::from_utf8_lossy(&out.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}
