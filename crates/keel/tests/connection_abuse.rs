//! Connections that are not BGP sessions (issue 16): port checks, half-written headers, idle
//! connections, garbage, strangers. None of them may disturb an Established session (RFC 4271
//! §6.8: a new connection is no reason to drop one; RFC 4724 §4.2: only a new OPEN means a
//! graceful-restart neighbor restarted), and keeld closes each in bounded time: strangers at
//! once, a non-GR neighbor's with Cease/Connection Collision Resolution, a GR neighbor's at its
//! first error or after the OpenSent hold time (RFC 4271 §8.2.2, `open_hold_time` here 3 s).
//!
//! ```text
//!  127.0.0.95 (GR speaker) ----\
//!  127.0.0.96 (plain speaker) --+--> keeld 127.0.0.94 (AS 65094)
//!  127.0.0.97, .98 (strangers) -/    and 127.0.0.90 <-- 127.0.0.91 (GR speaker)
//! ```

use crate::common::session::{self, Session};
use crate::common::*;
use keel_wire::capability::{GracefulRestart, GracefulRestartFamily};
use keel_wire::{CodecOptions, Family, Message, Open};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const ALL: &str = "import = \"all\"\nexport = \"all\"";

fn gr_cap() -> GracefulRestart {
    GracefulRestart {
        restart_state: false,
        notification: true,
        restart_time: 120,
        families: vec![GracefulRestartFamily { family: Family::IPV4_UNICAST, forwarding_state: true }],
    }
}

/// Asserts the session with 127.0.0.`last` is the one Established at the start, untouched:
/// same state, no new Established transition, `prefixes` routes, none stale.
fn assert_undisturbed(api: &std::path::Path, last: u8, prefixes: u64) {
    let n = neighbor(api, &format!("127.0.0.{last}"));
    assert_eq!(n["state"], "established", "{n}");
    assert_eq!(n["established_transitions"], 1, "session disturbed: {n}");
    assert_eq!(n["received_prefixes"], prefixes, "{n}");
    assert_eq!(n["stale_prefixes"], 0, "{n}");
}

/// keeld 127.0.0.`me` with the neighbors `gr` (GR speaker, OpenSent hold 3 s) and `plain`
/// (no GR), each Established with one route.
fn start(test: &str, me: u8, gr: u8, plain: Option<u8>, rt: &tokio::runtime::Runtime) -> (Keeld, Vec<Session>) {
    let gr_extra = format!("{ALL}\nopen_hold_time = 3");
    let mut ns = vec![Neighbor { last: gr, asn: 65000 + gr as u32, extra: &gr_extra }];
    ns.extend(plain.map(|last| Neighbor { last, asn: 65000 + last as u32, extra: ALL }));
    let k = keeld_with(test, me, 65000 + me as u32, &ns, "", &[]);
    wait_for("keeld's API", WAIT, || json(&k.api(), &["show", "neighbors", "--json"]));
    let mut sessions = Vec::new();
    for (last, cap, prefix) in
        [(gr, Some(gr_cap()), "198.51.100.0/24")].into_iter().chain(plain.map(|p| (p, None, "203.0.113.0/24")))
    {
        let cfg = session::speaker_config(last, me, cap);
        sessions.push(rt.block_on(session::keep_session(&cfg, &session::announce(last, prefix))));
        wait_for("route received", WAIT, || {
            Some(neighbor(&k.api(), &format!("127.0.0.{last}")))
                .filter(|n| n["state"] == "established" && n["received_prefixes"] == 1)
        });
    }
    let n = neighbor(&k.api(), &format!("127.0.0.{gr}"));
    assert!(n["graceful_restart"]["remote"].is_object(), "GR negotiated: {n}");
    (k, sessions)
}

/// What an abusive connection sends: `first` at once, `later` (if any) once the whole burst is
/// connected (a header split across writes), then nothing more.
struct Abuse {
    first: Vec<u8>,
    later: Vec<u8>,
    /// Half-close right after connecting (a port check that hangs up).
    hang_up: bool,
}

