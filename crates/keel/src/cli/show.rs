//! `keel show`, `keel clear`, `keel reload`, `keel stop`: keeld's API as tables or JSON.

use anyhow::Result;
use clap::{Args, Subcommand};
use keel_api::request;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, Subcommand)]
pub enum Show {
    /// All neighbors, one line each (like `birdc show protocols`).
    Neighbors(JsonFlag),
    /// One neighbor in detail: negotiated capabilities, graceful restart state, counters.
    Neighbor {
        address: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Routes: received from neighbors and originated by keel.
    Routes(RouteArgs),
    /// A routing policy's terms (all policies without a name).
    Policy {
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
    #[arg(long)]
    pub prefix: Option<String>,
    #[arg(long)]
    pub neighbor: Option<String>,
    /// Only stale routes (kept for a restarting neighbor).
    #[arg(long)]
    pub stale: bool,
    /// What was advertised to this neighbor (its Adj-RIB-Out), with the attributes it was sent.
    #[arg(long, value_name = "ADDR")]
    pub advertised: Option<String>,
    #[arg(long)]
    pub json: bool,
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
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

fn duration(s: u64) -> String {
    let (d, h, m, sec) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d{h:02}h{m:02}m")
    } else {
        format!("{h:02}:{m:02}:{sec:02}")
    }
}

fn gr_summary(g: &Value) -> String {
    let side = |v: &Value| {
        if v.is_null() {
            return "-".to_string();
        }
        let mode = if v["families"].as_array().is_some_and(|f| !f.is_empty()) { "restart" } else { "helper" };
        let n = if v["notification"].as_bool() == Some(true) { "+N" } else { "" };
        format!("{mode}{n}")
    };
    format!("{}/{}", side(&g["local"]), side(&g["remote"]))
}

pub fn neighbors_table(list: &[Value]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:>10} {:<12} {:>10} {:>8} {:>8} {:>6}  {:<17} Info",
        "Neighbor", "AS", "State", "Up/Down", "Rcvd", "Sent", "Stale", "GR local/remote"
    );
    for n in list {
        let state = n["state"].as_str().unwrap_or("?");
        let since = if state == "established" { n["uptime_s"].as_u64() } else { n["state_since_s"].as_u64() };
        let info = n["last_notification_received"]["description"]
            .as_str()
            .or(n["last_error"].as_str())
            .map(|s| s.to_string())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<24} {:>10} {:<12} {:>10} {:>8} {:>8} {:>6}  {:<17} {}",
            n["address"].as_str().unwrap_or("?"),
            n["asn"].to_string(),
            state,
            duration(since.unwrap_or(0)),
            n["received_prefixes"].to_string(),
            n["advertised_prefixes"].to_string(),
            n["stale_prefixes"].to_string(),
            gr_summary(&n["graceful_restart"]),
            if state == "established" { String::new() } else { info },
        );
    }
    out
}

fn families(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    let mut s = format!("{}-{}", f["afi"].as_str().unwrap_or("?"), f["safi"].as_str().unwrap_or("?"));
                    if f["forwarding_state"].as_bool() == Some(true) {
                        s.push_str("(F)");
                    }
                    if let Some(t) = f["stale_time"].as_u64() {
                        let _ = write!(s, " stale {t}s");
                    }
                    s
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "none".into())
}

