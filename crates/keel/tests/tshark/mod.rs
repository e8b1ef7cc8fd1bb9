//! Real-world check of the keel-wire encoder: messages built with keel-wire go into a pcap as
//! BGP sessions over TCP port 179, and Wireshark's dissector (tshark) must read every one of
//! them as BGP without any malformed packet, expert error or warning, and must know every
//! capability keel encodes by name.
//!
//! tshark is required: this test fails when it is missing (install it with
//! `apt-get install -y --no-install-recommends tshark`).

mod pcap;

use keel_wire::attribute::{Aggregator, AsSegment, ExtendedCommunity, LargeCommunity, RawAttribute, SegmentType};
use keel_wire::attribute::{MpReach, MpUnreach};
use keel_wire::capability::{
    AddPathFamily, ExtendedNextHop, GracefulRestart, GracefulRestartFamily, LongLivedFamily, Role,
};
use keel_wire::error::cease;
use keel_wire::{builder, Afi, AsPath, Capability, CodecOptions, Community, Family, Message, NextHop, Nlri};
use keel_wire::{Notification, Open, Origin, PathAttributes, RefreshSubtype, RouteRefresh, Update};
use pcap::{Endpoint, Pcap, Tcp};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::process::Command;

const FAMILIES: [Family; 4] =
    [Family::IPV4_UNICAST, Family::IPV6_UNICAST, Family::IPV4_MULTICAST, Family::IPV6_MULTICAST];

fn nlri(s: &str, path_id: Option<u32>) -> Nlri {
    Nlri { prefix: s.parse().unwrap(), path_id }
}

/// Every attribute keel knows (next hop and MP attributes aside).
fn all_attributes() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath {
            segments: vec![
                AsSegment { kind: SegmentType::ConfedSequence, asns: vec![64512, 64513].into() },
                AsSegment { kind: SegmentType::Sequence, asns: vec![4_200_000_001, 65002, 65003].into() },
                AsSegment { kind: SegmentType::Set, asns: vec![65010, 4_200_000_010].into() },
            ]
            .into(),
        }),
        med: Some(50),
        local_pref: Some(200),
        atomic_aggregate: true,
        aggregator: Some(Aggregator { asn: 4_200_000_001, address: Ipv4Addr::new(192, 0, 2, 1) }),
        communities: vec![Community::LLGR_STALE, Community::NO_EXPORT, Community::new(65002, 100)].into(),
        originator_id: Some(Ipv4Addr::new(192, 0, 2, 9)),
        cluster_list: vec![Ipv4Addr::new(192, 0, 2, 10), Ipv4Addr::new(192, 0, 2, 11)].into(),
        extended_communities: vec![
            ExtendedCommunity([0x00, 0x02, 0xfd, 0xea, 0, 0, 0, 100]),
            ExtendedCommunity([0x02, 0x02, 0xfa, 0x56, 0xea, 0x01, 0, 7]),
        ]
        .into(),
        large_communities: vec![LargeCommunity { global_admin: 4_200_000_001, local_data_1: 1, local_data_2: 2 }]
            .into(),
        otc: Some(65002),
        unknown: vec![RawAttribute { flags: 0xe0, code: 250, value: vec![1, 2, 3, 4] }].into(),
        ..PathAttributes::default()
    }
}

fn open(asn: u32, id: [u8; 4], caps: Vec<Capability>) -> Vec<u8> {
    Message::Open(Open::new(asn, 90, Ipv4Addr::from(id), caps)).encode(&CodecOptions::default()).unwrap()
}

