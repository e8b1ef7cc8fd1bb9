//! Oracle checks against netgauze-bmp-pkt, an independent BMP decoder: every message type keel
//! encodes must parse there, to its last octet, into the fields keel meant (peer type, flags,
//! distinguisher, addresses, AS, BGP ID, timestamp, TLVs, reason codes, statistics, and the BGP
//! PDUs inside as netgauze-bgp-pkt reads them).

use crate::util::*;
use keel_bmp::{
    AdjRib, Initiation, PeerDown, PeerDownReason, PeerHeader, PeerInformation, PeerType, PeerUp, RouteMonitoring, Stat,
    StatisticsReport, Termination, TerminationReason, Timestamp,
};
use keel_wire::{AsPath, CodecOptions, Family, Update};
use netgauze_bgp_pkt::capabilities::BgpCapability;
use netgauze_bgp_pkt::nlri::RouteDistinguisher;
use netgauze_bgp_pkt::notification::{BgpNotificationMessage, HoldTimerExpiredError};
use netgauze_bgp_pkt::open::BgpOpenMessage;
use netgauze_bgp_pkt::path_attribute::{AsPath as NgAsPath, PathAttributeValue};
use netgauze_bgp_pkt::BgpMessage;
use netgauze_bmp_pkt::iana::PeerTerminationCode;
use netgauze_bmp_pkt::v3::{
    BmpMessageValue, InitiationInformation as Info, PeerDownNotificationReason as NgReason, StatisticsCounter as C,
    TerminationInformation,
};
use netgauze_bmp_pkt::wire::deserializer::BmpParsingContext;
use netgauze_bmp_pkt::{BmpMessage, BmpPeerType, CounterU32, GaugeU64, PeerHeader as NgPeerHeader};
use netgauze_iana::address_family::AddressType;
use netgauze_parse_utils::reader::SliceReader;
use netgauze_parse_utils::traits::ParseFromWithOneInput;
use std::net::IpAddr;

/// Parses every message in `bytes`, which must end exactly at a message's end.
pub fn ng_parse_all(bytes: &[u8]) -> Vec<BmpMessageValue> {
    let mut ctx = BmpParsingContext::default();
    let mut cur = SliceReader::new(bytes);
    let mut out = Vec::new();
    while cur.remaining() > 0 {
        let m = <BmpMessage as ParseFromWithOneInput<'_, &mut BmpParsingContext>>::parse(&mut cur, &mut ctx)
            .unwrap_or_else(|e| panic!("netgauze rejects keel's bytes {bytes:02x?}: {e}"));
        match m {
            BmpMessage::V3(v) => out.push(v),
            m => panic!("not BMP version 3: {m:?}"),
        }
    }
    out
}

pub fn ng_parse(bytes: &[u8]) -> BmpMessageValue {
    let mut all = ng_parse_all(bytes);
    assert_eq!(all.len(), 1, "one message expected");
    all.remove(0)
}

fn encode(encode: impl FnOnce(&mut Vec<u8>) -> Result<(), keel_bmp::EncodeError>) -> BmpMessageValue {
    ng_parse(&encoded(encode))
}

/// The per-peer header of `util::peer()`, as netgauze reads it.
fn assert_is_peer(h: &NgPeerHeader, post_policy: bool, adj_rib_out: bool) {
    let want = BmpPeerType::GlobalInstancePeer { ipv6: false, post_policy, asn2: false, adj_rib_out };
    assert_eq!(h.peer_type(), want);
    assert_eq!(h.rd(), None);
    assert_eq!(h.address(), Some(IpAddr::V4(PEER)));
    assert_eq!(h.peer_as(), PEER_AS);
    assert_eq!(h.bgp_id(), PEER);
    let t = h.timestamp().expect("a timestamp");
    assert_eq!((t.timestamp(), t.timestamp_subsec_micros()), (1_700_000_000, 123_456));
}

