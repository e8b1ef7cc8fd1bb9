//! The RIB task: the one owner of all RIB state (every neighbor's paths, the Loc-RIB, the
//! decision process, each neighbor's Adj-RIB-Out), fed in batches of [`RibEvent`]s by the
//! neighbor tasks, the FIB task and the API. UPDATEs are applied in the order they arrived;
//! after every batch the changes go out.
//!
//! Its rooms, by concern (each imports only this module's types, none another room):
//!
//! | module | concern |
//! |---|---|
//! | this one | the state, the run loop, event dispatch, sessions up and gone, UPDATEs in (RFC 4271 §9, import policy) |
//! | `restart` | graceful-restart coordinator: helper actions and timers, selection deferral, inherited kernel routes |
//! | `propagate` | changes out: to the FIB task, and to each neighbor's Adj-RIB-Out ([`keel_rib::adj_rib_out`], which packs the UPDATEs) |
//! | `reevaluate` | policy re-evaluation without a reset: import, export, RPKI VRPs, ROUTE-REFRESH |
//! | `views` | the API's read model: routes, Adj-RIB-Out, counts, restart state |
//! | `bmp` | BMP stations' change stream per view, their dumps and statistics (off without a station) |
//! | `handoff` | `keel upgrade`: the RIBs written for the next keeld image, and loaded there |
//!
//! What each neighbor was sent, what it is still owed and the UPDATE packing live in keel-rib
//! ([`AdjRibOut`]), pure and tested without tokio; this task only writes the bytes it packs.
//!
//! Backpressure: a neighbor whose write queue is full keeps its changed destinations in its
//! Adj-RIB-Out's pending set (bounded by the table size, one entry per destination however
//! often it changes) and is retried on a short tick; the RIB task never waits for one slow
//! neighbor.

use crate::events::{sleep_until, FibCommand, Network, Out, PeerPolicy, RestartState, RibEvent};
use crate::negotiate::Negotiated;
use keel_rib::adj_rib_out::AdjRibOut;
use keel_rib::graceful_restart::helper::{self, Helper};
use keel_rib::graceful_restart::restarting;
use keel_rib::graceful_shutdown;
use keel_rib::otc;
use keel_rib::policy::{Chain, Context, RouteKey, Verdict};
use keel_rib::prefix_limit::{self, Crossing, Tracker};
use keel_rib::update_checks::{self, check_update};
use keel_rib::{AttrSet, PeerId, PeerInfo, Rib};
use keel_wire::attribute::{AsPath, Origin};
use keel_wire::{Family, NextHop, Nlri, PathAttributes, Update};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, warn};

mod bmp;
mod handoff;
mod propagate;
mod reevaluate;
mod restart;
mod views;

/// Messages taken from the queue (each UPDATE of a batch counted) before changes are flushed.
const EVENT_BATCH: usize = 512;

/// An Established session with a neighbor.
struct Session {
    negotiated: Arc<Negotiated>,
    writer: mpsc::Sender<Out>,
    /// What the neighbor was sent and is still owed (keel_rib::adj_rib_out).
    adj_rib_out: AdjRibOut,
    /// Its prefix limits and the crossings seen this session.
    prefix_limit: Option<Tracker>,
    limit_crossed: mpsc::Sender<Crossing>,
    /// A prefix limit reset this session: its routes were flushed, and what it still sends
    /// until the neighbor task closes it is ignored.
    tripped: bool,
}

/// A configured neighbor as the RIB task knows it, up or not.
struct Peer {
    id: PeerId,
    session: Option<Session>,
    helper: Helper,
    /// The last session's OPEN exchange, for the helper when it ends.
    last: Option<Arc<Negotiated>>,
    end_of_rib_received: BTreeSet<Family>,
    end_of_rib_sent: BTreeSet<Family>,
    /// UPDATEs sent, over all sessions ([`PeerCounts::updates_sent`]).
    updates_sent: u64,
    /// Routes found to be route leaks (RFC 9234 §5), over all sessions
    /// ([`PeerCounts::leaks_detected`]).
    leaks_detected: u64,
}

/// A neighbor's import and export policy chains.
#[derive(Debug, Clone)]
struct Chains {
    import: Arc<Chain>,
    export: Arc<Chain>,
    import_fingerprint: u64,
    export_fingerprint: u64,
}