/// Session 1: 4-octet AS, Add-Path on IPv4 and IPv6 unicast, every capability keel knows.
fn four_octet_session(pcap: &mut Pcap, expected: &mut BTreeMap<&'static str, usize>) {
    let a = Endpoint::new([2, 0, 0, 0, 0, 1], Ipv4Addr::new(192, 0, 2, 1), 40179, 1000);
    let b = Endpoint::new([2, 0, 0, 0, 0, 2], Ipv4Addr::new(192, 0, 2, 2), 179, 5000);
    let mut tcp = Tcp::open(pcap, a, b);
    let mut count = |t: &'static str, n: usize| *expected.entry(t).or_default() += n;
    let add_path = vec![
        AddPathFamily { family: Family::IPV4_UNICAST, receive: true, send: true },
        AddPathFamily { family: Family::IPV6_UNICAST, receive: true, send: true },
    ];
    let mut caps: Vec<Capability> = FAMILIES.iter().map(|f| Capability::Multiprotocol(*f)).collect();
    caps.extend([
        Capability::RouteRefresh,
        Capability::EnhancedRouteRefresh,
        Capability::GracefulRestart(GracefulRestart {
            restart_state: true,
            notification: true,
            restart_time: 120,
            families: FAMILIES
                .iter()
                .map(|f| GracefulRestartFamily { family: *f, forwarding_state: *f == Family::IPV4_UNICAST })
                .collect(),
        }),
        Capability::LongLivedGracefulRestart(
            FAMILIES
                .iter()
                .map(|f| LongLivedFamily { family: *f, forwarding_state: true, stale_time: 86400 })
                .collect(),
        ),
        Capability::AddPath(add_path.clone()),
        Capability::ExtendedNextHop(vec![ExtendedNextHop { family: Family::IPV4_UNICAST, next_hop_afi: Afi::IPV6 }]),
        Capability::Role(Role::Peer),
        Capability::Fqdn { hostname: "keel-a".into(), domain: "example.net".into() },
    ]);
    tcp.send(pcap, true, &open(4_200_000_001, [192, 0, 2, 1], caps));
    let peer_caps = vec![
        Capability::Multiprotocol(Family::IPV4_UNICAST),
        Capability::Multiprotocol(Family::IPV6_UNICAST),
        Capability::RouteRefresh,
        Capability::GracefulRestart(GracefulRestart {
            restart_state: false,
            notification: true,
            restart_time: 300,
            families: vec![GracefulRestartFamily { family: Family::IPV6_UNICAST, forwarding_state: false }],
        }),
        Capability::LongLivedGracefulRestart(vec![LongLivedFamily {
            family: Family::IPV4_UNICAST,
            forwarding_state: false,
            stale_time: 3600,
        }]),
        Capability::AddPath(add_path.clone()),
        Capability::Role(Role::Peer),
    ];
    tcp.send(pcap, false, &open(65002, [192, 0, 2, 2], peer_caps));
    count("OPEN", 2);
    let keepalive = Message::Keepalive.encode(&CodecOptions::default()).unwrap();
    tcp.send(pcap, true, &keepalive);
    tcp.send(pcap, false, &keepalive);
    count("KEEPALIVE", 2);

    let opts = CodecOptions {
        four_octet_as: true,
        extended_message: false,
        add_path: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
    };
    let attrs = all_attributes();
    let v4 = [nlri("198.51.100.0/24", Some(1)), nlri("198.51.100.0/24", Some(2)), nlri("0.0.0.0/0", Some(3))];
    let v6 = [nlri("2001:db8:1::/48", Some(1)), nlri("2001:db8:2::/127", Some(9)), nlri("::/0", Some(4))];
    let link_local =
        NextHop::V6 { global: "2001:db8::1".parse().unwrap(), link_local: Some("fe80::1".parse().unwrap()) };
    let send_all = |tcp: &mut Tcp, pcap: &mut Pcap, buf: &[u8], count: &mut dyn FnMut(&'static str, usize)| {
        let mut rest = buf;
        while let Some(frame) = Message::next_frame(rest, &opts).unwrap() {
            tcp.send(pcap, true, frame);
            count("UPDATE", 1);
            rest = &rest[frame.len()..];
        }
        assert!(rest.is_empty());
    };
    let mut buf = Vec::new();
    builder::announce(Family::IPV4_UNICAST, &attrs, NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)), &v4, &opts, &mut buf)
        .unwrap();
    builder::announce(Family::IPV6_UNICAST, &attrs, link_local, &v6, &opts, &mut buf).unwrap();
    let global_only = NextHop::V6 { global: "2001:db8::2".parse().unwrap(), link_local: None };
    builder::announce(Family::IPV6_UNICAST, &attrs, global_only, &v6[..1], &opts, &mut buf).unwrap();
    // IPv4 NLRI over an IPv6 next hop (RFC 8950).
    builder::announce(Family::IPV4_UNICAST, &attrs, global_only, &v4[..1], &opts, &mut buf).unwrap();
    let mc4 = [nlri("233.252.0.0/24", None)];
    let mc6 = [nlri("ff0e:db8::/32", None)];
    builder::announce(Family::IPV4_MULTICAST, &attrs, NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)), &mc4, &opts, &mut buf)
        .unwrap();
    builder::announce(Family::IPV6_MULTICAST, &attrs, link_local, &mc6, &opts, &mut buf).unwrap();
    builder::withdraw(Family::IPV4_UNICAST, &v4, &opts, &mut buf).unwrap();
    builder::withdraw(Family::IPV6_UNICAST, &v6, &opts, &mut buf).unwrap();
    builder::withdraw(Family::IPV6_MULTICAST, &mc6, &opts, &mut buf).unwrap();
    // Update::encode: IPv4 withdrawals and announcements in the classic fields plus
    // MP_UNREACH and MP_REACH for IPv6, all in one message.
    let mixed = Update {
        withdrawn: vec![nlri("203.0.113.0/25", Some(5))],
        announced: vec![nlri("203.0.113.128/25", Some(6))],
        attributes: PathAttributes {
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            mp_reach: Some(Box::new(MpReach {
                family: Family::IPV6_UNICAST,
                next_hop: link_local,
                nlri: v6[..2].to_vec(),
            })),
            mp_unreach: Some(Box::new(MpUnreach { family: Family::IPV6_UNICAST, nlri: v6[2..].to_vec() })),
            ..attrs.clone()
        },
        errors: Vec::new(),
    };
    buf.extend(mixed.encode(&opts).unwrap());
    for f in FAMILIES {
        buf.extend(Update::end_of_rib(f).encode(&opts).unwrap());
    }
    send_all(&mut tcp, pcap, &buf, &mut count);

    for subtype in [RefreshSubtype::Request, RefreshSubtype::Begin, RefreshSubtype::End] {
        for family in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
            let rr = Message::RouteRefresh(RouteRefresh { family, subtype });
            tcp.send(pcap, false, &rr.encode(&opts).unwrap());
            count("ROUTE-REFRESH", 1);
        }
    }
    let inner = Notification::cease_with_message(cease::ADMINISTRATIVE_SHUTDOWN, "maintenance: back in 5 min");
    let hard_reset = Message::Notification(Notification::hard_reset(&inner));
    tcp.send(pcap, true, &hard_reset.encode(&opts).unwrap());
    count("NOTIFICATION", 1);
    tcp.close(pcap);
}

