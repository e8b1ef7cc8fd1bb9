//! Golden vectors: every message type written out by hand from the RFC layouts, one field per
//! line with a comment, and compared byte for byte with what keel-bmp encodes. The per-peer
//! headers and BGP PDUs are the hand-written constants of `util`.

use crate::util::*;
use keel_bmp::header::flags;
use keel_bmp::{
    AdjRib, Initiation, PeerDown, PeerDownReason, PeerHeader, PeerInformation, PeerType, PeerUp, RouteMonitoring, Stat,
    StatisticsReport, Termination, TerminationReason, Timestamp,
};
use keel_wire::Family;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

#[test]
fn fixtures_are_what_keel_wire_writes() {
    assert_eq!(keel_open(), hex(&[KEEL_OPEN_HEX]));
    assert_eq!(peer_open(), hex(&[PEER_OPEN_HEX]));
    assert_eq!(loc_rib_open(), hex(&[LOC_RIB_OPEN_HEX]));
    assert_eq!(update(), hex(&[UPDATE_HEX]));
    assert_eq!(notification(), hex(&[NOTIFICATION_HEX]));
    assert_eq!(
        keel_bmp::route_monitoring::end_of_rib_update(Family::IPV6_UNICAST).unwrap(),
        hex(&[END_OF_RIB_IPV6_HEX])
    );
    // IPv4 unicast's End-of-RIB is the empty UPDATE.
    assert_eq!(
        keel_bmp::route_monitoring::end_of_rib_update(Family::IPV4_UNICAST).unwrap(),
        hex(&[MARKER, "0017 02", "0000 0000"])
    );
}

// ---------------------------------------------------------------------------------------------
// Per-peer header (RFC 7854 §4.2, RFC 8671 §4, RFC 9069 §4)
// ---------------------------------------------------------------------------------------------

fn header_bytes(h: &PeerHeader) -> Vec<u8> {
    let mut out = Vec::new();
    h.encode(&mut out);
    assert_eq!(out.len(), keel_bmp::header::PEER_HEADER_LEN);
    out
}

#[test]
fn per_peer_header_global_ipv4() {
    assert_eq!(header_bytes(&peer()), hex(&[PEER_HEX]));
}

#[test]
fn per_peer_header_global_ipv6_adj_rib_out_post_policy_legacy_as_path() {
    let h = PeerHeader {
        peer_type: PeerType::Global {
            address: "2001:db8::2".parse().unwrap(),
            rib: AdjRib::OutPostPolicy,
            legacy_as_path: true,
        },
        peer_as: 64512,
        bgp_id: Ipv4Addr::new(10, 0, 0, 2),
        timestamp: Timestamp::UNAVAILABLE,
    };
    let want = hex(&[
        "00",                                  // Peer Type 0
        "f0",                                  // V=1 (IPv6) L=1 (post-policy) A=1 (2-octet AS_PATH) O=1
        "0000000000000000",                    // Peer Distinguisher
        "20010db8 00000000 00000000 00000002", // Peer Address 2001:db8::2
        "0000fc00",                            // Peer AS 64512
        "0a000002",                            // Peer BGP ID 10.0.0.2
        "00000000 00000000",                   // Timestamp unavailable
    ]);
    assert_eq!(header_bytes(&h), want);
}

#[test]
fn per_peer_header_views_set_l_and_o() {
    // RFC 7854 §4.2 L flag, RFC 8671 §4 O flag; the flags octet is the second one.
    for (rib, bits) in [
        (AdjRib::InPrePolicy, 0x00),
        (AdjRib::InPostPolicy, 0x40),
        (AdjRib::OutPrePolicy, 0x10),
        (AdjRib::OutPostPolicy, 0x50),
    ] {
        assert_eq!(header_bytes(&peer().with_rib(rib))[1], bits, "{rib:?}");
    }
    assert_eq!((flags::POST_POLICY, flags::ADJ_RIB_OUT), (0x40, 0x10));
}

