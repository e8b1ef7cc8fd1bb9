//! Prefix limits (`[neighbor.prefix_limit]`, RFC 4486 §4, RFC 8538 §5.1) against a scripted
//! leaking neighbor: the NOTIFICATION's bytes, nothing past the limit reaching an observer, the
//! routes already accepted flushed with the session, no new session before `restart_after`;
//! and `action = "warn"`, which keeps the session and every route.
//!
//! ```text
//!  leaker .11 (passive towards keeld) --> keeld .10 --> observer .12
//!  leaker .14 --> keeld .13   (warn, then Hard Reset with the N bit)
//! ```

use crate::common::*;
use keel_lab::speaker;
use keel_wire::capability::GracefulRestart;
use keel_wire::{CodecOptions, Family, Message, NextHop, Nlri, PathAttributes};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One UPDATE from 127.0.0.`me` announcing 10.`first`.0.0/16 .. 10.`first + n - 1`.0.0/16.
fn announce_many(me: u8, first: u8, n: u8) -> Vec<u8> {
    let attrs = PathAttributes {
        origin: Some(keel_wire::Origin::Igp),
        as_path: Some(keel_wire::AsPath::sequence(vec![65000 + me as u32])),
        ..Default::default()
    };
    let nlri: Vec<Nlri> =
        (first..first + n).map(|i| Nlri::new(format!("10.{i}.0.0/16").parse().expect("prefix"))).collect();
    let mut out = Vec::new();
    keel_wire::builder::announce(
        Family::IPV4_UNICAST,
        &attrs,
        NextHop::V4(Ipv4Addr::new(127, 0, 0, me)),
        &nlri,
        &CodecOptions::default(),
        &mut out,
    )
    .expect("encode UPDATE");
    out
}

fn limit(extra: &str) -> String {
    format!("passive = true\n[neighbor.prefix_limit]\nmax = {{ ipv4-unicast = 3 }}\nwarning_percent = 60\n{extra}\n")
}

