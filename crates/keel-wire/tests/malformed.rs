//! Malformed messages: each must be rejected (or survived, under RFC 7606) with the right
//! NOTIFICATION code/subcode, data and action.

use crate::util::*;
use keel_wire::error::{code, header, open, update};
use keel_wire::{Action, CodecOptions, Family, Message, Notification, Origin, WireError};

/// Base attributes of a valid IPv4 UPDATE on a 4-octet session.
const ORIGIN: &str = "40 01 01 00";
const AS_PATH: &str = "40 02 06 02 01 0000fde9";
const NEXT_HOP: &str = "40 03 04 c0000201";
const NLRI: &str = "18 c63364";

fn expect(e: &WireError, action: Action, code: u8, subcode: u8) {
    assert_eq!((e.action, e.code, e.subcode), (action, code, subcode), "{e}");
}

/// Decodes an UPDATE the session survives and returns its first RFC 7606 error.
fn survivable(attrs: &[&str], nlri: &str) -> (keel_wire::Update, WireError) {
    let m = update_msg(&[], &hex(attrs), &hex(&[nlri]));
    let u = decode_update(&m, &four());
    assert!(!u.errors.is_empty(), "no error reported");
    let e = u.errors[0].clone();
    assert!(e.keeps_session());
    (u, e)
}

fn fatal(attrs: &[&str], nlri: &str) -> WireError {
    decode_err(&update_msg(&[], &hex(attrs), &hex(&[nlri])), &four())
}

// ---------------------------------------------------------------------------------------------
// Message header (RFC 4271 §6.1)
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_marker() {
    let m = hex(&["fffffffffffffffffffffffffffffffe", "0013", "04"]);
    let e = decode_err(&m, &four());
    expect(&e, Action::SessionReset, code::MESSAGE_HEADER, header::CONNECTION_NOT_SYNCHRONIZED);
    assert!(Message::next_frame(&m, &four()).is_err());
}

#[test]
fn bad_length_carries_the_length_field() {
    // UPDATE shorter than 23 octets.
    let e = decode_err(&hex(&[MARKER, "0012", "02"]), &four());
    expect(&e, Action::SessionReset, 1, header::BAD_MESSAGE_LENGTH);
    assert_eq!(e.data, [0x00, 0x12]);
    // OPEN longer than 4096, even with Extended Message (RFC 8654 §4).
    let mut m = hex(&[MARKER, "1001", "01"]);
    m.resize(4097, 0);
    let ext = CodecOptions { extended_message: true, ..four() };
    let e = decode_err(&m, &ext);
    assert_eq!((e.code, e.subcode, e.data.as_slice()), (1, 2, &[0x10, 0x01][..]));
    // UPDATE of 4097 octets without Extended Message; accepted with it.
    let mut m = update_msg(&[], &[], &[]);
    m.resize(4097, 0);
    m[16..18].copy_from_slice(&4097u16.to_be_bytes());
    m[21..23].copy_from_slice(&(4097u16 - 23).to_be_bytes()); // all of it attributes
    let e = decode_err(&m, &four());
    assert_eq!((e.code, e.subcode, e.data.as_slice()), (1, 2, &[0x10, 0x01][..]));
    assert!(Message::next_frame(&m, &ext).unwrap().is_some());
    // NOTIFICATION shorter than 21 octets.
    let e = decode_err(&hex(&[MARKER, "0014", "03", "06"]), &four());
    assert_eq!((e.code, e.subcode, e.data.as_slice()), (1, 2, &[0x00, 0x14][..]));
    // Length field disagreeing with the octets handed to decode.
    let e = decode_err(&hex(&[MARKER, "0017", "02", "0000", "0000", "00"]), &four());
    assert_eq!((e.code, e.subcode, e.data.as_slice()), (1, 2, &[0x00, 0x17][..]));
    // Shorter than a header.
    let e = decode_err(&hex(&[MARKER, "00"]), &four());
    assert_eq!((e.code, e.subcode), (1, 2));
}

