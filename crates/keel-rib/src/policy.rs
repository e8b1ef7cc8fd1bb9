//! Routing policy: named policies of ordered terms, each a set of match conditions (all must
//! hold), attribute actions, and an optional final verdict. A neighbor's import or export is a
//! chain of policies evaluated in order; the first verdict wins, and a route that falls off
//! the end of the chain is rejected (no implicit accept, in the spirit of RFC 8212).
//!
//! Matches on the prefix (prefix lists) and on the RPKI state (RFC 6811) are computed once per
//! route, from the route as received; every other match sees the attributes as modified by
//! the terms before it. The outcome is therefore a function of the input attribute set and
//! those per-route results ([`Chain::route_key`]), so callers evaluate each distinct pair once
//! and share the result among the prefixes of an UPDATE.

use crate::attr_set::AttrSet;
use keel_wire::{AsPath, Community, ExtendedCommunity, Family, LargeCommunity, NextHop, Prefix};
use rustc_hash::FxHashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// RFC 6811 §2 validation state.
pub use keel_rpki::RpkiState;

/// One prefix-list entry: `prefix` and every more specific prefix whose length is within
/// `ge..=le` (both default to the prefix's own length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixEntry {
    pub prefix: Prefix,
    pub ge: u8,
    pub le: u8,
}

/// Why a word of a policy (a prefix-list entry, a community pattern) could not be read; the
/// configuration adds the file, line and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    #[error("empty prefix-list entry")]
    EmptyEntry,
    /// keel-wire's reason the prefix is not one.
    #[error("{0}")]
    Prefix(String),
    #[error("{entry:?}: {word} needs a prefix length after it")]
    MissingLength { entry: String, word: String },
    #[error("{entry:?}: expected `ge N` or `le N` after the prefix, found {word:?}")]
    UnexpectedWord { entry: String, word: String },
    #[error("{entry:?}: lengths must satisfy {len} <= ge <= le <= {max}")]
    Lengths { entry: String, len: u8, max: u8 },
    /// One part of a pattern (`*` allowed).
    #[error("{text:?} is not a {what} or *")]
    Part { text: String, what: &'static str },
    /// The whole pattern, `what` saying its form.
    #[error("{text:?} is not a {what}")]
    Pattern { text: String, what: &'static str },
    #[error("{text:?}: 0x needs 16 hex digits ({digits} given)")]
    HexDigits { text: String, digits: usize },
    #[error("{text:?}: unknown extended community kind {kind:?} (rt, ro)")]
    ExtendedKind { text: String, kind: String },
    #[error("{text:?}: {asn:?} is not a 2-octet AS")]
    TwoOctetAs { text: String, asn: String },
}

impl std::str::FromStr for PrefixEntry {
    type Err = SyntaxError;
    /// `PREFIX [ge N] [le N]`, e.g. `203.0.113.0/24 ge 25 le 28`.
    fn from_str(s: &str) -> Result<Self, SyntaxError> {
        let mut words = s.split_whitespace();
        let prefix: Prefix = words.next().ok_or(SyntaxError::EmptyEntry)?.parse().map_err(SyntaxError::Prefix)?;
        let (mut ge, mut le) = (None, None);
        while let Some(w) = words.next() {
            let n: u8 = words
                .next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| SyntaxError::MissingLength { entry: s.into(), word: w.into() })?;
            match w {
                "ge" => ge = Some(n),
                "le" => le = Some(n),
                _ => return Err(SyntaxError::UnexpectedWord { entry: s.into(), word: w.into() }),
            }
        }
        let max = if prefix.is_ipv4() { 32 } else { 128 };
        let ge = ge.unwrap_or(prefix.len());
        // `ge` alone means "up to the longest prefix".
        let le = le.unwrap_or(if ge > prefix.len() { max } else { prefix.len() });
        if !(prefix.len() <= ge && ge <= le && le <= max) {
            return Err(SyntaxError::Lengths { entry: s.into(), len: prefix.len(), max });
        }
        Ok(PrefixEntry { prefix, ge, le })
    }
}

/// Entries of one length: their (ge, le) ranges by prefix.
type EntriesAt = FxHashMap<Prefix, Vec<(u8, u8)>>;

/// A prefix list, indexed by entry length: a lookup masks the route's prefix to each length
/// present and probes a hash map, so a 5,000-entry list costs a handful of probes.
#[derive(Debug, Clone, Default)]
pub struct PrefixList {
    /// (IPv4?, entry length, entries by masked prefix).
    by_len: Vec<(bool, u8, EntriesAt)>,
    len: usize,
}