/// Reads what keeld sends until it closes the connection (20 s at most): the NOTIFICATIONs'
/// bodies (code, subcode, data).
async fn notifications_until_close(rd: &mut speaker::SessionReader) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(m)) = rd.next().await {
            if let Message::Notification(n) = m {
                let mut b = vec![n.code, n.subcode];
                b.extend(n.data);
                out.push(b);
            }
        }
    })
    .await;
    assert!(r.is_ok(), "keeld did not close the session");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_sends_cease_6_1_flushes_and_waits_restart_after() {
    let leaker = Neighbor {
        last: 11,
        asn: 65011,
        extra: &format!("import = \"all\"\nexport = \"all\"\n{}", limit("restart_after = 3")),
    };
    let observer = Neighbor { last: 12, asn: 65012, extra: "import = \"all\"\nexport = \"all\"\npassive = true\n" };
    let k = keeld_with("plimit", 10, 65010, &[leaker, observer], "", &[]);
    wait_for("keeld's API", WAIT, || json(&k.api(), &["show", "neighbors", "--json"]));

    // The observer records every prefix keeld ever announces to it, and what it has now.
    let (mut ord, mut owr, _) = speaker::connect(&session::speaker_config(12, 10, None)).await.expect("observer");
    let seen: Arc<Mutex<(BTreeSet<String>, BTreeSet<String>)>> = Arc::default();
    let log = seen.clone();
    let observer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => { if owr.keepalive().await.is_err() { return; } }
                m = ord.next() => match m {
                    Ok(Some(Message::Update(u))) => {
                        let mut s = log.lock().unwrap_or_else(|e| e.into_inner());
                        for (_, n) in u.withdrawn_routes() {
                            s.1.remove(&n.prefix.to_string());
                        }
                        for n in &u.announced {
                            s.0.insert(n.prefix.to_string());
                            s.1.insert(n.prefix.to_string());
                        }
                    }
                    Ok(Some(_)) => {}
                    _ => return,
                },
            }
        }
    });
    let now_at_observer = |seen: &Arc<Mutex<(BTreeSet<String>, BTreeSet<String>)>>| {
        seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    };

    // Three routes: at the limit, accepted and passed on.
    let (mut rd, mut wr, _) = speaker::connect(&session::speaker_config(11, 10, None)).await.expect("leaker");
    wr.send(&announce_many(11, 1, 3)).await.expect("send");
    wait_for("three routes at the observer", WAIT, || Some(()).filter(|_| now_at_observer(&seen).1.len() == 3));
    let n = neighbor(&k.api(), "127.0.0.11");
    assert_eq!(n["prefix_limit"]["ipv4-unicast"]["count"], 3, "{n}");
    assert_eq!(n["prefix_limit"]["ipv4-unicast"]["warning_crossed"], true, "{n}");

    // Two more in one UPDATE: over the limit. RFC 4486 §4 data: AFI 1, SAFI 1, limit 3.
    wr.send(&announce_many(11, 4, 2)).await.expect("send");
    let got = notifications_until_close(&mut rd).await;
    let closed_at = Instant::now();
    assert_eq!(got, vec![vec![6, 1, 0, 1, 1, 0, 0, 0, 3]], "Cease/Maximum Number of Prefixes Reached");

    // The observer never saw 10.4/16 or 10.5/16, and the three accepted ones are withdrawn.
    wait_for("the leaker's routes withdrawn at the observer", WAIT, || {
        Some(()).filter(|_| now_at_observer(&seen).1.is_empty())
    });
    let (ever, _) = now_at_observer(&seen);
    assert!(!ever.contains("10.4.0.0/16") && !ever.contains("10.5.0.0/16"), "past the limit: {ever:?}");
    assert!(routes(&k.api(), &[]).is_empty(), "keeld keeps nothing of the leaker");
    let n = neighbor(&k.api(), "127.0.0.11");
    assert!(n["prefix_limit"]["ipv4-unicast"]["tripped_at"].is_u64(), "{n}");
    assert_eq!(n["last_notification_sent"]["subcode"], 1, "{n}");

    // No session before restart_after (3 s): every attempt is refused; then one succeeds.
    let mut refused = 0;
    let back = loop {
        let elapsed = closed_at.elapsed();
        assert!(elapsed < Duration::from_secs(20), "no session 20 s after the reset");
        let attempt =
            tokio::time::timeout(Duration::from_secs(2), speaker::connect(&session::speaker_config(11, 10, None)))
                .await;
        match attempt {
            Ok(Ok((rd, wr, _))) => break (elapsed, rd, wr),
            _ => {
                refused += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    // The NOTIFICATION was read a little after the reset: allow that much.
    assert!(back.0 >= Duration::from_millis(2800), "session back {:?} after the reset (restart_after 3 s)", back.0);
    assert!(refused >= 3, "only {refused} attempts were refused before");
    drop(back);
    observer.abort();
}

/// `action = "warn"`: the session stays and every route is kept; then, with the N bit
/// exchanged (both sides' GR capability with N, RFC 8538 §2), the reset is a Hard Reset
/// wrapping the 6/1 NOTIFICATION (RFC 8538 §3, §5.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warn_keeps_routes_and_hard_reset_wraps_6_1() {
    let extra = format!("import = \"all\"\nexport = \"all\"\n{}", limit("action = \"warn\""));
    let k = keeld_with("plimit-warn", 13, 65013, &[Neighbor { last: 14, asn: 65014, extra: &extra }], "", &[]);
    wait_for("keeld's API", WAIT, || json(&k.api(), &["show", "neighbors", "--json"]));
    let (mut rd, mut wr, _) = speaker::connect(&session::speaker_config(14, 13, None)).await.expect("leaker");
    wr.send(&announce_many(14, 1, 5)).await.expect("send");
    let n = wait_for("five routes kept", WAIT, || {
        Some(neighbor(&k.api(), "127.0.0.14")).filter(|n| n["received_prefixes"] == 5)
    });
    let v4 = &n["prefix_limit"]["ipv4-unicast"];
    assert_eq!(
        (v4["count"].as_u64(), v4["max"].as_u64(), v4["warning_crossed"].as_bool()),
        (Some(5), Some(3), Some(true)),
        "{n}"
    );
    assert!(v4["tripped_at"].is_u64() && v4["restart_in"].is_null(), "{n}");
    assert_eq!(n["state"], "established");
    // Still up a moment later, KEEPALIVEs flowing.
    wr.keepalive().await.expect("keepalive");
    let r = tokio::time::timeout(Duration::from_millis(1500), rd.next()).await;
    assert!(!matches!(r, Ok(Ok(Some(Message::Notification(_))))), "warn mode sent a NOTIFICATION");
    drop((rd, wr));
    drop(k);

    // Reset, N bit exchanged: Cease/Hard Reset whose data is 6, 1 and the 6/1 data.
    let extra = format!("import = \"all\"\nexport = \"all\"\n{}", limit("restart_after = 0"));
    let k = keeld_with("plimit-hard", 13, 65013, &[Neighbor { last: 14, asn: 65014, extra: &extra }], "", &[]);
    wait_for("keeld's API", WAIT, || json(&k.api(), &["show", "neighbors", "--json"]));
    let gr = GracefulRestart { restart_state: false, notification: true, restart_time: 120, families: Vec::new() };
    let cfg = session::speaker_config(14, 13, Some(gr));
    let (mut rd, mut wr, _) = wait_for_async_connect(&cfg).await;
    wr.send(&announce_many(14, 1, 4)).await.expect("send");
    let got = notifications_until_close(&mut rd).await;
    assert_eq!(got, vec![vec![6, 9, 6, 1, 0, 1, 1, 0, 0, 0, 3]], "Hard Reset wrapping 6/1");
    // restart_after = 0: only `keel clear neighbor` brings it back.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let refused = tokio::time::timeout(Duration::from_secs(2), speaker::connect(&cfg)).await;
    assert!(!matches!(refused, Ok(Ok(_))), "accepted before keel clear neighbor");
    let (ok, out) = keel(&k.api(), &["clear", "neighbor", "127.0.0.14"]);
    assert!(ok, "{out}");
    let _ = wait_for_async_connect(&cfg).await;
}

/// Connects until keeld takes the session (10 s).
async fn wait_for_async_connect(
    cfg: &keel_lab::speaker::SpeakerConfig,
) -> (speaker::SessionReader, speaker::SessionWriter, keel_wire::Open) {
    let start = Instant::now();
    loop {
        if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(2), speaker::connect(cfg)).await {
            return s;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "keeld did not take the session");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A real BIRD 2 leaks five routes against a limit of three: keel ends the session with Cease /
/// Maximum Number of Prefixes Reached (BIRD logs the reason), installs none of the five, and
/// with `restart_after = 0` keeps BIRD out until `keel clear neighbor`, after which the session
/// comes back and trips again.
#[test]
fn a_leaking_bird_is_cut_off_with_the_rfc_4486_cease() {
    use keel_lab::daemons::bird::{static_routes, Bird, BirdSession, BirdStart};
    const KEEL: &str = "127.0.5.40";
    const BIRD: &str = "127.0.5.41";
    let dir = test_dir("prefix-limit-bird");
    let keel_dir = dir.join("keel");
    let config = format!(
        "[global]\nasn = 65040\nrouter_id = \"192.0.2.40\"\nlisten = [\"{KEEL}:179\"]\napi = \"{}\"\nstate_dir = \"{}\"\n\
         [[neighbor]]\naddress = \"{BIRD}\"\nasn = 65041\nlocal_address = \"{KEEL}\"\nhold_time = 9\nconnect_retry_time = 1\n\
         import = \"all\"\nexport = \"all\"\n\
         [neighbor.prefix_limit]\nmax = {{ ipv4-unicast = 3 }}\nrestart_after = 0\n",
        keel_dir.join("keel.sock").display(),
        keel_dir.display()
    );
    let keeld = start_with_config(keel_dir, &config);
    let bird_dir = dir.join("bird");
    std::fs::create_dir_all(&bird_dir).unwrap();
    let session = BirdSession {
        local: BIRD,
        asn: 65041,
        keel: KEEL,
        keel_asn: 65040,
        hold_time: 9,
        lines: "",
        ipv4: "import all; export all; next hop self;",
        ipv6: "import none; export none;",
    };
    let routes: Vec<String> = (1..=5).map(|i| format!("10.{i}.0.0/16")).collect();
    let routes: Vec<&str> = routes.iter().map(String::as_str).collect();
    let body = static_routes("leak", "ipv4", &routes) + &session.conf();
    let bird = Bird::start(
        &bird_dir,
        &body,
        &BirdStart { name: "bird", router_id: "192.0.2.41", device: "", recovery: false, netns: None },
    );
    let tripped = wait_for("the limit to trip", WAIT, || {
        let n = neighbor(&keeld.api(), BIRD);
        let sent = &n["last_notification_sent"];
        let cease_6_1 =
            sent["code"] == 6 && (sent["subcode"] == 1 || sent["hard_reset_inner"] == serde_json::json!([6, 1]));
        if cease_6_1 && !n["prefix_limit"]["ipv4-unicast"]["tripped_at"].is_null() {
            Ok(n)
        } else {
            Err(n.to_string())
        }
    });
    assert_eq!(tripped["prefix_limit"]["ipv4-unicast"]["restart_in"], Value::Null, "{tripped}");
    wait_for("BIRD to log the reason", WAIT, || {
        let log = std::fs::read_to_string(&bird.log).unwrap_or_default();
        log.contains("Maximum number of prefixes reached").then_some(())
    });
    assert!(routes_from(&keeld.api(), BIRD).is_empty(), "a leaked route reached keel's RIB");
    // restart_after = 0: BIRD keeps trying (connect retry 1 s) and is refused.
    keel_lab::wait::holds_for("BIRD kept out", Duration::from_secs(3), || {
        let n = neighbor(&keeld.api(), BIRD);
        if n["state"] != "established" && n["established_transitions"] == 1 {
            Ok(())
        } else {
            Err(n.to_string())
        }
    });
    let (ok, out) = keel(&keeld.api(), &["clear", "neighbor", BIRD]);
    assert!(ok, "{out}");
    wait_for("the session back, and tripped again", WAIT, || {
        let n = neighbor(&keeld.api(), BIRD);
        if n["established_transitions"].as_u64() >= Some(2) && n["state"] != "established" {
            Ok(())
        } else {
            Err(n.to_string())
        }
    });
    assert!(routes_from(&keeld.api(), BIRD).is_empty(), "a leaked route reached keel's RIB");
}

/// The routes keel holds from `address`.
fn routes_from(api: &std::path::Path, address: &str) -> Vec<Value> {
    routes(api, &["--neighbor", address])
}
