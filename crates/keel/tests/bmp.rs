//! BMP export (issue 23): keeld streaming its sessions and RIB views to pmacct's `pmbmpd`, and
//! a station that stops reading.
//!
//! ```text
//!  BIRD .102 (AS 65102, 2000 routes) --\                      /-- pmbmpd .100:1790 (JSON)
//!                                       keeld .101 (AS 65101)
//!  GoBGP .103 (AS 65103, 20 routes) ---/
//!
//!  BIRD .105 (AS 65105, 3000 routes) --- keeld .104 (AS 65104) --- pmbmpd .100:1791
//!                                                               \-- a station that stops reading, .104:1791
//! ```
//!
//! - `pmbmpd_sees_every_view_and_both_restarts`: a Peer Up per neighbor and for the Loc-RIB
//!   instance (peer type 3), the routes of each of the four views equal to what `keel show
//!   routes` lists, Statistics Reports with the same counts; `birdc graceful restart` is a Peer
//!   Down (reason 4) then a Peer Up, with no withdrawal in the Loc-RIB view; `keel restart` is a
//!   Termination and a fresh Initiation whose dump is what the collector had.
//! - `a_station_that_stops_reading_is_dropped_and_resynchronised`: while one station reads
//!   nothing, keel converges and the other station gets everything; the stalled one is
//!   dropped (logged) and, once it reads again, gets a fresh dump whose Loc-RIB is keel's; a
//!   new import policy shows in the post-policy view without an UPDATE.
//!
//! Addresses: 127.0.0.100-.105.

use crate::common::*;
use keel_lab::daemons::bird::{Bird, BirdSession, BirdStart};
use keel_lab::daemons::gobgp::{GoBgp, GoBgpPeer};
use keel_lab::daemons::pmacct::Pmbmpd;
use keel_lab::daemons::DEADLINE;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

const STATION: &str = "127.0.0.100";
const VIEWS: &str = r#"["adj_rib_in_pre", "adj_rib_in_post", "loc_rib", "adj_rib_out_post"]"#;

/// `count` /32 routes in `base`.0.0/15, for BIRD's `protocol static`; with `med`, each route
/// has its own MED (so its own attribute set, and its own UPDATE).
fn bird_routes(count: usize, med: bool) -> String {
    let routes: String = (0..count)
        .map(|i| {
            let p = format!("198.18.{}.{}/32", i / 250, i % 250 + 1);
            if med {
                format!(" route {p} blackhole {{ bgp_med = {i}; }};")
            } else {
                format!(" route {p} blackhole;")
            }
        })
        .collect();
    format!("protocol static s4 {{ ipv4;{routes} }}\n")
}

/// BIRD at `local` (AS `asn`) peering with keel at `keel`, with `routes`, in graceful-restart
/// recovery (`-R`) when `recovery`.
fn bird(
    dir: &Path,
    name: &str,
    (local, asn): (&str, u32),
    (keel, keel_asn): (&str, u32),
    routes: &str,
    recovery: bool,
) -> Bird {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let session = BirdSession {
        local,
        asn,
        keel,
        keel_asn,
        hold_time: 9,
        lines: "graceful restart on; graceful restart time 30;",
        ipv4: "import all; export all;",
        ipv6: "import none; export none;",
    };
    let last = local.rsplit('.').next().unwrap_or("0");
    let router_id = format!("192.0.2.{last}");
    let how = BirdStart { name, router_id: &router_id, device: "", recovery, netns: None };
    Bird::start(dir, &(routes.to_string() + &session.conf()), &how)
}

/// keeld at `me` (AS 65000+last octet) with `neighbors` and the BMP `stations` lines.
fn keeld_at(dir: &Path, me: &str, neighbors: &[(&str, u32)], stations: &str) -> Keeld {
    start_with_config(dir.to_path_buf(), &config(dir, me, neighbors, stations))
}

