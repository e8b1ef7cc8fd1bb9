//! keel against GoBGP: session, routes both ways, capabilities (GR with N, LLGR) and
//! End-of-RIB.

use super::common::*;
use super::daemons::*;

/// The lines of one capability in `gobgp neighbor X` (the line `name:\t...` and the deeper
/// indented lines after it).
fn capability(text: &str, name: &str) -> Vec<String> {
    let mut lines = text.lines().skip_while(|l| !l.trim_start().starts_with(&format!("{name}:")));
    let Some(head) = lines.next() else { return Vec::new() };
    let indent = head.len() - head.trim_start().len();
    let words = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut v = vec![words(head)];
    v.extend(
        lines
            .take_while(|l| l.replace('\t', "        ").len() - l.replace('\t', "        ").trim_start().len() > indent)
            .map(words),
    );
    v
}

#[test]
fn gobgp_session_routes_capabilities_end_of_rib() {
    let dir = temp_dir("gobgp");
    let (keel_addr, gobgp_addr) = ("127.0.0.131", "127.0.0.132");
    let keel = start_keel_for_daemon(&dir, keel_addr, 65131, gobgp_addr, 65132);
    let gobgp = gobgp_peer(&dir.sub("gobgp"), gobgp_addr, 65132, keel_addr, 65131);
    gobgp.ok(&["global", "rib", "add", "203.0.113.0/24", "nexthop", "192.0.2.132", "community", "65132:7"]);
    gobgp.ok(&[
        "global",
        "rib",
        "add",
        "-a",
        "ipv6",
        "2001:db8:132::/48",
        "nexthop",
        "2001:db8::132",
        "community",
        "65132:7",
    ]);

    let n = keel.wait_established(gobgp_addr);
    gobgp.wait_established(keel_addr);

    // keel's routes in GoBGP's RIB.
    for (family, prefix, community, next_hop) in [
        ("ipv4", "198.51.100.0/24", "65001:131", "192.0.2.131"),
        ("ipv6", "2001:db8:131::/48", "65001:6131", "2001:db8::131"),
    ] {
        let path = gobgp.wait_path(family, prefix, keel_addr);
        let attr = |t: u64| gobgp_attr(&path, t);
        assert_eq!(attr(2)["as_paths"][0]["asns"], serde_json::json!([65131]), "AS path in GoBGP: {path}");
        let c = community_number(community);
        assert_eq!(attr(8)["communities"], serde_json::json!([c]), "communities in GoBGP: {path}");
        let nh = if family == "ipv4" { attr(3)["nexthop"].clone() } else { attr(14)["nexthop"].clone() };
        assert_eq!(nh, next_hop, "next hop in GoBGP: {path}");
    }
    let text = gobgp.ok(&["neighbor", keel_addr]);
    assert!(text.contains("BGP state = ESTABLISHED"), "{text}");

    // GoBGP's routes in keel.
    assert_peer_routes(&keel, gobgp_addr, 65132);

    // keel's capabilities as GoBGP recorded them (it knows no Extended Message).
    assert_eq!(capability(&text, "4-octet-as"), ["4-octet-as: advertised and received"], "{text}");
    assert_eq!(capability(&text, "route-refresh"), ["route-refresh: advertised and received"], "{text}");
    assert_eq!(capability(&text, "enhanced-route-refresh"), ["enhanced-route-refresh: received"], "{text}");
    assert_eq!(capability(&text, "UnknownCapability(6)"), ["UnknownCapability(6): received"], "{text}");
    assert_eq!(
        capability(&text, "multiprotocol"),
        ["multiprotocol:", "ipv4-unicast: advertised and received", "ipv6-unicast: advertised and received"],
        "{text}"
    );
    let gr = capability(&text, "graceful-restart");
    let remote_gr: Vec<&str> = gr.iter().skip_while(|l| !l.starts_with("Remote:")).map(String::as_str).collect();
    assert_eq!(gr[0], "graceful-restart: advertised and received", "{text}");
    assert_eq!(
        remote_gr,
        [
            "Remote: restart time 97 sec, notification flag set",
            "ipv4-unicast, forward flag set",
            "ipv6-unicast, forward flag set"
        ],
        "{text}"
    );
    let llgr = capability(&text, "long-lived-graceful-restart");
    let remote_llgr: Vec<&str> = llgr.iter().skip_while(|l| !l.starts_with("Remote:")).map(String::as_str).collect();
    assert_eq!(llgr[0], "long-lived-graceful-restart: advertised and received", "{text}");
    assert_eq!(remote_llgr, ["Remote:", "ipv4-unicast, restart time 1801 sec, forward flag set"], "{text}");

    // GoBGP's capabilities as keel recorded them.
    let remote = ["route-refresh", "four-octet-as", "graceful-restart", "long-lived-graceful-restart"];
    assert_remote_capabilities(&n, &remote, "GoBGP");
    assert_remote_gr(&n, 111, true, false);
    assert_eq!(n["graceful_restart"]["remote"]["restart_state"], false, "{n}");
    assert_remote_llgr(&n, 3333, "GoBGP");

    // End-of-RIB both ways.
    wait_for("GoBGP to receive keel's End-of-RIB", DEADLINE, || {
        let v = gobgp.json(&["neighbor", keel_addr, "-j"]);
        let afs = v["afi_safis"].as_array().cloned().unwrap_or_default();
        let eor = afs.iter().filter(|a| a["mp_graceful_restart"]["state"]["end_of_rib_received"] == true).count();
        if afs.len() == 2 && eor == 2 {
            Ok(())
        } else {
            Err(v["afi_safis"].to_string())
        }
    });
    let n = keel.wait_end_of_rib(gobgp_addr, "GoBGP");
    assert_keel_end_of_rib(&n);
    assert_eq!(n["established_transitions"], 1, "{n}");
}
