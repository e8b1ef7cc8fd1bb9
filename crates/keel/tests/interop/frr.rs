//! keel against FRR bgpd in standalone mode (`-Z`, no zebra): session, routes both ways,
//! capabilities (GR with the N bit, LLGR) and End-of-RIB.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Frr {
    pub proc: Proc,
    pub dir: PathBuf,
}

/// The uid and gid of user `frr` (FRR drops privileges to it; its directory must be its own).
fn frr_ids() -> (u32, u32) {
    let passwd = read(Path::new("/etc/passwd"));
    let line = passwd.lines().find(|l| l.starts_with("frr:")).expect("user frr missing: is the frr package installed?");
    let f: Vec<&str> = line.split(':').collect();
    (f[2].parse().unwrap(), f[3].parse().unwrap())
}

impl Frr {
    pub fn start(dir: &Path, local: &str, asn: u32, keel: &str, keel_asn: u32) -> Frr {
        let bgpd = require("bgpd");
        require("vtysh");
        let last = local.rsplit('.').next().unwrap();
        let conf = format!(
            "frr defaults traditional
hostname peer{last}
log file {dir}/bgpd.log
debug bgp neighbor-events
debug bgp graceful-restart
router bgp {asn}
 bgp router-id 192.0.2.{last}
 no bgp ebgp-requires-policy
 bgp graceful-restart
 bgp graceful-restart restart-time 111
 bgp long-lived-graceful-restart stale-time 3333
 timers bgp 3 9
 neighbor {keel} remote-as {keel_asn}
 neighbor {keel} update-source {local}
 neighbor {keel} ebgp-multihop 2
 neighbor {keel} timers connect 1
 address-family ipv4 unicast
  network 203.0.113.0/24
  neighbor {keel} route-map OUT4 out
 exit-address-family
 address-family ipv6 unicast
  network 2001:db8:{last}::/48
  neighbor {keel} activate
  neighbor {keel} route-map OUT6 out
 exit-address-family
!
route-map OUT4 permit 10
 set ip next-hop 192.0.2.{last}
 set community {asn}:7
!
route-map OUT6 permit 10
 set ipv6 next-hop global 2001:db8::{last}
 set community {asn}:7
!
",
            dir = dir.display(),
        );
        let conf_path = dir.join("bgpd.conf");
        write(&conf_path, &conf);
        let (uid, gid) = frr_ids();
        std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
        std::os::unix::fs::chown(&conf_path, Some(uid), Some(gid)).unwrap();
        let mut cmd = Command::new(bgpd);
        cmd.arg("-Z")
            .args(["-l", local])
            .arg("-f")
            .arg(&conf_path)
            .arg("-i")
            .arg(dir.join("bgpd.pid"))
            .arg("--vty_socket")
            .arg(dir)
            .args(["-A", "127.0.0.1", "-P", "0"]);
        let proc = Proc::spawn("bgpd", dir, cmd, &[dir.join("bgpd.log")]);
        let f = Frr { proc, dir: dir.to_path_buf() };
        wait_for("FRR bgpd's vty", DEADLINE, || {
            f.proc.assert_running();
            let (code, out, err) = f.vtysh_raw("show bgp summary json");
            if code == 0 && out.trim_start().starts_with('{') {
                Ok(())
            } else {
                Err(format!("{out}{err}"))
            }
        });
        f
    }

    fn vtysh_raw(&self, command: &str) -> (i32, String, String) {
        run(Command::new("vtysh").arg("--vty_socket").arg(&self.dir).args(["-d", "bgpd", "-c", command]))
    }

