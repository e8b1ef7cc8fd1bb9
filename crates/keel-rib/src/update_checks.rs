//! Checks of a received UPDATE that depend on the neighbor it came from. The codec
//! (keel-wire) judges the bytes and knows nothing of the neighbor; the RIB task runs these
//! before it uses the routes. What they find is reported the way the codec reports its own
//! findings, as RFC 7606 errors in [`Update::errors`], so that one place acts on every error
//! and logs it.
//!
//! | check | RFC | reaction |
//! |---|---|---|
//! | AS_CONFED_SEQUENCE / AS_CONFED_SET from an external neighbor | RFC 5065 §5, RFC 7606 §7.2 | treat-as-withdraw |
//! | leftmost AS not the external neighbor's AS (`enforce_first_as`) | RFC 4271 §6.3, RFC 7606 §7.2 | treat-as-withdraw |
//! | LOCAL_PREF, ORIGINATOR_ID, CLUSTER_LIST from an external neighbor | RFC 4271 §5.1.5, RFC 7606 §7.5, §7.9, §7.10 | attribute discard, malformed or not |
//! | NEXT_HOP that is keel's own address on the session ([`next_hop_is_local`]) | RFC 4271 §6.3 | the routes with it are ignored |
//!
//! keel takes part in no confederation, so every external neighbor is outside "the same
//! confederation" of RFC 5065 §5. An internal neighbor is in keel's own AS, hence in whatever
//! confederation that AS may be a member of: its confederation segments are accepted and kept
//! (they go on unchanged to internal neighbors, RFC 5065 §4.1 a) and are removed before the
//! path leaves for an external one ([`crate::export`], RFC 5065 §4.1 c)).

use crate::rib::PeerInfo;
use keel_wire::attribute::{code as attr, AsPath, NextHop, SegmentType};
use keel_wire::error::{code, update};
use keel_wire::{Action, Update, WireError};
use std::net::IpAddr;

/// Applies the neighbor-dependent checks to `update` from `neighbor`: adds the errors they
/// find to `update.errors` and drops what RFC 7606 says to discard.
pub fn check_update(update: &mut Update, neighbor: &PeerInfo) {
    if !neighbor.ebgp() {
        return;
    }
    discard_internal_attributes(update);
    if update.announced_routes().next().is_none() {
        // Nothing to withdraw: an AS_PATH error would change nothing.
        return;
    }
    if let Some(e) = update.attributes.as_path.as_ref().and_then(|p| external_as_path_error(p, neighbor)) {
        update.errors.push(e);
    }
}

/// RFC 7606 §7.5 (LOCAL_PREF), §7.9 (ORIGINATOR_ID), §7.10 (CLUSTER_LIST): received from an
/// external neighbor, each "SHALL be discarded using the approach of attribute discard",
/// whether well formed or not (they mean something only inside an AS; RFC 4271 §5.1.5 already
/// said to ignore LOCAL_PREF from an external peer). A malformed one therefore no longer
/// withdraws the routes, as the codec decided without knowing the neighbor (from an internal
/// neighbor it does: the codec's treat-as-withdraw stands).
fn discard_internal_attributes(update: &mut Update) {
    let a = &mut update.attributes;
    a.local_pref = None;
    a.originator_id = None;
    a.cluster_list.clear();
    for e in &mut update.errors {
        if matches!(e.attribute, Some(attr::LOCAL_PREF | attr::ORIGINATOR_ID | attr::CLUSTER_LIST)) {
            e.action = Action::AttributeDiscard;
        }
    }
}

/// The malformed-AS_PATH error of an external neighbor's path, if it is one:
/// - RFC 5065 §5: confederation segments from a neighbor not in the same confederation are
///   "a malformed AS_PATH according to ... [BGP-4] Section 6.3", and a malformed AS_PATH is
///   treat-as-withdraw (RFC 7606 §7.2);
/// - RFC 4271 §6.3: the leftmost AS must be the neighbor's ("MAY check"; on with
///   `enforce_first_as`), else Malformed AS_PATH, which RFC 7606 §7.2 says SHOULD be
///   treat-as-withdraw. An empty path has no leftmost AS and fails too.
fn external_as_path_error(path: &AsPath, neighbor: &PeerInfo) -> Option<WireError> {
    let reason = if let Some(s) = path.segments.iter().find(|s| s.kind.is_confed()) {
        let kind = if s.kind == SegmentType::ConfedSet { "AS_CONFED_SET" } else { "AS_CONFED_SEQUENCE" };
        format!(
            "AS_PATH has an {kind} segment from external neighbor AS {}, which shares no confederation \
             with keel (RFC 5065 §5)",
            neighbor.asn
        )
    } else if neighbor.enforce_first_as && path.neighbor_as() != Some(neighbor.asn) {
        let first = path.segments.first().and_then(|s| s.asns.first()).map_or("none".to_string(), u32::to_string);
        format!("AS_PATH's leftmost AS {first} is not neighbor AS {} (RFC 4271 §6.3, enforce_first_as)", neighbor.asn)
    } else {
        return None;
    };
    Some(
        WireError::new(code::UPDATE_MESSAGE, update::MALFORMED_AS_PATH, reason)
            .with_attribute(attr::AS_PATH)
            .with_action(Action::TreatAsWithdraw),
    )
}

