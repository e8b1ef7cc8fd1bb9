//! Sessions benchmark: how many idle Established sessions one keeld holds, its memory and CPU
//! at rest, and the jitter of its KEEPALIVEs at rest and while another neighbor loads a full
//! table (RFC 4271 §10: KEEPALIVE every hold_time / 3).
//!
//! `cargo bench -p keel --bench sessions`; sizes from the environment:
//! KEEL_BENCH_SESSIONS (1000), KEEL_BENCH_REST_S (60), KEEL_BENCH_LOAD_S (30),
//! KEEL_BENCH_ROUTES (1050000 IPv4 + a fifth as many IPv6 in the load phase).

use keel_lab::speaker::{self, SpeakerConfig};
use keel_tablegen::{Table, TableSpec};
use keel_wire::{CodecOptions, Family, Message};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod support;

use support::env;

/// 127.1.x.y for session `i`.
fn address(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8)
}

const KEEPALIVE_S: f64 = 10.0;
const HOLD: u16 = 30;
const LISTEN: &str = "127.0.0.40:179";
const FEEDER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 41);

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Keepalive arrival times per session, in seconds since the start.
type Arrivals = Arc<Mutex<Vec<Vec<f64>>>>;

fn jitter(arrivals: &Arrivals, from: f64, to: f64) -> (usize, f64, f64, f64) {
    let a = arrivals.lock().unwrap();
    let mut dev = Vec::new();
    for s in a.iter() {
        for w in s.windows(2) {
            if w[0] >= from && w[1] <= to {
                dev.push(((w[1] - w[0]) - KEEPALIVE_S).abs() * 1000.0);
            }
        }
    }
    let n = dev.len();
    (n, percentile(&mut dev.clone(), 0.5), percentile(&mut dev.clone(), 0.99), percentile(&mut dev, 1.0))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let sessions = env("KEEL_BENCH_SESSIONS", 1000) as usize;
    let rest_s = env("KEEL_BENCH_REST_S", 60);
    let load_s = env("KEEL_BENCH_LOAD_S", 30);
    let routes = env("KEEL_BENCH_ROUTES", 1_050_000) as usize;
    let spec = TableSpec { ipv4_routes: routes, ipv6_routes: routes / 5, ..TableSpec::default() };
    let table = Table::generate(&spec);
    let mut feed = Vec::new();
    let opts = CodecOptions { extended_message: true, ..CodecOptions::default() };
    table.write_updates(&opts, &mut feed).expect("encode feed");

    let mut config =
        format!("[[neighbor]]\naddress = \"{FEEDER}\"\nasn = {}\npassive = true\nhold_time = {HOLD}\n", table.peer_as);
    for i in 0..sessions {
        config.push_str(&format!(
            "[[neighbor]]\naddress = \"{}\"\nasn = {}\npassive = true\nhold_time = {HOLD}\n",
            address(i),
            64512 + (i % 1000)
        ));
    }
    let keeld = support::keeld("sessions", LISTEN, &config);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let start = Instant::now();
        let arrivals: Arrivals = Arc::new(Mutex::new(vec![Vec::new(); sessions]));
        let remote: SocketAddr = LISTEN.parse().unwrap();
        let (up_tx, mut up_rx) = tokio::sync::mpsc::channel(sessions.max(1));
        for i in 0..sessions {
            let cfg = SpeakerConfig {
                local: IpAddr::V4(address(i)),
                remote,
                asn: 64512 + (i % 1000) as u32,
                router_id: address(i),
                hold_time: HOLD,
                families: vec![Family::IPV4_UNICAST],
                graceful_restart: None,
                long_lived: Vec::new(),
            };
            let arrivals = arrivals.clone();
            let up_tx = up_tx.clone();
            tokio::spawn(async move {
                let (mut rd, mut wr, _) = loop {
                    match speaker::connect(&cfg).await {
                        Ok(s) => break s,
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                };
                let _ = up_tx.send(()).await;
                let mut tick = tokio::time::interval(Duration::from_secs_f64(KEEPALIVE_S));
                loop {
                    tokio::select! {
                        m = rd.next() => match m {
                            Ok(Some(Message::Keepalive)) => arrivals.lock().unwrap()[i].push(start.elapsed().as_secs_f64()),
                            Ok(Some(_)) => {}
                            _ => return,
                        },
                        _ = tick.tick() => { if wr.keepalive().await.is_err() { return; } }
                    }
                }
            });
        }
        for _ in 0..sessions {
            up_rx.recv().await;
        }
        let all_up = start.elapsed();
        let (cpu0, rss_up, _) = support::stat(&keeld);
        println!("sessions: {sessions} Established in {:.2} s; keeld RSS {:.1} MiB", all_up.as_secs_f64(), rss_up as f64 / 1024.0);
        // Rest.
        let rest_from = start.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(rest_s)).await;
        let rest_to = start.elapsed().as_secs_f64();
        let (cpu1, rss_rest, _) = support::stat(&keeld);
        let (n, med, p99, max) = jitter(&arrivals, rest_from, rest_to);
        println!(
            "at rest ({rest_s} s): keeld CPU {:.2}% of one core, RSS {:.1} MiB; keepalive interval deviation over {n} intervals: median {med:.1} ms, p99 {p99:.1} ms, max {max:.1} ms",
            (cpu1 - cpu0) / (rest_to - rest_from) * 100.0,
            rss_rest as f64 / 1024.0
        );
        // Load: a neighbor sends the full table while the idle sessions keep going.
        let feeder = SpeakerConfig {
            local: IpAddr::V4(FEEDER),
            remote,
            asn: table.peer_as,
            router_id: FEEDER,
            hold_time: HOLD,
            families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
            graceful_restart: None,
            long_lived: Vec::new(),
        };
        let (mut frd, mut fwr, _) = speaker::connect(&feeder).await.expect("feeder session");
        tokio::spawn(async move { while let Ok(Some(_)) = frd.next().await {} });
        let load_from = start.elapsed().as_secs_f64();
        let t = Instant::now();
        fwr.send(&feed).await.expect("send feed");
        let sent = t.elapsed();
        tokio::time::sleep(Duration::from_secs(load_s)).await;
        let load_to = start.elapsed().as_secs_f64();
        let (cpu2, rss_load, hwm) = support::stat(&keeld);
        let (n, med, p99, max) = jitter(&arrivals, load_from, load_to);
        println!(
            "under load ({} IPv4 + {} IPv6 routes written in {:.2} s, {load_s} s window): keeld CPU {:.1} s, RSS {:.1} MiB (peak {:.1} MiB); keepalive deviation over {n} intervals: median {med:.1} ms, p99 {p99:.1} ms, max {max:.1} ms",
            routes,
            routes / 5,
            sent.as_secs_f64(),
            cpu2 - cpu1,
            rss_load as f64 / 1024.0,
            hwm as f64 / 1024.0
        );
    });
    drop(keeld);
}
