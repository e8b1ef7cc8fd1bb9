//! Graceful Restart capability, code 64 (RFC 4724 §3), with the Notification bit of RFC 8538 §2.
//!
//! ```text
//! +--------+--------+---------------------+
//! | R|N|0|0| Restart Time (12 bits)       |  then per family:
//! +--------+--------+---------------------+  AFI (2) | SAFI (1) | F|0000000 (1)
//! ```

use crate::family::{Afi, Family, Safi};
use crate::reader::Reader;

/// Largest restart time the 12-bit field holds, in seconds.
pub const MAX_RESTART_TIME: u16 = 0x0fff;

const RESTART_STATE: u8 = 0x80;
const NOTIFICATION: u8 = 0x40;
const FORWARDING_STATE: u8 = 0x80;

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct GracefulRestart {
    /// R bit: the sender has restarted (RFC 4724 §3).
    pub restart_state: bool,
    /// N bit: the sender supports RFC 8538 (GR for NOTIFICATIONs and Hard Reset).
    pub notification: bool,
    /// Seconds, 0..=4095.
    pub restart_time: u16,
    pub families: Vec<GracefulRestartFamily>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct GracefulRestartFamily {
    pub family: Family,
    /// F bit: forwarding state for the family was preserved across the restart.
    pub forwarding_state: bool,
}

impl GracefulRestart {
    pub fn family(&self, family: Family) -> Option<&GracefulRestartFamily> {
        self.families.iter().find(|f| f.family == family)
    }

    pub(crate) fn decode(value: &[u8]) -> Result<Self, String> {
        if value.len() < 2 || !(value.len() - 2).is_multiple_of(4) {
            return Err(format!("graceful restart capability length {} is not 2 + 4n", value.len()));
        }
        let mut r = Reader::new(value);
        let head = r.u16().unwrap_or_default();
        let flags = (head >> 8) as u8;
        let mut families = Vec::with_capacity(r.remaining() / 4);
        while let (Some(afi), Some(safi), Some(f)) = (r.u16(), r.u8(), r.u8()) {
            families.push(GracefulRestartFamily {
                family: Family::new(Afi(afi), Safi(safi)),
                forwarding_state: f & FORWARDING_STATE != 0,
            });
        }
        Ok(GracefulRestart {
            restart_state: flags & RESTART_STATE != 0,
            notification: flags & NOTIFICATION != 0,
            restart_time: head & MAX_RESTART_TIME,
            families,
        })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let mut head = self.restart_time.min(MAX_RESTART_TIME);
        if self.restart_state {
            head |= (RESTART_STATE as u16) << 8;
        }
        if self.notification {
            head |= (NOTIFICATION as u16) << 8;
        }
        out.extend_from_slice(&head.to_be_bytes());
        for f in &self.families {
            f.family.write(out);
            out.push(if f.forwarding_state { FORWARDING_STATE } else { 0 });
        }
    }
}