/// [`keeld_at`]'s configuration.
fn config(dir: &Path, me: &str, neighbors: &[(&str, u32)], stations: &str) -> String {
    let last: u32 = me.rsplit('.').next().and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut c = format!(
        "[global]\nasn = {}\nrouter_id = \"192.0.2.{last}\"\nlisten = [\"{me}:179\"]\napi = \"{}\"\nstate_dir = \"{}\"\n",
        65000 + last,
        dir.join("keel.sock").display(),
        dir.display()
    );
    for (address, asn) in neighbors {
        c.push_str(&format!(
            "[[neighbor]]\naddress = \"{address}\"\nasn = {asn}\nlocal_address = \"{me}\"\nhold_time = 9\n\
             connect_retry_time = 1\nimport = \"all\"\nexport = \"all\"\n"
        ));
    }
    c.push_str(&format!("[[network]]\nprefix = \"203.0.113.0/24\"\nnext_hop = \"192.0.2.{last}\"\n{stations}"));
    c
}

/// An import policy that refuses 198.18.0.0/24's host routes (250 of [`bird_routes`]).
const REFUSE_FIRST_250: &str = "[[policy]]\nname = \"refuse\"\n[[policy.term]]\n\
    match.prefixes = [\"198.18.0.0/24 ge 32\"]\nthen = \"reject\"\n[[policy.term]]\nthen = \"accept\"\n";

/// The prefixes of `keel show routes --json ARGS` (best paths only when `best`).
fn keel_prefixes(api: &Path, args: &[&str], best: bool) -> BTreeSet<String> {
    routes(api, args)
        .iter()
        .filter(|r| !best || r["best"] == true)
        .filter_map(|r| r["prefix"].as_str().map(str::to_string))
        .collect()
}

/// The view of a pmbmpd `route_monitor` message.
fn view(m: &Value) -> &'static str {
    let set = |k: &str| m[k] == 1 || m[k] == true;
    match (set("is_loc"), set("is_out"), set("is_post")) {
        (true, _, _) => "loc_rib",
        (false, true, true) => "adj_rib_out_post",
        (false, true, false) => "adj_rib_out_pre",
        (false, false, true) => "adj_rib_in_post",
        (false, false, false) => "adj_rib_in_pre",
    }
}

