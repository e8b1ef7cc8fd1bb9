//! The configuration: `keeld --check-config` on broken files (exit status 1 and
//! `FILE:LINE: FIELD: message`), and reloading a running keeld (SIGHUP, `POST /v1/reload`)
//! against three BIRDs: an unchanged session stays, a changed one restarts, a new one comes
//! up, a broken file changes nothing.

use super::common::*;
use super::daemons::*;
use std::process::Command;
use std::time::{Duration, Instant};

const GLOBAL: &str = "[global]\nasn = 65001\nrouter_id = \"192.0.2.1\"\nlisten = [\"127.0.0.1:179\"]\n";

fn check_config(dir: &TempDir, name: &str, text: &str) -> (i32, String, String) {
    let path = dir.path().join(name);
    write(&path, text);
    run(Command::new(keeld_bin()).arg("--check-config").arg("-c").arg(&path))
}

#[test]
fn config_check_reports_file_line_and_field() {
    let dir = temp_dir("config-check");
    let neighbor = "[[neighbor]]\naddress = \"127.0.0.2\"\nasn = 65002\n";
    // (file name, text, line, field, words the message must contain)
    let cases: Vec<(&str, String, usize, &str, &str)> = vec![
        ("unknown-key.toml", format!("{GLOBAL}bogus = 1\n"), 5, "global.bogus", "unknown field `bogus`"),
        ("asn-type.toml", "[global]\nasn = \"x\"\nrouter_id = \"192.0.2.1\"\n".into(), 2, "global.asn", "invalid type"),
        (
            "hold-type.toml",
            format!("{GLOBAL}{neighbor}hold_time = \"ninety\"\n"),
            8,
            "neighbor.hold_time",
            "invalid type: string \"ninety\"",
        ),
        ("passive-type.toml", format!("{GLOBAL}{neighbor}passive = \"yes\"\n"), 8, "neighbor.passive", "boolean"),
        ("hold-2.toml", format!("{GLOBAL}{neighbor}hold_time = 2\n"), 8, "neighbor.hold_time", "at least 3 seconds"),
        (
            "hold-range.toml",
            format!("{GLOBAL}{neighbor}hold_time = 70000\n"),
            8,
            "neighbor.hold_time",
            "invalid value: integer `70000`",
        ),
        (
            "restart-time.toml",
            format!("{GLOBAL}[graceful_restart]\nrestart_time = 5000\n"),
            6,
            "graceful_restart.restart_time",
            "5000 exceeds 4095",
        ),
        (
            "neighbor-restart-time.toml",
            format!("{GLOBAL}{neighbor}[neighbor.graceful_restart]\nrestart_time = 5000\n"),
            9,
            "neighbor.graceful_restart.restart_time",
            "5000 exceeds 4095",
        ),
        (
            "family.toml",
            format!("{GLOBAL}{neighbor}families = [\"ipv4-unicast\", \"ipv5-unicast\"]\n"),
            8,
            "neighbor.families",
            "unknown family \"ipv5-unicast\"",
        ),
        (
            "family-multiline.toml",
            format!("{GLOBAL}{neighbor}families = [\n  \"ipv4-unicast\",\n  \"ipv5-unicast\",\n]\n"),
            10,
            "neighbor.families",
            "unknown family \"ipv5-unicast\"",
        ),
        (
            "llgr-family.toml",
            format!("{GLOBAL}[long_lived_graceful_restart]\nfamilies = [\"ipv4-flowspec\"]\n"),
            6,
            "long_lived_graceful_restart.families",
            "unknown family",
        ),
        (
            "prefix-host-bits.toml",
            format!("{GLOBAL}[[network]]\nprefix = \"198.51.100.1/24\"\n"),
            6,
            "network.prefix",
            "host bits",
        ),
        (
            "prefix-address.toml",
            format!("{GLOBAL}[[network]]\nprefix = \"198.51.300.0/24\"\n"),
            6,
            "network.prefix",
            "not an IP address",
        ),
        (
            "community.toml",
            format!("{GLOBAL}[[network]]\nprefix = \"198.51.100.0/24\"\ncommunities = [\"65001:x\"]\n"),
            7,
            "network.communities",
            "not a community",
        ),
    ];
    for (name, text, line, field, words) in &cases {
        let (code, out, err) = check_config(&dir, name, text);
        let path = dir.path().join(name);
        let want = format!("{}:{line}: {field}: ", path.display());
        assert_eq!(code, 1, "{name}: exit status (stdout {out:?}, stderr {err:?})");
        assert!(err.contains(&want), "{name}: stderr should contain {want:?}:\n{err}");
        let message = err.split(&want).nth(1).unwrap_or("");
        assert!(message.contains(words), "{name}: message should say {words:?}:\n{err}");
        assert_eq!(err.trim().lines().count(), 1, "{name}: one line of stderr:\n{err}");
        assert!(out.is_empty(), "{name}: nothing on stdout: {out}");
    }

    // A valid file: exit status 0 and a one-line summary.
    let valid = format!(
        "{GLOBAL}[graceful_restart]\nrestart_time = 90\n[long_lived_graceful_restart]\nfamilies = [\"ipv4-unicast\"]\n\
         {neighbor}hold_time = 9\n[[neighbor]]\naddress = \"127.0.0.3\"\nasn = 65003\n\
         [[network]]\nprefix = \"198.51.100.0/24\"\ncommunities = [\"65001:1\"]\n"
    );
    let (code, out, err) = check_config(&dir, "valid.toml", &valid);
    assert_eq!(code, 0, "valid file: stdout {out:?}, stderr {err:?}");
    assert_eq!(out.lines().count(), 1, "one-line summary: {out:?}");
    for words in ["ok", "as 65001", "2 neighbor(s)", "1 network(s)", "restart time 90s", "llgr ipv4-unicast"] {
        assert!(out.contains(words), "summary should say {words:?}: {out}");
    }
}

