//! The RIB task: owns every neighbor's Adj-RIB-In and the routes keel originates, takes
//! UPDATEs from neighbor tasks in order, answers queries from the API, and sends keel's own
//! routes and End-of-RIB to each neighbor that comes up.
//!
//! The decision process and propagation between neighbors come with keel-rib's own issue;
//! until then each neighbor's routes are stored and shown, and keel advertises its networks.

use crate::neighbor::connection::Out;
use crate::neighbor::fsm::DownReason;
use crate::neighbor::negotiate::Negotiated;
use keel_rib::{AdjRibIn, AttrSet, AttrTable};
use keel_wire::attribute::{AsPath, Origin};
use keel_wire::{builder, Community, Family, NextHop, Nlri, PathAttributes, Prefix, Update};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

/// A route keel originates (`[[network]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub prefix: Prefix,
    pub next_hop: Option<IpAddr>,
    pub communities: Vec<Community>,
}

#[derive(Debug)]
pub enum RibEvent {
    PeerUp {
        address: IpAddr,
        negotiated: Arc<Negotiated>,
        local: SocketAddr,
        writer: mpsc::Sender<Out>,
    },
    PeerDown {
        address: IpAddr,
        reason: DownReason,
    },
    Update {
        address: IpAddr,
        update: Box<Update>,
    },
    /// ROUTE-REFRESH received: send our routes of the family again (RFC 2918 §4).
    RouteRefresh {
        address: IpAddr,
        family: Family,
    },
    SetNetworks(Vec<Network>),
    Routes {
        filter: RouteFilter,
        reply: oneshot::Sender<Vec<RouteView>>,
    },
    Counts {
        reply: oneshot::Sender<HashMap<IpAddr, PeerCounts>>,
    },
}

#[derive(Debug, Clone, Default)]
pub struct RouteFilter {
    pub family: Option<Family>,
    pub prefix: Option<Prefix>,
    pub neighbor: Option<IpAddr>,
    pub stale: bool,
}

/// A route as the API shows it (JSON names are a contract).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RouteView {
    pub prefix: String,
    pub family: String,
    pub path_id: Option<u32>,
    pub neighbor: Option<IpAddr>,
    pub next_hop: String,
    pub as_path: Vec<u32>,
    pub origin: Option<&'static str>,
    pub communities: Vec<String>,
    pub large_communities: Vec<String>,
    pub local_pref: Option<u32>,
    pub med: Option<u32>,
    pub best: bool,
    pub stale: bool,
    pub llgr_stale: bool,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct PeerCounts {
    pub received_prefixes: usize,
    pub advertised_prefixes: usize,
    pub stale_prefixes: usize,
    pub llgr_stale_prefixes: usize,
    pub end_of_rib_received: BTreeSet<Family>,
    pub end_of_rib_sent: BTreeSet<Family>,
}

#[derive(Default)]
struct Peer {
    rib_in: AdjRibIn,
    session: Option<Session>,
    end_of_rib_received: BTreeSet<Family>,
    end_of_rib_sent: BTreeSet<Family>,
}

struct Session {
    negotiated: Arc<Negotiated>,
    local: SocketAddr,
    writer: mpsc::Sender<Out>,
    advertised: usize,
}

pub struct RibTask {
    local_asn: u32,
    peers: HashMap<IpAddr, Peer>,
    attrs: AttrTable,
    networks: Vec<Network>,
}

impl RibTask {
    pub fn new(local_asn: u32, networks: Vec<Network>) -> Self {
        RibTask { local_asn, peers: HashMap::new(), attrs: AttrTable::default(), networks }
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<RibEvent>) {
        while let Some(ev) = rx.recv().await {
            self.handle(ev).await;
        }
    }

    fn peer(&mut self, address: IpAddr) -> &mut Peer {
        self.peers.entry(address).or_default()
    }

