//! Property tests: encode/decode round trips for every message kind, the builder's splitting
//! into size-limited UPDATEs, and decoding of arbitrary or mutated bytes without panics.

use keel_wire::attribute::{
    Aggregator, AsSegment, ExtendedCommunity, LargeCommunity, MpReach, MpUnreach, RawAttribute, SegmentType,
};
use keel_wire::capability::{
    AddPathFamily, ExtendedNextHop, GracefulRestart, GracefulRestartFamily, LongLivedFamily, Role,
};
use keel_wire::error::code;
use keel_wire::{
    builder, Action, Afi, AsPath, Capability, CodecOptions, Community, Family, Message, NextHop, Nlri, Notification,
    Open, Origin, PathAttributes, Prefix, RefreshSubtype, RouteRefresh, Safi, Update, WireError,
};
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const AS_TRANS: u32 = 23456;
const FAMILIES: [Family; 4] =
    [Family::IPV4_UNICAST, Family::IPV4_MULTICAST, Family::IPV6_UNICAST, Family::IPV6_MULTICAST];

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

pub fn family() -> impl Strategy<Value = Family> {
    (any::<u16>(), any::<u8>()).prop_map(|(a, s)| Family::new(Afi(a), Safi(s)))
}

pub fn ip_family() -> impl Strategy<Value = Family> {
    proptest::sample::select(FAMILIES.to_vec())
}

pub fn prefix_v4() -> impl Strategy<Value = Prefix> {
    (any::<u32>(), 0u8..=32).prop_map(|(a, l)| Prefix::new(IpAddr::V4(Ipv4Addr::from(a)), l).unwrap())
}

pub fn prefix_v6() -> impl Strategy<Value = Prefix> {
    (any::<u128>(), 0u8..=128).prop_map(|(a, l)| Prefix::new(IpAddr::V6(Ipv6Addr::from(a)), l).unwrap())
}

pub fn prefix(afi: Afi) -> BoxedStrategy<Prefix> {
    if afi == Afi::IPV4 {
        prefix_v4().boxed()
    } else {
        prefix_v6().boxed()
    }
}

/// NLRI of one family: with a path identifier exactly when Add-Path is on.
pub fn nlri_list(afi: Afi, add_path: bool, max: usize) -> BoxedStrategy<Vec<Nlri>> {
    vec((prefix(afi), any::<u32>()), 0..=max)
        .prop_map(move |v| v.into_iter().map(|(p, id)| Nlri { prefix: p, path_id: add_path.then_some(id) }).collect())
        .boxed()
}

pub fn unicast_v4() -> impl Strategy<Value = Ipv4Addr> {
    // NEXT_HOP must not be 0.0.0.0, broadcast or multicast (RFC 7606 §7.3).
    (1u8..=223, any::<[u8; 3]>()).prop_map(|(a, b)| Ipv4Addr::new(a, b[0], b[1], b[2]))
}

pub fn next_hop(afi: Afi) -> BoxedStrategy<NextHop> {
    let v6 = (any::<u128>(), proptest::option::of(any::<u128>()))
        .prop_map(|(g, ll)| NextHop::V6 { global: Ipv6Addr::from(g), link_local: ll.map(Ipv6Addr::from) });
    if afi == Afi::IPV4 {
        // RFC 8950: IPv4 NLRI may have an IPv6 next hop.
        prop_oneof![3 => unicast_v4().prop_map(NextHop::V4), 1 => v6].boxed()
    } else {
        v6.boxed()
    }
}

const KNOWN_CAPABILITIES: [u8; 11] = [1, 2, 5, 6, 9, 64, 65, 69, 70, 71, 73];

/// Graceful Restart (code 64) over the families `family` draws.
pub fn graceful_restart(family: impl Strategy<Value = Family>) -> impl Strategy<Value = Capability> {
    (any::<bool>(), any::<bool>(), 0u16..=4095, vec((family, any::<bool>()), 0..4)).prop_map(|(r, n, t, f)| {
        Capability::GracefulRestart(GracefulRestart {
            restart_state: r,
            notification: n,
            restart_time: t,
            families: f
                .into_iter()
                .map(|(family, forwarding_state)| GracefulRestartFamily { family, forwarding_state })
                .collect(),
        })
    })
}

