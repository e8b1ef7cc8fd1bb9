//! The real daemons keeld peers with: BIRD 2, FRR bgpd, GoBGP and ExaBGP. For each one its
//! configuration towards keel, how it is started (in its own directory, bound to its own
//! 127.0.0.x:179, ended by pid; see [`Process`]) and how the tests ask it what it holds.
//!
//! Every test module starts its daemons from here and passes in only what its case needs
//! (graceful-restart settings, routes, channels, route-maps), so the ways of starting and
//! configuring a daemon that are known to work live in one place.

use super::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

// ---------------------------------------------------------------------------------------------
// BIRD 2

/// A BIRD 2 instance in its own directory, in the foreground (`-f`), ended by pid.
pub struct Bird {
    pub proc: Process,
    pub ctl: PathBuf,
    pub log: PathBuf,
}

/// Settings of the daemon tests' BIRD peering with keel: GR (restart time 111) and LLGR
/// (stale time 3333), Extended Messages, community (ASN, 7) on what it exports.
pub struct BirdPeer<'a> {
    pub local: &'a str,
    pub asn: u32,
    pub keel: &'a str,
    pub keel_asn: u32,
    pub hold_time: u16,
    /// More lines inside `protocol bgp keel { ... }` (password, ...).
    pub extra: &'a str,
    /// Announce 203.0.113.0/24 and 2001:db8:LAST::/48 with community (ASN, 7).
    pub routes: bool,
}

/// BIRD's `protocol bgp keel`: the session with keel and its two channels.
pub struct BirdSession<'a> {
    pub local: &'a str,
    pub asn: u32,
    pub keel: &'a str,
    pub keel_asn: u32,
    pub hold_time: u16,
    /// More session settings (graceful restart, password, ...), after the common ones so
    /// they can override them.
    pub lines: &'a str,
    /// The contents of the `ipv4 { }` and `ipv6 { }` channels.
    pub ipv4: &'a str,
    pub ipv6: &'a str,
}

impl BirdSession<'_> {
    pub fn conf(&self) -> String {
        format!(
            r#"protocol bgp keel {{
  local {local} as {asn};
  neighbor {keel} as {keel_asn};
  multihop;                   # loopback peers share no interface
  strict bind on;             # listen on {local}:179 only, not *:179
  hold time {hold}; keepalive time {keepalive};
  connect delay time 1; connect retry time 1; error wait time 1, 2;
  debug {{ states, events, packets }};
  {lines}
  ipv4 {{ {ipv4} }};
  ipv6 {{ {ipv6} }};
}}
"#,
            local = self.local,
            asn = self.asn,
            keel = self.keel,
            keel_asn = self.keel_asn,
            hold = self.hold_time,
            keepalive = (self.hold_time / 3).max(1),
            lines = self.lines,
            ipv4 = self.ipv4,
            ipv6 = self.ipv6,
        )
    }
}

/// `protocol static NAME` of `channel` ("ipv4" or "ipv6") with blackhole routes.
pub fn bird_static(name: &str, channel: &str, routes: &[&str]) -> String {
    let routes: String = routes.iter().map(|r| format!(" route {r} blackhole;")).collect();
    format!("protocol static {name} {{ {channel};{routes} }}\n")
}

impl Bird {
    /// Starts the daemon tests' BIRD (see [`BirdPeer`]).
    pub fn start(dir: &Path, p: &BirdPeer) -> Bird {
        let last = last_octet(p.local);
        let statics = if p.routes {
            bird_static("s4", "ipv4", &["203.0.113.0/24"])
                + &bird_static("s6", "ipv6", &[&format!("2001:db8:{last}::/48")])
        } else {
            String::new()
        };
        let export = format!("export filter {{ bgp_community.add(({}, 7)); accept; }};", p.asn);
        let session = BirdSession {
            local: p.local,
            asn: p.asn,
            keel: p.keel,
            keel_asn: p.keel_asn,
            hold_time: p.hold_time,
            lines: &format!(
                "enable extended messages on;
  graceful restart on; graceful restart time 111;
  long lived graceful restart on; long lived stale time 3333;
  {}",
                p.extra
            ),
            ipv4: &format!("import all; {export}"),
            ipv6: &format!("import all; {export} next hop address 2001:db8::{last};"),
        };
        Bird::start_with(dir, "bird", p.local, &(statics + &session.conf()), false)
    }

