//! Graceful restart, helper side, end to end: an upstream neighbor with a full table restarts
//! gracefully (TCP loss, then back with R=1/F=1) and re-sends its table with 1% of the prefixes
//! gone. Measures what the downstream neighbor saw during the restart (ideal: only the
//! withdrawals of the 1%), the time from the upstream's End-of-RIB to the last withdrawal at
//! the downstream, and keeld's CPU for the whole restart.
//!
//! `cargo bench -p keel --bench gr_helper`; sizes: KEEL_BENCH_ROUTES (1050000 IPv4),
//! KEEL_BENCH_V6 (230000 IPv6).

mod support;

use keel_lab::speaker::{self, SpeakerConfig};
use keel_tablegen::{Table, TableSpec};
use keel_wire::capability::{GracefulRestart, GracefulRestartFamily};
use keel_wire::{Family, Message};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{env, feed};

const LISTEN: &str = "127.0.0.80:179";
const UP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 81);
const DOWN: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 82);

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let v4 = env("KEEL_BENCH_ROUTES", 1_050_000) as usize;
    let v6 = env("KEEL_BENCH_V6", 230_000) as usize;
    let table = Table::generate(&TableSpec { ipv4_routes: v4, ipv6_routes: v6, ..TableSpec::default() });
    let (full, total) = feed(&table, |_| true);
    // The restarted neighbor no longer has every 100th prefix.
    let (changed, kept) = feed(&table, |i| i % 100 != 0);
    let gone = total - kept;
    let config = format!(
        "[[neighbor]]\naddress = \"{UP}\"\nasn = {}\npassive = true\nimport = \"all\"\nexport = \"none\"\n\
         [[neighbor]]\naddress = \"{DOWN}\"\nasn = 64999\npassive = true\nimport = \"none\"\nexport = \"all\"\n",
        table.peer_as
    );
    let keeld = support::keeld("gr-helper", LISTEN, &config);
    let remote: SocketAddr = LISTEN.parse().unwrap();
    let gr = |restarting: bool| GracefulRestart {
        restart_state: restarting,
        notification: false,
        restart_time: 120,
        families: [Family::IPV4_UNICAST, Family::IPV6_UNICAST]
            .map(|family| GracefulRestartFamily { family, forwarding_state: true })
            .to_vec(),
    };
    let cfg = |local: Ipv4Addr, asn: u32, g: Option<GracefulRestart>| SpeakerConfig {
        local: IpAddr::V4(local),
        remote,
        asn,
        router_id: local,
        hold_time: 90,
        families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
        graceful_restart: g,
        long_lived: Vec::new(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (mut drd, _dwr, _) = support::connect(&cfg(DOWN, 64999, None)).await;
        let updates = Arc::new(AtomicU64::new(0));
        let withdrawn = Arc::new(AtomicU64::new(0));
        let announced = Arc::new(AtomicU64::new(0));
        let last = Arc::new(std::sync::Mutex::new(Instant::now()));
        {
            let (updates, withdrawn, announced, last) = (updates.clone(), withdrawn.clone(), announced.clone(), last.clone());
            tokio::spawn(async move {
                while let Ok(Some(m)) = drd.next().await {
                    if let Message::Update(u) = m {
                        if u.as_end_of_rib().is_some() {
                            continue;
                        }
                        updates.fetch_add(1, Ordering::Relaxed);
                        announced.fetch_add(u.announced_routes().count() as u64, Ordering::Relaxed);
                        withdrawn.fetch_add(u.withdrawn_routes().count() as u64, Ordering::Relaxed);
                        *last.lock().unwrap() = Instant::now();
                    }
                }
            });
        }
        // Initial load.
        let (urd, mut uwr, _) = support::connect(&cfg(UP, table.peer_as, Some(gr(false)))).await;
        uwr.send(&full).await.unwrap();
        while announced.load(Ordering::Relaxed) < total as u64 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (u0, a0, w0) = (updates.load(Ordering::Relaxed), announced.load(Ordering::Relaxed), withdrawn.load(Ordering::Relaxed));
        let (cpu0, _, _) = support::stat(&keeld);
        // The upstream's control plane dies (TCP loss), then comes back with R=1/F=1.
        drop(urd);
        uwr.close().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let during = updates.load(Ordering::Relaxed) - u0;
        let (mut rd2, mut wr2, _) = speaker::connect(&cfg(UP, table.peer_as, Some(gr(true)))).await.expect("upstream back");
        tokio::spawn(async move { while let Ok(Some(_)) = rd2.next().await {} });
        wr2.send(&changed).await.unwrap();
        let eor_sent = Instant::now();
        let deadline = Instant::now() + Duration::from_secs(120);
        while withdrawn.load(Ordering::Relaxed) - w0 < gone as u64 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let sweep_done = last.lock().unwrap().saturating_duration_since(eor_sent);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (cpu1, rss, _) = support::stat(&keeld);
        println!(
            "helper restart of a {total}-prefix neighbor, {gone} prefixes gone: downstream saw {during} UPDATEs while it was away, \
             then {} UPDATEs with {} withdrawals and {} announcements (ideal: {gone} withdrawals, 0 announcements); \
             last withdrawal {:.0} ms after the neighbor's End-of-RIB was written (the feed itself takes time to send); \
             keeld CPU for the restart {:.2} s; RSS {:.0} MiB",
            updates.load(Ordering::Relaxed) - u0,
            withdrawn.load(Ordering::Relaxed) - w0,
            announced.load(Ordering::Relaxed) - a0,
            sweep_done.as_secs_f64() * 1000.0,
            cpu1 - cpu0,
            rss as f64 / 1024.0
        );
        drop(wr2);
    });
    drop(keeld);
}
