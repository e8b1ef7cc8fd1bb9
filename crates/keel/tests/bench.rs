//! `keel bench --quick` (issue 10): the harness works against every DUT the test command
//! installs (keeld, BIRD 2, FRR bgpd, GoBGP, OpenBGPD; scripts/test-packages.txt) and the
//! `direct` baseline. Every scenario gives figures for every DUT and every daemon really
//! converged: the monitor's prefix count equals the table size. Speed is not checked here.
//! Root is needed for the other daemons (port 179); without it only keel and direct run.
//! The bench uses 127.88.N.x, apart from the other tests' addresses (`--bmp`: pmbmpd on .3, port
//! 1790).

use serde_json::Value;
use std::process::Command;
use std::sync::Mutex;

/// The bench picks its 127.88.N.0/24 from its process id, the same for both tests here: they
/// run one after the other.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

#[test]
fn quick_bench_gives_figures_for_every_dut() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    crate::common::preflight();
    let dir = std::env::temp_dir().join(format!("keel-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let duts: &[&str] =
        if is_root() { &["keel", "bird", "frr", "gobgp", "openbgpd", "direct"] } else { &["keel", "direct"] };
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["bench", "--quick", "--json", "--duts", &duts.join(",")])
        .arg("--keeld")
        .arg(env!("CARGO_BIN_EXE_keeld"))
        .arg("--markdown")
        .arg(dir.join("bench.md"))
        .arg("--svg")
        .arg(dir.join("bench.svg"))
        .output()
        .expect("run keel bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("keel bench --json: {e}\nstdout: {}\nstderr: {stderr}", String::from_utf8_lossy(&out.stdout))
    });
    let rows = rows.as_array().expect("an array of rows");
    for dut in duts {
        for (scenario, testers) in [("converge", 1), ("converge", 2), ("helper", 1), ("churn", 1), ("restart", 1)] {
            let r = rows
                .iter()
                .find(|r| r["dut"] == *dut && r["scenario"] == scenario && r["testers"] == testers)
                .unwrap_or_else(|| panic!("no {scenario} row with {testers} tester(s) for {dut}\n{stderr}"));
            assert_eq!(r["ok"], true, "{scenario} on {dut}: {r}\n{stderr}");
            assert_eq!(r["expected"], 20000, "{r}");
            assert_eq!(r["monitor_prefixes"], r["expected"], "{scenario} on {dut}: the monitor misses prefixes: {r}");
            let daemon = *dut != "direct";
            match scenario {
                "converge" => {
                    assert!(r["seconds"].as_f64().is_some(), "{r}");
                    if daemon {
                        assert!(r["cpu_seconds"].as_f64().is_some() && r["peak_rss_mib"].as_f64() > Some(0.0), "{r}");
                    }
                }
                "churn" => {
                    assert!(r["p99_ms"].as_f64().is_some(), "{r}");
                    assert_eq!(r["delays"], r["changed"], "every changed prefix reached the monitor: {r}");
                }
                "helper" => {
                    assert!(r["seconds"].as_f64().is_some(), "{r}");
                    assert!(r["announced"].as_u64() >= r["changed"].as_u64(), "{r}");
                }
                _ if daemon => assert!(r["cpu_seconds"].as_f64().is_some(), "{r}"),
                _ => {}
            }
        }
    }
    assert!(out.status.success(), "keel bench failed:\n{stderr}");
    let md = std::fs::read_to_string(dir.join("bench.md")).unwrap();
    assert!(md.contains("### converge") && md.contains("| keel |"), "{md}");
    let svg = std::fs::read_to_string(dir.join("bench.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("keel, 1 tester"), "{svg}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `keel bench --feeder bird` (issue 20): each tester is a BIRD 2 given its table over BGP
/// by keel's speaker; the DUTs (keeld and BIRD here) converge on what it sends, and the rows
/// carry the feeders' CPU and memory and when their session came up. In `helper` the BIRD
/// feeder restarts gracefully with 1% changed: the DUT withdraws nothing and passes the
/// changed prefixes on; in `restart` the DUT restarts while the feeders help it.
#[test]
fn bird_feeders_feed_keel_and_bird() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    crate::common::preflight();
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["bench", "--quick", "--json", "--feeder", "bird", "--duts", "keel,bird"])
        .args(["--scenarios", "converge,helper,restart"])
        .arg("--keeld")
        .arg(env!("CARGO_BIN_EXE_keeld"))
        .output()
        .expect("run keel bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "keel bench --feeder bird failed:\n{stderr}");
    let rows: Value = serde_json::from_slice(&out.stdout).expect("keel bench --json");
    let rows = rows.as_array().expect("an array of rows");
    for dut in ["keel", "bird"] {
        for testers in [1, 2] {
            let r = rows
                .iter()
                .find(|r| r["dut"] == dut && r["testers"] == testers)
                .unwrap_or_else(|| panic!("no converge row with {testers} tester(s) for {dut}\n{stderr}"));
            assert_eq!((&r["ok"], &r["feeder"]), (&Value::Bool(true), &Value::from("bird")), "{r}\n{stderr}");
            assert_eq!(r["monitor_prefixes"], 20000, "the monitor misses prefixes: {r}");
            assert!(r["feeder_peak_rss_mib"].as_f64() > Some(0.0), "{r}");
            assert!(r["feeder_cpu_seconds"].as_f64().is_some() && r["session_seconds"].as_f64().is_some(), "{r}");
            assert!(r["cpu_seconds"].as_f64().is_some() && r["peak_rss_mib"].as_f64() > Some(0.0), "{r}");
        }
        let row = |scenario: &str| {
            rows.iter()
                .find(|r| r["dut"] == dut && r["scenario"] == scenario)
                .unwrap_or_else(|| panic!("no {scenario} row for {dut}\n{stderr}"))
        };
        let helper = row("helper");
        assert_eq!(helper["ok"], true, "{helper}\n{stderr}");
        assert_eq!(helper["withdrawn"], 0, "a helper keeps the restarting feeder's routes: {helper}");
        assert!(helper["changed"].as_u64() > Some(0), "{helper}");
        assert_eq!(helper["changed_at_monitor"], helper["changed"], "the changed prefixes passed on: {helper}");
        assert!(helper["feeder_cpu_seconds"].as_f64() >= Some(0.0), "{helper}");
        let restart = row("restart");
        assert_eq!((&restart["ok"], &restart["withdrawn"]), (&Value::Bool(true), &Value::from(0)), "{restart}");
        assert_eq!(restart["monitor_prefixes"], 20000, "{restart}");
    }
}

/// `keel bench --bfd --quick` (issue 22, root: namespaces): 10 BFD sessions at 100 ms x 3
/// come Up on keeld's keel-bfdd and on the second keel-bfdd, none goes Down while a 10,000-route
/// table loads, the report has every field, the detection after the link cut was measured,
/// and the bench leaves no namespace and no process behind. Speed is not checked.
#[test]
fn quick_bfd_bench_reports_sessions_cpu_and_detection() {
    assert!(is_root(), "--bfd needs root: run the test suite as root");
    let child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["bench", "--bfd", "--quick", "--json", "--keeld", env!("CARGO_BIN_EXE_keeld")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run keel bench --bfd");
    let pid = child.id();
    let out = child.wait_with_output().expect("keel bench --bfd's output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("keel bench --bfd --json: {e}\nstdout: {}\nstderr: {stderr}", String::from_utf8_lossy(&out.stdout))
    });
    assert!(out.status.success(), "{r}\n{stderr}");
    assert_eq!(
        (&r["sessions"], &r["sessions_up"], &r["peer_sessions_up"]),
        (&10.into(), &10.into(), &10.into()),
        "{r}"
    );
    assert_eq!((&r["interval_ms"], &r["multiplier"], &r["routes"]), (&100.into(), &3.into(), &10000.into()), "{r}");
    assert_eq!((&r["false_downs"], &r["min_sessions_up"], &r["ok"]), (&0.into(), &10.into(), &true.into()), "{r}");
    assert!(r["window_seconds"].as_f64() >= Some(3.0) && r["table_seconds"].as_f64().is_some(), "{r}");
    for field in ["keel_bfdd_cpu_seconds", "keel_bfdd_cpu_percent", "peer_bfdd_cpu_percent", "keeld_cpu_seconds"] {
        assert!(r[field].as_f64().is_some_and(|v| v >= 0.0), "{field}: {r}");
    }
    let d = &r["detection"];
    assert_eq!((&d["detection_time_ms"], &d["goal_ms"]), (&300.into(), &400.0.into()), "{r}");
    for field in ["bfd_down_ms", "fib_first_ms", "fib_last_ms"] {
        assert!(d[field].as_f64().is_some_and(|v| v > 0.0), "{field}: {r}");
    }
    let namespaces = Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
    let namespaces = String::from_utf8_lossy(&namespaces.stdout);
    assert!(!namespaces.contains(&format!("kb-{pid}-")), "namespaces left: {namespaces}");
    let dir = std::env::temp_dir().join(format!("keel-bench-bfd-{pid}"));
    assert!(!dir.exists(), "directory left: {}", dir.display());
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        assert!(!cmdline.contains(&format!("keel-bench-bfd-{pid}")), "process left: {cmdline}");
    }
}