/// The per-peer header of `util::loc_rib()`.
fn assert_is_loc_rib(h: &NgPeerHeader) {
    assert_eq!(h.peer_type(), BmpPeerType::LocRibInstancePeer { filtered: false });
    assert_eq!(h.rd(), None);
    assert_eq!(h.address(), None);
    assert_eq!(h.peer_as(), KEEL_AS);
    assert_eq!(h.bgp_id(), KEEL);
    assert_eq!(h.timestamp(), None);
    assert!(h.is_asn4());
}

fn open_of(m: &BgpMessage) -> &BgpOpenMessage {
    match m {
        BgpMessage::Open(o) => o,
        m => panic!("expected an OPEN, got {m:?}"),
    }
}

#[test]
fn initiation() {
    let m = Initiation { sys_name: "keel1", sys_descr: "keel 0.1.0", strings: vec!["hi", "there"] };
    let BmpMessageValue::Initiation(ng) = encode(|o| m.encode(o)) else { panic!("not an Initiation") };
    let want = [
        Info::SystemName("keel1".into()),
        Info::SystemDescription("keel 0.1.0".into()),
        Info::String("hi".into()),
        Info::String("there".into()),
    ];
    assert_eq!(ng.information(), want);
}

#[test]
fn termination() {
    let cases = [
        (TerminationReason::AdministrativelyClosed, PeerTerminationCode::AdministrativelyClosed),
        (TerminationReason::Unspecified, PeerTerminationCode::UnspecifiedReason),
        (TerminationReason::OutOfResources, PeerTerminationCode::OutOfResources),
        (TerminationReason::RedundantConnection, PeerTerminationCode::RedundantConnection),
        (TerminationReason::PermanentlyAdministrativelyClosed, PeerTerminationCode::PermanentlyAdministrativelyClosed),
        (TerminationReason::Other(65533), PeerTerminationCode::Experimental65533),
    ];
    for (reason, code) in cases {
        let m = Termination { reason, strings: vec!["keel is restarting"] };
        let BmpMessageValue::Termination(ng) = encode(|o| m.encode(o)) else { panic!("not a Termination") };
        let want = [TerminationInformation::Reason(code), TerminationInformation::String("keel is restarting".into())];
        assert_eq!(ng.information(), want);
    }
}

#[test]
fn peer_up_global_ipv4() {
    let (sent, received) = (keel_open(), peer_open());
    let m =
        global_peer_up(&sent, &received, vec![PeerInformation::String("transit"), PeerInformation::AdminLabel("edge")]);
    let BmpMessageValue::PeerUpNotification(ng) = encode(|o| m.encode(o)) else { panic!("not a Peer Up") };
    assert_is_peer(ng.peer_header(), false, false);
    assert_eq!(ng.local_address(), Some(IpAddr::V4(KEEL)));
    assert_eq!((ng.local_port(), ng.remote_port()), (Some(179), Some(50000)));
    let (s, r) = (open_of(ng.sent_message()), open_of(ng.received_message()));
    assert_eq!((s.my_asn4(), s.bgp_id(), s.hold_time()), (KEEL_AS, KEEL, 90));
    assert_eq!((r.my_asn4(), r.bgp_id(), r.hold_time()), (PEER_AS, PEER, 90));
    assert_eq!(ng.information(), [Info::String("transit".into()), Info::AdminLabel("edge".into())]);
}

#[test]
fn peer_up_global_ipv6() {
    let (sent, received) = (keel_open(), peer_open());
    let (remote, local): (IpAddr, IpAddr) = ("2001:db8::2".parse().unwrap(), "2001:db8::1".parse().unwrap());
    let m = PeerUp {
        peer: PeerHeader::global(remote, PEER_AS, PEER, ts()),
        local_address: Some(local),
        local_port: 33000,
        remote_port: 179,
        sent_open: &sent,
        received_open: &received,
        information: Vec::new(),
    };
    let BmpMessageValue::PeerUpNotification(ng) = encode(|o| m.encode(o)) else { panic!("not a Peer Up") };
    let h = ng.peer_header();
    let v6 = BmpPeerType::GlobalInstancePeer { ipv6: true, post_policy: false, asn2: false, adj_rib_out: false };
    assert_eq!((h.peer_type(), h.address()), (v6, Some(remote)));
    assert_eq!(ng.local_address(), Some(local));
    assert_eq!((ng.local_port(), ng.remote_port()), (Some(33000), Some(179)));
    assert!(ng.information().is_empty());
}

