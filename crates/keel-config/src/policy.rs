//! `[[prefix_list]]` and `[[policy]]` as written, and their compilation into the policy
//! engine of keel-rib. Every name and value is checked here so that errors name the file,
//! line and field; an unknown policy or prefix-list name is an error, never an accept-all.

use crate::error::ConfigError;
use keel_rib::policy::{
    Action, Chain, CommunityPattern, ExtendedPattern, LargePattern, Link, Match, Policy, PrefixEntry, PrefixList,
    RpkiState, SetNextHop, Term, Verdict,
};
use keel_wire::{Community, ExtendedCommunity, Family, LargeCommunity, Prefix};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::sync::Arc;
use toml::Spanned;

/// One value or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    pub fn to_vec(&self) -> Vec<T> {
        match self {
            OneOrMany::One(x) => vec![x.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// A neighbor's `import` / `export`: `"all"`, `"none"`, a policy name, or a list of them
/// evaluated in order.
pub type PolicyNames = OneOrMany<String>;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixListConfig {
    pub name: Spanned<String>,
    /// `PREFIX [ge N] [le N]` each.
    pub prefixes: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub name: Spanned<String>,
    #[serde(default)]
    pub term: Vec<TermConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TermConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "match")]
    pub matches: MatchConfig,
    #[serde(default)]
    pub set: SetConfig,
    /// `"accept"` or `"reject"`; unset: go on with the next term.
    #[serde(default)]
    pub then: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    /// A `[[prefix_list]]` name.
    pub prefix_list: Option<Spanned<String>>,
    /// An inline prefix list.
    pub prefixes: Option<Vec<Spanned<String>>>,
    pub as_path_contains: Option<u32>,
    pub origin_as: Option<OneOrMany<u32>>,
    pub neighbor_as: Option<u32>,
    pub as_path_min_length: Option<u32>,
    pub as_path_max_length: Option<u32>,
    pub as_path_regex: Option<Spanned<String>>,
    pub community: Option<Spanned<OneOrMany<String>>>,
    pub extended_community: Option<Spanned<OneOrMany<String>>>,
    pub large_community: Option<Spanned<OneOrMany<String>>>,
    /// Prefixes the next hop must be in.
    pub next_hop: Option<Spanned<OneOrMany<String>>>,
    /// `"valid"`, `"invalid"`, `"not-found"` (RFC 6811).
    pub rpki: Option<Spanned<OneOrMany<String>>>,
    pub family: Option<Spanned<OneOrMany<String>>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SetConfig {
    pub local_pref: Option<u32>,
    pub med: Option<u32>,
    /// `"self"` or an address.
    pub next_hop: Option<Spanned<String>>,
    pub add_communities: Option<Vec<Spanned<String>>>,
    pub remove_communities: Option<Vec<Spanned<String>>>,
    pub replace_communities: Option<Vec<Spanned<String>>>,
    pub add_large_communities: Option<Vec<Spanned<String>>>,
    pub remove_large_communities: Option<Vec<Spanned<String>>>,
    pub replace_large_communities: Option<Vec<Spanned<String>>>,
    pub add_extended_communities: Option<Vec<Spanned<String>>>,
    pub remove_extended_communities: Option<Vec<Spanned<String>>>,
    pub replace_extended_communities: Option<Vec<Spanned<String>>>,
    /// Times keel's AS (or `prepend_asn`) is prepended.
    pub prepend: Option<Spanned<u8>>,
    pub prepend_asn: Option<u32>,
}

/// The compiled policies of a configuration, by name, with a fingerprint of each (what it
/// says, not where it is written) to tell what a reload changed.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    pub by_name: BTreeMap<String, (Arc<Policy>, u64)>,
}

type Err<'a> = &'a dyn Fn(Range<usize>, String) -> ConfigError;

fn parse_each<T: std::str::FromStr<Err: std::fmt::Display>>(
    items: &[Spanned<String>],
    err: Err,
) -> Result<Vec<T>, ConfigError> {
    items.iter().map(|s| s.get_ref().parse::<T>().map_err(|e| err(s.span(), e.to_string()))).collect()
}

