//! One run of the rehearsal: a scenario in one mode. [`run_scenario`] disturbs the network as
//! the scenario says (keeld restarted or killed, the upstream restarted, away past its restart
//! time, or hard reset), waits for End-of-RIB and for the observer to settle, measures what
//! changed (routes removed downstream, UPDATEs, FIB operations, packets lost, keeld's CPU and
//! memory) and judges the result against the scenario's expectation ([`super::scenario`]).

use super::peers;
use super::results::ScenarioResult;
use super::scenario::Scenario;
use super::settle::{
    connect_time, end_of_rib, feed_while_keeld_runs, keel_sessions, settle, upgrade, upstream_sessions,
};
use super::topology::{peer_name, Lab, Topology};
use anyhow::{Context, Result};
use std::time::{Duration, Instant};

/// How long the upstream stays away in `peer-restart` and `hard-reset`: a restarting router
/// takes at least that, and keeld has time to act on the loss before the routes come back.
const AWAY: Duration = Duration::from_secs(1);

/// Counters at one moment, to subtract.
struct Snapshot {
    removed: u64,
    updates: u64,
    withdrawals: u64,
    announcements: u64,
    llgr_stale: u64,
    fib: Option<u64>,
    fib_journal_len: Option<u64>,
    cpu: f64,
}

/// With `--netns` (`kernel`) there is no FIB journal: FIB operations are not counted.
fn snapshot(topo: &Topology, kernel: bool) -> Snapshot {
    let s = topo.observer.view();
    Snapshot {
        removed: s.removed,
        updates: s.updates,
        withdrawals: s.withdrawals,
        announcements: s.announcements,
        llgr_stale: s.llgr_stale,
        fib: (!kernel).then(|| keel_fib::journal::operations(&topo.keeld.fib_journal()).ok()).flatten(),
        fib_journal_len: std::fs::metadata(topo.keeld.fib_journal()).map(|m| m.len()).ok(),
        cpu: topo.keeld.cpu_total(),
    }
}

/// One run of the rehearsal: a scenario in one mode, the `index`-th of `of`.
pub(super) struct Run {
    pub(super) scenario: Scenario,
    pub(super) graceful_restart: bool,
    pub(super) index: usize,
    pub(super) of: usize,
}

impl Run {
    /// "scenario 3/10: peer-restart with GR".
    pub(super) fn title(&self) -> String {
        let mode = if self.graceful_restart { "with GR" } else { "without GR" };
        format!("scenario {}/{}: {} {mode}", self.index, self.of, self.scenario.name())
    }

    /// The progress line while the run waits: "3/10 peer-restart GR: waiting for ...".
    fn progress(&self, what: &str) -> Option<String> {
        let mode = if self.graceful_restart { "GR" } else { "no GR" };
        Some(format!("{}/{} {} {mode}: {what}", self.index, self.of, self.scenario.name()))
    }
}

