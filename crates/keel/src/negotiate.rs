//! Capability negotiation (RFC 5492): what both OPENs together allow on a session.

use keel_wire::capability::{Capability, GracefulRestart, LongLivedFamily};
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

impl Negotiated {
    pub fn new(local: Open, remote: Open) -> Negotiated {
        let theirs = families(&remote);
        let families: Vec<Family> = families(&local).into_iter().filter(|f| theirs.contains(f)).collect();
        let both = |code: u8| local.has(code) && remote.has(code);
        use keel_wire::capability::code;
        let (mut add_path_receive, mut add_path_send) = (Vec::new(), Vec::new());
        // RFC 7911 §5 needs both sides' Add-Path for the <AFI, SAFI>; a family not negotiated
        // as multiprotocol (RFC 4760 §8: "each such speaker MUST advertise to the other ...
        // that particular <AFI, SAFI>") carries no path identifiers.
        let remote_add_path = remote.add_path();
        for l in local.add_path() {
            if let Some(r) = remote_add_path.iter().find(|r| r.family == l.family) {
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
    use keel_wire::capability::{AddPathFamily, GracefulRestartFamily};
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

    const V4: Family = Family::IPV4_UNICAST;
    const V6: Family = Family::IPV6_UNICAST;

    fn gr(restart_time: u16, notification: bool, families: &[Family]) -> Capability {
        Capability::GracefulRestart(GracefulRestart {
            restart_state: false,
            notification,
            restart_time,
            families: families.iter().map(|&family| GracefulRestartFamily { family, forwarding_state: true }).collect(),
        })
    }
    fn llgr(families: &[Family]) -> Capability {
        Capability::LongLivedGracefulRestart(
            families
                .iter()
                .map(|&family| LongLivedFamily { family, forwarding_state: true, stale_time: 600 })
                .collect(),
        )
    }
    fn ap(family: Family, receive: bool, send: bool) -> Capability {
        Capability::AddPath(vec![AddPathFamily { family, receive, send }])
    }
    /// keel's side: IPv4 and IPv6 unicast, GR with N, LLGR and Add-Path both ways for both.
    fn ours() -> Open {
        open(
            vec![
                Capability::Multiprotocol(V4),
                Capability::Multiprotocol(V6),
                Capability::RouteRefresh,
                Capability::ExtendedMessage,
                gr(120, true, &[V4, V6]),
                llgr(&[V4, V6]),
                Capability::AddPath(vec![
                    AddPathFamily { family: V4, receive: true, send: true },
                    AddPathFamily { family: V6, receive: true, send: true },
                ]),
            ],
            90,
        )
    }

    /// RFC 5492 §3: "If a BGP speaker receives from its peer a capability that it does not
    /// itself support or recognize, it MUST ignore that capability."
    #[test]
    fn rfc5492_unknown_capabilities_change_nothing() {
        let base = vec![Capability::Multiprotocol(V4), Capability::RouteRefresh];
        let mut with_unknown = base.clone();
        with_unknown.insert(0, Capability::Unknown { code: 0, value: vec![] });
        with_unknown.push(Capability::Unknown { code: 200, value: vec![1, 2, 3] });
        let a = Negotiated::new(ours(), open(base, 90));
        let b = Negotiated::new(ours(), open(with_unknown, 90));
        assert_eq!(
            (a.families, a.route_refresh, a.extended_message, a.add_path_receive),
            (b.families, b.route_refresh, b.extended_message, b.add_path_receive)
        );
    }

    /// RFC 5492 §4: "additional instances do not change the meaning of the announced
    /// capability".
    #[test]
    fn rfc5492_repeated_identical_capabilities_count_once() {
        let caps = vec![Capability::Multiprotocol(V6), Capability::Multiprotocol(V6), Capability::RouteRefresh];
        let mut twice = caps.clone();
        twice.push(Capability::RouteRefresh);
        let n = Negotiated::new(ours(), open(twice, 90));
        assert_eq!(n.families, [V6]);
        assert!(n.route_refresh);
    }

    /// RFC 8654 §4: "A BGP speaker MAY send BGP Extended Messages to a peer only if the BGP
    /// Extended Message Capability was received from that peer"; and keel only receives them
    /// having advertised it. So: both sides, like every capability (RFC 5492 §3: "a given
    /// capability can be used on a peering if that capability has been advertised by both
    /// peers").
    #[test]
    fn rfc8654_extended_message_needs_both_sides() {
        let n = Negotiated::new(ours(), open(vec![], 90));
        assert!(!n.extended_message && !n.codec_send().extended_message && !n.codec_receive().extended_message);
        let n = Negotiated::new(ours(), open(vec![Capability::ExtendedMessage], 90));
        assert!(n.codec_send().extended_message && n.codec_receive().extended_message);
        let n = Negotiated::new(open(vec![], 90), open(vec![Capability::ExtendedMessage], 90));
        assert!(!n.extended_message);
    }

    /// RFC 4724 §3: "the receiver of the advertisement MUST ignore all but the last instance
    /// of the Graceful Restart Capability." The last one here has no N bit, so RFC 8538 is off.
    #[test]
    fn rfc4724_the_last_graceful_restart_instance_is_negotiated() {
        let remote = open(vec![gr(300, true, &[V4]), Capability::Multiprotocol(V4), gr(60, false, &[V4])], 90);
        let n = Negotiated::new(ours(), remote);
        assert_eq!(n.remote_graceful_restart().map(|g| g.restart_time), Some(60));
        assert!(!n.notification_bit());
    }

    /// RFC 9494 §4.1: "If the LLGR Capability is advertised, the Graceful Restart capability
    /// MUST also be advertised.  If it is not so advertised, the LLGR Capability MUST be
    /// disregarded." (§4.5: "the implementation MUST behave as though no LLGR Capability has
    /// been received.")
    #[test]
    fn rfc9494_long_lived_without_graceful_restart_is_disregarded() {
        let n = Negotiated::new(ours(), open(vec![Capability::Multiprotocol(V4), llgr(&[V4])], 90));
        assert_eq!(n.remote_long_lived(), None);
        assert!(n.remote_long_lived_families().is_empty());
        assert!(n.long_lived().is_empty());
        let n = Negotiated::new(ours(), open(vec![Capability::Multiprotocol(V4), gr(0, false, &[]), llgr(&[V4])], 90));
        assert_eq!(n.remote_long_lived_families(), [V4]);
    }

    /// RFC 9494 §4.2 speaks of "AFIs/SAFIs supported by the session": an LLGR entry for a
    /// family the session did not negotiate (RFC 4760 §8) gives it nothing.
    #[test]
    fn rfc9494_long_lived_families_outside_the_session_are_ignored() {
        let remote = open(vec![Capability::Multiprotocol(V4), gr(120, false, &[V4, V6]), llgr(&[V4, V6])], 90);
        let n = Negotiated::new(ours(), remote);
        assert_eq!(n.families, [V4]);
        assert_eq!(n.remote_long_lived_families(), [V4]);
        assert_eq!(n.long_lived().iter().map(|l| l.family).collect::<Vec<_>>(), [V4]);
    }

    /// RFC 7911 §5 needs the Add-Path capability of both sides for an <AFI, SAFI>, and RFC 4760
    /// §8 that both advertised the <AFI, SAFI> itself: Add-Path for a family outside the
    /// session is ignored.
    #[test]
    fn rfc7911_add_path_for_a_family_not_negotiated_is_ignored() {
        let remote = open(vec![Capability::Multiprotocol(V4), ap(V6, true, true)], 90);
        let n = Negotiated::new(ours(), remote);
        assert!(n.add_path_receive.is_empty() && n.add_path_send.is_empty());
        assert!(n.codec_receive().add_path.is_empty());
    }

    /// RFC 7911 §4: a Send/Receive value outside 1..=3 and "the capability SHOULD be treated
    /// as not understood and ignored" (the decoder made it [`Capability::Unknown`]); a valid
    /// instance beside it, and tuples split over several instances, all count (keel's reading
    /// of multiple instances, see [`Open::add_path`]).
    #[test]
    fn rfc7911_add_path_instances_split_or_invalid() {
        let remote = open(
            vec![
                Capability::Multiprotocol(V4),
                Capability::Multiprotocol(V6),
                Capability::Unknown { code: code_add_path(), value: vec![0, 1, 1, 0] },
                ap(V4, false, true),
                ap(V6, true, false),
            ],
            90,
        );
        let n = Negotiated::new(ours(), remote);
        assert_eq!(n.add_path_receive, [V4]);
        assert_eq!(n.add_path_send, [V6]);
    }

    fn code_add_path() -> u8 {
        keel_wire::capability::code::ADD_PATH
    }
}
