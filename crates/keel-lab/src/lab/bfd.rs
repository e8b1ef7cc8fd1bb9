//! `keel lab`'s BFD scenarios (issue 22), `--netns` only: keeld and an upstream keeld, each
//! with its own keel-bfdd, in two network namespaces joined by a veth pair, BFD at 100 ms x 3.
//!
//! ```text
//!  ns kl-PID-bk: keeld (AS 65001, kernel FIB)   bk0 192.0.2.1/24 --veth-- bu0 192.0.2.2/24   ns kl-PID-bu: keeld
//!                keel-bfdd (C=1), originates                                                  (AS 65002) + keel-bfdd,
//!                203.0.113.0/24                                                               originates N /28s of 198.18.0.0/16
//! ```
//!
//! - `bfd-link-down`: forwarding between the two dies while both links stay up (each side's
//!   ARP entry for the other points at a MAC address nobody has; no nftables needed, and the
//!   kernel removes no route as it would for a link down). The upstream's BFD sends C=1
//!   (keel-bfdd runs apart from its keeld), so by RFC 5882 §4.3 its Down is a forwarding
//!   failure and keeld flushes its routes with graceful restart too. Measured from the cut:
//!   keeld's BFD leaving Up, the routes leaving keeld's Loc-RIB, the last of them leaving the
//!   kernel FIB of keeld's namespace; judged against the Detection Time plus [`SLACK`].
//! - `bfd-restart`: keeld gets SIGTERM and starts again; the upstream's BFD session, read from
//!   its keeld every 20 ms, must never leave Up (keel-bfdd runs on), and with graceful restart
//!   the upstream keeps keel's route throughout.
//!
//! Each run builds the topology afresh (N = `--routes`, at most [`MAX_ROUTES`]) and ends
//! every process it started by pid: both keelds, and both keel-bfdds (detached from keeld, by
//! the pid in their lock files). The namespaces go with their [`Namespace`] handles.

use super::results::{BfdFigures, ScenarioResult};
use super::scenario::Scenario;
use super::topology::Lab;
use crate::keeld::Keeld;
use crate::netns::{veth, Namespace};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The most routes the upstream originates (each a `[[network]]` of its configuration).
pub const MAX_ROUTES: usize = 1000;
/// What polling adds to the Detection Time in the judgement: the loop reads keeld's API and
/// runs `ip route` each round.
pub const SLACK: Duration = Duration::from_millis(700);
/// BFD's intervals and multiplier in the lab.
const INTERVAL_MS: u32 = 100;
const MULTIPLIER: u8 = 3;
const KEEL: &str = "192.0.2.1";
const UPSTREAM: &str = "192.0.2.2";
/// keel's own route, which the upstream must keep through `bfd-restart` with GR.
const KEEL_ROUTE: &str = "203.0.113.0/24";
/// A MAC address nobody has (RFC 7042 documentation range).
const NOBODY: &str = "02:00:5e:00:53:99";
/// How long setting up and settling may take.
const WAIT: Duration = Duration::from_secs(60);

/// The upstream's `i`-th route: /28s from 198.18.0.0.
fn upstream_route(i: usize) -> String {
    format!("198.18.{}.{}/28", i / 16, (i % 16) * 16)
}

/// One run's topology.
struct Topology {
    keeld: Keeld,
    upstream: Keeld,
    routes: usize,
    // Dropped after the processes (fields drop in order).
    k: Namespace,
    u: Namespace,
}

