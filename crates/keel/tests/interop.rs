//! Interoperability tests: keeld against BIRD 2, FRR bgpd, GoBGP and ExaBGP, raw peers that
//! send broken messages, TCP MD5, configuration checking and reload.
//!
//! Every daemon runs in its own temporary directory, bound to its own 127.0.0.x address on
//! port 179, and is ended by its pid when the test ends (also when it fails). The daemons are
//! required: a missing binary fails the test. Install them with
//! `apt-get install -y --no-install-recommends $(cat scripts/test-packages.txt)`.
//!
//! Addresses (keel first, then its peers), distinct per test so the tests run in parallel:
//!
//! | test | addresses |
//! |---|---|
//! | bird | 127.0.0.111, .112 |
//! | frr | 127.0.0.121, .122 |
//! | gobgp | 127.0.0.131, .132 (gRPC API on .132:50051) |
//! | exabgp | 127.0.0.141, .142 |
//! | errors: OPEN | 127.0.0.151, .152, bystander .153 |
//! | errors: UPDATE | 127.0.0.161, .162, bystander .163 |
//! | errors: hold timer | 127.0.0.171, .172, bystander .173 |
//! | md5 | 127.0.0.181, .182 (right password), .183 (wrong password) |
//! | reload | 127.0.0.191, .192, .193, .194 |
//! | check that nothing holds *:179 | 127.0.0.199 |

#[path = "interop/common.rs"]
mod common;

#[path = "interop/bird.rs"]
mod bird;

#[path = "interop/frr.rs"]
mod frr;

#[path = "interop/gobgp.rs"]
mod gobgp;

#[path = "interop/exabgp.rs"]
mod exabgp;

#[path = "interop/errors.rs"]
mod errors;

#[path = "interop/md5.rs"]
mod md5;

#[path = "interop/config.rs"]
mod config;
