//! What keel sends a neighbor for a destination's best path (RFC 4271 §9.1.3, §5.1):
//! iBGP split horizon and route reflection (RFC 4456 §8), route server transparency
//! (RFC 7947 §2.2), well-known communities (RFC 1997), and the attribute rewrites towards
//! eBGP (confederation segments removed and AS_PATH prepended, NEXT_HOP self, no LOCAL_PREF,
//! no foreign MED), and the Only to Customer egress procedure (RFC 9234 §5, [`crate::otc`]).

use crate::attr_set::AttrSet;
use crate::decision::DEFAULT_LOCAL_PREF;
use crate::rib::{PeerId, PeerInfo};
use keel_wire::{AsPath, Community, Family, NextHop};
use std::net::IpAddr;

/// The next hop "self" for `family` on a session whose local address is `local`: the
/// session's own address, IPv4-mapped for IPv6 routes over IPv4 sessions (RFC 4291 §2.5.5.2)
/// and as an IPv6 next hop for IPv4 routes over IPv6 sessions (RFC 8950).
pub fn next_hop_self(family: Family, local: IpAddr) -> NextHop {
    match (family.afi == keel_wire::Afi::IPV4, local) {
        (true, IpAddr::V4(a)) => NextHop::V4(a),
        (false, IpAddr::V6(a)) => NextHop::V6 { global: a, link_local: None },
        (false, IpAddr::V4(a)) => NextHop::V6 { global: a.to_ipv6_mapped(), link_local: None },
        (true, IpAddr::V6(a)) => match a.to_ipv4_mapped() {
            Some(v4) => NextHop::V4(v4),
            None => NextHop::V6 { global: a, link_local: None },
        },
    }
}

/// The attributes to send `target` for a best path from `source` (`None` for keel's own
/// routes), or `None` when the route must not go to `target` (withdraw it if sent before).
/// `llgr_stale`: the path is LLGR-stale (RFC 9494 §4.3).
pub fn export(
    family: Family,
    best: &AttrSet,
    source_id: PeerId,
    source: Option<&PeerInfo>,
    target_id: PeerId,
    target: &PeerInfo,
    llgr_stale: bool,
) -> Option<AttrSet> {
    if !target.export || source_id == target_id {
        return None;
    }
    // RFC 9494 §4.3: LLGR-stale routes go only to neighbors that advertised LLGR for the
    // family, or (§4.6, when configured) to internal ones, as least preferred.
    let to_internal = llgr_stale && !target.long_lived.contains(&family);
    if to_internal && (target.ebgp() || !target.long_lived_to_internal) {
        return None;
    }
    let mut out = export_attributes(family, best, source, target)?;
    // RFC 9234 §5 egress: OTC added towards customers, peers and RS-Clients; a route with OTC
    // goes to no provider, peer or RS.
    if !crate::otc::egress_for(target, family, &mut out) {
        return None;
    }
    if llgr_stale {
        let c = &mut out.attributes.communities;
        // Never removed once there (RFC 9494 §4.3), added when keel marked the route.
        if !c.contains(&Community::LLGR_STALE) {
            c.push(Community::LLGR_STALE);
        }
        if to_internal {
            if !c.contains(&Community::NO_EXPORT) {
                c.push(Community::NO_EXPORT);
            }
            out.attributes.local_pref = Some(0);
        }
    }
    Some(out)
}

fn export_attributes(family: Family, best: &AttrSet, source: Option<&PeerInfo>, target: &PeerInfo) -> Option<AttrSet> {
    let a = &best.attributes;
    // RFC 1997: NO_ADVERTISE to nobody; NO_EXPORT (and NO_EXPORT_SUBCONFED, without
    // confederations) not outside the AS.
    if a.communities.contains(&Community::NO_ADVERTISE) {
        return None;
    }
    let target_ebgp = target.ebgp();
    // Route-server clients are outside the AS too: RFC 1997 applies to them as well.
    if target_ebgp
        && (a.communities.contains(&Community::NO_EXPORT) || a.communities.contains(&Community::NO_EXPORT_SUBCONFED))
    {
        return None;
    }
    let mut out = best.clone();
    let o = &mut out.attributes;
    if target_ebgp {
        // RFC 5065 §4.1 c), §5: confederation segments "MUST NOT" go to a peer outside the
        // confederation, and every external neighbor is (keel is a member of none). Removed
        // before the prepend below; route-server clients get the path without them too.
        if let Some(p) = o.as_path.as_mut() {
            p.strip_confed();
        }
    }
    match source {
        // iBGP-learned towards iBGP: only by route reflection (RFC 4456 §8).
        Some(s) if !s.ebgp() && !target_ebgp => {
            if !(s.route_reflector_client || target.route_reflector_client) {
                return None;
            }
            if o.originator_id.is_none() {
                o.originator_id = Some(s.router_id);
            }
            o.cluster_list.insert(0, target.cluster_id);
        }
        _ => {}
    }
    if target.route_server_client {
        // RFC 7947 §2.2: the route server adds no AS and keeps NEXT_HOP and MED.
        o.local_pref = None;
        o.originator_id = None;
        o.cluster_list.clear();
        if source.is_none() {
            o.as_path = Some(AsPath::sequence(vec![target.local_asn]));
            set_self_if_unspecified(&mut out, family, target);
        }
        return Some(out);
    }
    if target_ebgp {
        let mut path = o.as_path.take().unwrap_or_default();
        path.prepend(target.local_asn);
        o.as_path = Some(path);
        o.local_pref = None;
        // §5.1.4: a MED learned from a neighboring AS goes no further.
        if source.is_some_and(|s| s.ebgp()) {
            o.med = None;
        }
        o.originator_id = None;
        o.cluster_list.clear();
        // Own routes keep a configured third-party next hop; the rest get next-hop-self.
        if source.is_some() {
            out.next_hop = next_hop_self(family, target.local_address);
        } else {
            set_self_if_unspecified(&mut out, family, target);
        }
    } else {
        if o.as_path.is_none() {
            o.as_path = Some(AsPath::default());
        }
        o.local_pref = Some(o.local_pref.unwrap_or(DEFAULT_LOCAL_PREF));
        // §5.1.3: learned routes keep their next hop towards iBGP; keel's own routes carry
        // the configured next hop or keel's address.
        if source.is_none() {
            set_self_if_unspecified(&mut out, family, target);
        }
    }
    Some(out)
}