impl PrefixList {
    pub fn new(entries: impl IntoIterator<Item = PrefixEntry>) -> PrefixList {
        let mut l = PrefixList::default();
        for e in entries {
            let key = (e.prefix.is_ipv4(), e.prefix.len());
            let i = match l.by_len.iter().position(|(v4, len, _)| (*v4, *len) == key) {
                Some(i) => i,
                None => {
                    l.by_len.push((key.0, key.1, FxHashMap::default()));
                    l.by_len.len() - 1
                }
            };
            l.by_len[i].2.entry(e.prefix).or_default().push((e.ge, e.le));
            l.len += 1;
        }
        l.by_len.sort_by_key(|(v4, len, _)| (*v4, *len));
        l
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn matches(&self, p: &Prefix) -> bool {
        // Sorted by (family, length): IPv6 buckets first, then IPv4, each by length.
        let v4 = p.is_ipv4();
        let start = self.by_len.partition_point(|(x, _, _)| !*x && v4);
        let family = self.by_len[start..].iter().take_while(|(x, _, _)| *x == v4);
        family.take_while(|(_, len, _)| *len <= p.len()).any(|(_, len, m)| {
            Prefix::new(p.addr(), *len)
                .and_then(|k| m.get(&k))
                .is_some_and(|ranges| ranges.iter().any(|(ge, le)| (*ge..=*le).contains(&p.len())))
        })
    }
}

/// A community pattern: each part a value or `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommunityPattern(pub Option<u16>, pub Option<u16>);

impl CommunityPattern {
    pub fn matches(&self, c: Community) -> bool {
        self.0.is_none_or(|a| a as u32 == c.0 >> 16) && self.1.is_none_or(|v| v as u32 == c.0 & 0xffff)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LargePattern(pub Option<u32>, pub Option<u32>, pub Option<u32>);

impl LargePattern {
    pub fn matches(&self, c: &LargeCommunity) -> bool {
        self.0.is_none_or(|x| x == c.global_admin)
            && self.1.is_none_or(|x| x == c.local_data_1)
            && self.2.is_none_or(|x| x == c.local_data_2)
    }
}

/// An extended community pattern: type octets and value, where `None` in `value` matches any
/// value of that type (`rt:65001:*` is type 0x0002 with any local part of AS 65001).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtendedPattern {
    /// The 8 octets to compare and which of them count.
    pub octets: [u8; 8],
    pub mask: [u8; 8],
}

impl ExtendedPattern {
    pub fn exact(c: ExtendedCommunity) -> Self {
        ExtendedPattern { octets: c.0, mask: [0xff; 8] }
    }
    pub fn matches(&self, c: &ExtendedCommunity) -> bool {
        c.0.iter().zip(self.octets.iter().zip(self.mask.iter())).all(|(x, (o, m))| x & m == o & m)
    }
}

fn parse_part<T: std::str::FromStr>(s: &str, what: &'static str) -> Result<Option<T>, SyntaxError> {
    if s == "*" {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| SyntaxError::Part { text: s.into(), what })
}

impl std::str::FromStr for CommunityPattern {
    type Err = SyntaxError;
    fn from_str(s: &str) -> Result<Self, SyntaxError> {
        let (a, v) = s
            .split_once(':')
            .ok_or_else(|| SyntaxError::Pattern { text: s.into(), what: "community (ASN:VALUE, * allowed)" })?;
        Ok(CommunityPattern(parse_part(a, "16-bit number")?, parse_part(v, "16-bit number")?))
    }
}

impl std::str::FromStr for LargePattern {
    type Err = SyntaxError;
    fn from_str(s: &str) -> Result<Self, SyntaxError> {
        let p: Vec<&str> = s.split(':').collect();
        let [a, b, c] = p.as_slice() else {
            return Err(SyntaxError::Pattern { text: s.into(), what: "large community (A:B:C, * allowed)" });
        };
        Ok(LargePattern(parse_part(a, "number")?, parse_part(b, "number")?, parse_part(c, "number")?))
    }
}

impl std::str::FromStr for ExtendedPattern {
    type Err = SyntaxError;
    /// `rt:ASN:VALUE` / `ro:ASN:VALUE` (value may be `*`), or an exact `0x` + 16 hex digits.
    fn from_str(s: &str) -> Result<Self, SyntaxError> {
        if let Some(hex) = s.strip_prefix("0x") {
            return s
                .parse::<ExtendedCommunity>()
                .map(ExtendedPattern::exact)
                .map_err(|_| SyntaxError::HexDigits { text: s.into(), digits: hex.len() });
        }
        let p: Vec<&str> = s.split(':').collect();
        let [kind, asn, value] = p.as_slice() else {
            let what = "extended community (rt:ASN:VALUE, ro:ASN:VALUE or 0x...)";
            return Err(SyntaxError::Pattern { text: s.into(), what });
        };
        let sub = match *kind {
            "rt" => 0x02,
            "ro" => 0x03,
            _ => return Err(SyntaxError::ExtendedKind { text: s.into(), kind: (*kind).into() }),
        };
        let asn: u16 = asn.parse().map_err(|_| SyntaxError::TwoOctetAs { text: s.into(), asn: (*asn).into() })?;
        let value: Option<u32> = parse_part(value, "32-bit number")?;
        let a = asn.to_be_bytes();
        let v = value.unwrap_or(0).to_be_bytes();
        let m = if value.is_some() { 0xff } else { 0 };
        Ok(ExtendedPattern {
            octets: [0x00, sub, a[0], a[1], v[0], v[1], v[2], v[3]],
            mask: [0xff, 0xff, 0xff, 0xff, m, m, m, m],
        })
    }
}

/// What a term looks at. Every condition listed must hold.
#[derive(Debug, Clone)]
pub enum Match {
    /// The route's prefix is in the list (computed per route, see the module doc).
    Prefix(Arc<PrefixList>),
    AsPathContains(u32),
    /// The origin AS (last AS of a final AS_SEQUENCE) is one of these.
    OriginAs(Vec<u32>),
    /// The first AS of the path.
    NeighborAs(u32),
    AsPathLength {
        min: Option<u32>,
        max: Option<u32>,
    },
    /// A regular expression over the AS path written as ASNs separated by single spaces,
    /// AS_SETs as `{a,b}` (e.g. `^65001 ` or ` 64512$`).
    AsPathRegex(regex::Regex),
    /// Any community matches any pattern.
    Community(Vec<CommunityPattern>),
    ExtendedCommunity(Vec<ExtendedPattern>),
    LargeCommunity(Vec<LargePattern>),
    /// The next hop is in one of these prefixes.
    NextHop(Vec<Prefix>),
    Rpki(Vec<RpkiState>),
    Family(Vec<Family>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetNextHop {
    /// keel's own address on the session (`"self"`).
    Own,
    Address(IpAddr),
}

/// What a term does to a matching route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    SetLocalPref(u32),
    SetMed(u32),
    SetNextHop(SetNextHop),
    AddCommunities(Vec<Community>),
    /// LLGR_STALE is never removed (RFC 9494 §4.3).
    RemoveCommunities(Vec<CommunityPattern>),
    ReplaceCommunities(Vec<Community>),
    AddLargeCommunities(Vec<LargeCommunity>),
    RemoveLargeCommunities(Vec<LargePattern>),
    ReplaceLargeCommunities(Vec<LargeCommunity>),
    AddExtendedCommunities(Vec<ExtendedCommunity>),
    RemoveExtendedCommunities(Vec<ExtendedPattern>),
    ReplaceExtendedCommunities(Vec<ExtendedCommunity>),
    /// Prepend `asn` (keel's AS when `None`) `times` times.
    Prepend {
        asn: Option<u32>,
        times: u8,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Accept,
    Reject,
}

#[derive(Debug, Clone)]
pub struct Term {
    pub name: String,
    pub matches: Vec<Match>,
    pub actions: Vec<Action>,
    /// `None`: go on with the next term.
    pub verdict: Option<Verdict>,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub terms: Vec<Term>,
}

/// One element of a neighbor's import or export chain.
#[derive(Debug, Clone)]
pub enum Link {
    Policy(Arc<Policy>),
    /// `"all"`: accept what reaches it.
    AcceptAll,
    /// `"none"`: reject what reaches it.
    RejectAll,
}

/// A neighbor's import or export: policies evaluated in order.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    pub links: Vec<Link>,
}

/// What the route is evaluated with, besides its attributes.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub family: Family,
    pub prefix: &'a Prefix,
    /// RFC 6811 state; `None` when no RPKI cache is configured (an `rpki` match then fails).
    pub rpki: Option<RpkiState>,
    /// keel's AS (for `prepend` without an AS).
    pub local_asn: u32,
    /// keel's address on the session (for `next_hop = "self"`).
    pub local_address: IpAddr,
}

/// Per-route results the outcome depends on besides the attribute set: one bit per prefix
/// match in chain order, and the RPKI state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteKey {
    prefix_bits: u64,
    rpki: Option<RpkiState>,
}

/// The result of a chain: the verdict and, when accepted with changes, the new attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    pub attrs: Option<AttrSet>,
}

