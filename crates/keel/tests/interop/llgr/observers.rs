//! What the observers downstream of keel hold (BIRD, FRR, GoBGP, ExaBGP), read from each
//! daemon in its own way, and the checks the LLGR tests make on them.

use super::*;

/// A route as an observer holds it: AS path and communities (sorted, as `ASN:VALUE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Held {
    pub(super) as_path: Vec<u32>,
    pub(super) communities: Vec<String>,
}

pub(super) type Table = BTreeMap<String, Held>;

/// An expected route: prefix, AS path behind keel, communities.
pub(super) fn route(prefix: &str, as_path: &[u32], communities: &[&str]) -> (String, Vec<u32>, Vec<String>) {
    (prefix.to_string(), as_path.to_vec(), communities.iter().map(|c| c.to_string()).collect())
}

pub(super) fn held(as_path: Vec<u32>, mut communities: Vec<String>) -> Held {
    communities.sort();
    Held { as_path, communities }
}

pub(super) enum Daemon {
    Bird(Bird),
    Frr(Frr),
    GoBgp(GoBgp),
    ExaBgp(ExaBgp),
}

pub(super) struct Observer {
    pub(super) name: &'static str,
    pub(super) daemon: Daemon,
    pub(super) keel: String,
    /// keel's AS, prepended to what it sends; `None` when keel is the observer's route server
    /// or the observer is internal.
    pub(super) keel_asn: Option<u32>,
}

impl Observer {
    /// BIRD with graceful restart and LLGR (it advertises LLGR for IPv4).
    pub(super) fn bird(dir: &Path, local: &str, keel: &str) -> Observer {
        let session = BirdSession {
            local,
            asn: asn_of(local),
            keel,
            keel_asn: asn_of(keel),
            hold_time: 9,
            lines: "graceful restart on; long lived graceful restart on; long lived stale time 300;",
            ipv4: "import all; export none;",
            ipv6: "import none; export none;",
        };
        let b = bird_with(dir, "bird-observer", local, &session.conf(), false);
        Observer { name: "BIRD (LLGR)", daemon: Daemon::Bird(b), keel: keel.into(), keel_asn: Some(asn_of(keel)) }
    }

    /// FRR bgpd in AS `asn` with `router` lines; it takes keel's 127/8 next hops.
    pub(super) fn frr(dir: &Path, name: &'static str, local: &str, asn: u32, keel: &str, router: &str) -> Observer {
        let router = format!(" bgp allow-martian-nexthop\n{router}");
        let p = FrrPeer {
            local,
            asn,
            keel,
            keel_asn: asn_of(keel),
            router: &router,
            ipv4: &[],
            ipv6: &[],
            route_map: None,
        };
        let f = frr_with(dir, "bgpd-observer", &p);
        let keel_asn = (asn != asn_of(keel)).then(|| asn_of(keel));
        Observer { name, daemon: Daemon::Frr(f), keel: keel.into(), keel_asn }
    }

    /// gobgpd with graceful restart and LLGR; keel must be its route server (GoBGP refuses
    /// keel's 127/8 next hops).
    pub(super) fn gobgp(dir: &Path, local: &str, keel: &str) -> Observer {
        let p = GoBgpPeer {
            local,
            asn: asn_of(local),
            keel,
            keel_asn: asn_of(keel),
            restart_time: 30,
            llgr_stale_time: Some(300),
            admin_down: false,
            restarting: false,
        };
        let g = gobgp_with(dir, "gobgpd-observer", &p);
        Observer { name: "GoBGP (LLGR)", daemon: Daemon::GoBgp(g), keel: keel.into(), keel_asn: None }
    }

    /// ExaBGP with graceful restart, without LLGR (4.2 has none), recording what it receives.
    pub(super) fn exabgp(dir: &Path, local: &str, keel: &str) -> Observer {
        let p = ExaPeer {
            local,
            asn: asn_of(local),
            keel,
            keel_asn: asn_of(keel),
            capability: "graceful-restart 30;",
            routes: &[],
            extra: "",
            api: true,
        };
        let e = ExaBgp::start(dir, "exabgp-observer", &p);
        Observer {
            name: "ExaBGP (no LLGR)",
            daemon: Daemon::ExaBgp(e),
            keel: keel.into(),
            keel_asn: Some(asn_of(keel)),
        }
    }

