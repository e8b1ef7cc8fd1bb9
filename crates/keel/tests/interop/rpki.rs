//! RPKI origin validation (RFC 6811) against a real RTR cache (RFC 8210): StayRTR serving a
//! VRP file the test writes, keeld validating the routes a BIRD neighbor sends.
//!
//! States are read from `/v1/routes` (the `"rpki"` field of `keel show routes --json`): null
//! before keel has VRPs; then they follow the file while StayRTR re-reads it (Serial Notify,
//! Serial Query); they stay when StayRTR is killed (no flush, RFC 8210 §6 expiry is hours
//! away); and they follow a changed file once StayRTR runs again with a new session.
//!
//! `keel show rpki` follows the cache through it all (connected, its session and serial, VRP
//! counts; down with its VRPs kept), beside a second cache nothing listens on ([`DEAD_CACHE`]):
//! down, with the reason, and no VRPs.
//!
//! A second BIRD sends the same routes ([`BIRD_FILTERED`]) that keel imports
//! through an "invalid -> reject" policy: at every step keel holds from it exactly the routes
//! that are not invalid, re-evaluated when the VRPs change (a route invalid before comes back
//! from the stored Adj-RIB-In, without a route refresh).

use super::common::*;
use super::daemons::*;
use keel_api::{RpkiCacheView, RpkiView, VrpCounts};
use keel_lab::daemons::stayrtr::{self, write_vrps};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const KEEL: &str = "127.0.4.1";
const BIRD: &str = "127.0.4.2";
const CACHE: &str = "127.0.4.3:8282";
/// BIRD's second session, imported through the RPKI policy.
const BIRD_FILTERED: &str = "127.0.4.4";
/// A configured cache no process listens on.
const DEAD_CACHE: &str = "127.0.4.5:8282";

/// keel's policy for [`BIRD_FILTERED`].
const RPKI_POLICY: &str = "[[policy]]\nname = \"rpki-in\"\n[[policy.term]]\nname = \"invalid\"\n\
    match.rpki = \"invalid\"\nthen = \"reject\"\n";

/// StayRTR on [`CACHE`], re-reading `vrps` every second.
fn start_stayrtr(dir: &Path, vrps: &Path, name: &str) -> Process {
    stayrtr::start(dir, name, vrps, CACHE)
}

/// prefix -> "rpki" of every route keel holds from BIRD ("null" when absent).
fn states(keel: &Keel) -> BTreeMap<String, String> {
    keel.routes(&format!("neighbor={BIRD}"))
        .iter()
        .map(|r| (r["prefix"].as_str().unwrap_or("?").to_string(), r["rpki"].as_str().unwrap_or("null").to_string()))
        .collect()
}

/// Prefixes keel holds from [`BIRD_FILTERED`].
fn accepted(keel: &Keel) -> Vec<String> {
    let mut v: Vec<String> = keel
        .routes(&format!("neighbor={BIRD_FILTERED}"))
        .iter()
        .map(|r| r["prefix"].as_str().unwrap_or("?").to_string())
        .collect();
    v.sort();
    v
}

/// Waits until keel holds from [`BIRD_FILTERED`] exactly the routes `want` does not call
/// invalid.
fn wait_filtered(keel: &Keel, want: &BTreeMap<String, String>) {
    let expected: Vec<String> = want.iter().filter(|(_, s)| *s != "invalid").map(|(p, _)| p.clone()).collect();
    wait_for("the invalid -> reject policy to follow the states", DEADLINE, || {
        let now = accepted(keel);
        if now == expected {
            Ok(())
        } else {
            Err(format!("keel accepted {now:?}, want {expected:?}"))
        }
    });
}

/// `keel show rpki --json`, read as the API's type (the CLI's tables read the same).
fn show_rpki(keel: &Keel) -> RpkiView {
    let out = run(Command::new(env!("CARGO_BIN_EXE_keel")).args(["show", "rpki", "--json", "--api"]).arg(&keel.api));
    assert_eq!(out.0, 0, "{out:?}");
    serde_json::from_str(&out.1).unwrap_or_else(|e| panic!("{e}: {}", out.1))
}

/// One cache of [`show_rpki`], by `ADDRESS:PORT`.
fn cache(view: &RpkiView, address: &str) -> RpkiCacheView {
    let c = view.caches.iter().find(|c| std::net::SocketAddr::new(c.address, c.port).to_string() == address);
    c.cloned().unwrap_or_else(|| panic!("no cache {address} in {view:?}"))
}

/// Waits until `keel show rpki` shows `address` in `state` with `vrps` (IPv4, IPv6); returns it.
fn wait_cache(keel: &Keel, address: &str, state: &str, vrps: (u64, u64)) -> RpkiCacheView {
    wait_for(&format!("cache {address} {state} with {vrps:?} VRPs"), DEADLINE, || {
        let c = cache(&show_rpki(keel), address);
        if c.state == state && (c.vrps.ipv4, c.vrps.ipv6) == vrps {
            Ok(c)
        } else {
            Err(format!("{c:?}"))
        }
    })
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(p, s)| (p.to_string(), s.to_string())).collect()
}

