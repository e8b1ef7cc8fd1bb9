//! The RIB task: owns the RIB (every neighbor's paths, Loc-RIB, the decision process) and
//! each neighbor's Adj-RIB-Out ([`keel_rib::adj_rib_out`]). It takes UPDATEs from neighbor
//! tasks in order, and after every batch of events hands what changed to each Established
//! neighbor's Adj-RIB-Out, writes the UPDATEs it packs, and tells the FIB task.
//!
//! Backpressure: a neighbor whose write queue is full keeps its changed destinations in its
//! Adj-RIB-Out's pending set (bounded by the table size, one entry per destination however
//! often it changes) and is retried on a short tick; the RIB task never waits for one slow
//! neighbor.

use crate::events::{sleep_until, DownReason, FibCommand, FibUpdate, Network, Out, PeerPolicy, RestartState, RibEvent};
use crate::negotiate::Negotiated;
use crate::rpki::RpkiState;
use crate::views::{PeerCounts, RestartView, RouteFilter, RouteView, SegmentView};
use keel_rib::adj_rib_out::{self, AdjRibOut, ExportPolicy, PackError};
use keel_rib::graceful_restart::helper::{self, Ending, Helper};
use keel_rib::graceful_restart::restarting::{self, Awaited};
use keel_rib::policy::{Chain, Context, RouteKey, Verdict};
use keel_rib::update_checks::{self, check_update};
use keel_rib::{AttrSet, Changed, PeerId, PeerInfo, Rib};
use keel_wire::attribute::{AsPath, Origin};
use keel_wire::{Community, Family, Message, NextHop, PathAttributes, Prefix, Update};
use keel_wire::{RefreshSubtype, RouteRefresh};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// What one write to a neighbor holds at most: a write-queue slot's worth of UPDATEs
/// ([`AdjRibOut::pack`]'s budget).
const WRITE_BUDGET: usize = 64 * 1024;
/// Events taken from the queue before changes are flushed.
const EVENT_BATCH: usize = 512;

struct Session {
    negotiated: Arc<Negotiated>,
    writer: mpsc::Sender<Out>,
    /// What the neighbor was sent and is still owed (keel_rib::adj_rib_out).
    adj_rib_out: AdjRibOut,
}

/// The kernel route of a destination: its best path's and multipath next hops; none (delete)
/// without a best path or for keel's own networks.
fn fib_next_hops(d: Option<&keel_rib::rib::Dest>) -> Vec<IpAddr> {
    match d {
        Some(d) if d.best_path().is_some_and(|p| p.peer != PeerId::LOCAL) => {
            d.multipath().map(|p| p.attrs.next_hop.addr()).collect()
        }
        _ => Vec::new(),
    }
}

/// Import policy for one route, shared through `memo` by the routes of an UPDATE: the
/// attributes to store, `None` when rejected.
fn import_route(
    rib: &mut Rib,
    chain: &Chain,
    ctx: &Context,
    set: &Arc<AttrSet>,
    memo: &mut FxHashMap<RouteKey, Option<Arc<AttrSet>>>,
) -> Option<Arc<AttrSet>> {
    let key = chain.route_key(ctx);
    if let Some(r) = memo.get(&key) {
        return r.clone();
    }
    let out = chain.evaluate_keyed(ctx, &key, set);
    let r = match out.verdict {
        Verdict::Reject => None,
        Verdict::Accept => Some(out.attrs.map_or_else(|| set.clone(), |a| rib.attrs.intern(a))),
    };
    memo.insert(key, r.clone());
    r
}

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
}

/// A RIB that held at least this many destinations and lost half of them gives the memory
/// back ([`RibTask::give_back_memory`]).
const SHRINK_FROM: usize = 20_000;

