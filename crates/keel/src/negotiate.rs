//! Capability negotiation (RFC 5492): what both OPENs together allow on a session.

use keel_wire::capability::{AddPathFamily, Capability, GracefulRestart, LongLivedFamily};
use keel_wire::{CodecOptions, Family, Open};
use serde::{Deserialize, Serialize};

/// The outcome of an OPEN exchange. Plain data, so a later release can hand it to a new
/// process with the socket (hitless upgrade).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Negotiated {
    pub local: Open,
    pub remote: Open,
    /// Smaller of the two hold times (RFC 4271 §4.2); 0 means no keepalives, no hold timer.
    pub hold_time: u16,
    /// Families both sides advertised (RFC 4760 §8). A side without any Multiprotocol
    /// capability is taken to speak IPv4 unicast only.
    pub families: Vec<Family>,
    pub four_octet_as: bool,
    pub extended_message: bool,
    pub route_refresh: bool,
    pub enhanced_route_refresh: bool,
    /// Families for which the peer sends path identifiers to us / we send them (RFC 7911 §4).
    pub add_path_receive: Vec<Family>,
    pub add_path_send: Vec<Family>,
}

fn families(open: &Open) -> Vec<Family> {
    let v: Vec<Family> = open
        .capabilities
        .iter()
        .filter_map(|c| match c {
            Capability::Multiprotocol(f) => Some(*f),
            _ => None,
        })
        .collect();
    if v.is_empty() {
        vec![Family::IPV4_UNICAST]
    } else {
        v
    }
}

fn add_path(open: &Open) -> &[AddPathFamily] {
    open.capabilities
        .iter()
        .find_map(|c| match c {
            Capability::AddPath(v) => Some(v.as_slice()),
            _ => None,
        })
        .unwrap_or(&[])
}

impl Negotiated {
    pub fn new(local: Open, remote: Open) -> Negotiated {
        let theirs = families(&remote);
        let families: Vec<Family> = families(&local).into_iter().filter(|f| theirs.contains(f)).collect();
        let both = |code: u8| local.has(code) && remote.has(code);
        use keel_wire::capability::code;
        let (mut add_path_receive, mut add_path_send) = (Vec::new(), Vec::new());
        for l in add_path(&local) {
            if let Some(r) = add_path(&remote).iter().find(|r| r.family == l.family) {
                if l.receive && r.send && families.contains(&l.family) {
                    add_path_receive.push(l.family);
                }
                if l.send && r.receive && families.contains(&l.family) {
                    add_path_send.push(l.family);
                }
            }
        }
        Negotiated {
            hold_time: local.hold_time.min(remote.hold_time),
            families,
            four_octet_as: both(code::FOUR_OCTET_AS),
            extended_message: both(code::EXTENDED_MESSAGE),
            route_refresh: both(code::ROUTE_REFRESH),
            enhanced_route_refresh: both(code::ENHANCED_ROUTE_REFRESH),
            add_path_receive,
            add_path_send,
            local,
            remote,
        }
    }

    /// Seconds between KEEPALIVEs: a third of the hold time (RFC 4271 §10).
    pub fn keepalive_time(&self) -> u16 {
        self.hold_time / 3
    }

    /// How to decode what the peer sends.
    pub fn codec_receive(&self) -> CodecOptions {
        CodecOptions {
            four_octet_as: self.four_octet_as,
            extended_message: self.extended_message,
            add_path: self.add_path_receive.clone(),
        }
    }

    /// How to encode what we send.
    pub fn codec_send(&self) -> CodecOptions {
        CodecOptions {
            four_octet_as: self.four_octet_as,
            extended_message: self.extended_message,
            add_path: self.add_path_send.clone(),
        }
    }

    pub fn remote_graceful_restart(&self) -> Option<&GracefulRestart> {
        self.remote.graceful_restart()
    }
    pub fn local_graceful_restart(&self) -> Option<&GracefulRestart> {
        self.local.graceful_restart()
    }
    /// RFC 8538 §2: the N bit counts only when both OPENs carry it.
    pub fn notification_bit(&self) -> bool {
        self.local_graceful_restart().is_some_and(|g| g.notification)
            && self.remote_graceful_restart().is_some_and(|g| g.notification)
    }
    pub fn remote_long_lived(&self) -> Option<&[LongLivedFamily]> {
        // RFC 9494 §4.1: LLGR without GR is disregarded.
        self.remote_graceful_restart().and(self.remote.long_lived_graceful_restart())
    }
    /// Negotiated families the neighbor advertised LLGR for (RFC 9494 §4.3: only they get
    /// LLGR-stale routes).
    pub fn remote_long_lived_families(&self) -> Vec<Family> {
        let remote = self.remote_long_lived().unwrap_or(&[]);
        remote.iter().map(|l| l.family).filter(|f| self.families.contains(f)).collect()
    }
    /// The neighbor's LLGR entries for families keel advertised LLGR for too: those whose
    /// routes keel keeps long-lived when the session ends (RFC 9494 §4.2, §5).
    pub fn long_lived(&self) -> Vec<LongLivedFamily> {
        let local = self.local.long_lived_graceful_restart().unwrap_or(&[]);
        let remote = self.remote_long_lived().unwrap_or(&[]);
        remote
            .iter()
            .filter(|r| self.families.contains(&r.family) && local.iter().any(|l| l.family == r.family))
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn open(caps: Vec<Capability>, hold: u16) -> Open {
        Open::new(65001, hold, Ipv4Addr::new(192, 0, 2, 1), caps)
    }

    #[test]
    fn families_hold_time_and_add_path() {
        let ap =
            |receive, send| Capability::AddPath(vec![AddPathFamily { family: Family::IPV4_UNICAST, receive, send }]);
        let local = open(
            vec![
                Capability::Multiprotocol(Family::IPV4_UNICAST),
                Capability::Multiprotocol(Family::IPV6_UNICAST),
                Capability::RouteRefresh,
                ap(true, false),
            ],
            90,
        );
        let remote = open(vec![Capability::Multiprotocol(Family::IPV4_UNICAST), ap(true, true)], 30);
        let n = Negotiated::new(local, remote);
        assert_eq!(n.families, [Family::IPV4_UNICAST]);
        assert_eq!((n.hold_time, n.keepalive_time()), (30, 10));
        assert!(!n.route_refresh);
        assert!(n.four_octet_as);
        assert_eq!(n.add_path_receive, [Family::IPV4_UNICAST]);
        assert!(n.add_path_send.is_empty());
        // No MP capability at all: IPv4 unicast (RFC 4760 §8).
        let n = Negotiated::new(open(vec![], 90), open(vec![Capability::Multiprotocol(Family::IPV4_UNICAST)], 90));
        assert_eq!(n.families, [Family::IPV4_UNICAST]);
    }
}
