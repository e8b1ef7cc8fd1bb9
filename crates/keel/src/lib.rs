//! keel: config, sessions, API and CLI around the pure crates (keel-wire, keel-rib, keel-fib).

pub mod cli;
pub mod config;
pub mod neighbor;
