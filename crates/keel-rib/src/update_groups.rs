//! Routes grouped into UPDATE messages by the attribute set they go out with: one run of
//! UPDATEs per (family, attribute set), withdrawals apart (RFC 4271 §4.3: an UPDATE carries one
//! set of path attributes for all its NLRI). What [`crate::AdjRibOut`] packs for a neighbor and
//! what a BMP station is sent (keel-bmp's dump and live changes) are grouped here, the one
//! grouping both use.
//!
//! Groups are made by the caller, which knows what makes two routes share one: the export of a
//! source attribute set ([`crate::adj_rib_out`]'s slots), or the interned set itself
//! ([`ByAttrSet`]: interned sets are equal exactly when they are the same `Arc`, so the
//! pointer is the key and no set is hashed).

use crate::attr_set::AttrSet;
use keel_wire::{builder, CodecOptions, EncodeError, Family, Nlri};
use rustc_hash::FxHashMap;
use std::borrow::Borrow;
use std::sync::Arc;

/// UPDATE groups in the order made, and the withdrawals per family.
#[derive(Debug, Clone)]
pub struct UpdateGroups<S> {
    groups: Vec<(Family, S, Vec<Nlri>)>,
    withdrawn: Vec<(Family, Vec<Nlri>)>,
}

impl<S> Default for UpdateGroups<S> {
    fn default() -> Self {
        UpdateGroups { groups: Vec::new(), withdrawn: Vec::new() }
    }
}

impl<S: Borrow<AttrSet>> UpdateGroups<S> {
    /// A new, empty group of routes of `family` going out with `set`: its index.
    pub fn group(&mut self, family: Family, set: S) -> usize {
        self.groups.push((family, set, Vec::new()));
        self.groups.len() - 1
    }

    /// The attribute set of group `group`.
    pub fn set(&self, group: usize) -> Option<&S> {
        self.groups.get(group).map(|g| &g.1)
    }

    /// Adds a route to group `group` (an index [`UpdateGroups::group`] gave).
    pub fn push(&mut self, group: usize, nlri: Nlri) {
        if let Some(g) = self.groups.get_mut(group) {
            g.2.push(nlri);
        }
    }

    pub fn withdraw(&mut self, family: Family, nlri: Nlri) {
        match self.withdrawn.iter_mut().find(|(f, _)| *f == family) {
            Some((_, v)) => v.push(nlri),
            None => self.withdrawn.push((family, vec![nlri])),
        }
    }

    /// The groups with routes, in the order made.
    pub fn groups(&self) -> impl Iterator<Item = &(Family, S, Vec<Nlri>)> {
        self.groups.iter().filter(|g| !g.2.is_empty())
    }

    /// The withdrawals, per family.
    pub fn withdrawn(&self) -> &[(Family, Vec<Nlri>)] {
        &self.withdrawn
    }

    pub fn is_empty(&self) -> bool {
        self.groups.iter().all(|g| g.2.is_empty()) && self.withdrawn.is_empty()
    }

    /// Routes announced and withdrawn.
    pub fn routes(&self) -> usize {
        self.groups.iter().map(|g| g.2.len()).sum::<usize>() + self.withdrawn.iter().map(|w| w.1.len()).sum::<usize>()
    }

    /// Appends the UPDATEs to `out`, withdrawals first (as few messages as `codec` allows);
    /// groups that cannot be encoded are left out and their errors returned.
    pub fn encode(&self, codec: &CodecOptions, out: &mut Vec<u8>) -> Vec<EncodeError> {
        let mut errors = Vec::new();
        for (family, nlri) in &self.withdrawn {
            if let Err(e) = builder::withdraw(*family, nlri, codec, out) {
                errors.push(e);
            }
        }
        for (family, set, nlri) in self.groups() {
            let set: &AttrSet = set.borrow();
            if let Err(e) = builder::announce(*family, &set.attributes, set.next_hop, nlri, codec, out) {
                errors.push(e);
            }
        }
        errors
    }
}

/// Routes grouped by their interned attribute set (one group per family and `Arc`), in the
/// order first seen.
#[derive(Debug, Default, Clone)]
pub struct ByAttrSet {
    /// (family, the set's address) to its group; the group holds the `Arc`, so the address
    /// stays that set's while the map lives.
    index: FxHashMap<(Family, usize), usize>,
    pub groups: UpdateGroups<Arc<AttrSet>>,
}

impl ByAttrSet {
    pub fn announce(&mut self, family: Family, attrs: &Arc<AttrSet>, nlri: Nlri) {
        let key = (family, Arc::as_ptr(attrs) as usize);
        let groups = &mut self.groups;
        let i = *self.index.entry(key).or_insert_with(|| groups.group(family, attrs.clone()));
        self.groups.push(i, nlri);
    }

    pub fn withdraw(&mut self, family: Family, nlri: Nlri) {
        self.groups.withdraw(family, nlri);
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The UPDATEs, withdrawals first, and what could not be encoded.
    pub fn finish(self, codec: &CodecOptions) -> (Vec<u8>, Vec<EncodeError>) {
        let mut out = Vec::new();
        let errors = self.groups.encode(codec, &mut out);
        (out, errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_wire::{AsPath, Message, NextHop, Origin, PathAttributes, Prefix};
    use std::net::Ipv4Addr;

    fn set(asn: u32) -> Arc<AttrSet> {
        let attributes = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence(vec![asn])),
            ..Default::default()
        };
        Arc::new(AttrSet { attributes, next_hop: NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)) })
    }

    fn nlri(s: &str) -> Nlri {
        Nlri::new(s.parse::<Prefix>().unwrap())
    }

    #[test]
    fn one_update_per_interned_set_withdrawals_first() {
        let (a, b) = (set(65001), set(65002));
        let mut g = ByAttrSet::default();
        g.announce(Family::IPV4_UNICAST, &a, nlri("198.51.100.0/24"));
        g.announce(Family::IPV4_UNICAST, &b, nlri("203.0.113.0/24"));
        g.announce(Family::IPV4_UNICAST, &a, nlri("198.51.100.128/25"));
        g.withdraw(Family::IPV4_UNICAST, nlri("192.0.2.0/24"));
        assert_eq!(g.groups.routes(), 4);
        let (bytes, errors) = g.finish(&CodecOptions::default());
        assert!(errors.is_empty());
        let mut updates = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
            let Ok(Message::Update(u)) = Message::decode(&rest[..len], &CodecOptions::default()) else {
                panic!("an UPDATE")
            };
            updates.push((u.withdrawn_routes().count(), u.announced_routes().count()));
            rest = &rest[len..];
        }
        assert_eq!(updates, [(1, 0), (0, 2), (0, 1)]);
    }
}
