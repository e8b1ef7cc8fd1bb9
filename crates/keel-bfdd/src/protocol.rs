//! What keeld and keel-bfdd say to each other on keel-bfdd's Unix socket: one JSON object per
//! line each way.
//!
//! ```text
//!   keeld                                   keel-bfdd
//!     | {"register": {...}}  (per neighbor)   |  creates the session, or keeps the running one
//!     |<- {"status": BfdView}                 |  at once, then on every change
//!     | {"remove": {"peer":..,"multihop":..}} |  neighbor deconfigured: AdminDown, then gone
//! ```
//!
//! A session is keel-bfdd's, not the connection's: when keeld goes (restart, crash, upgrade)
//! the sessions go on, and a keeld that registers the same (peer, multihop) again finds them
//! as they are. See the crate's doc for what happens when keeld does not come back.

use keel_api::bfd::BfdView;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::time::Duration;

/// One session keeld wants: the neighbor's address and the `[bfd]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSpec {
    pub peer: IpAddr,
    /// The source address; unset: the kernel's choice towards `peer`.
    pub local: Option<IpAddr>,
    /// RFC 5883 (UDP 4784) rather than RFC 5881 (UDP 3784, TTL 255).
    pub multihop: bool,
    pub min_tx_ms: u32,
    pub min_rx_ms: u32,
    pub multiplier: u8,
}

impl SessionSpec {
    pub fn key(&self) -> Key {
        Key { peer: self.peer, multihop: self.multihop }
    }

    pub fn min_tx(&self) -> Duration {
        Duration::from_millis(self.min_tx_ms.into())
    }

    pub fn min_rx(&self) -> Duration {
        Duration::from_millis(self.min_rx_ms.into())
    }
}

/// A session's identity: one per neighbor address and kind (RFC 5881 §3, RFC 5883 §3 select a
/// session without Your Discriminator by the source address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    pub peer: IpAddr,
    pub multihop: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    Register(SessionSpec),
    Remove(Key),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The first line on every connection: who keel-bfdd is and the C bit it sends.
    Hello {
        pid: u32,
        control_plane_independent: bool,
    },
    Status(Box<BfdView>),
}

/// One line of JSON (with its newline).
pub fn line<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_one_json_line() {
        let spec = SessionSpec {
            peer: "192.0.2.2".parse().unwrap(),
            local: None,
            multihop: false,
            min_tx_ms: 100,
            min_rx_ms: 200,
            multiplier: 3,
        };
        let bytes = line(&Request::Register(spec.clone()));
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            "{\"register\":{\"peer\":\"192.0.2.2\",\"local\":null,\"multihop\":false,\"min_tx_ms\":100,\
             \"min_rx_ms\":200,\"multiplier\":3}}\n"
        );
        let back: Request = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, Request::Register(spec));
    }
}
