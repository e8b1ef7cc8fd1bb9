//! The RIB task on tokio's paused clock: graceful-restart and LLGR timers run for minutes
//! and hours here without a real wait (RFC 4724 §4.2, RFC 9494 §4.2).

use super::*;
use crate::events::{DownReason, FibUpdate};
use crate::negotiate::Negotiated;
use crate::views::{PeerCounts, RouteFilter, RouteView};
use keel_wire::attribute::{AsSegment, SegmentType};
use keel_wire::capability::{GracefulRestart, GracefulRestartFamily, LongLivedFamily};
use keel_wire::{builder, Capability, CodecOptions, Community, Message, Open};
use std::net::SocketAddr;

const V4: Family = Family::IPV4_UNICAST;
const KEEL_AS: u32 = 65000;

/// A neighbor at 127.0.0.`last`, AS `asn`, with GR (restart time 120 s) and, when
/// `llgr`, LLGR for IPv4 unicast (stale time 3600 s).
struct Neighbor {
    address: IpAddr,
    asn: u32,
    llgr: bool,
    out: mpsc::Receiver<Out>,
    writer: mpsc::Sender<Out>,
}

impl Neighbor {
    fn new(last: u8, asn: u32, llgr: bool) -> Neighbor {
        let (writer, out) = mpsc::channel(4096);
        Neighbor { address: IpAddr::from([127, 0, 0, last]), asn, llgr, out, writer }
    }

    fn open(&self, asn: u32, last: u8, llgr: bool) -> Open {
        let mut caps = vec![
            Capability::Multiprotocol(V4),
            Capability::GracefulRestart(GracefulRestart {
                restart_state: false,
                notification: true,
                restart_time: 120,
                families: vec![GracefulRestartFamily { family: V4, forwarding_state: true }],
            }),
        ];
        if llgr {
            caps.push(Capability::LongLivedGracefulRestart(vec![LongLivedFamily {
                family: V4,
                forwarding_state: true,
                stale_time: 3600,
            }]));
        }
        Open::new(asn, 90, Ipv4Addr::new(192, 0, 2, last), caps)
    }

    fn up(&self) -> RibEvent {
        self.up_with(PeerPolicy::default_ibgp())
    }

    /// [`Neighbor::up`] with export and import rules of the test's own.
    fn up_with(&self, policy: PeerPolicy) -> RibEvent {
        let last = match self.address {
            IpAddr::V4(a) => a.octets()[3],
            IpAddr::V6(_) => 0,
        };
        // keel advertises LLGR for IPv4 unicast to everyone.
        let local = self.open(KEEL_AS, 100, true);
        let negotiated = Arc::new(Negotiated::new(local, self.open(self.asn, last, self.llgr)));
        RibEvent::PeerUp {
            address: self.address,
            negotiated,
            local: SocketAddr::new(IpAddr::from([127, 0, 0, 100]), 179),
            policy,
            helper: helper::Settings::default(),
            writer: self.writer.clone(),
            prefix_limit: None,
            limit_crossed: mpsc::channel(1).0,
        }
    }

    /// Announces `prefixes` with AS path `path` (and `communities`).
    fn announce(&self, prefixes: &[&str], path: &[u32], communities: Vec<Community>) -> RibEvent {
        let attributes = PathAttributes { communities, ..igp_path(path) };
        self.announce_attributes(prefixes, &attributes, NextHop::V4(Ipv4Addr::new(192, 0, 2, 9)))
    }

    /// Announces `prefixes` with any AS path (segments of every type).
    fn announce_path(&self, prefixes: &[&str], path: AsPath) -> RibEvent {
        let attributes = PathAttributes { origin: Some(Origin::Igp), as_path: Some(path), ..Default::default() };
        self.announce_attributes(prefixes, &attributes, NextHop::V4(Ipv4Addr::new(192, 0, 2, 9)))
    }

    /// Announces `prefixes` (all of one family) with `attributes` and `next_hop`, through the
    /// codec.
    fn announce_attributes(&self, prefixes: &[&str], attributes: &PathAttributes, next_hop: NextHop) -> RibEvent {
        let nlri: Vec<Nlri> = prefixes.iter().map(|p| Nlri::new(p.parse().expect("prefix"))).collect();
        let family = nlri.first().map_or(V4, |n| n.prefix.unicast_family());
        let opts = CodecOptions::default();
        let mut bytes = Vec::new();
        builder::announce(family, attributes, next_hop, &nlri, &opts, &mut bytes).expect("encode");
        self.update(&bytes)
    }

    fn end_of_rib(&self) -> RibEvent {
        self.update(&Update::end_of_rib(V4).encode(&CodecOptions::default()).expect("encode"))
    }

    fn update(&self, bytes: &[u8]) -> RibEvent {
        match Message::decode(bytes, &CodecOptions::default()) {
            Ok(Message::Update(update)) => RibEvent::Update { address: self.address, update },
            other => panic!("not an UPDATE: {other:?}"),
        }
    }

    fn down(&self, reason: DownReason) -> RibEvent {
        RibEvent::PeerDown { address: self.address, reason }
    }

    /// The UPDATEs keel wrote since the last call.
    fn updates(&mut self) -> Vec<Update> {
        let opts = CodecOptions { four_octet_as: true, ..Default::default() };
        let mut updates = Vec::new();
        while let Ok(out) = self.out.try_recv() {
            let Out::Bytes(bytes) = out else { continue };
            let mut rest = bytes.as_slice();
            while let Ok(Some(frame)) = Message::next_frame(rest, &opts) {
                rest = &rest[frame.len()..];
                if let Ok(Message::Update(u)) = Message::decode(frame, &opts) {
                    updates.push(*u);
                }
            }
        }
        updates
    }

