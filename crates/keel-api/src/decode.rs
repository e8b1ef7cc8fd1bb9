//! What `keel decode` prints: BGP messages in hex to JSON, one object per message and line
//! (the command itself is in the `keel` crate's `cli::decode`).
//!
//! # Input
//!
//! Hex from the arguments (all joined) or, when there are none, from stdin. Whitespace is
//! ignored and so is a `0x`/`0X` prefix on each whitespace-separated word. Messages follow each
//! other back to back; each may start with the 16-octet all-ones marker or directly with its
//! 2-octet length field (a message is taken to start with a marker when its first 16 octets
//! are all ones, or when its first three octets are: no valid length-first message starts with
//! `ff ff ff`, so such input is checked as a — possibly corrupt — marker).
//!
//! UPDATEs are read as on a session with 4-octet AS numbers, 4096-octet messages and no
//! Add-Path, unless `--as2`, `--extended-message` or `--add-path` (Add-Path for IPv4 and IPv6
//! unicast, in both the NLRI field and MP_REACH/MP_UNREACH) say otherwise.
//!
//! # Output
//!
//! Every object has `"type"`: `open`, `update`, `notification`, `keepalive`, `route-refresh`.
//! AFI and SAFI print as `"ipv4"`, `"ipv6"`, `"unicast"`, `"multicast"` where known and as
//! numbers otherwise. Every key listed below is always present (`null`, `false` or `[]` when
//! the message has no such value), so the shape of an object depends only on its type.
//!
//! - open: `version`, `asn` (the last four-octet AS capability's AS when present, else My AS),
//!   `my_as` (the 2-octet field), `hold_time`, `router_id`, `capabilities`: a list of
//!   `{"code", "name", ...}`, every capability as sent and in its order, repeated ones
//!   included (which instance counts is negotiation's rule, not the decoder's), with, by name:
//!   - `multiprotocol`: `afi`, `safi`
//!   - `graceful-restart`: `restart_state`, `notification` (bools), `restart_time`,
//!     `families`: `[{"afi", "safi", "forwarding_state"}]`
//!   - `long-lived-graceful-restart`: `families`: `[{"afi", "safi", "forwarding_state", "stale_time"}]`
//!   - `four-octet-as`: `asn`
//!   - `add-path`: `families`: `[{"afi", "safi", "send", "receive"}]`
//!   - `extended-next-hop`: `families`: `[{"afi", "safi", "next_hop_afi"}]`
//!   - `role`: `role` (`provider`, `rs`, `rs-client`, `customer`, `peer`, `unknown`) and its `value`
//!   - `fqdn`: `hostname`, `domain`
//!   - `route-refresh`, `enhanced-route-refresh`, `extended-message`: nothing more
//!   - `unknown` (any other code, or an add-path capability with an invalid send/receive
//!     value, which RFC 7911 says to ignore): `value` in hex
//! - update: `end_of_rib` (`{"afi", "safi"}` or `null`), `withdrawn` and `announced` (the NLRI
//!   field and MP_UNREACH/MP_REACH prefixes of every family, in that order), `attributes`,
//!   `errors`, `treat_as_withdraw`. Prefixes are strings like `"192.0.2.0/24"`; with
//!   `--add-path` every entry is instead `{"prefix", "path_id"}`, `path_id` being `null` for
//!   families without Add-Path. Routes of an UPDATE with `treat_as_withdraw` are still listed
//!   under `announced`. `attributes` holds `origin` (`igp`/`egp`/`incomplete`), `as_path` (a
//!   list of segments `{"type": "sequence"|"set"|"confed-sequence"|"confed-set", "asns": [..]}`,
//!   `[]` for an empty AS_PATH, `null` without one; on `--as2` sessions already merged with
//!   AS4_PATH), `next_hop`, `med`, `local_pref`, `atomic_aggregate` (bool), `aggregator`
//!   (`{"asn", "address"}`), `communities` (`"65535:6"`), `large_communities` (`"a:b:c"`),
//!   `extended_communities` (`"rt:ASN:N"`, `"ro:ASN:N"` or `"0x"` and 16 hex digits),
//!   `originator_id`, `cluster_list`, `otc`, `mp_reach` (`{"afi", "safi", "next_hop",
//!   "link_local_next_hop"}`), `mp_unreach` (`{"afi", "safi"}`) and `unknown`
//!   (`[{"code", "flags", "value"}]`, value in hex). `errors` lists the RFC 7606 errors the
//!   session survives as `{"action", "code", "subcode", "reason", "data"}` (action
//!   `treat-as-withdraw` or `attribute-discard`); `treat_as_withdraw` is true when any of
//!   them is a treat-as-withdraw.
//! - notification: `code`, `subcode`, `description`, `hard_reset`, `inner` (`{"code",
//!   "subcode"}` of the NOTIFICATION a Hard Reset carries, `null` otherwise or when its data
//!   is too short to hold one), `shutdown_message` (RFC 9003 text, of the inner NOTIFICATION
//!   for a Hard Reset, or `null`), `data` (hex).
//! - route-refresh: `afi`, `safi`, `subtype` (`request`, `begin`, `end`, or the number of a
//!   reserved subtype).
//! - keepalive: nothing more.
//!
//! # Errors
//!
//! Input that is not a valid message prints, after the messages decoded before it,
//! `{"error": {"code", "subcode", "reason", "action", "data", "offset"}}`: the NOTIFICATION
//! keel would answer with (`action` `session-reset` or `afi-safi-disable`, `data` its data
//! in hex), `offset` the octet where the faulty message starts. Input that ends inside a
//! message is reported as Message Header Error / Bad Message Length (1/2). Text that is not
//! hex gives `code`, `subcode`, `action`, `offset` all `null`. In every error case the exit
//! status is 1.

