//! Graceful restart, helper side (RFC 4724 §4.2, RFC 8538), keeld between keeld peers: a
//! neighbor's restart moves nothing downstream.
//!
//! ```text
//!  b (65062, restarts) --> a (65061, helper) --> c (65063, observer)
//! ```

use crate::common::*;
use keel_lab::speaker::{self, SpeakerConfig};
use keel_wire::capability::{GracefulRestart, GracefulRestartFamily};
use keel_wire::{CodecOptions, Family, Message, NextHop, Nlri, PathAttributes, Update};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

const ALL: &str = "import = \"all\"\nexport = \"all\"";

/// The helper, with the restarting neighbor `b` and the observer `c`.
fn start_a(test: &str, me: u8, b: u8, c: u8, global: &str) -> Keeld {
    let ns = [b, c].map(|last| Neighbor { last, asn: 65000 + last as u32, extra: ALL });
    let a = keeld_with(test, me, 65000 + me as u32, &ns, global, &[]);
    wait_for("a's API", WAIT, || json(&a.api(), &["show", "neighbors", "--json"]));
    a
}

fn start_b(test: &str, me: u8, a: u8, global: &str, networks: &[&str]) -> Keeld {
    keeld_with(
        test,
        me,
        65000 + me as u32,
        &[Neighbor { last: a, asn: 65000 + a as u32, extra: ALL }],
        global,
        networks,
    )
}

/// UPDATEs c received from a so far.
fn updates_at_c(c: &Keeld, a: u8) -> u64 {
    neighbor(&c.api(), &format!("127.0.0.{a}"))["updates_received"].as_u64().unwrap_or(0)
}

#[test]
fn neighbor_restart_causes_no_update_downstream_and_eor_sweeps_what_is_gone() {
    let a = start_a("grh", 61, 62, 63, "");
    let c = keeld_with("grh", 63, 65063, &[Neighbor { last: 61, asn: 65061, extra: ALL }], "", &[]);
    let b = start_b("grh", 62, 61, "", &["198.51.100.0/24", "203.0.113.0/24"]);
    wait_for("both routes at c", WAIT, || Some(()).filter(|_| routes(&c.api(), &[]).len() == 2));
    let n = established(&a.api(), "127.0.0.62");
    assert_eq!(n["graceful_restart"]["remote"]["restart_time"], 120);
    std::thread::sleep(Duration::from_millis(300));
    let before = updates_at_c(&c, 61);

    // b crashes: a keeps its routes as stale, c hears nothing.
    drop(b);
    let n = wait_for("helper active", WAIT, || {
        Some(neighbor(&a.api(), "127.0.0.62")).filter(|n| n["graceful_restart"]["helper_active"] == true)
    });
    assert_eq!(n["stale_prefixes"], 2);
    assert!(n["graceful_restart"]["timers"]["restart"].as_u64().is_some_and(|t| t > 100 && t <= 120), "{n}");
    assert_eq!(routes(&a.api(), &["--stale"]).len(), 2);
    assert_eq!(routes(&c.api(), &[]).len(), 2);

    // b is back with one of the two routes: after its End-of-RIB the other is withdrawn,
    // and that withdrawal is the only UPDATE c sees.
    let _b = start_b("grh", 62, 61, "", &["198.51.100.0/24"]);
    wait_for("sweep", WAIT, || Some(()).filter(|_| routes(&c.api(), &[]).len() == 1));
    let n = wait_for("helper done", WAIT, || {
        Some(neighbor(&a.api(), "127.0.0.62")).filter(|n| n["graceful_restart"]["helper_active"] == false)
    });
    assert_eq!((n["stale_prefixes"].as_u64(), n["received_prefixes"].as_u64()), (Some(0), Some(1)));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(updates_at_c(&c, 61) - before, 1, "only the withdrawal of the route that went away");
    assert_eq!(routes(&c.api(), &[])[0]["prefix"], "198.51.100.0/24");
}

