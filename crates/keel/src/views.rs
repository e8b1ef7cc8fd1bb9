//! What the RIB task shows the API (JSON field names are a contract: scripts read them):
//! routes, per-neighbor counts, keel's own restart, and the query for routes.

use keel_wire::attribute::{AsPath, SegmentType};
use keel_wire::{Family, Prefix};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

#[derive(Debug, Clone, Default)]
pub struct RouteFilter {
    pub family: Option<Family>,
    pub prefix: Option<Prefix>,
    pub neighbor: Option<IpAddr>,
    pub stale: bool,
    /// Show what was advertised to this neighbor (its Adj-RIB-Out) instead.
    pub advertised: Option<IpAddr>,
}

/// A route as the API shows it (JSON names are a contract).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RouteView {
    pub prefix: String,
    pub family: String,
    pub path_id: Option<u32>,
    pub neighbor: Option<IpAddr>,
    pub next_hop: String,
    /// Every AS in order, segment types dropped (kept as it always was).
    pub as_path: Vec<u32>,
    /// The same path with its segment types (RFC 4271 §4.3, RFC 5065 §3).
    pub as_path_segments: Vec<SegmentView>,
    pub origin: Option<&'static str>,
    pub communities: Vec<String>,
    pub large_communities: Vec<String>,
    pub local_pref: Option<u32>,
    pub med: Option<u32>,
    pub best: bool,
    pub stale: bool,
    pub llgr_stale: bool,
    /// RPKI origin validation (RFC 6811): "valid", "invalid", "not-found"; null without VRPs.
    pub rpki: Option<&'static str>,
}

/// One AS_PATH segment as the API shows it: `{"type": "as_sequence", "asns": [65001]}`, the
/// type one of `as_set`, `as_sequence`, `as_confed_sequence`, `as_confed_set`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SegmentView {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub asns: Vec<u32>,
}

impl SegmentView {
    pub fn of(path: &AsPath) -> Vec<SegmentView> {
        path.segments
            .iter()
            .map(|s| SegmentView {
                kind: match s.kind {
                    SegmentType::Set => "as_set",
                    SegmentType::Sequence => "as_sequence",
                    SegmentType::ConfedSequence => "as_confed_sequence",
                    SegmentType::ConfedSet => "as_confed_set",
                },
                asns: s.asns.clone(),
            })
            .collect()
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct PeerCounts {
    pub received_prefixes: usize,
    pub advertised_prefixes: usize,
    pub stale_prefixes: usize,
    pub llgr_stale_prefixes: usize,
    pub end_of_rib_received: BTreeSet<Family>,
    pub end_of_rib_sent: BTreeSet<Family>,
    /// UPDATE messages sent to the neighbor by this keeld, End-of-RIB markers included, over
    /// all its sessions.
    pub updates_sent: u64,
    /// The neighbor is restarting and its routes are kept (RFC 4724 §4.2).
    pub helper_active: bool,
    pub stale_families: Vec<Family>,
    /// Stale paths per family.
    pub stale_by_family: BTreeMap<String, usize>,
    /// Graceful-restart timers running, with the seconds left ("restart", "stale_routes",
    /// "long_lived_stale:FAMILY").
    pub timers: BTreeMap<String, u64>,
    /// LLGR-stale paths per family.
    pub llgr_stale_by_family: BTreeMap<String, usize>,
    /// Families in LLGR now: their routes are LLGR-stale (RFC 9494 §4.2).
    pub long_lived_families: Vec<Family>,
    /// While keel itself restarts: what its selection deferral still awaits from this
    /// neighbor ("session", or the families whose End-of-RIB is missing).
    pub deferral_awaits: Option<Vec<String>>,
}

/// keel's own restart, for `/v1/status` (RFC 4724 §4.1).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RestartView {
    /// Selection deferral is running: nothing is advertised or installed yet.
    pub deferring: bool,
    pub deferral_seconds_left: Option<u64>,
    pub awaited_neighbors: Vec<IpAddr>,
}
