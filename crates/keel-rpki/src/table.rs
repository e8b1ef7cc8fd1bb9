//! The VRP table: route origin validation (RFC 6811 §2) by exact-match lookups.
//!
//! A route P/len is covered by the VRPs whose prefix is P masked to some length l <= len. Per
//! family the table keeps a hash index from (prefix address, length) to the VRPs of that
//! prefix, and per bucket of addresses (IPv4: each /16, IPv6: each /32) the set of VRP prefix
//! lengths present in it. A route is looked up only at the lengths its own bucket has, longest
//! first, so most routes cost one or two hash lookups, and a route matched by a VRP of its own
//! length (the common valid case) stops at the first. IPv4 VRPs shorter than /16 are counted in
//! every bucket they span (a dense array of 2^16 masks); IPv6 VRPs shorter than /32 are few and
//! kept in one list probed for every route. Validation allocates nothing.

use crate::route::{route_origin_asn, RpkiState};
use crate::vrp::Vrp;
use keel_wire::attribute::AsPath;
use keel_wire::Prefix;
use rustc_hash::FxHashMap;
use std::hash::Hash;
use std::net::IpAddr;

/// An immutable VRP set indexed for validation. Duplicates are kept once.
#[derive(Debug, Clone, Default)]
pub struct VrpTable {
    v4: Family<u32>,
    v6: Family<u128>,
}

/// What one VRP authorizes beyond its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Authorization {
    max_len: u8,
    asn: u32,
}

/// An address as bits: masked to a prefix length, and its bucket.
trait Bits: Copy + Eq + Hash + Ord + Default {
    /// Bucket prefix length: lengths present are kept per bucket of this size.
    const BUCKET: u8;
    /// Shortest length kept in bucket masks, as bit 0 (masks hold 128 lengths).
    const BASE: u8;
    /// VRPs shorter than `BUCKET` are marked in every bucket they span (else kept in a list).
    const SPREAD: bool;
    fn masked(self, len: u8) -> Self;
    fn bucket(self) -> u32;
}

impl Bits for u32 {
    const BUCKET: u8 = 16;
    const BASE: u8 = 0;
    const SPREAD: bool = true;
    fn masked(self, len: u8) -> u32 {
        self & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
    }
    fn bucket(self) -> u32 {
        self >> 16
    }
}

impl Bits for u128 {
    const BUCKET: u8 = 32;
    const BASE: u8 = 32;
    const SPREAD: bool = false;
    fn masked(self, len: u8) -> u128 {
        self & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
    }
    fn bucket(self) -> u32 {
        (self >> 96) as u32
    }
}

#[derive(Debug, Clone, Default)]
struct Family<A> {
    /// Per bucket: bit `l - BASE` set when a VRP of length `l` lies in (or spans) it. IPv4:
    /// dense, indexed by bucket (2^16 entries); IPv6: `sparse`.
    dense: Vec<u128>,
    sparse: FxHashMap<u32, u128>,
    /// Lengths shorter than the bucket and not spread (IPv6 < /32), longest first.
    short: Vec<u8>,
    /// (prefix address, prefix length) -> `start..start + count` in `authorizations`.
    index: FxHashMap<(A, u8), (u32, u32)>,
    /// Grouped by prefix.
    authorizations: Vec<Authorization>,
}

