//! A neighbor's BFD session (RFC 5880): the `"bfd"` object of `GET /v1/neighbors/{address}`.
//! keel-bfdd sends the same document to keeld over its Unix socket, so the names are the same
//! at both ends. Fields in alphabetical order (see the crate's doc).

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// One BFD session as keel-bfdd runs it, with what a BFD Down would do to the BGP session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BfdView {
    /// The authentication in use (RFC 5880 §6.7): `"none"`, `"simple"`, `"keyed-sha1"` or
    /// `"meticulous-keyed-sha1"`. Never the password.
    #[serde(default = "none")]
    pub auth: String,
    /// Packets discarded because they failed authentication (wrong type, key id, password or
    /// hash, a replayed sequence number, or the A bit against the session's setting).
    #[serde(default)]
    pub auth_failures: u64,
    /// The C bit keel sends: set only while its BFD runs where keeld's restarts do not stop it
    /// (RFC 5882 §4.3, docs/bfd.md).
    pub control_plane_independent: bool,
    /// The Detection Time in milliseconds (RFC 5880 §6.8.4); null before a packet arrived.
    pub detection_time_ms: Option<u64>,
    /// bfd.LocalDiag, lower case with dashes (`"control-detection-time-expired"`).
    pub diagnostic: String,
    /// Up -> Down (or AdminDown) transitions since keel-bfdd created the session.
    pub flaps: u64,
    pub local_discriminator: u32,
    /// bfd.DesiredMinTxInterval and bfd.RequiredMinRxInterval keel advertises, milliseconds.
    pub min_rx_ms: u64,
    pub min_tx_ms: u64,
    pub multihop: bool,
    pub multiplier: u8,
    /// What a BFD Down does to the neighbor's routes (RFC 5882 §4.3): `"flush"` (its C bit is
    /// 1, or `bfd_strict`, or it did not advertise graceful restart) or `"helper"` (C=0: keel
    /// keeps them as after a TCP failure). Null until known. Set by keeld, not keel-bfdd.
    #[serde(default)]
    pub on_down: Option<String>,
    pub peer: IpAddr,
    /// The neighbor's C bit; null before a packet arrived.
    pub remote_control_plane_independent: Option<bool>,
    pub remote_discriminator: u32,
    /// bfd.RemoteMinRxInterval, milliseconds.
    pub remote_min_rx_ms: u64,
    /// The neighbor's Desired Min TX Interval (ms) and Detect Mult; null before a packet.
    pub remote_min_tx_ms: Option<u64>,
    pub remote_multiplier: Option<u8>,
    pub remote_state: String,
    /// `"down"`, `"init"`, `"up"`, `"admin-down"`; `"unknown"` while keeld cannot reach
    /// keel-bfdd.
    pub state: String,
    /// The interval between keel's periodic packets now, before jitter (ms).
    pub transmit_interval_ms: Option<u64>,
}

fn none() -> String {
    "none".into()
}

impl BfdView {
    /// A configured session whose state keeld does not know (keel-bfdd cannot be reached).
    pub fn unknown(peer: IpAddr, multihop: bool, min_tx_ms: u64, min_rx_ms: u64, multiplier: u8) -> BfdView {
        BfdView {
            auth: none(),
            auth_failures: 0,
            control_plane_independent: false,
            detection_time_ms: None,
            diagnostic: "none".into(),
            flaps: 0,
            local_discriminator: 0,
            min_rx_ms,
            min_tx_ms,
            multihop,
            multiplier,
            on_down: None,
            peer,
            remote_control_plane_independent: None,
            remote_discriminator: 0,
            remote_min_rx_ms: 0,
            remote_min_tx_ms: None,
            remote_multiplier: None,
            remote_state: "unknown".into(),
            state: "unknown".into(),
            transmit_interval_ms: None,
        }
    }

    pub fn is_up(&self) -> bool {
        self.state == "up"
    }

    /// One line for `keel show neighbor`: state, C bits, intervals, detection time, flaps and
    /// what a Down would do.
    pub fn summary(&self) -> String {
        let ms = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| format!("{v} ms"));
        let bit = |c: Option<bool>| c.map_or("-", |c| if c { "1" } else { "0" });
        format!(
            "{} (remote {}, diag {}), {}, C={} remote C={}, tx {} rx {} x{}, sending every {}, \
             detection {}, {} flaps, auth {}{}; on Down: {}",
            self.state,
            self.remote_state,
            self.diagnostic,
            if self.multihop { "multihop" } else { "single hop" },
            bit(Some(self.control_plane_independent)),
            bit(self.remote_control_plane_independent),
            self.min_tx_ms,
            self.min_rx_ms,
            self.multiplier,
            ms(self.transmit_interval_ms),
            ms(self.detection_time_ms),
            self.flaps,
            self.auth,
            if self.auth_failures > 0 { format!(" ({} failures)", self.auth_failures) } else { String::new() },
            self.on_down.as_deref().unwrap_or("-"),
        )
    }
}
