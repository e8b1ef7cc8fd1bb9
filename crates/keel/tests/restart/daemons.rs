//! The real daemons of the restart tests, all in namespace U: BIRD (GR helper, the upstream),
//! FRR bgpd and GoBGP (GR helpers).

use super::lab::Lab;
use super::{run, spawn, wait_for, BIRD, FRR, GOBGP, KEEL, UPSTREAM};
use keel_lab::process::{require, Process};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub struct Bird {
    pub proc: Process,
    ctl: PathBuf,
}

impl Bird {
    /// BIRD at 192.0.2.2 (AS 65002): GR helper, announces 198.51.100.0/24 with itself as next
    /// hop. No kernel protocol: BIRD never touches namespace U's table.
    pub fn start(lab: &Lab, extra: &str, recovery: bool) -> Bird {
        let bird = require("bird");
        require("birdc");
        let dir = lab.sub("bird");
        let conf = format!(
            r#"router id {BIRD};
log "{dir}/bird.log" all;
protocol device {{ scan time 1; }}
protocol static s4 {{ ipv4; route {UPSTREAM} blackhole; }}
protocol bgp keel {{
  local {BIRD} as 65002;
  neighbor {KEEL} as 65001;
  strict bind on;
  hold time 9; keepalive time 3;
  connect delay time 1; connect retry time 1; error wait time 1, 2;
  graceful restart on; graceful restart time 120;
  {extra}
  ipv4 {{ import all; export all; }};
}}
"#,
            dir = dir.display()
        );
        std::fs::write(dir.join("bird.conf"), conf).unwrap();
        let ctl = dir.join("bird.ctl");
        let mut cmd = lab.u.command(&bird);
        cmd.arg("-f").arg("-c").arg(dir.join("bird.conf")).arg("-s").arg(&ctl);
        if recovery {
            cmd.arg("-R");
        }
        let b = Bird { proc: spawn("bird", &dir.join("bird.out"), cmd), ctl };
        wait_for("BIRD's control socket", Duration::from_secs(10), || {
            b.proc.assert_running();
            let (ok, out) = run(Command::new("birdc").arg("-s").arg(&b.ctl).arg("show status"));
            if ok && out.contains("Daemon is up and running") {
                Ok(())
            } else {
                Err(out)
            }
        });
        b
    }

    pub fn birdc(&self, command: &str) -> String {
        let (ok, out) = run(Command::new("birdc").arg("-s").arg(&self.ctl).arg(command));
        assert!(ok, "birdc {command}: {out}");
        out
    }

    /// IPv4 prefixes BIRD holds from keel.
    pub fn prefixes(&self) -> BTreeSet<String> {
        self.proc.assert_running();
        self.birdc("show route protocol keel")
            .lines()
            .filter(|l| !l.starts_with(char::is_whitespace))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|w| w.contains('/') && w.contains('.'))
            .map(String::from)
            .collect()
    }

    /// The lines of "Neighbor capabilities" in `show protocols all keel` (keel's OPEN as BIRD
    /// understood it).
    pub fn neighbor_caps(&self) -> Vec<String> {
        let text = self.birdc("show protocols all keel");
        let mut lines = text.lines().skip_while(|l| !l.contains("Neighbor capabilities")).skip(1);
        let indent = |l: &str| l.len() - l.trim_start().len();
        let first: Vec<String> = lines.by_ref().take_while(|l| indent(l) > 4).map(|l| l.trim().to_string()).collect();
        first
    }

    pub fn established(&self) -> bool {
        self.birdc("show protocols keel").contains("Established")
    }
}

pub struct Frr {
    _proc: Process,
    dir: PathBuf,
}

