//! One neighbor: its FSM, capability negotiation, TCP transport and the task that drives them;
//! [`session`] holds the session as plain data (FSM and timers), apart from its socket.

pub mod connection;
pub mod fsm;
/// Needs tokio's paused clock (`test-util`), which production builds leave out.
#[cfg(feature = "fuzzing")]
pub mod fuzz;
pub mod handoff;
pub mod session;
pub mod status;
pub mod task;
pub mod transport;

use keel_config::{AddPathMode, Config, GrMode, GracefulRestart, LongLived};
use keel_wire::capability::long_lived::MAX_STALE_TIME;
use keel_wire::capability::{AddPathFamily, GracefulRestart as GrCapability, GracefulRestartFamily, LongLivedFamily};
use keel_wire::{Capability, Family, Open};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Everything one neighbor task needs, resolved from the configuration (global values with
/// the neighbor's overrides). Two equal values mean the session can stay up across a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborConfig {
    pub address: IpAddr,
    pub port: u16,
    pub asn: u32,
    pub local_asn: u32,
    pub router_id: Ipv4Addr,
    pub local_address: Option<IpAddr>,
    pub description: Option<String>,
    pub families: Vec<Family>,
    pub passive: bool,
    pub hold_time: u16,
    pub password: Option<String>,
    pub ttl_security: bool,
    pub route_reflector_client: bool,
    pub route_server_client: bool,
    /// RFC 4271 §6.3 first-AS check on this neighbor's AS_PATHs: the configured value for an
    /// external neighbor (default on), always off for an internal one.
    pub enforce_first_as: bool,
    pub add_path: AddPathMode,
    /// RFC 7911: paths per destination to send where Add-Path send was negotiated (1: the
    /// best alone; `usize::MAX`: all).
    pub add_path_send: usize,
    pub graceful_restart: GracefulRestart,
    pub llgr_families: Vec<LongLivedFamily>,
    /// Cap on a neighbor's long-lived stale time (RFC 9494 §4.2), seconds.
    pub llgr_max_stale_time: u32,
    /// RFC 9494 §4.6: LLGR-stale routes to this neighbor even without LLGR (internal only).
    pub llgr_partial_deployment: bool,
    pub connect_retry: Duration,
    /// RFC 9687 SendHoldTime, seconds (default 480, 0 = off); the timer uses at least twice
    /// the negotiated hold time ([`task::send_hold_limit`]).
    pub send_hold_time: u32,
    /// Hold time until the OPEN on a new connection (RFC 4271 §8.2.2, default 4 minutes).
    pub open_hold: Duration,
    /// `[neighbor.prefix_limit]`: the limits the RIB task checks (RFC 4486 §4).
    pub prefix_limit: Option<keel_rib::prefix_limit::Limit>,
    /// After a prefix-limit reset, how long before keel connects to or accepts the neighbor
    /// again; `None`: only `keel clear neighbor`.
    pub prefix_limit_restart: Option<Duration>,
    /// keel's own BGP Role on the session (RFC 9234 §4), sent as the Role capability.
    pub role: Option<keel_wire::capability::Role>,
    /// RFC 9234 §4.2 strict mode: no Role capability from the neighbor is a Role Mismatch.
    pub strict_role: bool,
    /// `bfd = true`: the session keel-bfdd runs for this neighbor, and its socket.
    pub bfd: Option<Bfd>,
    /// `bfd_strict`: BFD Down flushes the neighbor's routes whatever its C bit (RFC 5882 §4.3).
    pub bfd_strict: bool,
}

/// A neighbor's BFD session as keeld asks keel-bfdd for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bfd {
    /// keel-bfdd's socket: `bfdd.sock` beside the API socket.
    pub socket: std::path::PathBuf,
    pub spec: keel_bfdd::protocol::SessionSpec,
}

impl Bfd {
    fn from_config(config: &Config, n: &keel_config::Neighbor) -> Option<Bfd> {
        let b = &config.bfd;
        n.bfd.then(|| Bfd {
            socket: config.global.api.with_file_name("bfdd.sock"),
            spec: keel_bfdd::protocol::SessionSpec {
                peer: *n.address.get_ref(),
                local: n.local_address,
                multihop: b.multihop,
                min_tx_ms: *b.min_tx_ms.get_ref(),
                min_rx_ms: *b.min_rx_ms.get_ref(),
                multiplier: b.multiplier(),
                auth: b.authentication_for(n).map(|a| keel_bfdd::protocol::AuthSpec {
                    auth_type: match a.auth {
                        keel_config::BfdAuth::Simple => keel_bfdd::protocol::AuthKind::Simple,
                        keel_config::BfdAuth::MeticulousKeyedSha1 => keel_bfdd::protocol::AuthKind::MeticulousKeyedSha1,
                        // `authentication_for` gives no None.
                        keel_config::BfdAuth::KeyedSha1 | keel_config::BfdAuth::None => {
                            keel_bfdd::protocol::AuthKind::KeyedSha1
                        }
                    },
                    key_id: a.key_id,
                    password: a.password,
                }),
            },
        })
    }
}

