//! Input an encoder refuses: each is an `EncodeError`, no panic, and the output buffer keeps
//! only what it held before.

use crate::util::*;
use keel_bmp::{
    EncodeError, Initiation, PeerDown, PeerDownReason, PeerHeader, PeerInformation, PeerUp, RouteMonitoring, Stat,
    StatisticsReport, Termination, TerminationReason,
};
use std::net::{IpAddr, Ipv6Addr};

/// Encodes into a buffer that already holds two octets; returns the error and checks that the
/// buffer was left as it was.
fn refused(encode: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>) -> EncodeError {
    let mut out = vec![1, 2];
    let e = encode(&mut out).expect_err("expected an error");
    assert_eq!(out, [1, 2], "the buffer was changed: {e}");
    e
}

#[test]
fn embedded_pdus_must_be_one_whole_message_of_the_right_type() {
    let (open, u, n) = (keel_open(), update(), notification());
    let bad_pdu = |e: EncodeError| matches!(e, EncodeError::BadPdu { .. });
    // An OPEN where an UPDATE belongs, and the other way round.
    assert!(bad_pdu(refused(|o| RouteMonitoring::new(peer(), &open).encode(o))));
    let up = |sent: &[u8], o: &mut Vec<u8>| {
        PeerUp {
            peer: peer(),
            local_address: None,
            local_port: 0,
            remote_port: 0,
            sent_open: sent,
            received_open: &open,
            information: Vec::new(),
        }
        .encode(o)
    };
    assert!(bad_pdu(refused(|o| up(&u, o))));
    let down = |pdu: &[u8], o: &mut Vec<u8>| {
        PeerDown { peer: peer(), reason: PeerDownReason::RemoteSystemClosedNotification(pdu) }.encode(o)
    };
    assert!(bad_pdu(refused(|o| down(&u, o))));
    // Cut short, one octet too many, empty, a broken marker.
    assert!(bad_pdu(refused(|o| RouteMonitoring::new(peer(), &u[..u.len() - 1]).encode(o))));
    let mut long = u.clone();
    long.push(0);
    assert!(bad_pdu(refused(|o| RouteMonitoring::new(peer(), &long).encode(o))));
    assert!(bad_pdu(refused(|o| RouteMonitoring::new(peer(), &[]).encode(o))));
    let mut unmarked = n.clone();
    unmarked[0] = 0;
    assert!(bad_pdu(refused(|o| down(&unmarked, o))));
    let e = refused(|o| up(&n, o));
    assert_eq!(e.to_string(), "embedded open PDU: is a notification message");
}

#[test]
fn table_name_is_1_to_255_octets() {
    // RFC 9069 §5.2.1: "The string size MUST be within the range of 1 to 255 bytes."
    let open = loc_rib_open();
    let long = "x".repeat(256);
    for name in ["", long.as_str()] {
        let e = refused(|o| PeerUp::loc_rib(loc_rib(), &open, name).encode(o));
        assert_eq!(e, EncodeError::TableNameLength { len: name.len() });
        let e = refused(|o| PeerDown::loc_rib(loc_rib(), name).encode(o));
        assert_eq!(e, EncodeError::TableNameLength { len: name.len() });
    }
    let ok = "x".repeat(255);
    assert!(PeerUp::loc_rib(loc_rib(), &open, &ok).encode(&mut Vec::new()).is_ok());
}

#[test]
fn loc_rib_peer_down_uses_reason_6() {
    // RFC 9069 §5.3: "The Peer Down notification MUST use reason code 6."
    let e = refused(|o| PeerDown { peer: loc_rib(), reason: PeerDownReason::PeerDeconfigured }.encode(o));
    assert_eq!(e, EncodeError::LocRibPeerDownReason { reason: 5 });
}

#[test]
fn peer_up_local_address() {
    let (sent, received) = (keel_open(), peer_open());
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let up = |peer: PeerHeader, local: Option<IpAddr>| PeerUp {
        peer,
        local_address: local,
        local_port: 179,
        remote_port: 1,
        sent_open: &sent,
        received_open: &received,
        information: Vec::new(),
    };
    // An IPv6 local address under an IPv4 peer (V=0) would be read as an IPv4 one.
    let e = refused(|o| up(peer(), Some(v6)).encode(o));
    assert_eq!(e, EncodeError::LocalAddressFamily { peer: IpAddr::V4(PEER), local: v6 });
    let e = refused(|o| up(PeerHeader::global(v6, 1, PEER, ts()), Some(IpAddr::V4(KEEL))).encode(o));
    assert!(matches!(e, EncodeError::LocalAddressFamily { .. }));
    // RFC 9069 §5.2: a Loc-RIB instance has "Local Address: Zero-filled".
    let e = refused(|o| up(loc_rib(), Some(IpAddr::V4(KEEL))).encode(o));
    assert_eq!(e, EncodeError::LocRibLocalAddress(IpAddr::V4(KEEL)));
    // No local address at all is zero-filled, for any peer.
    assert!(up(peer(), None).encode(&mut Vec::new()).is_ok());
}

#[test]
fn values_too_long_for_their_length_fields() {
    let big = "x".repeat(65536);
    let too_long = |e: EncodeError| matches!(e, EncodeError::TooLong { len: 65536, limit: 65535, .. });
    assert!(too_long(refused(|o| Initiation::new(&big, "d").encode(o))));
    assert!(too_long(refused(|o| Initiation { strings: vec!["ok", &big], ..Initiation::new("n", "d") }.encode(o))));
    let t = Termination { reason: TerminationReason::Unspecified, strings: vec![&big] };
    assert!(too_long(refused(|o| t.encode(o))));
    let info = vec![PeerInformation::String("ok"), PeerInformation::Other { tlv_type: 65531, value: big.as_bytes() }];
    let reason = PeerDownReason::LocalSystemClosedTlvData(info);
    assert!(too_long(refused(|o| PeerDown { peer: loc_rib(), reason }.encode(o))));
    let stats = vec![Stat::RoutesInLocRib(1), Stat::Other { stat_type: 65532, data: vec![0; 65536] }];
    assert!(too_long(refused(|o| StatisticsReport::new(loc_rib(), stats).encode(o))));
    // 65535 octets fit.
    let fits = "x".repeat(65535);
    assert!(Initiation::new(&fits, "d").encode(&mut Vec::new()).is_ok());
}