impl Chain {
    pub fn accept_all() -> Chain {
        Chain { links: vec![Link::AcceptAll] }
    }
    pub fn reject_all() -> Chain {
        Chain { links: vec![Link::RejectAll] }
    }
    /// True when the chain takes every route unchanged (import/export "all").
    pub fn is_accept_all(&self) -> bool {
        matches!(self.links.first(), Some(Link::AcceptAll))
    }
    /// True when a term looks at the RPKI state (the state is then computed per route).
    pub fn uses_rpki(&self) -> bool {
        self.terms().any(|t| t.matches.iter().any(|m| matches!(m, Match::Rpki(_))))
    }
    pub fn is_reject_all(&self) -> bool {
        matches!(self.links.first(), Some(Link::RejectAll)) || self.links.is_empty()
    }

    fn terms(&self) -> impl Iterator<Item = &Term> {
        self.links.iter().flat_map(|l| match l {
            Link::Policy(p) => p.terms.as_slice(),
            _ => &[],
        })
    }

    /// The per-route part of the outcome (see the module doc).
    pub fn route_key(&self, ctx: &Context) -> RouteKey {
        let mut bits = 0u64;
        let mut i = 0;
        let mut rpki_used = false;
        for m in self.terms().flat_map(|t| t.matches.iter()) {
            match m {
                Match::Prefix(l) => {
                    if i < 64 && l.matches(ctx.prefix) {
                        bits |= 1 << i;
                    }
                    i += 1;
                }
                Match::Rpki(_) => rpki_used = true,
                _ => {}
            }
        }
        RouteKey { prefix_bits: bits, rpki: if rpki_used { ctx.rpki } else { None } }
    }

