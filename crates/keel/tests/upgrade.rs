//! `keel upgrade` (issue 21, docs/upgrade.md): the pre-checks that refuse with no change, and
//! the upgrade that passes them (today a graceful restart into the new binary, same pid).
//!
//! - A missing binary, a directory, a file keeld may not execute, a relative path resolved by
//!   `keel` to one that is missing: `keel upgrade` exits 1 naming the reason, keeld runs on
//!   (same pid, same start).
//! - A session with BIRD whose negotiated hold time (3 s) is too short for the handoff budget
//!   (3 s with an empty RIB): refused, exit 1, the neighbor named; BIRD's session is unbroken;
//!   `keel check --live` warns of it (finding `hitless-upgrade`).
//! - `keel upgrade --binary COPY` with the checks passed: keeld executes the copy in place
//!   (same pid) and answers again.
//! - The hitless upgrade itself: keeld between two BIRDs with graceful restart off (2,000
//!   routes from one, 1,000 from the other, each sent on to the other): after `keel upgrade`
//!   both BIRD sessions are the same sessions (BIRD's own state-change time), neither BIRD
//!   received an UPDATE or a withdrawal, keel holds every route, its sessions' uptime goes on,
//!   `/v1/status` names the version it came from, and the listening socket is the same one.
//! - The same between BIRD, FRR and GoBGP, read from each daemon's own CLI.
//! - With the kernel FIB in a namespace, traffic flowing: no kernel route change, no packet
//!   lost.
//! - Fallback C: a new image that dies while loading leaves BIRD (a helper) keeping keel's
//!   routes; keeld started again is a restarting speaker.
//! - An upgrade in the middle of 20,000 UPDATEs from a scripted speaker: no message lost or
//!   counted twice, the same connection throughout.
//!
//! - keeld started with `--handoff-fd` on a state with a bad checksum (fallback B): it logs the
//!   reason and starts as a graceful restart, answering on its API.
//!
//! Addresses: 127.0.5.42 (keeld, binary checks), .43 (keeld) with BIRD .44 (hold time 3 s),
//! .45 (keeld, executed into a copy), .46 (keeld given an unreadable handoff state), .47
//! (keeld) with BIRDs .48 and .49 (the hitless upgrade), .50 (keeld) with a scripted speaker
//! .51 (an upgrade during a table load), .52 (keeld) with BIRD .53, FRR .54 and GoBGP .55
//! (gRPC on .55:50051), .56 (keeld, its new image dies) with BIRD .57. The FIB test runs in namespaces `keel-up-{r,h}-PID` (127.0.0.1-.2 and
//! 192.0.2.0/24 there).

use crate::common::*;
use keel_lab::daemons::bird::{Bird, BirdSession, BirdStart};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// keeld as `me` with one neighbor `peer` (AS 65044) at hold time `hold_time`, if any.
fn config(dir: &Path, me: &str, peer: Option<(&str, u16)>) -> String {
    let mut c = format!(
        "[global]\nasn = 65043\nrouter_id = \"192.0.2.43\"\nlisten = [\"{me}:179\"]\napi = \"{}\"\nstate_dir = \"{}\"\n",
        dir.join("keel.sock").display(),
        dir.display()
    );
    if let Some((address, hold_time)) = peer {
        c.push_str(&format!(
            "[[neighbor]]\naddress = \"{address}\"\nasn = 65044\nlocal_address = \"{me}\"\nhold_time = {hold_time}\n\
             connect_retry_time = 1\nimport = \"all\"\nexport = \"all\"\n"
        ));
    }
    c
}

/// keeld's pid and uptime from `/v1/status`.
fn status(api: &Path) -> (i64, i64) {
    let v = keel_api::client::request(api, "GET", "/v1/status").unwrap_or(Value::Null);
    (v["pid"].as_i64().unwrap_or(-1), v["uptime_s"].as_i64().unwrap_or(-1))
}

/// `keel upgrade ARGS` fails with exit status 1, saying `why`; keeld is the same process.
fn refused(api: &Path, args: &[&str], why: &str) {
    let (pid, _) = status(api);
    let mut a = vec!["upgrade"];
    a.extend_from_slice(args);
    let out = std::process::Command::new(keel_bin()).arg("--api").arg(api).args(&a).output().expect("keel runs");
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "keel {a:?}: {text}");
    assert!(text.contains(why), "keel {a:?} should say {why:?}: {text}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(status(api).0, pid, "keeld untouched after keel {a:?}");
}

