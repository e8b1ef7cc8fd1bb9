//! Routing policy between real daemons (issue 11): a BIRD upstream announces routes with
//! different communities and AS paths; keel's import policy rejects bogons (a prefix list) and
//! paths through a private AS (a regular expression), sets LOCAL_PREF and MED, adds a
//! community and a large community and removes the upstream's communities by wildcard; keel's
//! export policy towards a downstream FRR rewrites the next hop, prepends and sets a MED. FRR
//! must hold exactly the expected routes and attributes. Then `keel reload` with a changed
//! policy changes what FRR holds without any session reset.
//!
//! Quirks met here:
//! - keel's next hop "self" towards eBGP is 127.0.3.1, which FRR 8.4 refuses as martian: the
//!   export policy sets documentation next hops instead (192.0.2.1, 2001:db8::1), per family.
//! - FRR sorts a route's communities numerically (its JSON lists them in that order): they
//!   are compared as sets here.
//! - A MED that keel's import policy set counts as learned from the neighboring AS: keel does
//!   not pass it to another AS (RFC 4271 §5.1.4); only the export policy's MED reaches FRR.

use super::common::*;
use super::daemons::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

const KEEL: &str = "127.0.3.1";
const BIRD: &str = "127.0.3.2";
const FRR: &str = "127.0.3.3";

/// keel's policies; `{bogons}`, `{tag}` and the export's `{backup_prepend}` / `{backup_med}`
/// are what the reload changes.
struct PolicyText {
    /// The entries of the `bogons` prefix list.
    bogons: &'static [&'static str],
    /// The community the import policy adds to every route it accepts.
    tag: &'static str,
    /// Prepends and MED of the export policy's "backup" term.
    backup_prepend: u8,
    backup_med: u32,
}

impl PolicyText {
    fn toml(&self) -> String {
        let bogons: Vec<String> = self.bogons.iter().map(|b| format!("\"{b}\"")).collect();
        format!(
            r#"
[[prefix_list]]
name = "bogons"
prefixes = [{bogons}]

[[policy]]
name = "from-bird"
[[policy.term]]
name = "bogons"
match.prefix_list = "bogons"
then = "reject"
[[policy.term]]
name = "no-private-transit"
match.as_path_regex = "(^| )64512( |$)"
then = "reject"
[[policy.term]]
name = "tag"
set.local_pref = 200
set.med = 10
set.add_communities = ["{tag}"]
set.add_large_communities = ["65001:0:2"]
[[policy.term]]
name = "backup"
match.community = "65002:666"
set.local_pref = 50
set.med = 500
set.add_communities = ["65001:666"]
[[policy.term]]
name = "scrub"
set.remove_communities = ["65002:*"]
then = "accept"

[[policy]]
name = "to-frr"
[[policy.term]]
name = "next-hop-v4"
match.family = "ipv4-unicast"
set.next_hop = "192.0.2.1"
[[policy.term]]
name = "next-hop-v6"
match.family = "ipv6-unicast"
set.next_hop = "2001:db8::1"
[[policy.term]]
name = "backup"
match.community = "65001:666"
set.prepend = {prepend}
set.med = {med}
then = "accept"
"#,
            bogons = bogons.join(", "),
            tag = self.tag,
            prepend = self.backup_prepend,
            med = self.backup_med,
        )
    }
}

const BEFORE: PolicyText = PolicyText {
    bogons: &["192.0.2.0/24 le 32", "198.51.100.0/24 le 32"],
    tag: "65001:100",
    backup_prepend: 2,
    backup_med: 500,
};
/// After the reload: 198.51.100.0/24 is no longer a bogon, the tag is 65001:200, backups get
/// one prepend and MED 600.
const AFTER: PolicyText =
    PolicyText { bogons: &["192.0.2.0/24 le 32"], tag: "65001:200", backup_prepend: 1, backup_med: 600 };

fn keel_config(dir: &TempDir, policy: &PolicyText) -> String {
    let neighbor = |address: &str, asn: u32, import: &str, export: &str| {
        format!(
            "[[neighbor]]\naddress = \"{address}\"\nasn = {asn}\nlocal_address = \"{KEEL}\"\nhold_time = 9\n\
             connect_retry_time = 1\nimport = {import}\nexport = {export}\n"
        )
    };
    format!(
        "{}{}{}{}",
        keel_global(&dir.path().join("keel"), 65001, KEEL),
        neighbor(BIRD, 65002, "\"from-bird\"", "\"none\""),
        // A list: "to-frr" accepts the backups itself; the rest reach "all" with the next hop
        // its earlier terms set.
        neighbor(FRR, 65003, "\"none\"", "[\"to-frr\", \"all\"]"),
        policy.toml(),
    )
}

