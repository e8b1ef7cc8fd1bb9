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
        /run/keel/keel.sock by default).",
    after_long_help = "Files and defaults:\n  \
        /etc/keel/keel.toml     the packaged configuration (every key: docs/configuration.md)\n  \
        /run/keel/keel.sock     the API socket ([global] api)\n  \
        /var/lib/keel           state: keeld.lock (one keeld per directory), keeld.state ([global] state_dir;\n                          \
        the embedded default uses /var/lib/keel/default)\n\n\
        Without CAP_NET_BIND_SERVICE the embedded default listens on 127.0.0.1:1179 instead of port 179, and\n\
        where it may not write /run/keel and /var/lib/keel it keeps socket and state in keel-UID under the\n\
        temporary directory, where `keel` finds it without --api.\n\n\
        Environment:\n  \
        KEEL_LOG    log filter (tracing syntax): info by default; debug, or keel::neighbor=debug\n\n\
        Exit status: 0 after a clean stop, 1 on a configuration error, a bind error or another keeld on the\n\
        same state_dir."
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
    /// Internal (`keel upgrade`, docs/upgrade.md): the descriptor of the state the previous
    /// keeld image handed over. Unreadable, or not resumable yet: keeld starts as a graceful
    /// restart and logs why.
    #[arg(long, value_name = "FD", hide = true)]
    pub handoff_fd: Option<i32>,
}
