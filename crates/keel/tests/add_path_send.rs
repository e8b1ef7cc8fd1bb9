//! Add-Path send (RFC 7911) to BIRD 2 with `add paths rx`, and its path identifiers across
//! keel's own graceful restart (RFC 4724, keel the restarting speaker).
//!
//! ```text
//!  b (65011, 127.0.5.11) --\
//!                           a (65010, 127.0.5.10, add_path_send = 2) --> BIRD (65013, 127.0.5.13)
//!  c (65012, 127.0.5.12) --/
//! ```
//!
//! b and c originate 203.0.113.0/24; BIRD must hold both paths, under the path identifiers
//! keel derives from their sources ([`keel_rib::adj_rib_out::add_path::path_id`]), before and
//! after `keel restart`.

use crate::common::*;
use keel_lab::daemons::bird::{Bird, BirdSession, BirdStart};
use keel_rib::adj_rib_out::add_path::path_id;
use serde_json::Value;
use std::net::IpAddr;
use std::time::{Duration, Instant};

const PREFIX: &str = "203.0.113.0/24";

/// keeld at 127.0.5.`me` in AS 65000+`me` with `neighbors` (last octet, lines) and networks.
fn keeld_at(me: u8, neighbors: &[(u8, &str)], networks: &[&str]) -> Keeld {
    let dir = test_dir(&format!("addpath-{me}"));
    let mut config = format!(
        "[global]\nasn = {}\nrouter_id = \"198.18.5.{me}\"\nlisten = [\"127.0.5.{me}:179\"]\napi = \"{}\"\nstate_dir = \"{}\"\n",
        65000 + u32::from(me),
        dir.join("keel.sock").display(),
        dir.display()
    );
    for (last, extra) in neighbors {
        config.push_str(&format!(
            "[[neighbor]]\naddress = \"127.0.5.{last}\"\nasn = {}\nlocal_address = \"127.0.5.{me}\"\nhold_time = 9\n\
             connect_retry_time = 1\nimport = \"all\"\nexport = \"all\"\n{extra}\n",
            65000 + u32::from(*last)
        ));
    }
    for p in networks {
        config.push_str(&format!("[[network]]\nprefix = \"{p}\"\n"));
    }
    start_with_config(dir, &config)
}

/// How many paths BIRD holds for [`PREFIX`] from keel, and `show route all` for it.
fn bird_paths(bird: &Bird) -> (usize, String) {
    let (_, out, _) = bird.birdc_raw(&format!("show route {PREFIX} all"));
    (out.matches("[keel ").count(), out)
}

/// The path ids keel's Adj-RIB-Out towards BIRD holds for [`PREFIX`], sorted.
fn advertised_ids(a: &Keeld) -> Vec<u64> {
    let mut ids: Vec<u64> = routes(&a.api(), &["--advertised", "127.0.5.13"])
        .iter()
        .filter(|r| r["prefix"] == PREFIX)
        .filter_map(|r: &Value| r["path_id"].as_u64())
        .collect();
    ids.sort();
    ids
}

#[test]
fn bird_receives_two_paths_with_ids_that_survive_keels_restart() {
    let dir = test_dir("addpath-bird-13");
    let session = BirdSession {
        local: "127.0.5.13",
        asn: 65013,
        keel: "127.0.5.10",
        keel_asn: 65010,
        hold_time: 9,
        lines: "graceful restart on;",
        ipv4: "import all; export none; add paths rx;",
        ipv6: "import none; export none;",
    };
    let bird = Bird::start(
        &dir,
        &session.conf(),
        &BirdStart { name: "bird", router_id: "198.18.5.13", device: "", recovery: false, netns: None },
    );
    let a = keeld_at(10, &[(11, ""), (12, ""), (13, "add_path = \"send\"\nadd_path_send = 2")], &[]);
    let b = keeld_at(11, &[(10, "")], &[PREFIX]);
    let c = keeld_at(12, &[(10, "")], &[PREFIX]);
    bird.wait_established();
    assert!(bird.neighbor_caps().iter().any(|l| l.contains("ADD-PATH")), "{:?}", bird.neighbor_caps());
    let (_, shown) = wait_for("two paths in BIRD", WAIT, || {
        let (n, out) = bird_paths(&bird);
        if n == 2 {
            Ok((n, out))
        } else {
            Err(format!("{n} paths: {out}"))
        }
    });
    let from = |last: u8| u64::from(path_id(IpAddr::from([127, 0, 5, last]), 0));
    let mut want = vec![from(11), from(12)];
    want.sort();
    let before = wait_for("keel's Adj-RIB-Out", WAIT, || Some(advertised_ids(&a)).filter(|v| v.len() == 2));
    assert_eq!(before, want, "ids derived from the sources (RFC 7911 §3)");
    // BIRD 2 does not show a route's path identifier; its count of paths tells whether the
    // identifiers after the restart replaced the stale paths one for one (new ones would
    // stand next to them until End-of-RIB).
    eprintln!("BIRD before the restart:\n{shown}");

    let mark = bird.session_mark();
    assert!(keel(&a.api(), &["restart"]).0, "keel restart");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut back = false;
    while Instant::now() < deadline {
        let (n, out) = bird_paths(&bird);
        assert!(n <= 2, "BIRD held {n} paths during keel's restart: new ids next to stale ones\n{out}");
        if !bird.session_mark().same_session_as(&mark) && bird.established() && n == 2 && !out.contains("stale") {
            back = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(back, "BIRD re-established with keel and holds two fresh paths: {}", bird_paths(&bird).1);
    let after =
        wait_for("keel's Adj-RIB-Out after the restart", WAIT, || Some(advertised_ids(&a)).filter(|v| v.len() == 2));
    assert_eq!(after, before, "same path ids for the same paths after keel's restart");
    drop((b, c));
}
