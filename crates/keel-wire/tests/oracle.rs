//! Oracle checks against netgauze-bgp-pkt, an independent BGP codec: netgauze must read what
//! keel writes to the same meaning, and keel must read what netgauze writes.

use crate::properties::{add_path, graceful_restart, long_lived, prefix_v4, prefix_v6, unicast_v4};
use ipnet::{Ipv4Net, Ipv6Net};
use keel_wire::attribute::{AsSegment, SegmentType};
use keel_wire::capability::Role;
use keel_wire::{
    AsPath, Capability, CodecOptions, Community, Family, Message, NextHop, Nlri, Open, Origin, PathAttributes, Prefix,
    Update,
};
use netgauze_bgp_pkt::capabilities as ngc;
use netgauze_bgp_pkt::community::{Community as NgCommunity, LargeCommunity as NgLarge};
use netgauze_bgp_pkt::nlri::{Ipv4Unicast, Ipv4UnicastAddress, Ipv6Unicast, Ipv6UnicastAddress};
use netgauze_bgp_pkt::open::{BgpOpenMessage, BgpOpenMessageParameter};
use netgauze_bgp_pkt::path_attribute as ngp;
use netgauze_bgp_pkt::update::BgpUpdateMessage;
use netgauze_bgp_pkt::wire::deserializer::BgpParsingContext;
use netgauze_bgp_pkt::BgpMessage;
use netgauze_iana::address_family::AddressType;
use netgauze_parse_utils::reader::SliceReader;
use netgauze_parse_utils::traits::ParseFromWithOneInput;
use netgauze_parse_utils::WritablePdu;
use proptest::collection::vec;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const NG_FAMILIES: [Family; 4] =
    [Family::IPV4_UNICAST, Family::IPV4_MULTICAST, Family::IPV6_UNICAST, Family::IPV6_MULTICAST];

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn ng_parse(bytes: &[u8]) -> BgpMessage {
    let mut ctx = BgpParsingContext::default();
    let mut cur = SliceReader::new(bytes);
    let m = <BgpMessage as ParseFromWithOneInput<'_, &mut BgpParsingContext>>::parse(&mut cur, &mut ctx)
        .unwrap_or_else(|e| panic!("netgauze rejects keel's bytes {bytes:02x?}: {e:?}"));
    assert_eq!(cur.remaining(), 0);
    m
}

fn ng_write(m: &BgpMessage) -> Vec<u8> {
    let mut out = Vec::new();
    m.write(&mut out).expect("netgauze writes");
    out
}

fn family_of(t: AddressType) -> Family {
    Family::new(keel_wire::Afi(u16::from(t.address_family())), keel_wire::Safi(u8::from(t.subsequent_address_family())))
}

fn address_type(f: Family) -> AddressType {
    match f {
        Family::IPV4_UNICAST => AddressType::Ipv4Unicast,
        Family::IPV4_MULTICAST => AddressType::Ipv4Multicast,
        Family::IPV6_UNICAST => AddressType::Ipv6Unicast,
        Family::IPV6_MULTICAST => AddressType::Ipv6Multicast,
        f => panic!("no netgauze address type for {f}"),
    }
}

// ---------------------------------------------------------------------------------------------
// OPEN
// ---------------------------------------------------------------------------------------------

fn ng_family() -> impl Strategy<Value = Family> {
    proptest::sample::select(NG_FAMILIES.to_vec())
}

/// Capabilities both codecs know, with values netgauze accepts.
fn capability() -> impl Strategy<Value = Capability> {
    prop_oneof![
        ng_family().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::EnhancedRouteRefresh),
        Just(Capability::ExtendedMessage),
        (0u8..=4).prop_map(|r| Capability::Role(Role::from_u8(r))),
        graceful_restart(ng_family()),
        any::<u32>().prop_map(Capability::FourOctetAs),
        add_path(ng_family()),
        // netgauze wants at least one family in LLGR.
        long_lived(ng_family(), 1),
        ("[a-z0-9-]{1,20}", "[a-z0-9.-]{0,20}").prop_map(|(hostname, domain)| Capability::Fqdn { hostname, domain }),
        (100u8..=120, vec(any::<u8>(), 0..10)).prop_map(|(code, value)| Capability::Unknown { code, value }),
    ]
}

