//! keel-fib: the forwarding table, knowing nothing of BGP.
//!
//! keel installs the routes its decision process chose (RFC 4271 §9.1.3, "Phase 3") into the
//! kernel so that forwarding survives a control-plane restart (RFC 4724 §4.1: the restarting
//! speaker keeps forwarding state and reads it back). This crate gives one [`Fib`] trait with
//! two backends:
//!
//! - [`NetlinkFib`] ([`netlink`]): Linux rtnetlink, routes tagged with keel's own protocol id
//!   in a configurable table, requests pipelined many per system call (in `netlink/`: the
//!   wire format in `message`, the socket in `socket`, dumps and next-hop lookup in `resolve`);
//! - [`MemoryFib`] ([`memory`]): a map with counters, for tests of the daemon's FIB task;
//! - [`JournalFib`] ([`journal`]): a [`MemoryFib`] whose changes are journalled to a file, so
//!   that, like the kernel's table, it outlives keeld (`keel lab` without root);
//!
//! plus [`reconcile`], which turns "what the kernel held before the restart" and "what the new
//! decision process wants" into the few changes needed, so unchanged routes are never touched.
//!
//! [`Fib::resolve`] answers how the kernel reaches a BGP next hop, for next-hop resolvability
//! (RFC 4271 §9.1.2.1) and the interior-cost tie breaker (RFC 4271 §9.1.2.2 (e)); routes owned
//! by keel never resolve a next hop.

mod fib;
pub mod journal;
pub mod memory;
pub mod netlink;
pub mod reconcile;

pub use fib::{
    ApplyReport, Fib, FibChange, FibError, FibRoute, NextHop, Resolution, RouteError, RouteFailure, DEFAULT_PROTOCOL,
    MAIN_TABLE,
};
pub use journal::JournalFib;
pub use memory::{MemoryCounters, MemoryFib};
pub use netlink::NetlinkFib;
pub use reconcile::reconcile;