impl<A: Bits> Family<A> {
    /// From (address, length, authorization) triples with host bits already cleared.
    fn build(mut vrps: Vec<(A, u8, Authorization)>) -> Family<A> {
        vrps.sort_unstable();
        vrps.dedup();
        let mut f = Family {
            dense: if A::SPREAD { vec![0; 1 << A::BUCKET] } else { Vec::new() },
            sparse: FxHashMap::default(),
            short: Vec::new(),
            index: FxHashMap::with_capacity_and_hasher(vrps.len(), Default::default()),
            authorizations: Vec::with_capacity(vrps.len()),
        };
        let mut short = [false; 129];
        for group in vrps.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
            let (addr, len, _) = group[0];
            let start = f.authorizations.len() as u32;
            f.authorizations.extend(group.iter().map(|v| v.2));
            f.index.insert((addr, len), (start, group.len() as u32));
            // Only lengths of at least BASE reach the masks (IPv6 below /32 goes to `short`).
            let bit = 1u128.checked_shl(u32::from(len.saturating_sub(A::BASE))).unwrap_or(0);
            if A::SPREAD {
                let first = addr.bucket() as usize;
                let span = if len >= A::BUCKET { 1 } else { 1 << (A::BUCKET - len) };
                for m in f.dense.iter_mut().skip(first).take(span) {
                    *m |= bit;
                }
            } else if len >= A::BUCKET {
                *f.sparse.entry(addr.bucket()).or_default() |= bit;
            } else {
                short[usize::from(len)] = true;
            }
        }
        f.index.shrink_to_fit();
        f.sparse.shrink_to_fit();
        f.short = (0..A::BUCKET).rev().filter(|&l| short[usize::from(l)]).collect();
        f
    }

    /// RFC 6811 §2: "Valid" when a covering VRP matches origin and length, "Invalid" when
    /// covered but matched by none, else "NotFound". A route whose origin is NONE (`None`,
    /// its AS_PATH ends in an AS_SET) matches no VRP.
    fn validate(&self, addr: A, len: u8, origin: Option<u32>) -> RpkiState {
        let mut covered = false;
        // Lengths present in the route's bucket, not longer than the route, longest first.
        let bucket = addr.bucket();
        let mask = if A::SPREAD { self.dense.get(bucket as usize) } else { self.sparse.get(&bucket) };
        let mut lengths = match mask {
            Some(&m) if len >= A::BASE => m & (u128::MAX >> (127 - (len - A::BASE))),
            _ => 0,
        };
        let shorter = self.short.iter().copied().skip_while(|&l| l > len);
        let bucketed = std::iter::from_fn(|| {
            let bit = 127u32.checked_sub(lengths.leading_zeros())?;
            lengths &= !(1 << bit);
            Some(bit as u8 + A::BASE)
        });
        for l in bucketed.chain(shorter) {
            let Some(&(start, count)) = self.index.get(&(addr.masked(l), l)) else { continue };
            covered = true;
            let Some(origin) = origin else { return RpkiState::Invalid };
            let group = &self.authorizations[start as usize..(start + count) as usize];
            // RFC 6483 §4: an AS 0 VRP says the prefix must not be routed; it matches nothing
            // (AS 0 is never a valid origin, RFC 7607).
            if group.iter().any(|a| a.asn == origin && origin != 0 && len <= a.max_len) {
                return RpkiState::Valid;
            }
        }
        if covered {
            RpkiState::Invalid
        } else {
            RpkiState::NotFound
        }
    }

    fn len(&self) -> usize {
        self.authorizations.len()
    }

    /// Heap bytes held: hash table buckets (key, value, control byte) and the VRP array.
    fn heap_bytes(&self) -> usize {
        fn table<K, V>(m: &FxHashMap<K, V>) -> usize {
            let slots = if m.capacity() == 0 { 0 } else { (m.capacity() * 8 / 7).next_power_of_two() };
            slots * (std::mem::size_of::<(K, V)>() + 1)
        }
        table(&self.index)
            + table(&self.sparse)
            + self.dense.capacity() * std::mem::size_of::<u128>()
            + self.authorizations.capacity() * std::mem::size_of::<Authorization>()
            + self.short.capacity()
    }
}

impl VrpTable {
    /// A table of `vrps`; duplicates are kept once.
    pub fn new(vrps: impl IntoIterator<Item = Vrp>) -> VrpTable {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for v in vrps {
            let a = Authorization { max_len: v.max_len(), asn: v.asn() };
            match v.prefix().addr() {
                IpAddr::V4(addr) => v4.push((u32::from(addr), v.prefix().len(), a)),
                IpAddr::V6(addr) => v6.push((u128::from(addr), v.prefix().len(), a)),
            }
        }
        VrpTable { v4: Family::build(v4), v6: Family::build(v6) }
    }

    /// The origin validation state of a route for `prefix` whose Route Origin ASN is `origin`
    /// (RFC 6811 §2; `None` is the RFC's NONE: the AS_PATH ends in an AS_SET).
    pub fn validate(&self, prefix: &Prefix, origin: Option<u32>) -> RpkiState {
        match prefix.addr() {
            IpAddr::V4(a) => self.v4.validate(u32::from(a), prefix.len(), origin),
            IpAddr::V6(a) => self.v6.validate(u128::from(a), prefix.len(), origin),
        }
    }

    /// [`validate`](Self::validate) with the origin taken from the route's AS_PATH (RFC 6811
    /// §2); `local_as` stands for an empty or missing path.
    pub fn validate_route(&self, prefix: &Prefix, as_path: Option<&AsPath>, local_as: u32) -> RpkiState {
        self.validate(prefix, route_origin_asn(as_path, local_as))
    }

