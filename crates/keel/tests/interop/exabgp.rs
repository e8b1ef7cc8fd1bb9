//! keel against ExaBGP: session, routes both ways, capabilities and End-of-RIB, read from the
//! JSON ExaBGP hands its API process (a sink script that appends it to a file).

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct ExaBgp {
    pub proc: Proc,
    /// One JSON object per line: what ExaBGP received and its state changes.
    pub api_log: PathBuf,
}

impl ExaBgp {
    /// Starts ExaBGP peering with keel. `neighbor_extra` goes inside `neighbor { }`.
    pub fn start(dir: &Path, local: &str, asn: u32, keel: &str, keel_asn: u32, neighbor_extra: &str) -> ExaBgp {
        let exabgp = require("exabgp");
        let last = local.rsplit('.').next().unwrap();
        let api_log = dir.join("api.jsonl");
        // ExaBGP reads commands from the process's stdout and counts EOF there as a death
        // (five deaths stop ExaBGP): keep the pipe open as fd 3 while stdout goes to the file.
        let sink = dir.join("sink.sh");
        write(&sink, &format!("#!/bin/sh\nexec cat 3>&1 >>{}\n", api_log.display()));
        std::fs::set_permissions(&sink, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let conf = format!(
            r#"process sink {{
  run {sink};
  encoder json;
}}
neighbor {keel} {{
  router-id 192.0.2.{last};
  local-address {local};
  local-as {asn};
  peer-as {keel_asn};
  hold-time 9;
  capability {{
    graceful-restart 111;
    route-refresh enable;
    extended-message enable;
    asn4 enable;
  }}
  family {{ ipv4 unicast; ipv6 unicast; }}
  api {{
    processes [ sink ];
    neighbor-changes;
    receive {{ parsed; update; open; notification; }}
  }}
  static {{
    route 203.0.113.0/24 next-hop 192.0.2.{last} community [{asn}:7];
    route 2001:db8:{last}::/48 next-hop 2001:db8::{last} community [{asn}:7];
  }}
  {neighbor_extra}
}}
"#,
            sink = sink.display(),
        );
        let conf_path = dir.join("exabgp.conf");
        write(&conf_path, &conf);
        let log = dir.join("exabgp.log");
        let mut cmd = Command::new(exabgp);
        cmd.arg(&conf_path)
            .env("exabgp.daemon.user", "root")
            .env("exabgp.tcp.bind", local)
            .env("exabgp.tcp.port", "179")
            .env("exabgp.log.destination", &log)
            .env("exabgp.log.level", "INFO")
            .env("exabgp.api.cli", "false");
        let proc = Proc::spawn("exabgp", dir, cmd, &[log, api_log.clone()]);
        ExaBgp { proc, api_log }
    }

    /// Everything ExaBGP reported to its API process so far.
    pub fn events(&self) -> Vec<Value> {
        read(&self.api_log).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// Waits for an event for which `f` is true and returns it.
    pub fn wait_event(&self, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        wait_for(what, DEADLINE, || {
            self.proc.assert_running();
            let ev = self.events();
            ev.iter().find(|e| f(e)).cloned().ok_or_else(|| format!("{} events, last: {:?}", ev.len(), ev.last()))
        })
    }
}