fn open() -> impl Strategy<Value = Open> {
    // netgauze wants a unicast-looking BGP Identifier (RFC 4271 §6.2); keel accepts any
    // non-zero value (RFC 6286 §2.2).
    (any::<u16>(), prop_oneof![Just(0u16), 3u16..], unicast_v4(), vec(capability(), 0..12)).prop_map(
        |(my_as, hold_time, router_id, capabilities)| Open { version: 4, my_as, hold_time, router_id, capabilities },
    )
}

/// The capability in netgauze's model, for writing with netgauze.
fn to_ng_capability(c: &Capability) -> ngc::BgpCapability {
    use ngc::BgpCapability as B;
    match c {
        Capability::Multiprotocol(f) => {
            B::MultiProtocolExtensions(ngc::MultiProtocolExtensionsCapability::new(address_type(*f)))
        }
        Capability::RouteRefresh => B::RouteRefresh,
        Capability::EnhancedRouteRefresh => B::EnhancedRouteRefresh,
        Capability::ExtendedMessage => B::ExtendedMessage,
        Capability::Role(r) => {
            B::BgpRole(ngc::BgpRoleCapability::new(netgauze_bgp_pkt::iana::BgpRoleValue::try_from(r.to_u8()).unwrap()))
        }
        Capability::GracefulRestart(g) => B::GracefulRestartCapability(ngc::GracefulRestartCapability::new(
            g.restart_state,
            g.notification,
            g.restart_time,
            g.families
                .iter()
                .map(|f| ngc::GracefulRestartAddressFamily::new(f.forwarding_state, address_type(f.family)))
                .collect::<Vec<_>>(),
        )),
        Capability::FourOctetAs(a) => B::FourOctetAs(ngc::FourOctetAsCapability::new(*a)),
        Capability::AddPath(v) => B::AddPath(ngc::AddPathCapability::new(
            v.iter()
                .map(|f| ngc::AddPathAddressFamily::new(address_type(f.family), f.send, f.receive))
                .collect::<Vec<_>>(),
        )),
        Capability::LongLivedGracefulRestart(v) => {
            B::LongLivedGracefulRestart(ngc::LongLivedGracefulRestartCapability::new(
                v.iter()
                    .map(|f| {
                        ngc::LongLivedGracefulRestartAddressFamily::new(
                            f.forwarding_state,
                            address_type(f.family),
                            f.stale_time,
                        )
                    })
                    .collect::<Vec<_>>(),
            ))
        }
        Capability::Fqdn { hostname, domain } => {
            B::Fqdn(ngc::FqdnCapability::new(hostname.as_str().into(), domain.as_str().into()))
        }
        Capability::Unknown { code, value } => B::Unrecognized(ngc::UnrecognizedCapability::new(*code, value.clone())),
        c => panic!("not generated: {c:?}"),
    }
}

