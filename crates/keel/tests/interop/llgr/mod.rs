//! Long-Lived Graceful Restart (RFC 9494), helper side, against real daemons (issue 8): a
//! real daemon UPSTREAM of keeld goes away (kill -9) and real daemons DOWNSTREAM of keeld
//! show what keel tells them.
//!
//! ```text
//!   upstream (BIRD, FRR, GoBGP; killed) --+          +--> observer with LLGR (BIRD, GoBGP, FRR)
//!                                         +--> keeld +
//!   second upstream (GoBGP) --------------+          +--> observer without LLGR (FRR, ExaBGP)
//! ```
//!
//! Each test follows one neighbor through the phases of RFC 9494 §4.2: during its GR restart
//! time its routes are stale but not LLGR-stale and nothing moves downstream; when the
//! restart time ends keel makes them LLGR-stale (deleting those with NO_LLGR), de-prefers
//! them, sends them with LLGR_STALE (65535:6) to the observers that advertised LLGR and
//! withdraws them from the others (§4.3); then either the neighbor comes back and its
//! End-of-RIB makes the routes plain again, or the long-lived stale time ends and they go.
//!
//! keel advertises LLGR for IPv4 unicast only, so only IPv4 routes are kept long-lived; an
//! upstream IPv6 route shows that the other families end with the restart time (§5). The
//! observers have IPv4 sessions only (BIRD refuses keel's IPv4-mapped IPv6 next hops).
//! Further cases: partial deployment to internal neighbors (§4.6), a neighbor lost again
//! before its End-of-RIB during LLGR, and a neighbor whose LLGR stale time is 0.
//!
//! The tests use 127.0.1.x (127.0.0.x belongs to the other interop tests); ASNs come from
//! [`asn_of`] (65000 + last octet) and so repeat those of other tests, which is harmless:
//! every test has its own keeld and daemons.
//!
//! LLGR in the packaged daemons (BIRD 2.0.12, FRR 8.4.4, GoBGP 3.10.0, ExaBGP 4.2.21), checked:
//! - BIRD: `long lived graceful restart on; long lived stale time N;` next to `graceful restart
//!   on`. Its LLGR capability has F=0 after a plain start (kill -9 included) and F=1 when
//!   started with `-R`; in recovery it sends its routes and End-of-RIB about 3 s after the
//!   session is up. BIRD stores received LLGR-stale routes with `BGP.community: (65535,6)`.
//! - FRR 8.4: `bgp long-lived-graceful-restart stale-time N` under `router bgp`. Its LLGR
//!   capability always has F=1. FRR advertises LLGR even without that line (stale time 0)
//!   whenever graceful restart is on, and helper mode is its default: a default FRR is an
//!   LLGR neighbor and gets LLGR-stale routes (its JSON names 65535:6 `llgrStale`). An FRR
//!   without LLGR needs `bgp graceful-restart-disable` (then neither GR nor LLGR is sent).
//!   FRR refuses keel's 127/8 next hops unless `bgp allow-martian-nexthop`.
//! - GoBGP: `long-lived-enabled = true` under `[neighbors.graceful-restart.config]` and, per
//!   family, `[neighbors.afi-safis.long-lived-graceful-restart.config] enabled = true,
//!   restart-time = N` (N is the long-lived stale time). F=0 without `-r`. GoBGP refuses 127/8
//!   next hops, so keel is a route server towards a GoBGP observer.
//! - ExaBGP 4.2 has no LLGR capability at all (not in its code): the GR-capable observer
//!   without LLGR.

use super::common::*;
use super::daemons::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

mod observers;
use observers::*;

/// RFC 9494 §6 well-known communities, as keel's API writes them.
const LLGR_STALE: &str = "65535:6";
const NO_LLGR: &str = "65535:7";

// ---------------------------------------------------------------------------------------------
// keeld

/// One `[[neighbor]]` of keel: `import`/`export` policies and more lines after the keys.
struct Neighbor<'a> {
    address: &'a str,
    asn: u32,
    import: &'a str,
    export: &'a str,
    extra: &'a str,
}

/// A neighbor keel learns routes from and sends nothing to.
fn upstream(address: &str) -> Neighbor<'_> {
    Neighbor { address, asn: asn_of(address), import: "all", export: "none", extra: "" }
}

/// A neighbor keel sends routes to, IPv4 only, `extra` more lines.
fn observer<'a>(address: &'a str, extra: &'a str) -> Neighbor<'a> {
    Neighbor { address, asn: asn_of(address), import: "none", export: "all", extra }
}

/// keeld at `keel` (AS from its address) with LLGR for IPv4 unicast (stale time 1801, what it
/// advertises; keel never restarts here).
fn start_keel(dir: &TempDir, keel: &str, neighbors: &[Neighbor]) -> Keel {
    let kdir = dir.sub("keel");
    let mut config = keel_global(&kdir, asn_of(keel), keel)
        + "[graceful_restart]\nrestart_time = 97\n\
           [long_lived_graceful_restart]\nfamilies = [\"ipv4-unicast\"]\nstale_time = 1801\n";
    for n in neighbors {
        config += &keel_neighbor_policy(n.address, n.asn, keel, 9, n.import, n.export);
        if n.import == "none" {
            config += "families = [\"ipv4-unicast\"]\n";
        }
        config += n.extra;
    }
    Keel::start(&kdir, keel, &config)
}

