//! The import policy of the convergence benchmark with `KEEL_BENCH_POLICY=1` (issue 11): ten
//! terms of the kinds an upstream's import policy has, one of them matching a 5,000-entry
//! prefix list built from the table, and what that policy accepts (computed with keel's own
//! configuration compiler and policy engine, so the benchmark knows when the downstream is
//! complete).
//!
//! | term | matches | does |
//! |---|---|---|
//! | bogons | `bogons` list: 19 martian/documentation entries, `le 32` / `le 128` | reject |
//! | too-specific | inline list `0.0.0.0/0 ge 25`, `::/0 ge 49` | reject |
//! | private-asn | AS path regex: any of 64512-65534, 42xxxxxxxx (RFC 6996) | reject |
//! | long-path | AS path length 15 or more | reject |
//! | blackhole | community 65535:666 | reject |
//! | customers | `customers` list: 5,000 entries, half covering table prefixes | LOCAL_PREF 200, community 65000:100, accept |
//! | transit | AS path regex `^[0-9]+ (174\|1299\|2914\|3356\|6939)( \|$)` | LOCAL_PREF 90 |
//! | te-communities | community `*:150`, `*:250`, `*:350` | MED 50, those communities removed |
//! | large-tags | large community `*:1:*` | large community 65000:1:1 added |
//! | default | everything | community 65000:1, accept |
//!
//! Every accepted route is modified (at least the community of "default"), as with most real
//! import policies: keel stores each one twice (as received, and as accepted).
//! `KEEL_BENCH_POLICY=2` runs the same terms without their `set.*` actions: every route is
//! evaluated the same way but accepted unchanged.

use keel_config::Config;
use keel_rib::attr_set::AttrSet;
use keel_rib::policy::{Context, PrefixEntry, PrefixList, Verdict};
use keel_rpki::{route_origin_asn, VrpTable};
use keel_tablegen::Table;
use keel_wire::{Family, Prefix};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The policy's name in keeld's configuration.
pub const NAME: &str = "upstream-in";

const BOGONS: &[&str] = &[
    "0.0.0.0/8 le 32",
    "10.0.0.0/8 le 32",
    "100.64.0.0/10 le 32",
    "127.0.0.0/8 le 32",
    "169.254.0.0/16 le 32",
    "172.16.0.0/12 le 32",
    "192.0.0.0/24 le 32",
    "192.0.2.0/24 le 32",
    "192.168.0.0/16 le 32",
    "198.18.0.0/15 le 32",
    "198.51.100.0/24 le 32",
    "203.0.113.0/24 le 32",
    "224.0.0.0/4 le 32",
    "240.0.0.0/4 le 32",
    "::/8 le 128",
    "2001:db8::/32 le 128",
    "fc00::/7 le 128",
    "fe80::/10 le 128",
    "ff00::/8 le 128",
];

/// The 5,000 entries of the `customers` list: 2,500 built from every n-th prefix of `table`
/// (exact, `le` two more, or the covering /L-2 with `ge L-2 le L`, in turn), and 2,500 in
/// 10.0.0.0/8 and fd00::/8, which the generated tables never use (lengths /20-/24 and
/// /32-/48, each with `le` or exact).
pub fn customer_entries(table: &Table) -> Vec<String> {
    let prefixes: Vec<Prefix> = table.groups.iter().flat_map(|g| g.prefixes.iter().map(|n| n.prefix)).collect();
    let step = (prefixes.len() / 2500).max(1);
    let mut out = Vec::with_capacity(5000);
    for (i, p) in prefixes.iter().step_by(step).take(2500).enumerate() {
        let max = if p.is_ipv4() { 32 } else { 128 };
        let len = p.len();
        out.push(match i % 3 {
            0 => p.to_string(),
            1 => format!("{p} le {}", (len + 2).min(max)),
            _ if len >= 2 => {
                let cover = Prefix::new(p.addr(), len - 2).expect("shorter prefix");
                format!("{cover} ge {} le {len}", len - 2)
            }
            _ => p.to_string(),
        });
    }
    for j in 0..2500u32 {
        let half = j / 2;
        out.push(if j % 2 == 0 {
            let len = 20 + (half % 5) as u8;
            let addr = Ipv4Addr::from((10u32 << 24) | (half << (32 - len as u32)));
            let p = Prefix::new(IpAddr::V4(addr), len).unwrap();
            if half % 2 == 0 {
                format!("{p} le 24")
            } else {
                p.to_string()
            }
        } else {
            let len = 32 + (half % 17) as u8;
            let addr = Ipv6Addr::from((0xfdu128 << 120) | ((half as u128) << (128 - len as u32)));
            let p = Prefix::new(IpAddr::V6(addr), len).unwrap();
            if half % 2 == 0 {
                format!("{p} le 48")
            } else {
                p.to_string()
            }
        });
    }
    out
}

