//! Adj-RIB-In of one neighbor (RFC 4271 §3.2): the routes it advertised, before policy.
//!
//! Each entry carries the session [`Generation`] that last refreshed it. Losing a session
//! under graceful restart bumps the generation, which makes every older entry stale at once
//! without a walk over the table (RFC 4724 §4.2); End-of-RIB sweeps only older entries.

use crate::attr_set::AttrSet;
use keel_wire::{Family, Nlri};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A neighbor's session generation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Generation(pub u32);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    pub attributes: Arc<AttrSet>,
    pub generation: Generation,
}

#[derive(Debug, Default)]
pub struct AdjRibIn {
    tables: BTreeMap<Family, HashMap<Nlri, RouteEntry>>,
    generation: Generation,
}

impl AdjRibIn {
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// Starts a new generation: every existing entry becomes stale.
    pub fn bump_generation(&mut self) -> Generation {
        self.generation = Generation(self.generation.0.wrapping_add(1));
        self.generation
    }

    /// Adds or replaces a route (an implicit withdraw of the previous one, RFC 4271 §3.1).
    /// Returns true when something changed.
    pub fn insert(&mut self, family: Family, nlri: Nlri, attributes: Arc<AttrSet>) -> bool {
        let entry = RouteEntry { attributes, generation: self.generation };
        match self.tables.entry(family).or_default().insert(nlri, entry.clone()) {
            Some(old) => old.attributes != entry.attributes,
            None => true,
        }
    }

    /// Removes a route; true if it was there.
    pub fn remove(&mut self, family: Family, nlri: &Nlri) -> bool {
        self.tables.get_mut(&family).is_some_and(|t| t.remove(nlri).is_some())
    }

    pub fn is_stale(&self, entry: &RouteEntry) -> bool {
        entry.generation < self.generation
    }

    /// Removes every entry of `family` older than the current generation; returns them.
    pub fn sweep_stale(&mut self, family: Family) -> Vec<Nlri> {
        let current = self.generation;
        let Some(t) = self.tables.get_mut(&family) else { return Vec::new() };
        let stale: Vec<Nlri> = t.iter().filter(|(_, e)| e.generation < current).map(|(n, _)| *n).collect();
        for n in &stale {
            t.remove(n);
        }
        stale
    }

    /// Removes everything of `family` (or all families); returns how many routes went.
    pub fn clear(&mut self, family: Option<Family>) -> usize {
        match family {
            Some(f) => self.tables.remove(&f).map_or(0, |t| t.len()),
            None => std::mem::take(&mut self.tables).values().map(|t| t.len()).sum(),
        }
    }

    pub fn len(&self) -> usize {
        self.tables.values().map(|t| t.len()).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn family_len(&self, family: Family) -> usize {
        self.tables.get(&family).map_or(0, |t| t.len())
    }
    pub fn stale_len(&self) -> usize {
        self.iter().filter(|(_, _, e)| self.is_stale(e)).count()
    }

    pub fn get(&self, family: Family, nlri: &Nlri) -> Option<&RouteEntry> {
        self.tables.get(&family)?.get(nlri)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Family, &Nlri, &RouteEntry)> {
        self.tables.iter().flat_map(|(f, t)| t.iter().map(move |(n, e)| (*f, n, e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_wire::{NextHop, PathAttributes};

    fn set(med: u32) -> Arc<AttrSet> {
        Arc::new(AttrSet {
            attributes: PathAttributes { med: Some(med), ..Default::default() },
            next_hop: NextHop::V4("192.0.2.1".parse().unwrap()),
        })
    }
    fn nlri(s: &str) -> Nlri {
        Nlri::new(s.parse().unwrap())
    }

    #[test]
    fn generation_bump_makes_everything_stale_and_sweep_removes_only_old() {
        let f = Family::IPV4_UNICAST;
        let mut rib = AdjRibIn::default();
        assert!(rib.insert(f, nlri("198.51.100.0/24"), set(1)));
        assert!(rib.insert(f, nlri("203.0.113.0/24"), set(1)));
        assert!(!rib.insert(f, nlri("203.0.113.0/24"), set(1)), "same attributes: no change");
        rib.bump_generation();
        assert_eq!(rib.stale_len(), 2);
        // Re-announced unchanged: refreshed, not a change.
        assert!(!rib.insert(f, nlri("198.51.100.0/24"), set(1)));
        assert_eq!(rib.stale_len(), 1);
        assert_eq!(rib.sweep_stale(f), [nlri("203.0.113.0/24")]);
        assert_eq!(rib.len(), 1);
        assert!(rib.remove(f, &nlri("198.51.100.0/24")));
        assert!(rib.is_empty());
    }
}
