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

pub mod bench;
pub mod daemons;
pub mod keeld;
pub mod lab;
pub mod netns;
pub mod process;
pub mod speaker;
pub mod wait;
