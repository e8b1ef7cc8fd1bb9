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

use crate::keeld::Keeld;
use anyhow::{bail, Context, Result};
use observer::ObserverPeer;
use peers::{PeerStats, Upstream};
use process::{Task, TempDir};
use results::{Rehearsal, Sample, ScenarioResult, Timeline, Verdict};
use roles::{Addresses, PeerKind, DAEMON_UPSTREAM_ASN, KEELD_ASN, OBSERVER_ASN};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
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
    /// Scenarios to run, comma separated.
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

/// How long the upstream stays away in `peer-restart` and `hard-reset`: a restarting router
/// takes at least that, and keeld has time to act on the loss before the routes come back.
const AWAY: Duration = Duration::from_secs(1);

/// What every step of a rehearsal shares.
struct Lab {
    dir: TempDir,
    keeld_exe: PathBuf,
    addresses: Addresses,
    feed: Arc<peers::Feed>,
    timeline: Arc<Mutex<Timeline>>,
    started: Instant,
    /// The line the progress display shows, if any.
    progress: Arc<Mutex<Option<String>>>,
    tty: bool,
    quiet: Duration,
    peer: Option<PeerKind>,
    ipv4: usize,
    ipv6: usize,
    /// The traffic flow (`--netns`).
    traffic: Option<netns::Traffic>,
    /// Whether keel's observer speaker is a graceful-restart helper (not `--observer-no-gr`).
    observer_helper: bool,
    /// Runs in the rehearsal: scenarios times two modes.
    runs: usize,
    /// keeld's version, from its API once it ran.
    keeld_version: Mutex<Option<String>>,
}

impl Lab {
    fn note(&self, text: &str) {
        if self.tty {
            crate::say!(err, "\r\x1b[2K");
        }
        crate::say!(errln, "keel lab: {text}");
    }

    fn set_progress(&self, label: Option<String>) {
        *self.progress.lock().unwrap_or_else(|e| e.into_inner()) = label;
        if self.tty {
            crate::say!(err, "\r\x1b[2K");
        }
    }

    fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Who is where, for the log and the report.
    fn who(&self) -> String {
        let a = &self.addresses;
        let name = peer_name(self.peer);
        let mut w = format!("keeld {}, upstream {} ({name}), observer {} ({name})", a.keel, a.upstream, a.observer);
        if self.peer.is_some() {
            w.push_str(&format!(", tap {} (keel, behind the observer)", a.tap));
        }
        w
    }

    fn keeld_config(&self, state_dir: &std::path::Path, graceful_restart: bool) -> String {
        let a = &self.addresses;
        let mut c = format!(
            "# keel lab: keeld under test ({})\n[global]\nasn = {KEELD_ASN}\nrouter_id = \"192.0.2.2\"\nlisten = [\"{}\"]\n\
             api = \"{}\"\nstate_dir = \"{}\"\n\n[graceful_restart]\nmode = \"{}\"\nrestart_time = 30\n\
             selection_deferral_time = 30\n\n",
            if graceful_restart { "graceful restart" } else { "graceful restart disabled" },
            a.keel,
            state_dir.join("keel.sock").display(),
            state_dir.display(),
            if graceful_restart { "restart" } else { "disabled" },
        );
        if graceful_restart {
            c.push_str(
                "[long_lived_graceful_restart]\nfamilies = [\"ipv4-unicast\", \"ipv6-unicast\"]\nstale_time = 60\n\n",
            );
        }
        if self.traffic.is_some() {
            // The kernel's main table of the lab's namespace, not the host's.
            c.push_str("[fib]\nenabled = true\n\n");
        } else {
            c.push_str("[fib]\nenabled = true\nbackend = \"memory\"\n\n");
        }
        // A daemon observer gets documentation next hops (FRR refuses 127/8 as martian).
        let export = if self.peer.is_some() {
            c.push_str(
                "[[policy]]\nname = \"to-observer\"\n\
                 [[policy.term]]\nname = \"next-hop-v4\"\nmatch.family = \"ipv4-unicast\"\nset.next_hop = \"192.0.2.2\"\n\
                 [[policy.term]]\nname = \"next-hop-v6\"\nmatch.family = \"ipv6-unicast\"\nset.next_hop = \"2001:db8::2\"\n\
                 [[policy.term]]\nname = \"all\"\nthen = \"accept\"\n\n",
            );
            "to-observer"
        } else {
            "all"
        };
        c.push_str(&format!(
            "[[neighbor]]\naddress = \"{}\"\nasn = {}\ndescription = \"upstream\"\npassive = true\nimport = \"all\"\nexport = \"none\"\n\n\
             [[neighbor]]\naddress = \"{}\"\nasn = {}\ndescription = \"observer\"\npassive = true\nimport = \"none\"\nexport = \"{export}\"\n",
            a.upstream,
            if self.peer.is_some() { DAEMON_UPSTREAM_ASN } else { self.feed.peer_as },
            a.observer,
            OBSERVER_ASN,
        ));
        c
    }
}

/// One mode's topology: keeld, the upstream, the observer and the sampler.
struct Topology {
    keeld: Keeld,
    upstream: UpstreamPeer,
    observer: ObserverPeer,
    _sampler: Task,
}

