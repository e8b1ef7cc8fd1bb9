//! Hash maps keyed by IP prefix, compact for IPv4: the RIB's tables and each neighbor's
//! Adj-RIB-Out hold one entry per destination, over a million for a full IPv4 table, so the
//! size of a bucket is most of their memory.
//!
//! A [`Prefix`] is 18 bytes (an `IpAddr` and a length), 24 once padded beside an 8-aligned
//! value. [`PrefixMap`] keeps IPv4 prefixes under one `u64` (the address above the length,
//! 8 bytes) and IPv6 ones under `Prefix`, in two hash tables; it hands prefixes out by value,
//! rebuilt from the key. [`FamilyMap`] is a `PrefixMap` per family, for maps keyed by
//! (family, prefix): the family is not repeated in every key.
//!
//! | entry (key and value) | `(Prefix, V)` | now (IPv4) |
//! |---|---|---|
//! | RIB destination, `Dest` | 64 | 48 |
//! | Adj-RIB-Out, `Sent` | 48 | 32 |
//!
//! Both tables are [`DenseMap`]s: the entries packed in chunks, the hash buckets holding
//! 4-byte positions, so the half-empty buckets of a power-of-two table cost little. For
//! 1.05M IPv4 destinations the RIB's table is 61 MB instead of 103 MB (2^21 buckets of
//! 49 bytes) and a neighbor's `sent` 44 MB instead of 69 MB.
//!
//! IPv6 keys stay 24 bytes: an `(u128, u8)` key would be 32, 16-aligned.

use crate::dense_map::DenseMap;
use keel_wire::{Afi, Family, Prefix};
use std::net::{IpAddr, Ipv4Addr};

/// An IPv4 prefix as one integer, `address << 8 | length`. The address sits above the
/// length so that FxHash's multiply (whose high bits hashbrown indexes by, after the
/// rotation in `finish`) mixes every bit of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct V4(u64);

impl V4 {
    fn of(prefix: &Prefix) -> Option<V4> {
        match prefix.addr() {
            IpAddr::V4(a) => Some(V4(u64::from(u32::from(a)) << 8 | u64::from(prefix.len()))),
            IpAddr::V6(_) => None,
        }
    }

    fn prefix(self) -> Prefix {
        let addr = IpAddr::V4(Ipv4Addr::from((self.0 >> 8) as u32));
        // Made from a prefix by `of`: the length is at most 32.
        Prefix::new(addr, self.0 as u8).unwrap_or(Prefix::host(addr))
    }
}

/// A hash map from [`Prefix`] to `V`, IPv4 prefixes under an 8-byte key (see the module
/// documentation). Iteration order is the hash tables' (IPv4, then IPv6), as unordered as a
/// `HashMap`'s.
#[derive(Debug, Clone)]
pub struct PrefixMap<V> {
    v4: DenseMap<V4, V>,
    v6: DenseMap<Prefix, V>,
}

impl<V> Default for PrefixMap<V> {
    fn default() -> Self {
        PrefixMap { v4: DenseMap::default(), v6: DenseMap::default() }
    }
}

impl<V> PrefixMap<V> {
    /// Bytes per IPv4 entry, the key and `V` (the index adds 5 bytes per bucket).
    pub const IPV4_BUCKET: usize = std::mem::size_of::<(V4, V)>();
    /// Bytes per IPv6 entry.
    pub const IPV6_BUCKET: usize = std::mem::size_of::<(Prefix, V)>();

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Entries held without reallocating, both tables together.
    pub fn capacity(&self) -> usize {
        self.v4.capacity() + self.v6.capacity()
    }

    pub fn get(&self, prefix: &Prefix) -> Option<&V> {
        match V4::of(prefix) {
            Some(k) => self.v4.get(&k),
            None => self.v6.get(prefix),
        }
    }

    pub fn get_mut(&mut self, prefix: &Prefix) -> Option<&mut V> {
        match V4::of(prefix) {
            Some(k) => self.v4.get_mut(&k),
            None => self.v6.get_mut(prefix),
        }
    }

    pub fn contains_key(&self, prefix: &Prefix) -> bool {
        self.get(prefix).is_some()
    }

    /// Inserts `value`, returning the one it replaced.
    pub fn insert(&mut self, prefix: Prefix, value: V) -> Option<V> {
        match V4::of(&prefix) {
            Some(k) => self.v4.insert(k, value),
            None => self.v6.insert(prefix, value),
        }
    }

