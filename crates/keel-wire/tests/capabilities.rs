//! Capabilities to the letter: what a receiver does with capabilities that are repeated,
//! split, unknown or malformed (RFC 5492 §3, §4; RFC 4724 §3; RFC 9494; RFC 7911 §4; RFC 6793;
//! RFC 9072 §2; RFC 4271 §6.2). One test per rule, the rule quoted. What negotiation then makes
//! of the decoded capabilities is tested in `keel::negotiate`.

use crate::util::*;
use keel_wire::capability::{AddPathFamily, GracefulRestart, LongLivedFamily};
use keel_wire::error::open;
use keel_wire::{Capability, Family, Message, Open};

fn open_of(params: &str) -> Result<Open, keel_wire::WireError> {
    let params = hex(&[params]);
    let mut body = hex(&["04", "fde9", "00b4", "0a000001"]);
    body.push(params.len() as u8);
    body.extend_from_slice(&params);
    match Message::decode(&open_msg(&body), &four())? {
        Message::Open(o) => Ok(o),
        m => panic!("expected an OPEN, got {m:?}"),
    }
}

fn ok(params: &str) -> Open {
    open_of(params).unwrap_or_else(|e| panic!("OPEN refused: {e}"))
}

/// RFC 5492 §3: "If a BGP speaker receives from its peer a capability that it does not itself
/// support or recognize, it MUST ignore that capability." The decoder keeps it, as it came,
/// for `keel decode` and the API; negotiation never looks at it.
#[test]
fn rfc5492_unknown_capability_codes_are_kept_not_refused() {
    let o = ok("02 0e 80 00 00 00 fe 02 abcd 41 04 0000fde9");
    assert_eq!(
        o.capabilities,
        [
            Capability::Unknown { code: 128, value: vec![] },
            Capability::Unknown { code: 0, value: vec![] },
            Capability::Unknown { code: 254, value: vec![0xab, 0xcd] },
            Capability::FourOctetAs(65001),
        ]
    );
}

/// RFC 5492 §4: "additional instances do not change the meaning of the announced capability;
/// thus, a BGP speaker MUST be prepared to accept such multiple instances."
#[test]
fn rfc5492_identical_instances_are_accepted() {
    let o = ok("02 10 01 04 0001 00 01 01 04 0001 00 01 02 00 02 00");
    assert_eq!(
        o.capabilities,
        [
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::RouteRefresh,
            Capability::RouteRefresh,
        ]
    );
}

/// RFC 5492 §4: "a BGP speaker MUST be prepared to receive an OPEN message that contains
/// multiple Capabilities Optional Parameters, each of which contains one or more capabilities
/// TLVs."
#[test]
fn rfc5492_capabilities_split_across_parameters_read_as_one_list() {
    let split = ok("02 08 01 04 0001 00 01 02 00 02 06 41 04 0000fde9");
    let whole = ok("02 0e 01 04 0001 00 01 02 00 41 04 0000fde9");
    assert_eq!(split.capabilities, whole.capabilities);
}

/// RFC 4724 §3: "If more than one instance of the Graceful Restart Capability is carried in
/// the capability advertisement, the receiver of the advertisement MUST ignore all but the
/// last instance of the Graceful Restart Capability."
#[test]
fn rfc4724_only_the_last_graceful_restart_instance_counts() {
    // GR 120 s for IPv4 unicast, then (in a second parameter) GR 90 s for IPv6 unicast, F=1.
    let o = ok("02 08 40 06 0078 0001 01 00 02 08 40 06 005a 0002 01 80");
    let g: &GracefulRestart = o.graceful_restart().expect("graceful restart");
    assert_eq!(g.restart_time, 90);
    assert_eq!(g.families.len(), 1);
    assert!(g.family(Family::IPV6_UNICAST).is_some_and(|f| f.forwarding_state));
    assert!(g.family(Family::IPV4_UNICAST).is_none());
    // Both instances are still in the list: the decoder shows what was sent.
    assert_eq!(o.capabilities.len(), 2);
}

/// RFC 9494 has no rule for several LLGR instances; keel reads the last, as RFC 4724 §3 has
/// it for the Graceful Restart capability LLGR depends on (RFC 9494 §4.1).
#[test]
fn rfc9494_only_the_last_long_lived_instance_counts() {
    let o = ok("02 12 47 07 0001 01 80 000e10 47 07 0002 01 00 00003c");
    assert_eq!(
        o.long_lived_graceful_restart(),
        Some(&[LongLivedFamily { family: Family::IPV6_UNICAST, forwarding_state: false, stale_time: 60 }][..])
    );
}

