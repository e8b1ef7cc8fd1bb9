//! Route propagation through keeld between real daemons: the decision process seen from a
//! downstream FRR (upstreams BIRD and GoBGP offering the same prefixes), route reflection
//! between BIRD and FRR clients (RFC 4456), a transparent route server between BIRD and
//! GoBGP (RFC 7947), and a downstream that stops reading while a 50k-route table churns.
//!
//! Quirks met here (see also the top of each daemon's module and /work/shared/interop.md):
//! - keel's next hop "self" towards eBGP is its session address, 127.0.0.x. FRR 8.4 answers
//!   a 127/8 NEXT_HOP with a NOTIFICATION (UPDATE Message Error / Invalid NEXT_HOP, logged
//!   as "Martian nexthop") unless `bgp allow-martian-nexthop` is set under `router bgp`
//!   (`debug bgp allow-martians` is not accepted by 8.4's configuration or vtysh). With it
//!   FRR shows the next hop exactly as keel sent it.
//! - For IPv6 routes over an IPv4 session that next hop is IPv4-mapped; FRR prints
//!   ::ffff:127.0.0.240 as `::ffff:7f00:f0`, BIRD refuses such next hops (so BIRD is never
//!   the eBGP downstream of a non-transparent keel here).
//! - FRR shows an empty AS path as the string "Local" (length 0).
//! - birdc exits with status 1 while `show route PREFIX` finds nothing.
//! - BIRD's `next hop address` gives its own routes a documentation next hop; FRR gets one
//!   with an outbound route-map.
//! - GoBGP prepends its own AS to the `aspath` given to `gobgp global rib add`.

use super::common::*;
use super::daemons::*;
use keel_lab::speaker::{self, SpeakerConfig};
use keel_tablegen::{Table, TableSpec};
use keel_wire::{CodecOptions, Community, Family, Message, Prefix};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Daemons with test-specific configurations

/// A `[[neighbor]]` of keel with explicit import/export and more keys (`extra`).
fn neighbor(address: &str, asn: u32, local: &str, import: &str, export: &str, extra: &str) -> String {
    keel_neighbor_policy(address, asn, local, 9, import, export) + extra + "\n"
}

/// The `protocol bgp keel` of BIRD towards keel with the two channels given.
fn bird_bgp(local: &str, asn: u32, keel: &str, keel_asn: u32, ipv4: &str, ipv6: &str) -> String {
    BirdSession { local, asn, keel, keel_asn, hold_time: 9, lines: "", ipv4, ipv6 }.conf()
}

/// FRR's paths for `prefix` (`family` "ipv4" or "ipv6"), possibly none.
fn frr_paths(frr: &Frr, family: &str, prefix: &str) -> Vec<Value> {
    let r = frr.json(&format!("show bgp {family} unicast {prefix} json"));
    r["paths"].as_array().cloned().unwrap_or_default()
}

/// The prefixes in FRR's table of `family` with their paths.
fn frr_table(frr: &Frr, family: &str) -> serde_json::Map<String, Value> {
    let r = frr.json(&format!("show bgp {family} unicast json"));
    r["routes"].as_object().cloned().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// 1. Best paths from two upstreams, seen by a downstream

/// What FRR should hold for one prefix: the AS path after keel's AS and the communities.
struct Expect {
    family: &'static str,
    prefix: &'static str,
    as_path: &'static str,
    communities: &'static [&'static str],
}