pub fn neighbor_detail(n: &Value) -> String {
    let mut o = String::new();
    let gr = &n["graceful_restart"];
    let _ = writeln!(
        o,
        "Neighbor {} AS {}  {}",
        n["address"].as_str().unwrap_or("?"),
        n["asn"],
        n["description"].as_str().unwrap_or("")
    );
    let _ = writeln!(
        o,
        "  State:            {} for {}",
        n["state"].as_str().unwrap_or("?"),
        duration(n["state_since_s"].as_u64().unwrap_or(0))
    );
    let _ = writeln!(o, "  Local address:    {}", n["local_address"].as_str().unwrap_or("-"));
    let _ = writeln!(o, "  Hold/keepalive:   {}/{}", n["hold_time"], n["keepalive_time"]);
    let list = |v: &Value| {
        v.as_array().map_or("-".to_string(), |a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "))
    };
    let _ = writeln!(o, "  Families:         {}", list(&n["families"]));
    let _ = writeln!(o, "  Capabilities:     local  {}", list(&n["capabilities"]["local"]));
    let _ = writeln!(o, "                    remote {}", list(&n["capabilities"]["remote"]));
    let _ = writeln!(
        o,
        "  Prefixes:         received {}, advertised {}, stale {}, llgr-stale {}",
        n["received_prefixes"], n["advertised_prefixes"], n["stale_prefixes"], n["llgr_stale_prefixes"]
    );
    let _ = writeln!(o, "  Graceful restart: {}  (N bit negotiated: {})", gr_summary(gr), gr["notification_bit"]);
    for side in ["local", "remote"] {
        let g = &gr[side];
        if g.is_null() {
            let _ = writeln!(o, "    {side:<7} none");
        } else {
            let _ = writeln!(
                o,
                "    {side:<7} R={} N={} restart time {}s, families: {}",
                u8::from(g["restart_state"].as_bool() == Some(true)),
                u8::from(g["notification"].as_bool() == Some(true)),
                g["restart_time"],
                families(&g["families"])
            );
        }
    }
    let timers = gr["timers"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k} {v}s left")).collect::<Vec<_>>().join(", "))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "none running".into());
    let _ = writeln!(o, "    helper active: {}; timers: {timers}", gr["helper_active"]);
    if let Some(m) = gr["stale_prefixes_by_family"].as_object().filter(|m| !m.is_empty()) {
        let v: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(o, "    stale prefixes: {}", v.join(", "));
    }
    let _ = writeln!(
        o,
        "    End-of-RIB received: {}; sent: {}",
        families(&gr["end_of_rib_received"]),
        families(&gr["end_of_rib_sent"])
    );
    if let Some(w) = gr["selection_deferral_awaits"].as_array() {
        let w: Vec<&str> = w.iter().filter_map(Value::as_str).collect();
        let _ = writeln!(o, "    keel restarting: its selection deferral awaits {} from this neighbor", w.join(", "));
    }
    for side in ["local", "remote"] {
        let _ = writeln!(o, "  LLGR {side:<7}      {}", families(&n["llgr"][side]));
    }
    if let Some(m) = n["llgr"]["stale_seconds_left"].as_object().filter(|m| !m.is_empty()) {
        let counts = &n["llgr"]["stale_prefixes_by_family"];
        let v: Vec<String> = m
            .iter()
            .map(|(f, left)| format!("{f} ({} prefixes, {left}s left)", counts[f].as_u64().unwrap_or(0)))
            .collect();
        let _ = writeln!(o, "    long-lived stale: {}", v.join(", "));
    }
    for (label, key) in
        [("Last NOTIFICATION sent", "last_notification_sent"), ("Last NOTIFICATION rcvd", "last_notification_received")]
    {
        if let Some(d) = n[key]["description"].as_str() {
            let _ = writeln!(o, "  {label}: {d}");
        }
    }
    if let Some(e) = n["last_error"].as_str() {
        let _ = writeln!(o, "  Last error:       {e}");
    }
    let _ = writeln!(
        o,
        "  Messages:         received {} ({} UPDATEs), sent {} ({} UPDATEs)",
        n["messages_received"], n["updates_received"], n["messages_sent"], n["updates_sent"]
    );
    o
}

pub fn routes_table(list: &[Value]) -> String {
    let mut out = String::new();
    // The RPKI column only when keel validates (RFC 6811).
    let rpki = list.iter().any(|r| r["rpki"].is_string());
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
        let flag = match (r["best"].as_bool(), r["stale"].as_bool(), r["llgr_stale"].as_bool()) {
            (_, _, Some(true)) => "L",
            (_, Some(true), _) => "S",
            (Some(true), _, _) => "*",
            _ => " ",
        };
        let path = path_text(r);
        let comms: Vec<&str> =
            r["communities"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        let opt = |v: &Value| if v.is_null() { "-".to_string() } else { v.to_string() };
        let _ = writeln!(
            out,
            "{flag} {:<24} {:<18} {:<26} {:>6} {:>6}  {}{:<20} {}",
            r["prefix"].as_str().unwrap_or("?"),
            r["neighbor"].as_str().unwrap_or("local"),
            r["next_hop"].as_str().unwrap_or("?"),
            opt(&r["local_pref"]),
            opt(&r["med"]),
            if rpki { format!("{:<10}", r["rpki"].as_str().unwrap_or("-")) } else { String::new() },
            if path.is_empty() { "i".to_string() } else { path },
            comms.join(" ")
        );
    }
    let _ = writeln!(out, "{} route(s); * best, S stale, L LLGR-stale", list.len());
    out
}

/// A route's AS path as BIRD and FRR print it: `65001 {65002,65003} (64512) [64513]` for a
/// sequence, a set, a confederation sequence and a confederation set (from
/// `as_path_segments`; a flat `as_path` when a keeld too old to send them answers).
fn path_text(r: &Value) -> String {
    let asns = |v: &Value, sep: &str| {
        v.as_array().map(|a| a.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(sep)).unwrap_or_default()
    };
    let Some(segments) = r["as_path_segments"].as_array() else { return asns(&r["as_path"], " ") };
    let parts: Vec<String> = segments
        .iter()
        .map(|s| match s["type"].as_str() {
            Some("as_set") => format!("{{{}}}", asns(&s["asns"], ",")),
            Some("as_confed_sequence") => format!("({})", asns(&s["asns"], " ")),
            Some("as_confed_set") => format!("[{}]", asns(&s["asns"], ",")),
            _ => asns(&s["asns"], " "),
        })
        .collect();
    parts.join(" ")
}

pub fn show(api: &Path, what: Show) -> Result<()> {
    match what {
        Show::Neighbors(f) => {
            let v = request(api, "GET", "/v1/neighbors")?;
            if f.json {
                print_json(&v);
            } else {
                let status = request(api, "GET", "/v1/status")?;
                if status["restarting"] == true {
                    let d = &status["selection_deferral"];
                    println!(
                        "keel is restarting: selection deferred for up to {} s more, awaiting End-of-RIB from {}",
                        d["deferral_seconds_left"], d["awaited_neighbors"]
                    );
                }
                print!("{}", neighbors_table(v.as_array().map(Vec::as_slice).unwrap_or_default()));
            }
        }
        Show::Neighbor { address, json } => {
            let v = request(api, "GET", &format!("/v1/neighbors/{}", encode(&address)))?;
            if json.json {
                print_json(&v);
            } else {
                print!("{}", neighbor_detail(&v));
            }
        }
        Show::Routes(a) => {
            let q = query(&[
                ("family", a.family),
                ("prefix", a.prefix),
                ("neighbor", a.neighbor),
                ("stale", a.stale.then(|| "true".to_string())),
                ("advertised", a.advertised),
            ]);
            let v = request(api, "GET", &format!("/v1/routes{q}"))?;
            if a.json {
                print_json(&v);
            } else {
                print!("{}", routes_table(v.as_array().map(Vec::as_slice).unwrap_or_default()));
            }
        }
        Show::Policy { name, config, json } => {
            let v = match (&config, &name) {
                (Some(path), name) => {
                    let c = crate::config::Config::load(path)?;
                    match name {
                        Some(n) => crate::policy_view::show(&c, n).map_err(anyhow::Error::msg)?,
                        None => crate::policy_view::list(&c),
                    }
                }
                (None, Some(n)) => request(api, "GET", &format!("/v1/policies/{}", encode(n)))?,
                (None, None) => request(api, "GET", "/v1/policies")?,
            };
            if json.json {
                print_json(&v);
            } else {
                let list = if v.is_array() { v.as_array().cloned().unwrap_or_default() } else { vec![v] };
                for p in &list {
                    print!("{}", policy_text(p));
                }
            }
        }
    }
    Ok(())
}

/// A policy as text: one block per term.
pub fn policy_text(p: &Value) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "policy {}", p["name"].as_str().unwrap_or("?"));
    for t in p["terms"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let _ = writeln!(o, "  term {}", t["name"].as_str().unwrap_or("?"));
        let lines =
            |k: &str| t[k].as_array().map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect::<Vec<_>>());
        for m in lines("match").unwrap_or_default() {
            let _ = writeln!(o, "    match {m}");
        }
        for a in lines("set").unwrap_or_default() {
            let _ = writeln!(o, "    set   {a}");
        }
        let then = t["then"].as_str().unwrap_or("next term");
        let _ = writeln!(o, "    then  {then}");
    }
    o
}

