//! TCP MD5 signatures (RFC 2385) against BIRD: the right password gives a session, a wrong
//! one never does, and keel's listener drops unsigned connection attempts from a neighbor
//! that has a password.

use super::common::*;
use super::daemons::*;
use std::net::SocketAddr;
use std::time::Duration;

#[test]
fn md5_right_password_connects_wrong_password_never() {
    let dir = temp_dir("md5");
    let (keel_addr, good, bad) = ("127.0.0.181", "127.0.0.182", "127.0.0.183");
    let kdir = dir.sub("keel");
    let neighbor = |addr: &str, asn: u32| keel_neighbor(addr, asn, keel_addr, 9) + "password = \"secret\"\n";
    let config = format!("{}{}{}", keel_global(&kdir, 65181, keel_addr), neighbor(good, 65182), neighbor(bad, 65183));
    let keel = Keel::start(&kdir, keel_addr, &config);
    let peer = |local, asn, extra| BirdPeer {
        local,
        asn,
        keel: keel_addr,
        keel_asn: 65181,
        hold_time: 9,
        extra,
        routes: false,
    };
    let bird_good = bird_peer(&dir.sub("bird-good"), &peer(good, 65182, "password \"secret\";"));
    let bird_bad = bird_peer(&dir.sub("bird-bad"), &peer(bad, 65183, "password \"wrong\";"));

    keel.wait_established(good);
    bird_good.wait_established();

    // Without a signature keel's kernel drops the SYN from a neighbor that has a password.
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::new(good.parse().unwrap(), 0).into()).unwrap();
    let r = s.connect_timeout(&keel.listen().into(), Duration::from_secs(2));
    assert!(r.is_err(), "an unsigned TCP connection from {good} to keel succeeded");

    // The wrong password: never Established, on either side.
    holds_for("no session with the wrong password", Duration::from_secs(10), || {
        bird_bad.proc.assert_running();
        let n = keel.neighbor(bad);
        if n["state"] == "established" || n["established_transitions"] != 0 {
            return Err(format!("keel: {n}"));
        }
        let p = bird_bad.protocol();
        if p.contains("Established") {
            return Err(format!("BIRD: {p}"));
        }
        Ok(())
    });
    // The good session was not disturbed meanwhile.
    let n = keel.neighbor(good);
    assert_eq!((n["state"].as_str(), n["established_transitions"].as_u64()), (Some("established"), Some(1)), "{n}");
}