    /// The entry of `prefix`, inserted as `V::default()` when missing.
    pub fn get_or_default(&mut self, prefix: Prefix) -> &mut V
    where
        V: Default,
    {
        match V4::of(&prefix) {
            Some(k) => self.v4.get_or_default(k),
            None => self.v6.get_or_default(prefix),
        }
    }

    pub fn remove(&mut self, prefix: &Prefix) -> Option<V> {
        match V4::of(prefix) {
            Some(k) => self.v4.remove(&k),
            None => self.v6.remove(prefix),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (Prefix, &V)> {
        self.v4.iter().map(|(k, v)| (k.prefix(), v)).chain(self.v6.iter().map(|(p, v)| (*p, v)))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (Prefix, &mut V)> {
        self.v4.iter_mut().map(|(k, v)| (k.prefix(), v)).chain(self.v6.iter_mut().map(|(p, v)| (*p, v)))
    }

    pub fn keys(&self) -> impl Iterator<Item = Prefix> + '_ {
        self.iter().map(|(p, _)| p)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.v4.values().chain(self.v6.values())
    }

    /// Keeps the entries `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(Prefix, &mut V) -> bool) {
        self.v4.retain(|k, v| keep(k.prefix(), v));
        self.v6.retain(|p, v| keep(*p, v));
    }

    /// Removes every entry, keeping the memory.
    pub fn clear(&mut self) {
        self.v4.clear();
        self.v6.clear();
    }

    /// Room for `additional` more prefixes of `afi` without reallocating.
    pub fn reserve(&mut self, afi: Afi, additional: usize) {
        if afi == Afi::IPV4 {
            self.v4.reserve(additional);
        } else {
            self.v6.reserve(additional);
        }
    }

    /// How many prefixes of `afi` it holds.
    pub fn len_of(&self, afi: Afi) -> usize {
        if afi == Afi::IPV4 {
            self.v4.len()
        } else {
            self.v6.len()
        }
    }

    pub fn shrink_to_fit(&mut self) {
        self.v4.shrink_to_fit();
        self.v6.shrink_to_fit();
    }
}

/// A map keyed by (family, prefix): a [`PrefixMap`] per family, in a short list (a session
/// carries a handful of families).
#[derive(Debug, Clone)]
pub struct FamilyMap<V>(Vec<(Family, PrefixMap<V>)>);

impl<V> Default for FamilyMap<V> {
    fn default() -> Self {
        FamilyMap(Vec::new())
    }
}

impl<V> FamilyMap<V> {
    pub fn table(&self, family: Family) -> Option<&PrefixMap<V>> {
        self.0.iter().find(|(f, _)| *f == family).map(|(_, t)| t)
    }

    pub fn table_mut(&mut self, family: Family) -> Option<&mut PrefixMap<V>> {
        self.0.iter_mut().find(|(f, _)| *f == family).map(|(_, t)| t)
    }