#[test]
fn bad_type() {
    let e = decode_err(&hex(&[MARKER, "0013", "06"]), &four());
    expect(&e, Action::SessionReset, 1, header::BAD_MESSAGE_TYPE);
    assert_eq!(e.data, [6]);
    let e = decode_err(&hex(&[MARKER, "0013", "00"]), &four());
    assert_eq!((e.code, e.subcode, e.data.as_slice()), (1, 3, &[0][..]));
}

#[test]
fn keepalive_with_body() {
    let e = decode_err(&hex(&[MARKER, "0014", "04", "00"]), &four());
    expect(&e, Action::SessionReset, 1, header::BAD_MESSAGE_LENGTH);
    assert_eq!(e.data, [0x00, 0x14]);
}

// ---------------------------------------------------------------------------------------------
// OPEN (RFC 4271 §6.2, RFC 5492, RFC 9072)
// ---------------------------------------------------------------------------------------------

#[test]
fn open_unsupported_version() {
    let e = decode_err(&open_msg(&hex(&["03", "fde9", "00b4", "0a000001", "00"])), &four());
    expect(&e, Action::SessionReset, code::OPEN_MESSAGE, open::UNSUPPORTED_VERSION_NUMBER);
    assert_eq!(e.data, [0x00, 0x04], "largest supported version, two octets");
    assert_eq!(Notification::from_error(&e), Notification::new(2, 1, vec![0, 4]));
}

#[test]
fn open_unacceptable_hold_time() {
    for hold in ["0001", "0002"] {
        let e = decode_err(&open_msg(&hex(&["04", "fde9", hold, "0a000001", "00"])), &four());
        expect(&e, Action::SessionReset, 2, open::UNACCEPTABLE_HOLD_TIME);
    }
    for hold in ["0000", "0003"] {
        assert!(matches!(decode(&open_msg(&hex(&["04", "fde9", hold, "0a000001", "00"])), &four()), Message::Open(_)));
    }
}

#[test]
fn open_zero_bgp_identifier() {
    let e = decode_err(&open_msg(&hex(&["04", "fde9", "00b4", "00000000", "00"])), &four());
    expect(&e, Action::SessionReset, 2, open::BAD_BGP_IDENTIFIER);
}

#[test]
fn open_unsupported_optional_parameter() {
    // Parameter type 1 (authentication, deprecated by RFC 5492).
    let e = decode_err(&open_msg(&hex(&["04", "fde9", "00b4", "0a000001", "04", "01 02 abcd"])), &four());
    expect(&e, Action::SessionReset, 2, open::UNSUPPORTED_OPTIONAL_PARAMETER);
}

#[test]
fn open_capability_overrunning_its_parameter() {
    // The 4-octet AS capability claims 4 octets, its parameter holds 2 of them.
    let e = decode_err(&open_msg(&hex(&["04", "fde9", "00b4", "0a000001", "06", "02 04 41 04 0000", "0000"])), &four());
    expect(&e, Action::SessionReset, 2, open::UNSPECIFIC);
    // Capability header cut after the code.
    let e = decode_err(&open_msg(&hex(&["04", "fde9", "00b4", "0a000001", "03", "02 01 41"])), &four());
    expect(&e, Action::SessionReset, 2, open::UNSPECIFIC);
    // Parameter overrunning the optional parameters.
    let e = decode_err(&open_msg(&hex(&["04", "fde9", "00b4", "0a000001", "04", "02 06 02 00"])), &four());
    assert_eq!((e.code, e.subcode), (2, 0));
    // Opt Parm Len disagreeing with the message.
    let e = decode_err(&open_msg(&hex(&["04", "fde9", "00b4", "0a000001", "05", "02 02 02 00"])), &four());
    assert_eq!((e.code, e.subcode), (2, 0));
    // RFC 9072 extended length disagreeing.
    let e =
        decode_err(&open_msg(&hex(&["04", "fde9", "00b4", "0a000001", "ff ff 0009", "02 0004 02 00 46 00"])), &four());
    assert_eq!((e.code, e.subcode), (2, 0));
    // Known capability with a wrong length (multiprotocol of 3 octets).
    let e = decode_err(&open_msg(&hex(&["04", "fde9", "00b4", "0a000001", "07", "02 05 01 03 000101"])), &four());
    assert_eq!((e.code, e.subcode), (2, 0));
}