/// keel's own restart (RFC 4724 §4.1): route selection, advertisement and kernel changes wait
/// for the [`restarting::Deferral`] to end, or for `until`.
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

    /// Starts in selection deferral (keeld is restarting) for `deferral`, waiting for `expected`;
    /// `ended` hears when it is over.
    pub fn with_deferral(
        mut self,
        deferral: Option<Duration>,
        restarting: RestartState,
        expected: Vec<IpAddr>,
        ended: Option<oneshot::Sender<()>>,
    ) -> Self {
        if let Some(d) = deferral {
            info!(seconds = d.as_secs(), neighbors = expected.len(), "restarting: selection deferred until End-of-RIB");
            self.deferral = Some(Deferral {
                until: Instant::now() + d,
                state: restarting::Deferral::new(expected),
                restarting,
                ended,
            });
            self.check_deferral();
        }
        self
    }

    /// Kernel routes of an earlier run stay for `hold` when keel is not deferring selection
    /// (graceful restart as helper only, or no record of the earlier run): the FIB sweeps
    /// those not chosen again once it has passed. With a deferral the sweep follows the
    /// deferral's end instead, whenever and however it ends (RFC 4724 §4.1). This task is the
    /// only one that decides: the sweep is queued after the table it confirms.
    pub fn with_inherited_hold(mut self, hold: Duration) -> Self {
        self.inherited_until = Some(Instant::now() + hold);
        self
    }

    /// Feeds an event to the selection deferral, and ends it when that was the last wait.
    fn deferral_event(&mut self, event: impl FnOnce(&mut restarting::Deferral<IpAddr>) -> Option<restarting::Ended>) {
        if let Some(d) = self.deferral.as_mut() {
            event(&mut d.state);
        }
        self.check_deferral();
    }

    fn check_deferral(&mut self) {
        match self.deferral.as_ref().and_then(|d| d.state.ended()) {
            Some(restarting::Ended::AllSettled) => self.end_deferral("every awaited End-of-RIB arrived"),
            Some(restarting::Ended::Timer) => self.end_deferral("selection_deferral_time expired"),
            None => {}
        }
    }

    fn end_deferral(&mut self, why: &str) {
        if let Some(d) = self.deferral.take() {
            info!(
                reason = why,
                routes = self.rib.len(),
                "selection deferral over: best paths advertised and installed"
            );
            d.restarting.store(false, std::sync::atomic::Ordering::Relaxed);
            if let Some(ended) = d.ended {
                let _ = ended.send(());
            }
            self.deferral_ended = true;
        }
    }

    fn local_info(&self, local_address: IpAddr, policy: PeerPolicy) -> PeerInfo {
        PeerInfo {
            route_reflector_client: policy.route_reflector_client,
            cluster_id: self.cluster_id,
            route_server_client: policy.route_server_client,
            long_lived_to_internal: policy.long_lived_to_internal,
            enforce_first_as: policy.enforce_first_as,
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
            let next_timer = self
                .timers
                .values()
                .chain(self.deferral.as_ref().map(|d| &d.until))
                .chain(self.inherited_until.as_ref())
                .min()
                .copied();
            tokio::select! {
                // Timers that are due go before events that arrived after them.
                biased;
                _ = sleep_until(next_timer), if next_timer.is_some() => self.fire_timers(),
                ev = rx.recv() => {
                    let Some(ev) = ev else { return };
                    self.handle(ev);
                    for _ in 0..EVENT_BATCH {
                        match rx.try_recv() {
                            Ok(ev) => self.handle(ev),
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
            RibEvent::PeerUp { address, negotiated, local, policy, helper, writer } => {
                let id = match self.peers.get(&address) {
                    Some(p) => p.id,
                    None => {
                        let id = PeerId(self.next_id);
                        self.next_id += 1;
                        id
                    }
                };
                let mut info = self.local_info(local.ip(), policy);
                let chains = self.chains.get(&address).cloned().unwrap_or_default();
                info.import = !chains.import.is_reject_all();
                info.export = !chains.export.is_reject_all();
                info.address = address;
                info.asn = negotiated.remote.asn();
                info.router_id = negotiated.remote.router_id;
                info.long_lived = negotiated.remote_long_lived_families();
                // RFC 7947 §2.3.2: route-server clients need every path change, not only best.
                self.rib.track_paths |= info.route_server_client;
                self.rib.add_peer(id, info);
                // Initial advertisement: the whole Loc-RIB of the negotiated families.
                let adj_rib_out = AdjRibOut::new(
                    negotiated.families.clone(),
                    negotiated.codec_send(),
                    negotiated.enhanced_route_refresh,
                    &self.rib,
                );
                let peer = self.peers.entry(address).or_insert_with(|| Peer {
                    id,
                    session: None,
                    helper: Helper::new(helper.clone()),
                    last: None,
                    end_of_rib_received: BTreeSet::new(),
                    end_of_rib_sent: BTreeSet::new(),
                    updates_sent: 0,
                });
                peer.helper.settings = helper;
                peer.end_of_rib_received.clear();
                peer.end_of_rib_sent.clear();
                peer.last = Some(negotiated.clone());
                let actions = peer.helper.session_up(negotiated.remote_graceful_restart(), &negotiated.long_lived());
                peer.session = Some(Session { negotiated, writer, adj_rib_out });
                self.graceful_restart(address, actions);
                if let Some(n) = self.peers.get(&address).and_then(|p| p.last.clone()) {
                    self.deferral_event(|d| d.peer_up(address, n.remote_graceful_restart(), &n.families));
                }
            }
            RibEvent::PeerUnreachable { address } => self.deferral_event(|d| d.peer_down(address)),
            RibEvent::SetPolicy { address, import, export, import_fingerprint, export_fingerprint } => {
                let new = Chains { import, export, import_fingerprint, export_fingerprint };
                let old = self.chains.insert(address, new.clone()).unwrap_or_default();
                self.policy_changed(address, &old, &new);
            }
            RibEvent::PeerDown { address, reason } => {
                let Some(peer) = self.peers.get_mut(&address) else { return };
                peer.session = None;
                let ending = match reason {
                    DownReason::TcpFailure => Ending::TcpFailure,
                    DownReason::Restarted => Ending::Restarted,
                    DownReason::HoldTimerExpired => Ending::HoldTimerExpired,
                    DownReason::NotificationSent { code, subcode }
                    | DownReason::NotificationReceived { code, subcode } => {
                        Ending::Notification { hard_reset: is_hard_reset(code, subcode) }
                    }
                    DownReason::AdministrativeStop { code: Some(code), subcode: Some(subcode) } => {
                        Ending::Notification { hard_reset: is_hard_reset(code, subcode) }
                    }
                    // Closed by us without a NOTIFICATION: as a TCP loss for the neighbor.
                    DownReason::AdministrativeStop { .. } => Ending::TcpFailure,
                };
                let (n_bit, families) =
                    peer.last.as_ref().map_or((false, Vec::new()), |n| (n.notification_bit(), n.families.clone()));
                let remote = peer.last.as_ref().and_then(|n| n.remote_graceful_restart().cloned());
                let long_lived = peer.last.as_ref().map(|n| n.long_lived()).unwrap_or_default();
                let before = self.rib.received(peer.id);
                let now = Instant::now().into_std();
                let actions = peer.helper.session_down(ending, n_bit, remote.as_ref(), &long_lived, &families, now);
                info!(neighbor = %address, routes = before, ?reason, "neighbor down");
                self.graceful_restart(address, actions);
                self.rib.attrs.purge();
                self.deferral_event(|d| d.peer_down(address));
            }
            RibEvent::PeerRemoved { address } => {
                self.chains.remove(&address);
                self.deferral_event(|d| d.peer_down(address));
                if let Some(peer) = self.peers.remove(&address) {
                    self.rib.remove_peer(peer.id);
                    self.timers.retain(|(a, _), _| *a != address);
                    self.rib.attrs.purge();
                }
            }
            RibEvent::Update { address, update } => self.apply_update(address, update),
            RibEvent::RouteRefresh { address, family } => {
                if let Some(s) = self.peers.get_mut(&address).and_then(|p| p.session.as_mut()) {
                    s.adj_rib_out.route_refresh(family, &self.rib);
                }
            }
            RibEvent::SetNetworks(networks) => self.set_networks(networks),
            RibEvent::NextHop { address, metric } => self.rib.set_next_hop(address, metric),
            RibEvent::Restart { reply } => {
                let view = match &self.deferral {
                    Some(d) => RestartView {
                        deferring: true,
                        deferral_seconds_left: Some(d.until.saturating_duration_since(Instant::now()).as_secs()),
                        awaited_neighbors: d.state.awaited().keys().copied().collect(),
                    },
                    None => RestartView::default(),
                };
                let _ = reply.send(view);
            }
            RibEvent::Routes { filter, reply } => {
                let _ = reply.send(self.routes(&filter));
            }
            RibEvent::Counts { reply } => {
                let counts = self
                    .peers
                    .iter()
                    .map(|(a, p)| {
                        // One walk per neighbor for its stale paths (the API, not the hot path).
                        let stale = self.rib.stale_counts(p.id);
                        let now = Instant::now();
                        (
                            *a,
                            PeerCounts {
                                received_prefixes: self.rib.received(p.id),
                                advertised_prefixes: p.session.as_ref().map_or(0, |s| s.adj_rib_out.len()),
                                stale_prefixes: stale.iter().map(|(_, n)| n.stale).sum(),
                                stale_by_family: stale.iter().map(|(f, n)| (f.to_string(), n.stale)).collect(),
                                llgr_stale_prefixes: stale.iter().map(|(_, n)| n.long_lived).sum(),
                                llgr_stale_by_family: stale
                                    .iter()
                                    .filter(|(_, n)| n.long_lived > 0)
                                    .map(|(f, n)| (f.to_string(), n.long_lived))
                                    .collect(),
                                long_lived_families: p.helper.long_lived_families().collect(),
                                end_of_rib_received: p.end_of_rib_received.clone(),
                                end_of_rib_sent: p.end_of_rib_sent.clone(),
                                updates_sent: p.updates_sent,
                                helper_active: p.helper.active(),
                                stale_families: p.helper.stale_families().collect(),
                                timers: self
                                    .timers
                                    .iter()
                                    .filter(|((x, _), _)| x == a)
                                    .map(|((_, t), at)| {
                                        let name = match t {
                                            helper::Timer::Restart => "restart".to_string(),
                                            helper::Timer::Stale => "stale_routes".to_string(),
                                            helper::Timer::LongLivedStale(f) => format!("long_lived_stale:{f}"),
                                        };
                                        (name, at.saturating_duration_since(now).as_secs())
                                    })
                                    .collect(),
                                deferral_awaits: self.deferral.as_ref().and_then(|d| d.state.awaited().get(a)).map(
                                    |w| match w {
                                        Awaited::Session => vec!["session".to_string()],
                                        Awaited::EndOfRib(f) => f.iter().map(|f| f.to_string()).collect(),
                                    },
                                ),
                            },
                        )
                    })
                    .collect();
                let mut counts: HashMap<IpAddr, PeerCounts> = counts;
                // Neighbors never up since the restart still show what the deferral awaits.
                for (a, w) in self.deferral.iter().flat_map(|d| d.state.awaited()) {
                    if *w == Awaited::Session {
                        counts.entry(*a).or_default().deferral_awaits = Some(vec!["session".to_string()]);
                    }
                }
                let _ = reply.send(counts);
            }
        }
    }

    /// keel's own routes enter the RIB as paths of [`PeerId::LOCAL`].
    fn set_networks(&mut self, networks: Vec<Network>) {
        for old in std::mem::take(&mut self.networks) {
            if !networks.iter().any(|n| n.prefix == old.prefix) {
                self.rib.withdraw(PeerId::LOCAL, family_of(&old.prefix), old.prefix, 0);
            }
        }
        for n in &networks {
            let attributes = PathAttributes {
                origin: Some(Origin::Igp),
                as_path: Some(AsPath::default()),
                communities: n.communities.clone(),
                ..Default::default()
            };
            // "self" is resolved per neighbor at export; 0.0.0.0 marks it here.
            let next_hop = n.next_hop.map_or(NextHop::V4(Ipv4Addr::UNSPECIFIED), NextHop::from);
            self.rib.announce_set(PeerId::LOCAL, family_of(&n.prefix), n.prefix, 0, AttrSet { attributes, next_hop });
        }
        self.networks = networks;
    }

    fn apply_update(&mut self, address: IpAddr, mut update: Box<Update>) {
        let Some(peer) = self.peers.get_mut(&address) else { return };
        let id = peer.id;
        if let Some(family) = update.as_end_of_rib() {
            debug!(neighbor = %address, %family, "End-of-RIB received");
            peer.end_of_rib_received.insert(family);
            let actions = peer.helper.end_of_rib(family);
            self.graceful_restart(address, actions);
            self.deferral_event(|d| d.end_of_rib(address, family));
            return;
        }
        let Some(info) = self.rib.peer(id) else { return };
        // What the codec could not judge without knowing the neighbor (RFC 5065 §5, RFC 4271
        // §6.3, RFC 7606 §7.2, §7.5, §7.9, §7.10); its findings join the codec's errors.
        check_update(&mut update, info);
        let local_address = info.local_address;
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
            let set = match (withdraw_all, next_hop) {
                (false, Some(nh)) if own_next_hop.is_none() => {
                    let attributes = if i + 1 == count {
                        common.take().unwrap_or_default()
                    } else {
                        common.clone().unwrap_or_default()
                    };
                    self.resolve(nh.addr());
                    Some(self.rib.attrs.intern(AttrSet { attributes, next_hop: nh }))
                }
                _ => None,
            };
            // Import policy results shared by the prefixes of the group (see keel_rib::policy).
            let mut memo = FxHashMap::default();
            for n in &nlri {
                let path_id = n.path_id.unwrap_or(0);
                match (&set, &import) {
                    // "none": nothing is kept (a policy change asks for a route refresh).
                    (Some(_), Some(chain)) if chain.is_reject_all() => self.rib.withdraw(id, family, n.prefix, path_id),
                    (Some(set), Some(chain)) => {
                        let rpki = validator.as_ref().and_then(|v| v.state(&n.prefix, set.attributes.as_path.as_ref()));
                        let ctx = Context { family, prefix: &n.prefix, rpki, local_asn: self.local_asn, local_address };
                        let accepted = import_route(&mut self.rib, chain, &ctx, set, &mut memo);
                        self.rib.announce_filtered(id, family, n.prefix, path_id, set.clone(), accepted);
                    }
                    (Some(set), None) => self.rib.announce(id, family, n.prefix, path_id, set.clone()),
                    (None, _) => self.rib.withdraw(id, family, n.prefix, path_id),
                }
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

    /// Hands this round's Loc-RIB changes to the FIB and to every neighbor, then writes what
    /// each neighbor's queue takes.
    async fn propagate(&mut self) {
        if self.deferral.is_some() {
            return;
        }
        let changed = self.rib.take_changed();
        let touched = self.rib.take_touched();
        let deferral_ended = std::mem::take(&mut self.deferral_ended);
        if deferral_ended {
            // Deferral just ended: every destination was learnt during it. One pass over the
            // tables in their order, rather than a lookup per changed prefix (1.28M random
            // accesses cost over a second).
            self.tell_fib_all().await;
        } else if !changed.is_empty() {
            self.tell_fib(&changed).await;
        }
        if !touched.is_empty() {
            for (p, s) in self.peers.values_mut().filter_map(|p| p.session.as_mut().map(|s| (p.id, s))) {
                if self.rib.peer(p).is_some_and(|i| i.route_server_client) {
                    s.adj_rib_out.consider(touched.iter().map(|c| (c.family, c.prefix)));
                }
            }
        }
        // Inherited kernel routes go only after the FIB has this round's table, on the same
        // queue: nothing still chosen is ever deleted, not even for a moment.
        if deferral_ended || std::mem::take(&mut self.sweep_due) {
            if let Some(fib) = &self.fib {
                let _ = fib.send(FibCommand::SweepInherited).await;
            }
        }
        // After the deferral nothing was advertised yet: each neighbor's first advertisement
        // is the whole table, ordered in one pass instead of a lookup per changed prefix.
        let initial = if deferral_ended { adj_rib_out::initial_order(&self.rib) } else { Vec::new() };
        if !changed.is_empty() || deferral_ended {
            for p in self.peers.values_mut() {
                if let Some(s) = p.session.as_mut() {
                    let rs_client = self.rib.peer(p.id).is_some_and(|i| i.route_server_client);
                    if deferral_ended && s.adj_rib_out.is_empty() && !rs_client {
                        s.adj_rib_out.advertise_in_order(&initial);
                        continue;
                    }
                    s.adj_rib_out.consider(changed.iter().map(|c| (c.family, c.prefix)));
                }
            }
        }
        let addresses: Vec<IpAddr> = self.peers.keys().copied().collect();
        for a in addresses {
            self.flush(a);
        }
    }

    async fn tell_fib(&mut self, changed: &[Changed]) {
        let Some(fib) = &self.fib else { return };
        let updates: Vec<FibUpdate> = changed
            .iter()
            .map(|c| FibUpdate { prefix: c.prefix, next_hops: fib_next_hops(self.rib.dest(c.family, &c.prefix)) })
            .collect();
        let _ = fib.send(FibCommand::Routes(updates)).await;
    }

    /// Every destination's kernel route, for the FIB (which touches only what differs).
    async fn tell_fib_all(&mut self) {
        let Some(fib) = &self.fib else { return };
        let updates: Vec<FibUpdate> =
            self.rib.iter(None).map(|(_, p, d)| FibUpdate { prefix: *p, next_hops: fib_next_hops(Some(d)) }).collect();
        let _ = fib.send(FibCommand::Routes(updates)).await;
    }

    /// Writes what one neighbor is owed as far as its queue allows: the Adj-RIB-Out packs,
    /// this task only hands the bytes to the neighbor's writer.
    fn flush(&mut self, address: IpAddr) {
        let RibTask { peers, rib, chains, local_asn, rpki, .. } = self;
        let Some(peer) = peers.get_mut(&address) else { return };
        let Peer { id, session, end_of_rib_sent, updates_sent, .. } = peer;
        let Some(s) = session.as_mut() else { return };
        let chain = chains.get(&address).map(|c| c.export.clone());
        // The VRPs are looked at only by a chain with an `rpki` match.
        let validator = chain.as_ref().filter(|c| c.uses_rpki()).map(|_| rpki.validator());
        let policy = ExportPolicy {
            chain: chain.as_deref(),
            vrps: validator.as_ref().and_then(|v| v.table()).map(|t| &**t),
            local_asn: *local_asn,
        };
        while s.adj_rib_out.has_work() {
            let Ok(permit) = s.writer.try_reserve() else { return };
            let packed = s.adj_rib_out.pack(rib, *id, &policy, WRITE_BUDGET);
            log_pack_errors(address, &packed.errors);
            if packed.bytes.is_empty() {
                return;
            }
            end_of_rib_sent.extend(packed.end_of_rib);
            *updates_sent += packed.updates as u64;
            permit.send(Out::Bytes(packed.bytes));
        }
    }

    /// A neighbor's policy changed: inbound, its routes are re-evaluated from the stored
    /// Adj-RIB-In (or asked for again with ROUTE-REFRESH when nothing was stored, after
    /// "none"); outbound, everything is considered again for it. No session reset.
    fn policy_changed(&mut self, address: IpAddr, old: &Chains, new: &Chains) {
        let Some(peer) = self.peers.get(&address) else { return };
        let id = peer.id;
        if let Some(mut info) = self.rib.peer(id).cloned() {
            info.import = !new.import.is_reject_all();
            info.export = !new.export.is_reject_all();
            self.rib.add_peer(id, info);
        }
        if old.import_fingerprint != new.import_fingerprint {
            info!(neighbor = %address, "import policy changed: routes re-evaluated");
            self.reimport(address, &new.import);
            if old.import.is_reject_all() && !new.import.is_reject_all() {
                self.request_refresh(address);
            }
        }
        if old.export_fingerprint != new.export_fingerprint {
            info!(neighbor = %address, "export policy changed: Adj-RIB-Out recomputed");
            self.reexport(address);
        }
    }

    /// Runs `chain` again over what `address` sent, as stored before import policy.
    fn reimport(&mut self, address: IpAddr, chain: &Chain) {
        let Some(id) = self.peers.get(&address).map(|p| p.id) else { return };
        let routes = self.rib.received_routes(id);
        let local_address = self.rib.peer(id).map_or(address, |p| p.local_address);
        let validator = chain.uses_rpki().then(|| self.rpki.validator());
        for r in routes {
            if chain.is_reject_all() {
                self.rib.withdraw(id, r.family, r.prefix, r.path_id);
                continue;
            }
            let rpki = validator.as_ref().and_then(|v| v.state(&r.prefix, r.attrs.attributes.as_path.as_ref()));
            let ctx = Context { family: r.family, prefix: &r.prefix, rpki, local_asn: self.local_asn, local_address };
            let accepted = import_route(&mut self.rib, chain, &ctx, &r.attrs, &mut FxHashMap::default());
            self.rib.put_filtered(id, r, accepted);
        }
        self.rib.attrs.purge();
    }

    /// Considers every destination again for `address`, as after an export policy change.
    fn reexport(&mut self, address: IpAddr) {
        if let Some(s) = self.peers.get_mut(&address).and_then(|p| p.session.as_mut()) {
            s.adj_rib_out.export_policy_changed(&self.rib);
        }
    }

    /// The VRP set changed (RFC 6811): routes are validated again where a policy looks at the
    /// state. Nothing is flushed; routes no policy filters on keep flowing.
    fn vrps_changed(&mut self) {
        let chains: Vec<(IpAddr, Chains)> = self.chains.iter().map(|(a, c)| (*a, c.clone())).collect();
        for (address, c) in chains {
            if c.import.uses_rpki() {
                info!(neighbor = %address, "RPKI VRPs changed: routes re-evaluated");
                self.reimport(address, &c.import);
            }
            if c.export.uses_rpki() {
                self.reexport(address);
            }
        }
    }

    /// Asks the neighbor to send its routes again (RFC 2918), for every negotiated family.
    fn request_refresh(&mut self, address: IpAddr) {
        let Some(s) = self.peers.get(&address).and_then(|p| p.session.as_ref()) else { return };
        if !s.negotiated.route_refresh {
            warn!(neighbor = %address, "import policy no longer \"none\" but the neighbor has no route refresh: routes come back with the next session");
            return;
        }
        let codec = s.negotiated.codec_send();
        let mut bytes = Vec::new();
        for f in &s.negotiated.families {
            let m = Message::RouteRefresh(RouteRefresh { family: *f, subtype: RefreshSubtype::Request });
            bytes.extend(encoded(address, "ROUTE-REFRESH", m.encode(&codec)));
        }
        info!(neighbor = %address, "route refresh requested after an import policy change");
        let _ = s.writer.try_send(Out::Bytes(bytes));
    }

    /// Carries out what the graceful-restart helper decided for a neighbor.
    fn graceful_restart(&mut self, address: IpAddr, actions: Vec<helper::Action>) {
        let Some(id) = self.peers.get(&address).map(|p| p.id) else { return };
        for a in actions {
            match a {
                helper::Action::BumpGeneration => {
                    self.rib.bump_generation(id);
                }
                helper::Action::EnterLongLived(f) => {
                    let deleted = self.rib.enter_long_lived(id, f);
                    info!(neighbor = %address, family = %f, no_llgr_deleted = deleted, "routes are long-lived stale");
                }
                helper::Action::Flush(f) => {
                    let n = self.rib.flush_peer(id, f);
                    if n > 0 {
                        info!(neighbor = %address, family = ?f, routes = n, "routes withdrawn");
                    }
                }
                helper::Action::SweepStale(f) => {
                    let n = self.rib.sweep_stale(id, f);
                    info!(neighbor = %address, family = ?f, routes = n, "stale routes swept");
                }
                helper::Action::StartTimer(t, d) => {
                    self.timers.insert((address, t), Instant::now() + d);
                }
                helper::Action::StopTimer(t) => {
                    self.timers.remove(&(address, t));
                }
                helper::Action::Log(m) => info!(neighbor = %address, "graceful restart: {m}"),
            }
        }
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        if self.inherited_until.is_some_and(|t| t <= now) {
            self.inherited_until = None;
            // While deferring, the deferral's end sweeps (after the table it decided).
            self.sweep_due = self.deferral.is_none();
        }
        if self.deferral.as_ref().is_some_and(|d| d.until <= now) {
            self.deferral_event(|d| d.timer_expired());
        }
        let due: Vec<(IpAddr, helper::Timer)> =
            self.timers.iter().filter(|(_, &t)| t <= now).map(|(k, _)| *k).collect();
        for (address, t) in due {
            self.timers.remove(&(address, t));
            if let Some(peer) = self.peers.get_mut(&address) {
                let actions = peer.helper.timer_expired(t);
                self.graceful_restart(address, actions);
            }
        }
    }

    /// One route as the API shows it.
    fn view(family: Family, prefix: &Prefix, neighbor: Option<IpAddr>, set: &AttrSet, flags: ViewFlags) -> RouteView {
        let a = &set.attributes;
        let local = neighbor.is_none();
        RouteView {
            prefix: prefix.to_string(),
            family: family.to_string(),
            path_id: flags.path_id,
            neighbor,
            next_hop: if local && set.next_hop.addr().is_unspecified() {
                "self".to_string()
            } else {
                set.next_hop.to_string()
            },
            as_path: a.as_path.as_ref().map(|p| p.asns().collect()).unwrap_or_default(),
            as_path_segments: a.as_path.as_ref().map(SegmentView::of).unwrap_or_default(),
            origin: a.origin.map(Origin::name),
            communities: a.communities.iter().map(|c| c.to_string()).collect(),
            large_communities: a.large_communities.iter().map(|c| c.to_string()).collect(),
            local_pref: a.local_pref,
            med: a.med,
            best: flags.best,
            stale: flags.stale,
            llgr_stale: flags.llgr_stale || a.communities.contains(&Community::LLGR_STALE),
            rpki: None,
        }
    }

    /// What `to` was sent (Adj-RIB-Out, RFC 4271 §3.2): the exported attributes.
    fn advertised(&self, to: IpAddr, f: &RouteFilter) -> Vec<RouteView> {
        let Some(peer) = self.peers.get(&to) else { return Vec::new() };
        let Some(s) = peer.session.as_ref() else { return Vec::new() };
        let rpki = self.rpki.validator();
        let policy = ExportPolicy {
            chain: self.chains.get(&to).map(|c| &*c.export),
            vrps: rpki.table().map(|t| &**t),
            local_asn: self.local_asn,
        };
        let mut v: Vec<RouteView> = s
            .adj_rib_out
            .sent()
            .filter(|((family, prefix), _)| {
                f.family.is_none_or(|x| x == *family) && f.prefix.is_none_or(|p| p == *prefix)
            })
            .filter_map(|((family, prefix), sent)| {
                let out = adj_rib_out::exported(&self.rib, peer.id, &policy, *family, prefix, sent)?;
                let mut view =
                    Self::view(*family, prefix, Some(to), &out, ViewFlags { best: true, ..Default::default() });
                view.rpki = rpki.state(prefix, sent.attrs.attributes.as_path.as_ref()).map(RpkiState::as_str);
                Some(view)
            })
            .collect();
        v.sort_by(|a, b| (&a.family, &a.prefix).cmp(&(&b.family, &b.prefix)));
        v
    }

    fn routes(&self, f: &RouteFilter) -> Vec<RouteView> {
        if let Some(to) = f.advertised {
            return self.advertised(to, f);
        }
        let by_id: HashMap<PeerId, IpAddr> = self.peers.iter().map(|(a, p)| (p.id, *a)).collect();
        let rpki = self.rpki.validator();
        let mut v = Vec::new();
        for (family, prefix, dest) in self.rib.iter(f.family) {
            if f.prefix.is_some_and(|p| p != *prefix) {
                continue;
            }
            for (i, path) in dest.paths.iter().enumerate() {
                let neighbor = by_id.get(&path.peer).copied();
                let stale = self.rib.is_stale(path);
                if f.neighbor.is_some_and(|n| Some(n) != neighbor) || (f.stale && !stale) {
                    continue;
                }
                let local = path.peer == PeerId::LOCAL;
                let flags = ViewFlags {
                    path_id: if local { None } else { self.path_id_view(neighbor, family, path.path_id) },
                    best: dest.best_index() == Some(i),
                    stale,
                    llgr_stale: self.rib.is_llgr_stale(family, path),
                };
                let mut view = Self::view(family, prefix, neighbor, &path.attrs, flags);
                view.rpki = rpki.state(prefix, path.attrs.attributes.as_path.as_ref()).map(RpkiState::as_str);
                v.push(view);
            }
        }
        v.sort_by(|a, b| (&a.family, &a.prefix, a.neighbor).cmp(&(&b.family, &b.prefix, b.neighbor)));
        v
    }

    /// The path id as received: shown only for neighbors that send Add-Path ids.
    fn path_id_view(&self, neighbor: Option<IpAddr>, family: Family, id: u32) -> Option<u32> {
        let s = self.peers.get(&neighbor?)?.session.as_ref()?;
        s.negotiated.add_path_receive.contains(&family).then_some(id)
    }
}

/// Per-path facts a route view shows beside the attributes.
#[derive(Default)]
struct ViewFlags {
    path_id: Option<u32>,
    best: bool,
    stale: bool,
    llgr_stale: bool,
}

impl PeerPolicy {
    fn default_ibgp() -> Self {
        PeerPolicy {
            route_reflector_client: false,
            route_server_client: false,
            long_lived_to_internal: false,
            enforce_first_as: false,
        }
    }
}

/// Cease/Hard Reset (RFC 8538 §3).
fn is_hard_reset(code: u8, subcode: u8) -> bool {
    code == keel_wire::error::code::CEASE && subcode == keel_wire::error::cease::HARD_RESET
}

pub fn family_of(p: &Prefix) -> Family {
    if p.is_ipv4() {
        Family::IPV4_UNICAST
    } else {
        Family::IPV6_UNICAST
    }
}

#[cfg(test)]
mod tests;

/// Logs what the Adj-RIB-Out could not encode while packing.
fn log_pack_errors(neighbor: IpAddr, errors: &[PackError]) {
    for e in errors {
        match e {
            PackError::RoutesNotSent { routes, error, .. } => {
                warn!(%neighbor, %error, routes, "routes not sent");
            }
            PackError::Message { message, error } => {
                warn!(%neighbor, %error, message, "cannot encode a message: not sent");
            }
        }
    }
}

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
