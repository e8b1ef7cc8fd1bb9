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

/// The listener on 127.77.N.250 that claims N for this lab ([`Addresses::pick`]).
static CLAIM: std::sync::OnceLock<std::net::TcpListener> = std::sync::OnceLock::new();

/// Where the speakers live: 127.77.N.1 (upstream), .2 (keeld), .3 (observer), .4 (with
/// `--peer`, keel's speaker behind the observing daemon), N chosen from the pid and moved on
/// while keeld's address and port are taken, or N is claimed by another lab. keeld's port is
/// BGP's, 179, as root (as in production; the daemons of `--peer` need root for their own 179
/// anyway), else [`keel_api::UNPRIVILEGED_BGP_PORT`], 1179, the port a non-root keeld's embedded
/// default listens on: one unprivileged BGP port for keel, whoever starts keeld.
#[derive(Debug, Clone, Copy)]
pub struct Addresses {
    pub upstream: Ipv4Addr,
    pub keel: SocketAddr,
    pub observer: Ipv4Addr,
    pub tap: Ipv4Addr,
}

impl Addresses {
    pub fn pick() -> Result<Addresses> {
        let port = keel_api::bgp_port(is_root());
        let seed = std::process::id();
        for i in 0..200u32 {
            let n = ((seed + i) % 200 + 20) as u8;
            let keel = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 77, n, 2)), port);
            // 127.77.N.250 is held for the lab's lifetime: two labs started at once (whose
            // pids may pick the same N) never share N, though keeld binds its address only later.
            let Ok(claim) =
                std::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 77, n, 250)), port))
            else {
                continue;
            };
            // Free now, so keeld can bind it (the listener closes at once).
            if std::net::TcpListener::bind(keel).is_ok() {
                let _ = CLAIM.set(claim);
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
