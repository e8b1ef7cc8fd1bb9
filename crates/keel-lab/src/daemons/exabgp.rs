//! ExaBGP: a scriptable speaker, good for exact messages and crashes (a kill -9 is a clean
//! unexpected TCP loss). Started with its settings in the environment (bind address, port,
//! log), optionally with an API process that appends what it receives, as JSON, to a file.
//!
//! ExaBGP quirks: F=1 for every family in its GR capability, End-of-RIB after its static
//! routes unless `manual-eor true;`, R=1 after any session loss.

use super::DEADLINE;
use crate::process::{find, Process, Spawn};
use crate::wait::wait_for;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// `exabgp CONFIG` bound to `local`:179, logging to `log`.
pub fn command(config: &Path, local: &str, log: &Path) -> Command {
    let mut cmd = Command::new(find("exabgp").unwrap_or_else(|| "exabgp".into()));
    cmd.arg(config)
        .env("exabgp.daemon.user", "root")
        .env("exabgp.tcp.bind", local)
        .env("exabgp.tcp.port", "179")
        .env("exabgp.log.destination", log)
        .env("exabgp.log.level", "INFO")
        .env("exabgp.api.cli", "false");
    cmd
}

/// ExaBGP in its own directory, ended by pid; the methods fail the calling test.
pub struct ExaBgp {
    pub proc: Process,
    /// One JSON object per line: what ExaBGP received and its state changes (written only
    /// when it was started with [`ExaPeer::api`]).
    pub api_log: PathBuf,
}

impl ExaBgp {
    /// Starts ExaBGP (process `name`, files `dir/NAME.*`) peering with keel.
    pub fn start(dir: &Path, name: &str, p: &ExaPeer) -> ExaBgp {
        crate::process::require("exabgp");
        let api_log = dir.join(format!("{name}.api.jsonl"));
        let (process, api) = if p.api {
            // ExaBGP reads commands from the process's stdout and counts EOF there as a death
            // (five deaths stop ExaBGP): keep the pipe open as fd 3 while stdout goes to the file.
            let sink = dir.join(format!("{name}.sink.sh"));
            write(&sink, &format!("#!/bin/sh\nexec cat 3>&1 >>{}\n", api_log.display()));
            std::fs::set_permissions(&sink, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap_or_else(|e| panic!("chmod {}: {e}", sink.display()));
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
            last = p.local.rsplit('.').next().unwrap_or(p.local),
            local = p.local,
            asn = p.asn,
            keel_asn = p.keel_asn,
            capability = p.capability,
            extra = p.extra,
        );
        let conf_path = dir.join(format!("{name}.conf"));
        write(&conf_path, &conf);
        let log = dir.join(format!("{name}.log"));
        let mut cmd = command(&conf_path, p.local, &log);
        cmd.current_dir(dir);
        let mut logs = vec![log];
        if p.api {
            logs.push(api_log.clone());
        }
        let spawn = Spawn { log: Some(dir.join(format!("{name}.out"))), extra_logs: logs, ..Spawn::default() };
        let proc = Process::spawn(name, cmd, &spawn).unwrap_or_else(|e| panic!("{e:#}"));
        ExaBgp { proc, api_log }
    }

    /// Everything ExaBGP reported to its API process so far.
    pub fn events(&self) -> Vec<Value> {
        let text = String::from_utf8_lossy(&std::fs::read(&self.api_log).unwrap_or_default()).into_owned();
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
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

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