impl Default for Chains {
    /// Without a [`RibEvent::SetPolicy`] (tests): everything in and out.
    fn default() -> Self {
        Chains {
            import: Arc::new(Chain::accept_all()),
            export: Arc::new(Chain::accept_all()),
            import_fingerprint: 0,
            export_fingerprint: 0,
        }
    }
}

/// The RIB task's state; [`RibTask::run`] is the task.
pub struct RibTask {
    local_asn: u32,
    router_id: Ipv4Addr,
    cluster_id: Ipv4Addr,
    rib: Rib,
    peers: HashMap<IpAddr, Peer>,
    next_id: u32,
    networks: Vec<Network>,
    fib: Option<mpsc::Sender<FibCommand>>,
    /// Graceful-restart timers per neighbor.
    timers: BTreeMap<(IpAddr, helper::Timer), Instant>,
    /// Set while keeld restarts: nothing is advertised or installed until it ends.
    deferral: Option<Deferral>,
    /// Deferral just ended: the next round hands the FIB the whole table, then the sweep.
    deferral_ended: bool,
    /// When kernel routes of an earlier run that were not chosen again may go, if keel is not
    /// deferring selection then (see [`RibTask::with_inherited_hold`]).
    inherited_until: Option<Instant>,
    /// The inherited-route hold passed: the next round ends with the FIB's sweep.
    sweep_due: bool,
    /// Import and export chains per neighbor.
    chains: HashMap<IpAddr, Chains>,
    rpki: crate::rpki::Rpki,
    /// Next hops the FIB was asked to resolve ([`FibCommand::Resolve`]).
    resolving: FxHashSet<IpAddr>,
    /// The most destinations the RIB held since memory was last given back.
    high_water: usize,
    /// Neighbors keel is shutting down gracefully (RFC 8326 §4.2, `keel graceful-shutdown`):
    /// their routes go out tagged with GRACEFUL_SHUTDOWN. Kept across sessions and reloads,
    /// dropped when the neighbor leaves the configuration; not across a keeld restart.
    graceful_shutdown: BTreeSet<IpAddr>,
    /// `[global] honour_graceful_shutdown`: received routes tagged with GRACEFUL_SHUTDOWN get
    /// LOCAL_PREF 0 (RFC 8326 §4.1), after import policy ([`keel_rib::graceful_shutdown`]).
    honour_graceful_shutdown: bool,
    /// BMP stations' feeds; `None` without any.
    bmp: Option<Box<keel_bmp::station::Feeds>>,
    /// `keel upgrade`, new image: handed-over sessions not loaded yet; nothing is exported
    /// until they are.
    resuming: Option<handoff::Resuming>,
    /// `keel upgrade`, old image: where the RIBs go once the events before it are applied.
    handing_off: Option<oneshot::Sender<HashMap<IpAddr, crate::events::ResumedRibs>>>,
}

/// A RIB that held at least this many destinations and lost half of them gives the memory
/// back ([`RibTask::give_back_memory`]).
const SHRINK_FROM: usize = 20_000;

/// keel's own restart (RFC 4724 §4.1): route selection, advertisement and kernel changes wait
/// for the [`restarting::Deferral`] to end, or for `until` ([`restart`] runs it).
struct Deferral {
    until: Instant,
    state: restarting::Deferral<IpAddr>,
    restarting: RestartState,
    /// Told when the deferral ends (keeld records how long its restart took).
    ended: Option<oneshot::Sender<()>>,
}

impl RibTask {
    pub fn new(
        local_asn: u32,
        router_id: Ipv4Addr,
        cluster_id: Ipv4Addr,
        options: keel_rib::decision::Options,
        networks: Vec<Network>,
        fib: Option<mpsc::Sender<FibCommand>>,
    ) -> Self {
        let mut t = RibTask {
            local_asn,
            router_id,
            cluster_id,
            rib: Rib::new(options),
            peers: HashMap::new(),
            next_id: 1,
            networks: Vec::new(),
            fib,
            timers: BTreeMap::new(),
            deferral: None,
            deferral_ended: false,
            inherited_until: None,
            sweep_due: false,
            chains: HashMap::new(),
            rpki: crate::rpki::Rpki::disabled(local_asn),
            resolving: FxHashSet::default(),
            high_water: 0,
            graceful_shutdown: BTreeSet::new(),
            honour_graceful_shutdown: true,
            bmp: None,
            resuming: None,
            handing_off: None,
        };
        t.rib.add_peer(PeerId::LOCAL, t.local_info(IpAddr::from([0, 0, 0, 0]), PeerPolicy::default_ibgp()));
        t.set_networks(networks);
        t
    }

