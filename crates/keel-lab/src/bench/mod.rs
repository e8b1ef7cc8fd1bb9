//! `keel bench`: the same BGP workloads through keeld, BIRD 2, FRR bgpd, GoBGP and OpenBGPD,
//! plus a `direct` baseline (testers straight to the monitor) that shows the feeders outrun
//! every daemon.
//!
//! Topology per DUT run: K testers (keel's own speaker, one task per session in this
//! process, each writing a pre-encoded generated table with its own paths) → the DUT on
//! 127.88.N.1 → one monitor session recording when each prefix arrives. Scenarios, all run
//! on each DUT in turn:
//!
//! - `converge`: time from the testers' first byte until the monitor holds every prefix and
//!   nothing changed for a quiet period (the time of the last change is reported); DUT CPU
//!   seconds and peak RSS (summed over its process group).
//! - `churn`: after convergence with one tester, 1% of the prefixes per second get a new
//!   attribute set (a community tagging the round); per-prefix delay tester → monitor.
//! - `helper`: the tester's session ends without NOTIFICATION, the tester reconnects with
//!   R=1/F=1 and re-sends its table with 1% of it changed, then End-of-RIB; what the monitor
//!   saw, and the time from that End-of-RIB to the DUT's last UPDATE.
//! - `restart`: the DUT restarts gracefully, each daemon its own way; what the monitor saw
//!   and the time to the DUT's End-of-RIB at the monitor.
//!
//! `--bmp` runs keeld alone, converging one tester's table without a BMP station, with
//! pmacct's pmbmpd as its station from the start, and dumping to pmbmpd started after
//! convergence ([`bmp`]).

pub mod bfd;
pub mod bmp;
pub mod dut;
pub mod feeder;
pub mod peers;
pub mod report;

use crate::speaker::SpeakerConfig;
use anyhow::{bail, Context, Result};
use dut::{Dut, DutKind, Layout};
use feeder::{BirdFeeder, FeederKind};
use keel_tablegen::{Table, TableSpec};
use keel_wire::{builder, CodecOptions, Family};
use peers::{Monitor, Tester};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    Converge,
    Churn,
    Helper,
    Restart,
    /// `--bmp` ([`bmp`]): not among the default scenarios.
    Bmp,
}

impl Scenario {
    pub const ALL: [Scenario; 4] = [Scenario::Converge, Scenario::Churn, Scenario::Helper, Scenario::Restart];
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Converge => "converge",
            Scenario::Churn => "churn",
            Scenario::Helper => "helper",
            Scenario::Restart => "restart",
            Scenario::Bmp => "bmp",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Devices under test, comma separated (default: every one installed, and direct).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub duts: Vec<DutKind>,
    /// Scenarios, comma separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Scenario::ALL)]
    pub scenarios: Vec<Scenario>,
    /// Tester counts for `converge`, comma separated (churn, helper and restart use the first).
    #[arg(long, value_delimiter = ',')]
    pub testers: Vec<usize>,
    /// IPv4 prefixes per tester.
    #[arg(long)]
    pub routes: Option<usize>,
    /// Churn duration in seconds.
    #[arg(long)]
    pub churn_seconds: Option<u64>,
    /// Smoke-test sizes: 20000 routes, 1 and 2 testers, 3 s of churn (checks the harness,
    /// not the speed).
    #[arg(long)]
    pub quick: bool,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
    /// Write the Markdown report (command, versions, machine, tables) here.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Write the converge chart (SVG) here.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// The keeld binary (default: next to keel, else on PATH).
    #[arg(long)]
    pub keeld: Option<PathBuf>,
    /// Who feeds the DUT: `speaker` (keel's own fast testers) or `bird` (one BIRD 2 per
    /// tester, given its table over BGP by keel's speaker before the run, its session to the
    /// DUT enabled at the start; needs root; converge, helper and restart, not churn or
    /// direct yet). Reports the feeders' CPU and peak RSS too.
    #[arg(long, value_enum, default_value_t = FeederKind::Speaker)]
    pub feeder: FeederKind,
    /// Instead of the BGP workloads: BFD under load (root). --bfd-sessions sessions at 100 ms x 3
    /// on keeld's keel-bfdd against a second keel-bfdd in another namespace, keel-bfdd's CPU and
    /// false Downs while a table (--routes, default 1,000,000) loads into keeld, then the time
    /// from a link drop to the routes leaving the kernel FIB. --quick: 10 sessions, 10,000
    /// routes, a 3 s window.
    #[arg(long)]
    pub bfd: bool,
    /// --bfd: BFD sessions (1-100, default 100; --quick 10). Each is a neighbor of its own.
    #[arg(long)]
    pub bfd_sessions: Option<usize>,
    /// --bfd: seconds the CPU and false Downs are watched, at least until the table is in
    /// (default 600; --quick 3).
    #[arg(long)]
    pub bfd_seconds: Option<u64>,
    /// BMP's cost instead (issue 23): keeld converging one tester's table without a station,
    /// with pmacct's pmbmpd monitoring all four views from the start, and dumping to pmbmpd
    /// started after convergence (extra CPU, extra peak RSS, time until pmbmpd has the dump).
    /// keel only, one tester; needs pmbmpd.
    #[arg(long)]
    pub bmp: bool,
}

