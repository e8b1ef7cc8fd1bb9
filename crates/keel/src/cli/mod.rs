//! The `keel` command line: one subcommand per tool.
//!
//! `keel decode` turns BGP messages given as hex into one JSON object per message (see
//! [`decode`] for the exact output shape).

pub mod decode;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "keel", version, about = "keel: tools around the keel BGP-4 daemon")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decode BGP messages given as hex; print one JSON object per message.
    Decode(decode::DecodeArgs),
}

/// Parses the process arguments and runs the subcommand.
pub fn main() -> ExitCode {
    run(Cli::parse())
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Decode(args) => decode::run(&args),
    }
}
