//! BFD (issue 22): keel's BFD sessions, run by keel-bfdd, against BIRD 2's `protocol bfd`, FRR's
//! bfdd (alone, and with zebra and bgpd) and another keeld, over a veth pair between two network
//! namespaces each test creates, documentation addresses only:
//!
//! ```text
//!  ns keel-bfd-kROLE-PID: keeld (AS 65001)  va 192.0.2.1/24  --veth--  vb 192.0.2.2/24  BIRD (AS 65002),
//!                         keel-bfdd                                    originates 198.51.100.0/24
//! ```
//!
//! Forwarding failure without a link event: each side's ARP entry for the other is replaced
//! by a MAC address nobody has, so every packet is dropped while both interfaces stay up (no
//! nftables or tc classifier is available here). keel-bfdd runs detached from keeld (that is
//! its point), so each test ends it by the pid in its lock file.

use crate::common::*;
use keel_lab::daemons::bird::{Bird, BirdStart};
use keel_lab::netns::{veth, Namespace};
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Detection Time both ways: 3 x 100 ms.
const DETECTION: Duration = Duration::from_millis(300);
/// What polling `keel show` and `birdc` adds to it.
const SLACK: Duration = Duration::from_millis(700);

struct BfdLab {
    k: Namespace,
    b: Namespace,
    keeld: Option<Keeld>,
    /// keeld as the neighbor (in namespace b), with its own keel-bfdd.
    peer: Option<Keeld>,
    bird: Option<Bird>,
    /// FRR's daemons (bfdd alone, or zebra, bfdd and bgpd), and their directory.
    frr: Option<(Vec<keel_lab::process::Process>, PathBuf)>,
    dir: PathBuf,
}

impl BfdLab {
    /// The two namespaces, `keel-bfd-kTAG-PID` and `keel-bfd-bTAG-PID`, joined by a veth pair.
    fn new(tag: &str) -> BfdLab {
        let id = std::process::id() % 100_000;
        let ns = |role: &str| Namespace::create(&format!("keel-bfd-{role}{tag}-{id}")).expect("network namespace");
        let (k, b) = (ns("k"), ns("b"));
        veth(&k, "va", &b, "vb").expect("veth pair");
        for (ns, dev, v4, v6) in
            [(&k, "va", "192.0.2.1/24", "2001:db8::1/64"), (&b, "vb", "192.0.2.2/24", "2001:db8::2/64")]
        {
            ns.ip(&["addr", "add", v4, "dev", dev]).expect("address");
            ns.ip(&["addr", "add", v6, "dev", dev, "nodad"]).expect("IPv6 address");
            ns.ip(&["link", "set", dev, "up"]).expect("link up");
        }
        let dir = test_dir(&format!("bfd-{tag}"));
        BfdLab { k, b, keeld: None, peer: None, bird: None, frr: None, dir }
    }

    fn keeld(&mut self, neighbor_extra: &str) {
        let config = keel_config(&self.dir.join("keel"), 1, 2, neighbor_extra, "203.0.113.0/24");
        self.keeld = Some(self.start_keeld(&self.k, "keel", &config));
    }

    /// keeld as the neighbor in namespace b (192.0.2.2, AS 65002), originating 198.51.100.0/24.
    fn peer_keeld(&mut self) {
        let config = keel_config(&self.dir.join("peer"), 2, 1, "", "198.51.100.0/24");
        self.peer = Some(self.start_keeld(&self.b, "peer", &config));
    }

    fn start_keeld(&self, ns: &Namespace, name: &str, config: &str) -> Keeld {
        start(Keeld::new(keeld_bin(), self.dir.join(name)).expect("keeld's directory").in_netns(ns), config)
    }

    /// BIRD with BFD on its interface and `bfd on` in the session; `graceful` is its
    /// `graceful restart` setting.
    fn bird(&mut self, graceful: &str) {
        self.bird_interface(graceful, "");
    }