    pub(super) fn assert_running(&self) {
        match &self.daemon {
            Daemon::Bird(b) => b.proc.assert_running(),
            Daemon::Frr(f) => f.proc.assert_running(),
            Daemon::GoBgp(g) => g.proc.assert_running(),
            Daemon::ExaBgp(e) => e.proc.assert_running(),
        }
    }

    /// The IPv4 routes the observer holds from keel.
    pub(super) fn table(&self) -> Table {
        self.assert_running();
        match &self.daemon {
            Daemon::Bird(b) => bird_table(&b.birdc("show route protocol keel all")),
            Daemon::Frr(f) => frr_table(f, &self.keel),
            Daemon::GoBgp(g) => gobgp_table(g, &self.keel),
            Daemon::ExaBgp(e) => exabgp_table(&e.events()),
        }
    }

    /// `routes` as this observer should hold them (keel's AS first unless route server).
    pub(super) fn expect(&self, routes: &[(String, Vec<u32>, Vec<String>)]) -> Table {
        routes
            .iter()
            .map(|(prefix, as_path, communities)| {
                let as_path = self.keel_asn.into_iter().chain(as_path.iter().copied()).collect();
                (prefix.clone(), held(as_path, communities.clone()))
            })
            .collect()
    }

    /// Fails unless the observer holds exactly `want`.
    pub(super) fn holds(&self, want: &Table) -> Result<(), String> {
        let have = self.table();
        if have == *want {
            Ok(())
        } else {
            Err(format!("{} holds {have:?}, expected {want:?}", self.name))
        }
    }

    /// Waits until the observer holds exactly `routes`.
    pub(super) fn wait_holds(&self, routes: &[(String, Vec<u32>, Vec<String>)]) {
        let want = self.expect(routes);
        wait_for(&format!("{} to hold {want:?}", self.name), DEADLINE, || self.holds(&want));
    }
}

/// Communities in BIRD's `(65535,6) (65002,7)` form as `["65535:6", "65002:7"]`.
pub(super) fn bird_communities(text: &str) -> Vec<String> {
    text.split_whitespace().map(|c| c.trim_matches(|x| x == '(' || x == ')').replace(',', ":")).collect()
}

/// Parses `birdc show route ... all`: a route starts on an unindented line with its prefix
/// first, attribute lines follow indented.
pub(super) fn bird_table(text: &str) -> Table {
    let mut t = Table::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if !line.starts_with(char::is_whitespace) {
            current = first.contains('/').then(|| first.to_string());
            if let Some(p) = &current {
                t.insert(p.clone(), held(Vec::new(), Vec::new()));
            }
            continue;
        }
        let (Some(p), l) = (&current, line.trim()) else { continue };
        let entry = t.get_mut(p).unwrap();
        if let Some(path) = l.strip_prefix("BGP.as_path:") {
            entry.as_path = path.split_whitespace().filter_map(|a| a.parse().ok()).collect();
        } else if let Some(c) = l.strip_prefix("BGP.community:") {
            *entry = held(entry.as_path.clone(), bird_communities(c));
        }
    }
    t
}

/// A community in FRR's JSON (well-known ones by name, in camel case) as `ASN:VALUE`.
pub(super) fn frr_community(c: &str) -> String {
    match c {
        "llgrStale" => LLGR_STALE.into(),
        "noLlgr" => NO_LLGR.into(),
        "noExport" => "65535:65281".into(),
        "noAdvertise" => "65535:65282".into(),
        other => other.into(),
    }
}

/// FRR's IPv4 paths from keel.
pub(super) fn frr_table(frr: &Frr, keel: &str) -> Table {
    let all = frr.json("show bgp ipv4 unicast json");
    let mut t = Table::new();
    for prefix in all["routes"].as_object().into_iter().flat_map(|m| m.keys()) {
        let detail = frr.json(&format!("show bgp ipv4 unicast {prefix} json"));
        for p in detail["paths"].as_array().into_iter().flatten().filter(|p| p["peer"]["peerId"] == keel) {
            let as_path = p["aspath"]["string"].as_str().unwrap_or("");
            let communities = p["community"]["list"].as_array().into_iter().flatten();
            t.insert(
                prefix.clone(),
                held(
                    as_path.split_whitespace().filter_map(|a| a.parse().ok()).collect(),
                    communities.filter_map(|c| c.as_str()).map(frr_community).collect(),
                ),
            );
        }
    }
    t
}

