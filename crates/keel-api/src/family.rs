//! An address family as an object: `{"afi": "ipv4", "safi": "unicast"}`, each part its name
//! where keel knows one, else its number (`{"afi": "ipv4", "safi": 128}`).
//!
//! The neighbor view lists End-of-RIB and capability families this way; `keel decode` prints
//! the AFI and SAFI of its messages the same way. Where the API lists families as one string
//! (`"ipv4-unicast"`, the form the configuration uses) it says so at the field.

use keel_wire::{Afi, Family, Safi};
use serde::{Deserialize, Serialize};

/// An AFI, SAFI or subtype: its name where known, else its number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NameOrNumber {
    Name(String),
    Number(u16),
}

impl NameOrNumber {
    pub fn afi(a: Afi) -> Self {
        a.name().map_or(NameOrNumber::Number(a.0), |n| NameOrNumber::Name(n.to_string()))
    }

    pub fn safi(s: Safi) -> Self {
        s.name().map_or(NameOrNumber::Number(s.0.into()), |n| NameOrNumber::Name(n.to_string()))
    }

    /// The name; `None` for a number.
    pub fn name(&self) -> Option<&str> {
        match self {
            NameOrNumber::Name(n) => Some(n),
            NameOrNumber::Number(_) => None,
        }
    }
}

/// `{"afi": "ipv4", "safi": "unicast"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyView {
    pub afi: NameOrNumber,
    pub safi: NameOrNumber,
}

impl From<Family> for FamilyView {
    fn from(f: Family) -> Self {
        FamilyView { afi: NameOrNumber::afi(f.afi), safi: NameOrNumber::safi(f.safi) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_where_known_numbers_otherwise() {
        let known = serde_json::to_string(&FamilyView::from(Family::IPV6_UNICAST)).expect("serialize");
        assert_eq!(known, r#"{"afi":"ipv6","safi":"unicast"}"#);
        let unknown = FamilyView::from(Family::new(Afi::IPV4, Safi(128)));
        let text = serde_json::to_string(&unknown).expect("serialize");
        assert_eq!(text, r#"{"afi":"ipv4","safi":128}"#);
        assert_eq!(serde_json::from_str::<FamilyView>(&text).expect("deserialize"), unknown);
    }
}