#[test]
fn open_shorter_than_fixed_fields() {
    // Header says 29 octets (minimum) but the body is cut inside the BGP Identifier: the length
    // check catches it first.
    let e = decode_err(&hex(&[MARKER, "001c", "01", "04 fde9 00b4 0a0000"]), &four());
    assert_eq!((e.code, e.subcode), (1, 2));
}

// ---------------------------------------------------------------------------------------------
// UPDATE (RFC 4271 §6.3, RFC 7606)
// ---------------------------------------------------------------------------------------------

#[test]
fn origin_undefined_value_is_treat_as_withdraw() {
    let (u, e) = survivable(&["40 01 01 03", AS_PATH, NEXT_HOP], NLRI);
    expect(&e, Action::TreatAsWithdraw, 3, update::INVALID_ORIGIN_ATTRIBUTE);
    assert_eq!(e.data, hex(&["40 01 01 03"]), "the erroneous attribute");
    assert!(u.treat_as_withdraw());
    // Wrong length: Attribute Length Error, also treat-as-withdraw.
    let m = update_msg(&[], &hex(&["40 01 02 0000", AS_PATH, NEXT_HOP]), &hex(&[NLRI]));
    let u = decode_update(&m, &four());
    assert!(u
        .errors
        .iter()
        .any(|e| (e.action, e.subcode) == (Action::TreatAsWithdraw, update::ATTRIBUTE_LENGTH_ERROR)));
}

#[test]
fn as_path_bad_segment_is_treat_as_withdraw() {
    // Segment type 5 does not exist.
    let (u, e) = survivable(&[ORIGIN, "40 02 06 05 01 0000fde9", NEXT_HOP], NLRI);
    expect(&e, Action::TreatAsWithdraw, 3, update::MALFORMED_AS_PATH);
    assert!(u.treat_as_withdraw());
    // Segment of length 0, segment overrun, a lone octet left over (RFC 7606 §7.2).
    for bad in ["40 02 02 02 00", "40 02 06 02 02 0000fde9", "40 02 07 02 01 0000fde9 02"] {
        let m = update_msg(&[], &hex(&[ORIGIN, bad, NEXT_HOP]), &hex(&[NLRI]));
        let u = decode_update(&m, &four());
        assert!(u.errors.iter().any(|e| e.subcode == update::MALFORMED_AS_PATH), "{bad}: {:?}", u.errors);
        assert!(u.treat_as_withdraw());
    }
}

#[test]
fn atomic_aggregate_with_length_is_discarded() {
    let (u, e) = survivable(&[ORIGIN, AS_PATH, NEXT_HOP, "40 06 01 00"], NLRI);
    expect(&e, Action::AttributeDiscard, 3, update::ATTRIBUTE_LENGTH_ERROR);
    assert!(!u.attributes.atomic_aggregate);
    assert!(!u.treat_as_withdraw());
    assert_eq!(u.attributes.origin, Some(Origin::Igp));
}

#[test]
fn aggregator_bad_length_is_discarded() {
    let (u, e) = survivable(&[ORIGIN, AS_PATH, NEXT_HOP, "c0 07 07 0000fde9 c00002"], NLRI);
    expect(&e, Action::AttributeDiscard, 3, update::ATTRIBUTE_LENGTH_ERROR);
    assert_eq!(u.attributes.aggregator, None);
    // 8 octets on a 2-octet session is wrong too.
    let m =
        update_msg(&[], &hex(&[ORIGIN, "40 02 04 02 01 fde9", NEXT_HOP, "c0 07 08 0000fde9 c0000209"]), &hex(&[NLRI]));
    let u = decode_update(&m, &two());
    assert_eq!(u.errors[0].action, Action::AttributeDiscard);
}