/// GoBGP's IPv4 paths from keel.
pub(super) fn gobgp_table(g: &GoBgp, keel: &str) -> Table {
    let rib = g.json(&["global", "rib", "-a", "ipv4", "-j"]);
    let mut t = Table::new();
    for (prefix, paths) in rib.as_object().into_iter().flatten() {
        for p in paths.as_array().into_iter().flatten().filter(|p| p["neighbor-ip"] == keel) {
            let as_path = gobgp_attr(p, 2)["as_paths"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|s| s["asns"].as_array().cloned().unwrap_or_default())
                .filter_map(|a| a.as_u64().map(|a| a as u32))
                .collect();
            let communities = gobgp_attr(p, 8)["communities"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
                .map(|c| format!("{}:{}", c >> 16, c & 0xffff))
                .collect();
            t.insert(prefix.clone(), held(as_path, communities));
        }
    }
    t
}

/// ExaBGP's IPv4 routes from keel, replayed from what it received.
pub(super) fn exabgp_table(events: &[Value]) -> Table {
    let mut t = Table::new();
    for e in events {
        if e["type"] == "state" && e["neighbor"]["state"] == "down" {
            t.clear();
        }
        let u = &e["neighbor"]["message"]["update"];
        for n in u["withdraw"]["ipv4 unicast"].as_array().into_iter().flatten() {
            t.remove(n["nlri"].as_str().unwrap_or("?"));
        }
        let attr = &u["attribute"];
        let as_path: Vec<u32> =
            attr["as-path"].as_array().into_iter().flatten().filter_map(|a| a.as_u64().map(|a| a as u32)).collect();
        let communities: Vec<String> =
            attr["community"].as_array().into_iter().flatten().map(|c| format!("{}:{}", c[0], c[1])).collect();
        for nlris in u["announce"]["ipv4 unicast"].as_object().into_iter().flat_map(|m| m.values()) {
            for n in nlris.as_array().into_iter().flatten() {
                t.insert(n["nlri"].as_str().unwrap_or("?").to_string(), held(as_path.clone(), communities.clone()));
            }
        }
    }
    t
}

/// Checks that keel never sent ExaBGP (no LLGR) a route with LLGR_STALE (RFC 9494 §4.3).
pub(super) fn assert_never_llgr_stale(o: &Observer) {
    let Daemon::ExaBgp(e) = &o.daemon else { return };
    let events = e.events();
    let bad: Vec<&Value> = events
        .iter()
        .filter(|e| {
            let c = &e["neighbor"]["message"]["update"]["attribute"]["community"];
            c.as_array().is_some_and(|c| c.iter().any(|c| *c == json!([65535, 6])))
        })
        .collect();
    assert!(bad.is_empty(), "keel sent LLGR-stale routes to {}: {bad:?}", o.name);
}

/// Asserts that keel keeps `up`'s routes stale but not LLGR-stale and still best (in every
/// test here they beat any other path until they are LLGR-stale), and that nothing moves
/// downstream, while the restart time runs: checks begun later than `until` after `gone` are
/// skipped, so that a slow machine cannot fail the test by reaching the LLGR phase.
pub(super) fn assert_restart_time_quiet(
    keel: &Keel,
    up: &str,
    observers: &[(&Observer, &Table)],
    gone: Instant,
    until: Duration,
) {
    let mut checked = 0;
    holds_for("routes kept stale, nothing sent downstream", until.saturating_sub(gone.elapsed()), || {
        if gone.elapsed() >= until {
            return Ok(());
        }
        let paths = keel.routes(&format!("neighbor={up}"));
        let kept = |p: &Value| p["stale"] == true && p["llgr_stale"] == false && p["best"] == true;
        if paths.is_empty() || !paths.iter().all(kept) {
            return Err(format!("keel's paths from {up}: {paths:?}"));
        }
        for (o, want) in observers {
            o.holds(want)?;
        }
        checked += 1;
        Ok(())
    });
    assert!(checked > 0, "no check made within the restart time");
}