#[test]
fn config_reload_keeps_unchanged_sessions() {
    let dir = temp_dir("config-reload");
    let keel_addr = "127.0.0.191";
    let (a, b, c) = ("127.0.0.192", "127.0.0.193", "127.0.0.194");
    let kdir = dir.sub("keel");
    let neighbor = |addr: &str, asn: u32, hold: u16| keel_neighbor(addr, asn, keel_addr, hold);
    let global = keel_global(&kdir, 65191, keel_addr);
    let network = "[[network]]\nprefix = \"198.51.100.0/24\"\nnext_hop = \"192.0.2.191\"\n";
    let first = format!("{global}{}{}{network}", neighbor(a, 65192, 9), neighbor(b, 65193, 9));
    let keel = Keel::start(&kdir, keel_addr, &first);
    let bird = |name: &str, local, asn| {
        bird_peer(
            &dir.sub(name),
            &BirdPeer { local, asn, keel: keel_addr, keel_asn: 65191, hold_time: 9, extra: "", routes: false },
        )
    };
    let (bird_a, bird_b, bird_c) = (bird("bird-a", a, 65192), bird("bird-b", b, 65193), bird("bird-c", c, 65194));
    keel.wait_established(a);
    keel.wait_established(b);
    let a_up = Instant::now();
    let a_since = bird_a.session_mark();
    bird_a.wait_established();
    bird_b.wait_established();
    // Let A's uptime grow to a few seconds so a reset would show.
    let before = wait_for("A's uptime to reach 2 s", DEADLINE, || {
        let n = keel.neighbor(a);
        if n["uptime_s"].as_u64() >= Some(2) {
            Ok(n)
        } else {
            Err(n.to_string())
        }
    });
    assert_eq!(before["established_transitions"], 1);
    let neighbors = keel.get("/v1/neighbors");
    assert_eq!(neighbors.as_array().map(Vec::len), Some(2), "{neighbors}");

    // B's hold time changes, C is added; SIGHUP.
    let second =
        format!("{global}{}{}{}{network}", neighbor(a, 65192, 9), neighbor(b, 65193, 6), neighbor(c, 65194, 9));
    write(&keel.config, &second);
    let reloaded = Instant::now();
    keel.sighup();
    let nc = keel.wait_established(c);
    bird_c.wait_established();
    let nb = wait_for("B to come back with hold time 6", DEADLINE, || {
        let n = keel.neighbor(b);
        if n["state"] == "established" && n["hold_time"] == 6 {
            Ok(n)
        } else {
            Err(n.to_string())
        }
    });
    let p = wait_for("BIRD B to be established with hold time 6", DEADLINE, || {
        let p = bird_b.protocol();
        if p.contains("BGP state:          Established") && p.contains("Hold timer:") && p.contains("/6\n") {
            Ok(p)
        } else {
            Err(p)
        }
    });
    assert!(p.contains("Hold timer:"), "{p}");
    assert!(
        read(&bird_b.log).contains("Received: Other configuration change"),
        "BIRD B should have got Cease/Other Configuration Change:\n{}",
        read(&bird_b.log)
    );
    assert!(nb["uptime_s"].as_u64().unwrap() <= reloaded.elapsed().as_secs() + 1, "B's session restarted: {nb}");
    assert_eq!(nc["established_transitions"], 1, "{nc}");

    // A: the same session all along.
    let na = keel.neighbor(a);
    assert_eq!((na["state"].as_str(), na["established_transitions"].as_u64()), (Some("established"), Some(1)), "{na}");
    let uptime = na["uptime_s"].as_u64().unwrap();
    assert!(uptime + 1 >= a_up.elapsed().as_secs(), "A's uptime {uptime}s reset by the reload: {na}");
    assert!(uptime >= before["uptime_s"].as_u64().unwrap(), "A's uptime went down: {na}");
    let now = bird_a.session_mark();
    assert!(now.same_session_as(&a_since), "BIRD A's session restarted: {a_since:?} then, {now:?} now");
    assert!(!read(&bird_a.log).contains("Received: "), "BIRD A got a NOTIFICATION:\n{}", read(&bird_a.log));
    assert_eq!(keel.get("/v1/neighbors").as_array().map(Vec::len), Some(3));

    // A broken file: refused (HTTP 400, the only status whose answer carries the configuration
    // error), the running configuration stays.
    let transitions = |n: &serde_json::Value| n["established_transitions"].as_u64();
    let (tb, tc) = (transitions(&keel.neighbor(b)), transitions(&keel.neighbor(c)));
    let broken = second.replace("hold_time = 6", "hold_time = 2");
    write(&keel.config, &broken);
    let refused = keel.request("POST", "/v1/reload").expect_err("reload of a broken file");
    let msg = format!("{refused:#}");
    assert!(msg.contains("neighbor.hold_time") && msg.contains("at least 3 seconds"), "error: {msg}");
    // And through SIGHUP: logged, nothing changes.
    keel.sighup();
    holds_for("the running configuration after the refused reloads", Duration::from_secs(2), || {
        let all = keel.get("/v1/neighbors");
        let all = all.as_array().unwrap();
        if all.len() != 3 || all.iter().any(|n| n["state"] != "established") {
            return Err(format!("{all:?}"));
        }
        let now = (transitions(&keel.neighbor(a)), transitions(&keel.neighbor(b)), transitions(&keel.neighbor(c)));
        if now == (Some(1), tb, tc) && keel.neighbor(b)["hold_time"] == 6 {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    });
    wait_for("keeld to log the refused SIGHUP reload", DEADLINE, || {
        let log = read(&kdir.join("keeld.log"));
        if log.contains("reload refused") {
            Ok(())
        } else {
            Err("not yet".into())
        }
    });
    let now = bird_a.session_mark();
    assert!(now.same_session_as(&a_since), "BIRD A's session restarted: {a_since:?} then, {now:?} now");

    // Fixed again, through the API: nothing to change, everything kept.
    write(&keel.config, &second);
    let body = keel.request("POST", "/v1/reload").unwrap_or_else(|e| panic!("reload: {e:#}"));
    assert!(body["summary"].as_str().unwrap_or("").starts_with("3 neighbor(s) kept"), "{body}");
}