use crate::{FamilyView, NameOrNumber};
use keel_wire::attribute::{AsPath, NextHop, SegmentType};
use keel_wire::capability::{Capability, GracefulRestart};
use keel_wire::header::{self, MARKER};
use keel_wire::{error as werr, CodecOptions, Family, Message, Nlri, Notification, RefreshSubtype};
use keel_wire::{Update, WireError};
use serde::Serialize;

/// What `keel decode` prints: the decoded messages, then at most one error.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub messages: Vec<MessageView>,
    pub error: Option<ErrorView>,
}

/// Decodes hex text (see the module documentation for the accepted forms).
/// `path_id_objects`: print NLRI as `{"prefix", "path_id"}` objects.
pub fn decode_hex(text: &str, opts: &CodecOptions, path_id_objects: bool) -> Report {
    match parse_hex(text) {
        Ok(bytes) => decode_bytes(&bytes, opts, path_id_objects),
        Err(reason) => Report {
            messages: Vec::new(),
            error: Some(ErrorView {
                action: None,
                code: None,
                subcode: None,
                reason,
                data: String::new(),
                offset: None,
            }),
        },
    }
}

/// Hex digits to octets; whitespace and a `0x` prefix on each word are ignored.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let mut digits = Vec::with_capacity(text.len());
    for word in text.split_whitespace() {
        let w = word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")).unwrap_or(word);
        for c in w.chars() {
            let d = c.to_digit(16).ok_or_else(|| format!("invalid hex: {c:?} in {word:?} is not a hex digit"))?;
            digits.push(d as u8);
        }
    }
    if digits.len() % 2 != 0 {
        return Err(format!("invalid hex: odd number of hex digits ({})", digits.len()));
    }
    Ok(digits.chunks_exact(2).map(|p| p[0] << 4 | p[1]).collect())
}

/// True when the message at the start of `buf` is to be read with a marker.
fn starts_with_marker(buf: &[u8]) -> bool {
    buf.len() >= MARKER.len() && buf[..MARKER.len()] == MARKER || buf.starts_with(&[0xff; 3])
}

