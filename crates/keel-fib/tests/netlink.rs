//! NetlinkFib against a real kernel, one fresh network namespace per test.

use crate::netns::NetNs;
use keel_fib::{reconcile, Fib, FibChange, FibRoute, NetlinkFib, NextHop, RouteError, DEFAULT_PROTOCOL, MAIN_TABLE};
use keel_wire::Prefix;

const TABLE: u32 = 1000;

fn route(p: &str, gws: &[&str]) -> FibRoute {
    FibRoute::new(p.parse().unwrap(), gws.iter().map(|g| NextHop::new(g.parse().unwrap())).collect())
}

fn prefix(p: &str) -> Prefix {
    p.parse().unwrap()
}

fn upsert(p: &str, gws: &[&str]) -> FibChange {
    FibChange::Upsert(route(p, gws))
}

#[test]
fn routes_appear_with_keel_protocol_in_table() {
    let Some(ns) = NetNs::new() else { return };
    let report = ns.run(|| async {
        let mut fib = NetlinkFib::new(TABLE, DEFAULT_PROTOCOL).unwrap();
        fib.apply(&[upsert("198.51.100.0/24", &["192.0.2.2"]), upsert("2001:db8:1::/48", &["2001:db8::2"])])
            .await
            .unwrap()
    });
    assert_eq!((report.upserted, report.failures.len()), (2, 0));
    assert_eq!(ns.routes(false, TABLE, 186), ["198.51.100.0/24 via 192.0.2.2 dev va"]);
    assert_eq!(ns.routes(true, TABLE, 186), ["2001:db8:1::/48 via 2001:db8::2 dev va metric 1024 pref medium"]);
    // Nothing leaked into main.
    assert!(ns.routes(false, MAIN_TABLE, 186).is_empty());
}

#[test]
fn upsert_replaces_in_place() {
    let Some(ns) = NetNs::new() else { return };
    ns.run(|| async {
        let mut fib = NetlinkFib::new(TABLE, DEFAULT_PROTOCOL).unwrap();
        fib.apply(&[upsert("198.51.100.0/24", &["192.0.2.2"]), upsert("2001:db8:1::/48", &["2001:db8::2"])])
            .await
            .unwrap();
    });
    let report = ns.run(|| async {
        let mut fib = NetlinkFib::new(TABLE, DEFAULT_PROTOCOL).unwrap();
        fib.apply(&[upsert("198.51.100.0/24", &["192.0.2.3"]), upsert("2001:db8:1::/48", &["2001:db8::3"])])
            .await
            .unwrap()
    });
    assert_eq!((report.upserted, report.failures.len()), (2, 0));
    assert_eq!(ns.routes(false, TABLE, 186), ["198.51.100.0/24 via 192.0.2.3 dev va"]);
    assert_eq!(ns.routes(true, TABLE, 186), ["2001:db8:1::/48 via 2001:db8::3 dev va metric 1024 pref medium"]);
}

#[test]
fn delete_removes_only_keel_route() {
    let Some(ns) = NetNs::new() else { return };
    // Another daemon's route at a different metric for the same prefix survives keel's delete.
    ns.ip(&format!("route add 198.51.100.0/24 via 192.0.2.3 table {TABLE} proto static metric 50"));
    let (report, again) = ns.run(|| async {
        let mut fib = NetlinkFib::new(TABLE, DEFAULT_PROTOCOL).unwrap();
        fib.apply(&[upsert("198.51.100.0/24", &["192.0.2.2"]), upsert("2001:db8:1::/48", &["2001:db8::2"])])
            .await
            .unwrap();
        let del = [FibChange::Delete(prefix("198.51.100.0/24")), FibChange::Delete(prefix("2001:db8:1::/48"))];
        (fib.apply(&del).await.unwrap(), fib.apply(&del).await.unwrap())
    });
    assert_eq!((report.deleted, report.absent, report.failures.len()), (2, 0, 0));
    assert_eq!((again.deleted, again.absent, again.failures.len()), (0, 2, 0));
    assert!(ns.routes(false, TABLE, 186).is_empty());
    assert!(ns.routes(true, TABLE, 186).is_empty());
    assert_eq!(ns.routes(false, TABLE, 4), ["198.51.100.0/24 via 192.0.2.3 dev va metric 50"]);
}

