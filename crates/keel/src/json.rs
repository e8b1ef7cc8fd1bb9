//! JSON shapes shared by `keel decode` and the API: AFI/SAFI as names where known, numbers
//! otherwise.

use keel_wire::{Afi, Family, Safi};
use serde_json::{json, Value};

pub fn afi(a: Afi) -> Value {
    a.name().map_or_else(|| json!(a.0), |n| json!(n))
}

pub fn safi(s: Safi) -> Value {
    s.name().map_or_else(|| json!(s.0), |n| json!(n))
}

/// `{"afi": "ipv4", "safi": "unicast"}`.
pub fn family(f: Family) -> Value {
    json!({"afi": afi(f.afi), "safi": safi(f.safi)})
}
