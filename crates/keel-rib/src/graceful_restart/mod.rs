//! Graceful restart state machines (pure: events in, actions out; time is an argument).
//!
//! - [`helper`]: the receiving speaker of RFC 4724 §4.2 with RFC 8538 — keep a restarting
//!   neighbor's routes as stale until it is back and has re-sent them.
//! - [`restarting`]: selection deferral of the restarting speaker (RFC 4724 §4.1).

pub mod helper;
pub mod restarting;
