//! BGP roles and Only to Customer (RFC 9234) against BIRD 2 (`local role`, `require roles`,
//! `bgp_otc`). One keeld (.20, AS 65020) and one BIRD per session (AS 650NN for 127.0.5.NN).
//!
//! Role pairs (§4.2, Table 2), keel's role / BIRD's `local role`:
//!
//! | BIRD | keel | BIRD | outcome |
//! |---|---|---|---|
//! | .21 | provider | customer | Established |
//! | .22 | customer | provider | Established |
//! | .23 | peer | peer | Established |
//! | .24 | rs | rs_client | Established |
//! | .25 | rs-client | rs_server | Established |
//! | .26 | customer | customer | Role Mismatch (2/11) |
//! | .27 | peer, `strict_role` | none | Role Mismatch sent by keel |
//! | .28 | none | peer, `require roles` | Role Mismatch received by keel |
//!
//! OTC (§5), with BIRDs that have no role (so that only keel adds or checks OTC):
//!
//! ```text
//!  U .29 (keel's provider) 198.51.100.0/24 ----\
//!  D .30 (keel's customer) 203.0.113.0/24,       keeld .20, own 100.64.0.0/24
//!        198.18.0.0/24 with OTC 64999 (leak) ---/    \--- R .31 (keel's peer)
//! ```
//!
//! - ingress 3: U's route gets OTC 65029 (U's AS) at keel: D sees it with OTC 65029;
//! - egress 1: keel's own route reaches D and R with OTC 65020; D's route reaches R with 65020;
//! - egress 2: U's route (OTC) does not reach R; to U nothing gets OTC;
//! - ingress 1: D's route with OTC is a leak: nowhere, `role.leaks_detected` 1.
//!
//! Addresses: 127.0.5.20-.31.

use crate::common::*;
use keel_lab::daemons::bird::{static_routes, Bird, BirdSession, BirdStart};
use serde_json::Value;
use std::path::Path;

const KEEL: &str = "127.0.5.20";
const KEEL_AS: u32 = 65020;

fn addr(last: u8) -> String {
    format!("127.0.5.{last}")
}

