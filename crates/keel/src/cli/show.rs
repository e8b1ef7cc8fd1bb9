//! `keel show`, `keel clear`, `keel reload`, `keel stop`: keeld's API as tables or JSON. Each of
//! these takes `--api` ([`ApiArgs`]); the commands that never talk to keeld do not.
//!
//! `--json` prints keeld's answer as it came; the tables read it as the `keel-api` types,
//! where the JSON contract lives, so a document keeld no longer sends the same way is an error
//! naming the field, not a table of `?`.

use anyhow::Result;
use clap::{Args, Subcommand};
use keel_api::neighbor::{GracefulRestartView, LongLivedFamily, RestartCapability};
use keel_api::policy::TestedRoute;
use keel_api::{
    get, parse, request, Answer, FamilyView, NameOrNumber, NeighborView, PolicyTest, PolicyView, RouteView,
    RpkiCacheView, RpkiView, SegmentView, StatusView,
};
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

/// Where keeld's API socket is, for the commands that talk to keeld (flattened into each).
/// Global within its command, so `keel show --api S neighbors` and `keel show neighbors --api
/// S` both work; `keel --api S show neighbors` is read by [`super::Cli`].
#[derive(Debug, Clone, Default, Args)]
pub struct ApiArgs {
    /// keeld's API socket (else $KEEL_API, else /run/keel/keel.sock, $XDG_RUNTIME_DIR/keel/keel.sock
    /// or keeld's non-root fallback, whichever is there).
    #[arg(long, value_name = "SOCKET", global = true)]
    pub api: Option<std::path::PathBuf>,
}

/// `keel show`: what to show, and where keeld is.
#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub what: Show,
}

#[derive(Debug, Subcommand)]
pub enum Show {
    /// All neighbors, one line each (like `birdc show protocols`).
    Neighbors(JsonFlag),
    /// One neighbor in detail: negotiated capabilities, graceful restart state, counters.
    Neighbor {
        /// The neighbor's address.
        address: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Routes: received from neighbors and originated by keel.
    Routes(RouteArgs),
    /// RPKI caches (RFC 8210): state, session, serial, VRP counts, last update, timers.
    Rpki(JsonFlag),
    /// A routing policy's terms (all policies without a name).
    Policy {
        /// The policy's name.
        name: Option<String>,
        /// Read the policy from this configuration file instead of the running keeld.
        #[arg(long)]
        config: Option<std::path::PathBuf>,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RouteArgs {
    /// ipv4-unicast, ipv6-unicast, ...
    #[arg(long)]
    pub family: Option<String>,
    /// The routes of the most specific prefix covering this address or prefix (longest match,
    /// like `ip route get`): 203.0.113.5, 203.0.113.0/25, 2001:db8::1.
    #[arg(long, value_name = "ADDR[/LEN]")]
    pub prefix: Option<String>,
    /// With --prefix: only that prefix, exactly as written (198.51.100.0/24), not the longest
    /// match.
    #[arg(long, requires = "prefix")]
    pub exact: bool,
    /// Only the paths learned from this neighbor (its address).
    #[arg(long)]
    pub neighbor: Option<String>,
    /// Only stale routes (kept for a restarting neighbor).
    #[arg(long)]
    pub stale: bool,
    /// What was advertised to this neighbor (its Adj-RIB-Out), with the attributes it was sent.
    #[arg(long, value_name = "ADDR")]
    pub advertised: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn query(pairs: &[(&str, Option<String>)]) -> String {
    let q: Vec<String> = pairs.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v)))).collect();
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

/// Percent-encodes what may appear in a query value (`/`, `:`).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// A value as JSON text (`null`, `true`, `["192.0.2.2"]`): how the tables have always printed
/// fields that may be null or a list.
fn json_text<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn duration(s: u64) -> String {
    let (d, h, m, sec) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d{h:02}h{m:02}m")
    } else {
        format!("{h:02}:{m:02}:{sec:02}")
    }
}

/// `restart+N/helper`: each side's graceful restart (`-` for none).
fn gr_summary(g: &GracefulRestartView) -> String {
    let side = |c: Option<&RestartCapability>| match c {
        None => "-".to_string(),
        Some(c) => {
            let mode = if c.families.is_empty() { "helper" } else { "restart" };
            format!("{mode}{}", if c.notification { "+N" } else { "" })
        }
    };
    format!("{}/{}", side(g.local.as_ref()), side(g.remote.as_ref()))
}

