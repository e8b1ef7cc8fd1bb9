//! Properties over random input, with netgauze-bmp-pkt as the oracle: whatever the peer, view,
//! distinguisher, timestamp, statistics or strings, the decoder reads back what keel meant.

use crate::oracle::ng_parse;
use crate::util::encoded;
use keel_bmp::{AdjRib, Initiation, PeerHeader, PeerType, Stat, StatisticsReport, Timestamp};
use keel_wire::Family;
use netgauze_bgp_pkt::nlri::RouteDistinguisher;
use netgauze_bmp_pkt::v3::{BmpMessageValue, InitiationInformation as Info, StatisticsCounter as C};
use netgauze_bmp_pkt::{BmpPeerType, CounterU32, GaugeU64};
use netgauze_iana::address_family::AddressType;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() }
}

fn address() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        any::<u32>().prop_map(|a| IpAddr::V6(Ipv4Addr::from(a).to_ipv6_mapped())),
    ]
}

fn rib() -> impl Strategy<Value = AdjRib> {
    proptest::sample::select(vec![
        AdjRib::InPrePolicy,
        AdjRib::InPostPolicy,
        AdjRib::OutPrePolicy,
        AdjRib::OutPostPolicy,
    ])
}

/// Peer types 0 and 3; a Loc-RIB distinguisher as a type-0 route distinguisher (ASN2:number).
fn peer_header() -> impl Strategy<Value = PeerHeader> {
    let global = (address(), rib(), any::<bool>()).prop_map(|(address, rib, legacy_as_path)| PeerType::Global {
        address,
        rib,
        legacy_as_path,
    });
    let loc_rib = (any::<u16>(), any::<u32>(), any::<bool>()).prop_map(|(asn2, number, filtered)| PeerType::LocRib {
        distinguisher: (u64::from(asn2) << 32) | u64::from(number),
        filtered,
    });
    (prop_oneof![global, loc_rib], any::<u32>(), any::<u32>(), any::<u32>(), 0u32..1_000_000).prop_map(
        |(peer_type, peer_as, bgp_id, seconds, microseconds)| PeerHeader {
            peer_type,
            peer_as,
            bgp_id: Ipv4Addr::from(bgp_id),
            timestamp: Timestamp::new(seconds, microseconds),
        },
    )
}

fn family() -> impl Strategy<Value = (Family, AddressType)> {
    proptest::sample::select(vec![
        (Family::IPV4_UNICAST, AddressType::Ipv4Unicast),
        (Family::IPV6_UNICAST, AddressType::Ipv6Unicast),
        (Family::IPV4_MULTICAST, AddressType::Ipv4Multicast),
        (Family::IPV6_MULTICAST, AddressType::Ipv6Multicast),
    ])
}

/// A statistic and what netgauze should read.
fn stat() -> impl Strategy<Value = (Stat, C)> {
    let (c, g) = (CounterU32::new, GaugeU64::new);
    prop_oneof![
        any::<u32>().prop_map(move |n| (Stat::DuplicateWithdraws(n), C::NumberOfDuplicateWithdraws(c(n)))),
        any::<u32>()
            .prop_map(move |n| (Stat::UpdatesTreatedAsWithdraw(n), C::NumberOfUpdatesSubjectedToTreatAsWithdraw(c(n)))),
        any::<u64>().prop_map(move |n| (Stat::RoutesInLocRib(n), C::NumberOfRoutesInLocRib(g(n)))),
        any::<u64>()
            .prop_map(move |n| (Stat::RoutesInPostPolicyAdjRibOut(n), C::NumberOfRoutesInPostPolicyAdjRibOut(g(n)))),
        (family(), any::<u64>()).prop_map(move |((f, t), n)| (
            Stat::RoutesInAdjRibInPerFamily(f, n),
            C::NumberOfRoutesInPerAfiSafiAdjRibIn(t, g(n))
        )),
        (family(), any::<u64>()).prop_map(move |((f, t), n)| (
            Stat::StaleRoutesPerFamily(f, n),
            C::NumberOfRoutesInPerAfiSafiMarkedStaleByGr(t, g(n))
        )),
        (family(), any::<u64>()).prop_map(move |((f, t), n)| (
            Stat::LlgrStaleRoutesPerFamily(f, n),
            C::NumberOfRoutesInPerAfiSafiMarkedStaleByLlgr(t, g(n))
        )),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn peer_header_and_statistics_decode_to_what_was_meant(
        h in peer_header(),
        stats in proptest::collection::vec(stat(), 0..8),
    ) {
        let (stats, want): (Vec<Stat>, Vec<C>) = stats.into_iter().unzip();
        let bytes = encoded(|o| StatisticsReport::new(h, stats).encode(o));
        let BmpMessageValue::StatisticsReport(ng) = ng_parse(&bytes) else { panic!("not a Statistics Report") };
        prop_assert_eq!(ng.counters(), want.as_slice());
        let n = ng.peer_header();
        match h.peer_type {
            PeerType::Global { address, rib, legacy_as_path } => {
                let address = address.to_canonical();
                let want = BmpPeerType::GlobalInstancePeer {
                    ipv6: address.is_ipv6(),
                    post_policy: matches!(rib, AdjRib::InPostPolicy | AdjRib::OutPostPolicy),
                    asn2: legacy_as_path,
                    adj_rib_out: matches!(rib, AdjRib::OutPrePolicy | AdjRib::OutPostPolicy),
                };
                prop_assert_eq!(n.peer_type(), want);
                prop_assert_eq!(n.rd(), None);
                // netgauze reads an all-zero address as none.
                prop_assert_eq!(n.address(), Some(address).filter(|a| !a.is_unspecified()));
            }
            PeerType::LocRib { distinguisher, filtered } => {
                prop_assert_eq!(n.peer_type(), BmpPeerType::LocRibInstancePeer { filtered });
                let rd = RouteDistinguisher::As2Administrator { asn2: (distinguisher >> 32) as u16, number: distinguisher as u32 };
                prop_assert_eq!(n.rd(), Some(rd).filter(|_| distinguisher != 0));
                prop_assert_eq!(n.address(), None);
            }
        }
        prop_assert_eq!(n.peer_as(), h.peer_as);
        prop_assert_eq!(n.bgp_id(), h.bgp_id);
        let t = n.timestamp().map(|t| (t.timestamp(), t.timestamp_subsec_micros()));
        let want = (i64::from(h.timestamp.seconds()), h.timestamp.microseconds());
        prop_assert_eq!(t, Some(want).filter(|_| h.timestamp != Timestamp::UNAVAILABLE));
    }

    #[test]
    fn initiation_strings_decode_to_what_was_sent(name in ".{0,40}", descr in ".{0,200}", strings in proptest::collection::vec(".{0,20}", 0..4)) {
        let m = Initiation { sys_name: &name, sys_descr: &descr, strings: strings.iter().map(String::as_str).collect() };
        let BmpMessageValue::Initiation(ng) = ng_parse(&encoded(|o| m.encode(o))) else { panic!("not an Initiation") };
        let mut want = vec![Info::SystemName(name.as_str().into()), Info::SystemDescription(descr.as_str().into())];
        want.extend(strings.iter().map(|s| Info::String(s.as_str().into())));
        prop_assert_eq!(ng.information(), want.as_slice());
    }
}
