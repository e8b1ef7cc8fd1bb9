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
//!
//! This module holds the data (destinations, paths, neighbors, the counts) and the changes to
//! it (announce, withdraw, flush); its rooms add to [`Rib`] one concern each, importing only
//! this module's types, none another room:
//!
//! | module | concern |
//! |---|---|
//! | this one | the tables, paths and neighbors; announce, withdraw, flush; the Loc-RIB read and the changed destinations |
//! | `selection` | the decision process run on a destination, next-hop reachability and IGP metric (RFC 4271 §9.1.2) |
//! | `stale` | graceful restart: stale marking by generation, LLGR-stale, sweeps, stale counts (RFC 4724 §4.2, RFC 9494 §4.2) |
//! | `adj_rib_in` | routes kept before import policy for re-evaluation, Adj-RIB-In counts for prefix limits |

use crate::attr_set::{AttrSet, AttrTable};
use crate::decision::Options;
use crate::prefix_map::PrefixMap;
use keel_wire::{Community, Family, NextHop, Prefix};
use rustc_hash::FxHashMap as HashMap;
use smallvec::SmallVec;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

mod adj_rib_in;
mod selection;
mod stale;

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
    /// Adds a path, growing the list by half its length when full rather than doubling it:
    /// with a path from each of ten neighbors a destination holds room for 13, not 16 (a
    /// path is 24 bytes, a full table a million destinations).
    fn add_path(&mut self, path: Path) {
        let n = self.paths.len();
        if n == self.paths.capacity() {
            self.paths.reserve_exact((n / 2).max(1));
        }
        self.paths.push(path);
    }

    /// Where `peer`'s path `path_id` is in `paths`.
    fn path_index(&self, peer: PeerId, path_id: u32) -> Option<usize> {
        self.paths.iter().position(|x| x.peer == peer && x.path_id == path_id)
    }

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
    /// One table per family; a handful of families, so a short list. IPv4 destinations are
    /// keyed in 8 bytes ([`PrefixMap`]): a full table holds a million of them.
    tables: Vec<(Family, PrefixMap<Dest>)>,
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
    fn table(&self, family: Family) -> Option<&PrefixMap<Dest>> {
        self.tables.iter().find(|(f, _)| *f == family).map(|(_, t)| t)
    }

    fn table_mut(&mut self, family: Family) -> Option<&mut PrefixMap<Dest>> {
        self.tables.iter_mut().find(|(f, _)| *f == family).map(|(_, t)| t)
    }

    /// `family`'s table in `tables`, created when missing (borrows the tables alone).
    fn table_in(tables: &mut Vec<(Family, PrefixMap<Dest>)>, family: Family) -> &mut PrefixMap<Dest> {
        let i = match tables.iter().position(|(f, _)| *f == family) {
            Some(i) => i,
            None => {
                tables.push((family, PrefixMap::default()));
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
        let dest = Self::table_in(&mut self.tables, family).get_or_default(prefix);
        let before = dest.selection();
        let path = Path { peer, path_id, attrs, generation };
        match dest.path_index(peer, path_id) {
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
                dest.add_path(path);
            }
        }
        self.decide(family, prefix, before);
    }

    /// The shared copy of `set`, for routes `peer` announces with it, `prefix` among them:
    /// the set `peer`'s path to `prefix` already holds when it is equal, else the intern
    /// table's. A neighbor re-sending its table (after its graceful restart, or a route
    /// refresh) mostly re-sends the sets it sent before; this finds them in the destination
    /// the announcement reads next anyway, without a probe of the intern table.
    pub fn intern_as_held(
        &mut self,
        peer: PeerId,
        family: Family,
        prefix: &Prefix,
        path_id: u32,
        set: AttrSet,
    ) -> Arc<AttrSet> {
        let held = self.dest(family, prefix).and_then(|d| Some(&d.paths[d.path_index(peer, path_id)?].attrs));
        match held {
            Some(a) if **a == set => a.clone(),
            _ => self.attrs.intern(set),
        }
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
        let Some(i) = dest.path_index(peer, path_id) else { return };
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
                touched.push((*f, prefix, selection));
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

    pub fn remove_peer(&mut self, peer: PeerId) {
        self.flush_peer(peer, None);
        self.peers.remove(&peer);
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

    /// The families with a table.
    pub fn families(&self) -> impl Iterator<Item = Family> + '_ {
        self.tables.iter().map(|(f, _)| *f)
    }

    pub fn dest(&self, family: Family, prefix: &Prefix) -> Option<&Dest> {
        self.table(family)?.get(prefix)
    }

    pub fn best(&self, family: Family, prefix: &Prefix) -> Option<&Path> {
        self.dest(family, prefix)?.best_path()
    }

    /// Every destination of `family` (all families when `None`); prefixes by value, as the
    /// tables keep IPv4 ones in a key of their own ([`PrefixMap`]).
    pub fn iter(&self, family: Option<Family>) -> impl Iterator<Item = (Family, Prefix, &Dest)> {
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
    ) -> impl Iterator<Item = (Family, Prefix, &'a Dest)> + 'a {
        self.tables.iter().filter(move |(f, _)| family.is_none_or(|x| x == *f) && f.afi == prefix.afi()).filter_map(
            move |(f, t)| {
                (0..=prefix.len()).rev().find_map(|len| {
                    let candidate = Prefix::new(prefix.addr(), len)?;
                    let d = t.get(&candidate)?;
                    d.best_index().is_some().then_some((*f, candidate, d))
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
        fn sparse(capacity: usize, len: usize) -> bool {
            capacity > 2 * len + 64
        }
        fn fit<K: std::hash::Hash + Eq, V>(t: &mut HashMap<K, V>) {
            if sparse(t.capacity(), t.len()) {
                t.shrink_to_fit();
            }
        }
        for (_, t) in &mut self.tables {
            if sparse(t.capacity(), t.len()) {
                t.shrink_to_fit();
            }
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
}

#[cfg(test)]
pub(crate) mod tests;
