//! RPKI route origin validation (RFC 6811) against a set of Validated ROA Payloads (VRPs).
//!
//! - [`Vrp`]: one VRP, {prefix, maximum length, origin AS} (RFC 6811 §2, RFC 8210 §5.6).
//! - [`VrpTable`]: an immutable VRP set indexed for validation; [`VrpTable::validate`] gives a
//!   route's [`RpkiState`] per RFC 6811 §2. Built once per VRP change and shared (`Arc`) by
//!   whoever validates, so lookups need no lock.
//! - [`VrpSet`]: the VRPs one RTR cache gave, changed by whole updates (RFC 8210 §5: a Cache
//!   Response up to its End of Data) that apply atomically or not at all.
//!
//! The crate does no I/O: keel's daemon runs the RTR clients (RFC 8210) and feeds it.

mod set;
pub mod synthetic;
mod table;

pub use set::{Change, UpdateError, VrpSet};
pub use table::VrpTable;

use keel_wire::attribute::AsPath;
use keel_wire::Prefix;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A route's origin validation state (RFC 6811 §2). JSON names are a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RpkiState {
    /// A covering VRP matches the route's origin AS and length.
    Valid,
    /// Covered by at least one VRP, matched by none.
    Invalid,
    /// No VRP covers the route.
    NotFound,
}

impl RpkiState {
    /// "valid", "invalid" or "not-found", as the API shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            RpkiState::Valid => "valid",
            RpkiState::Invalid => "invalid",
            RpkiState::NotFound => "not-found",
        }
    }
}

impl FromStr for RpkiState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "valid" => Ok(RpkiState::Valid),
            "invalid" => Ok(RpkiState::Invalid),
            "not-found" => Ok(RpkiState::NotFound),
            _ => Err(format!("{s:?} is not an RPKI state (valid, invalid, not-found)")),
        }
    }
}

impl fmt::Display for RpkiState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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

/// The Route Origin ASN of a route (RFC 6811 §2): from its AS_PATH, or `local_as` for a route
/// without one (keel's own routes).
pub fn route_origin_asn(as_path: Option<&AsPath>, local_as: u32) -> Option<u32> {
    match as_path {
        Some(p) => p.route_origin_asn(local_as),
        None => Some(local_as),
    }
}
