//! The real daemons of the restart tests, all in namespace U, from `keel_lab`'s drivers: BIRD
//! (GR helper, the upstream), FRR bgpd and GoBGP (GR helpers).

use super::lab::Lab;
use super::{BIRD, FRR, GOBGP, KEEL, UPSTREAM};
pub use keel_lab::daemons::bird::{Bird, BirdStart};
pub use keel_lab::daemons::frr::Frr;
pub use keel_lab::daemons::gobgp::GoBgp;

/// BIRD at 192.0.2.2 (AS 65002): GR helper, announces 198.51.100.0/24 with itself as next
/// hop. No kernel protocol: BIRD never touches namespace U's table.
pub fn start_bird(lab: &Lab, extra: &str, recovery: bool) -> Bird {
    let dir = lab.sub("bird");
    let body = format!(
        r#"protocol static s4 {{ ipv4; route {UPSTREAM} blackhole; }}
protocol bgp keel {{
  local {BIRD} as 65002;
  neighbor {KEEL} as 65001;
  strict bind on;
  hold time 9; keepalive time 3;
  connect delay time 1; connect retry time 1; error wait time 1, 2;
  graceful restart on; graceful restart time 120;
  {extra}
  ipv4 {{ import all; export all; }};
}}
"#
    );
    let how = BirdStart { name: "bird", router_id: BIRD, device: " scan time 1; ", recovery, netns: Some(&lab.u) };
    Bird::start(&dir, &body, &how)
}

/// FRR bgpd `-Z` (no zebra) at 192.0.2.4 (AS 65004), GR helper, announces nothing.
pub fn start_frr(lab: &Lab) -> Frr {
    let dir = lab.sub("frr");
    let conf = keel_lab::daemons::frr::header("peer4", &dir, None)
        + &format!(
            "router bgp 65004
 bgp router-id {FRR}
 no bgp ebgp-requires-policy
 bgp graceful-restart
 bgp graceful-restart restart-time 120
 timers bgp 3 9
 neighbor {KEEL} remote-as 65001
 neighbor {KEEL} update-source {FRR}
 neighbor {KEEL} ebgp-multihop 2
 neighbor {KEEL} timers connect 1
!
"
        );
    // User frr must reach its directory whatever the umask.
    for p in [&lab.dir, &dir] {
        let _ = std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755));
    }
    Frr::start(&dir, "bgpd", FRR, &conf, Some(&lab.u))
}

/// gobgpd at 192.0.2.3 (AS 65003), GR helper for IPv4, announces nothing.
pub fn start_gobgp(lab: &Lab) -> GoBgp {
    let dir = lab.sub("gobgp");
    let conf = format!(
        r#"[global.config]
  as = 65003
  router-id = "{GOBGP}"
  port = 179
  local-address-list = ["{GOBGP}"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{KEEL}"
    peer-as = 65001
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 1
  [neighbors.transport.config]
    local-address = "{GOBGP}"
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 120
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
"#
    );
    GoBgp::start(&dir, "gobgpd", GOBGP, &conf, false, Some(&lab.u))
}