#[test]
fn restart_timer_expiry_withdraws_and_hard_reset_flushes_at_once() {
    let a = start_a("grt", 64, 65, 66, "");
    let c = keeld_with("grt", 66, 65066, &[Neighbor { last: 64, asn: 65064, extra: ALL }], "", &[]);
    // b advertises a 2 s restart time.
    let b = start_b("grt", 65, 64, "[graceful_restart]\nrestart_time = 2", &["198.51.100.0/24"]);
    wait_for("route at c", WAIT, || Some(()).filter(|_| routes(&c.api(), &[]).len() == 1));
    drop(b);
    wait_for("helper active", WAIT, || {
        Some(()).filter(|_| neighbor(&a.api(), "127.0.0.65")["graceful_restart"]["helper_active"] == true)
    });
    assert_eq!(routes(&c.api(), &[]).len(), 1, "kept while the restart timer runs");
    wait_for("withdrawn at c after the restart time", WAIT, || Some(()).filter(|_| routes(&c.api(), &[]).is_empty()));

    // Hard Reset (stop --withdraw with N exchanged): no retention at all.
    let b = start_b("grt", 65, 64, "", &["198.51.100.0/24"]);
    wait_for("route at c again", WAIT, || Some(()).filter(|_| routes(&c.api(), &[]).len() == 1));
    let (ok, _) = keel(&b.api(), &["stop", "--withdraw"]);
    assert!(ok);
    wait_for("flushed", WAIT, || Some(()).filter(|_| routes(&c.api(), &[]).is_empty()));
    let n = neighbor(&a.api(), "127.0.0.65");
    assert_eq!(n["graceful_restart"]["helper_active"], false);
    assert_eq!(n["last_notification_received"]["subcode"], 9);
}