/// BIRD (AS 65002) announces, with a documentation next hop:
///
/// | route | BIRD's export adds | keel's import |
/// |---|---|---|
/// | 203.0.113.0/26 | communities (65002,1), (65100,1) | accepted, 65002:1 removed |
/// | 203.0.113.64/26 | (65002,666), AS 65002 prepended once | accepted as backup (LOCAL_PREF 50) |
/// | 203.0.113.128/26 | (65002,3), AS 64512 prepended | rejected: private AS in the path |
/// | 203.0.113.192/26 | (65002,7), large (65002,1,1) | accepted |
/// | 192.0.2.128/25 | (65002,4) | rejected: bogon |
/// | 198.51.100.0/24 | (65002,5) | rejected: bogon (accepted after the reload) |
/// | 2001:db8:2::/48 | (65002,6) | accepted |
fn start_bird(dir: &TempDir) -> Bird {
    let filter = "
      if net = 203.0.113.0/26 then { bgp_community.add((65002,1)); bgp_community.add((65100,1)); }
      if net = 203.0.113.64/26 then { bgp_community.add((65002,666)); bgp_path.prepend(65002); }
      if net = 203.0.113.128/26 then { bgp_community.add((65002,3)); bgp_path.prepend(64512); }
      if net = 203.0.113.192/26 then { bgp_community.add((65002,7)); bgp_large_community.add((65002,1,1)); }
      if net = 192.0.2.128/25 then bgp_community.add((65002,4));
      if net = 198.51.100.0/24 then bgp_community.add((65002,5));
      if net = 2001:db8:2::/48 then bgp_community.add((65002,6));
      accept;";
    let body = bird_static(
        "s4",
        "ipv4",
        &[
            "203.0.113.0/26",
            "203.0.113.64/26",
            "203.0.113.128/26",
            "203.0.113.192/26",
            "192.0.2.128/25",
            "198.51.100.0/24",
        ],
    ) + &bird_static("s6", "ipv6", &["2001:db8:2::/48"])
        + &BirdSession {
            local: BIRD,
            asn: 65002,
            keel: KEEL,
            keel_asn: 65001,
            hold_time: 9,
            lines: "",
            ipv4: &format!("import none; export filter {{ {filter} }}; next hop address 192.0.2.2;"),
            ipv6: &format!("import none; export filter {{ {filter} }}; next hop address 2001:db8::2;"),
        }
        .conf();
    bird_with(&dir.sub("bird"), "bird", BIRD, &body, false)
}

/// What FRR should hold for one prefix.
struct Expect {
    family: &'static str,
    prefix: &'static str,
    as_path: &'static str,
    communities: &'static [&'static str],
    large_communities: &'static [&'static str],
    med: Option<u64>,
}

fn next_hop_of(family: &str) -> &'static str {
    if family == "ipv4" {
        "192.0.2.1"
    } else {
        "2001:db8::1"
    }
}

fn sorted(v: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    v.into_iter().collect()
}

/// Large communities of an FRR path: `largeCommunity.string`, space separated.
fn frr_large(p: &Value) -> BTreeSet<String> {
    sorted(p["largeCommunity"]["string"].as_str().unwrap_or("").split_whitespace().map(String::from))
}

fn frr_communities(p: &Value) -> BTreeSet<String> {
    sorted(p["community"]["list"].as_array().into_iter().flatten().filter_map(|c| c.as_str().map(String::from)))
}

