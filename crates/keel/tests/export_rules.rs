//! Route propagation through keeld between keeld peers on loopback: best-path selection,
//! attribute rewrites towards eBGP, withdrawals, RFC 8212 defaults, route reflection.

use crate::common::*;
use keel_lab::speaker::{self, SessionWriter, SpeakerConfig};
use keel_wire::attribute::{AsSegment, SegmentType};
use keel_wire::{AsPath, CodecOptions, Family, Message, NextHop, Nlri, Origin, PathAttributes, Update};
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    let r = wait_for("two paths at c", WAIT, || {
        Some(routes(&c.api(), &["--prefix", "198.51.100.0/24", "--exact"])).filter(|v| v.len() == 2)
    });
    let best: Vec<_> = r.iter().filter(|x| x["best"] == true).collect();
    assert_eq!(best.len(), 1);
    assert_eq!(best[0]["neighbor"], "127.0.0.41");
    // e (eBGP downstream of c) gets exactly the best path, with c's AS prepended and c as
    // next hop.
    let r = wait_for("route at e", WAIT, || {
        Some(routes(&e.api(), &["--prefix", "198.51.100.0/24", "--exact"])).filter(|v| v.len() == 1)
    });
    assert_eq!(r[0]["as_path"], serde_json::json!([65043, 65041]));
    assert_eq!(r[0]["next_hop"], "127.0.0.43");
    assert_eq!(r[0]["communities"], serde_json::json!(["65000:41"]));
    // c's Adj-RIB-Out towards e shows the same, as sent.
    let out = routes(&c.api(), &["--advertised", "127.0.0.45"]);
    assert_eq!(out.len(), 1, "{out:?}");
    // A longest match among what was sent.
    let covering = routes(&c.api(), &["--advertised", "127.0.0.45", "--prefix", "198.51.100.1"]);
    assert_eq!(covering, out, "the route covering 198.51.100.1");
    assert_eq!(out[0]["as_path"], serde_json::json!([65043, 65041]));
    assert_eq!(out[0]["next_hop"], "127.0.0.43");
    // a goes away for good (a Hard Reset, so c keeps nothing of it): c switches to b's
    // path, e follows.
    assert!(keel(&a.api(), &["stop", "--withdraw"]).0);
    let r = wait_for("switch at e", WAIT, || {
        Some(routes(&e.api(), &["--prefix", "198.51.100.0/24", "--exact"]))
            .filter(|v| v.len() == 1 && v[0]["as_path"].as_array().is_some_and(|p| p.len() == 3))
    });
    assert_eq!(r[0]["as_path"], serde_json::json!([65043, 65042, 65044]));
    // b goes too (its upstream d's route with it): e has nothing left.
    assert!(keel(&b.api(), &["stop", "--withdraw"]).0);
    wait_for("withdrawal at e", WAIT, || {
        Some(()).filter(|_| routes(&e.api(), &["--prefix", "198.51.100.0/24", "--exact"]).is_empty())
    });
}

