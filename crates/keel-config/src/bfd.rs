//! `[bfd]`: the BFD session settings (RFC 5880) for neighbors with `bfd = true`.

use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;

/// `[bfd]`: defaults for every neighbor with `bfd = true`. keel's BFD sessions run in
/// keel-bfdd, which outlives keeld's restarts (docs/bfd.md).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BfdConfig {
    /// bfd.DesiredMinTxInterval once Up, milliseconds (RFC 5880 §6.8.1).
    #[serde(default = "default_interval")]
    pub min_tx_ms: Spanned<u32>,
    /// bfd.RequiredMinRxInterval, milliseconds.
    #[serde(default = "default_interval")]
    pub min_rx_ms: Spanned<u32>,
    /// bfd.DetectMult.
    #[serde(default = "default_multiplier")]
    pub multiplier: Spanned<u8>,
    /// Multihop sessions (RFC 5883, UDP 4784, any TTL) instead of single hop (RFC 5881, UDP
    /// 3784, TTL 255).
    #[serde(default)]
    pub multihop: bool,
    /// Authentication of the Control packets (RFC 5880 §6.7); unset: none.
    #[serde(default)]
    pub auth: Option<Spanned<BfdAuth>>,
    /// The Auth Key ID sent and accepted (0-255, default 1).
    #[serde(default)]
    pub auth_key_id: Option<Spanned<i64>>,
    /// The password (Simple Password, 1-16 octets) or key (Keyed SHA1, 1-20 octets).
    #[serde(default)]
    pub password: Option<Spanned<String>>,
}

/// `auth`: which authentication of RFC 5880 §6.7 a BFD session uses. Keyed MD5 (§6.7.3) is
/// not offered: RFC 5880 requires the SHA1 types of an implementation with authentication.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BfdAuth {
    #[default]
    None,
    /// Simple Password (§6.7.2): the password in the clear in every packet.
    Simple,
    /// Keyed SHA1 (§6.7.4): a hash over packet and key; the sequence number moves when the
    /// contents change.
    KeyedSha1,
    /// Meticulous Keyed SHA1 (§6.7.4): the sequence number moves in every packet.
    MeticulousKeyedSha1,
}

impl BfdAuth {
    pub fn name(self) -> &'static str {
        match self {
            BfdAuth::None => "none",
            BfdAuth::Simple => "simple",
            BfdAuth::KeyedSha1 => "keyed-sha1",
            BfdAuth::MeticulousKeyedSha1 => "meticulous-keyed-sha1",
        }
    }

    /// The longest password the type carries: 16 octets in a Simple Password section
    /// (§6.7.2), 20 for SHA1 keys (§6.7.4).
    pub fn max_password(self) -> usize {
        match self {
            BfdAuth::None => 0,
            BfdAuth::Simple => 16,
            BfdAuth::KeyedSha1 | BfdAuth::MeticulousKeyedSha1 => 20,
        }
    }
}

/// A session's authentication as configured: `[bfd]`'s keys, each overridden by the
/// neighbor's `bfd_auth`, `bfd_auth_key_id` and `bfd_password`.
#[derive(Clone, PartialEq, Eq)]
pub struct BfdAuthentication {
    pub auth: BfdAuth,
    pub key_id: u8,
    pub password: String,
}

impl std::fmt::Debug for BfdAuthentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BfdAuthentication")
            .field("auth", &self.auth)
            .field("key_id", &self.key_id)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// `auth_key_id` when not written.
pub const DEFAULT_AUTH_KEY_ID: u8 = 1;

fn default_interval() -> Spanned<u32> {
    Spanned::new(0..0, 300)
}

fn default_multiplier() -> Spanned<u8> {
    Spanned::new(0..0, 3)
}

impl Default for BfdConfig {
    fn default() -> Self {
        BfdConfig {
            min_tx_ms: default_interval(),
            min_rx_ms: default_interval(),
            multiplier: default_multiplier(),
            multihop: false,
            auth: None,
            auth_key_id: None,
            password: None,
        }
    }
}

impl BfdConfig {
    pub fn min_tx(&self) -> Duration {
        Duration::from_millis((*self.min_tx_ms.get_ref()).into())
    }

    pub fn min_rx(&self) -> Duration {
        Duration::from_millis((*self.min_rx_ms.get_ref()).into())
    }

    pub fn multiplier(&self) -> u8 {
        *self.multiplier.get_ref()
    }

    /// The authentication of `n`'s session, field by field the neighbor's own setting or
    /// `[bfd]`'s; `None` for no authentication. Validated when the file was read.
    pub fn authentication_for(&self, n: &crate::Neighbor) -> Option<BfdAuthentication> {
        let auth = n.bfd_auth.as_ref().or(self.auth.as_ref()).map_or(BfdAuth::None, |a| *a.get_ref());
        if auth == BfdAuth::None {
            return None;
        }
        let key_id = n.bfd_auth_key_id.as_ref().or(self.auth_key_id.as_ref()).map(|k| *k.get_ref());
        let password = n.bfd_password.as_ref().or(self.password.as_ref())?;
        Some(BfdAuthentication {
            auth,
            key_id: key_id.and_then(|k| u8::try_from(k).ok()).unwrap_or(DEFAULT_AUTH_KEY_ID),
            password: password.get_ref().clone(),
        })
    }
}
