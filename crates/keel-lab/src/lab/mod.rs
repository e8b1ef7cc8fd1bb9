//! `keel lab`: a restart rehearsal on the local machine, no configuration needed.
//!
//! The lab starts keeld (the binary beside `keel`) between two BGP peers, an upstream that
//! feeds a generated Internet-like table and an observer downstream, on 127.77.N.1/.2/.3:
//! keel's own speakers, or with `--peer` BIRD, FRR or GoBGP in both roles ([`bird`], [`frr`],
//! [`gobgp`]; the daemon observer passes its routes on to keel's speaker at .4, see
//! [`observer`]). keeld runs with the in-memory FIB (`[fib] backend = "memory"`), which
//! outlives keeld like the kernel's table. It then disturbs the network in each scenario, once
//! with graceful restart and once without, and measures what the observer saw (from its own
//! Adj-RIB-In, or the tap's behind a daemon), the FIB operations (from the FIB journal), the time until End-of-RIB and keeld's CPU and
//! memory:
//!
//! | scenario | what happens | RFC |
//! |---|---|---|
//! | `restart` | keeld gets SIGTERM, then starts again | RFC 4724 §4.1 (keel restarts) |
//! | `crash` | keeld gets SIGKILL, then starts again | RFC 4724 §4.1 |
//! | `peer-restart` | the upstream's session drops, it returns with R=1 | RFC 4724 §4.2 (keel helps) |
//! | `llgr` | the upstream stays away past its restart time | RFC 9494 §4.2 |
//! | `hard-reset` | the upstream sends Cease/Hard Reset and returns | RFC 8538 §3 |
//! | `bfd-link-down` | forwarding to the upstream dies, BFD at 100 ms x 3 (`--netns`) | RFC 5880, RFC 5882 §4.3 |
//! | `bfd-restart` | keeld restarts with BFD on; the neighbor's BFD must stay Up (`--netns`) | RFC 5882 §4.3 |
//!
//! The two BFD scenarios are not run by default and need `--netns`: they build their own
//! topology, keeld and an upstream keeld each with keel-bfdd in two namespaces ([`bfd`]).
//!
//! One topology serves every scenario of a mode: scenarios run one after the other, each
//! starting from a settled state (observer holding the whole table, nothing stale, FIB
//! quiet) and ending when that state is back. Everything the lab starts is ended, and its
//! temporary directory removed, on return, on error and on Ctrl-C or SIGTERM.
//!
//! With `--netns` ([`netns`]) all of it runs inside a network namespace the lab creates, keeld
//! with the kernel FIB, and a traffic flow through keeld's routes counts the packets lost.
//!
//! Each scenario carries the expectation it tests, derived from the RFCs ([`scenario`]): with
//! GR, no route removed downstream and no FIB operation (but `hard-reset`, which flushes);
//! without GR, every route removed. Each run is judged against it, and the rehearsal's verdict
//! is pass when every run went as expected ([`results::Verdict`]); the exit status is 1 on fail.
//! `--json` prints `{"verdict": "pass" | "fail", "scenarios": [...]}`.
//!
//! keeld listens on 127.77.N.2 port 179 as root (BGP's port, as in production; the daemons of
//! `--peer` need root anyway) and otherwise on keeld's own unprivileged port,
//! [`keel_api::UNPRIVILEGED_BGP_PORT`] (1179), the port a non-root keeld's embedded default
//! listens on ([`roles::Addresses`]).
//!
//! A hidden option, `--observer-no-gr`, makes keel's observer speaker advertise neither graceful
//! restart nor LLGR: it is no helper, so keeld's `restart` with GR costs it the whole table and
//! the verdict is fail. It exists to show, and to test, that the verdict can fail.
//!
//! The rehearsal itself, room by room (none imports this module):
//!
//! | module | concern |
//! |---|---|
//! | this one | `keel lab`'s options and entry point, the rehearsal, one mode (keeld started, the table loaded, each scenario run) |
//! | `topology` | what every step shares (`Lab`), one mode's `Topology`, keeld's configuration for the lab |
//! | `scenario_run` | one run: the scenario's disturbance, the waits, the measured and judged result |
//! | `settle` | the waits: upstream connected and fed, End-of-RIB, the observer settled |
//! | `sampler` | the timeline's samples and the progress line |