/// `keel show ARGS` (text) on keeld's API.
fn keel_show(keel: &Keel, args: &[&str]) -> String {
    let (code, out, err) =
        run(std::process::Command::new(env!("CARGO_BIN_EXE_keel")).arg("--api").arg(&keel.api).arg("show").args(args));
    assert_eq!(code, 0, "keel show {args:?}: {out}{err}");
    out
}

fn keel_log(keel: &Keel) -> String {
    keel.log()
}

/// keel's path for `prefix` from `neighbor` (`Null` when it has none).
fn keel_path(keel: &Keel, prefix: &str, neighbor: &str) -> Value {
    keel.routes(&format!("prefix={prefix}")).into_iter().find(|r| r["neighbor"] == neighbor).unwrap_or_default()
}

/// The prefixes keel holds from `neighbor`, sorted.
fn keel_prefixes(keel: &Keel, neighbor: &str) -> Vec<String> {
    let mut v: Vec<String> = keel
        .routes(&format!("neighbor={neighbor}"))
        .iter()
        .map(|r| r["prefix"].as_str().unwrap_or("?").to_string())
        .collect();
    v.sort();
    v
}

/// What keel's Adj-RIB-Out towards `neighbor` holds: prefix and communities.
fn keel_advertised(keel: &Keel, neighbor: &str) -> BTreeMap<String, Value> {
    keel.routes(&format!("advertised={neighbor}"))
        .into_iter()
        .map(|r| (r["prefix"].as_str().unwrap_or("?").to_string(), r["communities"].clone()))
        .collect()
}

/// Waits until keel holds exactly `prefixes` from `up`, none of them stale, with its
/// End-of-RIB for every family of the session; the neighbor's JSON.
fn wait_keel_converged(keel: &Keel, up: &str, prefixes: &[&str]) -> Value {
    let mut want: Vec<String> = prefixes.iter().map(|p| p.to_string()).collect();
    want.sort();
    wait_for(&format!("keel to hold {want:?} from {up} and its End-of-RIBs"), DEADLINE, || {
        keel.keeld.assert_running();
        let n = keel.neighbor(up);
        let have = keel_prefixes(keel, up);
        let eor = families(&n["graceful_restart"]["end_of_rib_received"]).len();
        let negotiated = n["families"].as_array().map_or(0, Vec::len);
        let ok = n["state"] == "established"
            && eor == negotiated
            && have == want
            && n["stale_prefixes"] == 0
            && n["llgr_stale_prefixes"] == 0
            && n["graceful_restart"]["helper_active"] == false;
        ok.then_some(n.clone()).ok_or_else(|| {
            let (gr, llgr) = (&n["graceful_restart"], &n["llgr"]);
            format!(
                "state {}, {eor} EoR of {negotiated}, routes {have:?}, graceful_restart {gr}, llgr {llgr}",
                n["state"]
            )
        })
    })
}

/// Waits until keel keeps `up`'s routes (GR helper active) after it went away.
fn wait_helper_active(keel: &Keel, up: &str) -> Value {
    wait_for(&format!("keel to keep {up}'s routes as stale"), DEADLINE, || {
        keel.keeld.assert_running();
        let n = keel.neighbor(up);
        (n["graceful_restart"]["helper_active"] == true && n["state"] != "established")
            .then_some(n.clone())
            .ok_or_else(|| format!("state {} graceful_restart {}", n["state"], n["graceful_restart"]))
    })
}

/// Waits until `up`'s IPv4 routes are LLGR-stale in keel (its LLGR phase began).
fn wait_long_lived(keel: &Keel, up: &str) -> Value {
    wait_for(&format!("keel to make {up}'s routes LLGR-stale"), DEADLINE, || {
        keel.keeld.assert_running();
        let n = keel.neighbor(up);
        (n["llgr"]["active_families"] == json!(["ipv4-unicast"]))
            .then_some(n.clone())
            .ok_or_else(|| format!("llgr {} graceful_restart {}", n["llgr"], n["graceful_restart"]))
    })
}

/// Checks keel's view of `up` in its LLGR phase: `llgr_stale` IPv4 routes, LLGR-stale and
/// stale (kept from the old session), the long-lived stale timer running with at most
/// `stale_time` s (and more than `stale_time - 10`) left, no restart timer.
fn assert_long_lived(n: &Value, llgr_stale: u64, stale_time: u64) {
    let (llgr, gr) = (&n["llgr"], &n["graceful_restart"]);
    assert_eq!(n["llgr_stale_prefixes"], llgr_stale, "{n}");
    assert_eq!(n["stale_prefixes"], llgr_stale, "LLGR-stale routes are stale too: {n}");
    assert_eq!(llgr["stale_prefixes_by_family"], json!({"ipv4-unicast": llgr_stale}), "{llgr}");
    let left = llgr["stale_seconds_left"]["ipv4-unicast"].as_u64();
    assert!(
        left.is_some_and(|t| t <= stale_time && t + 10 > stale_time),
        "long-lived stale time left ({stale_time} s at most): {llgr}"
    );
    assert_eq!(gr["timers"]["long_lived_stale:ipv4-unicast"].as_u64(), left, "{gr}");
    assert_eq!(gr["timers"]["restart"], Value::Null, "the restart timer ended: {gr}");
    assert_eq!(gr["helper_active"], true, "{gr}");
}