/// Compares netgauze's reading of a capability with keel's value.
fn same_capability(ng: &ngc::BgpCapability, k: &Capability) {
    use ngc::BgpCapability as B;
    let code = match ng.code() {
        Ok(c) => c as u8,
        Err(c) => c,
    };
    assert_eq!(code, k.code(), "capability code: {ng:?} vs {k:?}");
    match (ng, k) {
        (B::MultiProtocolExtensions(m), Capability::Multiprotocol(f)) => assert_eq!(family_of(m.address_type()), *f),
        (B::RouteRefresh, Capability::RouteRefresh)
        | (B::EnhancedRouteRefresh, Capability::EnhancedRouteRefresh)
        | (B::ExtendedMessage, Capability::ExtendedMessage) => {}
        (B::BgpRole(r), Capability::Role(k)) => assert_eq!(r.role() as u8, k.to_u8()),
        (B::GracefulRestartCapability(g), Capability::GracefulRestart(k)) => {
            assert_eq!(
                (g.restart(), g.graceful_notification(), g.time()),
                (k.restart_state, k.notification, k.restart_time)
            );
            let fams: Vec<_> =
                g.address_families().iter().map(|f| (family_of(f.address_type()), f.forwarding_state())).collect();
            let want: Vec<_> = k.families.iter().map(|f| (f.family, f.forwarding_state)).collect();
            assert_eq!(fams, want);
        }
        (B::FourOctetAs(a), Capability::FourOctetAs(k)) => assert_eq!(a.asn4(), *k),
        (B::AddPath(a), Capability::AddPath(k)) => {
            let fams: Vec<_> =
                a.address_families().iter().map(|f| (family_of(f.address_type()), f.receive(), f.send())).collect();
            let want: Vec<_> = k.iter().map(|f| (f.family, f.receive, f.send)).collect();
            assert_eq!(fams, want);
        }
        (B::LongLivedGracefulRestart(l), Capability::LongLivedGracefulRestart(k)) => {
            let fams: Vec<_> = l
                .address_families()
                .iter()
                .map(|f| (family_of(f.address_type()), f.forwarding_state(), f.stale_time()))
                .collect();
            let want: Vec<_> = k.iter().map(|f| (f.family, f.forwarding_state, f.stale_time)).collect();
            assert_eq!(fams, want);
        }
        (B::Fqdn(f), Capability::Fqdn { hostname, domain }) => {
            assert_eq!((f.hostname(), f.domain_name()), (hostname.as_str(), domain.as_str()))
        }
        (B::Unrecognized(u), Capability::Unknown { value, .. }) => assert_eq!(u.value(), value.as_slice()),
        (ng, k) => panic!("different capabilities: {ng:?} vs {k:?}"),
    }
}

