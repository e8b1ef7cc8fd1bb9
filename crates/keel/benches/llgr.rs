//! Long-lived graceful restart (RFC 9494), helper side, end to end: an upstream neighbor with a
//! full table goes away and stays away past its restart time (1 s). Its routes become
//! LLGR-stale: one downstream that advertised LLGR gets them again with LLGR_STALE, another
//! without LLGR gets them withdrawn (§4.3). Measures, per downstream, the time from the end of
//! the restart time to its last UPDATE, the UPDATEs and routes it got, and keeld's CPU.
//!
//! `cargo bench -p keel --bench llgr`; sizes: KEEL_BENCH_ROUTES (1050000 IPv4),
//! KEEL_BENCH_V6 (230000 IPv6).

mod support;

use keel_lab::speaker::SpeakerConfig;
use keel_tablegen::{Table, TableSpec};
use keel_wire::capability::{GracefulRestart, GracefulRestartFamily, LongLivedFamily};
use keel_wire::{Community, Family, Message};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{env, feed};

const LISTEN: &str = "127.0.0.84:179";
const UP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 85);
const DOWN_LLGR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 86);
const DOWN_PLAIN: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 87);
const FAMILIES: [Family; 2] = [Family::IPV4_UNICAST, Family::IPV6_UNICAST];
/// The upstream's advertised restart time: LLGR starts this long after it is gone.
const RESTART_TIME: u16 = 1;

/// What one downstream neighbor received.
#[derive(Default)]
struct Seen {
    updates: AtomicU64,
    announced: AtomicU64,
    /// Announcements carrying LLGR_STALE (65535:6).
    llgr_stale: AtomicU64,
    withdrawn: AtomicU64,
    last: Mutex<Option<Instant>>,
}

impl Seen {
    fn snapshot(&self) -> (u64, u64, u64, u64) {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        (l(&self.updates), l(&self.announced), l(&self.llgr_stale), l(&self.withdrawn))
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let v4 = env("KEEL_BENCH_ROUTES", 1_050_000) as usize;
    let v6 = env("KEEL_BENCH_V6", 230_000) as usize;
    let table = Table::generate(&TableSpec { ipv4_routes: v4, ipv6_routes: v6, ..TableSpec::default() });
    let (full, total) = feed(&table, |_| true);
    let config = format!(
        "[long_lived_graceful_restart]\nfamilies = [\"ipv4-unicast\", \"ipv6-unicast\"]\n\
         [[neighbor]]\naddress = \"{UP}\"\nasn = {}\npassive = true\nimport = \"all\"\nexport = \"none\"\n\
         [[neighbor]]\naddress = \"{DOWN_LLGR}\"\nasn = 64998\npassive = true\nimport = \"none\"\nexport = \"all\"\n\
         [[neighbor]]\naddress = \"{DOWN_PLAIN}\"\nasn = 64999\npassive = true\nimport = \"none\"\nexport = \"all\"\n",
        table.peer_as
    );
    let keeld = support::keeld("llgr", LISTEN, &config);
    let remote: SocketAddr = LISTEN.parse().unwrap();
    let gr = GracefulRestart {
        restart_state: false,
        notification: false,
        restart_time: RESTART_TIME,
        families: FAMILIES.map(|family| GracefulRestartFamily { family, forwarding_state: true }).to_vec(),
    };
    let llgr = FAMILIES.map(|family| LongLivedFamily { family, forwarding_state: true, stale_time: 3600 }).to_vec();
    let cfg = |local: Ipv4Addr, asn: u32, long_lived: bool| SpeakerConfig {
        local: IpAddr::V4(local),
        remote,
        asn,
        router_id: local,
        hold_time: 90,
        families: FAMILIES.to_vec(),
        graceful_restart: Some(gr.clone()),
        long_lived: if long_lived { llgr.clone() } else { Vec::new() },
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut seen = Vec::new();
        let mut keep = Vec::new();
        for (addr, asn, long_lived) in [(DOWN_LLGR, 64998, true), (DOWN_PLAIN, 64999, false)] {
            let (mut rd, wr, _) = support::connect(&cfg(addr, asn, long_lived)).await;
            keep.push(wr);
            let s = Arc::new(Seen::default());
            seen.push(s.clone());
            tokio::spawn(async move {
                while let Ok(Some(m)) = rd.next().await {
                    let Message::Update(u) = m else { continue };
                    if u.as_end_of_rib().is_some() {
                        continue;
                    }
                    let announced = u.announced_routes().count() as u64;
                    s.updates.fetch_add(1, Ordering::Relaxed);
                    s.announced.fetch_add(announced, Ordering::Relaxed);
                    if u.attributes.communities.contains(&Community::LLGR_STALE) {
                        s.llgr_stale.fetch_add(announced, Ordering::Relaxed);
                    }
                    s.withdrawn.fetch_add(u.withdrawn_routes().count() as u64, Ordering::Relaxed);
                    *s.last.lock().unwrap() = Some(Instant::now());
                }
            });
        }
        let (urd, mut uwr, _) = support::connect(&cfg(UP, table.peer_as, true)).await;
        uwr.send(&full).await.unwrap();
        while seen.iter().any(|s| s.announced.load(Ordering::Relaxed) < total as u64) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before: Vec<_> = seen.iter().map(|s| s.snapshot()).collect();
        let (cpu0, _, _) = support::stat(&keeld);
        // The upstream goes away for good (TCP loss).
        drop(urd);
        uwr.close().await;
        let gone = Instant::now();
        let deadline = gone + Duration::from_secs(300);
        while Instant::now() < deadline
            && (seen[0].llgr_stale.load(Ordering::Relaxed) < total as u64
                || seen[1].withdrawn.load(Ordering::Relaxed) - before[1].3 < total as u64)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (cpu1, rss, peak) = support::stat(&keeld);
        let llgr_starts = gone + Duration::from_secs(RESTART_TIME.into());
        for (name, s, b) in [("LLGR downstream", &seen[0], before[0]), ("non-LLGR downstream", &seen[1], before[1])] {
            let (u, a, l, w) = s.snapshot();
            let done = s.last.lock().unwrap().map_or(0.0, |t| t.saturating_duration_since(llgr_starts).as_secs_f64());
            println!(
                "{name}: {} UPDATEs, {} announcements ({} with LLGR_STALE), {} withdrawals; last UPDATE {:.0} ms after \
                 the restart time ended",
                u - b.0,
                a - b.1,
                l - b.2,
                w - b.3,
                done * 1000.0
            );
        }
        println!(
            "{total}-prefix neighbor entering LLGR: keeld CPU {:.2} s; RSS {:.0} MiB, peak {:.0} MiB",
            cpu1 - cpu0,
            rss as f64 / 1024.0,
            peak as f64 / 1024.0
        );
        drop(keep);
    });
    drop(keeld);
}