    /// `family`'s table, created when missing.
    pub fn table_or_default(&mut self, family: Family) -> &mut PrefixMap<V> {
        let i = match self.0.iter().position(|(f, _)| *f == family) {
            Some(i) => i,
            None => {
                self.0.push((family, PrefixMap::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(|(_, t)| t.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|(_, t)| t.is_empty())
    }

    /// Entries held without reallocating, all tables together.
    pub fn capacity(&self) -> usize {
        self.0.iter().map(|(_, t)| t.capacity()).sum()
    }

    pub fn get(&self, family: Family, prefix: &Prefix) -> Option<&V> {
        self.table(family)?.get(prefix)
    }

    pub fn insert(&mut self, family: Family, prefix: Prefix, value: V) -> Option<V> {
        self.table_or_default(family).insert(prefix, value)
    }

    pub fn remove(&mut self, family: Family, prefix: &Prefix) -> Option<V> {
        self.table_mut(family)?.remove(prefix)
    }

    pub fn iter(&self) -> impl Iterator<Item = ((Family, Prefix), &V)> {
        self.0.iter().flat_map(|(f, t)| t.iter().map(move |(p, v)| ((*f, p), v)))
    }

    pub fn keys(&self) -> impl Iterator<Item = (Family, Prefix)> + '_ {
        self.iter().map(|(k, _)| k)
    }

    pub fn shrink_to_fit(&mut self) {
        for (_, t) in &mut self.0 {
            t.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().expect("a prefix")
    }

    #[test]
    fn an_ipv4_key_is_8_bytes_and_gives_its_prefix_back() {
        assert_eq!(std::mem::size_of::<V4>(), 8);
        assert_eq!(std::mem::size_of::<Prefix>(), 18);
        for s in ["0.0.0.0/0", "10.0.0.0/8", "192.0.2.0/24", "255.255.255.255/32", "203.0.113.128/25"] {
            let k = V4::of(&p(s)).expect("an IPv4 key");
            assert_eq!(k.prefix(), p(s));
        }
        assert_eq!(V4::of(&p("2001:db8::/32")), None);
        // Same address, other length: other keys.
        assert_ne!(V4::of(&p("10.0.0.0/8")), V4::of(&p("10.0.0.0/16")));
    }

    /// The bucket sizes the module documentation lists, for the two maps of keel-rib.
    #[test]
    fn buckets_are_smaller_than_with_prefix_keys() {
        use crate::adj_rib_out::Sent;
        use crate::rib::Dest;
        use std::mem::size_of;
        assert_eq!(size_of::<(Prefix, Dest)>(), 64, "before: RIB");
        assert_eq!(PrefixMap::<Dest>::IPV4_BUCKET, 48);
        assert_eq!(PrefixMap::<Dest>::IPV6_BUCKET, 64);
        assert_eq!(size_of::<Sent>(), 24);
        assert_eq!(size_of::<((Family, Prefix), Sent)>(), 48, "before: Adj-RIB-Out");
        assert_eq!(PrefixMap::<Sent>::IPV4_BUCKET, 32);
        assert_eq!(PrefixMap::<Sent>::IPV6_BUCKET, 48);
    }

    #[test]
    fn both_address_families_in_one_map() {
        let mut m: PrefixMap<u32> = PrefixMap::default();
        assert!(m.is_empty());
        assert_eq!(m.insert(p("192.0.2.0/24"), 1), None);
        assert_eq!(m.insert(p("2001:db8::/32"), 2), None);
        assert_eq!(m.insert(p("192.0.2.0/24"), 3), Some(1));
        *m.get_or_default(p("198.51.100.0/24")) += 5;
        *m.get_or_default(p("2001:db8::/48")) += 6;
        assert_eq!(m.len(), 4);
        assert_eq!((m.len_of(Afi::IPV4), m.len_of(Afi::IPV6)), (2, 2));
        assert_eq!(m.get(&p("192.0.2.0/24")), Some(&3));
        assert!(m.contains_key(&p("2001:db8::/32")));
        assert!(!m.contains_key(&p("192.0.2.0/25")));
        *m.get_mut(&p("2001:db8::/32")).expect("held") += 10;
        let mut all: Vec<(Prefix, u32)> = m.iter().map(|(p, v)| (p, *v)).collect();
        all.sort();
        let want = [("192.0.2.0/24", 3), ("198.51.100.0/24", 5), ("2001:db8::/32", 12), ("2001:db8::/48", 6)];
        assert_eq!(all, want.map(|(s, v)| (p(s), v)));
        m.retain(|prefix, v| {
            *v += 1;
            prefix.len() != 48
        });
        assert_eq!(m.remove(&p("192.0.2.0/24")), Some(4));
        assert_eq!(m.remove(&p("192.0.2.0/24")), None);
        let mut keys: Vec<Prefix> = m.keys().collect();
        keys.sort();
        assert_eq!(keys, vec![p("198.51.100.0/24"), p("2001:db8::/32")]);
        assert_eq!(m.values().sum::<u32>(), 6 + 13);
        m.reserve(Afi::IPV4, 1000);
        assert!(m.capacity() >= 1001);
        m.clear();
        m.shrink_to_fit();
        assert!(m.is_empty());
    }

    #[test]
    fn a_family_map_keeps_families_apart() {
        let mut m: FamilyMap<u32> = FamilyMap::default();
        let multicast = Family { afi: Afi::IPV4, safi: keel_wire::Safi::MULTICAST };
        m.insert(Family::IPV4_UNICAST, p("192.0.2.0/24"), 1);
        m.insert(multicast, p("192.0.2.0/24"), 2);
        assert_eq!(m.len(), 2);
        assert_eq!(m.get(multicast, &p("192.0.2.0/24")), Some(&2));
        assert_eq!(m.remove(Family::IPV4_UNICAST, &p("192.0.2.0/24")), Some(1));
        assert_eq!(m.keys().collect::<Vec<_>>(), vec![(multicast, p("192.0.2.0/24"))]);
        assert_eq!(m.get(Family::IPV6_UNICAST, &p("192.0.2.0/24")), None);
    }
}