    /// Evaluates the chain for a route with attributes `attrs`.
    pub fn evaluate(&self, ctx: &Context, attrs: &AttrSet) -> Outcome {
        let key = self.route_key(ctx);
        self.evaluate_keyed(ctx, &key, attrs)
    }

    /// [`Chain::evaluate`] with the per-route results already computed (`key` must come from
    /// [`Chain::route_key`] for the same route).
    pub fn evaluate_keyed(&self, ctx: &Context, key: &RouteKey, attrs: &AttrSet) -> Outcome {
        self.evaluate_traced(ctx, key, attrs, &mut |_, _| {})
    }

    /// [`Chain::evaluate_keyed`], calling `matched` with each policy and term that matched,
    /// in order (for `keel test-policy`).
    pub fn evaluate_traced(
        &self,
        ctx: &Context,
        key: &RouteKey,
        attrs: &AttrSet,
        matched: &mut dyn FnMut(&Policy, &Term),
    ) -> Outcome {
        let mut changed: Option<AttrSet> = None;
        let mut prefix_index = 0;
        for link in &self.links {
            let p = match link {
                Link::AcceptAll => return Outcome { verdict: Verdict::Accept, attrs: changed },
                Link::RejectAll => return Outcome { verdict: Verdict::Reject, attrs: None },
                Link::Policy(p) => p,
            };
            for t in &p.terms {
                let current = changed.as_ref().unwrap_or(attrs);
                let mut hit = true;
                for m in &t.matches {
                    // Every prefix match is counted, hit or not, to keep bit positions.
                    let ok = match m {
                        Match::Prefix(_) => {
                            let bit = prefix_index < 64 && key.prefix_bits & (1 << prefix_index) != 0;
                            prefix_index += 1;
                            bit
                        }
                        Match::Rpki(states) => key.rpki.is_some_and(|s| states.contains(&s)),
                        other => hit && matches_attrs(other, ctx, current),
                    };
                    hit &= ok;
                }
                if !hit {
                    continue;
                }
                matched(p, t);
                if !t.actions.is_empty() {
                    let a = changed.get_or_insert_with(|| attrs.clone());
                    for action in &t.actions {
                        apply(action, ctx, a);
                    }
                }
                match t.verdict {
                    Some(Verdict::Accept) => return Outcome { verdict: Verdict::Accept, attrs: changed },
                    Some(Verdict::Reject) => return Outcome { verdict: Verdict::Reject, attrs: None },
                    None => {}
                }
            }
        }
        Outcome { verdict: Verdict::Reject, attrs: None }
    }
}

