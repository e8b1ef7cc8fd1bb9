//! `keel lab` (issues 9 and 18): the restart rehearsal with a 6000-route table (5000 IPv4 +
//! 1000 IPv6). With graceful restart, `restart`, `crash` and `peer-restart` must cost the
//! observer no route and the FIB no operation; without it, each removes the whole table from
//! the observer's RIB. `--json` is one object, `{"verdict": ..., "scenarios": [...]}`: the
//! verdict is pass and every run as expected, or, with an observer that is no GR helper
//! (`--observer-no-gr`), fail with exit status 1. Every process the lab started is gone
//! afterwards, its directory too, and its HTML report opens in headless Chromium without
//! console errors, with one SVG series per peer, the verdict, coloured expectations, axis
//! ticks, keel's version, the date and the host, no empty column, no overlapping labels (their
//! boxes as Chromium lays them out), and a screenshot that is not blank. Chromium is required
//! (scripts/test installs it). The lab uses 127.77.N.x, apart from the other tests' 127.0.0.x;
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
    chromium_with(page, profile, &["--dump-dom"])
}

/// Runs headless Chromium with `args` on `page`: its output and its log.
fn chromium_with(page: &Path, profile: &Path, args: &[&str]) -> (String, String) {
    let mut child = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
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

/// What one `keel lab` printed and how it exited.
struct LabRun {
    stdout: String,
    stderr: String,
    code: Option<i32>,
    pid: u32,
}

/// Runs `keel lab ARGS` in `dir`.
fn run_lab(dir: &Path, args: &[&str]) -> LabRun {
    crate::common::preflight();
    let child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("lab")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    LabRun {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code(),
        pid,
    }
}

/// The one JSON object `keel lab --json` prints: `{"verdict": ..., "scenarios": [...]}`, each
/// scenario with the sentence it expects.
fn parse_rehearsal(run: &LabRun) -> (String, Vec<Value>) {
    let v: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr:\n{}", run.stdout, run.stderr));
    let keys: Vec<&String> = v.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    assert_eq!(keys, ["scenarios", "verdict"], "{v}");
    let scenarios = v["scenarios"].as_array().cloned().unwrap_or_default();
    for r in &scenarios {
        assert!(r["expected"].as_str().is_some_and(|e| e.contains("RFC")), "{r}");
        assert!(r["as_expected"].is_boolean(), "{r}");
    }
    (v["verdict"].as_str().unwrap_or_default().to_string(), scenarios)
}

/// Runs `keel lab ARGS --json` in `dir`, which must pass: exit status 0, verdict pass, every
/// run as expected. The results and the lab's pid.
fn lab(dir: &Path, args: &[&str]) -> (Vec<Value>, u32) {
    let mut args = args.to_vec();
    args.push("--json");
    let run = run_lab(dir, &args);
    assert_eq!(run.code, Some(0), "keel lab failed:\n{}", run.stderr);
    let (verdict, results) = parse_rehearsal(&run);
    for r in &results {
        assert_eq!(r["as_expected"], true, "{r}\n{}", run.stderr);
    }
    assert_eq!(verdict, "pass", "{}", run.stderr);
    (results, run.pid)
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
        // BIRD helps keel's restart and restarts gracefully itself (birdc graceful restart, bird -R);
        // an upgrade ends no session, with GR or without.
        let kept = gr || s == "upgrade";
        assert_eq!(r["routes_removed"], if kept { 0 } else { 2400 }, "{s} (GR {gr}): {r}");
        if gr {
            assert_eq!(r["fib_operations"], 0, "{s} with GR: {r}");
        }
    }
}

