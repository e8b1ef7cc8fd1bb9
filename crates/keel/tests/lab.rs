//! `keel lab` (issue 9): the restart rehearsal with a 6000-route table (5000 IPv4 + 1000
//! IPv6). With graceful restart, `restart`, `crash` and `peer-restart` must cost the observer
//! no route and the FIB no operation; without it, each removes the whole table from the
//! observer's RIB. Every process the lab started is gone afterwards, its directory too, and
//! its HTML report opens in headless Chromium without console errors, with one SVG series per
//! peer. Chromium is required (scripts/test installs it); `llgr` is not asserted (LLGR is
//! still being implemented). The lab uses 127.77.N.x, apart from the other tests' 127.0.0.x;
//! labs run side by side (each claims its N for its lifetime).
//! `--peer bird`, `--peer frr` and `--peer gobgp` run that daemon as the upstream and as the
//! observer (root, like the interop tests); what leaves the daemon observer's table is counted
//! by keel's speaker behind it. `--netns` (root) runs keeld with the kernel FIB inside namespaces the
//! lab creates and counts the packets a traffic flow loses.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROUTES: u64 = 6000;

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                found.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
            }
        }
    }
    found
}

/// Runs headless Chromium on `page`: the DOM it built and its log (console messages appear
/// as `CONSOLE` lines).
fn chromium(page: &Path, profile: &Path) -> (String, String) {
    let mut child = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run chromium ({e}); install it: DEBIAN_FRONTEND=noninteractive \
                 apt-get install -y --no-install-recommends chromium"
            )
        });
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn console_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught")).collect()
}

/// Runs `keel lab ARGS --json` in `dir`; the results and the lab's pid.
fn lab(dir: &Path, args: &[&str]) -> (Vec<Value>, u32) {
    crate::common::preflight();
    let child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("lab")
        .args(args)
        .arg("--json")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lab_pid = child.id();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "keel lab failed:\n{stderr}");
    let results = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", String::from_utf8_lossy(&out.stdout)));
    (results, lab_pid)
}

/// Nothing the lab started is left: no process mentions its directory, which is gone too.
fn assert_nothing_left(lab_pid: u32) {
    let lab_dir = format!("keel-lab-{lab_pid}");
    assert_eq!(processes_mentioning(&lab_dir), Vec::<String>::new(), "processes left by keel lab");
    assert!(!std::env::temp_dir().join(&lab_dir).exists(), "keel lab left its directory");
}

#[test]
fn lab_with_bird_as_upstream_and_observer() {
    let results = lab_with_peer("bird");
    for r in &results {
        let (gr, s) = (r["graceful_restart"] == true, &r["scenario"]);
        // BIRD helps keel's restart and restarts gracefully itself (birdc graceful restart, bird -R).
        assert_eq!(r["routes_removed"], if gr { 0 } else { 2400 }, "{s} (GR {gr}): {r}");
        if gr {
            assert_eq!(r["fib_operations"], 0, "{s} with GR: {r}");
        }
    }
}