    pub fn json(&self, command: &str) -> Value {
        let (code, out, err) = self.vtysh_raw(command);
        assert_eq!(code, 0, "vtysh {command}: {out}{err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("vtysh {command}: bad JSON ({e}): {out}"))
    }

    pub fn text(&self, command: &str) -> String {
        let (code, out, err) = self.vtysh_raw(command);
        assert_eq!(code, 0, "vtysh {command}: {out}{err}");
        out
    }
}

#[test]
fn frr_session_routes_capabilities_end_of_rib() {
    let dir = TempDir::new("frr");
    let (keel_addr, frr_addr) = ("127.0.0.121", "127.0.0.122");
    let kdir = dir.sub("keel");
    let config = format!(
        "{}{KEEL_GR}{}{}",
        keel_global(&kdir, 65121, keel_addr),
        keel_neighbor(frr_addr, 65122, keel_addr, 9),
        keel_networks(121),
    );
    let keel = Keel::start(&kdir, keel_addr, &config);
    let frr = Frr::start(&dir.sub("frr"), frr_addr, 65122, keel_addr, 65121);

    let n = keel.wait_established(frr_addr);
    let nb = wait_for("FRR's session with keel to be established", DEADLINE, || {
        let v = frr.json(&format!("show bgp neighbors {keel_addr} json"));
        let nb = v[keel_addr].clone();
        if nb["bgpState"] == "Established" {
            Ok(nb)
        } else {
            Err(nb.to_string())
        }
    });

    // keel's routes in FRR's RIB with keel's AS and communities.
    for (family, prefix, community, next_hop) in [
        ("ipv4", "198.51.100.0/24", "65001:121", "192.0.2.121"),
        ("ipv6", "2001:db8:121::/48", "65001:6121", "2001:db8::121"),
    ] {
        let r = wait_for(&format!("{prefix} from keel in FRR"), DEADLINE, || {
            let r = frr.json(&format!("show bgp {family} unicast {prefix} json"));
            if r["paths"].as_array().is_some_and(|p| !p.is_empty()) {
                Ok(r)
            } else {
                Err(r.to_string())
            }
        });
        let p = &r["paths"][0];
        assert_eq!(p["aspath"]["string"], "65121", "AS path in FRR: {r}");
        assert_eq!(p["community"]["list"], serde_json::json!([community]), "communities in FRR: {r}");
        assert_eq!(p["nexthops"][0]["ip"], next_hop, "next hop in FRR: {r}");
        assert_eq!(p["valid"], true, "FRR takes keel's route as valid: {r}");
    }

    // FRR's routes in keel.
    let r4 = keel.wait_route(frr_addr, "203.0.113.0/24");
    assert_eq!(r4["as_path"], serde_json::json!([65122]), "{r4}");
    assert_eq!(r4["communities"], serde_json::json!(["65122:7"]), "{r4}");
    assert_eq!(r4["next_hop"], "192.0.2.122", "{r4}");
    let r6 = keel.wait_route(frr_addr, "2001:db8:122::/48");
    assert_eq!(r6["as_path"], serde_json::json!([65122]), "{r6}");
    assert_eq!(r6["communities"], serde_json::json!(["65122:7"]), "{r6}");
    assert_eq!(r6["next_hop"], "2001:db8::122", "{r6}");

    // keel's capabilities as FRR recorded them.
    let caps = &nb["neighborCapabilities"];
    for key in ["4byteAs", "extendedMessage", "gracefulRestart", "longLivedGracefulRestart", "enhancedRouteRefresh"] {
        assert_eq!(caps[key], "advertisedAndReceived", "FRR's {key}: {caps}");
    }
    assert!(caps["routeRefresh"].as_str().unwrap_or("").starts_with("advertisedAndReceived"), "{caps}");
    for f in ["ipv4Unicast", "ipv6Unicast"] {
        assert_eq!(caps["multiprotocolExtensions"][f]["advertisedAndReceived"], true, "{caps}");
        assert!(caps["addressFamiliesByPeer"].get(f).is_some(), "keel's GR families in FRR: {caps}");
    }
    assert_eq!(caps["gracefulRestartRemoteTimerMsecs"], 97_000, "keel's restart time in FRR: {caps}");
    let gr = &nb["gracefulRestartInfo"];
    assert_eq!(gr["nBit"], true, "N bit as FRR sees it: {gr}");
    assert_eq!(gr["remoteGrMode"], "Restart", "keel's GR mode in FRR: {gr}");
    assert_eq!(gr["timers"]["receivedRestartTimer"], 97, "{gr}");
    // keel's LLGR capability (ipv4 only, stale time 1801) as FRR printed it.
    let text = frr.text(&format!("show bgp neighbors {keel_addr}"));
    let llgr_text = text.split("Long-lived Graceful Restart: advertised and received").nth(1);
    let llgr_families: Vec<&str> = llgr_text
        .map(|t| t.lines().skip(2).take_while(|l| l.starts_with("           ")).map(str::trim).collect())
        .unwrap_or_default();
    assert_eq!(llgr_families, ["IPv4 Unicast"], "keel's LLGR families in FRR:\n{text}");
    assert!(text.contains("Remote Restart timer is 97 seconds"), "{text}");
    assert!(
        text.contains("IPv4 Unicast(preserved), IPv6 Unicast(preserved)"),
        "keel's GR families (F=1: without a FIB keel's restarts cannot disturb forwarding) in FRR:\n{text}"
    );

    // FRR's capabilities as keel recorded them: GR with N and R (FRR sets R=1 right after it
    // starts), restart time 111, LLGR stale time 3333.
    let remote = names(&n["capabilities"]["remote"]);
    for c in [
        "route-refresh",
        "enhanced-route-refresh",
        "extended-message",
        "four-octet-as",
        "graceful-restart",
        "long-lived-graceful-restart",
    ] {
        assert!(remote.contains(&c.to_string()), "keel did not record {c} from FRR: {remote:?}");
    }
    assert_remote_gr(&n, 111, true, false);
    assert_eq!(n["graceful_restart"]["remote"]["restart_state"], true, "FRR's R bit in keel: {n}");
    let llgr = &n["llgr"]["remote"];
    assert_eq!(families(llgr), ["ipv4-unicast", "ipv6-unicast"], "FRR's LLGR in keel: {llgr}");
    assert!(llgr.as_array().unwrap().iter().all(|f| f["stale_time"] == 3333), "FRR's LLGR in keel: {llgr}");

    // End-of-RIB both ways.
    let nb = wait_for("FRR to receive keel's End-of-RIB", DEADLINE, || {
        let v = frr.json(&format!("show bgp neighbors {keel_addr} json"));
        let nb = v[keel_addr].clone();
        let gr = &nb["gracefulRestartInfo"];
        let ok = ["ipv4Unicast", "ipv6Unicast"].iter().all(|f| gr["endOfRibRecv"][f] == true);
        if ok {
            Ok(nb)
        } else {
            Err(gr.to_string())
        }
    });
    for f in ["ipv4Unicast", "ipv6Unicast"] {
        let s = &nb["gracefulRestartInfo"][f]["endOfRibStatus"];
        assert_eq!(s["endOfRibRecv"], true, "{s}");
        assert_eq!(s["endOfRibSend"], true, "{s}");
    }
    let n = wait_for("keel to see FRR's End-of-RIB", DEADLINE, || {
        let n = keel.neighbor(frr_addr);
        if families(&n["graceful_restart"]["end_of_rib_received"]).len() == 2 {
            Ok(n)
        } else {
            Err(n.to_string())
        }
    });
    assert_keel_end_of_rib(&n);
    assert_eq!(n["established_transitions"], 1, "{n}");
    // FRR (no sender-side loop detection) sends keel's own routes back with 65122 65121 in
    // the AS path; keel refuses them (RFC 4271 §9.1.2). Only FRR's own routes remain.
    let from_frr: Vec<String> = keel
        .routes(&format!("neighbor={frr_addr}"))
        .iter()
        .map(|r| format!("{} {}", r["prefix"].as_str().unwrap(), r["as_path"]))
        .collect();
    assert_eq!(from_frr, ["203.0.113.0/24 [65122]", "2001:db8:122::/48 [65122]"], "routes from FRR in keel");
}
