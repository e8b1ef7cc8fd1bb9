//! keel-tablegen: deterministic, Internet-like BGP tables for tests, benchmarks and keel lab.
//!
//! A [`TableSpec`] (seed, sizes, peer index) always gives the same [`Table`]. The model:
//!
//! - A tiered AS graph (CAIDA AS-relationship style): a clique of tier-1s, a few hundred
//!   transit ASes and many stubs, each attached to 1-3 providers by preferential attachment,
//!   which gives the power-law-ish degree distribution seen in the real graph.
//! - Every route is originated by an AS drawn with Zipf-like weights (a few origins announce
//!   thousands of prefixes, most only a handful). Its AS path is the valley-free walk from the
//!   feeding peer's AS down through providers to the origin (RFC 4271 §5.1.2 order: peer
//!   first, origin last), mean length about 4.3, sometimes with origin prepending.
//! - Prefix lengths follow the shape of the public DFZ: IPv4 about 60% /24, most of the rest
//!   /16-/23, few /8-/15; IPv6 mostly /48, then /32-/44.
//! - Prefixes of one origin are grouped 3-6 per attribute set; about half the sets carry
//!   COMMUNITIES (RFC 1997), a tenth LARGE_COMMUNITY (RFC 8092), some MULTI_EXIT_DISC;
//!   ORIGIN is mostly IGP.
//!
//! Prefixes avoid 0/8, 10/8, 127/8 and 224/3 (IPv4) and stay in 2000::/3 (IPv6). Next hops
//! are in the benchmarking ranges 198.18.0.0/15 (RFC 2544) and 2001:2::/48 (RFC 5180).
//! [`TableSpec::for_peer`] changes the feeding AS, the paths, communities and next hop, never
//! the prefixes or their grouping.

use keel_wire::attribute::LargeCommunity;
use keel_wire::builder;
use keel_wire::Update;
use keel_wire::{AsPath, CodecOptions, Community, EncodeError, Family, NextHop, Nlri, Origin, PathAttributes, Prefix};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub seed: u64,
    pub ipv4_routes: usize,
    pub ipv6_routes: usize,
    /// Which feeding peer: different peers have different ASes, paths and next hops. Peers
    /// 0-14 are tier-1s (mean path length ~4.3), later ones large transit ASes (~5.3).
    pub peer: u32,
}

impl Default for TableSpec {
    /// A full feed of 2025 size: 1.05M IPv4 and 230k IPv6 prefixes, peer 0.
    fn default() -> Self {
        TableSpec { seed: 1, ipv4_routes: 1_050_000, ipv6_routes: 230_000, peer: 0 }
    }
}

impl TableSpec {
    /// The same table as fed by peer `peer`.
    pub fn for_peer(&self, peer: u32) -> TableSpec {
        TableSpec { peer, ..self.clone() }
    }
}

/// Prefixes sharing one attribute set, next hop and family: one UPDATE's worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteGroup {
    /// Without NEXT_HOP, MP_REACH_NLRI or MP_UNREACH_NLRI (those come from `next_hop`).
    pub attributes: PathAttributes,
    pub next_hop: NextHop,
    pub family: Family,
    pub prefixes: Vec<Nlri>,
}

/// A generated feed: IPv4 unicast groups first, then IPv6 unicast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub spec: TableSpec,
    pub groups: Vec<RouteGroup>,
    /// The feeding peer's AS (first AS of every path).
    pub peer_as: u32,
}

impl Table {
    /// Generates the table for `spec`.
    pub fn generate(spec: &TableSpec) -> Table {
        Generator::new(spec).run()
    }

    /// The groups of one family.
    pub fn family(&self, family: Family) -> impl Iterator<Item = &RouteGroup> {
        self.groups.iter().filter(move |g| g.family == family)
    }

    /// Number of prefixes of `family`.
    pub fn prefix_count(&self, family: Family) -> usize {
        self.family(family).map(|g| g.prefixes.len()).sum()
    }