/// Waits until keel is done with `up`: nothing stale or LLGR-stale, no timer, helper idle.
fn wait_helper_done(keel: &Keel, up: &str) -> Value {
    wait_for(&format!("keel's helper for {up} to finish"), DEADLINE, || {
        keel.keeld.assert_running();
        let n = keel.neighbor(up);
        let done = n["graceful_restart"]["helper_active"] == false
            && n["stale_prefixes"] == 0
            && n["llgr_stale_prefixes"] == 0
            && n["llgr"]["active_families"] == json!([])
            && n["graceful_restart"]["timers"] == json!({});
        done.then_some(n.clone()).ok_or_else(|| {
            format!("stale {} llgr {} graceful_restart {}", n["stale_prefixes"], n["llgr"], n["graceful_restart"])
        })
    })
}

/// kill -9, and reap.
fn crash(p: &Process) {
    p.signal(libc::SIGKILL);
    p.stop();
}

// ---------------------------------------------------------------------------------------------
// 1. BIRD goes away, a second upstream takes over, BIRD comes back

const SHARED: &str = "198.51.100.0/24";
const OWN: &str = "203.0.113.0/25";
const OWN_NO_LLGR: &str = "203.0.113.128/25";
const OWN_V6: &str = "2001:db8:2::/48";
/// BIRD's IPv4 routes.
const ALL: [&str; 3] = [SHARED, OWN, OWN_NO_LLGR];

/// BIRD upstream of keel: GR restart time `restart_time` s, LLGR stale time 60 s; `routes`
/// over IPv4 (OWN_NO_LLGR with NO_LLGR), OWN_V6 over IPv6.
fn bird_upstream(local: &str, keel: &str, restart_time: u16, routes: &[&str]) -> String {
    let session = BirdSession {
        local,
        asn: asn_of(local),
        keel,
        keel_asn: asn_of(keel),
        hold_time: 9,
        lines: &format!(
            "graceful restart on; graceful restart time {restart_time};
  long lived graceful restart on; long lived stale time 60;"
        ),
        ipv4: &format!(
            "import none; export filter {{ if net = {OWN_NO_LLGR} then bgp_community.add((65535,7)); accept; }};"
        ),
        ipv6: &format!("import none; export all; next hop address 2001:db8::{};", last_octet(local)),
    };
    bird_static("s4", "ipv4", routes) + &bird_static("s6", "ipv6", &[OWN_V6]) + &session.conf()
}

