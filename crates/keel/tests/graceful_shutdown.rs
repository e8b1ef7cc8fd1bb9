//! Graceful BGP session shutdown (RFC 8326) against two BIRDs, each upstream and downstream
//! of keeld for 203.0.113.0/24:
//!
//! ```text
//!  BIRD A .2 (AS 65052, tags its route 65535:0, path 65052)       \
//!                                                                  keeld .1 (AS 65051)
//!  BIRD B .3 (AS 65053, plain route, longer path 65053 65053 65053) /
//! ```
//!
//! - Receiver (§4.1): A's shorter path gets LOCAL_PREF 0 and B's wins; with
//!   `honour_graceful_shutdown = false` (a reload) A's wins again.
//! - Sender (§4.2): after `keel graceful-shutdown` every route keel sends either BIRD carries
//!   65535:0; after `--off` none does; per neighbor too.
//! - `keel stop --graceful-shutdown 2`: the BIRD sees 65535:0 while the session is still up,
//!   then keeld exits.
//!
//! Addresses: 127.0.5.1-.3.

use crate::common::*;
use keel_lab::daemons::bird::{static_routes, Bird, BirdSession, BirdStart};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const KEEL: &str = "127.0.5.1";
const A: &str = "127.0.5.2";
const B: &str = "127.0.5.3";
const PREFIX: &str = "203.0.113.0/24";

fn bird(dir: &Path, local: &str, asn: u32, export: &str) -> Bird {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let session = BirdSession {
        local,
        asn,
        keel: KEEL,
        keel_asn: 65051,
        hold_time: 9,
        lines: "",
        ipv4: &format!("import all; export filter {{ {export} accept; }};"),
        ipv6: "import none; export none;",
    };
    let body = static_routes("s4", "ipv4", &[PREFIX]) + &session.conf();
    let last = local.rsplit('.').next().unwrap_or("0");
    let router_id = format!("192.0.2.{last}");
    Bird::start(
        dir,
        &body,
        &BirdStart { name: "bird", router_id: &router_id, device: "", recovery: false, netns: None },
    )
}

fn config(dir: &Path, honour: bool) -> String {
    let mut c = format!(
        "[global]\nasn = 65051\nrouter_id = \"192.0.2.51\"\nlisten = [\"{KEEL}:179\"]\napi = \"{}\"\nstate_dir = \"{}\"\n\
         honour_graceful_shutdown = {honour}\n",
        dir.join("keel.sock").display(),
        dir.display()
    );
    for (address, asn) in [(A, 65052), (B, 65053)] {
        c.push_str(&format!(
            "[[neighbor]]\naddress = \"{address}\"\nasn = {asn}\nlocal_address = \"{KEEL}\"\nhold_time = 9\n\
             connect_retry_time = 1\nimport = \"all\"\nexport = \"all\"\n"
        ));
    }
    c.push_str("[[network]]\nprefix = \"198.51.100.0/24\"\nnext_hop = \"192.0.2.51\"\n");
    c
}

/// keel's routes for [`PREFIX`]: (neighbor, local_pref, best).
fn paths(api: &Path) -> Vec<(String, Value, bool)> {
    routes(api, &["--prefix", PREFIX])
        .iter()
        .map(|r| (r["neighbor"].as_str().unwrap_or("").to_string(), r["local_pref"].clone(), r["best"] == true))
        .collect()
}

/// Waits until keel's best path for [`PREFIX`] is from `from`, the one from A having
/// LOCAL_PREF `a_local_pref`.
fn wait_best(api: &Path, from: &str, a_local_pref: Value) {
    wait_for(&format!("{PREFIX} best from {from}"), WAIT, || {
        let p = paths(api);
        let best = p.iter().any(|(n, _, best)| n == from && *best);
        let a = p.iter().any(|(n, lp, _)| n == A && *lp == a_local_pref);
        if best && a && p.len() == 2 {
            Ok(())
        } else {
            Err(format!("{p:?}"))
        }
    });
}

/// Whether every route `bird` holds from keel carries GRACEFUL_SHUTDOWN (`tagged`) or none
/// does; the number of routes.
fn routes_from_keel(bird: &Bird, tagged: bool) -> Result<usize, String> {
    let text = bird.birdc("show route all protocol keel");
    let routes = bird.prefixes().len();
    let with = text.lines().filter(|l| l.contains("BGP.community:") && l.contains("(65535,0)")).count();
    let want = if tagged { routes } else { 0 };
    if routes > 0 && with == want {
        Ok(routes)
    } else {
        Err(format!("{routes} routes, {with} with (65535,0), want {want}:\n{text}"))
    }
}