/// ADD-PATH (code 69) for 1-3 families.
pub fn add_path(family: impl Strategy<Value = Family>) -> impl Strategy<Value = Capability> {
    vec((family, 1u8..=3), 1..4).prop_map(|v| {
        Capability::AddPath(
            v.into_iter()
                .map(|(family, sr)| AddPathFamily { family, receive: sr & 1 != 0, send: sr & 2 != 0 })
                .collect(),
        )
    })
}

/// Long-Lived GR (code 71) for `min_families`..4 families.
pub fn long_lived(family: impl Strategy<Value = Family>, min_families: usize) -> impl Strategy<Value = Capability> {
    vec((family, any::<bool>(), 0u32..=0xff_ffff), min_families..4).prop_map(|v| {
        Capability::LongLivedGracefulRestart(
            v.into_iter()
                .map(|(family, forwarding_state, stale_time)| LongLivedFamily { family, forwarding_state, stale_time })
                .collect(),
        )
    })
}

pub fn capability() -> impl Strategy<Value = Capability> {
    let name = "[a-z0-9.-]{0,30}";
    prop_oneof![
        family().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::EnhancedRouteRefresh),
        Just(Capability::ExtendedMessage),
        vec((family(), any::<u16>()), 0..4).prop_map(|v| Capability::ExtendedNextHop(
            v.into_iter().map(|(family, nh)| ExtendedNextHop { family, next_hop_afi: Afi(nh) }).collect()
        )),
        any::<u8>().prop_map(|r| Capability::Role(Role::from_u8(r))),
        graceful_restart(family()),
        any::<u32>().prop_map(Capability::FourOctetAs),
        add_path(family()),
        long_lived(family(), 0),
        (name, name).prop_map(|(hostname, domain)| Capability::Fqdn { hostname, domain }),
        (any::<u8>().prop_filter("unknown code", |c| !KNOWN_CAPABILITIES.contains(c)), vec(any::<u8>(), 0..20))
            .prop_map(|(code, value)| Capability::Unknown { code, value }),
    ]
}

pub fn open() -> impl Strategy<Value = Open> {
    (
        any::<u16>(),
        prop_oneof![Just(0u16), 3u16..],
        1u32..,
        // Up to 45 capabilities: sometimes more than fit a 1-octet parameter length.
        vec(capability(), 0..45),
    )
        .prop_map(|(my_as, hold_time, id, capabilities)| Open {
            version: 4,
            my_as,
            hold_time,
            router_id: Ipv4Addr::from(id),
            capabilities,
        })
}

fn segment(four_octet: bool) -> BoxedStrategy<AsSegment> {
    let asn = if four_octet {
        any::<u32>().boxed()
    } else {
        // A 2-octet session carries 4-octet ASes in AS4_PATH, AS_TRANS in AS_PATH.
        prop_oneof![1u32..65536, 65536u32..].boxed()
    };
    let kinds = if four_octet {
        vec![SegmentType::Sequence, SegmentType::Set, SegmentType::ConfedSequence, SegmentType::ConfedSet]
    } else {
        // RFC 6793 §4.2.3 drops leading confederation segments when merging; keep them out.
        vec![SegmentType::Sequence, SegmentType::Set]
    };
    (proptest::sample::select(kinds), vec(asn, 1..8))
        .prop_map(|(kind, asns)| AsSegment { kind, asns: asns.into() })
        .boxed()
}

pub fn as_path(four_octet: bool) -> BoxedStrategy<AsPath> {
    vec(segment(four_octet), 0..4).prop_map(|segments| AsPath { segments: segments.into() }).boxed()
}

