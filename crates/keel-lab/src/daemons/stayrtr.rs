//! StayRTR, an RPKI-to-Router cache (RFC 8210) serving VRPs from a JSON file it re-reads every
//! second: `{"roas":[{"prefix":"198.51.100.0/24","maxLength":24,"asn":"AS65005","ta":"test"}]}`.

use super::DEADLINE;
use crate::process::{find, Process, Spawn};
use crate::wait::wait_for;
use std::path::Path;
use std::process::Command;

/// `stayrtr -cache VRPS -bind ADDRESS:PORT` (no time check, no metrics listener), re-reading
/// the file every `refresh` seconds.
pub fn command(vrps: &Path, bind: &str, refresh: u32) -> Command {
    let mut cmd = Command::new(find("stayrtr").unwrap_or_else(|| "stayrtr".into()));
    cmd.arg("-cache").arg(vrps).args(["-bind", bind, "-checktime=false", "-metrics.addr", "", "-refresh"]);
    cmd.arg(refresh.to_string());
    cmd
}

/// Writes the VRP file: (prefix, maxLength, origin AS). Renamed into place, so StayRTR never
/// reads half a file.
pub fn write_vrps(path: &Path, vrps: &[(&str, u8, u32)]) {
    let roas: Vec<serde_json::Value> = vrps
        .iter()
        .map(|(p, m, asn)| serde_json::json!({"prefix": p, "maxLength": m, "asn": format!("AS{asn}"), "ta": "test"}))
        .collect();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::json!({ "roas": roas }).to_string())
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", tmp.display()));
    std::fs::rename(&tmp, path).unwrap_or_else(|e| panic!("cannot rename {}: {e}", tmp.display()));
}

/// StayRTR (process `name`, output in `DIR/NAME.out`) serving `vrps` on `bind`, re-reading it
/// every second, once it says it serves; ended by pid. Fails the calling test.
pub fn start(dir: &Path, name: &str, vrps: &Path, bind: &str) -> Process {
    crate::process::require("stayrtr");
    let mut cmd = command(vrps, bind, 1);
    cmd.current_dir(dir);
    let out = dir.join(format!("{name}.out"));
    let p = Process::spawn(name, cmd, &Spawn { log: Some(out.clone()), ..Spawn::default() })
        .unwrap_or_else(|e| panic!("{e:#}"));
    wait_for("StayRTR to serve", DEADLINE, || {
        p.assert_running();
        let text = String::from_utf8_lossy(&std::fs::read(&out).unwrap_or_default()).into_owned();
        if text.contains("StayRTR Server started") {
            Ok(())
        } else {
            Err(text)
        }
    });
    p
}
