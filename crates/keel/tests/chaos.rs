//! Chaos for the restarting speaker (issue 16): keeld with the kernel FIB, in namespaces this
//! test creates, is killed (SIGKILL), stopped (SIGTERM) and restarted (`keel restart`) at random
//! moments — during a load, during its selection deferral, during a neighbor's own graceful
//! restart — among neighbors that are fast, slow to send End-of-RIB, absent, or restarting
//! themselves. After every cycle the kernel holds exactly keel's best paths, and `ip monitor`
//! shows no deletion of a route whose best path did not change across the cycle (RFC 4724
//! §4.1: forwarding state is kept through the restart, and only what changed is touched).
//!
//! ```text
//!  ns r: keeld a 127.0.0.1 (AS 65001, FIB)   va 192.0.2.1/24, 2001:db8::1/64
//!        keeld b 127.0.0.2 (AS 65002): 198.51.100.0-127/32 via 192.0.2.2 (fast End-of-RIB)
//!        peer  c 127.0.0.3 (AS 65003, a thread of this test): 198.51.100.0-63/32 (a longer
//!              path, b wins) and 203.0.113.0-63/32 via 192.0.2.3, LOAD IPv6 /64s of
//!              2001:db8:1::/48 via 2001:db8::3; End-of-RIB at once, late, or never
//!        d 127.0.0.4 (AS 65004), configured in some cycles, never there
//! ```
//!
//! One exception to "no deletion", as RFC 4724 §4.1 has it: a neighbor that is restarting
//! itself when keel restarts comes back with R=1, and keel does not wait for its End-of-RIB
//! (both would wait for each other), so its routes may be re-learnt after keel's deferral
//! ends. Those prefixes are left out of that cycle's deletion check (counted in the output);
//! they must still be in the kernel, exactly, when the cycle converges.
//!
//! `KEEL_CHAOS_CYCLES` (default 6) and `KEEL_CHAOS_SEED` (default: from the clock, printed)
//! set the length and the schedule; the long form is in docs/benchmarks.md ("Robustness").

use crate::common::netns::{ip, Lab};
use crate::common::rng::Rng;
use crate::common::*;
use keel_lab::process::{Ending, Process, Spawn};
use keel_lab::speaker::{self, SpeakerConfig};
use keel_wire::attribute::{AsPath, Origin};
use keel_wire::capability::{GracefulRestart, GracefulRestartFamily};
use keel_wire::{builder, CodecOptions, Family, NextHop, Nlri, PathAttributes, Update};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// IPv6 routes c sends: the load keel installs while it may be killed.
const LOAD: u32 = 3000;
const DEFERRAL: u64 = 4;

// ---------------------------------------------------------------------------------------------
// Peer c: a scripted GR speaker in namespace r

/// When c sends End-of-RIB after its table.
#[derive(Debug, Clone, Copy)]
enum EndOfRib {
    AtOnce,
    After(Duration),
    Never,
}

struct PeerPlan {
    end_of_rib: EndOfRib,
    /// The next OPEN carries R=1 (c restarted).
    restarted: bool,
    /// Sessions c completed.
    sessions: u64,
}

enum PeerCmd {
    /// Drop the session without a NOTIFICATION and come back with R=1 (a GR restart of c).
    Restart,
    Stop,
}

struct ScriptedPeer {
    plan: Arc<Mutex<PeerPlan>>,
    cmds: tokio::sync::mpsc::UnboundedSender<PeerCmd>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn prefixes_c() -> (Vec<Nlri>, Vec<Nlri>, Vec<Nlri>) {
    let overlap = (0..64u8).map(|i| Nlri::new(format!("198.51.100.{i}/32").parse().expect("prefix"))).collect();
    let own = (0..64u8).map(|i| Nlri::new(format!("203.0.113.{i}/32").parse().expect("prefix"))).collect();
    let v6 = (0..LOAD).map(|i| Nlri::new(format!("2001:db8:1:{i:x}::/64").parse().expect("prefix"))).collect();
    (overlap, own, v6)
}

/// c's whole table as UPDATEs, and its End-of-RIB markers.
fn table_c() -> (Vec<u8>, Vec<u8>) {
    let opts = CodecOptions { four_octet_as: true, extended_message: true, add_path: Vec::new() };
    let (overlap, own, v6) = prefixes_c();
    let attrs = |path: Vec<u32>| PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::sequence(path)),
        ..Default::default()
    };
    let mut out = Vec::new();
    let v4 = NextHop::V4(Ipv4Addr::new(192, 0, 2, 3));
    builder::announce(Family::IPV4_UNICAST, &attrs(vec![65003, 65099]), v4, &overlap, &opts, &mut out).expect("encode");
    builder::announce(Family::IPV4_UNICAST, &attrs(vec![65003]), v4, &own, &opts, &mut out).expect("encode");
    let global: Ipv6Addr = "2001:db8::3".parse().expect("address");
    let hop = NextHop::V6 { global, link_local: None };
    builder::announce(Family::IPV6_UNICAST, &attrs(vec![65003]), hop, &v6, &opts, &mut out).expect("encode");
    let mut eor = Update::end_of_rib(Family::IPV4_UNICAST).encode(&opts).expect("encode");
    eor.extend(Update::end_of_rib(Family::IPV6_UNICAST).encode(&opts).expect("encode"));
    (out, eor)
}

