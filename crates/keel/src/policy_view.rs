//! `keel show policy` and `keel test-policy`: a policy as JSON, and what it does to one route.
//! Shared by the API (the running keeld's configuration) and the CLI (`--config FILE`).

use crate::config::Config;
use keel_rib::policy::{Chain, Context, Link, Policy, RpkiState, Verdict};
use keel_rib::AttrSet;
use keel_wire::{AsPath, Community, ExtendedCommunity, LargeCommunity, NextHop, PathAttributes, Prefix};
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::Arc;

/// A policy's terms as the operator wrote them.
pub fn describe(p: &Policy) -> Value {
    json!({
        "name": p.name,
        "terms": p.terms.iter().map(|t| json!({
            "name": t.name,
            "match": t.matches.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
            "set": t.actions.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "then": t.verdict.map(verdict_name),
        })).collect::<Vec<_>>(),
    })
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Accept => "accept",
        Verdict::Reject => "reject",
    }
}

pub fn list(config: &Config) -> Value {
    Value::from(config.policy.by_name.values().map(|(p, _)| describe(p)).collect::<Vec<_>>())
}

pub fn show(config: &Config, name: &str) -> Result<Value, String> {
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

fn route_json(prefix: &Prefix, a: &AttrSet) -> Value {
    let at = &a.attributes;
    json!({
        "prefix": prefix.to_string(),
        "next_hop": a.next_hop.to_string(),
        "as_path": at.as_path.as_ref().map(|p| p.asns().collect::<Vec<_>>()).unwrap_or_default(),
        "communities": at.communities.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "large_communities": at.large_communities.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "extended_communities": at.extended_communities.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "local_pref": at.local_pref,
        "med": at.med,
    })
}

/// Runs policy `name` (or `"all"`/`"none"`) on the route: the verdict, the terms that
/// matched, and the route before and after.
pub fn test(config: &Config, name: &str, r: &TestRoute) -> Result<Value, String> {
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
    let family = crate::rib_task::family_of(&prefix);
    let default_hop = if prefix.is_ipv4() {
        IpAddr::from([192, 0, 2, 1])
    } else {
        "2001:db8::1".parse().unwrap_or(IpAddr::from([0u8; 16]))
    };
    let attrs = AttrSet {
        attributes: PathAttributes {
            origin: Some(keel_wire::Origin::Igp),
            as_path: Some(AsPath::sequence(as_path)),
            communities: list_of::<Community>(&r.communities)?,
            large_communities: list_of::<LargeCommunity>(&r.large_communities)?,
            extended_communities: list_of::<ExtendedCommunity>(&r.extended_communities)?,
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
    Ok(json!({
        "policy": name,
        "verdict": verdict_name(out.verdict),
        "matched_terms": matched,
        "route": route_json(&prefix, &attrs),
        "result": (out.verdict == Verdict::Accept).then(|| route_json(&prefix, after)),
    }))
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