    /// Appends the UPDATEs announcing `family`'s groups, then its End-of-RIB (RFC 4724 §2);
    /// returns how many messages were written.
    pub fn write_family(&self, family: Family, opts: &CodecOptions, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
        let mut n = 0;
        for g in self.family(family) {
            n += builder::announce(g.family, &g.attributes, g.next_hop, &g.prefixes, opts, out)?;
        }
        out.extend_from_slice(&Update::end_of_rib(family).encode(opts)?);
        Ok(n + 1)
    }

    /// Appends the whole feed as UPDATEs: IPv4 unicast then IPv6 unicast, each closed by its
    /// End-of-RIB; returns how many messages were written.
    pub fn write_updates(&self, opts: &CodecOptions, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
        Ok(self.write_family(Family::IPV4_UNICAST, opts, out)? + self.write_family(Family::IPV6_UNICAST, opts, out)?)
    }
}

/// splitmix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for synthetic data.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    /// Uniform in `0..n` (`n > 0`), by multiply-shift.
    fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
    fn range(&mut self, lo: u64, hi_incl: u64) -> u64 {
        lo + self.below(hi_incl - lo + 1)
    }
    /// True with probability `per_mille`/1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
    /// Index into `weights` drawn proportionally to them.
    fn weighted(&mut self, weights: &[(u8, u32)]) -> u8 {
        let total: u32 = weights.iter().map(|w| w.1).sum();
        let mut x = self.below(total as u64) as u32;
        for &(v, w) in weights {
            if x < w {
                return v;
            }
            x -= w;
        }
        weights[weights.len() - 1].0
    }
}

/// The splitmix64 output function, also used as a stateless hash.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FxHash-style hasher for the generator's own sets: fast, and deterministic (iteration
/// order is never used for output anyway).
#[derive(Default, Clone, Copy)]
struct Fx(u64);

impl Fx {
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
    }
    fn write_u8(&mut self, x: u8) {
        self.add(x as u64)
    }
    fn write_u16(&mut self, x: u16) {
        self.add(x as u64)
    }
    fn write_u32(&mut self, x: u32) {
        self.add(x as u64)
    }
    fn write_u64(&mut self, x: u64) {
        self.add(x)
    }
    fn write_usize(&mut self, x: usize) {
        self.add(x as u64)
    }
    fn finish(&self) -> u64 {
        mix(self.0)
    }
}

type FxSet<T> = HashSet<T, BuildHasherDefault<Fx>>;
type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

/// IPv4 prefix lengths in per-ten-thousand, after the shape of the 2024-2025 DFZ.
const IPV4_LENGTHS: &[(u8, u32)] = &[
    (8, 2),
    (9, 2),
    (10, 4),
    (11, 7),
    (12, 12),
    (13, 18),
    (14, 25),
    (15, 30),
    (16, 130),
    (17, 90),
    (18, 150),
    (19, 300),
    (20, 450),
    (21, 480),
    (22, 1150),
    (23, 1150),
    (24, 6000),
];

/// IPv6 prefix lengths in per-ten-thousand.
const IPV6_LENGTHS: &[(u8, u32)] = &[
    (28, 40),
    (29, 300),
    (30, 60),
    (31, 40),
    (32, 1200),
    (33, 80),
    (34, 80),
    (35, 60),
    (36, 350),
    (38, 60),
    (40, 600),
    (42, 100),
    (44, 900),
    (45, 50),
    (46, 300),
    (47, 200),
    (48, 5580),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    One,
    Transit,
    Regional,
    Stub,
}

struct As {
    asn: u32,
    tier: Tier,
    providers: Vec<u32>,
}

/// The AS graph. Indices into `ases`; tier-1s first, then transit, regional, stubs.
struct Graph {
    ases: Vec<As>,
    tier1: usize,
    transit: usize,
}