#[test]
fn per_peer_header_ipv4_mapped_address_is_ipv4() {
    // A session accepted on a dual-stack socket reports ::ffff:192.0.2.2; BMP sees 192.0.2.2.
    let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 2).to_ipv6_mapped());
    let h = PeerHeader::global(mapped, PEER_AS, PEER, ts());
    assert_eq!(header_bytes(&h), hex(&[PEER_HEX]));
}

#[test]
fn per_peer_header_loc_rib() {
    assert_eq!(header_bytes(&loc_rib()), hex(&[LOC_RIB_HEX]));
    // A VRF's filtered Loc-RIB: distinguisher 65000:100 (RD type 0), F flag set.
    let h = PeerHeader {
        peer_type: PeerType::LocRib { distinguisher: 0x0000_fde8_0000_0064, filtered: true },
        ..loc_rib()
    };
    let want = hex(&[
        "03",                                  // Peer Type 3
        "80",                                  // F=1 (filtered), reserved bits 0
        "0000 fde8 00000064",                  // Peer Distinguisher: RD type 0, 65000:100
        "00000000 00000000 00000000 00000000", // Peer Address zero-filled
        "0000fde9 c0000201",                   // Peer AS 65001, BGP ID 192.0.2.1
        "00000000 00000000",                   // Timestamp unavailable
    ]);
    assert_eq!(header_bytes(&h), want);
    // with_rib leaves a Loc-RIB header alone.
    assert_eq!(loc_rib().with_rib(AdjRib::OutPostPolicy), loc_rib());
}

#[test]
fn timestamps() {
    assert_eq!(Timestamp::new(5, 2_500_000), Timestamp::new(7, 500_000));
    assert_eq!(Timestamp::new(u32::MAX, 1_000_000), Timestamp::new(u32::MAX, 999_999));
    assert_eq!(Timestamp::from_unix(Duration::new(1_700_000_000, 123_456_789)), ts());
    let far = Timestamp::from_unix(Duration::from_secs(1 << 40));
    assert_eq!((far.seconds(), far.microseconds()), (u32::MAX, 999_999));
    assert_eq!(Timestamp::default(), Timestamp::UNAVAILABLE);
}

// ---------------------------------------------------------------------------------------------
// Initiation (RFC 7854 §4.3) and Termination (§4.5)
// ---------------------------------------------------------------------------------------------

#[test]
fn initiation() {
    let m = Initiation { sys_name: "keel1", sys_descr: "keel 0.1.0", strings: vec!["hi"] };
    let want = hex(&[
        "03",                             // Version 3
        "00000023",                       // Message Length 35
        "04",                             // Message Type 4: Initiation
        "0002 0005 6b65656c31",           // sysName (2), 5 octets: "keel1"
        "0001 000a 6b65656c20302e312e30", // sysDescr (1), 10 octets: "keel 0.1.0"
        "0000 0002 6869",                 // String (0), 2 octets: "hi"
    ]);
    assert_eq!(encoded(|o| m.encode(o)), want);
}

#[test]
fn termination() {
    let m = Termination { reason: TerminationReason::AdministrativelyClosed, strings: vec!["restart"] };
    let want = hex(&[
        "03 00000017 05",           // Version 3, length 23, type 5: Termination
        "0001 0002 0000",           // Reason (1), 2 octets: 0, session administratively closed
        "0000 0007 72657374617274", // String (0), 7 octets: "restart"
    ]);
    assert_eq!(encoded(|o| m.encode(o)), want);
    let codes = [
        TerminationReason::AdministrativelyClosed,
        TerminationReason::Unspecified,
        TerminationReason::OutOfResources,
        TerminationReason::RedundantConnection,
        TerminationReason::PermanentlyAdministrativelyClosed,
        TerminationReason::Other(65531),
    ]
    .map(TerminationReason::code);
    assert_eq!(codes, [0, 1, 2, 3, 4, 65531]);
}

// ---------------------------------------------------------------------------------------------
// Peer Up (RFC 7854 §4.10, RFC 9069 §5.2)
// ---------------------------------------------------------------------------------------------

