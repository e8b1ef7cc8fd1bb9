//! The real daemons keeld peers with in the interop tests, from `keel_lab`'s drivers
//! (BIRD 2, FRR bgpd, GoBGP, ExaBGP), started with the conventions these tests share: in their
//! own directory, bound to their own 127.0.0.x:179, router id 192.0.2.LAST, ended by pid.
//!
//! Every test module starts its daemons from here and passes in only what its case needs
//! (graceful-restart settings, routes, channels, route-maps), so the ways of starting and
//! configuring a daemon that are known to work live in one place.

use super::common::*;
pub use keel_lab::daemons::bird::{static_routes as bird_static, Bird, BirdSession, BirdStart};
pub use keel_lab::daemons::exabgp::{ExaBgp, ExaPeer};
pub use keel_lab::daemons::frr::{Frr, FrrPeer};
pub use keel_lab::daemons::gobgp::{attribute as gobgp_attr, community_number, GoBgp, GoBgpPeer};
use std::path::Path;

// ---------------------------------------------------------------------------------------------
// BIRD 2

/// Settings of the daemon tests' BIRD peering with keel: GR (restart time 111) and LLGR
/// (stale time 3333), Extended Messages, community (ASN, 7) on what it exports.
pub struct BirdPeer<'a> {
    pub local: &'a str,
    pub asn: u32,
    pub keel: &'a str,
    pub keel_asn: u32,
    pub hold_time: u16,
    /// More lines inside `protocol bgp keel { ... }` (password, ...).
    pub extra: &'a str,
    /// Announce 203.0.113.0/24 and 2001:db8:LAST::/48 with community (ASN, 7).
    pub routes: bool,
}

/// Starts the daemon tests' BIRD (see [`BirdPeer`]).
pub fn bird_peer(dir: &Path, p: &BirdPeer) -> Bird {
    let last = last_octet(p.local);
    let statics = if p.routes {
        bird_static("s4", "ipv4", &["203.0.113.0/24"]) + &bird_static("s6", "ipv6", &[&format!("2001:db8:{last}::/48")])
    } else {
        String::new()
    };
    let export = format!("export filter {{ bgp_community.add(({}, 7)); accept; }};", p.asn);
    let session = BirdSession {
        local: p.local,
        asn: p.asn,
        keel: p.keel,
        keel_asn: p.keel_asn,
        hold_time: p.hold_time,
        lines: &format!(
            "enable extended messages on;
  graceful restart on; graceful restart time 111;
  long lived graceful restart on; long lived stale time 3333;
  {}",
            p.extra
        ),
        ipv4: &format!("import all; {export}"),
        ipv6: &format!("import all; {export} next hop address 2001:db8::{last};"),
    };
    bird_with(dir, "bird", p.local, &(statics + &session.conf()), false)
}

/// Starts BIRD (process `name`) on `body` after the router id (192.0.2.LAST), the log
/// (`dir/bird.log`) and the device protocol; `body` must define `protocol bgp keel`.
/// `recovery`: `-R`, graceful-restart recovery. Waits for the control socket.
pub fn bird_with(dir: &Path, name: &str, local: &str, body: &str, recovery: bool) -> Bird {
    let router_id = format!("192.0.2.{}", last_octet(local));
    Bird::start(dir, body, &BirdStart { name, router_id: &router_id, device: "", recovery, netns: None })
}

// ---------------------------------------------------------------------------------------------
// FRR bgpd

/// Starts bgpd (process `name`) on `p`'s configuration, with neighbor, graceful-restart and
/// update debugging in `dir/bgpd.log`, and waits for its vty.
pub fn frr_with(dir: &Path, name: &str, p: &FrrPeer) -> Frr {
    let conf = keel_lab::daemons::frr::header(&format!("peer{}", last_octet(p.local)), dir, None)
        + "debug bgp neighbor-events\ndebug bgp graceful-restart\ndebug bgp updates\n"
        + &p.conf();
    Frr::start(dir, name, p.local, &conf, None)
}

// ---------------------------------------------------------------------------------------------
// GoBGP

/// Starts the daemon tests' gobgpd: GR restart time 111 with N, LLGR stale time 3333.
pub fn gobgp_peer(dir: &Path, local: &str, asn: u32, keel: &str, keel_asn: u32) -> GoBgp {
    let p = GoBgpPeer {
        local,
        asn,
        keel,
        keel_asn,
        restart_time: 111,
        llgr_stale_time: Some(3333),
        admin_down: false,
        restarting: false,
    };
    gobgp_with(dir, "gobgpd", &p)
}

/// Starts gobgpd (process `name`) on `p`, its API on LOCAL:50051, and waits for the API.
pub fn gobgp_with(dir: &Path, name: &str, p: &GoBgpPeer) -> GoBgp {
    GoBgp::start(dir, name, p.local, &p.conf(), p.restarting, None)
}
