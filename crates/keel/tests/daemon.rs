//! keeld against keeld on loopback: sessions, routes both ways, the CLI, and the NOTIFICATION
//! each kind of stop sends (RFC 8538 §5.1 with and without the N bit).

use crate::common::*;
use std::time::Duration;

#[test]
fn two_keelds_exchange_routes_and_show_them() {
    let a = keeld("routes", 21, 22, "", "", "198.51.100.0/24");
    let b = keeld("routes", 22, 21, "", "", "2001:db8:22::/48");
    let n = established(&a.api(), "127.0.0.22");
    assert_eq!(n["asn"], 65022);
    assert_eq!(n["graceful_restart"]["remote"]["restart_time"], 120);
    assert_eq!(n["graceful_restart"]["remote"]["notification"], true);
    assert_eq!(n["graceful_restart"]["notification_bit"], true);
    // Routes both ways, with End-of-RIB for both families.
    let routes = wait_for("route from b", WAIT, || {
        json(&a.api(), &["show", "routes", "--neighbor", "127.0.0.22", "--json"])
            .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
    });
    assert_eq!(routes[0]["prefix"], "2001:db8:22::/48");
    assert_eq!(routes[0]["as_path"], serde_json::json!([65022]));
    assert_eq!(routes[0]["communities"], serde_json::json!(["65000:22"]));
    let r = wait_for("route from a", WAIT, || {
        json(
            &b.api(),
            &["show", "routes", "--prefix", "198.51.100.0/24", "--exact", "--neighbor", "127.0.0.21", "--json"],
        )
        .filter(|v| v.as_array().is_some_and(|a| a.len() == 1))
    });
    assert_eq!(r[0]["next_hop"], "127.0.0.21");
    // --prefix without --exact is a longest match: an address, or a more specific prefix,
    // finds the route covering it; nothing covers 198.51.100.0/23.
    for covered in ["198.51.100.77", "198.51.100.128/25"] {
        let v = json(&b.api(), &["show", "routes", "--prefix", covered, "--json"]).unwrap_or_default();
        assert_eq!(v[0]["prefix"], "198.51.100.0/24", "{covered}: {v}");
        assert_eq!(v.as_array().map(Vec::len), Some(1), "{covered}: {v}");
    }
    let v = json(&b.api(), &["show", "routes", "--prefix", "198.51.100.0/23", "--json"]);
    assert_eq!(v, Some(serde_json::json!([])));
    let (ok, out) = keel(&b.api(), &["show", "routes", "--prefix", "198.51.100.77", "--exact"]);
    assert!(!ok && out.contains("not a prefix"), "--exact wants a prefix: {out}");
    let n = wait_for("End-of-RIB", WAIT, || {
        json(&b.api(), &["show", "neighbor", "127.0.0.21", "--json"])
            .filter(|v| v["graceful_restart"]["end_of_rib_received"].as_array().is_some_and(|a| a.len() == 2))
    });
    assert_eq!(n["received_prefixes"], 1);
    // Human output an operator can read.
    let (ok, table) = keel(&a.api(), &["show", "neighbors"]);
    assert!(ok);
    assert!(table.lines().nth(1).is_some_and(|l| l.contains("127.0.0.22") && l.contains("established")), "{table}");
    // A soft clear is only a route refresh: the session stays.
    let (ok, _) = keel(&a.api(), &["clear", "neighbor", "127.0.0.22", "--soft"]);
    assert!(ok);
    std::thread::sleep(Duration::from_millis(500));
    let n = json(&a.api(), &["show", "neighbor", "127.0.0.22", "--json"]).unwrap();
    assert_eq!((n["state"].as_str(), n["established_transitions"].as_u64()), (Some("established"), Some(1)));
    drop(b);
}

#[test]
fn clear_hard_sends_hard_reset_when_n_was_exchanged() {
    let a = keeld("hard", 23, 24, "", "", "198.51.100.0/24");
    let b = keeld("hard", 24, 23, "", "", "203.0.113.0/24");
    established(&a.api(), "127.0.0.24");
    established(&b.api(), "127.0.0.23");
    let (ok, _) = keel(&a.api(), &["clear", "neighbor", "127.0.0.24", "--hard"]);
    assert!(ok);
    let n = wait_for("hard reset seen by b", WAIT, || {
        json(&b.api(), &["show", "neighbor", "127.0.0.23", "--json"])
            .filter(|v| !v["last_notification_received"].is_null())
    });
    let got = &n["last_notification_received"];
    assert_eq!((got["code"].as_u64(), got["subcode"].as_u64()), (Some(6), Some(9)), "{got}");
    assert_eq!(got["hard_reset_inner"], serde_json::json!([6, 4]));
    // The session comes back.
    established(&b.api(), "127.0.0.23");
}