impl ScriptedPeer {
    fn start(ns: &str) -> ScriptedPeer {
        let plan = Arc::new(Mutex::new(PeerPlan { end_of_rib: EndOfRib::AtOnce, restarted: false, sessions: 0 }));
        let (cmds, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (plan2, ns) = (plan.clone(), ns.to_string());
        let thread = std::thread::spawn(move || {
            // This thread only: the test's other threads stay where they are.
            let _entered = keel_lab::netns::enter(&ns).expect("setns");
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.3:179").await.expect("bind 127.0.0.3:179");
                ready_tx.send(()).expect("ready");
                let (table, eor) = table_c();
                loop {
                    let restarted = plan2.lock().expect("plan").restarted;
                    let cfg = SpeakerConfig {
                        local: IpAddr::from([127, 0, 0, 3]),
                        remote: SocketAddr::from(([127, 0, 0, 1], 179)),
                        asn: 65003,
                        router_id: Ipv4Addr::new(192, 0, 2, 203),
                        hold_time: 90,
                        families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
                        graceful_restart: Some(GracefulRestart {
                            restart_state: restarted,
                            notification: true,
                            restart_time: 120,
                            families: [Family::IPV4_UNICAST, Family::IPV6_UNICAST]
                                .map(|family| GracefulRestartFamily { family, forwarding_state: true })
                                .to_vec(),
                        }),
                        long_lived: Vec::new(),
                    };
                    let session = tokio::select! {
                        s = speaker::accept(&cfg, &listener) => s,
                        cmd = rx.recv() => match cmd {
                            Some(PeerCmd::Restart) => continue,
                            Some(PeerCmd::Stop) | None => return,
                        },
                    };
                    let Ok((mut reader, mut writer, _)) = session else { continue };
                    let end_of_rib = {
                        let mut p = plan2.lock().expect("plan");
                        p.restarted = false;
                        p.sessions += 1;
                        p.end_of_rib
                    };
                    if writer.send(&table).await.is_err() {
                        continue;
                    }
                    let eor_at = match end_of_rib {
                        EndOfRib::AtOnce => Some(tokio::time::Instant::now()),
                        EndOfRib::After(d) => Some(tokio::time::Instant::now() + d),
                        EndOfRib::Never => None,
                    };
                    let mut eor_sent = false;
                    let mut keepalive = tokio::time::interval(Duration::from_secs(10));
                    loop {
                        let eor_due = eor_at.filter(|_| !eor_sent);
                        tokio::select! {
                            m = reader.next() => if !matches!(m, Ok(Some(_))) { break },
                            _ = tokio::time::sleep_until(eor_due.unwrap_or_else(tokio::time::Instant::now)), if eor_due.is_some() => {
                                eor_sent = true;
                                if writer.send(&eor).await.is_err() { break }
                            }
                            _ = keepalive.tick() => if writer.keepalive().await.is_err() { break },
                            cmd = rx.recv() => match cmd {
                                Some(PeerCmd::Restart) => {
                                    plan2.lock().expect("plan").restarted = true;
                                    break;
                                }
                                Some(PeerCmd::Stop) | None => return,
                            },
                        }
                    }
                }
            });
        });
        ready_rx.recv_timeout(Duration::from_secs(5)).expect("peer c listening");
        ScriptedPeer { plan, cmds, thread: Some(thread) }
    }

    fn plan(&self, end_of_rib: EndOfRib) {
        self.plan.lock().expect("plan").end_of_rib = end_of_rib;
    }

    fn restart(&self) {
        let _ = self.cmds.send(PeerCmd::Restart);
    }
}

