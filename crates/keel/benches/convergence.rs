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
//! their actions (routes accepted unchanged). KEEL_BENCH_RPKI=1 (with KEEL_BENCH_POLICY=1 or
//! 2) adds RPKI: ~520k synthetic VRPs derived from the table (see `support/rpki.rs`) served by
//! StayRTR on 127.0.0.90:8282, and an eleventh policy term rejecting RPKI-invalid routes; the
//! feed starts once keeld holds the VRPs. KEEL_BENCH_PREFIX_LIMIT=1 gives every upstream a
//! prefix limit that the table stays under (`count = "received"`, twice the table's size per
//! family): the cost of counting and checking, never of a trip. KEEL_BENCH_ADD_PATH=N or `all`:
//! keeld sends the downstream up to N (or all) paths per prefix (RFC 7911, `add_path_send`),
//! and the downstream waits for every (prefix, path id): upstreams x prefixes with `all`.

mod support;

use keel_lab::speaker::SpeakerConfig;
use keel_rpki::{route_origin_asn, RpkiState, VrpTable};
use keel_tablegen::{Table, TableSpec};
use keel_wire::capability::AddPathFamily;
use keel_wire::{Capability, CodecOptions, Family, Message};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use support::{env, policy, rpki};

const LISTEN: &str = "127.0.0.50:179";
const DOWNSTREAM: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 49);
const RTR_CACHE: &str = "127.0.0.90:8282";

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
    let with_rpki = env("KEEL_BENCH_RPKI", 0) == 1;
    assert!(!with_rpki || with_policy, "KEEL_BENCH_RPKI=1 needs KEEL_BENCH_POLICY=1 or 2");
    let t = Instant::now();
    let spec = TableSpec { ipv4_routes: v4, ipv6_routes: v6, ..TableSpec::default() };
    let opts = CodecOptions { extended_message: true, ..CodecOptions::default() };
    let mut feeds = Vec::new();
    let mut tables = Vec::new();
    let mut config = String::new();
    let import = if with_policy { policy::NAME } else { "all" };
    let add_path = std::env::var("KEEL_BENCH_ADD_PATH").ok().filter(|v| v != "0");
    let paths_per_prefix = match add_path.as_deref() {
        None => 1,
        Some("all") => upstreams,
        Some(n) => n.parse::<usize>().expect("KEEL_BENCH_ADD_PATH: a number or all").min(upstreams),
    };
    let prefix_limit = if env("KEEL_BENCH_PREFIX_LIMIT", 0) == 1 {
        format!(
            "[neighbor.prefix_limit]\nmax = {{ ipv4-unicast = {}, ipv6-unicast = {} }}\n",
            2 * v4.max(1),
            2 * v6.max(1)
        )
    } else {
        String::new()
    };
    for i in 0..upstreams {
        let table = Table::generate(&spec.for_peer(i as u32));
        let mut feed = Vec::new();
        table.write_updates(&opts, &mut feed).expect("encode feed");
        config.push_str(&format!(
            "[[neighbor]]\naddress = \"{}\"\nasn = {}\npassive = true\nimport = \"{import}\"\nexport = \"none\"\n{prefix_limit}",
            upstream(i),
            table.peer_as
        ));
        feeds.push((table.peer_as, feed));
        tables.push(table);
    }
    config.push_str(&format!(
        "[[neighbor]]\naddress = \"{DOWNSTREAM}\"\nasn = 64999\npassive = true\nimport = \"none\"\nexport = \"all\"\n"
    ));
    if let Some(n) = &add_path {
        let n = if n == "all" { "\"all\"".to_string() } else { n.clone() };
        config.push_str(&format!("add_path = \"send\"\nadd_path_send = {n}\n"));
    }
    println!(
        "generated {upstreams} feed(s) of {v4} IPv4 + {v6} IPv6 prefixes ({:.0} MB each) in {:.1} s",
        feeds[0].1.len() as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let mut vrps = Vec::new();
    if with_rpki {
        let t = Instant::now();
        vrps = rpki::synthetic_vrps(&tables[0], 65000);
        let vrp_table = VrpTable::new(vrps.iter().copied());
        let mut counts = [0usize; 3];
        for g in &tables[0].groups {
            let origin = route_origin_asn(g.attributes.as_path.as_ref(), 65000);
            for n in &g.prefixes {
                counts[vrp_table.validate(&n.prefix, origin) as usize] += 1;
            }
        }
        println!(
            "RPKI: {} VRPs ({} distinct) in {:.1} s; the table's routes are {} valid, {} invalid, {} not-found",
            vrps.len(),
            vrp_table.len(),
            t.elapsed().as_secs_f64(),
            counts[RpkiState::Valid as usize],
            counts[RpkiState::Invalid as usize],
            counts[RpkiState::NotFound as usize]
        );
        let (address, port) = RTR_CACHE.split_once(':').unwrap();
        config.push_str(&format!("[[rpki.cache]]\naddress = \"{address}\"\nport = {port}\n"));
    }
    let expected = if with_policy {
        config.push_str(&policy::toml(&tables[0], policy_mode == 1, with_rpki));
        let full = format!("[global]\nasn = 65000\nrouter_id = \"192.0.2.40\"\n{config}");
        let local = LISTEN.parse::<SocketAddr>().unwrap().ip();
        let vrp_table = with_rpki.then(|| VrpTable::new(vrps.iter().copied()));
        let accepted = policy::accepted(&full, &tables.iter().collect::<Vec<_>>(), 65000, local, vrp_table.as_ref());
        println!(
            "import policy \"{}\"{}: {} terms, 5,000-entry prefix list (which {} of the prefixes match); it accepts {} \
             of {} prefixes",
            policy::NAME,
            if policy_mode == 2 { " without actions" } else { "" },
            if with_rpki { "11 (with rpki invalid -> reject)" } else { "10" },
            policy::customer_matches(&tables[0]),
            accepted.len(),
            v4 + v6
        );
        accepted.len()
    } else {
        (v4 + v6) * paths_per_prefix
    };
    drop(tables);
    let stayrtr = with_rpki.then(|| rpki::Stayrtr::start(&vrps, RTR_CACHE));
    let keeld = support::keeld_logging("convergence", LISTEN, &config, "warn,keel::rpki=info");
    if with_rpki {
        // Measure import with validation, not the RTR download: wait until keeld uses the VRPs.
        let t = Instant::now();
        let distinct = VrpTable::new(vrps.iter().copied()).len();
        let want = format!("ipv4={distinct} ");
        while !keeld.log().lines().any(|l| l.contains("VRP set in use changed") && l.contains(&want)) {
            assert!(t.elapsed() < Duration::from_secs(120), "keeld has no VRPs after 120 s:\n{}", keeld.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        let (cpu, _, hwm) = support::stat(&keeld);
        println!(
            "keeld uses the {distinct} VRPs after {:.1} s (keeld CPU {cpu:.2} s, peak RSS {:.0} MiB so far)",
            t.elapsed().as_secs_f64(),
            hwm as f64 / 1024.0
        );
    }
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
        let mut open = down.open();
        if add_path.is_some() {
            let receive = |family| AddPathFamily { family, receive: true, send: false };
            open.capabilities.push(Capability::AddPath(vec![receive(Family::IPV4_UNICAST), receive(Family::IPV6_UNICAST)]));
        }
        let (mut rd, mut wr, _) = keel_lab::speaker::connect_with(&down, open).await.expect("downstream session");
        // KEEPALIVEs, so that a run longer than the hold time (90 s) keeps its session.
        let keepalives = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(20));
            loop {
                tick.tick().await;
                if wr.keepalive().await.is_err() {
                    return;
                }
            }
        });
        let counter = tokio::spawn(async move {
            let mut seen = HashSet::with_capacity(expected);
            let mut updates = 0u64;
            while seen.len() < expected {
                match rd.next().await {
                    Ok(Some(Message::Update(u))) => {
                        updates += 1;
                        for (_, n) in u.announced_routes() {
                            seen.insert((n.prefix, n.path_id));
                        }
                        for (_, n) in u.withdrawn_routes() {
                            seen.remove(&(n.prefix, n.path_id));
                        }
                    }
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
            (seen.len(), updates)
        });
        let (cpu0, _, _) = support::stat(&keeld);
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
        keepalives.abort();
        let done = start.elapsed();
        let (cpu1, rss, hwm) = support::stat(&keeld);
        let paths = upstreams * (v4 + v6);
        println!(
            "{upstreams} upstream(s) -> keeld{} -> 1 downstream: {got}/{expected} prefixes at the downstream in {:.2} s \
             (feeds written in {:.2} s, {updates} UPDATEs received); keeld CPU {:.2} s, RSS {:.0} MiB, peak {:.0} MiB, \
             {:.0} bytes of peak RSS per path ({paths} paths)",
            match (policy_mode, with_rpki) {
                (1, false) => " (import policy)",
                (2, false) => " (import policy, no actions)",
                (1, true) => " (import policy with RPKI)",
                (2, true) => " (import policy with RPKI, no actions)",
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
    drop(stayrtr);
}
