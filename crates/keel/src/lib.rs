//! keel: the daemon (keeld) and the command line (keel) around the pure crates (keel-wire,
//! keel-rib, keel-rpki, keel-fib).
//!
//! Each module imports only those below it: `cli` and `api` over `startup` and `daemon`
//! (the running keeld: reload, listeners, state directory), over `neighbor` (one task per
//! neighbor: FSM, session as plain data, connections), over `rib_task` (RIB owner, graceful-
//! restart coordinator, propagation to the FIB and the Adj-RIB-Outs, policy re-evaluation, API
//! views), over `fib_task` and `rpki`, over `metrics`, and at the bottom `events`
//! (the messages between tasks), `views`, `negotiate`, `access`. The JSON documents are
//! keel-api's types, the configuration keel-config's; `keel lab` and `keel bench` come
//! from keel-lab.

pub mod access;
pub mod api;
pub mod cli;
pub mod daemon;
pub mod events;
pub mod fib_task;
pub mod metrics;
pub mod negotiate;
pub mod neighbor;
pub mod rib_task;
pub mod rpki;
pub mod startup;
pub mod views;