/// Attributes other than MP_REACH/MP_UNREACH and NEXT_HOP.
pub fn common_attributes(four_octet: bool) -> BoxedStrategy<PathAttributes> {
    let aggregator_asn =
        if four_octet { any::<u32>().boxed() } else { prop_oneof![Just(AS_TRANS), 65536u32..].boxed() };
    let unknown = btree_set(100u8..=200, 0..3).prop_flat_map(|codes| {
        let n = codes.len();
        (Just(codes), vec(vec(any::<u8>(), 0..300), n))
    });
    (
        (
            proptest::option::of(proptest::sample::select(vec![Origin::Igp, Origin::Egp, Origin::Incomplete])),
            proptest::option::of(as_path(four_octet)),
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u32>()),
            any::<bool>(),
            proptest::option::of((aggregator_asn, any::<u32>())),
        ),
        (
            vec(any::<u32>(), 0..6),
            proptest::option::of(any::<u32>()),
            vec(any::<u32>(), 0..4),
            vec(any::<[u8; 8]>(), 0..4),
            vec(any::<[u32; 3]>(), 0..4),
            proptest::option::of(any::<u32>()),
            unknown,
        ),
    )
        .prop_map(|((origin, as_path, med, local_pref, atomic, agg), (comms, orig, clusters, ext, large, otc, unk))| {
            PathAttributes {
                origin,
                as_path,
                next_hop: None,
                med,
                local_pref,
                atomic_aggregate: atomic,
                aggregator: agg.map(|(asn, a)| Aggregator { asn, address: Ipv4Addr::from(a) }),
                communities: comms.into_iter().map(Community).collect(),
                originator_id: orig.map(Ipv4Addr::from),
                cluster_list: clusters.into_iter().map(Ipv4Addr::from).collect(),
                mp_reach: None,
                mp_unreach: None,
                extended_communities: ext.into_iter().map(ExtendedCommunity).collect(),
                large_communities: large
                    .into_iter()
                    .map(|[a, b, c]| LargeCommunity { global_admin: a, local_data_1: b, local_data_2: c })
                    .collect(),
                otc,
                // Received unknown optional transitive attributes carry the Partial bit.
                unknown: unk
                    .0
                    .into_iter()
                    .zip(unk.1)
                    .map(|(code, value)| RawAttribute { flags: 0xe0, code, value })
                    .collect(),
            }
        })
        .boxed()
}

pub fn codec_options() -> impl Strategy<Value = CodecOptions> {
    (any::<bool>(), any::<bool>(), proptest::sample::subsequence(FAMILIES.to_vec(), 0..=4)).prop_map(
        |(four_octet_as, extended_message, add_path)| CodecOptions { four_octet_as, extended_message, add_path },
    )
}

fn mp_reach(opts: &CodecOptions) -> BoxedStrategy<Option<MpReach>> {
    let opts = opts.clone();
    proptest::option::of(ip_family().prop_flat_map(move |family| {
        let ap = opts.add_path_for(family);
        (next_hop(family.afi), nlri_list(family.afi, ap, 20)).prop_map(move |(next_hop, nlri)| MpReach {
            family,
            next_hop,
            nlri,
        })
    }))
    .boxed()
}

fn mp_unreach(opts: &CodecOptions) -> BoxedStrategy<Option<MpUnreach>> {
    let opts = opts.clone();
    proptest::option::of(ip_family().prop_flat_map(move |family| {
        let ap = opts.add_path_for(family);
        nlri_list(family.afi, ap, 20).prop_map(move |nlri| MpUnreach { family, nlri })
    }))
    .boxed()
}

/// An UPDATE valid for `opts`, with every attribute kind possible.
pub fn update_for(opts: CodecOptions) -> BoxedStrategy<Update> {
    let ap = opts.add_path_for(Family::IPV4_UNICAST);
    (
        common_attributes(opts.four_octet_as),
        proptest::option::of(unicast_v4()),
        mp_reach(&opts),
        mp_unreach(&opts),
        nlri_list(Afi::IPV4, ap, 20),
        nlri_list(Afi::IPV4, ap, 20),
    )
        .prop_map(|(mut attributes, next_hop, mp_reach, mp_unreach, withdrawn, announced)| {
            attributes.next_hop = next_hop;
            attributes.mp_reach = mp_reach.map(Box::new);
            attributes.mp_unreach = mp_unreach.map(Box::new);
            Update { withdrawn, attributes, announced, errors: vec![] }
        })
        .boxed()
}

