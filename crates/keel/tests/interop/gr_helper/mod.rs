//! Graceful restart, helper side (RFC 4724 §4.2, RFC 8538 §4), against real daemons: a real
//! daemon restarts UPSTREAM of keeld and a second real daemon DOWNSTREAM of keeld observes.
//!
//! ```text
//!   upstream (BIRD, FRR, GoBGP, ExaBGP; restarts) --> keeld (helper) --> observer (BIRD or GoBGP)
//! ```
//!
//! What a test checks during the restart: keel keeps the routes as stale (API), and the
//! observer's own counters show no UPDATE at all. After the restarting daemon's End-of-RIB:
//! the observer lost exactly the routes that did not come back. The cases without the N bit,
//! with Hard Reset, with F=0, without the capability in the new OPEN, without End-of-RIB, and
//! without the neighbor coming back flush as RFC 4724 and RFC 8538 say.
//!
//! Upstream routes are IPv4 (the observer BIRD refuses keel's IPv4-mapped IPv6 next hops on an
//! IPv4 session); IPv6 is negotiated anyway, so the helper waits for both End-of-RIBs.
//!
//! Quirks met here (see also /work/shared/interop.md):
//! - BIRD: `birdc graceful restart` ends BIRD; it must be started again with `-R` (recovery),
//!   then it advertises R=1 and F=1. Started without `-R` it advertises F=0 (after kill -9
//!   too). BIRD has no N bit: its `restart` of a protocol is Cease/Administrative Reset
//!   without N, which ends graceful restart for the helper.
//! - FRR 8.4 `-Z`: F=1 only with `bgp graceful-restart preserve-fw-state`; `clear bgp X`
//!   sends Cease/Hard Reset unless `no bgp hard-administrative-reset`. An outbound route-map
//!   defined after `router bgp` in the startup file is missing when bgpd first advertises:
//!   it sends End-of-RIB without routes and the routes seconds later (see [`start_frr`]).
//! - GoBGP: routes come from the CLI after start, so the restarted gobgpd starts with the
//!   neighbor `admin-down` and is enabled once its routes are in (else keel could see its
//!   End-of-RIB before them). R and F only with `-r`. As a receiver it refuses 127/8 next
//!   hops ("invalid nexthop address", UPDATE treated as withdraw), so keel's next-hop-self
//!   routes do not reach a GoBGP observer: keel is its route server (next hop unchanged).
//!   Stopping gobgpd sends Cease/Peer De-configured without Hard Reset even with N, which a
//!   helper takes as a graceful restart (RFC 8538 §4).
//! - ExaBGP: F=1 for every family (no F=0 case with it); `manual-eor true` keeps it from
//!   sending End-of-RIB.

use super::common::*;
use super::daemons::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod observer;
use observer::*;

/// The upstream's routes before its restart; the tests drop the second during the restart.
const ROUTES: [&str; 3] = ["198.51.100.0/24", "203.0.113.0/25", "203.0.113.128/25"];
const KEPT: [&str; 2] = ["198.51.100.0/24", "203.0.113.0/25"];

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// keeld between the two

/// keeld at `keel` with the upstream and the observer as neighbors, `gr` lines in its
/// `[graceful_restart]` section.
fn start_keel(dir: &TempDir, keel: &str, up: &str, obs: &str, gr: &str) -> Keel {
    start_keel_with(dir, keel, up, obs, gr, "")
}

/// Like [`start_keel`], with more keys for the observer's `[[neighbor]]`.
fn start_keel_with(dir: &TempDir, keel: &str, up: &str, obs: &str, gr: &str, obs_extra: &str) -> Keel {
    let kdir = dir.sub("keel");
    let config = format!(
        "{}[graceful_restart]\n{gr}{}{}",
        keel_global(&kdir, asn_of(keel), keel),
        keel_neighbor(up, asn_of(up), keel, 9),
        keel_neighbor(obs, asn_of(obs), keel, 9),
    ) + obs_extra;
    Keel::start(&kdir, keel, &config)
}

fn keel_log(keel: &Keel) -> String {
    keel.log()
}

/// Prefixes keel holds from `neighbor`, sorted, and how many of them are stale.
fn keel_routes(keel: &Keel, neighbor: &str) -> (Vec<String>, usize) {
    let r = keel.routes(&format!("neighbor={neighbor}"));
    let mut p: Vec<String> = r.iter().map(|r| r["prefix"].as_str().unwrap_or("?").to_string()).collect();
    p.sort();
    (p, r.iter().filter(|r| r["stale"] == true).count())
}