/// One scenario on one DUT; the `--json` contract.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Row {
    pub scenario: String,
    pub dut: String,
    /// Who fed the DUT: "speaker" or "bird".
    pub feeder: String,
    pub testers: usize,
    pub routes: usize,
    /// The run finished with the monitor holding `expected` prefixes.
    pub ok: bool,
    pub note: String,
    pub expected: usize,
    pub monitor_prefixes: usize,
    /// converge: until the last change at the monitor (`--feeder bird`: from the first
    /// feeder's session up); helper: tester End-of-RIB to the DUT's
    /// last UPDATE; restart: restart to the DUT's End-of-RIB at the monitor.
    pub seconds: Option<f64>,
    /// When the testers finished writing (converge).
    pub feed_seconds: Option<f64>,
    pub cpu_seconds: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    /// `--feeder bird`: from `birdc enable` to the first feeder's session up (BIRD's times);
    /// converge's `seconds` count from there.
    pub session_seconds: Option<f64>,
    /// CPU seconds of every BIRD feeder together during the run (`--feeder bird`).
    pub feeder_cpu_seconds: Option<f64>,
    /// Each BIRD feeder's peak resident set (preloaded table included), summed.
    pub feeder_peak_rss_mib: Option<f64>,
    pub updates: u64,
    pub announced: u64,
    /// Announcements that changed what the monitor held (new prefix or new attributes).
    pub changed_at_monitor: u64,
    pub withdrawn: u64,
    /// helper: prefixes the tester changed (the ideal number of announcements).
    pub changed: Option<u64>,
    pub end_of_rib: bool,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub delays: usize,
    /// bmp: "none", "live" or "dump" ([`bmp::Station`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub station: Option<String>,
    /// bmp: live, from the testers' start until pmbmpd holds the Loc-RIB; dump, from pmbmpd's
    /// start until the dump's Statistics Reports reached it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub station_seconds: Option<f64>,
    /// bmp: Loc-RIB prefixes in pmbmpd's log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub station_routes: Option<usize>,
    /// bmp: times keel dropped the station for falling behind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub station_drops: Option<usize>,
    /// bmp dump: keel's peak RSS during the dump over its RSS before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_rss_mib: Option<f64>,
}

struct Sizes {
    routes: usize,
    testers: Vec<usize>,
    churn_seconds: u64,
    quiet: Duration,
    converge_timeout: Duration,
}