/// A copy of this run's keeld at `path`, executable: the "new" binary of an upgrade (a path
/// of its own, so that `/proc/PID/exe` tells which image runs).
fn new_binary(path: &Path) -> String {
    std::fs::copy(keeld_bin(), path).expect("copy keeld");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.display().to_string()
}

/// `keel upgrade --binary BINARY` on keeld `pid`, then its `/v1/status` once the new image
/// (same pid, running `binary`) answers with `last_upgrade` set.
fn upgrade_to(api: &Path, pid: i64, binary: &str) -> Value {
    let (ok, out) = keel(api, &["upgrade", "--binary", binary]);
    assert!(ok, "{out}");
    wait_for("keeld back from the upgrade", WAIT, || {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        let v = keel_api::client::request(api, "GET", "/v1/status").ok()?;
        Some(v).filter(|v| exe == Path::new(binary) && v["pid"] == pid && !v["last_upgrade"]["handoff_ms"].is_null())
    })
}

#[test]
fn upgrade_refuses_a_missing_or_not_executable_binary() {
    let dir = test_dir("upgrade-binary");
    let k = start_with_config(dir.clone(), &config(&dir, "127.0.5.42", None));
    let api = k.api();
    wait_for("keeld answers", WAIT, || Some(status(&api)).filter(|s| s.0 > 0));
    let missing = dir.join("no-such-keeld");
    refused(&api, &["--binary", &missing.display().to_string()], "No such file or directory");
    refused(&api, &["--binary", &dir.display().to_string()], "is not a regular file");
    let plain = dir.join("keeld-not-executable");
    std::fs::copy(keeld_bin(), &plain).expect("copy keeld");
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    refused(&api, &["--binary", &plain.display().to_string()], "is not executable by keeld");
    // A relative path is keel's: resolved against keel's working directory, not keeld's.
    refused(&api, &["--binary", "no-such-keeld-here"], "no-such-keeld-here: No such file");
    let (_, uptime) = status(&api);
    assert!(uptime >= 1, "keeld ran on through the refusals (uptime {uptime} s)");
}

#[test]
fn upgrade_refuses_a_hold_time_too_short_for_the_handoff() {
    let dir = test_dir("upgrade-hold");
    let bdir = dir.join("bird");
    std::fs::create_dir_all(&bdir).expect("BIRD's directory");
    let session = BirdSession {
        local: "127.0.5.44",
        asn: 65044,
        keel: "127.0.5.43",
        keel_asn: 65043,
        hold_time: 3,
        lines: "",
        ipv4: "import all; export none;",
        ipv6: "import none; export none;",
    };
    let bird = Bird::start(
        &bdir,
        &session.conf(),
        &BirdStart { name: "bird", router_id: "192.0.2.44", device: "", recovery: false, netns: None },
    );
    let kdir = dir.join("keel");
    std::fs::create_dir_all(&kdir).expect("keeld's directory");
    let k = start_with_config(kdir.clone(), &config(&kdir, "127.0.5.43", Some(("127.0.5.44", 3))));
    let api = k.api();
    let v = established(&api, "127.0.5.44");
    assert_eq!(v["hold_time"], 3, "{v}");
    bird.wait_established();
    let mark = bird.session_mark();
    refused(&api, &[], "neighbor 127.0.5.44: negotiated hold time 3 s is too short for the handoff budget of 3.000 s");
    refused(&api, &["--json"], "no hitless upgrade now");
    // `keel check --live` says so before anyone tries: a WARN naming the neighbor.
    let (_, out) = keel(&api, &["check", "--live", "--json"]);
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let upgrade: Vec<&Value> =
        report["findings"].as_array().into_iter().flatten().filter(|f| f["id"] == "hitless-upgrade").collect();
    assert_eq!(upgrade.len(), 1, "{report:#}");
    assert_eq!((&upgrade[0]["level"], &upgrade[0]["neighbor"]), (&Value::from("WARN"), &Value::from("127.0.5.44")));
    assert!(bird.established() && bird.session_mark().same_session_as(&mark), "BIRD's session unbroken");
}

#[test]
fn upgrade_past_the_checks_executes_the_new_binary_in_place() {
    let dir = test_dir("upgrade-exec");
    let k = start_with_config(dir.clone(), &config(&dir, "127.0.5.45", None));
    let api = k.api();
    let (pid, _) = wait_for("keeld answers", WAIT, || Some(status(&api)).filter(|s| s.0 > 0));
    let copy = new_binary(&dir.join("keeld-new"));
    let (ok, out) = keel(&api, &["upgrade", "--binary", &copy]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("upgrading into {copy}: sessions are handed over")), "{out}");
    // The new image answers: same pid, /proc names the copy.
    wait_for("keeld back from the upgrade", WAIT, || {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        Some(()).filter(|_| exe == Path::new(&copy) && status(&api).0 == pid)
    });
}