/// RFC 4271 §6.3: a NEXT_HOP that is "the IP address of the receiving speaker" is semantically
/// incorrect; the error SHOULD be logged and the route ignored, without a NOTIFICATION. keel
/// knows its address on the session (`local_address` of the neighbor's [`PeerInfo`], its next
/// hop towards the neighbor): a route pointing back at it would loop. IPv4-mapped IPv6
/// addresses count as the IPv4 address.
pub fn next_hop_is_local(next_hop: &NextHop, local_address: IpAddr) -> bool {
    next_hop.addr().to_canonical() == local_address.to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rib::tests::info;
    use keel_wire::attribute::AsSegment;
    use keel_wire::{CodecOptions, Family, Message, Nlri, Origin, PathAttributes};
    use std::net::Ipv4Addr;

    const EXTERNAL: u32 = 65001;

    fn path(segments: &[(SegmentType, &[u32])]) -> AsPath {
        AsPath {
            segments: segments
                .iter()
                .map(|(kind, asns)| AsSegment { kind: *kind, asns: asns.iter().copied().collect() })
                .collect(),
        }
    }

    /// An UPDATE announcing 198.51.100.0/24 with `as_path`, as the codec returns it.
    fn update(as_path: AsPath) -> Update {
        let a = PathAttributes { origin: Some(Origin::Igp), as_path: Some(as_path), ..Default::default() };
        let mut bytes = Vec::new();
        keel_wire::builder::announce(
            Family::IPV4_UNICAST,
            &a,
            NextHop::V4(Ipv4Addr::new(192, 0, 2, 9)),
            &[Nlri::new("198.51.100.0/24".parse().unwrap())],
            &CodecOptions::default(),
            &mut bytes,
        )
        .unwrap();
        decode(&bytes)
    }

    fn decode(bytes: &[u8]) -> Update {
        match Message::decode(bytes, &CodecOptions::default()) {
            Ok(Message::Update(u)) => *u,
            other => panic!("{other:?}"),
        }
    }

    /// The reaction `check_update` leaves: any treat-as-withdraw, and the AS_PATH error's reason.
    fn checked(mut u: Update, neighbor: &PeerInfo) -> (bool, Option<String>) {
        check_update(&mut u, neighbor);
        let reason = u.errors.iter().find(|e| e.attribute == Some(attr::AS_PATH)).map(|e| e.reason.clone());
        (u.treat_as_withdraw(), reason)
    }

    /// Issue 16 defect 4: one row per confederation segment placement, from an external
    /// neighbor (treat-as-withdraw, RFC 5065 §5 + RFC 7606 §7.2) and from an internal one
    /// (accepted: same AS, so same confederation if any).
    #[test]
    fn confederation_segments_from_external_neighbor_are_withdrawn() {
        use SegmentType::*;
        let (external, internal) = (info(EXTERNAL, 1), info(65000, 2));
        let rows: [(&str, AsPath); 4] = [
            ("confed sequence first", path(&[(ConfedSequence, &[65010]), (Sequence, &[EXTERNAL])])),
            ("confed set first", path(&[(ConfedSet, &[65010, 65011]), (Sequence, &[EXTERNAL])])),
            ("confed after the first AS", path(&[(Sequence, &[EXTERNAL]), (ConfedSequence, &[65010])])),
            ("only confed", path(&[(ConfedSequence, &[65010])])),
        ];
        for (what, p) in rows {
            let (withdraw, reason) = checked(update(p.clone()), &external);
            assert!(withdraw, "{what}: external");
            assert!(reason.is_some_and(|r| r.contains("RFC 5065 §5") && r.contains("AS_CONFED_")), "{what}");
            // Even with the first-AS check off (a route server neighbor).
            let rs = PeerInfo { enforce_first_as: false, ..external.clone() };
            assert!(checked(update(p.clone()), &rs).0, "{what}: external, enforce_first_as off");
            assert_eq!(checked(update(p), &internal), (false, None), "{what}: internal");
        }
    }

    /// RFC 4271 §6.3 / RFC 7606 §7.2, one row per case: (path, enforce_first_as, external,
    /// treat-as-withdraw).
    #[test]
    fn rfc4271_6_3_enforce_first_as() {
        use SegmentType::*;
        let rows: [(AsPath, bool, bool, bool); 8] = [
            (AsPath::sequence(vec![EXTERNAL, 65002]), true, true, false),
            (AsPath::sequence(vec![65002, EXTERNAL]), true, true, true),
            (AsPath::default(), true, true, true),
            (path(&[(Set, &[EXTERNAL, 65002])]), true, true, true),
            // A route server does not prepend its AS (RFC 7947 §2.2): configured off.
            (AsPath::sequence(vec![65002, 65003]), false, true, false),
            (AsPath::default(), false, true, false),
            // Internal neighbors: no check (their paths start with whoever sent it to the AS).
            (AsPath::sequence(vec![65002]), true, false, false),
            (AsPath::default(), true, false, false),
        ];
        for (i, (p, enforce, external, withdraw)) in rows.into_iter().enumerate() {
            let asn = if external { EXTERNAL } else { 65000 };
            let n = PeerInfo { enforce_first_as: enforce, ..info(asn, 1) };
            let (got, reason) = checked(update(p), &n);
            assert_eq!(got, withdraw, "row {i}: {reason:?}");
            assert_eq!(reason.is_some(), withdraw, "row {i}");
        }
    }

    /// RFC 7606 §7.5, §7.9, §7.10: LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST from an external
    /// neighbor are attribute-discard, malformed (length) or not; from an internal neighbor the
    /// well-formed ones stay and the malformed ones stay treat-as-withdraw. One row per
    /// (attribute bytes, external, withdrawn, kept).
    #[test]
    fn rfc7606_7_5_7_9_7_10_internal_attributes_from_external_neighbors() {
        // Flags, code, length, value; a well-formed UPDATE otherwise.
        let lp_ok = "40 05 04 000000c8";
        let lp_bad = "40 05 03 0000c8";
        let oid_ok = "80 09 04 c0000207";
        let oid_bad = "80 09 05 c000020700";
        let cl_ok = "80 0a 04 c0000207";
        let cl_bad = "80 0a 03 c00002";
        let lp_flags = "c0 05 04 000000c8"; // optional bit set on a well-known attribute
        let rows: [(&str, bool, bool, bool); 14] = [
            (lp_ok, true, false, false),
            (lp_bad, true, false, false),
            (lp_flags, true, false, false),
            (oid_ok, true, false, false),
            (oid_bad, true, false, false),
            (cl_ok, true, false, false),
            (cl_bad, true, false, false),
            (lp_ok, false, false, true),
            (lp_bad, false, true, false),
            (lp_flags, false, true, false),
            (oid_ok, false, false, true),
            (oid_bad, false, true, false),
            (cl_ok, false, false, true),
            (cl_bad, false, true, false),
        ];
        for (attribute, external, withdrawn, kept) in rows {
            let asn = if external { EXTERNAL } else { 65000 };
            let attrs = format!("40 01 01 00 40 02 06 02 01 {EXTERNAL:08x} 40 03 04 c0000209 {attribute}");
            let mut u = decode(&update_bytes(&attrs, "18 c63364"));
            check_update(&mut u, &info(asn, 1));
            let what = format!("{attribute} external={external}");
            assert_eq!(u.treat_as_withdraw(), withdrawn, "{what}: {:?}", u.errors);
            let a = &u.attributes;
            let present = a.local_pref.is_some() || a.originator_id.is_some() || !a.cluster_list.is_empty();
            assert_eq!(present, kept, "{what}");
            if external && !u.errors.is_empty() {
                assert!(u.errors.iter().all(|e| e.action == Action::AttributeDiscard), "{what}: {:?}", u.errors);
            }
        }
    }

    /// A whole UPDATE message from the hex of its path attributes and NLRI.
    fn update_bytes(attrs: &str, nlri: &str) -> Vec<u8> {
        let hex = |s: &str| -> Vec<u8> {
            let s: String = s.split_whitespace().collect();
            (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
        };
        let (a, n) = (hex(attrs), hex(nlri));
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&((19 + 4 + a.len() + n.len()) as u16).to_be_bytes());
        m.push(2);
        m.extend_from_slice(&[0, 0]);
        m.extend_from_slice(&(a.len() as u16).to_be_bytes());
        m.extend(a);
        m.extend(n);
        m
    }

    /// RFC 4271 §6.3: NEXT_HOP equal to keel's address on the session; one row per next hop.
    #[test]
    fn rfc4271_6_3_next_hop_is_local() {
        let n = info(EXTERNAL, 1).local_address; // keel is 127.0.0.100 on this session
        let v6: IpAddr = "2001:db8::100".parse().unwrap();
        let rows: [(IpAddr, NextHop, bool); 6] = [
            (n, NextHop::V4(Ipv4Addr::new(127, 0, 0, 100)), true),
            (n, NextHop::V4(Ipv4Addr::new(127, 0, 0, 1)), false),
            (n, NextHop::from(IpAddr::V6(Ipv4Addr::new(127, 0, 0, 100).to_ipv6_mapped())), true),
            (v6, NextHop::from("2001:db8::100".parse::<IpAddr>().unwrap()), true),
            (v6, NextHop::from("2001:db8::1".parse::<IpAddr>().unwrap()), false),
            (v6, NextHop::V4(Ipv4Addr::new(127, 0, 0, 100)), false),
        ];
        for (i, (neighbor, nh, local)) in rows.into_iter().enumerate() {
            assert_eq!(next_hop_is_local(&nh, neighbor), local, "row {i}: {nh}");
        }
    }
}
