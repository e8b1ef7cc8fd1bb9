//! UPDATE message (RFC 4271 §4.3) and End-of-RIB (RFC 4724 §2).

use crate::attribute::{self, flags, mp_reach, PathAttributes, Shed};
use crate::codec::CodecOptions;
use crate::error::{update, Action, EncodeError, WireError};
use crate::family::{Afi, Family, Safi};
use crate::header;
use crate::message_type::MessageType;
use crate::nlri::{parse_nlri, Nlri};
use crate::reader::Reader;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Update {
    /// IPv4 unicast routes withdrawn in the Withdrawn Routes field.
    pub withdrawn: Vec<Nlri>,
    pub attributes: PathAttributes,
    /// IPv4 unicast routes in the NLRI field.
    pub announced: Vec<Nlri>,
    /// Errors the session survives (RFC 7606). With any treat-as-withdraw error, every route
    /// the UPDATE announces must be handled as withdrawn.
    #[serde(skip)]
    pub errors: Vec<WireError>,
}

impl Update {
    /// The End-of-RIB marker for `family` (RFC 4724 §2): an empty UPDATE for IPv4 unicast,
    /// else an UPDATE holding only an empty MP_UNREACH_NLRI.
    pub fn end_of_rib(family: Family) -> Update {
        let mut u = Update::default();
        if family != Family::IPV4_UNICAST {
            if family.is_ip() {
                u.attributes.mp_unreach = Some(Box::new(attribute::MpUnreach { family, nlri: Vec::new() }));
            } else {
                let mut value = Vec::new();
                family.write(&mut value);
                u.attributes.unknown.push(attribute::RawAttribute {
                    flags: flags::OPTIONAL,
                    code: attribute::code::MP_UNREACH_NLRI,
                    value,
                });
            }
        }
        u
    }

    /// `Some(family)` when this UPDATE is an End-of-RIB marker. An empty MP_UNREACH_NLRI for
    /// IPv4 unicast is accepted as one too.
    pub fn as_end_of_rib(&self) -> Option<Family> {
        if !self.withdrawn.is_empty() || !self.announced.is_empty() {
            return None;
        }
        let a = &self.attributes;
        if a.is_empty() {
            return Some(Family::IPV4_UNICAST);
        }
        // Nothing but MP_UNREACH_NLRI (as a typed or a raw attribute).
        let only = |a: &PathAttributes| {
            let PathAttributes {
                origin,
                as_path,
                next_hop,
                med,
                local_pref,
                atomic_aggregate,
                aggregator,
                communities,
                originator_id,
                cluster_list,
                mp_reach,
                mp_unreach: _,
                extended_communities,
                large_communities,
                otc,
                unknown,
            } = a;
            origin.is_none()
                && as_path.is_none()
                && next_hop.is_none()
                && med.is_none()
                && local_pref.is_none()
                && !atomic_aggregate
                && aggregator.is_none()
                && communities.is_empty()
                && originator_id.is_none()
                && cluster_list.is_empty()
                && mp_reach.is_none()
                && extended_communities.is_empty()
                && large_communities.is_empty()
                && otc.is_none()
                && unknown.iter().all(|u| u.code == attribute::code::MP_UNREACH_NLRI)
        };
        match (&a.mp_unreach, a.unknown.as_slice()) {
            (Some(m), []) if m.nlri.is_empty() && only(a) => Some(m.family),
            (None, [u]) if u.code == attribute::code::MP_UNREACH_NLRI && u.value.len() == 3 && only(a) => {
                Some(Family::new(Afi(u16::from_be_bytes([u.value[0], u.value[1]])), Safi(u.value[2])))
            }
            _ => None,
        }
    }

    /// True when RFC 7606 says to handle every announced route as withdrawn.
    pub fn treat_as_withdraw(&self) -> bool {
        self.errors.iter().any(|e| e.action == Action::TreatAsWithdraw)
    }

    /// Every route announced, with its family (IPv4 NLRI field first, then MP_REACH_NLRI).
    pub fn announced_routes(&self) -> impl Iterator<Item = (Family, &Nlri)> {
        let mp = self.attributes.mp_reach.iter().flat_map(|m| m.nlri.iter().map(move |n| (m.family, n)));
        self.announced.iter().map(|n| (Family::IPV4_UNICAST, n)).chain(mp)
    }

    /// Every route withdrawn, with its family.
    pub fn withdrawn_routes(&self) -> impl Iterator<Item = (Family, &Nlri)> {
        let mp = self.attributes.mp_unreach.iter().flat_map(|m| m.nlri.iter().map(move |n| (m.family, n)));
        self.withdrawn.iter().map(|n| (Family::IPV4_UNICAST, n)).chain(mp)
    }

