//! GoBGP: gobgpd started on a configuration file with its gRPC API on ADDRESS:50051 (never its
//! pprof listener on 127.0.0.1:6060, which two gobgpds would share), driven with the `gobgp`
//! CLI, for the tests, the lab and the benchmark.
//!
//! GoBGP quirks: it refuses 127/8 next hops, advertises the N bit only with
//! `notification-enabled`, sets R/F only when started with `-r`, and sits in Idle for seconds
//! after a session loss.

use super::DEADLINE;
use crate::netns::Namespace;
use crate::process::{find, Process, Spawn};
use crate::wait::wait_for;
use anyhow::{Context, Result};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// `gobgpd -f CONFIG --api-hosts API_HOST:50051 --pprof-disable`, with `-r` (graceful restart:
/// R and F set) when `restarting`.
pub fn command(config: &Path, api_host: &str, restarting: bool) -> Command {
    let mut c = Command::new(find("gobgpd").unwrap_or_else(|| "gobgpd".into()));
    c.arg("-f").arg(config).args(["--api-hosts", &format!("{api_host}:50051")]).arg("--pprof-disable");
    if restarting {
        c.arg("-r");
    }
    c
}

/// `gobgp -u API_HOST ARGS`, inside `netns` when given (the CLI speaks gRPC over TCP).
pub fn cli_command(api_host: &str, netns: Option<&str>, args: &[&str]) -> Command {
    let gobgp = find("gobgp").unwrap_or_else(|| "gobgp".into());
    let mut c = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(gobgp);
            c
        }
        None => Command::new(gobgp),
    };
    c.args(["-u", api_host]).args(args);
    c
}

/// `Ok` once gobgpd's API on `api_host` answers (`gobgp global`), else what the CLI said.
pub fn api_up(api_host: &str, netns: Option<&str>) -> std::result::Result<(), String> {
    let out = cli_command(api_host, netns, &["global"]).stdin(std::process::Stdio::null()).output();
    match out {
        Ok(o) if o.status.success() && String::from_utf8_lossy(&o.stdout).contains("AS") => Ok(()),
        Ok(o) => Err(format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))),
        Err(e) => Err(format!("cannot run gobgp: {e}")),
    }
}

/// `[global.config]`: gobgpd's AS, router id, port and the addresses it listens on.
pub fn global(asn: u32, router_id: &str, port: u16, local: &str) -> String {
    format!(
        "[global.config]\n  as = {asn}\n  router-id = \"{router_id}\"\n  port = {port}\n  local-address-list = [\"{local}\"]\n"
    )
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
            r#"{global}[[neighbors]]
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
            global = global(
                self.asn,
                &format!("192.0.2.{}", self.local.rsplit('.').next().unwrap_or(self.local)),
                179,
                self.local
            ),
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

/// gobgpd in its own directory, ended by pid; the methods fail the calling test.
pub struct GoBgp {
    pub proc: Process,
    pub api_host: String,
    netns: Option<String>,
}

impl GoBgp {
    /// Writes `config` as `DIR/gobgp.toml`, starts gobgpd (process `name`, output in
    /// `DIR/NAME.out`) with its API on `api_host`, in `netns` if given, and waits for the API;
    /// fails the test otherwise.
    pub fn start(
        dir: &Path,
        name: &str,
        api_host: &str,
        config: &str,
        restarting: bool,
        netns: Option<&Namespace>,
    ) -> GoBgp {
        crate::process::require("gobgp");
        GoBgp::try_start(dir, name, api_host, config, restarting, netns).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// [`GoBgp::start`], returning an error instead of failing a test.
    pub fn try_start(
        dir: &Path,
        name: &str,
        api_host: &str,
        config: &str,
        restarting: bool,
        netns: Option<&Namespace>,
    ) -> Result<GoBgp> {
        let conf = dir.join("gobgp.toml");
        std::fs::write(&conf, config).with_context(|| format!("cannot write {}", conf.display()))?;
        let spawn = Spawn { log: Some(dir.join(format!("{name}.out"))), ..Spawn::default() };
        let proc = super::spawn(name, command(&conf, api_host, restarting), dir, netns, &spawn)?;
        let g = GoBgp { proc, api_host: api_host.to_string(), netns: netns.map(|n| n.name().to_string()) };
        super::wait_ready("GoBGP's API", &g.proc, || api_up(&g.api_host, g.netns.as_deref()))?;
        Ok(g)
    }

    /// Ends gobgpd (SIGTERM, SIGKILL after a second) and reaps it.
    pub fn stop(&self) {
        self.proc.stop();
    }

    /// `gobgp ARGS` against this gobgpd: (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        crate::process::run(&mut cli_command(&self.api_host, self.netns.as_deref(), args))
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

    /// The IPv4 prefixes GoBGP holds with a path from `neighbor`.
    pub fn prefixes_from(&self, neighbor: &str) -> std::collections::BTreeSet<String> {
        let v = self.json(&["global", "rib", "-a", "ipv4", "-j"]);
        v.as_object()
            .into_iter()
            .flatten()
            .filter(|(_, paths)| paths.as_array().is_some_and(|p| p.iter().any(|p| p["neighbor-ip"] == neighbor)))
            .map(|(p, _)| p.clone())
            .collect()
    }
}

/// The attribute of type `t` in a GoBGP path (`Null` when absent).
pub fn attribute(path: &Value, t: u64) -> Value {
    path["attrs"].as_array().into_iter().flatten().find(|a| a["type"] == t).cloned().unwrap_or_default()
}

/// A community as the 32-bit number GoBGP's JSON shows.
pub fn community_number(c: &str) -> u64 {
    let (hi, lo) = c.split_once(':').expect("ASN:VALUE");
    (hi.parse::<u64>().expect("ASN") << 16) | lo.parse::<u64>().expect("VALUE")
}