/// `keel test-policy`.
#[derive(Debug, Args)]
pub struct TestPolicyArgs {
    /// A policy name, or "all" / "none".
    pub name: String,
    pub prefix: String,
    /// AS path, leftmost first: 65001,65002.
    #[arg(long)]
    pub as_path: Option<String>,
    /// Communities, comma-separated: 65001:100,65001:200.
    #[arg(long)]
    pub communities: Option<String>,
    #[arg(long)]
    pub large_communities: Option<String>,
    #[arg(long)]
    pub extended_communities: Option<String>,
    #[arg(long)]
    pub local_pref: Option<u32>,
    #[arg(long)]
    pub med: Option<u32>,
    #[arg(long)]
    pub next_hop: Option<String>,
    /// valid, invalid or not-found.
    #[arg(long)]
    pub rpki: Option<String>,
    /// Read the policy from this configuration file instead of the running keeld.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub fn test_policy(api: &Path, a: TestPolicyArgs) -> Result<ExitCodeValue> {
    let v = match &a.config {
        Some(path) => {
            let c = crate::config::Config::load(path)?;
            let next_hop = match &a.next_hop {
                Some(n) => Some(n.parse().map_err(|_| anyhow::anyhow!("{n:?} is not an IP address"))?),
                None => None,
            };
            let r = crate::policy_view::TestRoute {
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
            crate::policy_view::test(&c, &a.name, &r).map_err(anyhow::Error::msg)?
        }
        None => {
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
            request(api, "GET", &format!("/v1/policies/{}/test{q}", encode(&a.name)))?
        }
    };
    if a.json {
        print_json(&v);
    } else {
        let terms: Vec<&str> =
            v["matched_terms"].as_array().map(|t| t.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        println!("{} {}: {}", v["policy"].as_str().unwrap_or("?"), a.prefix, v["verdict"].as_str().unwrap_or("?"));
        println!("  matched terms: {}", if terms.is_empty() { "none".to_string() } else { terms.join(", ") });
        if !v["result"].is_null() {
            print!("{}", routes_table(&[v["result"].clone()]));
        }
    }
    Ok(if v["verdict"] == "accept" { ExitCodeValue::Accepted } else { ExitCodeValue::Rejected })
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
    } else if let Some(s) = v["summary"].as_str() {
        println!("{done}: {s}");
    } else {
        println!("{done}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_table_shows_rpki_only_when_validating() {
        let route = |rpki: Value| {
            serde_json::json!({"prefix": "192.0.2.0/24", "neighbor": "127.0.0.2", "next_hop": "192.0.2.2",
                "as_path": [65002], "best": true, "local_pref": null, "med": null, "rpki": rpki})
        };
        let without = routes_table(&[route(Value::Null)]);
        assert!(!without.contains("RPKI"), "{without}");
        let with = routes_table(&[route("invalid".into()), route(Value::Null)]);
        let lines: Vec<&str> = with.lines().collect();
        assert!(lines[0].contains("RPKI      AS path"), "{with}");
        assert!(lines[1].contains("invalid   65002"), "{with}");
        assert!(lines[2].contains("-         65002"), "{with}");
    }

    /// The table keeps the segment types the JSON has (RFC 4271 §4.3, RFC 5065 §3).
    #[test]
    fn routes_table_shows_segment_types() {
        let r = serde_json::json!({"prefix": "192.0.2.0/24", "as_path": [64512, 65002, 65003, 65004, 64513],
            "as_path_segments": [{"type": "as_confed_sequence", "asns": [64512]},
                {"type": "as_sequence", "asns": [65002]}, {"type": "as_set", "asns": [65003, 65004]},
                {"type": "as_confed_set", "asns": [64513]}]});
        assert_eq!(path_text(&r), "(64512) 65002 {65003,65004} [64513]");
        let flat = serde_json::json!({"as_path": [65002, 65003]});
        assert_eq!(path_text(&flat), "65002 65003");
        assert!(routes_table(&[r]).contains("(64512) 65002 {65003,65004} [64513]"));
    }
}