#[test]
fn peer_up_loc_rib() {
    let open = loc_rib_open();
    let m = PeerUp::loc_rib(loc_rib(), &open, PeerInformation::GLOBAL_TABLE_NAME);
    let BmpMessageValue::PeerUpNotification(ng) = encode(|o| m.encode(o)) else { panic!("not a Peer Up") };
    assert_is_loc_rib(ng.peer_header());
    assert_eq!((ng.local_address(), ng.local_port(), ng.remote_port()), (None, None, None));
    assert_eq!(ng.sent_message(), ng.received_message());
    let o = open_of(ng.sent_message());
    assert_eq!((o.my_asn4(), o.bgp_id(), o.hold_time()), (KEEL_AS, KEEL, 0));
    // RFC 9069 §5.2: the fabricated OPEN carries the 4-octet AS and the families monitored.
    let caps = o.capabilities();
    assert!(caps.iter().any(|c| matches!(c, BgpCapability::FourOctetAs(a) if a.asn4() == KEEL_AS)));
    assert!(caps.iter().any(
        |c| matches!(c, BgpCapability::MultiProtocolExtensions(m) if m.address_type() == AddressType::Ipv4Unicast)
    ));
    assert_eq!(ng.information(), [Info::VrfTableName("global".into())]);
}

#[test]
fn peer_down_every_reason() {
    let n = notification();
    let hold_timer_expired =
        BgpMessage::Notification(BgpNotificationMessage::HoldTimerExpiredError(HoldTimerExpiredError::Unspecific {
            sub_code: 0,
            value: Box::new([]),
        }));
    let cases = [
        (
            PeerDownReason::LocalSystemClosedNotification(&n),
            NgReason::LocalSystemClosedNotificationPduFollows(hold_timer_expired.clone()),
        ),
        (PeerDownReason::LocalSystemClosedFsmEvent(10), NgReason::LocalSystemClosedFsmEventFollows(10)),
        (PeerDownReason::LocalSystemClosedFsmEvent(0), NgReason::LocalSystemClosedFsmEventFollows(0)),
        (
            PeerDownReason::RemoteSystemClosedNotification(&n),
            NgReason::RemoteSystemClosedNotificationPduFollows(hold_timer_expired),
        ),
        (PeerDownReason::RemoteSystemClosedNoData, NgReason::RemoteSystemClosedNoData),
        (PeerDownReason::PeerDeconfigured, NgReason::PeerDeConfigured),
    ];
    for (reason, want) in cases {
        let m = PeerDown { peer: peer(), reason };
        let BmpMessageValue::PeerDownNotification(ng) = encode(|o| m.encode(o)) else { panic!("not a Peer Down") };
        assert_is_peer(ng.peer_header(), false, false);
        assert_eq!(ng.reason(), &want);
    }
}

#[test]
fn peer_down_loc_rib() {
    let m = PeerDown::loc_rib(loc_rib(), PeerInformation::GLOBAL_TABLE_NAME);
    let BmpMessageValue::PeerDownNotification(ng) = encode(|o| m.encode(o)) else { panic!("not a Peer Down") };
    assert_is_loc_rib(ng.peer_header());
    assert_eq!(ng.reason(), &NgReason::LocalSystemClosedTlvDataFollows(Info::VrfTableName("global".into())));
}

