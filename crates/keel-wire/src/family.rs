//! Address families: AFI (IANA address family numbers) and SAFI (RFC 4760 §5).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Afi(pub u16);

impl Afi {
    pub const IPV4: Afi = Afi(1);
    pub const IPV6: Afi = Afi(2);
    pub fn name(self) -> Option<&'static str> {
        match self {
            Afi::IPV4 => Some("ipv4"),
            Afi::IPV6 => Some("ipv6"),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Safi(pub u8);

impl Safi {
    pub const UNICAST: Safi = Safi(1);
    pub const MULTICAST: Safi = Safi(2);
    pub fn name(self) -> Option<&'static str> {
        match self {
            Safi::UNICAST => Some("unicast"),
            Safi::MULTICAST => Some("multicast"),
            _ => None,
        }
    }
}

/// An AFI/SAFI pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Family {
    pub afi: Afi,
    pub safi: Safi,
}

impl Family {
    pub const IPV4_UNICAST: Family = Family::new(Afi::IPV4, Safi::UNICAST);
    pub const IPV6_UNICAST: Family = Family::new(Afi::IPV6, Safi::UNICAST);
    pub const IPV4_MULTICAST: Family = Family::new(Afi::IPV4, Safi::MULTICAST);
    pub const IPV6_MULTICAST: Family = Family::new(Afi::IPV6, Safi::MULTICAST);

    pub const fn new(afi: Afi, safi: Safi) -> Self {
        Family { afi, safi }
    }

    /// Families whose NLRI are plain IP prefixes, which keel decodes.
    pub fn is_ip(self) -> bool {
        matches!(self.afi, Afi::IPV4 | Afi::IPV6) && matches!(self.safi, Safi::UNICAST | Safi::MULTICAST)
    }

    /// Bytes of the 3-octet AFI/SAFI encoding used in capabilities and MP attributes.
    pub(crate) fn write(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.afi.0.to_be_bytes());
        out.push(self.safi.0);
    }
}

/// `ipv4-unicast`, `ipv6-multicast`, or `afi-1-safi-128` for families without a name.
impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.afi.name(), self.safi.name()) {
            (Some(a), Some(s)) => write!(f, "{a}-{s}"),
            _ => write!(f, "afi-{}-safi-{}", self.afi.0, self.safi.0),
        }
    }
}

impl FromStr for Family {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ipv4-unicast" => Ok(Family::IPV4_UNICAST),
            "ipv6-unicast" => Ok(Family::IPV6_UNICAST),
            "ipv4-multicast" => Ok(Family::IPV4_MULTICAST),
            "ipv6-multicast" => Ok(Family::IPV6_MULTICAST),
            _ => Err(format!(
                "unknown family {s:?} (expected ipv4-unicast, ipv6-unicast, ipv4-multicast or ipv6-multicast)"
            )),
        }
    }
}
