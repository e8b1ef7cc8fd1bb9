//! keeld itself: `GET /v1/status`, with keel's own graceful restart ([`RestartView`]).
//!
//! Fields are in alphabetical order, the order keeld has always sent them in (see the crate's
//! doc).

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    pub asn: u32,
    /// How many neighbors are configured.
    pub neighbors: u64,
    pub pid: u32,
    /// keel restarted and defers route selection now (RFC 4724 §4.1); the same as
    /// `selection_deferral.deferring`.
    pub restarting: bool,
    pub router_id: Ipv4Addr,
    pub selection_deferral: RestartView,
    /// Seconds since this keeld started (a graceful restart of keeld starts it anew).
    pub uptime_s: u64,
    /// keeld's version.
    pub version: String,
    /// The last `keel upgrade` that handed this keeld its sessions; null when it started
    /// otherwise.
    #[serde(default)]
    pub last_upgrade: Option<UpgradeView>,
}

/// A hitless upgrade (`keel upgrade`): which version handed over, when, and how many sessions
/// went on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeView {
    pub from_version: String,
    /// The previous image's pid: the same as `pid`, the process was only re-executed.
    pub from_pid: u32,
    /// When the previous image handed over, Unix seconds.
    pub at_unix: u64,
    /// Sessions handed over and resumed without a reset.
    pub sessions: u64,
    /// How long the sessions heard nothing from keel: from the old image's last KEEPALIVE
    /// (it quiesced them) to the new image's first, in milliseconds.
    #[serde(default)]
    pub handoff_ms: Option<u64>,
}

/// keel's own restart (RFC 4724 §4.1): the selection deferral and what it awaits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartView {
    /// Neighbors whose session or End-of-RIB the deferral still awaits.
    pub awaited_neighbors: Vec<IpAddr>,
    /// Null when not deferring.
    pub deferral_seconds_left: Option<u64>,
    /// Selection deferral is running: nothing is advertised or installed yet.
    pub deferring: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// keeld restarting, as it served it (awaiting two neighbors).
    const RESTARTING: &str = r#"{"asn":65091,"neighbors":2,"pid":2105,"restarting":true,"router_id":"192.0.2.1","selection_deferral":{"awaited_neighbors":["127.0.9.2","2001:db8::5"],"deferral_seconds_left":198,"deferring":true},"uptime_s":1,"version":"0.1.0","last_upgrade":null}"#;
    const RUNNING: &str = r#"{"asn":65091,"neighbors":2,"pid":2105,"restarting":false,"router_id":"192.0.2.1","selection_deferral":{"awaited_neighbors":[],"deferral_seconds_left":null,"deferring":false},"uptime_s":51,"version":"0.1.0","last_upgrade":null}"#;
    /// keeld after `keel upgrade` handed it two sessions.
    const UPGRADED: &str = r#"{"asn":65091,"neighbors":2,"pid":2105,"restarting":false,"router_id":"192.0.2.1","selection_deferral":{"awaited_neighbors":[],"deferral_seconds_left":null,"deferring":false},"uptime_s":3,"version":"0.1.0","last_upgrade":{"from_version":"0.1.0","from_pid":2105,"at_unix":1796700000,"sessions":2,"handoff_ms":31}}"#;

    #[test]
    fn status_documents_round_trip() {
        for doc in [RESTARTING, RUNNING, UPGRADED] {
            let s: StatusView = serde_json::from_str(doc).expect("deserialize");
            assert_eq!(s.restarting, s.selection_deferral.deferring);
            assert_eq!(serde_json::to_string(&s).expect("serialize"), doc);
        }
        let e = serde_json::from_str::<StatusView>(r#"{"asn":65091}"#).expect_err("partial");
        assert!(e.to_string().contains("missing field"), "{e}");
    }
}