    /// What keel sent since the last call: (announced prefix, communities) and withdrawn prefixes.
    fn received(&mut self) -> (Vec<(String, Vec<Community>)>, Vec<String>) {
        let (mut announced, mut withdrawn) = (Vec::new(), Vec::new());
        for u in self.updates() {
            withdrawn.extend(u.withdrawn_routes().map(|(_, n)| n.prefix.to_string()));
            for n in &u.announced {
                announced.push((n.prefix.to_string(), u.attributes.communities.clone()));
            }
        }
        (announced, withdrawn)
    }
}

/// ORIGIN IGP and AS_PATH `path`, one AS_SEQUENCE.
fn igp_path(path: &[u32]) -> PathAttributes {
    PathAttributes { origin: Some(Origin::Igp), as_path: Some(AsPath::sequence(path.to_vec())), ..Default::default() }
}

struct Rig {
    tx: mpsc::Sender<RibEvent>,
}

impl Rig {
    fn start() -> Rig {
        Rig::with_fib(None)
    }

    /// A RIB task that hands kernel work to `fib` (none: no FIB).
    fn with_fib(fib: Option<mpsc::Sender<crate::events::FibCommand>>) -> Rig {
        let (tx, rx) = mpsc::channel(1024);
        let task = RibTask::new(
            KEEL_AS,
            Ipv4Addr::new(192, 0, 2, 100),
            Ipv4Addr::new(192, 0, 2, 100),
            Default::default(),
            Vec::new(),
            fib,
        );
        tokio::spawn(task.run(rx));
        Rig { tx }
    }

    async fn send(&self, ev: RibEvent) {
        self.tx.send(ev).await.expect("RIB task gone");
    }

    /// Every route in the RIB; also proves every event before it was handled.
    async fn routes(&self) -> Vec<RouteView> {
        let (reply, rx) = oneshot::channel();
        self.send(RibEvent::Routes { filter: RouteFilter::default(), reply }).await;
        rx.await.expect("RIB task gone")
    }

    async fn counts(&self, address: IpAddr) -> PeerCounts {
        let (reply, rx) = oneshot::channel();
        self.send(RibEvent::Counts { reply }).await;
        rx.await.expect("RIB task gone").remove(&address).unwrap_or_default()
    }

    /// The best route to `prefix`: (neighbor, llgr_stale).
    async fn best(&self, prefix: &str) -> Option<(Option<IpAddr>, bool)> {
        let routes = self.routes().await;
        routes.iter().find(|r| r.prefix == prefix && r.best).map(|r| (r.neighbor, r.llgr_stale))
    }
}

/// Moves the paused clock on; callers make sure the RIB task handled what they sent first
/// (a [`Rig::routes`] call), so that its timers started at the right time.
async fn advance(seconds: u64) {
    tokio::time::advance(Duration::from_secs(seconds)).await;
    // Let the RIB task see its timers.
    tokio::task::yield_now().await;
}

/// Upstream A (LLGR, better paths), upstream B (a worse path to .1 only), downstream C
/// (iBGP with LLGR) and D (eBGP without LLGR), all Established, A's routes everywhere.
async fn topology() -> (Rig, Neighbor, Neighbor, Neighbor, Neighbor) {
    let rig = Rig::start();
    let a = Neighbor::new(1, 65001, true);
    let b = Neighbor::new(2, 65002, false);
    let mut c = Neighbor::new(3, KEEL_AS, true);
    let mut d = Neighbor::new(4, 65004, false);
    for n in [&a, &b, &c, &d] {
        rig.send(n.up()).await;
    }
    rig.send(a.announce(&["198.51.100.0/24", "203.0.113.0/24"], &[65001], vec![])).await;
    rig.send(a.announce(&["192.0.2.0/24"], &[65001], vec![Community::NO_LLGR])).await;
    rig.send(b.announce(&["198.51.100.0/24"], &[65002, 65010, 65100], vec![])).await;
    rig.send(a.end_of_rib()).await;
    assert_eq!(rig.best("198.51.100.0/24").await, Some((Some(a.address), false)));
    c.received();
    d.received();
    (rig, a, b, c, d)
}

#[tokio::test(start_paused = true)]
async fn gr_turns_into_llgr_when_the_restart_timer_expires() {
    let (rig, a, b, mut c, mut d) = topology().await;
    rig.send(a.down(DownReason::TcpFailure)).await;
    assert_eq!(rig.best("198.51.100.0/24").await, Some((Some(a.address), false)), "GR: kept, not de-preferred");
    advance(119).await;
    assert_eq!(rig.routes().await.len(), 4, "still GR-stale at 119 s");
    assert!(c.received().0.is_empty() && d.received().1.is_empty(), "zero churn during GR");
    advance(2).await;
    let routes = rig.routes().await;
    assert!(!routes.iter().any(|r| r.prefix == "192.0.2.0/24"), "NO_LLGR route deleted (RFC 9494 §4.2)");
    assert_eq!(rig.best("198.51.100.0/24").await, Some((Some(b.address), false)), "fresh path from B wins");
    assert_eq!(rig.best("203.0.113.0/24").await, Some((Some(a.address), true)), "kept LLGR-stale");
    let counts = rig.counts(a.address).await;
    assert_eq!((counts.llgr_stale_prefixes, counts.long_lived_families.clone()), (2, vec![V4]));
    assert!(counts.timers.contains_key("long_lived_stale:ipv4-unicast"));
    // C (LLGR) gets the stale route with LLGR_STALE and B's path; D (no LLGR) a withdrawal.
    let (announced, withdrawn) = c.received();
    assert!(announced.contains(&("203.0.113.0/24".into(), vec![Community::LLGR_STALE])), "{announced:?}");
    assert!(announced.iter().any(|(p, cs)| p == "198.51.100.0/24" && cs.is_empty()));
    assert_eq!(withdrawn, vec!["192.0.2.0/24".to_string()]);
    let (announced, mut withdrawn) = d.received();
    withdrawn.sort();
    assert_eq!(withdrawn, vec!["192.0.2.0/24".to_string(), "203.0.113.0/24".to_string()], "RFC 9494 §4.3");
    assert_eq!(announced.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(), vec!["198.51.100.0/24"]);
    // The long-lived stale time runs out: the rest goes.
    advance(3600).await;
    assert!(rig.best("203.0.113.0/24").await.is_none());
    assert_eq!(rig.counts(a.address).await.llgr_stale_prefixes, 0);
    assert!(c.received().1.contains(&"203.0.113.0/24".to_string()));
}

