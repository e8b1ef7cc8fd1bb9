//! Each neighbor's Adj-RIB-In (RFC 4271 §3.2) before import policy: the routes import policy
//! changed or rejected are kept as received ([`PrePolicy`]), so that a policy change can
//! re-evaluate them without a route refresh ([`Rib::received_routes`], [`Rib::put_filtered`]);
//! the routes policy left as they were are the paths in the table themselves.
//!
//! The Adj-RIB-In's size per family, accepted or as received, comes from counts kept as
//! routes come and go ([`Rib::adj_rib_in_count`]), for the prefix limits (RFC 4486 §4)
//! checked on every UPDATE.

use super::{AdjRibInCount, PathCounts, Peer, PeerId, PrePolicy, Received, Rib};
use crate::attr_set::AttrSet;
use keel_wire::{Family, Prefix};
use std::sync::Arc;

impl Peer {
    /// Keeps `rejected` in step with an entry of `pre_policy` that went away.
    pub(super) fn forget_pre_policy(&mut self, family: Family, gone: Option<PrePolicy>) {
        if gone.is_some_and(|g| g.rejected) {
            if let Some(n) = self.rejected.get_mut(&family) {
                *n = n.saturating_sub(1);
            }
        }
    }

    /// Drops the entries of `pre_policy` that `keep` refuses, keeping `rejected` in step.
    pub(super) fn retain_pre_policy(&mut self, mut keep: impl FnMut(&(Family, Prefix, u32), &PrePolicy) -> bool) {
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

impl Rib {
    /// Whether `peer`'s path `path_id` to `prefix` is in the table (accepted).
    fn holds_path(&self, peer: PeerId, family: Family, prefix: &Prefix, path_id: u32) -> bool {
        self.dest(family, prefix).is_some_and(|d| d.path_index(peer, path_id).is_some())
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

    /// The keys of `peer`'s routes kept apart as received (those import policy changed or
    /// rejected; the others are the paths in the table): with the table's paths of `peer`,
    /// every route of its pre-policy Adj-RIB-In, each found again by [`Rib::received_route`].
    pub fn pre_policy_keys(&self, peer: PeerId) -> impl Iterator<Item = (Family, Prefix, u32)> + '_ {
        self.peers.get(&peer).into_iter().flat_map(|p| p.pre_policy.keys().copied())
    }

    /// `peer`'s route (`prefix`, `path_id`) as received, before import policy, if its
    /// Adj-RIB-In holds it. O(1).
    pub fn received_route(&self, peer: PeerId, family: Family, prefix: &Prefix, path_id: u32) -> Option<&Arc<AttrSet>> {
        if let Some(e) = self.peers.get(&peer).and_then(|p| p.pre_policy.get(&(family, *prefix, path_id))) {
            return Some(&e.attrs);
        }
        let d = self.dest(family, prefix)?;
        d.paths.iter().find(|x| x.peer == peer && x.path_id == path_id).map(|x| &x.attrs)
    }

    /// Whether `peer`'s route (`prefix`, `path_id`) is kept apart as received
    /// ([`Rib::pre_policy_keys`]).
    pub fn is_pre_policy(&self, peer: PeerId, family: Family, prefix: &Prefix, path_id: u32) -> bool {
        self.peers.get(&peer).is_some_and(|p| p.pre_policy.contains_key(&(family, *prefix, path_id)))
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
            for (prefix, dest) in table.iter() {
                for x in dest.paths.iter().filter(|x| x.peer == peer) {
                    if !p.pre_policy.contains_key(&(*family, prefix, x.path_id)) {
                        out.push(Received {
                            family: *family,
                            prefix,
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
}
