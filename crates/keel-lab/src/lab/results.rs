//! What a rehearsal measures and concludes: each run's figures and whether they met the
//! scenario's expectation ([`ScenarioResult`]), the verdict over all runs ([`Verdict`]), what
//! graceful restart saved ([`Savings`]), and the timeline of samples that the report draws.
//! The lab's run fills them in; the report module renders them.
//!
//! `--json` prints one [`Rehearsal`]: `{"verdict": "pass" | "fail", "scenarios": [...]}`, one
//! object per scenario and mode. Scripts read those field names: keep them.

use super::scenario::{self, Figures, Miss, Scenario};
use serde::Serialize;

/// What `keel lab --json` prints.
#[derive(Debug, Serialize)]
pub struct Rehearsal<'a> {
    pub verdict: Verdict,
    pub scenarios: &'a [ScenarioResult],
}

/// Pass when every run went as its scenario expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
}

impl Verdict {
    /// Pass when every run is as expected (also when there is none).
    pub fn of(results: &[ScenarioResult]) -> Verdict {
        if results.iter().all(|r| r.as_expected) {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
        }
    }
}

/// One scenario's figures in one mode, and whether they met its expectation. The fields up to
/// `keeld_pids` are those `--json` always printed; `expected` and `as_expected` came with the
/// verdict.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub scenario: Scenario,
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
    /// What the scenario expects in this mode ([`Scenario::expected`]).
    pub expected: &'static str,
    /// Whether the figures met it (and the run settled and was disrupted).
    pub as_expected: bool,
    /// The BFD scenarios' own figures; absent for the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bfd: Option<BfdFigures>,
    /// `upgrade`: keeld's sessions that were reset (with the upstream and the observer, as
    /// keeld counts them); absent for the other scenarios.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions_reset: Option<u64>,
    /// `upgrade`: keeld's `last_upgrade` (`/v1/status`) after it; absent for the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_upgrade: Option<serde_json::Value>,
    /// The expectations missed, empty when `as_expected`.
    #[serde(skip)]
    pub misses: Vec<Miss>,
    /// When the scenario ran, in seconds since the lab started.
    #[serde(skip)]
    pub span: (f64, f64),
}

/// What `bfd-link-down` and `bfd-restart` measure ([`super::bfd`]), as `"bfd"` in `--json`.
/// Times in milliseconds from the link cut (`bfd-link-down`); null when it did not happen.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BfdFigures {
    /// The BFD session's negotiated Detection Time at keeld (RFC 5880 §6.8.4).
    pub detection_time_ms: Option<u64>,
    /// The C bit the upstream's BFD sent (RFC 5882 §4.3) and what keeld said a Down would do.
    pub remote_control_plane_independent: Option<bool>,
    pub on_down: Option<String>,
    /// Link cut until keeld's BFD session left Up.
    pub bfd_down_ms: Option<f64>,
    /// Link cut until the upstream's routes were gone from keeld's Loc-RIB.
    pub rib_ms: Option<f64>,
    /// Link cut until the last of them left the kernel FIB in keeld's namespace: the
    /// detection time the goal (< 400 ms at 100 ms x 3) is about.
    pub fib_ms: Option<f64>,
    /// The limit the routes had to leave within: Detection Time plus polling slack.
    pub limit_ms: u64,
    /// `bfd-restart`: whether the neighbor's BFD session stayed Up (sampled every 20 ms), and
    /// the same keel-bfdd served keeld before and after.
    pub neighbor_bfd_stayed_up: Option<bool>,
    pub same_keel_bfdd: Option<bool>,
    /// BFD flaps keeld's session counted.
    pub flaps: u64,
}

impl ScenarioResult {
    /// What the expectation reads.
    pub fn figures(&self) -> Figures {
        Figures {
            routes: self.routes,
            routes_removed: self.routes_removed,
            fib_operations: self.fib_operations,
            packets_lost: self.packets_lost,
            llgr_stale_routes: self.llgr_stale_routes,
            settled: self.settled,
            disrupted: self.disrupted,
            bfd_within_detection: self
                .bfd
                .as_ref()
                .filter(|_| self.scenario == Scenario::BfdLinkDown)
                .map(|b| b.rib_ms.zip(b.fib_ms).is_some_and(|(r, f)| r.max(f) <= b.limit_ms as f64)),
            bfd_stayed_up: self.bfd.as_ref().and_then(|b| b.neighbor_bfd_stayed_up),
            updates: self.updates,
            sessions_reset: self.sessions_reset,
        }
    }