/// Waits until FRR's tables hold exactly `expected`: those prefixes and no others, one
/// path each, from keel, valid and best, with keel's address as next hop, the AS path and
/// communities given, and no MED. Fails with the last difference after the deadline.
fn assert_frr_holds(frr: &Frr, keel: &str, expected: &[Expect]) {
    wait_for("FRR to hold exactly keel's best paths", DEADLINE, || {
        let mut got: Vec<String> =
            ["ipv4", "ipv6"].iter().flat_map(|f| frr_table(frr, f).keys().cloned().collect::<Vec<_>>()).collect();
        got.sort();
        let mut want: Vec<String> = expected.iter().map(|e| e.prefix.to_string()).collect();
        want.sort();
        if got != want {
            return Err(format!("FRR holds {got:?}, want {want:?}"));
        }
        for e in expected {
            let paths = frr_paths(frr, e.family, e.prefix);
            let [p] = paths.as_slice() else {
                return Err(format!("{} paths for {}: {paths:?}", paths.len(), e.prefix));
            };
            // keel's session address; IPv4-mapped for IPv6 (FRR prints that as ::ffff:7f00:f0).
            let next_hop: IpAddr =
                if e.family == "ipv4" { keel.to_string() } else { format!("::ffff:{keel}") }.parse().unwrap();
            let checks = [
                ("AS path", p["aspath"]["string"] == e.as_path),
                ("communities", p["community"]["list"] == json!(e.communities)),
                // RFC 4271 §5.1.4: a MED from a neighboring AS goes no further.
                ("no MED", p.get("metric").is_none()),
                ("valid", p["valid"] == true),
                ("best", p["bestpath"]["overall"] == true),
                ("next hop", p["nexthops"][0]["ip"].as_str().and_then(|a| a.parse::<IpAddr>().ok()) == Some(next_hop)),
                ("one next hop", p["nexthops"].as_array().map(Vec::len) == Some(1)),
                ("from keel", p["peer"]["peerId"] == keel),
            ];
            if let Some((what, _)) = checks.iter().find(|c| !c.1) {
                return Err(format!(
                    "{what} of {} in FRR: want AS path {:?}, communities {:?}, next hop {next_hop}; got {p}",
                    e.prefix, e.as_path, e.communities
                ));
            }
        }
        Ok(())
    });
}