#[tokio::test(start_paused = true)]
async fn return_during_llgr_restores_preference_and_end_of_rib_sweeps() {
    let (rig, a, b, mut c, mut d) = topology().await;
    rig.send(a.down(DownReason::TcpFailure)).await;
    rig.routes().await;
    advance(121).await;
    assert_eq!(rig.best("198.51.100.0/24").await, Some((Some(b.address), false)));
    c.received();
    d.received();
    // A is back (LLGR F=1) and re-sends one route: it wins again and goes out without LLGR_STALE.
    rig.send(a.up()).await;
    rig.send(a.announce(&["198.51.100.0/24"], &[65001], vec![])).await;
    assert_eq!(rig.best("198.51.100.0/24").await, Some((Some(a.address), false)));
    assert_eq!(rig.best("203.0.113.0/24").await, Some((Some(a.address), true)), "not refreshed yet");
    let counts = rig.counts(a.address).await;
    assert!(counts.timers.contains_key("long_lived_stale:ipv4-unicast"), "runs until End-of-RIB");
    assert!(c.received().0.iter().any(|(p, cs)| p == "198.51.100.0/24" && cs.is_empty()));
    rig.send(a.end_of_rib()).await;
    assert!(rig.best("203.0.113.0/24").await.is_none(), "swept at End-of-RIB");
    let counts = rig.counts(a.address).await;
    assert!(!counts.helper_active && counts.timers.is_empty(), "{counts:?}");
    assert!(d.received().0.iter().any(|(p, _)| p == "198.51.100.0/24"));
}

#[tokio::test(start_paused = true)]
async fn restart_time_zero_enters_llgr_at_once() {
    let rig = Rig::start();
    let a = Neighbor::new(1, 65001, true);
    let mut c = Neighbor::new(3, KEEL_AS, true);
    let mut up = a.up();
    if let RibEvent::PeerUp { negotiated, .. } = &mut up {
        let mut remote = negotiated.remote.clone();
        for cap in remote.capabilities.iter_mut() {
            if let Capability::GracefulRestart(g) = cap {
                g.restart_time = 0;
            }
        }
        *negotiated = Arc::new(Negotiated::new(negotiated.local.clone(), remote));
    }
    rig.send(up).await;
    rig.send(c.up()).await;
    rig.send(a.announce(&["203.0.113.0/24"], &[65001], vec![])).await;
    rig.routes().await;
    c.received();
    rig.send(a.down(DownReason::TcpFailure)).await;
    assert_eq!(rig.best("203.0.113.0/24").await, Some((Some(a.address), true)));
    assert_eq!(c.received().0, vec![("203.0.113.0/24".to_string(), vec![Community::LLGR_STALE])]);
}

#[tokio::test(start_paused = true)]
async fn hard_reset_flushes_llgr_stale_routes() {
    let (rig, a, _b, _c, mut d) = topology().await;
    rig.send(a.down(DownReason::TcpFailure)).await;
    rig.routes().await;
    advance(121).await;
    rig.send(a.up()).await;
    rig.routes().await;
    d.received();
    let hard_reset = DownReason::NotificationReceived {
        code: keel_wire::error::code::CEASE,
        subcode: keel_wire::error::cease::HARD_RESET,
    };
    rig.send(a.down(hard_reset)).await;
    let routes = rig.routes().await;
    assert!(routes.iter().all(|r| r.neighbor != Some(a.address)), "{routes:?}");
    assert_eq!(rig.counts(a.address).await.timers.len(), 0);
}

/// An import policy that rejects 192.0.2.0/24 and sets LOCAL_PREF 300 on the rest.
fn import_policy() -> Arc<Chain> {
    use keel_rib::policy::{Action, Link, Match, Policy, PrefixList, Term};
    let bogon = Term {
        name: "bogon".into(),
        matches: vec![Match::Prefix(Arc::new(PrefixList::new(["192.0.2.0/24".parse().expect("entry")])))],
        actions: vec![],
        verdict: Some(Verdict::Reject),
    };
    let rest = Term {
        name: "rest".into(),
        matches: vec![],
        actions: vec![Action::SetLocalPref(300)],
        verdict: Some(Verdict::Accept),
    };
    Arc::new(Chain { links: vec![Link::Policy(Arc::new(Policy { name: "in".into(), terms: vec![bogon, rest] }))] })
}

fn set_policy(address: IpAddr, import: Arc<Chain>, export: Arc<Chain>, fingerprints: (u64, u64)) -> RibEvent {
    RibEvent::SetPolicy {
        address,
        import,
        export,
        import_fingerprint: fingerprints.0,
        export_fingerprint: fingerprints.1,
    }
}