    /// Judges the figures against the scenario's expectation: sets `expected`, `as_expected`
    /// and `misses`.
    pub fn judge(&mut self) {
        self.expected = self.scenario.expected(self.graceful_restart);
        self.misses = scenario::judge(self.scenario, self.graceful_restart, &self.figures());
        self.as_expected = self.misses.is_empty();
    }

    /// "restart with GR", "llgr without GR".
    pub fn run_name(&self) -> String {
        format!("{} {}", self.scenario.name(), if self.graceful_restart { "with GR" } else { "without GR" })
    }
}

/// What graceful restart saved: the figures of the runs without it minus those with it, over
/// the scenarios that ran in both modes. Negative when graceful restart cost more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Savings {
    pub routes_removed: i64,
    /// `None` when some run did not count them (`--netns`).
    pub fib_operations: Option<i64>,
    /// `None` when some run did not measure them (without `--netns`).
    pub packets_lost: Option<i64>,
}

impl Savings {
    pub fn of(results: &[ScenarioResult]) -> Savings {
        let pairs: Vec<(&ScenarioResult, &ScenarioResult)> = results
            .iter()
            .filter(|r| r.graceful_restart)
            .filter_map(|gr| {
                results.iter().find(|r| !r.graceful_restart && r.scenario == gr.scenario).map(|no| (gr, no))
            })
            .collect();
        let diff = |f: fn(&ScenarioResult) -> Option<u64>| -> Option<i64> {
            let mut total = 0i64;
            for (gr, no) in &pairs {
                total += i64::try_from(f(no)?).ok()? - i64::try_from(f(gr)?).ok()?;
            }
            Some(total)
        };
        Savings {
            routes_removed: diff(|r| Some(r.routes_removed)).unwrap_or(0),
            fib_operations: diff(|r| r.fib_operations),
            packets_lost: diff(|r| r.packets_lost),
        }
    }
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

#[cfg(test)]
impl ScenarioResult {
    /// A settled, disrupted run of a 6000-route table, judged.
    pub(crate) fn test(scenario: Scenario, graceful_restart: bool, removed: u64, fib: Option<u64>) -> ScenarioResult {
        let mut r = ScenarioResult {
            scenario,
            graceful_restart,
            upstream: "keel",
            observer: "keel",
            routes_removed: removed,
            updates: if scenario == Scenario::Upgrade { 0 } else { 1337 },
            fib_operations: fib,
            packets_lost: None,
            seconds_to_end_of_rib: Some(0.25),
            routes: 6000,
            withdrawals: 0,
            announcements: 6000,
            llgr_stale_routes: if scenario == Scenario::Llgr && graceful_restart { 6000 } else { 0 },
            seconds_to_settle: 1.0,
            settled: true,
            disrupted: true,
            keel_cpu_seconds: 0.1,
            keel_peak_rss_mib: 25.0,
            keeld_pids: vec![100, 101],
            expected: "",
            as_expected: false,
            bfd: None,
            sessions_reset: None,
            last_upgrade: None,
            misses: Vec::new(),
            span: (0.0, 1.0),
        };
        if scenario == Scenario::Upgrade {
            (r.sessions_reset, r.keeld_pids, r.seconds_to_end_of_rib) = (Some(0), vec![100], None);
        }
        r.judge();
        r
    }