    /// [`BfdLab::bird`] with more settings of BIRD's BFD interface (`interface`).
    fn bird_interface(&mut self, graceful: &str, interface: &str) {
        let dir = self.dir.join("bird");
        std::fs::create_dir_all(&dir).expect("BIRD's directory");
        let body = format!(
            r#"protocol bfd {{
  interface "vb" {{ min rx interval 100 ms; min tx interval 100 ms; multiplier 3; {interface} }};
}}
protocol static s4 {{ ipv4; route 198.51.100.0/24 blackhole; }}
protocol bgp keel {{
  local 192.0.2.2 as 65002;
  neighbor 192.0.2.1 as 65001;
  hold time 90;
  connect delay time 1; connect retry time 1; error wait time 1, 2;
  graceful restart {graceful};
  bfd on;
  ipv4 {{ import all; export all; }};
}}
"#
        );
        self.bird_with(&dir, &body);
    }

    fn bird_with(&mut self, dir: &std::path::Path, body: &str) {
        let how = BirdStart { name: "bird", router_id: "192.0.2.2", device: "", recovery: false, netns: Some(&self.b) };
        self.bird = Some(Bird::start(dir, body, &how));
    }

    /// FRR's bfdd in namespace b with one configured peer, keel, at 100 ms x 3.
    fn frr_bfdd(&mut self) {
        let conf = "bfd\n peer 192.0.2.1 local-address 192.0.2.2\n  receive-interval 100\n  \
                    transmit-interval 100\n  detect-multiplier 3\n !\n!\n";
        self.frr_daemons(&[("bfdd", conf)]);
    }

    /// FRR's zebra, bfdd and bgpd in namespace b: BGP with keel (graceful restart, `neighbor
    /// bfd` through a profile at 100 ms x 3), originating 198.51.100.0/24.
    fn frr_bgp(&mut self) {
        let bfdd = "bfd\n profile keel\n  receive-interval 100\n  transmit-interval 100\n  \
                    detect-multiplier 3\n !\n!\n";
        let bgpd = "frr defaults traditional\nhostname frr\nrouter bgp 65002\n bgp router-id 192.0.2.2\n \
                    no bgp ebgp-requires-policy\n no bgp network import-check\n bgp graceful-restart\n \
                    neighbor 192.0.2.1 remote-as 65001\n neighbor 192.0.2.1 bfd profile keel\n \
                    neighbor 192.0.2.1 timers connect 1\n address-family ipv4 unicast\n  \
                    network 198.51.100.0/24\n exit-address-family\n!\n";
        self.frr_daemons(&[("zebra", "hostname z\n!\n"), ("bfdd", bfdd), ("bgpd", bgpd)]);
    }

    /// Starts each FRR daemon `(name, configuration)` in namespace b, sharing one directory
    /// (owned by user frr) for configurations, vty sockets and zebra's socket.
    fn frr_daemons(&mut self, daemons: &[(&str, &str)]) {
        let dir = self.dir.join("frr");
        std::fs::create_dir_all(&dir).expect("FRR's directory");
        let (uid, gid) = keel_lab::daemons::frr::frr_ids().expect("user frr");
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown to frr");
        let mut procs = Vec::new();
        for (name, conf) in daemons {
            let file = dir.join(format!("{name}.conf"));
            std::fs::write(&file, conf).expect("FRR configuration");
            std::os::unix::fs::chown(&file, Some(uid), Some(gid)).expect("chown to frr");
            let mut c = std::process::Command::new(format!("/usr/lib/frr/{name}"));
            c.arg("-f").arg(&file).arg("-i").arg(dir.join(format!("{name}.pid"))).arg("--vty_socket").arg(&dir);
            c.args(["-A", "127.0.0.1", "-P", "0"]).arg("-z").arg(dir.join("zserv.api"));
            if *name == "bfdd" {
                c.arg("--bfdctl").arg(dir.join("bfdd.ctl"));
            }
            let how = keel_lab::process::Spawn { log: Some(dir.join(format!("{name}.out"))), ..Default::default() };
            procs.push(keel_lab::daemons::spawn(name, c, &dir, Some(&self.b), &how).expect("start an FRR daemon"));
            if *name == "zebra" {
                wait_for("zebra's socket", WAIT, || dir.join("zserv.api").exists().then_some(()));
            }
        }
        self.frr = Some((procs, dir));
        wait_for("FRR bfdd's vty", WAIT, || self.frr_vtysh("bfdd", "show bfd peers json").is_array().then_some(()));
    }

    /// `vtysh -d DAEMON -c COMMAND` on FRR, as JSON (null when it does not answer).
    fn frr_vtysh(&self, daemon: &str, command: &str) -> Value {
        let Some((_, dir)) = &self.frr else { return Value::Null };
        let out = std::process::Command::new("vtysh")
            .arg("--vty_socket")
            .arg(dir)
            .args(["-d", daemon, "-c", command])
            .output();
        out.ok().and_then(|o| serde_json::from_slice(&o.stdout).ok()).unwrap_or(Value::Null)
    }

    /// FRR's view of its peer keel (`show bfd peers json`), null while it does not answer.
    fn frr_peer(&self) -> Value {
        let v = self.frr_vtysh("bfdd", "show bfd peers json");
        v.as_array().and_then(|a| a.iter().find(|p| p["peer"] == "192.0.2.1").cloned()).unwrap_or(Value::Null)
    }

    fn api(&self) -> PathBuf {
        self.keeld.as_ref().expect("keeld").api()
    }

    fn neighbor(&self) -> Value {
        neighbor(&self.api(), "192.0.2.2")
    }

    fn bird_bfd(&self) -> String {
        self.bird.as_ref().expect("BIRD").birdc("show bfd sessions")
    }

    /// BIRD's BFD session with keel is Up.
    fn bird_bfd_up(&self) -> bool {
        self.bird_bfd_up_with("192.0.2.1")
    }

    fn bird_bfd_up_with(&self, keel: &str) -> bool {
        self.bird_bfd().lines().any(|l| l.starts_with(&format!("{keel} ")) && l.contains(" Up "))
    }

    fn wait_up(&self) -> Value {
        wait_for("BGP established and BFD Up on both sides", WAIT, || {
            let n = self.neighbor();
            (n["state"] == "established" && n["bfd"]["state"] == "up" && self.bird_bfd_up()).then_some(n)
        })
    }

    /// Every packet between the two is dropped; the links stay up.
    fn cut(&self) {
        let pairs = [
            (&self.k, "va", "192.0.2.2"),
            (&self.b, "vb", "192.0.2.1"),
            (&self.k, "va", "2001:db8::2"),
            (&self.b, "vb", "2001:db8::1"),
        ];
        for (ns, dev, other) in pairs {
            ns.ip(&["neigh", "replace", other, "lladdr", "02:00:5e:00:53:99", "dev", dev, "nud", "permanent"])
                .expect("blackhole neighbor");
        }
    }

    /// [`BfdLab::cut`], then how long until keel no longer has 198.51.100.0/24 (at most the
    /// Detection Time and the polling's slack).
    fn cut_until_route_gone(&self) -> Duration {
        self.cut();
        time_until("route withdrawn", DETECTION + SLACK, || !has_route(&self.api(), "198.51.100.0/24"))
    }

    fn keel_bfdd_pid(&self) -> Option<i32> {
        bfdd_pid(&self.dir.join("keel"))
    }
}