/// Own routes are stored with the unspecified address as next hop when it is "self".
fn set_self_if_unspecified(out: &mut AttrSet, family: Family, target: &PeerInfo) {
    if out.next_hop.addr().is_unspecified() {
        out.next_hop = next_hop_self(family, target.local_address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_wire::PathAttributes;
    use std::net::Ipv4Addr;

    use crate::rib::tests::info as peer;

    fn set(f: impl FnOnce(&mut PathAttributes)) -> AttrSet {
        let mut a = PathAttributes {
            as_path: Some(AsPath::sequence(vec![65001])),
            med: Some(7),
            local_pref: Some(150),
            ..Default::default()
        };
        f(&mut a);
        AttrSet { attributes: a, next_hop: NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)) }
    }

    const F: Family = Family::IPV4_UNICAST;

    #[test]
    fn ebgp_to_ebgp_prepends_sets_next_hop_self_drops_local_pref_and_med() {
        let (s, t) = (peer(65001, 1), peer(65002, 2));
        let out = export(F, &set(|_| {}), PeerId(1), Some(&s), PeerId(2), &t, false).unwrap();
        assert_eq!(out.attributes.as_path, Some(AsPath::sequence(vec![65000, 65001])));
        assert_eq!(out.next_hop, NextHop::V4(Ipv4Addr::new(127, 0, 0, 100)));
        assert_eq!((out.attributes.local_pref, out.attributes.med), (None, None));
        // Never back to where it came from.
        assert!(export(F, &set(|_| {}), PeerId(1), Some(&s), PeerId(1), &s, false).is_none());
    }

    #[test]
    fn ibgp_split_horizon_and_route_reflection() {
        let (a, b) = (peer(65000, 1), peer(65000, 2));
        assert!(export(F, &set(|_| {}), PeerId(1), Some(&a), PeerId(2), &b, false).is_none());
        let client = PeerInfo { route_reflector_client: true, ..b.clone() };
        let out = export(F, &set(|_| {}), PeerId(1), Some(&a), PeerId(2), &client, false).unwrap();
        assert_eq!(out.attributes.originator_id, Some(a.router_id));
        assert_eq!(out.attributes.cluster_list, vec![client.cluster_id]);
        assert_eq!(out.next_hop, NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)), "reflection keeps the next hop");
        // eBGP-learned to iBGP: LOCAL_PREF set, next hop unchanged.
        let e = peer(65001, 3);
        let out = export(F, &set(|a| a.local_pref = None), PeerId(3), Some(&e), PeerId(2), &b, false).unwrap();
        assert_eq!(out.attributes.local_pref, Some(100));
    }

    #[test]
    fn well_known_communities() {
        let (s, ebgp, ibgp) = (peer(65001, 1), peer(65002, 2), peer(65000, 3));
        let no_export = set(|a| a.communities = vec![Community::NO_EXPORT].into());
        assert!(export(F, &no_export, PeerId(1), Some(&s), PeerId(2), &ebgp, false).is_none());
        assert!(export(F, &no_export, PeerId(1), Some(&s), PeerId(3), &ibgp, false).is_some());
        let no_adv = set(|a| a.communities = vec![Community::NO_ADVERTISE].into());
        assert!(export(F, &no_adv, PeerId(1), Some(&s), PeerId(3), &ibgp, false).is_none());
    }

    #[test]
    fn route_server_clients_do_not_get_no_export_routes() {
        let (s, t) = (peer(65001, 1), PeerInfo { route_server_client: true, ..peer(65002, 2) });
        let no_export = set(|a| a.communities = vec![Community::NO_EXPORT].into());
        assert!(export(F, &no_export, PeerId(1), Some(&s), PeerId(2), &t, false).is_none());
    }

    #[test]
    fn route_server_is_transparent() {
        let (s, t) = (peer(65001, 1), PeerInfo { route_server_client: true, ..peer(65002, 2) });
        let out = export(F, &set(|_| {}), PeerId(1), Some(&s), PeerId(2), &t, false).unwrap();
        assert_eq!(out.attributes.as_path, Some(AsPath::sequence(vec![65001])));
        assert_eq!(out.next_hop, NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(out.attributes.med, Some(7));
    }

    /// Issue 16 defect 4, one row per target: confederation segments of an internal
    /// neighbor's path (RFC 5065 §4.1 c), §5) go to no external neighbor, route-server clients
    /// included, and stay as they are towards internal ones (§4.1 a).
    #[test]
    fn confederation_segments_never_leave() {
        use keel_wire::attribute::{AsSegment, SegmentType};
        let confed = AsPath {
            segments: vec![
                AsSegment { kind: SegmentType::ConfedSequence, asns: vec![65010].into() },
                AsSegment { kind: SegmentType::Sequence, asns: vec![65020].into() },
                AsSegment { kind: SegmentType::ConfedSet, asns: vec![65011].into() },
            ]
            .into(),
        };
        let a = set(|a| a.as_path = Some(confed.clone()));
        let s = PeerInfo { route_reflector_client: true, ..peer(65000, 1) };
        let rows = [
            (peer(65002, 2), AsPath::sequence(vec![65000, 65020])),
            (PeerInfo { route_server_client: true, ..peer(65003, 3) }, AsPath::sequence(vec![65020])),
            (peer(65000, 4), confed.clone()),
        ];
        for (t, want) in rows {
            let out = export(F, &a, PeerId(1), Some(&s), PeerId(9), &t, false).unwrap();
            assert_eq!(out.attributes.as_path, Some(want), "to AS {}", t.asn);
        }
        // keel's own routes are stored without any: nothing to strip, the AS is still added.
        let own = set(|a| a.as_path = Some(AsPath::default()));
        let out = export(F, &own, PeerId::LOCAL, None, PeerId(2), &peer(65002, 2), false).unwrap();
        assert_eq!(out.attributes.as_path, Some(AsPath::sequence(vec![65000])));
    }

    #[test]
    fn export_none_sends_nothing() {
        let (s, t) = (peer(65001, 1), PeerInfo { export: false, ..peer(65002, 2) });
        assert!(export(F, &set(|_| {}), PeerId(1), Some(&s), PeerId(2), &t, false).is_none());
    }

    #[test]
    fn llgr_stale_routes_go_only_to_llgr_neighbors_and_keep_the_community() {
        let s = peer(65001, 1);
        let llgr = PeerInfo { long_lived: vec![F], ..peer(65002, 2) };
        let plain = peer(65003, 3);
        let a = set(|_| {});
        let out = export(F, &a, PeerId(1), Some(&s), PeerId(2), &llgr, true).unwrap();
        assert!(out.attributes.communities.contains(&Community::LLGR_STALE));
        assert!(export(F, &a, PeerId(1), Some(&s), PeerId(3), &plain, true).is_none(), "RFC 9494 §4.3");
        assert!(export(F, &a, PeerId(1), Some(&s), PeerId(3), &plain, false).is_some());
        // Received with LLGR_STALE: sent once, not twice.
        let marked = set(|a| a.communities = vec![Community::LLGR_STALE].into());
        let out = export(F, &marked, PeerId(1), Some(&s), PeerId(2), &llgr, true).unwrap();
        assert_eq!(out.attributes.communities, vec![Community::LLGR_STALE]);
    }

    #[test]
    fn llgr_partial_deployment_to_internal_neighbors_only() {
        let s = peer(65001, 1);
        let internal = PeerInfo { long_lived_to_internal: true, ..peer(65000, 2) };
        let external = PeerInfo { long_lived_to_internal: true, ..peer(65003, 3) };
        let a = set(|_| {});
        let out = export(F, &a, PeerId(1), Some(&s), PeerId(2), &internal, true).unwrap();
        let c = &out.attributes.communities;
        assert!(c.contains(&Community::LLGR_STALE) && c.contains(&Community::NO_EXPORT), "RFC 9494 §4.6");
        assert_eq!(out.attributes.local_pref, Some(0));
        assert!(export(F, &a, PeerId(1), Some(&s), PeerId(3), &external, true).is_none());
        let off = PeerInfo { long_lived_to_internal: false, ..internal };
        assert!(export(F, &a, PeerId(1), Some(&s), PeerId(2), &off, true).is_none());
    }
}