/// Parses every string of a one-or-many value; errors point at the value.
fn parse_spanned<T: std::str::FromStr<Err: std::fmt::Display>>(
    v: &Spanned<OneOrMany<String>>,
    err: Err,
) -> Result<Vec<T>, ConfigError> {
    v.get_ref().to_vec().iter().map(|s| s.parse::<T>().map_err(|e| err(v.span(), e.to_string()))).collect()
}

fn fingerprint(v: &impl Serialize) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(v).unwrap_or_default().hash(&mut h);
    h.finish()
}

/// Compiles every `[[prefix_list]]` and `[[policy]]`; `err` turns a span and a message into
/// a configuration error.
pub fn compile(lists: &[PrefixListConfig], policies: &[PolicyConfig], err: Err) -> Result<Policies, ConfigError> {
    let mut named: BTreeMap<String, (Arc<PrefixList>, u64)> = BTreeMap::new();
    for l in lists {
        let entries: Vec<PrefixEntry> = parse_each(&l.prefixes, err)?;
        let fp = fingerprint(l);
        if named.insert(l.name.get_ref().clone(), (Arc::new(PrefixList::new(entries)), fp)).is_some() {
            return Err(err(l.name.span(), format!("prefix list {:?} is defined twice", l.name.get_ref())));
        }
    }
    let mut out = Policies::default();
    for p in policies {
        let name = p.name.get_ref();
        if ["all", "none"].contains(&name.as_str()) {
            return Err(err(p.name.span(), format!("{name:?} is reserved (import/export keyword)")));
        }
        let mut fp_parts = vec![fingerprint(p)];
        let mut terms = Vec::new();
        for (i, t) in p.term.iter().enumerate() {
            terms.push(compile_term(t, i, &named, &mut fp_parts, err)?);
        }
        let policy = Arc::new(Policy { name: name.clone(), terms });
        if out.by_name.insert(name.clone(), (policy, fingerprint(&fp_parts))).is_some() {
            return Err(err(p.name.span(), format!("policy {name:?} is defined twice")));
        }
    }
    Ok(out)
}