/// Decodes messages back to back, each with or without its marker.
pub fn decode_bytes(buf: &[u8], opts: &CodecOptions, path_id_objects: bool) -> Report {
    let mut messages = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let rest = &buf[at..];
        let with_marker;
        let (frame_src, skipped) = if starts_with_marker(rest) {
            (rest, 0)
        } else {
            // Copy no more than the message the length field announces (and at least its
            // type octet, so that the header can be checked).
            let announced = rest.get(..2).map_or(0, |l| u16::from_be_bytes([l[0], l[1]]) as usize);
            let end = rest.len().min(announced.saturating_sub(MARKER.len()).max(3));
            with_marker = [&MARKER[..], &rest[..end]].concat();
            (&with_marker[..], MARKER.len())
        };
        let fail = |e: WireError| ErrorView::from_wire(&e, at);
        let frame = match Message::next_frame(frame_src, opts) {
            Ok(Some(f)) => f,
            Ok(None) => {
                let have = rest.len();
                let reason = if frame_src.len() < header::LEN {
                    format!("input ends inside a message header ({have} octets left)")
                } else {
                    let want = u16::from_be_bytes([frame_src[16], frame_src[17]]) as usize - skipped;
                    format!("input ends after {have} of the {want} octets the length field announces")
                };
                let data = frame_src.get(16..18).map(<[u8]>::to_vec).unwrap_or_default();
                let e = WireError::new(werr::code::MESSAGE_HEADER, werr::header::BAD_MESSAGE_LENGTH, reason)
                    .with_data(data);
                return Report { messages, error: Some(fail(e)) };
            }
            Err(e) => return Report { messages, error: Some(fail(e)) },
        };
        match Message::decode(frame, opts) {
            Ok(m) => messages.push(MessageView::new(&m, path_id_objects)),
            Err(e) => return Report { messages, error: Some(fail(e)) },
        }
        at += frame.len() - skipped;
    }
    Report { messages, error: None }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorLine<'a> {
    pub error: &'a ErrorView,
}

/// A decoding error: the NOTIFICATION keel would send (code and subcode `null` for bad hex).
#[derive(Debug, Clone, Serialize)]
pub struct ErrorView {
    pub code: Option<u8>,
    pub subcode: Option<u8>,
    pub reason: String,
    pub action: Option<&'static str>,
    pub data: String,
    pub offset: Option<usize>,
}

impl ErrorView {
    fn from_wire(e: &WireError, offset: usize) -> Self {
        ErrorView {
            code: Some(e.code),
            subcode: Some(e.subcode),
            reason: e.reason.clone(),
            action: Some(e.action.name()),
            data: hex(&e.data),
            offset: Some(offset),
        }
    }
}

/// One decoded message as printed.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum MessageView {
    Open(OpenView),
    Update(Box<UpdateView>),
    Notification(NotificationView),
    Keepalive,
    RouteRefresh(RouteRefreshView),
}