/// Waits until keel has End-of-RIB for both families from `up` and exactly `prefixes` from it.
fn wait_keel_converged(keel: &Keel, up: &str, prefixes: &[&str]) -> Value {
    wait_for(&format!("keel to hold {prefixes:?} from {up} and its End-of-RIBs"), DEADLINE, || {
        keel.keeld.assert_running();
        let n = keel.neighbor(up);
        let (have, stale) = keel_routes(keel, up);
        let eor = families(&n["graceful_restart"]["end_of_rib_received"]);
        if n["state"] == "established" && eor.len() == 2 && have == sorted(prefixes) && stale == 0 {
            Ok(n)
        } else {
            Err(format!("state {}, EoR {eor:?}, routes {have:?} ({stale} stale)", n["state"]))
        }
    })
}

/// Waits until keel keeps the upstream's routes as stale while it is away or restarting.
fn wait_helper_active(keel: &Keel, up: &str, stale: usize) -> Value {
    wait_for(&format!("keel to keep {up}'s {stale} routes as stale"), DEADLINE, || {
        keel.keeld.assert_running();
        let n = keel.neighbor(up);
        let gr = &n["graceful_restart"];
        if gr["helper_active"] == true && n["stale_prefixes"] == stale {
            Ok(n)
        } else {
            Err(format!("state {} stale_prefixes {} graceful_restart {gr}", n["state"], n["stale_prefixes"]))
        }
    })
}

/// Checks keel's view while it keeps `up`'s routes: helper active, the restart timer running
/// (at most `restart_time` s), every route of `up` listed by `show routes --stale`.
fn assert_keeps(keel: &Keel, up: &str, n: &Value, restart_time: u64) {
    let gr = &n["graceful_restart"];
    assert_eq!(gr["stale_families"], serde_json::json!(["ipv4-unicast", "ipv6-unicast"]), "{n}");
    let t = gr["timers"]["restart"].as_u64();
    assert!(t.is_some_and(|t| t <= restart_time), "restart timer ({restart_time} s at most) in {gr}");
    let stale: Vec<Value> = keel.routes("stale=true");
    let mut p: Vec<&str> = stale.iter().map(|r| r["prefix"].as_str().unwrap()).collect();
    p.sort();
    assert_eq!(p, ROUTES, "keel's stale routes: {stale:?}");
    assert!(stale.iter().all(|r| r["neighbor"] == up && r["stale"] == true), "{stale:?}");
    // The `keel show routes --stale` command says the same.
    let (code, out, err) = run(Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("--api")
        .arg(&keel.api)
        .args(["show", "routes", "--stale", "--json"]));
    assert_eq!(code, 0, "keel show routes --stale: {out}{err}");
    let cli: Vec<Value> =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("keel show routes --stale ({e}): {out}"));
    assert_eq!(cli.len(), ROUTES.len(), "keel show routes --stale: {out}");
}

