//! Interned attribute sets: one shared copy per distinct set of path attributes.

use keel_wire::{Family, NextHop, Nlri, PathAttributes, Update};
use rustc_hash::{FxHashMap as HashMap, FxHasher};
use smallvec::SmallVec;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// What a route carries besides its prefix: path attributes (without MP NLRI) and next hop.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrSet {
    pub attributes: PathAttributes,
    pub next_hop: NextHop,
}

impl AttrSet {
    /// The routes `update` announces, per family with their attribute set: the IPv4 NLRI
    /// field with NEXT_HOP, and MP_REACH_NLRI with its next hop (RFC 4760 §3). Withdrawals
    /// are left out.
    pub fn announced(update: &Update) -> Vec<(Family, AttrSet, Vec<Nlri>)> {
        let common = PathAttributes { next_hop: None, mp_reach: None, mp_unreach: None, ..update.attributes.clone() };
        let mut out = Vec::new();
        if let (Some(nh), false) = (update.attributes.next_hop, update.announced.is_empty()) {
            let set = AttrSet { attributes: common.clone(), next_hop: NextHop::V4(nh) };
            out.push((Family::IPV4_UNICAST, set, update.announced.clone()));
        }
        if let Some(m) = update.attributes.mp_reach.as_deref().filter(|m| !m.nlri.is_empty()) {
            out.push((m.family, AttrSet { attributes: common, next_hop: m.next_hop }, m.nlri.clone()));
        }
        out
    }
}

/// The intern table, keyed by each set's hash so that a set is hashed once, when it
/// arrives, and never again when the table grows. Sets no route refers to any more are
/// dropped by [`AttrTable::purge`].
#[derive(Debug, Default)]
pub struct AttrTable {
    sets: HashMap<u64, SmallVec<[Arc<AttrSet>; 1]>>,
    len: usize,
}

impl AttrTable {
    /// The shared copy of `set`, adding it when new.
    pub fn intern(&mut self, set: AttrSet) -> Arc<AttrSet> {
        let mut h = FxHasher::default();
        set.hash(&mut h);
        let bucket = self.sets.entry(h.finish()).or_default();
        if let Some(s) = bucket.iter().find(|s| ***s == set) {
            return s.clone();
        }
        let s = Arc::new(set);
        bucket.push(s.clone());
        self.len += 1;
        s
    }

    /// Drops sets only the table still holds.
    pub fn purge(&mut self) {
        self.sets.retain(|_, bucket| {
            bucket.retain(|s| Arc::strong_count(s) > 1);
            !bucket.is_empty()
        });
        self.len = self.sets.values().map(|b| b.len()).sum();
    }

    /// Gives the table's unused capacity back (after [`purge`](Self::purge) removed many).
    pub fn shrink(&mut self) {
        if self.sets.capacity() > 2 * self.sets.len() + 64 {
            self.sets.shrink_to_fit();
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full table holds about 200,000 distinct sets: their size is memory (issue 20). The
    /// MP_REACH/MP_UNREACH fields, never set in a held set, are boxed, and the lists (AS path,
    /// communities, cluster list, unknown attributes) are one-pointer `ThinVec`s, mostly
    /// empty: 328 -> 152 bytes.
    #[test]
    fn a_held_set_stays_small() {
        assert!(std::mem::size_of::<AttrSet>() <= 152, "{}", std::mem::size_of::<AttrSet>());
    }

    #[test]
    fn equal_sets_share_one_copy() {
        let mut t = AttrTable::default();
        let nh = NextHop::V4("192.0.2.1".parse().unwrap());
        let a = t.intern(AttrSet { attributes: PathAttributes { med: Some(1), ..Default::default() }, next_hop: nh });
        let b = t.intern(AttrSet { attributes: PathAttributes { med: Some(1), ..Default::default() }, next_hop: nh });
        let c = t.intern(AttrSet { attributes: PathAttributes { med: Some(2), ..Default::default() }, next_hop: nh });
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(t.len(), 2);
        drop(c);
        t.purge();
        assert_eq!(t.len(), 1);
    }
}
