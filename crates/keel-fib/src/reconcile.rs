//! Reconcile after a restart (RFC 4724 §4.1; design "Graceful restart in the data model").
//!
//! The restarting speaker read its routes back from the kernel before the restart's decision
//! process ran ([`crate::Fib::read_owned`]). Once the new Loc-RIB is known, only the
//! difference is written: a route that still forwards the same way is left alone (no kernel
//! work, no notification to other daemons), a changed one is replaced in place, one no longer
//! chosen is deleted. Next hops compare as sets ([`FibRoute::satisfied_by`]).

use crate::fib::{FibChange, FibRoute};
use keel_wire::Prefix;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// FxHash-style multiplicative hasher: prefixes are not attacker-chosen keys here (they come
/// from our own RIB and our own kernel table), and SipHash cost dominated reconcile at 1M routes.
#[derive(Default)]
struct PrefixHasher(u64);

impl Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(i as u64);
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

type Fast = BuildHasherDefault<PrefixHasher>;

/// The changes that turn `owned_before` into `wanted`: upserts in `wanted` order, then deletes
/// in `owned_before` order. If `wanted` names a prefix twice, the last one counts.
pub fn reconcile(owned_before: &[FibRoute], wanted: &[FibRoute]) -> Vec<FibChange> {
    let mut owned: HashMap<Prefix, &FibRoute, Fast> =
        HashMap::with_capacity_and_hasher(owned_before.len(), Fast::default());
    owned.extend(owned_before.iter().map(|r| (r.prefix, r)));
    let mut last: HashMap<Prefix, usize, Fast> = HashMap::with_capacity_and_hasher(wanted.len(), Fast::default());
    for (i, r) in wanted.iter().enumerate() {
        last.insert(r.prefix, i);
    }
    let mut changes = Vec::new();
    for (i, r) in wanted.iter().enumerate() {
        if last.get(&r.prefix) != Some(&i) {
            continue;
        }
        match owned.get(&r.prefix) {
            Some(o) if r.satisfied_by(o) => {}
            _ => changes.push(FibChange::Upsert(r.clone())),
        }
    }
    let mut deleted: HashSet<Prefix, Fast> = HashSet::default();
    for r in owned_before {
        if !last.contains_key(&r.prefix) && deleted.insert(r.prefix) {
            changes.push(FibChange::Delete(r.prefix));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NextHop;

    fn route(p: &str, gws: &[&str]) -> FibRoute {
        FibRoute::new(p.parse().unwrap(), gws.iter().map(|g| NextHop::new(g.parse().unwrap())).collect())
    }

    #[test]
    fn unchanged_routes_produce_nothing() {
        let t = [route("198.51.100.0/24", &["192.0.2.2"]), route("2001:db8:1::/48", &["2001:db8::2"])];
        assert_eq!(reconcile(&t, &t), []);
        assert_eq!(reconcile(&[], &[]), []);
    }

    #[test]
    fn changed_route_is_one_upsert() {
        let before = [route("198.51.100.0/24", &["192.0.2.2"]), route("203.0.113.0/24", &["192.0.2.2"])];
        let wanted = [route("198.51.100.0/24", &["192.0.2.3"]), route("203.0.113.0/24", &["192.0.2.2"])];
        assert_eq!(reconcile(&before, &wanted), [FibChange::Upsert(wanted[0].clone())]);
    }

    #[test]
    fn gone_route_is_one_delete_and_new_route_one_upsert() {
        let before = [route("198.51.100.0/24", &["192.0.2.2"]), route("203.0.113.0/24", &["192.0.2.2"])];
        let wanted = [route("198.51.100.0/24", &["192.0.2.2"])];
        assert_eq!(reconcile(&before, &wanted), [FibChange::Delete("203.0.113.0/24".parse().unwrap())]);
        let wanted = [route("198.51.100.0/24", &["192.0.2.2"]), route("192.0.2.128/25", &["192.0.2.2"])];
        let changes = reconcile(&before, &wanted);
        assert_eq!(
            changes,
            [FibChange::Upsert(wanted[1].clone()), FibChange::Delete("203.0.113.0/24".parse().unwrap())]
        );
    }

    #[test]
    fn ecmp_order_and_duplicates_are_not_a_change() {
        let before = [route("198.51.100.0/24", &["192.0.2.2", "192.0.2.3"])];
        let wanted = [route("198.51.100.0/24", &["192.0.2.3", "192.0.2.2", "192.0.2.3"])];
        assert_eq!(reconcile(&before, &wanted), []);
        // A third path, or one fewer, is a change.
        let wider = [route("198.51.100.0/24", &["192.0.2.3", "192.0.2.2", "192.0.2.4"])];
        assert_eq!(reconcile(&before, &wider).len(), 1);
        let narrower = [route("198.51.100.0/24", &["192.0.2.3"])];
        assert_eq!(reconcile(&before, &narrower).len(), 1);
    }

    #[test]
    fn kernel_reported_interface_matches_unpinned_next_hop() {
        let p: Prefix = "198.51.100.0/24".parse().unwrap();
        let gw = "192.0.2.2".parse().unwrap();
        let installed = [FibRoute::new(p, vec![NextHop::with_ifindex(gw, 7)])];
        assert_eq!(reconcile(&installed, &[FibRoute::new(p, vec![NextHop::new(gw)])]), []);
        assert_eq!(reconcile(&installed, &[FibRoute::new(p, vec![NextHop::with_ifindex(gw, 7)])]), []);
        assert_eq!(reconcile(&installed, &[FibRoute::new(p, vec![NextHop::with_ifindex(gw, 8)])]).len(), 1);
    }

    #[test]
    fn last_duplicate_in_wanted_wins() {
        let before = [route("198.51.100.0/24", &["192.0.2.2"])];
        let wanted = [route("198.51.100.0/24", &["192.0.2.9"]), route("198.51.100.0/24", &["192.0.2.2"])];
        assert_eq!(reconcile(&before, &wanted), []);
    }
}