#[test]
fn read_owned_returns_exactly_keel_routes() {
    let Some(ns) = NetNs::new() else { return };
    // In main, beside the kernel's connected routes and a static route.
    ns.ip("route add 203.0.113.0/24 via 192.0.2.3 proto static");
    ns.ip("route add 198.51.100.128/25 via 192.0.2.3 table 1000 proto 186");
    let ifindex = ns.ifindex("va");
    let owned = ns.run(move || async move {
        let mut fib = NetlinkFib::new(MAIN_TABLE, DEFAULT_PROTOCOL).unwrap();
        let report = fib
            .apply(&[
                upsert("198.51.100.0/24", &["192.0.2.2"]),
                upsert("2001:db8:1::/48", &["2001:db8::2"]),
                upsert("0.0.0.0/0", &["192.0.2.2", "192.0.2.3"]),
            ])
            .await
            .unwrap();
        assert_eq!(report.upserted, 3);
        fib.read_owned().await.unwrap()
    });
    let mut got: Vec<_> = owned.iter().map(|r| (r.prefix.to_string(), r.next_hops.clone())).collect();
    got.sort();
    let hop = |g: &str| NextHop::with_ifindex(g.parse().unwrap(), ifindex);
    assert_eq!(
        got,
        [
            ("0.0.0.0/0".to_string(), vec![hop("192.0.2.2"), hop("192.0.2.3")]),
            ("198.51.100.0/24".to_string(), vec![hop("192.0.2.2")]),
            ("2001:db8:1::/48".to_string(), vec![hop("2001:db8::2")]),
        ]
    );
}

#[test]
fn resolve_finds_connected_route_and_none_when_unreachable() {
    let Some(ns) = NetNs::new() else { return };
    let ifindex = ns.ifindex("va");
    let (v4, v6, none4, none6) = ns.run(|| async {
        let mut fib = NetlinkFib::new(TABLE, DEFAULT_PROTOCOL).unwrap();
        (
            fib.resolve("192.0.2.2".parse().unwrap()).await.unwrap(),
            fib.resolve("2001:db8::2".parse().unwrap()).await.unwrap(),
            fib.resolve("198.51.100.1".parse().unwrap()).await.unwrap(),
            fib.resolve("2001:db8:ffff::1".parse().unwrap()).await.unwrap(),
        )
    });
    let v4 = v4.unwrap();
    assert_eq!((v4.prefix, v4.gateway, v4.ifindex, v4.table), (prefix("192.0.2.0/24"), None, Some(ifindex), 254));
    assert_eq!(v4.protocol, 2); // RTPROT_KERNEL
    let v6 = v6.unwrap();
    assert_eq!((v6.prefix, v6.gateway, v6.ifindex, v6.metric), (prefix("2001:db8::/64"), None, Some(ifindex), 256));
    assert_eq!((none4, none6), (None, None));
}

#[test]
fn resolve_never_goes_through_keel_routes() {
    let Some(ns) = NetNs::new() else { return };
    let name = ns.name.clone();
    // `ip netns exec` names the namespace explicitly, whatever thread runs the command.
    let ip = move |args: &str| {
        let ok = std::process::Command::new("ip")
            .args(["netns", "exec", &name, "ip"])
            .args(args.split_whitespace())
            .status()
            .unwrap()
            .success();
        assert!(ok, "ip {args}");
    };
    let (through_keel, via_default, via_igp) = ns.run(move || async move {
        let mut fib = NetlinkFib::new(MAIN_TABLE, DEFAULT_PROTOCOL).unwrap();
        fib.apply(&[upsert("198.51.100.0/24", &["192.0.2.2"])]).await.unwrap();
        // The kernel alone would forward 198.51.100.7 with keel's route.
        let through_keel = fib.resolve("198.51.100.7".parse().unwrap()).await.unwrap();
        ip("route add default via 192.0.2.3 metric 5 proto static");
        let via_default = fib.resolve("198.51.100.7".parse().unwrap()).await.unwrap();
        ip("route add 198.51.100.0/25 via 192.0.2.3 metric 20 proto ospf");
        let via_igp = fib.resolve("198.51.100.7".parse().unwrap()).await.unwrap();
        (through_keel, via_default, via_igp)
    });
    assert_eq!(through_keel, None);
    let d = via_default.unwrap();
    assert_eq!((d.prefix, d.gateway, d.metric), (prefix("0.0.0.0/0"), Some("192.0.2.3".parse().unwrap()), 5));
    let o = via_igp.unwrap();
    assert_eq!((o.prefix, o.metric, o.protocol), (prefix("198.51.100.0/25"), 20, 188));
    // RTPROT_OSPF
}