    /// Starts BIRD (process `name`) on `body` after the router id (192.0.2.LAST), the log
    /// (`dir/bird.log`) and the device protocol; `body` must define `protocol bgp keel`.
    /// `recovery`: `-R`, graceful-restart recovery. Waits for the control socket.
    pub fn start_with(dir: &Path, name: &str, local: &str, body: &str, recovery: bool) -> Bird {
        let bird = require("bird");
        require("birdc");
        let log = dir.join("bird.log");
        let conf = format!(
            "router id 192.0.2.{};\nlog \"{}\" all;\nprotocol device {{}}\n{body}",
            last_octet(local),
            log.display()
        );
        let conf_path = dir.join("bird.conf");
        write(&conf_path, &conf);
        let ctl = dir.join("bird.ctl");
        let mut cmd = Command::new(bird);
        cmd.arg("-f").arg("-c").arg(&conf_path).arg("-s").arg(&ctl);
        if recovery {
            cmd.arg("-R");
        }
        let proc = spawn(name, dir, cmd, std::slice::from_ref(&log));
        let b = Bird { proc, ctl, log };
        wait_for("BIRD's control socket", DEADLINE, || {
            b.proc.assert_running();
            let (code, out, err) = b.birdc_raw("show status");
            if code == 0 && out.contains("Daemon is up and running") {
                Ok(())
            } else {
                Err(format!("{out}{err}"))
            }
        });
        b
    }

    fn birdc_raw(&self, command: &str) -> (i32, String, String) {
        run(Command::new("birdc").arg("-s").arg(&self.ctl).arg(command))
    }

    pub fn birdc(&self, command: &str) -> String {
        let (code, out, err) = self.birdc_raw(command);
        assert_eq!(code, 0, "birdc {command}: {out}{err}");
        out
    }

    pub fn protocol(&self) -> String {
        self.birdc("show protocols all keel")
    }

    pub fn wait_established(&self) -> String {
        wait_for("BIRD's session with keel to be established", DEADLINE, || {
            let p = self.protocol();
            if p.contains("BGP state:          Established") {
                Ok(p)
            } else {
                Err(p)
            }
        })
    }