/// Runs `keel lab --routes 2000 --peer PEER --scenarios restart,peer-restart`; the results
/// by (scenario, GR), after checking that every scenario settled and nothing is left.
fn lab_with_peer(peer: &str) -> Vec<Value> {
    let dir = std::env::temp_dir().join(format!("keel-test-lab-{peer}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (results, lab_pid) = lab(&dir, &["--routes", "2000", "--peer", peer, "--scenarios", "restart,peer-restart"]);
    assert_nothing_left(lab_pid);
    assert_eq!(results.len(), 4, "{results:#?}");
    for r in &results {
        assert_eq!((&r["settled"], &r["disrupted"]), (&true.into(), &true.into()), "{r}");
        assert!(r["packets_lost"].is_null(), "{r}");
        assert_eq!((r["upstream"].as_str(), r["observer"].as_str()), (Some(peer), Some(peer)), "{r}");
        // The new keeld sends its table again: the UPDATEs the daemon observer received.
        if r["scenario"] == "restart" {
            assert!(r["updates"].as_u64() > Some(0), "{r}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    results
}

fn result<'a>(results: &'a [Value], scenario: &str, gr: bool) -> &'a Value {
    results
        .iter()
        .find(|r| r["scenario"] == scenario && r["graceful_restart"] == gr)
        .unwrap_or_else(|| panic!("no result for {scenario} (GR {gr}) in {results:#?}"))
}

#[test]
fn lab_with_frr_as_upstream_and_observer() {
    // keel's restart waits until FRR's startup window (R=1 in its OPENs) has passed.
    let results = lab_with_peer("frr");
    // FRR helps keel's restart and restarts gracefully itself (SIGTERM: Cease with the N bit;
    // R=1 and F=1 when it is back).
    for s in ["restart", "peer-restart"] {
        let r = result(&results, s, true);
        assert_eq!((&r["routes_removed"], &r["fib_operations"]), (&0.into(), &0.into()), "{s} with GR: {r}");
        assert_eq!(result(&results, s, false)["routes_removed"], 2400, "{s} without GR");
    }
}

#[test]
fn lab_with_gobgp_as_upstream_and_observer() {
    let results = lab_with_peer("gobgp");
    for s in ["restart", "peer-restart"] {
        let r = result(&results, s, true);
        assert_eq!((&r["routes_removed"], &r["fib_operations"]), (&0.into(), &0.into()), "{s} with GR: {r}");
        assert_eq!(result(&results, s, false)["routes_removed"], 2400, "{s} without GR");
    }
}

#[test]
fn lab_refuses_gobgp_hard_reset_and_netns_misuse() {
    let cases: [(&[&str], &str); 2] = [
        (&["--peer", "gobgp", "--scenarios", "hard-reset"], "not supported"),
        (&["--netns", "--peer", "bird"], "only with keel's own upstream speaker"),
    ];
    for (args, why) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_keel")).arg("lab").args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    }
    // Without root, --netns stops before creating anything (as root: run as nobody).
    let mut c = Command::new(env!("CARGO_BIN_EXE_keel"));
    c.args(["lab", "--netns"]);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::process::CommandExt::uid(&mut c, 65534);
        std::os::unix::process::CommandExt::gid(&mut c, 65534);
    }
    let out = c.output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--netns needs root"), "{stderr}");
}

/// `--netns` (root): keeld with the kernel FIB in a namespace and a traffic flow through its
/// routes. With GR, `restart` and `crash` lose no packet: the kernel routes stay (keeld
/// freezes the FIB on SIGTERM; SIGKILL leaves it) and the new keeld replaces them in place
/// (RTM_NEWROUTE with NLM_F_REPLACE, never a gap). Without GR both lose packets: on SIGTERM
/// keeld flushes its routes; after SIGKILL the new keeld deletes the old ones at once
/// (no selection deferral) and installs them again when the table is back.
#[test]
fn lab_netns_counts_packets_lost() {
    // Like the kernel FIB tests: root is required (the test command runs as root), never a skip.
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "--netns needs root: run the test suite as root");
    let dir = std::env::temp_dir().join(format!("keel-test-lab-netns-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let t0 = Instant::now();
    let (results, lab_pid) = lab(&dir, &["--netns", "--routes", "1000", "--scenarios", "restart,crash"]);
    assert!(t0.elapsed() < Duration::from_secs(60), "took {:?}", t0.elapsed());
    assert_nothing_left(lab_pid);
    let namespaces = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let namespaces = String::from_utf8_lossy(&namespaces.stdout);
    assert!(!namespaces.contains(&format!("kl-{lab_pid}-")), "namespaces left: {namespaces}");
    assert_eq!(results.len(), 4, "{results:#?}");
    for r in &results {
        assert_eq!((&r["settled"], &r["disrupted"]), (&true.into(), &true.into()), "{r}");
        assert!(r["packets_lost"].is_u64(), "{r}");
        assert!(r["fib_operations"].is_null(), "kernel FIB operations are not counted: {r}");
    }
    for s in ["restart", "crash"] {
        let gr = result(&results, s, true);
        assert_eq!((&gr["routes_removed"], &gr["packets_lost"]), (&0.into(), &0.into()), "{s} with GR: {gr}");
        let no = result(&results, s, false);
        assert!(no["packets_lost"].as_u64().unwrap() > 0, "{s} without GR: {no}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lab_rehearsal_with_and_without_graceful_restart() {
    let dir = std::env::temp_dir().join(format!("keel-test-lab-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("keel-lab-report.html");
    let (results, lab_pid) = lab(
        &dir,
        &[
            "--routes",
            "5000",
            "--scenarios",
            "restart,crash,peer-restart,hard-reset,llgr",
            "--report",
            "keel-lab-report.html",
        ],
    );
    assert_nothing_left(lab_pid);
    for r in &results {
        for pid in r["keeld_pids"].as_array().unwrap() {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            assert!(!String::from_utf8_lossy(&cmdline).contains("keeld"), "keeld {pid} still runs");
        }
    }

    let find = |scenario: &str, gr: bool| {
        results
            .iter()
            .find(|r| r["scenario"] == scenario && r["graceful_restart"] == gr)
            .unwrap_or_else(|| panic!("no result for {scenario} (GR {gr}) in {results:#?}"))
    };
    assert_eq!(results.len(), 10, "{results:#?}");
    for r in &results {
        for field in ["routes_removed", "updates", "fib_operations"] {
            assert!(r[field].is_u64(), "{field} in {r}");
        }
        assert!(r["graceful_restart"].is_boolean(), "{r}");
        assert!(r["packets_lost"].is_null(), "{r}");
        assert!(r["seconds_to_end_of_rib"].is_f64(), "{r}");
        assert_eq!(r["routes"], ROUTES, "{r}");
        assert_eq!((&r["settled"], &r["disrupted"]), (&true.into(), &true.into()), "{r}");
        assert_eq!((&r["upstream"], &r["observer"]), (&"keel".into(), &"keel".into()), "{r}");
    }
    for s in ["restart", "crash", "peer-restart"] {
        let gr = find(s, true);
        assert_eq!(gr["routes_removed"], 0, "{s} with GR: {gr}");
        assert_eq!(gr["fib_operations"], 0, "{s} with GR: {gr}");
        let no = find(s, false);
        assert_eq!(no["routes_removed"], ROUTES, "{s} without GR: {no}");
    }
    // RFC 8538 §3: a Hard Reset flushes the routes even with GR.
    for gr in [true, false] {
        assert_eq!(find("hard-reset", gr)["routes_removed"], ROUTES);
    }
    // RFC 9494 §4.2: past its restart time the upstream's routes stay, LLGR-stale; the
    // observer (which advertises LLGR) gets them again with LLGR_STALE, nothing is removed,
    // the kernel is not touched. Without GR they go.
    let llgr = find("llgr", true);
    assert_eq!((&llgr["routes_removed"], &llgr["fib_operations"]), (&0.into(), &0.into()), "{llgr}");
    assert_eq!(llgr["llgr_stale_routes"], ROUTES, "{llgr}");
    assert_eq!(find("llgr", false)["routes_removed"], ROUTES);
    // Restarting or losing the upstream without GR re-installs the table at least once.
    assert!(find("peer-restart", false)["fib_operations"].as_u64().unwrap() >= ROUTES);

    // The report in a real browser: no console errors, one SVG series per peer.
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "external assets in the report");
    let (dom, log) = chromium(&report, &dir.join("chromium"));
    assert_eq!(console_lines(&log), Vec::<&str>::new(), "console messages:\n{log}");
    assert_eq!(dom.matches("<svg").count(), 1, "{dom}");
    let series: Vec<&str> = dom.match_indices("class=\"series\" data-peer=\"").map(|(i, _)| &dom[i + 26..]).collect();
    let peers: Vec<&str> = series.iter().map(|s| s.split('"').next().unwrap()).collect();
    assert_eq!(peers, ["upstream", "observer"], "series per peer");
    // The console check does see errors: the same report with a broken script.
    let broken = dir.join("broken.html");
    std::fs::write(&broken, html.replace("</body>", "<script>undefinedFunction();</script></body>")).unwrap();
    let (_, log) = chromium(&broken, &dir.join("chromium"));
    assert!(!console_lines(&log).is_empty(), "chromium reported no error for a broken page:\n{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