/// RFC 6793 §4.1: the receiver "MUST use the AS number encoded in the Capability Value field
/// of the 'support for four-octet AS number capability' in lieu of the 'My Autonomous System'
/// field". RFC 6793 has no rule for several instances; keel takes the last.
#[test]
fn rfc6793_the_last_four_octet_as_instance_is_the_peer_as() {
    let o = ok("02 0c 41 04 0000fde9 41 04 fa56ea00");
    assert_eq!(o.asn(), 4_200_000_000);
    // A length other than 4 ("The Capability Length field of the capability is set to 4") is
    // a malformed recognized parameter: RFC 4271 §6.2, "the Error Subcode MUST be set to 0
    // (Unspecific)".
    let e = open_of("02 04 41 02 fde9").expect_err("malformed");
    assert_eq!((e.code, e.subcode), (2, open::UNSPECIFIC));
}

/// RFC 7911 §4: Send/Receive "If any other value is received, then the capability SHOULD be
/// treated as not understood and ignored [RFC5492]." The whole instance is ignored (kept as
/// unknown), another valid instance still counts.
#[test]
fn rfc7911_send_receive_outside_1_to_3_ignores_the_capability() {
    for bad in ["00", "04", "ff"] {
        let o = ok(&format!("02 0a 45 08 0001 01 03 0002 01 {bad}"));
        assert_eq!(o.capabilities.len(), 1);
        assert!(matches!(o.capabilities[0], Capability::Unknown { code: 69, .. }), "{bad}");
        assert!(o.add_path().is_empty(), "{bad}");
    }
    let o = ok("02 0c 45 04 0001 01 00 45 04 0002 01 01");
    let v6 = AddPathFamily { family: Family::IPV6_UNICAST, receive: true, send: false };
    assert_eq!(o.add_path(), [v6]);
}

/// RFC 7911 §4 asks the sender for "a single instance of the ADD-PATH Capability" and gives
/// the receiver no rule. keel loses no tuple: every instance counts, a later tuple for the same
/// family replacing an earlier one (RFC 5492 §4: "The set of capabilities should be processed in
/// the same way in either case").
#[test]
fn rfc7911_several_add_path_instances_are_merged() {
    let o = ok("02 06 45 04 0001 01 01 02 0a 45 08 0002 01 02 0001 01 03");
    let t = |family, receive, send| AddPathFamily { family, receive, send };
    assert_eq!(o.add_path(), [t(Family::IPV4_UNICAST, true, true), t(Family::IPV6_UNICAST, false, true)]);
}

/// RFC 9072 §2: "It is not considered a fatal error to receive an OPEN message whose
/// (non-extended) Optional Parameters Length value is not 255 and whose first Optional
/// Parameter type code is 255 -- in this case, the encoding of this specification MUST be used
/// for decoding the message."
#[test]
fn rfc9072_extended_layout_when_the_non_extended_length_is_not_255() {
    let mut body = hex(&["04", "fde9", "00b4", "0a000001"]);
    // Non-Ext OP Len 1 (not 255), Non-Ext OP Type 255, Extended Opt. Parm. Length 9,
    // one capabilities parameter of 6 octets (2-octet length): 4-octet AS 65001.
    body.extend_from_slice(&hex(&["01", "ff", "0009", "02 0006 41 04 0000fde9"]));
    let o = match decode(&open_msg(&body), &four()) {
        Message::Open(o) => o,
        m => panic!("expected an OPEN, got {m:?}"),
    };
    assert_eq!(o.capabilities, [Capability::FourOctetAs(65001)]);
}

/// RFC 9072 §2: type 255 "If encountered other than as the Non-Ext OP Type, it MUST be treated
/// as an unrecognized Optional Parameter and handled according to [RFC4271], Section 6.2"
/// (RFC 4271 §6.2: "the Error Subcode MUST be set to Unsupported Optional Parameters").
#[test]
fn rfc9072_type_255_after_the_first_parameter_is_unsupported() {
    let e = open_of("02 02 02 00 ff 00").expect_err("unsupported");
    assert_eq!((e.code, e.subcode), (2, open::UNSUPPORTED_OPTIONAL_PARAMETER));
}

/// RFC 4271 §6.2: "If one of the Optional Parameters in the OPEN message is recognized, but is
/// malformed, then the Error Subcode MUST be set to 0 (Unspecific)." A capability whose length
/// runs past its Capabilities parameter makes that parameter malformed; so does a known
/// capability of the wrong length (RFC 5492 itself names no subcode for either).
#[test]
fn rfc4271_malformed_capabilities_parameter_is_unspecific() {
    for params in [
        "02 04 41 04 0000",         // capability longer than its parameter
        "02 01 41",                 // capability header cut
        "02 08 40 05 0078 0001 01", // GR of 5 octets (not 2 + 4n)
        "02 05 47 03 0001 01",      // LLGR of 3 octets (not 7n)
        "02 05 45 03 0001 01",      // Add-Path of 3 octets (not 4n)
        "02 03 06 01 00",           // Extended Message with a value (length 0 in RFC 8654 §3)
    ] {
        let e = open_of(params).expect_err(params);
        assert_eq!((e.code, e.subcode), (2, open::UNSPECIFIC), "{params}");
    }
}
