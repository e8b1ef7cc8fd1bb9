//! The RIB: every neighbor's paths per destination (Adj-RIB-In, RFC 4271 §3.2), the best
//! path per destination (Loc-RIB) and the destinations whose best path changed, waiting to be
//! advertised and installed.
//!
//! Paths are stored per destination, so a prefix learned from ten neighbors is stored once
//! with ten small path records pointing at interned attribute sets. Each path carries the
//! session [`Generation`] that last refreshed it: a graceful restart makes every path of a
//! neighbor stale by bumping the neighbor's generation (RFC 4724 §4.2), without a walk; a
//! sweep later removes the paths still older than the current generation. Long-lived
//! graceful restart (RFC 9494 §4.2) marks a neighbor's stale paths of a family LLGR-stale the
//! same way: a per-family generation boundary, below which paths are LLGR-stale.

use crate::attr_set::{AttrSet, AttrTable};
use crate::decision::{self, Candidate, Options, Source};
use keel_wire::{Community, Family, NextHop, Prefix};
use rustc_hash::FxHashMap as HashMap;
use smallvec::SmallVec;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// A neighbor's session generation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Generation(pub u32);

/// Index of a neighbor in the RIB; [`PeerId::LOCAL`] is keel itself (`[[network]]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u32);

impl PeerId {
    pub const LOCAL: PeerId = PeerId(0);
}

/// What the RIB knows about a neighbor (from its configuration and OPEN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    pub address: IpAddr,
    pub asn: u32,
    pub router_id: Ipv4Addr,
    pub local_asn: u32,
    pub local_router_id: Ipv4Addr,
    /// Local address of the session: keel's next hop towards this neighbor.
    pub local_address: IpAddr,
    /// Accept its routes (import "all") or none.
    pub import: bool,
    /// Send it routes (export "all") or none.
    pub export: bool,
    /// RFC 4456.
    pub route_reflector_client: bool,
    pub cluster_id: Ipv4Addr,
    /// RFC 7947.
    pub route_server_client: bool,
    /// Families for which the neighbor advertised LLGR (RFC 9494 §4.3: LLGR-stale routes go
    /// only to them).
    pub long_lived: Vec<Family>,
    /// RFC 9494 §4.6 partial deployment: an internal neighbor without LLGR still gets
    /// LLGR-stale routes, with NO_EXPORT and LOCAL_PREF 0.
    pub long_lived_to_internal: bool,
    /// RFC 4271 §6.3: an external neighbor's AS_PATH must start with its AS (off for a route
    /// server, which does not prepend its AS, RFC 7947 §2.2). Ignored for internal neighbors.
    pub enforce_first_as: bool,
    /// keel's own BGP Role on this session (RFC 9234 §4; `Customer`: keel is the neighbor's
    /// customer), `None` when not configured. Drives the OTC procedures ([`crate::otc`]).
    pub role: Option<keel_wire::capability::Role>,
}

impl PeerInfo {
    /// A neighbor that imports and exports everything, without a reflection or route-server
    /// role, whose first AS is checked when external; the cluster id is the local router id.
    pub fn new(
        address: IpAddr,
        asn: u32,
        router_id: Ipv4Addr,
        local_asn: u32,
        local_router_id: Ipv4Addr,
        local_address: IpAddr,
    ) -> Self {
        PeerInfo {
            address,
            asn,
            router_id,
            local_asn,
            local_router_id,
            local_address,
            import: true,
            export: true,
            route_reflector_client: false,
            cluster_id: local_router_id,
            route_server_client: false,
            long_lived: Vec::new(),
            long_lived_to_internal: false,
            enforce_first_as: true,
            role: None,
        }
    }

    pub fn ebgp(&self) -> bool {
        self.asn != self.local_asn
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub peer: PeerId,
    /// Add-Path identifier given by the neighbor (0 without Add-Path).
    pub path_id: u32,
    pub attrs: Arc<AttrSet>,
    pub generation: Generation,
}

#[derive(Debug, Clone)]
pub struct Dest {
    /// Inline for the common single-path destination: no allocation.
    pub paths: SmallVec<[Path; 1]>,
    /// Index into `paths` of the best path, [`NO_BEST`] when none is eligible.
    best: u16,
    /// Bit i set: `paths[i]` is an equal-cost path besides the best (multipath, i < 16).
    multipath: u16,
}

/// Identity of a Loc-RIB entry: best path and multipath next hops, to tell whether a
/// decision changed anything.
type Selection = (Option<(PeerId, u32, *const AttrSet)>, Vec<NextHop>);

const NO_BEST: u16 = u16::MAX;

impl Default for Dest {
    fn default() -> Self {
        Dest { paths: SmallVec::new(), best: NO_BEST, multipath: 0 }
    }
}

impl Dest {
    pub fn best_index(&self) -> Option<usize> {
        (self.best != NO_BEST).then_some(self.best as usize)
    }