    /// Distinct VRPs held.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (IPv4, IPv6) VRP counts.
    pub fn counts(&self) -> (usize, usize) {
        (self.v4.len(), self.v6.len())
    }

    /// Approximate heap bytes the table holds.
    pub fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes() + self.v6.heap_bytes()
    }
}

impl FromIterator<Vrp> for VrpTable {
    fn from_iter<I: IntoIterator<Item = Vrp>>(iter: I) -> VrpTable {
        VrpTable::new(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_wire::attribute::{AsSegment, SegmentType};
    use proptest::prelude::*;

    fn vrp(s: &str) -> Vrp {
        s.parse().unwrap()
    }

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    fn table() -> VrpTable {
        VrpTable::new(
            [
                "10.0.0.0/8-16 AS64496",
                "10.1.0.0/16 AS64497",
                "192.0.2.0/24 AS64498",
                "192.0.2.0/24 AS64499",
                "198.51.100.0/22-24 AS64500",
                "203.0.113.0/24 AS0",
                "0.0.0.0/0 AS64501",
                "2001:db8::/32-48 AS64510",
                "2001:db8:1::/48 AS64511",
            ]
            .map(vrp),
        )
    }

    /// RFC 6811 §2 cases: (route, origin, state, why).
    #[test]
    fn rfc6811_states() {
        use RpkiState::*;
        let t = table();
        let cases: &[(&str, Option<u32>, RpkiState, &str)] = &[
            ("10.0.0.0/8", Some(64496), Valid, "exact prefix, matching AS"),
            ("10.2.0.0/16", Some(64496), Valid, "more specific within max length"),
            ("10.2.3.0/24", Some(64496), Invalid, "longer than max length"),
            ("10.1.0.0/16", Some(64497), Valid, "second covering VRP matches"),
            ("10.1.0.0/16", Some(64496), Valid, "first covering VRP matches (max length 16)"),
            ("10.1.0.0/16", Some(64999), Invalid, "covered, no AS matches"),
            ("10.0.0.0/8", None, Invalid, "origin NONE (AS_SET) cannot match"),
            ("192.0.2.0/24", Some(64498), Valid, "one of two VRPs of the prefix"),
            ("192.0.2.0/24", Some(64499), Valid, "the other"),
            ("192.0.2.0/25", Some(64498), Invalid, "longer than max length 24"),
            ("198.51.101.0/24", Some(64500), Valid, "within /22-24"),
            ("198.51.100.0/23", Some(64500), Valid, "within /22-24"),
            ("203.0.113.0/24", Some(0), Invalid, "AS 0 VRP matches nothing (RFC 6483 §4)"),
            ("203.0.113.0/24", Some(64501), Invalid, "AS 0 VRP covers; default VRP only up to /0"),
            ("0.0.0.0/0", Some(64501), Valid, "default route VRP"),
            ("2001:db8:2::/48", Some(64510), Valid, "IPv6 within max length"),
            ("2001:db8:1::/48", Some(64511), Valid, "IPv6 exact"),
            ("2001:db8:1:1::/64", Some(64511), Invalid, "IPv6 too specific"),
            ("2001:db9::/32", Some(64510), NotFound, "IPv6 not covered"),
            ("2001:db8::/31", Some(64510), NotFound, "less specific than every VRP"),
        ];
        for &(route, origin, want, why) in cases {
            assert_eq!(t.validate(&p(route), origin), want, "{route} from {origin:?}: {why}");
        }
        // Without the default-route VRP, uncovered IPv4 space is not found.
        let t = VrpTable::new(["10.0.0.0/8 AS64496".parse::<Vrp>().unwrap()]);
        assert_eq!(t.validate(&p("11.0.0.0/8"), Some(64496)), NotFound);
        assert_eq!(t.validate(&p("0.0.0.0/0"), Some(64496)), NotFound);
        assert_eq!(VrpTable::default().validate(&p("10.0.0.0/8"), None), NotFound);
    }

    #[test]
    fn origin_comes_from_the_path() {
        let t = table();
        let path = AsPath::sequence(vec![65001, 64496]);
        assert_eq!(t.validate_route(&p("10.0.0.0/8"), Some(&path), 65000), RpkiState::Valid);
        let set = AsPath {
            segments: vec![
                AsSegment { kind: SegmentType::Sequence, asns: vec![65001, 64496].into() },
                AsSegment { kind: SegmentType::Set, asns: vec![64496].into() },
            ]
            .into(),
        };
        assert_eq!(t.validate_route(&p("10.0.0.0/8"), Some(&set), 65000), RpkiState::Invalid);
        // keel's own route (no AS_PATH yet): origin is keel's AS.
        assert_eq!(t.validate_route(&p("10.1.0.0/16"), None, 64497), RpkiState::Valid);
        assert_eq!(t.validate_route(&p("10.1.0.0/16"), Some(&AsPath::default()), 64497), RpkiState::Valid);
    }

    #[test]
    fn duplicates_count_once() {
        let t = VrpTable::new(["10.0.0.0/8 AS1", "10.0.0.0/8 AS1", "10.0.0.0/8-9 AS1", "2001:db8::/32 AS1"].map(vrp));
        assert_eq!((t.len(), t.counts()), (3, (2, 1)));
        assert!(t.heap_bytes() > 0);
    }

    #[test]
    fn vrp_syntax_and_bounds() {
        assert_eq!(vrp("10.0.0.0/8-16 AS64496").to_string(), "10.0.0.0/8-16 AS64496");
        assert_eq!(vrp("10.0.0.0/8 64496").max_len(), 8);
        assert!("10.0.0.0/8-7 AS1".parse::<Vrp>().is_err());
        assert!("10.0.0.0/8-33 AS1".parse::<Vrp>().is_err());
        assert!("10.0.0.1/8 AS1".parse::<Vrp>().is_err());
        assert!("2001:db8::/32-129 AS1".parse::<Vrp>().is_err());
        let v = Vrp::from_parts("10.1.2.3".parse().unwrap(), 8, 24, 1).unwrap();
        assert_eq!(v.prefix(), p("10.0.0.0/8"));
        assert!(Vrp::from_parts("10.1.2.3".parse().unwrap(), 33, 33, 1).is_err());
    }

    /// Brute force RFC 6811 §2 over the VRP list, to check the index against.
    fn reference(vrps: &[Vrp], prefix: &Prefix, origin: Option<u32>) -> RpkiState {
        let covers = |v: &Vrp| {
            v.prefix().is_ipv4() == prefix.is_ipv4()
                && v.prefix().len() <= prefix.len()
                && Prefix::new(prefix.addr(), v.prefix().len()) == Some(v.prefix())
        };
        let covering: Vec<&Vrp> = vrps.iter().filter(|v| covers(v)).collect();
        if covering.is_empty() {
            RpkiState::NotFound
        } else if covering.iter().any(|v| Some(v.asn()) == origin && v.asn() != 0 && prefix.len() <= v.max_len()) {
            RpkiState::Valid
        } else {
            RpkiState::Invalid
        }
    }

    fn arb_prefix() -> impl Strategy<Value = Prefix> {
        prop_oneof![
            // Few distinct addresses, so that VRPs and routes overlap often.
            (0u32..16, 0u8..=32).prop_map(|(a, l)| Prefix::new(IpAddr::from((a << 28).to_be_bytes()), l).unwrap()),
            (any::<u32>(), 0u8..=32).prop_map(|(a, l)| Prefix::new(IpAddr::from(a.to_be_bytes()), l).unwrap()),
            (0u128..16, 0u8..=128).prop_map(|(a, l)| Prefix::new(IpAddr::from((a << 124).to_be_bytes()), l).unwrap()),
        ]
    }

    fn arb_vrp() -> impl Strategy<Value = Vrp> {
        (arb_prefix(), 0u8..=128, 0u32..4).prop_map(|(p, extra, asn)| {
            let bits = if p.is_ipv4() { 32 } else { 128 };
            Vrp::new(p, p.len() + extra % (bits - p.len() + 1), asn).unwrap()
        })
    }

    proptest! {
        #[test]
        fn validation_agrees_with_brute_force(
            vrps in proptest::collection::vec(arb_vrp(), 0..40),
            routes in proptest::collection::vec((arb_prefix(), proptest::option::of(0u32..4)), 1..40),
        ) {
            let t = VrpTable::new(vrps.iter().copied());
            for (prefix, origin) in routes {
                prop_assert_eq!(t.validate(&prefix, origin), reference(&vrps, &prefix, origin), "{} {:?}", prefix, origin);
            }
        }

        #[test]
        fn vrp_parsing_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<Vrp>();
        }
    }
}
