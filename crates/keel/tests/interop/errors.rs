//! Error paths, with a raw TCP socket as the peer: broken OPENs, broken UPDATEs and an
//! expiring hold timer. Each case checks the NOTIFICATION keel puts on the wire (decoded with
//! keel-wire), that the session comes back afterwards, and that another Established neighbor
//! of the same keeld is left alone (same session, uptime still growing).

use super::common::*;
use keel_wire::{Message, Notification};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// A keeld with the neighbor under test (`peer`, AS 65000 + last octet) and a bystander
/// neighbor kept up by a thread.
struct Setup {
    // Fields drop in this order: the bystander's thread, keeld, then the directory.
    bystander: Bystander,
    keel: Keel,
    bystander_addr: &'static str,
    bystander_up: Instant,
    _dir: TempDir,
}

fn router_id(addr: &str) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, last_octet(addr).parse().unwrap())
}

fn setup(name: &str, keel_addr: &str, peer: &str, peer_hold: u16, bystander_addr: &'static str) -> Setup {
    let dir = temp_dir(name);
    let kdir = dir.sub("keel");
    let neighbor = |addr: &str, hold: u16| keel_neighbor(addr, asn_of(addr), keel_addr, hold);
    let config = format!(
        "{}{}{}[[network]]\nprefix = \"198.51.100.0/24\"\nnext_hop = \"192.0.2.1\"\n",
        keel_global(&kdir, asn_of(keel_addr), keel_addr),
        neighbor(peer, peer_hold),
        neighbor(bystander_addr, 9),
    );
    let keel = Keel::start(&kdir, keel_addr, &config);
    let mut b = RawPeer::connect(bystander_addr, keel.listen());
    b.handshake(&raw_open(asn_of(bystander_addr), 9, router_id(bystander_addr)));
    let n = keel.wait_established(bystander_addr);
    assert_eq!(n["established_transitions"], 1);
    Setup { _dir: dir, keel, bystander: b.keep_alive(), bystander_addr, bystander_up: Instant::now() }
}

impl Setup {
    /// The bystander's session is the one from the start: never reset, uptime growing.
    fn check_bystander(&self) {
        let n = self.keel.neighbor(self.bystander_addr);
        assert_eq!(n["state"], "established", "bystander: {n}");
        assert_eq!(n["established_transitions"], 1, "bystander's session was reset: {n}");
        let up = self.bystander_up.elapsed().as_secs();
        let uptime = n["uptime_s"].as_u64().unwrap();
        assert!(uptime + 1 >= up, "bystander's uptime {uptime}s < {up}s since it came up: {n}");
        assert!(self.bystander.trouble().is_empty(), "bystander saw: {:?}", self.bystander.trouble());
    }

    /// keel's record of the last NOTIFICATION it sent to `peer`.
    fn last_sent(&self, peer: &str) -> (u64, u64) {
        let n = self.keel.neighbor(peer);
        let l = &n["last_notification_sent"];
        (l["code"].as_u64().unwrap_or(999), l["subcode"].as_u64().unwrap_or(999))
    }
}

/// An OPEN built by hand: header, version, My AS, hold time, BGP Identifier, then
/// `opt_len` and `params` as given (so they can disagree).
fn open_bytes(version: u8, asn: u16, hold: u16, id: Ipv4Addr, opt_len: u8, params: &[u8]) -> Vec<u8> {
    let mut b = vec![0xff; 16];
    b.extend_from_slice(&[0, 0, 1, version]);
    b.extend_from_slice(&asn.to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&id.octets());
    b.push(opt_len);
    b.extend_from_slice(params);
    let len = b.len() as u16;
    b[16..18].copy_from_slice(&len.to_be_bytes());
    b
}

/// Capabilities parameter: IPv4 unicast and 4-octet AS.
fn good_params(asn: u32) -> Vec<u8> {
    let mut p = vec![2, 12, 1, 4, 0, 1, 0, 1, 65, 4];
    p.extend_from_slice(&asn.to_be_bytes());
    p
}

/// Sends a broken OPEN on a new connection and returns the NOTIFICATION keel answers with;
/// keel must close the connection after it.
fn open_error(s: &Setup, peer: &str, open: &[u8]) -> Notification {
    let mut p = RawPeer::connect(peer, s.keel.listen());
    p.send(open);
    let n = p.expect_notification(Duration::from_secs(10));
    p.expect_closed(Duration::from_secs(10));
    n
}