#[test]
fn graceful_reset_with_n_keeps_routes_on_both_sides() {
    let a = start_a("grr", 67, 68, 69, "");
    let c = keeld_with("grr", 69, 65069, &[Neighbor { last: 67, asn: 65067, extra: ALL }], "", &[]);
    let b = start_b("grr", 68, 67, "", &["198.51.100.0/24"]);
    wait_for("route at c", WAIT, || Some(()).filter(|_| routes(&c.api(), &[]).len() == 1));
    std::thread::sleep(Duration::from_millis(300));
    let before = updates_at_c(&c, 67);
    // `keel clear neighbor` = Cease/Administrative Reset: graceful with N (RFC 8538 §5.1).
    let (ok, _) = keel(&b.api(), &["clear", "neighbor", "127.0.0.67"]);
    assert!(ok);
    wait_for("re-established", WAIT, || {
        Some(neighbor(&a.api(), "127.0.0.68"))
            .filter(|n| n["established_transitions"] == 2 && n["graceful_restart"]["helper_active"] == false)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(updates_at_c(&c, 67), before, "no UPDATE downstream");
    assert_eq!(routes(&c.api(), &[]).len(), 1);
}

fn gr_cap() -> GracefulRestart {
    GracefulRestart {
        restart_state: true,
        notification: false,
        restart_time: 120,
        families: vec![GracefulRestartFamily { family: Family::IPV4_UNICAST, forwarding_state: true }],
    }
}

#[test]
fn new_connection_while_established_is_a_restart() {
    let a = start_a("grn", 71, 72, 73, "");
    let c = keeld_with("grn", 73, 65073, &[Neighbor { last: 71, asn: 65071, extra: ALL }], "", &[]);
    let cfg = SpeakerConfig {
        local: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 72)),
        remote: SocketAddr::from(([127, 0, 0, 71], 179)),
        asn: 65072,
        router_id: Ipv4Addr::new(192, 0, 2, 72),
        hold_time: 90,
        families: vec![Family::IPV4_UNICAST],
        graceful_restart: Some(gr_cap()),
        long_lived: Vec::new(),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let route = |p: &str| {
        let attrs = PathAttributes {
            origin: Some(keel_wire::Origin::Igp),
            as_path: Some(keel_wire::AsPath::sequence(vec![65072])),
            ..Default::default()
        };
        let mut out = Vec::new();
        keel_wire::builder::announce(
            Family::IPV4_UNICAST,
            &attrs,
            NextHop::V4(Ipv4Addr::new(127, 0, 0, 72)),
            &[Nlri::new(p.parse().unwrap())],
            &CodecOptions::default(),
            &mut out,
        )
        .unwrap();
        out.extend(Update::end_of_rib(Family::IPV4_UNICAST).encode(&CodecOptions::default()).unwrap());
        out
    };
    let (_rd1, mut wr1) = rt.block_on(async {
        let (rd, mut wr, _) = speaker::connect(&cfg).await.expect("first session");
        wr.send(&route("198.51.100.0/24")).await.unwrap();
        (rd, wr)
    });
    wait_for("route at c", WAIT, || Some(()).filter(|_| routes(&c.api(), &[]).len() == 1));
    std::thread::sleep(Duration::from_millis(300));
    let before = updates_at_c(&c, 71);
    // The "rebooted" neighbor connects again; the old connection is still open.
    rt.block_on(async {
        let (mut rd2, mut wr2, _) = speaker::connect(&cfg).await.expect("second session accepted");
        wr2.send(&route("198.51.100.0/24")).await.unwrap();
        tokio::spawn(async move {
            while let Ok(Some(m)) = rd2.next().await {
                let _: Message = m;
            }
        });
        std::mem::forget(wr2);
    });
    let n = wait_for("restart handled", WAIT, || {
        Some(neighbor(&a.api(), "127.0.0.72"))
            .filter(|n| n["established_transitions"] == 2 && n["state"] == "established")
    });
    assert_eq!(n["received_prefixes"], 1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(updates_at_c(&c, 71), before, "no UPDATE downstream");
    // The old connection was closed without a NOTIFICATION.
    assert!(n["last_notification_sent"].is_null(), "{n}");
    let _ = rt.block_on(wr1.keepalive());
}

/// Issue 16, defect 2: a connection from a graceful-restart neighbor's address that sends no
/// OPEN (a port check, a half-written header) is no restart (RFC 4724 §4.2 keys the restart on
/// a new OPEN). keeld used to drop the Established session 200 ms after such a connect, without
/// a NOTIFICATION, and mark the neighbor's routes stale.
#[test]
fn bare_connection_does_not_reset_graceful_restart_neighbor() {
    let a = keeld_with("grbare", 84, 65084, &[Neighbor { last: 85, asn: 65085, extra: ALL }], "", &[]);
    wait_for("a's API", WAIT, || json(&a.api(), &["show", "neighbors", "--json"]));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cfg = session::speaker_config(85, 84, Some(gr_cap()));
    let s = rt.block_on(session::keep_session(&cfg, &session::announce(85, "198.51.100.0/24")));
    let n = wait_for("route received", WAIT, || {
        Some(neighbor(&a.api(), "127.0.0.85")).filter(|n| n["state"] == "established" && n["received_prefixes"] == 1)
    });
    assert_eq!(n["established_transitions"], 1, "{n}");
    assert!(n["graceful_restart"]["remote"].is_object(), "GR negotiated: {n}");

    // Connections that send nothing, half a marker, a marker without length and type. Each
    // is answered (keeld's OPEN, or the close of one a newer connection replaced) before the
    // next: the neighbor task has seen them all.
    let marker = [0xffu8; 16];
    let conns = rt.block_on(async {
        let mut conns = Vec::new();
        for bytes in [&[][..], &marker[..8], &marker[..], &[][..]] {
            let mut c = session::bare_connect(85, 84, bytes).await;
            session::read_some(&mut c, 19).await;
            conns.push(c);
        }
        conns
    });

    // The old code took the session down 200 ms after such a connect: watch well past that.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let mut checks = 0;
    while std::time::Instant::now() < deadline || checks < 5 {
        let n = neighbor(&a.api(), "127.0.0.85");
        assert_eq!(n["state"], "established", "{n}");
        assert_eq!(n["established_transitions"], 1, "session reset by a bare connection: {n}");
        assert_eq!(n["stale_prefixes"], 0, "{n}");
        assert_eq!(n["graceful_restart"]["helper_active"], false, "{n}");
        assert_eq!(n["received_prefixes"], 1, "{n}");
        assert!(routes(&a.api(), &["--stale"]).is_empty());
        checks += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!s.ended.is_finished(), "keeld closed the Established connection");
    drop(conns);
}

/// The other side of the same rule: a real new OPEN from the neighbor on a second connection
/// while the first one still stands is a restart (RFC 4724 §4.2): the old connection closes
/// without a NOTIFICATION, the routes are kept as stale until End-of-RIB on the new session.
#[test]
fn new_open_on_second_connection_keeps_routes_stale_until_end_of_rib() {
    let a = keeld_with("gropen", 86, 65086, &[Neighbor { last: 87, asn: 65087, extra: ALL }], "", &[]);
    wait_for("a's API", WAIT, || json(&a.api(), &["show", "neighbors", "--json"]));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cfg = session::speaker_config(87, 86, Some(gr_cap()));
    let first = rt.block_on(session::keep_session(&cfg, &session::announce(87, "198.51.100.0/24")));
    wait_for("route received", WAIT, || {
        Some(neighbor(&a.api(), "127.0.0.87")).filter(|n| n["state"] == "established" && n["received_prefixes"] == 1)
    });

    // The neighbor "rebooted": a new session, no routes yet.
    let second = rt.block_on(session::keep_session(&cfg, &[]));
    let n = wait_for("restart handled", WAIT, || {
        Some(neighbor(&a.api(), "127.0.0.87"))
            .filter(|n| n["established_transitions"] == 2 && n["state"] == "established")
    });
    assert_eq!(n["stale_prefixes"], 1, "routes kept as stale: {n}");
    assert_eq!(n["graceful_restart"]["helper_active"], true, "{n}");
    assert_eq!(routes(&a.api(), &["--stale"]).len(), 1);
    let notified = rt.block_on(async { tokio::time::timeout(Duration::from_secs(20), first.ended).await });
    assert_eq!(notified.ok().and_then(|r| r.ok()), Some(false), "old connection closed without a NOTIFICATION");

    // End-of-RIB on the new session ends the helper's work.
    second.send(session::announce(87, "198.51.100.0/24"));
    let n = wait_for("helper done", WAIT, || {
        Some(neighbor(&a.api(), "127.0.0.87")).filter(|n| n["graceful_restart"]["helper_active"] == false)
    });
    assert_eq!((n["stale_prefixes"].as_u64(), n["received_prefixes"].as_u64()), (Some(0), Some(1)), "{n}");
    assert!(n["last_notification_sent"].is_null(), "{n}");
    assert!(!second.ended.is_finished());
}

/// A collision the neighbor resolves (RFC 4271 §6.8): keel is Established on the first
/// connection, the neighbor's second connection sends its OPEN, and the neighbor closes the
/// first one with Cease/Connection Collision Resolution (as BIRD does). The second connection
/// carries on as the session: its routes are taken and its keepalive timer runs. Before the
/// fix, the old session's end (its timers stopped, its SessionDown) was applied after the new
/// session came up: the RIB took the neighbor as down and ignored its routes, and keel sent no
/// KEEPALIVE on the new session.
#[test]
fn collision_resolved_by_the_neighbor_keeps_the_second_connection() {
    let a = keeld_with("grcoll", 76, 65076, &[Neighbor { last: 77, asn: 65077, extra: ALL }], "", &[]);
    wait_for("a's API", WAIT, || json(&a.api(), &["show", "neighbors", "--json"]));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cfg = session::speaker_config(77, 76, Some(gr_cap()));
    let first = rt.block_on(session::keep_session(&cfg, &[]));
    wait_for("first session", WAIT, || Some(neighbor(&a.api(), "127.0.0.77")).filter(|n| n["state"] == "established"));

    let codec = keel_wire::CodecOptions::default();
    let open = keel_wire::Message::Open(cfg.open()).encode(&codec).expect("encode OPEN");
    let cease = keel_wire::Message::Notification(keel_wire::Notification::new(6, 7, Vec::new()))
        .encode(&codec)
        .expect("encode NOTIFICATION");
    let keepalive = keel_wire::Message::Keepalive.encode(&codec).expect("encode KEEPALIVE");
    let (keepalives, _second) = rt.block_on(async {
        use tokio::io::AsyncWriteExt;
        let mut second = session::bare_connect(77, 76, &open).await;
        // keel's OPEN on the second connection: the neighbor's OPEN is in.
        session::read_some(&mut second, 19).await;
        first.send(cease);
        tokio::time::sleep(Duration::from_millis(50)).await;
        second.write_all(&keepalive).await.expect("KEEPALIVE");
        second.write_all(&session::announce(77, "198.51.100.0/24")).await.expect("UPDATE");
        // Keep the session for 5 s (hold time 9: keel's KEEPALIVE every 3 s); count keel's.
        let mut seen = 0;
        let until = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        while tokio::time::Instant::now() < until {
            tick.tick().await;
            second.write_all(&keepalive).await.expect("KEEPALIVE");
            let (bytes, closed) = tokio::time::timeout(Duration::from_millis(900), session::read_some(&mut second, 19))
                .await
                .unwrap_or((Vec::new(), false));
            seen += session::messages(&bytes).iter().filter(|(t, _)| *t == 4).count();
            assert!(!closed, "keel closed the second connection");
        }
        (seen, second)
    });
    let n = neighbor(&a.api(), "127.0.0.77");
    assert_eq!(n["state"], "established", "{n}");
    assert_eq!(n["received_prefixes"], 1, "the new session's route was not taken: {n}");
    assert!(keepalives >= 2, "keel sent {keepalives} KEEPALIVEs in 5 s on the new session: {n}");
}