    async fn handle(&mut self, ev: RibEvent) {
        match ev {
            RibEvent::PeerUp { address, negotiated, local, writer } => {
                let peer = self.peer(address);
                peer.end_of_rib_received.clear();
                peer.end_of_rib_sent.clear();
                peer.session = Some(Session { negotiated, local, writer, advertised: 0 });
                self.advertise_all(address, None).await;
            }
            RibEvent::PeerDown { address, reason } => {
                let peer = self.peer(address);
                peer.session = None;
                // Graceful restart (helper) will keep these as stale; until then they go.
                let n = peer.rib_in.clear(None);
                info!(neighbor = %address, routes = n, ?reason, "neighbor down, routes removed");
                self.attrs.purge();
            }
            RibEvent::Update { address, update } => self.apply_update(address, &update),
            RibEvent::RouteRefresh { address, family } => self.advertise_all(address, Some(family)).await,
            RibEvent::SetNetworks(networks) => {
                let old = std::mem::replace(&mut self.networks, networks);
                let withdrawn: Vec<Prefix> = old
                    .iter()
                    .filter(|o| !self.networks.iter().any(|n| n.prefix == o.prefix))
                    .map(|o| o.prefix)
                    .collect();
                let addresses: Vec<IpAddr> = self.peers.keys().copied().collect();
                for a in addresses {
                    self.withdraw_prefixes(a, &withdrawn).await;
                    self.advertise_all(a, None).await;
                }
            }
            RibEvent::Routes { filter, reply } => {
                let _ = reply.send(self.routes(&filter));
            }
            RibEvent::Counts { reply } => {
                let counts = self
                    .peers
                    .iter()
                    .map(|(a, p)| {
                        let stale = p.rib_in.stale_len();
                        (
                            *a,
                            PeerCounts {
                                received_prefixes: p.rib_in.len(),
                                advertised_prefixes: p.session.as_ref().map_or(0, |s| s.advertised),
                                stale_prefixes: stale,
                                llgr_stale_prefixes: 0,
                                end_of_rib_received: p.end_of_rib_received.clone(),
                                end_of_rib_sent: p.end_of_rib_sent.clone(),
                            },
                        )
                    })
                    .collect();
                let _ = reply.send(counts);
            }
        }
    }

    fn apply_update(&mut self, address: IpAddr, update: &Update) {
        if let Some(family) = update.as_end_of_rib() {
            debug!(neighbor = %address, %family, "End-of-RIB received");
            self.peer(address).end_of_rib_received.insert(family);
            return;
        }
        let withdraw_all = update.treat_as_withdraw();
        if withdraw_all {
            warn!(neighbor = %address, errors = ?update.errors, "UPDATE treated as withdraw (RFC 7606)");
        }
        let mut common = update.attributes.clone();
        common.mp_reach = None;
        common.mp_unreach = None;
        let Self { peers, attrs, .. } = self;
        let peer = peers.entry(address).or_insert_with(Peer::default);
        for (family, nlri) in update.withdrawn_routes() {
            peer.rib_in.remove(family, nlri);
        }
        let classic = (Family::IPV4_UNICAST, common.next_hop.map(NextHop::V4), update.announced.as_slice());
        let mp = update.attributes.mp_reach.as_ref().map(|m| (m.family, Some(m.next_hop), m.nlri.as_slice()));
        for (family, next_hop, nlri) in std::iter::once(classic).chain(mp) {
            let set = match (withdraw_all, next_hop) {
                (false, Some(nh)) if !nlri.is_empty() => {
                    Some(attrs.intern(AttrSet { attributes: common.clone(), next_hop: nh }))
                }
                _ => None,
            };
            for n in nlri {
                match &set {
                    Some(set) => peer.rib_in.insert(family, *n, set.clone()),
                    None => peer.rib_in.remove(family, n),
                };
            }
        }
    }

