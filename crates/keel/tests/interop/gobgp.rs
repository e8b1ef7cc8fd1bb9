//! keel against GoBGP: session, routes both ways, capabilities (GR with N, LLGR) and
//! End-of-RIB.

use crate::common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

pub struct GoBgp {
    pub proc: Proc,
    pub api_host: String,
}

impl GoBgp {
    pub fn start(dir: &Path, local: &str, asn: u32, keel: &str, keel_asn: u32) -> GoBgp {
        let gobgpd = require("gobgpd");
        require("gobgp");
        let last = local.rsplit('.').next().unwrap();
        let family = |name: &str| {
            format!(
                r#"  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "{name}"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
    [neighbors.afi-safis.long-lived-graceful-restart.config]
      enabled = true
      restart-time = 3333
"#
            )
        };
        let conf = format!(
            r#"[global.config]
  as = {asn}
  router-id = "192.0.2.{last}"
  port = 179
  local-address-list = ["{local}"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{keel}"
    peer-as = {keel_asn}
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 1
  [neighbors.transport.config]
    local-address = "{local}"
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 111
    notification-enabled = true
    long-lived-enabled = true
{v4}{v6}"#,
            v4 = family("ipv4-unicast"),
            v6 = family("ipv6-unicast"),
        );
        let conf_path = dir.join("gobgp.toml");
        write(&conf_path, &conf);
        let api_host = local.to_string();
        let mut cmd = Command::new(gobgpd);
        cmd.arg("-f").arg(&conf_path).args(["--api-hosts", &format!("{local}:50051")]);
        let proc = Proc::spawn("gobgpd", dir, cmd, &[]);
        let g = GoBgp { proc, api_host };
        wait_for("GoBGP's API", DEADLINE, || {
            g.proc.assert_running();
            let (code, out, err) = g.cli(&["global"]);
            if code == 0 && out.contains("AS") {
                Ok(())
            } else {
                Err(format!("{out}{err}"))
            }
        });
        g
    }

    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        run(Command::new("gobgp").args(["-u", &self.api_host]).args(args))
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.cli(args);
        assert_eq!(code, 0, "gobgp {args:?}: {out}{err}");
        out
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("gobgp {args:?}: bad JSON ({e}): {out}"))
    }
}

/// The lines of one capability in `gobgp neighbor X` (the line `name:\t...` and the deeper
/// indented lines after it).
fn capability(text: &str, name: &str) -> Vec<String> {
    let mut lines = text.lines().skip_while(|l| !l.trim_start().starts_with(&format!("{name}:")));
    let Some(head) = lines.next() else { return Vec::new() };
    let indent = head.len() - head.trim_start().len();
    let words = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut v = vec![words(head)];
    v.extend(
        lines
            .take_while(|l| l.replace('\t', "        ").len() - l.replace('\t', "        ").trim_start().len() > indent)
            .map(words),
    );
    v
}

