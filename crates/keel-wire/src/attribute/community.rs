//! COMMUNITIES (RFC 1997), EXTENDED_COMMUNITIES (RFC 4360) and LARGE_COMMUNITY (RFC 8092).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Community(pub u32);

impl Community {
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);
    /// RFC 9494 §4.
    pub const LLGR_STALE: Community = Community(0xFFFF_0006);
    pub const NO_LLGR: Community = Community(0xFFFF_0007);
    /// RFC 8326.
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);

    pub fn new(asn: u16, value: u16) -> Self {
        Community((asn as u32) << 16 | value as u32)
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0 >> 16, self.0 & 0xffff)
    }
}

impl FromStr for Community {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("{s:?} is not a community (expected ASN:VALUE, each 0..65535)");
        let (a, v) = s.split_once(':').ok_or_else(err)?;
        Ok(Community::new(a.parse().map_err(|_| err())?, v.parse().map_err(|_| err())?))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct ExtendedCommunity(pub [u8; 8]);

impl ExtendedCommunity {
    /// Type high octet's Transitive bit is 0 for transitive communities (RFC 4360 §2).
    pub fn is_transitive(&self) -> bool {
        self.0[0] & 0x40 == 0
    }
}

/// `rt:65001:100` for 2-octet-AS route targets, `0x....` otherwise.
impl fmt::Display for ExtendedCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        match (b[0], b[1]) {
            (0x00, 0x02) => {
                write!(f, "rt:{}:{}", u16::from_be_bytes([b[2], b[3]]), u32::from_be_bytes([b[4], b[5], b[6], b[7]]))
            }
            (0x00, 0x03) => {
                write!(f, "ro:{}:{}", u16::from_be_bytes([b[2], b[3]]), u32::from_be_bytes([b[4], b[5], b[6], b[7]]))
            }
            _ => write!(f, "0x{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
        }
    }
}

/// The forms [`fmt::Display`] writes: `rt:ASN:VALUE`, `ro:ASN:VALUE` (2-octet AS) and `0x` +
/// 16 hex digits.
impl FromStr for ExtendedCommunity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("{s:?} is not an extended community (rt:ASN:VALUE, ro:ASN:VALUE or 0x + 16 hex digits)");
        if let Some(hex) = s.strip_prefix("0x") {
            if hex.len() != 16 || !hex.is_ascii() {
                return Err(err());
            }
            let mut b = [0u8; 8];
            for (i, o) in b.iter_mut().enumerate() {
                *o = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| err())?;
            }
            return Ok(ExtendedCommunity(b));
        }
        let mut it = s.split(':');
        let (Some(kind), Some(asn), Some(value), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(err());
        };
        let sub = match kind {
            "rt" => 0x02,
            "ro" => 0x03,
            _ => return Err(err()),
        };
        let a = asn.parse::<u16>().map_err(|_| err())?.to_be_bytes();
        let v = value.parse::<u32>().map_err(|_| err())?.to_be_bytes();
        Ok(ExtendedCommunity([0x00, sub, a[0], a[1], v[0], v[1], v[2], v[3]]))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct LargeCommunity {
    pub global_admin: u32,
    pub local_data_1: u32,
    pub local_data_2: u32,
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.global_admin, self.local_data_1, self.local_data_2)
    }
}

impl FromStr for LargeCommunity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("{s:?} is not a large community (expected A:B:C)");
        let mut it = s.split(':').map(|p| p.parse::<u32>().map_err(|_| err()));
        let (Some(a), Some(b), Some(c), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(err());
        };
        Ok(LargeCommunity { global_admin: a?, local_data_1: b?, local_data_2: c? })
    }
}
