//! Fixtures shared by the test modules: the BGP PDUs the BMP messages carry, built with
//! keel-wire, and the same PDUs written out by hand (`golden::fixtures_are_what_keel_wire_writes`
//! checks that the two agree, so the golden BMP vectors are hand-written throughout).

use keel_bmp::{PeerHeader, PeerInformation, PeerUp, Timestamp};
use keel_wire::{AsPath, Capability, CodecOptions, Family, Message, Nlri, Notification, Open, Origin, Update};
use std::net::{IpAddr, Ipv4Addr};

/// Bytes from hex fragments; spaces inside a fragment are ignored so that vectors can be
/// written one field per line with a comment.
pub fn hex(parts: &[&str]) -> Vec<u8> {
    let s: String = parts.concat().chars().filter(|c| !c.is_whitespace()).collect();
    assert!(s.len().is_multiple_of(2), "odd number of hex digits in {s}");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit")).collect()
}

pub fn encoded(encode: impl FnOnce(&mut Vec<u8>) -> Result<(), keel_bmp::EncodeError>) -> Vec<u8> {
    let mut out = Vec::new();
    encode(&mut out).unwrap_or_else(|e| panic!("encode failed: {e}"));
    out
}

pub const KEEL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const KEEL_AS: u32 = 65001;
pub const PEER_AS: u32 = 65002;

/// 2023-11-14 22:13:20.123456 UTC.
pub fn ts() -> Timestamp {
    Timestamp::new(1_700_000_000, 123_456)
}

/// The neighbor 192.0.2.2 of AS 65002, pre-policy Adj-RIB-In, at `ts()`.
pub fn peer() -> PeerHeader {
    PeerHeader::global(IpAddr::V4(PEER), PEER_AS, PEER, ts())
}

/// Its per-peer header, 42 octets (RFC 7854 §4.2).
pub const PEER_HEX: &str = concat!(
    "00",                                  // Peer Type 0: Global Instance Peer
    "00",                                  // Peer Flags: V=0 (IPv4) L=0 A=0 O=0
    "0000000000000000",                    // Peer Distinguisher: zero for the global instance
    "00000000 00000000 00000000 c0000202", // Peer Address 192.0.2.2, 12 zero octets first
    "0000fdea",                            // Peer AS 65002
    "c0000202",                            // Peer BGP ID 192.0.2.2
    "6553f100 0001e240",                   // Timestamp 1700000000 s, 123456 us
);

/// keel's global Loc-RIB instance: AS 65001, router id 192.0.2.1, time unavailable.
pub fn loc_rib() -> PeerHeader {
    PeerHeader::loc_rib(KEEL_AS, KEEL, Timestamp::UNAVAILABLE)
}

/// Its per-peer header (RFC 9069 §5.1).
pub const LOC_RIB_HEX: &str = concat!(
    "03",                                  // Peer Type 3: Loc-RIB Instance Peer
    "00",                                  // Peer Flags: F=0, the rest reserved (0)
    "0000000000000000",                    // Peer Distinguisher: zero, the global instance
    "00000000 00000000 00000000 00000000", // Peer Address: zero-filled
    "0000fde9",                            // Peer AS 65001: the router's own
    "c0000201",                            // Peer BGP ID 192.0.2.1: the router's own
    "00000000 00000000",                   // Timestamp 0: unavailable
);

pub const MARKER: &str = "ffffffffffffffffffffffffffffffff";

/// The OPEN keel sends: AS 65001, hold time 90, BGP ID 192.0.2.1, four-octet AS capability.
pub fn keel_open() -> Vec<u8> {
    Message::Open(Open::new(KEEL_AS, 90, KEEL, Vec::new())).encode(&CodecOptions::default()).unwrap()
}
pub const KEEL_OPEN_HEX: &str = concat!(
    "ffffffffffffffffffffffffffffffff", // marker
    "0025 01",                          // length 37, type 1 OPEN
    "04 fde9 005a c0000201",            // version 4, My AS 65001, hold time 90, BGP ID 192.0.2.1
    "08 02 06",                         // 8 octets of parameters: one capabilities parameter of 6
    "41 04 0000fde9",                   // capability 65 (four-octet AS), length 4, AS 65001
);