/// Runs `keel lab --routes 2000 --peer PEER --scenarios restart,peer-restart,upgrade`; the
/// results by (scenario, GR), after checking that every scenario settled and nothing is left,
/// and that `upgrade` moved nothing in either mode: no route removed, no UPDATE, no session
/// reset (keeld's own count of its sessions with the daemon).
fn lab_with_peer(peer: &str) -> Vec<Value> {
    let dir = std::env::temp_dir().join(format!("keel-test-lab-{peer}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let scenarios = ["--scenarios", "restart,peer-restart,upgrade"];
    let (results, lab_pid) = lab(&dir, &[&["--routes", "2000", "--peer", peer][..], &scenarios[..]].concat());
    assert_nothing_left(lab_pid);
    assert_eq!(results.len(), 6, "{results:#?}");
    for r in &results {
        assert_eq!((&r["settled"], &r["disrupted"]), (&true.into(), &true.into()), "{r}");
        assert!(r["packets_lost"].is_null(), "{r}");
        assert_eq!((r["upstream"].as_str(), r["observer"].as_str()), (Some(peer), Some(peer)), "{r}");
        // The new keeld sends its table again: the UPDATEs the daemon observer received.
        if r["scenario"] == "restart" {
            assert!(r["updates"].as_u64() > Some(0), "{r}");
        }
        if r["scenario"] == "upgrade" {
            let moved = (&r["routes_removed"], &r["updates"], &r["sessions_reset"], &r["fib_operations"]);
            assert_eq!(moved, (&0.into(), &0.into(), &0.into(), &0.into()), "{r}");
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
/// (no selection deferral) and installs them again when the table is back. `upgrade` loses
/// none in either mode.
#[test]
fn lab_netns_counts_packets_lost() {
    // Like the kernel FIB tests: root is required (the test command runs as root), never a skip.
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "--netns needs root: run the test suite as root");
    let dir = std::env::temp_dir().join(format!("keel-test-lab-netns-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let t0 = Instant::now();
    let (results, lab_pid) = lab(&dir, &["--netns", "--routes", "1000", "--scenarios", "restart,crash,upgrade"]);
    assert!(t0.elapsed() < Duration::from_secs(60), "took {:?}", t0.elapsed());
    assert_nothing_left(lab_pid);
    let namespaces = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let namespaces = String::from_utf8_lossy(&namespaces.stdout);
    assert!(!namespaces.contains(&format!("kl-{lab_pid}-")), "namespaces left: {namespaces}");
    assert_eq!(results.len(), 6, "{results:#?}");
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
    // `keel upgrade` loses nothing, with graceful restart or without.
    for gr in [true, false] {
        let r = result(&results, "upgrade", gr);
        assert_eq!((&r["routes_removed"], &r["packets_lost"]), (&0.into(), &0.into()), "upgrade (GR {gr}): {r}");
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
            "restart,crash,upgrade,peer-restart,hard-reset,llgr",
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
    assert_eq!(results.len(), 12, "{results:#?}");
    for r in &results {
        for field in ["routes_removed", "updates", "fib_operations"] {
            assert!(r[field].is_u64(), "{field} in {r}");
        }
        assert!(r["graceful_restart"].is_boolean(), "{r}");
        assert!(r["packets_lost"].is_null(), "{r}");
        // `upgrade` ends no session: no End-of-RIB ends it.
        assert_eq!(r["seconds_to_end_of_rib"].is_f64(), r["scenario"] != "upgrade", "{r}");
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
    // `keel upgrade`: nothing moves, with GR or without; the same keeld process throughout.
    for gr in [true, false] {
        let up = find("upgrade", gr);
        let moved = (&up["routes_removed"], &up["updates"], &up["fib_operations"], &up["sessions_reset"]);
        assert_eq!(moved, (&0.into(), &0.into(), &0.into(), &0.into()), "upgrade (GR {gr}): {up}");
        assert_eq!(up["keeld_pids"].as_array().map(Vec::len), Some(1), "{up}");
        assert_eq!(up["last_upgrade"]["sessions"], 2, "{up}");
    }
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
    assert_report_dom(&dom);
    assert_labels_do_not_overlap(&html, &dir);
    assert_screenshot_not_blank(&report, &dir);
    // The console check does see errors: the same report with a broken script.
    let broken = dir.join("broken.html");
    std::fs::write(&broken, html.replace("</body>", "<script>undefinedFunction();</script></body>")).unwrap();
    let (_, log) = chromium(&broken, &dir.join("chromium"));
    assert!(!console_lines(&log).is_empty(), "chromium reported no error for a broken page:\n{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The text of the first element that opens with `open` (up to its closing `close`).
fn element<'a>(dom: &'a str, open: &str, close: &str) -> &'a str {
    let start = dom.find(open).unwrap_or_else(|| panic!("no {open} in the report:\n{dom}")) + open.len();
    let rest = &dom[start..];
    &rest[..rest.find(close).unwrap_or(rest.len())]
}

/// The cells' texts of each row of the table `id`, header rows (no `<td>`) left out.
fn table_rows(dom: &str, id: &str) -> Vec<Vec<String>> {
    let table = element(dom, &format!("<table id=\"{id}\""), "</table>");
    table
        .split("<tr")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let text = cell.split_once('>').map_or("", |(_, t)| t);
                    text.split("</td>").next().unwrap_or_default().trim().to_string()
                })
                .collect::<Vec<String>>()
        })
        .filter(|cells| !cells.is_empty())
        .collect()
}

/// What the report's DOM (as Chromium built it) must show: the verdict, keel's version, the
/// date and the host; expected cells coloured green, none red; ticks on the axes; no column
/// without a figure.
fn assert_report_dom(dom: &str) {
    assert!(dom.contains("class=\"verdict pass\""), "no verdict:\n{dom}");
    assert!(element(dom, "id=\"verdict\">", "</p>").contains("all 12 runs as expected"), "{dom}");
    assert_eq!(element(dom, "<span class=\"version\">", "</span>"), env!("CARGO_PKG_VERSION"));
    let date = element(dom, "<span class=\"date\">", "</span>");
    assert!(date.len() == "2026-12-07 19:20 UTC".len() && date.starts_with("20") && date.ends_with(" UTC"), "{date}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(element(dom, "<span class=\"host\">", "</span>"), host.trim());
    // Expected cells: routes removed (and FIB operations, LLGR_STALE) and "as expected" of
    // every run, green; nothing red in a passing rehearsal.
    let figures = element(dom, "<table id=\"figures\"", "</table>");
    assert!(figures.matches("class=\"good\"").count() >= 2 * 10, "{figures}");
    assert!(!figures.contains("class=\"bad\""), "{figures}");
    // Ticks with units on both axes of both plots.
    let tick_labels: Vec<&str> = dom
        .match_indices("class=\"tick-label\"")
        .map(|(i, _)| dom[i..].split_once('>').map_or("", |(_, t)| t).split('<').next().unwrap_or_default())
        .collect();
    assert!(tick_labels.iter().filter(|t| t.ends_with(" s")).count() >= 2 * 4, "time ticks: {tick_labels:?}");
    assert!(tick_labels.contains(&"6,000"), "route ticks: {tick_labels:?}");
    assert!(dom.contains("class=\"tick\""), "tick marks");
    assert_eq!(dom.matches("class=\"axis-title\"").count(), 2, "axis titles");
    for title in ["UPDATEs per second", "routes"] {
        assert!(dom.contains(&format!(">{title}</text>")), "{title}");
    }
    // No empty column: packets lost is not measured without --netns, so not shown.
    assert!(!figures.contains("packets lost"), "{figures}");
    let rows = table_rows(dom, "figures");
    assert_eq!(rows.len(), 6, "{rows:?}");
    for col in 1..rows[0].len() {
        assert!(
            rows.iter().any(|r| r.get(col).is_some_and(|c| c != "-" && !c.is_empty())),
            "column {col} empty: {rows:?}"
        );
    }
}

/// No two texts of the timeline overlap, nor leave it, as Chromium lays them out: a copy of
/// the report with a script that measures every `<text>` of the SVG and writes what it found.
fn assert_labels_do_not_overlap(html: &str, dir: &Path) {
    const MEASURE: &str = r#"<script>
(function () {
  var svg = document.querySelector('svg').getBoundingClientRect();
  var boxes = Array.prototype.map.call(document.querySelectorAll('svg text'), function (t) {
    var r = t.getBoundingClientRect();
    return {text: t.textContent, l: r.left, r: r.right, t: r.top, b: r.bottom};
  });
  var overlaps = [], outside = [];
  for (var i = 0; i < boxes.length; i++) {
    var a = boxes[i];
    if (a.l < svg.left - 0.5 || a.r > svg.right + 0.5 || a.t < svg.top - 0.5 || a.b > svg.bottom + 0.5) outside.push(a.text);
    for (var j = i + 1; j < boxes.length; j++) {
      var b = boxes[j];
      if (a.l < b.r - 0.5 && b.l < a.r - 0.5 && a.t < b.b - 0.5 && b.t < a.b - 0.5) overlaps.push(a.text + ' | ' + b.text);
    }
  }
  var pre = document.createElement('pre');
  pre.id = 'geometry';
  pre.textContent = JSON.stringify({texts: boxes.length, overlaps: overlaps, outside: outside});
  document.body.appendChild(pre);
})();
</script></body>"#;
    let page = dir.join("measure.html");
    std::fs::write(&page, html.replace("</body>", MEASURE)).unwrap();
    let (dom, log) = chromium(&page, &dir.join("chromium"));
    let found = element(&dom, "<pre id=\"geometry\">", "</pre>").replace("&amp;", "&");
    let found: Value = serde_json::from_str(&found).unwrap_or_else(|e| panic!("{e}: {found}\n{log}"));
    // 10 scenario labels, 3 lanes, 2 axis titles, ticks, 4 legend entries.
    assert!(found["texts"].as_u64() > Some(30), "{found}");
    assert_eq!(found["overlaps"], Value::Array(vec![]), "labels overlap: {found}");
    assert_eq!(found["outside"], Value::Array(vec![]), "labels outside the timeline: {found}");
}

/// Base64 of `bytes` (RFC 4648 §4), for a data: URL.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A screenshot of the report in headless Chromium is a PNG of the window's size that is not
/// blank: its IHDR says 1280x2000, and decoded (by Chromium, on a canvas) it has many colours.
fn assert_screenshot_not_blank(report: &Path, dir: &Path) {
    assert_eq!(base64(b"keel lab"), "a2VlbCBsYWI=");
    let shot = dir.join("report.png");
    let arg = format!("--screenshot={}", shot.display());
    let (_, log) = chromium_with(report, &dir.join("chromium"), &[arg.as_str(), "--window-size=1280,2000"]);
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot ({e}):\n{log}"));
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let be = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    assert_eq!((be(16), be(20)), (1280, 2000), "screenshot size");
    // Decoding PNG here would need a crate the workspace does not have; Chromium decodes it.
    let page = dir.join("colours.html");
    std::fs::write(
        &page,
        format!(
            "<!DOCTYPE html><html><body><pre id=\"colours\">not decoded</pre><img src=\"data:image/png;base64,{}\" \
             onload=\"var c = document.createElement('canvas'); c.width = this.naturalWidth; c.height = \
             this.naturalHeight; var x = c.getContext('2d'); x.drawImage(this, 0, 0); var d = x.getImageData(0, 0, \
             c.width, c.height).data; var s = new Set(); for (var k = 0; k < d.length && s.size < 1000; k += 4) \
             s.add((d[k] << 16) | (d[k + 1] << 8) | d[k + 2]); document.getElementById('colours').textContent = \
             s.size; this.remove();\"></body></html>",
            base64(&png)
        ),
    )
    .unwrap();
    let (dom, log) = chromium(&page, &dir.join("chromium"));
    let colours: u64 = element(&dom, "<pre id=\"colours\">", "</pre>").parse().unwrap_or(0);
    assert!(colours > 10, "the screenshot has {colours} colours (blank?):\n{dom}\n{log}");
}

/// An observer that is no graceful-restart helper (`--observer-no-gr`, a hidden test knob)
/// loses the table when keeld restarts even with GR: that run is not as expected, the verdict
/// is fail and `keel lab` exits 1, with `--json` and without.
#[test]
fn lab_verdict_fails_when_the_observer_is_no_helper() {
    let dir = std::env::temp_dir().join(format!("keel-test-lab-fail-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let args = ["--routes", "500", "--scenarios", "restart", "--observer-no-gr"];
    let run = run_lab(&dir, &[&args[..], &["--json"]].concat());
    assert_nothing_left(run.pid);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let (verdict, results) = parse_rehearsal(&run);
    assert_eq!(verdict, "fail", "{results:#?}");
    let gr = result(&results, "restart", true);
    assert_eq!((&gr["routes_removed"], &gr["as_expected"]), (&600.into(), &false.into()), "{gr}");
    assert_eq!(result(&results, "restart", false)["as_expected"], true);
    assert!(run.stderr.contains("NOT as expected: 600 routes removed downstream, expected none"), "{}", run.stderr);
    // The terminal summary: the failing run named, the verdict on the last line, exit 1.
    let run = run_lab(&dir, &args);
    assert_nothing_left(run.pid);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stdout.contains("NOT as expected: restart with GR: 600 routes removed downstream"), "{}", run.stdout);
    let last = run.stdout.lines().last().unwrap_or_default();
    assert!(last.ends_with("1 of 2 runs not as expected: restart with GR (verdict: fail)"), "{}", run.stdout);
    let report = std::fs::read_to_string(dir.join("keel-lab-report.html")).unwrap();
    assert!(report.contains("class=\"verdict fail\"") && report.contains("<td class=\"bad\""), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The BFD scenarios (issue 22), `--netns` only: `bfd-link-down` removes every upstream route
/// from keeld's RIB and kernel FIB within the Detection Time and its slack, with GR and
/// without (the upstream's keel-bfdd sends C=1: RFC 5882 §4.3), and reports the times;
/// `bfd-restart` leaves the neighbor's BFD session Up with the same keel-bfdd, and with GR the
/// neighbor keeps keel's route. Without `--netns` the lab refuses them and says why.
#[test]
fn lab_bfd_scenarios() {
    let out = Command::new(env!("CARGO_BIN_EXE_keel")).args(["lab", "--scenarios", "bfd-link-down"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bfd-link-down needs --netns"), "{stderr}");
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "--netns needs root: run the test suite as root");
    let dir = std::env::temp_dir().join(format!("keel-test-lab-bfd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (results, lab_pid) =
        lab(&dir, &["--netns", "--routes", "200", "--scenarios", "bfd-link-down,bfd-restart", "--report", "r.html"]);
    // keeld and both keel-bfdds lived in the lab's directory (their sockets): none is left.
    assert_nothing_left(lab_pid);
    let namespaces = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let namespaces = String::from_utf8_lossy(&namespaces.stdout);
    assert!(!namespaces.contains(&format!("kl-{lab_pid}-")), "namespaces left: {namespaces}");
    assert_eq!(results.len(), 4, "{results:#?}");
    for gr in [true, false] {
        let r = result(&results, "bfd-link-down", gr);
        let b = &r["bfd"];
        assert_eq!((&r["routes"], &r["routes_removed"]), (&200.into(), &200.into()), "{r}");
        assert_eq!(
            (&b["detection_time_ms"], &b["remote_control_plane_independent"]),
            (&300.into(), &true.into()),
            "{r}"
        );
        assert_eq!(b["on_down"], "flush", "C=1: a forwarding failure, GR or not: {r}");
        let limit = b["limit_ms"].as_f64().unwrap();
        for field in ["bfd_down_ms", "rib_ms", "fib_ms"] {
            let t = b[field].as_f64().unwrap_or_else(|| panic!("{field}: {r}"));
            assert!(t > 0.0 && t <= limit, "{field} {t} ms, limit {limit}: {r}");
        }
        eprintln!("bfd-link-down GR {gr}: {b}");
        let r = result(&results, "bfd-restart", gr);
        let b = &r["bfd"];
        assert_eq!((&b["neighbor_bfd_stayed_up"], &b["same_keel_bfdd"]), (&true.into(), &true.into()), "{r}");
        assert_eq!(r["keeld_pids"].as_array().map(Vec::len), Some(2), "keeld restarted: {r}");
        assert_eq!(r["routes_removed"], if gr { 0 } else { 1 }, "{r}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
