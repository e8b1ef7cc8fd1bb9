//! `keel bench --feeder bird`: each tester is a BIRD 2 instance instead of keel's own
//! speaker. Each BIRD is preloaded with its generated table as static routes (blackhole, each
//! carrying the rest of its generated AS path and its communities, so paths differ per tester)
//! and one BGP session to the DUT that starts `disabled`: `birdc enable feed` at the run's
//! start sends the table over it. Each BIRD runs in its own directory and process group, so
//! its CPU time and resident set are measured like the DUT's.
//!
//! BIRD quirks (as in `keel lab --peer bird`, see `crate::lab::bird`): `multihop` (loopback
//! addresses share no interface), `strict bind on` (else it listens on `*:179`), and an
//! explicit `next hop address` (198.18.0.10 + i, which every DUT resolves through its
//! 198.18.0.0/15 route) for routes it originates over eBGP multihop. BIRD delays a session's
//! first connect by about a second whatever `connect delay time` says, so converge's clock
//! starts when the first feeder's session came up, on BIRD's own clock (`show protocols`).
//!
//! BIRD 2.0.12 as a feeder stalls: it sends part of its table, then nothing for exactly 3 s
//! (its main loop's idle poll timeout, it seems: some export work does not wake it), then the
//! rest and End-of-RIB; any activity on its control socket wakes it. So while a run goes, a
//! waker asks each feeder `show status` every 20 ms on its control socket (`birdc`'s protocol),
//! as the lab's poller of `keel lab --peer bird` does every 200 ms. Without it `converge` took
//! 3.1 s instead of 0.4 s for 20,000 prefixes to keeld and to BIRD alike.
//!
//! Known limits (next steps of issue 20): the per-route attribute blocks cost BIRD about 2 KB
//! per route (a feeder of 200,000 routes: 458 MiB resident, 56 MiB without the blocks), too
//! much for ten full tables; and the DUTs get the routes in BIRD's order rather than grouped
//! by attribute set, so they send about 4 times as many UPDATEs as with keel's testers.

use super::dut::{group_usage, DUT_AS};
use crate::process::{Ending, Process, Spawn};
use anyhow::{bail, Context, Result};
use keel_tablegen::Table;
use keel_wire::attribute::as_path::SegmentType;
use keel_wire::Family;
use std::fmt::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Which speakers feed the DUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FeederKind {
    /// keel's own testers: one task per session in this process, writing pre-encoded tables.
    #[default]
    Speaker,
    /// One BIRD 2 per tester, preloaded with its table as static routes (needs root).
    Bird,
}

impl FeederKind {
    pub fn name(self) -> &'static str {
        match self {
            FeederKind::Speaker => "speaker",
            FeederKind::Bird => "bird",
        }
    }
}

/// One BIRD tester, preloaded and with its session to the DUT disabled.
pub struct BirdFeeder {
    dir: PathBuf,
    process: Option<Process>,
    /// Largest resident set seen (KiB, summed over its process group).
    pub peak_kib: u64,
    /// The waker's task, while it runs.
    waker: Option<tokio::task::JoinHandle<()>>,
}

/// The BIRD configuration of tester `index`: its table as static routes, its session off.
pub fn config(index: usize, local: Ipv4Addr, asn: u32, dut: SocketAddr, table: &Table, dir: &Path) -> String {
    let mut c =
        crate::daemons::bird::header(&local.to_string(), &dir.join("bird.log"), "{ warning, error, fatal }", "");
    c += "timeformat protocol iso short ms;\n";
    c += "protocol static feed_routes {\n  ipv4;\n";
    let mut seen = rustc_hash::FxHashSet::default();
    for g in table.family(Family::IPV4_UNICAST) {
        // BIRD prepends its own AS (the table's first) on export: the rest comes from here,
        // prepended last AS first. AS_SETs are flattened into the sequence.
        let mut block = String::new();
        let asns: Vec<u32> = g
            .attributes
            .as_path
            .iter()
            .flat_map(|p| p.segments.iter())
            .filter(|s| matches!(s.kind, SegmentType::Sequence | SegmentType::Set))
            .flat_map(|s| s.asns.iter().copied())
            .collect();
        let rest = match asns.first() {
            Some(&first) if first == asn => &asns[1..],
            _ => &asns[..],
        };
        for a in rest.iter().rev() {
            let _ = write!(block, " bgp_path.prepend({a});");
        }
        for community in &g.attributes.communities {
            let _ = write!(block, " bgp_community.add(({},{}));", community.0 >> 16, community.0 & 0xffff);
        }
        for n in &g.prefixes {
            if !seen.insert(n.prefix) {
                continue;
            }
            if block.is_empty() {
                let _ = writeln!(c, "  route {} blackhole;", n.prefix);
            } else {
                let _ = writeln!(c, "  route {} blackhole {{{block} }};", n.prefix);
            }
        }
    }
    c += "}\n";
    let next_hop = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 10)) + index as u32);
    let _ = write!(
        c,
        "protocol bgp feed {{\n  disabled;\n  local {local} as {asn};\n  neighbor {} port {} as {DUT_AS};\n  multihop;\n  strict bind on;\n\
         \x20 connect delay time 0;\n  connect retry time 1;\n  error wait time 1, 2;\n\
         \x20 ipv4 {{ import none; export all; next hop address {next_hop}; }};\n}}\n",
        dut.ip(),
        dut.port()
    );
    c
}