    pub fn best_path(&self) -> Option<&Path> {
        self.best_index().and_then(|i| self.paths.get(i))
    }

    /// The best path, then the other equal-cost paths.
    pub fn multipath(&self) -> impl Iterator<Item = &Path> {
        let extra = self.paths.iter().enumerate().filter(|(i, _)| *i < 16 && self.multipath & (1 << i) != 0);
        self.best_path().into_iter().chain(extra.map(|(_, p)| p))
    }

    fn selection(&self) -> Selection {
        (
            self.best_path().map(|p| (p.peer, p.path_id, Arc::as_ptr(&p.attrs))),
            self.multipath().skip(1).map(|p| p.attrs.next_hop).collect(),
        )
    }
}

/// Stale paths of a neighbor in one family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StaleCount {
    /// Kept from a previous session (GR or LLGR).
    pub stale: usize,
    /// LLGR-stale: marked by keel or received with LLGR_STALE.
    pub long_lived: usize,
}

/// A destination whose best path changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Changed {
    pub family: Family,
    pub prefix: Prefix,
}

/// A neighbor's paths in one family by generation, each with how many carry LLGR_STALE: the
/// stale and LLGR-stale counts without a walk over the table. A handful of generations live
/// at once (the session's, and those kept stale from earlier ones).
#[derive(Debug, Clone, Default)]
struct PathCounts(SmallVec<[(Generation, usize, usize); 2]>);

impl PathCounts {
    fn add(&mut self, g: Generation, llgr_stale: bool, n: usize) {
        match self.0.iter_mut().find(|(x, _, _)| *x == g) {
            Some(c) => {
                c.1 += n;
                c.2 += if llgr_stale { n } else { 0 };
            }
            None => self.0.push((g, n, if llgr_stale { n } else { 0 })),
        }
    }

    fn remove(&mut self, g: Generation, llgr_stale: bool, n: usize) {
        if let Some(c) = self.0.iter_mut().find(|(x, _, _)| *x == g) {
            c.1 = c.1.saturating_sub(n);
            c.2 = c.2.saturating_sub(if llgr_stale { n } else { 0 });
        }
        self.0.retain(|c| c.1 > 0);
    }

    fn total(&self) -> usize {
        self.0.iter().map(|c| c.1).sum()
    }

    /// Paths older than `current` are stale (RFC 4724 §4.2); those older than `boundary`, or
    /// received with LLGR_STALE, LLGR-stale (RFC 9494 §4.2, §4.3).
    fn stale(&self, current: Generation, boundary: Option<Generation>) -> StaleCount {
        let mut n = StaleCount::default();
        for &(g, paths, llgr) in &self.0 {
            n.stale += if g < current { paths } else { 0 };
            n.long_lived += if boundary.is_some_and(|b| g < b) { paths } else { llgr };
        }
        n
    }
}

fn carries_llgr_stale(a: &AttrSet) -> bool {
    a.attributes.communities.contains(&Community::LLGR_STALE)
}

struct Peer {
    info: PeerInfo,
    generation: Generation,
    /// Per family: paths older than this generation are LLGR-stale (RFC 9494 §4.2).
    long_lived: SmallVec<[(Family, Generation); 2]>,
    /// Paths per family, kept as counts for the API.
    received: HashMap<Family, PathCounts>,
    /// Adj-RIB-In before import policy, for routes the policy changed or rejected (the
    /// others are stored as received): what a policy change re-evaluates.
    pre_policy: HashMap<(Family, Prefix, u32), PrePolicy>,
    /// Per family, the entries of `pre_policy` with no path in the table (rejected by import
    /// policy): with the paths counted in `received`, the whole Adj-RIB-In of the family, for
    /// prefix limits ([`Rib::adj_rib_in_count`]) without a walk.
    rejected: HashMap<Family, usize>,
}

/// A route kept as received because import policy changed or rejected it.
#[derive(Debug, Clone)]
struct PrePolicy {
    attrs: Arc<AttrSet>,
    generation: Generation,
    /// No path of it is in the table: import policy (or a loop) rejected it.
    rejected: bool,
}

impl Peer {
    /// Keeps `rejected` in step with an entry of `pre_policy` that went away.
    fn forget_pre_policy(&mut self, family: Family, gone: Option<PrePolicy>) {
        if gone.is_some_and(|g| g.rejected) {
            if let Some(n) = self.rejected.get_mut(&family) {
                *n = n.saturating_sub(1);
            }
        }
    }

