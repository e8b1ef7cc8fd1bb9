//! BIRD 2: how it is started (`bird -f -c DIR/bird.conf -s DIR/bird.ctl`, `-R` for a
//! graceful-restart recovery), asked (`birdc -s DIR/bird.ctl`) and configured towards keel
//! (`protocol bgp keel`, static routes), for the tests, the lab and the benchmark.
//!
//! BIRD quirks met on loopback addresses: `multihop` (peers share no interface), `strict bind
//! on` (else BIRD listens on `*:179`), `next hop address` for routes it originates over eBGP
//! multihop; it shows the neighbor's GR flags in `show protocols all` under "Neighbor
//! capabilities" ("Restart recovery" is R=1, "AF preserved: ipv4" is F=1).

use super::DEADLINE;
use crate::netns::Namespace;
use crate::process::{find, Process, Spawn};
use crate::wait::wait_for;
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `bird -f -c DIR/bird.conf -s DIR/bird.ctl`, with `-R` (graceful-restart recovery: R=1 in
/// its OPENs) when `recovery`.
pub fn command(dir: &Path, recovery: bool) -> Command {
    let mut c = Command::new(find("bird").unwrap_or_else(|| "bird".into()));
    c.arg("-f").arg("-c").arg(dir.join("bird.conf")).arg("-s").arg(dir.join("bird.ctl"));
    if recovery {
        c.arg("-R");
    }
    c
}

/// `birdc -s CTL COMMAND`: (exit code, stdout, stderr); an error when birdc cannot run.
pub fn birdc(ctl: &Path, command: &str) -> std::io::Result<(i32, String, String)> {
    let out = Command::new("birdc").arg("-s").arg(ctl).arg(command).stdin(std::process::Stdio::null()).output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// `Ok` once BIRD answers on its control socket `ctl` ("Daemon is up and running"), else what
/// birdc said.
pub fn up(ctl: &Path) -> std::result::Result<(), String> {
    match birdc(ctl, "show status") {
        Ok((0, out, _)) if out.contains("Daemon is up and running") => Ok(()),
        Ok((_, out, err)) => Err(format!("{out}{err}")),
        Err(e) => Err(format!("cannot run birdc: {e}")),
    }
}

/// The start of a configuration: router id, a log file with what to log (`all`, or
/// `{ info, warning, error, fatal }`), the device protocol with `device` inside.
pub fn header(router_id: &str, log: &Path, what: &str, device: &str) -> String {
    format!("router id {router_id};\nlog \"{}\" {what};\nprotocol device {{{device}}}\n", log.display())
}

/// `protocol static NAME` of `channel` ("ipv4" or "ipv6") with blackhole routes.
pub fn static_routes(name: &str, channel: &str, routes: &[&str]) -> String {
    let routes: String = routes.iter().map(|r| format!(" route {r} blackhole;")).collect();
    format!("protocol static {name} {{ {channel};{routes} }}\n")
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

/// How [`Bird::start`] starts BIRD.
pub struct BirdStart<'a> {
    /// The process's name in messages, and its output file `DIR/NAME.out`.
    pub name: &'a str,
    pub router_id: &'a str,
    /// Inside `protocol device { }`.
    pub device: &'a str,
    /// `-R`: graceful-restart recovery.
    pub recovery: bool,
    /// Run inside this namespace (birdc still reaches it through its socket).
    pub netns: Option<&'a Namespace>,
}

/// A BIRD 2 instance in its own directory, in the foreground (`-f`), ended by pid; its BGP
/// session with keel is `protocol bgp keel`. The methods fail the calling test.
pub struct Bird {
    pub proc: Process,
    pub dir: PathBuf,
    pub ctl: PathBuf,
    pub log: PathBuf,
}

impl Bird {
    /// Writes `DIR/bird.conf` ([`header`], logging everything to `DIR/bird.log`, then `body`),
    /// starts BIRD and waits for its control socket; fails the test otherwise.
    pub fn start(dir: &Path, body: &str, how: &BirdStart) -> Bird {
        crate::process::require("birdc");
        Bird::try_start(dir, body, how).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// [`Bird::start`], returning an error instead of failing a test.
    pub fn try_start(dir: &Path, body: &str, how: &BirdStart) -> Result<Bird> {
        let log = dir.join("bird.log");
        let conf = header(how.router_id, &log, "all", how.device) + body;
        std::fs::write(dir.join("bird.conf"), conf).context("cannot write bird.conf")?;
        let spawn = Spawn {
            log: Some(dir.join(format!("{}.out", how.name))),
            extra_logs: vec![log.clone()],
            ..Spawn::default()
        };
        let proc = super::spawn(how.name, command(dir, how.recovery), dir, how.netns, &spawn)?;
        let b = Bird { proc, dir: dir.to_path_buf(), ctl: dir.join("bird.ctl"), log };
        super::wait_ready("BIRD's control socket", &b.proc, || up(&b.ctl))?;
        Ok(b)
    }

    /// Ends BIRD (SIGTERM, SIGKILL after a second) and reaps it.
    pub fn stop(&self) {
        self.proc.stop();
    }

    /// `birdc COMMAND`: (exit code, stdout, stderr).
    pub fn birdc_raw(&self, command: &str) -> (i32, String, String) {
        birdc(&self.ctl, command).unwrap_or_else(|e| panic!("cannot run birdc: {e}"))
    }

    /// `birdc COMMAND`, failing the test unless it succeeds; its output.
    pub fn birdc(&self, command: &str) -> String {
        let (code, out, err) = self.birdc_raw(command);
        assert_eq!(code, 0, "birdc {command}: {out}{err}");
        out
    }

    /// `show protocols all keel`.
    pub fn protocol(&self) -> String {
        self.birdc("show protocols all keel")
    }

    /// The route changes BIRD received over its sessions: "Import updates" and "Import
    /// withdraws" (`show protocols all`), received column, summed over the channels.
    pub fn imports(&self) -> (u64, u64) {
        let text = self.protocol();
        let sum = |what: &str| -> u64 {
            text.lines()
                .filter_map(|l| l.trim().strip_prefix(what))
                .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
                .sum()
        };
        (sum("Import updates:"), sum("Import withdraws:"))
    }

    /// BIRD's protocol line for keel and the time of its last state change, to tell later
    /// whether the session was reset: see [`SessionMark::same_session_as`].
    pub fn session_mark(&self) -> SessionMark {
        let line = self.birdc("show protocols keel").lines().find(|l| l.starts_with("keel")).unwrap_or("").to_string();
        let since_ms = line.split_whitespace().nth(4).and_then(|t| {
            let (hms, ms) = t.split_once('.')?;
            let mut parts = hms.split(':').map(|p| p.parse::<i64>().ok());
            let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
            Some(((h * 60 + m) * 60 + s) * 1000 + ms.parse::<i64>().ok()?)
        });
        SessionMark { line, since_ms }
    }

    /// Whether the session with keel is Established.
    pub fn established(&self) -> bool {
        self.birdc("show protocols keel").contains("Established")
    }

    /// Waits until the session with keel is Established; `show protocols all keel`.
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

    /// The IPv4 prefixes BIRD holds from keel.
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
        lines.by_ref().take_while(|l| indent(l) > 4).map(|l| l.trim().to_string()).collect()
    }
}

/// BIRD's `show protocols keel` line ("keel BGP --- up HH:MM:SS.mmm Established") and its
/// last state change in milliseconds of the day.
#[derive(Debug, Clone)]
pub struct SessionMark {
    pub line: String,
    pub since_ms: Option<i64>,
}

impl SessionMark {
    /// Whether this mark, taken later, shows the same Established session as `then`. BIRD
    /// prints the state-change time converted from its monotonic clock anew at each call, so
    /// it may move by a millisecond with no state change; a reset moves it by the seconds
    /// between the session's start and the reset.
    pub fn same_session_as(&self, then: &SessionMark) -> bool {
        self.line.contains("Established")
            && matches!((self.since_ms, then.since_ms), (Some(a), Some(b)) if (a - b).abs() <= 20)
    }
}
