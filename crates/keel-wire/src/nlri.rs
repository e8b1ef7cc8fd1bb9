//! IP prefixes and NLRI encoding (RFC 4271 §4.3, RFC 4760 §5), with the optional Add-Path
//! path identifier (RFC 7911 §3).

use crate::family::Afi;
use crate::reader::Reader;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IP prefix with its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

impl Prefix {
    /// A prefix from an address and length; host bits are cleared. `None` if the length
    /// is longer than the address.
    pub fn new(addr: IpAddr, len: u8) -> Option<Self> {
        let addr = match addr {
            IpAddr::V4(a) if len <= 32 => {
                let mask = u32::MAX.checked_shl(32 - len as u32).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) if len <= 128 => {
                let mask = u128::MAX.checked_shl(128 - len as u32).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
            _ => return None,
        };
        Some(Prefix { addr, len })
    }
    pub fn addr(&self) -> IpAddr {
        self.addr
    }
    /// The prefix length in bits (not a container length, so no `is_empty`).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u8 {
        self.len
    }
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }
    /// The prefix of one address: `/32` for IPv4, `/128` for IPv6.
    pub fn host(addr: IpAddr) -> Self {
        Prefix { addr, len: if addr.is_ipv4() { 32 } else { 128 } }
    }
    /// Whether `other` lies within this prefix: same address family, at least as long, and
    /// equal to it in this prefix's bits. A prefix covers itself.
    pub fn covers(&self, other: &Prefix) -> bool {
        self.len <= other.len && Prefix::new(other.addr, self.len).is_some_and(|p| p == *self)
    }
    pub fn afi(&self) -> Afi {
        if self.is_ipv4() {
            Afi::IPV4
        } else {
            Afi::IPV6
        }
    }
    /// The unicast family of this prefix's address (IPv4 or IPv6 unicast).
    pub fn unicast_family(&self) -> crate::family::Family {
        crate::family::Family::new(self.afi(), crate::family::Safi::UNICAST)
    }
    /// Octets this prefix takes on the wire, without a path identifier.
    pub fn wire_len(&self) -> usize {
        1 + (self.len as usize).div_ceil(8)
    }
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        let n = (self.len as usize).div_ceil(8);
        out.push(self.len);
        match self.addr {
            IpAddr::V4(a) => out.extend_from_slice(&a.octets()[..n]),
            IpAddr::V6(a) => out.extend_from_slice(&a.octets()[..n]),
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = s.split_once('/').ok_or_else(|| format!("{s:?} is not a prefix (expected ADDRESS/LENGTH)"))?;
        let addr: IpAddr = a.parse().map_err(|_| format!("{a:?} is not an IP address"))?;
        let len: u8 = l.parse().map_err(|_| format!("{l:?} is not a prefix length"))?;
        let p = Prefix::new(addr, len).ok_or_else(|| format!("prefix length {len} too long"))?;
        if p.addr != addr {
            return Err(format!("{s} has host bits set (did you mean {p}?)"));
        }
        Ok(p)
    }
}

impl serde::Serialize for Prefix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Prefix {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One NLRI entry: a prefix and, on Add-Path sessions, its path identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Nlri {
    pub prefix: Prefix,
    pub path_id: Option<u32>,
}

impl Nlri {
    pub fn new(prefix: Prefix) -> Self {
        Nlri { prefix, path_id: None }
    }
    pub fn with_path_id(prefix: Prefix, path_id: u32) -> Self {
        Nlri { prefix, path_id: Some(path_id) }
    }
    pub fn wire_len(&self) -> usize {
        self.prefix.wire_len() + if self.path_id.is_some() { 4 } else { 0 }
    }
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        if let Some(id) = self.path_id {
            out.extend_from_slice(&id.to_be_bytes());
        }
        self.prefix.write(out);
    }
}

/// Why an NLRI field could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NlriError {
    Truncated,
    LengthTooLong(u8),
}

impl fmt::Display for NlriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NlriError::Truncated => write!(f, "prefix runs past the end of its field"),
            NlriError::LengthTooLong(l) => write!(f, "prefix length {l} too long for the family"),
        }
    }
}

