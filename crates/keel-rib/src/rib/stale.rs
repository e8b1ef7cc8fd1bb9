//! Graceful restart in the RIB: stale marking by generation and the sweeps that end it.
//!
//! RFC 4724 §4.2: when a neighbor's session goes, its paths are kept as stale. keel marks them
//! in O(1) by bumping the neighbor's [`Generation`]: every path older than the current
//! generation is stale, and a re-announcement refreshes it. End-of-RIB or the stale timer
//! then sweeps what is still older ([`Rib::sweep_stale`]). RFC 9494 §4.2 (LLGR): past the
//! restart time, [`Rib::enter_long_lived`] sets a per-family generation boundary below which
//! paths are LLGR-stale, and deletes those carrying NO_LLGR.
//!
//! The stale counts the API shows come from per-generation counts kept as paths come and go,
//! not from a walk over the table.

use super::{carries_llgr_stale, Changed, Generation, Path, PeerId, Rib, StaleCount};
use keel_wire::{Community, Family};
use rustc_hash::FxHashMap as HashMap;

impl Rib {
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
                touched.push((prefix, selection, selected, decide));
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

    /// End-of-RIB or the stale timer: removes the paths of `peer` older than its current
    /// generation (RFC 4724 §4.2).
    pub fn sweep_stale(&mut self, peer: PeerId, family: Option<Family>) -> usize {
        let current = self.generation(peer);
        self.remove_where(peer, family, |g| g >= current)
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
