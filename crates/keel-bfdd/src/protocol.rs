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
    /// Authentication (RFC 5880 §6.7); absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSpec>,
}

/// A session's authentication as keeld asks for it. The password crosses keel-bfdd's socket
/// (mode 0600, keeld's user) and is never logged: `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthSpec {
    #[serde(rename = "type")]
    pub auth_type: AuthKind,
    pub key_id: u8,
    pub password: String,
}

impl std::fmt::Debug for AuthSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSpec")
            .field("auth_type", &self.auth_type)
            .field("key_id", &self.key_id)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The authentication types keel offers (RFC 5880 §6.7.2, §6.7.4), named as in `[bfd]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthKind {
    Simple,
    KeyedSha1,
    MeticulousKeyedSha1,
}

impl AuthKind {
    pub fn name(self) -> &'static str {
        match self {
            AuthKind::Simple => "simple",
            AuthKind::KeyedSha1 => "keyed-sha1",
            AuthKind::MeticulousKeyedSha1 => "meticulous-keyed-sha1",
        }
    }
}

impl AuthSpec {
    /// The session's settings for keel-bfd: one key, sent and accepted.
    pub fn authentication(&self) -> keel_bfd::Authentication {
        let auth_type = match self.auth_type {
            AuthKind::Simple => keel_bfd::AuthType::SimplePassword,
            AuthKind::KeyedSha1 => keel_bfd::AuthType::KeyedSha1,
            AuthKind::MeticulousKeyedSha1 => keel_bfd::AuthType::MeticulousKeyedSha1,
        };
        let key = keel_bfd::Key { id: self.key_id, secret: self.password.as_bytes().to_vec() };
        keel_bfd::Authentication { auth_type, keys: vec![key], transmit_key_id: self.key_id }
    }
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
            auth: None,
        };
        let bytes = line(&Request::Register(spec.clone()));
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            "{\"register\":{\"peer\":\"192.0.2.2\",\"local\":null,\"multihop\":false,\"min_tx_ms\":100,\
             \"min_rx_ms\":200,\"multiplier\":3}}\n"
        );
        let back: Request = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, Request::Register(spec.clone()));
        let auth = AuthSpec { auth_type: AuthKind::MeticulousKeyedSha1, key_id: 7, password: "s3cret".into() };
        let with = SessionSpec { auth: Some(auth), ..spec };
        let text = String::from_utf8_lossy(&line(&Request::Register(with.clone()))).into_owned();
        assert!(
            text.contains("\"auth\":{\"type\":\"meticulous-keyed-sha1\",\"key_id\":7,\"password\":\"s3cret\"}"),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), Request::Register(with.clone()));
        assert!(!format!("{with:?}").contains("s3cret"), "Debug hides the password");
    }
}