/// `count` /32 routes in 198.18.`third`.0/24 and on, for BIRD's `protocol static`, each with its
/// own MED (its own attribute set).
fn bird_routes(third: usize, count: usize) -> String {
    let routes: String = (0..count)
        .map(|i| format!(" route 198.18.{}.{}/32 blackhole {{ bgp_med = {i}; }};", third + i / 250, i % 250 + 1))
        .collect();
    format!("protocol static s4 {{ ipv4;{routes} }}\n")
}

/// A BIRD at `local` (AS `asn`) with `routes` static routes, peering with keel at .47 with
/// graceful restart off: it has nothing to keep for keel, so only an unbroken session keeps
/// its routes.
fn bird_peer(dir: &Path, local: &str, asn: u32, third: usize, routes: usize) -> Bird {
    let bdir = dir.join(local);
    std::fs::create_dir_all(&bdir).expect("BIRD's directory");
    let session = BirdSession {
        local,
        asn,
        keel: "127.0.5.47",
        keel_asn: 65043,
        hold_time: 30,
        lines: "graceful restart off;",
        ipv4: "import all; export where proto = \"s4\";",
        ipv6: "import none; export none;",
    };
    let body = format!("{}{}", bird_routes(third, routes), session.conf());
    Bird::start(&bdir, &body, &BirdStart { name: "bird", router_id: local, device: "", recovery: false, netns: None })
}

/// The inode of the socket listening on 127.0.5.47:179 (`/proc/net/tcp`, state 0A): the same
/// before and after an upgrade when the listener was handed over, not bound again.
fn listener_inode() -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(1) == Some(&"2F05007F:00B3") && f.get(3) == Some(&"0A")).then(|| f.get(9).map(|s| s.to_string()))?
    })
}

/// keel's count of routes received from `peer`.
fn received(api: &Path, peer: &str) -> i64 {
    json(api, &["show", "neighbor", peer, "--json"]).map_or(-1, |v| v["received_prefixes"].as_i64().unwrap_or(-1))
}