    /// Drops the entries of `pre_policy` that `keep` refuses, keeping `rejected` in step.
    fn retain_pre_policy(&mut self, mut keep: impl FnMut(&(Family, Prefix, u32), &PrePolicy) -> bool) {
        let rejected = &mut self.rejected;
        self.pre_policy.retain(|k, v| {
            let stays = keep(k, v);
            if !stays && v.rejected {
                if let Some(n) = rejected.get_mut(&k.0) {
                    *n = n.saturating_sub(1);
                }
            }
            stays
        });
    }
}

/// What [`Rib::adj_rib_in_count`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdjRibInCount {
    /// Every route kept as received, before import policy.
    Received,
    /// The routes import policy accepted.
    Accepted,
}

/// A route as received from a neighbor, before import policy.
#[derive(Debug, Clone)]
pub struct Received {
    pub family: Family,
    pub prefix: Prefix,
    pub path_id: u32,
    pub attrs: Arc<AttrSet>,
    pub generation: Generation,
}

pub struct Rib {
    /// One table per family; a handful of families, so a short list.
    tables: Vec<(Family, HashMap<Prefix, Dest>)>,
    peers: HashMap<PeerId, Peer>,
    pub attrs: AttrTable,
    pub options: Options,
    /// IGP metric to each next hop (§9.1.2.2 e); `None` = unresolvable. Next hops not listed
    /// count as resolvable with metric 0 (when no FIB tells otherwise).
    next_hops: HashMap<IpAddr, Option<u32>>,
    changed: Vec<Changed>,
    /// Also record every destination whose paths changed, best or not ([`Rib::take_touched`]):
    /// for route-server clients' own choices (RFC 7947 §2.3.2).
    pub track_paths: bool,
    touched: Vec<Changed>,
}

impl Default for Rib {
    fn default() -> Self {
        Rib::new(Options::default())
    }
}

/// RFC 4456 §8 and RFC 4271 §9.1.2: paths the RIB must not accept from `peer`.
fn loops(peer: &PeerInfo, a: &AttrSet) -> bool {
    let p = &a.attributes;
    p.as_path.as_ref().is_some_and(|path| path.contains(peer.local_asn))
        || p.originator_id == Some(peer.local_router_id)
        || p.cluster_list.contains(&peer.cluster_id)
}

impl Rib {
    fn table(&self, family: Family) -> Option<&HashMap<Prefix, Dest>> {
        self.tables.iter().find(|(f, _)| *f == family).map(|(_, t)| t)
    }

    fn table_mut(&mut self, family: Family) -> Option<&mut HashMap<Prefix, Dest>> {
        self.tables.iter_mut().find(|(f, _)| *f == family).map(|(_, t)| t)
    }

    /// `family`'s table in `tables`, created when missing (borrows the tables alone).
    fn table_in(tables: &mut Vec<(Family, HashMap<Prefix, Dest>)>, family: Family) -> &mut HashMap<Prefix, Dest> {
        let i = match tables.iter().position(|(f, _)| *f == family) {
            Some(i) => i,
            None => {
                tables.push((family, HashMap::default()));
                tables.len() - 1
            }
        };
        &mut tables[i].1
    }

    pub fn new(options: Options) -> Rib {
        Rib {
            tables: Vec::new(),
            peers: HashMap::default(),
            attrs: AttrTable::default(),
            options,
            next_hops: HashMap::default(),
            changed: Vec::new(),
            track_paths: false,
            touched: Vec::new(),
        }
    }

    pub fn add_peer(&mut self, id: PeerId, info: PeerInfo) {
        let (generation, long_lived, received, pre_policy, rejected) = match self.peers.remove(&id) {
            Some(p) => (p.generation, p.long_lived, p.received, p.pre_policy, p.rejected),
            None => Default::default(),
        };
        self.peers.insert(id, Peer { info, generation, long_lived, received, pre_policy, rejected });
    }

    pub fn peer(&self, id: PeerId) -> Option<&PeerInfo> {
        self.peers.get(&id).map(|p| &p.info)
    }

    pub fn peers(&self) -> impl Iterator<Item = (PeerId, &PeerInfo)> {
        self.peers.iter().map(|(id, p)| (*id, &p.info))
    }

    pub fn generation(&self, peer: PeerId) -> Generation {
        self.peers.get(&peer).map_or(Generation::default(), |p| p.generation)
    }

    /// Starts a new generation for `peer`: all its paths are stale from now on (RFC 4724
    /// §4.2), in O(1).
    pub fn bump_generation(&mut self, peer: PeerId) -> Generation {
        let p = self.peers.get_mut(&peer);
        p.map_or(Generation::default(), |p| {
            p.generation = Generation(p.generation.0.wrapping_add(1));
            p.generation
        })
    }

