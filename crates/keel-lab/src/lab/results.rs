//! What a rehearsal measures: each scenario's figures ([`ScenarioResult`], whose first fields
//! are the `--json` contract) and the timeline of samples that the report draws. The lab's
//! run fills them in; the report module renders them.

use serde::Serialize;

/// One scenario's figures; the first fields are the `--json` contract.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub scenario: &'static str,
    pub graceful_restart: bool,
    /// Who fed the table: "keel" (keel's speaker) or the daemon of `--peer`.
    pub upstream: &'static str,
    /// Who observed keeld: "keel" or the daemon of `--peer` (counted behind it, at the tap).
    pub observer: &'static str,
    /// Routes that left the observer's RIB at any moment: withdrawn, lost with the session, or
    /// swept as stale.
    pub routes_removed: u64,
    /// UPDATEs the observer received (End-of-RIB markers not counted).
    pub updates: u64,
    /// FIB operations (installs, replacements, deletions) during the scenario.
    pub fib_operations: Option<u64>,
    /// Packets lost by a traffic flow; null when not measured (only with --netns).
    pub packets_lost: Option<u64>,
    /// From the disruption to the End-of-RIB that ends it: keeld's at the observer when keeld
    /// restarted, else the upstream's as keeld received it.
    pub seconds_to_end_of_rib: Option<f64>,
    /// Routes in the table (IPv4 + IPv6).
    pub routes: u64,
    pub withdrawals: u64,
    pub announcements: u64,
    /// Routes announced to the observer with LLGR_STALE (RFC 9494 §4.3).
    pub llgr_stale_routes: u64,
    /// Until the observer held the whole table again with nothing stale and the FIB was quiet.
    pub seconds_to_settle: f64,
    /// False when that state did not come back in time.
    pub settled: bool,
    /// The disruption reached keeld: a new keeld process (`restart`, `crash`) or a new session
    /// with the upstream (the others). False means the figures show nothing happening.
    pub disrupted: bool,
    pub keel_cpu_seconds: f64,
    pub keel_peak_rss_mib: f64,
    /// keeld processes that ran during the scenario.
    pub keeld_pids: Vec<u32>,
    #[serde(skip)]
    pub span: (f64, f64),
}

/// One sample of the timeline: per peer (upstream, observer) session state, UPDATEs so far
/// and routes; keeld's process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub t: f64,
    pub established: [bool; 2],
    pub updates: [u64; 2],
    pub routes: [u64; 2],
    pub keeld_up: bool,
    /// 0 while no keeld runs.
    pub keeld_pid: i32,
    pub keeld_rss_kib: u64,
    pub lab_rss_kib: u64,
}

#[derive(Debug, Default)]
pub struct Timeline {
    pub samples: Vec<Sample>,
}

/// The peers the timeline and report name, in sample order.
pub const PEERS: [&str; 2] = ["upstream", "observer"];