impl Graph {
    /// `n` ASes: 15 tier-1s, n/500 large transit, n/125 regional transit, the rest stubs.
    fn new(rng: &mut Rng, n: usize) -> Graph {
        let tier1 = 15;
        let transit = (n / 500).max(20);
        let regional = (n / 125).max(60);
        let stubs = n.saturating_sub(tier1 + transit + regional).max(100);
        let mut used = FxSet::default();
        let mut asn = |rng: &mut Rng, four_octet: bool| loop {
            let a = if four_octet { rng.range(131_072, 399_999) } else { rng.range(1, 64_495) } as u32;
            // AS_TRANS (RFC 6793) is never a real AS.
            if a != 23_456 && used.insert(a) {
                return a;
            }
        };
        let mut ases = Vec::with_capacity(tier1 + transit + regional + stubs);
        // Preferential attachment: an AS appears once per customer it has, plus once.
        let mut tickets: [Vec<u32>; 3] = Default::default();
        for i in 0..tier1 {
            ases.push(As { asn: asn(rng, false), tier: Tier::One, providers: Vec::new() });
            tickets[0].push(i as u32);
        }
        let attach = |rng: &mut Rng, tickets: &mut [Vec<u32>; 3], mix: &[(u8, u32)], most: u64| {
            let mut providers: Vec<u32> = Vec::new();
            for _ in 0..rng.range(1, most) {
                let t = &mut tickets[rng.weighted(mix) as usize];
                let p = t[rng.below(t.len() as u64) as usize];
                if !providers.contains(&p) {
                    providers.push(p);
                    t.push(p);
                }
            }
            providers
        };
        for _ in 0..transit {
            let providers = attach(rng, &mut tickets, &[(0, 1)], 2);
            let four = rng.chance(50);
            ases.push(As { asn: asn(rng, four), tier: Tier::Transit, providers });
            tickets[1].push(ases.len() as u32 - 1);
        }
        for _ in 0..regional {
            let providers = attach(rng, &mut tickets, &[(0, 2), (1, 8)], 3);
            let four = rng.chance(100);
            ases.push(As { asn: asn(rng, four), tier: Tier::Regional, providers });
            tickets[2].push(ases.len() as u32 - 1);
        }
        for _ in 0..stubs {
            let providers = attach(rng, &mut tickets, &[(0, 15), (1, 35), (2, 50)], 2);
            let four = rng.chance(400);
            ases.push(As { asn: asn(rng, four), tier: Tier::Stub, providers });
        }
        Graph { ases, tier1, transit }
    }

    /// The feeding AS of peer `peer`: a tier-1, or a large transit AS for peers beyond them.
    fn peer_index(&self, peer: u32) -> u32 {
        (peer as usize % (self.tier1 + self.transit)) as u32
    }

    /// AS path from peer AS `from` to `origin`: the origin climbs through providers (the
    /// choice depends on the peer, for multi-homed ASes) until it meets the peer or a tier-1.
    fn path(&self, from: u32, origin: u32, salt: u64) -> Vec<u32> {
        let pick = |i: u32| {
            let p = &self.ases[i as usize].providers;
            p[(mix(salt ^ i as u64) % p.len() as u64) as usize]
        };
        let mut climb = vec![origin];
        let mut cur = origin;
        while cur != from && self.ases[cur as usize].tier != Tier::One {
            cur = pick(cur);
            climb.push(cur);
        }
        let mut down = Vec::with_capacity(climb.len() + 2);
        if cur != from {
            down.push(from);
            if self.ases[from as usize].tier != Tier::One {
                // The peer reaches the other tier-1 through its own tier-1 provider.
                let up = pick(from);
                if up != cur {
                    down.push(up);
                }
            }
        }
        down.extend(climb.iter().rev());
        down.into_iter().map(|i| self.ases[i as usize].asn).collect()
    }
}

struct Generator<'a> {
    spec: &'a TableSpec,
    /// Structure: graph, origins, prefixes, grouping. Same for every peer.
    rng: Rng,
    /// Per-peer choices: communities, MED, prepending.
    peer_rng: Rng,
    graph: Graph,
    /// Cumulative Zipf weights over `origin_order`.
    cumulative: Vec<f64>,
    origin_order: Vec<u32>,
    peer: u32,
    paths: Vec<Option<Vec<u32>>>,
}