/// Waits until FRR holds exactly `expected` (those prefixes, no others, in both families), one
/// valid best path each from keel with the AS path, communities, large communities, MED and
/// documentation next hop given. Fails with the last difference after the deadline.
fn assert_frr_holds(frr: &Frr, expected: &[Expect]) {
    wait_for("FRR to hold exactly the routes keel's policies let through", DEADLINE, || {
        let mut got = BTreeSet::new();
        for family in ["ipv4", "ipv6"] {
            let t = frr.json(&format!("show bgp {family} unicast json"));
            got.extend(t["routes"].as_object().into_iter().flatten().map(|(k, _)| k.clone()));
        }
        let want = sorted(expected.iter().map(|e| e.prefix.to_string()));
        if got != want {
            return Err(format!("FRR holds {got:?}, want {want:?}"));
        }
        for e in expected {
            let r = frr.json(&format!("show bgp {} unicast {} json", e.family, e.prefix));
            let paths = r["paths"].as_array().cloned().unwrap_or_default();
            let [p] = paths.as_slice() else {
                return Err(format!("{} paths for {}: {paths:?}", paths.len(), e.prefix));
            };
            let checks = [
                ("AS path", p["aspath"]["string"] == e.as_path),
                ("communities", frr_communities(p) == sorted(e.communities.iter().map(|c| c.to_string()))),
                ("large communities", frr_large(p) == sorted(e.large_communities.iter().map(|c| c.to_string()))),
                ("MED", p.get("metric").and_then(Value::as_u64) == e.med),
                ("valid", p["valid"] == true),
                ("best", p["bestpath"]["overall"] == true),
                ("next hop", p["nexthops"][0]["ip"] == next_hop_of(e.family)),
                ("from keel", p["peer"]["peerId"] == KEEL),
            ];
            if let Some((what, _)) = checks.iter().find(|c| !c.1) {
                return Err(format!(
                    "{what} of {} in FRR: want AS path {:?}, communities {:?}, large {:?}, MED {:?}; got {p}",
                    e.prefix, e.as_path, e.communities, e.large_communities, e.med
                ));
            }
        }
        Ok(())
    });
}