fn join<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter().map(T::to_string).collect::<Vec<_>>().join(" ")
}

fn part<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("*".to_string(), |x| x.to_string())
}

impl std::fmt::Display for CommunityPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", part(self.0), part(self.1))
    }
}

impl std::fmt::Display for LargePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", part(self.0), part(self.1), part(self.2))
    }
}

impl std::fmt::Display for ExtendedPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.mask[4..] == [0; 4] {
            let c = ExtendedCommunity(self.octets).to_string();
            let head = c.rsplit_once(':').map_or(c.as_str(), |(h, _)| h);
            return write!(f, "{head}:*");
        }
        write!(f, "{}", ExtendedCommunity(self.octets))
    }
}

impl std::fmt::Display for Match {
    /// The configuration's words for it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Match::Prefix(l) => write!(f, "prefix in a list of {} entries", l.len()),
            Match::AsPathContains(a) => write!(f, "as_path_contains {a}"),
            Match::OriginAs(v) => write!(f, "origin_as {}", join(v)),
            Match::NeighborAs(a) => write!(f, "neighbor_as {a}"),
            Match::AsPathLength { min, max } => write!(f, "as_path length {}..{}", part(*min), part(*max)),
            Match::AsPathRegex(r) => write!(f, "as_path_regex {:?}", r.as_str()),
            Match::Community(v) => write!(f, "community {}", join(v)),
            Match::ExtendedCommunity(v) => write!(f, "extended_community {}", join(v)),
            Match::LargeCommunity(v) => write!(f, "large_community {}", join(v)),
            Match::NextHop(v) => write!(f, "next_hop in {}", join(v)),
            Match::Rpki(v) => write!(f, "rpki {}", v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")),
            Match::Family(v) => write!(f, "family {}", join(v)),
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::SetLocalPref(v) => write!(f, "local_pref = {v}"),
            Action::SetMed(v) => write!(f, "med = {v}"),
            Action::SetNextHop(SetNextHop::Own) => write!(f, "next_hop = self"),
            Action::SetNextHop(SetNextHop::Address(a)) => write!(f, "next_hop = {a}"),
            Action::AddCommunities(v) => write!(f, "add communities {}", join(v)),
            Action::RemoveCommunities(v) => write!(f, "remove communities {}", join(v)),
            Action::ReplaceCommunities(v) => write!(f, "replace communities with {}", join(v)),
            Action::AddLargeCommunities(v) => write!(f, "add large communities {}", join(v)),
            Action::RemoveLargeCommunities(v) => write!(f, "remove large communities {}", join(v)),
            Action::ReplaceLargeCommunities(v) => write!(f, "replace large communities with {}", join(v)),
            Action::AddExtendedCommunities(v) => write!(f, "add extended communities {}", join(v)),
            Action::RemoveExtendedCommunities(v) => write!(f, "remove extended communities {}", join(v)),
            Action::ReplaceExtendedCommunities(v) => write!(f, "replace extended communities with {}", join(v)),
            Action::Prepend { asn: Some(a), times } => write!(f, "prepend {a} x{times}"),
            Action::Prepend { asn: None, times } => write!(f, "prepend own AS x{times}"),
        }
    }
}

/// The AS path as the regex sees it.
pub fn as_path_text(p: &AsPath) -> String {
    let mut out = Vec::new();
    for s in &p.segments {
        match s.kind {
            keel_wire::attribute::as_path::SegmentType::Sequence
            | keel_wire::attribute::as_path::SegmentType::ConfedSequence => {
                out.extend(s.asns.iter().map(u32::to_string));
            }
            _ => out.push(format!("{{{}}}", s.asns.iter().map(u32::to_string).collect::<Vec<_>>().join(","))),
        }
    }
    out.join(" ")
}

fn prefix_contains(p: &Prefix, a: IpAddr) -> bool {
    a.is_ipv4() == p.is_ipv4() && Prefix::new(a, p.len()).is_some_and(|x| x == *p)
}

