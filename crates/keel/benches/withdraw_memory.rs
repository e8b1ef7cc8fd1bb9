//! Memory given back after a large withdrawal (issue 16): one neighbor floods keeld with a
//! generated table, then withdraws every prefix (or, with KEEL_BENCH_DROP=1, drops the
//! session, which flushes them). Prints keeld's RSS with the table, its peak, and its RSS once
//! the table is gone.
//!
//! `cargo bench -p keel --bench withdraw_memory`; KEEL_BENCH_ROUTES (500000 IPv4 prefixes).

mod support;

use keel_lab::speaker::SpeakerConfig;
use keel_tablegen::{Table, TableSpec};
use keel_wire::{builder, CodecOptions, Family};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use support::env;

const LISTEN: &str = "127.0.0.80:179";
const UPSTREAM: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 81);

fn received(api: &std::path::Path) -> Option<u64> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["--api"])
        .arg(api)
        .args(["show", "neighbor", &UPSTREAM.to_string(), "--json"])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["received_prefixes"].as_u64()
}

fn wait_until(api: &std::path::Path, what: &str, f: impl Fn(u64) -> bool) -> f64 {
    let t = Instant::now();
    loop {
        if received(api).is_some_and(&f) {
            return t.elapsed().as_secs_f64();
        }
        assert!(t.elapsed() < Duration::from_secs(300), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let routes = env("KEEL_BENCH_ROUTES", 500_000) as usize;
    let drop_session = env("KEEL_BENCH_DROP", 0) == 1;
    let table = Table::generate(&TableSpec { ipv4_routes: routes, ipv6_routes: 0, ..TableSpec::default() });
    let (feed, count) = support::feed(&table, |_| true);
    let opts = CodecOptions { extended_message: true, ..CodecOptions::default() };
    let mut withdraw = Vec::new();
    for g in table.family(Family::IPV4_UNICAST) {
        builder::withdraw(Family::IPV4_UNICAST, &g.prefixes, &opts, &mut withdraw).expect("encode");
    }
    let keeld = support::keeld(
        "withdraw-memory",
        LISTEN,
        &format!(
            "[graceful_restart]\nmode = \"disabled\"\n[[neighbor]]\naddress = \"{UPSTREAM}\"\nasn = {}\npassive = true\n\
             import = \"all\"\nexport = \"none\"\n",
            table.peer_as
        ),
    );
    let api = keeld.api();
    std::thread::sleep(Duration::from_millis(500));
    let (_, idle, _) = support::stat(&keeld);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let cfg = SpeakerConfig {
        local: IpAddr::V4(UPSTREAM),
        remote: LISTEN.parse::<SocketAddr>().expect("address"),
        asn: table.peer_as,
        router_id: Ipv4Addr::new(192, 0, 2, 81),
        hold_time: 90,
        families: vec![Family::IPV4_UNICAST],
        graceful_restart: None,
        long_lived: Vec::new(),
    };
    let (_reader, mut writer, _) = rt.block_on(support::connect(&cfg));
    rt.block_on(writer.send(&feed)).expect("send the table");
    let load = wait_until(&api, "the table", |n| n as usize == count);
    std::thread::sleep(Duration::from_secs(1));
    let (_, loaded, _) = support::stat(&keeld);
    if drop_session {
        rt.block_on(writer.close());
    } else {
        rt.block_on(writer.send(&withdraw)).expect("send the withdrawals");
    }
    let gone = wait_until(&api, "the withdrawals", |n| n == 0);
    std::thread::sleep(Duration::from_secs(2));
    let (cpu, after, peak) = support::stat(&keeld);
    println!(
        "{count} prefixes ({}): loaded in {load:.1} s, {} in {gone:.1} s; keeld RSS idle {:.0} MiB, with the table {:.0} MiB, \
         peak {:.0} MiB, after {:.0} MiB ({:.0}% of the table's growth given back); CPU {cpu:.1} s",
        if drop_session { "session dropped" } else { "withdrawn" },
        if drop_session { "flushed" } else { "withdrawn" },
        mib(idle),
        mib(loaded),
        mib(peak),
        mib(after),
        100.0 * (loaded.saturating_sub(after)) as f64 / (loaded.saturating_sub(idle)).max(1) as f64,
    );
}
