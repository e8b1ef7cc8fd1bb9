//! keel's JSON API as seen from outside keeld: the client for its Unix socket.
//!
//! Its users are the CLI (`keel show`, `keel check --live`), the restart rehearsal and
//! benchmarks (`keel-lab`) and the tests. keeld itself does not depend on this crate's client.

pub mod client;

pub use client::{api_path, request, DEFAULT_API};