fn abuses() -> Vec<Abuse> {
    let marker = [0xffu8; 16];
    let with = |tail: &[u8]| [&marker[..], tail].concat();
    let a = |first: Vec<u8>, later: Vec<u8>, hang_up| Abuse { first, later, hang_up };
    vec![
        a(Vec::new(), Vec::new(), false),                                  // idle
        a(Vec::new(), Vec::new(), true),                                   // connect, hang up
        a(marker[..8].to_vec(), Vec::new(), false),                        // half a marker
        a(with(&[0, 19]), Vec::new(), false),                              // header without its type
        a(marker[..10].to_vec(), with(&[0, 19, 4])[10..].to_vec(), false), // KEEPALIVE, split
        a(vec![0; 19], Vec::new(), false),                                 // bad marker
        a(with(&[0, 5, 4]), Vec::new(), false),                            // bad length
    ]
}

/// Many connections of every kind from the GR neighbor's address, the plain neighbor's and
/// two strangers', in bursts: both sessions stay as they were, and every connection is closed
/// by keeld in bounded time.
#[test]
fn connection_flood_leaves_established_sessions_alone() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (k, sessions) = start("abuse", 94, 95, Some(96), &rt);
    let api = k.api();
    let routes_before = routes(&api, &[]).len();
    assert_eq!(routes_before, 2);

    const ROUNDS: usize = 8;
    let sources = [95u8, 96, 97, 98];
    let mut conns: Vec<(u8, usize, TcpStream)> = Vec::new();
    for _ in 0..ROUNDS {
        let burst = rt.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for from in sources {
                for (kind, abuse) in abuses().into_iter().enumerate() {
                    set.spawn(async move {
                        let mut c = session::bare_connect(from, 94, &abuse.first).await;
                        if abuse.hang_up {
                            let _ = c.shutdown().await;
                        }
                        (from, kind, c, abuse.later)
                    });
                }
            }
            let mut burst = Vec::new();
            while let Some(r) = set.join_next().await {
                let (from, kind, mut c, later) = r.expect("connect task");
                if !later.is_empty() {
                    // keeld may have closed it already; that is fine.
                    let _ = c.write_all(&later).await;
                }
                burst.push((from, kind, c));
            }
            burst
        });
        conns.extend(burst);
        assert_undisturbed(&api, 95, 1);
        assert_undisturbed(&api, 96, 1);
    }
    assert_eq!(conns.len(), ROUNDS * sources.len() * abuses().len());
    assert!(conns.len() >= 200);
    // The newest connection from the GR neighbor, idle: nothing replaces it, only the OpenSent
    // hold time ends it.
    let mut newest = rt.block_on(session::bare_connect(95, 94, &[]));

    // Every connection ends, keeld closing it: what it got before, per source.
    let answers: Vec<(u8, usize, Vec<u8>)> = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for (from, kind, mut c) in conns {
            set.spawn(async move { (from, kind, session::read_to_close(&mut c).await) });
        }
        let mut out = Vec::new();
        while let Some(r) = set.join_next().await {
            out.push(r.expect("a connection keeld did not close in time"));
        }
        out
    });
    for (from, kind, got) in &answers {
        let types: Vec<u8> = session::messages(got).iter().map(|(t, _)| *t).collect();
        let notes = session::notifications(got);
        match from {
            // Refused at once: not a neighbor.
            97 | 98 => assert!(got.is_empty(), "stranger got {got:?}"),
            // RFC 4271 §6.8: the session is Established, the new connection goes.
            96 => assert_eq!(notes, vec![(6, 7)], "kind {kind}: {types:?}"),
            // keeld's OPEN, then at most the NOTIFICATION for what went wrong on it.
            _ => {
                assert_eq!(types.first(), Some(&1), "kind {kind}: {types:?}");
                assert!(
                    notes.iter().all(|n| [(1, 1), (1, 2), (5, 1), (4, 0)].contains(n)) && notes.len() <= 1,
                    "kind {kind}: {notes:?}"
                );
            }
        }
    }
    let got = rt.block_on(session::read_to_close(&mut newest));
    let types: Vec<u8> = session::messages(&got).iter().map(|(t, _)| *t).collect();
    assert_eq!(types, vec![1, 3], "keeld's OPEN, then Hold Timer Expired");
    assert_eq!(session::notifications(&got), vec![(4, 0)]);

    // Still the same sessions, and they still work.
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        assert_undisturbed(&api, 95, 1);
        assert_undisturbed(&api, 96, 1);
        assert_eq!(routes(&api, &[]).len(), routes_before);
        assert!(routes(&api, &["--stale"]).is_empty());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(json(&api, &["show", "neighbors", "--json"]).is_some(), "API answers");
    assert!(sessions.iter().all(|s| !s.ended.is_finished()), "an Established connection was closed");
    sessions[0].send(session::announce_only(95, "192.0.2.0/24"));
    sessions[1].send(session::announce_only(96, "198.18.0.0/15"));
    wait_for("new routes over both sessions", WAIT, || {
        Some(()).filter(|_| routes(&api, &[]).len() == routes_before + 2)
    });
    assert_undisturbed(&api, 95, 2);
    assert_undisturbed(&api, 96, 2);
}