    /// `birdc show route PREFIX all` once BIRD holds a route for it from keel.
    pub fn wait_route(&self, prefix: &str) -> String {
        wait_for(&format!("{prefix} from keel in BIRD"), DEADLINE, || {
            // birdc exits with 1 while the network is not in the table.
            let (_, r, err) = self.birdc_raw(&format!("show route {prefix} all"));
            if r.contains("[keel ") {
                Ok(r)
            } else {
                Err(format!("{r}{err}"))
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// FRR bgpd

/// FRR bgpd in standalone mode (`-Z`, no zebra), its vty socket in its directory.
pub struct Frr {
    pub proc: Process,
    pub dir: PathBuf,
}

/// FRR's `router bgp` with keel as its one neighbor.
pub struct FrrPeer<'a> {
    pub local: &'a str,
    pub asn: u32,
    pub keel: &'a str,
    pub keel_asn: u32,
    /// More lines under `router bgp` (graceful restart, ...), each starting with a space.
    pub router: &'a str,
    /// `network` statements of each address family.
    pub ipv4: &'a [&'a str],
    pub ipv6: &'a [&'a str],
    /// Outbound route-maps OUT4 and OUT6 that give FRR's routes the documentation next hops
    /// 192.0.2.LAST and 2001:db8::LAST (FRR refuses 127/8 next hops), with these more `set`
    /// lines (each starting with a space, ending with a newline); `None`: no route-maps.
    pub route_map: Option<&'a str>,
}

impl FrrPeer<'_> {
    /// The configuration after the header. The route-maps come before `router bgp`: defined
    /// after it, bgpd starts with the neighbor's outbound route-map missing, "filters" every
    /// route, sends End-of-RIB, and sends the routes only when its route-map update timer
    /// fires seconds later (after a restart a helper then sweeps them all at that End-of-RIB).
    pub fn conf(&self) -> String {
        let (local, keel, last) = (self.local, self.keel, last_octet(self.local));
        let mut c = String::new();
        if let Some(set) = self.route_map {
            c += &format!("route-map OUT4 permit 10\n set ip next-hop 192.0.2.{last}\n{set}!\n");
            c += &format!("route-map OUT6 permit 10\n set ipv6 next-hop global 2001:db8::{last}\n{set}!\n");
        }
        let ebgp = self.asn != self.keel_asn;
        c += &format!("router bgp {}\n bgp router-id 192.0.2.{last}\n", self.asn);
        if ebgp {
            c += " no bgp ebgp-requires-policy\n";
        }
        c += self.router;
        c += &format!(
            " timers bgp 3 9\n neighbor {keel} remote-as {}\n neighbor {keel} update-source {local}\n",
            self.keel_asn
        );
        if ebgp {
            c += &format!(" neighbor {keel} ebgp-multihop 2\n");
        }
        c += &format!(" neighbor {keel} timers connect 1\n");
        for (afi, networks) in [("ipv4", self.ipv4), ("ipv6", self.ipv6)] {
            c += &format!(" address-family {afi} unicast\n");
            for n in networks {
                c += &format!("  network {n}\n");
            }
            if afi == "ipv6" {
                c += &format!("  neighbor {keel} activate\n");
            }
            if self.route_map.is_some() {
                c += &format!("  neighbor {keel} route-map OUT{} out\n", &afi[3..]);
            }
            c += " exit-address-family\n";
        }
        c + "!\n"
    }
}

/// The uid and gid of user `frr` (FRR drops privileges to it; its directory must be its own).
fn frr_ids() -> (u32, u32) {
    let passwd = read(Path::new("/etc/passwd"));
    let line = passwd.lines().find(|l| l.starts_with("frr:")).expect("user frr missing: is the frr package installed?");
    let f: Vec<&str> = line.split(':').collect();
    (f[2].parse().unwrap(), f[3].parse().unwrap())
}

impl Frr {
    /// Starts bgpd (process `name`) on `p`'s configuration and waits for its vty.
    pub fn start(dir: &Path, name: &str, p: &FrrPeer) -> Frr {
        let bgpd = require("bgpd");
        require("vtysh");
        let conf = format!(
            "frr defaults traditional\nhostname peer{last}\nlog file {dir}/bgpd.log\n\
             debug bgp neighbor-events\ndebug bgp graceful-restart\ndebug bgp updates\n{body}",
            last = last_octet(p.local),
            dir = dir.display(),
            body = p.conf(),
        );
        let conf_path = dir.join("bgpd.conf");
        write(&conf_path, &conf);
        let (uid, gid) = frr_ids();
        std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
        std::os::unix::fs::chown(&conf_path, Some(uid), Some(gid)).unwrap();
        let mut cmd = Command::new(bgpd);
        cmd.arg("-Z")
            .args(["-l", p.local])
            .arg("-f")
            .arg(&conf_path)
            .arg("-i")
            .arg(dir.join("bgpd.pid"))
            .arg("--vty_socket")
            .arg(dir)
            .args(["-A", "127.0.0.1", "-P", "0"]);
        let proc = spawn(name, dir, cmd, &[dir.join("bgpd.log")]);
        let f = Frr { proc, dir: dir.to_path_buf() };
        wait_for("FRR bgpd's vty", DEADLINE, || {
            f.proc.assert_running();
            let (code, out, err) = f.vtysh(&["show bgp summary json"]);
            if code == 0 && out.trim_start().starts_with('{') {
                Ok(())
            } else {
                Err(format!("{out}{err}"))
            }
        });
        f
    }

    /// `vtysh -c C1 -c C2 ...` on this bgpd: (exit code, stdout, stderr).
    pub fn vtysh(&self, commands: &[&str]) -> (i32, String, String) {
        let mut cmd = Command::new("vtysh");
        cmd.arg("--vty_socket").arg(&self.dir).args(["-d", "bgpd"]);
        for c in commands {
            cmd.args(["-c", c]);
        }
        run(&mut cmd)
    }

    /// Like [`Frr::vtysh`], failing the test unless vtysh succeeds; its output.
    pub fn vtysh_ok(&self, commands: &[&str]) -> String {
        let (code, out, err) = self.vtysh(commands);
        assert_eq!(code, 0, "vtysh {commands:?}: {out}{err}");
        out
    }

    pub fn json(&self, command: &str) -> Value {
        let out = self.vtysh_ok(&[command]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("vtysh {command}: bad JSON ({e}): {out}"))
    }

    pub fn text(&self, command: &str) -> String {
        self.vtysh_ok(&[command])
    }