#[test]
fn stop_is_graceful_with_n_and_withdraw_is_a_hard_reset() {
    let a = keeld("stop", 25, 26, "", "", "198.51.100.0/24");
    let b = keeld("stop", 26, 25, "", "", "203.0.113.0/24");
    established(&b.api(), "127.0.0.25");
    // Planned stop: Cease/Administrative Reset (graceful with N, RFC 8538 §5.1).
    let (ok, _) = keel(&a.api(), &["stop"]);
    assert!(ok);
    let n = wait_for("cease seen", WAIT, || {
        json(&b.api(), &["show", "neighbor", "127.0.0.25", "--json"])
            .filter(|v| !v["last_notification_received"].is_null())
    });
    assert_eq!(n["last_notification_received"]["subcode"], 4);
    drop(a);
    let a = keeld("stop", 25, 26, "", "", "198.51.100.0/24");
    established(&b.api(), "127.0.0.25");
    let (ok, _) = keel(&a.api(), &["stop", "--withdraw"]);
    assert!(ok);
    let n = wait_for("hard reset seen", WAIT, || {
        json(&b.api(), &["show", "neighbor", "127.0.0.25", "--json"])
            .filter(|v| v["last_notification_received"]["subcode"] == 9)
    });
    assert_eq!(n["last_notification_received"]["hard_reset_inner"], serde_json::json!([6, 2]));
}

#[test]
fn without_n_bit_no_hard_reset_is_ever_sent() {
    let no_n = "[graceful_restart]\nnotification = false\n";
    let a = keeld("non", 27, 28, no_n, "", "198.51.100.0/24");
    let b = keeld("non", 28, 27, "", "", "203.0.113.0/24");
    let n = established(&b.api(), "127.0.0.27");
    assert_eq!(n["graceful_restart"]["notification_bit"], false);
    let (ok, _) = keel(&a.api(), &["clear", "neighbor", "127.0.0.28", "--hard"]);
    assert!(ok);
    let n = wait_for("cease seen", WAIT, || {
        json(&b.api(), &["show", "neighbor", "127.0.0.27", "--json"])
            .filter(|v| !v["last_notification_received"].is_null())
    });
    assert_eq!(
        (n["last_notification_received"]["code"].as_u64(), n["last_notification_received"]["subcode"].as_u64()),
        (Some(6), Some(4))
    );
}

#[test]
fn gtsm_only_accepts_one_hop_peers_that_send_ttl_255() {
    let gtsm = "ttl_security = true";
    let a = keeld("gtsm", 31, 32, "", gtsm, "198.51.100.0/24");
    let _b = keeld("gtsm", 32, 31, "", gtsm, "203.0.113.0/24");
    established(&a.api(), "127.0.0.32");
    // A peer that sends with the default TTL never gets through (RFC 5082 §3).
    let c = keeld("gtsm", 33, 34, "", gtsm, "198.51.100.0/24");
    let _d = keeld("gtsm", 34, 33, "", "", "203.0.113.0/24");
    // Under load keeld may take a moment to answer: wait for its API, then give the peer
    // 3 s of connection attempts.
    c.wait_api(WAIT).expect("keeld's API");
    std::thread::sleep(Duration::from_secs(3));
    let n = json(&c.api(), &["show", "neighbor", "127.0.0.34", "--json"]).expect("neighbor 127.0.0.34");
    assert_ne!(n["state"], "established");
    assert_eq!(n["established_transitions"], 0);
}

#[test]
fn add_path_is_negotiated_and_path_ids_arrive() {
    let a = keeld("addpath", 35, 36, "", "add_path = \"both\"", "198.51.100.0/24");
    let b = keeld("addpath", 36, 35, "", "add_path = \"receive\"", "203.0.113.0/24");
    let n = established(&b.api(), "127.0.0.35");
    assert!(n["capabilities"]["remote"].as_array().unwrap().contains(&serde_json::json!("add-path")));
    let r = wait_for("route with path id", WAIT, || {
        json(&b.api(), &["show", "routes", "--neighbor", "127.0.0.35", "--json"])
            .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
    });
    assert_eq!(r[0]["path_id"], 0);
    // a only receives path ids where b sends them: b advertised receive only.
    let r = wait_for("route without path id", WAIT, || {
        json(&a.api(), &["show", "routes", "--neighbor", "127.0.0.36", "--json"])
            .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
    });
    assert!(r[0]["path_id"].is_null());
}

