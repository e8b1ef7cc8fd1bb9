//! What the RIB task shows the API: routes, per-neighbor counts, keel's own restart, and the
//! query for routes.
//!
//! The JSON contract is not here but in the `keel-api` crate: [`RouteView`] and
//! [`RestartView`] are its types, which the RIB task fills and `crate::api` serializes as they
//! are; [`PeerCounts`] is the RIB task's answer that `crate::api` turns into neighbor views.

use keel_wire::{Family, Prefix};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

#[derive(Debug, Clone, Default)]
pub struct RouteFilter {
    pub family: Option<Family>,
    /// Only this prefix, exactly (`prefix=` in the API).
    pub prefix: Option<Prefix>,
    /// Only the most specific prefix covering this one, per family: longest match (`for=` in
    /// the API; an address is its host prefix).
    pub longest_match: Option<Prefix>,
    pub neighbor: Option<IpAddr>,
    pub stale: bool,
    /// Show what was advertised to this neighbor (its Adj-RIB-Out) instead.
    pub advertised: Option<IpAddr>,
}

/// A route as the RIB task builds it for the API: its one-word fields (origin, RPKI state,
/// segment type) hold the `&'static str` names keel-wire and keel-rib give.
pub type RouteView = keel_api::RouteView<&'static str>;

/// One AS_PATH segment of a [`RouteView`]; `SegmentView::of(&as_path)` makes them.
pub type SegmentView = keel_api::SegmentView<&'static str>;

/// What the RIB task knows of one neighbor: its prefix counts and graceful-restart state.
/// Not a document itself: `crate::api` puts these numbers into the neighbor's
/// [`keel_api::NeighborView`], with families as the API names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// Routes received that the OTC ingress procedure found to be route leaks (RFC 9234 §5),
    /// over all its sessions.
    pub leaks_detected: u64,
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
    /// Per family with a prefix limit, the count it is checked against (before or after
    /// import policy, as configured); empty without a session or a limit.
    pub prefix_limit_counts: BTreeMap<String, usize>,
    /// keel is shutting the session down gracefully (RFC 8326 §4.2): every route it sends
    /// the neighbor carries GRACEFUL_SHUTDOWN.
    pub graceful_shutdown: bool,
}

/// keel's own restart, for `/v1/status` (RFC 4724 §4.1).
pub use keel_api::RestartView;