#[test]
fn exabgp_session_routes_capabilities_end_of_rib() {
    let dir = TempDir::new("exabgp");
    let (keel_addr, exa_addr) = ("127.0.0.141", "127.0.0.142");
    let kdir = dir.sub("keel");
    let config = format!(
        "{}{KEEL_GR}{}{}",
        keel_global(&kdir, 65141, keel_addr),
        keel_neighbor(exa_addr, 65142, keel_addr, 9),
        keel_networks(141),
    );
    let keel = Keel::start(&kdir, keel_addr, &config);
    let exa = ExaBgp::start(&dir.sub("exabgp"), exa_addr, 65142, keel_addr, 65141, "");

    let n = keel.wait_established(exa_addr);
    exa.wait_event("ExaBGP to report the session up", |e| e["type"] == "state" && e["neighbor"]["state"] == "up");

    // keel's routes as ExaBGP received them.
    let announced = |e: &Value, family: &str, prefix: &str| -> Option<String> {
        let a = e["neighbor"]["message"]["update"]["announce"][family].as_object()?;
        a.iter()
            .find(|(_, v)| v.as_array().is_some_and(|v| v.iter().any(|n| n["nlri"] == prefix)))
            .map(|(nh, _)| nh.clone())
    };
    for (family, prefix, community, next_hop) in [
        ("ipv4 unicast", "198.51.100.0/24", [65001, 141], "192.0.2.141"),
        ("ipv6 unicast", "2001:db8:141::/48", [65001, 6141], "2001:db8::141"),
    ] {
        let u = exa.wait_event(&format!("{prefix} from keel in ExaBGP"), |e| announced(e, family, prefix).is_some());
        let attr = &u["neighbor"]["message"]["update"]["attribute"];
        assert_eq!(attr["as-path"], serde_json::json!([65141]), "AS path in ExaBGP: {u}");
        assert_eq!(attr["community"], serde_json::json!([community]), "communities in ExaBGP: {u}");
        assert_eq!(announced(&u, family, prefix).unwrap(), next_hop, "next hop in ExaBGP: {u}");
    }

    // ExaBGP's routes in keel.
    let r4 = keel.wait_route(exa_addr, "203.0.113.0/24");
    assert_eq!(r4["as_path"], serde_json::json!([65142]), "{r4}");
    assert_eq!(r4["communities"], serde_json::json!(["65142:7"]), "{r4}");
    assert_eq!(r4["next_hop"], "192.0.2.142", "{r4}");
    let r6 = keel.wait_route(exa_addr, "2001:db8:142::/48");
    assert_eq!(r6["as_path"], serde_json::json!([65142]), "{r6}");
    assert_eq!(r6["communities"], serde_json::json!(["65142:7"]), "{r6}");
    assert_eq!(r6["next_hop"], "2001:db8::142", "{r6}");

    // keel's OPEN as ExaBGP decoded it. ExaBGP 4.2 does not decode the N bit nor LLGR (it
    // shows LLGR raw: AFI 1, SAFI 1, flags 0, stale time 1801 = 0x000709).
    let open = exa.wait_event("keel's OPEN in ExaBGP", |e| e["type"] == "open");
    let caps = &open["neighbor"]["open"]["capabilities"];
    assert_eq!(open["neighbor"]["open"]["asn"], 65141, "{open}");
    assert_eq!(open["neighbor"]["open"]["hold_time"], 9, "{open}");
    assert_eq!(caps["1"]["families"], serde_json::json!(["ipv4/unicast", "ipv6/unicast"]), "{caps}");
    assert_eq!(caps["2"]["name"], "route-refresh", "{caps}");
    assert_eq!(caps["70"]["name"], "enhanced-route-refresh", "{caps}");
    assert_eq!(caps["6"]["name"], "extended-message", "{caps}");
    assert_eq!(caps["65"]["asn4"], 65141, "{caps}");
    assert_eq!(caps["64"]["time"], 97, "keel's restart time in ExaBGP: {caps}");
    let gr_families: Vec<&String> =
        caps["64"]["address-family-flags"].as_object().map(|m| m.keys().collect()).unwrap_or_default();
    assert_eq!(gr_families, ["ipv4/unicast", "ipv6/unicast"], "{caps}");
    assert_eq!(caps["71"]["raw"], "00010180000709", "keel's LLGR capability in ExaBGP: {caps}");

    // ExaBGP's capabilities as keel recorded them: GR 111 without N, F=1 for every family.
    let remote = names(&n["capabilities"]["remote"]);
    for c in ["route-refresh", "extended-message", "four-octet-as", "graceful-restart"] {
        assert!(remote.contains(&c.to_string()), "keel did not record {c} from ExaBGP: {remote:?}");
    }
    assert_remote_gr(&n, 111, false, true);
    assert_eq!(n["llgr"]["remote"], Value::Null, "{n}");

    // End-of-RIB both ways.
    for afi in ["ipv4", "ipv6"] {
        exa.wait_event(&format!("ExaBGP to receive keel's {afi} End-of-RIB"), |e| {
            e["neighbor"]["message"]["eor"]["afi"] == afi && e["neighbor"]["message"]["eor"]["safi"] == "unicast"
        });
    }
    let n = wait_for("keel to see ExaBGP's End-of-RIB", DEADLINE, || {
        let n = keel.neighbor(exa_addr);
        if families(&n["graceful_restart"]["end_of_rib_received"]).len() == 2 {
            Ok(n)
        } else {
            Err(n.to_string())
        }
    });
    assert_keel_end_of_rib(&n);
    assert_eq!(n["established_transitions"], 1, "{n}");
}
