//! The `keel` command line: one subcommand per tool.
//!
//! `keel lab` runs the restart rehearsal ([`keel_lab::lab`]). `keel decode` turns BGP messages given as hex into one JSON object per message (see
//! [`decode`] for the exact output shape). `keel show`, `clear`, `reload` and `stop` talk to a
//! running keeld through its API socket (`--api`, else `$KEEL_API`, else the default path).
//! `keel check` audits graceful-restart readiness (see [`check`]).

pub mod check;
pub mod decode;
pub mod show;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "keel", version, about = "keel: tools around the keel BGP-4 daemon")]
pub struct Cli {
    /// keeld's API socket (else $KEEL_API, else /run/keel/keel.sock).
    #[arg(long, global = true)]
    pub api: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decode BGP messages given as hex; print one JSON object per message.
    Decode(decode::DecodeArgs),
    /// Graceful-restart readiness audit: PASS/WARN/FAIL per finding with its fix, from the
    /// configuration (--config, else the embedded default) and/or the running keeld (--live).
    /// Exit status 1 when anything FAILs, 2 when the audit could not run.
    Check(check::CheckArgs),
    /// Restart rehearsal on this machine: keeld between a generated upstream and an observer,
    /// restarted, crashed and disturbed with and without graceful restart; prints what moved and
    /// the verdict (exit status 1 when a run is not as its scenario expects).
    Lab(keel_lab::lab::LabArgs),
    /// Benchmark keeld against BIRD, FRR, GoBGP and OpenBGPD (converge, churn, helper, restart).
    Bench(keel_lab::bench::BenchArgs),
    /// Show neighbors and routes of a running keeld.
    #[command(subcommand)]
    Show(show::Show),
    /// Reset a session: Cease/Administrative Reset (graceful when the N bit was exchanged),
    /// `--hard` a Hard Reset, `--soft` only a route refresh.
    Clear {
        #[command(subcommand)]
        what: ClearWhat,
    },
    /// Re-read the configuration file; unchanged sessions stay up.
    Reload {
        /// Print the API's JSON answer (with the summary of what changed).
        #[arg(long)]
        json: bool,
    },
    /// Restart keeld gracefully, running the keeld binary now on disk (the upgrade path):
    /// neighbors keep keel's routes, kernel routes stay, keeld comes back with R=1.
    Restart {
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// What a routing policy does to one route: verdict, matched terms, resulting attributes
    /// (exit status 1 when rejected).
    TestPolicy(show::TestPolicyArgs),
    /// Stop keeld. Without --withdraw, neighbors that support graceful restart keep keel's
    /// routes; with it, sessions end with Cease/Administrative Shutdown.
    Stop {
        /// End every session with Cease/Administrative Shutdown (a Hard Reset where the N bit was
        /// exchanged): neighbors drop keel's routes at once instead of keeping them.
        #[arg(long)]
        withdraw: bool,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClearWhat {
    /// Reset the session with one neighbor.
    Neighbor {
        /// The neighbor's address.
        address: String,
        /// Only ask the neighbor to send its routes again (route refresh); the session stays.
        #[arg(long, conflicts_with = "hard")]
        soft: bool,
        /// Cease/Hard Reset (RFC 8538): the neighbor flushes keel's routes, keel flushes its.
        #[arg(long)]
        hard: bool,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
}

/// Parses the process arguments and runs the subcommand.
pub fn main() -> ExitCode {
    run(Cli::parse())
}

pub fn run(cli: Cli) -> ExitCode {
    let api = keel_api::api_path(cli.api.as_deref());
    let result = match cli.command {
        Command::Decode(args) => return decode::run(&args),
        Command::TestPolicy(args) => {
            return match show::test_policy(&api, args) {
                Ok(show::ExitCodeValue::Accepted) => ExitCode::SUCCESS,
                Ok(show::ExitCodeValue::Rejected) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("keel: {e:#}");
                    ExitCode::from(2)
                }
            };
        }
        Command::Check(args) => return check::run(&api, &args),
        Command::Lab(args) => return keel_lab::lab::run(&args),
        Command::Bench(args) => return keel_lab::bench::run(&args),
        Command::Show(what) => show::show(&api, what),
        Command::Clear { what: ClearWhat::Neighbor { address, soft, hard, json } } => show::post(
            &api,
            &format!("/v1/neighbors/{address}/clear?soft={soft}&hard={hard}"),
            json,
            &format!("neighbor {address} cleared"),
        ),
        Command::Reload { json } => show::post(&api, "/v1/reload", json, "reloaded"),
        Command::Restart { json } => show::post(&api, "/v1/restart", json, "keeld restarting"),
        Command::Stop { withdraw, json } => {
            show::post(&api, &format!("/v1/stop?withdraw={withdraw}"), json, "keeld stopping")
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keel: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every subcommand and every option of `keel` says what it does in `--help`.
    #[test]
    fn every_option_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() == "help" {
                    continue;
                }
                let p = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_long_about().is_none() {
                    missing.push(p.clone());
                }
                walk(sub, &p, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "keel", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:#?}");
    }
}