#[test]
fn communities_length_not_multiple_of_four_is_treat_as_withdraw() {
    let (u, e) = survivable(&[ORIGIN, AS_PATH, NEXT_HOP, "c0 08 05 fde90064 00"], NLRI);
    expect(&e, Action::TreatAsWithdraw, 3, update::ATTRIBUTE_LENGTH_ERROR);
    assert!(u.attributes.communities.is_empty());
    // Length 0 too (RFC 7606 §7.8: a non-zero multiple of 4).
    let (_, e) = survivable(&[ORIGIN, AS_PATH, NEXT_HOP, "c0 08 00"], NLRI);
    assert_eq!(e.action, Action::TreatAsWithdraw);
    // LARGE_COMMUNITY of 11 octets (RFC 8092 §6), EXTENDED_COMMUNITIES of 7 (RFC 7606 §7.14).
    let (_, e) = survivable(&[ORIGIN, AS_PATH, NEXT_HOP, "c0 20 0b 0000000100000002000000"], NLRI);
    assert_eq!(e.action, Action::TreatAsWithdraw);
    let (_, e) = survivable(&[ORIGIN, AS_PATH, NEXT_HOP, "c0 10 07 0002fde9000000"], NLRI);
    assert_eq!(e.action, Action::TreatAsWithdraw);
}

#[test]
fn other_length_errors_are_treat_as_withdraw() {
    // MED, LOCAL_PREF, ORIGINATOR_ID, OTC of 3 octets; CLUSTER_LIST of 5.
    for bad in ["80 04 03 000064", "40 05 03 000064", "80 09 03 0a0000", "c0 23 03 00fde9", "80 0a 05 0a00000600"] {
        let (_, e) = survivable(&[ORIGIN, AS_PATH, NEXT_HOP, bad], NLRI);
        assert_eq!((e.action, e.code), (Action::TreatAsWithdraw, 3), "{bad}");
    }
    // NEXT_HOP 0.0.0.0 (RFC 7606 §7.3): Invalid NEXT_HOP; the missing NEXT_HOP error follows.
    let m = update_msg(&[], &hex(&[ORIGIN, AS_PATH, "40 03 04 00000000"]), &hex(&[NLRI]));
    let u = decode_update(&m, &four());
    expect(&u.errors[0], Action::TreatAsWithdraw, 3, update::INVALID_NEXT_HOP_ATTRIBUTE);
}

#[test]
fn missing_well_known_attribute_is_treat_as_withdraw() {
    let (u, e) = survivable(&[AS_PATH, NEXT_HOP], NLRI);
    expect(&e, Action::TreatAsWithdraw, 3, update::MISSING_WELL_KNOWN_ATTRIBUTE);
    assert_eq!(e.data, [1], "the type code of the missing attribute");
    assert!(u.treat_as_withdraw());
    let (_, e) = survivable(&[ORIGIN, NEXT_HOP], NLRI);
    assert_eq!(e.data, [2]);
    let (_, e) = survivable(&[ORIGIN, AS_PATH], NLRI);
    assert_eq!(e.data, [3]);
    // Nothing announced: nothing is mandatory (withdrawal-only UPDATE).
    let u = decode_update(&update_msg(&hex(&[NLRI]), &[], &[]), &four());
    assert!(u.errors.is_empty());
    // MP_REACH without IPv4 NLRI: NEXT_HOP is not needed, ORIGIN is.
    let mp = "80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8";
    let u = decode_update(&update_msg(&[], &hex(&[mp, AS_PATH]), &[]), &four());
    assert_eq!(u.errors.len(), 1);
    assert_eq!(u.errors[0].data, [1]);
    let u = decode_update(&update_msg(&[], &hex(&[mp, ORIGIN, AS_PATH]), &[]), &four());
    assert!(u.errors.is_empty());
}

