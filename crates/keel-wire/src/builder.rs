//! Packing routes into as few UPDATE messages as possible: every prefix sharing one attribute
//! set goes under one encoding of the attributes, up to the negotiated message size.
//!
//! RFC 8654 §4: towards a peer without Extended Message, a route whose attributes do not fit
//! in 4096 octets first sheds the attributes that RFC 7606 lets a receiver discard
//! (ATOMIC_AGGREGATE, AGGREGATOR, AS4_AGGREGATOR); if it still does not fit it is not sent
//! ([`EncodeError::TooLarge`]) and the caller withdraws it if it was sent before.

use crate::attribute::{self, code, flags, mp_reach, NextHop, PathAttributes, Shed};
use crate::codec::CodecOptions;
use crate::error::EncodeError;
use crate::family::Family;
use crate::header;
use crate::message_type::MessageType;
use crate::nlri::Nlri;

/// Appends UPDATEs announcing `nlri` of `family` with `attributes` and `next_hop` to `out`;
/// returns how many messages were written. IPv4 unicast with an IPv4 next hop uses the NLRI
/// field and NEXT_HOP; every other case MP_REACH_NLRI. The `next_hop`, `mp_reach` and
/// `mp_unreach` fields of `attributes` are ignored.
pub fn announce(
    family: Family,
    attributes: &PathAttributes,
    next_hop: NextHop,
    nlri: &[Nlri],
    opts: &CodecOptions,
    out: &mut Vec<u8>,
) -> Result<usize, EncodeError> {
    if nlri.is_empty() {
        return Ok(0);
    }
    let limit = opts.max_message_size();
    let add_path = opts.add_path_for(family);
    let classic = family == Family::IPV4_UNICAST && matches!(next_hop, NextHop::V4(_));
    let largest = nlri.iter().map(|n| n.with_path_id_if(add_path).wire_len()).max().unwrap_or(0);
    let mut attrs = PathAttributes { next_hop: None, mp_reach: None, mp_unreach: None, ..attributes.clone() };
    if let (true, NextHop::V4(a)) = (classic, next_hop) {
        attrs.next_hop = Some(a);
    }
    // Fixed octets besides the common attributes: header, both length fields, and for MP the
    // MP_REACH_NLRI header (4, extended length assumed), AFI/SAFI, next hop and reserved.
    let fixed = header::LEN + 4 + if classic { 0 } else { 4 + 5 + next_hop.wire_len() };
    let mut common = Vec::with_capacity(128);
    attribute::encode_common(&attrs, opts, Shed::default(), &mut common);
    if fixed + common.len() + largest > limit {
        common.clear();
        attribute::encode_common(&attrs, opts, Shed { discardable: true }, &mut common);
        if fixed + common.len() + largest > limit {
            return Err(EncodeError::TooLarge { size: fixed + common.len() + largest, limit });
        }
    }
    let budget = limit - fixed - common.len();
    let mut messages = 0;
    for chunk in Chunks::new(nlri, add_path, budget) {
        let start = out.len();
        header::begin(out);
        out.extend_from_slice(&[0, 0, 0, 0]);
        let a = out.len();
        if !classic {
            attribute::put(out, flags::OPTIONAL, code::MP_REACH_NLRI, |o| {
                mp_reach::encode_reach_value(family, &next_hop, &[], o);
                chunk.iter().for_each(|n| n.with_path_id_if(add_path).write(o));
            });
        }
        out.extend_from_slice(&common);
        let alen = (out.len() - a) as u16;
        out[a - 2..a].copy_from_slice(&alen.to_be_bytes());
        if classic {
            chunk.iter().for_each(|n| n.with_path_id_if(add_path).write(out));
        }
        header::finish_at(out, start, MessageType::Update, limit)?;
        messages += 1;
    }
    Ok(messages)
}

/// Appends UPDATEs withdrawing `nlri` of `family`; returns how many messages were written.
pub fn withdraw(family: Family, nlri: &[Nlri], opts: &CodecOptions, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
    let limit = opts.max_message_size();
    let add_path = opts.add_path_for(family);
    let classic = family == Family::IPV4_UNICAST;
    let budget = limit - header::LEN - 4 - if classic { 0 } else { 4 + 3 };
    let mut messages = 0;
    for chunk in Chunks::new(nlri, add_path, budget) {
        let start = out.len();
        header::begin(out);
        if classic {
            let w = out.len();
            out.extend_from_slice(&[0, 0]);
            chunk.iter().for_each(|n| n.with_path_id_if(add_path).write(out));
            let wlen = (out.len() - w - 2) as u16;
            out[w..w + 2].copy_from_slice(&wlen.to_be_bytes());
            out.extend_from_slice(&[0, 0]);
        } else {
            out.extend_from_slice(&[0, 0, 0, 0]);
            let a = out.len();
            attribute::put(out, flags::OPTIONAL, code::MP_UNREACH_NLRI, |o| {
                family.write(o);
                chunk.iter().for_each(|n| n.with_path_id_if(add_path).write(o));
            });
            let alen = (out.len() - a) as u16;
            out[a - 2..a].copy_from_slice(&alen.to_be_bytes());
        }
        header::finish_at(out, start, MessageType::Update, limit)?;
        messages += 1;
    }
    Ok(messages)
}

/// Splits NLRI into runs whose encoding fits `budget` octets.
struct Chunks<'a> {
    rest: &'a [Nlri],
    add_path: bool,
    budget: usize,
}

impl<'a> Chunks<'a> {
    fn new(rest: &'a [Nlri], add_path: bool, budget: usize) -> Self {
        Chunks { rest, add_path, budget }
    }
}

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a [Nlri];
    fn next(&mut self) -> Option<&'a [Nlri]> {
        if self.rest.is_empty() {
            return None;
        }
        let mut used = 0;
        let mut n = 0;
        for x in self.rest {
            let l = x.wire_len() + if self.add_path && x.path_id.is_none() { 4 } else { 0 };
            let l = if self.add_path { l } else { x.prefix.wire_len() };
            if used + l > self.budget {
                break;
            }
            used += l;
            n += 1;
        }
        // The caller made sure one NLRI fits; never loop forever if it does not.
        let n = n.max(1);
        let (chunk, rest) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = rest;
        Some(chunk)
    }
}