    /// Validates routes against the VRPs of `rpki` (RFC 6811).
    pub fn with_rpki(mut self, rpki: crate::rpki::Rpki) -> Self {
        self.rpki = rpki;
        self
    }

    fn local_info(&self, local_address: IpAddr, policy: PeerPolicy) -> PeerInfo {
        PeerInfo {
            route_reflector_client: policy.route_reflector_client,
            cluster_id: self.cluster_id,
            route_server_client: policy.route_server_client,
            long_lived_to_internal: policy.long_lived_to_internal,
            enforce_first_as: policy.enforce_first_as,
            role: policy.role,
            ..PeerInfo::new(
                local_address,
                self.local_asn,
                self.router_id,
                self.local_asn,
                self.router_id,
                local_address,
            )
        }
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<RibEvent>) {
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut vrps = self.rpki.subscribe();
        let mut rpki_on = self.rpki.is_enabled();
        loop {
            let backlog = self.peers.values().any(|p| p.session.as_ref().is_some_and(|s| s.adj_rib_out.backlog()));
            let next_timer = self.next_timer();
            tokio::select! {
                // Timers that are due go before events that arrived after them.
                biased;
                _ = sleep_until(next_timer), if next_timer.is_some() => self.fire_timers(),
                ev = rx.recv() => {
                    let Some(ev) = ev else { return };
                    // Up to EVENT_BATCH messages (an UPDATE batch counts each) between two
                    // propagation rounds.
                    let mut handled = ev.messages();
                    self.handle(ev);
                    while handled < EVENT_BATCH && self.handing_off.is_none() {
                        match rx.try_recv() {
                            Ok(ev) => {
                                handled += ev.messages();
                                self.handle(ev);
                            }
                            Err(_) => break,
                        }
                    }
                }
                _ = tick.tick(), if backlog => {}
                changed = vrps.changed(), if rpki_on => match changed {
                    Ok(()) => self.vrps_changed(),
                    Err(_) => rpki_on = false,
                },
            }
            self.propagate().await;
            if let Some(reply) = self.handing_off.take() {
                let _ = reply.send(self.hand_off());
                return;
            }
            self.give_back_memory();
        }
    }

    /// After a large withdrawal (a leaking neighbor's flood withdrawn, a full-table session
    /// lost without GR) the tables keep their capacity and the allocator keeps the freed
    /// pages: keeld would stay at its peak size for good. Once the RIB is down to half of
    /// its high-water mark, shrink the tables and hand free heap pages back to the system.
    /// Halving each time keeps the cost (a pass over what is left) in proportion to what
    /// was removed.
    fn give_back_memory(&mut self) {
        let len = self.rib.len();
        self.high_water = self.high_water.max(len);
        if self.high_water < SHRINK_FROM || len > self.high_water / 2 {
            return;
        }
        let before = self.high_water;
        self.high_water = len;
        self.rib.shrink();
        for s in self.peers.values_mut().filter_map(|p| p.session.as_mut()) {
            s.adj_rib_out.shrink_to_fit();
        }
        release_free_heap();
        debug!(from = before, to = len, "RIB shrank: memory given back");
    }