    /// Decodes the body after the 19-byte header.
    #[inline]
    /// Decodes into a boxed `Update` built in place (no large moves).
    pub(crate) fn decode(body: &[u8], opts: &CodecOptions) -> Result<Box<Update>, WireError> {
        let mut r = Reader::new(body);
        let malformed = |why: &str| WireError::update(update::MALFORMED_ATTRIBUTE_LIST, why.to_string());
        let wlen = r.u16().ok_or_else(|| malformed("withdrawn routes length missing"))? as usize;
        let wbuf = r.take(wlen).ok_or_else(|| malformed("withdrawn routes length exceeds the message"))?;
        let alen = r.u16().ok_or_else(|| malformed("total path attribute length missing"))? as usize;
        let abuf = r.take(alen).ok_or_else(|| malformed("total path attribute length exceeds the message"))?;
        let nbuf = r.rest();
        let ipv4_add_path = opts.add_path_for(Family::IPV4_UNICAST);
        let mut u = Box::<Update>::default();
        // RFC 7606 §5.3: an NLRI field that cannot be parsed resets the session.
        parse_nlri(wbuf, Afi::IPV4, ipv4_add_path, &mut u.withdrawn)
            .map_err(|e| WireError::update(update::INVALID_NETWORK_FIELD, format!("withdrawn routes: {e}")))?;
        parse_nlri(nbuf, Afi::IPV4, ipv4_add_path, &mut u.announced)
            .map_err(|e| WireError::update(update::INVALID_NETWORK_FIELD, format!("NLRI: {e}")))?;
        let Update { withdrawn: _, attributes, announced, errors } = &mut *u;
        attribute::decode(abuf, opts, attributes, errors)?;
        let reach = !announced.is_empty() || attributes.mp_reach.as_ref().is_some_and(|m| !m.nlri.is_empty());
        if reach {
            errors.extend(attribute::check_mandatory(attributes, !announced.is_empty()));
        }
        Ok(u)
    }

    /// Encodes as exactly one message, or fails if it does not fit `opts`' size limit.
    /// MP_UNREACH_NLRI and MP_REACH_NLRI come first (RFC 7606 §5.1).
    pub fn encode(&self, opts: &CodecOptions) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(64);
        header::begin(&mut out);
        let ipv4_add_path = opts.add_path_for(Family::IPV4_UNICAST);
        let w = out.len();
        out.extend_from_slice(&[0, 0]);
        for n in &self.withdrawn {
            n.with_path_id_if(ipv4_add_path).write(&mut out);
        }
        let wlen = out.len() - w - 2;
        out[w..w + 2].copy_from_slice(&(wlen as u16).to_be_bytes());
        let a = out.len();
        out.extend_from_slice(&[0, 0]);
        if let Some(m) = &self.attributes.mp_unreach {
            attribute::put(&mut out, flags::OPTIONAL, attribute::code::MP_UNREACH_NLRI, |o| {
                m.family.write(o);
                let ap = opts.add_path_for(m.family);
                m.nlri.iter().for_each(|n| n.with_path_id_if(ap).write(o));
            });
        }
        if let Some(m) = &self.attributes.mp_reach {
            let ap = opts.add_path_for(m.family);
            let mut nlri = Vec::new();
            m.nlri.iter().for_each(|n| n.with_path_id_if(ap).write(&mut nlri));
            attribute::put(&mut out, flags::OPTIONAL, attribute::code::MP_REACH_NLRI, |o| {
                mp_reach::encode_reach_value(m.family, &m.next_hop, &nlri, o)
            });
        }
        attribute::encode_common(&self.attributes, opts, Shed::default(), &mut out);
        let alen = out.len() - a - 2;
        out[a..a + 2].copy_from_slice(&(alen as u16).to_be_bytes());
        for n in &self.announced {
            n.with_path_id_if(ipv4_add_path).write(&mut out);
        }
        if wlen > u16::MAX as usize || alen > u16::MAX as usize {
            return Err(EncodeError::TooLarge { size: out.len(), limit: opts.max_message_size() });
        }
        header::finish(&mut out, MessageType::Update, opts.max_message_size())?;
        Ok(out)
    }
}

impl Nlri {
    /// On Add-Path sessions every NLRI carries an id (0 when none was set); elsewhere none.
    pub(crate) fn with_path_id_if(&self, add_path: bool) -> Nlri {
        Nlri { prefix: self.prefix, path_id: if add_path { Some(self.path_id.unwrap_or(0)) } else { None } }
    }
}
