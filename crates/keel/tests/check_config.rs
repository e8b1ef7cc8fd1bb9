//! `keel check` from the command line: one configuration per pitfall gives its finding and
//! the exit status; a restart of keeld is measured into its state file and read back. The
//! live audit against BIRD is in the interop tests (`interop/check.rs`).

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keel-test-check-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `[global]` of a keeld that listens nowhere, with its state in `dir`.
fn global(dir: &Path) -> String {
    format!(
        "[global]\nasn = 65001\nrouter_id = \"192.0.2.1\"\nlisten = []\napi = \"{}\"\nstate_dir = \"{}\"\n",
        dir.join("keel.sock").display(),
        dir.display()
    )
}

/// `keel check ARGS --json`: (exit code, report).
fn check(args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_keel")).arg("check").args(args).arg("--json").output().unwrap();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", out.stdout.escape_ascii(), out.stderr.escape_ascii()));
    (out.status.code().unwrap_or(-1), report)
}

fn levels<'a>(report: &'a Value, id: &str) -> Vec<&'a str> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == id)
        .filter_map(|f| f["level"].as_str())
        .collect()
}

#[test]
fn each_pitfall_is_reported_with_its_level_and_exit_status() {
    let dir = temp_dir("table");
    let ebgp =
        "[[neighbor]]\naddress = \"192.0.2.2\"\nasn = 65002\nimport = \"all\"\nexport = \"all\"\nhold_time = 180\n";
    // (case, configuration after [global], last_restart_seconds in the state file, id, level)
    let table: &[(&str, String, Option<u64>, &str, &str)] = &[
        ("gr disabled", "[graceful_restart]\nmode = \"disabled\"\n".into(), None, "gr-disabled", "FAIL"),
        ("helper only", "[graceful_restart]\nmode = \"helper\"\n".into(), None, "gr-disabled", "WARN"),
        ("restart time below the measured restart", ebgp.into(), Some(200), "restart-time-short", "FAIL"),
        ("restart time below 2x the measured restart", ebgp.into(), Some(70), "restart-time-short", "WARN"),
        ("no restart measured", ebgp.into(), None, "restart-time-short", "WARN"),
        ("stale time 0", "[graceful_restart]\nstale_routes_time = 0\n".into(), None, "stale-time", "FAIL"),
        (
            "stale time below the deferral",
            "[graceful_restart]\nstale_routes_time = 60\nselection_deferral_time = 120\n".into(),
            None,
            "stale-time",
            "WARN",
        ),
        (
            "deferral beyond the helpers' stale time",
            "[graceful_restart]\nstale_routes_time = 60\nselection_deferral_time = 120\n".into(),
            None,
            "deferral-time",
            "WARN",
        ),
        ("FIB disabled in restart mode", String::new(), None, "fib-disabled-restart", "WARN"),
        ("N bit off", "[graceful_restart]\nnotification = false\n".into(), None, "n-bit-off", "WARN"),
        (
            "eBGP neighbor without policy",
            "[[neighbor]]\naddress = \"192.0.2.2\"\nasn = 65002\n".into(),
            None,
            "ebgp-no-policy",
            "WARN",
        ),
        (
            "hold time below restart time",
            "[[neighbor]]\naddress = \"192.0.2.2\"\nasn = 65001\nhold_time = 30\n".into(),
            None,
            "hold-time",
            "WARN",
        ),
        (
            "hold time 0",
            "[[neighbor]]\naddress = \"192.0.2.2\"\nasn = 65001\nhold_time = 0\n".into(),
            None,
            "hold-time",
            "WARN",
        ),
        ("LLGR off after a restart longer than restart time", ebgp.into(), Some(900), "llgr-off", "WARN"),
        ("prefix limits: none can be configured", ebgp.into(), None, "prefix-limit", "PASS"),
    ];
    for (i, (case, extra, measured, id, level)) in table.iter().enumerate() {
        let case_dir = dir.join(i.to_string());
        std::fs::create_dir_all(&case_dir).unwrap();
        if let Some(s) = measured {
            let state = format!(r#"{{"clean_exit": true, "time": 1, "pid": 1, "last_restart_seconds": {s}}}"#);
            std::fs::write(case_dir.join("keeld.state"), state).unwrap();
        }
        let path = case_dir.join("keel.toml");
        std::fs::write(&path, format!("{}{extra}", global(&case_dir))).unwrap();
        let (code, report) = check(&["--config", path.to_str().unwrap()]);
        assert!(levels(&report, id).contains(level), "{case}: want {id} {level}:\n{report:#}");
        let fails = report["summary"]["fail"].as_u64().unwrap();
        assert_eq!(code, i32::from(fails > 0), "{case}: exit status with {fails} FAIL");
        assert_eq!(report["config"], path.to_str().unwrap());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_config_the_embedded_default_is_audited() {
    let (code, report) = check(&[]);
    // Its state_dir may hold a measured restart of this machine's keeld: no fixed verdict.
    assert_eq!(code, i32::from(report["summary"]["fail"] != 0), "{report:#}");
    assert_eq!(report["config"], "<embedded default>");
    assert_eq!(levels(&report, "gr-disabled"), ["PASS"]);
    let out = Command::new(env!("CARGO_BIN_EXE_keel")).arg("check").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("configuration <embedded default> (no --config"), "{text}");
    assert!(text.contains("PASS  gr-disabled"), "{text}");
}

#[test]
fn a_broken_config_is_exit_status_2() {
    let dir = temp_dir("broken");
    let path = dir.join("keel.toml");
    std::fs::write(&path, "[global]\nasn = 0\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keel")).args(["check", "--config"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// keeld started over a clean exit record measures its restart (previous exit to the end of
/// selection deferral) into `last_restart_seconds`, keeps it across its own exit, and
/// `keel check` reads it.
#[test]
fn a_restart_is_measured_and_read_back() {
    let dir = temp_dir("measure");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    std::fs::write(dir.join("keeld.state"), format!(r#"{{"clean_exit": true, "time": {}, "pid": 1}}"#, now - 7))
        .unwrap();
    let config = global(&dir);
    let k = start_with_config(dir.clone(), &config);
    let state = wait_for("last_restart_seconds in the state file", WAIT, || {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("keeld.state")).ok()?).ok()?;
        v["last_restart_seconds"].is_u64().then_some(v)
    });
    let measured = state["last_restart_seconds"].as_u64().unwrap();
    assert!((7..60).contains(&measured), "{state}");
    assert_eq!(state["clean_exit"], false, "{state}");
    assert_eq!(state["pid"], k.pid().expect("keeld runs"), "{state}");

    let (code, report) = check(&["--config", dir.join("keel.toml").to_str().unwrap()]);
    assert_eq!(code, 0, "{report:#}");
    let f = report["findings"].as_array().unwrap().iter().find(|f| f["id"] == "restart-time-short").unwrap();
    assert!(f["reason"].as_str().unwrap().contains(&format!("({measured}s)")), "{f}");

    // A clean stop keeps the measure.
    let (ok, out) = keel(&k.api(), &["stop"]);
    assert!(ok, "{out}");
    let state = wait_for("clean exit recorded", WAIT, || {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("keeld.state")).ok()?).ok()?;
        (v["clean_exit"] == true).then_some(v)
    });
    assert_eq!(state["last_restart_seconds"], measured, "{state}");
}