    fn handle(&mut self, ev: RibEvent) {
        match ev {
            RibEvent::PeerUp {
                address,
                negotiated,
                local,
                remote,
                policy,
                helper,
                writer,
                prefix_limit,
                limit_crossed,
                resumed,
            } => {
                let bmp = self.bmp.is_some().then(|| negotiated.clone());
                self.peer_up(address, negotiated, local.ip(), policy, helper, writer);
                if let Some(s) = self.peers.get_mut(&address).and_then(|p| p.session.as_mut()) {
                    s.prefix_limit = prefix_limit.map(Tracker::new);
                    s.limit_crossed = limit_crossed;
                }
                if let Some(ribs) = resumed {
                    self.resume_ribs(address, *ribs);
                }
                if let Some(n) = bmp {
                    self.bmp_peer_up(address, &n, local, remote);
                }
            }
            RibEvent::PeerUnreachable { address } => self.deferral_event(|d| d.peer_down(address)),
            RibEvent::SetPolicy { address, import, export, import_fingerprint, export_fingerprint } => {
                let new = Chains { import, export, import_fingerprint, export_fingerprint };
                let old = self.chains.insert(address, new.clone()).unwrap_or_default();
                self.policy_changed(address, &old, &new);
            }
            RibEvent::PeerDown { address, reason } => {
                self.bmp_peer_down(address, &reason);
                self.peer_down(address, reason);
            }
            RibEvent::PeerRemoved { address } => self.peer_removed(address),
            RibEvent::Update { address, update } => {
                let copy = self.bmp.as_ref().and_then(|b| b.copy(&update));
                self.apply_update(address, update);
                if let (Some(b), Some(u)) = (self.bmp.as_mut(), copy) {
                    b.received(&self.rib, address, &u);
                }
            }
            RibEvent::Updates { address, updates } => {
                for update in updates {
                    self.handle(RibEvent::Update { address, update });
                }
            }
            RibEvent::Bmp(r) => self.bmp_request(Some(r)),
            RibEvent::RouteRefresh { address, family } => {
                if let Some(s) = self.peers.get_mut(&address).and_then(|p| p.session.as_mut()) {
                    s.adj_rib_out.route_refresh(family, &self.rib);
                }
            }
            RibEvent::SetNetworks(networks) => self.set_networks(networks),
            RibEvent::NextHop { address, metric } => self.rib.set_next_hop(address, metric),
            RibEvent::Restart { reply } => {
                let _ = reply.send(self.restart_view());
            }
            RibEvent::Routes { filter, reply } => {
                let _ = reply.send(self.routes(&filter));
            }
            RibEvent::Counts { reply } => {
                let _ = reply.send(self.counts());
            }
            RibEvent::GracefulShutdown { neighbors, on, reply } => {
                let _ = reply.send(self.set_graceful_shutdown(neighbors, on));
            }
            RibEvent::HonourGracefulShutdown(on) => self.honour_graceful_shutdown_changed(on),
            RibEvent::HandOff { reply } => self.handing_off = Some(reply),
        }
    }

    /// A session is Established: the neighbor joins the RIB, gets the whole Loc-RIB of the
    /// negotiated families, and its helper and the deferral hear of it.
    fn peer_up(
        &mut self,
        address: IpAddr,
        negotiated: Arc<Negotiated>,
        local_address: IpAddr,
        policy: PeerPolicy,
        helper: helper::Settings,
        writer: mpsc::Sender<Out>,
    ) {
        let id = match self.peers.get(&address) {
            Some(p) => p.id,
            None => {
                let id = PeerId(self.next_id);
                self.next_id += 1;
                id
            }
        };
        let (paths, route_server_client) = (policy.add_path_send, policy.route_server_client);
        let mut info = self.local_info(local_address, policy);
        let chains = self.chains.get(&address).cloned().unwrap_or_default();
        info.import = !chains.import.is_reject_all();
        info.export = !chains.export.is_reject_all();
        info.address = address;
        info.asn = negotiated.remote.asn();
        info.router_id = negotiated.remote.router_id;
        info.long_lived = negotiated.remote_long_lived_families();
        self.rib.add_peer(id, info);
        // Initial advertisement: the whole Loc-RIB of the negotiated families; several paths
        // per destination where Add-Path send was negotiated and asked for (RFC 7911 §4).
        // Destinations whose best path the neighbor gave are left out when it can be sent
        // nothing else for them (one path each, not a route-server client).
        let own = (paths <= 1 && !route_server_client).then_some(id);
        let adj_rib_out = AdjRibOut::new(
            negotiated.families.clone(),
            negotiated.codec_send(),
            negotiated.enhanced_route_refresh,
            &self.rib,
            own,
        )
        .with_add_path_send(paths);
        // RFC 7947 §2.3.2 route-server clients, and RFC 7911 neighbors sent several paths,
        // need every path change, not only best.
        self.rib.track_paths |= route_server_client || adj_rib_out.sends_several_paths();
        let peer = self.peers.entry(address).or_insert_with(|| Peer {
            id,
            session: None,
            helper: Helper::new(helper.clone()),
            last: None,
            end_of_rib_received: BTreeSet::new(),
            end_of_rib_sent: BTreeSet::new(),
            updates_sent: 0,
            leaks_detected: 0,
        });
        peer.helper.settings = helper;
        peer.end_of_rib_received.clear();
        peer.end_of_rib_sent.clear();
        peer.last = Some(negotiated.clone());
        let actions = peer.helper.session_up(negotiated.remote_graceful_restart(), &negotiated.long_lived());
        // Without a limit nobody listens: a closed channel.
        let limit_crossed = mpsc::channel(1).0;
        peer.session =
            Some(Session { negotiated, writer, adj_rib_out, prefix_limit: None, limit_crossed, tripped: false });
        self.graceful_restart(address, actions);
        if let Some(n) = self.peers.get(&address).and_then(|p| p.last.clone()) {
            self.deferral_event(|d| d.peer_up(address, n.remote_graceful_restart(), &n.families));
        }
    }

