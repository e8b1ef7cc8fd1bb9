//! The `keel` command line: one subcommand per tool.
//!
//! `keel lab` runs the restart rehearsal ([`keel_lab::lab`]). `keel decode` turns BGP messages given as hex into one JSON object per message (see
//! [`decode`] for the exact output shape). `keel show`, `clear`, `reload`, `restart`,
//! `test-policy`, `graceful-shutdown` and `stop` talk to a running keeld through its API socket (`--api`, else
//! `$KEEL_API`, else the default path). `keel check` audits graceful-restart readiness (see
//! [`check`]), of the running keeld with `--live`. `keel completions` prints a shell completion script
//! and the hidden `keel manpages` writes the man pages, both from the clap definitions of keel
//! and of keeld ([`keeld`]); see [`generate`].
//!
//! `--api` belongs to those commands alone ([`show::ApiArgs`], flattened into each), so `keel
//! lab --help` does not offer it. Scripts have long written it before the command (`keel --api
//! S show neighbors`): [`Cli::api`] still takes it there, hidden, and refuses it before a
//! command that does not talk to keeld.

pub mod check;
pub mod decode;
pub mod generate;
pub mod keeld;
pub mod show;

use clap::{CommandFactory, Parser, Subcommand};
use show::ApiArgs;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "keel", version, about = "keel: tools around the keel BGP-4 daemon")]
pub struct Cli {
    /// keeld's API socket, before a command that talks to keeld (`keel --api S show
    /// neighbors`, as scripts have written it); each such command takes --api itself.
    #[arg(long, value_name = "SOCKET", hide = true)]
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
    /// Show neighbors, routes, policies and RPKI caches of a running keeld.
    Show(show::ShowArgs),
    /// Reset a session: Cease/Administrative Reset (graceful when the N bit was exchanged),
    /// `--hard` a Hard Reset, `--soft` only a route refresh.
    Clear {
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        what: ClearWhat,
    },
    /// Re-read the configuration file; unchanged sessions stay up.
    Reload {
        /// Print the API's JSON answer (with the summary of what changed).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Restart keeld gracefully, running the keeld binary now on disk (the upgrade path):
    /// neighbors keep keel's routes, kernel routes stay, keeld comes back with R=1.
    Restart {
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Replace the running keeld with a new binary, same pid (docs/upgrade.md). Refuses, exit
    /// status 1 and keeld untouched, when the binary is missing or not executable or when a
    /// session's negotiated hold time is too short for the handoff. The hitless handoff is not
    /// built yet: past the checks this is a graceful restart into the new binary.
    Upgrade {
        /// The new keeld binary; default: the keeld binary now on disk at keeld's own path.
        #[arg(long, value_name = "PATH")]
        binary: Option<std::path::PathBuf>,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
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
        /// Graceful shutdown first (RFC 8326): every neighbor gets keel's routes again tagged with
        /// GRACEFUL_SHUTDOWN (65535:0), then keeld waits SECONDS for traffic to move away and
        /// stops.
        #[arg(long, value_name = "SECONDS")]
        graceful_shutdown: Option<u64>,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Graceful shutdown (RFC 8326) of sessions: re-advertise every route to these neighbors
    /// (all when none is named) tagged with GRACEFUL_SHUTDOWN 65535:0, with LOCAL_PREF 0 towards
    /// internal ones, so that they move traffic away before the session goes. Lasts until
    /// `--off` or keeld stops (a reload keeps it, a restart does not).
    GracefulShutdown {
        /// Neighbor addresses; none: every neighbor.
        #[arg(value_name = "ADDR")]
        neighbors: Vec<std::net::IpAddr>,
        /// Undo it: routes are re-advertised without GRACEFUL_SHUTDOWN.
        #[arg(long)]
        off: bool,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Print a shell completion script for keel (or keeld), e.g.
    /// `keel completions bash > ~/.local/share/bash-completion/completions/keel`.
    Completions(generate::CompletionsArgs),
    /// Write the man pages keel(1), keel-SUBCOMMAND(1) and keeld(8) into a directory (for
    /// packaging: scripts/package-deb).
    #[command(hide = true)]
    Manpages(generate::ManpagesArgs),
}

impl Command {
    /// The name of a command that never talks to keeld (`--api` means nothing to it).
    fn offline_name(&self) -> Option<&'static str> {
        match self {
            Command::Decode(_) => Some("decode"),
            Command::Lab(_) => Some("lab"),
            Command::Bench(_) => Some("bench"),
            Command::Completions(_) => Some("completions"),
            Command::Manpages(_) => Some("manpages"),
            _ => None,
        }
    }
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
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Lab(_) | Command::Bench(_)) {
        // A pipe closed on the other side (`keel show routes | head`) ends keel quietly, as it
        // does any Unix filter, instead of a panic in println!. `keel lab` and `keel bench`
        // keep ignoring SIGPIPE: they write with keel_lab::say! and must end their processes.
        // SAFETY: signal(2) with SIG_DFL has no memory-safety preconditions.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    run(cli)
}

/// `keel upgrade`: the path as keeld must see it (absolute: keeld's working directory is not
/// ours), then `POST /v1/upgrade`.
fn upgrade(api: &std::path::Path, binary: Option<std::path::PathBuf>, json: bool) -> anyhow::Result<()> {
    let binary = match binary {
        Some(b) => Some(
            std::path::absolute(&b)
                .map_err(|e| anyhow::anyhow!("--binary {}: {e}", b.display()))?
                .display()
                .to_string(),
        ),
        None => None,
    };
    let path = format!("/v1/upgrade{}", show::query(&[("binary", binary)]));
    show::post(api, &path, json, "keeld upgrading")
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let before = cli.api;
    // The command's own --api, else the one before it, else $KEEL_API, else the default.
    let socket = |a: &ApiArgs| keel_api::api_path(a.api.as_deref().or(before.as_deref()));
    if before.is_some() {
        if let Some(name) = cli.command.offline_name() {
            let e = Cli::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                format!("--api is for the commands that talk to keeld; `keel {name}` does not"),
            );
            let _ = e.print();
            return ExitCode::from(2);
        }
    }
    let result = match cli.command {
        Command::Decode(args) => return decode::run(&args),
        Command::TestPolicy(args) => {
            let api = socket(&args.api);
            return match show::test_policy(&api, args) {
                Ok(show::ExitCodeValue::Accepted) => ExitCode::SUCCESS,
                Ok(show::ExitCodeValue::Rejected) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("keel: {e:#}");
                    ExitCode::from(2)
                }
            };
        }
        Command::Check(args) => return check::run(&socket(&args.api), &args),
        Command::Lab(args) => return keel_lab::lab::run(&args),
        Command::Bench(args) => return keel_lab::bench::run(&args),
        Command::Completions(args) => generate::run_completions(&args),
        Command::Manpages(args) => generate::run_manpages(&args),
        Command::Show(args) => show::show(&socket(&args.api), args.what),
        Command::Clear { api, what: ClearWhat::Neighbor { address, soft, hard, json } } => show::post(
            &socket(&api),
            &format!("/v1/neighbors/{address}/clear?soft={soft}&hard={hard}"),
            json,
            &format!("neighbor {address} cleared"),
        ),
        Command::Reload { json, api } => show::post(&socket(&api), "/v1/reload", json, "reloaded"),
        Command::Restart { json, api } => show::post(&socket(&api), "/v1/restart", json, "keeld restarting"),
        Command::Upgrade { binary, json, api } => upgrade(&socket(&api), binary, json),
        Command::Stop { withdraw, graceful_shutdown: None, json, api } => {
            show::post(&socket(&api), &format!("/v1/stop?withdraw={withdraw}"), json, "keeld stopping")
        }
        Command::Stop { withdraw, graceful_shutdown: Some(seconds), json, api } => show::post(
            &socket(&api),
            &format!("/v1/stop?withdraw={withdraw}&graceful_shutdown={seconds}"),
            json,
            "keeld stopping",
        ),
        Command::GracefulShutdown { neighbors, off, json, api } => {
            let list: Vec<String> = neighbors.iter().map(ToString::to_string).collect();
            show::post(
                &socket(&api),
                &format!("/v1/graceful-shutdown?neighbors={}&off={off}", list.join(",")),
                json,
                "graceful shutdown",
            )
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
    use super::{Cli, Command};
    use clap::{CommandFactory, Parser};

    /// Every subcommand and every option of `keel` and `keeld` says what it does in `--help`
    /// (and so in the man pages generated from them).
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
        walk(&super::keeld::KeeldArgs::command(), "keeld", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:#?}");
    }

    /// `keeld --help` names its files, its environment and the fallback without privileges.
    #[test]
    fn keeld_help_says_where_things_are() {
        let help = super::keeld::KeeldArgs::command().render_long_help().to_string();
        for needle in
            ["KEEL_LOG", "/run/keel/keel.sock", "/var/lib/keel/default", "1179", "keel-UID", "docs/configuration.md"]
        {
            assert!(help.contains(needle), "keeld --help does not mention {needle}:\n{help}");
        }
    }

    fn help(args: &[&str]) -> String {
        let mut cmd = Cli::command();
        // Propagates the global arguments into the subcommands, as parsing does.
        cmd.build();
        let mut c = &mut cmd;
        for a in args {
            c = c.find_subcommand_mut(a).unwrap_or_else(|| panic!("no subcommand {a}"));
        }
        c.render_long_help().to_string()
    }

    /// `--api` is offered by the commands that talk to keeld, and by them alone.
    #[test]
    fn api_only_where_keeld_is_asked() {
        for offline in [&["lab"][..], &["bench"], &["decode"]] {
            assert!(!help(offline).contains("--api"), "keel {offline:?}:\n{}", help(offline));
        }
        for online in [
            &["show"][..],
            &["show", "routes"],
            &["show", "rpki"],
            &["clear", "neighbor"],
            &["reload"],
            &["restart"],
            &["upgrade"],
            &["stop"],
            &["graceful-shutdown"],
            &["test-policy"],
            &["check"],
        ] {
            assert!(help(online).contains("--api <SOCKET>"), "keel {online:?}:\n{}", help(online));
        }
        assert!(!help(&[]).contains("--api"), "hidden before the command");
    }

    /// Where scripts put `--api`: before the command, after it, after the subcommand.
    #[test]
    fn api_is_read_in_every_position() {
        let socket = |args: &[&str]| -> Option<String> {
            let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            let own = match &cli.command {
                Command::Show(s) => s.api.api.clone(),
                Command::Stop { api, .. }
                | Command::Reload { api, .. }
                | Command::Clear { api, .. }
                | Command::GracefulShutdown { api, .. } => api.api.clone(),
                Command::Check(c) => c.api.api.clone(),
                _ => None,
            };
            own.or(cli.api).map(|p| p.display().to_string())
        };
        let s = Some("/s".to_string());
        assert_eq!(socket(&["keel", "--api", "/s", "show", "neighbors"]), s);
        assert_eq!(socket(&["keel", "show", "--api", "/s", "neighbors"]), s);
        assert_eq!(socket(&["keel", "show", "neighbors", "--api", "/s"]), s);
        assert_eq!(socket(&["keel", "show", "routes", "--prefix", "192.0.2.1", "--api", "/s"]), s);
        assert_eq!(socket(&["keel", "--api", "/s", "stop", "--withdraw"]), s);
        assert_eq!(socket(&["keel", "clear", "neighbor", "192.0.2.1", "--api", "/s"]), s);
        assert_eq!(socket(&["keel", "--api", "/s", "check", "--live"]), s);
        assert_eq!(socket(&["keel", "graceful-shutdown", "192.0.2.1", "--off", "--api", "/s"]), s);
        assert_eq!(socket(&["keel", "stop", "--graceful-shutdown", "30", "--api", "/s"]), s);
        assert_eq!(socket(&["keel", "reload"]), None);
        // Parsed before the command, refused by `run` for one that does not talk to keeld.
        let cli = Cli::try_parse_from(["keel", "--api", "/s", "decode", "00"]).expect("parses");
        assert_eq!(cli.command.offline_name(), Some("decode"));
        assert!(Cli::try_parse_from(["keel", "lab", "--api", "/s"]).is_err());
        // --exact needs --prefix.
        assert!(Cli::try_parse_from(["keel", "show", "routes", "--exact"]).is_err());
    }
}