#[test]
fn duplicate_mp_reach_resets_the_session() {
    let mp = "80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8";
    let e = fatal(&[mp, mp, ORIGIN, AS_PATH], "");
    expect(&e, Action::SessionReset, 3, update::MALFORMED_ATTRIBUTE_LIST);
    let un = "80 0f 03 0002 01";
    let e = fatal(&[un, un], "");
    expect(&e, Action::SessionReset, 3, update::MALFORMED_ATTRIBUTE_LIST);
    // Any other attribute twice: the first one counts (RFC 7606 §3 g).
    let m = update_msg(&[], &hex(&[ORIGIN, "40 01 01 02", AS_PATH, NEXT_HOP]), &hex(&[NLRI]));
    let u = decode_update(&m, &four());
    assert!(u.errors.is_empty());
    assert_eq!(u.attributes.origin, Some(Origin::Igp));
}

#[test]
fn mp_reach_bad_next_hop_length_disables_the_family() {
    // IPv6 unicast with a 5-octet next hop.
    let attr = "80 0e 0f 0002 01 05 2001 0db8 00 00 20 20010db8";
    let e = fatal(&[attr, ORIGIN, AS_PATH], "");
    expect(&e, Action::AfiSafiDisable(Family::IPV6_UNICAST), 3, update::OPTIONAL_ATTRIBUTE_ERROR);
    assert_eq!(e.data, hex(&[attr]), "RFC 4760 §7: the attribute");
    assert!(!e.keeps_session());
    // IPv6 with a 4-octet next hop.
    let e = fatal(&["80 0e 0d 0002 01 04 c0000201 00 20 20010db8", ORIGIN, AS_PATH], "");
    assert_eq!(e.action, Action::AfiSafiDisable(Family::IPV6_UNICAST));
    // Next hop running past the attribute.
    let e = fatal(&["80 0e 06 0001 01 10 c000", ORIGIN, AS_PATH], "");
    assert_eq!(e.action, Action::AfiSafiDisable(Family::IPV4_UNICAST));
    // Bad NLRI inside MP_REACH: prefix length 129.
    let e = fatal(&["80 0e 16 0002 01 10 20010db8000000000000000000000001 00 81", ORIGIN, AS_PATH], "");
    assert_eq!((e.action, e.code, e.subcode), (Action::AfiSafiDisable(Family::IPV6_UNICAST), 3, 9));
    // AFI/SAFI itself truncated: no family to disable, session reset.
    let e = fatal(&["80 0f 02 0002"], "");
    expect(&e, Action::SessionReset, 3, update::OPTIONAL_ATTRIBUTE_ERROR);
}

#[test]
fn unrecognized_well_known_attribute() {
    let e = fatal(&[ORIGIN, AS_PATH, NEXT_HOP, "40 63 02 abcd"], NLRI);
    expect(&e, Action::SessionReset, 3, update::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE);
    assert_eq!(e.data, hex(&["40 63 02 abcd"]));
}

#[test]
fn attribute_flags_error() {
    // ORIGIN marked optional: treat-as-withdraw (RFC 7606 §3 c).
    let (u, e) = survivable(&["c0 01 01 00", AS_PATH, NEXT_HOP], NLRI);
    expect(&e, Action::TreatAsWithdraw, 3, update::ATTRIBUTE_FLAGS_ERROR);
    assert_eq!(e.data, hex(&["c0 01 01 00"]));
    assert!(u.treat_as_withdraw());
}

#[test]
fn attribute_flags_error_variants() {
    // MED marked transitive: treat-as-withdraw.
    let m = update_msg(&[], &hex(&[ORIGIN, AS_PATH, NEXT_HOP, "c0 04 04 00000064"]), &hex(&[NLRI]));
    let u = decode_update(&m, &four());
    expect(&u.errors[0], Action::TreatAsWithdraw, 3, update::ATTRIBUTE_FLAGS_ERROR);
    // AGGREGATOR marked well-known: discard (RFC 7606 §7.7).
    let m = update_msg(&[], &hex(&[ORIGIN, AS_PATH, NEXT_HOP, "40 07 08 0000fde9 c0000209"]), &hex(&[NLRI]));
    let u = decode_update(&m, &four());
    expect(&u.errors[0], Action::AttributeDiscard, 3, update::ATTRIBUTE_FLAGS_ERROR);
    assert!(!u.treat_as_withdraw());
    // MP_REACH_NLRI marked transitive: session reset.
    let e = fatal(&["c0 0e 1a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8", ORIGIN, AS_PATH], "");
    expect(&e, Action::SessionReset, 3, update::ATTRIBUTE_FLAGS_ERROR);
}