/// What the collector holds after `messages`, per (view, peer): announcements add, withdrawals
/// remove, a Peer Down clears the peer's Adj-RIB views (RFC 7854 §4.9), a new Initiation all.
fn collector_state(messages: &[Value]) -> BTreeMap<(&'static str, String), BTreeSet<String>> {
    let mut state: BTreeMap<(&'static str, String), BTreeSet<String>> = BTreeMap::new();
    for m in messages {
        let peer = m["peer_ip"].as_str().unwrap_or("").to_string();
        match m["bmp_msg_type"].as_str() {
            Some("init") => state.clear(),
            Some("peer_down") => state.retain(|(_, p), _| *p != peer),
            Some("route_monitor") => {
                let Some(prefix) = m["ip_prefix"].as_str() else { continue };
                let set = state.entry((view(m), peer)).or_default();
                if m["log_type"] == "withdraw" {
                    set.remove(prefix);
                } else {
                    set.insert(prefix.to_string());
                }
            }
            _ => {}
        }
    }
    state
}

/// Waits until pmbmpd holds, for each view and neighbor, what keel's API lists.
fn wait_views_match(pmbmpd: &Pmbmpd, api: &Path, neighbors: &[&str]) {
    wait_for("pmbmpd's views to equal keel's routes", DEADLINE, || {
        let state = collector_state(&pmbmpd.messages());
        let mut want = vec![(("loc_rib", "0.0.0.0".to_string()), keel_prefixes(api, &[], true))];
        for n in neighbors {
            let received = keel_prefixes(api, &["--neighbor", n], false);
            want.push((("adj_rib_in_pre", n.to_string()), received.clone()));
            want.push((("adj_rib_in_post", n.to_string()), received));
            want.push((("adj_rib_out_post", n.to_string()), keel_prefixes(api, &["--advertised", n], false)));
        }
        let diff: Vec<String> = want
            .iter()
            .filter(|(k, w)| state.get(k).cloned().unwrap_or_default() != *w)
            .map(|(k, w)| format!("{k:?}: pmbmpd {} keel {}", state.get(k).map_or(0, |s| s.len()), w.len()))
            .collect();
        if diff.is_empty() && want.iter().all(|(_, w)| !w.is_empty()) {
            Ok(())
        } else {
            Err(diff.join("; "))
        }
    });
}

/// The last value pmbmpd logged for `counter_type` of `peer`. Types it does not know (RFC
/// 9972's 27 and 28 for pmacct 1.7.7) come as the Stat Data in hex, `00-01-01-..`: AFI, SAFI,
/// then the 8-octet gauge.
fn last_counter(messages: &[Value], peer: &str, counter_type: u64) -> Option<u64> {
    let m = messages
        .iter()
        .rev()
        .find(|m| m["bmp_msg_type"] == "stats" && m["peer_ip"] == peer && m["counter_type"] == counter_type)?;
    let v = &m["counter_value"];
    v.as_u64().or_else(|| {
        let octets: Vec<u8> = v.as_str()?.split('-').filter_map(|h| u8::from_str_radix(h, 16).ok()).collect();
        let gauge: [u8; 8] = octets.get(octets.len().checked_sub(8)?..)?.try_into().ok()?;
        Some(u64::from_be_bytes(gauge))
    })
}

fn station(port: u16, extra: &str) -> String {
    format!(
        "[[bmp.station]]\naddress = \"{STATION}\"\nport = {port}\nreconnect = 1\nstatistics = 1\nviews = {VIEWS}\n{extra}"
    )
}

#[test]
fn pmbmpd_sees_every_view_and_both_restarts() {
    preflight();
    let dir = test_dir("bmp-pmbmpd");
    let (keel_addr, bird_addr, gobgp_addr) = ("127.0.0.101", "127.0.0.102", "127.0.0.103");
    let pdir = dir.join("pmbmpd");
    std::fs::create_dir_all(&pdir).unwrap();
    let pmbmpd = Pmbmpd::start(&pdir, STATION, 1790);
    let routes = bird_routes(2000, false);
    let bdir = dir.join("bird");
    let bird1 = bird(&bdir, "bird", (bird_addr, 65102), (keel_addr, 65101), &routes, false);
    let gdir = dir.join("gobgp");
    std::fs::create_dir_all(&gdir).unwrap();
    let gconf = GoBgpPeer {
        local: gobgp_addr,
        asn: 65103,
        keel: keel_addr,
        keel_asn: 65101,
        restart_time: 30,
        llgr_stale_time: None,
        admin_down: false,
        restarting: false,
    };
    let gobgp = GoBgp::start(&gdir, "gobgpd", gobgp_addr, &gconf.conf(), false, None);
    for i in 1..=20 {
        gobgp.ok(&["global", "rib", "add", "-a", "ipv4", &format!("198.19.0.{i}/32"), "nexthop", "192.0.2.103"]);
    }
    let k = keeld_at(&dir.join("keel"), keel_addr, &[(bird_addr, 65102), (gobgp_addr, 65103)], &station(1790, ""));
    let api = k.api();
    established(&api, bird_addr);
    established(&api, gobgp_addr);
    wait_for("keel's 2021 routes", DEADLINE, || {
        let n = keel_prefixes(&api, &[], true).len();
        (n == 2021).then_some(()).ok_or(format!("{n} routes"))
    });

    // Every view, per neighbor, as keel lists it.
    wait_views_match(&pmbmpd, &api, &[bird_addr, gobgp_addr]);
    let messages = pmbmpd.messages();
    let of_type = |t: &'static str| messages.iter().filter(move |m| m["bmp_msg_type"] == t);
    assert!(of_type("init").count() >= 1);
    for peer in [bird_addr, gobgp_addr] {
        assert!(of_type("peer_up").any(|m| m["peer_ip"] == peer && m["peer_type"] == 0), "Peer Up of {peer}");
    }
    assert!(of_type("peer_up").any(|m| m["peer_type"] == 3), "the Loc-RIB instance's Peer Up (RFC 9069)");
    // RFC 7854 §4.10: keel's address and both TCP ports of the session; one end is port 179.
    for peer in [bird_addr, gobgp_addr] {
        let Some(up) = of_type("peer_up").find(|m| m["peer_ip"] == peer) else { panic!("Peer Up of {peer}") };
        let ports = (up["local_port"].as_u64().unwrap_or(0), up["remote_port"].as_u64().unwrap_or(0));
        assert_eq!(up["local_ip"], keel_addr, "{up}");
        assert!(ports.0 > 0 && ports.1 > 0 && (ports.0 == 179 || ports.1 == 179), "ports {ports:?}: {up}");
    }
    assert!(of_type("route_monitor").any(|m| m["is_loc"] == 1), "Loc-RIB Route Monitoring");
    // Statistics Reports (every second): routes in each Adj-RIB-In (type 7), in the Loc-RIB (8),
    // sent after export policy (15).
    wait_for("Statistics Reports with keel's counts", DEADLINE, || {
        let m = pmbmpd.messages();
        let got = (
            last_counter(&m, bird_addr, 7),
            last_counter(&m, gobgp_addr, 7),
            last_counter(&m, "0.0.0.0", 8),
            last_counter(&m, gobgp_addr, 15).is_some(),
        );
        (got == (Some(2000), Some(20), Some(2021), true)).then_some(()).ok_or(format!("{got:?}"))
    });

    // BIRD disables its session: it sends a Cease, a Peer Down with reason 3 (RFC 7854 §4.9,
    // the NOTIFICATION received follows).
    let mark = pmbmpd.messages().len();
    bird1.birdc("disable keel");
    wait_for("a Peer Down of BIRD with reason 3", DEADLINE, || {
        let after: Vec<Value> = pmbmpd.messages().split_off(mark);
        let down = after.iter().find(|m| m["bmp_msg_type"] == "peer_down" && m["peer_ip"] == bird_addr);
        match down {
            Some(d) if d["reason_type"] == 3 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    bird1.birdc("enable keel");
    established(&api, bird_addr);
    wait_views_match(&pmbmpd, &api, &[bird_addr, gobgp_addr]);

    // BIRD restarts gracefully: Peer Down (reason 4, no NOTIFICATION) and Peer Up, its routes
    // never withdrawn from the Loc-RIB view.
    let mark = pmbmpd.messages().len();
    bird1.birdc("graceful restart");
    wait_for("BIRD to exit after `graceful restart`", DEADLINE, || {
        (!bird1.proc.running()).then_some(()).ok_or_else(|| "still running".to_string())
    });
    // While BIRD is away its routes stay in the Loc-RIB as stale: the Loc-RIB instance's
    // Statistics Report counts them (type 27, RFC 9972).
    wait_for("2000 stale routes in the Loc-RIB's statistics", DEADLINE, || {
        let stale = last_counter(&pmbmpd.messages(), "0.0.0.0", 27);
        (stale == Some(2000)).then_some(()).ok_or(format!("{stale:?}"))
    });
    let _bird2 = bird(&bdir, "bird2", (bird_addr, 65102), (keel_addr, 65101), &routes, true);
    wait_for("BIRD's End-of-RIB after its restart", DEADLINE, || {
        let n = neighbor(&api, bird_addr);
        let eor = n["graceful_restart"]["end_of_rib_received"].as_array().map_or(0, |a| a.len());
        (n["state"] == "established" && eor > 0 && n["stale_prefixes"] == 0).then_some(()).ok_or(format!("{n}"))
    });
    wait_views_match(&pmbmpd, &api, &[bird_addr, gobgp_addr]);
    let after: Vec<Value> = pmbmpd.messages().split_off(mark);
    let down = after.iter().position(|m| m["bmp_msg_type"] == "peer_down" && m["peer_ip"] == bird_addr);
    let up = after.iter().position(|m| m["bmp_msg_type"] == "peer_up" && m["peer_ip"] == bird_addr);
    assert!(matches!((down, up), (Some(d), Some(u)) if d < u), "Peer Down then Peer Up: {down:?} {up:?}");
    assert_eq!(after[down.unwrap_or(0)]["reason_type"], 4, "{}", after[down.unwrap_or(0)]);
    let withdrawn: Vec<&Value> = after.iter().filter(|m| m["log_type"] == "withdraw" && view(m) == "loc_rib").collect();
    assert!(withdrawn.is_empty(), "Loc-RIB withdrawals during BIRD's restart: {withdrawn:?}");

    // keel restarts (`keel restart`): a Termination, then a fresh Initiation whose dump, taken
    // after selection deferral, is what the collector had.
    let before = collector_state(&pmbmpd.messages());
    let mark = pmbmpd.messages().len();
    assert!(keel(&api, &["restart"]).0, "keel restart");
    wait_for("a Termination, then an Initiation", DEADLINE, || {
        let after: Vec<Value> = pmbmpd.messages().split_off(mark);
        let at = |t: &str| after.iter().position(|m| m["bmp_msg_type"] == t);
        match (at("term"), at("init")) {
            (Some(t), Some(i)) if t < i => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    wait_views_match(&pmbmpd, &api, &[bird_addr, gobgp_addr]);
    assert!(collector_state(&pmbmpd.messages()) == before, "the collector's views changed across keel's restart");

    // GoBGP leaves keel's configuration (`keel reload`): keel sends Cease, a Peer Down with
    // reason 1 (the NOTIFICATION keel sent follows).
    let mark = pmbmpd.messages().len();
    k.write_config(&config(k.dir(), keel_addr, &[(bird_addr, 65102)], &station(1790, ""))).expect("configuration");
    let (ok, out) = keel(&api, &["reload"]);
    assert!(ok, "{out}");
    wait_for("a Peer Down of GoBGP with reason 1", DEADLINE, || {
        let after: Vec<Value> = pmbmpd.messages().split_off(mark);
        let down = after.iter().find(|m| m["bmp_msg_type"] == "peer_down" && m["peer_ip"] == gobgp_addr);
        match down {
            Some(d) if d["reason_type"] == 1 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    gobgp.stop();
}

/// A listener that takes connections but reads nothing until asked: a tiny receive buffer, so
/// keel's writes block soon.
fn stalled_listener(address: &str) -> std::net::TcpListener {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.set_reuse_address(true).unwrap();
    s.set_recv_buffer_size(4096).unwrap();
    let addr: std::net::SocketAddr = address.parse().unwrap();
    s.bind(&addr.into()).unwrap();
    s.listen(4).unwrap();
    s.into()
}

/// Reads a station session from `stream`: its dump, then its changes, until the Loc-RIB (the
/// announcements and withdrawals of peer type 3) is `want` after the dump's IPv4 End-of-RIB.
/// The message types seen; `None` if the session ends first.
fn resynchronise(stream: &mut std::net::TcpStream, want: &BTreeSet<String>) -> Option<Vec<u8>> {
    use keel_wire::{CodecOptions, Message};
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let opts = CodecOptions { extended_message: true, ..CodecOptions::default() };
    let (mut types, mut loc, mut dumped) = (Vec::new(), BTreeSet::new(), false);
    while !(dumped && loc == *want) {
        let mut head = [0u8; 6];
        stream.read_exact(&mut head).ok()?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0u8; len.saturating_sub(6)];
        stream.read_exact(&mut body).ok()?;
        types.push(head[5]);
        // Route Monitoring of the Loc-RIB instance (peer type 3): 42-octet per-peer header, UPDATE.
        if head[5] != 0 || body[0] != 3 {
            continue;
        }
        let Ok(Message::Update(u)) = Message::decode(&body[42..], &opts) else { panic!("an UPDATE") };
        dumped |= u.as_end_of_rib() == Some(keel_wire::Family::IPV4_UNICAST);
        for (_, n) in u.withdrawn_routes() {
            loc.remove(&n.prefix.to_string());
        }
        loc.extend(u.announced_routes().map(|(_, n)| n.prefix.to_string()));
    }
    Some(types)
}

#[test]
fn a_station_that_stops_reading_is_dropped_and_resynchronised() {
    preflight();
    let dir = test_dir("bmp-stalled");
    let (keel_addr, bird_addr) = ("127.0.0.104", "127.0.0.105");
    let stalled = stalled_listener(&format!("{keel_addr}:1791"));
    let pdir = dir.join("pmbmpd");
    std::fs::create_dir_all(&pdir).unwrap();
    let pmbmpd = Pmbmpd::start(&pdir, STATION, 1791);
    let stations = station(1791, "")
        + &format!(
            "[[bmp.station]]\naddress = \"{keel_addr}\"\nport = 1791\nreconnect = 1\nbuffer = 16\nviews = {VIEWS}\n"
        );
    let k = keeld_at(&dir.join("keel"), keel_addr, &[(bird_addr, 65105)], &stations);
    let api = k.api();
    // The stalled station's first session: taken, never read.
    let (first, _) = stalled.accept().unwrap();
    // 3000 routes, each its own UPDATE: megabytes for the stalled station.
    let routes = bird_routes(3000, true);
    let b = bird(&dir.join("bird"), "bird", (bird_addr, 65105), (keel_addr, 65104), &routes, false);
    established(&api, bird_addr);
    // Convergence as usual: keel has every route, BIRD keel's own.
    wait_for("keel's 3001 routes", DEADLINE, || {
        let n = keel_prefixes(&api, &[], true).len();
        (n == 3001).then_some(()).ok_or(format!("{n} routes"))
    });
    b.wait_route("203.0.113.0/24");
    // More of the same from BIRD until the stalled station falls behind its 16 changes.
    let dropped = "BMP station fell behind";
    for _ in 0..10 {
        if k.log().contains(dropped) {
            break;
        }
        b.birdc("reload out keel");
        std::thread::sleep(Duration::from_millis(500));
    }
    wait_for("the stalled station dropped", DEADLINE, || {
        k.log().contains(dropped).then_some(()).ok_or_else(|| k.log_tail(20))
    });
    // Reading again: the dropped session's leftovers end at its close; the next session is a
    // fresh Initiation, a dump and the changes after it, which together make keel's Loc-RIB (a
    // session dropped again while BIRD's last reload still comes in is followed by another).
    drop(first);
    wait_for("keel's 3001 routes after the reloads", DEADLINE, || {
        let n = keel_prefixes(&api, &[], true).len();
        (n == 3001).then_some(()).ok_or(format!("{n} routes"))
    });
    let want = keel_prefixes(&api, &[], true);
    let types = (0..3)
        .find_map(|_| {
            let (mut s, _) = stalled.accept().unwrap();
            resynchronise(&mut s, &want)
        })
        .expect("the Loc-RIB re-synchronised in one of three sessions");
    assert_eq!(types.first(), Some(&4), "an Initiation first");
    assert!(types.iter().filter(|t| **t == 3).count() >= 2, "Peer Ups of BIRD and the Loc-RIB instance");
    // The healthy station kept up all along.
    wait_views_match(&pmbmpd, &api, &[bird_addr]);

    // A new import policy (`keel reload`, no UPDATE from BIRD): the post-policy view loses the
    // 250 routes it refuses, the pre-policy view keeps all 3000.
    let text = config(k.dir(), keel_addr, &[(bird_addr, 65105)], &stations)
        .replace("import = \"all\"", "import = \"refuse\"")
        + REFUSE_FIRST_250;
    k.write_config(&text).expect("keeld's configuration");
    let (ok, out) = keel(&api, &["reload"]);
    assert!(ok, "{out}");
    wait_for("pmbmpd's post-policy view after the new import policy", DEADLINE, || {
        let state = collector_state(&pmbmpd.messages());
        let view = |v: &'static str| state.get(&(v, bird_addr.to_string())).cloned().unwrap_or_default();
        let (pre, post) = (view("adj_rib_in_pre"), view("adj_rib_in_post"));
        let want = keel_prefixes(&api, &["--neighbor", bird_addr], false);
        if pre.len() == 3000 && post.len() == 2750 && post == want {
            Ok(())
        } else {
            Err(format!("pre {} post {} keel {}", pre.len(), post.len(), want.len()))
        }
    });
    k.assert_running();
}