fn compile_term(
    t: &TermConfig,
    index: usize,
    lists: &BTreeMap<String, (Arc<PrefixList>, u64)>,
    fp: &mut Vec<u64>,
    err: Err,
) -> Result<Term, ConfigError> {
    let m = &t.matches;
    let mut matches = Vec::new();
    if let Some(name) = &m.prefix_list {
        let (list, list_fp) = lists
            .get(name.get_ref())
            .ok_or_else(|| err(name.span(), format!("no [[prefix_list]] named {:?}", name.get_ref())))?;
        fp.push(*list_fp);
        matches.push(Match::Prefix(list.clone()));
    }
    if let Some(p) = &m.prefixes {
        matches.push(Match::Prefix(Arc::new(PrefixList::new(parse_each::<PrefixEntry>(p, err)?))));
    }
    if let Some(a) = m.as_path_contains {
        matches.push(Match::AsPathContains(a));
    }
    if let Some(o) = &m.origin_as {
        matches.push(Match::OriginAs(o.to_vec()));
    }
    if let Some(a) = m.neighbor_as {
        matches.push(Match::NeighborAs(a));
    }
    if m.as_path_min_length.is_some() || m.as_path_max_length.is_some() {
        matches.push(Match::AsPathLength { min: m.as_path_min_length, max: m.as_path_max_length });
    }
    if let Some(r) = &m.as_path_regex {
        let re = regex::Regex::new(r.get_ref()).map_err(|e| err(r.span(), format!("bad regular expression: {e}")))?;
        matches.push(Match::AsPathRegex(re));
    }
    if let Some(c) = &m.community {
        matches.push(Match::Community(parse_spanned::<CommunityPattern>(c, err)?));
    }
    if let Some(c) = &m.extended_community {
        matches.push(Match::ExtendedCommunity(parse_spanned::<ExtendedPattern>(c, err)?));
    }
    if let Some(c) = &m.large_community {
        matches.push(Match::LargeCommunity(parse_spanned::<LargePattern>(c, err)?));
    }
    if let Some(n) = &m.next_hop {
        matches.push(Match::NextHop(parse_spanned::<Prefix>(n, err)?));
    }
    if let Some(r) = &m.rpki {
        matches.push(Match::Rpki(parse_spanned::<RpkiState>(r, err)?));
    }
    if let Some(f) = &m.family {
        matches.push(Match::Family(parse_spanned::<Family>(f, err)?));
    }
    let s = &t.set;
    let mut actions = Vec::new();
    if let Some(v) = s.local_pref {
        actions.push(Action::SetLocalPref(v));
    }
    if let Some(v) = s.med {
        actions.push(Action::SetMed(v));
    }
    if let Some(nh) = &s.next_hop {
        let target = match nh.get_ref().as_str() {
            "self" => SetNextHop::Own,
            a => SetNextHop::Address(
                a.parse().map_err(|_| err(nh.span(), format!("{a:?} is neither \"self\" nor an IP address")))?,
            ),
        };
        actions.push(Action::SetNextHop(target));
    }
    macro_rules! communities {
        ($field:ident, $parse:ty, $action:ident) => {
            if let Some(v) = &s.$field {
                actions.push(Action::$action(parse_each::<$parse>(v, err)?));
            }
        };
    }
    communities!(add_communities, Community, AddCommunities);
    communities!(remove_communities, CommunityPattern, RemoveCommunities);
    communities!(replace_communities, Community, ReplaceCommunities);
    communities!(add_large_communities, LargeCommunity, AddLargeCommunities);
    communities!(remove_large_communities, LargePattern, RemoveLargeCommunities);
    communities!(replace_large_communities, LargeCommunity, ReplaceLargeCommunities);
    communities!(add_extended_communities, ExtendedCommunity, AddExtendedCommunities);
    communities!(remove_extended_communities, ExtendedPattern, RemoveExtendedCommunities);
    communities!(replace_extended_communities, ExtendedCommunity, ReplaceExtendedCommunities);
    if let Some(times) = &s.prepend {
        if *times.get_ref() == 0 || *times.get_ref() > 32 {
            return Err(err(times.span(), "prepend must be 1 to 32 times".into()));
        }
        actions.push(Action::Prepend { asn: s.prepend_asn, times: *times.get_ref() });
    } else if s.prepend_asn.is_some() {
        return Err(err(0..0, "prepend_asn needs prepend (how many times)".into()));
    }
    let verdict = match &t.then {
        None => None,
        Some(v) => Some(match v.get_ref().as_str() {
            "accept" => Verdict::Accept,
            "reject" => Verdict::Reject,
            other => return Err(err(v.span(), format!("then = {other:?}: expected \"accept\" or \"reject\""))),
        }),
    };
    Ok(Term { name: t.name.clone().unwrap_or_else(|| format!("term {}", index + 1)), matches, actions, verdict })
}

impl Policies {
    /// The chain for `names` (already checked by [`Policies::check_names`]).
    pub fn chain(&self, names: &[String]) -> NeighborChain {
        let mut links = Vec::new();
        let mut fp = Vec::new();
        for n in names {
            match n.as_str() {
                "all" => links.push(Link::AcceptAll),
                "none" => links.push(Link::RejectAll),
                name => {
                    if let Some((p, f)) = self.by_name.get(name) {
                        links.push(Link::Policy(p.clone()));
                        fp.push(*f);
                    }
                }
            }
        }
        NeighborChain { chain: Arc::new(Chain { links }), fingerprint: fingerprint(&(names, fp)) }
    }

    /// An unknown name is an error, not an accept-all.
    pub fn check_names(&self, names: &Spanned<PolicyNames>, err: Err) -> Result<(), ConfigError> {
        let list = names.get_ref().to_vec();
        if list.is_empty() {
            return Err(err(names.span(), "empty list: use \"none\" to accept nothing".into()));
        }
        for n in &list {
            if !["all", "none"].contains(&n.as_str()) && !self.by_name.contains_key(n) {
                return Err(err(names.span(), format!("no [[policy]] named {n:?}")));
            }
        }
        Ok(())
    }
}

/// A compiled chain and its fingerprint.
#[derive(Debug, Clone)]
pub struct NeighborChain {
    pub chain: Arc<Chain>,
    pub fingerprint: u64,
}