#[test]
fn errors_open_messages() {
    let (keel_addr, peer, by) = ("127.0.0.151", "127.0.0.152", "127.0.0.153");
    let s = setup("errors-open", keel_addr, peer, 9, by);
    let asn = asn_of(peer);
    let id = router_id(peer);
    let good = good_params(asn);

    // Optional parameters length larger than what follows: OPEN Message Error/Unspecific.
    let n = open_error(&s, peer, &open_bytes(4, asn as u16, 9, id, good.len() as u8 + 5, &good));
    assert_eq!((n.code, n.subcode), (2, 0), "bad optional parameter length: {n:?}");
    assert_eq!(s.last_sent(peer), (2, 0));

    // A malformed capability (Multiprotocol with 3 octets instead of 4).
    let bad_cap = [2, 5, 1, 3, 0, 1, 0];
    let n = open_error(&s, peer, &open_bytes(4, asn as u16, 9, id, bad_cap.len() as u8, &bad_cap));
    assert_eq!((n.code, n.subcode), (2, 0), "malformed capability: {n:?}");

    // An optional parameter other than Capabilities (type 1, deprecated authentication):
    // Unsupported Optional Parameter.
    let mut params = good.clone();
    params.extend_from_slice(&[1, 2, 0, 0]);
    let n = open_error(&s, peer, &open_bytes(4, asn as u16, 9, id, params.len() as u8, &params));
    assert_eq!((n.code, n.subcode), (2, 4), "unsupported optional parameter: {n:?}");

    // BGP version 3: Unsupported Version Number, data = largest supported version (RFC 4271
    // §6.2), two octets.
    let n = open_error(&s, peer, &open_bytes(3, asn as u16, 9, id, good.len() as u8, &good));
    assert_eq!((n.code, n.subcode, n.data.as_slice()), (2, 1, &[0u8, 4][..]), "unsupported version: {n:?}");
    assert_eq!(s.last_sent(peer), (2, 1));

    // Wrong AS: Bad Peer AS.
    let n = open_error(&s, peer, &encode_open(&raw_open(65999, 9, id)));
    assert_eq!((n.code, n.subcode), (2, 2), "wrong AS: {n:?}");
    assert_eq!(s.last_sent(peer), (2, 2));

    // Hold time 2: Unacceptable Hold Time.
    let n = open_error(&s, peer, &open_bytes(4, asn as u16, 2, id, good.len() as u8, &good));
    assert_eq!((n.code, n.subcode), (2, 6), "hold time 2: {n:?}");

    // Message header errors (RFC 4271 §6.1): a marker that is not all ones, an unknown type.
    let mut bad_marker = open_bytes(4, asn as u16, 9, id, good.len() as u8, &good);
    bad_marker[3] = 0;
    let n = open_error(&s, peer, &bad_marker);
    assert_eq!((n.code, n.subcode), (1, 1), "bad marker: {n:?}");
    let mut bad_type = open_bytes(4, asn as u16, 9, id, good.len() as u8, &good);
    bad_type[18] = 9;
    let n = open_error(&s, peer, &bad_type);
    assert_eq!((n.code, n.subcode, n.data.as_slice()), (1, 3, &[9u8][..]), "unknown message type: {n:?}");

    // None of that reached Established; a correct OPEN now does.
    let before = s.keel.neighbor(peer);
    assert_eq!(before["established_transitions"], 0, "{before}");
    let mut p = RawPeer::connect(peer, s.keel.listen());
    p.handshake(&raw_open(asn, 9, id));
    let n = s.keel.wait_established(peer);
    assert_eq!(n["established_transitions"], 1, "{n}");
    s.check_bystander();
}

/// An UPDATE built by hand.
fn update_bytes(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = vec![0xff; 16];
    b.extend_from_slice(&[0, 0, 2]);
    b.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    let len = b.len() as u16;
    b[16..18].copy_from_slice(&len.to_be_bytes());
    b
}

fn attr(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    let mut a = vec![flags, code, value.len() as u8];
    a.extend_from_slice(value);
    a
}