/// kill -9 of an LLGR-capable BIRD (restart time 5 s, long-lived stale time 60 s). While
/// the restart time runs its routes are stale, not LLGR-stale, still preferred, and neither
/// observer hears anything. Then keel makes them LLGR-stale: the route with NO_LLGR and the
/// IPv6 route (keel has no LLGR for IPv6) go, GoBGP's longer path for the shared prefix
/// wins, the BIRD observer (LLGR) gets BIRD's other route with LLGR_STALE, FRR (no LLGR)
/// has it withdrawn but keeps the shared prefix via GoBGP. BIRD back with `-R` (LLGR F=1)
/// without OWN: at its End-of-RIB BIRD's routes are plain again, its path wins again, and OWN,
/// still LLGR-stale, is withdrawn. Once more, back without `-R` (LLGR F=0), with every route:
/// the LLGR-stale routes go at the OPEN, and the observers hold what they held at first.
#[test]
fn llgr_bird_upstream_goes_away_and_returns() {
    let dir = temp_dir("llgr-bird");
    let (k, up, up2, obs_llgr, obs_plain) = ("127.0.1.1", "127.0.1.2", "127.0.1.3", "127.0.1.4", "127.0.1.5");
    let keel = start_keel(&dir, k, &[upstream(up), upstream(up2), observer(obs_llgr, ""), observer(obs_plain, "")]);
    let bdir = dir.sub("bird");
    let bird = bird_with(&bdir, "bird", up, &bird_upstream(up, k, 5, &ALL), false);
    // The second upstream: GoBGP, a longer AS path for SHARED (GoBGP prepends its AS).
    let gobgp = gobgp_with(
        &dir.sub("gobgp"),
        "gobgpd",
        &GoBgpPeer {
            local: up2,
            asn: asn_of(up2),
            keel: k,
            keel_asn: asn_of(k),
            restart_time: 30,
            llgr_stale_time: None,
            admin_down: false,
            restarting: false,
        },
    );
    gobgp.ok(&["global", "rib", "add", "-a", "ipv4", SHARED, "nexthop", "192.0.2.3", "aspath", "65003"]);
    let obs = Observer::bird(&dir.sub("bird-observer"), obs_llgr, k);
    let plain = Observer::frr(
        &dir.sub("frr-observer"),
        "FRR (no LLGR)",
        obs_plain,
        asn_of(obs_plain),
        k,
        " bgp graceful-restart-disable\n",
    );

    let n = wait_keel_converged(&keel, up, &[SHARED, OWN, OWN_NO_LLGR, OWN_V6]);
    assert_remote_llgr(&n, 60, "BIRD");
    assert!(n["llgr"]["remote"].as_array().unwrap().iter().all(|f| f["forwarding_state"] == false), "{n}");
    assert_remote_gr(&n, 5, false, false);
    wait_keel_converged(&keel, up2, &[SHARED]);
    assert_eq!(keel_path(&keel, SHARED, up2)["as_path"], json!([65003, 65003]), "GoBGP's path");
    assert_eq!(keel_path(&keel, SHARED, up)["best"], true, "BIRD's shorter AS path wins");
    let n = keel.wait_established(obs_llgr);
    assert!(families(&n["llgr"]["remote"]).contains(&"ipv4-unicast".to_string()), "the BIRD observer's LLGR: {n}");
    let n = keel.wait_established(obs_plain);
    assert_eq!((&n["llgr"]["remote"], &n["graceful_restart"]["remote"]), (&Value::Null, &Value::Null), "{n}");

    let before = [route(SHARED, &[65002], &[]), route(OWN, &[65002], &[]), route(OWN_NO_LLGR, &[65002], &[NO_LLGR])];
    obs.wait_holds(&before);
    plain.wait_holds(&before);

    // Gone: stale for the restart time (5 s), nothing moves.
    crash(&bird.proc);
    let gone = Instant::now();
    let n = wait_helper_active(&keel, up);
    assert_eq!(n["stale_prefixes"], 4, "{n}");
    assert_eq!(n["llgr_stale_prefixes"], 0, "{n}");
    assert!(n["graceful_restart"]["timers"]["restart"].as_u64().is_some_and(|t| t <= 5), "{n}");
    assert_eq!(n["llgr"]["active_families"], json!([]), "{n}");
    let (obs_before, plain_before) = (obs.expect(&before), plain.expect(&before));
    assert_restart_time_quiet(
        &keel,
        up,
        &[(&obs, &obs_before), (&plain, &plain_before)],
        gone,
        Duration::from_millis(3500),
    );

    // LLGR: NO_LLGR and IPv6 routes deleted, the rest LLGR-stale and least preferred.
    let n = wait_long_lived(&keel, up);
    let waited = gone.elapsed();
    assert!(waited >= Duration::from_millis(4800), "LLGR began {waited:?} after the kill, before the restart time");
    assert_long_lived(&n, 2, 60);
    assert_eq!(keel_prefixes(&keel, up), [SHARED, OWN], "NO_LLGR and IPv6 routes deleted");
    let shared = keel_path(&keel, SHARED, up);
    assert_eq!((&shared["stale"], &shared["llgr_stale"], &shared["best"]), (&json!(true), &json!(true), &json!(false)));
    assert_eq!(keel_path(&keel, SHARED, up2)["best"], true, "GoBGP's path wins over the LLGR-stale one");
    let own = keel_path(&keel, OWN, up);
    assert_eq!((&own["llgr_stale"], &own["best"]), (&json!(true), &json!(true)), "{own}");
    assert_eq!(own["communities"], json!([]), "LLGR_STALE is added on export, not to the Adj-RIB-In: {own}");
    let log = keel_log(&keel);
    for want in [
        "ipv4-unicast: long-lived stale for up to 60 s (restart timer expired)",
        "no_llgr_deleted=1",
        "ipv6-unicast: restart timer expired before the neighbor came back",
    ] {
        assert!(log.contains(want), "{want:?} not in keel's log");
    }
    let during = [route(SHARED, &[65003, 65003], &[]), route(OWN, &[65002], &[LLGR_STALE])];
    obs.wait_holds(&during);
    plain.wait_holds(&[route(SHARED, &[65003, 65003], &[])]);
    let to_bird = keel_advertised(&keel, obs_llgr);
    assert_eq!(to_bird.get(OWN), Some(&json!([LLGR_STALE])), "keel's Adj-RIB-Out to the BIRD observer: {to_bird:?}");
    assert!(!keel_advertised(&keel, obs_plain).contains_key(OWN), "keel's Adj-RIB-Out to FRR");
    // The CLI says the same: flag L on the LLGR-stale paths, the long-lived timer per family.
    let text = keel_show(&keel, &["routes", "--neighbor", up]);
    for prefix in [SHARED, OWN] {
        assert!(text.lines().any(|l| l.starts_with(&format!("L {prefix} "))), "{prefix} not flagged L:\n{text}");
    }
    let text = keel_show(&keel, &["neighbor", up]);
    assert!(text.contains("llgr-stale 2"), "keel show neighbor:\n{text}");
    assert!(text.contains("long-lived stale: ipv4-unicast (2 prefixes, "), "keel show neighbor:\n{text}");

    // Back in recovery mode without OWN: LLGR F=1 keeps the routes until End-of-RIB, which
    // makes those sent again plain and withdraws OWN (RFC 9494 §4.2).
    let back = [SHARED, OWN_NO_LLGR];
    let bird = bird_with(&bdir, "bird2", up, &bird_upstream(up, k, 5, &back), true);
    let n = keel.wait_established(up);
    assert_eq!(n["graceful_restart"]["remote"]["restart_state"], true, "BIRD's R bit with -R: {n}");
    assert!(n["llgr"]["remote"].as_array().unwrap().iter().all(|f| f["forwarding_state"] == true), "{n}");
    // BIRD sends its routes about 3 s after the session is up: until its End-of-RIB they stay
    // LLGR-stale (one answer of keel's, so both values are of the same moment).
    let n = keel.neighbor(up);
    if !families(&n["graceful_restart"]["end_of_rib_received"]).contains(&"ipv4-unicast".to_string()) {
        assert_eq!(n["llgr_stale_prefixes"], 2, "LLGR-stale until End-of-RIB: {n}");
    }
    let n = wait_helper_done(&keel, up);
    assert_eq!(n["established_transitions"], 2, "{n}");
    wait_keel_converged(&keel, up, &[SHARED, OWN_NO_LLGR, OWN_V6]);
    assert_eq!(keel_path(&keel, SHARED, up)["best"], true, "BIRD's path wins again");
    assert!(keel_log(&keel).contains("ipv4-unicast: End-of-RIB, routes still stale withdrawn"), "keel's log");
    let after = [route(SHARED, &[65002], &[]), route(OWN_NO_LLGR, &[65002], &[NO_LLGR])];
    obs.wait_holds(&after);
    plain.wait_holds(&after);
    bird.proc.assert_running();

    // Gone again, back without `-R`: its LLGR capability has F=0, so keel deletes the
    // LLGR-stale routes as the OPEN arrives (RFC 9494 §4.2), then learns them afresh.
    crash(&bird.proc);
    let n = wait_long_lived(&keel, up);
    assert_long_lived(&n, 1, 60);
    obs.wait_holds(&[route(SHARED, &[65003, 65003], &[])]);
    let bird = bird_with(&bdir, "bird3", up, &bird_upstream(up, k, 5, &ALL), false);
    wait_for("keel to delete the LLGR-stale routes at BIRD's OPEN", DEADLINE, || {
        let log = keel_log(&keel);
        let flushed = "ipv4-unicast: stale routes flushed: F bit clear in the new LLGR capability";
        log.contains(flushed).then_some(()).ok_or_else(|| format!("{flushed:?} not in keel's log"))
    });
    let n = wait_helper_done(&keel, up);
    assert_eq!(n["established_transitions"], 3, "{n}");
    wait_keel_converged(&keel, up, &[SHARED, OWN, OWN_NO_LLGR, OWN_V6]);
    obs.wait_holds(&before);
    plain.wait_holds(&before);
    bird.proc.assert_running();
    gobgp.proc.assert_running();
}