    /// The neighbor left the configuration: its routes and timers go with it.
    fn peer_removed(&mut self, address: IpAddr) {
        self.chains.remove(&address);
        self.graceful_shutdown.remove(&address);
        self.deferral_event(|d| d.peer_down(address));
        if let Some(peer) = self.peers.remove(&address) {
            self.rib.remove_peer(peer.id);
            self.timers.retain(|(a, _), _| *a != address);
            self.rib.attrs.purge();
        }
    }

    /// keel's own routes enter the RIB as paths of [`PeerId::LOCAL`].
    fn set_networks(&mut self, networks: Vec<Network>) {
        for old in std::mem::take(&mut self.networks) {
            if !networks.iter().any(|n| n.prefix == old.prefix) {
                self.rib.withdraw(PeerId::LOCAL, old.prefix.unicast_family(), old.prefix, 0);
            }
        }
        for n in &networks {
            let attributes = PathAttributes {
                origin: Some(Origin::Igp),
                as_path: Some(AsPath::default()),
                communities: n.communities.iter().copied().collect(),
                ..Default::default()
            };
            // "self" is resolved per neighbor at export; 0.0.0.0 marks it here.
            let next_hop = n.next_hop.map_or(NextHop::V4(Ipv4Addr::UNSPECIFIED), NextHop::from);
            self.rib.announce_set(
                PeerId::LOCAL,
                n.prefix.unicast_family(),
                n.prefix,
                0,
                AttrSet { attributes, next_hop },
            );
        }
        self.networks = networks;
    }

