//! Convergence benchmark: K upstream neighbors each send a full generated table (different
//! paths per upstream, like bgperf's testers) into keeld, which advertises its best paths to
//! one downstream neighbor. Measures the time until the downstream holds every prefix,
//! keeld's CPU seconds and peak RSS, and the RSS per stored path.
//!
//! `cargo bench -p keel --bench convergence`; sizes from the environment:
//! KEEL_BENCH_UPSTREAMS (1), KEEL_BENCH_ROUTES (1050000 IPv4), KEEL_BENCH_V6 (230000 IPv6).
//! KEEL_BENCH_POLICY=1 imports from every upstream through a ten-term policy with a
//! 5,000-entry prefix list (see `support/policy.rs`) instead of "all"; the downstream then
//! waits for every prefix that policy accepts. KEEL_BENCH_POLICY=2: the same terms without
//! their actions (routes accepted unchanged).

mod support;

use keel::speaker::SpeakerConfig;
use keel_tablegen::{Table, TableSpec};
use keel_wire::{CodecOptions, Family, Message};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use support::{env, policy, Keeld};

const LISTEN: &str = "127.0.0.50:179";
const DOWNSTREAM: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 49);

fn upstream(i: usize) -> Ipv4Addr {
    assert!(i < 25, "upstream addresses 127.0.0.51-75");
    Ipv4Addr::new(127, 0, 0, 51 + i as u8)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let upstreams = env("KEEL_BENCH_UPSTREAMS", 1) as usize;
    let v4 = env("KEEL_BENCH_ROUTES", 1_050_000) as usize;
    let v6 = env("KEEL_BENCH_V6", 230_000) as usize;
    let policy_mode = env("KEEL_BENCH_POLICY", 0);
    let with_policy = policy_mode == 1 || policy_mode == 2;
    let t = Instant::now();
    let spec = TableSpec { ipv4_routes: v4, ipv6_routes: v6, ..TableSpec::default() };
    let opts = CodecOptions { extended_message: true, ..CodecOptions::default() };
    let mut feeds = Vec::new();
    let mut tables = Vec::new();
    let mut config = String::new();
    let import = if with_policy { policy::NAME } else { "all" };
    for i in 0..upstreams {
        let table = Table::generate(&spec.for_peer(i as u32));
        let mut feed = Vec::new();
        table.write_updates(&opts, &mut feed).expect("encode feed");
        config.push_str(&format!(
            "[[neighbor]]\naddress = \"{}\"\nasn = {}\npassive = true\nimport = \"{import}\"\nexport = \"none\"\n",
            upstream(i),
            table.peer_as
        ));
        feeds.push((table.peer_as, feed));
        tables.push(table);
    }
    config.push_str(&format!(
        "[[neighbor]]\naddress = \"{DOWNSTREAM}\"\nasn = 64999\npassive = true\nimport = \"none\"\nexport = \"all\"\n"
    ));
    println!(
        "generated {upstreams} feed(s) of {v4} IPv4 + {v6} IPv6 prefixes ({:.0} MB each) in {:.1} s",
        feeds[0].1.len() as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let expected = if with_policy {
        config.push_str(&policy::toml(&tables[0], policy_mode == 1));
        let full = format!("[global]\nasn = 65000\nrouter_id = \"192.0.2.40\"\n{config}");
        let local = LISTEN.parse::<SocketAddr>().unwrap().ip();
        let accepted = policy::accepted(&full, &tables.iter().collect::<Vec<_>>(), 65000, local);
        println!(
            "import policy \"{}\"{}: 10 terms, 5,000-entry prefix list (which {} of the prefixes match); it accepts {} \
             of {} prefixes",
            policy::NAME,
            if policy_mode == 2 { " without actions" } else { "" },
            policy::customer_matches(&tables[0]),
            accepted.len(),
            v4 + v6
        );
        accepted.len()
    } else {
        v4 + v6
    };
    drop(tables);
    let keeld = Keeld::start("convergence", LISTEN, &config);
    let proc = keeld.proc();
    let remote: SocketAddr = LISTEN.parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let down = SpeakerConfig {
            local: IpAddr::V4(DOWNSTREAM),
            remote,
            asn: 64999,
            router_id: DOWNSTREAM,
            hold_time: 90,
            families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
            graceful_restart: None,
            long_lived: Vec::new(),
        };
        let (mut rd, _wr, _) = support::connect(&down).await;
        let counter = tokio::spawn(async move {
            let mut seen = HashSet::with_capacity(expected);
            let mut updates = 0u64;
            while seen.len() < expected {
                match rd.next().await {
                    Ok(Some(Message::Update(u))) => {
                        updates += 1;
                        for (_, n) in u.announced_routes() {
                            seen.insert(n.prefix);
                        }
                        for (_, n) in u.withdrawn_routes() {
                            seen.remove(&n.prefix);
                        }
                    }
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
            (seen.len(), updates)
        });
        let (cpu0, _, _) = proc.stat();
        let load = support::load_average();
        let start = Instant::now();
        let mut senders = Vec::new();
        for (i, (asn, feed)) in feeds.into_iter().enumerate() {
            let cfg = SpeakerConfig {
                local: IpAddr::V4(upstream(i)),
                remote,
                asn,
                router_id: upstream(i),
                hold_time: 90,
                families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
                graceful_restart: None,
                long_lived: Vec::new(),
            };
            senders.push(tokio::spawn(async move {
                let (mut rd, mut wr, _) = support::connect(&cfg).await;
                tokio::spawn(async move { while let Ok(Some(_)) = rd.next().await {} });
                wr.send(&feed).await.expect("send feed");
                wr
            }));
        }
        let mut writers = Vec::new();
        for s in senders {
            writers.push(s.await.unwrap());
        }
        let sent = start.elapsed();
        let (got, updates) = tokio::time::timeout(Duration::from_secs(600), counter).await.expect("timeout").unwrap();
        let done = start.elapsed();
        let (cpu1, rss, hwm) = proc.stat();
        let paths = upstreams * (v4 + v6);
        println!(
            "{upstreams} upstream(s) -> keeld{} -> 1 downstream: {got}/{expected} prefixes at the downstream in {:.2} s \
             (feeds written in {:.2} s, {updates} UPDATEs received); keeld CPU {:.2} s, RSS {:.0} MiB, peak {:.0} MiB, \
             {:.0} bytes of peak RSS per path ({paths} paths)",
            match policy_mode {
                1 => " (import policy)",
                2 => " (import policy, no actions)",
                _ => "",
            },
            done.as_secs_f64(),
            sent.as_secs_f64(),
            cpu1 - cpu0,
            rss as f64 / 1024.0,
            hwm as f64 / 1024.0,
            hwm as f64 * 1024.0 / paths as f64
        );
        println!("load average {load} before, {} after", support::load_average());
        drop(writers);
    });
    drop(keeld);
}