impl Drop for ScriptedPeer {
    fn drop(&mut self) {
        let _ = self.cmds.send(PeerCmd::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// keeld a and b

fn config_a(dir: &Path, with_d: bool) -> String {
    let mut c = format!(
        "[global]\nasn = 65001\nrouter_id = \"192.0.2.101\"\nlisten = [\"127.0.0.1:179\"]\napi = \"{0}/keel.sock\"\n\
         state_dir = \"{0}\"\n[graceful_restart]\nselection_deferral_time = {DEFERRAL}\n[fib]\nenabled = true\n",
        dir.display()
    );
    let mut neighbors = vec![(2, "")];
    neighbors.push((3, "families = [\"ipv4-unicast\", \"ipv6-unicast\"]\n"));
    if with_d {
        neighbors.push((4, ""));
    }
    for (last, extra) in neighbors {
        c.push_str(&format!(
            "[[neighbor]]\naddress = \"127.0.0.{last}\"\nasn = {}\nlocal_address = \"127.0.0.1\"\nconnect_retry_time = 1\n\
             hold_time = 30\nimport = \"all\"\nexport = \"all\"\n{extra}",
            65000 + last
        ));
    }
    c
}

fn config_b(dir: &Path) -> String {
    let mut c = format!(
        "[global]\nasn = 65002\nrouter_id = \"192.0.2.102\"\nlisten = [\"127.0.0.2:179\"]\napi = \"{0}/keel.sock\"\n\
         state_dir = \"{0}\"\n[[neighbor]]\naddress = \"127.0.0.1\"\nasn = 65001\nlocal_address = \"127.0.0.2\"\n\
         connect_retry_time = 1\nhold_time = 30\nimport = \"all\"\nexport = \"all\"\n",
        dir.display()
    );
    for i in 0..128 {
        c.push_str(&format!("[[network]]\nprefix = \"198.51.100.{i}/32\"\nnext_hop = \"192.0.2.2\"\n"));
    }
    c
}

/// keeld a: started, stopped and killed by this test; its directory (state, log) is kept
/// across runs, as /var/lib/keel is.
struct Dut {
    keeld: Keeld,
}

impl Dut {
    fn start(&mut self, with_d: bool) {
        self.keeld.write_config(&config_a(self.keeld.dir(), with_d)).expect("config");
        self.keeld.start().expect("start keeld a");
    }

    fn api(&self) -> std::path::PathBuf {
        self.keeld.api()
    }

    /// Sends `sig` and waits (20 s at most) for keeld a to exit.
    fn signal(&mut self, sig: libc::c_int) {
        if self.keeld.running() {
            self.keeld.signal(sig);
            assert!(self.keeld.wait_exit(Duration::from_secs(20)), "keeld a did not exit on signal {sig}");
        }
    }

    fn log_tail(&self) -> String {
        self.keeld.log_tail(40)
    }
}

// ---------------------------------------------------------------------------------------------
// What the kernel holds and what keel chose

/// A prefix as `ip route` prints it, made whole (`198.51.100.5` is a /32).
fn full_prefix(p: &str) -> String {
    if p.contains('/') {
        p.to_string()
    } else if p.contains(':') {
        format!("{p}/128")
    } else {
        format!("{p}/32")
    }
}

/// keel's kernel routes in namespace r: prefix -> gateway.
fn kernel(ns: &str) -> BTreeMap<String, String> {
    let mut routes = BTreeMap::new();
    for family in ["-4", "-6"] {
        for line in ip(&["-n", ns, family, "route", "show", "proto", "186"]).lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let via = f.iter().position(|w| *w == "via").and_then(|i| f.get(i + 1)).copied().unwrap_or("?");
            if let Some(p) = f.first() {
                routes.insert(full_prefix(p), via.to_string());
            }
        }
    }
    routes
}

/// keel's best paths: prefix -> next hop.
fn best(api: &Path) -> Option<BTreeMap<String, String>> {
    let v = json(api, &["show", "routes", "--json"])?;
    Some(
        v.as_array()?
            .iter()
            .filter(|r| r["best"] == true)
            .map(|r| {
                (r["prefix"].as_str().unwrap_or("?").to_string(), r["next_hop"].as_str().unwrap_or("?").to_string())
            })
            .collect(),
    )
}

/// The table keel must end each cycle with: b's routes win the overlap.
fn expected() -> BTreeMap<String, String> {
    let mut t = BTreeMap::new();
    for i in 0..128 {
        t.insert(format!("198.51.100.{i}/32"), "192.0.2.2".to_string());
    }
    for i in 0..64 {
        t.insert(format!("203.0.113.{i}/32"), "192.0.2.3".to_string());
    }
    for i in 0..LOAD {
        let p: keel_wire::Prefix = format!("2001:db8:1:{i:x}::/64").parse().expect("prefix");
        t.insert(p.to_string(), "2001:db8::3".to_string());
    }
    t
}

/// Waits until keel's best paths and the kernel both equal the expected table.
fn converge(dut: &Dut, lab: &Lab, what: &str) {
    let want = expected();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        let k = kernel(lab.r.name());
        match best(&dut.api()) {
            Some(b) if b == want && k == want => return,
            Some(b) => {
                last = format!(
                    "best: {} routes ({} as expected), kernel: {} routes ({} as expected), kernel == best: {}",
                    b.len(),
                    b.iter().filter(|(p, n)| want.get(*p) == Some(n)).count(),
                    k.len(),
                    k.iter().filter(|(p, n)| want.get(*p) == Some(n)).count(),
                    k == b
                );
                let odd: Vec<_> = b.iter().filter(|(p, n)| want.get(*p) != Some(n)).take(3).collect();
                let missing: Vec<_> = want.keys().filter(|p| !b.contains_key(*p)).take(3).collect();
                last.push_str(&format!("; unexpected {odd:?}, missing {missing:?}"));
            }
            None => last = "keeld a not answering".into(),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{what}: not converged in 60 s: {last}\nkeeld a log:\n{}", dut.log_tail());
}

/// Prefixes `ip monitor route` saw deleted (keel's protocol) in `text`.
fn deleted(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| l.contains("proto 186"))
        .filter_map(|l| l.split_once("Deleted ").map(|(_, r)| r))
        .filter_map(|r| r.split_whitespace().next())
        .map(full_prefix)
        .collect()
}

#[derive(Debug, Clone, Copy)]
enum Disruption {
    Kill,
    Term,
    KeelRestart,
}

fn disrupt(dut: &mut Dut, how: Disruption, with_d: bool) {
    match how {
        Disruption::Kill => {
            dut.signal(libc::SIGKILL);
            dut.start(with_d);
        }
        Disruption::Term => {
            dut.signal(libc::SIGTERM);
            dut.start(with_d);
        }
        Disruption::KeelRestart => {
            // The config on disk is what the re-executed keeld reads.
            dut.keeld.write_config(&config_a(dut.keeld.dir(), with_d)).expect("config");
            let (ok, out) = keel(&dut.api(), &["restart"]);
            if !ok {
                // Not up yet (an earlier disruption moments ago): kill it instead.
                eprintln!("keel restart refused ({}); SIGKILL instead", out.trim());
                dut.signal(libc::SIGKILL);
                dut.start(with_d);
            }
        }
    }
}

/// Runs `ip monitor route` in namespace r into a file for the whole test.
struct Monitor {
    _process: Process,
    path: std::path::PathBuf,
}

impl Monitor {
    fn start(ns: &str, path: std::path::PathBuf) -> Monitor {
        let _ = std::fs::remove_file(&path);
        let cmd = keel_lab::process::command("ip", &["-n", ns, "-ts", "monitor", "route"]);
        let mut p = Process::spawn("ip monitor", cmd, &Spawn { log: Some(path.clone()), ..Spawn::default() })
            .expect("ip monitor");
        p.ending = Ending::Kill;
        Monitor { _process: p, path }
    }
    fn len(&self) -> usize {
        std::fs::read_to_string(&self.path).map(|s| s.len()).unwrap_or(0)
    }
    fn since(&self, offset: usize) -> String {
        std::fs::read_to_string(&self.path).ok().and_then(|s| s.get(offset..).map(str::to_string)).unwrap_or_default()
    }
}

#[test]
fn chaos_restarts_keep_the_kernel_equal_to_the_best_paths_and_delete_nothing_unchanged() {
    let cycles: usize = std::env::var("KEEL_CHAOS_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(6);
    let seed: u64 = std::env::var("KEEL_CHAOS_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(16)
    });
    eprintln!("chaos: {cycles} cycles, KEEL_CHAOS_SEED={seed}");
    let mut rng = Rng(seed);
    let lab = Lab::new("chaos");
    let c = ScriptedPeer::start(lab.r.name());
    let b = lab.keeld("b", &config_b(Path::new("DIR")));
    let dir = std::env::temp_dir().join(format!("keel-chaos-a-{}", lab.r.name()));
    let _ = std::fs::remove_dir_all(&dir);
    let keeld =
        Keeld::new(keeld_bin(), dir.clone()).expect("keeld a's directory").in_netns(&lab.r).remove_dir_on_drop();
    let monitor = Monitor::start(lab.r.name(), dir.join("monitor.log"));
    let mut dut = Dut { keeld };
    dut.start(false);
    converge(&dut, &lab, "first start");

    let (mut checked, mut excused, mut kept_total) = (0usize, 0usize, 0usize);
    for cycle in 1..=cycles {
        let with_d = rng.below(3) == 0;
        let end_of_rib = match rng.below(3) {
            0 => EndOfRib::AtOnce,
            1 => EndOfRib::After(rng.millis(3000)),
            _ => EndOfRib::Never,
        };
        c.plan(end_of_rib);
        let how = [Disruption::Kill, Disruption::Term, Disruption::KeelRestart][rng.below(3)];
        let neighbor = rng.below(4); // 0: c restarts itself first, 1: b does, else: nobody
        let second = rng.below(3) == 0; // a second disruption while the first restart runs
        let before = kernel(lab.r.name());
        let offset = monitor.len();
        let c_sessions = c.plan.lock().expect("plan").sessions;
        let mut restarting: Vec<&str> = Vec::new();
        if neighbor == 0 {
            c.restart();
            restarting.push("c");
        } else if neighbor == 1 {
            assert!(keel(&b.api(), &["restart"]).0, "keel restart of b");
            restarting.push("b");
        }
        // Into the neighbor's restart, or not.
        std::thread::sleep(rng.millis(1500));
        eprintln!(
            "cycle {cycle}: {how:?}, neighbor restarting {restarting:?}, c End-of-RIB {end_of_rib:?}, d configured {with_d}, second {second}"
        );
        disrupt(&mut dut, how, with_d);
        if second {
            // During the load or the deferral of the restart just begun.
            std::thread::sleep(rng.millis(DEFERRAL * 1000));
            let again = [Disruption::Kill, Disruption::Term, Disruption::KeelRestart][rng.below(3)];
            eprintln!("cycle {cycle}: then {again:?}");
            disrupt(&mut dut, again, with_d);
        }
        converge(&dut, &lab, &format!("cycle {cycle} (seed {seed})"));
        if neighbor == 0 {
            wait_for("c back", WAIT, || Some(()).filter(|_| c.plan.lock().expect("plan").sessions > c_sessions));
        }
        let after = kernel(lab.r.name());
        let gone = deleted(&monitor.since(offset));
        // Prefixes of a neighbor that was restarting itself when keel did (see the module doc).
        let excuse = |p: &str| {
            (restarting.contains(&"c") && (p.starts_with("203.0.113.") || p.starts_with("2001:db8:1:")))
                || (restarting.contains(&"b") && p.starts_with("198.51.100."))
        };
        let unchanged: Vec<&String> = before.keys().filter(|p| after.get(*p) == before.get(*p)).collect();
        let mut wrongly = Vec::new();
        for p in &unchanged {
            if excuse(p) {
                excused += 1;
            } else {
                checked += 1;
                if gone.contains(*p) {
                    wrongly.push((*p).clone());
                }
            }
        }
        kept_total += unchanged.iter().filter(|p| !gone.contains(**p)).count();
        assert!(
            wrongly.is_empty(),
            "cycle {cycle} (seed {seed}): {} unchanged routes deleted from the kernel, e.g. {:?}\nkeeld a log:\n{}",
            wrongly.len(),
            &wrongly[..wrongly.len().min(5)],
            dut.log_tail()
        );
    }
    eprintln!(
        "chaos: {cycles} cycles, {} keeld runs, {checked} unchanged routes checked for deletions, {excused} excused \
         (neighbor restarting itself), {kept_total} kept in place",
        dut.keeld.pids().len()
    );
    assert!(checked > 0, "the deletion check looked at something");
}