#[test]
fn upgrade_hands_every_session_over_unbroken_and_sends_nothing() {
    let dir = test_dir("upgrade-hitless");
    let a = bird_peer(&dir, "127.0.5.48", 65048, 0, 2000);
    let b = bird_peer(&dir, "127.0.5.49", 65049, 20, 1000);
    let kdir = dir.join("keel");
    std::fs::create_dir_all(&kdir).expect("keeld's directory");
    let mut c = config(&kdir, "127.0.5.47", None);
    for (peer, asn) in [("127.0.5.48", 65048), ("127.0.5.49", 65049)] {
        c.push_str(&format!(
            "[[neighbor]]\naddress = \"{peer}\"\nasn = {asn}\nlocal_address = \"127.0.5.47\"\nhold_time = 30\n\
             connect_retry_time = 1\nimport = \"all\"\nexport = \"all\"\n"
        ));
    }
    let k = start_with_config(kdir.clone(), &c);
    let api = k.api();
    let (pid, _) = wait_for("keeld answers", WAIT, || Some(status(&api)).filter(|s| s.0 > 0));
    // Converged: keel has both tables, each BIRD the other's.
    wait_for("keel has both tables", WAIT, || {
        Some(()).filter(|_| received(&api, "127.0.5.48") == 2000 && received(&api, "127.0.5.49") == 1000)
    });
    wait_for("each BIRD has the other's routes", WAIT, || {
        Some(()).filter(|_| a.prefixes().len() == 1000 && b.prefixes().len() == 2000)
    });
    std::thread::sleep(std::time::Duration::from_secs(1));
    let (marks, imports) = ([a.session_mark(), b.session_mark()], [a.imports(), b.imports()]);
    let before = established(&api, "127.0.5.48");
    let uptime = before["uptime_s"].as_i64().unwrap_or(-1);
    let listener = listener_inode().expect("keeld listens on 127.0.5.47:179");

    let v = upgrade_to(&api, pid, &new_binary(&kdir.join("keeld-new")));
    assert_eq!(v["last_upgrade"]["sessions"], 2, "{v}");
    assert_eq!(v["last_upgrade"]["from_version"], v["version"], "{v}");
    assert_eq!(v["last_upgrade"]["from_pid"], pid, "{v}");
    // The handoff was measured for the next upgrade's budget (docs/upgrade.md, N8).
    let state: Value = serde_json::from_str(&std::fs::read_to_string(kdir.join("keeld.state")).unwrap_or_default())
        .unwrap_or_default();
    assert!(state["last_handoff_ms"].is_u64(), "{state}");
    assert_eq!(v["last_upgrade"]["handoff_ms"], state["last_handoff_ms"], "{v}");
    let (ok, table) = keel(&api, &["show", "neighbors"]);
    assert!(
        ok && table.contains(&format!("keeld upgraded from {}", env!("CARGO_PKG_VERSION")))
            && table.contains("2 session(s) went on"),
        "{table}"
    );
    // The new image holds every route, its sessions are the old ones.
    wait_for("keel holds both tables again", WAIT, || {
        Some(()).filter(|_| received(&api, "127.0.5.48") == 2000 && received(&api, "127.0.5.49") == 1000)
    });
    let n = established(&api, "127.0.5.48");
    assert!(n["uptime_s"].as_i64().unwrap_or(-1) >= uptime, "uptime goes on: {n}");
    // What End-of-RIB was exchanged before is known after (none owed, none sent again).
    for field in ["end_of_rib_sent", "end_of_rib_received"] {
        assert_eq!(n["graceful_restart"][field], before["graceful_restart"][field], "{field}: {n}");
    }
    assert!(n["graceful_restart"]["end_of_rib_sent"].as_array().is_some_and(|a| !a.is_empty()), "{n}");
    assert_eq!(listener_inode(), Some(listener), "the listening socket was handed over, not bound again");
    // Long enough for anything the new image would send to arrive.
    std::thread::sleep(std::time::Duration::from_secs(3));
    for (bird, (mark, before)) in [&a, &b].into_iter().zip(marks.iter().zip(imports)) {
        assert!(bird.session_mark().same_session_as(mark), "BIRD's session was reset:\n{}", bird.protocol());
        assert_eq!(bird.imports(), before, "BIRD received UPDATEs or withdrawals:\n{}", bird.protocol());
    }
    assert_eq!((a.prefixes().len(), b.prefixes().len()), (1000, 2000), "each BIRD keeps the other's routes");
}

#[test]
fn unreadable_handoff_state_falls_back_to_a_graceful_restart_saying_why() {
    preflight();
    let dir = test_dir("upgrade-fallback");
    let config = dir.join("keel.toml");
    std::fs::write(&config, self::config(&dir, "127.0.5.46", None)).expect("config");
    // A header of format version 1 over a 4-octet body whose CRC-32C is not 0.
    let mut state = b"KEELHOFF\x00\x01\x00\x00".to_vec();
    state.extend_from_slice(&4u64.to_be_bytes());
    state.extend_from_slice(&0u32.to_be_bytes());
    state.extend_from_slice(b"body");
    let file = dir.join("handoff");
    std::fs::write(&file, &state).expect("state");
    let log = std::fs::File::create(dir.join("keeld.log")).expect("log");
    // fd 3 open on the state across exec, as the old image leaves its memfd.
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"exec "$0" --config "$1" --handoff-fd 3 3<"$2""#)
        .arg(keeld_bin())
        .arg(&config)
        .arg(&file)
        .stderr(log)
        .spawn()
        .expect("keeld starts");
    let api = dir.join("keel.sock");
    let answered = wait_for("keeld answers", WAIT, || Some(status(&api)).filter(|s| s.0 > 0));
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    assert_eq!(answered.0, child.id() as i64, "sh executed keeld in place");
    let text = std::fs::read_to_string(dir.join("keeld.log")).unwrap_or_default();
    assert!(text.contains("handoff state unreadable: handoff state checksum mismatch"), "{text}");
    assert!(text.contains("starting as a graceful restart"), "{text}");
}

