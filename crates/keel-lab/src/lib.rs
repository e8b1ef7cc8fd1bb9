//! keel-lab: everything that drives keeld from outside, as an operator or a test would.
//!
//! - [`lab`]: `keel lab`, the restart rehearsal (keeld between a generated upstream and an
//!   observer, restarted, crashed and disturbed, with and without graceful restart).
//! - [`bench`]: `keel bench`, keeld against BIRD, FRR, GoBGP and OpenBGPD.
//! - [`speaker`]: a fast BGP speaker that writes pre-encoded tables (testers, observers).
//!
//! And the harness the lab, the benchmarks and keel's integration tests share, one module per
//! concern:
//!
//! - [`keeld`]: the keeld process handle (its directory, start, signals, restart, API, CPU and
//!   memory).
//! - [`netns`]: network namespaces (create, `ip -n`, `ip netns exec`, veth pairs, `setns`).
//! - [`process`]: child processes ended by pid, temporary directories, /proc readings.
//! - [`wait`]: polling with a deadline.
//! - [`daemons`]: the real BGP daemons (and the host they share port 179 of).
//!
//! It talks to keeld only through its JSON API (`keel-api`) and BGP, never through keeld's
//! internals, so the daemon does not link it and a change to the daemon does not rebuild it.

/// `println!` / `print!` / `eprintln!` / `eprint!` for `keel lab` and `keel bench`, which must
/// not panic when the terminal or pipe on the other side is gone (`keel lab 2>&1 | head`): the
/// write fails silently and the run goes on to end its processes and remove its files.
#[macro_export]
macro_rules! say {
    (out, $($t:tt)*) => {{ use std::io::Write as _; let _ = write!(std::io::stdout(), $($t)*); }};
    (outln, $($t:tt)*) => {{ use std::io::Write as _; let _ = writeln!(std::io::stdout(), $($t)*); }};
    (err, $($t:tt)*) => {{ use std::io::Write as _; let _ = write!(std::io::stderr(), $($t)*); }};
    (errln, $($t:tt)*) => {{ use std::io::Write as _; let _ = writeln!(std::io::stderr(), $($t)*); }};
}

pub mod bench;
pub mod daemons;
pub mod keeld;
pub mod lab;
pub mod netns;
pub mod process;
pub mod speaker;
pub mod wait;