/// ORIGIN `origin`, AS_PATH [asn] (4-octet), NEXT_HOP 192.0.2.N, plus `extra`.
fn attrs(origin: u8, asn: u32, next_hop: Ipv4Addr, extra: &[u8]) -> Vec<u8> {
    let mut path = vec![2, 1];
    path.extend_from_slice(&asn.to_be_bytes());
    let mut a = attr(0x40, 1, &[origin]);
    a.extend(attr(0x40, 2, &path));
    a.extend(attr(0x40, 3, &next_hop.octets()));
    a.extend_from_slice(extra);
    a
}

const NLRI_A: [u8; 4] = [24, 203, 0, 113]; // 203.0.113.0/24
const NLRI_B: [u8; 4] = [24, 192, 0, 2]; // 192.0.2.0/24

/// Asserts that keel sends no NOTIFICATION and keeps the connection for a second (KEEPALIVEs
/// and its own UPDATEs may come).
fn expect_quiet(p: &mut RawPeer) {
    let until = Instant::now() + Duration::from_secs(1);
    loop {
        match p.recv(until.saturating_duration_since(Instant::now())) {
            Recv::Timeout => return,
            Recv::Message(m) if matches!(*m, Message::Keepalive | Message::Update(_)) => {}
            other => panic!("keel should keep the session, got {other:?}"),
        }
    }
}

fn prefixes(keel: &Keel, peer: &str) -> Vec<String> {
    keel.routes(&format!("neighbor={peer}")).iter().map(|r| r["prefix"].as_str().unwrap().to_string()).collect()
}

#[test]
fn errors_update_messages() {
    let (keel_addr, peer, by) = ("127.0.0.161", "127.0.0.162", "127.0.0.163");
    let s = setup("errors-update", keel_addr, peer, 30, by);
    let (asn, id) = (asn_of(peer), router_id(peer));
    let nh = Ipv4Addr::new(192, 0, 2, 162);
    let mut p = RawPeer::connect(peer, s.keel.listen());
    p.handshake(&raw_open(asn, 30, id));
    s.keel.wait_established(peer);

    // Two good routes.
    p.send(&update_bytes(&[], &attrs(0, asn, nh, &[]), &[NLRI_A, NLRI_B].concat()));
    wait_for("both routes in keel", DEADLINE, || {
        let v = prefixes(&s.keel, peer);
        if v.len() == 2 {
            Ok(())
        } else {
            Err(format!("{v:?}"))
        }
    });

    // AGGREGATOR of the wrong length: attribute discard (RFC 7606 §7.7), the route stays.
    let bad_aggregator = attr(0xc0, 7, &[0, 0, 0xfe, 0x4c, 192]);
    p.send(&update_bytes(&[], &attrs(0, asn, nh, &bad_aggregator), &NLRI_B));
    expect_quiet(&mut p);
    assert_eq!(prefixes(&s.keel, peer), ["192.0.2.0/24", "203.0.113.0/24"]);

    // ORIGIN 7 is undefined: treat-as-withdraw (RFC 7606 §7.1), the session stays.
    p.send(&update_bytes(&[], &attrs(7, asn, nh, &[]), &NLRI_A));
    wait_for("203.0.113.0/24 treated as withdrawn", DEADLINE, || {
        let v = prefixes(&s.keel, peer);
        if v == ["192.0.2.0/24"] {
            Ok(())
        } else {
            Err(format!("{v:?}"))
        }
    });
    expect_quiet(&mut p);
    let n = s.keel.neighbor(peer);
    assert_eq!((n["state"].as_str(), n["established_transitions"].as_u64()), (Some("established"), Some(1)), "{n}");
    assert_eq!(n["last_notification_sent"], serde_json::Value::Null, "{n}");

    // An unrecognized well-known attribute (flags 0x40, type 99): session reset with UPDATE
    // Message Error/Unrecognized Well-known Attribute, the attribute as data (RFC 4271 §6.3).
    let unknown = attr(0x40, 99, &[1, 2]);
    p.send(&update_bytes(&[], &attrs(0, asn, nh, &unknown), &NLRI_A));
    let n = p.expect_notification(Duration::from_secs(10));
    assert_eq!((n.code, n.subcode, n.data.clone()), (3, 2, unknown.clone()), "{n:?}");
    p.expect_closed(Duration::from_secs(10));
    assert_eq!(s.last_sent(peer), (3, 2));
    wait_for("keel to drop the routes of the reset session", DEADLINE, || {
        let v = prefixes(&s.keel, peer);
        if v.is_empty() {
            Ok(())
        } else {
            Err(format!("{v:?}"))
        }
    });

    // The session comes back.
    let mut p = RawPeer::connect(peer, s.keel.listen());
    p.handshake(&raw_open(asn, 30, id));
    let n = s.keel.wait_established(peer);
    assert_eq!(n["established_transitions"], 2, "{n}");
    p.send(&update_bytes(&[], &attrs(0, asn, nh, &[]), &NLRI_A));
    s.keel.wait_route(peer, "203.0.113.0/24");

    // Total Path Attribute Length beyond the message: Malformed Attribute List.
    let mut broken = update_bytes(&[], &attrs(0, asn, nh, &[]), &NLRI_B);
    broken[21] = 0xff; // the attribute length's low octet (after 16 + 2 + 1 + 2 octets)
    p.send(&broken);
    let n = p.expect_notification(Duration::from_secs(10));
    assert_eq!((n.code, n.subcode), (3, 1), "{n:?}");
    p.expect_closed(Duration::from_secs(10));

    // And comes back once more.
    let mut p = RawPeer::connect(peer, s.keel.listen());
    p.handshake(&raw_open(asn, 30, id));
    let n = s.keel.wait_established(peer);
    assert_eq!(n["established_transitions"], 3, "{n}");

    // 5000 octets without the Extended Message capability (the raw peer does not send it):
    // Message Header Error/Bad Message Length with the length as data (RFC 8654 §4).
    // 1000 host routes in 198.18.0.0/15 (RFC 2544 benchmarking).
    let many: Vec<u8> = (0..1000u32).flat_map(|i| [32, 198, 18, (i >> 8) as u8, i as u8]).collect();
    let big = update_bytes(&[], &attrs(0, asn, nh, &[]), &many);
    assert!(big.len() > 4096, "{}", big.len());
    p.send(&big);
    let n = p.expect_notification(Duration::from_secs(10));
    assert_eq!((n.code, n.subcode, n.data.clone()), (1, 2, big[16..18].to_vec()), "{n:?}");
    p.expect_closed(Duration::from_secs(10));
    let mut p = RawPeer::connect(peer, s.keel.listen());
    p.handshake(&raw_open(asn, 30, id));
    let n = s.keel.wait_established(peer);
    assert_eq!(n["established_transitions"], 4, "{n}");
    s.check_bystander();
}

