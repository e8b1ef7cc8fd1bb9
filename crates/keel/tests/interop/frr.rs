//! keel against FRR bgpd in standalone mode (`-Z`, no zebra): session, routes both ways,
//! capabilities (GR with the N bit, LLGR) and End-of-RIB.

use super::common::*;
use super::daemons::*;

#[test]
fn frr_session_routes_capabilities_end_of_rib() {
    let dir = temp_dir("frr");
    let (keel_addr, frr_addr) = ("127.0.0.121", "127.0.0.122");
    let keel = start_keel_for_daemon(&dir, keel_addr, 65121, frr_addr, 65122);
    let frr = frr_with(
        &dir.sub("frr"),
        "bgpd",
        &FrrPeer {
            local: frr_addr,
            asn: 65122,
            keel: keel_addr,
            keel_asn: 65121,
            router: " bgp graceful-restart\n bgp graceful-restart restart-time 111\n \
                     bgp long-lived-graceful-restart stale-time 3333\n",
            ipv4: &["203.0.113.0/24"],
            ipv6: &["2001:db8:122::/48"],
            route_map: Some(" set community 65122:7\n"),
        },
    );

    let n = keel.wait_established(frr_addr);
    let nb = frr.wait_established(keel_addr);

    // keel's routes in FRR's RIB with keel's AS and communities.
    for (family, prefix, community, next_hop) in [
        ("ipv4", "198.51.100.0/24", "65001:121", "192.0.2.121"),
        ("ipv6", "2001:db8:121::/48", "65001:6121", "2001:db8::121"),
    ] {
        let r = wait_for(&format!("{prefix} from keel in FRR"), DEADLINE, || {
            let r = frr.json(&format!("show bgp {family} unicast {prefix} json"));
            if r["paths"].as_array().is_some_and(|p| !p.is_empty()) {
                Ok(r)
            } else {
                Err(r.to_string())
            }
        });
        let p = &r["paths"][0];
        assert_eq!(p["aspath"]["string"], "65121", "AS path in FRR: {r}");
        assert_eq!(p["community"]["list"], serde_json::json!([community]), "communities in FRR: {r}");
        assert_eq!(p["nexthops"][0]["ip"], next_hop, "next hop in FRR: {r}");
        assert_eq!(p["valid"], true, "FRR takes keel's route as valid: {r}");
    }

    // FRR's routes in keel.
    assert_peer_routes(&keel, frr_addr, 65122);

    // keel's capabilities as FRR recorded them.
    let caps = &nb["neighborCapabilities"];
    for key in ["4byteAs", "extendedMessage", "gracefulRestart", "longLivedGracefulRestart", "enhancedRouteRefresh"] {
        assert_eq!(caps[key], "advertisedAndReceived", "FRR's {key}: {caps}");
    }
    assert!(caps["routeRefresh"].as_str().unwrap_or("").starts_with("advertisedAndReceived"), "{caps}");
    for f in ["ipv4Unicast", "ipv6Unicast"] {
        assert_eq!(caps["multiprotocolExtensions"][f]["advertisedAndReceived"], true, "{caps}");
        assert!(caps["addressFamiliesByPeer"].get(f).is_some(), "keel's GR families in FRR: {caps}");
    }
    assert_eq!(caps["gracefulRestartRemoteTimerMsecs"], 97_000, "keel's restart time in FRR: {caps}");
    let gr = &nb["gracefulRestartInfo"];
    assert_eq!(gr["nBit"], true, "N bit as FRR sees it: {gr}");
    assert_eq!(gr["remoteGrMode"], "Restart", "keel's GR mode in FRR: {gr}");
    assert_eq!(gr["timers"]["receivedRestartTimer"], 97, "{gr}");
    // keel's LLGR capability (ipv4 only, stale time 1801) as FRR printed it.
    let text = frr.text(&format!("show bgp neighbors {keel_addr}"));
    let llgr_text = text.split("Long-lived Graceful Restart: advertised and received").nth(1);
    let llgr_families: Vec<&str> = llgr_text
        .map(|t| t.lines().skip(2).take_while(|l| l.starts_with("           ")).map(str::trim).collect())
        .unwrap_or_default();
    assert_eq!(llgr_families, ["IPv4 Unicast"], "keel's LLGR families in FRR:\n{text}");
    assert!(text.contains("Remote Restart timer is 97 seconds"), "{text}");
    assert!(
        text.contains("IPv4 Unicast(preserved), IPv6 Unicast(preserved)"),
        "keel's GR families (F=1: without a FIB keel's restarts cannot disturb forwarding) in FRR:\n{text}"
    );

    // FRR's capabilities as keel recorded them: GR with N and R (FRR sets R=1 right after it
    // starts), restart time 111, LLGR stale time 3333.
    let remote = [
        "route-refresh",
        "enhanced-route-refresh",
        "extended-message",
        "four-octet-as",
        "graceful-restart",
        "long-lived-graceful-restart",
    ];
    assert_remote_capabilities(&n, &remote, "FRR");
    assert_remote_gr(&n, 111, true, false);
    assert_eq!(n["graceful_restart"]["remote"]["restart_state"], true, "FRR's R bit in keel: {n}");
    assert_remote_llgr(&n, 3333, "FRR");

    // End-of-RIB both ways.
    let nb = wait_for("FRR to receive keel's End-of-RIB", DEADLINE, || {
        let v = frr.json(&format!("show bgp neighbors {keel_addr} json"));
        let nb = v[keel_addr].clone();
        let gr = &nb["gracefulRestartInfo"];
        let ok = ["ipv4Unicast", "ipv6Unicast"].iter().all(|f| gr["endOfRibRecv"][f] == true);
        if ok {
            Ok(nb)
        } else {
            Err(gr.to_string())
        }
    });
    for f in ["ipv4Unicast", "ipv6Unicast"] {
        let s = &nb["gracefulRestartInfo"][f]["endOfRibStatus"];
        assert_eq!(s["endOfRibRecv"], true, "{s}");
        assert_eq!(s["endOfRibSend"], true, "{s}");
    }
    let n = keel.wait_end_of_rib(frr_addr, "FRR");
    assert_keel_end_of_rib(&n);
    assert_eq!(n["established_transitions"], 1, "{n}");
    // FRR (no sender-side loop detection) sends keel's own routes back with 65122 65121 in
    // the AS path; keel refuses them (RFC 4271 §9.1.2). Only FRR's own routes remain.
    let from_frr: Vec<String> = keel
        .routes(&format!("neighbor={frr_addr}"))
        .iter()
        .map(|r| format!("{} {}", r["prefix"].as_str().unwrap(), r["as_path"]))
        .collect();
    assert_eq!(from_frr, ["203.0.113.0/24 [65122]", "2001:db8:122::/48 [65122]"], "routes from FRR in keel");
}
