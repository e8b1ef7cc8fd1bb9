//! The `keel-bfdd` command line (the binary is built in the keel package, beside keeld, as
//! `src/bin/keel-bfdd.rs`, so that keel's tests and package find it next to keeld).

use crate::server::{run, Options};
use std::path::PathBuf;
use std::time::Duration;

const USAGE: &str = "usage: keel-bfdd [--socket PATH] [--c-bit auto|on|off] [--orphan-time SECONDS] [--exit-when-idle]";

/// keel-bfdd's `main`.
pub fn main() -> std::process::ExitCode {
    tracing_subscriber_init();
    let mut options = Options {
        socket: PathBuf::from("/run/keel/bfdd.sock"),
        control_plane_independent: crate::independence::of_this_process(),
        orphan_time: Duration::from_secs(300),
        exit_when_idle: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        let result: Result<(), String> = match a.as_str() {
            "--socket" => value().map(|v| options.socket = v.into()),
            "--c-bit" => value().and_then(|v| {
                options.control_plane_independent = match v.as_str() {
                    "auto" => options.control_plane_independent,
                    "on" => true,
                    "off" => false,
                    _ => return Err(format!("--c-bit {v}: auto, on or off")),
                };
                Ok(())
            }),
            "--orphan-time" => value().and_then(|v| {
                v.parse()
                    .map(|s| options.orphan_time = Duration::from_secs(s))
                    .map_err(|e| format!("--orphan-time: {e}"))
            }),
            "--exit-when-idle" => {
                options.exit_when_idle = true;
                Ok(())
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return std::process::ExitCode::SUCCESS;
            }
            _ => Err(format!("unknown argument {a}")),
        };
        if let Err(e) = result {
            eprintln!("keel-bfdd: {e}\n{USAGE}");
            return std::process::ExitCode::from(2);
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keel-bfdd: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keel-bfdd: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn tracing_subscriber_init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