fn matches_attrs(m: &Match, ctx: &Context, a: &AttrSet) -> bool {
    let at = &a.attributes;
    let path = at.as_path.as_ref();
    match m {
        Match::AsPathContains(asn) => path.is_some_and(|p| p.contains(*asn)),
        Match::OriginAs(list) => path.and_then(AsPath::origin_as).is_some_and(|o| list.contains(&o)),
        Match::NeighborAs(asn) => path.and_then(AsPath::neighbor_as) == Some(*asn),
        Match::AsPathLength { min, max } => {
            let n = path.map_or(0, |p| p.path_length()) as u32;
            min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m)
        }
        Match::AsPathRegex(re) => re.is_match(&path.map(as_path_text).unwrap_or_default()),
        Match::Community(pats) => at.communities.iter().any(|c| pats.iter().any(|p| p.matches(*c))),
        Match::ExtendedCommunity(pats) => at.extended_communities.iter().any(|c| pats.iter().any(|p| p.matches(c))),
        Match::LargeCommunity(pats) => at.large_communities.iter().any(|c| pats.iter().any(|p| p.matches(c))),
        Match::NextHop(prefixes) => {
            let nh = next_hop_addr(&a.next_hop, ctx);
            prefixes.iter().any(|p| prefix_contains(p, nh))
        }
        Match::Family(list) => list.contains(&ctx.family),
        // Per-route matches are answered from the route key.
        Match::Prefix(_) | Match::Rpki(_) => false,
    }
}

fn next_hop_addr(nh: &NextHop, ctx: &Context) -> IpAddr {
    let a = nh.addr();
    if a.is_unspecified() {
        ctx.local_address
    } else {
        a
    }
}

fn apply(action: &Action, ctx: &Context, a: &mut AttrSet) {
    let at = &mut a.attributes;
    match action {
        Action::SetLocalPref(v) => at.local_pref = Some(*v),
        Action::SetMed(v) => at.med = Some(*v),
        Action::SetNextHop(SetNextHop::Own) => {
            a.next_hop = crate::export::next_hop_self(ctx.family, ctx.local_address);
        }
        // Only an address of the route's own family: an IPv4 next hop on an IPv6 route (or the
        // reverse, RFC 8950) is not what a family-blind term meant.
        Action::SetNextHop(SetNextHop::Address(addr)) => {
            if addr.is_ipv4() == (ctx.family.afi == keel_wire::Afi::IPV4) {
                a.next_hop = NextHop::from(*addr);
            }
        }
        Action::AddCommunities(cs) => {
            for c in cs {
                if !at.communities.contains(c) {
                    at.communities.push(*c);
                }
            }
        }
        Action::RemoveCommunities(pats) => {
            // RFC 9494 §4.3: LLGR_STALE stays.
            at.communities.retain(|c| *c == Community::LLGR_STALE || !pats.iter().any(|p| p.matches(*c)));
        }
        Action::ReplaceCommunities(cs) => {
            let stale = at.communities.contains(&Community::LLGR_STALE);
            at.communities = cs.iter().copied().collect();
            if stale && !at.communities.contains(&Community::LLGR_STALE) {
                at.communities.push(Community::LLGR_STALE);
            }
        }
        Action::AddLargeCommunities(cs) => {
            for c in cs {
                if !at.large_communities.contains(c) {
                    at.large_communities.push(*c);
                }
            }
        }
        Action::RemoveLargeCommunities(pats) => at.large_communities.retain(|c| !pats.iter().any(|p| p.matches(c))),
        Action::ReplaceLargeCommunities(cs) => at.large_communities = cs.iter().copied().collect(),
        Action::AddExtendedCommunities(cs) => {
            for c in cs {
                if !at.extended_communities.contains(c) {
                    at.extended_communities.push(*c);
                }
            }
        }
        Action::RemoveExtendedCommunities(pats) => {
            at.extended_communities.retain(|c| !pats.iter().any(|p| p.matches(c)));
        }
        Action::ReplaceExtendedCommunities(cs) => at.extended_communities = cs.iter().copied().collect(),
        Action::Prepend { asn, times } => {
            let mut path = at.as_path.take().unwrap_or_default();
            for _ in 0..*times {
                path.prepend(asn.unwrap_or(ctx.local_asn));
            }
            at.as_path = Some(path);
        }
    }
}

#[cfg(test)]
mod tests;