    pub fn is_stale(&self, path: &Path) -> bool {
        path.generation < self.generation(path.peer)
    }

    /// An LLGR-stale path: marked so by keel (RFC 9494 §4.2) or received with LLGR_STALE
    /// (§4.3); it loses to every path that is not.
    pub fn is_llgr_stale(&self, family: Family, path: &Path) -> bool {
        carries_llgr_stale(&path.attrs) || self.marked_long_lived(family, path)
    }

    fn marked_long_lived(&self, family: Family, path: &Path) -> bool {
        self.peers
            .get(&path.peer)
            .is_some_and(|p| p.long_lived.iter().any(|(f, boundary)| *f == family && path.generation < *boundary))
    }

    /// RFC 9494 §4.2: `peer`'s stale paths of `family` become LLGR-stale, O(1) for the
    /// marking. One walk over the family's table then deletes those carrying NO_LLGR and
    /// re-runs the decision where they take part, so that the change reaches the FIB and the
    /// other neighbors (LLGR_STALE added, or withdrawn). Returns how many paths were deleted.
    pub fn enter_long_lived(&mut self, peer: PeerId, family: Family) -> usize {
        let current = self.generation(peer);
        let Some(p) = self.peers.get_mut(&peer) else { return 0 };
        match p.long_lived.iter_mut().find(|(f, _)| *f == family) {
            Some(x) => x.1 = current,
            None => p.long_lived.push((family, current)),
        }
        // Rejected or rewritten routes kept before policy: NO_LLGR ones go too.
        p.retain_pre_policy(|(f, _, _), e| {
            *f != family || e.generation >= current || !e.attrs.attributes.communities.contains(&Community::NO_LLGR)
        });
        let mut touched = Vec::new();
        let mut removed = 0;
        let mut gone: HashMap<(Generation, bool), usize> = HashMap::default();
        if let Some(table) = self.table_mut(family) {
            for (prefix, dest) in table.iter_mut() {
                let stale = |p: &Path| p.peer == peer && p.generation < current;
                if !dest.paths.iter().any(stale) {
                    continue;
                }
                let selection = dest.selection();
                // Selected stale paths are advertised differently from now on, even when the
                // selection stays.
                let selected = dest.multipath().any(&stale);
                let before = dest.paths.len();
                dest.paths.retain(|p| {
                    let keep = !stale(p) || !p.attrs.attributes.communities.contains(&Community::NO_LLGR);
                    if !keep {
                        *gone.entry((p.generation, carries_llgr_stale(&p.attrs))).or_default() += 1;
                    }
                    keep
                });
                removed += before - dest.paths.len();
                // A lone path that stays needs no new decision: LLGR-stale paths stay eligible.
                let decide = dest.paths.len() != 1 || before != 1;
                touched.push((*prefix, selection, selected, decide));
            }
        }
        if let Some(c) = self.peers.get_mut(&peer).and_then(|p| p.received.get_mut(&family)) {
            for ((g, llgr), n) in gone {
                c.remove(g, llgr, n);
            }
        }
        for (prefix, selection, selected, decide) in touched {
            if decide {
                self.decide(family, prefix, selection);
            }
            if selected {
                self.changed.push(Changed { family, prefix });
            }
        }
        removed
    }

    /// Whether `peer`'s path `path_id` to `prefix` is in the table (accepted).
    fn holds_path(&self, peer: PeerId, family: Family, prefix: &Prefix, path_id: u32) -> bool {
        self.dest(family, prefix).is_some_and(|d| d.paths.iter().any(|x| x.peer == peer && x.path_id == path_id))
    }

    /// Whether `peer`'s route (`prefix`, `path_id`) is in its Adj-RIB-In, accepted by import
    /// policy or not (a route "none" refused is not kept): a new announcement of it replaces
    /// the entry (RFC 4271 §3.1), a stale one too (RFC 4724 §4.2), and leaves the count as it
    /// is. O(1).
    pub fn in_adj_rib_in(&self, peer: PeerId, family: Family, prefix: &Prefix, path_id: u32) -> bool {
        self.holds_path(peer, family, prefix, path_id)
            || self.peers.get(&peer).is_some_and(|p| p.pre_policy.contains_key(&(family, *prefix, path_id)))
    }

