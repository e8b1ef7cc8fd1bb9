//! Golden vectors: hand-assembled messages with one comment per field, in the layouts the RFCs
//! specify and other implementations send. Each is decoded to its expected fields and, where
//! keel would produce the same bytes, re-encoded byte for byte.

use crate::util::*;
use keel_wire::attribute::{Aggregator, AsSegment, LargeCommunity, RawAttribute, SegmentType};
use keel_wire::capability::{
    AddPathFamily, ExtendedNextHop, GracefulRestart, GracefulRestartFamily, LongLivedFamily, Role,
};
use keel_wire::notification::MAX_SHUTDOWN_MESSAGE;
use keel_wire::{
    Afi, AsPath, Capability, Community, Family, Message, NextHop, Nlri, Notification, Open, Origin, RefreshSubtype,
    RouteRefresh, Safi, Update,
};
use std::net::Ipv4Addr;

fn open_of(bytes: &[u8]) -> Open {
    match decode(bytes, &four()) {
        Message::Open(o) => o,
        m => panic!("expected an OPEN, got {m:?}"),
    }
}

fn seq(asns: &[u32]) -> AsSegment {
    AsSegment { kind: SegmentType::Sequence, asns: asns.into() }
}

fn set(asns: &[u32]) -> AsSegment {
    AsSegment { kind: SegmentType::Set, asns: asns.into() }
}

// ---------------------------------------------------------------------------------------------
// Capabilities
// ---------------------------------------------------------------------------------------------

#[test]
fn graceful_restart_capability_bits() {
    // RFC 4724 §3 / RFC 8538 §2, as FRR sends it after a restart with `graceful-restart`.
    let v = hex(&[
        "c0 78",      // R=1 N=1 reserved=00, Restart Time 0x078 = 120 s
        "0001 01 80", // AFI 1 (IPv4) SAFI 1 (unicast), F=1: forwarding state kept
        "0002 01 00", // AFI 2 (IPv6) SAFI 1 (unicast), F=0
    ]);
    let Capability::GracefulRestart(g) = Capability::decode(64, &v).unwrap() else { panic!() };
    assert!(g.restart_state);
    assert!(g.notification);
    assert_eq!(g.restart_time, 120);
    assert_eq!(g.families.len(), 2);
    assert!(g.family(Family::IPV4_UNICAST).unwrap().forwarding_state);
    assert!(!g.family(Family::IPV6_UNICAST).unwrap().forwarding_state);
    let mut out = Vec::new();
    Capability::GracefulRestart(g).encode_value(&mut out);
    assert_eq!(out, v);

    // Receiving-speaker-only form (BIRD, GoBGP with no families): two octets, no families.
    let Capability::GracefulRestart(g) = Capability::decode(64, &hex(&["00 5a"])).unwrap() else { panic!() };
    assert_eq!((g.restart_state, g.notification, g.restart_time, g.families.len()), (false, false, 90, 0));

    // Largest 12-bit restart time, reserved flag bits set by the sender are ignored.
    let Capability::GracefulRestart(g) = Capability::decode(64, &hex(&["3f ff"])).unwrap() else { panic!() };
    assert_eq!((g.restart_state, g.notification, g.restart_time), (false, false, 4095));
    let Capability::GracefulRestart(g) = Capability::decode(64, &hex(&["4f ff"])).unwrap() else { panic!() };
    assert_eq!((g.restart_state, g.notification, g.restart_time), (false, true, 4095));

    // Length not 2 + 4n.
    assert!(Capability::decode(64, &hex(&["0078 0001 01"])).is_err());
    assert!(Capability::decode(64, &hex(&["00"])).is_err());
}

#[test]
fn long_lived_graceful_restart_capability() {
    // RFC 9494 §3: per family AFI, SAFI, F bit, 24-bit Long-lived Stale Time.
    let v = hex(&[
        "0001 01 80 000e10", // IPv4 unicast, F=1, stale time 3600 s
        "0002 01 00 ffffff", // IPv6 unicast, F=0, stale time 16777215 s (largest)
        "0001 02 7f 000000", // IPv4 multicast, F=0 (other flag bits reserved), 0 s
    ]);
    let Capability::LongLivedGracefulRestart(f) = Capability::decode(71, &v).unwrap() else { panic!() };
    assert_eq!(
        f,
        [
            LongLivedFamily { family: Family::IPV4_UNICAST, forwarding_state: true, stale_time: 3600 },
            LongLivedFamily { family: Family::IPV6_UNICAST, forwarding_state: false, stale_time: 0xff_ffff },
            LongLivedFamily { family: Family::IPV4_MULTICAST, forwarding_state: false, stale_time: 0 },
        ]
    );
    assert!(Capability::decode(71, &v[..13]).is_err(), "length not 7n");
}

// ---------------------------------------------------------------------------------------------
// OPEN
// ---------------------------------------------------------------------------------------------