/// "keel" for keel's own speaker, else the daemon's name.
fn peer_name(peer: Option<PeerKind>) -> &'static str {
    match peer {
        None => "keel",
        Some(PeerKind::Bird) => "bird",
        Some(PeerKind::Frr) => "frr",
        Some(PeerKind::Gobgp) => "gobgp",
    }
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
    let mut results = Vec::new();
    for graceful_restart in [true, false] {
        let done = results.len();
        results.extend(run_mode(&lab, &args.scenarios, graceful_restart, done).await?);
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

/// How long the upstream may take to (re)connect: GoBGP loads the table into its RIB first
/// (about 20 s for 120,000 routes on a busy machine).
fn connect_time(lab: &Lab) -> Duration {
    Duration::from_secs(30 + lab.feed.routes / 2000)
}

/// Connects the upstream and sends its table, giving up at once if keeld exits meanwhile
/// (a port in use, a bad configuration) rather than after the connect timeout.
async fn feed_while_keeld_runs(lab: &Lab, topo: &mut Topology, restarting: bool) -> Result<()> {
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
struct Run {
    scenario: Scenario,
    graceful_restart: bool,
    index: usize,
    of: usize,
}

impl Run {
    /// "scenario 3/10: peer-restart with GR".
    fn title(&self) -> String {
        let mode = if self.graceful_restart { "with GR" } else { "without GR" };
        format!("scenario {}/{}: {} {mode}", self.index, self.of, self.scenario.name())
    }

    /// The progress line while the run waits: "3/10 peer-restart GR: waiting for ...".
    fn progress(&self, what: &str) -> Option<String> {
        let mode = if self.graceful_restart { "GR" } else { "no GR" };
        Some(format!("{}/{} {} {mode}: {what}", self.index, self.of, self.scenario.name()))
    }
}

async fn run_scenario(lab: &Lab, topo: &mut Topology, run: &Run) -> Result<ScenarioResult> {
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
    let disrupted = if scenario.keel_restarts() {
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
        misses: Vec::new(),
        span: (start, end),
    };
    result.judge();
    Ok(result)
}

/// How many times keeld's session with the upstream became Established (keeld's API).
async fn upstream_sessions(lab: &Lab, topo: &Topology) -> Option<u64> {
    let path = format!("/v1/neighbors/{}", lab.addresses.upstream);
    process::api_get(&topo.keeld.api(), &path).await?["established_transitions"].as_u64()
}

/// The time from `t0` to the End-of-RIB that ends the scenario: keeld's, at the observer,
/// when keeld restarted; else the upstream's, once keeld reports it received for every
/// family with the whole table and nothing stale (keeld's API). Without graceful restart FRR
/// and GoBGP send no End-of-RIB (they do so only when GR was negotiated): then the whole
/// table's arrival counts.
async fn end_of_rib(
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
async fn settle(
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

/// Samples the timeline every 100 ms and draws the progress line on a terminal.
async fn sample(
    timeline: Arc<Mutex<Timeline>>,
    started: Instant,
    peers: [Arc<PeerStats>; 2],
    keeld: Arc<AtomicI32>,
    progress: Arc<Mutex<Option<String>>>,
    total: u64,
    tty: bool,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let lab_pid = std::process::id() as i32;
    loop {
        tick.tick().await;
        let pid = keeld.load(Ordering::Relaxed);
        let keeld_stat = (pid > 0).then(|| process::proc_stat(pid)).flatten();
        let s = Sample {
            t: started.elapsed().as_secs_f64(),
            established: peers.each_ref().map(|p| p.established.load(Ordering::Relaxed)),
            updates: peers.each_ref().map(|p| p.updates.load(Ordering::Relaxed)),
            routes: peers.each_ref().map(|p| p.routes.load(Ordering::Relaxed)),
            keeld_up: keeld_stat.is_some(),
            keeld_pid: pid,
            keeld_rss_kib: keeld_stat.map_or(0, |s| s.1),
            lab_rss_kib: process::proc_stat(lab_pid).map_or(0, |s| s.1),
        };
        timeline.lock().unwrap_or_else(|e| e.into_inner()).samples.push(s);
        if tty {
            if let Some(label) = progress.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                let line = format!(
                    "{label}  upstream {} observer {}",
                    report::bar(s.routes[0], total),
                    report::bar(s.routes[1], total)
                );
                // One terminal line, so that the next redraw clears it.
                let line: String = line.chars().take(terminal_columns().saturating_sub(1)).collect();
                crate::say!(err, "\r\x1b[2K{line}");
            }
        }
    }
}

/// The terminal's width (stderr's), 80 when unknown.
fn terminal_columns() -> usize {
    // SAFETY: winsize is plain data; TIOCGWINSZ fills it or fails, leaving it zeroed.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: fd 2 is ours to query; the pointer is valid for the call.
    let rc = unsafe { libc::ioctl(2, libc::TIOCGWINSZ, &mut size) };
    if rc == 0 && size.ws_col > 0 {
        usize::from(size.ws_col)
    } else {
        80
    }
}