    /// An UPDATE from `address` (RFC 4271 §9): End-of-RIB goes to the GR coordinator;
    /// otherwise the checks that need the neighbor, the withdrawals, then each family's
    /// announcements through the import policy.
    fn apply_update(&mut self, address: IpAddr, mut update: Box<Update>) {
        let Some(peer) = self.peers.get_mut(&address) else { return };
        let id = peer.id;
        // A prefix limit closed this session: nothing more from it is taken.
        if peer.session.as_ref().is_none_or(|s| s.tripped) {
            return;
        }
        if let Some(family) = update.as_end_of_rib() {
            self.end_of_rib_received(address, family);
            return;
        }
        let Some(info) = self.rib.peer(id) else { return };
        // What the codec could not judge without knowing the neighbor (RFC 5065 §5, RFC 4271
        // §6.3, RFC 7606 §7.2, §7.5, §7.9, §7.10); its findings join the codec's errors.
        check_update(&mut update, info);
        let local_address = info.local_address;
        // RFC 9234 §5 ingress: keel's role on an external session and the neighbor's AS.
        let otc_role = info.role.filter(|_| info.ebgp()).map(|r| (r, info.asn));
        for e in &update.errors {
            warn!(neighbor = %address, error = %e, "UPDATE error handled per RFC 7606");
        }
        let withdraw_all = update.treat_as_withdraw();
        for (family, nlri) in update.withdrawn_routes() {
            self.rib.withdraw(id, family, nlri.prefix, nlri.path_id.unwrap_or(0));
        }
        // The attributes are moved out of the UPDATE, not copied: one set per UPDATE is the
        // common case, a second family gets a clone.
        let mut common = std::mem::take(&mut update.attributes);
        let mp = common.mp_reach.take();
        common.mp_unreach = None;
        let classic =
            (Family::IPV4_UNICAST, common.next_hop.take().map(NextHop::V4), std::mem::take(&mut update.announced));
        // Routes of a family the session did not negotiate (RFC 4760 §8: the Multiprotocol
        // capability says which ones a speaker may send) are ignored and logged, as BIRD and
        // FRR do; they must not reach the RIB or the kernel.
        let negotiated = peer.session.as_ref().map(|s| s.negotiated.clone());
        let groups: Vec<_> = std::iter::once(classic)
            .chain(mp.map(|m| (m.family, Some(m.next_hop), m.nlri)))
            .filter(|(_, _, nlri)| !nlri.is_empty())
            .filter(|(family, _, nlri)| {
                let ok = negotiated.as_ref().is_some_and(|n| n.families.contains(family));
                if !ok {
                    warn!(neighbor = %address, %family, routes = nlri.len(), "routes of a family not negotiated ignored");
                }
                ok
            })
            .collect();
        let mut common = Some(common);
        let count = groups.len();
        let import = self.chains.get(&address).map(|c| c.import.clone()).filter(|c| !c.is_accept_all());
        let validator = import.as_ref().filter(|c| c.uses_rpki()).map(|_| self.rpki.validator());
        let import = Import { id, local_address, chain: import, validator, honour: self.honour_graceful_shutdown };
        // RFC 4486 §4: "received" limits are checked before the UPDATE is applied, so that an
        // UPDATE going over one is never stored, installed or advertised.
        if let Some((family, count, max)) = self.over_before(address, id, &groups) {
            self.prefix_limit_exceeded(address, id, family, count, max);
            // "warn" goes on and applies the UPDATE; "reset" stops here.
            if self.peers.get(&address).and_then(|p| p.session.as_ref()).is_some_and(|s| s.tripped) {
                return;
            }
        }
        let families: Vec<Family> = groups.iter().map(|(f, _, _)| *f).collect();
        for (i, (family, next_hop, nlri)) in groups.into_iter().enumerate() {
            // RFC 4271 §6.3: a NEXT_HOP that is keel's own address is logged and its routes are
            // ignored, no NOTIFICATION. The announcement still replaces what the neighbor sent
            // before for these prefixes, so they end up withdrawn, like the other UPDATE errors
            // the session survives.
            let own_next_hop = next_hop.filter(|nh| update_checks::next_hop_is_local(nh, local_address));
            if let Some(nh) = own_next_hop {
                warn!(
                    neighbor = %address,
                    next_hop = %nh,
                    %family,
                    routes = nlri.len(),
                    "NEXT_HOP is keel's own address: routes ignored (RFC 4271 §6.3)"
                );
            }
            let mut leak = false;
            let set = match (withdraw_all, next_hop) {
                (false, Some(nh)) if own_next_hop.is_none() => {
                    let mut attributes = if i + 1 == count {
                        common.take().unwrap_or_default()
                    } else {
                        common.clone().unwrap_or_default()
                    };
                    if let Some((role, asn)) = otc_role.filter(|_| otc::applies(family)) {
                        match otc::ingress(role, asn, attributes.otc) {
                            otc::Ingress::Keep => {}
                            otc::Ingress::Add(v) => attributes.otc = Some(v),
                            otc::Ingress::Leak => leak = true,
                        }
                    }
                    self.resolve(nh.addr());
                    let set = AttrSet { attributes, next_hop: nh };
                    Some(match nlri.first() {
                        Some(n) => self.rib.intern_as_held(id, family, &n.prefix, n.path_id.unwrap_or(0), set),
                        None => self.rib.attrs.intern(set),
                    })
                }
                _ => None,
            };
            match set.as_ref().filter(|_| leak) {
                Some(set) => self.leaked(address, id, family, set, &nlri),
                None => self.import_routes(&import, family, set.as_ref(), &nlri),
            }
        }
        self.check_prefix_limit(address, id, &families);
    }

    /// RFC 9234 §5 ingress: routes that are route leaks "MUST be considered ineligible" (§3:
    /// not eligible for route selection). They are kept as received, like routes import policy
    /// refused (so that they replace what the neighbor sent before for the same prefixes and
    /// count against "received" prefix limits), never reach the decision process, and are
    /// counted in the neighbor's `role.leaks_detected`.
    fn leaked(&mut self, address: IpAddr, id: PeerId, family: Family, set: &Arc<AttrSet>, nlri: &[Nlri]) {
        warn!(
            neighbor = %address,
            %family,
            routes = nlri.len(),
            otc = set.attributes.otc,
            "route leak: OTC from this neighbor makes the routes ineligible (RFC 9234 §5)"
        );
        for n in nlri {
            self.rib.announce_filtered(id, family, n.prefix, n.path_id.unwrap_or(0), set.clone(), None);
        }
        if let Some(p) = self.peers.get_mut(&address) {
            p.leaks_detected += nlri.len() as u64;
        }
    }