#[test]
fn propagation_best_paths_from_bird_and_gobgp_reach_frr() {
    let dir = temp_dir("prop-best");
    let (k, b, g, f) = ("127.0.0.240", "127.0.0.241", "127.0.0.242", "127.0.0.243");
    let kdir = dir.sub("keel");
    // BIRD and GoBGP are both in AS 65241, so MED compares between them (RFC 4271
    // §9.1.2.2 c); FRR (AS 65243) is the downstream.
    let config = format!(
        "{}{}{}{}",
        keel_global(&kdir, 65240, k),
        neighbor(b, 65241, k, "all", "none", ""),
        neighbor(g, 65241, k, "all", "none", ""),
        neighbor(f, 65243, k, "none", "all", ""),
    );
    let keel = Keel::start(&kdir, k, &config);

    // BIRD (router id 192.0.2.241, lower than GoBGP's 192.0.2.242):
    //   A 203.0.113.0/26    [65241]                 (own protocol, to withdraw it alone)
    //   B 203.0.113.64/26   [65241] MED 50
    //   C 203.0.113.128/26  [65241] origin incomplete
    //   D 203.0.113.192/26  [65241]
    //   E 2001:db8:241::/48 [65241]
    let filter = "bgp_origin = ORIGIN_IGP;
      if net = 203.0.113.0/26 then bgp_community.add((65241,10));
      if net = 203.0.113.64/26 then { bgp_med = 50; bgp_community.add((65241,11)); }
      if net = 203.0.113.128/26 then { bgp_origin = ORIGIN_INCOMPLETE; bgp_community.add((65241,12)); }
      if net = 203.0.113.192/26 then bgp_community.add((65241,13));
      if net = 2001:db8:241::/48 then bgp_community.add((65241,15));
      accept;";
    let body = bird_static("sa", "ipv4", &["203.0.113.0/26"])
        + &bird_static("s4", "ipv4", &["203.0.113.64/26", "203.0.113.128/26", "203.0.113.192/26"])
        + &bird_static("s6", "ipv6", &["2001:db8:241::/48"])
        + &bird_bgp(
            b,
            65241,
            k,
            65240,
            &format!("import none; export filter {{ {filter} }}; next hop address 192.0.2.241;"),
            &format!("import none; export filter {{ {filter} }}; next hop address 2001:db8::241;"),
        );
    let bird = bird_with(&dir.sub("bird"), "bird", b, &body, false);

    // GoBGP (it prepends its AS 65241 to the given AS path):
    //   A [65241 65241 65241]  -> loses on AS path length
    //   B [65241] MED 10       -> wins on MED (the router id would pick BIRD)
    //   C [65241] origin IGP   -> wins on origin
    //   D [65241]              -> loses on router id
    //   E [65241 65241]        -> loses on AS path length
    //   F 2001:db8:242::/48 [65241], only here
    let gobgp = gobgp_peer(&dir.sub("gobgp"), g, 65241, k, 65240);
    let add = |family: &str, args: &[&str]| {
        let mut a = vec!["global", "rib", "add", "-a", family];
        a.extend_from_slice(args);
        gobgp.ok(&a);
    };
    add(
        "ipv4",
        &[
            "203.0.113.0/26",
            "origin",
            "igp",
            "aspath",
            "65241,65241",
            "nexthop",
            "192.0.2.242",
            "community",
            "65241:20",
        ],
    );
    add("ipv4", &["203.0.113.64/26", "origin", "igp", "nexthop", "192.0.2.242", "med", "10", "community", "65241:21"]);
    add("ipv4", &["203.0.113.128/26", "origin", "igp", "nexthop", "192.0.2.242", "community", "65241:22"]);
    add("ipv4", &["203.0.113.192/26", "origin", "igp", "nexthop", "192.0.2.242", "community", "65241:23"]);
    add(
        "ipv6",
        &["2001:db8:241::/48", "origin", "igp", "aspath", "65241", "nexthop", "2001:db8::242", "community", "65241:25"],
    );
    add("ipv6", &["2001:db8:242::/48", "origin", "igp", "nexthop", "2001:db8::242", "community", "65241:26"]);

    // FRR takes keel's 127/8 next hops only with `bgp allow-martian-nexthop` (8.4).
    let frr = frr_with(
        &dir.sub("frr"),
        "bgpd",
        &FrrPeer {
            local: f,
            asn: 65243,
            keel: k,
            keel_asn: 65240,
            router: " bgp allow-martian-nexthop\n",
            ipv4: &[],
            ipv6: &[],
            route_map: None,
        },
    );

    keel.wait_established(b);
    keel.wait_established(g);
    keel.wait_established(f);
    bird.wait_established();
    gobgp.wait_established(k);
    frr.wait_established(k);

    // keel's own view: both paths of A-E, F once, and the best paths the RFC picks.
    let want_best = [
        ("203.0.113.0/26", b),
        ("203.0.113.64/26", g),
        ("203.0.113.128/26", g),
        ("203.0.113.192/26", b),
        ("2001:db8:241::/48", b),
        ("2001:db8:242::/48", g),
    ];
    wait_for("keel to hold both upstreams' paths", DEADLINE, || {
        let all = keel.routes("");
        let got: Vec<String> = all.iter().map(|r| format!("{} {} {}", r["prefix"], r["neighbor"], r["best"])).collect();
        if all.len() == 11 {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    });
    for (prefix, from) in want_best {
        let r = keel.routes(&format!("prefix={prefix}"));
        let best: Vec<&Value> = r.iter().filter(|x| x["best"] == true).collect();
        assert_eq!(best.len(), 1, "one best path for {prefix} in keel: {r:?}");
        assert_eq!(best[0]["neighbor"], from, "keel's best path for {prefix}: {r:?}");
    }
    let b_med = keel.routes(&format!("prefix=203.0.113.64/26&neighbor={b}"));
    assert_eq!(b_med[0]["med"], 50, "{b_med:?}");

    // FRR holds exactly the best paths, keel's AS first, communities as the winner sent them.
    let mut expected = vec![
        Expect { family: "ipv4", prefix: "203.0.113.0/26", as_path: "65240 65241", communities: &["65241:10"] },
        Expect { family: "ipv4", prefix: "203.0.113.64/26", as_path: "65240 65241", communities: &["65241:21"] },
        Expect { family: "ipv4", prefix: "203.0.113.128/26", as_path: "65240 65241", communities: &["65241:22"] },
        Expect { family: "ipv4", prefix: "203.0.113.192/26", as_path: "65240 65241", communities: &["65241:13"] },
        Expect { family: "ipv6", prefix: "2001:db8:241::/48", as_path: "65240 65241", communities: &["65241:15"] },
        Expect { family: "ipv6", prefix: "2001:db8:242::/48", as_path: "65240 65241", communities: &["65241:26"] },
    ];
    assert_frr_holds(&frr, k, &expected);

    // BIRD withdraws A: FRR switches to GoBGP's longer path.
    bird.birdc("disable sa");
    expected[0] = Expect {
        family: "ipv4",
        prefix: "203.0.113.0/26",
        as_path: "65240 65241 65241 65241",
        communities: &["65241:20"],
    };
    assert_frr_holds(&frr, k, &expected);

    // GoBGP withdraws B: FRR switches to BIRD's path (MED 50, not passed on).
    gobgp.ok(&["global", "rib", "del", "-a", "ipv4", "203.0.113.64/26"]);
    expected[1] =
        Expect { family: "ipv4", prefix: "203.0.113.64/26", as_path: "65240 65241", communities: &["65241:11"] };
    assert_frr_holds(&frr, k, &expected);

    // GoBGP withdraws A and F, the last paths for them: FRR loses both prefixes.
    gobgp.ok(&["global", "rib", "del", "-a", "ipv4", "203.0.113.0/26"]);
    gobgp.ok(&["global", "rib", "del", "-a", "ipv6", "2001:db8:242::/48"]);
    expected.retain(|e| e.prefix != "203.0.113.0/26" && e.prefix != "2001:db8:242::/48");
    assert_frr_holds(&frr, k, &expected);
    keel.keeld.assert_running();
}

// ---------------------------------------------------------------------------------------------
// 2. Route reflection between real clients

#[test]
fn propagation_route_reflector_between_bird_and_frr() {
    let dir = temp_dir("prop-rr");
    let (k, b, f) = ("127.0.0.245", "127.0.0.246", "127.0.0.247");
    let cluster = "198.51.100.205";
    let kdir = dir.sub("keel");
    let config = format!(
        "{}cluster_id = \"{cluster}\"\n{}{}",
        keel_global(&kdir, 65245, k),
        neighbor(b, 65245, k, "all", "all", "route_reflector_client = true"),
        neighbor(f, 65245, k, "all", "all", "route_reflector_client = true"),
    );
    let keel = Keel::start(&kdir, k, &config);

    // BIRD (client, router id 192.0.2.246): 203.0.113.0/24 and 2001:db8:246::/48, LOCAL_PREF
    // 120, community (65245,6), documentation next hops.
    let filter = |nh: &str| {
        format!(
            "import all; export filter {{ if proto = \"s4\" || proto = \"s6\" then {{ bgp_local_pref = 120; \
             bgp_community.add((65245,6)); accept; }} reject; }}; next hop address {nh};"
        )
    };
    let body = bird_static("s4", "ipv4", &["203.0.113.0/24"])
        + &bird_static("s6", "ipv6", &["2001:db8:246::/48"])
        + &bird_bgp(b, 65245, k, 65245, &filter("192.0.2.246"), &filter("2001:db8::246"));
    let bird = bird_with(&dir.sub("bird"), "bird", b, &body, false);

    // FRR (client, router id 192.0.2.247): 198.51.100.0/24 and 2001:db8:247::/48, LOCAL_PREF
    // 130, community 65245:7.
    let frr = frr_with(
        &dir.sub("frr"),
        "bgpd",
        &FrrPeer {
            local: f,
            asn: 65245,
            keel: k,
            keel_asn: 65245,
            router: "",
            ipv4: &["198.51.100.0/24"],
            ipv6: &["2001:db8:247::/48"],
            route_map: Some(" set local-preference 130\n set community 65245:7\n"),
        },
    );

    keel.wait_established(b);
    keel.wait_established(f);
    bird.wait_established();
    frr.wait_established(k);

    // BIRD's routes at FRR: ORIGINATOR_ID BIRD's router id, CLUSTER_LIST keel's cluster id,
    // next hop, LOCAL_PREF and communities untouched, empty AS path.
    for (family, prefix, next_hop) in
        [("ipv4", "203.0.113.0/24", "192.0.2.246"), ("ipv6", "2001:db8:246::/48", "2001:db8::246")]
    {
        let paths = wait_for(&format!("{prefix} reflected to FRR"), DEADLINE, || {
            let p = frr_paths(&frr, family, prefix);
            if p.is_empty() {
                Err("no path".to_string())
            } else {
                Ok(p)
            }
        });
        assert_eq!(paths.len(), 1, "{paths:?}");
        let p = &paths[0];
        assert_eq!(p["originatorId"], "192.0.2.246", "ORIGINATOR_ID at FRR: {p}");
        assert_eq!(p["clusterList"]["list"], json!([cluster]), "CLUSTER_LIST at FRR: {p}");
        assert_eq!(p["nexthops"][0]["ip"], next_hop, "next hop at FRR: {p}");
        assert_eq!(p["locPrf"], 120, "LOCAL_PREF at FRR: {p}");
        assert_eq!(p["community"]["list"], json!(["65245:6"]), "communities at FRR: {p}");
        assert_eq!(p["aspath"]["length"], 0, "AS path at FRR (empty, shown as \"Local\"): {p}");
        assert_eq!(p["peer"]["peerId"], k, "{p}");
    }

    // FRR's routes at BIRD, the same way.
    for (prefix, next_hop) in [("198.51.100.0/24", "192.0.2.247"), ("2001:db8:247::/48", "2001:db8::247")] {
        let r = bird.wait_route(prefix);
        for want in [
            "BGP.originator_id: 192.0.2.247\n".to_string(),
            format!("BGP.cluster_list: {cluster}\n"),
            format!("BGP.next_hop: {next_hop}"),
            "BGP.local_pref: 130\n".to_string(),
            "BGP.community: (65245,7)\n".to_string(),
            "BGP.as_path: \n".to_string(),
        ] {
            assert!(r.contains(&want), "{want:?} missing at BIRD:\n{r}");
        }
    }

    // Neither client gets its own routes back (keel never reflects to the source).
    for (family, own) in [("ipv4", "198.51.100.0/24"), ("ipv6", "2001:db8:247::/48")] {
        let from_keel = frr.json(&format!("show bgp {family} unicast neighbors {k} routes json"));
        let prefixes: Vec<&String> = from_keel["routes"].as_object().map(|m| m.keys().collect()).unwrap_or_default();
        assert!(!prefixes.iter().any(|p| *p == own), "keel reflected FRR's {own} back: {from_keel}");
    }
    let own = bird.birdc("show route 203.0.113.0/24 all");
    assert!(!own.contains("[keel "), "keel reflected BIRD's route back:\n{own}");
    let n = keel.neighbor(b);
    assert_eq!(n["advertised_prefixes"], 2, "keel's Adj-RIB-Out towards BIRD: {n}");
}

// ---------------------------------------------------------------------------------------------
// 3. Transparent route server

#[test]
fn propagation_route_server_is_transparent_between_bird_and_gobgp() {
    let dir = temp_dir("prop-rs");
    let (k, b, g) = ("127.0.0.250", "127.0.0.251", "127.0.0.252");
    let kdir = dir.sub("keel");
    let config = format!(
        "{}{}{}",
        keel_global(&kdir, 65250, k),
        neighbor(b, 65251, k, "all", "all", "route_server_client = true"),
        neighbor(g, 65252, k, "all", "all", "route_server_client = true"),
    );
    let keel = Keel::start(&kdir, k, &config);

    // BIRD: 203.0.113.0/24 MED 33 and 2001:db8:251::/48 MED 36, documentation next hops.
    let filter = |nh: &str| {
        format!(
            "import all; export filter {{ if proto = \"s4\" || proto = \"s6\" then {{ \
             if net.type = NET_IP4 then bgp_med = 33; else bgp_med = 36; bgp_community.add((65251,3)); accept; }} \
             reject; }}; next hop address {nh};"
        )
    };
    let body = bird_static("s4", "ipv4", &["203.0.113.0/24"])
        + &bird_static("s6", "ipv6", &["2001:db8:251::/48"])
        + &bird_bgp(b, 65251, k, 65250, &filter("192.0.2.251"), &filter("2001:db8::251"));
    let bird = bird_with(&dir.sub("bird"), "bird", b, &body, false);

    // GoBGP: 198.51.100.0/24 MED 44 and 2001:db8:252::/48 MED 46.
    let gobgp = gobgp_peer(&dir.sub("gobgp"), g, 65252, k, 65250);
    gobgp.ok(&["global", "rib", "add", "-a", "ipv4", "198.51.100.0/24", "nexthop", "192.0.2.252", "med", "44"]);
    gobgp.ok(&["global", "rib", "add", "-a", "ipv6", "2001:db8:252::/48", "nexthop", "2001:db8::252", "med", "46"]);

    keel.wait_established(b);
    keel.wait_established(g);
    bird.wait_established();
    gobgp.wait_established(k);

    // At GoBGP: BIRD's AS only (keel's 65250 not prepended), BIRD's next hop and MED.
    for (family, prefix, next_hop, med) in
        [("ipv4", "203.0.113.0/24", "192.0.2.251", 33), ("ipv6", "2001:db8:251::/48", "2001:db8::251", 36)]
    {
        let p = gobgp.wait_path(family, prefix, k);
        assert_eq!(gobgp_attr(&p, 2)["as_paths"][0]["asns"], json!([65251]), "AS path at GoBGP: {p}");
        assert_eq!(gobgp_attr(&p, 4)["metric"], med, "MED at GoBGP: {p}");
        let nh =
            if family == "ipv4" { gobgp_attr(&p, 3)["nexthop"].clone() } else { gobgp_attr(&p, 14)["nexthop"].clone() };
        assert_eq!(nh, next_hop, "next hop at GoBGP: {p}");
        assert_eq!(gobgp_attr(&p, 8)["communities"], json!([community_number("65251:3")]), "{p}");
        assert_eq!(gobgp_attr(&p, 5), Value::Null, "LOCAL_PREF sent to an eBGP client: {p}");
    }

    // At BIRD: GoBGP's AS only, GoBGP's next hop and MED.
    for (prefix, next_hop, med) in [("198.51.100.0/24", "192.0.2.252", 44), ("2001:db8:252::/48", "2001:db8::252", 46)]
    {
        let r = bird.wait_route(prefix);
        for want in
            ["BGP.as_path: 65252\n".to_string(), format!("BGP.next_hop: {next_hop}"), format!("BGP.med: {med}\n")]
        {
            assert!(r.contains(&want), "{want:?} missing at BIRD:\n{r}");
        }
        assert!(!r.contains("65250"), "keel's AS in the route at BIRD:\n{r}");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. A downstream that stops reading

/// keeld's resident set size in kiB (fails the test when keeld is gone).
fn rss_kib(keel: &Keel) -> u64 {
    keel.keeld.assert_running();
    keel.keeld.usage().rss_kib
}

/// An Established session whose socket has a small receive buffer, so that what keel
/// writes to a peer that does not read piles up in keel rather than in the kernel.
async fn connect_small_buffer(cfg: SpeakerConfig) -> std::io::Result<tokio::net::TcpStream> {
    use tokio::io::AsyncWriteExt;
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    s.set_recv_buffer_size(4096)?;
    s.bind(&SocketAddr::new(cfg.local, 0).into())?;
    s.connect_timeout(&cfg.remote.into(), Duration::from_secs(2))?;
    s.set_nonblocking(true)?;
    let mut stream = tokio::net::TcpStream::from_std(s.into())?;
    let opts = CodecOptions::default();
    stream.write_all(&Message::Open(cfg.open()).encode(&opts).unwrap()).await?;
    // keel's OPEN, then its KEEPALIVE: read exactly those two messages, nothing after.
    for _ in 0..2 {
        match read_message(&mut stream).await? {
            Some(Message::Open(_)) => stream.write_all(&Message::Keepalive.encode(&opts).unwrap()).await?,
            Some(Message::Keepalive) => {}
            other => return Err(std::io::Error::other(format!("handshake: got {other:?}"))),
        }
    }
    Ok(stream)
}

/// One whole message from a stream (4-octet ASes and Extended Messages, as negotiated with
/// keel); `None` at the end of the stream.
async fn read_message(rd: &mut (impl tokio::io::AsyncRead + Unpin)) -> std::io::Result<Option<Message>> {
    use tokio::io::AsyncReadExt;
    let mut frame = vec![0u8; 19];
    match rd.read_exact(&mut frame).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u16::from_be_bytes([frame[16], frame[17]]) as usize;
    frame.resize(len.max(19), 0);
    rd.read_exact(&mut frame[19..]).await?;
    let opts = CodecOptions { four_octet_as: true, extended_message: true, ..CodecOptions::default() };
    Message::decode(&frame, &opts).map(Some).map_err(|e| std::io::Error::other(e.to_string()))
}

/// What a downstream saw: per prefix the round (community 65237:round) of its last
/// announcement, and how many announcements came in all.
#[derive(Default)]
struct Seen {
    round: HashMap<Prefix, u16>,
    announcements: usize,
}

impl Seen {
    fn record(&mut self, m: &Message) {
        if let Message::Update(u) = m {
            for (_, n) in u.withdrawn_routes() {
                self.round.remove(&n.prefix);
            }
            let round = u.attributes.communities.iter().find(|c| c.0 >> 16 == 65237).map_or(0, |c| c.0 as u16);
            for n in &u.announced {
                self.round.insert(n.prefix, round);
            }
            self.announcements += u.announced.len();
        }
    }

    /// Ok when every one of `routes` prefixes is there from round `last`.
    fn complete(&self, routes: usize, last: u16) -> Result<(), String> {
        let from_last = self.round.values().filter(|&&r| r == last).count();
        if self.round.len() == routes && from_last == routes {
            Ok(())
        } else {
            Err(format!("{} prefixes, {from_last} of them from round {last}", self.round.len()))
        }
    }
}

#[test]
fn propagation_slow_consumer_does_not_hold_up_the_others() {
    const ROUTES: usize = 50_000;
    const ROUNDS: u16 = 12;
    let dir = temp_dir("prop-slow");
    let (k, up, stuck, reader) = ("127.0.0.236", "127.0.0.237", "127.0.0.238", "127.0.0.239");
    let table = Table::generate(&TableSpec { ipv4_routes: ROUTES, ipv6_routes: 0, ..Default::default() });
    let kdir = dir.sub("keel");
    let config = format!(
        "{}{}{}{}",
        keel_global(&kdir, 65236, k),
        neighbor(up, table.peer_as, k, "all", "none", "passive = true"),
        neighbor(stuck, 65238, k, "none", "all", "passive = true"),
        neighbor(reader, 65239, k, "none", "all", "passive = true"),
    );
    let keel = Keel::start(&kdir, k, &config);
    let rss_start = rss_kib(&keel);

    // Round r announces the whole table again with community 65237:r on every route, so
    // every destination changes for both downstreams each round.
    let opts = CodecOptions { extended_message: true, four_octet_as: true, ..CodecOptions::default() };
    let feeds: Vec<Vec<u8>> = (1..=ROUNDS)
        .map(|r| {
            let mut t = table.clone();
            for g in &mut t.groups {
                g.attributes.communities.push(Community::new(65237, r));
            }
            let mut out = Vec::new();
            t.write_family(Family::IPV4_UNICAST, &opts, &mut out).expect("encode");
            out
        })
        .collect();
    let feed_mib = feeds.iter().map(Vec::len).sum::<usize>() as f64 / (1 << 20) as f64;
    let remote: SocketAddr = keel.listen();
    let cfg = |local: &str, asn: u32| SpeakerConfig {
        local: local.parse().unwrap(),
        remote,
        asn,
        router_id: local.parse::<Ipv4Addr>().unwrap(),
        hold_time: 30,
        families: vec![Family::IPV4_UNICAST],
        graceful_restart: None,
        long_lived: Vec::new(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    // The downstream that reads, and the one that does not (with a 4 KiB receive buffer);
    // both send KEEPALIVEs so that keel's hold timer never ends them.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (stuck_rd, keepalives) = rt.block_on(async {
        let (mut rd, mut reader_wr, _) = wait_connect(&cfg(reader, 65239)).await;
        let s = seen.clone();
        tokio::spawn(async move {
            while let Ok(Some(m)) = rd.next().await {
                s.lock().unwrap().record(&m);
            }
        });
        let stuck = wait_for_async(|| connect_small_buffer(cfg(stuck, 65238))).await;
        let (stuck_rd, mut stuck_wr) = stuck.into_split();
        let keepalives = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let ka = Message::Keepalive.encode(&CodecOptions::default()).unwrap();
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = reader_wr.send(&ka).await;
                let _ = stuck_wr.write_all(&ka).await;
            }
        });
        (stuck_rd, keepalives)
    });
    keel.wait_established(stuck);
    keel.wait_established(reader);

    // The upstream sends every round back to back.
    let start = Instant::now();
    let upstream = {
        let cfg = cfg(up, table.peer_as);
        rt.spawn(async move {
            let (mut rd, mut wr, _) = wait_connect(&cfg).await;
            tokio::spawn(async move { while let Ok(Some(_)) = rd.next().await {} });
            for f in &feeds {
                wr.send(f).await.expect("upstream write");
            }
            let ka = Message::Keepalive.encode(&CodecOptions::default()).unwrap();
            while wr.send(&ka).await.is_ok() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };

    // Meanwhile the API answers promptly and keel's RSS is sampled.
    let mut rss_max = 0;
    let mut slowest = Duration::ZERO;
    let mut api = |rss_max: &mut u64| {
        let t = Instant::now();
        let n = keel.neighbor(reader);
        let _ = keel.get("/v1/status");
        let _ = keel.routes("prefix=203.0.113.0/24");
        slowest = slowest.max(t.elapsed());
        *rss_max = (*rss_max).max(rss_kib(&keel));
        n
    };
    let done = wait_for("the reading downstream to hold every route of the last round", DEADLINE, || {
        let n = api(&mut rss_max);
        seen.lock().unwrap().complete(ROUTES, ROUNDS).map(|_| start.elapsed()).map_err(|e| {
            format!("{e}; keel: received {} advertised {}", n["received_prefixes"], n["advertised_prefixes"])
        })
    });
    let up_n = keel.neighbor(up);
    assert_eq!(up_n["received_prefixes"], ROUTES, "{up_n}");
    // The RIB task is not waiting for the stuck neighbor: it still answers, for a while.
    holds_for("keel's API answering", Duration::from_secs(2), || {
        api(&mut rss_max);
        Ok(())
    });
    let stuck_n = keel.neighbor(stuck);
    assert_eq!(stuck_n["state"], "established", "the stuck downstream is still up: {stuck_n}");
    assert!(slowest < Duration::from_secs(2), "keel's API took {slowest:?} to answer");
    // Bound: 50k paths in the RIB (the convergence bench measures ~0.4 KiB per path in
    // release builds) and two Adj-RIB-Outs are a few tens of MiB; the stuck neighbor may
    // hold at most its write queue (64 writes of at most 4096 destinations) plus one
    // pending entry per destination. 256 MiB leaves room for debug builds and the
    // allocator, and is well below what keeping every round's UPDATEs for it would take
    // were the queue unbounded and each round's changes kept rather than coalesced.
    assert!(rss_max < 256 * 1024, "keeld's RSS reached {} MiB", rss_max / 1024);

    // The stuck downstream reads again: it gets the last round for every prefix, in fewer
    // announcements than the rounds sent (changes coalesced while it did not read).
    let stuck_seen = Arc::new(Mutex::new(Seen::default()));
    let s = stuck_seen.clone();
    let drain = rt.spawn(async move {
        let mut rd = stuck_rd;
        while let Ok(Some(m)) = read_message(&mut rd).await {
            s.lock().unwrap().record(&m);
        }
    });
    wait_for("the stuck downstream, once reading, to hold every route of the last round", DEADLINE, || {
        stuck_seen.lock().unwrap().complete(ROUTES, ROUNDS)
    });
    let (reader_ann, stuck_ann) = (seen.lock().unwrap().announcements, stuck_seen.lock().unwrap().announcements);
    eprintln!(
        "slow consumer: {ROUNDS} rounds of {ROUTES} routes ({feed_mib:.1} MiB of UPDATEs) through to the reader in \
         {:.1}s; keeld RSS {} MiB at start, {} MiB max; slowest API answer {:.0} ms; announcements to the reader \
         {reader_ann}, to the stuck peer {stuck_ann}",
        done.as_secs_f64(),
        rss_start / 1024,
        rss_max / 1024,
        slowest.as_secs_f64() * 1e3,
    );
    assert!(
        stuck_ann < ROUNDS as usize * ROUTES,
        "the stuck peer got every round ({stuck_ann} announcements): nothing was coalesced while it did not read"
    );
    upstream.abort();
    keepalives.abort();
    drain.abort();
    drop(rt);
}

/// speaker::connect, retried until keel listens.
async fn wait_connect(cfg: &SpeakerConfig) -> (speaker::SessionReader, speaker::SessionWriter, keel_wire::Open) {
    wait_for_async(|| {
        let cfg = cfg.clone();
        async move { speaker::connect(&cfg).await }
    })
    .await
}

async fn wait_for_async<T, F: std::future::Future<Output = std::io::Result<T>>>(mut f: impl FnMut() -> F) -> T {
    let until = Instant::now() + DEADLINE;
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) if Instant::now() >= until => panic!("could not connect to keel: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