#[test]
fn route_monitoring_in_every_adj_rib_view() {
    let u = update();
    for (rib, post_policy, adj_rib_out) in [
        (AdjRib::InPrePolicy, false, false),
        (AdjRib::InPostPolicy, true, false),
        (AdjRib::OutPrePolicy, false, true),
        (AdjRib::OutPostPolicy, true, true),
    ] {
        let m = RouteMonitoring::new(peer().with_rib(rib), &u);
        let BmpMessageValue::RouteMonitoring(ng) = encode(|o| m.encode(o)) else { panic!("not a Route Monitoring") };
        assert_is_peer(ng.peer_header(), post_policy, adj_rib_out);
        let BgpMessage::Update(up) = ng.update_message() else { panic!("not an UPDATE") };
        let nlri: Vec<_> = up.nlri().iter().map(|n| n.network().address().to_string()).collect();
        assert_eq!(nlri, ["192.0.2.0/24"]);
        let as_path = up.path_attributes().iter().find_map(|a| match a.value() {
            PathAttributeValue::AsPath(NgAsPath::As4PathSegments(s)) => Some(s[0].as_numbers().to_vec()),
            _ => None,
        });
        assert_eq!(as_path, Some(vec![PEER_AS]));
    }
}

#[test]
fn route_monitoring_legacy_as_path() {
    // A flag: a peer without the four-octet AS capability, its UPDATE as received.
    let mut u =
        Update { announced: vec![keel_wire::Nlri::new("198.51.100.0/24".parse().unwrap())], ..Update::default() };
    u.attributes.origin = Some(keel_wire::Origin::Igp);
    u.attributes.as_path = Some(AsPath::sequence([64600, 64601]));
    u.attributes.next_hop = Some(PEER);
    let u = u.encode(&CodecOptions { four_octet_as: false, ..CodecOptions::default() }).unwrap();
    let mut h = peer();
    h.peer_type = PeerType::Global { address: IpAddr::V4(PEER), rib: AdjRib::InPrePolicy, legacy_as_path: true };
    let BmpMessageValue::RouteMonitoring(ng) = encode(|o| RouteMonitoring::new(h, &u).encode(o)) else { panic!() };
    let want = BmpPeerType::GlobalInstancePeer { ipv6: false, post_policy: false, asn2: true, adj_rib_out: false };
    assert_eq!(ng.peer_header().peer_type(), want);
    let BgpMessage::Update(up) = ng.update_message() else { panic!("not an UPDATE") };
    let as_path = up.path_attributes().iter().find_map(|a| match a.value() {
        PathAttributeValue::AsPath(NgAsPath::As2PathSegments(s)) => Some(s[0].as_numbers().to_vec()),
        _ => None,
    });
    assert_eq!(as_path, Some(vec![64600, 64601]));
}

#[test]
fn route_monitoring_end_of_rib() {
    for (family, address_type) in
        [(Family::IPV4_UNICAST, AddressType::Ipv4Unicast), (Family::IPV6_UNICAST, AddressType::Ipv6Unicast)]
    {
        let m = encode(|o| RouteMonitoring::encode_end_of_rib(loc_rib(), family, o));
        let BmpMessageValue::RouteMonitoring(ng) = m else { panic!("not a Route Monitoring") };
        assert_is_loc_rib(ng.peer_header());
        let BgpMessage::Update(up) = ng.update_message() else { panic!("not an UPDATE") };
        assert_eq!(up.end_of_rib(), Some(address_type), "{family}");
    }
}

#[test]
fn loc_rib_filtered_with_a_distinguisher() {
    let h = PeerHeader {
        peer_type: PeerType::LocRib { distinguisher: 0x0000_fde8_0000_0064, filtered: true },
        timestamp: Timestamp::new(1, 2),
        ..loc_rib()
    };
    let u = update();
    let BmpMessageValue::RouteMonitoring(ng) = encode(|o| RouteMonitoring::new(h, &u).encode(o)) else { panic!() };
    let h = ng.peer_header();
    assert_eq!(h.peer_type(), BmpPeerType::LocRibInstancePeer { filtered: true });
    assert_eq!(h.rd(), Some(RouteDistinguisher::As2Administrator { asn2: 65000, number: 100 }));
    assert_eq!(h.address(), None);
    let t = h.timestamp().expect("a timestamp");
    assert_eq!((t.timestamp(), t.timestamp_subsec_micros()), (1, 2));
}

