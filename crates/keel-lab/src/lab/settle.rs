//! The waits of a rehearsal: the upstream connected and its table sent while keeld runs,
//! End-of-RIB (keeld's at the observer, or the upstream's at keeld), and the settled state
//! every scenario starts from and ends in: the observer holding the whole table with nothing
//! stale, the FIB quiet.

use super::peers;
use super::process;
use super::roles::PeerKind;
use super::scenario::Scenario;
use super::topology::{Lab, Topology};
use anyhow::{bail, Result};
use std::time::{Duration, Instant};

/// How long the upstream may take to (re)connect: GoBGP loads the table into its RIB first
/// (about 20 s for 120,000 routes on a busy machine).
pub(super) fn connect_time(lab: &Lab) -> Duration {
    Duration::from_secs(30 + lab.feed.routes / 2000)
}

/// Connects the upstream and sends its table, giving up at once if keeld exits meanwhile
/// (a port in use, a bad configuration) rather than after the connect timeout.
pub(super) async fn feed_while_keeld_runs(lab: &Lab, topo: &mut Topology, restarting: bool) -> Result<()> {
    let pid = topo.keeld.pid();
    let why = tokio::select! {
        r = topo.upstream.connect_and_feed(restarting, Instant::now() + connect_time(lab)) => match r {
            Ok(()) => return Ok(()),
            Err(e) => format!("{e:#}"),
        },
        _ = process::exited(pid) => "keeld exited".to_string(),
    };
    bail!("{why}; keeld's log ends with:\n{}", topo.keeld.log_tail(15))
}

/// How many times keeld's session with the upstream became Established (keeld's API).
pub(super) async fn upstream_sessions(lab: &Lab, topo: &Topology) -> Option<u64> {
    sessions_with(topo, lab.addresses.upstream).await
}

/// How many times keeld's session with `peer` became Established (keeld's API).
async fn sessions_with(topo: &Topology, peer: std::net::Ipv4Addr) -> Option<u64> {
    let path = format!("/v1/neighbors/{peer}");
    process::api_get(&topo.keeld.api(), &path).await?["established_transitions"].as_u64()
}

/// Sessions keeld established with the upstream and the observer so far (each neighbor's
/// `established_transitions`), `None` when its API does not say.
pub(super) async fn keel_sessions(lab: &Lab, topo: &Topology) -> Option<u64> {
    Some(sessions_with(topo, lab.addresses.upstream).await? + sessions_with(topo, lab.addresses.observer).await?)
}

/// `keel upgrade` on the lab's keeld (the binary at its own path, executed in place): returns
/// once the new image answers with the sessions handed over, with its `last_upgrade`.
pub(super) async fn upgrade(topo: &Topology, deadline: Instant) -> anyhow::Result<serde_json::Value> {
    let api = topo.keeld.api();
    process::api_call(&api, "POST", "/v1/upgrade").await?;
    while Instant::now() < deadline {
        if let Some(v) =
            process::api_get(&api, "/v1/status").await.filter(|v| !v["last_upgrade"]["handoff_ms"].is_null())
        {
            return Ok(v["last_upgrade"].clone());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the new keeld image did not answer in time")
}

/// The time from `t0` to the End-of-RIB that ends the scenario: keeld's, at the observer,
/// when keeld restarted; else the upstream's, once keeld reports it received for every
/// family with the whole table and nothing stale (keeld's API). Without graceful restart FRR
/// and GoBGP send no End-of-RIB (they do so only when GR was negotiated): then the whole
/// table's arrival counts.
pub(super) async fn end_of_rib(
    lab: &Lab,
    topo: &Topology,
    scenario: Scenario,
    graceful_restart: bool,
    t0: Instant,
) -> Option<Duration> {
    let deadline = Instant::now() + Duration::from_secs(60 + lab.feed.routes / 5000);
    let api = topo.keeld.api();
    let path = format!("/v1/neighbors/{}", lab.addresses.upstream);
    let routes = lab.feed.routes;
    // `upgrade` ends no session: no End-of-RIB is owed.
    if scenario == Scenario::Upgrade {
        return None;
    }
    while Instant::now() < deadline {
        if scenario.keel_restarts() {
            if let Some(at) = topo.observer.view().end_of_rib_at.filter(|at| *at > t0) {
                return Some(at - t0);
            }
        } else {
            if let Some(v) = process::api_get(&api, &path).await {
                let eor = v["graceful_restart"]["end_of_rib_received"].as_array().map_or(0, Vec::len);
                let eor_done = eor == peers::FAMILIES.len()
                    || (!graceful_restart && matches!(lab.peer, Some(PeerKind::Frr | PeerKind::Gobgp)));
                if v["state"] == "established"
                    && eor_done
                    && v["received_prefixes"].as_u64() == Some(routes)
                    && v["stale_prefixes"].as_u64() == Some(0)
                {
                    return Some(t0.elapsed());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Waits until the observer holds the whole table with nothing stale and End-of-RIB received,
/// the upstream's table is sent, keeld runs, and neither the observer nor the FIB changed for
/// `lab.quiet`. Returns whether that happened before `limit`, and when (from `t0`).
pub(super) async fn settle(
    lab: &Lab,
    topo: &mut Topology,
    t0: Instant,
    limit: Duration,
    fib_len: Option<u64>,
) -> (bool, Duration) {
    let journal = topo.keeld.fib_journal();
    let mut fib_len = fib_len;
    let mut fib_changed = t0;
    loop {
        let len = std::fs::metadata(&journal).map(|m| m.len()).ok();
        if len != fib_len {
            fib_len = len;
            fib_changed = Instant::now();
        }
        let observer_done = {
            let s = topo.observer.view();
            s.end_of_rib_complete
                && s.routes == lab.feed.routes
                && s.stale == 0
                && s.last_update.is_none_or(|t| t.elapsed() >= topo.observer.quiet(lab.quiet))
        };
        let upstream_done = topo.upstream.ready();
        // With --netns: the traffic flow arrives whole again (every route is in the kernel).
        let forwarding = lab.traffic.as_ref().is_none_or(|t| t.forwarding());
        let done =
            observer_done && upstream_done && forwarding && fib_changed.elapsed() >= lab.quiet && topo.keeld.running();
        if done {
            // The quiet period is part of the wait, not of the recovery.
            let last = topo.observer.view().last_update.unwrap_or(t0).max(t0);
            return (true, last.saturating_duration_since(t0).max(fib_changed.saturating_duration_since(t0)));
        }
        if t0.elapsed() > limit {
            return (false, t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