pub fn update_with_options() -> impl Strategy<Value = (CodecOptions, Update)> {
    codec_options().prop_flat_map(|o| (Just(o.clone()), update_for(o)))
}

pub fn notification() -> impl Strategy<Value = Notification> {
    (any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..64)).prop_map(|(c, s, d)| Notification::new(c, s, d))
}

pub fn route_refresh() -> impl Strategy<Value = RouteRefresh> {
    (family(), any::<u8>()).prop_map(|(family, s)| RouteRefresh {
        family,
        subtype: match s {
            0 => RefreshSubtype::Request,
            1 => RefreshSubtype::Begin,
            2 => RefreshSubtype::End,
            s => RefreshSubtype::Reserved(s),
        },
    })
}

pub fn message_with_options() -> impl Strategy<Value = (CodecOptions, Message)> {
    prop_oneof![
        (codec_options(), open()).prop_map(|(o, m)| (o, Message::Open(m))),
        update_with_options().prop_map(|(o, u)| (o, Message::Update(Box::new(u)))),
        (codec_options(), notification()).prop_map(|(o, n)| (o, Message::Notification(n))),
        (codec_options(), route_refresh()).prop_map(|(o, r)| (o, Message::RouteRefresh(r))),
        codec_options().prop_map(|o| (o, Message::Keepalive)),
    ]
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

/// The errors a valid UPDATE may legitimately carry: missing well-known attributes.
fn expected_missing(u: &Update) -> Option<u8> {
    let a = &u.attributes;
    let reach = !u.announced.is_empty() || a.mp_reach.as_ref().is_some_and(|m| !m.nlri.is_empty());
    if !reach {
        None
    } else if a.origin.is_none() {
        Some(1)
    } else if a.as_path.is_none() {
        Some(2)
    } else if !u.announced.is_empty() && a.next_hop.is_none() {
        Some(3)
    } else {
        None
    }
}

/// Every decode error is one of the NOTIFICATIONs keel-wire can produce, with a consistent action.
pub fn check_error(e: &WireError) {
    assert!(
        matches!(
            e.code,
            code::MESSAGE_HEADER | code::OPEN_MESSAGE | code::UPDATE_MESSAGE | code::ROUTE_REFRESH_MESSAGE
        ),
        "{e}"
    );
    if e.action != Action::SessionReset {
        assert_eq!(e.code, code::UPDATE_MESSAGE, "{e}");
    }
    assert!(!e.reason.is_empty());
}

/// Decodes and, on success, re-encodes; never panics.
pub fn decode_any(bytes: &[u8], opts: &CodecOptions) {
    match Message::decode(bytes, opts) {
        Ok(m) => {
            if let Message::Update(u) = &m {
                u.errors.iter().for_each(check_error);
            }
            let _ = m.encode(opts);
        }
        Err(e) => check_error(&e),
    }
}

/// Splits a byte stream into messages; every frame is decoded.
pub fn frames(stream: &[u8], opts: &CodecOptions) -> Result<Vec<Message>, WireError> {
    let mut rest = stream;
    let mut out = Vec::new();
    while let Some(frame) = Message::next_frame(rest, opts)? {
        assert!(frame.len() >= 19 && frame.len() <= opts.max_message_size());
        out.push(Message::decode(frame, opts)?);
        rest = &rest[frame.len()..];
    }
    assert!(rest.len() < 19 || Message::next_frame(rest, opts).unwrap().is_none());
    Ok(out)
}

#[derive(Debug, Clone)]
pub enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    Set(usize, u8),
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
    ]
}

