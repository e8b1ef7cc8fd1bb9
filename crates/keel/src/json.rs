//! JSON shapes shared by `keel decode` and the API: AFI/SAFI as names where known, numbers
//! otherwise.

use keel_wire::{Afi, Family, Safi};
use serde::Serialize;
use serde_json::Value;

/// An AFI, SAFI or subtype: its name where known, else its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum NameOrNumber {
    Name(&'static str),
    Number(u16),
}

pub fn afi(a: Afi) -> NameOrNumber {
    a.name().map_or(NameOrNumber::Number(a.0), NameOrNumber::Name)
}

pub fn safi(s: Safi) -> NameOrNumber {
    s.name().map_or(NameOrNumber::Number(s.0.into()), NameOrNumber::Name)
}

#[derive(Debug, Clone, Serialize)]
pub struct FamilyView {
    pub afi: NameOrNumber,
    pub safi: NameOrNumber,
}

impl From<Family> for FamilyView {
    fn from(f: Family) -> Self {
        FamilyView { afi: afi(f.afi), safi: safi(f.safi) }
    }
}

/// `{"afi": "ipv4", "safi": "unicast"}`.
pub fn family(f: Family) -> Value {
    serde_json::to_value(FamilyView::from(f)).unwrap_or(Value::Null)
}