#[tokio::test(start_paused = true)]
async fn import_policy_filters_rewrites_and_is_re_evaluated_on_change() {
    let rig = Rig::start();
    let a = Neighbor::new(1, 65001, false);
    let mut c = Neighbor::new(3, KEEL_AS, false);
    let all = Arc::new(Chain::accept_all());
    rig.send(set_policy(a.address, import_policy(), all.clone(), (1, 0))).await;
    rig.send(a.up()).await;
    rig.send(c.up()).await;
    rig.send(a.announce(&["198.51.100.0/24", "192.0.2.0/24"], &[65001], vec![])).await;
    let routes = rig.routes().await;
    assert_eq!(routes.len(), 1, "{routes:?}");
    assert_eq!((routes[0].prefix.as_str(), routes[0].local_pref), ("198.51.100.0/24", Some(300)));
    c.received();
    // The policy changes to accept everything: the rejected route comes back from the stored
    // Adj-RIB-In, the other loses its LOCAL_PREF; no session event at all.
    rig.send(set_policy(a.address, all.clone(), all.clone(), (2, 0))).await;
    let mut routes = rig.routes().await;
    routes.sort_by(|x, y| x.prefix.cmp(&y.prefix));
    let got: Vec<(&str, Option<u32>)> = routes.iter().map(|r| (r.prefix.as_str(), r.local_pref)).collect();
    assert_eq!(got, vec![("192.0.2.0/24", None), ("198.51.100.0/24", None)]);
    let (announced, _) = c.received();
    assert!(announced.iter().any(|(p, _)| p == "192.0.2.0/24"), "{announced:?}");
    // And back: the route goes again.
    rig.send(set_policy(a.address, import_policy(), all, (1, 0))).await;
    assert_eq!(rig.routes().await.len(), 1);
    assert_eq!(c.received().1, vec!["192.0.2.0/24".to_string()]);
}

#[tokio::test(start_paused = true)]
async fn export_policy_change_recomputes_the_adj_rib_out() {
    let rig = Rig::start();
    let a = Neighbor::new(1, 65001, false);
    let mut c = Neighbor::new(3, KEEL_AS, false);
    let all = Arc::new(Chain::accept_all());
    rig.send(a.up()).await;
    rig.send(c.up()).await;
    rig.send(a.announce(&["198.51.100.0/24", "192.0.2.0/24"], &[65001], vec![])).await;
    rig.routes().await;
    assert_eq!(c.received().0.len(), 2);
    rig.send(set_policy(c.address, all.clone(), import_policy(), (0, 1))).await;
    rig.routes().await;
    let (announced, withdrawn) = c.received();
    assert_eq!(withdrawn, vec!["192.0.2.0/24".to_string()], "rejected by the new export policy");
    assert_eq!(announced.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(), vec!["198.51.100.0/24"]);
}

#[tokio::test(start_paused = true)]
async fn route_server_client_gets_the_best_path_its_policy_allows() {
    use keel_rib::policy::{Link, Match, Policy, Term};
    let rig = Rig::start();
    let a = Neighbor::new(1, 65001, false);
    let b = Neighbor::new(2, 65002, false);
    let mut c = Neighbor::new(3, 65003, false);
    // C takes nothing that came through AS 65001.
    let no_a = Term {
        name: "no-a".into(),
        matches: vec![Match::NeighborAs(65001)],
        actions: vec![],
        verdict: Some(Verdict::Reject),
    };
    let export = Arc::new(Chain {
        links: vec![Link::Policy(Arc::new(Policy { name: "c-out".into(), terms: vec![no_a] })), Link::AcceptAll],
    });
    rig.send(set_policy(c.address, Arc::new(Chain::accept_all()), export, (0, 1))).await;
    rig.send(a.up()).await;
    rig.send(b.up()).await;
    rig.send(c.up_with(PeerPolicy { route_server_client: true, ..PeerPolicy::default_ibgp() })).await;
    rig.send(a.announce(&["198.51.100.0/24"], &[65001], vec![])).await;
    rig.send(b.announce(&["198.51.100.0/24"], &[65002, 65010], vec![])).await;
    assert_eq!(rig.best("198.51.100.0/24").await, Some((Some(a.address), false)), "A is best overall");
    let (announced, _) = c.received();
    assert_eq!(announced.len(), 1, "{announced:?}");
    // B's path, as a route server sends it (no AS added).
    let path = rig.routes().await;
    assert!(path.iter().any(|r| r.neighbor == Some(b.address)));
    // A change of B's path (not the best) reaches C too.
    rig.send(b.announce(&["198.51.100.0/24"], &[65002, 65020], vec!["65002:1".parse().unwrap()])).await;
    rig.routes().await;
    let (announced, _) = c.received();
    assert_eq!(announced, vec![("198.51.100.0/24".to_string(), vec!["65002:1".parse().unwrap()])]);
    // B withdraws: C has nothing it may get.
    rig.send(RibEvent::Update {
        address: b.address,
        update: match Message::decode(
            &{
                let mut v = Vec::new();
                builder::withdraw(
                    V4,
                    &[Nlri::new("198.51.100.0/24".parse().unwrap())],
                    &CodecOptions::default(),
                    &mut v,
                )
                .expect("encode");
                v
            },
            &CodecOptions::default(),
        ) {
            Ok(Message::Update(u)) => u,
            other => panic!("{other:?}"),
        },
    })
    .await;
    rig.routes().await;
    assert_eq!(c.received().1, vec!["198.51.100.0/24".to_string()]);
}

#[tokio::test(start_paused = true)]
async fn updates_sent_counts_every_update_written() {
    let (rig, a, _b, mut c, _d) = topology().await;
    let before = rig.counts(c.address).await.updates_sent;
    // The table (one attribute set per UPDATE) and End-of-RIB.
    assert!(before >= 2, "{before}");
    rig.send(a.announce(&["192.0.2.128/25"], &[65001, 65020], vec![])).await;
    rig.send(a.announce(&["203.0.113.128/25"], &[65001, 65030], vec![])).await;
    rig.routes().await;
    let sent = rig.counts(c.address).await.updates_sent - before;
    let frames = c.updates().len() as u64;
    assert_eq!((sent, frames), (2, 2), "two attribute sets, two UPDATEs, as counted and as written");
}

