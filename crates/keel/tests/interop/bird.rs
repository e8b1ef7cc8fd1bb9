//! keel against BIRD 2: session, routes both ways, capabilities and End-of-RIB.

use super::common::*;
use super::daemons::*;

/// The lines of the section `title` in `show protocols all` (up to the next line that is
/// indented no deeper than the title).
fn section<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|l| l.trim() != title);
    let Some(head) = lines.next() else { return Vec::new() };
    let indent = head.len() - head.trim_start().len();
    lines.take_while(|l| l.len() - l.trim_start().len() > indent).map(str::trim).collect()
}

/// The capability `name` in a capabilities section with its detail lines.
fn capability<'a>(caps: &[&'a str], name: &str) -> Option<Vec<&'a str>> {
    let i = caps.iter().position(|l| *l == name)?;
    Some(caps[i + 1..].iter().take_while(|l| l.contains(':')).copied().collect())
}

#[test]
fn bird_session_routes_capabilities_end_of_rib() {
    let dir = temp_dir("bird");
    let (keel_addr, bird_addr) = ("127.0.0.111", "127.0.0.112");
    let keel = start_keel_for_daemon(&dir, keel_addr, 65111, bird_addr, 65112);
    let bird = bird_peer(
        &dir.sub("bird"),
        &BirdPeer {
            local: bird_addr,
            asn: 65112,
            keel: keel_addr,
            keel_asn: 65111,
            hold_time: 9,
            extra: "",
            routes: true,
        },
    );

    // Established on both sides.
    let n = keel.wait_established(bird_addr);
    let proto = bird.wait_established();
    assert_eq!(n["hold_time"], 9);
    assert!(proto.contains("Session:          external multihop AS4"), "BIRD session kind:\n{proto}");

    // keel's routes in BIRD's RIB, with keel's AS and communities.
    let v4 = bird.wait_route("198.51.100.0/24");
    assert!(v4.contains("BGP.as_path: 65111\n"), "AS path in BIRD:\n{v4}");
    assert!(v4.contains("BGP.community: (65001,111)"), "communities in BIRD:\n{v4}");
    assert!(v4.contains("BGP.next_hop: 192.0.2.111"), "next hop in BIRD:\n{v4}");
    let v6 = bird.wait_route("2001:db8:111::/48");
    assert!(v6.contains("BGP.as_path: 65111\n"), "AS path in BIRD:\n{v6}");
    assert!(v6.contains("BGP.community: (65001,6111)"), "communities in BIRD:\n{v6}");
    assert!(v6.contains("BGP.next_hop: 2001:db8::111"), "next hop in BIRD:\n{v6}");

    // BIRD's routes in keel's Adj-RIB-In.
    let r4 = keel.wait_route(bird_addr, "203.0.113.0/24");
    assert_eq!(r4["as_path"], serde_json::json!([65112]), "{r4}");
    assert_eq!(r4["communities"], serde_json::json!(["65112:7"]), "{r4}");
    assert_eq!(r4["family"], "ipv4-unicast");
    let r6 = keel.wait_route(bird_addr, "2001:db8:112::/48");
    assert_eq!(r6["as_path"], serde_json::json!([65112]), "{r6}");
    assert_eq!(r6["next_hop"], "2001:db8::112", "{r6}");
    assert_eq!(r6["family"], "ipv6-unicast");

    // What keel advertised, as BIRD recorded it ("Neighbor capabilities").
    let caps = section(&proto, "Neighbor capabilities");
    assert!(!caps.is_empty(), "no neighbor capabilities in:\n{proto}");
    let need = |name: &str| capability(&caps, name).unwrap_or_else(|| panic!("BIRD saw no {name} from keel:\n{proto}"));
    assert_eq!(need("Multiprotocol"), ["AF announced: ipv4 ipv6"]);
    need("Route refresh");
    need("Enhanced refresh");
    need("Extended message");
    need("4-octet AS numbers");
    assert_eq!(need("Graceful restart"), ["Restart time: 97", "AF supported: ipv4 ipv6", "AF preserved: ipv4 ipv6"]);
    assert_eq!(
        need("Long-lived graceful restart"),
        ["LL stale time: 1801", "AF supported: ipv4", "AF preserved: ipv4"]
    );

    // What BIRD advertised, as keel recorded it. BIRD 2.0 has no N bit.
    let remote = [
        "route-refresh",
        "enhanced-route-refresh",
        "extended-message",
        "four-octet-as",
        "graceful-restart",
        "long-lived-graceful-restart",
    ];
    assert_remote_capabilities(&n, &remote, "BIRD");
    assert_remote_gr(&n, 111, false, false);
    assert_remote_llgr(&n, 3333, "BIRD");
    assert_eq!(families(&n["llgr"]["local"]), ["ipv4-unicast"]);

    // End-of-RIB: BIRD logs one "Got END-OF-RIB" per channel; keel saw BIRD's too.
    wait_for("BIRD to receive End-of-RIB for both channels", DEADLINE, || {
        let log = read(&bird.log);
        match log.matches("keel: Got END-OF-RIB").count() {
            n if n >= 2 => Ok(()),
            n => Err(format!("{n} End-of-RIB in the log")),
        }
    });
    let n = keel.wait_end_of_rib(bird_addr, "BIRD");
    assert_keel_end_of_rib(&n);
    assert_eq!(n["established_transitions"], 1, "{n}");

    // Route refresh both ways, with Enhanced Route Refresh negotiated (RFC 7313).
    // keel asks (`keel clear --soft`): BIRD gets ROUTE-REFRESH and sends its routes again.
    let clear = keel.request("POST", &format!("/v1/neighbors/{bird_addr}/clear?soft=true"));
    assert!(clear.is_ok(), "{clear:?}");
    wait_for("BIRD to get keel's ROUTE-REFRESH", DEADLINE, || {
        let log = read(&bird.log);
        if log.contains("keel: Got ROUTE-REFRESH") {
            Ok(())
        } else {
            Err("not yet".into())
        }
    });
    // BIRD asks (`reload in`): keel answers with BoRR, its routes, EoRR for each family.
    bird.birdc("reload in keel");
    wait_for("BIRD to get keel's BoRR and EoRR for both families", DEADLINE, || {
        let log = read(&bird.log);
        let (b, e) = (log.matches("keel: Got BEGIN-OF-RR").count(), log.matches("keel: Got END-OF-RR").count());
        if b >= 2 && e >= 2 {
            Ok(())
        } else {
            Err(format!("{b} BoRR, {e} EoRR in BIRD's log"))
        }
    });
    let v4 = bird.birdc("show route 198.51.100.0/24 all");
    assert!(v4.contains("[keel ") && v4.contains("BGP.community: (65001,111)"), "after refresh:\n{v4}");
    let n = keel.neighbor(bird_addr);
    assert_eq!((n["state"].as_str(), n["established_transitions"].as_u64()), (Some("established"), Some(1)), "{n}");
}