mod bfd;
pub mod bird;
pub mod frr;
pub mod gobgp;
pub mod netns;
pub mod observer;
pub mod peers;
pub mod process;
pub mod report;
pub mod results;
pub mod roles;
pub mod scenario;
pub mod text;
pub mod timeline;
mod upstream;

mod sampler;
mod scenario_run;
mod settle;
mod topology;

use crate::keeld::Keeld;
use anyhow::{bail, Context, Result};
use observer::ObserverPeer;
use peers::Upstream;
use process::{Task, TempDir};
use results::{Rehearsal, ScenarioResult, Verdict};
use roles::{Addresses, PeerKind};
use sampler::sample;
use scenario_run::{run_scenario, Run};
use settle::{feed_while_keeld_runs, settle};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use topology::{peer_name, Lab, Topology};
use upstream::UpstreamPeer;

pub use scenario::Scenario;

/// `keel lab`'s options.
#[derive(Debug, clap::Args)]
pub struct LabArgs {
    /// IPv4 prefixes in the generated table; IPv6 gets a fifth of that.
    #[arg(long, default_value_t = 100_000)]
    pub routes: usize,
    /// Print the verdict and the figures as one JSON object: {"verdict": "pass" | "fail",
    /// "scenarios": [one object per scenario and mode, with "expected" and "as_expected"]}.
    #[arg(long)]
    pub json: bool,
    /// Scenarios to run, comma separated. bfd-link-down and bfd-restart need --netns and are
    /// not in the default list.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Scenario::ALL)]
    pub scenarios: Vec<Scenario>,
    /// Use this real daemon (BIRD, FRR's bgpd or gobgpd, root only) as the upstream and as the
    /// observer instead of keel's own speakers.
    #[arg(long, value_enum)]
    pub peer: Option<PeerKind>,
    /// Run in a network namespace with the kernel FIB and a traffic flow (root only).
    #[arg(long)]
    pub netns: bool,
    /// Where to write the HTML report.
    #[arg(long, default_value = "keel-lab-report.html")]
    pub report: PathBuf,
    /// The keeld binary (default: next to keel, else on PATH).
    #[arg(long)]
    pub keeld: Option<PathBuf>,
    /// Test knob: keel's observer speaker advertises neither graceful restart nor LLGR, so it
    /// is no helper and keeld's restart with GR costs it the table: the verdict fails.
    #[arg(long, hide = true)]
    pub observer_no_gr: bool,
}