#[tokio::test(start_paused = true)]
async fn a_new_next_hop_is_resolved_once_as_soon_as_it_is_seen() {
    let (fib_tx, mut fib_rx) = mpsc::channel(64);
    let rig = Rig::with_fib(Some(fib_tx));
    let a = Neighbor::new(1, 65001, false);
    rig.send(a.up()).await;
    rig.send(a.announce(&["198.51.100.0/24"], &[65001], vec![])).await;
    rig.send(a.announce(&["203.0.113.0/24"], &[65001, 65002], vec![])).await;
    rig.routes().await;
    let mut resolved = Vec::new();
    while let Ok(cmd) = fib_rx.try_recv() {
        if let crate::events::FibCommand::Resolve(addr) = cmd {
            resolved.push(addr);
        }
    }
    assert_eq!(resolved, vec![IpAddr::from([192, 0, 2, 9])], "asked once, for the neighbor's next hop");
}

/// A path as AS_PATH segments, for paths with confederation segments and sets.
fn segments(segments: &[(SegmentType, &[u32])]) -> AsPath {
    AsPath { segments: segments.iter().map(|(kind, asns)| AsSegment { kind: *kind, asns: asns.to_vec() }).collect() }
}

/// Issue 16 defect 4. keel is in no confederation, so an external neighbor is never in "the
/// same confederation": RFC 5065 §5 makes its AS_PATH with AS_CONFED_SEQUENCE malformed, and
/// RFC 7606 §7.2 says a malformed AS_PATH is treat-as-withdraw. The route it replaces goes
/// too, the session stays, and nothing reaches the other eBGP neighbor.
#[tokio::test(start_paused = true)]
async fn confederation_segments_from_external_neighbor_are_withdrawn() {
    let rig = Rig::start();
    let a = Neighbor::new(1, 65001, false);
    let mut d = Neighbor::new(4, 65004, false);
    rig.send(a.up()).await;
    rig.send(d.up()).await;
    rig.send(a.announce(&["198.51.100.0/24"], &[65001], vec![])).await;
    assert_eq!(rig.best("198.51.100.0/24").await, Some((Some(a.address), false)));
    assert_eq!(d.received().0.len(), 1, "the well-formed route went out");
    for kind in [SegmentType::ConfedSequence, SegmentType::ConfedSet] {
        // As in the issue: the confederation segment, then the neighbor's own AS.
        let path = segments(&[(kind, &[65010]), (SegmentType::Sequence, &[65001])]);
        rig.send(a.announce_path(&["198.51.100.0/24", "203.0.113.0/24"], path)).await;
        let routes = rig.routes().await;
        assert!(routes.is_empty(), "{kind:?}: {routes:?}");
    }
    let (announced, withdrawn) = d.received();
    assert!(announced.is_empty(), "{announced:?}");
    assert_eq!(withdrawn, vec!["198.51.100.0/24".to_string()]);
    // The session is still up: a well-formed route is taken again.
    rig.send(a.announce(&["203.0.113.0/24"], &[65001], vec![])).await;
    assert_eq!(rig.best("203.0.113.0/24").await, Some((Some(a.address), false)));
}

/// Issue 16 defect 4. An internal neighbor is in keel's own AS, so in whatever confederation
/// that AS belongs to: its confederation segments are kept (RFC 5065 §5 only rejects them from
/// outside), but RFC 5065 §4.1 c) and §5 say they never go to a neighbor outside the
/// confederation, which every external neighbor of keel is.
#[tokio::test(start_paused = true)]
async fn confederation_segments_never_leave() {
    let rig = Rig::start();
    let c = Neighbor::new(3, KEEL_AS, false);
    let mut d = Neighbor::new(4, 65004, false);
    rig.send(c.up()).await;
    rig.send(d.up()).await;
    let path = segments(&[
        (SegmentType::ConfedSequence, &[65010, 65011]),
        (SegmentType::ConfedSet, &[65012]),
        (SegmentType::Sequence, &[65020]),
    ]);
    rig.send(c.announce_path(&["198.51.100.0/24"], path.clone())).await;
    let routes = rig.routes().await;
    assert_eq!(routes.len(), 1, "taken from the internal neighbor");
    assert_eq!(routes[0].as_path, vec![65010, 65011, 65012, 65020]);
    let sent = d.updates();
    let paths: Vec<_> = sent.iter().filter_map(|u| u.attributes.as_path.clone()).collect();
    assert_eq!(paths, vec![AsPath::sequence(vec![KEEL_AS, 65020])], "stripped, then prepended");
}

/// RFC 4271 §6.3: a NEXT_HOP that is keel's own address on the session (127.0.0.100 here) is
/// logged and its routes ignored, the route it replaces gone too; no NOTIFICATION, the session
/// goes on. Only the routes with that next hop: one row per next hop.
#[tokio::test(start_paused = true)]
async fn rfc4271_6_3_next_hop_of_keel_itself_is_ignored() {
    let rig = Rig::start();
    let a = Neighbor::new(1, 65001, false);
    rig.send(a.up()).await;
    let attributes = igp_path(&[65001]);
    let rows = [
        (Ipv4Addr::new(192, 0, 2, 9), true),
        (Ipv4Addr::new(127, 0, 0, 100), false),
        (Ipv4Addr::new(192, 0, 2, 9), true),
    ];
    for (i, (nh, installed)) in rows.into_iter().enumerate() {
        rig.send(a.announce_attributes(&["198.51.100.0/24"], &attributes, NextHop::V4(nh))).await;
        let best = rig.best("198.51.100.0/24").await;
        assert_eq!(best.is_some(), installed, "row {i}: next hop {nh}");
    }
}