#[test]
fn ebgp_without_policy_exchanges_nothing() {
    // RFC 8212: no import/export set on an eBGP neighbor means none.
    let a = keeld_with("r8212", 46, 65046, &[Neighbor { last: 47, asn: 65047, extra: "" }], "", &["198.51.100.0/24"]);
    let b = keeld_with("r8212", 47, 65047, &[Neighbor { last: 46, asn: 65046, extra: ALL }], "", &["203.0.113.0/24"]);
    established(&a.api(), "127.0.0.47");
    let n = wait_for("End-of-RIB at b", WAIT, || {
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
    let r = wait_for("reflected route", WAIT, || {
        Some(routes(&b.api(), &["--prefix", "198.51.100.0/24", "--exact"])).filter(|v| v.len() == 1)
    });
    assert_eq!(r[0]["neighbor"], "127.0.0.51");
    assert_eq!(r[0]["next_hop"], "127.0.0.52", "reflection keeps the originator's next hop");
    assert_eq!(r[0]["local_pref"], 100);
    assert_eq!(r[0]["as_path"], serde_json::json!([]));
    drop(a);
}

/// A speaker at 127.0.0.`me` in AS `asn` connecting to keeld at 127.0.0.`keeld`.
fn speaker_config(me: u8, asn: u32, keeld: u8) -> SpeakerConfig {
    SpeakerConfig {
        local: IpAddr::V4(Ipv4Addr::new(127, 0, 0, me)),
        remote: SocketAddr::from(([127, 0, 0, keeld], 179)),
        asn,
        router_id: Ipv4Addr::new(192, 0, 2, me),
        hold_time: 90,
        families: vec![Family::IPV4_UNICAST],
        graceful_restart: None,
        long_lived: Vec::new(),
    }
}

/// An UPDATE announcing `prefix` with `path`, next hop 127.0.0.`me`.
fn announcement(prefix: &str, path: &[(SegmentType, &[u32])], me: u8) -> Vec<u8> {
    let segments =
        path.iter().map(|(kind, asns)| AsSegment { kind: *kind, asns: asns.iter().copied().collect() }).collect();
    let attributes =
        PathAttributes { origin: Some(Origin::Igp), as_path: Some(AsPath { segments }), ..Default::default() };
    let mut out = Vec::new();
    keel_wire::builder::announce(
        Family::IPV4_UNICAST,
        &attributes,
        NextHop::V4(Ipv4Addr::new(127, 0, 0, me)),
        &[Nlri::new(prefix.parse().unwrap())],
        &CodecOptions::default(),
        &mut out,
    )
    .unwrap();
    out
}

/// Keeps a speaker's session up past keeld's 9 s hold time.
fn keep_alive(rt: &tokio::runtime::Runtime, mut w: SessionWriter) {
    rt.spawn(async move {
        while w.keepalive().await.is_ok() {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
}

/// Issue 16 defect 4, through keeld: an external neighbor's AS_PATH with AS_CONFED_SEQUENCE is
/// treat-as-withdraw (RFC 5065 §5, RFC 7606 §7.2); an internal neighbor's is kept, shown with
/// its segment types in `as_path_segments`, and sent to an external neighbor without its
/// confederation segments (RFC 5065 §4.1, §5).
#[test]
fn confederation_segments_from_external_neighbor_are_withdrawn_and_never_leave() {
    use SegmentType::{ConfedSequence, Sequence};
    // keeld 54 (AS 65054); speakers 55 (eBGP, sends), 56 (eBGP, listens), 57 (iBGP, sends).
    let n = |last, asn| Neighbor { last, asn, extra: ALL };
    let k = keeld_with("confed", 54, 65054, &[n(55, 65055), n(56, 65056), n(57, 65054)], "", &[]);
    wait_for("keeld's API", WAIT, || json(&k.api(), &["show", "neighbors", "--json"]));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let received: Arc<Mutex<Vec<Update>>> = Arc::default();
    let (mut rd, w) = rt.block_on(speaker::connect(&speaker_config(56, 65056, 54))).map(|(r, w, _)| (r, w)).unwrap();
    keep_alive(&rt, w);
    let sink = received.clone();
    rt.spawn(async move {
        while let Ok(Some(m)) = rd.next().await {
            if let Message::Update(u) = m {
                sink.lock().unwrap().push(*u);
            }
        }
    });
    // From outside: a confederation segment behind the right first AS, then a clean route.
    let (_, mut external, _) = rt.block_on(speaker::connect(&speaker_config(55, 65055, 54))).unwrap();
    let bad =
        announcement("198.51.100.0/24", &[(Sequence, &[65055]), (ConfedSequence, &[65010]), (Sequence, &[65020])], 55);
    let good = announcement("203.0.113.0/24", &[(Sequence, &[65055, 65020])], 55);
    rt.block_on(async {
        external.send(&bad).await.unwrap();
        external.send(&good).await.unwrap();
    });
    keep_alive(&rt, external);
    // From inside: kept, confederation segments and all.
    let (_, mut internal, _) = rt.block_on(speaker::connect(&speaker_config(57, 65054, 54))).unwrap();
    let inside = announcement("192.0.2.0/24", &[(ConfedSequence, &[65010]), (Sequence, &[65030])], 57);
    rt.block_on(internal.send(&inside)).unwrap();
    keep_alive(&rt, internal);
    let announced = |prefix: &str| {
        received
            .lock()
            .unwrap()
            .iter()
            .filter(|u| u.announced.iter().any(|n| n.prefix.to_string() == prefix))
            .filter_map(|u| u.attributes.as_path.clone())
            .collect::<Vec<_>>()
    };
    let at_56 = wait_for("both clean routes at 56", WAIT, || {
        Some((announced("203.0.113.0/24"), announced("192.0.2.0/24"))).filter(|(a, b)| !a.is_empty() && !b.is_empty())
    });
    assert_eq!(at_56.0, vec![AsPath::sequence(vec![65054, 65055, 65020])]);
    assert_eq!(at_56.1, vec![AsPath::sequence(vec![65054, 65030])], "no confederation segment leaves");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(announced("198.51.100.0/24"), Vec::<AsPath>::new(), "the malformed route went on");
    let r = routes(&k.api(), &[]);
    let prefixes: Vec<&str> = r.iter().filter_map(|x| x["prefix"].as_str()).collect();
    assert_eq!(prefixes, vec!["192.0.2.0/24", "203.0.113.0/24"], "{r:?}");
    // The JSON keeps the segment types beside the flat list.
    assert_eq!(r[0]["as_path"], json!([65010, 65030]));
    assert_eq!(
        r[0]["as_path_segments"],
        json!([{"type": "as_confed_sequence", "asns": [65010]}, {"type": "as_sequence", "asns": [65030]}])
    );
    assert_eq!(r[1]["as_path_segments"], json!([{"type": "as_sequence", "asns": [65055, 65020]}]));
    // The session with the external neighbor stayed up; keeld said why it dropped the route.
    let n55 = json(&k.api(), &["show", "neighbor", "127.0.0.55", "--json"]).unwrap();
    assert_eq!((n55["state"].as_str(), n55["established_transitions"].as_u64()), (Some("established"), Some(1)));
    let log = k.log();
    assert!(log.contains("RFC 7606") && log.contains("AS_CONFED"), "{log}");
}
