//! Route propagation through keeld between keeld peers on loopback: best-path selection,
//! attribute rewrites towards eBGP, withdrawals, RFC 8212 defaults, route reflection.

mod common;

use common::*;

const ALL: &str = "import = \"all\"\nexport = \"all\"";

#[test]
fn best_path_propagates_and_withdrawal_follows() {
    // c hears 198.51.100.0/24 from a (originated there) and through b (originated by d behind
    // b, one AS longer); e is c's eBGP downstream.
    let m = |last, asn| Neighbor { last, asn, extra: ALL };
    let a = keeld_with("prop", 41, 65041, &[m(43, 65043)], "", &["198.51.100.0/24"]);
    let b = keeld_with("prop", 42, 65042, &[m(43, 65043), m(44, 65044)], "", &[]);
    let _d = keeld_with("prop", 44, 65044, &[m(42, 65042)], "", &["198.51.100.0/24"]);
    let c = keeld_with("prop", 43, 65043, &[m(41, 65041), m(42, 65042), m(45, 65045)], "", &[]);
    let e = keeld_with("prop", 45, 65045, &[m(43, 65043)], "", &[]);
    // a's path (65041) beats b's (65042 65044) on AS_PATH length.
    let r = wait_for("two paths at c", || {
        Some(routes(&c.api(), &["--prefix", "198.51.100.0/24"])).filter(|v| v.len() == 2)
    });
    let best: Vec<_> = r.iter().filter(|x| x["best"] == true).collect();
    assert_eq!(best.len(), 1);
    assert_eq!(best[0]["neighbor"], "127.0.0.41");
    // e (eBGP downstream of c) gets exactly the best path, with c's AS prepended and c as
    // next hop.
    let r =
        wait_for("route at e", || Some(routes(&e.api(), &["--prefix", "198.51.100.0/24"])).filter(|v| v.len() == 1));
    assert_eq!(r[0]["as_path"], serde_json::json!([65043, 65041]));
    assert_eq!(r[0]["next_hop"], "127.0.0.43");
    assert_eq!(r[0]["communities"], serde_json::json!(["65000:41"]));
    // c's Adj-RIB-Out towards e shows the same, as sent.
    let out = routes(&c.api(), &["--advertised", "127.0.0.45"]);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["as_path"], serde_json::json!([65043, 65041]));
    assert_eq!(out[0]["next_hop"], "127.0.0.43");
    // a goes away for good (a Hard Reset, so c keeps nothing of it): c switches to b's
    // path, e follows.
    assert!(keel(&a.api(), &["stop", "--withdraw"]).0);
    let r = wait_for("switch at e", || {
        Some(routes(&e.api(), &["--prefix", "198.51.100.0/24"]))
            .filter(|v| v.len() == 1 && v[0]["as_path"].as_array().is_some_and(|p| p.len() == 3))
    });
    assert_eq!(r[0]["as_path"], serde_json::json!([65043, 65042, 65044]));
    // b goes too (its upstream d's route with it): e has nothing left.
    assert!(keel(&b.api(), &["stop", "--withdraw"]).0);
    wait_for("withdrawal at e", || Some(()).filter(|_| routes(&e.api(), &["--prefix", "198.51.100.0/24"]).is_empty()));
}

#[test]
fn ebgp_without_policy_exchanges_nothing() {
    // RFC 8212: no import/export set on an eBGP neighbor means none.
    let a = keeld_with("r8212", 46, 65046, &[Neighbor { last: 47, asn: 65047, extra: "" }], "", &["198.51.100.0/24"]);
    let b = keeld_with("r8212", 47, 65047, &[Neighbor { last: 46, asn: 65046, extra: ALL }], "", &["203.0.113.0/24"]);
    established(&a.api(), "127.0.0.47");
    let n = wait_for("End-of-RIB at b", || {
        json(&b.api(), &["show", "neighbor", "127.0.0.46", "--json"])
            .filter(|v| v["graceful_restart"]["end_of_rib_received"].as_array().is_some_and(|a| a.len() == 2))
    });
    assert_eq!(n["received_prefixes"], 0, "a exported without a policy");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(routes(&a.api(), &["--neighbor", "127.0.0.47"]).is_empty(), "a imported without a policy");
}

#[test]
fn route_reflector_reflects_between_clients() {
    // One AS 65050: rr (51) reflects between clients 52 and 53 (RFC 4456).
    let client = |last| Neighbor { last, asn: 65050, extra: "route_reflector_client = true" };
    let to_rr = |_| Neighbor { last: 51, asn: 65050, extra: "" };
    let _rr = keeld_with("rr", 51, 65050, &[client(52), client(53)], "", &[]);
    let a = keeld_with("rr", 52, 65050, &[to_rr(0)], "", &["198.51.100.0/24"]);
    let b = keeld_with("rr", 53, 65050, &[to_rr(0)], "", &[]);
    let r = wait_for("reflected route", || {
        Some(routes(&b.api(), &["--prefix", "198.51.100.0/24"])).filter(|v| v.len() == 1)
    });
    assert_eq!(r[0]["neighbor"], "127.0.0.51");
    assert_eq!(r[0]["next_hop"], "127.0.0.52", "reflection keeps the originator's next hop");
    assert_eq!(r[0]["local_pref"], 100);
    assert_eq!(r[0]["as_path"], serde_json::json!([]));
    drop(a);
}