#[test]
fn statistics_report_every_type() {
    let (v4, v6) = (Family::IPV4_UNICAST, Family::IPV6_UNICAST);
    let (a4, a6) = (AddressType::Ipv4Unicast, AddressType::Ipv6Unicast);
    let g = GaugeU64::new;
    let c = CounterU32::new;
    // Distinct values, so a type decoded as its neighbour would show.
    let cases = [
        (Stat::PrefixesRejectedByInboundPolicy(100), C::NumberOfPrefixesRejectedByInboundPolicy(c(100))),
        (Stat::DuplicatePrefixAdvertisements(101), C::NumberOfDuplicatePrefixAdvertisements(c(101))),
        (Stat::DuplicateWithdraws(102), C::NumberOfDuplicateWithdraws(c(102))),
        (Stat::UpdatesInvalidatedByClusterListLoop(103), C::NumberOfUpdatesInvalidatedDueToClusterListLoop(c(103))),
        (Stat::UpdatesInvalidatedByAsPathLoop(104), C::NumberOfUpdatesInvalidatedDueToAsPathLoop(c(104))),
        (Stat::UpdatesInvalidatedByOriginatorId(105), C::NumberOfUpdatesInvalidatedDueToOriginatorId(c(105))),
        (
            Stat::UpdatesInvalidatedByAsConfedLoop(u32::MAX),
            C::NumberOfUpdatesInvalidatedDueToAsConfederationLoop(c(u32::MAX)),
        ),
        (Stat::RoutesInAdjRibIn(1 << 40), C::NumberOfRoutesInAdjRibIn(g(1 << 40))),
        (Stat::RoutesInLocRib(1_050_000), C::NumberOfRoutesInLocRib(g(1_050_000))),
        (Stat::RoutesInAdjRibInPerFamily(v4, 107), C::NumberOfRoutesInPerAfiSafiAdjRibIn(a4, g(107))),
        (Stat::RoutesInLocRibPerFamily(v6, 108), C::NumberOfRoutesInPerAfiSafiLocRib(a6, g(108))),
        (Stat::UpdatesTreatedAsWithdraw(109), C::NumberOfUpdatesSubjectedToTreatAsWithdraw(c(109))),
        (Stat::PrefixesTreatedAsWithdraw(110), C::NumberOfPrefixesSubjectedToTreatAsWithdraw(c(110))),
        (Stat::DuplicateUpdates(111), C::NumberOfDuplicateUpdateMessagesReceived(c(111))),
        (Stat::RoutesInPrePolicyAdjRibOut(112), C::NumberOfRoutesInPrePolicyAdjRibOut(g(112))),
        (Stat::RoutesInPostPolicyAdjRibOut(113), C::NumberOfRoutesInPostPolicyAdjRibOut(g(113))),
        (
            Stat::RoutesInPrePolicyAdjRibOutPerFamily(v4, 114),
            C::NumberOfRoutesInPerAfiSafiPrePolicyAdjRibOut(a4, g(114)),
        ),
        (
            Stat::RoutesInPostPolicyAdjRibOutPerFamily(v6, 115),
            C::NumberOfRoutesInPerAfiSafiPostPolicyAdjRibOut(a6, g(115)),
        ),
        (Stat::RoutesInPrePolicyAdjRibIn(116), C::NumberOfRoutesInPrePolicyAdjRibIn(g(116))),
        (Stat::RoutesInPrePolicyAdjRibInPerFamily(v4, 117), C::NumberOfRoutesInPerAfiSafiPrePolicyAdjRibIn(a4, g(117))),
        (Stat::RoutesInPostPolicyAdjRibIn(118), C::NumberOfRoutesInPostPolicyAdjRibIn(g(118))),
        (
            Stat::RoutesInPostPolicyAdjRibInPerFamily(v6, 119),
            C::NumberOfRoutesInPerAfiSafiPostPolicyAdjRibIn(a6, g(119)),
        ),
        (
            Stat::RoutesRejectedByInboundPolicyPerFamily(v4, 120),
            C::NumberOfRoutesInPerAfiSafiPrePolicyAdjRibInRejected(a4, g(120)),
        ),
        (
            Stat::RoutesAcceptedByInboundPolicyPerFamily(v4, 121),
            C::NumberOfRoutesInPerAfiSafiPostPolicyAdjRibInAccepted(a4, g(121)),
        ),
        (Stat::StaleRoutesPerFamily(v4, 122), C::NumberOfRoutesInPerAfiSafiMarkedStaleByGr(a4, g(122))),
        (Stat::LlgrStaleRoutesPerFamily(v6, 123), C::NumberOfRoutesInPerAfiSafiMarkedStaleByLlgr(a6, g(123))),
        (Stat::Other { stat_type: 65534, data: vec![9, 8, 7] }, C::Experimental65534(Box::new([9, 8, 7]))),
    ];
    let (stats, want): (Vec<Stat>, Vec<C>) = cases.into_iter().unzip();
    let m = StatisticsReport::new(peer(), stats);
    let BmpMessageValue::StatisticsReport(ng) = encode(|o| m.encode(o)) else { panic!("not a Statistics Report") };
    assert_is_peer(ng.peer_header(), false, false);
    assert_eq!(ng.counters(), want);

    // A Loc-RIB instance's counts (types 8 and 10) under peer type 3.
    let m = StatisticsReport::new(loc_rib(), vec![Stat::RoutesInLocRib(7), Stat::RoutesInLocRibPerFamily(v4, 7)]);
    let BmpMessageValue::StatisticsReport(ng) = encode(|o| m.encode(o)) else { panic!("not a Statistics Report") };
    assert_is_loc_rib(ng.peer_header());
    assert_eq!(ng.counters(), [C::NumberOfRoutesInLocRib(g(7)), C::NumberOfRoutesInPerAfiSafiLocRib(a4, g(7))]);
}