    /// `peer`'s routes of `family`, stale ones included until the sweep that removes them
    /// (RFC 4724 §4.2): those import policy accepted ([`AdjRibInCount::Accepted`]), or every
    /// one kept as received, rejected ones included ([`AdjRibInCount::Received`]). One entry
    /// per prefix and path ID (Add-Path, RFC 7911), however often it was re-sent. From counts
    /// kept as routes come and go: O(1), for the prefix limit checked on every UPDATE.
    pub fn adj_rib_in_count(&self, peer: PeerId, family: Family, count: AdjRibInCount) -> usize {
        let Some(p) = self.peers.get(&peer) else { return 0 };
        let accepted = p.received.get(&family).map_or(0, PathCounts::total);
        match count {
            AdjRibInCount::Accepted => accepted,
            AdjRibInCount::Received => accepted + p.rejected.get(&family).copied().unwrap_or(0),
        }
    }

    pub fn received(&self, peer: PeerId) -> usize {
        self.peers.get(&peer).map_or(0, |p| p.received.values().map(PathCounts::total).sum())
    }

    /// Sets what the FIB knows about a next hop; re-decides every destination when it changed.
    pub fn set_next_hop(&mut self, addr: IpAddr, metric: Option<u32>) {
        // A next hop not listed counted as resolvable with metric 0 (see `next_hops`).
        let old = self.next_hops.insert(addr, metric).unwrap_or(Some(0));
        if old == metric {
            return;
        }
        // Between two metrics only a choice among several paths can change; reachability
        // changes every destination using the next hop.
        let min_paths = if old.is_some() && metric.is_some() { 2 } else { 1 };
        let keys: Vec<(Family, Prefix)> = self
            .tables
            .iter()
            .flat_map(|(f, t)| {
                t.iter()
                    .filter(|(_, d)| {
                        d.paths.len() >= min_paths && d.paths.iter().any(|p| p.attrs.next_hop.addr() == addr)
                    })
                    .map(|(p, _)| (*f, *p))
            })
            .collect();
        for (f, p) in keys {
            let before = self.dest(f, &p).map(Dest::selection).unwrap_or_default();
            self.decide(f, p, before);
        }
    }

    /// Adds or replaces `peer`'s path to `prefix` (an implicit withdraw of the one before,
    /// RFC 4271 §3.1), unless import rules refuse it (then it is withdrawn).
    pub fn announce(&mut self, peer: PeerId, family: Family, prefix: Prefix, path_id: u32, attrs: Arc<AttrSet>) {
        let generation = self.generation(peer);
        // Stored as received: what an import policy made of an earlier announcement is gone.
        if let Some(p) = self.peers.get_mut(&peer).filter(|p| !p.pre_policy.is_empty()) {
            let gone = p.pre_policy.remove(&(family, prefix, path_id));
            p.forget_pre_policy(family, gone);
        }
        self.announce_at(peer, family, prefix, path_id, attrs, generation);
    }

    /// A route as received (`original`) and what import policy made of it (`accepted`,
    /// `None` when rejected): the result goes into the RIB, the original is kept when it
    /// differs, for a later re-evaluation ([`Rib::received_routes`]).
    pub fn announce_filtered(
        &mut self,
        peer: PeerId,
        family: Family,
        prefix: Prefix,
        path_id: u32,
        original: Arc<AttrSet>,
        accepted: Option<Arc<AttrSet>>,
    ) {
        let generation = self.generation(peer);
        self.put_filtered(peer, Received { family, prefix, path_id, attrs: original, generation }, accepted);
    }

    /// Like [`Rib::announce_filtered`] for a route re-evaluated after a policy change: it
    /// keeps its generation (a stale route stays stale).
    pub fn put_filtered(&mut self, peer: PeerId, r: Received, accepted: Option<Arc<AttrSet>>) {
        let Received { family, prefix, path_id, attrs: original, generation } = r;
        let unchanged = accepted.as_ref().is_some_and(|a| Arc::ptr_eq(a, &original));
        match accepted {
            Some(a) => self.announce_at(peer, family, prefix, path_id, a, generation),
            None => self.withdraw(peer, family, prefix, path_id),
        }
        // Whether the route is in the table now: a route policy accepted may still be refused
        // (a loop, RFC 4271 §9.1.2); kept before policy, it counts as rejected.
        let in_table = self.holds_path(peer, family, &prefix, path_id);
        if let Some(p) = self.peers.get_mut(&peer) {
            let key = (family, prefix, path_id);
            let gone = if unchanged {
                p.pre_policy.remove(&key)
            } else {
                let rejected = !in_table;
                if rejected {
                    *p.rejected.entry(family).or_default() += 1;
                }
                p.pre_policy.insert(key, PrePolicy { attrs: original, generation, rejected })
            };
            p.forget_pre_policy(family, gone);
        }
    }

