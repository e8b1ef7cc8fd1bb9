//! FRR's bgpd, standalone (`-Z`, no zebra): how it is started (its configuration, pid file and
//! vty socket in its directory, which must belong to user frr), asked (`vtysh --vty_socket
//! DIR -d bgpd`) and configured towards keel, for the tests, the lab and the benchmark.
//!
//! FRR quirks: it refuses 127/8 next hops (outbound route-maps give documentation ones), `-Z`
//! knows no interfaces (`ebgp-multihop` even on a shared subnet), FRR 8.4 sets R=1 for about
//! 120 s after it starts; see also the lab's [`crate::lab::frr`].

use super::DEADLINE;
use crate::netns::Namespace;
use crate::process::{Process, Spawn};
use crate::wait::wait_for;
use anyhow::{Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// FRR's bgpd (OpenBGPD's is /usr/sbin/bgpd).
pub const BGPD: &str = "/usr/lib/frr/bgpd";

/// bgpd standalone (`-Z`, no zebra) on `local`, port `port` (else 179), with its config, pid
/// file and vty socket in `dir`, no vty TCP port.
pub fn command(dir: &Path, local: std::net::IpAddr, port: Option<u16>) -> Command {
    let mut command = Command::new(BGPD);
    command.arg("-Z").args(["-l", &local.to_string()]);
    if let Some(port) = port {
        command.args(["-p", &port.to_string()]);
    }
    command
        .arg("-f")
        .arg(dir.join("bgpd.conf"))
        .arg("-i")
        .arg(dir.join("bgpd.pid"))
        .arg("--vty_socket")
        .arg(dir)
        .args(["-A", "127.0.0.1", "-P", "0"]);
    command
}

/// The uid and gid of user frr (bgpd drops to it; its directory must be its own).
pub fn frr_ids() -> Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").context("cannot read /etc/passwd")?;
    let line = passwd.lines().find(|l| l.starts_with("frr:")).context("no user frr: is the frr package installed?")?;
    let f: Vec<&str> = line.split(':').collect();
    let id = |i: usize| f.get(i).and_then(|s| s.parse().ok()).context("bad /etc/passwd line for frr");
    Ok((id(2)?, id(3)?))
}

/// Writes `config` as `DIR/bgpd.conf` (DIR created), both owned by user frr.
pub fn install_config(dir: &Path, config: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let conf = dir.join("bgpd.conf");
    std::fs::write(&conf, config).with_context(|| format!("cannot write {}", conf.display()))?;
    let (uid, gid) = frr_ids()?;
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
    std::os::unix::fs::chown(&conf, Some(uid), Some(gid))?;
    Ok(())
}

/// `vtysh --vty_socket DIR -d bgpd -c C1 -c C2 ...`: (exit code, stdout, stderr).
pub fn vtysh(dir: &Path, commands: &[&str]) -> std::io::Result<(i32, String, String)> {
    let mut cmd = Command::new("vtysh");
    cmd.arg("--vty_socket").arg(dir).args(["-d", "bgpd"]);
    for c in commands {
        cmd.args(["-c", c]);
    }
    let out = cmd.stdin(std::process::Stdio::null()).output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// `Ok` once the bgpd whose vty socket is in `dir` answers (`show bgp summary json`), else
/// what vtysh said.
pub fn vty_up(dir: &Path) -> std::result::Result<(), String> {
    match vtysh(dir, &["show bgp summary json"]) {
        Ok((0, out, _)) if out.trim_start().starts_with('{') => Ok(()),
        Ok((_, out, err)) => Err(format!("{out}{err}")),
        Err(e) => Err(format!("cannot run vtysh: {e}")),
    }
}

/// The start of a configuration: FRR's traditional defaults, `hostname`, and a log file
/// `DIR/bgpd.log` at `level` (`None`: FRR's default level).
pub fn header(hostname: &str, dir: &Path, level: Option<&str>) -> String {
    let level = level.map_or(String::new(), |l| format!(" {l}"));
    format!("frr defaults traditional\nhostname {hostname}\nlog file {}/bgpd.log{level}\n", dir.display())
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

/// The last octet of an IPv4 address, as text.
fn last_octet(address: &str) -> &str {
    address.rsplit('.').next().unwrap_or(address)
}

/// bgpd in its own directory, ended by pid; the methods fail the calling test.
pub struct Frr {
    pub proc: Process,
    pub dir: PathBuf,
}

impl Frr {
    /// Writes `config` (the whole file) into `dir`, starts bgpd (process `name`, its output in
    /// `DIR/NAME.out`) on `local`, in `netns` if given, and waits for its vty; fails the test
    /// otherwise.
    pub fn start(dir: &Path, name: &str, local: &str, config: &str, netns: Option<&Namespace>) -> Frr {
        crate::process::require("vtysh");
        Frr::try_start(dir, name, local, config, netns).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// [`Frr::start`], returning an error instead of failing a test.
    pub fn try_start(dir: &Path, name: &str, local: &str, config: &str, netns: Option<&Namespace>) -> Result<Frr> {
        install_config(dir, config)?;
        let local = local.parse().with_context(|| format!("bad address {local}"))?;
        let spawn = Spawn {
            log: Some(dir.join(format!("{name}.out"))),
            extra_logs: vec![dir.join("bgpd.log")],
            ..Spawn::default()
        };
        let proc = super::spawn(name, command(dir, local, None), dir, netns, &spawn)?;
        let f = Frr { proc, dir: dir.to_path_buf() };
        super::wait_ready("FRR bgpd's vty", &f.proc, || vty_up(&f.dir))?;
        Ok(f)
    }

    /// Ends bgpd (SIGTERM, SIGKILL after a second) and reaps it.
    pub fn stop(&self) {
        self.proc.stop();
    }

    /// `vtysh -c C1 -c C2 ...` on this bgpd: (exit code, stdout, stderr).
    pub fn vtysh(&self, commands: &[&str]) -> (i32, String, String) {
        vtysh(&self.dir, commands).unwrap_or_else(|e| panic!("cannot run vtysh: {e}"))
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

    /// The IPv4 prefixes FRR holds with a path from `keel`.
    pub fn prefixes_from(&self, keel: &str) -> std::collections::BTreeSet<String> {
        let v = self.json("show bgp ipv4 unicast json");
        v["routes"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, paths)| paths.as_array().is_some_and(|p| p.iter().any(|p| p["peerId"] == keel)))
            .map(|(p, _)| p.clone())
            .collect()
    }
}
