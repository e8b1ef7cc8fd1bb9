//! `keel check --live` against BIRD: a neighbor without graceful restart is a FAIL with the
//! verdict `flushes`; one with it (the contrast) `keeps`.

use super::common::*;
use super::daemons::*;
use serde_json::Value;
use std::process::Command;

#[test]
fn check_live_fails_for_bird_without_graceful_restart() {
    let dir = temp_dir("check");
    let (keel_addr, no_gr, gr) = ("127.0.2.1", "127.0.2.2", "127.0.2.3");
    let kdir = dir.sub("keel");
    let config = format!(
        "{}{KEEL_GR}{}{}",
        keel_global(&kdir, asn_of(keel_addr), keel_addr),
        keel_neighbor(no_gr, asn_of(no_gr), keel_addr, 9),
        keel_neighbor(gr, asn_of(gr), keel_addr, 9),
    );
    let keel = Keel::start(&kdir, keel_addr, &config);
    let peer = |local, extra| BirdPeer {
        local,
        asn: asn_of(local),
        keel: keel_addr,
        keel_asn: asn_of(keel_addr),
        hold_time: 9,
        extra,
        routes: false,
    };
    let bird_no_gr =
        bird_peer(&dir.sub("bird-no-gr"), &peer(no_gr, "graceful restart off; long lived graceful restart off;"));
    let bird_gr = bird_peer(&dir.sub("bird-gr"), &peer(gr, ""));
    for (addr, bird) in [(no_gr, &bird_no_gr), (gr, &bird_gr)] {
        keel.wait_established(addr);
        bird.wait_established();
    }
    keel.wait_end_of_rib(gr, "BIRD");

    let run_check = |json: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keel"));
        cmd.arg("--api").arg(&keel.api).args(["check", "--live"]);
        if json {
            cmd.arg("--json");
        }
        run(&mut cmd)
    };
    let (code, out, err) = run_check(true);
    assert_eq!(code, 1, "exit status with a FAIL: {out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}{err}"));
    let findings = report["findings"].as_array().expect("findings");
    let find = |id: &str, neighbor: &str| {
        findings
            .iter()
            .find(|f| f["id"] == id && f["neighbor"] == neighbor)
            .unwrap_or_else(|| panic!("no {id} for {neighbor}: {report:#}"))
    };
    // BIRD without GR: no helper; keel's routes go when keel restarts.
    assert_eq!(find("peer-gr", no_gr)["level"], "FAIL", "{report:#}");
    let v = find("restart-verdict", no_gr);
    assert_eq!((v["level"].as_str(), v["verdict"].as_str()), (Some("FAIL"), Some("flushes")), "{v}");
    // BIRD with GR (restart time 111, no N bit in BIRD 2.0): keeps keel's routes.
    let p = find("peer-gr", gr);
    assert_eq!(p["level"], "PASS", "{p}");
    assert!(p["reason"].as_str().unwrap().contains("restart time 111s"), "{p}");
    let v = find("restart-verdict", gr);
    assert_eq!((v["level"].as_str(), v["verdict"].as_str()), (Some("PASS"), Some("keeps")), "{v}");
    assert_eq!(find("peer-n-bit", gr)["level"], "WARN", "{report:#}");
    assert_eq!(find("peer-end-of-rib", gr)["level"], "PASS", "{report:#}");
    assert_eq!(find("peer-llgr", gr)["level"], "PASS", "{report:#}");
    assert!(report["config"].is_null() && report["summary"]["fail"].as_u64() >= Some(2), "{report:#}");

    // The same as lines: LEVEL, id, neighbor and the one-word verdict.
    let (code, out, err) = run_check(false);
    assert_eq!(code, 1, "{out}{err}");
    let line = out.lines().find(|l| l.starts_with("FAIL  restart-verdict")).unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains(&format!("{no_gr}: flushes:")), "{line}");
    assert!(out.contains(&format!("PASS  restart-verdict       {gr}: keeps:")), "{out}");
}