impl NeighborConfig {
    pub fn from_config(config: &Config) -> Vec<NeighborConfig> {
        config
            .neighbors
            .iter()
            .map(|n| {
                let families = match &n.families {
                    Some(f) => f.iter().filter_map(|s| s.get_ref().parse().ok()).collect(),
                    None => vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
                };
                // RFC 9494 §5: LLGR only for the families named; a neighbor's block overrides
                // the global one field by field.
                let global = &config.long_lived_graceful_restart;
                let own = n.long_lived_graceful_restart.as_ref();
                let pick = |f: fn(&LongLived) -> Option<u32>| own.and_then(f).or(f(global));
                let stale_default = pick(|l| l.stale_time.as_ref().map(|t| *t.get_ref())).unwrap_or(3600);
                let names = own.and_then(|l| l.families.as_ref()).or(global.families.as_ref());
                let llgr_families = names
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.get_ref().parse::<Family>().ok())
                    .filter(|f| families.contains(f))
                    .map(|family| LongLivedFamily {
                        family,
                        forwarding_state: false,
                        stale_time: own
                            .and_then(|l| l.stale_times.get(&family.to_string()))
                            .or(global.stale_times.get(&family.to_string()))
                            .map_or(stale_default, |t| *t.get_ref()),
                    })
                    .collect();
                let llgr_max_stale_time = pick(|l| l.max_stale_time).unwrap_or(MAX_STALE_TIME);
                let llgr_partial_deployment =
                    own.and_then(|l| l.partial_deployment).or(global.partial_deployment).unwrap_or(false);
                NeighborConfig {
                    address: *n.address.get_ref(),
                    port: n.port.unwrap_or(179),
                    asn: *n.asn.get_ref(),
                    local_asn: *config.global.asn.get_ref(),
                    router_id: *config.global.router_id.get_ref(),
                    local_address: n.local_address,
                    description: n.description.clone(),
                    families,
                    passive: n.passive,
                    hold_time: *n.hold_time.get_ref(),
                    password: n.password.clone(),
                    ttl_security: n.ttl_security,
                    route_reflector_client: n.route_reflector_client,
                    route_server_client: n.route_server_client,
                    enforce_first_as: config.enforce_first_as(n),
                    add_path: n.add_path,
                    add_path_send: n.add_path_send.as_ref().and_then(|s| s.get_ref().paths()).unwrap_or(1),
                    graceful_restart: config.graceful_restart_for(n),
                    llgr_families,
                    llgr_max_stale_time,
                    llgr_partial_deployment,
                    connect_retry: Duration::from_secs(n.connect_retry_time.unwrap_or(5).into()),
                    // RFC 9687 §6: 8 minutes unless configured.
                    send_hold_time: n.send_hold_time.as_ref().map_or(480, |t| *t.get_ref()),
                    open_hold: Duration::from_secs(n.open_hold_time.as_ref().map_or(240, |t| *t.get_ref()).into()),
                    prefix_limit: n.prefix_limit.as_ref().map(|p| p.limit()),
                    prefix_limit_restart: n
                        .prefix_limit
                        .as_ref()
                        .map(|p| p.restart_after())
                        .filter(|s| *s > 0)
                        .map(|s| Duration::from_secs(s.into())),
                    role: n.role.as_ref().map(|r| r.get_ref().role()),
                    strict_role: n.strict_role.as_ref().is_some_and(|s| *s.get_ref()),
                    bfd: Bfd::from_config(config, n),
                    bfd_strict: n.bfd_strict(),
                }
            })
            .collect()
    }

    pub fn remote(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }

    /// The OPEN keel sends (RFC 4271 §4.2, capabilities per RFC 5492), with the F bit as
    /// known at start (see [`NeighborConfig::local_open_with`]).
    pub fn local_open(&self) -> Open {
        self.local_open_with(false, false)
    }

    /// The OPEN with the GR F bit (and LLGR F bit) set to `forwarding_preserved` for every
    /// family (RFC 4724 §3: set only when forwarding state was really preserved), and the R
    /// bit while keel is restarting (until its selection deferral ends, RFC 4724 §4.1).
    pub fn local_open_with(&self, forwarding_preserved: bool, restarting: bool) -> Open {
        let mut caps: Vec<Capability> = self.families.iter().map(|f| Capability::Multiprotocol(*f)).collect();
        caps.push(Capability::RouteRefresh);
        caps.push(Capability::EnhancedRouteRefresh);
        caps.push(Capability::ExtendedMessage);
        caps.push(Capability::FourOctetAs(self.local_asn));
        if self.add_path != AddPathMode::Off {
            let (receive, send) = match self.add_path {
                AddPathMode::Receive => (true, false),
                AddPathMode::Send => (false, true),
                _ => (true, true),
            };
            caps.push(Capability::AddPath(
                self.families.iter().map(|&family| AddPathFamily { family, receive, send }).collect(),
            ));
        }
        // RFC 9234 §4.1: with a configured role, exactly one Role capability.
        if let Some(role) = self.role {
            caps.push(Capability::Role(role));
        }
        let gr = &self.graceful_restart;
        if gr.mode != GrMode::Disabled {
            // RFC 4724 §3: a helper-only speaker lists no families. The F bit stays 0 until keel
            // preserves forwarding state (the restarting-speaker issue).
            let families = if gr.mode == GrMode::Restart {
                self.families
                    .iter()
                    .map(|&family| GracefulRestartFamily { family, forwarding_state: forwarding_preserved })
                    .collect()
            } else {
                Vec::new()
            };
            caps.push(Capability::GracefulRestart(GrCapability {
                restart_state: restarting && gr.mode == GrMode::Restart,
                notification: gr.notification,
                restart_time: gr.restart_time,
                families,
            }));
            // RFC 9494 §4.1: LLGR is sent only together with GR.
            if !self.llgr_families.is_empty() {
                let mut llgr = self.llgr_families.clone();
                llgr.iter_mut().for_each(|f| f.forwarding_state = forwarding_preserved && gr.mode == GrMode::Restart);
                caps.push(Capability::LongLivedGracefulRestart(llgr));
            }
        }
        Open::new(self.local_asn, self.hold_time, self.router_id, caps)
    }
}

#[cfg(test)]
mod tests;