#[test]
fn open_one_capability_per_parameter_frr_style() {
    // FRR (and GoBGP) put each capability in its own Optional Parameter.
    let m = hex(&[
        MARKER,
        "0069",                          // length 105
        "01",                            // OPEN
        "04",                            // version 4
        "fde9",                          // My AS 65001
        "00b4",                          // Hold Time 180
        "0a000001",                      // BGP Identifier 10.0.0.1
        "4c",                            // Opt Parm Len 76
        "02 06 01 04 0001 00 01",        // Capabilities: multiprotocol IPv4 unicast
        "02 06 01 04 0002 00 01",        // Capabilities: multiprotocol IPv6 unicast
        "02 02 80 00",                   // Capabilities: Cisco pre-standard route refresh (128)
        "02 02 02 00",                   // Capabilities: route refresh (RFC 2918)
        "02 02 46 00",                   // Capabilities: enhanced route refresh (RFC 7313)
        "02 06 41 04 0000fde9",          // Capabilities: 4-octet AS 65001
        "02 06 45 04 0001 01 03",        // Capabilities: Add-Path IPv4 unicast send+receive
        "02 09 49 07 02 7231 03 6c6162", // Capabilities: FQDN "r1" . "lab"
        "02 08 40 06 4078 0001 01 80",   // Capabilities: GR N=1 120 s, IPv4 unicast F=1
        "02 09 47 07 0001 01 80 000e10", // Capabilities: LLGR IPv4 unicast F=1 3600 s
    ]);
    let o = open_of(&m);
    assert_eq!(o.version, 4);
    assert_eq!(o.my_as, 65001);
    assert_eq!(o.asn(), 65001);
    assert_eq!(o.hold_time, 180);
    assert_eq!(o.router_id, Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(
        o.capabilities,
        [
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            Capability::Unknown { code: 128, value: vec![] },
            Capability::RouteRefresh,
            Capability::EnhancedRouteRefresh,
            Capability::FourOctetAs(65001),
            Capability::AddPath(vec![AddPathFamily { family: Family::IPV4_UNICAST, receive: true, send: true }]),
            Capability::Fqdn { hostname: "r1".into(), domain: "lab".into() },
            Capability::GracefulRestart(GracefulRestart {
                restart_state: false,
                notification: true,
                restart_time: 120,
                families: vec![GracefulRestartFamily { family: Family::IPV4_UNICAST, forwarding_state: true }],
            }),
            Capability::LongLivedGracefulRestart(vec![LongLivedFamily {
                family: Family::IPV4_UNICAST,
                forwarding_state: true,
                stale_time: 3600
            }]),
        ]
    );
    assert!(o.graceful_restart().unwrap().notification);
    assert_eq!(o.long_lived_graceful_restart().unwrap()[0].stale_time, 3600);
    // keel re-encodes with every capability in one parameter; the meaning is unchanged.
    let again = Message::Open(o.clone()).encode(&four()).unwrap();
    assert_eq!(open_of(&again), o);
    assert_eq!(again.len(), 105 - 2 * 9, "nine parameter headers fewer");
}

#[test]
fn open_all_capabilities_in_one_parameter_bird_style() {
    // BIRD (and ExaBGP) put all capabilities in a single Optional Parameter.
    let m = hex(&[
        MARKER,
        "004b",                    // length 75
        "01",                      // OPEN
        "04",                      // version 4
        "5ba0",                    // My AS 23456 = AS_TRANS
        "005a",                    // Hold Time 90
        "c0000201",                // BGP Identifier 192.0.2.1
        "2e",                      // Opt Parm Len 46
        "02 2c",                   // Capabilities parameter, 44 octets:
        "01 04 0001 00 01",        //   multiprotocol IPv4 unicast
        "02 00",                   //   route refresh
        "06 00",                   //   extended message (RFC 8654)
        "09 01 03",                //   role: customer (RFC 9234)
        "41 04 fa56ea01",          //   4-octet AS 4200000001
        "40 06 0078 0001 01 00",   //   GR: no flags, 120 s, IPv4 unicast F=0
        "05 06 0001 0001 0002",    //   extended next hop: IPv4 unicast over IPv6 (RFC 8950)
        "47 07 0002 01 00 015180", //   LLGR: IPv6 unicast F=0 86400 s
    ]);
    let o = open_of(&m);
    assert_eq!(o.my_as, 23456);
    assert_eq!(o.asn(), 4_200_000_001);
    assert_eq!(o.hold_time, 90);
    assert_eq!(o.router_id, Ipv4Addr::new(192, 0, 2, 1));
    let codes: Vec<u8> = o.capabilities.iter().map(Capability::code).collect();
    assert_eq!(codes, [1, 2, 6, 9, 65, 64, 5, 71]);
    assert_eq!(o.capabilities[3], Capability::Role(Role::Customer));
    assert_eq!(
        o.capabilities[6],
        Capability::ExtendedNextHop(vec![ExtendedNextHop { family: Family::IPV4_UNICAST, next_hop_afi: Afi::IPV6 }])
    );
    let gr = o.graceful_restart().unwrap();
    assert_eq!((gr.restart_state, gr.notification, gr.restart_time), (false, false, 120));
    assert!(!gr.families[0].forwarding_state);
    assert_eq!(o.long_lived_graceful_restart().unwrap()[0].stale_time, 86400);
    // keel's own layout is this one: the bytes come back unchanged.
    assert_eq!(Message::Open(o).encode(&four()).unwrap(), m);
}

#[test]
fn open_rfc9072_extended_optional_parameters() {
    // RFC 9072 §2: Non-Ext OP Len 255 and Non-Ext OP Type 255 announce 2-octet lengths.
    let m = hex(&[
        MARKER,
        "002f",             // length 47
        "01",               // OPEN
        "04",               // version 4
        "fde9",             // My AS 65001
        "00b4",             // Hold Time 180
        "0a000002",         // BGP Identifier 10.0.0.2
        "ff",               // Non-Ext OP Len 255
        "ff",               // Non-Ext OP Type 255: extended layout
        "000f",             // Extended Opt. Parm. Length 15
        "02 000c",          // Capabilities parameter, 2-octet length 12
        "01 04 0001 00 01", //   multiprotocol IPv4 unicast
        "41 04 0000fde9",   //   4-octet AS 65001
    ]);
    let o = open_of(&m);
    assert_eq!(o.capabilities, [Capability::Multiprotocol(Family::IPV4_UNICAST), Capability::FourOctetAs(65001)]);
    assert_eq!(o.router_id, Ipv4Addr::new(10, 0, 0, 2));
}

#[test]
fn open_encoder_switches_to_rfc9072_layout_when_needed() {
    // 60 multiprotocol capabilities (360 octets) do not fit a 1-octet parameter length.
    let caps: Vec<Capability> =
        (0..60u16).map(|i| Capability::Multiprotocol(Family::new(Afi(i + 1), Safi::UNICAST))).collect();
    let o = Open::new(65001, 90, Ipv4Addr::new(10, 0, 0, 1), caps);
    let m = Message::Open(o.clone()).encode(&four()).unwrap();
    assert_eq!(m[28], 0xff, "Non-Ext OP Len");
    assert_eq!(m[29], 0xff, "Non-Ext OP Type");
    assert_eq!(u16::from_be_bytes([m[30], m[31]]) as usize, m.len() - 32);
    assert_eq!(open_of(&m), o);
    // A short OPEN keeps the classic layout.
    let small = Open::new(65001, 90, Ipv4Addr::new(10, 0, 0, 1), vec![Capability::RouteRefresh]);
    let m = Message::Open(small).encode(&four()).unwrap();
    assert_eq!(
        m,
        hex(&[
            MARKER,
            "0027",           // length 39
            "01",             // OPEN
            "04",             // version
            "fde9",           // My AS 65001
            "005a",           // Hold Time 90
            "0a000001",       // BGP Identifier
            "0a",             // Opt Parm Len 10
            "02 08",          // Capabilities parameter, 8 octets
            "02 00",          //   route refresh
            "41 04 0000fde9", // 4-octet AS (added by Open::new)
        ])
    );
}

#[test]
fn open_with_four_octet_asn_uses_as_trans() {
    let o = Open::new(4_200_000_001, 180, Ipv4Addr::new(10, 0, 0, 1), vec![]);
    assert_eq!(o.my_as, 23456);
    assert_eq!(o.asn(), 4_200_000_001);
}

#[test]
fn keepalive() {
    let m = hex(&[MARKER, "0013", "04"]);
    assert_eq!(decode(&m, &four()), Message::Keepalive);
    assert_eq!(Message::Keepalive.encode(&four()).unwrap(), m);
}

// ---------------------------------------------------------------------------------------------
// End-of-RIB (RFC 4724 §2)
// ---------------------------------------------------------------------------------------------

#[test]
fn end_of_rib_ipv4_unicast_is_the_minimal_update() {
    let m = hex(&[
        MARKER, "0017", // length 23
        "02",   // UPDATE
        "0000", // Withdrawn Routes Length 0
        "0000", // Total Path Attribute Length 0
    ]);
    let u = decode_update(&m, &four());
    assert_eq!(u.as_end_of_rib(), Some(Family::IPV4_UNICAST));
    assert_eq!(Update::end_of_rib(Family::IPV4_UNICAST).encode(&four()).unwrap(), m);
}

#[test]
fn end_of_rib_ipv6_unicast_with_one_octet_attribute_length() {
    let m = hex(&[
        MARKER, "001d",    // length 29
        "02",      // UPDATE
        "0000",    // Withdrawn Routes Length 0
        "0006",    // Total Path Attribute Length 6
        "80",      // flags: optional
        "0f",      // MP_UNREACH_NLRI
        "03",      // length 3
        "0002 01", // AFI 2 SAFI 1, no withdrawn routes
    ]);
    let u = decode_update(&m, &four());
    assert_eq!(u.as_end_of_rib(), Some(Family::IPV6_UNICAST));
    assert!(u.errors.is_empty());
    assert_eq!(Update::end_of_rib(Family::IPV6_UNICAST).encode(&four()).unwrap(), m);
}

#[test]
fn end_of_rib_ipv6_unicast_with_extended_attribute_length() {
    // Some speakers (e.g. Junos, older GoBGP) always set the Extended Length bit.
    let m = hex(&[
        MARKER, "001e",    // length 30
        "02",      // UPDATE
        "0000",    // Withdrawn Routes Length 0
        "0007",    // Total Path Attribute Length 7
        "90",      // flags: optional, extended length
        "0f",      // MP_UNREACH_NLRI
        "0003",    // 2-octet length 3
        "0002 01", // AFI 2 SAFI 1
    ]);
    assert_eq!(decode_update(&m, &four()).as_end_of_rib(), Some(Family::IPV6_UNICAST));
}

#[test]
fn end_of_rib_ipv4_unicast_as_empty_mp_unreach_and_other_families() {
    let v4 = hex(&[MARKER, "001d", "02", "0000", "0006", "80 0f 03", "0001 01"]); // AFI 1 SAFI 1
    assert_eq!(decode_update(&v4, &four()).as_end_of_rib(), Some(Family::IPV4_UNICAST));
    let v6m = hex(&[MARKER, "001d", "02", "0000", "0006", "80 0f 03", "0002 02"]); // IPv6 multicast
    assert_eq!(decode_update(&v6m, &four()).as_end_of_rib(), Some(Family::IPV6_MULTICAST));
    // L2VPN EVPN (AFI 25, SAFI 70), a family keel does not parse: still recognized.
    let evpn = hex(&[MARKER, "001d", "02", "0000", "0006", "80 0f 03", "0019 46"]);
    let u = decode_update(&evpn, &four());
    let fam = Family::new(Afi(25), Safi(70));
    assert_eq!(u.as_end_of_rib(), Some(fam));
    assert_eq!(Update::end_of_rib(fam).encode(&four()).unwrap(), evpn);
    // Not an End-of-RIB: an MP_UNREACH that withdraws something.
    let w = hex(&[MARKER, "001f", "02", "0000", "0008", "80 0f 05", "0002 01", "08 20"]); // 2000::/8 hmm 0x20/8
    let u = decode_update(&w, &four());
    assert_eq!(u.as_end_of_rib(), None);
    assert_eq!(u.withdrawn_routes().next().unwrap().1.prefix, pfx("2000::/8"));
}

// ---------------------------------------------------------------------------------------------
// NOTIFICATION: Hard Reset (RFC 8538) and shutdown communication (RFC 9003)
// ---------------------------------------------------------------------------------------------

#[test]
fn hard_reset_notifications() {
    let m = hex(&[
        MARKER, "0017",  // length 23
        "03",    // NOTIFICATION
        "06 09", // Cease / Hard Reset
        "06 04", // inner: Cease / Administrative Reset
    ]);
    let Message::Notification(n) = decode(&m, &four()) else { panic!() };
    assert!(n.is_hard_reset());
    assert_eq!(n.hard_reset_inner(), Some(Notification::new(6, 4, vec![])));
    assert_eq!(n.effective(), Notification::new(6, 4, vec![]));
    assert_eq!(n.describe(), "Cease/Hard Reset of Cease/Administrative Reset");
    assert_eq!(
        Message::Notification(Notification::hard_reset(&Notification::new(6, 4, vec![]))).encode(&four()).unwrap(),
        m
    );

    // Hard Reset of Hold Timer Expired (what a speaker sends when the hold timer fires with N=1).
    let m = hex(&[MARKER, "0017", "03", "06 09", "04 00"]);
    let Message::Notification(n) = decode(&m, &four()) else { panic!() };
    assert_eq!(n.hard_reset_inner().unwrap().code, 4);

    // A Cease/9 without inner code: not decodable as an inner message.
    let m = hex(&[MARKER, "0015", "03", "06 09"]);
    let Message::Notification(n) = decode(&m, &four()) else { panic!() };
    assert!(n.is_hard_reset());
    assert_eq!(n.hard_reset_inner(), None);
}

#[test]
fn shutdown_communication() {
    let m = hex(&[
        MARKER,
        "0029",                                     // length 41
        "03",                                       // NOTIFICATION
        "06 02",                                    // Cease / Administrative Shutdown
        "13",                                       // shutdown communication length 19
        "706c616e6e6564 20 6d61696e74656e616e6365", // "planned maintenance"
    ]);
    let Message::Notification(n) = decode(&m, &four()) else { panic!() };
    assert_eq!(n.shutdown_message().as_deref(), Some("planned maintenance"));
    assert_eq!(n.describe(), "Cease/Administrative Shutdown: \"planned maintenance\"");
    assert_eq!(
        Message::Notification(Notification::cease_with_message(2, "planned maintenance")).encode(&four()).unwrap(),
        m
    );

    // Inside a Hard Reset (RFC 8538 §3 carries the whole inner data).
    let m = hex(&[MARKER, "001d", "03", "06 09", "06 04", "05", "6279652121"]); // length 29, "bye!!"
    let Message::Notification(n) = decode(&m, &four()) else { panic!() };
    assert_eq!(n.shutdown_message().as_deref(), Some("bye!!"));

    // Invalid UTF-8 or a length running past the data: no message.
    assert_eq!(Notification::new(6, 2, hex(&["02 c328"])).shutdown_message(), None);
    assert_eq!(Notification::new(6, 2, hex(&["09 6869"])).shutdown_message(), None);
    // Only subcodes 2 and 4 carry one.
    assert_eq!(Notification::new(6, 3, hex(&["02 6869"])).shutdown_message(), None);

    // Longer than 255 octets: cut at a character boundary.
    let long = "é".repeat(200);
    let n = Notification::cease_with_message(4, &long);
    assert_eq!(n.data[0] as usize, 254);
    assert!(n.data.len() <= MAX_SHUTDOWN_MESSAGE + 1);
    assert_eq!(n.shutdown_message().unwrap(), "é".repeat(127));
}

#[test]
fn notification_data_is_cut_to_the_message_limit() {
    let n = Notification::new(3, 1, vec![0xab; 5000]);
    let m = Message::Notification(n).encode(&four()).unwrap();
    assert_eq!(m.len(), 4096);
    let ext = keel_wire::CodecOptions { extended_message: true, ..four() };
    let m = Message::Notification(Notification::new(3, 1, vec![0xab; 5000])).encode(&ext).unwrap();
    assert_eq!(m.len(), 19 + 2 + 5000);
}

// ---------------------------------------------------------------------------------------------
// ROUTE-REFRESH (RFC 2918, RFC 7313)
// ---------------------------------------------------------------------------------------------

#[test]
fn route_refresh_subtypes() {
    let cases = [
        ("0001 00 01", Family::IPV4_UNICAST, RefreshSubtype::Request), // AFI 1, subtype 0, SAFI 1
        ("0002 01 01", Family::IPV6_UNICAST, RefreshSubtype::Begin),   // BoRR
        ("0002 02 01", Family::IPV6_UNICAST, RefreshSubtype::End),     // EoRR
        ("0001 ff 02", Family::IPV4_MULTICAST, RefreshSubtype::Reserved(255)),
    ];
    for (body, family, subtype) in cases {
        let m = hex(&[MARKER, "0017", "05", body]); // length 23, ROUTE-REFRESH
        let Message::RouteRefresh(r) = decode(&m, &four()) else { panic!() };
        assert_eq!(r, RouteRefresh { family, subtype });
        assert_eq!(Message::RouteRefresh(r).encode(&four()).unwrap(), m);
    }
}

// ---------------------------------------------------------------------------------------------
// UPDATE
// ---------------------------------------------------------------------------------------------

#[test]
fn update_with_every_attribute_kind() {
    let m = hex(&[
        MARKER,
        "00a8",                                // length 168
        "02",                                  // UPDATE
        "0004",                                // Withdrawn Routes Length 4
        "18 c00002",                           // 192.0.2.0/24
        "0084",                                // Total Path Attribute Length 132
        "40 01 01 00",                         // ORIGIN IGP
        "40 02 14",                            // AS_PATH, 20 octets
        "02 02 0000fde9 fa56ea01",             //   AS_SEQUENCE 65001 4200000001
        "01 02 0000fe4c 0000fe4d",             //   AS_SET {65100, 65101}
        "40 03 04 c0000201",                   // NEXT_HOP 192.0.2.1
        "80 04 04 00000064",                   // MULTI_EXIT_DISC 100
        "40 05 04 000000c8",                   // LOCAL_PREF 200
        "40 06 00",                            // ATOMIC_AGGREGATE
        "c0 07 08 0000fde9 c0000209",          // AGGREGATOR 65001 192.0.2.9
        "c0 08 08 fde90064 ffffff01",          // COMMUNITIES 65001:100 NO_EXPORT
        "80 09 04 0a000005",                   // ORIGINATOR_ID 10.0.0.5
        "80 0a 04 0a000006",                   // CLUSTER_LIST 10.0.0.6
        "c0 10 08 0002fde9 00000064",          // EXTENDED_COMMUNITIES rt:65001:100
        "c0 20 0c fa56ea01 00000001 00000002", // LARGE_COMMUNITY 4200000001:1:2
        "c0 23 04 0000fde9",                   // OTC 65001 (RFC 9234)
        "c0 63 04 deadbeef",                   // unknown optional transitive 99: kept, Partial set
        "80 64 02 abcd",                       // unknown optional non-transitive 100: dropped (RFC 4271 §5)
        "18 c63364",                           // NLRI 198.51.100.0/24
        "19 cb007180",                         // NLRI 203.0.113.128/25
    ]);
    let u = decode_update(&m, &four());
    assert!(u.errors.is_empty(), "{:?}", u.errors);
    assert_eq!(u.withdrawn, [nlri("192.0.2.0/24")]);
    assert_eq!(u.announced, [nlri("198.51.100.0/24"), nlri("203.0.113.128/25")]);
    let a = &u.attributes;
    assert_eq!(a.origin, Some(Origin::Igp));
    let path = a.as_path.as_ref().unwrap();
    assert_eq!(path.segments, [seq(&[65001, 4_200_000_001]), set(&[65100, 65101])]);
    assert_eq!(path.path_length(), 3);
    assert_eq!(path.to_string(), "65001 4200000001 {65100,65101}");
    assert_eq!(a.next_hop, Some(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(a.med, Some(100));
    assert_eq!(a.local_pref, Some(200));
    assert!(a.atomic_aggregate);
    assert_eq!(a.aggregator, Some(Aggregator { asn: 65001, address: Ipv4Addr::new(192, 0, 2, 9) }));
    assert_eq!(a.communities, [Community::new(65001, 100), Community::NO_EXPORT]);
    assert_eq!(a.originator_id, Some(Ipv4Addr::new(10, 0, 0, 5)));
    assert_eq!(a.cluster_list, [Ipv4Addr::new(10, 0, 0, 6)]);
    assert_eq!(a.extended_communities.len(), 1);
    assert_eq!(a.extended_communities[0].to_string(), "rt:65001:100");
    assert!(a.extended_communities[0].is_transitive());
    assert_eq!(a.large_communities, [LargeCommunity { global_admin: 4_200_000_001, local_data_1: 1, local_data_2: 2 }]);
    assert_eq!(a.otc, Some(65001));
    assert_eq!(a.unknown, [RawAttribute { flags: 0xe0, code: 99, value: hex(&["deadbeef"]) }]);

    // Re-encoding: same attributes in type-code order, 99 now with the Partial bit, 100 gone.
    let again = u.encode(&four()).unwrap();
    let tail = hex(&["e0 63 04 deadbeef", "18 c63364", "19 cb007180"]);
    assert!(again.ends_with(&tail));
    assert_eq!(again.len(), m.len() - 5);
    let mut expected = m[..m.len() - 9 - 12].to_vec(); // up to the unknown attributes
    expected.extend_from_slice(&tail);
    let len = expected.len() as u16;
    expected[16..18].copy_from_slice(&len.to_be_bytes());
    expected[19 + 2 + 4..19 + 2 + 4 + 2].copy_from_slice(&127u16.to_be_bytes());
    assert_eq!(again, expected);
}

#[test]
fn as4_path_reconstruction_on_a_two_octet_session() {
    // RFC 6793 §4.2.3, from a NEW speaker to an OLD one and back.
    let m = hex(&[
        MARKER,
        "0052",                             // length 82
        "02",                               // UPDATE
        "0000",                             // no withdrawn routes
        "0037",                             // Total Path Attribute Length 55
        "40 01 01 00",                      // ORIGIN IGP
        "40 02 08 02 03 fde9 5ba0 5ba0",    // AS_PATH (2-octet): AS_SEQUENCE 65001 AS_TRANS AS_TRANS
        "40 03 04 c0000201",                // NEXT_HOP 192.0.2.1
        "c0 07 06 5ba0 c0000209",           // AGGREGATOR (2-octet) AS_TRANS 192.0.2.9
        "c0 11 0a 02 02 fa56ea01 fa56ea02", // AS4_PATH: AS_SEQUENCE 4200000001 4200000002
        "c0 12 08 fa56ea02 c0000209",       // AS4_AGGREGATOR 4200000002 192.0.2.9
        "18 c63364",                        // NLRI 198.51.100.0/24
    ]);
    let u = decode_update(&m, &two());
    assert!(u.errors.is_empty(), "{:?}", u.errors);
    let path = u.attributes.as_path.as_ref().unwrap();
    assert_eq!(path.asns().collect::<Vec<_>>(), [65001, 4_200_000_001, 4_200_000_002]);
    assert_eq!(path.segments, [seq(&[65001, 4_200_000_001, 4_200_000_002])], "split AS_SEQUENCE joined");
    assert_eq!(path.path_length(), 3);
    assert_eq!(u.attributes.aggregator, Some(Aggregator { asn: 4_200_000_002, address: Ipv4Addr::new(192, 0, 2, 9) }));

    // AGGREGATOR not AS_TRANS: an OLD speaker aggregated, AS4_PATH and AS4_AGGREGATOR ignored.
    let mut old = m.clone();
    let at = old.windows(3).position(|w| w == [0xc0, 0x07, 0x06]).unwrap();
    old[at + 3..at + 5].copy_from_slice(&[0xfd, 0xea]); // AGGREGATOR AS 65002
    let u = decode_update(&old, &two());
    assert_eq!(u.attributes.as_path.as_ref().unwrap().asns().collect::<Vec<_>>(), [65001, 23456, 23456]);
    assert_eq!(u.attributes.aggregator.unwrap().asn, 65002);

    // Adjacent AS_SEQUENCEs in AS4_PATH stay as the peer sent them.
    let m3 = update_msg(
        &[],
        &hex(&[
            "40 01 01 00",
            "40 02 08 02 01 5ba0 02 01 5ba0", // AS_PATH: (AS_TRANS) (AS_TRANS)
            "40 03 04 c0000201",
            "c0 11 0c 02 01 fa56ea01 02 01 fa56ea02", // AS4_PATH: (4200000001) (4200000002)
        ]),
        &hex(&["18 c63364"]),
    );
    let u = decode_update(&m3, &two());
    assert_eq!(u.attributes.as_path.unwrap().segments, [seq(&[4_200_000_001]), seq(&[4_200_000_002])]);

    // AS4_PATH longer than AS_PATH: ignored.
    let m2 = update_msg(
        &[],
        &hex(&[
            "40 01 01 00",
            "40 02 04 02 01 5ba0", // AS_PATH: AS_TRANS
            "40 03 04 c0000201",
            "c0 11 0a 02 02 fa56ea01 fa56ea02", // AS4_PATH with 2 ASes
        ]),
        &hex(&["18 c63364"]),
    );
    let u = decode_update(&m2, &two());
    assert_eq!(u.attributes.as_path, Some(AsPath::sequence(vec![23456])));

    // On a 4-octet session AS4_PATH is ignored (RFC 6793 §4.1).
    let m4 = update_msg(
        &[],
        &hex(&["40 01 01 00", "40 02 06 02 01 0000fde9", "40 03 04 c0000201", "c0 11 06 02 01 fa56ea01"]),
        &hex(&["18 c63364"]),
    );
    let u = decode_update(&m4, &four());
    assert_eq!(u.attributes.as_path, Some(AsPath::sequence(vec![65001])));
}

#[test]
fn as4_path_is_generated_for_a_two_octet_peer() {
    let mut u = Update::default();
    u.attributes.origin = Some(Origin::Igp);
    u.attributes.as_path = Some(AsPath::sequence(vec![65001, 4_200_000_001, 4_200_000_002]));
    u.attributes.next_hop = Some(Ipv4Addr::new(192, 0, 2, 1));
    u.attributes.aggregator = Some(Aggregator { asn: 4_200_000_002, address: Ipv4Addr::new(192, 0, 2, 9) });
    u.announced = vec![nlri("198.51.100.0/24")];
    let m = u.encode(&two()).unwrap();
    let contains = |needle: &[u8]| m.windows(needle.len()).any(|w| w == needle);
    assert!(contains(&hex(&["40 02 08 02 03 fde9 5ba0 5ba0"])), "AS_PATH with AS_TRANS");
    assert!(contains(&hex(&["c0 07 06 5ba0 c0000209"])), "AGGREGATOR with AS_TRANS");
    assert!(contains(&hex(&["c0 11 0e 02 03 0000fde9 fa56ea01 fa56ea02"])), "AS4_PATH");
    assert!(contains(&hex(&["c0 12 08 fa56ea02 c0000209"])), "AS4_AGGREGATOR");
    assert_eq!(decode_update(&m, &two()), u);
    // To a 4-octet peer: no AS4_* attributes.
    let m = u.encode(&four()).unwrap();
    assert!(!m.windows(2).any(|w| w == [0xc0, 0x11]));
    assert_eq!(decode_update(&m, &four()), u);
}

#[test]
fn ipv6_update_with_link_local_next_hop_and_mp_unreach() {
    let m = hex(&[
        MARKER,
        "006b",                                // length 107
        "02",                                  // UPDATE
        "0000",                                // no IPv4 withdrawn routes
        "0054",                                // Total Path Attribute Length 84
        "80 0f 0c",                            // MP_UNREACH_NLRI, 12 octets
        "0002 01",                             //   AFI 2 SAFI 1
        "40 20010db8 00030000",                //   2001:db8:3::/64
        "80 0e 35",                            // MP_REACH_NLRI, 53 octets
        "0002 01",                             //   AFI 2 SAFI 1
        "20",                                  //   next hop length 32: global + link-local (RFC 2545 §3)
        "20010db8 00000000 00000000 00000001", // 2001:db8::1
        "fe800000 00000000 00000000 00000001", // fe80::1
        "00",                                  //   reserved
        "40 20010db8 00010000",                //   2001:db8:1::/64
        "30 20010db8 0002",                    //   2001:db8:2::/48
        "40 01 01 00",                         // ORIGIN IGP
        "40 02 06 02 01 0000fde9",             // AS_PATH 65001
    ]);
    let u = decode_update(&m, &four());
    assert!(u.errors.is_empty(), "{:?}", u.errors);
    let r = u.attributes.mp_reach.as_ref().unwrap();
    assert_eq!(r.family, Family::IPV6_UNICAST);
    assert_eq!(
        r.next_hop,
        NextHop::V6 { global: "2001:db8::1".parse().unwrap(), link_local: Some("fe80::1".parse().unwrap()) }
    );
    assert_eq!(r.next_hop.to_string(), "2001:db8::1 fe80::1");
    assert_eq!(r.nlri, [nlri("2001:db8:1::/64"), nlri("2001:db8:2::/48")]);
    let w: Vec<_> = u.withdrawn_routes().collect();
    assert_eq!(w, [(Family::IPV6_UNICAST, &nlri("2001:db8:3::/64"))]);
    assert_eq!(u.announced_routes().count(), 2);
    assert_eq!(u.encode(&four()).unwrap(), m);
}

#[test]
fn rfc8950_ipv4_nlri_with_ipv6_next_hop() {
    let m = hex(&[
        MARKER,
        "0040",                                // length 64
        "02",                                  // UPDATE
        "0000",                                // no withdrawn routes
        "0029",                                // Total Path Attribute Length 41
        "80 0e 19",                            // MP_REACH_NLRI, 25 octets
        "0001 01",                             //   AFI 1 SAFI 1
        "10",                                  //   next hop length 16
        "20010db8 00000000 00000000 00000001", // 2001:db8::1
        "00",                                  //   reserved
        "18 c63364",                           //   198.51.100.0/24
        "40 01 01 00",                         // ORIGIN IGP
        "40 02 06 02 01 0000fde9",             // AS_PATH 65001
    ]);
    let u = decode_update(&m, &four());
    assert!(u.errors.is_empty(), "{:?}", u.errors);
    let r = u.attributes.mp_reach.as_ref().unwrap();
    assert_eq!(r.family, Family::IPV4_UNICAST);
    assert_eq!(r.next_hop, NextHop::V6 { global: "2001:db8::1".parse().unwrap(), link_local: None });
    assert_eq!(u.announced_routes().collect::<Vec<_>>(), [(Family::IPV4_UNICAST, &nlri("198.51.100.0/24"))]);
    assert_eq!(u.encode(&four()).unwrap(), m);
}

#[test]
fn add_path_ipv4_nlri() {
    let m = hex(&[
        MARKER,
        "0043",                    // length 67
        "02",                      // UPDATE
        "0008",                    // Withdrawn Routes Length 8
        "00000002 18 c00002",      //   path 2: 192.0.2.0/24
        "0014",                    // Total Path Attribute Length 20
        "40 01 01 00",             // ORIGIN IGP
        "40 02 06 02 01 0000fde9", // AS_PATH 65001
        "40 03 04 c0000201",       // NEXT_HOP 192.0.2.1
        "00000001 18 c63364",      // NLRI path 1: 198.51.100.0/24
        "00000002 18 c63364",      // NLRI path 2: 198.51.100.0/24
    ]);
    let ap = add_path(&[Family::IPV4_UNICAST]);
    let u = decode_update(&m, &ap);
    assert_eq!(u.withdrawn, [Nlri::with_path_id(pfx("192.0.2.0/24"), 2)]);
    assert_eq!(
        u.announced,
        [Nlri::with_path_id(pfx("198.51.100.0/24"), 1), Nlri::with_path_id(pfx("198.51.100.0/24"), 2)]
    );
    assert_eq!(u.encode(&ap).unwrap(), m);
    // The same bytes without Add-Path negotiated do not parse (prefix length 192).
    let e = decode_err(&m, &four());
    assert_eq!((e.code, e.subcode), (3, 10));
}

#[test]
fn add_path_ipv6_mp_reach() {
    let m = hex(&[
        MARKER,
        "0049",                                // length 73
        "02",                                  // UPDATE
        "0000",                                // no withdrawn routes
        "0032",                                // Total Path Attribute Length 50
        "80 0e 22",                            // MP_REACH_NLRI, 34 octets
        "0002 01",                             //   AFI 2 SAFI 1
        "10",                                  //   next hop length 16
        "20010db8 00000000 00000000 00000001", // 2001:db8::1
        "00",                                  //   reserved
        "0000000a 40 20010db8 00010000",       //   path 10: 2001:db8:1::/64
        "40 01 01 00",                         // ORIGIN IGP
        "40 02 06 02 01 0000fde9",             // AS_PATH 65001
    ]);
    let ap = add_path(&[Family::IPV6_UNICAST]);
    let u = decode_update(&m, &ap);
    assert_eq!(u.attributes.mp_reach.as_ref().unwrap().nlri, [Nlri::with_path_id(pfx("2001:db8:1::/64"), 10)]);
    assert_eq!(u.encode(&ap).unwrap(), m);
    // Add-Path for IPv4 only: the IPv6 NLRI is misread and the family disabled.
    let e = decode_err(&m, &add_path(&[Family::IPV4_UNICAST]));
    assert_eq!(e.action, keel_wire::Action::AfiSafiDisable(Family::IPV6_UNICAST));
}

#[test]
fn unknown_attribute_with_extended_length_is_kept_with_partial_bit() {
    let m = update_msg(
        &[],
        &hex(&[
            "40 01 01 00",
            "40 02 06 02 01 0000fde9",
            "40 03 04 c0000201",
            "d0 63 0004 deadbeef", // optional transitive extended-length attribute 99
            "c0 64 00",            // optional transitive attribute 100, empty
        ]),
        &hex(&["18 c63364"]),
    );
    let u = decode_update(&m, &four());
    assert_eq!(
        u.attributes.unknown,
        [
            RawAttribute { flags: 0xe0, code: 99, value: hex(&["deadbeef"]) },
            RawAttribute { flags: 0xe0, code: 100, value: vec![] },
        ]
    );
    let again = u.encode(&four()).unwrap();
    assert!(again.windows(7).any(|w| w == hex(&["e0 63 04 deadbeef"])));
}

#[test]
fn extended_length_well_known_attributes_and_host_bits() {
    // AS_PATH with the Extended Length bit (allowed for any attribute), NLRI with host bits set
    // (RFC 4271 §4.3: trailing bits are irrelevant).
    let m = update_msg(
        &[],
        &hex(&["40 01 01 02", "50 02 0006 02 01 0000fde9", "40 03 04 c0000201"]),
        &hex(&["17 c63365"]), // 198.51.101.0/23 -> 198.51.100.0/23
    );
    let u = decode_update(&m, &four());
    assert_eq!(u.attributes.origin, Some(Origin::Incomplete));
    assert_eq!(u.attributes.as_path, Some(AsPath::sequence(vec![65001])));
    assert_eq!(u.announced, [nlri("198.51.100.0/23")]);
}