#[test]
fn ecmp_route_is_multipath_and_replaces_both_ways() {
    let Some(ns) = NetNs::new() else { return };
    let owned = ns.run(|| async {
        let mut fib = NetlinkFib::new(TABLE, DEFAULT_PROTOCOL).unwrap();
        let r = fib
            .apply(&[
                upsert("198.51.100.0/24", &["192.0.2.2", "192.0.2.3"]),
                upsert("2001:db8:1::/48", &["2001:db8::2", "2001:db8::3"]),
            ])
            .await
            .unwrap();
        assert_eq!((r.upserted, r.failures.len()), (2, 0));
        fib.read_owned().await.unwrap()
    });
    let v4 = ns.ip(&format!("route show table {TABLE} proto 186"));
    assert!(v4.contains("nexthop via 192.0.2.2 dev va weight 1"), "{v4}");
    assert!(v4.contains("nexthop via 192.0.2.3 dev va weight 1"), "{v4}");
    let v6 = ns.ip(&format!("-6 route show table {TABLE} proto 186"));
    assert!(v6.contains("nexthop via 2001:db8::2 dev va weight 1"), "{v6}");
    assert!(v6.contains("nexthop via 2001:db8::3 dev va weight 1"), "{v6}");
    assert_eq!(owned.len(), 2);
    assert!(owned.iter().all(|r| r.next_hops.len() == 2), "{owned:?}");

    // Multipath -> single path -> multipath, in place.
    ns.run(|| async {
        let mut fib = NetlinkFib::new(TABLE, DEFAULT_PROTOCOL).unwrap();
        fib.apply(&[upsert("198.51.100.0/24", &["192.0.2.3"]), upsert("2001:db8:1::/48", &["2001:db8::3"])])
            .await
            .unwrap();
    });
    assert_eq!(ns.routes(false, TABLE, 186), ["198.51.100.0/24 via 192.0.2.3 dev va"]);
    assert_eq!(ns.routes(true, TABLE, 186), ["2001:db8:1::/48 via 2001:db8::3 dev va metric 1024 pref medium"]);
    let owned = ns.run(|| async {
        let mut fib = NetlinkFib::new(TABLE, DEFAULT_PROTOCOL).unwrap();
        fib.apply(&[
            upsert("198.51.100.0/24", &["192.0.2.2", "192.0.2.3"]),
            upsert("2001:db8:1::/48", &["2001:db8::2", "2001:db8::3"]),
        ])
        .await
        .unwrap();
        fib.read_owned().await.unwrap()
    });
    assert_eq!(owned.len(), 2);
    assert!(owned.iter().all(|r| r.next_hops.len() == 2), "{owned:?}");
}

#[test]
fn failed_route_does_not_abort_the_batch() {
    let Some(ns) = NetNs::new() else { return };
    let report = ns.run(|| async {
        let mut fib = NetlinkFib::new(TABLE, DEFAULT_PROTOCOL).unwrap();
        fib.apply(&[
            upsert("198.51.100.0/24", &["192.0.2.2"]),
            upsert("203.0.113.0/24", &["198.18.0.1"]), // gateway not on any link
            upsert("2001:db8:2::/48", &["192.0.2.2"]), // refused before sending
            upsert("203.0.113.128/25", &["2001:db8::2"]), // RFC 8950: IPv4 via IPv6
            FibChange::Delete(prefix("192.0.2.128/25")),
        ])
        .await
        .unwrap()
    });
    assert_eq!((report.upserted, report.absent), (2, 1));
    assert_eq!(report.failures.len(), 2, "{report:?}");
    let kernel = report.failures.iter().find(|f| f.prefix == prefix("203.0.113.0/24")).unwrap();
    match &kernel.error {
        RouteError::Kernel { errno, message } => {
            assert_eq!(*errno, libc::ENETUNREACH);
            assert!(message.is_some(), "extended ack text expected");
        }
        e => panic!("{e:?}"),
    }
    assert!(report.failures.iter().any(|f| f.error == RouteError::FamilyMismatch("192.0.2.2".parse().unwrap())));
    let mut shown = ns.routes(false, TABLE, 186);
    shown.sort();
    assert_eq!(shown, ["198.51.100.0/24 via 192.0.2.2 dev va", "203.0.113.128/25 via inet6 2001:db8::2 dev va"]);
}

#[test]
fn ten_thousand_routes_then_one_percent_changed() {
    let Some(ns) = NetNs::new() else { return };
    // 10 000 /24s in 100.64.0.0/10 and beyond, fine inside the namespace's own table.
    let table: Vec<FibRoute> = (0..10_000u32)
        .map(|i| {
            let addr = std::net::Ipv4Addr::from(0x6440_0000 + (i << 8));
            FibRoute::new(Prefix::new(addr.into(), 24).unwrap(), vec![NextHop::new("192.0.2.2".parse().unwrap())])
        })
        .collect();
    let mut wanted = table.clone();
    for r in wanted.iter_mut().step_by(100) {
        r.next_hops = vec![NextHop::new("192.0.2.3".parse().unwrap())];
    }
    let (first, changes, second, owned_after) = ns.run(move || async move {
        let mut fib = NetlinkFib::new(TABLE, DEFAULT_PROTOCOL).unwrap();
        let all: Vec<_> = table.into_iter().map(FibChange::Upsert).collect();
        let first = fib.apply(&all).await.unwrap();
        // As after a restart: read back, reconcile against the new choice, apply the difference.
        let owned = fib.read_owned().await.unwrap();
        let changes = reconcile(&owned, &wanted);
        let second = fib.apply(&changes).await.unwrap();
        let owned_after = fib.read_owned().await.unwrap();
        assert_eq!(reconcile(&owned_after, &wanted), []);
        (first, changes.len(), second, owned_after.len())
    });
    assert_eq!((first.upserted, first.failures.len()), (10_000, 0));
    assert_eq!(changes, 100);
    assert_eq!((second.operations(), second.upserted, second.failures.len()), (100, 100, 0));
    assert_eq!(owned_after, 10_000);
    let shown = ns.routes(false, TABLE, 186);
    assert_eq!(shown.len(), 10_000);
    assert_eq!(shown.iter().filter(|l| l.contains("via 192.0.2.3")).count(), 100);
}