/// `keel --api SOCKET ARGS... --json`, parsed.
fn keel_cli(keel: &Keel, args: &[&str]) -> Value {
    let (code, out, err) =
        run(Command::new(env!("CARGO_BIN_EXE_keel")).arg("--api").arg(&keel.api).args(args).arg("--json"));
    assert_eq!(code, 0, "keel {args:?}: {out}{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("keel {args:?}: bad JSON ({e}): {out}"))
}

/// keel's routes from BIRD after import policy, as `keel show routes --neighbor BIRD --json`
/// gives them: (prefix, LOCAL_PREF, MED, communities, large communities, AS path).
type Stored = (String, Option<u64>, Option<u64>, Vec<String>, Vec<String>, Vec<u64>);

fn keel_stored(keel: &Keel) -> Vec<Stored> {
    let v = keel_cli(keel, &["show", "routes", "--neighbor", BIRD]);
    let strings = |x: &Value| -> Vec<String> {
        x.as_array().into_iter().flatten().filter_map(|c| c.as_str().map(String::from)).collect()
    };
    v.as_array()
        .unwrap_or_else(|| panic!("keel show routes: not an array: {v}"))
        .iter()
        .map(|r| {
            (
                r["prefix"].as_str().unwrap_or("?").to_string(),
                r["local_pref"].as_u64(),
                r["med"].as_u64(),
                strings(&r["communities"]),
                strings(&r["large_communities"]),
                r["as_path"].as_array().into_iter().flatten().filter_map(Value::as_u64).collect(),
            )
        })
        .collect()
}

/// Waits until keel stores exactly `want` from BIRD (in any order).
fn assert_keel_stores(keel: &Keel, want: &[Stored]) {
    let mut want = want.to_vec();
    want.sort();
    wait_for("keel to store BIRD's routes as its import policy rewrote them", DEADLINE, || {
        let mut got = keel_stored(keel);
        got.sort();
        if got == want {
            Ok(())
        } else {
            Err(format!("keel stores {got:?}\nwant {want:?}"))
        }
    });
}

fn stored(prefix: &str, local_pref: u64, med: u64, communities: &[&str], large: &[&str], as_path: &[u64]) -> Stored {
    (
        prefix.to_string(),
        Some(local_pref),
        Some(med),
        communities.iter().map(|c| c.to_string()).collect(),
        large.iter().map(|c| c.to_string()).collect(),
        as_path.to_vec(),
    )
}

/// (established transitions, uptime in seconds) of a neighbor, from `keel show neighbor`.
fn keel_session(keel: &Keel, address: &str) -> (u64, u64) {
    let n = keel_cli(keel, &["show", "neighbor", address]);
    assert_eq!(n["state"], "established", "{n}");
    (n["established_transitions"].as_u64().unwrap(), n["uptime_s"].as_u64().unwrap())
}

/// FRR's session with keel: (connections established, connections dropped, uptime in ms).
fn frr_session(frr: &Frr) -> (u64, u64, u64) {
    let v = frr.json(&format!("show bgp neighbors {KEEL} json"));
    let n = &v[KEEL];
    assert_eq!(n["bgpState"], "Established", "{n}");
    let num = |k: &str| n[k].as_u64().unwrap_or_else(|| panic!("FRR's neighbor JSON has no {k}: {n}"));
    (num("connectionsEstablished"), num("connectionsDropped"), num("bgpTimerUpMsec"))
}

#[test]
fn policy_filters_and_rewrites_between_bird_and_frr_and_reloads_without_reset() {
    let dir = temp_dir("policy");
    let keel = Keel::start(&dir.sub("keel"), KEEL, &keel_config(&dir, &BEFORE));
    let bird = start_bird(&dir);
    let frr = frr_with(
        &dir.sub("frr"),
        "bgpd",
        &FrrPeer {
            local: FRR,
            asn: 65003,
            keel: KEEL,
            keel_asn: 65001,
            router: "",
            ipv4: &[],
            ipv6: &[],
            route_map: None,
        },
    );
    keel.wait_established(BIRD);
    keel.wait_established(FRR);
    bird.wait_established();
    frr.wait_established(KEEL);

    // keel keeps what its import policy accepted, rewritten: LOCAL_PREF 200 / MED 10 (backup:
    // 50 / 500), the tag community added, BIRD's 65002:* removed, the large community added
    // after BIRD's own. The bogons and the path through AS 64512 are not there.
    let mut want_stored = vec![
        stored("203.0.113.0/26", 200, 10, &["65100:1", "65001:100"], &["65001:0:2"], &[65002]),
        stored("203.0.113.64/26", 50, 500, &["65001:100", "65001:666"], &["65001:0:2"], &[65002, 65002]),
        stored("203.0.113.192/26", 200, 10, &["65001:100"], &["65002:1:1", "65001:0:2"], &[65002]),
        stored("2001:db8:2::/48", 200, 10, &["65001:100"], &["65001:0:2"], &[65002]),
    ];
    assert_keel_stores(&keel, &want_stored);

    // FRR: keel's AS first, the backup prepended twice more with the export's MED 500; the
    // import's MED stays in keel's AS; next hops from the export policy.
    let large = &["65001:0:2"][..];
    let mut expected = vec![
        Expect {
            family: "ipv4",
            prefix: "203.0.113.0/26",
            as_path: "65001 65002",
            communities: &["65001:100", "65100:1"],
            large_communities: large,
            med: None,
        },
        Expect {
            family: "ipv4",
            prefix: "203.0.113.64/26",
            as_path: "65001 65001 65001 65002 65002",
            communities: &["65001:100", "65001:666"],
            large_communities: large,
            med: Some(500),
        },
        Expect {
            family: "ipv4",
            prefix: "203.0.113.192/26",
            as_path: "65001 65002",
            communities: &["65001:100"],
            large_communities: &["65002:1:1", "65001:0:2"],
            med: None,
        },
        Expect {
            family: "ipv6",
            prefix: "2001:db8:2::/48",
            as_path: "65001 65002",
            communities: &["65001:100"],
            large_communities: large,
            med: None,
        },
    ];
    assert_frr_holds(&frr, &expected);
    // What keel says it sent FRR agrees (Adj-RIB-Out after the export policy).
    let advertised = keel_cli(&keel, &["show", "routes", "--advertised", FRR]);
    let backup = advertised
        .as_array()
        .and_then(|v| v.iter().find(|r| r["prefix"] == "203.0.113.64/26"))
        .unwrap_or_else(|| panic!("backup route not advertised to FRR: {advertised}"));
    assert_eq!(backup["as_path"], json!([65001, 65001, 65001, 65002, 65002]), "{backup}");
    assert_eq!((backup["med"].as_u64(), backup["next_hop"].as_str()), (Some(500), Some("192.0.2.1")), "{backup}");
    assert_eq!(advertised.as_array().map(Vec::len), Some(4), "{advertised}");

    // Let the sessions age so that a reset would show in the uptimes.
    wait_for("keel's sessions to be 3 s old", DEADLINE, || {
        let (b, f) = (keel_session(&keel, BIRD).1, keel_session(&keel, FRR).1);
        if b >= 3 && f >= 3 {
            Ok(())
        } else {
            Err(format!("uptimes {b} s, {f} s"))
        }
    });
    let (bird_before, frr_before) = (keel_session(&keel, BIRD), keel_session(&keel, FRR));
    assert_eq!((bird_before.0, frr_before.0), (1, 1), "one session each so far");
    let frr_view_before = frr_session(&frr);
    assert_eq!((frr_view_before.0, frr_view_before.1), (1, 0), "FRR: one connection, none dropped");
    let bird_view_before = bird.session_mark();
    let reloaded = Instant::now();

    // The reload: 198.51.100.0/24 is no longer a bogon, the tag becomes 65001:200, backups
    // get one prepend and MED 600.
    write(&keel.config, &keel_config(&dir, &AFTER));
    let r = keel_cli(&keel, &["reload"]);
    assert_eq!(r["ok"], true, "keel reload: {r}");
    let summary = r["summary"].as_str().unwrap_or("");
    assert!(summary.starts_with("2 neighbor(s) kept"), "keel reload: {r}");
    assert!(summary.ends_with("policies re-applied to 2 neighbor(s)"), "keel reload: {r}");

    want_stored = vec![
        stored("198.51.100.0/24", 200, 10, &["65001:200"], &["65001:0:2"], &[65002]),
        stored("203.0.113.0/26", 200, 10, &["65100:1", "65001:200"], &["65001:0:2"], &[65002]),
        stored("203.0.113.64/26", 50, 500, &["65001:200", "65001:666"], &["65001:0:2"], &[65002, 65002]),
        stored("203.0.113.192/26", 200, 10, &["65001:200"], &["65002:1:1", "65001:0:2"], &[65002]),
        stored("2001:db8:2::/48", 200, 10, &["65001:200"], &["65001:0:2"], &[65002]),
    ];
    assert_keel_stores(&keel, &want_stored);
    expected = vec![
        Expect {
            family: "ipv4",
            prefix: "198.51.100.0/24",
            as_path: "65001 65002",
            communities: &["65001:200"],
            large_communities: large,
            med: None,
        },
        Expect {
            family: "ipv4",
            prefix: "203.0.113.0/26",
            as_path: "65001 65002",
            communities: &["65001:200", "65100:1"],
            large_communities: large,
            med: None,
        },
        Expect {
            family: "ipv4",
            prefix: "203.0.113.64/26",
            as_path: "65001 65001 65002 65002",
            communities: &["65001:200", "65001:666"],
            large_communities: large,
            med: Some(600),
        },
        Expect {
            family: "ipv4",
            prefix: "203.0.113.192/26",
            as_path: "65001 65002",
            communities: &["65001:200"],
            large_communities: &["65002:1:1", "65001:0:2"],
            med: None,
        },
        Expect {
            family: "ipv6",
            prefix: "2001:db8:2::/48",
            as_path: "65001 65002",
            communities: &["65001:200"],
            large_communities: large,
            med: None,
        },
    ];
    assert_frr_holds(&frr, &expected);

    // No session reset anywhere: keel's sessions kept their transitions and uptimes, FRR's
    // connection is the first one and its uptime kept counting, BIRD's session is the same
    // and got no NOTIFICATION. keel re-evaluated the stored routes: it asked BIRD for nothing.
    let (bird_after, frr_after) = (keel_session(&keel, BIRD), keel_session(&keel, FRR));
    let elapsed = reloaded.elapsed().as_secs();
    for (who, before, after) in [("BIRD", bird_before, bird_after), ("FRR", frr_before, frr_after)] {
        assert_eq!(after.0, 1, "keel's session with {who} was reset by the reload");
        assert!(after.1 + 1 >= before.1 + elapsed, "keel's uptime with {who}: {} s, then {} s", before.1, after.1);
    }
    let frr_view_after = frr_session(&frr);
    assert_eq!((frr_view_after.0, frr_view_after.1), (1, 0), "FRR's session was reset: {frr_view_after:?}");
    assert!(
        // FRR reports its uptime in whole seconds' worth of milliseconds.
        frr_view_after.2 + 2000 >= frr_view_before.2 + reloaded.elapsed().as_millis() as u64,
        "FRR's uptime {} ms, then {} ms",
        frr_view_before.2,
        frr_view_after.2
    );
    let bird_view_after = bird.session_mark();
    assert!(
        bird_view_after.same_session_as(&bird_view_before),
        "BIRD's session restarted: {bird_view_before:?}, then {bird_view_after:?}"
    );
    let log = read(&bird.log);
    assert!(!log.contains("Received: "), "BIRD got a NOTIFICATION:\n{log}");
    assert!(!log.contains("Got ROUTE-REFRESH"), "keel asked BIRD for its routes again:\n{log}");
    let frr_log = read(&frr.dir.join("bgpd.log"));
    assert!(!frr_log.contains("NOTIFICATION"), "FRR's log shows a NOTIFICATION:\n{frr_log}");
    holds_for("FRR's routes after the reload", Duration::from_secs(2), || {
        let v = frr.json("show bgp ipv4 unicast json");
        let n = v["routes"].as_object().map_or(0, |m| m.len());
        if n == 4 {
            Ok(())
        } else {
            Err(format!("{n} IPv4 prefixes"))
        }
    });
    keel.keeld.assert_running();
}