#[test]
fn peer_up_global() {
    let (sent, received) = (keel_open(), peer_open());
    let m = global_peer_up(&sent, &received, vec![PeerInformation::AdminLabel("edge")]);
    let want = hex(&[
        "03 00000096 03",                      // Version 3, length 150, type 3: Peer Up
        PEER_HEX,                              // per-peer header
        "00000000 00000000 00000000 c0000201", // Local Address 192.0.2.1 (V=0: last 4 octets)
        "00b3",                                // Local Port 179
        "c350",                                // Remote Port 50000
        KEEL_OPEN_HEX,                         // Sent OPEN
        PEER_OPEN_HEX,                         // Received OPEN
        "0004 0004 65646765",                  // Admin Label (4), 4 octets: "edge"
    ]);
    assert_eq!(encoded(|o| m.encode(o)), want);
}

#[test]
fn peer_up_loc_rib() {
    let open = loc_rib_open();
    let m = PeerUp::loc_rib(loc_rib(), &open, PeerInformation::GLOBAL_TABLE_NAME);
    let want = hex(&[
        "03 000000a4 03",                      // Version 3, length 164, type 3: Peer Up
        LOC_RIB_HEX,                           // per-peer header, peer type 3
        "00000000 00000000 00000000 00000000", // Local Address: zero-filled (RFC 9069 §5.2)
        "0000 0000",                           // Local Port 0, Remote Port 0
        LOC_RIB_OPEN_HEX,                      // Sent OPEN: fabricated
        LOC_RIB_OPEN_HEX,                      // Received OPEN: "Repeat of the same sent OPEN"
        "0003 0006 676c6f62616c",              // VRF/Table Name (3), 6 octets: "global"
    ]);
    assert_eq!(encoded(|o| m.encode(o)), want);
}

// ---------------------------------------------------------------------------------------------
// Peer Down (RFC 7854 §4.9, RFC 9069 §5.3)
// ---------------------------------------------------------------------------------------------

fn peer_down(reason: PeerDownReason<'_>) -> Vec<u8> {
    encoded(|o| PeerDown { peer: peer(), reason }.encode(o))
}

#[test]
fn peer_down_every_reason() {
    let n = notification();
    let common = |len: &str| format!("03 {len} 02"); // Version 3, length, type 2: Peer Down
                                                     // 1: local system closed, the NOTIFICATION it sent follows. 6 + 42 + 1 + 21 = 70.
    let want = hex(&[&common("00000046"), PEER_HEX, "01", NOTIFICATION_HEX]);
    assert_eq!(peer_down(PeerDownReason::LocalSystemClosedNotification(&n)), want);
    // 2: local system closed, FSM event 10 (HoldTimer_Expires, RFC 4271 §8.1.3). 6 + 42 + 1 + 2.
    let want = hex(&[&common("00000033"), PEER_HEX, "02", "000a"]);
    assert_eq!(peer_down(PeerDownReason::LocalSystemClosedFsmEvent(10)), want);
    // 3: remote system closed, the NOTIFICATION it sent follows.
    let want = hex(&[&common("00000046"), PEER_HEX, "03", NOTIFICATION_HEX]);
    assert_eq!(peer_down(PeerDownReason::RemoteSystemClosedNotification(&n)), want);
    // 4: remote system closed, no data (a restarting peer's dropped TCP session). 6 + 42 + 1.
    let want = hex(&[&common("00000031"), PEER_HEX, "04"]);
    assert_eq!(peer_down(PeerDownReason::RemoteSystemClosedNoData), want);
    // 5: peer de-configured, no data.
    let want = hex(&[&common("00000031"), PEER_HEX, "05"]);
    assert_eq!(peer_down(PeerDownReason::PeerDeconfigured), want);
}

