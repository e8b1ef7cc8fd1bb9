//! keeld, the keel BGP daemon. Runs in the foreground (systemd style).

use clap::Parser;
use keel::config::{Config, DEFAULT_NAME};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "keeld", version, about = "keel BGP daemon: restarts invisible to the network")]
struct Args {
    /// Configuration file (TOML). Without it, the embedded default (loopback only, no neighbors).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Validate the configuration, print a one-line summary and exit (1 when invalid).
    #[arg(long)]
    check_config: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (config, name) = match &args.config {
        Some(p) => (Config::load(p), p.display().to_string()),
        None => (Config::embedded_default(), DEFAULT_NAME.to_string()),
    };
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("keeld: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.check_config {
        println!("{name}: ok: {}", config.summary());
        return ExitCode::SUCCESS;
    }
    eprintln!("keeld: {name}: {}", config.summary());
    eprintln!("keeld: BGP sessions are not implemented yet in this build; only --check-config works");
    ExitCode::from(2)
}
