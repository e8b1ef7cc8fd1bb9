//! The Only to Customer (OTC) attribute's procedures (RFC 9234 §5): route leak detection on
//! receipt and prevention on advertisement, by the role keel has on the session (RFC 9234 §4;
//! [`PeerInfo::role`] is keel's own role, `customer` meaning "keel is this neighbor's
//! customer").
//!
//! | procedure | keel's role on the session (the neighbor is) | rule |
//! |---|---|---|
//! | ingress 1 | provider, rs (customer, rs-client) | OTC present: route leak, ineligible |
//! | ingress 2 | peer (peer) | OTC present and not the neighbor's AS: route leak, ineligible |
//! | ingress 3 | customer, peer, rs-client (provider, peer, rs) | OTC absent: add OTC = neighbor's AS |
//! | egress 1 | provider, peer, rs (customer, peer, rs-client) | OTC absent: add OTC = keel's AS |
//! | egress 2 | customer, peer, rs-client (provider, peer, rs) | OTC present: not sent |
//!
//! §5 limits the procedures to IPv4 and IPv6 unicast (AFI 1, 2 with SAFI 1) ([`applies`]),
//! and to eBGP sessions: roles are configured on eBGP sessions only (§4), so internal
//! neighbors, which have no role, carry OTC unchanged both ways ("Once the OTC Attribute has
//! been set, it MUST be preserved unchanged", §5). The operator cannot turn these procedures
//! off (§5: "The operator MUST NOT have the ability to modify the procedures"), only leave the
//! role unset.
//!
//! Egress 1 for an RS-Client reads "when the sender is an RS": keel sends to an RS-Client only
//! as an RS (the Table 2 pair), so keel's role `rs` is that case.

use crate::attr_set::AttrSet;
use crate::rib::PeerInfo;
use keel_wire::capability::Role;
use keel_wire::{Afi, Family, Safi};

/// RFC 9234 §5: "The described ingress and egress procedures are applicable only for the
/// address families AFI 1 (IPv4) and AFI 2 (IPv6) with SAFI 1 (unicast)".
pub fn applies(family: Family) -> bool {
    (family.afi == Afi::IPV4 || family.afi == Afi::IPV6) && family.safi == Safi::UNICAST
}

/// What the ingress procedure (RFC 9234 §5, ingress) makes of a received route's OTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingress {
    /// The route is used as received.
    Keep,
    /// Ingress 3: OTC is added with this value (the neighbor's AS).
    Add(u32),
    /// Ingress 1 or 2: a route leak, "MUST be considered ineligible" (§3: kept out of the
    /// decision process).
    Leak,
}

/// RFC 9234 §5 ingress for a route with OTC `otc` received on a session where keel's role
/// is `role`, from a neighbor in AS `neighbor_as`.
pub fn ingress(role: Role, neighbor_as: u32, otc: Option<u32>) -> Ingress {
    match (role, otc) {
        // 1. "If a route with the OTC Attribute is received from a Customer or an RS-Client,
        //    then it is a route leak and MUST be considered ineligible."
        (Role::Provider | Role::RouteServer, Some(_)) => Ingress::Leak,
        // 2. "If a route with the OTC Attribute is received from a Peer ... and the Attribute
        //    has a value that is not equal to the remote (i.e., Peer's) AS number, then it is a
        //    route leak and MUST be considered ineligible."
        (Role::Peer, Some(v)) if v != neighbor_as => Ingress::Leak,
        // 3. "If a route is received from a Provider, a Peer, or an RS and the OTC Attribute is
        //    not present, then it MUST be added with a value equal to the AS number of the
        //    remote AS."
        (Role::Customer | Role::Peer | Role::RouteServerClient, None) => Ingress::Add(neighbor_as),
        _ => Ingress::Keep,
    }
}

/// [`ingress`] for a route of `family` from `neighbor`, as the RIB applies it: the neighbor's
/// role, if any, on a unicast family; nothing to do otherwise.
pub fn ingress_for(neighbor: &PeerInfo, family: Family, otc: Option<u32>) -> Ingress {
    match neighbor.role {
        Some(role) if neighbor.ebgp() && applies(family) => ingress(role, neighbor.asn, otc),
        _ => Ingress::Keep,
    }
}

/// What the egress procedure (RFC 9234 §5, egress) makes of a route about to be advertised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Egress {
    /// Sent with this OTC (`None`: without).
    Send(Option<u32>),
    /// Egress 2: not sent.
    Withhold,
}

/// RFC 9234 §5 egress for a route with OTC `otc` advertised on a session where keel's role is
/// `role`, keel being AS `local_as`.
pub fn egress(role: Role, local_as: u32, otc: Option<u32>) -> Egress {
    match (role, otc) {
        // 2. "If a route already contains the OTC Attribute, it MUST NOT be propagated to
        //    Providers, Peers, or RSes."
        (Role::Customer | Role::Peer | Role::RouteServerClient, Some(_)) => Egress::Withhold,
        // 1. "If a route is to be advertised to a Customer, a Peer, or an RS-Client (when the
        //    sender is an RS), and the OTC Attribute is not present, then when advertising the
        //    route, an OTC Attribute MUST be added with a value equal to the AS number of the
        //    local AS."
        (Role::Provider | Role::Peer | Role::RouteServer, None) => Egress::Send(Some(local_as)),
        (_, otc) => Egress::Send(otc),
    }
}