/// Session 2: neither side has the 4-octet AS capability, so AS4_PATH and AS4_AGGREGATOR
/// carry the large AS numbers.
fn two_octet_session(pcap: &mut Pcap, expected: &mut BTreeMap<&'static str, usize>) {
    let a = Endpoint::new([2, 0, 0, 0, 0, 3], Ipv4Addr::new(192, 0, 2, 3), 40180, 7000);
    let b = Endpoint::new([2, 0, 0, 0, 0, 2], Ipv4Addr::new(192, 0, 2, 2), 179, 9000);
    let mut tcp = Tcp::open(pcap, a, b);
    let opts = CodecOptions { four_octet_as: false, ..CodecOptions::default() };
    let old_open = |my_as: u16, id: [u8; 4]| {
        let o = Open {
            version: 4,
            my_as,
            hold_time: 180,
            router_id: Ipv4Addr::from(id),
            capabilities: vec![
                Capability::Multiprotocol(Family::IPV4_UNICAST),
                Capability::RouteRefresh,
                Capability::GracefulRestart(GracefulRestart {
                    restart_state: false,
                    notification: false,
                    restart_time: 90,
                    families: vec![GracefulRestartFamily { family: Family::IPV4_UNICAST, forwarding_state: true }],
                }),
            ],
        };
        Message::Open(o).encode(&opts).unwrap()
    };
    tcp.send(pcap, true, &old_open(65001, [192, 0, 2, 3]));
    tcp.send(pcap, false, &old_open(65002, [192, 0, 2, 2]));
    let keepalive = Message::Keepalive.encode(&opts).unwrap();
    tcp.send(pcap, true, &keepalive);
    tcp.send(pcap, false, &keepalive);
    let mut buf = Vec::new();
    let attrs =
        PathAttributes { as_path: Some(AsPath::sequence(vec![65001, 4_200_000_001, 65003])), ..all_attributes() };
    let n = builder::announce(
        Family::IPV4_UNICAST,
        &attrs,
        NextHop::V4(Ipv4Addr::new(192, 0, 2, 3)),
        &[nlri("192.0.2.128/25", None)],
        &opts,
        &mut buf,
    )
    .unwrap();
    assert_eq!(n, 1);
    tcp.send(pcap, true, &buf);
    tcp.send(pcap, true, &Update::end_of_rib(Family::IPV4_UNICAST).encode(&opts).unwrap());
    let cease = Notification::cease_with_message(cease::ADMINISTRATIVE_RESET, "");
    tcp.send(pcap, true, &Message::Notification(cease).encode(&opts).unwrap());
    tcp.close(pcap);
    for (t, n) in [("OPEN", 2), ("KEEPALIVE", 2), ("UPDATE", 2), ("NOTIFICATION", 1)] {
        *expected.entry(t).or_default() += n;
    }
}

fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark").args(args).output().unwrap_or_else(|e| {
        panic!(
            "cannot run tshark ({e}); install it: DEBIAN_FRONTEND=noninteractive \
             apt-get install -y --no-install-recommends tshark"
        )
    });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "tshark {args:?} failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[test]
fn tshark_dissects_every_message_cleanly() {
    let mut pcap = Pcap::new();
    let mut expected = BTreeMap::new();
    four_octet_session(&mut pcap, &mut expected);
    two_octet_session(&mut pcap, &mut expected);
    let dir = std::env::temp_dir().join(format!("keel-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("keel.pcap");
    std::fs::write(&file, pcap.into_bytes()).unwrap();
    let file = file.to_str().unwrap();

    // Checksums are verified too, so a wrong one shows up as an expert error.
    let prefs = ["-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"];
    let detail = tshark(&[&prefs[..], &["-r", file, "-V", "-Y", "bgp"]].concat());
    let _ = std::fs::write(dir.join("keel.txt"), &detail);
    let expert = tshark(&[&prefs[..], &["-r", file, "-q", "-z", "expert"]].concat());

    // Every message dissected as BGP, by type.
    let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
    for line in detail.lines() {
        let line = line.trim();
        for (t, text) in [
            ("OPEN", "Type: OPEN Message (1)"),
            ("UPDATE", "Type: UPDATE Message (2)"),
            ("NOTIFICATION", "Type: NOTIFICATION Message (3)"),
            ("KEEPALIVE", "Type: KEEPALIVE Message (4)"),
            ("ROUTE-REFRESH", "Type: ROUTE-REFRESH Message (5)"),
        ] {
            if line == text {
                *seen.entry(t).or_default() += 1;
            }
        }
    }
    assert_eq!(seen, expected, "BGP messages by type as tshark sees them (details in {})", dir.display());

    // Nothing malformed, no expert error or warning (BGP or otherwise: TCP and checksums too).
    for bad in ["Malformed", "[Expert Info (Error", "[Expert Info (Warning"] {
        let hits: Vec<&str> = detail.lines().filter(|l| l.contains(bad)).collect();
        assert!(hits.is_empty(), "tshark reports {bad:?}:\n{}", hits.join("\n"));
    }
    let expert_bad: Vec<&str> =
        expert.lines().filter(|l| l.contains("Error") || l.contains("Warn") || l.contains("Malformed")).collect();
    assert!(expert_bad.is_empty(), "tshark expert info:\n{expert}");

    // Every capability keel encodes is known by name: "Capability: NAME" then "Type: NAME (CODE)".
    let lines: Vec<&str> = detail.lines().map(str::trim).collect();
    let mut caps: BTreeMap<u8, String> = BTreeMap::new();
    for w in lines.windows(2) {
        if let (Some(name), Some(ty)) = (w[0].strip_prefix("Capability: "), w[1].strip_prefix("Type: ")) {
            let code = ty.rsplit_once(" (").and_then(|(_, c)| c.trim_end_matches(')').parse().ok());
            caps.insert(code.unwrap_or_else(|| panic!("capability type line {ty:?}")), name.to_string());
        }
    }
    let unknown: Vec<_> = caps.iter().filter(|(_, n)| n.contains("Unknown")).collect();
    assert!(unknown.is_empty(), "capabilities tshark does not know: {unknown:?}");
    assert_eq!(caps.keys().copied().collect::<Vec<_>>(), [1, 2, 5, 9, 64, 65, 69, 70, 71, 73], "{caps:#?}");
    assert_eq!(caps[&64], "Graceful Restart capability");
    assert!(caps[&71].starts_with("Long-Lived Graceful Restart"), "{}", caps[&71]);
    assert!(caps[&69].contains("Additional Paths"), "{}", caps[&69]);

    // tshark 4.0 names LLGR but shows its value as raw bytes: check them against the RFC 9494
    // layout, AFI (2) SAFI (1) flags (1) stale time (3) per family, built here by hand.
    let llgr_values: Vec<&str> = lines
        .windows(4)
        .filter(|w| w[0].starts_with("Capability: Long-Lived"))
        .filter_map(|w| w[3].strip_prefix("Unknown: "))
        .collect();
    if !llgr_values.is_empty() {
        // Families in the order of FAMILIES: ipv4/ipv6 unicast, then ipv4/ipv6 multicast.
        let keel_a: String =
            ["01", "02"].iter().flat_map(|safi| ["0001", "0002"].map(|afi| format!("{afi}{safi}80015180"))).collect();
        assert_eq!(llgr_values, [keel_a.as_str(), "00010100000e10"]);
    }

    // Add-Path: tshark reads the path identifiers negotiated in the OPENs: 3 + 3 + 1 + 1
    // announced by `builder::announce`, 3 + 3 withdrawn by `builder::withdraw`, 5 in the
    // `Update::encode` message.
    assert_eq!(lines.iter().filter(|l| l.starts_with("NLRI path id: ")).count(), 19);
    for prefix in ["198.51.100.0", "2001:db8:1::", "2001:db8:2::", "233.252.0.0", "ff0e:db8::", "203.0.113.128"] {
        assert!(lines.iter().any(|l| l.ends_with(&format!("prefix: {prefix}"))), "{prefix} not dissected");
    }
    assert!(lines.contains(&"Next hop: IPv6=2001:db8::1 Link-local=fe80::1"), "link-local next hop");
    assert!(lines.contains(&"Path Attribute - AS4_PATH: 65001 4200000001 65003"), "AS4_PATH");
    assert!(lines.contains(&"Path Attribute - AS4_AGGREGATOR: AS: 4200000001 origin: 192.0.2.1"));
    let _ = std::fs::remove_dir_all(&dir);
}