/// RFC 4271 §6.3 with RFC 7606 §7.2: with `enforce_first_as` an external neighbor's path
/// must start with its AS, else treat-as-withdraw; off (a route server neighbor, RFC 7947),
/// the path is taken as it is. One row per (enforce_first_as, first AS, taken).
#[tokio::test(start_paused = true)]
async fn rfc4271_6_3_enforce_first_as_through_the_rib_task() {
    let rows = [(true, 65001, true), (true, 65099, false), (false, 65099, true)];
    for (i, (enforce, first, taken)) in rows.into_iter().enumerate() {
        let rig = Rig::start();
        let a = Neighbor::new(1, 65001, false);
        rig.send(a.up_with(PeerPolicy { enforce_first_as: enforce, ..PeerPolicy::default_ibgp() })).await;
        rig.send(a.announce(&["198.51.100.0/24"], &[first, 65020], vec![])).await;
        assert_eq!(rig.best("198.51.100.0/24").await.is_some(), taken, "row {i}");
    }
}

/// RFC 7606 §7.5: a malformed LOCAL_PREF (length 3) from an external neighbor is discarded and
/// the route kept; from an internal neighbor it stays treat-as-withdraw. RFC 4271 §5.1.5: a
/// well-formed one from an external neighbor is not used either. One row per case.
#[tokio::test(start_paused = true)]
async fn rfc7606_7_5_local_pref_from_external_neighbor_is_discarded() {
    // ORIGIN, AS_PATH [65001] (4-octet), NEXT_HOP 192.0.2.9, then LOCAL_PREF.
    let update = |local_pref: &[u8]| {
        let mut attrs = vec![0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9, 0x40, 3, 4, 192, 0, 2, 9];
        attrs.extend_from_slice(local_pref);
        let nlri = [24, 198, 51, 100];
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&((23 + attrs.len() + nlri.len()) as u16).to_be_bytes());
        m.extend_from_slice(&[2, 0, 0]);
        m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        m.extend(attrs);
        m.extend_from_slice(&nlri);
        m
    };
    let malformed: &[u8] = &[0x40, 5, 3, 0, 0, 200];
    let well_formed: &[u8] = &[0x40, 5, 4, 0, 0, 0, 200];
    // (neighbor AS, LOCAL_PREF bytes, route kept, LOCAL_PREF kept)
    let rows = [
        (65001, malformed, true, None),
        (65001, well_formed, true, None),
        (KEEL_AS, malformed, false, None),
        (KEEL_AS, well_formed, true, Some(200)),
    ];
    for (i, (asn, lp, kept, local_pref)) in rows.into_iter().enumerate() {
        let rig = Rig::start();
        let a = Neighbor::new(1, asn, false);
        rig.send(a.up()).await;
        rig.send(a.update(&update(lp))).await;
        let routes = rig.routes().await;
        assert_eq!(routes.len(), usize::from(kept), "row {i}");
        if let Some(r) = routes.first() {
            assert_eq!(r.local_pref, local_pref, "row {i}");
        }
    }
}

/// A [`keel_fib::MemoryFib`] whose every change is also written to a shared log, so a test
/// sees the order of kernel operations after the FIB task owns the table.
struct Recording {
    table: keel_fib::MemoryFib,
    log: FibLog,
}

type FibLog = Arc<std::sync::Mutex<Vec<keel_fib::FibChange>>>;

/// The prefixes deleted from the kernel, in order.
fn deletes(log: &[keel_fib::FibChange]) -> Vec<String> {
    log.iter()
        .filter_map(|c| match c {
            keel_fib::FibChange::Delete(p) => Some(p.to_string()),
            _ => None,
        })
        .collect()
}

impl Recording {
    /// A table holding `inherited` (via 192.0.2.9, on a connected /24) as an earlier keeld
    /// left it, and the log of what is done to it from now on.
    fn inherited(inherited: &[&str]) -> (Recording, FibLog) {
        let mut table = keel_fib::MemoryFib::with_owned(inherited.iter().map(|p| {
            let hop = keel_fib::NextHop::new(IpAddr::from([192, 0, 2, 9]));
            keel_fib::FibRoute::new(p.parse().expect("prefix"), vec![hop])
        }));
        table.add_kernel_route(keel_fib::Resolution {
            prefix: "192.0.2.0/24".parse().expect("prefix"),
            gateway: None,
            ifindex: Some(2),
            metric: 0,
            table: 254,
            protocol: 2,
        });
        let log = FibLog::default();
        (Recording { table, log: log.clone() }, log)
    }
}

impl keel_fib::Fib for Recording {
    async fn apply(&mut self, changes: &[keel_fib::FibChange]) -> Result<keel_fib::ApplyReport, keel_fib::FibError> {
        self.log.lock().expect("log").extend_from_slice(changes);
        self.table.apply(changes).await
    }
    async fn read_owned(&mut self) -> Result<Vec<keel_fib::FibRoute>, keel_fib::FibError> {
        self.table.read_owned().await
    }
    async fn resolve(&mut self, addr: IpAddr) -> Result<Option<keel_fib::Resolution>, keel_fib::FibError> {
        self.table.resolve(addr).await
    }
}

