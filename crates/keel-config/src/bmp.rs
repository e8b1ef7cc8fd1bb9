//! `[bmp]` and its `[[bmp.station]]`s: BMP stations keel streams its sessions and RIB views to
//! (RFC 7854, RFC 8671, RFC 9069).

use serde::Deserialize;
use std::net::IpAddr;
use toml::Spanned;

/// `[bmp]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BmpConfig {
    #[serde(default)]
    pub station: Vec<BmpStation>,
}

/// One station keel connects to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BmpStation {
    pub address: Spanned<IpAddr>,
    pub port: Spanned<u16>,
    /// Seconds between a lost (or dropped) session and the next attempt.
    #[serde(default = "default_reconnect")]
    pub reconnect: Spanned<u32>,
    #[serde(default = "default_views")]
    pub views: Vec<Spanned<BmpView>>,
    /// Seconds between Statistics Reports; 0: only after each dump.
    #[serde(default = "default_statistics")]
    pub statistics: Spanned<u32>,
    /// Batches of changes queued for the station at most: past it the station is dropped
    /// and re-synchronised from a fresh dump.
    #[serde(default = "default_buffer")]
    pub buffer: Spanned<u32>,
}

/// A RIB view a station monitors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BmpView {
    AdjRibInPre,
    AdjRibInPost,
    LocRib,
    AdjRibOutPost,
}

fn default_reconnect() -> Spanned<u32> {
    Spanned::new(0..0, 30)
}

fn default_views() -> Vec<Spanned<BmpView>> {
    vec![Spanned::new(0..0, BmpView::LocRib)]
}

fn default_statistics() -> Spanned<u32> {
    Spanned::new(0..0, 60)
}

fn default_buffer() -> Spanned<u32> {
    Spanned::new(0..0, 4096)
}