#[test]
fn attribute_overrunning_the_attribute_field() {
    // Last attribute claims more octets than remain: treat-as-withdraw (RFC 7606 §4).
    let m = update_msg(&[], &hex(&[ORIGIN, AS_PATH, NEXT_HOP, "c0 08 08 fde90064"]), &hex(&[NLRI]));
    let u = decode_update(&m, &four());
    assert!(u.treat_as_withdraw());
    // Fewer than three octets left for an attribute header.
    let m = update_msg(&[], &hex(&[ORIGIN, AS_PATH, NEXT_HOP, "c0"]), &hex(&[NLRI]));
    let u = decode_update(&m, &four());
    assert!(u.errors.iter().any(|e| (e.action, e.subcode) == (Action::TreatAsWithdraw, 1)));
}

#[test]
fn as4_path_malformed_is_discarded() {
    let m = update_msg(&[], &hex(&[ORIGIN, "40 02 04 02 01 5ba0", NEXT_HOP, "c0 11 06 02 02 fa56ea01"]), &hex(&[NLRI]));
    let u = decode_update(&m, &two());
    expect(&u.errors[0], Action::AttributeDiscard, 3, update::OPTIONAL_ATTRIBUTE_ERROR);
    assert_eq!(u.attributes.as_path.as_ref().unwrap().asns().collect::<Vec<_>>(), [23456]);
}

#[test]
fn nlri_prefix_length_33_resets_the_session() {
    let e = fatal(&[ORIGIN, AS_PATH, NEXT_HOP], "21 c6336401 00");
    expect(&e, Action::SessionReset, 3, update::INVALID_NETWORK_FIELD);
    // In the withdrawn routes too, and a prefix running past the field.
    let e = decode_err(&update_msg(&hex(&["21 c6336401 00"]), &[], &[]), &four());
    expect(&e, Action::SessionReset, 3, update::INVALID_NETWORK_FIELD);
    let e = fatal(&[ORIGIN, AS_PATH, NEXT_HOP], "18 c633");
    expect(&e, Action::SessionReset, 3, update::INVALID_NETWORK_FIELD);
}

#[test]
fn withdrawn_length_overrun() {
    let m = hex(&[
        MARKER,
        "0019", // length 25
        "02",   // UPDATE
        "00ff", // Withdrawn Routes Length 255: past the end
        "18 c00002",
    ]);
    let e = decode_err(&m, &four());
    expect(&e, Action::SessionReset, 3, update::MALFORMED_ATTRIBUTE_LIST);
    // Total Path Attribute Length past the end.
    let m = hex(&[MARKER, "001b", "02", "0000", "0010", "40 01 01 00"]);
    let e = decode_err(&m, &four());
    expect(&e, Action::SessionReset, 3, update::MALFORMED_ATTRIBUTE_LIST);
}

// ---------------------------------------------------------------------------------------------
// ROUTE-REFRESH (RFC 7313 §5)
// ---------------------------------------------------------------------------------------------

#[test]
fn route_refresh_wrong_length() {
    let m = hex(&[MARKER, "0018", "05", "0001 01 01 00"]); // BoRR with a trailing octet
    let e = decode_err(&m, &four());
    expect(&e, Action::SessionReset, code::ROUTE_REFRESH_MESSAGE, 1);
    // "The Data field of the NOTIFICATION message MUST contain the complete ROUTE-REFRESH message."
    assert_eq!(e.data, m);
    let m = hex(&[MARKER, "0016", "05", "0001 02"]);
    let e = decode_err(&m, &four());
    assert_eq!((e.code, e.subcode), (7, 1));
    assert_eq!(e.data, m);
}