pub fn neighbors_table(list: &[NeighborView]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:>10} {:<12} {:>10} {:>8} {:>8} {:>6}  {:<17} Info",
        "Neighbor", "AS", "State", "Up/Down", "Rcvd", "Sent", "Stale", "GR local/remote"
    );
    for n in list {
        let since = if n.is_established() { n.uptime_s } else { n.state_since_s };
        let info = n.last_notification_received.as_ref().map(|r| &r.description).or(n.last_error.as_ref());
        let mut info = if n.is_established() { rfc_8212_fact(n) } else { info.cloned().unwrap_or_default() };
        if n.graceful_shutdown {
            info = if info.is_empty() { "graceful shutdown".into() } else { format!("graceful shutdown; {info}") };
        }
        let _ = writeln!(
            out,
            "{:<24} {:>10} {:<12} {:>10} {:>8} {:>8} {:>6}  {:<17} {}",
            n.address.to_string(),
            n.asn,
            n.state,
            duration(since),
            n.received_prefixes,
            n.advertised_prefixes,
            n.stale_prefixes,
            gr_summary(&n.graceful_restart),
            info,
        );
    }
    out
}

/// Why an Established session exchanges nothing in a direction: an external neighbor without
/// import or export policy (RFC 8212); empty otherwise.
fn rfc_8212_fact(n: &NeighborView) -> String {
    let none = |p: &Option<String>| p.as_deref().is_some_and(|p| p.starts_with("none (RFC 8212)"));
    match (none(&n.import), none(&n.export)) {
        (true, true) => "no import, no export (RFC 8212)".into(),
        (true, false) => "no import (RFC 8212)".into(),
        (false, true) => "no export (RFC 8212)".into(),
        (false, false) => String::new(),
    }
}

/// `ipv4-unicast` (`?` for a part keel has no name for).
fn family_text(afi: &NameOrNumber, safi: &NameOrNumber) -> String {
    format!("{}-{}", afi.name().unwrap_or("?"), safi.name().unwrap_or("?"))
}

