//! Path attributes (RFC 4271 §4.3, §5) and their error handling (RFC 7606).
//!
//! Decoding yields a [`PathAttributes`] with one typed field per known attribute. Errors that
//! keep the session (treat-as-withdraw, attribute discard) are collected beside it; errors that
//! end it (or disable a family) abort the decode.

pub mod as_path;
pub mod community;
pub mod mp_reach;

pub use as_path::{AsPath, AsSegment, SegmentType};
pub use community::{Community, ExtendedCommunity, LargeCommunity};
pub use mp_reach::{MpReach, MpUnreach, NextHop};

use crate::codec::CodecOptions;
use crate::error::{update, Action, WireError};
use crate::open::AS_TRANS;
use crate::reader::Reader;
use std::net::Ipv4Addr;
use thin_vec::ThinVec;

/// Attribute flag bits (RFC 4271 §4.3).
pub mod flags {
    pub const OPTIONAL: u8 = 0x80;
    pub const TRANSITIVE: u8 = 0x40;
    pub const PARTIAL: u8 = 0x20;
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

/// Attribute type codes (IANA "BGP Path Attributes" registry).
pub mod code {
    pub const ORIGIN: u8 = 1;
    pub const AS_PATH: u8 = 2;
    pub const NEXT_HOP: u8 = 3;
    pub const MULTI_EXIT_DISC: u8 = 4;
    pub const LOCAL_PREF: u8 = 5;
    pub const ATOMIC_AGGREGATE: u8 = 6;
    pub const AGGREGATOR: u8 = 7;
    pub const COMMUNITIES: u8 = 8;
    pub const ORIGINATOR_ID: u8 = 9;
    pub const CLUSTER_LIST: u8 = 10;
    pub const MP_REACH_NLRI: u8 = 14;
    pub const MP_UNREACH_NLRI: u8 = 15;
    pub const EXTENDED_COMMUNITIES: u8 = 16;
    pub const AS4_PATH: u8 = 17;
    pub const AS4_AGGREGATOR: u8 = 18;
    pub const LARGE_COMMUNITY: u8 = 32;
    pub const OTC: u8 = 35;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Origin {
    Igp = 0,
    Egp = 1,
    Incomplete = 2,
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Origin::Igp => "igp",
            Origin::Egp => "egp",
            Origin::Incomplete => "incomplete",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Aggregator {
    pub asn: u32,
    pub address: Ipv4Addr,
}

/// An attribute keel does not interpret, kept to be passed on (RFC 4271 §5).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct RawAttribute {
    pub flags: u8,
    pub code: u8,
    pub value: Vec<u8>,
}

/// The path attributes of one UPDATE. Multiprotocol NLRI travel in `mp_reach`/`mp_unreach`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PathAttributes {
    pub origin: Option<Origin>,
    /// On 2-octet sessions, already merged with AS4_PATH (RFC 6793 §4.2.3).
    pub as_path: Option<AsPath>,
    pub next_hop: Option<Ipv4Addr>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub atomic_aggregate: bool,
    /// On 2-octet sessions, already merged with AS4_AGGREGATOR.
    pub aggregator: Option<Aggregator>,
    pub communities: ThinVec<Community>,
    pub originator_id: Option<Ipv4Addr>,
    pub cluster_list: ThinVec<Ipv4Addr>,
    /// Boxed: most UPDATEs carry none, and the attribute sets a RIB holds never do.
    pub mp_reach: Option<Box<MpReach>>,
    pub mp_unreach: Option<Box<MpUnreach>>,
    pub extended_communities: ThinVec<ExtendedCommunity>,
    pub large_communities: ThinVec<LargeCommunity>,
    /// Only to Customer (RFC 9234 §5).
    pub otc: Option<u32>,
    /// Unrecognized optional transitive attributes (Partial bit set on receipt) and MP
    /// attributes of families keel does not parse.
    pub unknown: ThinVec<RawAttribute>,
}

impl PathAttributes {
    /// True when no attribute at all is present.
    pub fn is_empty(&self) -> bool {
        *self == PathAttributes::default()
    }
}

/// Expected Optional/Transitive bits of each known attribute.
fn expected_flags(code: u8) -> Option<u8> {
    use flags::*;
    Some(match code {
        code::ORIGIN | code::AS_PATH | code::NEXT_HOP | code::LOCAL_PREF | code::ATOMIC_AGGREGATE => TRANSITIVE,
        code::MULTI_EXIT_DISC
        | code::ORIGINATOR_ID
        | code::CLUSTER_LIST
        | code::MP_REACH_NLRI
        | code::MP_UNREACH_NLRI => OPTIONAL,
        code::AGGREGATOR
        | code::COMMUNITIES
        | code::EXTENDED_COMMUNITIES
        | code::AS4_PATH
        | code::AS4_AGGREGATOR
        | code::LARGE_COMMUNITY
        | code::OTC => OPTIONAL | TRANSITIVE,
        _ => return None,
    })
}

fn attr_name(code: u8) -> String {
    match code {
        code::ORIGIN => "ORIGIN".into(),
        code::AS_PATH => "AS_PATH".into(),
        code::NEXT_HOP => "NEXT_HOP".into(),
        code::MULTI_EXIT_DISC => "MULTI_EXIT_DISC".into(),
        code::LOCAL_PREF => "LOCAL_PREF".into(),
        code::ATOMIC_AGGREGATE => "ATOMIC_AGGREGATE".into(),
        code::AGGREGATOR => "AGGREGATOR".into(),
        code::COMMUNITIES => "COMMUNITIES".into(),
        code::ORIGINATOR_ID => "ORIGINATOR_ID".into(),
        code::CLUSTER_LIST => "CLUSTER_LIST".into(),
        code::MP_REACH_NLRI => "MP_REACH_NLRI".into(),
        code::MP_UNREACH_NLRI => "MP_UNREACH_NLRI".into(),
        code::EXTENDED_COMMUNITIES => "EXTENDED_COMMUNITIES".into(),
        code::AS4_PATH => "AS4_PATH".into(),
        code::AS4_AGGREGATOR => "AS4_AGGREGATOR".into(),
        code::LARGE_COMMUNITY => "LARGE_COMMUNITY".into(),
        code::OTC => "OTC".into(),
        c => format!("attribute {c}"),
    }
}

/// The attribute header bytes (flags, code, length) plus value, for NOTIFICATION data
/// (RFC 4271 §6.3: "the Data field contains the erroneous attribute (type, length, and value)").
fn attr_bytes(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![flags, code];
    if flags & flags::EXTENDED_LENGTH != 0 {
        v.extend_from_slice(&(value.len() as u16).to_be_bytes());
    } else {
        v.push(value.len() as u8);
    }
    v.extend_from_slice(value);
    v
}

fn u32_of(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Decodes the path attribute field. `Err` is fatal: session reset or AFI/SAFI disable.
#[inline]
/// Decodes into `a` (which starts empty) and `errors` (the errors the session survives:
/// RFC 7606 treat-as-withdraw and attribute discard), in place: `PathAttributes` is large
/// and moving it through results cost more than parsing it.
pub(crate) fn decode(
    buf: &[u8],
    opts: &CodecOptions,
    a: &mut PathAttributes,
    errors: &mut Vec<WireError>,
) -> Result<(), WireError> {
    let mut seen = [0u64; 4];
    let mut as4_path: Option<AsPath> = None;
    let mut as4_aggregator: Option<Aggregator> = None;
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        let (Some(fl), Some(c)) = (r.u8(), r.u8()) else {
            // RFC 7606 §4: the attribute field cannot be parsed to its end; the NLRI can
            // still be located, so the UPDATE is treated as withdraw.
            errors.push(
                WireError::update(update::MALFORMED_ATTRIBUTE_LIST, "attribute header truncated")
                    .with_action(Action::TreatAsWithdraw),
            );
            break;
        };
        let len = if fl & flags::EXTENDED_LENGTH != 0 { r.u16() } else { r.u8().map(u16::from) };
        let Some(value) = len.and_then(|l| r.take(l as usize)) else {
            errors.push(
                WireError::update(
                    update::ATTRIBUTE_LENGTH_ERROR,
                    format!("{} length runs past the attribute field", attr_name(c)),
                )
                .with_action(Action::TreatAsWithdraw),
            );
            break;
        };
        let bit = 1u64 << (c % 64);
        let slot = &mut seen[(c / 64) as usize];
        let duplicate = *slot & bit != 0;
        *slot |= bit;
        if duplicate {
            // RFC 7606 §3 g: MP attributes twice reset the session; others keep the first.
            if c == code::MP_REACH_NLRI || c == code::MP_UNREACH_NLRI {
                return Err(WireError::update(
                    update::MALFORMED_ATTRIBUTE_LIST,
                    format!("{} appears twice", attr_name(c)),
                ));
            }
            continue;
        }
        let attr_error = |sub: u8, reason: String| {
            WireError::update(sub, reason).with_data(attr_bytes(fl, c, value)).with_attribute(c)
        };
        let withdraw = |sub: u8, reason: String| attr_error(sub, reason).with_action(Action::TreatAsWithdraw);
        let discard = |sub: u8, reason: String| attr_error(sub, reason).with_action(Action::AttributeDiscard);
        let Some(expected) = expected_flags(c) else {
            if fl & flags::OPTIONAL == 0 {
                // RFC 4271 §6.3: unrecognized well-known attribute.
                return Err(attr_error(
                    update::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                    format!("unrecognized well-known attribute {c}"),
                ));
            }
            if fl & flags::TRANSITIVE != 0 {
                // RFC 4271 §5: pass on unrecognized optional transitive attributes, Partial set.
                a.unknown.push(RawAttribute {
                    flags: (fl | flags::PARTIAL) & !flags::EXTENDED_LENGTH,
                    code: c,
                    value: value.to_vec(),
                });
            }
            continue;
        };
        if fl & (flags::OPTIONAL | flags::TRANSITIVE) != expected {
            let e = attr_error(update::ATTRIBUTE_FLAGS_ERROR, format!("{} has flags {fl:#04x}", attr_name(c)));
            match c {
                // RFC 7606 §7.11: a malformed MP attribute ends the session.
                code::MP_REACH_NLRI | code::MP_UNREACH_NLRI => return Err(e),
                // RFC 6793 §6 / RFC 7606 §7.7: discard.
                code::AS4_PATH | code::AS4_AGGREGATOR | code::ATOMIC_AGGREGATE | code::AGGREGATOR => {
                    errors.push(e.with_action(Action::AttributeDiscard))
                }
                _ => errors.push(e.with_action(Action::TreatAsWithdraw)),
            }
            continue;
        }
        let n = value.len();
        match c {
            code::ORIGIN => match (n, value.first()) {
                (1, Some(0)) => a.origin = Some(Origin::Igp),
                (1, Some(1)) => a.origin = Some(Origin::Egp),
                (1, Some(2)) => a.origin = Some(Origin::Incomplete),
                (1, Some(v)) => {
                    errors.push(withdraw(update::INVALID_ORIGIN_ATTRIBUTE, format!("ORIGIN value {v} undefined")))
                }
                _ => errors.push(withdraw(update::ATTRIBUTE_LENGTH_ERROR, format!("ORIGIN length {n} is not 1"))),
            },
            code::AS_PATH => match AsPath::decode(value, opts.four_octet_as) {
                Ok(p) => a.as_path = Some(p),
                Err(e) => errors.push(withdraw(update::MALFORMED_AS_PATH, e)),
            },
            code::NEXT_HOP => {
                if n != 4 {
                    errors.push(withdraw(update::ATTRIBUTE_LENGTH_ERROR, format!("NEXT_HOP length {n} is not 4")));
                } else {
                    let nh = Ipv4Addr::from(u32_of(value));
                    // RFC 4271 §6.3: syntactically incorrect NEXT_HOP; RFC 7606 §7.3.
                    if nh.is_unspecified() || nh.is_broadcast() || nh.is_multicast() {
                        errors.push(withdraw(
                            update::INVALID_NEXT_HOP_ATTRIBUTE,
                            format!("NEXT_HOP {nh} is not a unicast address"),
                        ));
                    } else {
                        a.next_hop = Some(nh);
                    }
                }
            }
            code::MULTI_EXIT_DISC | code::LOCAL_PREF | code::ORIGINATOR_ID | code::OTC => {
                if n != 4 {
                    errors.push(withdraw(
                        update::ATTRIBUTE_LENGTH_ERROR,
                        format!("{} length {n} is not 4", attr_name(c)),
                    ));
                } else {
                    let v = u32_of(value);
                    match c {
                        code::MULTI_EXIT_DISC => a.med = Some(v),
                        code::LOCAL_PREF => a.local_pref = Some(v),
                        code::ORIGINATOR_ID => a.originator_id = Some(Ipv4Addr::from(v)),
                        _ => a.otc = Some(v),
                    }
                }
            }
            code::ATOMIC_AGGREGATE => {
                if n != 0 {
                    errors
                        .push(discard(update::ATTRIBUTE_LENGTH_ERROR, format!("ATOMIC_AGGREGATE length {n} is not 0")));
                } else {
                    a.atomic_aggregate = true;
                }
            }
            code::AGGREGATOR | code::AS4_AGGREGATOR => {
                let want = if c == code::AS4_AGGREGATOR || opts.four_octet_as { 8 } else { 6 };
                if n != want {
                    errors.push(discard(
                        update::ATTRIBUTE_LENGTH_ERROR,
                        format!("{} length {n} is not {want}", attr_name(c)),
                    ));
                } else {
                    let (asn, addr) = if n == 8 {
                        (u32_of(value), u32_of(&value[4..]))
                    } else {
                        (u16::from_be_bytes([value[0], value[1]]) as u32, u32_of(&value[2..]))
                    };
                    let agg = Aggregator { asn, address: Ipv4Addr::from(addr) };
                    if c == code::AGGREGATOR {
                        a.aggregator = Some(agg);
                    } else if !opts.four_octet_as {
                        // RFC 6793 §4.1: a NEW speaker ignores AS4_* from a NEW speaker.
                        as4_aggregator = Some(agg);
                    }
                }
            }
            code::COMMUNITIES | code::CLUSTER_LIST => {
                if n == 0 || n % 4 != 0 {
                    errors.push(withdraw(
                        update::ATTRIBUTE_LENGTH_ERROR,
                        format!("{} length {n} is not a positive multiple of 4", attr_name(c)),
                    ));
                } else if c == code::COMMUNITIES {
                    a.communities = value.chunks_exact(4).map(|b| Community(u32_of(b))).collect();
                } else {
                    a.cluster_list = value.chunks_exact(4).map(|b| Ipv4Addr::from(u32_of(b))).collect();
                }
            }
            code::EXTENDED_COMMUNITIES => {
                if n == 0 || n % 8 != 0 {
                    errors.push(withdraw(
                        update::OPTIONAL_ATTRIBUTE_ERROR,
                        format!("EXTENDED_COMMUNITIES length {n} is not a positive multiple of 8"),
                    ));
                } else {
                    a.extended_communities = value
                        .chunks_exact(8)
                        .map(|b| ExtendedCommunity(<[u8; 8]>::try_from(b).unwrap_or_default()))
                        .collect();
                }
            }
            code::LARGE_COMMUNITY => {
                if n == 0 || n % 12 != 0 {
                    errors.push(withdraw(
                        update::OPTIONAL_ATTRIBUTE_ERROR,
                        format!("LARGE_COMMUNITY length {n} is not a positive multiple of 12"),
                    ));
                } else {
                    a.large_communities = value
                        .chunks_exact(12)
                        .map(|b| LargeCommunity {
                            global_admin: u32_of(b),
                            local_data_1: u32_of(&b[4..]),
                            local_data_2: u32_of(&b[8..]),
                        })
                        .collect();
                }
            }
            code::AS4_PATH if !opts.four_octet_as => match AsPath::decode(value, true) {
                Ok(p) => as4_path = Some(p),
                Err(e) => errors.push(discard(update::OPTIONAL_ATTRIBUTE_ERROR, format!("AS4_PATH: {e}"))),
            },
            code::MP_REACH_NLRI => match mp_reach::decode_reach(value, |f| opts.add_path_for(f)) {
                Ok(Some(m)) => a.mp_reach = Some(Box::new(m)),
                Ok(None) => {
                    a.unknown.push(RawAttribute { flags: fl & !flags::EXTENDED_LENGTH, code: c, value: value.to_vec() })
                }
                Err(e) => return Err(mp_error(e, fl, c, value)),
            },
            code::MP_UNREACH_NLRI => match mp_reach::decode_unreach(value, |f| opts.add_path_for(f)) {
                Ok((_, Some(m))) => a.mp_unreach = Some(Box::new(m)),
                Ok((_, None)) => {
                    a.unknown.push(RawAttribute { flags: fl & !flags::EXTENDED_LENGTH, code: c, value: value.to_vec() })
                }
                Err(e) => return Err(mp_error(e, fl, c, value)),
            },
            // `expected_flags` knows exactly the codes matched above.
            _ => {}
        }
    }
    // RFC 6793 §4.2.3: AGGREGATOR other than AS_TRANS means AS4_* are ignored.
    if !opts.four_octet_as {
        let trans = a.aggregator.is_none_or(|g| g.asn == AS_TRANS as u32);
        if trans {
            if let (Some(agg), Some(_)) = (as4_aggregator, a.aggregator) {
                a.aggregator = Some(agg);
            }
            if let (Some(p4), Some(p)) = (&as4_path, &a.as_path) {
                a.as_path = Some(AsPath::reconstruct(p, p4));
            }
        }
    }
    Ok(())
}

fn mp_error(e: mp_reach::MpError, fl: u8, c: u8, value: &[u8]) -> WireError {
    let err = WireError::update(update::OPTIONAL_ATTRIBUTE_ERROR, format!("{}: {}", attr_name(c), e.reason))
        .with_data(attr_bytes(fl, c, value))
        .with_attribute(c);
    // RFC 7606 §7.11 / RFC 4760 §7: disable the family if known, else reset the session.
    match e.family {
        Some(f) => err.with_action(Action::AfiSafiDisable(f)),
        None => err,
    }
}

/// Writes one attribute: header, then value from `body`; the length octet widens to two only
/// when the value needs it.
pub(crate) fn put(out: &mut Vec<u8>, fl: u8, c: u8, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[fl & !flags::EXTENDED_LENGTH, c, 0]);
    body(out);
    let len = out.len() - start - 3;
    if len > 255 {
        out[start] |= flags::EXTENDED_LENGTH;
        out.insert(start + 2, (len >> 8) as u8);
        out[start + 3] = len as u8;
    } else {
        out[start + 2] = len as u8;
    }
}