impl Drop for BfdLab {
    fn drop(&mut self) {
        if let Some(b) = &self.bird {
            b.stop();
        }
        for p in self.frr.iter().flat_map(|(procs, _)| procs.iter().rev()) {
            p.stop();
        }
        // Read before keeld's handles remove their directories.
        let bfdds = [bfdd_pid(&self.dir.join("keel")), bfdd_pid(&self.dir.join("peer"))];
        drop(self.keeld.take());
        drop(self.peer.take());
        for pid in bfdds.into_iter().flatten() {
            // SAFETY: kill(2) on a keel-bfdd this test's keelds started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The pid of the keel-bfdd serving the keeld whose directory is `dir` (its lock file).
fn bfdd_pid(dir: &std::path::Path) -> Option<i32> {
    std::fs::read_to_string(dir.join("bfdd.lock")).ok()?.trim().parse().ok()
}

/// keeld 192.0.2.`me` (AS 65000+me) with BFD at 100 ms x 3 towards 192.0.2.`peer`.
fn keel_config(dir: &std::path::Path, me: u8, peer: u8, neighbor_extra: &str, network: &str) -> String {
    format!(
        r#"[global]
asn = {asn}
router_id = "192.0.2.{me}"
listen = ["192.0.2.{me}:179"]
api = "{dir}/keel.sock"
state_dir = "{dir}"
[graceful_restart]
selection_deferral_time = 5
[bfd]
min_tx_ms = 100
min_rx_ms = 100
multiplier = 3
[[neighbor]]
address = "192.0.2.{peer}"
asn = {peer_asn}
local_address = "192.0.2.{me}"
connect_retry_time = 1
bfd = true
import = "all"
export = "all"
{neighbor_extra}
[[network]]
prefix = "{network}"
"#,
        asn = 65000 + u32::from(me),
        peer_asn = 65000 + u32::from(peer),
        dir = dir.display()
    )
}

/// Polls `done` every 10 ms for up to `limit`; how long it took.
fn time_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed()
}

fn has_route(api: &std::path::Path, prefix: &str) -> bool {
    routes(api, &[]).iter().any(|r| r["prefix"] == prefix)
}

/// Sessions come up with BIRD, the intervals are negotiated (100 ms both ways, Detection Time
/// 300 ms), keel sends C=1 (keel-bfdd outlives keeld) and sees BIRD's C=0; when forwarding
/// dies both sides see Down within the Detection Time, keel ends the BGP session with
/// Cease/BFD Down, and as BIRD sent C=0 and advertised graceful restart keel keeps its routes
/// as helper (RFC 5882 §4.3).
#[test]
fn bird_sessions_come_up_and_see_forwarding_loss_within_the_detection_time() {
    let mut lab = BfdLab::new("up");
    lab.bird("on");
    lab.keeld("");
    let n = lab.wait_up();
    let b = &n["bfd"];
    assert_eq!(b["transmit_interval_ms"], 100, "{b}");
    assert_eq!(b["detection_time_ms"], 300, "{b}");
    assert_eq!(b["control_plane_independent"], true, "keel-bfdd runs apart from keeld: C=1");
    assert_eq!(b["remote_control_plane_independent"], false, "BIRD sends C=0: {b}");
    assert_eq!(b["on_down"], "helper", "{b}");
    let (ok, text) = keel(&lab.api(), &["show", "neighbor", "192.0.2.2"]);
    assert!(ok && text.contains("BFD:              up"), "{text}");
    wait_for("BIRD's route", WAIT, || has_route(&lab.api(), "198.51.100.0/24").then_some(()));

    lab.cut();
    let keel_saw = time_until("keel sees BFD Down", DETECTION + SLACK, || lab.neighbor()["bfd"]["state"] == "down");
    let bird_saw = time_until("BIRD sees BFD Down", DETECTION + SLACK, || !lab.bird_bfd_up());
    let n = lab.neighbor();
    assert_ne!(n["state"], "established", "BFD Down ends the BGP session at once");
    assert_eq!(n["last_notification_sent"]["description"], "Cease/BFD Down", "{n}");
    assert_eq!(n["bfd"]["diagnostic"], "control-detection-time-expired");
    assert_eq!(n["bfd"]["flaps"], 1);
    assert!(n["stale_prefixes"].as_u64() >= Some(1), "C=0 and graceful restart: kept as helper: {n}");
    assert!(has_route(&lab.api(), "198.51.100.0/24"));
    eprintln!("BFD Down seen by keel after {keel_saw:?}, by BIRD after {bird_saw:?}");
}

/// The RFC 5882 §4.3 choices against BIRD (which sends C=0): `bfd_strict` flushes, and so does
/// a neighbor without graceful restart; the routes leave within the Detection Time.
#[test]
fn bird_c0_with_bfd_strict_or_without_graceful_restart_flushes() {
    for (tag, graceful, extra) in [("st", "on", "bfd_strict = true"), ("ng", "off", "")] {
        let mut lab = BfdLab::new(tag);
        lab.bird(graceful);
        lab.keeld(extra);
        let n = lab.wait_up();
        assert_eq!(n["bfd"]["on_down"], "flush", "{tag}: {n}");
        wait_for("BIRD's route", WAIT, || has_route(&lab.api(), "198.51.100.0/24").then_some(()));
        let took = lab.cut_until_route_gone();
        eprintln!("{tag}: route gone {took:?} after the cut");
    }
}

/// keeld restarts (`keel restart`, then a crash and a new start) while BFD is on: BIRD's BFD
/// session never leaves Up, because keel-bfdd goes on running it, and through `keel restart`
/// BIRD keeps keel's route as graceful-restart helper; through `keel upgrade` the BGP session
/// itself goes on too.
#[test]
fn keeld_restarts_leave_birds_bfd_session_up() {
    let mut lab = BfdLab::new("rs");
    lab.bird("on");
    lab.keeld("");
    lab.wait_up();
    let bird = lab.bird.as_ref().expect("BIRD");
    wait_for("keel's route at BIRD", WAIT, || bird.prefixes().contains("203.0.113.0/24").then_some(()));
    let bfdd = lab.keel_bfdd_pid().expect("keel-bfdd's pid");
    // `routes`: BIRD must keep keel's route too. Not after a crash: keel runs without a FIB
    // here, so the new keeld's OPEN says F=0 and BIRD drops the stale route until keel sends
    // it again (RFC 4724 §4.2), which is graceful restart's business, not BFD's.
    let watch = |lab: &BfdLab, what: &str, routes: bool, until: &dyn Fn(&BfdLab) -> bool| {
        let start = Instant::now();
        while !until(lab) {
            assert!(lab.bird_bfd_up(), "{what}: BIRD's BFD session left Up: {}", lab.bird_bfd());
            let bird = lab.bird.as_ref().expect("BIRD");
            assert!(!routes || bird.prefixes().contains("203.0.113.0/24"), "{what}: BIRD dropped keel's route");
            assert!(start.elapsed() < WAIT, "{what}: keel did not come back");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let starts = |lab: &BfdLab| lab.keeld.as_ref().map_or(0, |k| k.log().matches("keeld starting").count());
    let before = starts(&lab);
    assert!(keel(&lab.api(), &["restart"]).0);
    watch(&lab, "keel restart", true, &|lab| {
        let n = lab.neighbor();
        starts(lab) > before && n["state"] == "established" && n["bfd"]["state"] == "up"
    });
    // A crash: SIGKILL, then a new keeld.
    let keeld = lab.keeld.as_mut().expect("keeld");
    keeld.kill().expect("kill keeld");
    std::thread::sleep(Duration::from_millis(500));
    assert!(lab.bird_bfd_up(), "keeld gone, BFD still Up");
    lab.keeld.as_mut().expect("keeld").start().expect("start keeld again");
    watch(&lab, "crash and start", false, &|lab| {
        let n = lab.neighbor();
        n["state"] == "established" && n["bfd"]["state"] == "up"
    });
    // `keel upgrade` (issue 21): the BGP session itself goes on, BFD stays Up throughout.
    let bird = lab.bird.as_ref().expect("BIRD");
    wait_for("BIRD established again", WAIT, || bird.established().then_some(()));
    let mark = bird.session_mark();
    // keel refuses to upgrade while its own selection deferral runs (after the crash above).
    wait_for("keel's selection deferral over", WAIT, || {
        keel_api::client::request(&lab.api(), "GET", "/v1/status").ok().filter(|v| v["restarting"] == false)
    });
    let before = starts(&lab);
    let (ok, out) = keel(&lab.api(), &["upgrade"]);
    assert!(ok, "{out}");
    watch(&lab, "keel upgrade", true, &|lab| {
        let n = lab.neighbor();
        starts(lab) > before && n["state"] == "established" && n["bfd"]["state"] == "up"
    });
    let bird = lab.bird.as_ref().expect("BIRD");
    assert!(bird.session_mark().same_session_as(&mark), "BIRD's BGP session went on:\n{}", bird.protocol());
    assert_eq!(lab.keel_bfdd_pid(), Some(bfdd), "the same keel-bfdd throughout");
    assert_eq!(lab.neighbor()["bfd"]["flaps"], 0);
}

/// FRR's bfdd and keel: sessions come up, the intervals negotiate (100 ms), and both see Down
/// within the Detection Time when forwarding dies. (No BGP: FRR's bgpd reaches bfdd only
/// through zebra, which these tests do not run; keel's BFD runs for a configured neighbor
/// whatever its BGP state.)
#[test]
fn frr_bfdd_sessions_come_up_and_see_forwarding_loss_within_the_detection_time() {
    let mut lab = BfdLab::new("fr");
    lab.frr_bfdd();
    lab.keeld("passive = true");
    let n = wait_for("BFD Up with FRR on both sides", WAIT, || {
        let n = lab.neighbor();
        (n["bfd"]["state"] == "up" && lab.frr_peer()["status"] == "up").then_some(n)
    });
    let (b, f) = (&n["bfd"], lab.frr_peer());
    assert_eq!((b["transmit_interval_ms"].as_u64(), b["detection_time_ms"].as_u64()), (Some(100), Some(300)), "{b}");
    assert_eq!(f["transmit-interval"], 100, "FRR's side: {f}");
    assert_eq!(f["remote-transmit-interval"], 100, "FRR learned keel's interval: {f}");
    eprintln!("FRR's view: {f}\nkeel's view: {b}");
    lab.cut();
    let keel_saw = time_until("keel sees BFD Down", DETECTION + SLACK, || lab.neighbor()["bfd"]["state"] == "down");
    let frr_saw = time_until("FRR sees BFD Down", DETECTION + SLACK, || lab.frr_peer()["status"] == "down");
    eprintln!("BFD Down seen by keel after {keel_saw:?}, by FRR after {frr_saw:?}");
}

/// The RFC 5882 §4.3 matrix, the rows a real neighbor can show here. BIRD sends C=0: a
/// control-plane restart of BIRD (killed: its TCP connection closes first, then BFD goes Down)
/// leaves its routes with keel as helper; with `bfd_strict` the BFD Down flushes them.
#[test]
fn c0_neighbor_control_plane_restart_is_helped_unless_strict() {
    for (tag, extra, kept) in [("cr", "", true), ("cs", "bfd_strict = true", false)] {
        let mut lab = BfdLab::new(tag);
        lab.bird("on");
        lab.keeld(extra);
        lab.wait_up();
        wait_for("BIRD's route", WAIT, || has_route(&lab.api(), "198.51.100.0/24").then_some(()));
        lab.bird.as_ref().expect("BIRD").proc.stop_with(libc::SIGKILL, Duration::from_secs(1));
        time_until("keel sees BFD Down", DETECTION + SLACK, || lab.neighbor()["bfd"]["state"] == "down");
        std::thread::sleep(Duration::from_millis(300));
        let n = lab.neighbor();
        assert_eq!(has_route(&lab.api(), "198.51.100.0/24"), kept, "{tag}: {n}");
    }
}

/// keel against keel: keel-bfdd sends C=1, so the neighbor's forwarding failure flushes its
/// routes within the Detection Time even with graceful restart (RFC 5882 §4.3), while its
/// control-plane restart (`keel restart`) leaves BFD Up and the routes kept.
#[test]
fn c1_neighbor_keel_forwarding_failure_flushes_and_restart_keeps() {
    let mut lab = BfdLab::new("c1");
    lab.peer_keeld();
    lab.keeld("");
    let up = |lab: &BfdLab| {
        let n = lab.neighbor();
        (n["state"] == "established" && n["bfd"]["state"] == "up").then_some(n)
    };
    let n = wait_for("keel and keel up with BFD", WAIT, || up(&lab));
    assert_eq!(n["bfd"]["remote_control_plane_independent"], true, "{n}");
    assert_eq!(n["bfd"]["on_down"], "flush");
    wait_for("the neighbor's route", WAIT, || has_route(&lab.api(), "198.51.100.0/24").then_some(()));
    // Control-plane restart of the neighbor: BFD stays Up, its routes stay.
    let peer_api = lab.peer.as_ref().expect("peer").api();
    let starts = |lab: &BfdLab| lab.peer.as_ref().map_or(0, |k| k.log().matches("keeld starting").count());
    let before = starts(&lab);
    assert!(keel(&peer_api, &["restart"]).0);
    let start = Instant::now();
    while !(starts(&lab) > before && up(&lab).is_some()) {
        let n = lab.neighbor();
        assert_eq!(n["bfd"]["state"], "up", "the neighbor's restart left BFD Up: {n}");
        assert!(has_route(&lab.api(), "198.51.100.0/24"), "kept through the neighbor's restart");
        assert!(start.elapsed() < WAIT, "the neighbor came back");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Forwarding failure: C=1, so the routes go within the Detection Time.
    let took = lab.cut_until_route_gone();
    eprintln!("C=1 neighbor's routes gone {took:?} after the cut");
}

/// The same over IPv6 (RFC 5881 §5: Hop Limit 255 sent and checked): up with BIRD, negotiated,
/// and Down on both sides within the Detection Time when forwarding dies.
#[test]
fn bird_ipv6_session_comes_up_and_sees_forwarding_loss() {
    let mut lab = BfdLab::new("v6");
    let dir = lab.dir.join("bird");
    std::fs::create_dir_all(&dir).expect("BIRD's directory");
    lab.bird_with(
        &dir,
        r#"protocol bfd {
  interface "vb" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; };
}
protocol static s6 { ipv6; route 2001:db8:100::/48 blackhole; }
protocol bgp keel {
  local 2001:db8::2 as 65002;
  neighbor 2001:db8::1 as 65001;
  hold time 90;
  connect delay time 1; connect retry time 1; error wait time 1, 2;
  graceful restart on;
  bfd on;
  ipv6 { import all; export all; };
}
"#,
    );
    let kdir = lab.dir.join("keel");
    let config = keel_config(&kdir, 1, 2, "", "203.0.113.0/24")
        .replace("listen = [\"192.0.2.1:179\"]", "listen = [\"[2001:db8::1]:179\"]")
        .replace("address = \"192.0.2.2\"", "address = \"2001:db8::2\"")
        .replace("local_address = \"192.0.2.1\"", "local_address = \"2001:db8::1\"");
    lab.keeld = Some(lab.start_keeld(&lab.k, "keel", &config));
    let n = wait_for("BGP and BFD up over IPv6", WAIT, || {
        let n = neighbor(&lab.api(), "2001:db8::2");
        (n["state"] == "established" && n["bfd"]["state"] == "up" && lab.bird_bfd_up_with("2001:db8::1")).then_some(n)
    });
    assert_eq!(n["bfd"]["detection_time_ms"], 300, "{n}");
    lab.cut();
    time_until("keel sees BFD Down", DETECTION + SLACK, || {
        neighbor(&lab.api(), "2001:db8::2")["bfd"]["state"] == "down"
    });
    time_until("BIRD sees BFD Down", DETECTION + SLACK, || !lab.bird_bfd_up_with("2001:db8::1"));
    let n = neighbor(&lab.api(), "2001:db8::2");
    assert_eq!(n["last_notification_sent"]["description"], "Cease/BFD Down", "{n}");
}

/// A neighbor removed on reload: keel-bfdd takes its session down with AdminDown (RFC 5882
/// §3.2: not a failure for BIRD) and forgets it.
#[test]
fn removed_neighbor_session_goes_admin_down() {
    let mut lab = BfdLab::new("rm");
    lab.bird("on");
    lab.keeld("");
    lab.wait_up();
    let keeld = lab.keeld.as_ref().expect("keeld");
    let config = std::fs::read_to_string(keeld.config_path()).expect("keel.toml");
    let without = &config[..config.find("[[neighbor]]").expect("a neighbor")];
    keeld.write_config(without).expect("keel.toml without the neighbor");
    let (ok, out) = keel(&lab.api(), &["reload"]);
    assert!(ok, "{out}");
    time_until("BIRD's BFD session leaves Up", Duration::from_secs(3), || !lab.bird_bfd_up());
    let log = std::fs::read_to_string(lab.dir.join("keel/bfdd.log")).unwrap_or_default();
    assert!(log.contains("AdminDown"), "{log}");
}

/// keel-bfdd stopped on purpose (SIGTERM: its own restart or upgrade) sends AdminDown. keel,
/// as the neighbor, keeps the BGP session (RFC 5882 §3.2: AdminDown is no failure), so does the
/// stopped side's keeld (its BFD state is unknown, not Down), and that keeld starts a new
/// keel-bfdd whose session comes Up again. (BIRD 2.0.12 ends its BGP session on AdminDown, as
/// on any BFD Down: an interop fact, see docs/bfd.md.)
#[test]
fn keel_bfdd_stop_sends_admin_down_and_bgp_stays() {
    let mut lab = BfdLab::new("ad");
    lab.peer_keeld();
    lab.keeld("");
    wait_for("keel and keel up with BFD", WAIT, || {
        let n = lab.neighbor();
        (n["state"] == "established" && n["bfd"]["state"] == "up").then_some(())
    });
    let old = bfdd_pid(&lab.dir.join("peer")).expect("the neighbor's keel-bfdd");
    // SAFETY: kill(2) on the keel-bfdd this test's neighbor keeld started.
    unsafe { libc::kill(old, libc::SIGTERM) };
    let n = wait_for("AdminDown received", Duration::from_secs(2), || {
        let n = lab.neighbor();
        (n["bfd"]["remote_state"] == "admin-down").then_some(n)
    });
    assert_eq!(n["bfd"]["diagnostic"], "neighbor-signaled-session-down", "{n}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lab.neighbor()["state"], "established", "AdminDown ends no BGP session");
    wait_for("BFD Up again with a new keel-bfdd", WAIT, || {
        let n = lab.neighbor();
        let new = bfdd_pid(&lab.dir.join("peer")).is_some_and(|p| p != old);
        (n["bfd"]["state"] == "up" && new).then_some(())
    });
    assert_eq!(lab.neighbor()["state"], "established");
}

/// FRR's BGP with BFD (zebra, bfdd, bgpd): up on both sides; forwarding dies and both see BFD
/// Down within the Detection Time, keel ends the session with Cease/BFD Down and keeps or
/// deletes FRR's routes as FRR's C bit and its graceful restart say (RFC 5882 §4.3, shown in
/// `on_down` beforehand).
#[test]
fn frr_bgp_with_bfd_sees_forwarding_loss_and_applies_rfc5882() {
    let mut lab = BfdLab::new("fb");
    lab.frr_bgp();
    lab.keeld("");
    let n = wait_for("BGP established and BFD Up with FRR", WAIT, || {
        let n = lab.neighbor();
        (n["state"] == "established" && n["bfd"]["state"] == "up" && lab.frr_peer()["status"] == "up").then_some(n)
    });
    let b = &n["bfd"];
    eprintln!("keel's view of FRR's BFD: {b}\nFRR's: {}", lab.frr_peer());
    assert_eq!(b["detection_time_ms"], 300, "{b}");
    let c_bit = b["remote_control_plane_independent"].as_bool().expect("FRR's C bit");
    let expected = if c_bit { "flush" } else { "helper" };
    assert_eq!(b["on_down"], expected, "{b}");
    wait_for("FRR's route", WAIT, || has_route(&lab.api(), "198.51.100.0/24").then_some(()));
    lab.cut();
    time_until("keel sees BFD Down", DETECTION + SLACK, || lab.neighbor()["bfd"]["state"] == "down");
    time_until("FRR sees BFD Down", DETECTION + SLACK, || lab.frr_peer()["status"] == "down");
    std::thread::sleep(Duration::from_millis(200));
    let n = lab.neighbor();
    assert_eq!(n["last_notification_sent"]["description"], "Cease/BFD Down", "{n}");
    assert_eq!(has_route(&lab.api(), "198.51.100.0/24"), !c_bit, "C={c_bit}: {n}");
}

/// `keel restart` with FRR's BGP and BFD: FRR's BFD session never leaves Up.
#[test]
fn keel_restart_leaves_frrs_bfd_session_up() {
    let mut lab = BfdLab::new("fr2");
    lab.frr_bgp();
    lab.keeld("");
    wait_for("BGP established and BFD Up with FRR", WAIT, || {
        let n = lab.neighbor();
        (n["state"] == "established" && n["bfd"]["state"] == "up" && lab.frr_peer()["status"] == "up").then_some(())
    });
    let starts = |lab: &BfdLab| lab.keeld.as_ref().map_or(0, |k| k.log().matches("keeld starting").count());
    let before = starts(&lab);
    assert!(keel(&lab.api(), &["restart"]).0);
    let start = Instant::now();
    loop {
        let n = lab.neighbor();
        if starts(&lab) > before && n["state"] == "established" && n["bfd"]["state"] == "up" {
            break;
        }
        assert_eq!(lab.frr_peer()["status"], "up", "FRR's BFD session left Up during keel restart");
        assert!(start.elapsed() < WAIT, "keel came back");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// BIRD with BFD authentication on its interface (`authentication keyed sha1; password ...`).
fn bird_with_auth(lab: &mut BfdLab, password: &str) {
    lab.bird_interface("on", &format!(r#"authentication keyed sha1; password "{password}" {{ id 7; }};"#));
}

/// RFC 5880 §6.7.4 against BIRD: keel's `[bfd]` `auth = "keyed-sha1"` with BIRD's key and key
/// id comes Up (with BGP), shows the type and never the password, and counts no failures.
#[test]
fn bird_keyed_sha1_with_the_same_key_comes_up() {
    let mut lab = BfdLab::new("au");
    bird_with_auth(&mut lab, "s3cret-key");
    let dir = lab.dir.join("keel");
    let config = keel_config(&dir, 1, 2, "", "203.0.113.0/24").replace(
        "multiplier = 3\n",
        "multiplier = 3\nauth = \"keyed-sha1\"\nauth_key_id = 7\npassword = \"s3cret-key\"\n",
    );
    lab.keeld = Some(lab.start_keeld(&lab.k, "keel", &config));
    let n = lab.wait_up();
    assert_eq!((n["bfd"]["auth"].as_str(), n["bfd"]["auth_failures"].as_u64()), (Some("keyed-sha1"), Some(0)), "{n}");
    let (ok, text) = keel(&lab.api(), &["show", "neighbor", "192.0.2.2"]);
    assert!(ok && text.contains("auth keyed-sha1") && !text.contains("s3cret"), "{text}");
    assert!(!n.to_string().contains("s3cret"), "never the password: {n}");
    // Authenticated packets keep it Up (the sequence numbers move as the contents change).
    std::thread::sleep(Duration::from_secs(2));
    let n = lab.neighbor();
    assert_eq!((n["bfd"]["state"].as_str(), n["bfd"]["flaps"].as_u64()), (Some("up"), Some(0)), "{n}");
    assert!(lab.bird_bfd_up());
}

/// A wrong key (the neighbor's own `bfd_password`): the session never comes Up on either side,
/// and keel-bfdd counts the failures, tells keeld (`auth_failures`) and logs them.
#[test]
fn bird_keyed_sha1_with_a_wrong_key_never_comes_up_and_failures_are_counted() {
    let mut lab = BfdLab::new("aw");
    bird_with_auth(&mut lab, "s3cret-key");
    lab.keeld("bfd_auth = \"keyed-sha1\"\nbfd_auth_key_id = 7\nbfd_password = \"wrong-key\"");
    wait_for("BGP established", WAIT, || (lab.neighbor()["state"] == "established").then_some(()));
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        let n = lab.neighbor();
        assert_ne!(n["bfd"]["state"], "up", "a wrong key never comes Up: {n}");
        assert!(!lab.bird_bfd_up(), "BIRD never Up: {}", lab.bird_bfd());
        std::thread::sleep(Duration::from_millis(50));
    }
    let n = wait_for("failures counted", WAIT, || {
        let n = lab.neighbor();
        (n["bfd"]["auth_failures"].as_u64() >= Some(2)).then_some(n)
    });
    assert_eq!(n["bfd"]["auth"], "keyed-sha1", "{n}");
    let log = std::fs::read_to_string(lab.dir.join("keel/bfdd.log")).unwrap_or_default();
    assert!(log.contains("failed authentication") && log.contains("SHA1 hash does not match key 7"), "{log}");
    assert!(!log.contains("wrong-key"), "never the password in the log");
}