pub fn run(args: &BenchArgs) -> ExitCode {
    match run_inner(args) {
        Ok(ok) if ok => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            crate::say!(errln, "keel bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_inner(args: &BenchArgs) -> Result<bool> {
    let root = crate::lab::process::is_root();
    let port = keel_api::bgp_port(root);
    let keeld = crate::lab::process::find_keeld(args.keeld.as_deref())?;
    if args.bfd {
        let sizes = bfd::Sizes {
            sessions: args.bfd_sessions.unwrap_or(if args.quick { 10 } else { 100 }),
            routes: args.routes.unwrap_or(if args.quick { 10_000 } else { 1_000_000 }),
            window: Duration::from_secs(args.bfd_seconds.unwrap_or(if args.quick { 3 } else { 600 })),
        };
        let report = bfd::run(&keeld, &sizes)?;
        if args.json {
            crate::say!(outln, "{}", serde_json::to_string_pretty(&report)?);
        } else {
            crate::say!(outln, "{}", bfd::text(&report));
        }
        return Ok(report.ok);
    }
    let keel_cli = std::env::current_exe().context("cannot find the keel executable")?;
    let sizes = Sizes {
        routes: args.routes.unwrap_or(if args.quick { 20_000 } else { 1_050_000 }),
        testers: if !args.testers.is_empty() {
            args.testers.clone()
        } else if args.quick {
            vec![1, 2]
        } else {
            vec![1, 10]
        },
        churn_seconds: args.churn_seconds.unwrap_or(if args.quick { 3 } else { 20 }),
        quiet: Duration::from_millis(if args.quick { 1000 } else { 2000 }),
        converge_timeout: Duration::from_secs(if args.quick { 90 } else { 1200 }),
    };
    if sizes.routes == 0 || sizes.testers.iter().any(|&k| k == 0 || k > 200) {
        bail!("--routes must be at least 1 and --testers between 1 and 200");
    }
    // `--scenarios bmp` is `--bmp`.
    let bmp = args.bmp || args.scenarios == [Scenario::Bmp];
    if bmp && (args.duts.iter().any(|d| *d != DutKind::Keel) || args.feeder == FeederKind::Bird) {
        bail!("--bmp runs keel alone, fed by keel's speaker");
    }
    let mut duts: Vec<DutKind> = if bmp {
        vec![DutKind::Keel]
    } else if args.duts.is_empty() {
        DutKind::ALL.iter().copied().filter(|d| d.installed()).collect()
    } else {
        args.duts.clone()
    };
    duts.dedup();
    if args.feeder == FeederKind::Bird {
        if !root {
            bail!("--feeder bird needs root (each BIRD listens on port 179 of its address)");
        }
        if !DutKind::Bird.installed() {
            bail!("--feeder bird: bird is not installed (apt-get install -y --no-install-recommends bird2)");
        }
        if args.scenarios.contains(&Scenario::Churn) {
            bail!("--feeder bird runs converge, helper and restart (not churn yet)");
        }
        if args.duts.contains(&DutKind::Direct) {
            bail!("--feeder bird does not run the direct baseline yet");
        }
        duts.retain(|d| *d != DutKind::Direct);
    }
    for d in &duts {
        if !d.installed() {
            bail!("{} is not installed", d.name());
        }
        if !root && !matches!(d, DutKind::Keel | DutKind::Direct) {
            bail!("{} needs port 179, so root: run as root or with --duts keel,direct", d.name());
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let max_testers = sizes.testers.iter().copied().max().unwrap_or(1);
    let t = Instant::now();
    let spec = TableSpec { ipv4_routes: sizes.routes, ipv6_routes: 0, ..TableSpec::default() };
    let tables: Vec<Table> = (0..max_testers).map(|i| Table::generate(&spec.for_peer(i as u32))).collect();
    let opts = CodecOptions::default();
    let mut feeds = Vec::new();
    for table in &tables {
        let mut feed = Vec::new();
        table.write_family(Family::IPV4_UNICAST, &opts, &mut feed)?;
        feeds.push(Arc::new(feed));
    }
    let expected = {
        let mut set = rustc_hash::FxHashSet::default();
        // The testers share their prefixes (only paths differ), so tester 0's are all of them.
        for g in tables[0].family(Family::IPV4_UNICAST) {
            set.extend(g.prefixes.iter().map(|n| n.prefix));
        }
        set.len()
    };
    crate::say!(errln,
        "keel bench: {max_testers} table(s) of {} IPv4 prefixes ({expected} distinct, {:.1} MB each) generated in {:.1} s",
        sizes.routes,
        feeds[0].len() as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let base = std::env::temp_dir().join(format!("keel-bench-{}", std::process::id()));
    let mut rows = Vec::new();
    for &kind in &duts {
        let ctx = Ctx {
            kind,
            tables: &tables,
            feeds: &feeds,
            expected,
            sizes: &sizes,
            port,
            keeld: keeld.clone(),
            keel_cli: keel_cli.clone(),
            dir: base.join(kind.name()),
            feeder: args.feeder,
            station: std::cell::Cell::new(bmp::Station::None),
        };
        let r = if bmp { runtime.block_on(ctx.bmp()) } else { runtime.block_on(ctx.all(&args.scenarios)) };
        for row in &r {
            crate::say!(errln, "keel bench: {}", report::line(row));
        }
        rows.extend(r);
    }
    let _ = std::fs::remove_dir_all(&base);
    let ok = rows.iter().all(|r| r.ok);
    if args.json {
        crate::say!(outln, "{}", serde_json::to_string_pretty(&rows)?);
    } else {
        crate::say!(out, "{}", report::tables(&rows));
    }
    if args.markdown.is_some() || args.svg.is_some() {
        let versions: Vec<(String, String)> = duts.iter().map(|d| (d.name().to_string(), d.version(&keeld))).collect();
        if let Some(p) = &args.svg {
            std::fs::write(p, report::svg(&rows)).with_context(|| format!("cannot write {}", p.display()))?;
        }
        if let Some(p) = &args.markdown {
            let svg = args.svg.as_ref().and_then(|s| s.file_name()).map(|s| s.to_string_lossy().to_string());
            let text = report::markdown(&rows, &versions, svg.as_deref());
            std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display()))?;
        }
    }
    Ok(ok)
}

struct Ctx<'a> {
    kind: DutKind,
    tables: &'a [Table],
    feeds: &'a [Arc<Vec<u8>>],
    expected: usize,
    sizes: &'a Sizes,
    port: u16,
    keeld: PathBuf,
    keel_cli: PathBuf,
    dir: PathBuf,
    feeder: FeederKind,
    /// `--bmp`: the DUT's station in the next [`Ctx::converge`].
    station: std::cell::Cell<bmp::Station>,
}

/// A converged setup: the DUT, its monitor and its testers.
struct Setup {
    dut: Option<Dut>,
    monitor: Monitor,
    testers: Vec<Tester>,
    /// `--feeder bird`: the BIRD testers (`testers` is then empty).
    feeders: Vec<BirdFeeder>,
    layout: Layout,
    /// `--bmp`: the DUT's station.
    pmbmpd: Option<crate::daemons::pmacct::Pmbmpd>,
}

impl Ctx<'_> {
    fn row(&self, scenario: Scenario, testers: usize) -> Row {
        Row {
            scenario: scenario.name().into(),
            dut: self.kind.name().into(),
            feeder: self.feeder.name().into(),
            testers,
            routes: self.sizes.routes,
            expected: self.expected,
            ..Row::default()
        }
    }

    async fn all(&self, scenarios: &[Scenario]) -> Vec<Row> {
        let mut rows = Vec::new();
        let first = self.sizes.testers.first().copied().unwrap_or(1);
        // Helper before churn: its ideal (only the 1% it changes) holds against the converged
        // table; restart last, on whatever the tester holds by then.
        let later: Vec<Scenario> = [Scenario::Helper, Scenario::Churn, Scenario::Restart]
            .into_iter()
            .filter(|s| scenarios.contains(s))
            .collect();
        let converge = scenarios.contains(&Scenario::Converge);
        for (i, &k) in self.sizes.testers.iter().enumerate() {
            // The first tester count's setup is kept for the later scenarios.
            let keep = i == 0 && !later.is_empty();
            if !converge && !keep {
                continue;
            }
            let mut row = self.row(Scenario::Converge, k);
            let setup = self.converge(k, &mut row).await;
            if let Err(e) = &setup {
                row.note = format!("{e:#}");
            }
            if converge {
                rows.push(row.clone());
            }
            if !keep {
                continue;
            }
            let mut setup = match setup {
                Ok(s) if row.ok => s,
                other => {
                    let why = match other {
                        Err(e) => format!("{e:#}"),
                        Ok(_) => format!("did not converge: {}", row.note),
                    };
                    for s in &later {
                        let mut r = self.row(*s, first);
                        r.note = why.clone();
                        rows.push(r);
                    }
                    continue;
                }
            };
            for s in &later {
                let mut r = self.row(*s, first);
                let res = match s {
                    Scenario::Churn => self.churn(&mut setup, &mut r).await,
                    Scenario::Helper => self.helper(&mut setup, &mut r).await,
                    Scenario::Restart => self.restart(&mut setup, &mut r).await,
                    Scenario::Converge | Scenario::Bmp => Ok(()),
                };
                if let Err(e) = res {
                    r.ok = false;
                    r.note = format!("{e:#}");
                }
                r.monitor_prefixes = setup.monitor.snapshot(|s| s.prefixes.len());
                rows.push(r);
            }
        }
        rows
    }

    fn sample(setup: &mut Setup) -> (f64, u64) {
        for f in &mut setup.feeders {
            f.sample();
        }
        setup.dut.as_mut().map_or((0.0, 0), |d| d.sample())
    }

    /// CPU seconds of every BIRD feeder together.
    fn feeders_cpu(setup: &mut Setup) -> f64 {
        setup.feeders.iter_mut().map(|f| f.sample().0).sum()
    }

    /// The BIRD feeders' CPU seconds since `cpu0` and their peak resident sets, summed.
    fn feeder_figures(setup: &mut Setup, row: &mut Row, cpu0: f64) {
        row.feeder_cpu_seconds = Some(Self::feeders_cpu(setup) - cpu0);
        row.feeder_peak_rss_mib = Some(setup.feeders.iter().map(|f| f.peak_kib).sum::<u64>() as f64 / 1024.0);
    }

    /// BIRD feeder `i`: its directory, its configuration (the session to the DUT `enabled` at
    /// once or not) and the session on which keel's loader gives it its table.
    fn feeder_plan(&self, layout: &Layout, i: usize, enabled: bool) -> (PathBuf, String, SpeakerConfig) {
        let (addr, asn) = layout.testers[i];
        let dir = self.dir.join(format!("feeder{i}"));
        let loader = layout.loader(i);
        let config = feeder::config(i, addr, asn, loader, layout.dut, &dir, enabled);
        let to_bird = SocketAddr::new(addr.into(), keel_api::BGP_PORT);
        (dir, config, peers::config(loader, to_bird, asn, false))
    }

    /// Waits until the monitor holds every prefix and nothing changed for the quiet period,
    /// sampling the DUT; the time of the last change.
    async fn settle(
        &self,
        setup: &mut Setup,
        after: Instant,
        timeout: Duration,
        ready: impl Fn(&Setup) -> bool,
    ) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Self::sample(setup);
            let (count, last) = setup.monitor.snapshot(|s| (s.prefixes.len(), s.last_change));
            let now = Instant::now();
            if count == self.expected && ready(setup) {
                let last = last.unwrap_or(after).max(after);
                if now.duration_since(last) >= self.sizes.quiet {
                    return Some(last);
                }
            }
            if now > deadline {
                return None;
            }
        }
    }

    async fn converge(&self, k: usize, row: &mut Row) -> Result<Setup> {
        let asns: Vec<u32> = self.tables[..k].iter().map(|t| t.peer_as).collect();
        let layout = Layout::pick(&asns, self.port)?;
        let station = self.station.get();
        let pmbmpd = match station {
            bmp::Station::Live => Some(bmp::start_pmbmpd(&self.dir.join("pmbmpd"), layout.station())?),
            _ => None,
        };
        let address = (station != bmp::Station::None).then(|| layout.station());
        let dut = match self.kind {
            DutKind::Direct => None,
            kind => Some(Dut::start_with_station(kind, self.dir.clone(), &layout, &self.keeld, address)?),
        };
        let monitor = match dut {
            None => Monitor::direct(layout.dut).await?,
            Some(_) => Monitor::to_dut(layout.monitor, layout.dut),
        };
        let mut setup = Setup { dut, monitor, testers: Vec::new(), feeders: Vec::new(), layout, pmbmpd };
        if self.feeder == FeederKind::Bird {
            // Preloaded before the clock starts: BIRD parses its table while the DUT idles.
            let timeout = self.sizes.converge_timeout;
            for i in 0..setup.layout.testers.len() {
                let (dir, config, loader) = self.feeder_plan(&setup.layout, i, false);
                let feed =
                    feeder::loader_feed(&self.tables[i], setup.layout.testers[i].1, setup.layout.loader(i), None)?.0;
                let f = BirdFeeder::start(dir, config, loader, Arc::new(feed), self.expected, timeout).await?;
                setup.feeders.push(f);
            }
        }
        if setup.dut.is_some() {
            let deadline = Instant::now() + Duration::from_secs(30);
            while setup.monitor.snapshot(|s| s.sessions_up) == 0 {
                if Instant::now() > deadline {
                    bail!("the monitor's session with {} did not come up", self.kind.name());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let (cpu0, _) = Self::sample(&mut setup);
        let feeders_cpu0 = Self::feeders_cpu(&mut setup);
        let start = Instant::now();
        // `--feeder bird`: (when enabled, BIRD's clock at that moment) per feeder.
        let mut enabled = Vec::new();
        if self.feeder == FeederKind::Bird {
            for f in &mut setup.feeders {
                f.wake();
            }
            for f in &setup.feeders {
                let now = Instant::now();
                enabled.push((now, f.enable()?));
            }
        } else {
            for (i, (addr, asn)) in setup.layout.testers.clone().into_iter().enumerate() {
                let cfg = peers::config(addr, setup.layout.dut, asn, false);
                setup.testers.push(Tester::start(cfg, self.feeds[i].clone(), setup.dut.is_some()));
            }
        }
        let last = self
            .settle(&mut setup, start, self.sizes.converge_timeout, |s| s.testers.iter().all(|t| t.done().is_some()))
            .await;
        let (cpu1, _) = Self::sample(&mut setup);
        // BIRD connects some time after `enable` (its connect delay, about 0.8 s even at 0):
        // the clock starts when the first feeder's session came up, on BIRD's own clock.
        let start = if setup.feeders.is_empty() {
            start
        } else {
            let up = setup.feeders.iter().zip(&enabled).filter_map(|(f, (at, since))| {
                let delay = feeder::session_delay((*since)?, f.established_since()?);
                Some(*at + delay)
            });
            match up.min() {
                Some(up) => {
                    row.session_seconds = Some(up.saturating_duration_since(start).as_secs_f64());
                    up
                }
                None => start,
            }
        };
        if !setup.feeders.is_empty() {
            Self::feeder_figures(&mut setup, row, feeders_cpu0);
        }
        let (count, updates, announced, withdrawn, eor) =
            setup.monitor.snapshot(|s| (s.prefixes.len(), s.updates, s.announced, s.withdrawn, s.end_of_rib.is_some()));
        row.monitor_prefixes = count;
        row.updates = updates;
        row.announced = announced;
        row.withdrawn = withdrawn;
        row.changed_at_monitor = setup.monitor.snapshot(|s| s.changed);
        row.end_of_rib = eor;
        row.feed_seconds = setup.testers.iter().filter_map(|t| t.done()).max().map(|d| (d - start).as_secs_f64());
        if setup.dut.is_some() {
            row.cpu_seconds = Some(cpu1 - cpu0);
            row.peak_rss_mib = setup.dut.as_ref().map(|d| d.peak_kib as f64 / 1024.0);
        }
        match last {
            Some(last) => {
                row.ok = true;
                row.seconds = Some(last.saturating_duration_since(start).as_secs_f64());
            }
            None => {
                row.note = format!("timeout: {count}/{} prefixes at the monitor", self.expected);
                if let Some(f) = setup.feeders.first() {
                    row.note += &format!("; feeder 0's bird.log ends with: {}", f.log_tail().replace('\n', " | "));
                }
            }
        }
        Ok(setup)
    }

    /// Tester 0's groups with 1% of the prefixes (every hundredth group, at least one)
    /// carrying the tag community of `round`: (bytes, prefixes changed).
    fn tagged(&self, round: u16, offset: usize, only_changed: bool) -> Result<(Vec<u8>, u64)> {
        let opts = CodecOptions::default();
        let mut out = Vec::new();
        let mut changed = 0u64;
        let table = &self.tables[0];
        let groups: Vec<_> = table.family(Family::IPV4_UNICAST).collect();
        for (i, g) in groups.iter().enumerate() {
            if peers::tagged_group(i, offset, groups.len()) {
                let mut attrs = g.attributes.clone();
                attrs.communities.push(peers::tag(round));
                builder::announce(g.family, &attrs, g.next_hop, &g.prefixes, &opts, &mut out)?;
                changed += g.prefixes.len() as u64;
            } else if !only_changed {
                builder::announce(g.family, &g.attributes, g.next_hop, &g.prefixes, &opts, &mut out)?;
            }
        }
        if !only_changed {
            out.extend_from_slice(&keel_wire::Update::end_of_rib(Family::IPV4_UNICAST).encode(&opts)?);
        }
        Ok((out, changed))
    }

    async fn churn(&self, setup: &mut Setup, row: &mut Row) -> Result<()> {
        // A slow DUT may still be reading the table a helper run re-sent.
        let deadline = Instant::now() + self.sizes.converge_timeout;
        while setup.testers[0].done().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        setup.monitor.reset_counters();
        let (cpu0, _) = Self::sample(setup);
        let start = Instant::now();
        let mut sent = 0u64;
        for round in 0..self.sizes.churn_seconds as u16 {
            let (bytes, changed) = self.tagged(round, round as usize, true)?;
            setup.monitor.rounds.lock().unwrap_or_else(|e| e.into_inner()).push(Instant::now());
            if !setup.testers[0].send(&bytes).await {
                bail!("tester 0 lost its session during churn");
            }
            sent += changed;
            let next = start + Duration::from_secs(round as u64 + 1);
            while Instant::now() < next {
                Self::sample(setup);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            Self::sample(setup);
            let (n, last) = setup.monitor.snapshot(|s| (s.delays_ms.len() as u64, s.last_change));
            let quiet = last.is_none_or(|l| l.elapsed() >= self.sizes.quiet);
            if (n >= sent && quiet) || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (cpu1, _) = Self::sample(setup);
        let mut delays = setup.monitor.snapshot(|s| s.delays_ms.clone());
        delays.sort_by(|a, b| a.total_cmp(b));
        let pct = |p: f64| delays.get(((delays.len() as f64 - 1.0) * p).round() as usize).copied();
        row.p50_ms = pct(0.5);
        row.p99_ms = pct(0.99);
        row.delays = delays.len();
        row.changed = Some(sent);
        setup.monitor.snapshot(|s| {
            row.updates = s.updates;
            row.announced = s.announced;
            row.changed_at_monitor = s.changed;
            row.withdrawn = s.withdrawn;
        });
        if setup.dut.is_some() {
            row.cpu_seconds = Some(cpu1 - cpu0);
        }
        row.ok = delays.len() as u64 >= sent;
        if !row.ok {
            row.note = format!("{} of {sent} changed prefixes arrived", delays.len());
        }
        // Back to the tester's table, so a later restart re-sends what the DUT holds.
        let feed = setup.testers[0].feed.clone();
        if !setup.testers[0].send(&feed).await {
            bail!("tester 0 lost its session during churn");
        }
        self.settle(setup, Instant::now(), Duration::from_secs(120), |_| true).await;
        Ok(())
    }

    async fn helper(&self, setup: &mut Setup, row: &mut Row) -> Result<()> {
        if !setup.feeders.is_empty() {
            return self.helper_bird(setup, row).await;
        }
        let (feed, changed) = self.tagged(u16::MAX, 0, false)?;
        let (addr, asn) = setup.layout.testers[0];
        let old = setup.testers.remove(0);
        let (cpu0, _) = Self::sample(setup);
        old.vanish().await;
        // Let the DUT notice the lost session and mark the tester's routes stale.
        tokio::time::sleep(Duration::from_millis(500)).await;
        setup.monitor.reset_counters();
        let cfg = peers::config(addr, setup.layout.dut, asn, true);
        let start = Instant::now();
        setup.testers.insert(0, Tester::start(cfg, Arc::new(feed), setup.dut.is_some()));
        // Ready once the tester sent its End-of-RIB and the monitor got every changed prefix
        // (or 20 s passed: then the shortfall shows in the row).
        let seen = setup.monitor.seen.clone();
        let enough = move |s: &Setup| {
            let announced = seen.lock().map(|g| g.announced).unwrap_or(0);
            s.testers[0].done().is_some_and(|d| announced >= changed || d.elapsed() > Duration::from_secs(20))
        };
        let last = self.settle(setup, start, self.sizes.converge_timeout, enough).await;
        let eor_sent = setup.testers[0].done();
        Self::helper_figures(setup, row, changed, cpu0, last, eor_sent);
        Ok(())
    }

    /// A helper row's figures: what the monitor got, the DUT's CPU since `cpu0`, and the time
    /// from the End-of-RIB the DUT was given (`eor`) to the `last` change at the monitor.
    fn helper_figures(
        setup: &mut Setup,
        row: &mut Row,
        changed: u64,
        cpu0: f64,
        last: Option<Instant>,
        eor: Option<Instant>,
    ) {
        let (cpu1, _) = Self::sample(setup);
        setup.monitor.snapshot(|s| {
            row.updates = s.updates;
            row.announced = s.announced;
            row.changed_at_monitor = s.changed;
            row.withdrawn = s.withdrawn;
        });
        row.changed = Some(changed);
        if setup.dut.is_some() {
            row.cpu_seconds = Some(cpu1 - cpu0);
        }
        match (last, eor) {
            (Some(last), Some(eor)) => {
                row.ok = true;
                row.seconds = Some(last.saturating_duration_since(eor).as_secs_f64());
            }
            _ => row.note = "the monitor did not get back every prefix".into(),
        }
    }

    /// `helper` with BIRD feeders: feeder 0 restarts gracefully (`birdc graceful restart`,
    /// `bird -R`) and keel's loader gives it its table again with 1% changed; the time runs
    /// from the loader's End-of-RIB to BIRD (its recovery ends there, and it re-sends its whole
    /// table to the DUT) to the DUT's last UPDATE.
    async fn helper_bird(&self, setup: &mut Setup, row: &mut Row) -> Result<()> {
        let (_, config, loader) = self.feeder_plan(&setup.layout, 0, true);
        let asn = setup.layout.testers[0].1;
        let (feed, changed) =
            feeder::loader_feed(&self.tables[0], asn, setup.layout.loader(0), Some(peers::tag(u16::MAX)))?;
        let (cpu0, _) = Self::sample(setup);
        let feeders_cpu0 = Self::feeders_cpu(setup);
        // The monitor counts from here: a withdrawal when the feeder goes would show.
        setup.monitor.reset_counters();
        setup.feeders[0].graceful_restart(&config, loader, Arc::new(feed)).await?;
        let start = Instant::now();
        let seen = setup.monitor.seen.clone();
        setup.feeders[0].wake();
        let enough = move |s: &Setup| {
            let announced = seen.lock().map(|g| g.announced).unwrap_or(0);
            s.feeders[0].loader_done().is_some_and(|d| announced >= changed || d.elapsed() > Duration::from_secs(60))
        };
        let last = self.settle(setup, start, self.sizes.converge_timeout, enough).await;
        let eor = setup.feeders[0].loader_done();
        Self::helper_figures(setup, row, changed, cpu0, last, eor);
        Self::feeder_figures(setup, row, feeders_cpu0);
        Ok(())
    }

    async fn restart(&self, setup: &mut Setup, row: &mut Row) -> Result<()> {
        let Some(dut) = setup.dut.as_mut() else {
            row.ok = true;
            row.note = "no daemon to restart".into();
            return Ok(());
        };
        let (cpu0, _) = dut.sample();
        setup.monitor.reset_counters();
        let (ups, graceful) = setup.monitor.snapshot(|s| (s.sessions_up, s.dut_restart_state.is_some()));
        let start = Instant::now();
        let kind = self.kind;
        let keel_cli = self.keel_cli.clone();
        let mut dut = setup.dut.take().context("no DUT")?;
        let dut = tokio::task::spawn_blocking(move || dut.graceful_restart(&keel_cli).map(|_| dut)).await??;
        setup.dut = Some(dut);
        let deadline = Instant::now() + Duration::from_secs(if self.sizes.routes > 100_000 { 600 } else { 120 });
        let eor = loop {
            Self::sample(setup);
            let (up, eor) = setup.monitor.snapshot(|s| (s.sessions_up, s.end_of_rib));
            if up > ups {
                if let Some(e) = eor {
                    break Some(e);
                }
            }
            if Instant::now() > deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        // Whatever follows the End-of-RIB counts too.
        let last = self.settle(setup, start, self.sizes.converge_timeout, |_| true).await;
        let (cpu1, _) = Self::sample(setup);
        setup.monitor.snapshot(|s| {
            row.updates = s.updates;
            row.announced = s.announced;
            row.changed_at_monitor = s.changed;
            row.withdrawn = s.withdrawn;
            row.end_of_rib = s.end_of_rib.is_some();
        });
        row.cpu_seconds = Some(cpu1 - cpu0);
        let restart_state = setup.monitor.snapshot(|s| s.dut_restart_state);
        let mut notes = Vec::new();
        if !graceful {
            notes.push(format!(
                "no GR capability in its OPEN: a real neighbor withdraws all {} prefixes at the session loss",
                self.expected
            ));
        } else if restart_state != Some(true) {
            notes.push("R=0 in its OPEN after the restart".to_string());
        }
        match (eor, last) {
            (Some(e), Some(_)) => {
                row.ok = true;
                row.seconds = Some((e - start).as_secs_f64());
            }
            (None, Some(_)) => {
                row.ok = true;
                notes.push(format!("{} sent no End-of-RIB to the monitor", kind.name()));
            }
            (Some(e), None) => {
                row.seconds = Some((e - start).as_secs_f64());
                notes.push("UPDATEs still arriving at the timeout".into());
            }
            (None, None) => notes.push("no End-of-RIB, and UPDATEs still arriving at the timeout".into()),
        }
        row.note = notes.join("; ");
        Ok(())
    }
}