fn birdc(dir: &Path, command: &str) -> Result<String> {
    let (code, out, err) = crate::daemons::bird::birdc(&dir.join("bird.ctl"), command).context("cannot run birdc")?;
    if code != 0 {
        bail!("birdc {command}: {out}{err}");
    }
    Ok(out)
}

impl BirdFeeder {
    /// Writes the configuration, starts BIRD and waits until its static protocol holds
    /// `routes` routes (up to `timeout`).
    pub fn start(dir: PathBuf, config: &str, routes: usize, timeout: Duration) -> Result<BirdFeeder> {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("bird.conf"), config).with_context(|| format!("cannot write {}", dir.display()))?;
        let out = dir.join("bird.out");
        let how = Spawn { log: Some(out), process_group: true, outlive_thread: true, ..Spawn::default() };
        let mut process = crate::daemons::spawn("bird", crate::daemons::bird::command(&dir, false), &dir, None, &how)?;
        process.ending = Ending::Kill;
        let mut f = BirdFeeder { dir, process: Some(process), peak_kib: 0, waker: None };
        let deadline = Instant::now() + timeout;
        loop {
            f.sample();
            if f.loaded() >= routes {
                return Ok(f);
            }
            if let Some(p) = f.process.as_ref().filter(|p| !p.running()) {
                let status = p.exit_status().map_or("an unknown status".to_string(), |s| s.to_string());
                bail!(
                    "the BIRD feeder exited ({status}); bird.log ends with:\n{}",
                    crate::process::file_tail(&f.dir.join("bird.log"), 10)
                );
            }
            if Instant::now() > deadline {
                bail!("the BIRD feeder in {} did not load {routes} routes in {timeout:?}", f.dir.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Routes in BIRD's table (`show route count`: "N of N routes for N networks ..."); 0 while
    /// BIRD does not answer.
    fn loaded(&self) -> usize {
        let Ok(out) = birdc(&self.dir, "show route count") else { return 0 };
        out.lines()
            .filter(|l| l.contains(" routes for "))
            .filter_map(|l| l.split_whitespace().next()?.parse::<usize>().ok())
            .sum()
    }

    /// `birdc enable feed`: BIRD connects to the DUT and sends its table. Returns when, on
    /// BIRD's clock (seconds of the day), the session left `down` (None if it was already up).
    pub fn enable(&self) -> Result<Option<f64>> {
        birdc(&self.dir, "enable feed")?;
        Ok(self.state()?.filter(|(state, _)| state == "start").map(|(_, since)| since))
    }

    /// When, on BIRD's clock (seconds of the day), the session came up, if it is up.
    pub fn established_since(&self) -> Option<f64> {
        self.state().ok().flatten().filter(|(state, _)| state == "up").map(|(_, since)| since)
    }

    /// The feed session's state (`down`, `start`, `up`) and since when (`show protocols feed`,
    /// `timeformat protocol iso short ms`: HH:MM:SS.mmm).
    fn state(&self) -> Result<Option<(String, f64)>> {
        let out = birdc(&self.dir, "show protocols feed")?;
        Ok(out.lines().find(|l| l.starts_with("feed ")).and_then(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.get(3)?.to_string(), seconds_of_day(f.get(4)?)?))
        }))
    }

    /// Starts the waker (see the module's documentation): `show status` every 20 ms on BIRD's
    /// control socket, its answers read and dropped, until the feeder is dropped.
    pub fn wake(&mut self) {
        let ctl = self.dir.join("bird.ctl");
        self.waker = Some(tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let Ok(stream) = tokio::net::UnixStream::connect(&ctl).await else { return };
            let (mut rd, mut wr) = stream.into_split();
            let drain = tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                while matches!(rd.read(&mut buf).await, Ok(n) if n > 0) {}
            });
            while wr.write_all(b"show status\n").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            drain.abort();
        }));
    }

    pub fn log_tail(&self) -> String {
        crate::process::file_tail(&self.dir.join("bird.log"), 10)
    }

    /// CPU seconds and summed resident set (KiB) of its process group; updates the peak.
    pub fn sample(&mut self) -> (f64, u64) {
        let Some(pgid) = self.process.as_ref().and_then(|p| p.pid()) else { return (0.0, 0) };
        let (cpu, rss) = group_usage(pgid);
        self.peak_kib = self.peak_kib.max(rss);
        (cpu, rss)
    }
}

/// "HH:MM:SS.mmm" as seconds since midnight.
fn seconds_of_day(t: &str) -> Option<f64> {
    let mut p = t.split(':');
    let (h, m, s) = (p.next()?.parse::<f64>().ok()?, p.next()?.parse::<f64>().ok()?, p.next()?.parse::<f64>().ok()?);
    Some(h * 3600.0 + m * 60.0 + s)
}

/// BIRD's delay from `start` to `up` (both seconds of the day), across midnight too.
pub fn session_delay(start: f64, up: f64) -> Duration {
    Duration::from_secs_f64((up - start).rem_euclid(86_400.0))
}

impl Drop for BirdFeeder {
    fn drop(&mut self) {
        if let Some(w) = self.waker.take() {
            w.abort();
        }
        if let Some(p) = self.process.take() {
            p.stop_group(libc::SIGKILL, Duration::from_secs(10));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birds_times_of_day() {
        assert_eq!(seconds_of_day("21:31:37.656"), Some(21.0 * 3600.0 + 31.0 * 60.0 + 37.656));
        assert_eq!(seconds_of_day("soon"), None);
        let d = session_delay(seconds_of_day("23:59:59.500").unwrap(), seconds_of_day("00:00:00.250").unwrap());
        assert!((d.as_secs_f64() - 0.75).abs() < 1e-6);
    }
}
