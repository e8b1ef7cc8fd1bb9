//! Graceful BGP session shutdown (RFC 8326): the GRACEFUL_SHUTDOWN well-known community
//! 65535:0 (well-known, IANA-registered by RFC 8326) and the two steps keel takes with it, pure.
//!
//! - Sender (RFC 8326 §4.2, "Operations at Maintenance Time"): before a session is taken
//!   down, every route already advertised over it is advertised again tagged with
//!   GRACEFUL_SHUTDOWN, so that the neighbor moves its traffic to another path before the
//!   session goes (make before break). [`export`] is that tag, applied as the last step of
//!   export, after the export rules and the export policy: a policy cannot remove it, and it
//!   never changes what a policy matched on. Towards an internal neighbor, where LOCAL_PREF
//!   is carried, keel lowers LOCAL_PREF to 0 itself as well (RFC 8326 §4.2 lets the operator
//!   lower the LOCAL_PREF of the paths going away; keel's iBGP neighbors then need no policy
//!   of their own). Towards external neighbors LOCAL_PREF is not sent (RFC 4271 §5.1.5).
//! - Receiver (RFC 8326 §4.1, "Pre-configuration", and §4.2): routes received with
//!   GRACEFUL_SHUTDOWN get a low LOCAL_PREF, so that any other path wins. [`import`] sets it
//!   to 0, the lowest there is; `[global] honour_graceful_shutdown` (default on) decides
//!   whether keel does it at all.
//!
//! Where the receiver step sits: *after* the import policy. RFC 8326 §4.1 describes the
//! receiver as an inbound policy whose whole purpose is that a tagged path loses to any
//! alternative; an import policy that sets LOCAL_PREF for a class of neighbors (200 for
//! customers is common) would otherwise undo it silently, and the customer's maintenance would
//! drop traffic after all. An operator who wants another value turns the knob off and writes
//! the rule in policy (match community 65535:0, set local_pref).
//!
//! Both steps change a route only when they must: a route already tagged keeps a single
//! GRACEFUL_SHUTDOWN, and one whose LOCAL_PREF is already 0 is left as it is, so that
//! turning the sender step on re-advertises only the routes whose attributes change.

use crate::attr_set::AttrSet;
use crate::rib::PeerInfo;
use keel_wire::Community;

/// GRACEFUL_SHUTDOWN (RFC 8326), 65535:0.
pub const COMMUNITY: Community = Community::GRACEFUL_SHUTDOWN;

/// The LOCAL_PREF a gracefully shut down path gets: the lowest there is.
pub const LOCAL_PREF: u32 = 0;

/// Receiver step (RFC 8326 §4.1): the attributes to store for a route received as `set`
/// (after import policy), `None` when they stay as they are: no GRACEFUL_SHUTDOWN, or
/// LOCAL_PREF already 0.
pub fn import(set: &AttrSet) -> Option<AttrSet> {
    let a = &set.attributes;
    if !a.communities.contains(&COMMUNITY) || a.local_pref == Some(LOCAL_PREF) {
        return None;
    }
    let mut out = set.clone();
    out.attributes.local_pref = Some(LOCAL_PREF);
    Some(out)
}

/// Sender step (RFC 8326 §4.2): tags `set`, as the export rules and export policy made it for
/// `target`, with GRACEFUL_SHUTDOWN (once), and towards an internal neighbor lowers LOCAL_PREF
/// to 0. Returns whether anything changed.
pub fn export(set: &mut AttrSet, target: &PeerInfo) -> bool {
    let a = &mut set.attributes;
    let mut changed = false;
    if !a.communities.contains(&COMMUNITY) {
        a.communities.push(COMMUNITY);
        changed = true;
    }
    // RFC 4271 §5.1.5: LOCAL_PREF only goes to internal neighbors (a route-server client is
    // external, RFC 7947 §2.2).
    if !target.ebgp() && !target.route_server_client && a.local_pref != Some(LOCAL_PREF) {
        a.local_pref = Some(LOCAL_PREF);
        changed = true;
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rib::tests::info as peer;
    use keel_wire::{NextHop, PathAttributes};
    use std::net::Ipv4Addr;

    fn set(communities: Vec<Community>, local_pref: Option<u32>) -> AttrSet {
        let attributes = PathAttributes { communities: communities.into(), local_pref, ..Default::default() };
        AttrSet { attributes, next_hop: NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)) }
    }

    #[test]
    fn export_adds_the_community_once_and_local_pref_0_only_towards_internal() {
        let (external, internal) = (peer(65001, 1), peer(65000, 2));
        let other = Community(65001 << 16 | 7);
        let mut to_ebgp = set(vec![other], None);
        assert!(export(&mut to_ebgp, &external));
        assert_eq!(to_ebgp.attributes.communities, vec![other, COMMUNITY]);
        assert_eq!(to_ebgp.attributes.local_pref, None, "no LOCAL_PREF towards eBGP (RFC 4271 §5.1.5)");
        let mut to_ibgp = set(vec![], Some(100));
        assert!(export(&mut to_ibgp, &internal));
        assert_eq!(to_ibgp.attributes.communities, vec![COMMUNITY]);
        assert_eq!(to_ibgp.attributes.local_pref, Some(0));
        // A route-server client is external: no LOCAL_PREF.
        let rs = PeerInfo { route_server_client: true, ..peer(65002, 3) };
        let mut to_rs = set(vec![], None);
        assert!(export(&mut to_rs, &rs));
        assert_eq!(to_rs.attributes.local_pref, None);
    }

    #[test]
    fn export_of_a_route_already_tagged_changes_nothing() {
        let (external, internal) = (peer(65001, 1), peer(65000, 2));
        let mut tagged = set(vec![COMMUNITY], None);
        assert!(!export(&mut tagged, &external), "no second GRACEFUL_SHUTDOWN");
        assert_eq!(tagged.attributes.communities, vec![COMMUNITY]);
        let mut tagged_internal = set(vec![COMMUNITY], Some(0));
        assert!(!export(&mut tagged_internal, &internal));
        assert_eq!(tagged_internal.attributes.communities, vec![COMMUNITY]);
        // Tagged but preferred: LOCAL_PREF still goes down towards iBGP.
        let mut preferred = set(vec![COMMUNITY], Some(200));
        assert!(export(&mut preferred, &internal));
        assert_eq!((preferred.attributes.communities.len(), preferred.attributes.local_pref), (1, Some(0)));
    }

    #[test]
    fn import_lowers_local_pref_of_tagged_routes_only() {
        let tagged = set(vec![COMMUNITY], Some(200));
        let out = import(&tagged).expect("tagged route changes");
        assert_eq!(out.attributes.local_pref, Some(0));
        assert_eq!(out.attributes.communities, vec![COMMUNITY], "the community stays (RFC 8326 §4.1)");
        // Without LOCAL_PREF (from eBGP): set to 0 too.
        assert_eq!(import(&set(vec![COMMUNITY], None)).map(|s| s.attributes.local_pref), Some(Some(0)));
        assert!(import(&set(vec![COMMUNITY], Some(0))).is_none(), "already 0");
        assert!(import(&set(vec![Community::NO_EXPORT], Some(200))).is_none(), "not tagged");
    }
}
