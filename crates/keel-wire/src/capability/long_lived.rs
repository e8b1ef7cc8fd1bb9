//! Long-Lived Graceful Restart capability, code 71 (RFC 9494 §3).
//!
//! Per family: AFI (2) | SAFI (1) | F|0000000 (1) | Long-lived Stale Time (3, seconds).

use crate::family::{Afi, Family, Safi};
use crate::reader::Reader;

/// Largest stale time the 24-bit field holds, in seconds.
pub const MAX_STALE_TIME: u32 = 0x00ff_ffff;

const FORWARDING_STATE: u8 = 0x80;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct LongLivedFamily {
    pub family: Family,
    pub forwarding_state: bool,
    pub stale_time: u32,
}

pub(crate) fn decode(value: &[u8]) -> Result<Vec<LongLivedFamily>, String> {
    if !value.len().is_multiple_of(7) {
        return Err(format!("long-lived graceful restart capability length {} is not 7n", value.len()));
    }
    let mut r = Reader::new(value);
    let mut out = Vec::with_capacity(value.len() / 7);
    while let (Some(afi), Some(safi), Some(f), Some(t)) = (r.u16(), r.u8(), r.u8(), r.u24()) {
        out.push(LongLivedFamily {
            family: Family::new(Afi(afi), Safi(safi)),
            forwarding_state: f & FORWARDING_STATE != 0,
            stale_time: t,
        });
    }
    Ok(out)
}

pub(crate) fn encode(families: &[LongLivedFamily], out: &mut Vec<u8>) {
    for f in families {
        f.family.write(out);
        out.push(if f.forwarding_state { FORWARDING_STATE } else { 0 });
        out.extend_from_slice(&f.stale_time.min(MAX_STALE_TIME).to_be_bytes()[1..]);
    }
}
