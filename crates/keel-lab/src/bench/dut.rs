//! The devices under test: keeld, BIRD 2, FRR bgpd (standalone `-Z`), GoBGP and OpenBGPD,
//! each configured the same way (testers: import all, export nothing; monitor: import
//! nothing, export all; IPv4 unicast; graceful restart on; no FIB), each in its own temporary
//! directory and process group, bound to its own loopback address, ended by its process
//! group on drop. `direct` is no daemon: the testers talk straight to the monitor.

use crate::process::{Ending, Process, Spawn};
use anyhow::{bail, Context, Result};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const DUT_AS: u32 = 65000;
pub const MONITOR_AS: u32 = 64999;
/// Restart time every daemon advertises (RFC 4724 §3).
pub const RESTART_TIME: u16 = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DutKind {
    Keel,
    Bird,
    Frr,
    Gobgp,
    Openbgpd,
    Direct,
}

impl DutKind {
    pub const ALL: [DutKind; 6] =
        [DutKind::Keel, DutKind::Bird, DutKind::Frr, DutKind::Gobgp, DutKind::Openbgpd, DutKind::Direct];

    pub fn name(self) -> &'static str {
        match self {
            DutKind::Keel => "keel",
            DutKind::Bird => "bird",
            DutKind::Frr => "frr",
            DutKind::Gobgp => "gobgp",
            DutKind::Openbgpd => "openbgpd",
            DutKind::Direct => "direct",
        }
    }

    /// The daemon's executable, if installed.
    fn program(self) -> Option<PathBuf> {
        let p = match self {
            DutKind::Bird => "/usr/sbin/bird",
            DutKind::Frr => crate::daemons::frr::BGPD,
            DutKind::Gobgp => "/usr/bin/gobgpd",
            DutKind::Openbgpd => crate::daemons::openbgpd::BGPD,
            DutKind::Keel | DutKind::Direct => return None,
        };
        Some(PathBuf::from(p)).filter(|p| p.is_file())
    }

    /// Whether this DUT can run here (keel and direct always can).
    pub fn installed(self) -> bool {
        matches!(self, DutKind::Keel | DutKind::Direct) || self.program().is_some()
    }

    /// The daemon's version line, for the report.
    pub fn version(self, keeld: &Path) -> String {
        let (prog, arg): (PathBuf, &str) = match self {
            DutKind::Keel => (keeld.to_path_buf(), "--version"),
            DutKind::Direct => return "-".into(),
            DutKind::Bird | DutKind::Frr | DutKind::Gobgp => (self.program().unwrap_or_default(), "--version"),
            DutKind::Openbgpd => {
                // bgpd has no version flag: ask the package manager.
                let out = Command::new("dpkg-query").args(["-W", "-f", "${Version}", "openbgpd"]).output();
                return out.map(|o| format!("OpenBGPD {}", String::from_utf8_lossy(&o.stdout))).unwrap_or_default();
            }
        };
        let out = Command::new(prog).arg(arg).output();
        out.map(|o| {
            let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
            text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string()
        })
        .unwrap_or_default()
    }
}

/// Where one run's speakers live: DUT 127.88.N.1, monitor .2, testers .10 + i.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dut: SocketAddr,
    pub monitor: Ipv4Addr,
    /// (address, AS) of each tester.
    pub testers: Vec<(Ipv4Addr, u32)>,
}

impl Layout {
    /// A subnet whose DUT address and port are free now.
    pub fn pick(testers: &[u32], port: u16) -> Result<Layout> {
        let seed = std::process::id();
        for i in 0..250u32 {
            let n = ((seed + i * 7) % 250 + 1) as u8;
            let dut = SocketAddr::new(Ipv4Addr::new(127, 88, n, 1).into(), port);
            if std::net::TcpListener::bind(dut).is_ok() {
                let testers = testers
                    .iter()
                    .enumerate()
                    .map(|(i, asn)| (Ipv4Addr::new(127, 88, n, 10 + i as u8), *asn))
                    .collect();
                return Ok(Layout { dut, monitor: Ipv4Addr::new(127, 88, n, 2), testers });
            }
        }
        bail!("no free address in 127.88.1-250.1 port {port}")
    }

    /// Where `keel bench --bmp` runs its BMP station (pmbmpd): .3, port 1790.
    pub fn station(&self) -> SocketAddr {
        let [a, b, c, _] = self.ip().octets();
        SocketAddr::new(Ipv4Addr::new(a, b, c, 3).into(), 1790)
    }

    /// The address of the loader that gives BIRD feeder `index` its table (`--feeder bird`).
    pub fn loader(&self, index: usize) -> Ipv4Addr {
        let [a, b, c, _] = self.ip().octets();
        Ipv4Addr::new(a, b, c, 100 + index as u8)
    }