impl Topology {
    fn build(lab: &Lab, tag: &str, graceful_restart: bool, routes: usize) -> Result<Topology> {
        let id = std::process::id();
        let k = Namespace::create(&format!("kl-{id}-bk{tag}"))?;
        let u = Namespace::create(&format!("kl-{id}-bu{tag}"))?;
        veth(&k, "bk0", &u, "bu0")?;
        for (ns, dev, address) in [(&k, "bk0", KEEL), (&u, "bu0", UPSTREAM)] {
            ns.ip(&["addr", "add", &format!("{address}/24"), "dev", dev])?;
            ns.ip(&["link", "set", dev, "up"])?;
        }
        let dir = lab.dir.path().join(format!("bfd-{tag}"));
        let log = std::env::var("KEEL_LAB_LOG").unwrap_or_else(|_| "info".into());
        let start = |name: &str, ns: &Namespace, config: String| -> Result<Keeld> {
            let mut keeld = Keeld::new(lab.keeld_exe.clone(), dir.join(name))?
                .in_netns(ns)
                .env("KEEL_LOG", &log)
                .own_process_group();
            keeld.write_config(&config)?;
            keeld.start()?;
            Ok(keeld)
        };
        let networks: String =
            (0..routes).map(|i| format!("[[network]]\nprefix = \"{}\"\n", upstream_route(i))).collect();
        let own = format!("[[network]]\nprefix = \"{KEEL_ROUTE}\"\n");
        let keeld = start("keel", &k, config(&dir.join("keel"), 1, graceful_restart, true, &own))?;
        let upstream = start("upstream", &u, config(&dir.join("upstream"), 2, graceful_restart, false, &networks))?;
        Ok(Topology { keeld, upstream, routes, k, u })
    }