pub(super) async fn run_scenario(lab: &Lab, topo: &mut Topology, run: &Run) -> Result<ScenarioResult> {
    let (scenario, graceful_restart) = (run.scenario, run.graceful_restart);
    if scenario.keel_restarts() && graceful_restart {
        // FRR says R=1 during its startup window: keeld's restart is rehearsed with an FRR
        // that has run for a while, as in production (RFC 4724 §4.1).
        let until = [topo.upstream.startup_ends(), topo.observer.startup_ends()].into_iter().flatten().max();
        if let Some(wait) = until.map(|t| t.saturating_duration_since(Instant::now())).filter(|w| !w.is_zero()) {
            lab.note(&format!(
                "waiting {:.0} s for FRR's startup window to end (until then it sends R=1, restarting, in its OPENs)",
                wait.as_secs_f64()
            ));
            tokio::time::sleep(wait).await;
        }
    }
    // SAFETY: malloc_trim has no preconditions; it returns what the last scenario freed.
    unsafe { libc::malloc_trim(0) };
    let sessions_before = upstream_sessions(lab, topo).await;
    let keel_sessions_before = keel_sessions(lab, topo).await;
    let mut last_upgrade = None;
    let before = snapshot(topo, lab.traffic.is_some());
    let sent_before = lab.traffic.as_ref().map(|t| t.sent());
    let first_pid = topo.keeld.pids().len().saturating_sub(1);
    let start = lab.now();
    let t0 = Instant::now();
    let deadline = || Instant::now() + connect_time(lab);
    let reconnect = "waiting for the upstream to connect and send its table";
    match scenario {
        Scenario::Restart | Scenario::Crash => {
            let signal = if scenario == Scenario::Restart { "SIGTERM" } else { "SIGKILL" };
            lab.set_progress(run.progress(&format!("{signal} to keeld, waiting for it to exit")));
            let signal = if scenario == Scenario::Restart { libc::SIGTERM } else { libc::SIGKILL };
            topo.keeld.stop_async(signal, Duration::from_secs(15)).await;
            topo.upstream.keel_leaves();
            topo.keeld.start()?;
            lab.set_progress(run.progress(&format!("new keeld; {reconnect}")));
            let fed = feed_while_keeld_runs(lab, topo, false).await;
            fed.context("upstream back to the new keeld")?;
        }
        Scenario::PeerRestart => {
            lab.set_progress(run.progress(&format!("upstream away for {} s", AWAY.as_secs())));
            topo.upstream.restart().await;
            tokio::time::sleep(AWAY).await;
            lab.set_progress(run.progress(reconnect));
            topo.upstream.connect_and_feed(true, deadline()).await.context("upstream restart")?;
        }
        Scenario::Llgr => {
            let away = Duration::from_secs(peers::UPSTREAM_RESTART_TIME.into()) + Duration::from_secs(2);
            lab.set_progress(run.progress(&format!(
                "upstream away for {} s, past its {} s restart time",
                away.as_secs(),
                peers::UPSTREAM_RESTART_TIME
            )));
            topo.upstream.vanish().await;
            // RFC 9494 §4.2: past the restart time, routes become LLGR-stale (or go).
            tokio::time::sleep(away).await;
            lab.set_progress(run.progress(reconnect));
            topo.upstream.connect_and_feed(true, deadline()).await.context("upstream back after its restart time")?;
        }
        Scenario::HardReset => {
            lab.set_progress(run.progress(&format!("Hard Reset sent, upstream away for {} s", AWAY.as_secs())));
            topo.upstream.hard_reset().await;
            tokio::time::sleep(AWAY).await;
            lab.set_progress(run.progress(reconnect));
            topo.upstream.connect_and_feed(false, deadline()).await.context("upstream back after Hard Reset")?;
        }
        Scenario::Upgrade => {
            lab.set_progress(run.progress("keel upgrade, waiting for the new keeld image"));
            last_upgrade = Some(upgrade(topo, deadline()).await.context("keel upgrade")?);
        }
        Scenario::BfdLinkDown | Scenario::BfdRestart => {
            anyhow::bail!("{} runs in its own topology (keel lab's bfd module)", scenario.name())
        }
    }
    lab.set_progress(run.progress(if scenario.keel_restarts() {
        "waiting for keeld's End-of-RIB at the observer"
    } else {
        "waiting for the upstream's End-of-RIB at keeld"
    }));
    let end_of_rib = end_of_rib(lab, topo, scenario, graceful_restart, t0).await;
    lab.set_progress(run.progress("waiting for the observer to settle (whole table, nothing stale, FIB quiet)"));
    let limit = Duration::from_secs(90 + lab.feed.routes / 5000);
    let (settled, settle_time) = settle(lab, topo, t0, limit, before.fib_journal_len).await;
    let after = snapshot(topo, lab.traffic.is_some());
    let keeld_pids = topo.keeld.pids()[first_pid..].to_vec();
    // Sessions keeld's two neighbors started since: none for `upgrade`.
    let sessions_reset = match (scenario, keel_sessions_before, keel_sessions(lab, topo).await) {
        (Scenario::Upgrade, Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    let disrupted = if scenario == Scenario::Upgrade {
        // The new image runs: it says it was handed at least the upstream's session.
        last_upgrade.as_ref().is_some_and(|u| u["sessions"].as_u64().unwrap_or(0) > 0)
    } else if scenario.keel_restarts() {
        keeld_pids.len() > 1
    } else {
        let after = upstream_sessions(lab, topo).await;
        sessions_before.zip(after).is_some_and(|(b, a)| a > b)
    };
    if !disrupted {
        lab.note(&format!(
            "{}: the disruption did not reach keeld (no new keeld, no new upstream session)",
            scenario.name()
        ));
    }
    let packets_lost = match (&lab.traffic, sent_before) {
        (Some(t), Some(from)) => Some(t.lost(from, t.sent()).await),
        _ => None,
    };
    let end = lab.now();
    let peak_rss_kib = {
        let t = lab.timeline.lock().unwrap_or_else(|e| e.into_inner());
        t.samples.iter().filter(|s| s.t >= start && s.t <= end).map(|s| s.keeld_rss_kib).max().unwrap_or(0)
    };
    let mut result = ScenarioResult {
        scenario,
        graceful_restart,
        upstream: peer_name(lab.peer),
        observer: topo.observer.kind,
        routes_removed: after.removed - before.removed,
        updates: after.updates - before.updates,
        fib_operations: after.fib.zip(before.fib).map(|(a, b)| a.saturating_sub(b)),
        packets_lost,
        seconds_to_end_of_rib: end_of_rib.map(|d| d.as_secs_f64()),
        routes: lab.feed.routes,
        withdrawals: after.withdrawals - before.withdrawals,
        announcements: after.announcements - before.announcements,
        llgr_stale_routes: after.llgr_stale - before.llgr_stale,
        seconds_to_settle: settle_time.as_secs_f64(),
        settled,
        disrupted,
        keel_cpu_seconds: after.cpu - before.cpu,
        keel_peak_rss_mib: peak_rss_kib as f64 / 1024.0,
        keeld_pids,
        expected: "",
        as_expected: false,
        bfd: None,
        sessions_reset,
        last_upgrade,
        misses: Vec::new(),
        span: (start, end),
    };
    result.judge();
    Ok(result)
}
