//! keel: config, sessions, API and CLI around the pure crates.