    fn ip(&self) -> Ipv4Addr {
        match self.dut.ip() {
            std::net::IpAddr::V4(a) => a,
            std::net::IpAddr::V6(_) => Ipv4Addr::LOCALHOST,
        }
    }
}

/// A running device under test.
pub struct Dut {
    pub kind: DutKind,
    pub dir: PathBuf,
    layout: Layout,
    keeld: PathBuf,
    /// The running daemon, leader of its own process group.
    process: Option<Process>,
    /// CPU seconds of process groups that ended (restarts).
    dead_cpu: f64,
    /// Largest resident set seen (KiB, summed over the group).
    pub peak_kib: u64,
    /// keel's BMP station (`keel bench --bmp`), all views.
    station: Option<SocketAddr>,
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

impl Dut {
    /// Writes the configuration and starts the daemon; waits until it listens.
    pub fn start(kind: DutKind, dir: PathBuf, layout: &Layout, keeld: &Path) -> Result<Dut> {
        Dut::start_with_station(kind, dir, layout, keeld, None)
    }

    /// [`Dut::start`], keel with a BMP station at `station` (all four views).
    pub fn start_with_station(
        kind: DutKind,
        dir: PathBuf,
        layout: &Layout,
        keeld: &Path,
        station: Option<SocketAddr>,
    ) -> Result<Dut> {
        std::fs::create_dir_all(&dir)?;
        let mut d = Dut {
            kind,
            dir,
            layout: layout.clone(),
            keeld: keeld.to_path_buf(),
            process: None,
            dead_cpu: 0.0,
            peak_kib: 0,
            station,
        };
        d.configure()?;
        d.spawn(false)?;
        Ok(d)
    }

