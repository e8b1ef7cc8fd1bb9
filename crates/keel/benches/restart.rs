//! Restarting speaker, end to end (RFC 4724 §4.1), in a network namespace this benchmark
//! creates: keeld with the kernel FIB holds two full-table upstream neighbors and one
//! downstream; it is killed with SIGKILL and started again. Measured: the time from the new
//! process's start to End-of-RIB sent downstream (every family), the kernel route operations
//! for the unchanged table (`ip monitor route`), and keeld's peak RSS during the recovery.
//!
//! `cargo bench -p keel --bench restart` (root); sizes: KEEL_BENCH_ROUTES (1050000 IPv4),
//! KEEL_BENCH_V6 (230000 IPv6); KEEL_LOG (default warn) for keeld's log, KEEL_BENCH_KEEP=1
//! to keep it.

mod support;

use keel_lab::keeld::Keeld;
use keel_lab::netns::Namespace;
use keel_lab::process::{Process, Spawn};
use keel_lab::speaker::SpeakerConfig;
use keel_tablegen::{Table, TableSpec};
use keel_wire::capability::{GracefulRestart, GracefulRestartFamily};
use keel_wire::{CodecOptions, Family, Message};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};
use support::env;

const KEEL: &str = "127.0.0.1";

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let v4 = env("KEEL_BENCH_ROUTES", 1_050_000) as usize;
    let v6 = env("KEEL_BENCH_V6", 230_000) as usize;
    let ns = Namespace::create(&format!("keel-bench-restart-{}", std::process::id())).expect("namespace");
    let ip = |args: &[&str]| {
        ns.ip(args).unwrap_or_else(|e| panic!("{e:#}"));
    };
    ip(&["link", "add", "va", "type", "veth", "peer", "name", "vb"]);
    ip(&["link", "set", "va", "up"]);
    ip(&["link", "set", "vb", "up"]);
    // The generated tables' next hops (RFC 2544 / RFC 5180 benchmarking ranges) are on-link.
    ip(&["addr", "add", "198.18.0.100/15", "dev", "va"]);
    ip(&["addr", "add", "2001:2::100/48", "dev", "va", "nodad"]);
    // This thread joins the namespace: the speakers' sockets live there too.
    let entered = ns.enter().expect("setns");

    let spec = TableSpec { ipv4_routes: v4, ipv6_routes: v6, ..TableSpec::default() };
    let opts = CodecOptions { extended_message: true, ..CodecOptions::default() };
    let feeds: Vec<(u32, Vec<u8>)> = (0..2)
        .map(|i| {
            let t = Table::generate(&spec.for_peer(i));
            let mut b = Vec::new();
            t.write_updates(&opts, &mut b).unwrap();
            (t.peer_as, b)
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("keel-bench-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = format!(
        "[global]\nasn = 65000\nrouter_id = \"192.0.2.1\"\nlisten = [\"{KEEL}:179\"]\napi = \"{}\"\nstate_dir = \"{}\"\n\
         [fib]\nenabled = true\n",
        dir.join("keel.sock").display(),
        dir.display()
    );
    for (i, (asn, _)) in feeds.iter().enumerate() {
        config.push_str(&format!(
            "[[neighbor]]\naddress = \"127.0.0.{}\"\nasn = {asn}\npassive = true\nimport = \"all\"\nexport = \"none\"\n",
            11 + i
        ));
    }
    config.push_str(
        "[[neighbor]]\naddress = \"127.0.0.20\"\nasn = 64999\npassive = true\nimport = \"none\"\nexport = \"all\"\n",
    );
    let log = std::env::var("KEEL_LOG").unwrap_or_else(|_| "warn".into());
    let mut keeld =
        Keeld::new(env!("CARGO_BIN_EXE_keeld"), dir.clone()).expect("dir").in_netns(&ns).env("KEEL_LOG", &log);
    keeld.write_config(&config).unwrap();
    let remote: SocketAddr = format!("{KEEL}:179").parse().unwrap();
    let gr = GracefulRestart {
        restart_state: false,
        notification: false,
        restart_time: 120,
        families: [Family::IPV4_UNICAST, Family::IPV6_UNICAST]
            .map(|family| GracefulRestartFamily { family, forwarding_state: true })
            .to_vec(),
    };
    let cfg = |last: u8, asn: u32| SpeakerConfig {
        local: IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)),
        remote,
        asn,
        router_id: Ipv4Addr::new(192, 0, 2, last),
        hold_time: 90,
        families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
        graceful_restart: Some(gr.clone()),
        long_lived: Vec::new(),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // One run of keeld: upstreams send their tables; returns when the downstream has End-of-RIB
    // for both families, with the time that took from `t0`.
    let run = |t0: Instant| {
        rt.block_on(async {
            let (mut drd, mut dwr, _) = support::connect(&cfg(20, 64999)).await;
            // The downstream has nothing to announce: its End-of-RIB right away (keel's
            // selection deferral waits for it, RFC 4724 §4.1).
            for f in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
                dwr.send(&keel_wire::Update::end_of_rib(f).encode(&opts).unwrap()).await.unwrap();
            }
            let mut writers = vec![dwr];
            for (i, (asn, feed)) in feeds.iter().enumerate() {
                let (mut rd, mut wr, _) = support::connect(&cfg(11 + i as u8, *asn)).await;
                tokio::spawn(async move { while let Ok(Some(_)) = rd.next().await {} });
                wr.send(feed).await.unwrap();
                writers.push(wr);
            }
            let mut eor = 0;
            let mut prefixes = 0u64;
            while eor < 2 {
                match drd.next().await {
                    Ok(Some(Message::Update(u))) => {
                        if u.as_end_of_rib().is_some() {
                            eor += 1;
                        } else {
                            prefixes += u.announced_routes().count() as u64;
                        }
                    }
                    Ok(Some(_)) => {}
                    _ => panic!("downstream session lost"),
                }
            }
            (t0.elapsed(), prefixes, writers)
        })
    };
    keeld.start().expect("keeld");
    let (first, n1, writers) = run(Instant::now());
    // Let the FIB finish installing before the crash.
    let routes = || {
        let out = ns.ip(&["route", "show", "proto", "186"]).unwrap();
        let out6 = ns.ip(&["-6", "route", "show", "proto", "186"]).unwrap();
        out.lines().filter(|l| !l.is_empty()).count() + out6.lines().filter(|l| !l.is_empty()).count()
    };
    let deadline = Instant::now() + Duration::from_secs(180);
    while routes() < v4 + v6 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
    }
    let installed = routes();
    println!(
        "first start: {n1} prefixes at the downstream, End-of-RIB after {:.2} s; {installed} kernel routes",
        first.as_secs_f64()
    );
    // Crash, then start again while `ip monitor route` watches the kernel table.
    keeld.kill().expect("SIGKILL keeld");
    drop(writers);
    let monitor_out = dir.join("monitor.txt");
    let mut monitor = Command::new("ip");
    monitor
        .args(["-n", ns.name(), "monitor", "route"])
        .stdout(std::fs::File::create(&monitor_out).unwrap())
        .stderr(std::fs::File::create(dir.join("monitor.err")).unwrap());
    let monitor = Process::spawn("ip monitor", monitor, &Spawn::default()).expect("ip monitor");
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    keeld.start().expect("keeld");
    let (again, n2, writers) = run(t0);
    std::thread::sleep(Duration::from_secs(2));
    let (_, rss, hwm) = support::stat(&keeld);
    monitor.stop_with(libc::SIGKILL, Duration::from_secs(5));
    let changes = std::fs::read_to_string(&monitor_out).unwrap_or_default().lines().count();
    let overruns = std::fs::read_to_string(dir.join("monitor.err")).unwrap_or_default().lines().count();
    println!(
        "after SIGKILL: End-of-RIB sent downstream {:.2} s after keeld started ({n2} prefixes); kernel route operations \
         seen by ip monitor during the recovery: {changes} ({overruns} monitor overruns; routes in the kernel: {}); \
         keeld RSS {:.0} MiB, peak {:.0} MiB",
        again.as_secs_f64(),
        routes(),
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    for l in std::fs::read_to_string(&monitor_out).unwrap_or_default().lines().take(3) {
        println!("  ip monitor: {l}");
    }
    drop(writers);
    let _ = keeld.kill();
    drop(entered);
    if std::env::var_os("KEEL_BENCH_KEEP").is_some() {
        println!("kept {} (keeld.log: both runs)", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