    /// Waits until FRR's session with `keel` is Established; FRR's view of the neighbor.
    pub fn wait_established(&self, keel: &str) -> Value {
        wait_for("FRR's session with keel to be established", DEADLINE, || {
            let v = self.json(&format!("show bgp neighbors {keel} json"));
            let nb = v[keel].clone();
            if nb["bgpState"] == "Established" {
                Ok(nb)
            } else {
                Err(nb.to_string())
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// GoBGP

/// gobgpd with its gRPC API on LOCAL:50051, driven with the `gobgp` CLI.
pub struct GoBgp {
    pub proc: Process,
    pub api_host: String,
}

/// gobgpd's configuration towards keel: GR with the N bit for both families.
pub struct GoBgpPeer<'a> {
    pub local: &'a str,
    pub asn: u32,
    pub keel: &'a str,
    pub keel_asn: u32,
    pub restart_time: u16,
    /// LLGR with this stale time for both families; `None`: no LLGR.
    pub llgr_stale_time: Option<u32>,
    /// The neighbor starts `admin-down` (enabled later with `gobgp neighbor X enable`).
    pub admin_down: bool,
    /// Started with `-r` (graceful restart: R and F set).
    pub restarting: bool,
}

impl GoBgpPeer<'_> {
    pub fn conf(&self) -> String {
        let llgr = self.llgr_stale_time.map_or(String::new(), |t| {
            format!("    [neighbors.afi-safis.long-lived-graceful-restart.config]\n      enabled = true\n      restart-time = {t}\n")
        });
        let family = |name: &str| {
            format!(
                r#"  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "{name}"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
{llgr}"#
            )
        };
        format!(
            r#"[global.config]
  as = {asn}
  router-id = "192.0.2.{last}"
  port = 179
  local-address-list = ["{local}"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{keel}"
    peer-as = {keel_asn}
    admin-down = {down}
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 1
  [neighbors.transport.config]
    local-address = "{local}"
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = {restart_time}
    notification-enabled = true
{llgr_enabled}{v4}{v6}"#,
            asn = self.asn,
            last = last_octet(self.local),
            local = self.local,
            keel = self.keel,
            keel_asn = self.keel_asn,
            down = self.admin_down,
            restart_time = self.restart_time,
            llgr_enabled = if self.llgr_stale_time.is_some() { "    long-lived-enabled = true\n" } else { "" },
            v4 = family("ipv4-unicast"),
            v6 = family("ipv6-unicast"),
        )
    }
}

impl GoBgp {
    /// Starts the daemon tests' gobgpd: GR restart time 111 with N, LLGR stale time 3333.
    pub fn start(dir: &Path, local: &str, asn: u32, keel: &str, keel_asn: u32) -> GoBgp {
        let p = GoBgpPeer {
            local,
            asn,
            keel,
            keel_asn,
            restart_time: 111,
            llgr_stale_time: Some(3333),
            admin_down: false,
            restarting: false,
        };
        GoBgp::start_with(dir, "gobgpd", &p)
    }

    /// Starts gobgpd (process `name`) on `p` and waits for its API.
    pub fn start_with(dir: &Path, name: &str, p: &GoBgpPeer) -> GoBgp {
        let gobgpd = require("gobgpd");
        require("gobgp");
        let conf_path = dir.join("gobgp.toml");
        write(&conf_path, &p.conf());
        let mut cmd = Command::new(gobgpd);
        cmd.arg("-f").arg(&conf_path).args(["--api-hosts", &format!("{}:50051", p.local)]);
        if p.restarting {
            cmd.arg("-r");
        }
        let proc = spawn(name, dir, cmd, &[]);
        let g = GoBgp { proc, api_host: p.local.to_string() };
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

    /// Waits until GoBGP's session with `keel` is Established.
    pub fn wait_established(&self, keel: &str) {
        wait_for("GoBGP's session with keel to be established", DEADLINE, || {
            let v = self.json(&["neighbor", keel, "-j"]);
            // apipb.PeerState.SessionState: 6 is ESTABLISHED.
            if v["state"]["session_state"] == 6 {
                Ok(())
            } else {
                Err(v["state"].to_string())
            }
        });
    }

    /// GoBGP's path for `prefix` (`family` "ipv4" or "ipv6") from `neighbor`, once it has one.
    pub fn wait_path(&self, family: &str, prefix: &str, neighbor: &str) -> Value {
        wait_for(&format!("{prefix} from {neighbor} in GoBGP"), DEADLINE, || {
            let rib = self.json(&["global", "rib", "-a", family, "-j"]);
            let p = rib[prefix].as_array().and_then(|v| v.iter().find(|p| p["neighbor-ip"] == neighbor)).cloned();
            p.ok_or_else(|| rib.to_string())
        })
    }
}

/// The attribute of type `t` in a GoBGP path (`Null` when absent).
pub fn gobgp_attr(path: &Value, t: u64) -> Value {
    path["attrs"].as_array().into_iter().flatten().find(|a| a["type"] == t).cloned().unwrap_or_default()
}

/// A community as the 32-bit number GoBGP's JSON shows.
pub fn community_number(c: &str) -> u64 {
    let (hi, lo) = c.split_once(':').unwrap();
    (hi.parse::<u64>().unwrap() << 16) | lo.parse::<u64>().unwrap()
}

// ---------------------------------------------------------------------------------------------
// ExaBGP

pub struct ExaBgp {
    pub proc: Process,
    /// One JSON object per line: what ExaBGP received and its state changes (written only
    /// when it was started with [`ExaPeer::api`]).
    pub api_log: PathBuf,
}

/// ExaBGP's `neighbor` towards keel, IPv4 and IPv6 unicast, hold time 9.
pub struct ExaPeer<'a> {
    pub local: &'a str,
    pub asn: u32,
    pub keel: &'a str,
    pub keel_asn: u32,
    /// The inside of `capability { }`.
    pub capability: &'a str,
    /// Its static routes: `PREFIX next-hop ADDRESS [more attributes]`.
    pub routes: &'a [String],
    /// More lines of the neighbor.
    pub extra: &'a str,
    /// An API process (a sink script) appends what ExaBGP receives, as JSON, to `api_log`.
    pub api: bool,
}

impl ExaBgp {
    /// Starts ExaBGP (process `name`, files `dir/NAME.*`) peering with keel.
    pub fn start(dir: &Path, name: &str, p: &ExaPeer) -> ExaBgp {
        let exabgp = require("exabgp");
        let api_log = dir.join(format!("{name}.api.jsonl"));
        let (process, api) = if p.api {
            // ExaBGP reads commands from the process's stdout and counts EOF there as a death
            // (five deaths stop ExaBGP): keep the pipe open as fd 3 while stdout goes to the file.
            let sink = dir.join(format!("{name}.sink.sh"));
            write(&sink, &format!("#!/bin/sh\nexec cat 3>&1 >>{}\n", api_log.display()));
            std::fs::set_permissions(&sink, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
            (
                format!("process sink {{\n  run {};\n  encoder json;\n}}\n", sink.display()),
                "api {\n    processes [ sink ];\n    neighbor-changes;\n    \
                 receive { parsed; update; open; notification; }\n  }",
            )
        } else {
            (String::new(), "")
        };
        let statics: String = p.routes.iter().map(|r| format!("    route {r};\n")).collect();
        let conf = format!(
            r#"{process}neighbor {keel} {{
  router-id 192.0.2.{last};
  local-address {local};
  local-as {asn};
  peer-as {keel_asn};
  hold-time 9;
  capability {{
    {capability}
  }}
  family {{ ipv4 unicast; ipv6 unicast; }}
  {api}
  static {{
{statics}  }}
  {extra}
}}
"#,
            keel = p.keel,
            last = last_octet(p.local),
            local = p.local,
            asn = p.asn,
            keel_asn = p.keel_asn,
            capability = p.capability,
            extra = p.extra,
        );
        let conf_path = dir.join(format!("{name}.conf"));
        write(&conf_path, &conf);
        let log = dir.join(format!("{name}.log"));
        let mut cmd = Command::new(exabgp);
        cmd.arg(&conf_path)
            .env("exabgp.daemon.user", "root")
            .env("exabgp.tcp.bind", p.local)
            .env("exabgp.tcp.port", "179")
            .env("exabgp.log.destination", &log)
            .env("exabgp.log.level", "INFO")
            .env("exabgp.api.cli", "false");
        let logs = if p.api { vec![log, api_log.clone()] } else { vec![log] };
        let proc = spawn(name, dir, cmd, &logs);
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
