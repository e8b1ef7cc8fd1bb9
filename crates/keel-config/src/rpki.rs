//! `[rpki]` and its `[[rpki.cache]]`s.

use serde::Deserialize;
use std::net::IpAddr;
use toml::Spanned;
/// `[rpki]`: route origin validation (RFC 6811) with VRPs from RTR caches (RFC 8210).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpkiConfig {
    /// `[[rpki.cache]]`: the VRP set is the union of every cache's.
    #[serde(default)]
    pub cache: Vec<RpkiCache>,
}

/// One RTR cache. The intervals override what the cache sends (RFC 8210 §6).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpkiCache {
    pub address: Spanned<IpAddr>,
    /// RFC 8210 §9: the IANA "rtr" port.
    #[serde(default = "default_rtr_port")]
    pub port: Spanned<u16>,
    /// Seconds between Serial Queries.
    #[serde(default)]
    pub refresh: Option<Spanned<u32>>,
    /// Longest wait, in seconds, between attempts to reach the cache.
    #[serde(default)]
    pub retry: Option<Spanned<u32>>,
    /// Seconds the cache's VRPs stay in use after the last successful update.
    #[serde(default)]
    pub expire: Option<Spanned<u32>>,
}

fn default_rtr_port() -> Spanned<u16> {
    Spanned::new(0..0, 323)
}