impl<'a> Generator<'a> {
    fn new(spec: &'a TableSpec) -> Self {
        let mut rng = Rng::new(mix(spec.seed));
        let peer_rng = Rng::new(mix(spec.seed ^ mix(0x7065_6572 ^ spec.peer as u64)));
        // About 14 IPv4 prefixes per origin AS, as in the real table (~75k origins).
        let graph = Graph::new(&mut rng, (spec.ipv4_routes.max(spec.ipv6_routes) / 14).max(200));
        // Zipf with exponent 0.7 over a random order of all ASes: the largest origin then
        // announces about 1% of the table.
        let mut origin_order: Vec<u32> = (0..graph.ases.len() as u32).collect();
        for i in (1..origin_order.len()).rev() {
            origin_order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut sum = 0.0;
        let cumulative = (0..origin_order.len())
            .map(|r| {
                sum += 1.0 / ((r + 1) as f64).powf(0.7);
                sum
            })
            .collect();
        let peer = graph.peer_index(spec.peer);
        let paths = vec![None; graph.ases.len()];
        Generator { spec, rng, peer_rng, graph, cumulative, origin_order, peer, paths }
    }

    fn run(mut self) -> Table {
        let mut groups = Vec::new();
        let v4_nh = NextHop::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 1)) + self.spec.peer));
        let v6_nh = NextHop::V6 {
            global: Ipv6Addr::from((0x2001_0002u128 << 96) + 1 + self.spec.peer as u128),
            link_local: None,
        };
        self.family(Family::IPV4_UNICAST, self.spec.ipv4_routes, v4_nh, &mut groups);
        self.family(Family::IPV6_UNICAST, self.spec.ipv6_routes, v6_nh, &mut groups);
        let peer_as = self.graph.ases[self.peer as usize].asn;
        Table { spec: self.spec.clone(), groups, peer_as }
    }

    fn family(&mut self, family: Family, count: usize, next_hop: NextHop, groups: &mut Vec<RouteGroup>) {
        let mut seen_prefixes = FxSet::with_capacity_and_hasher(count, Default::default());
        let mut seen_attrs = FxSet::default();
        // Per attribute set, the last MED used to tell its copies apart.
        let mut last_med = FxMap::default();
        let mut left = count;
        while left > 0 {
            let mut size = self.rng.range(3, 6) as usize;
            if left <= 6 {
                size = left;
            } else if left - size < 3 {
                size = left - 3;
            }
            left -= size;
            let origin = self.origin();
            let prefixes = (0..size).map(|_| Nlri::new(self.prefix(family, &mut seen_prefixes))).collect();
            let mut attributes = self.attributes(origin);
            // Each group is its own attribute set: tell colliding ones apart by MED.
            if seen_attrs.contains(&attributes) {
                let next = last_med.entry(attributes.clone()).or_insert(0);
                while seen_attrs.contains(&attributes) {
                    *next += 10;
                    attributes.med = Some(*next);
                }
            }
            seen_attrs.insert(attributes.clone());
            groups.push(RouteGroup { attributes, next_hop, family, prefixes });
        }
    }

    fn origin(&mut self) -> u32 {
        let total = self.cumulative[self.cumulative.len() - 1];
        let x = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
        let r = self.cumulative.partition_point(|&c| c <= x).min(self.origin_order.len() - 1);
        self.origin_order[r]
    }

    fn prefix(&mut self, family: Family, seen: &mut FxSet<Prefix>) -> Prefix {
        loop {
            let p = if family == Family::IPV4_UNICAST {
                let len = self.rng.weighted(IPV4_LENGTHS);
                let first = loop {
                    let f = self.rng.range(1, 223) as u32;
                    if f != 10 && f != 127 {
                        break f;
                    }
                };
                let addr = first << 24 | (self.rng.next_u64() as u32 & 0x00ff_ffff);
                Prefix::new(IpAddr::V4(Ipv4Addr::from(addr)), len)
            } else {
                let len = self.rng.weighted(IPV6_LENGTHS);
                // 2000::/3, random in the bits a prefix of at most /48 uses.
                let top = (self.rng.next_u64() & 0x1fff_ffff_ffff) | 0x2000_0000_0000;
                Prefix::new(IpAddr::V6(Ipv6Addr::from((top as u128) << 80)), len)
            };
            let p = p.expect("lengths are within the family");
            if seen.insert(p) {
                return p;
            }
        }
    }

    fn attributes(&mut self, origin: u32) -> PathAttributes {
        let peer = self.peer;
        let salt = mix(self.spec.seed ^ mix(self.spec.peer as u64 + 1));
        let graph = &self.graph;
        let path = self.paths[origin as usize].get_or_insert_with(|| graph.path(peer, origin, salt)).clone();
        let r = &mut self.peer_rng;
        let mut asns = path;
        let origin_as = asns[asns.len() - 1];
        // Origin prepending for traffic engineering.
        if r.chance(80) {
            for _ in 0..r.range(1, 3) {
                asns.push(origin_as);
            }
        }
        let mut a = PathAttributes {
            origin: Some(match r.below(1000) {
                0..=879 => Origin::Igp,
                880..=989 => Origin::Incomplete,
                _ => Origin::Egp,
            }),
            ..Default::default()
        };
        if r.chance(150) {
            a.med = Some(r.below(2000) as u32);
        }
        if r.chance(500) {
            // Tags set by the ASes on the path, like "learned in region/city" communities.
            let taggers: Vec<u32> = asns.iter().copied().filter(|&x| x <= 0xffff).collect();
            let n = r.range(1, 6);
            for _ in 0..n {
                let asn = taggers.get(r.below(taggers.len().max(1) as u64) as usize).copied().unwrap_or(65_000);
                let c = Community::new(asn as u16, r.range(100, 3999) as u16);
                if !a.communities.contains(&c) {
                    a.communities.push(c);
                }
            }
        }
        if r.chance(100) {
            for _ in 0..r.range(1, 3) {
                let global_admin = asns[r.below(asns.len() as u64) as usize];
                let c = LargeCommunity {
                    global_admin,
                    local_data_1: r.range(1, 20) as u32,
                    local_data_2: r.below(10_000) as u32,
                };
                if !a.large_communities.contains(&c) {
                    a.large_communities.push(c);
                }
            }
        }
        a.as_path = Some(AsPath::sequence(asns));
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_wire::Message;

    fn small(seed: u64) -> TableSpec {
        TableSpec { seed, ipv4_routes: 20_000, ipv6_routes: 5_000, peer: 0 }
    }

    fn bytes(spec: &TableSpec) -> Vec<u8> {
        let mut out = Vec::new();
        Table::generate(spec).write_updates(&CodecOptions::default(), &mut out).unwrap();
        out
    }

    #[test]
    fn deterministic() {
        assert_eq!(bytes(&small(7)), bytes(&small(7)));
        assert_ne!(bytes(&small(7)), bytes(&small(8)));
    }

    #[test]
    fn peers_differ_in_paths_not_prefixes() {
        let a = Table::generate(&small(3));
        let b = Table::generate(&small(3).for_peer(4));
        assert_ne!(a.peer_as, b.peer_as);
        let prefixes = |t: &Table| t.groups.iter().map(|g| g.prefixes.clone()).collect::<Vec<_>>();
        assert_eq!(prefixes(&a), prefixes(&b));
        assert_ne!(a.groups, b.groups);
        assert!(b.groups.iter().all(|g| g.attributes.as_path.as_ref().unwrap().neighbor_as() == Some(b.peer_as)));
    }

    #[test]
    fn shape() {
        let t = Table::generate(&small(1));
        assert_eq!(t.prefix_count(Family::IPV4_UNICAST), 20_000);
        assert_eq!(t.prefix_count(Family::IPV6_UNICAST), 5_000);
        let v4: Vec<Prefix> =
            t.family(Family::IPV4_UNICAST).flat_map(|g| g.prefixes.iter().map(|n| n.prefix)).collect();
        let share24 = v4.iter().filter(|p| p.len() == 24).count() as f64 / v4.len() as f64;
        assert!((0.55..=0.65).contains(&share24), "/24 share {share24}");
        assert!(v4.iter().all(|p| (8..=24).contains(&p.len()) && p.is_ipv4()));
        let v6: Vec<Prefix> =
            t.family(Family::IPV6_UNICAST).flat_map(|g| g.prefixes.iter().map(|n| n.prefix)).collect();
        let share48 = v6.iter().filter(|p| p.len() == 48).count() as f64 / v6.len() as f64;
        assert!((0.5..=0.62).contains(&share48), "/48 share {share48}");
        let all: HashSet<Prefix> = v4.iter().chain(&v6).copied().collect();
        assert_eq!(all.len(), 25_000, "prefixes are unique");
        for p in &all {
            // Host bits clear: the prefix re-parses from its text form.
            assert_eq!(p.to_string().parse::<Prefix>().unwrap(), *p);
            if let IpAddr::V4(a) = p.addr() {
                assert!(![0, 10, 127].contains(&a.octets()[0]) && a.octets()[0] < 224, "{p}");
            }
        }
        assert!(t.groups.iter().all(|g| (3..=6).contains(&g.prefixes.len())));
        let n = t.groups.len() as f64;
        let mean_path =
            t.groups.iter().map(|g| g.attributes.as_path.as_ref().unwrap().path_length()).sum::<usize>() as f64 / n;
        assert!((3.8..=4.8).contains(&mean_path), "mean AS path length {mean_path}");
        let share =
            |f: &dyn Fn(&PathAttributes) -> bool| t.groups.iter().filter(|g| f(&g.attributes)).count() as f64 / n;
        let communities = share(&|a| !a.communities.is_empty());
        assert!((0.45..=0.55).contains(&communities), "communities {communities}");
        let large = share(&|a| !a.large_communities.is_empty());
        assert!((0.07..=0.13).contains(&large), "large communities {large}");
        let igp = share(&|a| a.origin == Some(Origin::Igp));
        assert!(igp > 0.8, "IGP {igp}");
        let four = share(&|a| a.as_path.as_ref().unwrap().origin_as().unwrap() > 0xffff);
        assert!((0.2..=0.5).contains(&four), "4-octet origins {four}");
        let sets: HashSet<(Family, &PathAttributes)> = t.groups.iter().map(|g| (g.family, &g.attributes)).collect();
        assert_eq!(sets.len(), t.groups.len(), "one group per attribute set");
    }

    #[test]
    fn updates_decode_to_the_table() {
        let t = Table::generate(&small(5));
        let opts = CodecOptions::default();
        let mut out = Vec::new();
        let messages = t.write_updates(&opts, &mut out).unwrap();
        let mut rest = out.as_slice();
        let mut decoded = Vec::new();
        let mut eor = Vec::new();
        while let Some(frame) = Message::next_frame(rest, &opts).unwrap() {
            rest = &rest[frame.len()..];
            let Message::Update(mut u) = Message::decode(frame, &opts).unwrap() else { panic!("not an UPDATE") };
            assert!(u.errors.is_empty(), "{:?}", u.errors);
            if let Some(f) = u.as_end_of_rib() {
                eor.push(f);
                continue;
            }
            let (family, next_hop, prefixes) = match u.attributes.mp_reach.take() {
                Some(m) => (m.family, m.next_hop, m.nlri),
                None => (Family::IPV4_UNICAST, NextHop::V4(u.attributes.next_hop.take().unwrap()), u.announced),
            };
            decoded.push(RouteGroup { attributes: u.attributes, next_hop, family, prefixes });
        }
        assert!(rest.is_empty());
        assert_eq!(messages, decoded.len() + eor.len());
        assert_eq!(eor, [Family::IPV4_UNICAST, Family::IPV6_UNICAST]);
        assert_eq!(decoded, t.groups);
    }
}