/// keeld starting with `inherited` in the kernel: a FIB task and a RIB task started as the
/// daemon does, the RIB in selection deferral for `deferral` (waiting for `expected`) when
/// given, and holding inherited routes for `hold`.
async fn with_inherited_routes(
    inherited: &[&str],
    deferral: Option<Duration>,
    hold: Duration,
    expected: Vec<IpAddr>,
) -> (Rig, FibLog) {
    let (recording, log) = Recording::inherited(inherited);
    let (tx, rx) = mpsc::channel(1024);
    let (fib_tx, fib_rx) = mpsc::channel(64);
    let forwarding = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut fib = crate::fib_task::FibTask::new(recording, tx.clone(), forwarding);
    fib.inherit().await;
    tokio::spawn(fib.run(fib_rx));
    // The FIB is ready a little before the RIB, as in the daemon.
    tokio::time::advance(Duration::from_millis(5)).await;
    let restarting = Arc::new(std::sync::atomic::AtomicBool::new(deferral.is_some()));
    let task = RibTask::new(
        KEEL_AS,
        Ipv4Addr::new(192, 0, 2, 100),
        Ipv4Addr::new(192, 0, 2, 100),
        Default::default(),
        Vec::new(),
        Some(fib_tx),
    )
    .with_deferral(deferral, restarting, expected, None)
    .with_inherited_hold(hold);
    tokio::spawn(task.run(rx));
    (Rig { tx }, log)
}

/// Issue 16, defect 1: when selection deferral ended by its timer (a GR neighbor slow to send
/// End-of-RIB), the FIB task's own timer of the same length fired first and deleted every
/// inherited kernel route, re-added milliseconds later. Fails on the code before the fix with
/// 3 deletes.
#[tokio::test(start_paused = true)]
async fn restart_deferral_ended_by_timer_deletes_no_inherited_route() {
    let a = Neighbor::new(1, 65001, false);
    let inherited = ["198.51.100.0/24", "203.0.113.0/24", "192.0.2.128/25"];
    let deferral = Duration::from_secs(120);
    let (rig, log) = with_inherited_routes(&inherited, Some(deferral), deferral, vec![a.address]).await;
    rig.send(a.up()).await;
    rig.send(a.announce(&["198.51.100.0/24", "203.0.113.0/24"], &[65001], vec![])).await;
    rig.routes().await;
    // No End-of-RIB from a: the deferral ends by its timer.
    for _ in 0..130 {
        advance(1).await;
    }
    rig.routes().await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let log = log.lock().expect("log").clone();
    let deleted = deletes(&log);
    let upserted = log.iter().filter(|c| matches!(c, keel_fib::FibChange::Upsert(_))).count();
    assert_eq!(deleted, vec!["192.0.2.128/25"], "only the route no longer chosen goes");
    assert_eq!(upserted, 0, "the two routes chosen again stay untouched");
}

/// Without a deferral (helper only), inherited routes stay for the hold and then only the ones
/// not chosen again go: the sweep follows the table.
#[tokio::test(start_paused = true)]
async fn inherited_routes_not_chosen_again_go_after_the_hold() {
    let a = Neighbor::new(1, 65001, false);
    let inherited = ["198.51.100.0/24", "192.0.2.128/25"];
    let (rig, log) = with_inherited_routes(&inherited, None, Duration::from_secs(120), Vec::new()).await;
    rig.send(a.up()).await;
    rig.send(a.announce(&["198.51.100.0/24"], &[65001], vec![])).await;
    rig.routes().await;
    advance(60).await;
    rig.routes().await;
    assert!(log.lock().expect("log").is_empty(), "nothing moves before the hold ends");
    advance(61).await;
    rig.routes().await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let log = log.lock().expect("log").clone();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(matches!(&log[0], keel_fib::FibChange::Delete(p) if p.to_string() == "192.0.2.128/25"), "{log:?}");
}

/// RFC 4760 §8: a session carries the families both sides advertised. IPv6 routes from a
/// neighbor that negotiated IPv4 unicast only are ignored: they reach neither the RIB nor the
/// kernel (found by the session fuzz harness).
#[tokio::test(start_paused = true)]
async fn routes_of_a_family_not_negotiated_are_ignored() {
    let rig = Rig::start();
    let a = Neighbor::new(1, 65001, false);
    rig.send(a.up()).await;
    let attributes = igp_path(&[65001]);
    let hop = NextHop::V6 { global: "2001:db8::9".parse().expect("address"), link_local: None };
    rig.send(a.announce_attributes(&["2001:db8:1::/48"], &attributes, hop)).await;
    rig.send(a.announce(&["198.51.100.0/24"], &[65001], vec![])).await;
    let routes: Vec<String> = rig.routes().await.into_iter().map(|r| r.prefix).collect();
    assert_eq!(routes, vec!["198.51.100.0/24"], "the IPv4 route only");
}

/// The FIB task takes consecutive route batches together; a command queued right behind them
/// (here the sweep) keeps its place. It used to be taken off the queue and dropped, so the
/// inherited route nobody chose stayed in the kernel for good.
#[tokio::test(start_paused = true)]
async fn a_sweep_queued_behind_route_batches_is_not_lost() {
    let (recording, log) = Recording::inherited(&["198.51.100.0/24", "192.0.2.128/25"]);
    let (rib_tx, _rib_rx) = mpsc::channel(16);
    let (fib_tx, fib_rx) = mpsc::channel(16);
    let mut fib = crate::fib_task::FibTask::new(recording, rib_tx, Arc::new(std::sync::atomic::AtomicBool::new(false)));
    fib.inherit().await;
    let hop = IpAddr::from([192, 0, 2, 9]);
    let update = |p: &str| FibUpdate { prefix: p.parse().expect("prefix"), next_hops: vec![hop] };
    // All queued before the task reads any of it.
    fib_tx.send(FibCommand::Routes(vec![update("198.51.100.0/24")])).await.expect("queue");
    fib_tx.send(FibCommand::Routes(vec![update("203.0.113.0/24")])).await.expect("queue");
    fib_tx.send(FibCommand::SweepInherited).await.expect("queue");
    drop(fib_tx);
    fib.run(fib_rx).await;
    let log = log.lock().expect("log").clone();
    let deleted = deletes(&log);
    assert_eq!(deleted, vec!["192.0.2.128/25"], "the sweep ran: {log:?}");
}

