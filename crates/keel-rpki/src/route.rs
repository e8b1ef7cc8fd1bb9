//! A route as origin validation sees it (RFC 6811 §2): the validation state it gets, and its
//! Route Origin ASN.

use keel_wire::attribute::AsPath;
use std::fmt;
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

/// The Route Origin ASN of a route (RFC 6811 §2): from its AS_PATH, or `local_as` for a route
/// without one (keel's own routes).
pub fn route_origin_asn(as_path: Option<&AsPath>, local_as: u32) -> Option<u32> {
    match as_path {
        Some(p) => p.route_origin_asn(local_as),
        None => Some(local_as),
    }
}