    fn view(&self) -> View<'_> {
        View { keeld: &self.keeld, upstream: &self.upstream, k: &self.k, routes: self.routes }
    }

    /// Every packet between the two is dropped; the links stay up.
    fn cut(&self) -> Result<()> {
        for (ns, dev, other) in [(&self.k, "bk0", UPSTREAM), (&self.u, "bu0", KEEL)] {
            ns.ip(&["neigh", "replace", other, "lladdr", NOBODY, "dev", dev, "nud", "permanent"])?;
        }
        Ok(())
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let bfdds = [bfdd_pid(&self.keeld), bfdd_pid(&self.upstream)];
        for k in [&self.keeld, &self.upstream] {
            k.stop(libc::SIGKILL, Duration::from_secs(5));
        }
        for pid in bfdds.into_iter().flatten().filter(|&p| p > 0) {
            // SAFETY: kill(2) on the keel-bfdd this run's keeld started (its lock file's pid).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// The keel-bfdd serving `keeld` (the pid in its lock file beside the sockets).
fn bfdd_pid(keeld: &Keeld) -> Option<i32> {
    std::fs::read_to_string(keeld.dir().join("bfdd.lock")).ok()?.trim().parse().ok()
}

/// What the readings need, borrowed apart from keeld's handle (restarted meanwhile).
#[derive(Clone, Copy)]
struct View<'a> {
    keeld: &'a Keeld,
    upstream: &'a Keeld,
    k: &'a Namespace,
    routes: usize,
}

impl View<'_> {
    /// Routes in keeld's kernel FIB through the upstream.
    fn kernel_routes(&self) -> usize {
        let out = self.k.ip(&["-4", "route", "show"]).unwrap_or_default();
        let via = format!("via {UPSTREAM} ");
        out.lines().filter(|l| l.contains(&via)).count()
    }

    fn keel_neighbor(&self) -> Value {
        self.keeld.neighbor(UPSTREAM).unwrap_or(Value::Null)
    }

    fn upstream_neighbor(&self) -> Value {
        self.upstream.neighbor(KEEL).unwrap_or(Value::Null)
    }

    fn upstream_has_keel_route(&self) -> bool {
        self.upstream.routes(&format!("prefix={KEEL_ROUTE}")).is_ok_and(|r| !r.is_empty())
    }

    fn keel_has(&self, prefix: &str) -> bool {
        self.keeld.routes(&format!("prefix={prefix}")).is_ok_and(|r| !r.is_empty())
    }

    /// BGP established and BFD Up on both sides, every upstream route in keeld's kernel FIB,
    /// keel's route at the upstream.
    fn ready(&self) -> bool {
        let up = |n: &Value| n["state"] == "established" && n["bfd"]["state"] == "up";
        up(&self.keel_neighbor())
            && up(&self.upstream_neighbor())
            && self.kernel_routes() == self.routes
            && self.upstream_has_keel_route()
    }

    fn wait_ready(&self, what: &str) -> Result<Duration> {
        let start = Instant::now();
        while !self.ready() {
            self.keeld.check_running()?;
            self.upstream.check_running()?;
            if start.elapsed() > WAIT {
                bail!(
                    "{what}: not ready within {WAIT:?} (BGP and BFD up both ways, {} routes in the kernel FIB: {}); \
                     keeld's log ends with:\n{}",
                    self.routes,
                    self.kernel_routes(),
                    self.keeld.log_tail(15)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(start.elapsed())
    }
}

/// keeld number `me` (192.0.2.`me`, AS 6500`me`) peering with the other, BFD at 100 ms x 3.
fn config(dir: &Path, me: u8, graceful_restart: bool, fib: bool, networks: &str) -> String {
    let peer = 3 - me;
    format!(
        "# keel lab: BFD scenarios, keeld {me}\n[global]\nasn = {asn}\nrouter_id = \"192.0.2.{me}\"\n\
         listen = [\"192.0.2.{me}:179\"]\napi = \"{dir}/keel.sock\"\nstate_dir = \"{dir}\"\n\n\
         [graceful_restart]\nmode = \"{mode}\"\nrestart_time = 30\nselection_deferral_time = 5\n\n\
         {fib}[bfd]\nmin_tx_ms = {INTERVAL_MS}\nmin_rx_ms = {INTERVAL_MS}\nmultiplier = {MULTIPLIER}\n\n\
         [[neighbor]]\naddress = \"192.0.2.{peer}\"\nasn = {peer_asn}\nlocal_address = \"192.0.2.{me}\"\n\
         connect_retry_time = 1\nbfd = true\nimport = \"all\"\nexport = \"all\"\n\n{networks}",
        asn = 65000 + u32::from(me),
        peer_asn = 65000 + u32::from(peer),
        dir = dir.display(),
        mode = if graceful_restart { "restart" } else { "disabled" },
        fib = if fib { "[fib]\nenabled = true\n\n" } else { "" },
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What a run measured, besides [`BfdFigures`].
struct Outcome {
    routes: u64,
    routes_removed: u64,
    settled: bool,
    disrupted: bool,
    settle_time: Duration,
}

/// `bfd-link-down`: the cut, then every round until all three happened (10 s at most):
/// keeld's BFD leaves Up, the first and last upstream routes leave its Loc-RIB, the upstream's
/// routes leave its kernel FIB.
fn link_down(topo: &Topology, bfd: &mut BfdFigures) -> Result<Outcome> {
    let v = topo.view();
    let (first, last) = (upstream_route(0), upstream_route(v.routes - 1));
    let t0 = Instant::now();
    topo.cut()?;
    while t0.elapsed() < Duration::from_secs(10)
        && (bfd.bfd_down_ms.is_none() || bfd.rib_ms.is_none() || bfd.fib_ms.is_none())
    {
        if bfd.fib_ms.is_none() && v.kernel_routes() == 0 {
            bfd.fib_ms = Some(ms(t0.elapsed()));
        }
        if bfd.bfd_down_ms.is_none() && v.keel_neighbor()["bfd"]["state"] != "up" {
            bfd.bfd_down_ms = Some(ms(t0.elapsed()));
        }
        if bfd.rib_ms.is_none() && !v.keel_has(&first) && !v.keel_has(&last) {
            bfd.rib_ms = Some(ms(t0.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let settle_time = t0.elapsed();
    bfd.flaps = v.keel_neighbor()["bfd"]["flaps"].as_u64().unwrap_or(0);
    Ok(Outcome {
        routes: v.routes as u64,
        routes_removed: (v.routes - v.kernel_routes().min(v.routes)) as u64,
        settled: bfd.fib_ms.is_some() && bfd.rib_ms.is_some(),
        disrupted: bfd.bfd_down_ms.is_some(),
        settle_time,
    })
}

/// `bfd-restart`: SIGTERM to keeld and a new one, while another thread reads the upstream's
/// BFD session and keel's route there every 20 ms, until all is back.
fn restart(topo: &mut Topology, bfd: &mut BfdFigures) -> Result<Outcome> {
    let bfdd_before = bfdd_pid(&topo.keeld);
    let t0 = Instant::now();
    let stop = AtomicBool::new(false);
    let Topology { keeld, upstream, k, routes, .. } = topo;
    let (upstream, k, routes) = (&*upstream, &*k, *routes);
    let (restarted, (stayed_up, kept)) = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let (mut up, mut route) = (true, true);
            while !stop.load(Ordering::Relaxed) {
                let n = upstream.neighbor(KEEL).unwrap_or(Value::Null);
                if !n.is_null() && n["bfd"]["state"] != "up" {
                    up = false;
                }
                if !upstream.routes(&format!("prefix={KEEL_ROUTE}")).is_ok_and(|r| !r.is_empty()) {
                    route = false;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (up, route)
        });
        let restarted = (|| -> Result<Duration> {
            keeld.stop(libc::SIGTERM, Duration::from_secs(15));
            keeld.start()?;
            View { keeld, upstream, k, routes }.wait_ready("after keeld's restart")
        })();
        stop.store(true, Ordering::Relaxed);
        (restarted, watcher.join().unwrap_or((false, false)))
    });
    bfd.neighbor_bfd_stayed_up = Some(stayed_up);
    bfd.same_keel_bfdd = Some(bfdd_before.is_some() && bfdd_pid(&topo.keeld) == bfdd_before);
    bfd.flaps = topo.view().upstream_neighbor()["bfd"]["flaps"].as_u64().unwrap_or(0);
    Ok(Outcome {
        routes: 1,
        routes_removed: u64::from(!kept),
        settled: restarted.is_ok(),
        disrupted: topo.keeld.pids().len() > 1,
        settle_time: t0.elapsed(),
    })
}

/// Runs `scenario` in one mode, the `index`-th run of the rehearsal; blocking (the caller
/// lends it a runtime thread).
pub(super) fn run(lab: &Lab, scenario: Scenario, graceful_restart: bool, index: usize) -> Result<ScenarioResult> {
    let mode = if graceful_restart { "GR" } else { "no GR" };
    let progress =
        |what: &str| lab.set_progress(Some(format!("{index}/{} {} {mode}: {what}", lab.runs, scenario.name())));
    let routes = lab.ipv4.clamp(1, MAX_ROUTES);
    let tag = format!("{}{}", if scenario == Scenario::BfdLinkDown { "l" } else { "r" }, u8::from(graceful_restart));
    progress("starting keeld and the upstream keeld, each with keel-bfdd");
    let mut topo = Topology::build(lab, &tag, graceful_restart, routes).context("the BFD topology")?;
    progress("waiting for BGP, BFD Up and the routes in the kernel FIB");
    topo.view().wait_ready("before the scenario")?;
    let first_pid = topo.keeld.pids().len().saturating_sub(1);
    let cpu_before = topo.keeld.cpu_total();
    let start = lab.now();
    let view = topo.view().keel_neighbor();
    let mut bfd = BfdFigures {
        detection_time_ms: view["bfd"]["detection_time_ms"].as_u64(),
        remote_control_plane_independent: view["bfd"]["remote_control_plane_independent"].as_bool(),
        on_down: view["bfd"]["on_down"].as_str().map(str::to_string),
        ..BfdFigures::default()
    };
    let default = u64::from(INTERVAL_MS) * u64::from(MULTIPLIER);
    let detection = Duration::from_millis(bfd.detection_time_ms.unwrap_or(default));
    bfd.limit_ms = (detection + SLACK).as_millis().try_into().unwrap_or(u64::MAX);
    let outcome = if scenario == Scenario::BfdLinkDown {
        progress("forwarding to the upstream cut, waiting for its routes to leave");
        link_down(&topo, &mut bfd)?
    } else {
        progress("SIGTERM to keeld and a new keeld, watching the upstream's BFD session");
        restart(&mut topo, &mut bfd)?
    };
    lab.set_progress(None);
    let end = lab.now();
    let keeld_pids = topo.keeld.pids()[first_pid..].to_vec();
    let mut result = ScenarioResult {
        scenario,
        graceful_restart,
        upstream: "keeld",
        observer: "keeld",
        routes_removed: outcome.routes_removed,
        updates: 0,
        fib_operations: None,
        packets_lost: None,
        seconds_to_end_of_rib: None,
        routes: outcome.routes,
        withdrawals: 0,
        announcements: 0,
        llgr_stale_routes: 0,
        seconds_to_settle: outcome.settle_time.as_secs_f64(),
        settled: outcome.settled,
        disrupted: outcome.disrupted,
        keel_cpu_seconds: topo.keeld.cpu_total() - cpu_before,
        keel_peak_rss_mib: 0.0,
        keeld_pids,
        expected: "",
        as_expected: false,
        bfd: Some(bfd),
        sessions_reset: None,
        last_upgrade: None,
        misses: Vec::new(),
        span: (start, end),
    };
    result.judge();
    Ok(result)
}
