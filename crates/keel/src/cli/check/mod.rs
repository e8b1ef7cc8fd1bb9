//! `keel check`: a graceful-restart readiness audit. Each finding is PASS, WARN or FAIL with a
//! stable id, a one-line reason and the fix; `keel check` exits 1 when anything FAILs (2 when
//! it cannot audit at all).
//!
//! Two sources. `--config FILE` (else the embedded default keeld would run on) is read alone,
//! with this keeld's last measured restart from `state_dir/keeld.state`: [`audit_config`]
//! (`config.rs`). `--live` asks the running keeld (`/v1/neighbors`, `/v1/status`, read as the
//! `keel-api` types, where the API's JSON contract lives) what each session negotiated and
//! gives each neighbor a one-word [`Verdict`]: would it keep keel's routes if keel restarted
//! now: [`audit_live`] (`live.rs`), and whether `keel upgrade` would go ahead now
//! (`upgrade.rs`). Both are pure functions, so the tests are tables; a
//! finding, and findings as text, are in `finding.rs`.
//!
//! JSON (`--json`): `{"config": NAME|null, "api": PATH|null, "findings": [{"id", "level",
//! "neighbor"?, "verdict"?, "reason", "fix"}], "summary": {"pass", "warn", "fail"}}`; `fix` is
//! empty for PASS.

mod bfd;
mod config;
mod finding;
mod live;
mod upgrade;

pub use config::{audit_config, last_restart, LastRestart};
pub use finding::{render, summary, Finding, Level, Verdict};
pub use live::audit_live;

use anyhow::{Context, Result};
use clap::Args;
use keel_api::{NeighborView, StatusView};
use keel_config::{Config, DEFAULT_NAME};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Configuration file to audit (else the embedded default keeld uses without --config).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Audit the running keeld through its API (--api): what each session negotiated.
    #[arg(long)]
    pub live: bool,
    /// Print JSON instead of one line per finding.
    #[arg(long)]
    pub json: bool,
    // Where the running keeld is (with --live).
    #[command(flatten)]
    pub api: crate::cli::show::ApiArgs,
}

/// Runs `keel check`: exit 0 without FAIL, 1 with one, 2 when it could not audit.
pub fn run(api: &Path, args: &CheckArgs) -> ExitCode {
    match audit(api, args) {
        Ok((findings, report)) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            } else {
                print!("{}", render(&findings));
            }
            if findings.iter().any(|f| f.level == Level::Fail) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("keel check: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn audit(api: &Path, args: &CheckArgs) -> Result<(Vec<Finding>, Value)> {
    let mut findings = Vec::new();
    // `--live` alone audits only the daemon; otherwise the file, or the embedded default.
    let config_name = if args.config.is_some() || !args.live {
        let (config, name) = match &args.config {
            Some(p) => (Config::load(p)?, p.display().to_string()),
            None => (Config::embedded_default().map(keel_config::fit::for_this_process)?, DEFAULT_NAME.to_string()),
        };
        if !args.json {
            let note = if args.config.is_none() { " (no --config: what keeld runs on without one)" } else { "" };
            println!("configuration {name}{note}");
        }
        findings.extend(audit_config(&config, &last_restart(&config)));
        bfd::bfd_checks(&mut findings, &config);
        Some(name)
    } else {
        None
    };
    if args.live {
        let neighbors: Vec<NeighborView> = keel_api::get(api, "/v1/neighbors").context("--live")?;
        let status: StatusView = keel_api::get(api, "/v1/status").context("--live")?;
        if !args.json {
            println!("running keeld at {} (pid {})", api.display(), status.pid);
        }
        findings.extend(audit_live(&neighbors, &status));
        upgrade::upgrade_checks(&mut findings, &neighbors);
    }
    let report = json!({
        "config": config_name,
        "api": args.live.then(|| api.display().to_string()),
        "findings": findings,
        "summary": summary(&findings),
    });
    Ok((findings, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let c =
            Config::parse("[global]\nasn = 65001\nrouter_id = \"192.0.2.1\"\nstate_dir = \"/nonexistent\"\n", "t.toml")
                .unwrap_or_else(|e| panic!("{e}"));
        let f = audit_config(&c, &LastRestart::NotYet);
        let v = serde_json::to_value(&f[0]).unwrap();
        assert_eq!(v["id"], "gr-disabled");
        assert_eq!(v["level"], "PASS");
        assert!(v.get("neighbor").is_none() && v["fix"] == "");
        let s = summary(&f);
        let total = f.len() as u64;
        assert_eq!(s["pass"].as_u64().unwrap() + s["warn"].as_u64().unwrap() + s["fail"].as_u64().unwrap(), total);
    }
}
