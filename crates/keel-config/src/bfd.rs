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
}

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
}