/// BIRD at 127.0.5.`last` (AS 650`last`) with `lines` in its session, exporting `routes`
/// through `export`.
fn bird(dir: &Path, last: u8, lines: &str, routes: &[&str], export: &str) -> Bird {
    let dir = dir.join(format!("bird{last}"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let local = addr(last);
    let session = BirdSession {
        local: &local,
        asn: 65000 + u32::from(last),
        keel: KEEL,
        keel_asn: KEEL_AS,
        hold_time: 9,
        lines,
        ipv4: &format!("import all; export filter {{ {export} accept; }};"),
        ipv6: "import none; export none;",
    };
    let mut body = String::new();
    if !routes.is_empty() {
        body.push_str(&static_routes("s4", "ipv4", routes));
    }
    body.push_str(&session.conf());
    let router_id = format!("192.0.2.{last}");
    Bird::start(
        &dir,
        &body,
        &BirdStart { name: "bird", router_id: &router_id, device: "", recovery: false, netns: None },
    )
}

/// keel's neighbors: (last octet, extra lines).
fn config(dir: &Path, neighbors: &[(u8, &str)]) -> String {
    let mut c = format!(
        "[global]\nasn = {KEEL_AS}\nrouter_id = \"192.0.2.20\"\nlisten = [\"{KEEL}:179\"]\napi = \"{}\"\nstate_dir = \"{}\"\n",
        dir.join("keel.sock").display(),
        dir.display()
    );
    for (last, extra) in neighbors {
        c.push_str(&format!(
            "[[neighbor]]\naddress = \"{}\"\nasn = {}\nlocal_address = \"{KEEL}\"\nhold_time = 9\n\
             connect_retry_time = 1\nimport = \"all\"\nexport = \"all\"\n{extra}\n",
            addr(*last),
            65000 + u32::from(*last)
        ));
    }
    c.push_str("[[network]]\nprefix = \"100.64.0.0/24\"\nnext_hop = \"192.0.2.20\"\n");
    c
}

/// (code, subcode) of a NOTIFICATION record in `show neighbor --json`.
fn code(v: &Value) -> Option<(u64, u64)> {
    Some((v["code"].as_u64()?, v["subcode"].as_u64()?))
}

#[test]
fn rfc9234_role_pairs_and_otc_against_bird() {
    preflight();
    let dir = test_dir("roles");
    let none: &[&str] = &[];
    let pairs: [(u8, &str, &str, bool); 8] = [
        (21, "role = \"provider\"", "local role customer;", true),
        (22, "role = \"customer\"", "local role provider;", true),
        (23, "role = \"peer\"", "local role peer;", true),
        (24, "role = \"rs\"", "local role rs_client;", true),
        (25, "role = \"rs-client\"", "local role rs_server;", true),
        (26, "role = \"customer\"", "local role customer;", false),
        (27, "role = \"peer\"\nstrict_role = true", "", false),
        (28, "", "local role peer; require roles on;", false),
    ];
    let mut birds = Vec::new();
    for (last, _, lines, _) in &pairs {
        birds.push(bird(&dir, *last, lines, none, ""));
    }
    // The OTC part: U (provider), D (customer), R (peer), none with a role of their own.
    let u = bird(&dir, 29, "", &["198.51.100.0/24"], "");
    let d = bird(&dir, 30, "", &["203.0.113.0/24", "198.18.0.0/24"], "if net = 198.18.0.0/24 then bgp_otc = 64999;");
    let r = bird(&dir, 31, "", none, "");
    let mut neighbors: Vec<(u8, &str)> = pairs.iter().map(|(last, keel, _, _)| (*last, *keel)).collect();
    neighbors.extend([(29, "role = \"customer\""), (30, "role = \"provider\""), (31, "role = \"peer\"")]);
    let kdir = dir.join("keel");
    let k = start_with_config(kdir.clone(), &config(&kdir, &neighbors));
    let api = k.api();

    // §4.2: the five pairs of Table 2 come up, each side seeing the other's role.
    for ((last, _, _, up), b) in pairs.iter().zip(&birds) {
        let n = addr(*last);
        if *up {
            let v = established(&api, &n);
            b.wait_established();
            assert!(v["role"]["remote"].is_string(), "{n}: {v}");
            continue;
        }
        // The others end in Role Mismatch, OPEN Message Error subcode 11.
        let v = wait_for(&format!("Role Mismatch with {n}"), WAIT, || {
            let v = json(&api, &["show", "neighbor", &n, "--json"])?;
            let sent = code(&v["last_notification_sent"]);
            let received = code(&v["last_notification_received"]);
            (sent == Some((2, 11)) || received == Some((2, 11))).then_some(v)
        });
        assert_ne!(v["state"], "established", "{n}: {v}");
        assert!(!b.established(), "BIRD {n} established:\n{}", b.protocol());
        match last {
            // keel alone knows: strict mode, BIRD has no role.
            27 => assert_eq!(code(&v["last_notification_sent"]), Some((2, 11)), "{v}"),
            // BIRD alone knows: keel has no role, BIRD requires one.
            28 => assert_eq!(code(&v["last_notification_received"]), Some((2, 11)), "{v}"),
            _ => {}
        }
    }
    let v = json(&api, &["show", "neighbor", &addr(22), "--json"]).unwrap_or(Value::Null);
    assert_eq!(v["role"]["local"], "customer", "{v}");
    assert_eq!(v["role"]["remote"], "provider", "{v}");
    assert_eq!(v["role"]["strict"], false, "{v}");

    for b in [&u, &d, &r] {
        b.wait_established();
    }
    // Ingress 1: the route with OTC from the customer is a leak, kept out of selection.
    let v = wait_for("the leak counted", WAIT, || {
        json(&api, &["show", "neighbor", &addr(30), "--json"]).filter(|v| v["role"]["leaks_detected"] == 1)
    });
    assert_eq!(v["role"]["remote"], Value::Null, "D sent no Role capability: {v}");
    wait_for("D's and U's routes at keel", WAIT, || {
        let got: Vec<String> =
            routes(&api, &[]).iter().filter_map(|r| r["prefix"].as_str().map(String::from)).collect();
        let want = got.iter().any(|p| p == "203.0.113.0/24") && got.iter().any(|p| p == "198.51.100.0/24");
        (want && !got.iter().any(|p| p == "198.18.0.0/24")).then_some(()).ok_or(format!("{got:?}"))
    });

    // What each BIRD got: prefix -> OTC.
    let otc = |b: &Bird, prefix: &str| -> Option<Option<String>> {
        // birdc exits 1 on "Network not found".
        let (_, text, _) = b.birdc_raw(&format!("show route {prefix} all protocol keel"));
        if !text.contains(prefix) {
            return None;
        }
        Some(text.lines().find_map(|l| l.trim().strip_prefix("BGP.otc:").map(|v| v.trim().to_string())))
    };
    let expect = |b: &Bird, name: &str, prefix: &str, want: Option<Option<&str>>| {
        wait_for(&format!("{prefix} at {name}: {want:?}"), WAIT, || {
            let got = otc(b, prefix);
            if got.as_ref().map(|o| o.as_deref()) == want {
                Ok(())
            } else {
                Err(format!("{got:?}\n{}", b.birdc("show route all protocol keel")))
            }
        });
    };
    // D (customer): U's route with the OTC keel added on ingress (3), keel's own with 65020
    // (egress 1); never the leak.
    expect(&d, "D", "198.51.100.0/24", Some(Some("65029")));
    expect(&d, "D", "100.64.0.0/24", Some(Some("65020")));
    // R (peer): keel's own and D's route with OTC 65020 (egress 1), not U's (egress 2).
    expect(&r, "R", "100.64.0.0/24", Some(Some("65020")));
    expect(&r, "R", "203.0.113.0/24", Some(Some("65020")));
    expect(&r, "R", "198.51.100.0/24", None);
    // U (provider): keel's own and D's route without OTC.
    expect(&u, "U", "100.64.0.0/24", Some(None));
    expect(&u, "U", "203.0.113.0/24", Some(None));
    for b in [&u, &d, &r] {
        assert!(otc(b, "198.18.0.0/24").is_none(), "the leak went on:\n{}", b.birdc("show route all"));
    }
    drop(k);
    for b in birds.iter().chain([&u, &d, &r]) {
        b.stop();
    }
}
