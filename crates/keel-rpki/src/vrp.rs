//! One Validated ROA Payload (RFC 6811 §2, RFC 8210 §5.6): its checks and its usual notation.

use keel_wire::Prefix;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// One Validated ROA Payload: `asn` may originate `prefix` and its more specifics up to
/// `max_len` bits (RFC 6811 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vrp {
    prefix: Prefix,
    max_len: u8,
    asn: u32,
}

/// Why a VRP is malformed (RFC 8210 §5.6, RFC 6482 §3.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VrpError {
    #[error("maximum length {max_len} shorter than the prefix length of {prefix}")]
    MaxLenTooShort { prefix: Prefix, max_len: u8 },
    #[error("maximum length {max_len} too long for {prefix}")]
    MaxLenTooLong { prefix: Prefix, max_len: u8 },
    #[error("{0}")]
    Syntax(String),
}

impl Vrp {
    /// A VRP; `max_len` must lie between the prefix length and the address length.
    pub fn new(prefix: Prefix, max_len: u8, asn: u32) -> Result<Vrp, VrpError> {
        let bits = if prefix.is_ipv4() { 32 } else { 128 };
        if max_len < prefix.len() {
            return Err(VrpError::MaxLenTooShort { prefix, max_len });
        }
        if max_len > bits {
            return Err(VrpError::MaxLenTooLong { prefix, max_len });
        }
        Ok(Vrp { prefix, max_len, asn })
    }

    /// A VRP from an address with possibly set host bits (as RTR carries it), cleared here.
    pub fn from_parts(addr: IpAddr, len: u8, max_len: u8, asn: u32) -> Result<Vrp, VrpError> {
        let prefix =
            Prefix::new(addr, len).ok_or_else(|| VrpError::Syntax(format!("{addr}/{len}: length too long")))?;
        Vrp::new(prefix, max_len, asn)
    }

    pub fn prefix(&self) -> Prefix {
        self.prefix
    }
    pub fn max_len(&self) -> u8 {
        self.max_len
    }
    pub fn asn(&self) -> u32 {
        self.asn
    }
}

/// `198.51.100.0/24-24 AS65005`, the usual notation.
impl fmt::Display for Vrp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{} AS{}", self.prefix, self.max_len, self.asn)
    }
}

/// Parses `PREFIX[-MAXLEN] [AS]ASN`; without `-MAXLEN` the maximum length is the prefix length.
impl FromStr for Vrp {
    type Err = VrpError;
    fn from_str(s: &str) -> Result<Vrp, VrpError> {
        let syntax = || VrpError::Syntax(format!("{s:?} is not a VRP (expected PREFIX[-MAXLEN] ASN)"));
        let (p, asn) = s.trim().split_once(char::is_whitespace).ok_or_else(syntax)?;
        let asn = asn.trim();
        let asn: u32 = asn.strip_prefix("AS").unwrap_or(asn).parse().map_err(|_| syntax())?;
        let (p, max_len) = match p.split_once('-') {
            Some((p, m)) => (p, Some(m.parse::<u8>().map_err(|_| syntax())?)),
            None => (p, None),
        };
        let prefix: Prefix = p.parse().map_err(VrpError::Syntax)?;
        Vrp::new(prefix, max_len.unwrap_or(prefix.len()), asn)
    }
}