/// UPDATE number `i` of the scripted load: prefix 10.(i % 5000 / 250).(i % 250).0/24 with MED `i`,
/// so that the last UPDATE for each prefix decides what keel must hold.
fn load_update(i: u32) -> Vec<u8> {
    use keel_wire::{AsPath, CodecOptions, Family, NextHop, Nlri, Origin, PathAttributes};
    let p = i % 5000;
    let prefix = format!("10.{}.{}.0/24", p / 250, p % 250).parse().expect("prefix");
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::sequence(vec![65051])),
        med: Some(i),
        ..Default::default()
    };
    let mut out = Vec::new();
    let next_hop = NextHop::V4(std::net::Ipv4Addr::new(127, 0, 5, 51));
    keel_wire::builder::announce(
        Family::IPV4_UNICAST,
        &attrs,
        next_hop,
        &[Nlri::new(prefix)],
        &CodecOptions::default(),
        &mut out,
    )
    .expect("UPDATE");
    out
}

/// An upgrade in the middle of a load of 20,000 UPDATEs from a scripted speaker: none is lost
/// (keel holds, for each of the 5,000 prefixes, the MED of the last UPDATE for it) and none is
/// counted twice (keel's count of UPDATEs received, carried across the upgrade, is exactly
/// what was sent), and the session is the same TCP connection throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_during_a_table_load_loses_and_repeats_no_message() {
    use keel_lab::speaker::{self, SpeakerConfig};
    const TOTAL: u32 = 20_000;
    let dir = test_dir("upgrade-load");
    let mut c = config(&dir, "127.0.5.50", None);
    c.push_str(
        "[[neighbor]]\naddress = \"127.0.5.51\"\nasn = 65051\nlocal_address = \"127.0.5.50\"\nhold_time = 90\n\
         passive = true\nimport = \"all\"\nexport = \"all\"\n",
    );
    let k = start_with_config(dir.clone(), &c);
    let api = k.api();
    let (pid, _) = wait_for("keeld answers", WAIT, || Some(status(&api)).filter(|s| s.0 > 0));
    let cfg = SpeakerConfig {
        local: "127.0.5.51".parse().expect("address"),
        remote: "127.0.5.50:179".parse().expect("address"),
        asn: 65051,
        router_id: "192.0.2.51".parse().expect("router id"),
        hold_time: 90,
        families: vec![keel_wire::Family::IPV4_UNICAST],
        graceful_restart: None,
        long_lived: Vec::new(),
    };
    let (mut rd, mut wr, _) = speaker::connect(&cfg).await.expect("speaker session");
    // keel's side of the session must never end: the reader sees no NOTIFICATION and no close.
    let ended = tokio::spawn(async move {
        loop {
            match rd.next().await {
                Ok(Some(keel_wire::Message::Notification(n))) => return format!("NOTIFICATION {n:?}"),
                Ok(Some(_)) => {}
                Ok(None) => return "closed".to_string(),
                Err(e) => return format!("error {e}"),
            }
        }
    });
    let copy = new_binary(&dir.join("keeld-new"));
    let mut upgraded = false;
    for chunk in 0..(TOTAL / 500) {
        let mut bytes = Vec::new();
        for i in chunk * 500..(chunk + 1) * 500 {
            bytes.extend(load_update(i));
        }
        wr.send(&bytes).await.expect("send");
        if chunk == 10 && !upgraded {
            let (api, binary) = (api.clone(), copy.clone());
            let (ok, out) = tokio::task::spawn_blocking(move || keel(&api, &["upgrade", "--binary", &binary]))
                .await
                .expect("keel upgrade");
            assert!(ok, "{out}");
            upgraded = true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let api2 = api.clone();
    let n = tokio::task::spawn_blocking(move || {
        wait_for("every UPDATE counted", WAIT, || {
            json(&api2, &["show", "neighbor", "127.0.5.51", "--json"]).filter(|n| n["updates_received"] == TOTAL)
        })
    })
    .await
    .expect("neighbor");
    let v = keel_api::client::request(&api, "GET", "/v1/status").expect("status");
    assert_eq!((v["pid"].as_i64(), v["last_upgrade"]["sessions"].as_i64()), (Some(pid), Some(1)), "{v}");
    assert_eq!(n["established_transitions"], 1, "{n}");
    let api3 = api.clone();
    let held = tokio::task::spawn_blocking(move || routes(&api3, &["--neighbor", "127.0.5.51"])).await.expect("routes");
    assert_eq!(held.len(), 5000, "every prefix");
    for r in &held {
        let prefix = r["prefix"].as_str().unwrap_or_default();
        let mut parts = prefix.trim_end_matches(".0/24").split('.').skip(1).map(|x| x.parse::<u32>().unwrap_or(0));
        let p = parts.next().unwrap_or(0) * 250 + parts.next().unwrap_or(0);
        assert_eq!(r["med"].as_u64(), Some(u64::from(TOTAL - 5000 + p)), "the last UPDATE for {prefix}: {r}");
    }
    assert!(!ended.is_finished(), "the speaker's session ended: {:?}", ended.await);
}

/// What a peer daemon's own CLI says of its session with keel: the same session (its start
/// time or uptime), and the UPDATEs it received.
#[derive(Debug, Clone, PartialEq)]
struct PeerView {
    established: u64,
    updates: u64,
}

/// FRR: `connectionsEstablished` and `messageStats.updatesRecv`; its uptime grows.
fn frr_view(frr: &keel_lab::daemons::frr::Frr, keel: &str) -> (PeerView, u64) {
    let v = frr.json(&format!("show bgp neighbors {keel} json"))[keel].clone();
    let view = PeerView {
        established: v["connectionsEstablished"].as_u64().unwrap_or(0),
        updates: v["messageStats"]["updatesRecv"].as_u64().unwrap_or(0),
    };
    (view, v["bgpTimerUpMsec"].as_u64().unwrap_or(0))
}

/// GoBGP: the session's start (`timers.state.uptime`, Unix seconds) and UPDATEs received.
fn gobgp_view(g: &keel_lab::daemons::gobgp::GoBgp, keel: &str) -> PeerView {
    let v = g.json(&["neighbor", keel, "-j"]);
    PeerView {
        established: v["timers"]["state"]["uptime"].as_u64().unwrap_or(0),
        updates: v["state"]["messages"]["received"]["update"].as_u64().unwrap_or(0),
    }
}

/// keeld between BIRD (graceful restart off, 2,000 routes), FRR (1,000) and GoBGP (100), each
/// sent the others' routes (GoBGP only FRR's: it refuses 127/8 next hops): after `keel upgrade` each daemon's own CLI shows the same session
/// (FRR: no new connection and its uptime grew; GoBGP: the same start time; BIRD: the same
/// state-change time) and not one UPDATE more, and keel holds every route.
#[test]
fn upgrade_keeps_bird_frr_and_gobgp_sessions_and_sends_them_nothing() {
    use keel_lab::daemons::frr::{header, Frr, FrrPeer};
    use keel_lab::daemons::gobgp::{GoBgp, GoBgpPeer};
    const KEEL: &str = "127.0.5.52";
    let dir = test_dir("upgrade-interop");
    let bdir = dir.join("bird");
    std::fs::create_dir_all(&bdir).expect("BIRD's directory");
    let session = BirdSession {
        local: "127.0.5.53",
        asn: 65053,
        keel: KEEL,
        keel_asn: 65043,
        hold_time: 30,
        lines: "graceful restart off;",
        ipv4: "import all; export where proto = \"s4\";",
        ipv6: "import none; export none;",
    };
    let bird = Bird::start(
        &bdir,
        &format!("{}{}", bird_routes(0, 2000), session.conf()),
        &BirdStart { name: "bird", router_id: "127.0.5.53", device: "", recovery: false, netns: None },
    );
    let fdir = dir.join("frr");
    std::fs::create_dir_all(&fdir).expect("FRR's directory");
    let networks: Vec<String> = (0..1000).map(|i| format!("198.18.{}.{}/32", 30 + i / 250, i % 250 + 1)).collect();
    let networks: Vec<&str> = networks.iter().map(String::as_str).collect();
    let peer = FrrPeer {
        local: "127.0.5.54",
        asn: 65054,
        keel: KEEL,
        keel_asn: 65043,
        router: " bgp graceful-restart\n bgp allow-martian-nexthop\n",
        ipv4: &networks,
        ipv6: &[],
        route_map: Some(""),
    };
    let frr = Frr::start(&fdir, "bgpd", "127.0.5.54", &(header("frr", &fdir, None) + &peer.conf()), None);
    let gdir = dir.join("gobgp");
    std::fs::create_dir_all(&gdir).expect("GoBGP's directory");
    let gpeer = GoBgpPeer {
        local: "127.0.5.55",
        asn: 65055,
        keel: KEEL,
        keel_asn: 65043,
        restart_time: 120,
        llgr_stale_time: None,
        admin_down: false,
        restarting: false,
    };
    let gobgp = GoBgp::start(&gdir, "gobgpd", "127.0.5.55", &gpeer.conf(), false, None);
    for i in 0..100 {
        gobgp.ok(&["global", "rib", "add", "-a", "ipv4", &format!("198.18.40.{}/32", i + 1)]);
    }
    let kdir = dir.join("keel");
    std::fs::create_dir_all(&kdir).expect("keeld's directory");
    let mut c = config(&kdir, KEEL, None);
    // GoBGP refuses 127/8 next hops (keel's own, BIRD's): keel is its route server (next hop
    // unchanged), so it gets FRR's routes with their documentation next hops.
    for (peer, asn, extra) in
        [("127.0.5.53", 65053, ""), ("127.0.5.54", 65054, ""), ("127.0.5.55", 65055, "route_server_client = true\n")]
    {
        c.push_str(&format!(
            "[[neighbor]]\naddress = \"{peer}\"\nasn = {asn}\nlocal_address = \"{KEEL}\"\nhold_time = 30\n\
             connect_retry_time = 1\nimport = \"all\"\nexport = \"all\"\n{extra}"
        ));
    }
    let k = start_with_config(kdir.clone(), &c);
    let api = k.api();
    let (pid, _) = wait_for("keeld answers", WAIT, || Some(status(&api)).filter(|s| s.0 > 0));
    let tables = [("127.0.5.53", 2000), ("127.0.5.54", 1000), ("127.0.5.55", 100)];
    let holds_all = || tables.iter().all(|(peer, n)| received(&api, peer) == *n);
    wait_for("keel has the three tables", WAIT, || Some(()).filter(|_| holds_all()));
    wait_for("each daemon has the others' routes", WAIT, || {
        Some(()).filter(|_| {
            bird.prefixes().len() == 1100
                && frr.prefixes_from(KEEL).len() == 2100
                && gobgp.prefixes_from(KEEL).len() == 1000
        })
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (bird_mark, bird_imports) = (bird.session_mark(), bird.imports());
    let (frr_before, frr_up) = frr_view(&frr, KEEL);
    let gobgp_before = gobgp_view(&gobgp, KEEL);

    let v = upgrade_to(&api, pid, &new_binary(&kdir.join("keeld-new")));
    assert_eq!(v["last_upgrade"]["sessions"], 3, "{v}");
    wait_for("keel holds the three tables again", WAIT, || Some(()).filter(|_| holds_all()));
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(bird.session_mark().same_session_as(&bird_mark), "BIRD's session was reset:\n{}", bird.protocol());
    assert_eq!(bird.imports(), bird_imports, "BIRD received route changes:\n{}", bird.protocol());
    let (frr_after, frr_up_after) = frr_view(&frr, KEEL);
    assert_eq!(frr_after, frr_before, "FRR: the same session, no UPDATE");
    assert!(frr_up_after > frr_up, "FRR's session uptime went on: {frr_up} -> {frr_up_after} ms");
    assert_eq!(gobgp_view(&gobgp, KEEL), gobgp_before, "GoBGP: the same session, no UPDATE");
    assert_eq!(
        (bird.prefixes().len(), frr.prefixes_from(KEEL).len(), gobgp.prefixes_from(KEEL).len()),
        (1100, 2100, 1000),
        "each daemon keeps the others' routes"
    );
}

/// keeld with the kernel FIB in a namespace (`common::netns::Lab`), learning 101 routes from a
/// second keeld, traffic flowing through one of them: `keel upgrade` changes no kernel route
/// (`ip monitor route` sees nothing), loses no packet of a 100-per-second ping through the
/// route, and the second keeld's session with it goes on (no new session, no UPDATE).
#[test]
fn upgrade_with_the_kernel_fib_changes_no_route_and_loses_no_packet() {
    use crate::common::netns::Lab;
    let lab = Lab::new("up");
    let a = lab.keeld("a", crate::fib::A);
    let mut b_config = crate::fib::B.to_string();
    for i in 0..100 {
        b_config.push_str(&format!("[[network]]\nprefix = \"203.0.113.{i}/32\"\nnext_hop = \"192.0.2.2\"\n"));
    }
    let b = lab.keeld("b", &b_config);
    wait_for("101 kernel routes", WAIT, || Some(()).filter(|_| lab.keel_routes().lines().count() == 101));
    assert!(lab.ping("198.51.100.1"), "traffic follows the BGP route");
    let before = lab.keel_routes();
    let b_view = |what: &str| json(&b.api(), &["show", "neighbor", "127.0.0.1", "--json"]).map(|n| n[what].clone());
    let (sessions, updates) = (b_view("established_transitions"), b_view("updates_received"));
    let pid = a.pid().expect("keeld a runs");

    let monitor_log = std::env::temp_dir().join(format!("keel-upgrade-monitor-{}", std::process::id()));
    let mut monitor = lab
        .r
        .command("ip")
        .args(["monitor", "route"])
        .stdout(std::fs::File::create(&monitor_log).expect("monitor log"))
        .spawn()
        .expect("ip monitor");
    let ping = lab
        .r
        .command("ping")
        .args(["-q", "-i", "0.01", "-c", "300", "-W", "1", "198.51.100.1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("ping");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let copy = std::env::temp_dir().join(format!("keeld-upgrade-fib-{}", std::process::id()));
    let v = upgrade_to(&a.api(), pid.into(), &new_binary(&copy));
    assert_eq!(v["last_upgrade"]["sessions"], 1, "{v}");
    let out = ping.wait_with_output().expect("ping ends");
    let text = String::from_utf8_lossy(&out.stdout);
    std::thread::sleep(std::time::Duration::from_secs(1));
    let _ = monitor.kill();
    let _ = monitor.wait();
    // The kernel's own routes (an IPv6 link-local address coming up late) are not keel's.
    let events: String = std::fs::read_to_string(&monitor_log)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.contains("proto kernel"))
        .map(|l| format!("{l}\n"))
        .collect();
    let _ = std::fs::remove_file(&monitor_log);
    let _ = std::fs::remove_file(&copy);
    assert!(text.contains("300 packets transmitted, 300 received"), "a packet was lost: {text}");
    assert_eq!(events, "", "kernel route changes during the upgrade");
    assert_eq!(lab.keel_routes(), before);
    assert_eq!((b_view("established_transitions"), b_view("updates_received")), (sessions, updates), "b's session");
}

/// Fallback C: the new image dies while it loads (here a "keeld" that exits at once). The
/// kernel closes the handed-over sockets without a NOTIFICATION, so BIRD, a graceful-restart
/// helper, keeps keel's routes as stale; keeld started again (as systemd would) is a
/// restarting speaker (R=1), and BIRD never withdraws a route of keel's.
#[test]
fn a_new_image_that_dies_leaves_helpers_keeping_keels_routes() {
    let dir = test_dir("upgrade-dies");
    let bdir = dir.join("bird");
    std::fs::create_dir_all(&bdir).expect("BIRD's directory");
    let session = BirdSession {
        local: "127.0.5.57",
        asn: 65044,
        keel: "127.0.5.56",
        keel_asn: 65043,
        hold_time: 30,
        lines: "graceful restart on; graceful restart time 120;",
        ipv4: "import all; export none;",
        ipv6: "import none; export none;",
    };
    let bird = Bird::start(
        &bdir,
        &session.conf(),
        &BirdStart { name: "bird", router_id: "127.0.5.57", device: "", recovery: false, netns: None },
    );
    let kdir = dir.join("keel");
    std::fs::create_dir_all(&kdir).expect("keeld's directory");
    let mut c = config(&kdir, "127.0.5.56", Some(("127.0.5.57", 30)));
    for i in 0..50 {
        c.push_str(&format!("[[network]]\nprefix = \"203.0.113.{i}/32\"\n"));
    }
    let mut k = start_with_config(kdir.clone(), &c);
    let api = k.api();
    established(&api, "127.0.5.57");
    wait_for("BIRD has keel's routes", WAIT, || Some(()).filter(|_| bird.prefixes().len() == 50));
    let dying = kdir.join("keeld-dies");
    std::fs::write(&dying, "#!/bin/sh\nexit 1\n").expect("a keeld that dies");
    std::fs::set_permissions(&dying, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (ok, out) = keel(&api, &["upgrade", "--binary", &dying.display().to_string()]);
    assert!(ok, "{out}");
    wait_for("the new image died", WAIT, || Some(()).filter(|_| !k.running()));
    wait_for("BIRD sees the session gone", WAIT, || Some(()).filter(|_| !bird.established()));
    let text = bird.protocol();
    assert_eq!(bird.prefixes().len(), 50, "BIRD keeps keel's routes while keel is away:\n{text}");
    assert!(!text.contains("Received: Cease"), "no NOTIFICATION from keel:\n{text}");
    k.start().expect("keeld again");
    let n = established(&api, "127.0.5.57");
    assert_eq!(n["graceful_restart"]["local"]["restart_state"], true, "a restarting speaker: {n}");
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(bird.prefixes().len(), 50, "BIRD kept every route:\n{}", bird.protocol());
    assert_eq!(bird.imports().1, 0, "BIRD never withdrew a route of keel's:\n{}", bird.protocol());
}