    /// The attributes keel puts on its own routes towards one session (RFC 4271 §5.1).
    fn own_attributes(&self, s: &Session, n: &Network) -> (PathAttributes, NextHop) {
        let ebgp = s.negotiated.remote.asn() != self.local_asn;
        let attributes = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(if ebgp { AsPath::sequence(vec![self.local_asn]) } else { AsPath::default() }),
            local_pref: (!ebgp).then_some(100),
            communities: n.communities.clone(),
            ..Default::default()
        };
        let next_hop = match (n.next_hop, n.prefix.addr(), s.local.ip()) {
            (Some(a), _, _) => NextHop::from(a),
            (None, IpAddr::V4(_), IpAddr::V4(l)) => NextHop::V4(l),
            (None, IpAddr::V6(_), IpAddr::V6(l)) => NextHop::V6 { global: l, link_local: None },
            // IPv6 routes over an IPv4 session: the IPv4-mapped address (RFC 4291 §2.5.5.2).
            (None, IpAddr::V6(_), IpAddr::V4(l)) => NextHop::V6 { global: l.to_ipv6_mapped(), link_local: None },
            // IPv4 routes over an IPv6 session (RFC 8950).
            (None, IpAddr::V4(_), IpAddr::V6(l)) => {
                NextHop::V6 { global: l.to_ipv4_mapped().map_or(l, |v4| v4.to_ipv6_mapped()), link_local: None }
            }
        };
        (attributes, next_hop)
    }

    /// Sends keel's routes (of one family or all) and End-of-RIB to a neighbor.
    async fn advertise_all(&mut self, address: IpAddr, only: Option<Family>) {
        let Some(s) = self.peers.get(&address).and_then(|p| p.session.as_ref()) else { return };
        let codec = s.negotiated.codec_send();
        let families: Vec<Family> =
            s.negotiated.families.iter().copied().filter(|f| only.is_none_or(|o| o == *f)).collect();
        let mut out = Vec::new();
        let mut advertised = 0;
        for &family in &families {
            for n in
                self.networks.iter().filter(|n| n.prefix.afi() == family.afi && family.safi == keel_wire::Safi::UNICAST)
            {
                let (attributes, next_hop) = self.own_attributes(s, n);
                match builder::announce(family, &attributes, next_hop, &[Nlri::new(n.prefix)], &codec, &mut out) {
                    Ok(_) => advertised += 1,
                    Err(e) => warn!(neighbor = %address, prefix = %n.prefix, error = %e, "route not sent"),
                }
            }
            // RFC 4724 §4.1 (and for every session): End-of-RIB after the initial update.
            if let Ok(eor) = Update::end_of_rib(family).encode(&codec) {
                out.extend_from_slice(&eor);
            }
        }
        let writer = s.writer.clone();
        if writer.send(Out::Bytes(out)).await.is_ok() {
            if let Some(p) = self.peers.get_mut(&address) {
                p.end_of_rib_sent.extend(families);
                if let Some(s) = p.session.as_mut() {
                    s.advertised = if only.is_some() { s.advertised.max(advertised) } else { advertised };
                }
            }
        }
    }

    async fn withdraw_prefixes(&mut self, address: IpAddr, prefixes: &[Prefix]) {
        let Some(s) = self.peers.get(&address).and_then(|p| p.session.as_ref()) else { return };
        let codec = s.negotiated.codec_send();
        let mut by_family: BTreeMap<Family, Vec<Nlri>> = BTreeMap::new();
        for p in prefixes {
            let family = if p.is_ipv4() { Family::IPV4_UNICAST } else { Family::IPV6_UNICAST };
            if s.negotiated.families.contains(&family) {
                by_family.entry(family).or_default().push(Nlri::new(*p));
            }
        }
        let mut out = Vec::new();
        for (family, nlri) in by_family {
            let _ = builder::withdraw(family, &nlri, &codec, &mut out);
        }
        if !out.is_empty() {
            let _ = s.writer.send(Out::Bytes(out)).await;
        }
    }

    fn routes(&self, f: &RouteFilter) -> Vec<RouteView> {
        let mut v = Vec::new();
        for (addr, peer) in &self.peers {
            if f.neighbor.is_some_and(|n| n != *addr) {
                continue;
            }
            for (family, nlri, entry) in peer.rib_in.iter() {
                let stale = peer.rib_in.is_stale(entry);
                if f.family.is_some_and(|x| x != family)
                    || f.prefix.is_some_and(|p| p != nlri.prefix)
                    || (f.stale && !stale)
                {
                    continue;
                }
                let a = &entry.attributes.attributes;
                v.push(RouteView {
                    prefix: nlri.prefix.to_string(),
                    family: family.to_string(),
                    path_id: nlri.path_id,
                    neighbor: Some(*addr),
                    next_hop: entry.attributes.next_hop.to_string(),
                    as_path: a.as_path.as_ref().map(|p| p.asns().collect()).unwrap_or_default(),
                    origin: a.origin.map(Origin::name),
                    communities: a.communities.iter().map(|c| c.to_string()).collect(),
                    large_communities: a.large_communities.iter().map(|c| c.to_string()).collect(),
                    local_pref: a.local_pref,
                    med: a.med,
                    // No decision process yet (keel-rib issue): nothing is marked best.
                    best: false,
                    stale,
                    llgr_stale: a.communities.contains(&Community::LLGR_STALE),
                });
            }
        }
        if f.neighbor.is_none() && !f.stale {
            for n in &self.networks {
                let family = if n.prefix.is_ipv4() { Family::IPV4_UNICAST } else { Family::IPV6_UNICAST };
                if f.family.is_some_and(|x| x != family) || f.prefix.is_some_and(|p| p != n.prefix) {
                    continue;
                }
                v.push(RouteView {
                    prefix: n.prefix.to_string(),
                    family: family.to_string(),
                    path_id: None,
                    neighbor: None,
                    next_hop: n.next_hop.map_or_else(|| "self".to_string(), |a| a.to_string()),
                    as_path: Vec::new(),
                    origin: Some("igp"),
                    communities: n.communities.iter().map(|c| c.to_string()).collect(),
                    large_communities: Vec::new(),
                    local_pref: None,
                    med: None,
                    best: true,
                    stale: false,
                    llgr_stale: false,
                });
            }
        }
        v.sort_by(|a, b| (&a.family, &a.prefix, a.neighbor).cmp(&(&b.family, &b.prefix, b.neighbor)));
        v
    }
}