#[test]
fn errors_hold_timer_expiry() {
    let (keel_addr, peer, by) = ("127.0.0.171", "127.0.0.172", "127.0.0.173");
    let s = setup("errors-hold", keel_addr, peer, 3, by);
    let (asn, id) = (asn_of(peer), router_id(peer));
    let mut p = RawPeer::connect(peer, s.keel.listen());
    p.handshake(&raw_open(asn, 3, id));
    let silent_since = Instant::now();
    let n = s.keel.wait_established(peer);
    assert_eq!((n["hold_time"].as_u64(), n["keepalive_time"].as_u64()), (Some(3), Some(1)), "{n}");

    // We stay silent; keel keeps sending KEEPALIVEs, then Hold Timer Expired after 3 s.
    let n = p.expect_notification(Duration::from_secs(10));
    let waited = silent_since.elapsed();
    assert_eq!((n.code, n.subcode), (4, 0), "{n:?}");
    assert!(
        waited >= Duration::from_millis(2500) && waited <= Duration::from_secs(6),
        "hold timer of 3 s expired after {waited:?}"
    );
    p.expect_closed(Duration::from_secs(10));
    let st = s.keel.neighbor(peer);
    assert_ne!(st["state"], "established", "{st}");
    assert_eq!(s.last_sent(peer), (4, 0));

    // The session comes back, and with KEEPALIVEs every second it stays.
    let mut p = RawPeer::connect(peer, s.keel.listen());
    p.handshake(&raw_open(asn, 3, id));
    let n = s.keel.wait_established(peer);
    assert_eq!(n["established_transitions"], 2, "{n}");
    let alive = p.keep_alive();
    let keel = &s.keel;
    holds_for("the renewed session", Duration::from_secs(5), || {
        let n = keel.neighbor(peer);
        if n["state"] == "established" && n["established_transitions"] == 2 {
            Ok(())
        } else {
            Err(n.to_string())
        }
    });
    assert!(alive.trouble().is_empty(), "{:?}", alive.trouble());
    s.check_bystander();
}