/// Families joined by commas, `none` for none.
fn family_list(families: impl IntoIterator<Item = String>) -> String {
    let list: Vec<String> = families.into_iter().collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

fn restart_families(c: &RestartCapability) -> String {
    family_list(
        c.families
            .iter()
            .map(|f| format!("{}{}", family_text(&f.afi, &f.safi), if f.forwarding_state { "(F)" } else { "" })),
    )
}

fn long_lived_families(list: Option<&Vec<LongLivedFamily>>) -> String {
    family_list(list.into_iter().flatten().map(|f| {
        let fwd = if f.forwarding_state { "(F)" } else { "" };
        format!("{}{fwd} stale {}s", family_text(&f.afi, &f.safi), f.stale_time)
    }))
}

fn end_of_rib(list: &[FamilyView]) -> String {
    family_list(list.iter().map(|f| family_text(&f.afi, &f.safi)))
}

pub fn neighbor_detail(n: &NeighborView) -> String {
    let mut o = String::new();
    let gr = &n.graceful_restart;
    let _ = writeln!(o, "Neighbor {} AS {}  {}", n.address, n.asn, n.description.as_deref().unwrap_or(""));
    let _ = writeln!(o, "  State:            {} for {}", n.state, duration(n.state_since_s));
    let local = n.local_address.map_or_else(|| "-".to_string(), |a| a.to_string());
    let _ = writeln!(o, "  Local address:    {local}");
    let _ = writeln!(o, "  Hold/keepalive:   {}/{}", json_text(&n.hold_time), json_text(&n.keepalive_time));
    let list = |v: Option<&Vec<String>>| v.map_or_else(|| "-".to_string(), |a| a.join(" "));
    let _ = writeln!(o, "  Families:         {}", list(n.families.as_ref()));
    let policy = |p: &Option<String>| p.clone().unwrap_or_else(|| "-".to_string());
    let _ = writeln!(o, "  Import/export:    {} / {}", policy(&n.import), policy(&n.export));
    let _ = writeln!(o, "  Capabilities:     local  {}", list(Some(&n.capabilities.local)));
    let _ = writeln!(o, "                    remote {}", list(n.capabilities.remote.as_ref()));
    let _ = writeln!(
        o,
        "  Prefixes:         received {}, advertised {}, stale {}, llgr-stale {}",
        n.received_prefixes, n.advertised_prefixes, n.stale_prefixes, n.llgr_stale_prefixes
    );
    let shutdown =
        if n.graceful_shutdown { "on: routes sent with GRACEFUL_SHUTDOWN 65535:0 (RFC 8326)" } else { "off" };
    let _ = writeln!(o, "  Graceful shutdown: {shutdown}");
    let _ =
        writeln!(o, "  Graceful restart: {}  (N bit negotiated: {})", gr_summary(gr), json_text(&gr.notification_bit));
    for (side, g) in [("local", &gr.local), ("remote", &gr.remote)] {
        match g {
            None => {
                let _ = writeln!(o, "    {side:<7} none");
            }
            Some(g) => {
                let _ = writeln!(
                    o,
                    "    {side:<7} R={} N={} restart time {}s, families: {}",
                    u8::from(g.restart_state),
                    u8::from(g.notification),
                    g.restart_time,
                    restart_families(g)
                );
            }
        }
    }
    let timers: Vec<String> = gr.timers.iter().map(|(k, v)| format!("{k} {v}s left")).collect();
    let timers = if timers.is_empty() { "none running".to_string() } else { timers.join(", ") };
    let _ = writeln!(o, "    helper active: {}; timers: {timers}", gr.helper_active);
    if !gr.stale_prefixes_by_family.is_empty() {
        let v: Vec<String> = gr.stale_prefixes_by_family.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(o, "    stale prefixes: {}", v.join(", "));
    }
    let _ = writeln!(
        o,
        "    End-of-RIB received: {}; sent: {}",
        end_of_rib(&gr.end_of_rib_received),
        end_of_rib(&gr.end_of_rib_sent)
    );
    if let Some(w) = &gr.selection_deferral_awaits {
        let _ = writeln!(o, "    keel restarting: its selection deferral awaits {} from this neighbor", w.join(", "));
    }
    for (side, l) in [("local", &n.llgr.local), ("remote", &n.llgr.remote)] {
        let _ = writeln!(o, "  LLGR {side:<7}      {}", long_lived_families(l.as_ref()));
    }
    if !n.llgr.stale_seconds_left.is_empty() {
        let counts = &n.llgr.stale_prefixes_by_family;
        let v: Vec<String> = n
            .llgr
            .stale_seconds_left
            .iter()
            .map(|(f, left)| format!("{f} ({} prefixes, {left}s left)", counts.get(f).copied().unwrap_or(0)))
            .collect();
        let _ = writeln!(o, "    long-lived stale: {}", v.join(", "));
    }
    if let Some(b) = &n.bfd {
        let _ = writeln!(o, "  BFD:              {}", b.summary());
    }
    for (label, record) in [
        ("Last NOTIFICATION sent", &n.last_notification_sent),
        ("Last NOTIFICATION rcvd", &n.last_notification_received),
    ] {
        if let Some(r) = record {
            let _ = writeln!(o, "  {label}: {}", r.description);
        }
    }
    if let Some(e) = &n.last_error {
        let _ = writeln!(o, "  Last error:       {e}");
    }
    let _ = writeln!(
        o,
        "  Messages:         received {} ({} UPDATEs), sent {} ({} UPDATEs)",
        n.messages_received, n.updates_received, n.messages_sent, n.updates_sent
    );
    o
}

pub fn routes_table(list: &[RouteView]) -> String {
    let mut out = String::new();
    // The RPKI column only when keel validates (RFC 6811).
    let rpki = list.iter().any(|r| r.rpki.is_some());
    let _ = writeln!(
        out,
        "  {:<24} {:<18} {:<26} {:>6} {:>6}  {}{:<20} Communities",
        "Prefix",
        "From",
        "Next hop",
        "LP",
        "MED",
        if rpki { "RPKI      " } else { "" },
        "AS path"
    );
    for r in list {
        let flag = if r.llgr_stale {
            "L"
        } else if r.stale {
            "S"
        } else if r.best {
            "*"
        } else {
            " "
        };
        let path = path_text(r);
        let opt = |v: Option<u32>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
        let _ = writeln!(
            out,
            "{flag} {:<24} {:<18} {:<26} {:>6} {:>6}  {}{:<20} {}",
            r.prefix,
            r.neighbor.map_or_else(|| "local".to_string(), |n| n.to_string()),
            r.next_hop,
            opt(r.local_pref),
            opt(r.med),
            if rpki { format!("{:<10}", r.rpki.as_deref().unwrap_or("-")) } else { String::new() },
            if path.is_empty() { "i".to_string() } else { path },
            r.communities.join(" ")
        );
    }
    let _ = writeln!(out, "{} route(s); * best, S stale, L LLGR-stale", list.len());
    out
}

/// A route's AS path as BIRD and FRR print it: `65001 {65002,65003} (64512) [64513]` for a
/// sequence, a set, a confederation sequence and a confederation set (from
/// `as_path_segments`; the flat `as_path` when there are none, as from a keeld too old to
/// send them).
fn path_text(r: &RouteView) -> String {
    let asns = |v: &[u32], sep: &str| v.iter().map(u32::to_string).collect::<Vec<_>>().join(sep);
    if r.as_path_segments.is_empty() {
        return asns(&r.as_path, " ");
    }
    let parts: Vec<String> = r
        .as_path_segments
        .iter()
        .map(|s| match s.kind.as_str() {
            SegmentView::<String>::AS_SET => format!("{{{}}}", asns(&s.asns, ",")),
            SegmentView::<String>::AS_CONFED_SEQUENCE => format!("({})", asns(&s.asns, " ")),
            SegmentView::<String>::AS_CONFED_SET => format!("[{}]", asns(&s.asns, ",")),
            _ => asns(&s.asns, " "),
        })
        .collect();
    parts.join(" ")
}

pub fn show(api: &Path, what: Show) -> Result<()> {
    match what {
        Show::Neighbors(f) => {
            let path = "/v1/neighbors";
            let v = request(api, "GET", path)?;
            if f.json {
                print_json(&v);
            } else {
                let status: StatusView = get(api, "/v1/status")?;
                if status.restarting {
                    let d = &status.selection_deferral;
                    println!(
                        "keel is restarting: selection deferred for up to {} s more, awaiting End-of-RIB from {}",
                        json_text(&d.deferral_seconds_left),
                        json_text(&d.awaited_neighbors)
                    );
                }
                if let Some(u) = &status.last_upgrade {
                    println!(
                        "keeld upgraded from {} {} s ago (keel upgrade): {} session(s) went on",
                        u.from_version,
                        unix_now().saturating_sub(u.at_unix),
                        u.sessions
                    );
                }
                let list: Vec<NeighborView> = parse("GET", path, v)?;
                print!("{}", neighbors_table(&list));
            }
        }
        Show::Neighbor { address, json } => {
            let path = format!("/v1/neighbors/{}", encode(&address));
            let v = request(api, "GET", &path)?;
            if json.json {
                print_json(&v);
            } else {
                print!("{}", neighbor_detail(&parse("GET", &path, v)?));
            }
        }
        Show::Routes(a) => {
            // The API's `prefix=` has always been exact; `for=` is the longest match.
            let (exact, longest) = if a.exact { (a.prefix, None) } else { (None, a.prefix) };
            let q = query(&[
                ("family", a.family),
                ("prefix", exact),
                ("for", longest),
                ("neighbor", a.neighbor),
                ("stale", a.stale.then(|| "true".to_string())),
                ("advertised", a.advertised),
            ]);
            let path = format!("/v1/routes{q}");
            let v = request(api, "GET", &path)?;
            if a.json {
                print_json(&v);
            } else {
                let list: Vec<RouteView> = parse("GET", &path, v)?;
                print!("{}", routes_table(&list));
            }
        }
        Show::Rpki(f) => {
            let path = "/v1/rpki";
            let v = request(api, "GET", path)?;
            if f.json {
                print_json(&v);
            } else {
                print!("{}", rpki_table(&parse("GET", path, v)?));
            }
        }
        Show::Policy { name, config, json } => {
            let path = match &name {
                Some(n) => format!("/v1/policies/{}", encode(n)),
                None => "/v1/policies".to_string(),
            };
            let v = match &config {
                Some(file) => {
                    let c = keel_config::Config::load(file)?;
                    match &name {
                        Some(n) => {
                            serde_json::to_value(keel_config::policy_view::show(&c, n).map_err(anyhow::Error::msg)?)?
                        }
                        None => serde_json::to_value(keel_config::policy_view::list(&c))?,
                    }
                }
                None => request(api, "GET", &path)?,
            };
            if json.json {
                print_json(&v);
            } else {
                let list: Vec<PolicyView> =
                    if name.is_some() { vec![parse("GET", &path, v)?] } else { parse("GET", &path, v)? };
                for p in &list {
                    print!("{}", policy_text(p));
                }
            }
        }
    }
    Ok(())
}

/// `keel show rpki`: one line per cache, then the VRPs in use.
pub fn rpki_table(v: &RpkiView) -> String {
    let mut out = String::new();
    if v.caches.is_empty() {
        let _ = writeln!(out, "no RPKI cache configured ([[rpki.cache]]): routes have no RPKI state");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<30} {:<13} {:>10} {:>8} {:>10} {:>10}  {:<12} {:<22} Info",
        "Cache", "State", "Session", "Serial", "VRPs IPv4", "VRPs IPv6", "Updated", "Refresh/retry/expire"
    );
    let opt = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    for c in &v.caches {
        let cache = std::net::SocketAddr::new(c.address, c.port).to_string();
        let updated = c.last_update_s_ago.map_or_else(|| "never".to_string(), |s| format!("{} ago", duration(s)));
        let timers = format!("{}/{}/{} s", c.refresh_s, c.retry_s, c.expire_s);
        let mut info = Vec::new();
        if c.state != RpkiCacheView::CONNECTED {
            info.extend(c.last_error.clone());
            if let Some(left) = c.expires_in_s {
                info.push(format!("its VRPs expire in {}", duration(left)));
            }
        }
        let line = format!(
            "{cache:<30} {:<13} {:>10} {:>8} {:>10} {:>10}  {updated:<12} {timers:<22} {}",
            c.state,
            opt(c.session_id.map(u64::from)),
            opt(c.serial.map(u64::from)),
            c.vrps.ipv4,
            c.vrps.ipv6,
            info.join("; ")
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    match &v.vrps {
        Some(n) => {
            let _ = writeln!(out, "VRPs in use (every cache's, merged): {} IPv4, {} IPv6", n.ipv4, n.ipv6);
        }
        None => {
            let _ = writeln!(out, "no VRPs in use: no cache has delivered any; routes have no RPKI state");
        }
    }
    out
}

/// A policy as text: one block per term.
pub fn policy_text(p: &PolicyView) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "policy {}", p.name);
    for t in &p.terms {
        let _ = writeln!(o, "  term {}", t.name);
        for m in &t.matches {
            let _ = writeln!(o, "    match {m}");
        }
        for a in &t.set {
            let _ = writeln!(o, "    set   {a}");
        }
        let _ = writeln!(o, "    then  {}", t.then.as_deref().unwrap_or("next term"));
    }
    o
}