    /// Every scenario in both modes, as graceful restart should go and as a 22 s rehearsal of
    /// a 6000-route table does: the table kept with GR (but for hard-reset), removed without
    /// it, 12000 FIB operations per removal; spans of 0.3 to 5.2 s, short ones side by side.
    pub(crate) fn test_rehearsal() -> Vec<ScenarioResult> {
        let mut v = Vec::new();
        let mut t = 0.5;
        for gr in [true, false] {
            for s in Scenario::ALL {
                let removed = if s.keeps_routes(gr) { 0 } else { 6000 };
                let mut r = ScenarioResult::test(s, gr, removed, Some(removed * 2));
                let len = match s {
                    Scenario::Restart | Scenario::Crash => 0.3,
                    Scenario::Llgr => 5.2,
                    _ => 1.2,
                };
                r.span = (t, t + len);
                t += len + 0.5;
                v.push(r);
            }
            t += 0.8;
        }
        v
    }
}

#[cfg(test)]
impl Timeline {
    /// A sample every 100 ms for `t_max` seconds: sessions up after a moment, UPDATEs and
    /// routes growing.
    pub(crate) fn test(t_max: f64) -> Timeline {
        let n = (t_max * 10.0) as u64;
        let samples = (0..=n)
            .map(|i| Sample {
                t: i as f64 * 0.1,
                established: [i > 3, i > 5],
                updates: [i * 100, i * 50],
                routes: [(i * 30).min(6000), (i * 15).min(6000)],
                keeld_up: true,
                ..Sample::default()
            })
            .collect();
        Timeline { samples }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_passes_only_when_every_run_is_as_expected() {
        let mut results = ScenarioResult::test_rehearsal();
        assert!(results.iter().all(|r| r.as_expected), "{results:#?}");
        assert_eq!(Verdict::of(&results), Verdict::Pass);
        // An observer that is no GR helper loses keel's routes when keeld restarts.
        results[0] = ScenarioResult::test(Scenario::Restart, true, 6000, Some(0));
        assert!(!results[0].as_expected);
        assert_eq!(results[0].misses[0].text, "6000 routes removed downstream, expected none");
        assert_eq!(Verdict::of(&results), Verdict::Fail);
        assert_eq!(Verdict::of(&[]), Verdict::Pass);
    }

    #[test]
    fn json_is_one_object_with_the_verdict_and_every_field_of_before() {
        let results = ScenarioResult::test_rehearsal();
        let v =
            serde_json::to_value(Rehearsal { verdict: Verdict::of(&results), scenarios: &results }).unwrap_or_default();
        assert_eq!(v["verdict"], "pass");
        let first = &v["scenarios"][0];
        let keys: Vec<&str> = first.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
        // The fields scripts read since the first `keel lab --json`, then the verdict's.
        let before = [
            "scenario",
            "graceful_restart",
            "upstream",
            "observer",
            "routes_removed",
            "updates",
            "fib_operations",
            "packets_lost",
            "seconds_to_end_of_rib",
            "routes",
            "withdrawals",
            "announcements",
            "llgr_stale_routes",
            "seconds_to_settle",
            "settled",
            "disrupted",
            "keel_cpu_seconds",
            "keel_peak_rss_mib",
            "keeld_pids",
        ];
        let mut want: Vec<&str> = before.to_vec();
        want.extend(["expected", "as_expected"]);
        let mut keys_sorted = keys.clone();
        keys_sorted.sort_unstable();
        want.sort_unstable();
        assert_eq!(keys_sorted, want);
        assert_eq!(first["scenario"], "restart");
        assert_eq!(first["as_expected"], true);
        assert!(first["expected"].as_str().is_some_and(|e| e.starts_with("no route removed downstream")), "{first}");
    }

    #[test]
    fn savings_are_the_runs_without_gr_minus_those_with_it() {
        let results = ScenarioResult::test_rehearsal();
        // restart, crash, peer-restart and llgr save 6000 removals and 12000 FIB operations
        // each; hard-reset saves nothing.
        let s = Savings::of(&results);
        assert_eq!(s, Savings { routes_removed: 24000, fib_operations: Some(48000), packets_lost: None });
        // --netns: FIB operations not counted, packets lost measured.
        let netns: Vec<ScenarioResult> = results
            .into_iter()
            .map(|mut r| {
                r.packets_lost = Some(if r.routes_removed > 0 { 40 } else { 0 });
                r.fib_operations = None;
                r
            })
            .collect();
        let s = Savings::of(&netns);
        assert_eq!((s.fib_operations, s.packets_lost), (None, Some(160)));
        // Only one mode of a scenario: nothing to compare.
        let one = [ScenarioResult::test(Scenario::Restart, true, 0, Some(0))];
        assert_eq!(Savings::of(&one).routes_removed, 0);
    }
}