    /// For a "received" prefix limit: the family `groups` would take over its limit, with the
    /// count it would reach, counting only routes not already in the Adj-RIB-In (a re-sent
    /// route replaces its entry, RFC 4271 §3.1). The UPDATE's withdrawals are applied by then.
    /// O(1) per prefix.
    fn over_before(
        &self,
        address: IpAddr,
        id: PeerId,
        groups: &[(Family, Option<NextHop>, Vec<Nlri>)],
    ) -> Option<(Family, usize, u32)> {
        let t = self.peers.get(&address)?.session.as_ref()?.prefix_limit.as_ref()?;
        if t.limit.count != keel_rib::AdjRibInCount::Received {
            return None;
        }
        for (family, _, nlri) in groups {
            let Some(max) = t.limit.max_for(*family) else { continue };
            let new = nlri.iter().filter(|n| !self.rib.in_adj_rib_in(id, *family, &n.prefix, n.path_id.unwrap_or(0)));
            let count = self.rib.adj_rib_in_count(id, *family, keel_rib::AdjRibInCount::Received) + new.count();
            if count > max as usize {
                return Some((*family, count, max));
            }
        }
        None
    }

    /// After an UPDATE: the warning and limit crossings of the families it announced.
    /// "accepted" limits are checked here, after import policy; going over one flushes the
    /// neighbor's routes before anything of this round is advertised or installed.
    fn check_prefix_limit(&mut self, address: IpAddr, id: PeerId, families: &[Family]) {
        let Some(s) = self.peers.get_mut(&address).and_then(|p| p.session.as_mut()) else { return };
        let Some(t) = s.prefix_limit.as_mut() else { return };
        let mut exceeded = None;
        for &family in families {
            let count = self.rib.adj_rib_in_count(id, family, t.limit.count);
            for c in t.check(family, count) {
                match c {
                    Crossing::Warning { count, max, .. } => {
                        warn!(neighbor = %address, %family, count, max, "prefix limit warning threshold crossed");
                        let _ = s.limit_crossed.try_send(c);
                    }
                    Crossing::Exceeded { count, max, .. } => exceeded = Some((family, count, max)),
                }
            }
        }
        if let Some((family, count, max)) = exceeded {
            self.prefix_limit_exceeded(address, id, family, count, max);
        }
    }

    /// RFC 4486 §4: a neighbor went over its limit. With `action = "reset"` its routes go at
    /// once (no graceful-restart retention: the NOTIFICATION the neighbor task sends is a
    /// Hard Reset where N was exchanged, RFC 8538 §5.1), before this round's changes go out,
    /// and the rest of the session is ignored; with "warn", a log line and the metric.
    fn prefix_limit_exceeded(&mut self, address: IpAddr, id: PeerId, family: Family, count: usize, max: u32) {
        let Some(s) = self.peers.get_mut(&address).and_then(|p| p.session.as_mut()) else { return };
        let Some(t) = s.prefix_limit.as_mut() else { return };
        // Reported once per session, whether found before or after applying.
        let _ = t.check(family, count);
        let _ = s.limit_crossed.try_send(Crossing::Exceeded { family, count, max });
        if t.limit.action == prefix_limit::Action::Warn {
            warn!(neighbor = %address, %family, count, max, "prefix limit exceeded: routes kept (action warn)");
            return;
        }
        s.tripped = true;
        let flushed = self.rib.flush_peer(id, None);
        warn!(
            neighbor = %address,
            %family,
            count,
            max,
            flushed,
            "prefix limit exceeded: session reset, routes flushed (RFC 4486 §4)"
        );
    }

