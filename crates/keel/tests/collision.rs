//! Connection collisions (RFC 4271 §6.8): of two connections between the same two speakers,
//! the one initiated by the speaker with the higher BGP Identifier stays; the other is closed
//! with Cease / Connection Collision Resolution (6/7) as its next message, and nothing else
//! happens: no FSM Error (RFC 6608), no second session.

use crate::common::session::{self, messages};
use crate::common::*;
use keel_lab::keeld::Keeld;
use keel_wire::{CodecOptions, Message};
use std::net::Ipv4Addr;

/// keeld as 127.0.0.`me` (AS 65000, iBGP) with 127.0.0.`peer` as its one neighbor, connecting
/// out at once.
fn keeld_for(name: &str, me: u8, peer: u8, peer_asn: u32) -> Keeld {
    let dir = test_dir(&format!("collision-{name}-{me}"));
    let config = format!(
        "[global]\nasn = 65000\nrouter_id = \"192.0.2.{me}\"\nlisten = [\"127.0.0.{me}:179\"]\napi = \"{}\"\nstate_dir = \"{}\"\n\
         [graceful_restart]\nmode = \"disabled\"\n\
         [[neighbor]]\naddress = \"127.0.0.{peer}\"\nasn = {peer_asn}\nlocal_address = \"127.0.0.{me}\"\nhold_time = 9\n\
         connect_retry_time = 1\nimport = \"all\"\nexport = \"all\"\n",
        dir.join("keel.sock").display(),
        dir.display()
    );
    let k = Keeld::new(keeld_bin(), dir).expect("keeld's directory").remove_dir_on_drop();
    k.write_config(&config).expect("config");
    k
}

/// Two keelds started back to back, 20 times: each time one session, no FSM error, and only
/// Cease/Connection Collision Resolution may close a connection.
#[test]
fn simultaneous_starts_end_with_one_session_and_no_fsm_error() {
    preflight();
    for round in 0..20 {
        let name = round.to_string();
        let (mut a, mut b) = (keeld_for(&name, 15, 16, 65000), keeld_for(&name, 16, 15, 65000));
        // From this thread (a child dies with the thread that spawned it); both connect out as
        // soon as they run.
        a.start().expect("keeld A");
        b.start().expect("keeld B");
        established(&a.api(), "127.0.0.16");
        established(&b.api(), "127.0.0.15");
        // A second session would come up within a connect retry (1 s).
        std::thread::sleep(std::time::Duration::from_millis(1500));
        for (who, k, peer) in [("A", &a, "127.0.0.16"), ("B", &b, "127.0.0.15")] {
            let v = json(&k.api(), &["show", "neighbor", peer, "--json"]).expect("neighbor");
            let context = format!("round {round}, {who}: {v:#}\n{}", k.log_tail(40));
            assert_eq!(v["state"], "established", "{context}");
            assert_eq!(v["established_transitions"], 1, "{context}");
            for dir in ["last_notification_sent", "last_notification_received"] {
                let n = &v[dir];
                assert!(n.is_null() || (n["code"] == 6 && n["subcode"] == 7), "{dir} {n}: {context}");
            }
        }
    }
}

/// keel's connection is in OpenSent when the neighbor's own connection brings an OPEN with a
/// higher BGP Identifier, and then the neighbor's OPEN arrives on keel's connection: keel's
/// connection loses, and the next thing keel sends on it is Cease/Connection Collision
/// Resolution, not a KEEPALIVE (before the fix it answered the OPEN first, then closed it). The
/// neighbor's connection becomes the session.
#[test]
fn the_losing_connection_gets_the_collision_cease_before_anything_else() {
    preflight();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // The neighbor listens before keeld starts, so keeld's first connection reaches it.
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.20:179")).expect("listen on 127.0.0.20:179");
    let mut keel = keeld_for("cease-first", 19, 20, 65020).env("KEEL_LOG", "debug");
    keel.start().expect("keeld");
    let mut cfg = session::speaker_config(20, 19, None);
    cfg.router_id = Ipv4Addr::new(192, 0, 2, 200); // above keel's 192.0.2.19
    let codec = CodecOptions::default();
    let open = Message::Open(cfg.open()).encode(&codec).expect("OPEN");
    let keepalive = Message::Keepalive.encode(&codec).expect("KEEPALIVE");
    let (on_keels, on_ours, _ours) = rt.block_on(async {
        use tokio::io::AsyncWriteExt;
        let (mut keels, _) =
            tokio::time::timeout(WAIT, listener.accept()).await.expect("keel connects").expect("accept");
        let (first, _) = session::read_some(&mut keels, 19).await;
        assert_eq!(messages(&first).first().map(|m| m.0), Some(1), "keel's OPEN first");
        // Our own connection, with our OPEN: it waits aside at keel while keel's is in OpenSent.
        let mut ours = session::bare_connect(20, 19, &open).await;
        let (theirs, _) = session::read_some(&mut ours, 19).await;
        assert_eq!(messages(&theirs).first().map(|m| m.0), Some(1), "keel's OPEN on our connection");
        // Once keel has read our OPEN there (its debug log says so), our OPEN on keel's
        // connection.
        let log = keel.log_path();
        wait_for("keel to read the OPEN on our connection", WAIT, || {
            std::fs::read_to_string(&log).ok().filter(|l| l.contains("OPEN on a second connection: collision"))
        });
        keels.write_all(&open).await.expect("OPEN on keel's connection");
        let on_keels = session::read_to_close(&mut keels).await;
        ours.write_all(&keepalive).await.expect("KEEPALIVE");
        let (on_ours, closed) = session::read_some(&mut ours, 19).await;
        assert!(!closed, "keel closed the winning connection");
        (on_keels, on_ours, ours)
    });
    let types: Vec<(u8, Vec<u8>)> = messages(&on_keels);
    assert_eq!(types.len(), 1, "keel sent more than the Cease on the losing connection: {types:?}\n{}", keel.log());
    assert_eq!((types[0].0, types[0].1.get(..2)), (3, Some(&[6u8, 7][..])), "{types:?}");
    assert!(messages(&on_ours).iter().any(|m| m.0 == 4), "no KEEPALIVE on the winning connection");
    // Our connection (kept open here) is the session.
    established(&keel.api(), "127.0.0.20");
}