#[test]
fn a_whole_session_parses_as_one_stream() {
    // What a station reads from a fresh connection: netgauze must find every message boundary.
    let (sent, received, open, u) = (keel_open(), peer_open(), loc_rib_open(), update());
    let mut out = Vec::new();
    Initiation::new("keel1", "keel 0.1.0").encode(&mut out).unwrap();
    global_peer_up(&sent, &received, Vec::new()).encode(&mut out).unwrap();
    PeerUp::loc_rib(loc_rib(), &open, "global").encode(&mut out).unwrap();
    RouteMonitoring::new(peer(), &u).encode(&mut out).unwrap();
    RouteMonitoring::encode_end_of_rib(peer(), Family::IPV4_UNICAST, &mut out).unwrap();
    RouteMonitoring::new(loc_rib(), &u).encode(&mut out).unwrap();
    RouteMonitoring::encode_end_of_rib(loc_rib(), Family::IPV4_UNICAST, &mut out).unwrap();
    StatisticsReport::new(loc_rib(), vec![Stat::RoutesInLocRib(1)]).encode(&mut out).unwrap();
    PeerDown { peer: peer(), reason: PeerDownReason::RemoteSystemClosedNoData }.encode(&mut out).unwrap();
    PeerDown::loc_rib(loc_rib(), "global").encode(&mut out).unwrap();
    Termination::new(TerminationReason::AdministrativelyClosed).encode(&mut out).unwrap();
    let kinds: Vec<&str> = ng_parse_all(&out)
        .iter()
        .map(|m| match m {
            BmpMessageValue::Initiation(_) => "initiation",
            BmpMessageValue::PeerUpNotification(_) => "peer-up",
            BmpMessageValue::RouteMonitoring(_) => "route-monitoring",
            BmpMessageValue::StatisticsReport(_) => "stats",
            BmpMessageValue::PeerDownNotification(_) => "peer-down",
            BmpMessageValue::Termination(_) => "termination",
            m => panic!("unexpected {m:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "initiation",
            "peer-up",
            "peer-up",
            "route-monitoring",
            "route-monitoring",
            "route-monitoring",
            "route-monitoring",
            "stats",
            "peer-down",
            "peer-down",
            "termination"
        ]
    );
}