/// Waits until keel's helper is done with `up` (no stale route left, not active).
fn wait_helper_done(keel: &Keel, up: &str) -> Value {
    wait_for(&format!("keel's helper for {up} to finish"), DEADLINE, || {
        keel.keeld.assert_running();
        let n = keel.neighbor(up);
        if n["graceful_restart"]["helper_active"] == false && n["stale_prefixes"] == 0 {
            Ok(n)
        } else {
            Err(format!("stale_prefixes {} graceful_restart {}", n["stale_prefixes"], n["graceful_restart"]))
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Upstream daemons, started (and started again) with the configuration a test needs

/// BIRD's configuration after the header: static IPv4 `routes` and the session with keel,
/// `gr` its graceful-restart lines.
fn bird_upstream(local: &str, keel: &str, routes: &[&str], gr: &str) -> String {
    let session = BirdSession {
        local,
        asn: asn_of(local),
        keel,
        keel_asn: asn_of(keel),
        hold_time: 9,
        lines: gr,
        ipv4: "import all; export all;",
        ipv6: &format!("import all; export none; next hop address 2001:db8::{};", last_octet(local)),
    };
    bird_static("s4", "ipv4", routes) + &session.conf()
}

/// Starts FRR bgpd (`-Z`) announcing `routes` to keel, GR in restart mode (restart time 20)
/// with `gr` lines. Its route-maps come before `router bgp` (see [`FrrPeer::conf`]).
fn start_frr(dir: &Path, name: &str, local: &str, keel: &str, routes: &[&str], gr: &str) -> Frr {
    let router = format!(" bgp graceful-restart\n bgp graceful-restart restart-time 20\n{gr}\n");
    let p = FrrPeer {
        local,
        asn: asn_of(local),
        keel,
        keel_asn: asn_of(keel),
        router: &router,
        ipv4: routes,
        ipv6: &[],
        route_map: Some(""),
    };
    frr_with(dir, name, &p)
}

/// Starts gobgpd peering with keel (restart time 20, no LLGR); `-r` (graceful restart: R and
/// F set) when `restarting`; the neighbor starts `admin-down` when `down` (enabled later with
/// `gobgp neighbor X enable`).
fn start_gobgp(dir: &Path, name: &str, local: &str, keel: &str, restarting: bool, down: bool) -> GoBgp {
    let p = GoBgpPeer {
        local,
        asn: asn_of(local),
        keel,
        keel_asn: asn_of(keel),
        restart_time: 20,
        llgr_stale_time: None,
        admin_down: down,
        restarting,
    };
    gobgp_with(dir, name, &p)
}

fn gobgp_add(g: &GoBgp, routes: &[&str]) {
    let nh = format!("192.0.2.{}", last_octet(&g.api_host));
    for r in routes {
        g.ok(&["global", "rib", "add", r, "nexthop", &nh]);
    }
}

/// Starts ExaBGP announcing `routes` to keel; `capability` is the inside of its
/// `capability { }` block, `extra` more lines of the neighbor. No API process.
fn start_exabgp(
    dir: &Path,
    name: &str,
    local: &str,
    keel: &str,
    routes: &[&str],
    capability: &str,
    extra: &str,
) -> ExaBgp {
    let routes: Vec<String> = routes.iter().map(|r| format!("{r} next-hop 192.0.2.{}", last_octet(local))).collect();
    let p = ExaPeer {
        local,
        asn: asn_of(local),
        keel,
        keel_asn: asn_of(keel),
        capability,
        routes: &routes,
        extra,
        api: false,
    };
    ExaBgp::start(dir, name, &p)
}

/// kill -9, and reap.
fn crash(p: &Process) {
    p.signal(libc::SIGKILL);
    p.stop();
}

/// Checks the observer after the restart: it holds `kept` and received exactly the
/// withdrawals of `gone` since `base`, nothing else.
fn assert_only_withdrawn(obs: &Observer, base: Seen, kept: &[&str], gone: usize) -> Seen {
    let s = wait_for("the observer to lose exactly the routes that did not come back", DEADLINE, || {
        let (have, s) = (obs.prefixes(), obs.seen());
        if have == sorted(kept) && s.withdraws >= base.withdraws + gone as u64 {
            Ok(s)
        } else {
            Err(format!("observer holds {have:?}, {s:?} (before {base:?})"))
        }
    });
    // Nothing more trickles in afterwards.
    holds_for("the observer's counters after the restart", Duration::from_secs(1), || obs.quiet(s, kept));
    assert_eq!(s.withdraws, base.withdraws + gone as u64, "withdrawals at the observer:\n{}", obs.describe());
    match obs {
        // BIRD counts routes: no route update at all.
        Observer::Bird(_) => assert_eq!(s.updates, base.updates, "route updates at the observer:\n{}", obs.describe()),
        // GoBGP counts UPDATE messages: the withdrawals of the gone routes, in one (or a few).
        Observer::GoBgp(..) => assert!(
            s.updates > base.updates && s.updates <= base.updates + gone as u64,
            "UPDATE messages at the observer {s:?} (before {base:?}):\n{}",
            obs.describe()
        ),
    }
    s
}

// ---------------------------------------------------------------------------------------------
// BIRD restarts

/// `birdc graceful restart`, BIRD started again with `-R` without one route: keel keeps the
/// routes, the observer (BIRD) hears nothing until BIRD's End-of-RIB, then exactly one
/// withdrawal.
#[test]
fn gr_helper_bird_graceful_restart() {
    let dir = temp_dir("gr-helper-bird");
    let (keel_addr, up, obs_addr) = ("127.0.0.201", "127.0.0.202", "127.0.0.203");
    let keel = start_keel(&dir, keel_addr, up, obs_addr, "");
    let obs = Observer::bird(&dir.sub("observer"), obs_addr, keel_addr);
    let bdir = dir.sub("bird");
    let gr = "graceful restart on; graceful restart time 20;";
    let bird = bird_with(&bdir, "bird", up, &bird_upstream(up, keel_addr, &ROUTES, gr), false);
    let n = wait_keel_converged(&keel, up, &ROUTES);
    assert_remote_gr(&n, 20, false, false);
    let base = obs.wait_settled(&ROUTES);

    bird.birdc("graceful restart");
    wait_for("BIRD to exit after `graceful restart`", DEADLINE, || {
        (!bird.proc.running()).then_some(()).ok_or_else(|| "still running".to_string())
    });
    let n = wait_helper_active(&keel, up, 3);
    assert_keeps(&keel, up, &n, 20);
    holds_for("the observer while BIRD is away", Duration::from_secs(1), || obs.quiet(base, &ROUTES));

    // Back in recovery mode (R=1, F=1) without 203.0.113.128/25.
    let bird = bird_with(&bdir, "bird2", up, &bird_upstream(up, keel_addr, &KEPT, gr), true);
    let n = keel.wait_established(up);
    assert_eq!(n["graceful_restart"]["remote"]["restart_state"], true, "BIRD's R bit after -R: {n}");
    assert_remote_gr(&n, 20, false, true);
    assert_only_withdrawn(&obs, base, &KEPT, 1);
    let n = wait_helper_done(&keel, up);
    assert_eq!(keel_routes(&keel, up).0, sorted(&KEPT));
    assert_eq!(families(&n["graceful_restart"]["end_of_rib_received"]).len(), 2, "{n}");
    bird.proc.assert_running();
}

/// kill -9 of BIRD; started again without `-R` it advertises F=0: keel flushes the stale
/// routes as the OPEN arrives (RFC 4724 §4.2), before any End-of-RIB; started with `-R`,
/// F=1: kept until End-of-RIB, the observer (BIRD) hears nothing.
#[test]
fn gr_helper_bird_kill() {
    let dir = temp_dir("gr-helper-bird-kill");
    let (keel_addr, up, obs_addr) = ("127.0.0.204", "127.0.0.205", "127.0.0.206");
    let keel = start_keel(&dir, keel_addr, up, obs_addr, "");
    let obs = Observer::bird(&dir.sub("observer"), obs_addr, keel_addr);
    let bdir = dir.sub("bird");
    let gr = "graceful restart on; graceful restart time 20;";
    let bird = bird_with(&bdir, "bird", up, &bird_upstream(up, keel_addr, &ROUTES, gr), false);
    wait_keel_converged(&keel, up, &ROUTES);
    let base = obs.wait_settled(&ROUTES);

    // kill -9, back with -R: kept, swept after End-of-RIB.
    crash(&bird.proc);
    let n = wait_helper_active(&keel, up, 3);
    assert_keeps(&keel, up, &n, 20);
    holds_for("the observer while BIRD is away", Duration::from_secs(1), || obs.quiet(base, &ROUTES));
    let bird = bird_with(&bdir, "bird2", up, &bird_upstream(up, keel_addr, &KEPT, gr), true);
    let n = keel.wait_established(up);
    assert_remote_gr(&n, 20, false, true);
    let base = assert_only_withdrawn(&obs, base, &KEPT, 1);
    wait_helper_done(&keel, up);

    // kill -9, back without -R (F=0): the stale routes go with the OPEN.
    crash(&bird.proc);
    wait_helper_active(&keel, up, 2);
    holds_for("the observer while BIRD is away", Duration::from_secs(1), || obs.quiet(base, &KEPT));
    let _bird = bird_with(&bdir, "bird3", up, &bird_upstream(up, keel_addr, &KEPT, gr), false);
    let n = keel.wait_established(up);
    assert_remote_gr(&n, 20, false, false);
    wait_helper_done(&keel, up);
    wait_for("keel's log to give the reason", DEADLINE, || {
        let log = keel_log(&keel);
        (log.matches("stale routes flushed: F bit clear in the new OPEN").count() == 2)
            .then_some(())
            .ok_or_else(|| "no `F bit clear` flush for both families in keel's log".to_string())
    });
    wait_keel_converged(&keel, up, &KEPT);
    obs.wait_settled(&KEPT);
}

/// `birdc restart keel`: Cease/Administrative Reset, and BIRD has no N bit: no graceful
/// restart (RFC 4724 §4, RFC 8538 §4), keel withdraws the routes at once.
#[test]
fn gr_helper_bird_notification_without_n_bit() {
    let dir = temp_dir("gr-helper-bird-no-n");
    let (keel_addr, up, obs_addr) = ("127.0.0.207", "127.0.0.208", "127.0.0.209");
    let keel = start_keel(&dir, keel_addr, up, obs_addr, "");
    let obs = Observer::bird(&dir.sub("observer"), obs_addr, keel_addr);
    let bdir = dir.sub("bird");
    let gr = "graceful restart on; graceful restart time 20; connect delay time 5;";
    let bird = bird_with(&bdir, "bird", up, &bird_upstream(up, keel_addr, &ROUTES, gr), false);
    let n = wait_keel_converged(&keel, up, &ROUTES);
    assert_eq!(n["graceful_restart"]["notification_bit"], false, "{n}");
    let base = obs.wait_settled(&ROUTES);

    bird.birdc("disable keel");
    let n = wait_for("keel to withdraw BIRD's routes", DEADLINE, || {
        let n = keel.neighbor(up);
        if n["received_prefixes"] == 0 && n["stale_prefixes"] == 0 && n["graceful_restart"]["helper_active"] == false {
            Ok(n)
        } else {
            Err(n.to_string())
        }
    });
    assert_eq!(n["last_notification_received"]["code"], 6, "Cease from BIRD: {n}");
    wait_for("the observer to lose every route", DEADLINE, || {
        let (have, s) = (obs.prefixes(), obs.seen());
        (have.is_empty() && s.withdraws == base.withdraws + 3).then_some(()).ok_or_else(|| format!("{have:?} {s:?}"))
    });
    assert!(keel_log(&keel).contains("NOTIFICATION without the N bit"), "keel's reason");
    bird.birdc("enable keel");
    wait_keel_converged(&keel, up, &ROUTES);
    obs.wait_settled(&ROUTES);
}

// ---------------------------------------------------------------------------------------------
// FRR restarts

/// kill -9 of FRR bgpd, started again (GR restart mode, `preserve-fw-state`: R=1, F=1)
/// without one route: kept until FRR's End-of-RIB, then exactly that route is withdrawn.
#[test]
fn gr_helper_frr_kill() {
    let dir = temp_dir("gr-helper-frr-kill");
    let (keel_addr, up, obs_addr) = ("127.0.0.211", "127.0.0.212", "127.0.0.213");
    let keel = start_keel(&dir, keel_addr, up, obs_addr, "");
    let obs = Observer::bird(&dir.sub("observer"), obs_addr, keel_addr);
    let fdir = dir.sub("frr");
    let gr = " bgp graceful-restart preserve-fw-state";
    let frr = start_frr(&fdir, "bgpd", up, keel_addr, &ROUTES, gr);
    let n = wait_keel_converged(&keel, up, &ROUTES);
    assert_remote_gr(&n, 20, true, true);
    let base = obs.wait_settled(&ROUTES);

    crash(&frr.proc);
    let n = wait_helper_active(&keel, up, 3);
    assert_keeps(&keel, up, &n, 20);
    holds_for("the observer while FRR is away", Duration::from_secs(1), || obs.quiet(base, &ROUTES));

    let frr = start_frr(&fdir, "bgpd2", up, keel_addr, &KEPT, gr);
    let n = keel.wait_established(up);
    assert_eq!(n["graceful_restart"]["remote"]["restart_state"], true, "FRR's R bit: {n}");
    assert_remote_gr(&n, 20, true, true);
    assert_only_withdrawn(&obs, base, &KEPT, 1);
    let n = wait_helper_done(&keel, up);
    assert_eq!(keel_routes(&keel, up).0, sorted(&KEPT));
    assert_eq!(n["established_transitions"], 2, "{n}");
    frr.proc.assert_running();
}

/// `clear bgp X soft`: no session reset, FRR sends its routes again, the observer hears
/// nothing. `clear bgp X` with `no bgp hard-administrative-reset`: Cease/Administrative Reset
/// with the N bit, a graceful restart for keel (RFC 8538 §4), the observer hears nothing.
/// `clear bgp X` with `bgp hard-administrative-reset` (FRR's default): Cease/Hard Reset,
/// keel withdraws everything at once (RFC 8538 §3), the observer loses all routes.
#[test]
fn gr_helper_frr_clear_soft_graceful_hard() {
    let dir = temp_dir("gr-helper-frr-clear");
    let (keel_addr, up, obs_addr) = ("127.0.0.214", "127.0.0.215", "127.0.0.216");
    let keel = start_keel(&dir, keel_addr, up, obs_addr, "");
    let obs = Observer::bird(&dir.sub("observer"), obs_addr, keel_addr);
    let gr = " bgp graceful-restart preserve-fw-state\n no bgp hard-administrative-reset";
    let frr = start_frr(&dir.sub("frr"), "bgpd", up, keel_addr, &ROUTES, gr);
    let n = wait_keel_converged(&keel, up, &ROUTES);
    assert_remote_gr(&n, 20, true, true);
    let base = obs.wait_settled(&ROUTES);

    // Soft: FRR asks for keel's routes again and sends its own again; nothing moves.
    let updates = n["updates_received"].as_u64().unwrap();
    frr.vtysh_ok(&[&format!("clear bgp {keel_addr} soft")]);
    wait_for("FRR to send its routes again", DEADLINE, || {
        let n = keel.neighbor(up);
        (n["updates_received"].as_u64() > Some(updates)).then_some(()).ok_or_else(|| n["updates_received"].to_string())
    });
    holds_for("the observer after a soft clear", Duration::from_secs(1), || obs.quiet(base, &ROUTES));
    let n = keel.neighbor(up);
    assert_eq!((n["established_transitions"].as_u64(), n["stale_prefixes"].as_u64()), (Some(1), Some(0)), "{n}");

    // Graceful: Cease/Administrative Reset with N: kept, refreshed, nothing moves downstream.
    frr.vtysh_ok(&[&format!("clear bgp {keel_addr}")]);
    let n = wait_for("FRR to come back after the clear", DEADLINE, || {
        obs.quiet(base, &ROUTES)?;
        let n = keel.neighbor(up);
        let done = n["established_transitions"] == 2
            && n["graceful_restart"]["helper_active"] == false
            && families(&n["graceful_restart"]["end_of_rib_received"]).len() == 2;
        done.then_some(n.clone()).ok_or_else(|| n.to_string())
    });
    let cease = &n["last_notification_received"];
    assert_eq!((cease["code"].as_u64(), cease["subcode"].as_u64()), (Some(6), Some(4)), "Administrative Reset: {n}");
    assert_eq!(keel_routes(&keel, up), (sorted(&ROUTES), 0));
    let log = keel_log(&keel);
    assert!(log.contains("helper mode: 2 stale families kept for up to 20 s"), "keel kept the routes:\n{log}");
    holds_for("the observer after a graceful clear", Duration::from_secs(1), || obs.quiet(base, &ROUTES));

    // Hard: Cease/Hard Reset: everything withdrawn at once, then learned again.
    frr.vtysh_ok(&["configure terminal", &format!("router bgp {}", asn_of(up)), "bgp hard-administrative-reset"]);
    frr.vtysh_ok(&[&format!("clear bgp {keel_addr}")]);
    let n = wait_for("keel to withdraw FRR's routes after the Hard Reset", DEADLINE, || {
        let n = keel.neighbor(up);
        (n["last_notification_received"]["subcode"] == 9).then_some(n.clone()).ok_or_else(|| n.to_string())
    });
    assert_eq!(n["last_notification_received"]["hard_reset_inner"], serde_json::json!([6, 4]), "{n}");
    wait_for("the observer to see every route withdrawn", DEADLINE, || {
        let s = obs.seen();
        (s.withdraws == base.withdraws + 3).then_some(()).ok_or_else(|| format!("{s:?} (before {base:?})"))
    });
    assert!(keel_log(&keel).contains("routes flushed: Hard Reset (RFC 8538 §3)"), "keel's reason");
    wait_keel_converged(&keel, up, &ROUTES);
    obs.wait_settled(&ROUTES);
    let n = keel.neighbor(up);
    assert_eq!(n["established_transitions"], 3, "{n}");
}

// ---------------------------------------------------------------------------------------------
// GoBGP restarts

/// kill -9 of gobgpd, started again with `-r` (R=1, F=1) without one route: kept until
/// GoBGP's End-of-RIB, then exactly that route is withdrawn.
#[test]
fn gr_helper_gobgp_kill_restart_r() {
    let dir = temp_dir("gr-helper-gobgp-r");
    let (keel_addr, up, obs_addr) = ("127.0.0.221", "127.0.0.222", "127.0.0.223");
    let keel = start_keel(&dir, keel_addr, up, obs_addr, "");
    let obs = Observer::bird(&dir.sub("observer"), obs_addr, keel_addr);
    let gdir = dir.sub("gobgp");
    let gobgp = start_gobgp(&gdir, "gobgpd", up, keel_addr, false, false);
    gobgp_add(&gobgp, &ROUTES);
    let n = wait_keel_converged(&keel, up, &ROUTES);
    assert_remote_gr(&n, 20, true, false);
    let base = obs.wait_settled(&ROUTES);

    crash(&gobgp.proc);
    let n = wait_helper_active(&keel, up, 3);
    assert_keeps(&keel, up, &n, 20);
    holds_for("the observer while GoBGP is away", Duration::from_secs(1), || obs.quiet(base, &ROUTES));

    let gobgp = start_gobgp(&gdir, "gobgpd2", up, keel_addr, true, true);
    gobgp_add(&gobgp, &KEPT);
    gobgp.ok(&["neighbor", keel_addr, "enable"]);
    let n = keel.wait_established(up);
    assert_eq!(n["graceful_restart"]["remote"]["restart_state"], true, "GoBGP's R bit with -r: {n}");
    assert_remote_gr(&n, 20, true, true);
    assert_only_withdrawn(&obs, base, &KEPT, 1);
    wait_helper_done(&keel, up);
    assert_eq!(keel_routes(&keel, up).0, sorted(&KEPT));
}

/// kill -9 of gobgpd, started again without `-r`: its OPEN has F=0, so keel deletes the
/// stale routes as the session comes up (RFC 4724 §4.2), the observer loses them.
#[test]
fn gr_helper_gobgp_restart_without_r_flushes() {
    let dir = temp_dir("gr-helper-gobgp-f0");
    let (keel_addr, up, obs_addr) = ("127.0.0.224", "127.0.0.225", "127.0.0.226");
    let keel = start_keel(&dir, keel_addr, up, obs_addr, "");
    let obs = Observer::bird(&dir.sub("observer"), obs_addr, keel_addr);
    let gdir = dir.sub("gobgp");
    let gobgp = start_gobgp(&gdir, "gobgpd", up, keel_addr, false, false);
    gobgp_add(&gobgp, &ROUTES);
    wait_keel_converged(&keel, up, &ROUTES);
    let base = obs.wait_settled(&ROUTES);

    crash(&gobgp.proc);
    wait_helper_active(&keel, up, 3);
    holds_for("the observer while GoBGP is away", Duration::from_secs(1), || obs.quiet(base, &ROUTES));

    let gobgp = start_gobgp(&gdir, "gobgpd2", up, keel_addr, false, true);
    gobgp.ok(&["neighbor", keel_addr, "enable"]);
    let n = keel.wait_established(up);
    assert_remote_gr(&n, 20, true, false);
    wait_helper_done(&keel, up);
    let log = keel_log(&keel);
    assert_eq!(log.matches("stale routes flushed: F bit clear in the new OPEN").count(), 2, "keel's reason:\n{log}");
    wait_for("the observer to lose every route", DEADLINE, || {
        let (have, s) = (obs.prefixes(), obs.seen());
        let ok = have.is_empty() && s.withdraws == base.withdraws + 3 && s.updates == base.updates;
        ok.then_some(()).ok_or_else(|| format!("{have:?} {s:?} (before {base:?})"))
    });
    gobgp_add(&gobgp, &KEPT);
    wait_keel_converged(&keel, up, &KEPT);
    obs.wait_settled(&KEPT);
}

// ---------------------------------------------------------------------------------------------
// ExaBGP: exact sequences

/// ExaBGP back without the graceful-restart capability (and without End-of-RIB): keel
/// deletes the stale routes as the OPEN arrives (RFC 4724 §4.2); the observer (GoBGP, keel
/// its route server so the documentation next hops pass) loses the route that did not come
/// back.
#[test]
fn gr_helper_exabgp_no_capability_in_new_open() {
    let dir = temp_dir("gr-helper-exa-nocap");
    let (keel_addr, up, obs_addr) = ("127.0.0.231", "127.0.0.232", "127.0.0.233");
    let keel = start_keel_with(&dir, keel_addr, up, obs_addr, "", "route_server_client = true\n");
    let obs = Observer::gobgp(&dir.sub("observer"), obs_addr, keel_addr);
    let edir = dir.sub("exabgp");
    let exa = start_exabgp(&edir, "exabgp", up, keel_addr, &ROUTES, "graceful-restart 20;", "");
    let n = wait_keel_converged(&keel, up, &ROUTES);
    assert_remote_gr(&n, 20, false, true);
    let base = obs.wait_settled(&ROUTES);

    crash(&exa.proc);
    let n = wait_helper_active(&keel, up, 3);
    assert_keeps(&keel, up, &n, 20);
    holds_for("the observer while ExaBGP is away", Duration::from_secs(1), || obs.quiet(base, &ROUTES));

    let _exa = start_exabgp(&edir, "exabgp2", up, keel_addr, &KEPT, "", "manual-eor true;");
    let n = keel.wait_established(up);
    assert_eq!(n["graceful_restart"]["remote"], Value::Null, "{n}");
    let n = wait_helper_done(&keel, up);
    assert_eq!(families(&n["graceful_restart"]["end_of_rib_received"]), Vec::<String>::new(), "{n}");
    let log = keel_log(&keel);
    assert_eq!(
        log.matches("stale routes flushed: no graceful restart capability in the new OPEN").count(),
        2,
        "keel's reason:\n{log}"
    );
    wait_for("the observer to hold only the routes that came back", DEADLINE, || {
        let (have, s) = (obs.prefixes(), obs.seen());
        (have == sorted(&KEPT) && s.withdraws > base.withdraws).then_some(()).ok_or_else(|| format!("{have:?} {s:?}"))
    });
    wait_for("keel to hold the routes sent again", DEADLINE, || {
        let r = keel_routes(&keel, up);
        (r == (sorted(&KEPT), 0)).then_some(()).ok_or_else(|| format!("{r:?}"))
    });
}

/// ExaBGP back with F=1 but never sending End-of-RIB (`manual-eor true`): keel keeps the
/// stale route that did not come back until `stale_routes_time` (3 s) ends, then withdraws
/// exactly it; the observer hears nothing before that.
#[test]
fn gr_helper_exabgp_no_end_of_rib_stale_timer() {
    let dir = temp_dir("gr-helper-exa-noeor");
    let (keel_addr, up, obs_addr) = ("127.0.0.217", "127.0.0.218", "127.0.0.219");
    let keel = start_keel(&dir, keel_addr, up, obs_addr, "stale_routes_time = 3\n");
    let obs = Observer::bird(&dir.sub("observer"), obs_addr, keel_addr);
    let edir = dir.sub("exabgp");
    let exa = start_exabgp(&edir, "exabgp", up, keel_addr, &ROUTES, "graceful-restart 20;", "");
    wait_keel_converged(&keel, up, &ROUTES);
    let base = obs.wait_settled(&ROUTES);

    crash(&exa.proc);
    let n = wait_helper_active(&keel, up, 3);
    assert_keeps(&keel, up, &n, 20);
    holds_for("the observer while ExaBGP is away", Duration::from_secs(1), || obs.quiet(base, &ROUTES));

    let _exa = start_exabgp(&edir, "exabgp2", up, keel_addr, &KEPT, "graceful-restart 20;", "manual-eor true;");
    keel.wait_established(up);
    let back = Instant::now();
    // The two routes sent again are fresh, the third still stale, the stale timer runs.
    let n = wait_helper_active(&keel, up, 1);
    let t = n["graceful_restart"]["timers"]["stale_routes"].as_u64();
    assert!(t.is_some_and(|t| t <= 3), "stale_routes timer: {n}");
    assert_eq!(n["graceful_restart"]["timers"]["restart"], Value::Null, "restart timer stopped: {n}");
    let stale = keel.routes("stale=true");
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert_eq!(stale[0]["prefix"], "203.0.113.128/25", "{stale:?}");
    obs.quiet(base, &ROUTES).unwrap();

    assert_only_withdrawn(&obs, base, &KEPT, 1);
    let waited = back.elapsed();
    assert!(waited >= Duration::from_millis(2500), "stale routes went after {waited:?}, before stale_routes_time");
    let n = wait_helper_done(&keel, up);
    assert_eq!(families(&n["graceful_restart"]["end_of_rib_received"]), Vec::<String>::new(), "{n}");
    assert!(keel_log(&keel).contains("stale timer expired before End-of-RIB"), "keel's reason");
    assert_eq!(keel_routes(&keel, up), (sorted(&KEPT), 0));
}

/// ExaBGP (restart time 3 s) killed and not started again: keel keeps its routes for 3 s,
/// then withdraws them all (RFC 4724 §4.2); the observer hears nothing before.
#[test]
fn gr_helper_exabgp_restart_timer_expires() {
    let dir = temp_dir("gr-helper-exa-timer");
    let (keel_addr, up, obs_addr) = ("127.0.0.227", "127.0.0.228", "127.0.0.229");
    let keel = start_keel(&dir, keel_addr, up, obs_addr, "");
    let obs = Observer::bird(&dir.sub("observer"), obs_addr, keel_addr);
    let exa = start_exabgp(&dir.sub("exabgp"), "exabgp", up, keel_addr, &ROUTES, "graceful-restart 3;", "");
    let n = wait_keel_converged(&keel, up, &ROUTES);
    assert_remote_gr(&n, 3, false, true);
    let base = obs.wait_settled(&ROUTES);

    crash(&exa.proc);
    let gone = Instant::now();
    let n = wait_helper_active(&keel, up, 3);
    assert_keeps(&keel, up, &n, 3);
    holds_for("the observer while ExaBGP is away", Duration::from_millis(1500), || obs.quiet(base, &ROUTES));
    wait_for("the observer to lose every route", DEADLINE, || {
        let (have, s) = (obs.prefixes(), obs.seen());
        let ok = have.is_empty() && s.withdraws == base.withdraws + 3 && s.updates == base.updates;
        ok.then_some(()).ok_or_else(|| format!("{have:?} {s:?} (before {base:?})"))
    });
    let waited = gone.elapsed();
    assert!(waited >= Duration::from_millis(2500), "routes went after {waited:?}, before the restart time");
    let n = wait_helper_done(&keel, up);
    assert_eq!(n["received_prefixes"], 0, "{n}");
    assert!(keel_log(&keel).contains("restart timer expired before the neighbor came back"), "keel's reason");
}