impl MessageView {
    pub fn new(m: &Message, path_id_objects: bool) -> Self {
        match m {
            Message::Open(o) => MessageView::Open(OpenView {
                version: o.version,
                asn: o.asn(),
                my_as: o.my_as,
                hold_time: o.hold_time,
                router_id: o.router_id.to_string(),
                capabilities: o.capabilities.iter().map(CapabilityView::new).collect(),
            }),
            Message::Update(u) => MessageView::Update(Box::new(UpdateView::new(u, path_id_objects))),
            Message::Notification(n) => MessageView::Notification(NotificationView::new(n)),
            Message::Keepalive => MessageView::Keepalive,
            Message::RouteRefresh(r) => MessageView::RouteRefresh(RouteRefreshView {
                afi: NameOrNumber::afi(r.family.afi),
                safi: NameOrNumber::safi(r.family.safi),
                subtype: match r.subtype {
                    RefreshSubtype::Reserved(s) => NameOrNumber::Number(s.into()),
                    s => NameOrNumber::Name(s.name().to_string()),
                },
            }),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OpenView {
    pub version: u8,
    pub asn: u32,
    pub my_as: u16,
    pub hold_time: u16,
    pub router_id: String,
    pub capabilities: Vec<CapabilityView>,
}

/// A capability: `code` and `name`, then the fields of its kind (absent ones are skipped).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CapabilityView {
    pub code: u8,
    pub name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub afi: Option<NameOrNumber>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safi: Option<NameOrNumber>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_state: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_time: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub families: Option<Vec<CapabilityFamily>>,
    /// Hex for unknown capabilities, the number for a role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CapabilityFamily {
    pub afi: NameOrNumber,
    pub safi: NameOrNumber,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarding_state: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_time: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receive: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_hop_afi: Option<NameOrNumber>,
}

impl CapabilityFamily {
    fn new(f: Family) -> Self {
        CapabilityFamily {
            afi: NameOrNumber::afi(f.afi),
            safi: NameOrNumber::safi(f.safi),
            forwarding_state: None,
            stale_time: None,
            send: None,
            receive: None,
            next_hop_afi: None,
        }
    }
}

impl CapabilityView {
    pub fn new(c: &Capability) -> Self {
        let mut v = CapabilityView { code: c.code(), name: c.name(), ..Default::default() };
        match c {
            Capability::Multiprotocol(f) => {
                v.afi = Some(NameOrNumber::afi(f.afi));
                v.safi = Some(NameOrNumber::safi(f.safi));
            }
            Capability::GracefulRestart(GracefulRestart { restart_state, notification, restart_time, families }) => {
                v.restart_state = Some(*restart_state);
                v.notification = Some(*notification);
                v.restart_time = Some(*restart_time);
                v.families = Some(
                    families
                        .iter()
                        .map(|f| CapabilityFamily {
                            forwarding_state: Some(f.forwarding_state),
                            ..CapabilityFamily::new(f.family)
                        })
                        .collect(),
                );
            }
            Capability::LongLivedGracefulRestart(families) => {
                v.families = Some(
                    families
                        .iter()
                        .map(|f| CapabilityFamily {
                            forwarding_state: Some(f.forwarding_state),
                            stale_time: Some(f.stale_time),
                            ..CapabilityFamily::new(f.family)
                        })
                        .collect(),
                );
            }
            Capability::AddPath(families) => {
                v.families = Some(
                    families
                        .iter()
                        .map(|f| CapabilityFamily {
                            send: Some(f.send),
                            receive: Some(f.receive),
                            ..CapabilityFamily::new(f.family)
                        })
                        .collect(),
                );
            }
            Capability::ExtendedNextHop(entries) => {
                v.families = Some(
                    entries
                        .iter()
                        .map(|e| CapabilityFamily {
                            next_hop_afi: Some(NameOrNumber::afi(e.next_hop_afi)),
                            ..CapabilityFamily::new(e.family)
                        })
                        .collect(),
                );
            }
            Capability::FourOctetAs(asn) => v.asn = Some(*asn),
            Capability::Role(r) => {
                v.role = Some(r.name());
                v.value = Some(r.to_u8().into());
            }
            Capability::Fqdn { hostname, domain } => {
                v.hostname = Some(hostname.clone());
                v.domain = Some(domain.clone());
            }
            Capability::Unknown { value, .. } => v.value = Some(hex(value).into()),
            Capability::RouteRefresh | Capability::EnhancedRouteRefresh | Capability::ExtendedMessage => {}
        }
        v
    }
}

/// A prefix, or with `--add-path` a prefix and its path identifier.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum NlriView {
    Prefix(String),
    WithPathId { prefix: String, path_id: Option<u32> },
}

impl NlriView {
    fn new(n: &Nlri, path_id_objects: bool) -> Self {
        if path_id_objects {
            NlriView::WithPathId { prefix: n.prefix.to_string(), path_id: n.path_id }
        } else {
            NlriView::Prefix(n.prefix.to_string())
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct UpdateView {
    pub end_of_rib: Option<FamilyView>,
    pub withdrawn: Vec<NlriView>,
    pub announced: Vec<NlriView>,
    pub attributes: AttributesView,
    pub errors: Vec<UpdateErrorView>,
    pub treat_as_withdraw: bool,
}

impl UpdateView {
    pub fn new(u: &Update, path_id_objects: bool) -> Self {
        UpdateView {
            end_of_rib: u.as_end_of_rib().map(FamilyView::from),
            withdrawn: u.withdrawn_routes().map(|(_, n)| NlriView::new(n, path_id_objects)).collect(),
            announced: u.announced_routes().map(|(_, n)| NlriView::new(n, path_id_objects)).collect(),
            attributes: AttributesView::new(&u.attributes),
            errors: u
                .errors
                .iter()
                .map(|e| UpdateErrorView {
                    action: e.action.name(),
                    code: e.code,
                    subcode: e.subcode,
                    reason: e.reason.clone(),
                    data: hex(&e.data),
                })
                .collect(),
            treat_as_withdraw: u.treat_as_withdraw(),
        }
    }
}

/// An RFC 7606 error the session survives.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateErrorView {
    pub action: &'static str,
    pub code: u8,
    pub subcode: u8,
    pub reason: String,
    pub data: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SegmentView {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub asns: Vec<u32>,
}

fn as_path(p: &AsPath) -> Vec<SegmentView> {
    p.segments
        .iter()
        .map(|s| SegmentView {
            kind: match s.kind {
                SegmentType::Sequence => "sequence",
                SegmentType::Set => "set",
                SegmentType::ConfedSequence => "confed-sequence",
                SegmentType::ConfedSet => "confed-set",
            },
            asns: s.asns.to_vec(),
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct AggregatorView {
    pub asn: u32,
    pub address: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MpReachView {
    pub afi: NameOrNumber,
    pub safi: NameOrNumber,
    pub next_hop: String,
    pub link_local_next_hop: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RawAttributeView {
    pub code: u8,
    pub flags: u8,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttributesView {
    pub origin: Option<&'static str>,
    pub as_path: Option<Vec<SegmentView>>,
    pub next_hop: Option<String>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub atomic_aggregate: bool,
    pub aggregator: Option<AggregatorView>,
    pub communities: Vec<String>,
    pub large_communities: Vec<String>,
    pub extended_communities: Vec<String>,
    pub originator_id: Option<String>,
    pub cluster_list: Vec<String>,
    pub otc: Option<u32>,
    pub mp_reach: Option<MpReachView>,
    pub mp_unreach: Option<FamilyView>,
    pub unknown: Vec<RawAttributeView>,
}

impl AttributesView {
    pub fn new(a: &keel_wire::PathAttributes) -> Self {
        AttributesView {
            origin: a.origin.map(|o| o.name()),
            as_path: a.as_path.as_ref().map(as_path),
            next_hop: a.next_hop.map(|n| n.to_string()),
            med: a.med,
            local_pref: a.local_pref,
            atomic_aggregate: a.atomic_aggregate,
            aggregator: a.aggregator.map(|g| AggregatorView { asn: g.asn, address: g.address.to_string() }),
            communities: a.communities.iter().map(ToString::to_string).collect(),
            large_communities: a.large_communities.iter().map(ToString::to_string).collect(),
            extended_communities: a.extended_communities.iter().map(ToString::to_string).collect(),
            originator_id: a.originator_id.map(|i| i.to_string()),
            cluster_list: a.cluster_list.iter().map(ToString::to_string).collect(),
            otc: a.otc,
            mp_reach: a.mp_reach.as_ref().map(|m| {
                let (next_hop, link_local) = match m.next_hop {
                    NextHop::V4(a) => (a.to_string(), None),
                    NextHop::V6 { global, link_local } => (global.to_string(), link_local.map(|l| l.to_string())),
                };
                MpReachView {
                    afi: NameOrNumber::afi(m.family.afi),
                    safi: NameOrNumber::safi(m.family.safi),
                    next_hop,
                    link_local_next_hop: link_local,
                }
            }),
            mp_unreach: a.mp_unreach.as_ref().map(|m| m.family.into()),
            unknown: a
                .unknown
                .iter()
                .map(|u| RawAttributeView { code: u.code, flags: u.flags, value: hex(&u.value) })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct InnerView {
    pub code: u8,
    pub subcode: u8,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotificationView {
    pub code: u8,
    pub subcode: u8,
    pub description: String,
    pub hard_reset: bool,
    pub inner: Option<InnerView>,
    pub shutdown_message: Option<String>,
    pub data: String,
}

impl NotificationView {
    pub fn new(n: &Notification) -> Self {
        NotificationView {
            code: n.code,
            subcode: n.subcode,
            description: n.describe(),
            hard_reset: n.is_hard_reset(),
            inner: n.hard_reset_inner().map(|i| InnerView { code: i.code, subcode: i.subcode }),
            shutdown_message: n.shutdown_message(),
            data: hex(&n.data),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteRefreshView {
    pub afi: NameOrNumber,
    pub safi: NameOrNumber,
    pub subtype: NameOrNumber,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_forms() {
        assert_eq!(parse_hex(" 0xff 0XFf\n0a\tb0 ").unwrap(), [0xff, 0xff, 0x0a, 0xb0]);
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
        assert_eq!(parse_hex("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn marker_detection() {
        assert!(starts_with_marker(&[0xff; 19]));
        assert!(starts_with_marker(&[0xff, 0xff, 0xff, 0]));
        assert!(!starts_with_marker(&[0x00, 0x13, 0x04]));
    }
}