fn wait_states(keel: &Keel, what: &str, want: &BTreeMap<String, String>) {
    wait_for(what, DEADLINE, || {
        keel.keeld.assert_running();
        let now = states(keel);
        if now == *want {
            Ok(())
        } else {
            Err(format!("keel has {now:?}, want {want:?}"))
        }
    });
}

#[test]
fn rpki_states_follow_stayrtr_and_survive_its_outage() {
    let dir = temp_dir("rpki");
    let (keel_asn, bird_asn) = (asn_of(KEEL), asn_of(BIRD));
    let cache_dir = dir.sub("stayrtr");
    let vrps = cache_dir.join("vrps.json");

    // keel with one RTR cache (not running yet) and BIRD announcing five routes; 192.0.2.0/24
    // is prepended with AS 64496, its Route Origin ASN (RFC 6811 §2: the last AS).
    let kdir = dir.sub("keel");
    let config = format!(
        "{}{}[[neighbor]]\naddress = \"{BIRD_FILTERED}\"\nasn = {bird_asn}\nlocal_address = \"{KEEL}\"\n\
         hold_time = 9\nconnect_retry_time = 1\nimport = [\"rpki-in\", \"all\"]\nexport = \"none\"\n\
         {RPKI_POLICY}[[rpki.cache]]\naddress = \"127.0.4.3\"\nport = 8282\nretry = 1\n\
         [[rpki.cache]]\naddress = \"127.0.4.5\"\nport = 8282\nretry = 1\n",
        keel_global(&kdir, keel_asn, KEEL),
        keel_neighbor(BIRD, bird_asn, KEEL, 9),
    );
    let keel = Keel::start(&kdir, KEEL, &config);
    let statics =
        bird_static("s4", "ipv4", &["203.0.113.0/24", "198.51.100.0/24", "198.51.100.128/25", "192.0.2.0/24"])
            + &bird_static("s6", "ipv6", &["2001:db8:2::/48"]);
    let session = BirdSession {
        local: BIRD,
        asn: bird_asn,
        keel: KEEL,
        keel_asn,
        hold_time: 9,
        lines: "",
        ipv4: "import none; export filter { if net = 192.0.2.0/24 then bgp_path.prepend(64496); accept; };",
        ipv6: "import none; export all; next hop address 2001:db8::2;",
    };
    let second = BirdSession { local: BIRD_FILTERED, ..session };
    let _bird = bird_with(&dir.sub("bird"), "bird", BIRD, &(statics.clone() + &session.conf()), false);
    // A second BIRD (same AS, same routes): one BIRD with two sessions to one neighbor
    // address never leaves Start.
    let _bird2 = bird_with(&dir.sub("bird2"), "bird", BIRD_FILTERED, &(statics + &second.conf()), false);
    keel.wait_established(BIRD);
    keel.wait_established(BIRD_FILTERED);
    let d = keel.wait_route(BIRD, "192.0.2.0/24");
    assert_eq!(d["as_path"], serde_json::json!([bird_asn, 64496]), "{d}");

    // No VRPs yet: no state.
    let none = expect(&[
        ("192.0.2.0/24", "null"),
        ("198.51.100.0/24", "null"),
        ("198.51.100.128/25", "null"),
        ("2001:db8:2::/48", "null"),
        ("203.0.113.0/24", "null"),
    ]);
    wait_states(&keel, "all five routes without RPKI state", &none);
    // No state: the policy's rpki match does not hold, every route is accepted.
    wait_filtered(&keel, &none);
    // Neither cache answers: both down, with why; no VRPs in use.
    for address in [CACHE, DEAD_CACHE] {
        let c = wait_cache(&keel, address, "down", (0, 0));
        assert!(c.last_error.as_deref().is_some_and(|e| e.contains("refused")), "{c:?}");
        assert_eq!((c.session_id, c.serial, c.last_update_s_ago, c.expires_in_s), (None, None, None, None), "{c:?}");
        assert_eq!(c.retry_s, 1, "configured");
    }
    assert_eq!(show_rpki(&keel).vrps, None);

    // The cache comes up: wrong origin, too specific, valid by the path's last AS, not covered.
    write_vrps(&vrps, &[("203.0.113.0/24", 24, 64999), ("198.51.100.0/24", 24, bird_asn), ("192.0.2.0/24", 24, 64496)]);
    let mut stayrtr = start_stayrtr(&cache_dir, &vrps, "stayrtr");
    let first = expect(&[
        ("192.0.2.0/24", "valid"),
        ("198.51.100.0/24", "valid"),
        ("198.51.100.128/25", "invalid"),
        ("2001:db8:2::/48", "not-found"),
        ("203.0.113.0/24", "invalid"),
    ]);
    wait_states(&keel, "states from the first VRP file", &first);
    wait_filtered(&keel, &first);
    // keel show rpki: StayRTR in sync (its session, serial, three IPv4 VRPs), the other down.
    let synced = wait_cache(&keel, CACHE, "connected", (3, 0));
    assert_eq!(synced.version, Some(1), "{synced:?}");
    assert!(synced.session_id.is_some() && synced.serial.is_some(), "{synced:?}");
    assert!(synced.last_update_s_ago.is_some_and(|s| s < 60), "{synced:?}");
    assert_eq!((synced.retry_s, synced.expire_s), (1, 7200), "configured retry, StayRTR's expire");
    let view = show_rpki(&keel);
    assert_eq!(view.vrps, Some(VrpCounts { ipv4: 3, ipv6: 0 }));
    assert_eq!(
        (cache(&view, DEAD_CACHE).state.as_str(), cache(&view, DEAD_CACHE).vrps),
        ("down", VrpCounts::default())
    );
    let table = run(Command::new(env!("CARGO_BIN_EXE_keel")).args(["show", "rpki", "--api"]).arg(&keel.api));
    assert_eq!(table.0, 0, "{table:?}");
    let line = |address: &str| table.1.lines().find(|l| l.starts_with(address)).unwrap_or_default().to_string();
    assert!(line(CACHE).contains("connected"), "{}", table.1);
    assert!(line(DEAD_CACHE).contains("down") && line(DEAD_CACHE).contains("refused"), "{}", table.1);
    assert!(table.1.contains("VRPs in use (every cache's, merged): 3 IPv4, 0 IPv6"), "{}", table.1);

    // The file changes while StayRTR runs: it notifies, keel asks for the difference.
    write_vrps(
        &vrps,
        &[
            ("203.0.113.0/24", 24, bird_asn),
            ("198.51.100.0/24", 25, bird_asn),
            ("192.0.2.0/24", 24, 64496),
            ("2001:db8::/32", 48, 64511),
        ],
    );
    let second = expect(&[
        ("192.0.2.0/24", "valid"),
        ("198.51.100.0/24", "valid"),
        ("198.51.100.128/25", "valid"),
        ("2001:db8:2::/48", "invalid"),
        ("203.0.113.0/24", "valid"),
    ]);
    wait_states(&keel, "states following the changed file", &second);
    // The two routes rejected before come back from the stored Adj-RIB-In.
    wait_filtered(&keel, &second);
    let log = read(&kdir.join("keeld.log"));
    assert!(log.contains("reset=false"), "the change came as a serial update:\n{log}");
    let updated = wait_cache(&keel, CACHE, "connected", (3, 1));
    assert_eq!(updated.session_id, synced.session_id, "the same session");
    assert!(updated.serial > synced.serial, "{updated:?} after {synced:?}");

    // The cache dies: the states stay (no flush; the VRPs expire only after 7200 s).
    stayrtr.stop();
    wait_for("keel to notice the cache is gone", DEADLINE, || {
        let log = read(&kdir.join("keeld.log"));
        if log.contains("RTR cache connection lost") {
            Ok(())
        } else {
            Err("no log line yet".into())
        }
    });
    let still_accepted: Vec<String> = second.iter().filter(|(_, s)| *s != "invalid").map(|(p, _)| p.clone()).collect();
    // keel show rpki: down, its VRPs kept until they expire (hours away).
    let down = wait_cache(&keel, CACHE, "down", (3, 1));
    assert!(down.expires_in_s.is_some_and(|s| s > 3600), "{down:?}");
    assert!(down.last_error.is_some(), "{down:?}");
    assert_eq!(show_rpki(&keel).vrps, Some(VrpCounts { ipv4: 3, ipv6: 1 }));
    holds_for("states while the cache is down", Duration::from_secs(5), || {
        let (now, filtered) = (states(&keel), accepted(&keel));
        if now == second && filtered == still_accepted {
            Ok(())
        } else {
            Err(format!("{now:?}, accepted {filtered:?}"))
        }
    });

    // It comes back with another file (and a new session): the states follow.
    write_vrps(&vrps, &[("198.51.100.0/24", 24, 64999)]);
    stayrtr = start_stayrtr(&cache_dir, &vrps, "stayrtr-again");
    let third = expect(&[
        ("192.0.2.0/24", "not-found"),
        ("198.51.100.0/24", "invalid"),
        ("198.51.100.128/25", "invalid"),
        ("2001:db8:2::/48", "not-found"),
        ("203.0.113.0/24", "not-found"),
    ]);
    wait_states(&keel, "states from the restarted cache", &third);
    wait_filtered(&keel, &third);
    wait_cache(&keel, CACHE, "connected", (1, 0));
    stayrtr.assert_running();
    // keel show routes: the text table has the RPKI column.
    let out = run(Command::new(env!("CARGO_BIN_EXE_keel")).arg("--api").arg(&keel.api).args(["show", "routes"]));
    assert_eq!(out.0, 0, "{out:?}");
    assert!(out.1.contains("RPKI"), "{}", out.1);
    assert!(out.1.lines().any(|l| l.contains("198.51.100.128/25") && l.contains("invalid")), "{}", out.1);
}
