//! The station's Peer Up and Peer Down as keeld builds them from a session
//! ([`Session::new`] with both ends of its TCP connection) and from its end ([`Down`] with the
//! NOTIFICATION re-encoded by keel-wire): golden bytes, then netgauze's reading of them.

use crate::oracle::ng_parse;
use crate::util::*;
use keel_bmp::station::encode::{Encoder, Router};
use keel_bmp::station::{Down, Peer, Session};
use keel_wire::{Family, Open};
use netgauze_bgp_pkt::notification::{BgpNotificationMessage, CeaseError};
use netgauze_bgp_pkt::BgpMessage;
use netgauze_bmp_pkt::v3::{BmpMessageValue, PeerDownNotificationReason as NgReason};
use std::net::{IpAddr, SocketAddr};

fn session() -> Session {
    let peer = Peer { address: IpAddr::V4(PEER), asn: PEER_AS, bgp_id: PEER };
    let local = SocketAddr::new(IpAddr::V4(KEEL), 179);
    let remote = SocketAddr::new(IpAddr::V4(PEER), 50000);
    let (sent, received) = (Open::new(KEEL_AS, 90, KEEL, Vec::new()), Open::new(PEER_AS, 90, PEER, Vec::new()));
    Session::new(peer, (local, remote), &sent, &received, vec![Family::IPV4_UNICAST], true)
}

fn encode(f: impl FnOnce(&mut Encoder)) -> Vec<u8> {
    let mut out = Vec::new();
    let mut e = Encoder { router: Router { asn: KEEL_AS, id: KEEL }, now: ts(), out: &mut out, errors: Vec::new() };
    f(&mut e);
    assert!(e.errors.is_empty(), "{:?}", e.errors);
    out
}

#[test]
fn peer_up_carries_both_tcp_ports_and_the_local_address() {
    let s = session();
    let got = encode(|e| e.peer_up(&s));
    let want = hex(&[
        "03 0000008e 03",                      // Version 3, length 6 + 42 + 20 + 37 + 37 = 142: Peer Up
        PEER_HEX,                              // per-peer header
        "00000000 00000000 00000000 c0000201", // Local Address 192.0.2.1
        "00b3",                                // Local Port 179: keel's end
        "c350",                                // Remote Port 50000: the neighbor's end
        KEEL_OPEN_HEX,                         // Sent OPEN
        PEER_OPEN_HEX,                         // Received OPEN
    ]);
    assert_eq!(got, want);
    let BmpMessageValue::PeerUpNotification(ng) = ng_parse(&got) else { panic!("not a Peer Up") };
    assert_eq!(ng.local_address(), Some(IpAddr::V4(KEEL)));
    assert_eq!((ng.local_port(), ng.remote_port()), (Some(179), Some(50000)));
}

fn peer_down(reason: &Down) -> Vec<u8> {
    let peer = session().peer;
    encode(|e| e.peer_down(&peer, reason))
}

fn cease(sub_code: u8, value: &[u8]) -> BgpMessage {
    let e = match sub_code {
        2 => CeaseError::AdministrativeShutdown { value: value.into() },
        3 => CeaseError::PeerDeConfigured { value: value.into() },
        _ => panic!("not in the test"),
    };
    BgpMessage::Notification(BgpNotificationMessage::CeaseError(e))
}

#[test]
fn peer_down_reason_1_carries_the_notification_keel_sent() {
    // A neighbor removed from the configuration: Cease / Peer De-configured (RFC 4486).
    let got = peer_down(&Down::notification(true, 6, 3, &[]));
    let want = hex(&[
        "03 00000046 02", // Version 3, length 6 + 42 + 1 + 21 = 70, type 2: Peer Down
        PEER_HEX,         // per-peer header
        "01",             // Reason 1: local system closed, NOTIFICATION PDU follows
        MARKER,
        "0015 03", // length 21, type 3 NOTIFICATION
        "06 03",   // Cease, Peer De-configured
    ]);
    assert_eq!(got, want);
    let BmpMessageValue::PeerDownNotification(ng) = ng_parse(&got) else { panic!("not a Peer Down") };
    assert_eq!(ng.reason(), &NgReason::LocalSystemClosedNotificationPduFollows(cease(3, &[])));
}

#[test]
fn peer_down_reason_3_carries_the_notification_received_with_its_data() {
    // Administrative Shutdown with a shutdown communication (RFC 9003): length 3, "bye".
    let got = peer_down(&Down::notification(false, 6, 2, b"\x03bye"));
    let want = hex(&[
        "03 0000004a 02", // Version 3, length 6 + 42 + 1 + 25 = 74, type 2: Peer Down
        PEER_HEX,         // per-peer header
        "03",             // Reason 3: remote system closed, NOTIFICATION PDU follows
        MARKER,
        "0019 03",   // length 25, type 3 NOTIFICATION
        "06 02",     // Cease, Administrative Shutdown
        "03 627965", // shutdown communication: 3 octets, "bye"
    ]);
    assert_eq!(got, want);
    let BmpMessageValue::PeerDownNotification(ng) = ng_parse(&got) else { panic!("not a Peer Down") };
    assert_eq!(ng.reason(), &NgReason::RemoteSystemClosedNotificationPduFollows(cease(2, b"\x03bye")));
}

#[test]
fn peer_down_reasons_2_and_4_carry_no_notification() {
    // 2: keel closed with no NOTIFICATION, FSM event 2 (ManualStop, RFC 4271 §8.1.2).
    let got = peer_down(&Down::LocalNoNotification(2));
    assert_eq!(got, hex(&["03 00000033 02", PEER_HEX, "02", "0002"]));
    let BmpMessageValue::PeerDownNotification(ng) = ng_parse(&got) else { panic!("not a Peer Down") };
    assert_eq!(ng.reason(), &NgReason::LocalSystemClosedFsmEventFollows(2));
    // 4: the connection was lost with no NOTIFICATION.
    let got = peer_down(&Down::RemoteNoNotification);
    assert_eq!(got, hex(&["03 00000031 02", PEER_HEX, "04"]));
    let BmpMessageValue::PeerDownNotification(ng) = ng_parse(&got) else { panic!("not a Peer Down") };
    assert_eq!(ng.reason(), &NgReason::RemoteSystemClosedNoData);
}
