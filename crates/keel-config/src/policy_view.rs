//! `keel show policy` and `keel test-policy`: a policy as JSON, and what it does to one route.
//! Shared by the API (the running keeld's configuration) and the CLI (`--config FILE`). The
//! documents are `keel_api::policy`'s types, where the JSON contract lives.

use crate::Config;
use keel_api::policy::{PolicyTest, PolicyView, TermView, TestedRoute};
use keel_rib::policy::{Chain, Context, Link, Policy, RpkiState, Verdict};
use keel_rib::AttrSet;
use keel_wire::{AsPath, Community, ExtendedCommunity, LargeCommunity, NextHop, PathAttributes, Prefix};
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;

/// A policy's terms as the operator wrote them.
pub fn describe(p: &Policy) -> PolicyView {
    PolicyView {
        name: p.name.clone(),
        terms: p
            .terms
            .iter()
            .map(|t| TermView {
                matches: t.matches.iter().map(|m| m.to_string()).collect(),
                name: t.name.clone(),
                set: t.actions.iter().map(|a| a.to_string()).collect(),
                then: t.verdict.map(|v| verdict_name(v).to_string()),
            })
            .collect(),
    }
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Accept => "accept",
        Verdict::Reject => "reject",
    }
}

pub fn list(config: &Config) -> Vec<PolicyView> {
    config.policy.by_name.values().map(|(p, _)| describe(p)).collect()
}

pub fn show(config: &Config, name: &str) -> Result<PolicyView, String> {
    let (p, _) = config.policy.by_name.get(name).ok_or_else(|| format!("no policy named {name:?}"))?;
    Ok(describe(p))
}

/// A route to test a policy with (the API's query parameters; lists comma-separated).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TestRoute {
    pub prefix: String,
    /// ASNs, leftmost first.
    #[serde(default)]
    pub as_path: Option<String>,
    #[serde(default)]
    pub communities: Option<String>,
    #[serde(default)]
    pub large_communities: Option<String>,
    #[serde(default)]
    pub extended_communities: Option<String>,
    #[serde(default)]
    pub local_pref: Option<u32>,
    #[serde(default)]
    pub med: Option<u32>,
    #[serde(default)]
    pub next_hop: Option<IpAddr>,
    /// `valid`, `invalid` or `not-found`.
    #[serde(default)]
    pub rpki: Option<String>,
}

fn list_of<T: std::str::FromStr<Err = String>>(v: &Option<String>) -> Result<Vec<T>, String> {
    v.iter().flat_map(|s| s.split(',')).map(str::trim).filter(|s| !s.is_empty()).map(str::parse).collect()
}

fn tested_route(prefix: &Prefix, a: &AttrSet) -> TestedRoute {
    let at = &a.attributes;
    TestedRoute {
        as_path: at.as_path.as_ref().map(|p| p.asns().collect()).unwrap_or_default(),
        communities: at.communities.iter().map(|c| c.to_string()).collect(),
        extended_communities: at.extended_communities.iter().map(|c| c.to_string()).collect(),
        large_communities: at.large_communities.iter().map(|c| c.to_string()).collect(),
        local_pref: at.local_pref,
        med: at.med,
        next_hop: a.next_hop.to_string(),
        prefix: prefix.to_string(),
    }
}

/// Runs policy `name` (or `"all"`/`"none"`) on the route: the verdict, the terms that
/// matched, and the route before and after.
pub fn test(config: &Config, name: &str, r: &TestRoute) -> Result<PolicyTest, String> {
    let prefix: Prefix = r.prefix.parse()?;
    let link = match name {
        "all" => Link::AcceptAll,
        "none" => Link::RejectAll,
        _ => {
            Link::Policy(config.policy.by_name.get(name).ok_or_else(|| format!("no policy named {name:?}"))?.0.clone())
        }
    };
    let chain = Chain { links: vec![link] };
    let as_path: Vec<u32> = r
        .as_path
        .iter()
        .flat_map(|s| s.split([',', ' ']))
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>().map_err(|_| format!("{s:?} is not an AS number")))
        .collect::<Result<_, _>>()?;
    let rpki = r.rpki.as_deref().map(str::parse::<RpkiState>).transpose()?;
    let family = prefix.unicast_family();
    let default_hop = if prefix.is_ipv4() {
        IpAddr::from([192, 0, 2, 1])
    } else {
        "2001:db8::1".parse().unwrap_or(IpAddr::from([0u8; 16]))
    };
    let attrs = AttrSet {
        attributes: PathAttributes {
            origin: Some(keel_wire::Origin::Igp),
            as_path: Some(AsPath::sequence(as_path)),
            communities: list_of::<Community>(&r.communities)?.into(),
            large_communities: list_of::<LargeCommunity>(&r.large_communities)?.into(),
            extended_communities: list_of::<ExtendedCommunity>(&r.extended_communities)?.into(),
            local_pref: r.local_pref,
            med: r.med,
            ..Default::default()
        },
        next_hop: NextHop::from(r.next_hop.unwrap_or(default_hop)),
    };
    let local_address = config.global.listen.first().map_or(IpAddr::from([0, 0, 0, 0]), |a| a.get_ref().ip());
    let ctx = Context { family, prefix: &prefix, rpki, local_asn: *config.global.asn.get_ref(), local_address };
    let mut matched = Vec::new();
    let key = chain.route_key(&ctx);
    let out = chain.evaluate_traced(&ctx, &key, &attrs, &mut |p, t| matched.push(format!("{}/{}", p.name, t.name)));
    let after = out.attrs.as_ref().unwrap_or(&attrs);
    Ok(PolicyTest {
        matched_terms: matched,
        policy: name.to_string(),
        result: (out.verdict == Verdict::Accept).then(|| tested_route(&prefix, after)),
        route: tested_route(&prefix, &attrs),
        verdict: verdict_name(out.verdict).to_string(),
    })
}

/// Policies a chain refers to, by name (for the neighbor view).
pub fn chain_names(chain: &Arc<Chain>) -> Vec<String> {
    chain
        .links
        .iter()
        .map(|l| match l {
            Link::AcceptAll => "all".to_string(),
            Link::RejectAll => "none".to_string(),
            Link::Policy(p) => p.name.clone(),
        })
        .collect()
}
