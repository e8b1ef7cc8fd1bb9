//! pmacct's BMP collector, `pmbmpd` (Debian `pmacct`, 1.7.7): a BMP station writing one JSON
//! object per BMP message (`bmp_msg_type`: `init`, `peer_up`, `route_monitor`, `peer_down`,
//! `stats`, `term`; a route's `log_type` is `update` or `withdraw`; its view in `is_in`/`is_out`,
//! `is_post`, `is_loc`; `peer_type` 3 for the Loc-RIB instance).

use super::DEADLINE;
use crate::process::{find, Process, Spawn};
use crate::wait::wait_for;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// pmbmpd's configuration: listening on `address`:`port`, the message log as JSON in `log`.
pub fn config(address: &str, port: u16, log: &Path) -> String {
    format!(
        "bmp_daemon_ip: {address}\nbmp_daemon_port: {port}\nbmp_daemon_msglog_file: {}\n\
         bmp_daemon_msglog_output: json\n",
        log.display()
    )
}

/// pmbmpd in its own directory (`DIR/pmbmpd.conf`, messages in `DIR/bmp.json`), ended by pid.
pub struct Pmbmpd {
    pub proc: Process,
    pub messages: PathBuf,
}

impl Pmbmpd {
    /// Starts pmbmpd on `address`:`port` and waits until it listens; fails the calling test.
    pub fn start(dir: &Path, address: &str, port: u16) -> Pmbmpd {
        let bin = crate::process::require("pmbmpd");
        let messages = dir.join("bmp.json");
        let conf = dir.join("pmbmpd.conf");
        let log = dir.join("pmbmpd.log");
        let text = config(address, port, &messages) + &format!("logfile: {}\n", log.display());
        std::fs::write(&conf, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", conf.display()));
        let mut cmd = Command::new(find("pmbmpd").unwrap_or(bin));
        cmd.arg("-f").arg(&conf).current_dir(dir);
        let spawn = Spawn { log: Some(dir.join("pmbmpd.out")), extra_logs: vec![log.clone()], ..Spawn::default() };
        let proc = Process::spawn("pmbmpd", cmd, &spawn).unwrap_or_else(|e| panic!("{e:#}"));
        let listening = format!("waiting for BMP data on {address}:{port}");
        wait_for("pmbmpd to listen", DEADLINE, || {
            proc.assert_running();
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains(&listening) {
                Ok(())
            } else {
                Err(text)
            }
        });
        Pmbmpd { proc, messages }
    }

    /// Every message logged so far (a line cut short by a write in progress is left out).
    pub fn messages(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.messages).unwrap_or_default();
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    pub fn stop(&self) {
        self.proc.stop();
    }
}