/// `keel test-policy`.
#[derive(Debug, Args)]
pub struct TestPolicyArgs {
    /// A policy name, or "all" / "none".
    pub name: String,
    /// The route's prefix: 198.51.100.0/24.
    pub prefix: String,
    /// AS path, leftmost first: 65001,65002.
    #[arg(long)]
    pub as_path: Option<String>,
    /// Communities, comma-separated: 65001:100,65001:200.
    #[arg(long)]
    pub communities: Option<String>,
    /// Large communities (RFC 8092), comma-separated: 65001:1:2,65001:3:4.
    #[arg(long)]
    pub large_communities: Option<String>,
    /// Extended communities, comma-separated: rt:65001:100, ro:65001:7 or 0x + 16 hex digits.
    #[arg(long)]
    pub extended_communities: Option<String>,
    /// LOCAL_PREF of the route.
    #[arg(long)]
    pub local_pref: Option<u32>,
    /// MULTI_EXIT_DISC of the route.
    #[arg(long)]
    pub med: Option<u32>,
    /// Next hop of the route (an IPv4 or IPv6 address).
    #[arg(long)]
    pub next_hop: Option<String>,
    /// valid, invalid or not-found.
    #[arg(long)]
    pub rpki: Option<String>,
    /// Read the policy from this configuration file instead of the running keeld.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// Print the verdict, matched terms and resulting attributes as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

pub fn test_policy(api: &Path, a: TestPolicyArgs) -> Result<ExitCodeValue> {
    let q = query(&[
        ("prefix", Some(a.prefix.clone())),
        ("as_path", a.as_path.clone()),
        ("communities", a.communities.clone()),
        ("large_communities", a.large_communities.clone()),
        ("extended_communities", a.extended_communities.clone()),
        ("local_pref", a.local_pref.map(|v| v.to_string())),
        ("med", a.med.map(|v| v.to_string())),
        ("next_hop", a.next_hop.clone()),
        ("rpki", a.rpki.clone()),
    ]);
    let path = format!("/v1/policies/{}/test{q}", encode(&a.name));
    let v = match &a.config {
        Some(file) => {
            let c = keel_config::Config::load(file)?;
            let next_hop = match &a.next_hop {
                Some(n) => Some(n.parse().map_err(|_| anyhow::anyhow!("{n:?} is not an IP address"))?),
                None => None,
            };
            let r = keel_config::policy_view::TestRoute {
                prefix: a.prefix.clone(),
                as_path: a.as_path.clone(),
                communities: a.communities.clone(),
                large_communities: a.large_communities.clone(),
                extended_communities: a.extended_communities.clone(),
                local_pref: a.local_pref,
                med: a.med,
                next_hop,
                rpki: a.rpki.clone(),
            };
            serde_json::to_value(keel_config::policy_view::test(&c, &a.name, &r).map_err(anyhow::Error::msg)?)?
        }
        None => request(api, "GET", &path)?,
    };
    let test: PolicyTest = parse("GET", &path, v.clone())?;
    if a.json {
        print_json(&v);
    } else {
        println!("{} {}: {}", test.policy, a.prefix, test.verdict);
        let terms = if test.matched_terms.is_empty() { "none".to_string() } else { test.matched_terms.join(", ") };
        println!("  matched terms: {terms}");
        if let Some(r) = test.result.clone() {
            print!("{}", routes_table(&[tested_route(r)]));
        }
    }
    Ok(if test.accepted() { ExitCodeValue::Accepted } else { ExitCodeValue::Rejected })
}

/// A route a policy returned, for [`routes_table`]: no flags, no neighbor, no RPKI column.
fn tested_route(r: TestedRoute) -> RouteView {
    RouteView {
        prefix: r.prefix,
        family: String::new(),
        path_id: None,
        neighbor: None,
        next_hop: r.next_hop,
        as_path: r.as_path,
        as_path_segments: Vec::new(),
        origin: None,
        communities: r.communities,
        large_communities: r.large_communities,
        local_pref: r.local_pref,
        med: r.med,
        best: false,
        stale: false,
        llgr_stale: false,
        rpki: None,
    }
}

/// `keel test-policy` exits 0 when the route is accepted, 1 when rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCodeValue {
    Accepted,
    Rejected,
}