/// The OPEN the neighbor sent: AS 65002, hold time 90, BGP ID 192.0.2.2.
pub fn peer_open() -> Vec<u8> {
    Message::Open(Open::new(PEER_AS, 90, PEER, Vec::new())).encode(&CodecOptions::default()).unwrap()
}
pub const PEER_OPEN_HEX: &str = concat!(
    "ffffffffffffffffffffffffffffffff", // marker
    "0025 01",                          // length 37, type 1 OPEN
    "04 fdea 005a c0000202",            // version 4, My AS 65002, hold time 90, BGP ID 192.0.2.2
    "08 02 06 41 04 0000fdea",          // four-octet AS capability, AS 65002
);

/// The OPEN fabricated for the Loc-RIB instance (RFC 9069 §5.2): AS 65001, hold time 0, the
/// router's id, IPv4 unicast and four-octet AS.
pub fn loc_rib_open() -> Vec<u8> {
    let caps = vec![Capability::Multiprotocol(Family::IPV4_UNICAST)];
    Message::Open(Open::new(KEEL_AS, 0, KEEL, caps)).encode(&CodecOptions::default()).unwrap()
}
pub const LOC_RIB_OPEN_HEX: &str = concat!(
    "ffffffffffffffffffffffffffffffff", // marker
    "002b 01",                          // length 43, type 1 OPEN
    "04 fde9 0000 c0000201",            // version 4, My AS 65001, hold time 0, BGP ID 192.0.2.1
    "0e 02 0c",                         // 14 octets of parameters: capabilities, 12 octets
    "01 04 0001 00 01",                 // capability 1 (multiprotocol): AFI 1, reserved, SAFI 1
    "41 04 0000fde9",                   // capability 65 (four-octet AS): AS 65001
);

/// An UPDATE from the neighbor: 192.0.2.0/24, ORIGIN IGP, AS_PATH 65002, NEXT_HOP 192.0.2.2.
pub fn update() -> Vec<u8> {
    let mut u = Update { announced: vec![Nlri::new("192.0.2.0/24".parse().unwrap())], ..Update::default() };
    u.attributes.origin = Some(Origin::Igp);
    u.attributes.as_path = Some(AsPath::sequence([PEER_AS]));
    u.attributes.next_hop = Some(PEER);
    u.encode(&CodecOptions::default()).unwrap()
}
pub const UPDATE_HEX: &str = concat!(
    "ffffffffffffffffffffffffffffffff", // marker
    "002f 02",                          // length 47, type 2 UPDATE
    "0000",                             // no withdrawn routes
    "0014",                             // 20 octets of path attributes
    "40 01 01 00",                      // ORIGIN (well-known, transitive): IGP
    "40 02 06 02 01 0000fdea",          // AS_PATH: one AS_SEQUENCE of one 4-octet AS, 65002
    "40 03 04 c0000202",                // NEXT_HOP 192.0.2.2
    "18 c00002",                        // NLRI 192.0.2.0/24
);

/// The End-of-RIB UPDATE of IPv6 unicast (RFC 4724 §2).
pub const END_OF_RIB_IPV6_HEX: &str = concat!(
    "ffffffffffffffffffffffffffffffff", // marker
    "001d 02",                          // length 29, type 2 UPDATE
    "0000 0006",                        // no withdrawn routes, 6 octets of attributes
    "80 0f 03 0002 01",                 // MP_UNREACH_NLRI (optional), AFI 2 SAFI 1, no NLRI
);

/// A NOTIFICATION: Hold Timer Expired (code 4, subcode 0), no data.
pub fn notification() -> Vec<u8> {
    Message::Notification(Notification::new(4, 0, Vec::new())).encode(&CodecOptions::default()).unwrap()
}
pub const NOTIFICATION_HEX: &str = concat!(
    "ffffffffffffffffffffffffffffffff", // marker
    "0015 03",                          // length 21, type 3 NOTIFICATION
    "04 00",                            // error code 4 (Hold Timer Expired), subcode 0
);

/// The global peer's Peer Up as the tests send it: keel's address, port 179 to 50000.
pub fn global_peer_up<'a>(sent: &'a [u8], received: &'a [u8], information: Vec<PeerInformation<'a>>) -> PeerUp<'a> {
    PeerUp {
        peer: peer(),
        local_address: Some(IpAddr::V4(KEEL)),
        local_port: 179,
        remote_port: 50000,
        sent_open: sent,
        received_open: received,
        information,
    }
}