/// How many prefixes of `table` the `customers` list matches.
pub fn customer_matches(table: &Table) -> usize {
    let entries = customer_entries(table).iter().map(|e| e.parse::<PrefixEntry>().unwrap()).collect::<Vec<_>>();
    let list = PrefixList::new(entries);
    table.groups.iter().flat_map(|g| &g.prefixes).filter(|n| list.matches(&n.prefix)).count()
}

fn list(items: &[String]) -> String {
    items.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ")
}

/// `[[prefix_list]]` and `[[policy]]` sections of the policy, its prefix list built from
/// `table`. `actions` false: the same terms without their `set.*` lines (every route is then
/// accepted unchanged), to tell the cost of evaluating from the cost of storing rewritten
/// routes. `rpki`: an eleventh term, second after "bogons", rejects RPKI-invalid routes
/// (`match.rpki = "invalid"`).
pub fn toml(table: &Table, actions: bool, rpki: bool) -> String {
    let customers = customer_entries(table);
    assert_eq!(customers.len(), 5000);
    let bogons: Vec<String> = BOGONS.iter().map(|s| s.to_string()).collect();
    let text = format!(
        r#"
[[prefix_list]]
name = "bogons"
prefixes = [{bogons}]

[[prefix_list]]
name = "customers"
prefixes = [{customers}]

[[policy]]
name = "{NAME}"
[[policy.term]]
name = "bogons"
match.prefix_list = "bogons"
then = "reject"
{rpki_term}[[policy.term]]
name = "too-specific"
match.prefixes = ["0.0.0.0/0 ge 25", "::/0 ge 49"]
then = "reject"
[[policy.term]]
name = "private-asn"
match.as_path_regex = "(^| )(6451[2-9]|645[2-9][0-9]|64[6-9][0-9]{{2}}|65[0-4][0-9]{{2}}|655[0-2][0-9]|6553[0-4]|42[0-9]{{8}})( |$)"
then = "reject"
[[policy.term]]
name = "long-path"
match.as_path_min_length = 15
then = "reject"
[[policy.term]]
name = "blackhole"
match.community = "65535:666"
then = "reject"
[[policy.term]]
name = "customers"
match.prefix_list = "customers"
set.local_pref = 200
set.add_communities = ["65000:100"]
then = "accept"
[[policy.term]]
name = "transit"
match.as_path_regex = "^[0-9]+ (174|1299|2914|3356|6939)( |$)"
set.local_pref = 90
[[policy.term]]
name = "te-communities"
match.community = ["*:150", "*:250", "*:350"]
set.med = 50
set.remove_communities = ["*:150", "*:250", "*:350"]
[[policy.term]]
name = "large-tags"
match.large_community = "*:1:*"
set.add_large_communities = ["65000:1:1"]
[[policy.term]]
name = "default"
set.add_communities = ["65000:1"]
then = "accept"
"#,
        bogons = list(&bogons),
        customers = list(&customers),
        rpki_term = if rpki {
            "[[policy.term]]\nname = \"rpki-invalid\"\nmatch.rpki = \"invalid\"\nthen = \"reject\"\n"
        } else {
            ""
        },
    );
    if actions {
        text
    } else {
        text.lines().filter(|l| !l.starts_with("set.")).map(|l| format!("{l}\n")).collect()
    }
}

/// The prefixes of `tables` that keeld's import chain of its first neighbor in `config`
/// (the whole configuration file) accepts, with keeld's AS and `local` as its address;
/// with `vrps`, each route's RPKI state is validated against them as keeld does.
pub fn accepted(
    config: &str,
    tables: &[&Table],
    local_asn: u32,
    local: IpAddr,
    vrps: Option<&VrpTable>,
) -> HashSet<Prefix> {
    let config = Config::parse(config, "bench.toml").unwrap_or_else(|e| panic!("benchmark configuration: {e}"));
    let (import, _) = config.neighbor_policy(&config.neighbors[0]);
    let mut out = HashSet::new();
    for table in tables {
        for g in &table.groups {
            let mut attributes = g.attributes.clone();
            // RFC 4271 §5.1.5, as keeld does for eBGP.
            attributes.local_pref = None;
            let set = AttrSet { attributes, next_hop: g.next_hop };
            let origin = route_origin_asn(set.attributes.as_path.as_ref(), local_asn);
            for n in &g.prefixes {
                let family = if n.prefix.is_ipv4() { Family::IPV4_UNICAST } else { Family::IPV6_UNICAST };
                let rpki = vrps.map(|t| t.validate(&n.prefix, origin));
                let ctx = Context { family, prefix: &n.prefix, rpki, local_asn, local_address: local };
                if import.chain.evaluate(&ctx, &set).verdict == Verdict::Accept {
                    out.insert(n.prefix);
                }
            }
        }
    }
    out
}
