//! keel's integration tests, built as one binary (one link instead of one per file; the tests of
//! every module run side by side, two at a time on a two-core machine). Select by module path:
//! `cargo test -p keel --test main interop::llgr`, `cargo test -p keel --test main fib::`.
//!
//! They run keeld, keel, real BGP daemons and network namespaces as root; `scripts/test` installs
//! what they need. Shared machinery is in `keel_lab`: the keeld handle (`keel_lab::keeld`),
//! namespaces (`keel_lab::netns`), processes and temporary directories (`keel_lab::process`),
//! polling (`keel_lab::wait`) and one driver per daemon (`keel_lab::daemons`); [`common`] adds
//! what needs this crate's binaries.
//!
//! # Addresses
//!
//! Tests run concurrently in this one process, so every test has addresses of its own. Host
//! addresses (127.0.0.0/8 routes to `lo`, every speaker binds its own address on port 179):
//!
//! | module | host addresses |
//! |---|---|
//! | `first_hour` | 127.0.0.2-.6; keeld's embedded default as user nobody on 127.0.0.1:1179, and as nobody with keeld.service's capabilities on 127.0.0.1:179 in a network namespace of its own |
//! | `readme` | 127.0.0.7-.9 (README's first-peer walkthrough: keeld, BIRD, FRR; files in /tmp/keel-first-peer) |
//! | `collision` | 127.0.0.15, .16 (two keelds); .19, .20 (keeld and a scripted neighbor) |
//! | `daemon` | 127.0.0.17, .18, .21-.28, .31-.38 |
//! | `export_rules` | 127.0.0.41-.47, .51-.57 |
//! | `graceful_restart` | 127.0.0.61-.69, .71-.73, .76-.77, .84-.87 |
//! | `send_hold` | 127.0.0.74, .75 |
//! | `graceful_shutdown` | 127.0.5.1-.9 (keeld .1, BIRD .2 and .3; RFC 8326) |
//! | `prefix_limit` | 127.0.0.10-.14 |
//! | `roles` | 127.0.5.20-.31 (keeld .20, one BIRD per session .21-.31; RFC 9234; .32-.39 kept for it) |
//! | `add_path_send` | 127.0.5.10-.13 (keeld .10-.12, BIRD .13; .14-.19 kept for it) |
//! | `prefix_limit` (BIRD) | 127.0.5.40 (keeld), .41 (BIRD) |
//! | `upgrade` | 127.0.5.42 (keeld), .43 (keeld) with BIRD .44, .45, .46 (keeld), .47 (keeld) with BIRDs .48, .49, .50 (keeld) with a scripted speaker .51, .52 (keeld) with BIRD .53, FRR .54, GoBGP .55 (gRPC .55:50051), .56 (keeld) with BIRD .57; `keel upgrade`, issue 21 (.58-.60 kept for it) |
//! | `connection_abuse` | 127.0.0.90, .91, .94-.98 |
//! | `api_access` | 127.0.0.99 (a passive neighbor; keeld listens nowhere) |
//! | `bmp` | 127.0.0.100 (pmbmpd, ports 1790 and 1791), .101-.103 (keeld, BIRD, GoBGP), .104, .105 (keeld with a stalled station on .104:1791, BIRD) |
//! | `interop` | 127.0.0.111-.253, 127.0.1.0/24, 127.0.2.0/24, 127.0.3.0/24, 127.0.4.0/24 (table in [`interop`]); GoBGP's gRPC on its own address, port 50051 (its pprof listener, 127.0.0.1:6060 for every gobgpd, is off); StayRTR 127.0.4.3:8282 |
//! | `lab` | 127.77.N.0/24 (`keel lab`; N from its pid, claimed with a listener on .250) |
//! | `bench` | 127.88.N.0/24 (`keel bench`, N picked free; `--bmp`: pmbmpd on 127.88.N.3:1790) |
//!
//! Free: 127.0.0.29-.30, .39-.40, .58-.60, .78-.83, .88-.89, .92, .106-.110, .254 and
//! 127.0.5.61 upwards (127.0.0.1 is left to the host's own services). The benchmarks (`cargo
//! bench`, not run with the tests) use 127.0.0.40, .50, .80, .84 and 127.0.0.90:8282.
//!
//! Modules that run keeld with the kernel FIB (`fib`, `chaos`, `restart`) live in network
//! namespaces of their own, named `keel-TAG-ROLE-PID` (tags: `fib` fwd, gr, rs; `chaos` chaos;
//! `restart` rs-fwd, rs-nbr, rs-dual, rs-boot, rs-idle; `upgrade` up; `keel lab --netns` uses `kl-PID-*`),
//! where they reuse 127.0.0.1-.4 and 192.0.2.0/24 without meeting the host's.
//! `bfd` uses no host address: each test has two namespaces `keel-bfd-kTAG-PID` (keeld, keel-bfdd)
//! and `keel-bfd-bTAG-PID` (BIRD, FRR's bfdd or a second keeld) joined by a veth pair, with
//! 192.0.2.1-.2/24 and 2001:db8::1-2/64. `keel lab`'s BFD scenarios (`lab::lab_bfd_scenarios`)
//! build two namespaces per run, `kl-PID-bkTAG` and `kl-PID-buTAG` (192.0.2.1-.2/24), and `keel
//! bench --bfd` (`bench::quick_bfd_bench_reports_sessions_cpu_and_detection`) two, `kb-PID-d`
//! and `kb-PID-p` (192.0.2.1-.100, .201 and 192.0.2.101-.200, .250): no host address either.
//!
//! # Shared state
//!
//! Nothing a test does may change what another one sees: no `umask`, working directory,
//! environment variable or signal handler of this process is changed (a child's umask is set
//! between fork and exec, see `keel_lab::process::Spawn`), `setns` is used only on threads a
//! test starts for it (`keel_lab::netns::enter`). Packaged services that hold `*:179` are
//! stopped once per run, before the first daemon starts and while every other test that
//! starts one waits ([`common::preflight`]). Each `keel lab` claims its 127.77.N.0/24 while it
//! runs, so labs run side by side.

mod common;

mod add_path_send;
mod api_access;
mod bench;
mod bfd;
mod bmp;
mod chaos;
mod check_config;
mod collision;
mod connection_abuse;
mod daemon;
mod decode;
mod export_rules;
mod fib;
mod first_hour;
mod graceful_restart;
mod graceful_shutdown;
mod interop;
mod lab;
mod package;
mod policy_cli;
mod prefix_limit;
mod readme;
mod restart;
mod roles;
mod send_hold;
mod session_fuzz;
mod tshark;
mod upgrade;