/// Runs `keel lab`.
pub fn run(args: &LabArgs) -> ExitCode {
    if args.peer == Some(PeerKind::Gobgp) && args.scenarios.contains(&Scenario::HardReset) {
        crate::say!(
            errln,
            "keel lab: --peer gobgp: hard-reset is not supported: GoBGP 3.10 sends no Hard Reset (`gobgp neighbor X \
             reset` sends Cease/Administrative Reset) and does not reconnect within 30 s after it"
        );
        return ExitCode::FAILURE;
    }
    let bfd: Vec<&str> = args.scenarios.iter().filter(|s| s.is_bfd()).map(|s| s.name()).collect();
    if !bfd.is_empty() && !args.netns {
        crate::say!(
            errln,
            "keel lab: {} needs --netns (root): the BFD scenarios run keeld and an upstream keeld, each with \
             keel-bfdd, in two network namespaces joined by a veth pair",
            bfd.join(" and ")
        );
        return ExitCode::FAILURE;
    }
    if args.netns && !process::is_root() {
        crate::say!(errln, "keel lab: --netns needs root (it creates network namespaces)");
        return ExitCode::FAILURE;
    }
    if args.netns && args.peer.is_some() {
        crate::say!(errln, "keel lab: --netns works only with keel's own upstream speaker (no --peer)");
        return ExitCode::FAILURE;
    }
    if args.routes == 0 {
        crate::say!(errln, "keel lab: --routes must be at least 1");
        return ExitCode::FAILURE;
    }
    if args.observer_no_gr && args.peer.is_some() {
        crate::say!(errln, "keel lab: --observer-no-gr works only with keel's own observer speaker (no --peer)");
        return ExitCode::FAILURE;
    }
    // Before the runtime: its threads, the speakers' sockets and keeld start inside the
    // namespace this thread enters. Dropped last, after everything the lab started ended.
    let netns = if args.netns {
        match netns::Netns::create() {
            Ok(n) => Some(n),
            Err(e) => {
                crate::say!(errln, "keel lab: --netns: {e:#}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            crate::say!(errln, "keel lab: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        let Ok(mut term) = term else { return Err(anyhow::anyhow!("cannot handle SIGTERM")) };
        tokio::select! {
            r = rehearse(args, netns.as_ref()) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted: every process the lab started was ended")),
            _ = term.recv() => Err(anyhow::anyhow!("terminated: every process the lab started was ended")),
        }
    });
    drop(runtime);
    drop(netns);
    match result {
        Ok(Verdict::Pass) => ExitCode::SUCCESS,
        Ok(Verdict::Fail) => ExitCode::FAILURE,
        Err(e) => {
            crate::say!(errln, "keel lab: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The machine's host name, for the report.
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that much.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Runs every scenario in both modes, writes the report, prints the summary (or the JSON) and
/// returns the verdict.
async fn rehearse(args: &LabArgs, netns: Option<&netns::Netns>) -> Result<Verdict> {
    // Few allocator arenas: the lab's threads would otherwise each keep freed memory of the
    // million-route runs in their own arena (the lab's RSS counts in the 2 GB budget).
    // SAFETY: mallopt has no preconditions.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) };
    let keeld_exe = process::find_keeld(args.keeld.as_deref())?;
    let dir = TempDir::new(&format!("keel-lab-{}", std::process::id()))?;
    let addresses = Addresses::pick()?;
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let started_unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (v4, v6) = (args.routes, args.routes / 5);
    let feed = tokio::task::spawn_blocking(move || peers::feed(v4, v6)).await?.context("cannot encode the table")?;
    // The generated table is gone, only its encoding stays: hand the memory back (a million
    // routes are several hundred MiB in the generator's structures).
    // SAFETY: malloc_trim has no preconditions.
    unsafe { libc::malloc_trim(0) };
    let traffic = match netns {
        Some(ns) => Some(netns::Traffic::start(ns, feed.destinations.clone())?),
        None => None,
    };
    let lab = Lab {
        dir,
        keeld_exe,
        addresses,
        feed: Arc::new(feed),
        timeline: Arc::default(),
        started: Instant::now(),
        progress: Arc::default(),
        tty,
        quiet: Duration::from_millis(500),
        peer: args.peer,
        ipv4: v4,
        ipv6: v6,
        traffic,
        observer_helper: !args.observer_no_gr,
        runs: args.scenarios.len() * 2,
        keeld_version: Mutex::new(None),
    };
    if let Some(ns) = netns {
        lab.note(&format!(
            "in namespace {} with the kernel FIB; {} packets/s to {} addresses of the table, received in {}",
            ns.keel,
            netns::RATE,
            lab.feed.destinations.len(),
            ns.traffic
        ));
    }
    let who = lab.who();
    lab.note(&format!("keeld {} at {who}; table {v4} IPv4 + {v6} IPv6 routes", lab.keeld_exe.display()));
    if args.observer_no_gr {
        lab.note("--observer-no-gr: the observer is no graceful-restart helper; keeld's restart with GR will fail");
    }
    let (bfd_scenarios, gr_scenarios): (Vec<Scenario>, Vec<Scenario>) = args.scenarios.iter().partition(|s| s.is_bfd());
    let mut results = Vec::new();
    if !gr_scenarios.is_empty() {
        for graceful_restart in [true, false] {
            let done = results.len();
            results.extend(run_mode(&lab, &gr_scenarios, graceful_restart, done).await?);
        }
    }
    for graceful_restart in [true, false] {
        for &s in &bfd_scenarios {
            let index = results.len() + 1;
            let mode = if graceful_restart { "with GR" } else { "without GR" };
            lab.note(&format!(
                "scenario {index}/{}: {} {mode}: {}; then waiting for {}",
                lab.runs,
                s.name(),
                s.what(),
                s.awaits()
            ));
            // Blocking (it polls two keelds and `ip`); a Ctrl-C or SIGTERM is seen between runs,
            // at the yield below, each run's topology being ended when it returns.
            let r = tokio::task::block_in_place(|| bfd::run(&lab, s, graceful_restart, index))?;
            tokio::task::yield_now().await;
            let b = r.bfd.clone().unwrap_or_default();
            let at = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0} ms"));
            lab.note(&format!(
                "scenario {index}/{}: {} {mode}: BFD Down after {}, routes gone from the RIB after {} and from the \
                 kernel FIB after {} (limit {} ms); neighbor's BFD stayed Up: {}; {}",
                lab.runs,
                s.name(),
                at(b.bfd_down_ms),
                at(b.rib_ms),
                at(b.fib_ms),
                b.limit_ms,
                b.neighbor_bfd_stayed_up.map_or("-".into(), |u| u.to_string()),
                if r.as_expected {
                    "as expected".to_string()
                } else {
                    format!(
                        "NOT as expected: {}",
                        r.misses.iter().map(|m| m.text.as_str()).collect::<Vec<_>>().join("; ")
                    )
                }
            ));
            results.push(r);
        }
    }
    let wall = lab.now();
    let timeline = std::mem::take(&mut *lab.timeline.lock().unwrap_or_else(|e| e.into_inner()));
    let peak_keeld = timeline.samples.iter().map(|s| s.keeld_rss_kib).max().unwrap_or(0);
    let peak_total = timeline.samples.iter().map(|s| s.keeld_rss_kib + s.lab_rss_kib).max().unwrap_or(0);
    let summary = report::Summary {
        routes: lab.feed.routes,
        wall_seconds: wall,
        peak_keeld_rss_mib: peak_keeld as f64 / 1024.0,
        peak_total_rss_mib: peak_total as f64 / 1024.0,
        addresses: who,
        observer: peer_name(args.peer),
        netns: netns.map(|n| n.keel.clone()),
        version: env!("CARGO_PKG_VERSION"),
        keeld_version: lab.keeld_version.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        started_unix,
        host: host_name(),
    };
    let html = report::html(&results, &timeline, &summary);
    std::fs::write(&args.report, html).with_context(|| format!("cannot write {}", args.report.display()))?;
    let verdict = Verdict::of(&results);
    if args.json {
        crate::say!(outln, "{}", serde_json::to_string_pretty(&Rehearsal { verdict, scenarios: &results })?);
        lab.note(&format!("report written to {}", args.report.display()));
        // The summary's last line, for whoever reads stderr.
        lab.note(&report::verdict_line(&results));
    } else {
        crate::say!(out, "{}", report::table(&results, &summary));
        crate::say!(outln, "report: {}", args.report.display());
        crate::say!(outln, "{}", report::verdict_line(&results));
    }
    Ok(verdict)
}

/// Runs `scenarios` in one mode; `done` runs came before (for "scenario i/N").
async fn run_mode(
    lab: &Lab,
    scenarios: &[Scenario],
    graceful_restart: bool,
    done: usize,
) -> Result<Vec<ScenarioResult>> {
    let mode = if graceful_restart { "with GR" } else { "without GR" };
    let state_dir = lab.dir.path().join(if graceful_restart { "gr" } else { "no-gr" });
    let log = std::env::var("KEEL_LAB_LOG").unwrap_or_else(|_| "info".into());
    // Its own process group: a Ctrl-C at the terminal reaches the lab, which ends keeld.
    let mut keeld = Keeld::new(lab.keeld_exe.clone(), state_dir.clone())?.env("KEEL_LOG", &log).own_process_group();
    keeld.write_config(&lab.keeld_config(&state_dir, graceful_restart))?;
    keeld.start()?;
    let daemon_dir =
        |name: &str| lab.dir.path().join(format!("{name}-{}", if graceful_restart { "gr" } else { "no-gr" }));
    let (a, v4, v6) = (&lab.addresses, lab.ipv4, lab.ipv6);
    let observer = match lab.peer {
        Some(kind) => {
            let dir = daemon_dir(&format!("{}-observer", peer_name(Some(kind))));
            ObserverPeer::daemon(kind, dir, a, keeld.api(), keeld.pid_watch())?
        }
        None => ObserverPeer::speaker(a, lab.observer_helper),
    };
    let upstream = match lab.peer {
        Some(PeerKind::Bird) => {
            UpstreamPeer::Bird(bird::BirdUpstream::new(daemon_dir("bird"), a.upstream, a.keel, v4, v6)?)
        }
        Some(PeerKind::Frr) => UpstreamPeer::Frr(frr::FrrUpstream::new(daemon_dir("frr"), a.upstream, a.keel, v4, v6)?),
        Some(PeerKind::Gobgp) => UpstreamPeer::GoBgp(gobgp::GoBgpUpstream::new(
            daemon_dir("gobgp"),
            a.upstream,
            a.keel,
            (v4, v6),
            graceful_restart,
        )?),
        None => UpstreamPeer::Speaker(Upstream::new(a.upstream, a.keel, lab.feed.clone())),
    };
    let sampler = Task(tokio::spawn(sample(
        lab.timeline.clone(),
        lab.started,
        [upstream.stats(), observer.stats.clone()],
        keeld.pid_watch(),
        lab.progress.clone(),
        lab.feed.routes,
        lab.tty,
    )));
    let mut topo = Topology { keeld, upstream, observer, _sampler: sampler };
    lab.set_progress(Some(format!("loading the table ({mode}): waiting for the observer to hold it")));
    let t0 = Instant::now();
    let fed = feed_while_keeld_runs(lab, &mut topo, false).await;
    fed.with_context(|| format!("upstream session to keeld ({mode})"))?;
    let (settled, _) = settle(lab, &mut topo, t0, Duration::from_secs(60 + lab.feed.routes / 5000), None).await;
    lab.set_progress(None);
    if !settled {
        bail!(
            "the table did not reach the observer ({mode}): {} of {} routes; keeld's log ends with:\n{}{}",
            topo.observer.view().routes,
            lab.feed.routes,
            topo.keeld.log_tail(15),
            match topo.observer.log_tail() {
                t if t.is_empty() => String::new(),
                t => format!("\nthe observer's log ends with:\n{t}"),
            }
        );
    }
    lab.note(&format!("table loaded {mode} in {:.1} s", t0.elapsed().as_secs_f64()));
    if lab.keeld_version.lock().unwrap_or_else(|e| e.into_inner()).is_none() {
        let status = process::api_get(&topo.keeld.api(), "/v1/status").await;
        let version = status.and_then(|v| v["version"].as_str().map(str::to_string));
        *lab.keeld_version.lock().unwrap_or_else(|e| e.into_inner()) = version;
    }
    let mut results = Vec::new();
    for (i, &s) in scenarios.iter().enumerate() {
        let run = Run { scenario: s, graceful_restart, index: done + i + 1, of: lab.runs };
        lab.note(&format!(
            "{}: {}; then waiting for {}, and for the observer to settle",
            run.title(),
            s.what(),
            s.awaits()
        ));
        let r = run_scenario(lab, &mut topo, &run).await?;
        lab.set_progress(None);
        let verdict = if r.as_expected {
            "as expected".to_string()
        } else {
            let misses: Vec<&str> = r.misses.iter().map(|m| m.text.as_str()).collect();
            format!("NOT as expected: {}", misses.join("; "))
        };
        lab.note(&format!(
            "{}: {} routes removed at the observer, {} UPDATEs, {} FIB operations, {}End-of-RIB after {}; {verdict}",
            run.title(),
            r.routes_removed,
            r.updates,
            r.fib_operations.map_or("?".into(), |n| n.to_string()),
            r.packets_lost.map_or(String::new(), |n| format!("{n} packets lost, ")),
            r.seconds_to_end_of_rib.map_or("-".into(), |s| format!("{s:.2} s")),
        ));
        results.push(r);
    }
    topo.upstream.vanish().await;
    topo.keeld.stop_async(libc::SIGKILL, Duration::from_secs(5)).await;
    Ok(results)
}
