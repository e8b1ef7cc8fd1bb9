//! keel: config, sessions, API and CLI around the pure crates (keel-wire, keel-rib, keel-fib).

pub mod access;
pub mod api;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod events;
pub mod fib_task;
pub mod metrics;
pub mod negotiate;
pub mod neighbor;
pub mod policy_view;
pub mod rib_task;
pub mod rpki;
pub mod startup;
pub mod views;