// ---------------------------------------------------------------------------------------------
// 2. FRR goes away and returns; observers BIRD and GoBGP with LLGR, ExaBGP without

/// FRR bgpd upstream of keel: GR restart time 4 s with `preserve-fw-state`, LLGR stale time
/// 60 s, OWN and SHARED with the documentation next hop 192.0.2.LAST (GoBGP downstream of
/// keel, a route server towards it, refuses 127/8).
fn start_frr_upstream(dir: &Path, name: &str, local: &str, keel: &str) -> Frr {
    let p = FrrPeer {
        local,
        asn: asn_of(local),
        keel,
        keel_asn: asn_of(keel),
        router: " bgp graceful-restart\n bgp graceful-restart restart-time 4\n \
                 bgp graceful-restart preserve-fw-state\n bgp long-lived-graceful-restart stale-time 60\n",
        ipv4: &[SHARED, OWN],
        ipv6: &[],
        route_map: Some(""),
    };
    frr_with(dir, name, &p)
}

/// kill -9 of FRR (restart time 4 s, long-lived stale time 60 s), started again later.
/// Stale and quiet for the restart time; then LLGR-stale: the BIRD and GoBGP observers
/// (LLGR) get FRR's routes again with LLGR_STALE, ExaBGP (GR without LLGR) has them
/// withdrawn and never sees LLGR_STALE. FRR back (R=1, LLGR F=1): at its End-of-RIB every
/// observer holds the routes as before, without LLGR_STALE.
#[test]
fn llgr_frr_upstream_goes_away_and_returns() {
    let dir = temp_dir("llgr-frr");
    let (k, up, obs_bird, obs_gobgp, obs_exa) = ("127.0.1.11", "127.0.1.12", "127.0.1.13", "127.0.1.14", "127.0.1.15");
    let keel = start_keel(
        &dir,
        k,
        &[
            upstream(up),
            observer(obs_bird, ""),
            observer(obs_gobgp, "route_server_client = true\n"),
            observer(obs_exa, ""),
        ],
    );
    let fdir = dir.sub("frr");
    let frr = start_frr_upstream(&fdir, "bgpd", up, k);
    let observers = [
        Observer::bird(&dir.sub("bird-observer"), obs_bird, k),
        Observer::gobgp(&dir.sub("gobgp-observer"), obs_gobgp, k),
        Observer::exabgp(&dir.sub("exabgp-observer"), obs_exa, k),
    ];

    let n = wait_keel_converged(&keel, up, &[SHARED, OWN]);
    assert_remote_llgr(&n, 60, "FRR");
    assert!(n["llgr"]["remote"].as_array().unwrap().iter().all(|f| f["forwarding_state"] == true), "FRR's F: {n}");
    assert_remote_gr(&n, 4, true, true);
    for o in [obs_bird, obs_gobgp] {
        let n = keel.wait_established(o);
        assert!(families(&n["llgr"]["remote"]).contains(&"ipv4-unicast".to_string()), "LLGR of {o}: {n}");
    }
    let n = keel.wait_established(obs_exa);
    assert_eq!(n["llgr"]["remote"], Value::Null, "ExaBGP advertises no LLGR: {n}");
    assert_eq!(n["graceful_restart"]["remote"]["restart_time"], 30, "ExaBGP advertises GR: {n}");

    let before = [route(SHARED, &[65012], &[]), route(OWN, &[65012], &[])];
    for o in &observers {
        o.wait_holds(&before);
    }

    crash(&frr.proc);
    let gone = Instant::now();
    let n = wait_helper_active(&keel, up);
    assert_eq!((n["stale_prefixes"].as_u64(), n["llgr_stale_prefixes"].as_u64()), (Some(2), Some(0)), "{n}");
    let tables: Vec<Table> = observers.iter().map(|o| o.expect(&before)).collect();
    let quiet: Vec<(&Observer, &Table)> = observers.iter().zip(&tables).collect();
    assert_restart_time_quiet(&keel, up, &quiet, gone, Duration::from_millis(2500));

    let n = wait_long_lived(&keel, up);
    let waited = gone.elapsed();
    assert!(waited >= Duration::from_millis(3800), "LLGR began {waited:?} after the kill, before the restart time");
    assert_long_lived(&n, 2, 60);
    for prefix in [SHARED, OWN] {
        let p = keel_path(&keel, prefix, up);
        assert_eq!((&p["llgr_stale"], &p["best"]), (&json!(true), &json!(true)), "the only path, LLGR-stale: {p}");
    }
    let during = [route(SHARED, &[65012], &[LLGR_STALE]), route(OWN, &[65012], &[LLGR_STALE])];
    observers[0].wait_holds(&during);
    observers[1].wait_holds(&during);
    observers[2].wait_holds(&[]);
    assert_never_llgr_stale(&observers[2]);

    let frr = start_frr_upstream(&fdir, "bgpd2", up, k);
    let n = keel.wait_established(up);
    assert_eq!(n["graceful_restart"]["remote"]["restart_state"], true, "FRR's R bit: {n}");
    let n = wait_helper_done(&keel, up);
    assert_eq!(n["established_transitions"], 2, "{n}");
    wait_keel_converged(&keel, up, &[SHARED, OWN]);
    for o in &observers {
        o.wait_holds(&before);
    }
    assert_never_llgr_stale(&observers[2]);
    frr.proc.assert_running();
}