/// Which optional attributes to leave out (RFC 8654 §4 shedding).
#[derive(Clone, Copy, Default)]
pub(crate) struct Shed {
    pub discardable: bool,
}

/// Encodes every attribute except MP_REACH_NLRI/MP_UNREACH_NLRI, in type-code order.
pub(crate) fn encode_common(a: &PathAttributes, opts: &CodecOptions, shed: Shed, out: &mut Vec<u8>) {
    use flags::*;
    const WK: u8 = TRANSITIVE;
    const OPT: u8 = OPTIONAL;
    const OPT_T: u8 = OPTIONAL | TRANSITIVE;
    if let Some(o) = a.origin {
        put(out, WK, code::ORIGIN, |o2| o2.push(o as u8));
    }
    if let Some(p) = &a.as_path {
        put(out, WK, code::AS_PATH, |o| p.encode(opts.four_octet_as, o));
    }
    if let Some(nh) = a.next_hop {
        put(out, WK, code::NEXT_HOP, |o| o.extend_from_slice(&nh.octets()));
    }
    if let Some(v) = a.med {
        put(out, OPT, code::MULTI_EXIT_DISC, |o| o.extend_from_slice(&v.to_be_bytes()));
    }
    if let Some(v) = a.local_pref {
        put(out, WK, code::LOCAL_PREF, |o| o.extend_from_slice(&v.to_be_bytes()));
    }
    if a.atomic_aggregate && !shed.discardable {
        put(out, WK, code::ATOMIC_AGGREGATE, |_| {});
    }
    let agg = a.aggregator.filter(|_| !shed.discardable);
    if let Some(g) = agg {
        put(out, OPT_T, code::AGGREGATOR, |o| {
            if opts.four_octet_as {
                o.extend_from_slice(&g.asn.to_be_bytes());
            } else {
                o.extend_from_slice(&u16::try_from(g.asn).unwrap_or(AS_TRANS).to_be_bytes());
            }
            o.extend_from_slice(&g.address.octets());
        });
    }
    if !a.communities.is_empty() {
        put(out, OPT_T, code::COMMUNITIES, |o| {
            a.communities.iter().for_each(|c| o.extend_from_slice(&c.0.to_be_bytes()))
        });
    }
    if let Some(id) = a.originator_id {
        put(out, OPT, code::ORIGINATOR_ID, |o| o.extend_from_slice(&id.octets()));
    }
    if !a.cluster_list.is_empty() {
        put(out, OPT, code::CLUSTER_LIST, |o| a.cluster_list.iter().for_each(|c| o.extend_from_slice(&c.octets())));
    }
    if !a.extended_communities.is_empty() {
        put(out, OPT_T, code::EXTENDED_COMMUNITIES, |o| {
            a.extended_communities.iter().for_each(|c| o.extend_from_slice(&c.0))
        });
    }
    if !opts.four_octet_as {
        // RFC 6793 §4.2.2: an OLD peer gets AS4_PATH/AS4_AGGREGATOR when ASes do not fit.
        if let Some(p) = a.as_path.as_ref().filter(|p| p.needs_as4()) {
            put(out, OPT_T, code::AS4_PATH, |o| p.as4_path().encode(true, o));
        }
        if let Some(g) = agg.filter(|g| g.asn > u16::MAX as u32) {
            put(out, OPT_T, code::AS4_AGGREGATOR, |o| {
                o.extend_from_slice(&g.asn.to_be_bytes());
                o.extend_from_slice(&g.address.octets());
            });
        }
    }
    if !a.large_communities.is_empty() {
        put(out, OPT_T, code::LARGE_COMMUNITY, |o| {
            for c in &a.large_communities {
                o.extend_from_slice(&c.global_admin.to_be_bytes());
                o.extend_from_slice(&c.local_data_1.to_be_bytes());
                o.extend_from_slice(&c.local_data_2.to_be_bytes());
            }
        });
    }
    if let Some(v) = a.otc {
        put(out, OPT_T, code::OTC, |o| o.extend_from_slice(&v.to_be_bytes()));
    }
    for u in &a.unknown {
        put(out, u.flags, u.code, |o| o.extend_from_slice(&u.value));
    }
}

/// Missing well-known mandatory attributes (RFC 7606 §3 d: treat-as-withdraw).
pub(crate) fn check_mandatory(a: &PathAttributes, has_ipv4_nlri: bool) -> Option<WireError> {
    let missing = if a.origin.is_none() {
        Some(code::ORIGIN)
    } else if a.as_path.is_none() {
        Some(code::AS_PATH)
    } else if has_ipv4_nlri && a.next_hop.is_none() {
        Some(code::NEXT_HOP)
    } else {
        None
    }?;
    Some(
        WireError::update(update::MISSING_WELL_KNOWN_ATTRIBUTE, format!("{} missing", attr_name(missing)))
            .with_data([missing])
            .with_attribute(missing)
            .with_action(Action::TreatAsWithdraw),
    )
}
