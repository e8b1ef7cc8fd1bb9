//! keel against ExaBGP: session, routes both ways, capabilities and End-of-RIB, read from the
//! JSON ExaBGP hands its API process (a sink script that appends it to a file).

use super::common::*;
use super::daemons::*;
use serde_json::Value;

#[test]
fn exabgp_session_routes_capabilities_end_of_rib() {
    let dir = temp_dir("exabgp");
    let (keel_addr, exa_addr) = ("127.0.0.141", "127.0.0.142");
    let keel = start_keel_for_daemon(&dir, keel_addr, 65141, exa_addr, 65142);
    let exa = ExaBgp::start(
        &dir.sub("exabgp"),
        "exabgp",
        &ExaPeer {
            local: exa_addr,
            asn: 65142,
            keel: keel_addr,
            keel_asn: 65141,
            capability:
                "graceful-restart 111;\n    route-refresh enable;\n    extended-message enable;\n    asn4 enable;",
            routes: &[
                "203.0.113.0/24 next-hop 192.0.2.142 community [65142:7]".to_string(),
                "2001:db8:142::/48 next-hop 2001:db8::142 community [65142:7]".to_string(),
            ],
            extra: "",
            api: true,
        },
    );

    let n = keel.wait_established(exa_addr);
    exa.wait_event("ExaBGP to report the session up", |e| e["type"] == "state" && e["neighbor"]["state"] == "up");

    // keel's routes as ExaBGP received them.
    let announced = |e: &Value, family: &str, prefix: &str| -> Option<String> {
        let a = e["neighbor"]["message"]["update"]["announce"][family].as_object()?;
        a.iter()
            .find(|(_, v)| v.as_array().is_some_and(|v| v.iter().any(|n| n["nlri"] == prefix)))
            .map(|(nh, _)| nh.clone())
    };
    for (family, prefix, community, next_hop) in [
        ("ipv4 unicast", "198.51.100.0/24", [65001, 141], "192.0.2.141"),
        ("ipv6 unicast", "2001:db8:141::/48", [65001, 6141], "2001:db8::141"),
    ] {
        let u = exa.wait_event(&format!("{prefix} from keel in ExaBGP"), |e| announced(e, family, prefix).is_some());
        let attr = &u["neighbor"]["message"]["update"]["attribute"];
        assert_eq!(attr["as-path"], serde_json::json!([65141]), "AS path in ExaBGP: {u}");
        assert_eq!(attr["community"], serde_json::json!([community]), "communities in ExaBGP: {u}");
        assert_eq!(announced(&u, family, prefix).unwrap(), next_hop, "next hop in ExaBGP: {u}");
    }

    // ExaBGP's routes in keel.
    assert_peer_routes(&keel, exa_addr, 65142);

    // keel's OPEN as ExaBGP decoded it. ExaBGP 4.2 does not decode the N bit nor LLGR (it
    // shows LLGR raw: AFI 1, SAFI 1, flags 0, stale time 1801 = 0x000709).
    let open = exa.wait_event("keel's OPEN in ExaBGP", |e| e["type"] == "open");
    let caps = &open["neighbor"]["open"]["capabilities"];
    assert_eq!(open["neighbor"]["open"]["asn"], 65141, "{open}");
    assert_eq!(open["neighbor"]["open"]["hold_time"], 9, "{open}");
    assert_eq!(caps["1"]["families"], serde_json::json!(["ipv4/unicast", "ipv6/unicast"]), "{caps}");
    assert_eq!(caps["2"]["name"], "route-refresh", "{caps}");
    assert_eq!(caps["70"]["name"], "enhanced-route-refresh", "{caps}");
    assert_eq!(caps["6"]["name"], "extended-message", "{caps}");
    assert_eq!(caps["65"]["asn4"], 65141, "{caps}");
    assert_eq!(caps["64"]["time"], 97, "keel's restart time in ExaBGP: {caps}");
    let gr_families: Vec<&String> =
        caps["64"]["address-family-flags"].as_object().map(|m| m.keys().collect()).unwrap_or_default();
    assert_eq!(gr_families, ["ipv4/unicast", "ipv6/unicast"], "{caps}");
    assert_eq!(caps["71"]["raw"], "00010180000709", "keel's LLGR capability in ExaBGP: {caps}");

    // ExaBGP's capabilities as keel recorded them: GR 111 without N, F=1 for every family.
    let remote = ["route-refresh", "extended-message", "four-octet-as", "graceful-restart"];
    assert_remote_capabilities(&n, &remote, "ExaBGP");
    assert_remote_gr(&n, 111, false, true);
    assert_eq!(n["llgr"]["remote"], Value::Null, "{n}");

    // End-of-RIB both ways.
    for afi in ["ipv4", "ipv6"] {
        exa.wait_event(&format!("ExaBGP to receive keel's {afi} End-of-RIB"), |e| {
            e["neighbor"]["message"]["eor"]["afi"] == afi && e["neighbor"]["message"]["eor"]["safi"] == "unicast"
        });
    }
    let n = keel.wait_end_of_rib(exa_addr, "ExaBGP");
    assert_keel_end_of_rib(&n);
    assert_eq!(n["established_transitions"], 1, "{n}");
}
