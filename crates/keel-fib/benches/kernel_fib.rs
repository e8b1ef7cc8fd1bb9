//! Kernel FIB benchmark: install a full-table-sized set of IPv4 routes into a namespace's table,
//! read them back, change 1% through reconcile, compare batch sizes, delete all.
//!
//! Needs root. Runs in its own network namespace (deleted at the end, also on panic), in table
//! 1000, so the host's routes are never touched. Run:
//!   CARGO_TARGET_DIR=/work/target-fib cargo bench -p keel-fib --bench kernel_fib
//! `KEEL_FIB_BENCH_ROUTES=N` changes the table size (default 1 050 000);
//! `KEEL_FIB_BENCH_ORDER=shuffled` installs in a scrambled order instead of ascending prefixes.

#[path = "../tests/netns/mod.rs"]
mod netns;

use keel_fib::{reconcile, Fib, FibChange, FibRoute, NetlinkFib, NextHop, DEFAULT_PROTOCOL};
use keel_wire::Prefix;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const TABLE: u32 = 1000;

fn main() {
    let n: u32 = std::env::var("KEEL_FIB_BENCH_ROUTES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_050_000);
    let Some(ns) = netns::NetNs::new() else { return };
    let slab_before = meminfo_kib("Slab:");
    let lines = ns.run(move || async move { run(n).await });
    let slab_after = meminfo_kib("Slab:");
    let shown = ns.ip(&format!("route show table {TABLE} proto {DEFAULT_PROTOCOL}")).lines().count();
    for l in lines {
        println!("{l}");
    }
    println!("routes left in table after delete-all (ip route show): {shown}");
    println!("peak RSS of the bench process (VmHWM): {} MiB", status_kib("VmHWM:") / 1024);
    println!("kernel slab after delete-all, relative to before: {:+} MiB", (slab_after - slab_before) / 1024);
}

async fn run(n: u32) -> Vec<String> {
    let mut out = Vec::new();
    let gw2 = NextHop::new("192.0.2.2".parse().unwrap());
    let gw3 = NextHop::new("192.0.2.3".parse().unwrap());
    // /24s from 1.0.0.0 upward; every 10th via the other gateway, every 50th ECMP.
    let table: Vec<FibRoute> = (0..n)
        .map(|i| {
            let p = Prefix::new(Ipv4Addr::from((0x0001_0000 + i) << 8).into(), 24).unwrap();
            let hops = match i {
                i if i % 50 == 0 => vec![gw2, gw3],
                i if i % 10 == 0 => vec![gw3],
                _ => vec![gw2],
            };
            FibRoute::new(p, hops)
        })
        .collect();
    let mut fib = NetlinkFib::new(TABLE, DEFAULT_PROTOCOL).unwrap();
    let slab0 = meminfo_kib("Slab:");

    let mut changes: Vec<FibChange> = table.iter().cloned().map(FibChange::Upsert).collect();
    let shuffled = std::env::var("KEEL_FIB_BENCH_ORDER").is_ok_and(|v| v == "shuffled");
    if shuffled {
        // Deterministic scramble: sort by a multiplicative hash of the position.
        let mut keyed: Vec<_> =
            changes.into_iter().enumerate().map(|(i, c)| ((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15), c)).collect();
        keyed.sort_unstable_by_key(|(k, _)| *k);
        changes = keyed.into_iter().map(|(_, c)| c).collect();
        out.push("install order: shuffled".into());
    }
    let (t, cpu) = (Instant::now(), cpu_times());
    let r = fib.apply(&changes).await.unwrap();
    let install = t.elapsed();
    let cpu = cpu_since(cpu);
    assert_eq!((r.upserted, r.failures.len()), (n as usize, 0), "{:?}", r.failures.first());
    drop(changes);
    out.push(format!(
        "install {n} routes, one apply(): {} ({:.0} routes/s; CPU user {:.3} s, system {:.3} s)",
        secs(install),
        rate(n, install),
        cpu.0,
        cpu.1
    ));
    out.push(format!("slab with table installed: +{} MiB", (meminfo_kib("Slab:") - slab0) / 1024));

    let t = Instant::now();
    let owned = fib.read_owned().await.unwrap();
    let dump = t.elapsed();
    assert_eq!(owned.len(), n as usize);
    out.push(format!("read_owned() dump of {n} routes: {}", secs(dump)));

    // 1% changed: every 100th route moves to the other gateway (or from ECMP to one path).
    let mut wanted = table.clone();
    for r in wanted.iter_mut().step_by(100) {
        r.next_hops = if r.next_hops == [gw3] { vec![gw2] } else { vec![gw3] };
    }
    let t = Instant::now();
    let changes = reconcile(&owned, &wanted);
    let diff = t.elapsed();
    let t = Instant::now();
    let r = fib.apply(&changes).await.unwrap();
    let change = t.elapsed();
    assert_eq!((r.upserted, r.failures.len()), (n.div_ceil(100) as usize, 0));
    out.push(format!("1% change: reconcile() {} -> {} upserts; apply() {}", secs(diff), changes.len(), secs(change)));
    drop(owned);

    // Batch size: replace the same 100 000 routes with different batch limits.
    let sample: Vec<FibChange> = wanted.iter().take(100_000).cloned().map(FibChange::Upsert).collect();
    for limit in [1, 16, 256, 2048] {
        fib.set_batch_limit(limit);
        let count = if limit == 1 { 20_000 } else { sample.len() };
        let t = Instant::now();
        let r = fib.apply(&sample[..count]).await.unwrap();
        let d = t.elapsed();
        assert_eq!(r.upserted, count);
        out.push(format!(
            "replace {count} routes with batch limit {limit}: {} ({:.0} routes/s)",
            secs(d),
            rate(count as u32, d)
        ));
    }
    fib.set_batch_limit(keel_fib::netlink::DEFAULT_BATCH_LIMIT);

    let deletes: Vec<FibChange> = wanted.iter().map(|r| FibChange::Delete(r.prefix)).collect();
    let (t, cpu) = (Instant::now(), cpu_times());
    let r = fib.apply(&deletes).await.unwrap();
    let del = t.elapsed();
    let cpu = cpu_since(cpu);
    assert_eq!(r.deleted, n as usize);
    out.push(format!("delete {n} routes, one apply(): {} (CPU user {:.3} s, system {:.3} s)", secs(del), cpu.0, cpu.1));
    out
}

/// (user, system) CPU seconds of this thread.
fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a rusage.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (s(ru.ru_utime), s(ru.ru_stime))
}

fn cpu_since(before: (f64, f64)) -> (f64, f64) {
    let now = cpu_times();
    (now.0 - before.0, now.1 - before.1)
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn rate(n: u32, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn status_kib(key: &str) -> i64 {
    field_kib("/proc/self/status", key)
}

fn meminfo_kib(key: &str) -> i64 {
    field_kib("/proc/meminfo", key)
}

fn field_kib(path: &str, key: &str) -> i64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