/// `keel bench --bmp --quick` (issue 23): keeld without a station, with pmbmpd from the
/// start, and dumping to pmbmpd after convergence; each run converges, and pmbmpd ends with
/// keel's whole Loc-RIB in both runs that have it. Figures are given, not checked.
#[test]
fn quick_bmp_bench_gets_the_routes_to_pmbmpd() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    crate::common::preflight();
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["bench", "--bmp", "--quick", "--json"])
        .arg("--keeld")
        .arg(env!("CARGO_BIN_EXE_keeld"))
        .output()
        .expect("run keel bench --bmp");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("keel bench --json: {e}\nstdout: {}\nstderr: {stderr}", String::from_utf8_lossy(&out.stdout))
    });
    let rows = rows.as_array().expect("an array of rows");
    for station in ["none", "live", "dump"] {
        let r = rows
            .iter()
            .find(|r| r["scenario"] == "bmp" && r["station"] == station)
            .unwrap_or_else(|| panic!("no bmp row for station {station}\n{stderr}"));
        assert_eq!(r["ok"], true, "{station}: {r}\n{stderr}");
        assert_eq!(r["monitor_prefixes"], 20000, "{station}: the monitor converged: {r}");
        assert!(r["cpu_seconds"].as_f64().is_some() && r["peak_rss_mib"].as_f64() > Some(0.0), "{r}");
        if station == "none" {
            assert!(r["station_routes"].is_null(), "{r}");
            continue;
        }
        assert_eq!(r["station_routes"], 20000, "{station}: pmbmpd holds keel's Loc-RIB: {r}\n{stderr}");
        assert!(r["station_seconds"].as_f64() > Some(0.0), "{r}");
        if station == "dump" {
            assert!(r["extra_rss_mib"].as_f64().is_some(), "{r}");
        }
    }
    assert!(out.status.success(), "keel bench --bmp failed:\n{stderr}");
}