    /// Every route `peer` sent that the RIB still holds, as received (before import policy),
    /// accepted or not.
    pub fn received_routes(&self, peer: PeerId) -> Vec<Received> {
        let Some(p) = self.peers.get(&peer) else { return Vec::new() };
        let mut out: Vec<Received> = p
            .pre_policy
            .iter()
            .map(|((family, prefix, path_id), e)| Received {
                family: *family,
                prefix: *prefix,
                path_id: *path_id,
                attrs: e.attrs.clone(),
                generation: e.generation,
            })
            .collect();
        for (family, table) in &self.tables {
            for (prefix, dest) in table {
                for x in dest.paths.iter().filter(|x| x.peer == peer) {
                    if !p.pre_policy.contains_key(&(*family, *prefix, x.path_id)) {
                        out.push(Received {
                            family: *family,
                            prefix: *prefix,
                            path_id: x.path_id,
                            attrs: x.attrs.clone(),
                            generation: x.generation,
                        });
                    }
                }
            }
        }
        out
    }

    fn announce_at(
        &mut self,
        peer: PeerId,
        family: Family,
        prefix: Prefix,
        path_id: u32,
        attrs: Arc<AttrSet>,
        generation: Generation,
    ) {
        let Some(p) = self.peers.get(&peer) else { return };
        if peer != PeerId::LOCAL && (!p.info.import || loops(&p.info, &attrs)) {
            return self.withdraw(peer, family, prefix, path_id);
        }
        let boundary = p.long_lived.iter().find(|(f, _)| *f == family).map(|(_, b)| *b);
        let dest = Self::table_in(&mut self.tables, family).entry(prefix).or_default();
        let before = dest.selection();
        let path = Path { peer, path_id, attrs, generation };
        match dest.paths.iter().position(|x| x.peer == peer && x.path_id == path_id) {
            Some(i) => {
                let old = &dest.paths[i];
                let same = Arc::ptr_eq(&old.attrs, &path.attrs);
                let was_long_lived = boundary.is_some_and(|b| old.generation < b);
                if let Some(c) = self.peers.get_mut(&peer).map(|p| p.received.entry(family).or_default()) {
                    c.remove(old.generation, carries_llgr_stale(&old.attrs), 1);
                    c.add(path.generation, carries_llgr_stale(&path.attrs), 1);
                }
                dest.paths[i] = path;
                if same && !was_long_lived {
                    // Refreshed (no longer stale), nothing else changed.
                    return;
                }
                if same && dest.multipath().any(|x| x.peer == peer && x.path_id == path_id) {
                    // No longer LLGR-stale: advertised without LLGR_STALE again.
                    self.changed.push(Changed { family, prefix });
                }
            }
            None => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.received.entry(family).or_default().add(path.generation, carries_llgr_stale(&path.attrs), 1);
                }
                dest.paths.push(path);
            }
        }
        self.decide(family, prefix, before);
    }

    /// Interns `set` and announces it.
    pub fn announce_set(&mut self, peer: PeerId, family: Family, prefix: Prefix, path_id: u32, set: AttrSet) {
        let a = self.attrs.intern(set);
        self.announce(peer, family, prefix, path_id, a);
    }

    pub fn withdraw(&mut self, peer: PeerId, family: Family, prefix: Prefix, path_id: u32) {
        if let Some(p) = self.peers.get_mut(&peer) {
            if !p.pre_policy.is_empty() {
                let gone = p.pre_policy.remove(&(family, prefix, path_id));
                p.forget_pre_policy(family, gone);
            }
        }
        let Some(table) = self.table_mut(family) else { return };
        let Some(dest) = table.get_mut(&prefix) else { return };
        let Some(i) = dest.paths.iter().position(|x| x.peer == peer && x.path_id == path_id) else { return };
        let before = dest.selection();
        let gone = dest.paths.swap_remove(i);
        if let Some(c) = self.peers.get_mut(&peer).and_then(|p| p.received.get_mut(&family)) {
            c.remove(gone.generation, carries_llgr_stale(&gone.attrs), 1);
        }
        self.decide(family, prefix, before);
    }

    /// Removes every path of `peer` in `family` (or all families) that `keep` rejects;
    /// returns how many went. One walk over the table.
    fn remove_where(&mut self, peer: PeerId, family: Option<Family>, keep: impl Fn(Generation) -> bool) -> usize {
        let mut touched = Vec::new();
        let mut removed = 0;
        let mut gone: HashMap<(Family, Generation, bool), usize> = HashMap::default();
        for (f, table) in self.tables.iter_mut().filter(|(f, _)| family.is_none_or(|x| x == *f)) {
            for (prefix, dest) in table.iter_mut() {
                if dest.paths.iter().all(|p| p.peer != peer || keep(p.generation)) {
                    continue;
                }
                let selection = dest.selection();
                let before = dest.paths.len();
                dest.paths.retain(|p| {
                    let stays = p.peer != peer || keep(p.generation);
                    if !stays {
                        *gone.entry((*f, p.generation, carries_llgr_stale(&p.attrs))).or_default() += 1;
                    }
                    stays
                });
                removed += before - dest.paths.len();
                touched.push((*f, *prefix, selection));
            }
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            p.retain_pre_policy(|(f, _, _), e| family.is_some_and(|x| x != *f) || keep(e.generation));
            for ((f, g, llgr), n) in gone {
                if let Some(c) = p.received.get_mut(&f) {
                    c.remove(g, llgr, n);
                }
            }
        }
        for (f, p, selection) in touched {
            self.decide(f, p, selection);
        }
        removed
    }

    /// The session is gone and its routes with it.
    pub fn flush_peer(&mut self, peer: PeerId, family: Option<Family>) -> usize {
        self.remove_where(peer, family, |_| false)
    }

    /// End-of-RIB or the stale timer: removes the paths of `peer` older than its current
    /// generation (RFC 4724 §4.2).
    pub fn sweep_stale(&mut self, peer: PeerId, family: Option<Family>) -> usize {
        let current = self.generation(peer);
        self.remove_where(peer, family, |g| g >= current)
    }

    pub fn remove_peer(&mut self, peer: PeerId) {
        self.flush_peer(peer, None);
        self.peers.remove(&peer);
    }

    fn candidate<'a>(&'a self, family: Family, p: &'a Path) -> Candidate<'a> {
        let source = self.peers.get(&p.peer).filter(|_| p.peer != PeerId::LOCAL).map(|x| Source {
            address: x.info.address,
            router_id: x.info.router_id,
            ebgp: x.info.ebgp(),
        });
        let igp_metric = if p.peer == PeerId::LOCAL {
            Some(0)
        } else {
            self.next_hops.get(&p.attrs.next_hop.addr()).copied().unwrap_or(Some(0))
        };
        Candidate { attrs: &p.attrs, source, igp_metric, llgr_stale: self.is_llgr_stale(family, p), path_id: p.path_id }
    }

    /// The best of `paths` (of one destination), by the decision process: a route server's
    /// per-client choice when the overall best may not go to that client (RFC 7947 §2.3.2).
    pub fn best_of<'a>(&self, family: Family, paths: &[&'a Path]) -> Option<&'a Path> {
        let cands: Vec<Candidate> = paths.iter().map(|p| self.candidate(family, p)).collect();
        let d = decision::decide(&cands, &self.options)?;
        paths.get(d.best).copied()
    }

    /// Runs the decision process for one destination whose paths changed (`before` is its
    /// selection before the change); records it when the best path or the multipath set
    /// changed; drops the destination when no path is left.
    fn decide(&mut self, family: Family, prefix: Prefix, before: Selection) {
        if self.track_paths {
            self.touched.push(Changed { family, prefix });
        }
        let Some(dest) = self.table(family).and_then(|t| t.get(&prefix)) else { return };
        let decision = if dest.paths.len() == 1 {
            // One path: the decision is whether it is eligible (§9.1.2.1).
            let c = self.candidate(family, &dest.paths[0]);
            c.igp_metric.map(|_| decision::Decision { best: 0, step: decision::Step::Only, multipath: vec![0] })
        } else {
            let cands: Vec<Candidate> = dest.paths.iter().map(|p| self.candidate(family, p)).collect();
            decision::decide(&cands, &self.options)
        };
        let Some(table) = self.table_mut(family) else { return };
        let Some(dest) = table.get_mut(&prefix) else { return };
        match decision {
            Some(d) => {
                dest.best = d.best as u16;
                dest.multipath = d.multipath.iter().skip(1).filter(|&&i| i < 16).fold(0, |m, &i| m | 1 << i);
            }
            None => {
                dest.best = NO_BEST;
                dest.multipath = 0;
            }
        }
        let changed = dest.selection() != before;
        if dest.paths.is_empty() {
            table.remove(&prefix);
        }
        if changed {
            self.changed.push(Changed { family, prefix });
        }
    }

    /// With [`Rib::track_paths`]: the destinations whose paths changed since the last call.
    pub fn take_touched(&mut self) -> Vec<Changed> {
        std::mem::take(&mut self.touched)
    }

    /// The destinations whose best path changed since the last call (each once).
    pub fn take_changed(&mut self) -> Vec<Changed> {
        let mut v = std::mem::take(&mut self.changed);
        if v.len() > 1 {
            v.sort_unstable();
            v.dedup();
        }
        v
    }

    pub fn dest(&self, family: Family, prefix: &Prefix) -> Option<&Dest> {
        self.table(family)?.get(prefix)
    }

    pub fn best(&self, family: Family, prefix: &Prefix) -> Option<&Path> {
        self.dest(family, prefix)?.best_path()
    }

    /// Every destination of `family` (all families when `None`).
    pub fn iter(&self, family: Option<Family>) -> impl Iterator<Item = (Family, &Prefix, &Dest)> {
        self.tables
            .iter()
            .filter(move |(f, _)| family.is_none_or(|x| x == *f))
            .flat_map(|(f, t)| t.iter().map(move |(p, d)| (*f, p, d)))
    }

    /// Longest match, per family (all families when `None`): the most specific destination
    /// that covers `prefix` (itself included) and has a best path, i.e. the Loc-RIB entry that
    /// forwarding would use for it (RFC 1812 §5.2.4.3). An address is asked as its host prefix
    /// ([`Prefix::host`]). Tries each shorter length in turn (at most 129 lookups per family):
    /// for the API, not the hot path.
    pub fn longest_match<'a>(
        &'a self,
        family: Option<Family>,
        prefix: &'a Prefix,
    ) -> impl Iterator<Item = (Family, &'a Prefix, &'a Dest)> + 'a {
        self.tables.iter().filter(move |(f, _)| family.is_none_or(|x| x == *f) && f.afi == prefix.afi()).filter_map(
            move |(f, t)| {
                (0..=prefix.len()).rev().find_map(|len| {
                    let candidate = Prefix::new(prefix.addr(), len)?;
                    let (p, d) = t.get_key_value(&candidate)?;
                    d.best_index().is_some().then_some((*f, p, d))
                })
            },
        )
    }

    pub fn len(&self) -> usize {
        self.tables.iter().map(|(_, t)| t.len()).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Gives back what large removals left unused: hash tables at under half their capacity
    /// shrink to fit (a `HashMap` never shrinks by itself), attribute sets no path uses any
    /// more are dropped. Costs a pass over the tables: call it after the RIB shrank a lot,
    /// not per withdrawal.
    pub fn shrink(&mut self) {
        fn fit<K: std::hash::Hash + Eq, V>(t: &mut HashMap<K, V>) {
            if t.capacity() > 2 * t.len() + 64 {
                t.shrink_to_fit();
            }
        }
        for (_, t) in &mut self.tables {
            fit(t);
        }
        for p in self.peers.values_mut() {
            fit(&mut p.pre_policy);
        }
        fit(&mut self.next_hops);
        self.changed.shrink_to_fit();
        self.touched.shrink_to_fit();
        self.attrs.purge();
        self.attrs.shrink();
    }

    /// Per family, the number of stale paths of `peer` (LLGR-stale ones included) and of
    /// LLGR-stale ones, from counts kept as paths come and go (no walk: the API asks often).
    pub fn stale_counts(&self, peer: PeerId) -> Vec<(Family, StaleCount)> {
        let Some(p) = self.peers.get(&peer) else { return Vec::new() };
        let mut v: Vec<(Family, StaleCount)> = p
            .received
            .iter()
            .map(|(f, c)| (*f, c.stale(p.generation, p.long_lived.iter().find(|(x, _)| x == f).map(|(_, b)| *b))))
            .filter(|(_, n)| *n != StaleCount::default())
            .collect();
        v.sort_by_key(|(f, _)| *f);
        v
    }

    /// [`Rib::stale_counts`] by a walk over the table: what the kept counts must equal.
    #[cfg(test)]
    pub(crate) fn stale_counts_walked(&self, peer: PeerId) -> Vec<(Family, StaleCount)> {
        let current = self.generation(peer);
        let mut v: Vec<(Family, StaleCount)> = self
            .tables
            .iter()
            .map(|(f, t)| {
                let mut n = StaleCount::default();
                for p in t.values().flat_map(|d| d.paths.iter()).filter(|p| p.peer == peer) {
                    n.stale += usize::from(p.generation < current);
                    n.long_lived += usize::from(self.is_llgr_stale(*f, p));
                }
                (*f, n)
            })
            .filter(|(_, n)| *n != StaleCount::default())
            .collect();
        v.sort_by_key(|(f, _)| *f);
        v
    }

    /// Number of stale paths of `peer`.
    pub fn stale_count(&self, peer: PeerId) -> usize {
        self.stale_counts(peer).iter().map(|(_, n)| n.stale).sum()
    }
}

#[cfg(test)]
pub(crate) mod tests;
