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
            remote: SocketAddr::new(self.address, 40179),
            policy,
            helper: helper::Settings::default(),
            writer: self.writer.clone(),
            prefix_limit: None,
            limit_crossed: mpsc::channel(1).0,
            resumed: None,
        }
    }

    /// Announces `prefixes` with AS path `path` (and `communities`).
    fn announce(&self, prefixes: &[&str], path: &[u32], communities: Vec<Community>) -> RibEvent {
        let attributes = PathAttributes { communities: communities.into(), ..igp_path(path) };
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
                announced.push((n.prefix.to_string(), u.attributes.communities.to_vec()));
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

/// keel's RIB task as the tests run it (AS 65000, router id 192.0.2.100, no networks), handing
/// kernel work to `fib` (none: no FIB).
fn rib_task(fib: Option<mpsc::Sender<crate::events::FibCommand>>) -> RibTask {
    let id = Ipv4Addr::new(192, 0, 2, 100);
    RibTask::new(KEEL_AS, id, id, Default::default(), Vec::new(), fib)
}

impl Rig {
    fn start() -> Rig {
        Rig::with_fib(None)
    }

    /// A RIB task that hands kernel work to `fib` (none: no FIB).
    fn with_fib(fib: Option<mpsc::Sender<crate::events::FibCommand>>) -> Rig {
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(rib_task(fib).run(rx));
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

/// A neighbor task's batch of UPDATEs is applied in order, as the same UPDATEs one by one
/// would be: the later announcement of a prefix wins, and the batch's routes reach the
/// downstream neighbor.
#[tokio::test]
async fn a_batch_of_updates_is_applied_in_order() {
    let rig = Rig::start();
    let a = Neighbor::new(1, 65001, false);
    let mut d = Neighbor::new(4, 65004, false);
    rig.send(a.up()).await;
    rig.send(d.up()).await;
    let unwrap = |ev: RibEvent| match ev {
        RibEvent::Update { update, .. } => update,
        other => panic!("not an UPDATE: {other:?}"),
    };
    let updates = vec![
        unwrap(a.announce(&["198.51.100.0/24", "203.0.113.0/24"], &[65001, 65100], vec![])),
        unwrap(a.announce(&["198.51.100.0/24"], &[65001], vec![])),
    ];
    rig.send(RibEvent::Updates { address: a.address, updates }).await;
    let routes = rig.routes().await;
    let path = |p: &str| routes.iter().find(|r| r.prefix == p).map(|r| r.as_path.clone());
    assert_eq!(path("198.51.100.0/24"), Some(vec![65001]));
    assert_eq!(path("203.0.113.0/24"), Some(vec![65001, 65100]));
    let (announced, _) = d.received();
    assert!(announced.iter().any(|(p, _)| p == "198.51.100.0/24"), "{announced:?}");
    assert!(announced.iter().any(|(p, _)| p == "203.0.113.0/24"), "{announced:?}");
}

mod bfd;
mod graceful_shutdown;
mod llgr;
mod policy;
mod restart;
mod update_checks;
