//! keeld's command line, defined here rather than in `bin/keeld.rs` so that `keel manpages`
//! and `keel completions` read the same definition the daemon parses (keeld(8) and its shell
//! completions are generated from it, never written by hand).

use clap::Parser;
use std::path::PathBuf;

/// keeld's options.
#[derive(Debug, Parser)]
#[command(
    name = "keeld",
    version,
    about = "keel BGP daemon: restarts invisible to the network",
    long_about = "keel BGP daemon: restarts invisible to the network.\n\n\
        keeld runs in the foreground (systemd style, no self-daemonizing) and logs to stderr \
        (KEEL_LOG=debug for more). SIGHUP re-reads the configuration, keeping the sessions \
        whose settings did not change. SIGTERM stops it; in graceful-restart mode \
        \"restart\" (the default) its kernel routes stay and neighbors keep its routes until \
        it is back (RFC 4724). `keel` talks to it through the API socket ([global] api, \
        /run/keel/keel.sock by default)."
)]
pub struct KeeldArgs {
    /// Configuration file (TOML). Without it, the embedded default (loopback only, no neighbors).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Validate the configuration (FILE, else --config, else the embedded default), print a
    /// one-line summary and exit (1 when invalid).
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub check_config: Option<Option<PathBuf>>,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    pub log_json: bool,
}