#[test]
fn gobgp_session_routes_capabilities_end_of_rib() {
    let dir = TempDir::new("gobgp");
    let (keel_addr, gobgp_addr) = ("127.0.0.131", "127.0.0.132");
    let kdir = dir.sub("keel");
    let config = format!(
        "{}{KEEL_GR}{}{}",
        keel_global(&kdir, 65131, keel_addr),
        keel_neighbor(gobgp_addr, 65132, keel_addr, 9),
        keel_networks(131),
    );
    let keel = Keel::start(&kdir, keel_addr, &config);
    let gobgp = GoBgp::start(&dir.sub("gobgp"), gobgp_addr, 65132, keel_addr, 65131);
    gobgp.ok(&["global", "rib", "add", "203.0.113.0/24", "nexthop", "192.0.2.132", "community", "65132:7"]);
    gobgp.ok(&[
        "global",
        "rib",
        "add",
        "-a",
        "ipv6",
        "2001:db8:132::/48",
        "nexthop",
        "2001:db8::132",
        "community",
        "65132:7",
    ]);

    let n = keel.wait_established(gobgp_addr);
    wait_for("GoBGP's session with keel to be established", DEADLINE, || {
        let v = gobgp.json(&["neighbor", keel_addr, "-j"]);
        // apipb.PeerState.SessionState: 6 is ESTABLISHED.
        if v["state"]["session_state"] == 6 {
            Ok(())
        } else {
            Err(v["state"].to_string())
        }
    });

    // keel's routes in GoBGP's RIB.
    for (family, prefix, community, next_hop) in [
        ("ipv4", "198.51.100.0/24", "65001:131", "192.0.2.131"),
        ("ipv6", "2001:db8:131::/48", "65001:6131", "2001:db8::131"),
    ] {
        let path = wait_for(&format!("{prefix} from keel in GoBGP"), DEADLINE, || {
            let rib = gobgp.json(&["global", "rib", "-a", family, "-j"]);
            let p = rib[prefix].as_array().and_then(|v| v.iter().find(|p| p["neighbor-ip"] == keel_addr)).cloned();
            p.ok_or_else(|| rib.to_string())
        });
        let attr =
            |t: u64| path["attrs"].as_array().unwrap().iter().find(|a| a["type"] == t).cloned().unwrap_or_default();
        assert_eq!(attr(2)["as_paths"][0]["asns"], serde_json::json!([65131]), "AS path in GoBGP: {path}");
        let (hi, lo) = community.split_once(':').unwrap();
        let c = (hi.parse::<u64>().unwrap() << 16) | lo.parse::<u64>().unwrap();
        assert_eq!(attr(8)["communities"], serde_json::json!([c]), "communities in GoBGP: {path}");
        let nh = if family == "ipv4" { attr(3)["nexthop"].clone() } else { attr(14)["nexthop"].clone() };
        assert_eq!(nh, next_hop, "next hop in GoBGP: {path}");
    }
    let text = gobgp.ok(&["neighbor", keel_addr]);
    assert!(text.contains("BGP state = ESTABLISHED"), "{text}");

    // GoBGP's routes in keel.
    let r4 = keel.wait_route(gobgp_addr, "203.0.113.0/24");
    assert_eq!(r4["as_path"], serde_json::json!([65132]), "{r4}");
    assert_eq!(r4["communities"], serde_json::json!(["65132:7"]), "{r4}");
    assert_eq!(r4["next_hop"], "192.0.2.132", "{r4}");
    let r6 = keel.wait_route(gobgp_addr, "2001:db8:132::/48");
    assert_eq!(r6["as_path"], serde_json::json!([65132]), "{r6}");
    assert_eq!(r6["communities"], serde_json::json!(["65132:7"]), "{r6}");
    assert_eq!(r6["next_hop"], "2001:db8::132", "{r6}");

    // keel's capabilities as GoBGP recorded them (it knows no Extended Message).
    assert_eq!(capability(&text, "4-octet-as"), ["4-octet-as: advertised and received"], "{text}");
    assert_eq!(capability(&text, "route-refresh"), ["route-refresh: advertised and received"], "{text}");
    assert_eq!(capability(&text, "enhanced-route-refresh"), ["enhanced-route-refresh: received"], "{text}");
    assert_eq!(capability(&text, "UnknownCapability(6)"), ["UnknownCapability(6): received"], "{text}");
    assert_eq!(
        capability(&text, "multiprotocol"),
        ["multiprotocol:", "ipv4-unicast: advertised and received", "ipv6-unicast: advertised and received"],
        "{text}"
    );
    let gr = capability(&text, "graceful-restart");
    let remote_gr: Vec<&str> = gr.iter().skip_while(|l| !l.starts_with("Remote:")).map(String::as_str).collect();
    assert_eq!(gr[0], "graceful-restart: advertised and received", "{text}");
    assert_eq!(
        remote_gr,
        [
            "Remote: restart time 97 sec, notification flag set",
            "ipv4-unicast, forward flag set",
            "ipv6-unicast, forward flag set"
        ],
        "{text}"
    );
    let llgr = capability(&text, "long-lived-graceful-restart");
    let remote_llgr: Vec<&str> = llgr.iter().skip_while(|l| !l.starts_with("Remote:")).map(String::as_str).collect();
    assert_eq!(llgr[0], "long-lived-graceful-restart: advertised and received", "{text}");
    assert_eq!(remote_llgr, ["Remote:", "ipv4-unicast, restart time 1801 sec, forward flag set"], "{text}");

    // GoBGP's capabilities as keel recorded them.
    let remote = names(&n["capabilities"]["remote"]);
    for c in ["route-refresh", "four-octet-as", "graceful-restart", "long-lived-graceful-restart"] {
        assert!(remote.contains(&c.to_string()), "keel did not record {c} from GoBGP: {remote:?}");
    }
    assert_remote_gr(&n, 111, true, false);
    assert_eq!(n["graceful_restart"]["remote"]["restart_state"], false, "{n}");
    let llgr = &n["llgr"]["remote"];
    assert_eq!(families(llgr), ["ipv4-unicast", "ipv6-unicast"], "GoBGP's LLGR in keel: {llgr}");
    assert!(llgr.as_array().unwrap().iter().all(|f| f["stale_time"] == 3333), "GoBGP's LLGR in keel: {llgr}");

    // End-of-RIB both ways.
    wait_for("GoBGP to receive keel's End-of-RIB", DEADLINE, || {
        let v = gobgp.json(&["neighbor", keel_addr, "-j"]);
        let afs = v["afi_safis"].as_array().cloned().unwrap_or_default();
        let eor = afs.iter().filter(|a| a["mp_graceful_restart"]["state"]["end_of_rib_received"] == true).count();
        if afs.len() == 2 && eor == 2 {
            Ok(())
        } else {
            Err(v["afi_safis"].to_string())
        }
    });
    let n = wait_for("keel to see GoBGP's End-of-RIB", DEADLINE, || {
        let n = keel.neighbor(gobgp_addr);
        if families(&n["graceful_restart"]["end_of_rib_received"]).len() == 2 {
            Ok(n)
        } else {
            Err(n.to_string())
        }
    });
    assert_keel_end_of_rib(&n);
    assert_eq!(n["established_transitions"], 1, "{n}");
}
