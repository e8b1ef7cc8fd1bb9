//! MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760 §3, §4) for IPv4/IPv6 unicast and multicast,
//! with IPv6 link-local next hops (RFC 2545 §3) and IPv4 NLRI over an IPv6 next hop (RFC 8950).

use crate::family::{Afi, Family, Safi};
use crate::nlri::{parse_nlri, Nlri};
use crate::reader::Reader;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum NextHop {
    V4(Ipv4Addr),
    V6 { global: Ipv6Addr, link_local: Option<Ipv6Addr> },
}

impl NextHop {
    pub fn addr(&self) -> IpAddr {
        match *self {
            NextHop::V4(a) => IpAddr::V4(a),
            NextHop::V6 { global, .. } => IpAddr::V6(global),
        }
    }
    pub fn wire_len(&self) -> usize {
        match self {
            NextHop::V4(_) => 4,
            NextHop::V6 { link_local: None, .. } => 16,
            NextHop::V6 { link_local: Some(_), .. } => 32,
        }
    }
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match self {
            NextHop::V4(a) => out.extend_from_slice(&a.octets()),
            NextHop::V6 { global, link_local } => {
                out.extend_from_slice(&global.octets());
                if let Some(ll) = link_local {
                    out.extend_from_slice(&ll.octets());
                }
            }
        }
    }
}

impl From<IpAddr> for NextHop {
    fn from(a: IpAddr) -> Self {
        match a {
            IpAddr::V4(a) => NextHop::V4(a),
            IpAddr::V6(global) => NextHop::V6 { global, link_local: None },
        }
    }
}

impl fmt::Display for NextHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NextHop::V4(a) => write!(f, "{a}"),
            NextHop::V6 { global, link_local: None } => write!(f, "{global}"),
            NextHop::V6 { global, link_local: Some(ll) } => write!(f, "{global} {ll}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct MpReach {
    pub family: Family,
    pub next_hop: NextHop,
    pub nlri: Vec<Nlri>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct MpUnreach {
    pub family: Family,
    pub nlri: Vec<Nlri>,
}

/// What went wrong, and for which family when it could be read (for AFI/SAFI disable).
pub(crate) struct MpError {
    pub family: Option<Family>,
    pub reason: String,
}

fn family(r: &mut Reader) -> Result<Family, MpError> {
    match (r.u16(), r.u8()) {
        (Some(afi), Some(safi)) => Ok(Family::new(Afi(afi), Safi(safi))),
        _ => Err(MpError { family: None, reason: "AFI/SAFI truncated".into() }),
    }
}

/// Decodes MP_REACH_NLRI. `Ok(None)`: a family keel does not parse, kept as raw bytes.
pub(crate) fn decode_reach(value: &[u8], add_path: impl Fn(Family) -> bool) -> Result<Option<MpReach>, MpError> {
    let mut r = Reader::new(value);
    let family = family(&mut r)?;
    if !family.is_ip() {
        return Ok(None);
    }
    let err = |reason: String| MpError { family: Some(family), reason };
    let nh_len = r.u8().ok_or_else(|| err("next hop length truncated".into()))?;
    let nh = r.take(nh_len as usize).ok_or_else(|| err(format!("next hop of {nh_len} octets truncated")))?;
    let v6 = |b: &[u8]| Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap_or_default());
    let next_hop = match nh.len() {
        4 if family.afi == Afi::IPV4 => NextHop::V4(Ipv4Addr::new(nh[0], nh[1], nh[2], nh[3])),
        16 => NextHop::V6 { global: v6(nh), link_local: None },
        32 => NextHop::V6 { global: v6(&nh[..16]), link_local: Some(v6(&nh[16..])) },
        n => return Err(err(format!("next hop length {n} is not valid for {family}"))),
    };
    // RFC 4760 §3: one reserved octet (formerly the SNPA count), ignored on receipt.
    r.u8().ok_or_else(|| err("reserved octet missing".into()))?;
    let mut nlri = Vec::new();
    parse_nlri(r.rest(), family.afi, add_path(family), &mut nlri).map_err(|e| err(format!("NLRI: {e}")))?;
    Ok(Some(MpReach { family, next_hop, nlri }))
}

/// Decodes MP_UNREACH_NLRI. `Ok(None)`: a family keel does not parse.
pub(crate) fn decode_unreach(
    value: &[u8],
    add_path: impl Fn(Family) -> bool,
) -> Result<(Family, Option<MpUnreach>), MpError> {
    let mut r = Reader::new(value);
    let family = family(&mut r)?;
    if !family.is_ip() {
        return Ok((family, None));
    }
    let mut nlri = Vec::new();
    parse_nlri(r.rest(), family.afi, add_path(family), &mut nlri)
        .map_err(|e| MpError { family: Some(family), reason: format!("withdrawn NLRI: {e}") })?;
    Ok((family, Some(MpUnreach { family, nlri })))
}

/// Appends the MP_REACH_NLRI value with NLRI already encoded.
pub(crate) fn encode_reach_value(family: Family, next_hop: &NextHop, nlri: &[u8], out: &mut Vec<u8>) {
    family.write(out);
    out.push(next_hop.wire_len() as u8);
    next_hop.write(out);
    out.push(0);
    out.extend_from_slice(nlri);
}