async fn graceful_shutdown(rig: &Rig, neighbors: Option<Vec<IpAddr>>, on: bool) -> Vec<IpAddr> {
    let (reply, rx) = oneshot::channel();
    rig.send(RibEvent::GracefulShutdown { neighbors, on, reply }).await;
    rx.await.expect("RIB task gone")
}

/// RFC 8326 §4.1 receiver step: a route tagged with GRACEFUL_SHUTDOWN gets LOCAL_PREF 0, after
/// an import policy that sets LOCAL_PREF (so that it cannot undo it), and without one; the
/// other path wins. Turned off, routes are re-evaluated (stale ones too) and keep what the
/// policy gave; on again, lowered again.
#[tokio::test(start_paused = true)]
async fn rfc8326_received_graceful_shutdown_gets_local_pref_0_after_import_policy() {
    let rig = Rig::start();
    let a = Neighbor::new(1, 65001, false);
    let b = Neighbor::new(2, 65002, false);
    rig.send(set_policy(a.address, import_policy(), Arc::new(Chain::accept_all()), (1, 0))).await;
    rig.send(a.up()).await;
    rig.send(b.up()).await;
    let gshut = vec![Community::GRACEFUL_SHUTDOWN];
    // A has the shorter path, but tags it; B's longer one must win.
    rig.send(a.announce(&["198.51.100.0/24"], &[65001], gshut.clone())).await;
    rig.send(b.announce(&["198.51.100.0/24"], &[65002, 65010, 65100], vec![])).await;
    rig.send(b.announce(&["203.0.113.0/24"], &[65002], gshut)).await;
    let local_pref = |routes: &[RouteView], from: IpAddr, prefix: &str| {
        routes.iter().find(|r| r.neighbor == Some(from) && r.prefix == prefix).map(|r| r.local_pref)
    };
    let routes = rig.routes().await;
    assert_eq!(local_pref(&routes, a.address, "198.51.100.0/24"), Some(Some(0)), "policy set 300; then 0");
    assert_eq!(local_pref(&routes, b.address, "203.0.113.0/24"), Some(Some(0)), "no policy");
    assert_eq!(rig.best("198.51.100.0/24").await, Some((Some(b.address), false)));
    // Off (a reload): re-evaluated as for a new import policy; A's route is stale by then.
    rig.send(a.down(DownReason::TcpFailure)).await;
    rig.send(RibEvent::HonourGracefulShutdown(false)).await;
    let routes = rig.routes().await;
    assert_eq!(local_pref(&routes, a.address, "198.51.100.0/24"), Some(Some(300)), "{routes:?}");
    assert_eq!(local_pref(&routes, b.address, "203.0.113.0/24"), Some(None));
    assert_eq!(rig.best("198.51.100.0/24").await, Some((Some(a.address), false)));
    rig.send(RibEvent::HonourGracefulShutdown(true)).await;
    let routes = rig.routes().await;
    assert_eq!(local_pref(&routes, a.address, "198.51.100.0/24"), Some(Some(0)));
    assert_eq!(local_pref(&routes, b.address, "203.0.113.0/24"), Some(Some(0)));
}

/// RFC 8326 §4.2 sender step through the RIB task: on for one neighbor, its routes go out
/// again with GRACEFUL_SHUTDOWN (LOCAL_PREF 0 to the internal one), the others hear nothing;
/// on again changes nothing; off sends them without it. The state shows in the counts and
/// outlives the session.
#[tokio::test(start_paused = true)]
async fn rfc8326_graceful_shutdown_re_advertises_through_the_adj_rib_out() {
    let (rig, a, _b, mut c, mut d) = topology().await;
    assert_eq!(graceful_shutdown(&rig, Some(vec![c.address]), true).await, vec![c.address]);
    rig.routes().await;
    let updates = c.updates();
    let announced: usize = updates.iter().map(|u| u.announced.len()).sum();
    assert_eq!(announced, 3, "{updates:?}");
    for u in &updates {
        assert_eq!(u.attributes.communities.iter().filter(|x| **x == Community::GRACEFUL_SHUTDOWN).count(), 1);
        assert_eq!(u.attributes.local_pref, Some(0), "internal neighbor");
    }
    assert!(d.updates().is_empty(), "not D");
    assert!(rig.counts(c.address).await.graceful_shutdown);
    assert!(!rig.counts(d.address).await.graceful_shutdown);
    assert!(graceful_shutdown(&rig, Some(vec![c.address]), true).await.is_empty(), "already on");
    rig.routes().await;
    assert!(c.updates().is_empty());
    // A new route goes out tagged too; towards eBGP without LOCAL_PREF.
    assert_eq!(graceful_shutdown(&rig, None, true).await, vec![a.address, _b.address, d.address]);
    rig.routes().await;
    for u in d.updates() {
        assert!(u.attributes.communities.contains(&Community::GRACEFUL_SHUTDOWN));
        assert_eq!(u.attributes.local_pref, None);
    }
    // The session flaps: the state stays, the new session's routes are tagged.
    rig.send(c.down(DownReason::TcpFailure)).await;
    rig.send(c.up()).await;
    rig.routes().await;
    let updates = c.updates();
    assert!(updates
        .iter()
        .filter(|u| !u.announced.is_empty())
        .all(|u| u.attributes.communities.contains(&Community::GRACEFUL_SHUTDOWN)));
    assert_eq!(graceful_shutdown(&rig, Some(vec![c.address]), false).await, vec![c.address]);
    rig.routes().await;
    let updates = c.updates();
    assert_eq!(updates.iter().map(|u| u.announced.len()).sum::<usize>(), 3);
    assert!(updates.iter().all(|u| !u.attributes.communities.contains(&Community::GRACEFUL_SHUTDOWN)));
    assert_eq!(updates.iter().map(|u| u.attributes.local_pref).collect::<Vec<_>>().first(), Some(&Some(100)));
}