fn wait_tagged(bird: &Bird, tagged: bool, what: &str) -> usize {
    wait_for(what, WAIT, || routes_from_keel(bird, tagged))
}

#[test]
fn rfc8326_sender_receiver_and_stop_against_bird() {
    preflight();
    let dir = test_dir("gshut");
    let bird_a = bird(&dir.join("a"), A, 65052, "bgp_community.add((65535,0));");
    let bird_b = bird(&dir.join("b"), B, 65053, "bgp_path.prepend(65053); bgp_path.prepend(65053);");
    let kdir = dir.join("keel");
    let k = start_with_config(kdir.clone(), &config(&kdir, true));
    let api = k.api();
    for n in [A, B] {
        established(&api, n);
    }
    bird_a.wait_established();
    bird_b.wait_established();

    // Receiver (RFC 8326 §4.1): A's shorter path is tagged, gets LOCAL_PREF 0, B's wins.
    wait_best(&api, B, Value::from(0));

    // Sender (§4.2): every route to both BIRDs tagged, the state in show neighbor.
    let (ok, out) = keel(&api, &["graceful-shutdown"]);
    assert!(ok, "{out}");
    assert!(out.contains("on for 2 neighbor(s)"), "{out}");
    wait_tagged(&bird_b, true, "every route to B tagged");
    wait_tagged(&bird_a, true, "every route to A tagged");
    for n in [A, B] {
        let v = json(&api, &["show", "neighbor", n, "--json"]).unwrap_or(Value::Null);
        assert_eq!(v["graceful_shutdown"], true, "{v}");
    }
    let (_, text) = keel(&api, &["show", "neighbor", B]);
    assert!(text.contains("Graceful shutdown: on"), "{text}");
    // Already on: nothing re-advertised.
    let (ok, out) = keel(&api, &["graceful-shutdown", "--json"]);
    assert!(ok && out.contains("already on"), "{out}");

    // Off for B only, then for all.
    let (ok, out) = keel(&api, &["graceful-shutdown", "--off", B]);
    assert!(ok, "{out}");
    wait_tagged(&bird_b, false, "no route to B tagged");
    wait_tagged(&bird_a, true, "A's routes still tagged");
    let v = json(&api, &["show", "neighbor", B, "--json"]).unwrap_or(Value::Null);
    assert_eq!(v["graceful_shutdown"], false, "{v}");
    let (ok, out) = keel(&api, &["graceful-shutdown", "--off"]);
    assert!(ok, "{out}");
    wait_tagged(&bird_a, false, "no route to A tagged");
    let (ok, out) = keel(&api, &["graceful-shutdown", "127.0.5.9"]);
    assert!(!ok && out.contains("no neighbor 127.0.5.9"), "{out}");

    // A state set before a reload survives it.
    let (ok, out) = keel(&api, &["graceful-shutdown", A]);
    assert!(ok, "{out}");
    wait_tagged(&bird_a, true, "A's routes tagged again");

    // honour_graceful_shutdown = false, on reload: A's path wins again, without LOCAL_PREF.
    k.write_config(&config(&kdir, false)).expect("configuration");
    let (ok, out) = keel(&api, &["reload"]);
    assert!(ok, "{out}");
    wait_best(&api, A, Value::Null);
    let v = json(&api, &["show", "neighbor", A, "--json"]).unwrap_or(Value::Null);
    assert_eq!(v["graceful_shutdown"], true, "kept across the reload: {v}");
    wait_tagged(&bird_a, true, "A's routes still tagged after the reload");
    // And back on.
    k.write_config(&config(&kdir, true)).expect("configuration");
    let (ok, out) = keel(&api, &["reload"]);
    assert!(ok, "{out}");
    wait_best(&api, B, Value::from(0));

    // keel stop --graceful-shutdown 2: B sees the tag while the session is up, then keeld goes.
    wait_tagged(&bird_b, false, "B's routes plain before the stop");
    let (ok, out) = keel(&api, &["stop", "--graceful-shutdown", "2"]);
    assert!(ok, "{out}");
    wait_for("B's routes tagged before the session ends", Duration::from_secs(2), || {
        let tagged = routes_from_keel(&bird_b, true);
        let up = bird_b.established();
        if tagged.is_ok() && up {
            Ok(())
        } else {
            Err(format!("{tagged:?}, established {up}"))
        }
    });
    assert!(k.running(), "keeld waits the 2 s");
    assert!(k.wait_exit(Duration::from_secs(15)), "keeld did not exit:\n{}", k.log_tail(30));
    bird_a.stop();
    bird_b.stop();
}
