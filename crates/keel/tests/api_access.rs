//! Who may drive keeld through its API socket (issue 16): the socket is mode 0660 whatever
//! the umask, in `[global] api_group`; requests that change keeld (clear, reload, restart,
//! stop) need uid 0 or that group, checked on the connection's peer credentials
//! (SO_PEERCRED); reading stays open to whoever can connect.
//!
//! These tests switch users with setpriv(1) and create a group with groupadd(8): they need
//! root, as the rest of the suite does.

use crate::common::*;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

fn assert_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "switching to user nobody needs root: run the test suite as root");
}

/// A fresh directory that user nobody can traverse (the socket's own mode is what is tested).
fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keel-test-api-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// A copy of the `keel` binary that user nobody can run whatever the build directory's modes.
fn keel_for_nobody(dir: &Path) -> PathBuf {
    let copy = dir.join("keel");
    std::fs::copy(env!("CARGO_BIN_EXE_keel"), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

/// keeld without BGP listeners, with one passive neighbor for `keel clear`.
fn config(dir: &Path, extra_global: &str) -> String {
    format!(
        "[global]\nasn = 65000\nrouter_id = \"192.0.2.1\"\nlisten = []\napi = \"{}\"\nstate_dir = \"{}\"\n{extra_global}\n\
         [[neighbor]]\naddress = \"127.0.0.99\"\nasn = 65099\npassive = true\n",
        dir.join("keel.sock").display(),
        dir.display()
    )
}

/// Runs `keel --api api args` through `setpriv setpriv_args`: (success, stdout + stderr).
fn keel_as(setpriv_args: &[&str], keel: &Path, api: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("setpriv")
        .args(setpriv_args)
        .arg(keel)
        .arg("--api")
        .arg(api)
        .args(args)
        .output()
        .expect("run setpriv");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

const NOBODY: &[&str] = &["--reuid=nobody", "--regid=nogroup", "--clear-groups"];

fn up(k: &Keeld) {
    wait_for("keeld's API", WAIT, || json(&k.api(), &["show", "neighbors", "--json"]));
}

fn still_running(k: &Keeld) {
    assert!(k.running(), "keeld exited");
    assert!(json(&k.api(), &["show", "neighbors", "--json"]).is_some(), "keeld does not answer root");
}

fn stopped_by_root(k: &Keeld) {
    let (ok, out) = keel(&k.api(), &["stop"]);
    assert!(ok, "root's keel stop: {out}");
    let status = wait_for("keeld to exit", WAIT, || if k.running() { None } else { k.exit_status() });
    assert!(status.success(), "keeld exit status {status}");
}

fn mode_and_gid(path: &Path) -> (u32, u32) {
    let m = std::fs::metadata(path).expect("API socket");
    assert!(m.file_type().is_socket(), "{} is not a socket", path.display());
    (m.mode() & 0o7777, m.gid())
}

/// Issue 16: under umask 000 the socket was world-writable and `nobody` ran `keel stop`.
#[test]
fn under_umask_000_the_socket_is_0660_and_nobody_cannot_stop_keeld() {
    assert_root();
    let dir = test_dir("umask");
    let keel_bin = keel_for_nobody(&dir);
    let k = start(Keeld::new(keeld_bin(), dir.clone()).unwrap().umask(0), &config(&dir, ""));
    up(&k);
    let (ok, out) = keel_as(NOBODY, &keel_bin, &k.api(), &["stop"]);
    assert!(!ok, "user nobody stopped keeld: {out}");
    assert!(out.contains("Permission denied"), "{out}");
    still_running(&k);
    // Without api_group the socket keeps keeld's own group (root's here).
    // SAFETY: getegid has no preconditions.
    assert_eq!(mode_and_gid(&k.api()), (0o660, unsafe { libc::getegid() }));
    stopped_by_root(&k);
}

/// A group that exists for one test: created with groupadd, removed on drop.
struct TempGroup {
    name: String,
    gid: u32,
}

impl TempGroup {
    fn new(name: &str) -> TempGroup {
        let _ = Command::new("groupdel").arg(name).output();
        let out = Command::new("groupadd").arg(name).output().expect("run groupadd");
        assert!(out.status.success(), "groupadd {name}: {}", String::from_utf8_lossy(&out.stderr));
        let out = Command::new("getent").args(["group", name]).output().expect("run getent");
        let line = String::from_utf8_lossy(&out.stdout).into_owned();
        let gid = line.split(':').nth(2).and_then(|g| g.trim().parse().ok()).unwrap_or_else(|| panic!("{line}"));
        TempGroup { name: name.to_string(), gid }
    }

    fn add_member(&self, user: &str) {
        let out = Command::new("gpasswd").args(["-a", user, &self.name]).output().expect("run gpasswd");
        assert!(out.status.success(), "gpasswd -a {user}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for TempGroup {
    fn drop(&mut self) {
        let _ = Command::new("groupdel").arg(&self.name).output();
    }
}

#[test]
fn api_group_members_may_change_keeld_and_others_may_only_read() {
    assert_root();
    let group = TempGroup::new(&format!("keelapi{}", std::process::id()));
    let dir = test_dir("group");
    let keel_bin = keel_for_nobody(&dir);
    let group_config = config(&dir, &format!("api_group = \"{}\"", group.name));
    let k = start(Keeld::new(keeld_bin(), dir.clone()).unwrap().umask(0), &group_config);
    up(&k);
    let api = k.api();
    assert_eq!(mode_and_gid(&api), (0o660, group.gid));

    // Outside the group nobody cannot even connect.
    let (ok, out) = keel_as(NOBODY, &keel_bin, &api, &["show", "neighbors"]);
    assert!(!ok && out.contains("Permission denied"), "{out}");
    // With the group among its process's groups (systemd's SupplementaryGroups=, sg(1)) it
    // may change keeld.
    let with_group = format!("--groups={}", group.gid);
    let member = ["--reuid=nobody", "--regid=nogroup", with_group.as_str()];
    let (ok, out) = keel_as(&member, &keel_bin, &api, &["reload"]);
    assert!(ok && out.contains("reloaded"), "{out}");

    // A socket opened to everyone (an operator's chmod, or every keeld before issue 16): the
    // credentials still decide. Reading is open, changing keeld is not.
    std::fs::set_permissions(&api, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (ok, out) = keel_as(NOBODY, &keel_bin, &api, &["show", "neighbors", "--json"]);
    assert!(ok && out.contains("127.0.0.99"), "{out}");
    for args in [&["stop"][..], &["reload"], &["restart"], &["upgrade"], &["clear", "neighbor", "127.0.0.99"]] {
        let (ok, out) = keel_as(NOBODY, &keel_bin, &api, args);
        assert!(!ok, "keel {args:?} as nobody was accepted: {out}");
        assert!(out.contains("refused") && out.contains(&group.name) && out.contains("65534"), "{args:?}: {out}");
    }
    still_running(&k);
    let n = json(&api, &["show", "neighbor", "127.0.0.99", "--json"]).unwrap();
    assert_eq!(n["last_notification_sent"], serde_json::Value::Null, "the refused clear reached the neighbor");
    let log = std::fs::read_to_string(dir.join("keeld.log")).unwrap();
    assert!(log.contains("API request refused"), "{log}");

    // Membership in the user database counts too, whatever groups the process kept.
    group.add_member("nobody");
    let (ok, out) = keel_as(NOBODY, &keel_bin, &api, &["reload"]);
    assert!(ok && out.contains("reloaded"), "{out}");
    stopped_by_root(&k);
}

#[test]
fn an_api_group_that_does_not_exist_is_a_config_error() {
    let dir = test_dir("nogroup");
    let path = dir.join("keel.toml");
    std::fs::write(&path, config(&dir, "api_group = \"no-such-group-keel\"")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keeld")).arg("--config").arg(&path).output().expect("run keeld");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "keeld started: {err}");
    assert!(err.contains(&format!("{}:7: global.api_group:", path.display())), "{err}");
    assert!(err.contains("no-such-group-keel"), "{err}");
    assert!(!dir.join("keel.sock").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