#[test]
fn peer_down_loc_rib() {
    let m = PeerDown::loc_rib(loc_rib(), PeerInformation::GLOBAL_TABLE_NAME);
    let want = hex(&[
        "03 0000003b 02",         // Version 3, length 59, type 2: Peer Down
        LOC_RIB_HEX,              // per-peer header, peer type 3
        "06",                     // Reason 6: local system closed, TLV data follows
        "0003 0006 676c6f62616c", // VRF/Table Name (3): "global", as in the Peer Up
    ]);
    assert_eq!(encoded(|o| m.encode(o)), want);
}

// ---------------------------------------------------------------------------------------------
// Route Monitoring (RFC 7854 §4.6)
// ---------------------------------------------------------------------------------------------

#[test]
fn route_monitoring_post_policy_adj_rib_in() {
    let u = update();
    let m = RouteMonitoring::new(peer().with_rib(AdjRib::InPostPolicy), &u);
    let mut header = hex(&[PEER_HEX]);
    header[1] = 0x40; // L=1: post-policy
    let want = [hex(&["03 0000005f 00"]), header, hex(&[UPDATE_HEX])].concat(); // length 95, type 0
    assert_eq!(encoded(|o| m.encode(o)), want);
}

#[test]
fn route_monitoring_end_of_rib_loc_rib() {
    let got = encoded(|o| RouteMonitoring::encode_end_of_rib(loc_rib(), Family::IPV6_UNICAST, o));
    let want = hex(&[
        "03 0000004d 00",    // Version 3, length 77 = 6 + 42 + 29, type 0: Route Monitoring
        LOC_RIB_HEX,         // per-peer header, peer type 3
        END_OF_RIB_IPV6_HEX, // the End-of-RIB UPDATE of IPv6 unicast
    ]);
    assert_eq!(got, want);
}

// ---------------------------------------------------------------------------------------------
// Statistics Report (RFC 7854 §4.8)
// ---------------------------------------------------------------------------------------------

#[test]
fn statistics_report() {
    let m = StatisticsReport::new(
        peer(),
        vec![
            Stat::PrefixesRejectedByInboundPolicy(3),
            Stat::RoutesInAdjRibIn(1000),
            Stat::RoutesInAdjRibInPerFamily(Family::IPV4_UNICAST, 600),
            Stat::StaleRoutesPerFamily(Family::IPV6_UNICAST, 5),
        ],
    );
    let want = hex(&[
        "03 00000066 01",                     // Version 3, length 102, type 1: Statistics Report
        PEER_HEX,                             // per-peer header
        "00000004",                           // Stats Count 4
        "0000 0004 00000003",                 // type 0, 4 octets: 32-bit counter 3
        "0007 0008 00000000000003e8",         // type 7, 8 octets: 64-bit gauge 1000
        "0009 000b 0001 01 0000000000000258", // type 9, 11 octets: AFI 1 SAFI 1, gauge 600
        "001b 000b 0002 01 0000000000000005", // type 27 (RFC 9972), IPv6 unicast, gauge 5
    ]);
    assert_eq!(encoded(|o| m.encode(o)), want);
}