    /// One family's routes of an UPDATE into the RIB: through the import policy with `set`,
    /// withdrawn without one (treat-as-withdraw, keel's own next hop).
    fn import_routes(&mut self, import: &Import, family: Family, set: Option<&Arc<AttrSet>>, nlri: &[Nlri]) {
        let Import { id, local_address, .. } = *import;
        // Import policy results shared by the prefixes of the group (see keel_rib::policy).
        let mut memo = FxHashMap::default();
        // Without a policy: the group's attributes after the GRACEFUL_SHUTDOWN step, if it
        // changes them.
        let mut shutdown: Option<Option<Arc<AttrSet>>> = None;
        for n in nlri {
            let path_id = n.path_id.unwrap_or(0);
            match (set, &import.chain) {
                // "none": nothing is kept (a policy change asks for a route refresh).
                (Some(_), Some(chain)) if chain.is_reject_all() => self.rib.withdraw(id, family, n.prefix, path_id),
                (Some(set), Some(chain)) => {
                    let validator = import.validator.as_ref();
                    let rpki = validator.and_then(|v| v.state(&n.prefix, set.attributes.as_path.as_ref()));
                    let ctx = Context { family, prefix: &n.prefix, rpki, local_asn: self.local_asn, local_address };
                    let accepted = import_route(&mut self.rib, chain, &ctx, set, import.honour, &mut memo);
                    self.rib.announce_filtered(id, family, n.prefix, path_id, set.clone(), accepted);
                }
                (Some(set), None) => {
                    // No policy: the GRACEFUL_SHUTDOWN step alone, once for the whole group.
                    let lowered = shutdown.get_or_insert_with(|| {
                        import
                            .honour
                            .then(|| graceful_shutdown::import(set))
                            .flatten()
                            .map(|a| self.rib.attrs.intern(a))
                    });
                    match lowered {
                        Some(a) => {
                            self.rib.announce_filtered(id, family, n.prefix, path_id, set.clone(), Some(a.clone()))
                        }
                        None => self.rib.announce(id, family, n.prefix, path_id, set.clone()),
                    }
                }
                (None, _) => self.rib.withdraw(id, family, n.prefix, path_id),
            }
        }
    }

    /// Asks the FIB for a next hop's IGP metric the first time it is seen, so that it is known
    /// before the decision (and during selection deferral): learnt later, it re-runs the decision
    /// of every destination using it. A full FIB queue only delays it to the first install.
    fn resolve(&mut self, addr: IpAddr) {
        let Some(fib) = &self.fib else { return };
        if self.resolving.insert(addr) && fib.try_send(FibCommand::Resolve(addr)).is_err() {
            self.resolving.remove(&addr);
        }
    }
}

/// What the routes of one UPDATE are imported with.
struct Import {
    id: PeerId,
    local_address: IpAddr,
    /// The import chain, unless it takes everything unchanged.
    chain: Option<Arc<Chain>>,
    /// The VRPs, when the chain looks at the RPKI state.
    validator: Option<crate::rpki::Validator>,
    /// `[global] honour_graceful_shutdown` (RFC 8326 §4.1).
    honour: bool,
}

/// Import policy for one route, shared through `memo` by the routes of an UPDATE: the
/// attributes to store, `None` when rejected. With `honour`, an accepted route tagged with
/// GRACEFUL_SHUTDOWN then gets LOCAL_PREF 0 (RFC 8326 §4.1), after the policy so that a
/// policy setting LOCAL_PREF cannot undo it (see [`keel_rib::graceful_shutdown`]).
fn import_route(
    rib: &mut Rib,
    chain: &Chain,
    ctx: &Context,
    set: &Arc<AttrSet>,
    honour: bool,
    memo: &mut FxHashMap<RouteKey, Option<Arc<AttrSet>>>,
) -> Option<Arc<AttrSet>> {
    let key = chain.route_key(ctx);
    if let Some(r) = memo.get(&key) {
        return r.clone();
    }
    let out = chain.evaluate_keyed(ctx, &key, set);
    let r = match out.verdict {
        Verdict::Reject => None,
        Verdict::Accept => {
            let lowered = honour.then(|| graceful_shutdown::import(out.attrs.as_ref().unwrap_or(set))).flatten();
            Some(match (lowered, out.attrs) {
                (Some(a), _) | (None, Some(a)) => rib.attrs.intern(a),
                (None, None) => set.clone(),
            })
        }
    };
    memo.insert(key, r.clone());
    r
}

impl PeerPolicy {
    fn default_ibgp() -> Self {
        PeerPolicy {
            route_reflector_client: false,
            route_server_client: false,
            long_lived_to_internal: false,
            enforce_first_as: false,
            add_path_send: 1,
            role: None,
        }
    }
}

#[cfg(test)]
mod tests;

/// What an encoder made, or the error logged and nothing: a message keel cannot encode is a
/// bug to see in the log, not to pass over in silence (nor a reason to stop the RIB task).
fn encoded<T: Default>(neighbor: IpAddr, what: &str, r: Result<T, keel_wire::EncodeError>) -> T {
    r.unwrap_or_else(|e| {
        warn!(%neighbor, error = %e, message = what, "cannot encode a message: not sent");
        T::default()
    })
}

/// Returns free heap pages to the system. glibc's allocator keeps what `free` released
/// (trimming only the top of the heap, and only past a threshold); `malloc_trim(0)` releases
/// free pages anywhere in every arena.
fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