fn same_open(ng: &BgpOpenMessage, k: &Open) {
    assert_eq!(ng.my_as(), k.my_as);
    assert_eq!(ng.hold_time(), k.hold_time);
    assert_eq!(ng.bgp_id(), k.router_id);
    // With several 4-octet AS capabilities netgauze takes the last, keel the first.
    if k.capabilities.iter().filter(|c| matches!(c, Capability::FourOctetAs(_))).count() <= 1 {
        assert_eq!(ng.my_asn4(), k.asn());
    }
    let caps = ng.capabilities();
    assert_eq!(caps.len(), k.capabilities.len());
    for (n, c) in caps.iter().zip(&k.capabilities) {
        same_capability(n, c);
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn netgauze_reads_keel_open(o in open()) {
        let bytes = Message::Open(o.clone()).encode(&CodecOptions::default()).unwrap();
        let BgpMessage::Open(ng) = ng_parse(&bytes) else { panic!("not an OPEN") };
        same_open(&ng, &o);
    }

    #[test]
    fn keel_reads_netgauze_open(o in open(), one_per_parameter in any::<bool>()) {
        let caps: Vec<_> = o.capabilities.iter().map(to_ng_capability).collect();
        let params: Vec<_> = if one_per_parameter {
            caps.iter().map(|c| BgpOpenMessageParameter::new_capabilities(vec![c.clone()])).collect()
        } else if caps.is_empty() {
            vec![]
        } else {
            vec![BgpOpenMessageParameter::new_capabilities(caps)]
        };
        let ng = BgpOpenMessage::new(o.my_as, o.hold_time, o.router_id, params);
        let bytes = ng_write(&BgpMessage::Open(ng.clone()));
        let decoded = Message::decode(&bytes, &CodecOptions::default()).unwrap();
        let Message::Open(k) = decoded else { panic!("not an OPEN") };
        prop_assert_eq!(&k, &o);
        same_open(&ng, &k);
    }
}

// ---------------------------------------------------------------------------------------------
// UPDATE (4-octet AS session)
// ---------------------------------------------------------------------------------------------

/// IPv4 unicast prefixes netgauze accepts (it refuses multicast and broadcast ranges).
fn ng_v4() -> impl Strategy<Value = Prefix> {
    prefix_v4().prop_filter("unicast", |p| {
        let IpAddr::V4(a) = p.addr() else { unreachable!() };
        let last = u32::from(a) | u32::MAX.checked_shr(p.len() as u32).unwrap_or(0);
        let last = Ipv4Addr::from(last.saturating_sub(1));
        !(a.is_multicast() || a.is_broadcast() || last.is_multicast() || last.is_broadcast())
            && p.len() >= 8
            && !(224..=255).contains(&a.octets()[0])
    })
}

fn ng_v6() -> impl Strategy<Value = Prefix> {
    prefix_v6().prop_filter("unicast", |p| !matches!(p.addr(), IpAddr::V6(a) if a.is_multicast()))
}

#[derive(Debug, Clone)]
struct Route {
    ipv6: bool,
    attrs: PathAttributes,
    next_hop: NextHop,
    nlri: Vec<Prefix>,
    withdrawn: Vec<Prefix>,
}

fn route() -> impl Strategy<Value = Route> {
    let segment = (proptest::sample::select(vec![SegmentType::Sequence, SegmentType::Set]), vec(any::<u32>(), 1..6))
        .prop_map(|(kind, asns)| AsSegment { kind, asns: asns.into() });
    (
        any::<bool>(),
        proptest::sample::select(vec![Origin::Igp, Origin::Egp, Origin::Incomplete]),
        vec(segment, 0..4),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
        vec(any::<u32>(), 0..5),
        vec(any::<[u32; 3]>(), 0..3),
        (unicast_v4(), any::<u128>(), proptest::option::of(any::<u128>())),
        vec(any::<bool>(), 0..1),
    )
        .prop_flat_map(|(ipv6, origin, segments, med, local_pref, comms, large, (v4, g, ll), _)| {
            let attrs = PathAttributes {
                origin: Some(origin),
                as_path: Some(AsPath { segments: segments.into() }),
                med,
                local_pref,
                communities: comms.into_iter().map(Community).collect(),
                large_communities: large
                    .into_iter()
                    .map(|[a, b, c]| keel_wire::attribute::LargeCommunity {
                        global_admin: a,
                        local_data_1: b,
                        local_data_2: c,
                    })
                    .collect(),
                ..PathAttributes::default()
            };
            let next_hop = if ipv6 {
                NextHop::V6 { global: Ipv6Addr::from(g), link_local: ll.map(Ipv6Addr::from) }
            } else {
                NextHop::V4(v4)
            };
            let p = if ipv6 { ng_v6().boxed() } else { ng_v4().boxed() };
            (Just(ipv6), Just(attrs), Just(next_hop), vec(p.clone(), 1..20), vec(p, 0..10))
        })
        .prop_map(|(ipv6, attrs, next_hop, nlri, withdrawn)| Route { ipv6, attrs, next_hop, nlri, withdrawn })
}

fn keel_update(r: &Route) -> Update {
    let mut u = Update { attributes: r.attrs.clone(), ..Update::default() };
    if r.ipv6 {
        u.attributes.mp_reach = Some(Box::new(keel_wire::attribute::MpReach {
            family: Family::IPV6_UNICAST,
            next_hop: r.next_hop,
            nlri: r.nlri.iter().copied().map(Nlri::new).collect(),
        }));
        if !r.withdrawn.is_empty() {
            u.attributes.mp_unreach = Some(Box::new(keel_wire::attribute::MpUnreach {
                family: Family::IPV6_UNICAST,
                nlri: r.withdrawn.iter().copied().map(Nlri::new).collect(),
            }));
        }
    } else {
        let NextHop::V4(a) = r.next_hop else { unreachable!() };
        u.attributes.next_hop = Some(a);
        u.announced = r.nlri.iter().copied().map(Nlri::new).collect();
        u.withdrawn = r.withdrawn.iter().copied().map(Nlri::new).collect();
    }
    u
}

fn v4net(p: &Prefix) -> Ipv4Net {
    let IpAddr::V4(a) = p.addr() else { panic!() };
    Ipv4Net::new(a, p.len()).unwrap()
}

fn v6net(p: &Prefix) -> Ipv6Net {
    let IpAddr::V6(a) = p.addr() else { panic!() };
    Ipv6Net::new(a, p.len()).unwrap()
}

/// A netgauze attribute, always with a 2-octet length: netgauze does not widen the length
/// by itself (its writer emits a wrong message length for a long value without the flag), and
/// keel must accept the extended length on every attribute.
fn pa(optional: bool, transitive: bool, value: ngp::PathAttributeValue) -> ngp::PathAttribute {
    ngp::PathAttribute::from(optional, transitive, false, true, value).unwrap()
}

fn ng_update(r: &Route) -> BgpUpdateMessage {
    use ngp::PathAttributeValue as V;
    let v4 = |p: &Prefix| Ipv4UnicastAddress::new_no_path_id(Ipv4Unicast::from_net(v4net(p)).unwrap());
    let v6 = |p: &Prefix| Ipv6UnicastAddress::new(None, Ipv6Unicast::from_net(v6net(p)).unwrap());
    let a = &r.attrs;
    let mut attrs = Vec::new();
    if r.ipv6 {
        if !r.withdrawn.is_empty() {
            attrs.push(pa(
                true,
                false,
                V::MpUnreach(ngp::MpUnreach::Ipv6Unicast { nlri: r.withdrawn.iter().map(v6).collect() }),
            ));
        }
        let NextHop::V6 { global, link_local } = r.next_hop else { unreachable!() };
        attrs.push(pa(
            true,
            false,
            V::MpReach(ngp::MpReach::Ipv6Unicast {
                next_hop_global: global,
                next_hop_local: link_local,
                nlri: r.nlri.iter().map(v6).collect(),
            }),
        ));
    }
    let origin = match a.origin.unwrap() {
        Origin::Igp => ngp::Origin::IGP,
        Origin::Egp => ngp::Origin::EGP,
        Origin::Incomplete => ngp::Origin::Incomplete,
    };
    attrs.push(pa(false, true, V::Origin(origin)));
    let segments: Vec<_> = a
        .as_path
        .as_ref()
        .unwrap()
        .segments
        .iter()
        .map(|s| {
            let t = if s.kind == SegmentType::Set {
                ngp::AsPathSegmentType::AsSet
            } else {
                ngp::AsPathSegmentType::AsSequence
            };
            ngp::As4PathSegment::new(t, s.asns.clone())
        })
        .collect();
    attrs.push(pa(false, true, V::AsPath(ngp::AsPath::As4PathSegments(segments.into()))));
    if let NextHop::V4(nh) = r.next_hop {
        attrs.push(pa(false, true, V::NextHop(ngp::NextHop::new(nh))));
    }
    if let Some(m) = a.med {
        attrs.push(pa(true, false, V::MultiExitDiscriminator(ngp::MultiExitDiscriminator::new(m))));
    }
    if let Some(l) = a.local_pref {
        attrs.push(pa(false, true, V::LocalPreference(ngp::LocalPreference::new(l))));
    }
    if !a.communities.is_empty() {
        let c: Vec<_> = a.communities.iter().map(|c| NgCommunity::new(c.0)).collect();
        attrs.push(pa(true, true, V::Communities(ngp::Communities::new(c))));
    }
    if !a.large_communities.is_empty() {
        let c: Vec<_> =
            a.large_communities.iter().map(|c| NgLarge::new(c.global_admin, c.local_data_1, c.local_data_2)).collect();
        attrs.push(pa(true, true, V::LargeCommunities(ngp::LargeCommunities::new(c))));
    }
    let (withdrawn, nlri) =
        if r.ipv6 { (vec![], vec![]) } else { (r.withdrawn.iter().map(v4).collect(), r.nlri.iter().map(v4).collect()) };
    BgpUpdateMessage::new(withdrawn, attrs, nlri)
}

/// The meaning of an UPDATE as netgauze read it, in keel's terms.
#[derive(Debug, PartialEq, Default)]
struct Meaning {
    origin: Option<u8>,
    as_path: Vec<(u8, Vec<u32>)>,
    next_hop: Option<NextHop>,
    med: Option<u32>,
    local_pref: Option<u32>,
    communities: Vec<u32>,
    large: Vec<(u32, u32, u32)>,
    announced: Vec<Prefix>,
    withdrawn: Vec<Prefix>,
}

fn pfx4(n: Ipv4Net) -> Prefix {
    Prefix::new(IpAddr::V4(n.addr()), n.prefix_len()).unwrap()
}

fn pfx6(n: Ipv6Net) -> Prefix {
    Prefix::new(IpAddr::V6(n.addr()), n.prefix_len()).unwrap()
}

fn ng_meaning(u: &BgpUpdateMessage) -> Meaning {
    use ngp::PathAttributeValue as V;
    let mut m = Meaning {
        announced: u.nlri().iter().map(|n| pfx4(n.network().address())).collect(),
        withdrawn: u.withdraw_routes().iter().map(|n| pfx4(n.network().address())).collect(),
        ..Meaning::default()
    };
    for a in u.path_attributes() {
        match a.value() {
            V::Origin(o) => m.origin = Some(*o as u8),
            V::AsPath(ngp::AsPath::As4PathSegments(s)) => {
                m.as_path = s.iter().map(|s| (s.segment_type() as u8, s.as_numbers().to_vec())).collect()
            }
            V::AsPath(p) => panic!("2-octet AS_PATH on a 4-octet session: {p:?}"),
            V::NextHop(n) => m.next_hop = Some(NextHop::V4(n.next_hop())),
            V::MultiExitDiscriminator(x) => m.med = Some(x.metric()),
            V::LocalPreference(x) => m.local_pref = Some(x.metric()),
            V::Communities(c) => m.communities = c.communities().iter().map(|c| c.value()).collect(),
            V::LargeCommunities(c) => {
                m.large = c.communities().iter().map(|c| (c.global_admin(), c.local_data1(), c.local_data2())).collect()
            }
            V::MpReach(ngp::MpReach::Ipv6Unicast { next_hop_global, next_hop_local, nlri }) => {
                m.next_hop = Some(NextHop::V6 { global: *next_hop_global, link_local: *next_hop_local });
                m.announced.extend(nlri.iter().map(|n| pfx6(n.network().address())));
            }
            V::MpUnreach(ngp::MpUnreach::Ipv6Unicast { nlri }) => {
                m.withdrawn.extend(nlri.iter().map(|n| pfx6(n.network().address())))
            }
            other => panic!("unexpected attribute {other:?}"),
        }
    }
    m
}

fn keel_meaning(u: &Update) -> Meaning {
    let a = &u.attributes;
    Meaning {
        origin: a.origin.map(|o| o as u8),
        as_path: a.as_path.as_ref().unwrap().segments.iter().map(|s| (s.kind as u8, s.asns.to_vec())).collect(),
        next_hop: a.mp_reach.as_ref().map(|m| m.next_hop).or(a.next_hop.map(NextHop::V4)),
        med: a.med,
        local_pref: a.local_pref,
        communities: a.communities.iter().map(|c| c.0).collect(),
        large: a.large_communities.iter().map(|c| (c.global_admin, c.local_data_1, c.local_data_2)).collect(),
        announced: u.announced_routes().map(|(_, n)| n.prefix).collect(),
        withdrawn: u.withdrawn_routes().map(|(_, n)| n.prefix).collect(),
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn netgauze_reads_keel_update(r in route()) {
        let u = keel_update(&r);
        let bytes = u.encode(&CodecOptions::default()).unwrap();
        let BgpMessage::Update(ng) = ng_parse(&bytes) else { panic!("not an UPDATE") };
        prop_assert_eq!(ng_meaning(&ng), keel_meaning(&u));
    }

    #[test]
    fn keel_reads_netgauze_update(r in route()) {
        let ng = ng_update(&r);
        let bytes = ng_write(&BgpMessage::Update(ng.clone()));
        let decoded = Message::decode(&bytes, &CodecOptions::default()).unwrap();
        let Message::Update(k) = decoded else { panic!("not an UPDATE") };
        prop_assert!(k.errors.is_empty(), "{:?}", k.errors);
        prop_assert_eq!(keel_meaning(&k), ng_meaning(&ng));
        prop_assert_eq!(keel_meaning(&k), keel_meaning(&keel_update(&r)));
    }
}

#[test]
fn netgauze_agrees_on_end_of_rib_and_keepalive() {
    for f in NG_FAMILIES {
        let bytes = Update::end_of_rib(f).encode(&CodecOptions::default()).unwrap();
        let BgpMessage::Update(ng) = ng_parse(&bytes) else { panic!() };
        assert_eq!(ng.end_of_rib().map(family_of), Some(f));
    }
    let bytes = Message::Keepalive.encode(&CodecOptions::default()).unwrap();
    assert_eq!(ng_parse(&bytes), BgpMessage::KeepAlive);
    assert_eq!(ng_write(&BgpMessage::KeepAlive), bytes);
}
