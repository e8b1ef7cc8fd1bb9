//! Interned attribute sets: one shared copy per distinct set of path attributes.

use keel_wire::{NextHop, PathAttributes};
use rustc_hash::FxHashSet as HashSet;
use std::sync::Arc;

/// What a route carries besides its prefix: path attributes (without MP NLRI) and next hop.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrSet {
    pub attributes: PathAttributes,
    pub next_hop: NextHop,
}

/// The intern table. Sets no route refers to any more are dropped by [`AttrTable::purge`].
#[derive(Debug, Default)]
pub struct AttrTable {
    sets: HashSet<Arc<AttrSet>>,
}

impl AttrTable {
    /// The shared copy of `set`, adding it when new.
    pub fn intern(&mut self, set: AttrSet) -> Arc<AttrSet> {
        if let Some(s) = self.sets.get(&set) {
            return s.clone();
        }
        let s = Arc::new(set);
        self.sets.insert(s.clone());
        s
    }

    /// Drops sets only the table still holds.
    pub fn purge(&mut self) {
        self.sets.retain(|s| Arc::strong_count(s) > 1);
    }

    pub fn len(&self) -> usize {
        self.sets.len()
    }
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