// ---------------------------------------------------------------------------------------------
// 3. GoBGP goes away for good: keel's cap on the long-lived stale time ends LLGR

/// kill -9 of GoBGP (restart time 3 s, long-lived stale time 3600 s), not started again;
/// keel caps the stale time at 6 s (`max_stale_time` in the neighbor's own LLGR block, the
/// families from the global one). The route with NO_LLGR goes when LLGR begins; the other
/// reaches the BIRD observer and a default FRR (which advertises LLGR with stale time 0)
/// with LLGR_STALE; 6 s later keel withdraws it from both.
#[test]
fn llgr_gobgp_upstream_stale_time_ends() {
    let dir = temp_dir("llgr-gobgp");
    let (k, up, obs_bird, obs_frr) = ("127.0.1.21", "127.0.1.22", "127.0.1.23", "127.0.1.24");
    let capped = Neighbor { extra: "[neighbor.long_lived_graceful_restart]\nmax_stale_time = 6\n", ..upstream(up) };
    let keel = start_keel(&dir, k, &[capped, observer(obs_bird, ""), observer(obs_frr, "")]);
    let gobgp = gobgp_with(
        &dir.sub("gobgp"),
        "gobgpd",
        &GoBgpPeer {
            local: up,
            asn: asn_of(up),
            keel: k,
            keel_asn: asn_of(k),
            restart_time: 3,
            llgr_stale_time: Some(3600),
            admin_down: false,
            restarting: false,
        },
    );
    let nh = "192.0.2.22";
    gobgp.ok(&["global", "rib", "add", "-a", "ipv4", OWN, "nexthop", nh]);
    gobgp.ok(&["global", "rib", "add", "-a", "ipv4", OWN_NO_LLGR, "nexthop", nh, "community", NO_LLGR]);
    let observers = [
        Observer::bird(&dir.sub("bird-observer"), obs_bird, k),
        Observer::frr(&dir.sub("frr-observer"), "FRR (default: LLGR, stale time 0)", obs_frr, asn_of(obs_frr), k, ""),
    ];

    let n = wait_keel_converged(&keel, up, &[OWN, OWN_NO_LLGR]);
    assert_remote_llgr(&n, 3600, "GoBGP");
    assert_remote_gr(&n, 3, true, false);
    assert!(n["llgr"]["remote"].as_array().unwrap().iter().all(|f| f["forwarding_state"] == false), "GoBGP's F: {n}");
    assert_eq!(
        n["llgr"]["local"],
        json!([{"afi": "ipv4", "safi": "unicast", "forwarding_state": true, "stale_time": 1801}])
    );
    let n = keel.wait_established(obs_frr);
    assert_eq!(n["llgr"]["remote"][0]["stale_time"], 0, "FRR's LLGR without configuration: {n}");
    let before = [route(OWN, &[65022], &[]), route(OWN_NO_LLGR, &[65022], &[NO_LLGR])];
    for o in &observers {
        o.wait_holds(&before);
    }

    crash(&gobgp.proc);
    let gone = Instant::now();
    wait_helper_active(&keel, up);
    let tables: Vec<Table> = observers.iter().map(|o| o.expect(&before)).collect();
    let quiet: Vec<(&Observer, &Table)> = observers.iter().zip(&tables).collect();
    assert_restart_time_quiet(&keel, up, &quiet, gone, Duration::from_millis(1800));

    let n = wait_long_lived(&keel, up);
    let long_lived = Instant::now();
    assert!(gone.elapsed() >= Duration::from_millis(2800), "LLGR began {:?} after the kill", gone.elapsed());
    assert_long_lived(&n, 1, 6);
    assert_eq!(keel_prefixes(&keel, up), [OWN], "the NO_LLGR route is deleted");
    assert!(keel_log(&keel).contains("ipv4-unicast: long-lived stale for up to 6 s (restart timer expired)"));
    for o in &observers {
        o.wait_holds(&[route(OWN, &[65022], &[LLGR_STALE])]);
    }

    // The capped stale time ends: withdrawn everywhere.
    let n = wait_helper_done(&keel, up);
    let kept = long_lived.elapsed();
    assert!(
        kept >= Duration::from_millis(5000) && kept < Duration::from_secs(20),
        "LLGR-stale routes kept {kept:?}, not the 6 s of max_stale_time"
    );
    assert_eq!(n["received_prefixes"], 0, "{n}");
    assert!(keel_log(&keel).contains("ipv4-unicast: long-lived stale time expired: stale routes withdrawn"));
    for o in &observers {
        o.wait_holds(&[]);
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Partial deployment: internal neighbors without LLGR

/// RFC 9494 §4.6 with `partial_deployment = true`: BIRD (restart time 3 s) killed, its
/// LLGR-stale routes go to an internal FRR without LLGR (graceful restart disabled) with
/// NO_EXPORT added and LOCAL_PREF 0; an internal FRR without partial deployment and an
/// external ExaBGP with it (the option is for internal neighbors only) have them withdrawn.
#[test]
fn llgr_partial_deployment_to_internal_neighbors() {
    let dir = temp_dir("llgr-partial");
    let (k, up, ibgp_partial, ibgp, ebgp_partial) =
        ("127.0.1.31", "127.0.1.32", "127.0.1.33", "127.0.1.34", "127.0.1.35");
    let partial = "[neighbor.long_lived_graceful_restart]\npartial_deployment = true\n";
    let keel = start_keel(
        &dir,
        k,
        &[
            upstream(up),
            Neighbor { asn: asn_of(k), ..observer(ibgp_partial, partial) },
            Neighbor { asn: asn_of(k), ..observer(ibgp, "") },
            observer(ebgp_partial, partial),
        ],
    );
    let bird = bird_with(&dir.sub("bird"), "bird", up, &bird_upstream(up, k, 3, &ALL), false);
    let no_gr = " bgp graceful-restart-disable\n";
    let observers = [
        Observer::frr(&dir.sub("frr-partial"), "internal FRR (partial deployment)", ibgp_partial, asn_of(k), k, no_gr),
        Observer::frr(&dir.sub("frr"), "internal FRR", ibgp, asn_of(k), k, no_gr),
        Observer::exabgp(&dir.sub("exabgp-observer"), ebgp_partial, k),
    ];
    let Daemon::Frr(frr_partial) = &observers[0].daemon else { unreachable!() };
    let local_pref = |prefix: &str| {
        let paths = frr_partial.json(&format!("show bgp ipv4 unicast {prefix} json"))["paths"].clone();
        paths.as_array().and_then(|p| p.iter().find(|p| p["peer"]["peerId"] == k)).map(|p| p["locPrf"].clone())
    };

    wait_keel_converged(&keel, up, &[SHARED, OWN, OWN_NO_LLGR, OWN_V6]);
    for o in [ibgp_partial, ibgp] {
        let n = keel.wait_established(o);
        assert_eq!(n["llgr"]["remote"], Value::Null, "{o} has no LLGR: {n}");
    }
    let before = [route(SHARED, &[65032], &[]), route(OWN, &[65032], &[]), route(OWN_NO_LLGR, &[65032], &[NO_LLGR])];
    for o in &observers {
        o.wait_holds(&before);
    }
    assert_eq!(local_pref(OWN), Some(json!(100)), "LOCAL_PREF keel gives internal neighbors");

    crash(&bird.proc);
    let n = wait_long_lived(&keel, up);
    assert_long_lived(&n, 2, 60);
    let no_export = "65535:65281";
    observers[0].wait_holds(&[
        route(SHARED, &[65032], &[LLGR_STALE, no_export]),
        route(OWN, &[65032], &[LLGR_STALE, no_export]),
    ]);
    assert_eq!(local_pref(OWN), Some(json!(0)), "RFC 9494 §4.6: LOCAL_PREF 0");
    assert_eq!(local_pref(SHARED), Some(json!(0)), "RFC 9494 §4.6: LOCAL_PREF 0");
    observers[1].wait_holds(&[]);
    observers[2].wait_holds(&[]);
    assert_never_llgr_stale(&observers[2]);
}

// ---------------------------------------------------------------------------------------------
// 5. Lost again during LLGR, before End-of-RIB

/// RFC 9494 §4.2: BIRD (restart time 2 s) killed, its routes LLGR-stale; started again with
/// `-R` and killed again before its End-of-RIB (in recovery BIRD sends its routes about 3 s
/// after the session is up). The routes stay LLGR-stale with no new GR period, the long-lived
/// stale timer runs on from the first loss, and the observer hears nothing. Back for good:
/// its End-of-RIB ends LLGR.
#[test]
fn llgr_bird_lost_again_before_end_of_rib() {
    let dir = temp_dir("llgr-flap");
    let (k, up, obs_llgr) = ("127.0.1.41", "127.0.1.42", "127.0.1.43");
    let keel = start_keel(&dir, k, &[upstream(up), observer(obs_llgr, "")]);
    let bdir = dir.sub("bird");
    let bird = bird_with(&bdir, "bird", up, &bird_upstream(up, k, 2, &ALL), false);
    let obs = Observer::bird(&dir.sub("bird-observer"), obs_llgr, k);
    wait_keel_converged(&keel, up, &[SHARED, OWN, OWN_NO_LLGR, OWN_V6]);
    let before = [route(SHARED, &[65042], &[]), route(OWN, &[65042], &[]), route(OWN_NO_LLGR, &[65042], &[NO_LLGR])];
    obs.wait_holds(&before);

    crash(&bird.proc);
    let n = wait_long_lived(&keel, up);
    let (llgr_began, left_then) = (Instant::now(), n["llgr"]["stale_seconds_left"]["ipv4-unicast"].as_u64().unwrap());
    assert_long_lived(&n, 2, 60);
    let during = [route(SHARED, &[65042], &[LLGR_STALE]), route(OWN, &[65042], &[LLGR_STALE])];
    obs.wait_holds(&during);

    let bird = bird_with(&bdir, "bird2", up, &bird_upstream(up, k, 2, &ALL), true);
    let n = keel.wait_established(up);
    let eor = families(&n["graceful_restart"]["end_of_rib_received"]);
    assert!(eor.is_empty(), "BIRD in recovery sent End-of-RIB at once ({eor:?}): the case cannot be made");
    crash(&bird.proc);
    let n = wait_helper_active(&keel, up);
    assert_eq!(n["llgr"]["active_families"], json!(["ipv4-unicast"]), "{n}");
    assert_eq!(n["llgr_stale_prefixes"], 2, "{n}");
    let want = obs.expect(&during);
    holds_for("the observer after the second loss", Duration::from_millis(2500), || obs.holds(&want));
    let n = keel.neighbor(up);
    assert_eq!(n["llgr_stale_prefixes"], 2, "{n}");
    let left = n["llgr"]["stale_seconds_left"]["ipv4-unicast"].as_u64().unwrap() as f64;
    let expected = left_then as f64 - llgr_began.elapsed().as_secs_f64();
    assert!(left <= expected + 1.0, "long-lived stale timer restarted: {left} s left, {expected:.1} s expected");
    assert!(keel_log(&keel).contains("1 long-lived (TcpFailure)"), "keel's log");

    let bird = bird_with(&bdir, "bird3", up, &bird_upstream(up, k, 2, &ALL), true);
    let n = wait_helper_done(&keel, up);
    assert_eq!(n["established_transitions"], 3, "{n}");
    wait_keel_converged(&keel, up, &[SHARED, OWN, OWN_NO_LLGR, OWN_V6]);
    obs.wait_holds(&before);
    bird.proc.assert_running();
}

// ---------------------------------------------------------------------------------------------
// 6. Long-lived stale time 0

/// FRR with graceful restart (restart time 2 s) but no LLGR configured advertises LLGR with
/// stale time 0 (F=1): killed, its routes are kept for the restart time only, then withdrawn
/// (RFC 9494 §4.2: a stale time of 0 means no long-lived retention), never sent with
/// LLGR_STALE to the BIRD observer.
#[test]
fn llgr_frr_stale_time_zero_ends_with_the_restart_time() {
    let dir = temp_dir("llgr-zero");
    let (k, up, obs_llgr) = ("127.0.1.51", "127.0.1.52", "127.0.1.53");
    let keel = start_keel(&dir, k, &[upstream(up), observer(obs_llgr, "")]);
    let p = FrrPeer {
        local: up,
        asn: asn_of(up),
        keel: k,
        keel_asn: asn_of(k),
        router: " bgp graceful-restart\n bgp graceful-restart restart-time 2\n",
        ipv4: &[SHARED, OWN],
        ipv6: &[],
        route_map: Some(""),
    };
    let frr = frr_with(&dir.sub("frr"), "bgpd", &p);
    let obs = Observer::bird(&dir.sub("bird-observer"), obs_llgr, k);
    let n = wait_keel_converged(&keel, up, &[SHARED, OWN]);
    assert_remote_llgr(&n, 0, "FRR");
    assert_remote_gr(&n, 2, true, false);
    let before = [route(SHARED, &[65052], &[]), route(OWN, &[65052], &[])];
    obs.wait_holds(&before);

    crash(&frr.proc);
    let gone = Instant::now();
    wait_helper_active(&keel, up);
    let want = obs.expect(&before);
    assert_restart_time_quiet(&keel, up, &[(&obs, &want)], gone, Duration::from_millis(1200));
    let n = wait_helper_done(&keel, up);
    assert!(gone.elapsed() >= Duration::from_millis(1800), "routes went {:?} after the kill", gone.elapsed());
    assert_eq!(n["received_prefixes"], 0, "{n}");
    let log = keel_log(&keel);
    assert!(log.contains("ipv4-unicast: restart timer expired before the neighbor came back"), "keel's log");
    assert!(!log.contains("long-lived stale for up to"), "keel's log");
    obs.wait_holds(&[]);
}