/// [`egress`] applied to `out`, the attributes about to go to `target` for `family`: false
/// when the route must not go to it.
pub fn egress_for(target: &PeerInfo, family: Family, out: &mut AttrSet) -> bool {
    let Some(role) = target.role.filter(|_| target.ebgp() && applies(family)) else { return true };
    match egress(role, target.local_asn, out.attributes.otc) {
        Egress::Send(otc) => {
            out.attributes.otc = otc;
            true
        }
        Egress::Withhold => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::*;

    const NEIGHBOR: u32 = 65002;
    const LOCAL: u32 = 65001;

    /// RFC 9234 §5 ingress, one row per (keel's role, OTC received).
    #[test]
    fn ingress_rules() {
        let rows = [
            // Rule 1: from a customer or an RS-Client, any OTC is a leak.
            (Provider, Some(NEIGHBOR), Ingress::Leak),
            (Provider, Some(64999), Ingress::Leak),
            (RouteServer, Some(NEIGHBOR), Ingress::Leak),
            // From them without OTC: nothing added (rule 3 names provider, peer, RS only).
            (Provider, None, Ingress::Keep),
            (RouteServer, None, Ingress::Keep),
            // Rule 2: from a peer, OTC other than the peer's AS is a leak; its own AS is fine.
            (Peer, Some(64999), Ingress::Leak),
            (Peer, Some(NEIGHBOR), Ingress::Keep),
            // Rule 3: from a provider, a peer or an RS without OTC: OTC = the neighbor's AS.
            (Customer, None, Ingress::Add(NEIGHBOR)),
            (Peer, None, Ingress::Add(NEIGHBOR)),
            (RouteServerClient, None, Ingress::Add(NEIGHBOR)),
            // From a provider or an RS with OTC: kept as it is (set upstream, preserved).
            (Customer, Some(64999), Ingress::Keep),
            (RouteServerClient, Some(64999), Ingress::Keep),
        ];
        for (role, otc, want) in rows {
            assert_eq!(ingress(role, NEIGHBOR, otc), want, "{role:?} {otc:?}");
        }
    }

    /// RFC 9234 §5 egress, one row per (keel's role, OTC of the route).
    #[test]
    fn egress_rules() {
        let rows = [
            // Rule 1: to a customer, a peer or an RS-Client (keel an RS) without OTC: add ours.
            (Provider, None, Egress::Send(Some(LOCAL))),
            (Peer, None, Egress::Send(Some(LOCAL))),
            (RouteServer, None, Egress::Send(Some(LOCAL))),
            // To a customer or an RS-Client with OTC: sent with it unchanged.
            (Provider, Some(64999), Egress::Send(Some(64999))),
            (RouteServer, Some(64999), Egress::Send(Some(64999))),
            // Rule 2: with OTC, never to a provider, a peer or an RS.
            (Customer, Some(64999), Egress::Withhold),
            (Peer, Some(64999), Egress::Withhold),
            (RouteServerClient, Some(64999), Egress::Withhold),
            // To a provider or an RS without OTC: sent without.
            (Customer, None, Egress::Send(None)),
            (RouteServerClient, None, Egress::Send(None)),
        ];
        for (role, otc, want) in rows {
            assert_eq!(egress(role, LOCAL, otc), want, "{role:?} {otc:?}");
        }
    }

    /// RFC 9234 §5: unicast only; internal neighbors and neighbors without a role untouched.
    #[test]
    fn scope() {
        use std::net::{IpAddr, Ipv4Addr};
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        let id = Ipv4Addr::new(192, 0, 2, 1);
        let mut n = PeerInfo::new(ip, NEIGHBOR, id, LOCAL, id, ip);
        assert_eq!(ingress_for(&n, Family::IPV4_UNICAST, Some(1)), Ingress::Keep, "no role");
        n.role = Some(Provider);
        assert_eq!(ingress_for(&n, Family::IPV4_UNICAST, Some(1)), Ingress::Leak);
        assert_eq!(ingress_for(&n, Family::IPV6_UNICAST, Some(1)), Ingress::Leak);
        assert_eq!(ingress_for(&n, Family::IPV4_MULTICAST, Some(1)), Ingress::Keep, "not unicast");
        let mut out =
            AttrSet { attributes: Default::default(), next_hop: keel_wire::NextHop::V4(Ipv4Addr::new(192, 0, 2, 9)) };
        assert!(egress_for(&n, Family::IPV4_UNICAST, &mut out));
        assert_eq!(out.attributes.otc, Some(LOCAL));
        n.role = Some(Customer);
        assert!(!egress_for(&n, Family::IPV6_UNICAST, &mut out), "OTC not sent up");
        assert!(egress_for(&n, Family::IPV4_MULTICAST, &mut out), "not unicast");
        // Internal: OTC preserved unchanged, both ways.
        let mut internal = PeerInfo::new(ip, LOCAL, id, LOCAL, id, ip);
        internal.role = Some(Customer);
        assert_eq!(ingress_for(&internal, Family::IPV4_UNICAST, None), Ingress::Keep);
        assert!(egress_for(&internal, Family::IPV4_UNICAST, &mut out));
        assert_eq!(out.attributes.otc, Some(LOCAL));
    }
}