#[test]
fn statistics_types_and_shapes() {
    let f = Family::IPV4_UNICAST;
    // (stat, type code, Stat Len): 4 for counters, 8 for gauges, 11 for per-AFI/SAFI gauges.
    let all = [
        (Stat::PrefixesRejectedByInboundPolicy(1), 0, 4),
        (Stat::DuplicatePrefixAdvertisements(1), 1, 4),
        (Stat::DuplicateWithdraws(1), 2, 4),
        (Stat::UpdatesInvalidatedByClusterListLoop(1), 3, 4),
        (Stat::UpdatesInvalidatedByAsPathLoop(1), 4, 4),
        (Stat::UpdatesInvalidatedByOriginatorId(1), 5, 4),
        (Stat::UpdatesInvalidatedByAsConfedLoop(1), 6, 4),
        (Stat::RoutesInAdjRibIn(1), 7, 8),
        (Stat::RoutesInLocRib(1), 8, 8),
        (Stat::RoutesInAdjRibInPerFamily(f, 1), 9, 11),
        (Stat::RoutesInLocRibPerFamily(f, 1), 10, 11),
        (Stat::UpdatesTreatedAsWithdraw(1), 11, 4),
        (Stat::PrefixesTreatedAsWithdraw(1), 12, 4),
        (Stat::DuplicateUpdates(1), 13, 4),
        (Stat::RoutesInPrePolicyAdjRibOut(1), 14, 8),
        (Stat::RoutesInPostPolicyAdjRibOut(1), 15, 8),
        (Stat::RoutesInPrePolicyAdjRibOutPerFamily(f, 1), 16, 11),
        (Stat::RoutesInPostPolicyAdjRibOutPerFamily(f, 1), 17, 11),
        (Stat::RoutesInPrePolicyAdjRibIn(1), 18, 8),
        (Stat::RoutesInPrePolicyAdjRibInPerFamily(f, 1), 19, 11),
        (Stat::RoutesInPostPolicyAdjRibIn(1), 20, 8),
        (Stat::RoutesInPostPolicyAdjRibInPerFamily(f, 1), 21, 11),
        (Stat::RoutesRejectedByInboundPolicyPerFamily(f, 1), 22, 11),
        (Stat::RoutesAcceptedByInboundPolicyPerFamily(f, 1), 23, 11),
        (Stat::StaleRoutesPerFamily(f, 1), 27, 11),
        (Stat::LlgrStaleRoutesPerFamily(f, 1), 28, 11),
        (Stat::Other { stat_type: 65531, data: vec![1, 2, 3] }, 65531, 3),
    ];
    for (stat, code, len) in all {
        assert_eq!(stat.stat_type(), code);
        let bytes = encoded(|o| StatisticsReport::new(peer(), vec![stat.clone()]).encode(o));
        let tlv = &bytes[6 + 42 + 4..];
        assert_eq!(tlv[..2], code.to_be_bytes(), "{stat:?}");
        assert_eq!(tlv[2..4], (len as u16).to_be_bytes(), "{stat:?}");
        assert_eq!(tlv.len(), 4 + len, "{stat:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// The Message enum
// ---------------------------------------------------------------------------------------------

#[test]
fn message_enum_encodes_as_each_struct() {
    use keel_bmp::{Message, MessageType};
    let (sent, received, u) = (keel_open(), peer_open(), update());
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let messages = [
        (Message::Initiation(Initiation::new("keel1", "keel")), MessageType::Initiation, 4),
        (Message::Termination(Termination::new(TerminationReason::Unspecified)), MessageType::Termination, 5),
        (
            Message::PeerUp(PeerUp {
                peer: PeerHeader::global(v6, 1, PEER, ts()),
                local_address: Some(v6),
                local_port: 179,
                remote_port: 1,
                sent_open: &sent,
                received_open: &received,
                information: Vec::new(),
            }),
            MessageType::PeerUpNotification,
            3,
        ),
        (
            Message::PeerDown(PeerDown { peer: peer(), reason: PeerDownReason::PeerDeconfigured }),
            MessageType::PeerDownNotification,
            2,
        ),
        (Message::RouteMonitoring(RouteMonitoring::new(peer(), &u)), MessageType::RouteMonitoring, 0),
        (Message::StatisticsReport(StatisticsReport::new(peer(), Vec::new())), MessageType::StatisticsReport, 1),
    ];
    for (m, t, code) in messages {
        assert_eq!(m.message_type(), t);
        assert_eq!(t as u8, code);
        let bytes = encoded(|o| m.encode(o));
        assert_eq!(bytes[5], code);
        assert_eq!(u32::from_be_bytes(bytes[1..5].try_into().unwrap()) as usize, bytes.len());
    }
}

#[test]
fn encode_appends() {
    let mut out = vec![0xaa];
    Initiation::new("a", "b").encode(&mut out).unwrap();
    Termination::new(TerminationReason::Unspecified).encode(&mut out).unwrap();
    assert_eq!(out[0], 0xaa);
    assert_eq!(out[1..7], hex(&["03 00000010 04"])); // 6 + (4 + 1) + (4 + 1) = 16
}
