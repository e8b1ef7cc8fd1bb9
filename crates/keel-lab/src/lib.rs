//! keel-lab: everything that drives keeld from outside, as an operator or a test would.
//!
//! - [`lab`]: `keel lab`, the restart rehearsal (keeld between a generated upstream and an
//!   observer, restarted, crashed and disturbed, with and without graceful restart).
//! - [`bench`]: `keel bench`, keeld against BIRD, FRR, GoBGP and OpenBGPD.
//! - [`speaker`]: a fast BGP speaker that writes pre-encoded tables (testers, observers).
//!
//! It talks to keeld only through its JSON API (`keel-api`) and BGP, never through keeld's
//! internals, so the daemon does not link it and a change to the daemon does not rebuild it.

pub mod bench;
pub mod lab;
pub mod speaker;