/// Applies a mutation; the header's length field is kept honest half of the time so that the
/// body parsers (not just the length check) see the damage.
pub fn mutate(bytes: &mut Vec<u8>, m: &Mutation, fix_length: bool) {
    if bytes.is_empty() {
        return;
    }
    let n = bytes.len();
    match *m {
        Mutation::Flip(i, b) => bytes[i % n] ^= b,
        Mutation::Set(i, b) => bytes[i % n] = b,
        Mutation::Insert(i, b) => bytes.insert(i % (n + 1), b),
        Mutation::Delete(i) => {
            bytes.remove(i % n);
        }
        Mutation::Truncate(i) => bytes.truncate(i % n),
    }
    if fix_length && bytes.len() >= 19 && bytes.len() <= u16::MAX as usize {
        let len = bytes.len() as u16;
        bytes[16..18].copy_from_slice(&len.to_be_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn open_round_trip(o in open()) {
        let bytes = Message::Open(o.clone()).encode(&CodecOptions::default()).unwrap();
        prop_assert!(bytes.len() <= 4096);
        prop_assert_eq!(Message::decode(&bytes, &CodecOptions::default()).unwrap(), Message::Open(o));
    }

    #[test]
    fn update_round_trip((opts, u) in update_with_options()) {
        let bytes = match u.encode(&opts) {
            Ok(b) => b,
            Err(keel_wire::EncodeError::TooLarge { size, limit }) => {
                prop_assert!(size > limit);
                return Ok(());
            }
            Err(e) => panic!("{e}"),
        };
        prop_assert!(bytes.len() <= opts.max_message_size());
        let Message::Update(mut back) = Message::decode(&bytes, &opts).unwrap() else { panic!("not an UPDATE") };
        let errors = std::mem::take(&mut back.errors);
        match expected_missing(&u) {
            None => prop_assert!(errors.is_empty(), "{:?}", errors),
            Some(c) => {
                prop_assert_eq!(errors.len(), 1);
                prop_assert_eq!((errors[0].code, errors[0].subcode, errors[0].data.as_slice()), (3, 3, &[c][..]));
            }
        }
        prop_assert_eq!(*back, u);
    }

    #[test]
    fn notification_round_trip(n in notification(), ext in any::<bool>()) {
        let opts = CodecOptions { extended_message: ext, ..CodecOptions::default() };
        let bytes = Message::Notification(n.clone()).encode(&opts).unwrap();
        prop_assert_eq!(Message::decode(&bytes, &opts).unwrap(), Message::Notification(n));
    }

    #[test]
    fn route_refresh_round_trip(r in route_refresh()) {
        let bytes = Message::RouteRefresh(r).encode(&CodecOptions::default()).unwrap();
        prop_assert_eq!(bytes.len(), 23);
        prop_assert_eq!(Message::decode(&bytes, &CodecOptions::default()).unwrap(), Message::RouteRefresh(r));
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in vec(any::<u8>(), 0..600), t in 0u8..7, opts in codec_options()) {
        // A valid header in front of random bytes reaches the body parsers.
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&((body.len() + 19) as u16).to_be_bytes());
        m.push(t);
        m.extend_from_slice(&body);
        decode_any(&m, &opts);
        decode_any(&body, &opts);
        let _ = frames(&body, &opts);
        let _ = frames(&m, &opts);
    }

    #[test]
    fn mutated_messages_never_panic(
        (opts, msg) in message_with_options(),
        muts in vec(mutation(), 1..5),
        fix_length in any::<bool>(),
        other_opts in codec_options(),
    ) {
        let Ok(mut bytes) = msg.encode(&opts) else { return Ok(()) };
        for m in &muts {
            mutate(&mut bytes, m, fix_length);
        }
        decode_any(&bytes, &opts);
        // Decoding with options the sender did not use is just as safe.
        decode_any(&bytes, &other_opts);
        let _ = frames(&bytes, &opts);
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn announce_splits_into_messages_within_the_limit(
        (opts, family, nh, nlri, attrs) in codec_options().prop_flat_map(|opts| {
            ip_family().prop_flat_map(move |family| {
                let ap = opts.add_path_for(family);
                (
                    Just(opts.clone()),
                    Just(family),
                    next_hop(family.afi),
                    nlri_list(family.afi, ap, 1500),
                    common_attributes(opts.four_octet_as),
                )
            })
        })
    ) {
        // Routes need ORIGIN and AS_PATH to be accepted (RFC 7606 §3 d).
        let mut attrs = attrs;
        attrs.origin.get_or_insert(Origin::Igp);
        attrs.as_path.get_or_insert_with(AsPath::default);
        let mut out = Vec::new();
        let n = match builder::announce(family, &attrs, nh, &nlri, &opts, &mut out) {
            Ok(n) => n,
            Err(keel_wire::EncodeError::TooLarge { .. }) => return Ok(()),
            Err(e) => panic!("{e}"),
        };
        let msgs = frames(&out, &opts).unwrap();
        prop_assert_eq!(msgs.len(), n);
        let mut got = Vec::new();
        for m in msgs {
            let Message::Update(u) = m else { panic!("not an UPDATE") };
            prop_assert!(!u.treat_as_withdraw(), "{:?}", u.errors);
            let mut a = u.attributes.clone();
            a.mp_reach = None;
            let classic = family == Family::IPV4_UNICAST && matches!(nh, NextHop::V4(_));
            if classic {
                prop_assert_eq!(a.next_hop, match nh { NextHop::V4(a) => Some(a), _ => None });
                a.next_hop = None;
            } else {
                prop_assert_eq!(u.attributes.mp_reach.as_ref().map(|m| (m.family, m.next_hop)), Some((family, nh)));
            }
            // Optional attributes a receiver may discard can be shed to fit (RFC 8654 §4).
            let mut want = attrs.clone();
            if !a.atomic_aggregate && a.aggregator.is_none() {
                want.atomic_aggregate = false;
                want.aggregator = None;
            }
            prop_assert_eq!(a, want);
            got.extend(u.announced_routes().map(|(f, n)| { assert_eq!(f, family); *n }));
        }
        prop_assert_eq!(got, nlri);
    }

    #[test]
    fn withdraw_splits_into_messages_within_the_limit(
        (opts, family, nlri) in codec_options().prop_flat_map(|opts| {
            ip_family().prop_flat_map(move |family| {
                let ap = opts.add_path_for(family);
                (Just(opts.clone()), Just(family), nlri_list(family.afi, ap, 3000))
            })
        })
    ) {
        let mut out = Vec::new();
        let n = builder::withdraw(family, &nlri, &opts, &mut out).unwrap();
        let msgs = frames(&out, &opts).unwrap();
        prop_assert_eq!(msgs.len(), n);
        let mut got = Vec::new();
        for m in msgs {
            let Message::Update(u) = m else { panic!("not an UPDATE") };
            prop_assert!(u.errors.is_empty());
            prop_assert!(u.announced_routes().next().is_none());
            got.extend(u.withdrawn_routes().map(|(f, n)| { assert_eq!(f, family); *n }));
        }
        prop_assert_eq!(got, nlri);
    }
}

#[test]
fn builder_fills_messages_to_the_limit() {
    // 2000 IPv6 /64s at 9 octets each: 18000 octets of NLRI.
    let nlri: Vec<Nlri> = (0..2000u128)
        .map(|i| Nlri::new(Prefix::new(IpAddr::V6(Ipv6Addr::from((0x2001_0db8u128 << 96) | (i << 64))), 64).unwrap()))
        .collect();
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::sequence(vec![65001])),
        ..Default::default()
    };
    let nh = NextHop::V6 { global: "2001:db8::1".parse().unwrap(), link_local: None };
    for (ext, limit) in [(false, 4096), (true, 65535)] {
        let opts = CodecOptions { extended_message: ext, ..CodecOptions::default() };
        let mut out = Vec::new();
        let n = builder::announce(Family::IPV6_UNICAST, &attrs, nh, &nlri, &opts, &mut out).unwrap();
        let msgs = frames(&out, &opts).unwrap();
        assert_eq!(msgs.len(), n);
        assert_eq!(n, 18000usize.div_ceil(limit - 19 - 4 - 4 - 5 - 16 - 14).max(1), "ext={ext}");
        let mut rest = out.as_slice();
        for _ in 0..n - 1 {
            let f = Message::next_frame(rest, &opts).unwrap().unwrap();
            assert!(f.len() > limit - 9, "a full message is within one NLRI of the limit: {}", f.len());
            rest = &rest[f.len()..];
        }
    }
}