/// An OPEN message, encoded.
fn open(asn: u32, hold: u16, id: Ipv4Addr) -> Vec<u8> {
    Message::Open(Open::new(asn, hold, id, Vec::new())).encode(&CodecOptions::default()).unwrap()
}

/// One connection at a time from the GR neighbor's address, each with something wrong: each
/// gets keeld's OPEN and then the NOTIFICATION the error calls for (RFC 4271 §6.1, §6.2,
/// RFC 6608 §4), and the Established session is not touched: an OPEN that fails the checks is
/// no restart (RFC 4724 §4.2).
#[test]
fn bad_open_on_second_connection_is_refused_and_session_stays() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (k, sessions) = start("abuseopen", 90, 91, None, &rt);
    let api = k.api();
    let keepalive = Message::Keepalive.encode(&CodecOptions::default()).unwrap();
    let id = Ipv4Addr::new(192, 0, 2, 91);
    let cases: [(&str, Vec<u8>, (u8, u8)); 6] = [
        ("wrong AS", open(65099, 90, id), (2, 2)),
        ("zero BGP Identifier", open(65091, 90, Ipv4Addr::UNSPECIFIED), (2, 3)),
        ("hold time 1", open(65091, 1, id), (2, 6)),
        ("KEEPALIVE first", keepalive.clone(), (5, 1)),
        ("UPDATE first", session::announce_only(91, "192.0.2.0/24"), (5, 1)),
        ("bad marker", vec![0; 19], (1, 1)),
    ];
    for (what, bytes, want) in cases {
        let got = rt.block_on(async {
            let mut c = session::bare_connect(91, 90, &bytes).await;
            session::read_to_close(&mut c).await
        });
        let types: Vec<u8> = session::messages(&got).iter().map(|(t, _)| *t).collect();
        assert_eq!(types.first(), Some(&1), "{what}: keeld's OPEN first, got {types:?}");
        assert_eq!(session::notifications(&got), vec![want], "{what}");
        assert_undisturbed(&api, 91, 1);
    }
    // A good OPEN would have been a restart; these were not, and the session still works.
    std::thread::sleep(Duration::from_millis(300));
    assert_undisturbed(&api, 91, 1);
    assert!(routes(&api, &["--stale"]).is_empty());
    assert!(!sessions[0].ended.is_finished(), "the Established connection was closed");
    sessions[0].send(session::announce_only(91, "192.0.2.0/24"));
    wait_for("new route", WAIT, || Some(()).filter(|_| routes(&api, &[]).len() == 2));
    assert_undisturbed(&api, 91, 2);
}
