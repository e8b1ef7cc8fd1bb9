//! What a newcomer meets in the first hour (issue 18): `keeld --check-config FILE`, one keeld
//! per state directory, and keel finding an unprivileged keeld's API socket on its own.

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

#[test]
fn keel_reaches_an_unprivileged_keeld_without_api() {
    const NOBODY: u32 = 65534;
    // Both binaries and a temporary directory nobody can use (the build tree may be private).
    let dir = test_dir("unprivileged");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tmp = dir.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    for bin in [keeld_bin(), keel_bin()] {
        let copy = dir.join(bin.file_name().unwrap());
        std::fs::copy(&bin, &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
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