/// Parses a whole NLRI field of one address family.
pub(crate) fn parse_nlri(buf: &[u8], afi: Afi, add_path: bool, out: &mut Vec<Nlri>) -> Result<(), NlriError> {
    let max = if afi == Afi::IPV4 { 32 } else { 128 };
    let mut r = Reader::new(buf);
    // Room for the typical 3-4 byte IPv4 entry; never more than the input justifies.
    out.reserve(buf.len() / if add_path { 8 } else { 4 });
    while !r.is_empty() {
        let path_id = if add_path { Some(r.u32().ok_or(NlriError::Truncated)?) } else { None };
        let len = r.u8().ok_or(NlriError::Truncated)?;
        if len > max {
            return Err(NlriError::LengthTooLong(len));
        }
        let bytes = r.take((len as usize).div_ceil(8)).ok_or(NlriError::Truncated)?;
        // `len <= max` was checked; trailing bits beyond the length are cleared (RFC 4271
        // §4.3: they are irrelevant).
        let addr = if afi == Afi::IPV4 {
            let mut o = [0u8; 4];
            o[..bytes.len()].copy_from_slice(bytes);
            let mask = u32::MAX.checked_shl(32 - len as u32).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from_be_bytes(o) & mask))
        } else {
            let mut o = [0u8; 16];
            o[..bytes.len()].copy_from_slice(bytes);
            let mask = u128::MAX.checked_shl(128 - len as u32).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from_be_bytes(o) & mask))
        };
        out.push(Nlri { prefix: Prefix { addr, len }, path_id });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_bits_cleared_and_displayed() {
        let p = Prefix::new("192.0.2.77".parse().unwrap(), 24).unwrap();
        assert_eq!(p.to_string(), "192.0.2.0/24");
        assert!("192.0.2.1/24".parse::<Prefix>().is_err());
        assert_eq!("2001:db8::/32".parse::<Prefix>().unwrap().len(), 32);
        assert!(Prefix::new("::".parse().unwrap(), 129).is_none());
        assert_eq!(Prefix::new("10.0.0.1".parse().unwrap(), 0).unwrap().to_string(), "0.0.0.0/0");
    }

    #[test]
    fn covers_and_host() {
        let p = |s: &str| s.parse::<Prefix>().unwrap();
        assert!(p("203.0.113.0/24").covers(&p("203.0.113.0/25")));
        assert!(p("203.0.113.0/24").covers(&p("203.0.113.0/24")));
        assert!(p("0.0.0.0/0").covers(&Prefix::host("203.0.113.5".parse().unwrap())));
        assert!(!p("203.0.113.0/25").covers(&p("203.0.113.0/24")));
        assert!(!p("203.0.113.0/25").covers(&p("203.0.113.128/25")));
        assert!(!p("::/0").covers(&p("203.0.113.0/24")), "another family");
        assert_eq!(Prefix::host("2001:db8::1".parse().unwrap()).to_string(), "2001:db8::1/128");
    }

    #[test]
    fn nlri_round_trip_and_errors() {
        let mut out = Vec::new();
        parse_nlri(&[24, 198, 51, 100, 0, 32, 203, 0, 113, 9], Afi::IPV4, false, &mut out).unwrap();
        assert_eq!(out[0].prefix.to_string(), "198.51.100.0/24");
        assert_eq!(out[1].prefix.to_string(), "0.0.0.0/0");
        assert_eq!(out[2].prefix.to_string(), "203.0.113.9/32");
        let mut buf = Vec::new();
        for n in &out {
            n.write(&mut buf);
        }
        assert_eq!(buf, [24, 198, 51, 100, 0, 32, 203, 0, 113, 9]);
        assert_eq!(parse_nlri(&[33, 1, 2, 3, 4, 5], Afi::IPV4, false, &mut out), Err(NlriError::LengthTooLong(33)));
        assert_eq!(parse_nlri(&[24, 1, 2], Afi::IPV4, false, &mut out), Err(NlriError::Truncated));
        assert_eq!(parse_nlri(&[0, 0, 0], Afi::IPV4, true, &mut out), Err(NlriError::Truncated));
        out.clear();
        parse_nlri(&[0, 0, 0, 7, 64, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1], Afi::IPV6, true, &mut out).unwrap();
        assert_eq!(out, [Nlri::with_path_id("2001:db8:0:1::/64".parse().unwrap(), 7)]);
    }
}