impl Frr {
    /// FRR bgpd `-Z` (no zebra) at 192.0.2.4 (AS 65004), GR helper, announces nothing.
    pub fn start(lab: &Lab) -> Frr {
        let bgpd = require("bgpd");
        require("vtysh");
        let dir = lab.sub("frr");
        let conf = format!(
            "frr defaults traditional
hostname peer4
log file {d}/bgpd.log
router bgp 65004
 bgp router-id {FRR}
 no bgp ebgp-requires-policy
 bgp graceful-restart
 bgp graceful-restart restart-time 120
 timers bgp 3 9
 neighbor {KEEL} remote-as 65001
 neighbor {KEEL} update-source {FRR}
 neighbor {KEEL} ebgp-multihop 2
 neighbor {KEEL} timers connect 1
!
",
            d = dir.display()
        );
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        let user = passwd.lines().find(|l| l.starts_with("frr:")).expect("user frr (package frr)");
        let f: Vec<&str> = user.split(':').collect();
        let (uid, gid) = (f[2].parse().unwrap(), f[3].parse().unwrap());
        let path = dir.join("bgpd.conf");
        std::fs::write(&path, conf).unwrap();
        for p in [&lab.dir, &dir, &path] {
            let _ = std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755));
        }
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
        std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
        let mut cmd = lab.u.command(&bgpd);
        cmd.args(["-Z", "-l", FRR, "-f"]).arg(&path).arg("-i").arg(dir.join("bgpd.pid"));
        cmd.arg("--vty_socket").arg(&dir).args(["-A", "127.0.0.1", "-P", "0"]);
        let f = Frr { _proc: spawn("bgpd", &dir.join("bgpd.out"), cmd), dir };
        wait_for("FRR's vty", Duration::from_secs(10), || f.json("show bgp summary json").map(|_| ()));
        f
    }

    pub fn json(&self, command: &str) -> Result<Value, String> {
        let (ok, out) =
            run(Command::new("vtysh").arg("--vty_socket").arg(&self.dir).args(["-d", "bgpd", "-c", command]));
        if !ok {
            return Err(out);
        }
        serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))
    }

    pub fn prefixes(&self) -> BTreeSet<String> {
        let v = self.json("show bgp ipv4 unicast json").expect("FRR's RIB");
        v["routes"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, paths)| paths.as_array().is_some_and(|p| p.iter().any(|p| p["peerId"] == KEEL)))
            .map(|(p, _)| p.clone())
            .collect()
    }
}

pub struct GoBgp {
    _proc: Process,
    ns: String,
}

impl GoBgp {
    /// gobgpd at 192.0.2.3 (AS 65003), GR helper for IPv4, announces nothing.
    pub fn start(lab: &Lab) -> GoBgp {
        let gobgpd = require("gobgpd");
        require("gobgp");
        let dir = lab.sub("gobgp");
        let conf = format!(
            r#"[global.config]
  as = 65003
  router-id = "{GOBGP}"
  port = 179
  local-address-list = ["{GOBGP}"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{KEEL}"
    peer-as = 65001
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 1
  [neighbors.transport.config]
    local-address = "{GOBGP}"
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 120
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
"#
        );
        std::fs::write(dir.join("gobgp.toml"), conf).unwrap();
        let mut cmd = lab.u.command(&gobgpd);
        cmd.arg("-f").arg(dir.join("gobgp.toml")).args(["--api-hosts", &format!("{GOBGP}:50051")]);
        let g = GoBgp { _proc: spawn("gobgpd", &dir.join("gobgpd.out"), cmd), ns: lab.u.name().to_string() };
        wait_for("GoBGP's API", Duration::from_secs(10), || {
            let (ok, out) = g.cli(&["global"]);
            if ok && out.contains("AS") {
                Ok(())
            } else {
                Err(out)
            }
        });
        g
    }

    pub fn cli(&self, args: &[&str]) -> (bool, String) {
        run(keel_lab::process::command("ip", &["netns", "exec", &self.ns])
            .arg(require("gobgp"))
            .args(["-u", GOBGP])
            .args(args))
    }

    pub fn prefixes(&self) -> BTreeSet<String> {
        let (ok, out) = self.cli(&["global", "rib", "-a", "ipv4", "-j"]);
        assert!(ok, "gobgp global rib: {out}");
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("gobgp JSON ({e}): {out}"));
        v.as_object()
            .into_iter()
            .flatten()
            .filter(|(_, paths)| paths.as_array().is_some_and(|p| p.iter().any(|p| p["neighbor-ip"] == KEEL)))
            .map(|(p, _)| p.clone())
            .collect()
    }
}
