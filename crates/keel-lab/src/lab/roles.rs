//! Who is who in a rehearsal: the roles (keeld, the upstream, the observer, the tap), their AS
//! numbers and loopback addresses, and which daemon plays the peers with `--peer`
//! ([`PeerKind`]). The lab's other modules take these from here; this one imports no lab
//! module but [`super::process`] (to know whether the lab runs as root).
//!
//! keeld sits between an upstream that feeds it a table and an observer downstream; with
//! `--peer`, the upstream and the observer are real daemons (BIRD, FRR, GoBGP), and keel's own
//! speaker sits behind the observing daemon as the tap (see [`super::observer`]).

use super::process::is_root;
use anyhow::{bail, Result};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The daemon that plays the upstream and the observer (`keel lab --peer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PeerKind {
    Bird,
    Frr,
    Gobgp,
}

/// keeld's AS number (`[global] asn` of its lab configuration).
pub const KEELD_ASN: u32 = 65000;
/// The upstream's AS number when it is a daemon (`--peer`). keel's own speaker as the
/// upstream takes the generated table's instead ([`super::peers::Feed::peer_as`]).
pub const DAEMON_UPSTREAM_ASN: u32 = 65101;
/// The observer's AS number, keel's speaker or a daemon (keeld's lab configuration peers with it).
pub const OBSERVER_ASN: u32 = 64999;
/// The tap's AS number, behind a daemon observer.
pub const TAP_ASN: u32 = 64998;

/// Where the speakers live: 127.77.N.1 (upstream), .2 (keeld), .3 (observer), .4 (with
/// `--peer`, keel's speaker behind the observing daemon), N chosen from the pid and moved on
/// while keeld's address and port are taken; port 179 as root, else 1790.
#[derive(Debug, Clone, Copy)]
pub struct Addresses {
    pub upstream: Ipv4Addr,
    pub keel: SocketAddr,
    pub observer: Ipv4Addr,
    pub tap: Ipv4Addr,
}

impl Addresses {
    pub fn pick() -> Result<Addresses> {
        let port = if is_root() { 179 } else { 1790 };
        let seed = std::process::id();
        for i in 0..200u32 {
            let n = ((seed + i) % 200 + 20) as u8;
            let keel = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 77, n, 2)), port);
            // Free now, so keeld can bind it (the listener closes at once).
            if std::net::TcpListener::bind(keel).is_ok() {
                return Ok(Addresses {
                    upstream: Ipv4Addr::new(127, 77, n, 1),
                    keel,
                    observer: Ipv4Addr::new(127, 77, n, 3),
                    tap: Ipv4Addr::new(127, 77, n, 4),
                });
            }
        }
        bail!("no free address in 127.77.20-219.2 port {port}")
    }
}