    fn configure(&self) -> Result<()> {
        let l = &self.layout;
        let ip = l.ip();
        let port = l.dut.port();
        let dir = &self.dir;
        match self.kind {
            DutKind::Direct => {}
            DutKind::Keel => {
                let mut c = format!(
                    "[global]\nasn = {DUT_AS}\nrouter_id = \"192.0.2.88\"\nlisten = [\"{}\"]\napi = \"{}\"\n\
                     state_dir = \"{}\"\n\n[graceful_restart]\nrestart_time = {RESTART_TIME}\n",
                    l.dut,
                    dir.join("keel.sock").display(),
                    dir.display()
                );
                for (a, asn) in &l.testers {
                    c += &format!(
                        "\n[[neighbor]]\naddress = \"{a}\"\nasn = {asn}\npassive = true\nimport = \"all\"\nexport = \"none\"\n"
                    );
                }
                c += &format!(
                    "\n[[neighbor]]\naddress = \"{}\"\nasn = {MONITOR_AS}\npassive = true\nimport = \"none\"\nexport = \"all\"\n",
                    l.monitor
                );
                if let Some(station) = self.station {
                    c += &super::bmp::station_config(station);
                }
                write(&dir.join("keel.toml"), &c)?;
            }
            DutKind::Bird => {
                let log = dir.join("bird.log");
                let mut c = crate::daemons::bird::header("192.0.2.88", &log, "{ warning, error, fatal }", "")
                    + &format!(
                        "# Tester next hops (198.18.0.0/15) resolve through lo; nothing is exported to a kernel table.\n\
                     protocol static nh {{ ipv4; route 198.18.0.0/15 via \"lo\"; }}\n\
                     template bgp dut {{\n  local {ip} port {port} as {DUT_AS};\n  multihop; strict bind on; passive on;\n  \
                     graceful restart on; graceful restart time {RESTART_TIME};\n  enable extended messages on;\n}}\n",
                    );
                for (i, (a, asn)) in l.testers.iter().enumerate() {
                    c += &format!(
                        "protocol bgp t{i} from dut {{ neighbor {a} as {asn}; ipv4 {{ import all; export none; }}; }}\n"
                    );
                }
                c += &format!(
                    "protocol bgp monitor from dut {{ neighbor {} as {MONITOR_AS}; \
                     ipv4 {{ import none; export where source = RTS_BGP; }}; }}\n",
                    l.monitor
                );
                write(&dir.join("bird.conf"), &c)?;
            }
            DutKind::Frr => {
                let mut c = crate::daemons::frr::header("dut", dir, Some("warnings"))
                    + &format!(
                        "route-map NONE deny 10\n!\nrouter bgp {DUT_AS}\n bgp router-id 192.0.2.88\n \
                     no bgp ebgp-requires-policy\n no bgp network import-check\n bgp graceful-restart\n \
                     bgp graceful-restart restart-time {RESTART_TIME}\n",
                    );
                let mut af = String::new();
                for (a, asn) in &l.testers {
                    c += &format!(
                        " neighbor {a} remote-as {asn}\n neighbor {a} update-source {ip}\n neighbor {a} ebgp-multihop 2\n \
                         neighbor {a} passive\n"
                    );
                    af += &format!("  neighbor {a} route-map NONE out\n");
                }
                let m = l.monitor;
                c += &format!(
                    " neighbor {m} remote-as {MONITOR_AS}\n neighbor {m} update-source {ip}\n neighbor {m} ebgp-multihop 2\n \
                     neighbor {m} passive\n"
                );
                af += &format!("  neighbor {m} route-map NONE in\n");
                c += &format!(" address-family ipv4 unicast\n{af} exit-address-family\n!\n");
                crate::daemons::frr::install_config(dir, &c)?;
            }
            DutKind::Gobgp => {
                let neighbor = |a: Ipv4Addr, asn: u32| {
                    format!(
                        "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{a}\"\n    peer-as = {asn}\n  \
                         [neighbors.transport.config]\n    local-address = \"{ip}\"\n    passive-mode = true\n  \
                         [neighbors.ebgp-multihop.config]\n    enabled = true\n    multihop-ttl = 2\n  \
                         [neighbors.graceful-restart.config]\n    enabled = true\n    restart-time = {RESTART_TIME}\n  \
                         [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n    \
                         [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true\n"
                    )
                };
                let testers: Vec<String> = l.testers.iter().map(|(a, _)| format!("\"{a}/32\"")).collect();
                let mut c = crate::daemons::gobgp::global(DUT_AS, "192.0.2.88", port, &ip.to_string())
                    + &format!(
                        "[global.apply-policy.config]\n  export-policy-list = [\"no-testers\"]\n  \
                     default-export-policy = \"accept-route\"\n  default-import-policy = \"accept-route\"\n\
                     [[defined-sets.neighbor-sets]]\n  neighbor-set-name = \"testers\"\n  neighbor-info-list = [{}]\n\
                     [[policy-definitions]]\n  name = \"no-testers\"\n  [[policy-definitions.statements]]\n    \
                     [policy-definitions.statements.conditions.match-neighbor-set]\n      neighbor-set = \"testers\"\n    \
                     [policy-definitions.statements.actions]\n      route-disposition = \"reject-route\"\n",
                        testers.join(", ")
                    );
                for (a, asn) in &l.testers {
                    c += &neighbor(*a, *asn);
                }
                c += &neighbor(l.monitor, MONITOR_AS);
                write(&dir.join("gobgp.toml"), &c)?;
            }
            DutKind::Openbgpd => {
                let mut c = format!(
                    "AS {DUT_AS}\nrouter-id 192.0.2.88\nlisten on {ip} port {port}\nfib-update no\n\
                     socket \"{}/bgpd.sock\"\n# tester next hops (198.18.0.0/15) resolve over the default route\n\
                     nexthop qualify via default\n",
                    dir.display()
                );
                let neighbor = |a: Ipv4Addr, asn: u32, name: &str| {
                    format!(
                        "neighbor {a} {{\n  remote-as {asn}\n  descr \"{name}\"\n  local-address {ip}\n  multihop 2\n  passive\n  \
                         announce IPv4 unicast\n  announce restart yes\n}}\n"
                    )
                };
                for (i, (a, asn)) in l.testers.iter().enumerate() {
                    c += &neighbor(*a, *asn, &format!("t{i}"));
                }
                c += &neighbor(l.monitor, MONITOR_AS, "monitor");
                // The last matching rule wins: export only to the monitor, import everything.
                c += &format!("allow from any\ndeny to any\nallow to {}\n", l.monitor);
                write(&dir.join("bgpd.conf"), &c)?;
                std::fs::set_permissions(dir.join("bgpd.conf"), std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
            }
        }
        Ok(())
    }

    /// Starts the daemon (`recovery`: in its graceful-restart mode) and waits until it accepts
    /// connections on its address.
    pub fn spawn(&mut self, recovery: bool) -> Result<()> {
        let dir = &self.dir;
        let ip = self.layout.ip();
        let cmd = match self.kind {
            DutKind::Direct => return Ok(()),
            DutKind::Keel => {
                let mut c = Command::new(&self.keeld);
                c.arg("--config").arg(dir.join("keel.toml")).env("KEEL_LOG", "warn");
                c
            }
            DutKind::Bird => crate::daemons::bird::command(dir, recovery),
            DutKind::Frr => crate::daemons::frr::command(dir, ip.into(), Some(self.layout.dut.port())),
            DutKind::Gobgp => {
                let mut c = crate::daemons::gobgp::command(&dir.join("gobgp.toml"), &ip.to_string(), recovery);
                c.args(["-l", "warn"]);
                c
            }
            DutKind::Openbgpd => crate::daemons::openbgpd::command(&dir.join("bgpd.conf"))?,
        };
        let name = self.kind.name();
        let out = dir.join(format!("{name}.out"));
        // A fresh output file per run, as before; the restart runs on tokio's blocking pool,
        // whose threads end while the daemon runs on.
        let _ = std::fs::remove_file(&out);
        let how = Spawn { log: Some(out), process_group: true, outlive_thread: true, ..Spawn::default() };
        let mut process = crate::daemons::spawn(name, cmd, dir, None, &how)?;
        process.ending = Ending::Kill;
        self.process = Some(process);
        self.wait_listening(Duration::from_secs(20))
    }

    fn wait_listening(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if std::net::TcpStream::connect_timeout(&self.layout.dut, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Some(p) = self.process.as_ref().filter(|p| !p.running()) {
                let status = p.exit_status().map_or("an unknown status".to_string(), |s| s.to_string());
                bail!("{} exited ({status}) before listening; see {}", self.kind.name(), self.dir.display());
            }
            if Instant::now() > deadline {
                bail!("{} does not listen on {} after {timeout:?}", self.kind.name(), self.layout.dut);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn pgid(&self) -> Option<i32> {
        self.process.as_ref().and_then(|p| p.pid())
    }

    /// CPU seconds (user + system, every run so far) and summed resident set (KiB) of the
    /// DUT's process group; updates the peak.
    pub fn sample(&mut self) -> (f64, u64) {
        let Some(pgid) = self.pgid() else { return (self.dead_cpu, 0) };
        let (cpu, rss) = group_usage(pgid);
        self.peak_kib = self.peak_kib.max(rss);
        (self.dead_cpu + cpu, rss)
    }

    /// Ends the process group with `signal` and reaps the leader; its CPU time is kept.
    pub fn stop(&mut self, signal: i32) {
        let (cpu, _) = self.sample();
        if let Some(p) = self.process.take() {
            p.stop_group(signal, Duration::from_secs(10));
        }
        self.dead_cpu = cpu;
    }

    /// The DUT restarts gracefully, each daemon its own way; returns once it listens again.
    /// keel: `keel restart`; BIRD: `birdc graceful restart`, then `bird -R`; FRR: SIGKILL and
    /// start again (`bgp graceful-restart` makes it send R=1); GoBGP: SIGKILL, then `gobgpd -r`;
    /// OpenBGPD has no restarting-speaker mode: SIGTERM and start again.
    pub fn graceful_restart(&mut self, keel_cli: &Path) -> Result<()> {
        match self.kind {
            DutKind::Direct => bail!("direct has no daemon to restart"),
            DutKind::Keel => {
                let out = Command::new(keel_cli)
                    .arg("--api")
                    .arg(self.dir.join("keel.sock"))
                    .arg("restart")
                    .output()
                    .context("keel restart")?;
                if !out.status.success() {
                    bail!(
                        "keel restart: {}{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                // keeld execs itself: same pid, listening again shortly.
                std::thread::sleep(Duration::from_millis(200));
                self.wait_listening(Duration::from_secs(20))
            }
            DutKind::Bird => {
                let _ = crate::daemons::bird::birdc(&self.dir.join("bird.ctl"), "graceful restart");
                self.stop(libc::SIGTERM);
                self.spawn(true)
            }
            DutKind::Frr => {
                self.stop(libc::SIGKILL);
                self.spawn(true)
            }
            DutKind::Gobgp => {
                self.stop(libc::SIGKILL);
                self.spawn(true)
            }
            DutKind::Openbgpd => {
                self.stop(libc::SIGTERM);
                self.spawn(false)
            }
        }
    }
}

impl Drop for Dut {
    fn drop(&mut self) {
        self.stop(libc::SIGKILL);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// CPU seconds and summed VmRSS (KiB) of every live process in group `pgid`.
pub(crate) fn group_usage(pgid: i32) -> (f64, u64) {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let (mut cpu, mut rss) = (0.0, 0);
    let Ok(entries) = std::fs::read_dir("/proc") else { return (0.0, 0) };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some(rest) = stat.rsplit(')').next() else { continue };
        let f: Vec<&str> = rest.split_whitespace().collect();
        // Fields after the command: state ppid pgrp ...; utime and stime are 12th and 13th.
        if f.get(2).and_then(|v| v.parse::<i32>().ok()) != Some(pgid) {
            continue;
        }
        let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        cpu += (t(11) + t(12)) / ticks;
        rss += f.get(21).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) * page_kib();
    }
    (cpu, rss)
}

fn page_kib() -> u64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) / 1024) as u64
}