/// POST commands; prints the API's answer (JSON with `--json`).
pub fn post(api: &Path, path: &str, json: bool, done: &str) -> Result<()> {
    let v = request(api, "POST", path)?;
    if json {
        print_json(&v);
    } else {
        let answer: Answer = parse("POST", path, v)?;
        match answer.summary {
            Some(s) => println!("{done}: {s}"),
            None => println!("{done}"),
        }
    }
    Ok(())
}

/// Now, in Unix seconds.
fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(rpki: Option<&str>) -> RouteView {
        RouteView {
            prefix: "192.0.2.0/24".into(),
            family: "ipv4-unicast".into(),
            path_id: None,
            neighbor: Some("127.0.0.2".parse().expect("address")),
            next_hop: "192.0.2.2".into(),
            as_path: vec![65002],
            as_path_segments: Vec::new(),
            origin: Some("igp".into()),
            communities: Vec::new(),
            large_communities: Vec::new(),
            local_pref: None,
            med: None,
            best: true,
            stale: false,
            llgr_stale: false,
            rpki: rpki.map(String::from),
        }
    }

    #[test]
    fn routes_table_shows_rpki_only_when_validating() {
        let without = routes_table(&[route(None)]);
        assert!(!without.contains("RPKI"), "{without}");
        let with = routes_table(&[route(Some("invalid")), route(None)]);
        let lines: Vec<&str> = with.lines().collect();
        assert!(lines[0].contains("RPKI      AS path"), "{with}");
        assert!(lines[1].contains("invalid   65002"), "{with}");
        assert!(lines[2].contains("-         65002"), "{with}");
    }

    fn cache(address: &str, state: &str) -> RpkiCacheView {
        RpkiCacheView {
            address: address.parse().expect("address"),
            expire_s: 7200,
            expires_in_s: None,
            last_error: None,
            last_update_s_ago: None,
            port: 8282,
            refresh_s: 3600,
            retry_s: 600,
            serial: None,
            session_id: None,
            state: state.into(),
            state_since_s: 3,
            version: None,
            vrps: keel_api::VrpCounts::default(),
        }
    }

    #[test]
    fn rpki_table_one_line_per_cache() {
        let synced = RpkiCacheView {
            expires_in_s: Some(7195),
            last_error: Some("cache closed the connection".into()),
            last_update_s_ago: Some(5),
            serial: Some(2),
            session_id: Some(41327),
            version: Some(1),
            vrps: keel_api::VrpCounts { ipv4: 3, ipv6: 1 },
            ..cache("127.0.4.3", RpkiCacheView::CONNECTED)
        };
        let lost = RpkiCacheView {
            state: "down".into(),
            last_error: Some("Connection refused (os error 111)".into()),
            ..synced.clone()
        };
        let never = RpkiCacheView {
            last_error: Some("Connection refused (os error 111)".into()),
            ..cache("2001:db8::7", "down")
        };
        let vrps = Some(keel_api::VrpCounts { ipv4: 3, ipv6: 1 });
        let t = rpki_table(&RpkiView { caches: vec![synced, lost, never], vrps });
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("Cache ") && lines[0].ends_with(" Info"), "{t}");
        // In sync: no error shown (it is about the connection before).
        assert!(lines[1].starts_with("127.0.4.3:8282 "), "{t}");
        assert!(
            lines[1].contains(" connected ") && lines[1].contains(" 41327 ") && !lines[1].contains("closed"),
            "{t}"
        );
        assert!(lines[1].contains("00:00:05 ago") && lines[1].contains("3600/600/7200 s"), "{t}");
        assert!(
            lines[2].contains(" down ") && lines[2].ends_with("refused (os error 111); its VRPs expire in 01:59:55"),
            "{t}"
        );
        assert!(lines[3].starts_with("[2001:db8::7]:8282 ") && lines[3].contains(" never "), "{t}");
        assert_eq!(lines[4], "VRPs in use (every cache's, merged): 3 IPv4, 1 IPv6");
        let none = rpki_table(&RpkiView::default());
        assert!(none.starts_with("no RPKI cache configured"), "{none}");
        assert!(t.lines().all(|l| l == l.trim_end()), "no trailing blanks:\n{t}");
    }

    /// The table keeps the segment types the JSON has (RFC 4271 §4.3, RFC 5065 §3).
    #[test]
    fn routes_table_shows_segment_types() {
        let segment = |kind: &str, asns: &[u32]| SegmentView { kind: kind.to_string(), asns: asns.to_vec() };
        let r = RouteView {
            as_path: vec![64512, 65002, 65003, 65004, 64513],
            as_path_segments: vec![
                segment("as_confed_sequence", &[64512]),
                segment("as_sequence", &[65002]),
                segment("as_set", &[65003, 65004]),
                segment("as_confed_set", &[64513]),
            ],
            ..route(None)
        };
        assert_eq!(path_text(&r), "(64512) 65002 {65003,65004} [64513]");
        let flat = RouteView { as_path: vec![65002, 65003], ..route(None) };
        assert_eq!(path_text(&flat), "65002 65003");
        assert!(routes_table(&[r]).contains("(64512) 65002 {65003,65004} [64513]"));
    }
}
