//! keeld, the keel BGP daemon. Runs in the foreground (systemd style, no self-daemonizing); its
//! options are [`keel::cli::keeld::KeeldArgs`].

use clap::Parser;
use keel::cli::keeld::KeeldArgs;
use keel_config::{Config, DEFAULT_NAME};
use std::process::ExitCode;

/// One socket per neighbor: raise the open-file limit to the hard limit.
fn raise_fd_limit() {
    let mut l = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid pointer to an rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) } == 0 && l.rlim_cur < l.rlim_max {
        l.rlim_cur = l.rlim_max;
        // SAFETY: as above; failure only leaves the old limit.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &l) };
    }
}

fn main() -> ExitCode {
    let mut args = KeeldArgs::parse();
    if let Some(Some(file)) = &args.check_config {
        match &args.config {
            Some(c) if c != file => {
                eprintln!(
                    "keeld: --config {} and --check-config {} name two files: give one",
                    c.display(),
                    file.display()
                );
                return ExitCode::FAILURE;
            }
            _ => args.config = Some(file.clone()),
        }
    }
    let (config, name) = match &args.config {
        Some(p) => (Config::load(p), p.display().to_string()),
        None => (Config::embedded_default().map(keel_config::fit::for_this_process), DEFAULT_NAME.to_string()),
    };
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("keeld: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.check_config.is_some() {
        println!("{name}: ok: {}", config.summary());
        return ExitCode::SUCCESS;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    if args.log_json {
        tracing_subscriber::fmt().json().with_writer(std::io::stderr).with_env_filter(filter).init();
    } else {
        tracing_subscriber::fmt().with_ansi(ansi).with_writer(std::io::stderr).with_env_filter(filter).init();
    }
    tracing::info!(config = %name, summary = %config.summary(), version = env!("CARGO_PKG_VERSION"), "keeld starting");
    // Before anything is opened: the inherited descriptors are the handoff's.
    let handoff = args.handoff_fd.and_then(|fd| match keel::daemon::handoff::take(fd) {
        Ok(h) => Some(h),
        Err(why) => {
            tracing::warn!(reason = %why, "upgrade handoff not resumed: starting as a graceful restart");
            None
        }
    });
    raise_fd_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keeld: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(keel::startup::run(config, args.config.clone(), handoff)) {
        Ok(Some(exec)) => {
            // Dropping the runtime ends its tasks; the handed-over sockets stay open (their
            // descriptors were taken out of tokio) and survive exec.
            drop(runtime);
            // `keel restart` and `keel upgrade`: the same pid runs the chosen binary (systemd
            // keeps tracking it); `keel::daemon::upgrade` picked and checked it.
            let exe = exec.binary;
            let mut command = std::process::Command::new(&exe);
            // A handoff's descriptor was this image's alone: the next one gets none.
            let mut args = std::env::args_os().skip(1);
            while let Some(a) = args.next() {
                match a.to_str() {
                    Some("--handoff-fd") => {
                        args.next();
                    }
                    Some(s) if s.starts_with("--handoff-fd=") => {}
                    _ => {
                        command.arg(a);
                    }
                }
            }
            if let Some(fd) = exec.handoff_fd {
                command.arg("--handoff-fd").arg(fd.to_string());
            }
            let err = std::os::unix::process::CommandExt::exec(&mut command);
            eprintln!("keeld: cannot execute {} again: {err}", exe.display());
            ExitCode::FAILURE
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keeld: {e}");
            ExitCode::FAILURE
        }
    }
}