#[test]
fn after_a_restart_selection_is_deferred_until_the_timer_when_a_neighbor_stays_away() {
    // A state file from an earlier run makes keeld a restarting speaker (RFC 4724 §4.1).
    let dir = std::env::temp_dir().join(format!("keel-test-deferral-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keeld.state"), r#"{"clean_exit": true, "time": 0, "pid": 1}"#).unwrap();
    let config = format!(
        "[global]\nasn = 65037\nrouter_id = \"192.0.2.37\"\nlisten = [\"127.0.0.37:179\"]\napi = \"{api}\"\nstate_dir = \"{dir}\"\n\
         [graceful_restart]\nselection_deferral_time = 3\n\
         [[neighbor]]\naddress = \"127.0.0.38\"\nasn = 65038\npassive = true\n",
        api = dir.join("keel.sock").display(),
        dir = dir.display()
    );
    let k = start_with_config(dir, &config);
    wait_for("keeld up", WAIT, || json(&k.api(), &["show", "neighbors", "--json"]));
    let (_, table) = keel(&k.api(), &["show", "neighbors"]);
    assert!(table.contains("keel is restarting"), "{table}");
    let n = json(&k.api(), &["show", "neighbor", "127.0.0.38", "--json"]).unwrap();
    assert_eq!(n["graceful_restart"]["selection_deferral_awaits"], serde_json::json!(["session"]));
    // The passive neighbor never comes: the timer ends the deferral.
    wait_for("deferral over", WAIT, || {
        let (_, t) = keel(&k.api(), &["show", "neighbors"]);
        (!t.contains("keel is restarting")).then_some(())
    });
    let n = json(&k.api(), &["show", "neighbor", "127.0.0.38", "--json"]).unwrap();
    assert!(n["graceful_restart"]["selection_deferral_awaits"].is_null());
}

/// A neighbor that connects the moment keeld listens is taken, not refused as "not a
/// configured neighbor" (keeld accepts only once every neighbor is known; the connection waits
/// in the backlog meanwhile). Seen as a GTSM session that never came up: the refusal's FIN,
/// sent with TTL 64, never reached the GTSM neighbor, which then waited for an OPEN.
#[test]
fn a_connection_at_the_first_moment_is_taken() {
    use std::io::Read;
    use std::net::{SocketAddr, TcpStream};
    let dir = test_dir("first-moment");
    let mut config = format!(
        "[global]\nasn = 65017\nrouter_id = \"192.0.2.17\"\nlisten = [\"127.0.0.17:179\"]\napi = \"{}\"\nstate_dir = \"{}\"\n",
        dir.join("keel.sock").display(),
        dir.display()
    );
    // 2,000 passive neighbors (198.18.0.0/15, never contacted) before the one that connects:
    // setting them up takes long enough that a connection accepted before they are all known
    // would be refused.
    for i in 0..2000u32 {
        config +=
            &format!("[[neighbor]]\naddress = \"198.18.{}.{}\"\nasn = 65019\npassive = true\n", i / 250, i % 250 + 1);
    }
    config +=
        "[[neighbor]]\naddress = \"127.0.0.18\"\nasn = 65018\npassive = true\nimport = \"all\"\nexport = \"all\"\n";
    preflight();
    let mut k = keel_lab::keeld::Keeld::new(keeld_bin(), dir).expect("keeld's directory").remove_dir_on_drop();
    k.write_config(&config).expect("config");
    k.start().expect("keeld");
    let keeld: SocketAddr = "127.0.0.17:179".parse().unwrap();
    let local: SocketAddr = "127.0.0.18:0".parse().unwrap();
    // Connect as early as possible: again and again until keeld listens.
    let mut stream = wait_for("keeld to listen", WAIT, || {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
        s.bind(&local.into()).ok()?;
        s.connect(&keeld.into()).ok()?;
        Some(TcpStream::from(s))
    });
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut header = [0u8; 19];
    let read = stream.read_exact(&mut header);
    assert!(read.is_ok(), "keeld closed the first connection instead of sending its OPEN: {read:?}\n{}", k.log());
    assert_eq!((header[..16] == [0xff; 16], header[18]), (true, 1), "not an OPEN: {header:?}");
}
