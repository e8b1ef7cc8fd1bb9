//! `keel bench --feeder bird`: each tester is a BIRD 2 instance instead of keel's own
//! speaker, so the DUT is fed the way a real router feeds it (BIRD's UPDATE packing, pacing
//! and order). Before the clock starts, each BIRD is given its generated table over an iBGP
//! session `load` by keel's speaker (the loader, at `Layout::loader`): the paths without
//! BIRD's own AS, which it prepends towards the DUT, so the DUT sees the same paths as from
//! keel's testers, and BIRD shares one attribute block per path as with any BGP neighbor. Its
//! session `feed` to the DUT starts `disabled`: `birdc enable feed` at the run's start sends
//! the table over it. Each BIRD runs in its own directory and process group, so its CPU time
//! and resident set are measured like the DUT's. In `helper` feeder 0 restarts gracefully
//! (`birdc graceful restart`, `bird -R`) and the loader gives the new BIRD its table again
//! with 1% changed; in `restart` the feeders help the restarting DUT.
//!
//! BIRD quirks (as in `keel lab --peer bird`, see `crate::daemons::bird`): `multihop`
//! (loopback addresses share no interface), `strict bind on` (else it listens on `*:179`), and
//! an explicit `next hop address` (198.18.0.10 + i, which every DUT resolves through its
//! 198.18.0.0/15 route) for the routes it passes to the DUT over eBGP multihop. BIRD delays a session's
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
//! Static routes were the first way of loading BIRD: with per-route attribute blocks
//! (`bgp_path.prepend`, `bgp_community.add`) BIRD keeps one block per route, about 2 KB each
//! (458 MiB for 200,000 routes), and packs nearly one prefix per UPDATE; loading over BGP
//! costs what a real full feed costs BIRD.

use super::dut::{group_usage, DUT_AS};
use super::peers::{tagged_group, Tester};
use crate::process::{Ending, Process, Spawn};
use crate::speaker::SpeakerConfig;
use anyhow::{bail, Context, Result};
use keel_tablegen::Table;
use keel_wire::attribute::as_path::SegmentType;
use keel_wire::{builder, CodecOptions, Community, Family, NextHop, Update};
use std::fmt::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which speakers feed the DUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FeederKind {
    /// keel's own testers: one task per session in this process, writing pre-encoded tables.
    #[default]
    Speaker,
    /// One BIRD 2 per tester, given its table over BGP before the run (needs root).
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
    /// keel's speaker that gave BIRD its table; its session must stay up (BIRD would withdraw
    /// the table from the DUT).
    loader: Option<Tester>,
    /// CPU seconds of the BIRD processes before the current one (a graceful restart).
    cpu_before: f64,
}

/// The BIRD configuration of tester `index`: a passive iBGP session `load` on which the
/// loader (keel's speaker at `loader`) gives it its table, a default route that resolves the
/// loaded next hops, and the session `feed` to the DUT, off until the run starts, exporting
/// only what `load` brought. `enabled`: the session `feed` starts at once (a feeder restarting
/// in the middle of a run).
pub fn config(
    index: usize,
    local: Ipv4Addr,
    asn: u32,
    loader: Ipv4Addr,
    dut: SocketAddr,
    dir: &Path,
    enabled: bool,
) -> String {
    let mut c =
        crate::daemons::bird::header(&local.to_string(), &dir.join("bird.log"), "{ warning, error, fatal }", "");
    c += "timeformat protocol iso short ms;\n";
    // iBGP next hops resolve recursively through the IGP table (BIRD's default for iBGP):
    // one blackhole default route resolves every one, and is not exported. `allow local as`:
    // a generated path may hold BIRD's AS further in (prepending), which BIRD would otherwise
    // drop as a loop. `graceful restart on` (BIRD's default is `aware`, which keeps no
    // routes): the DUT helps when the feeder restarts, and the feeder's recovery waits for
    // the loader's End-of-RIB.
    c += "protocol static resolve {\n  ipv4;\n  route 0.0.0.0/0 blackhole;\n}\n";
    let _ = write!(
        c,
        "protocol bgp load {{\n  local {local} as {asn};\n  neighbor {loader} as {asn};\n  passive on;\n  strict bind on;\n  allow local as;\n  graceful restart on;\n\
         \x20 ipv4 {{ import all; export none; }};\n}}\n"
    );
    let next_hop = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 10)) + index as u32);
    let _ = write!(
        c,
        "protocol bgp feed {{\n  {}local {local} as {asn};\n  neighbor {} port {} as {DUT_AS};\n  multihop;\n  strict bind on;\n\
         \x20 connect delay time 0;\n  connect retry time 1;\n  error wait time 1, 2;\n  graceful restart on;\n\
         \x20 ipv4 {{ import none; export where proto = \"load\"; next hop address {next_hop}; }};\n}}\n",
        if enabled { "" } else { "disabled;\n  " },
        dut.ip(),
        dut.port()
    );
    c
}

/// What the loader sends tester `asn`'s BIRD over iBGP: its table with the first AS of each
/// path (BIRD's own, which it prepends again towards the DUT) taken off, LOCAL_PREF 100, the
/// loader's own address as next hop, then End-of-RIB. The DUT so receives the same paths as
/// from keel's own tester. (The table's own next hops lie inside prefixes of the table, and
/// BIRD does not resolve a next hop through a route that is itself recursive.)
pub fn loader_feed(table: &Table, asn: u32, loader: Ipv4Addr, tag: Option<Community>) -> Result<(Vec<u8>, u64)> {
    let opts = CodecOptions::default();
    let mut out = Vec::new();
    let mut changed = 0u64;
    let groups: Vec<_> = table.family(Family::IPV4_UNICAST).collect();
    for (i, g) in groups.iter().enumerate() {
        let mut attributes = g.attributes.clone();
        if let Some(path) = attributes.as_path.as_mut() {
            if let Some(first) = path.segments.first_mut().filter(|s| s.kind == SegmentType::Sequence) {
                if first.asns.first() == Some(&asn) {
                    first.asns.remove(0);
                }
            }
            path.segments.retain(|s| !s.asns.is_empty());
        }
        attributes.local_pref = Some(100);
        // With `tag`: the groups keel's own tester tags in `helper`.
        if let Some(tag) = tag.filter(|_| tagged_group(i, 0, groups.len())) {
            attributes.communities.push(tag);
            changed += g.prefixes.len() as u64;
        }
        builder::announce(g.family, &attributes, NextHop::V4(loader), &g.prefixes, &opts, &mut out)?;
    }
    out.extend_from_slice(&Update::end_of_rib(Family::IPV4_UNICAST).encode(&opts)?);
    Ok((out, changed))
}

fn birdc(dir: &Path, command: &str) -> Result<String> {
    let (code, out, err) = crate::daemons::bird::birdc(&dir.join("bird.ctl"), command).context("cannot run birdc")?;
    if code != 0 {
        bail!("birdc {command}: {out}{err}");
    }
    Ok(out)
}

impl BirdFeeder {
    /// Writes the configuration, starts BIRD, has the loader give it its table (`loader`
    /// connects to BIRD's `load` session and writes `feed`) and waits until BIRD holds
    /// `routes` routes from it (up to `timeout`).
    pub async fn start(
        dir: PathBuf,
        config: String,
        loader: SpeakerConfig,
        feed: Arc<Vec<u8>>,
        routes: usize,
        timeout: Duration,
    ) -> Result<BirdFeeder> {
        let mut f = tokio::task::spawn_blocking(move || BirdFeeder::spawn(dir, &config, false)).await??;
        f.load(loader, feed, routes, timeout).await?;
        Ok(f)
    }

    /// Starts the loader and waits until BIRD holds `routes` routes from it.
    async fn load(
        &mut self,
        loader: SpeakerConfig,
        feed: Arc<Vec<u8>>,
        routes: usize,
        timeout: Duration,
    ) -> Result<()> {
        self.loader = Some(Tester::start(loader, feed, false));
        let deadline = Instant::now() + timeout;
        loop {
            let loaded = tokio::task::block_in_place(|| {
                self.sample();
                self.loaded()
            });
            if loaded >= routes {
                return Ok(());
            }
            if let Some(p) = self.process.as_ref().filter(|p| !p.running()) {
                let status = p.exit_status().map_or("an unknown status".to_string(), |s| s.to_string());
                bail!("the BIRD feeder exited ({status}); bird.log ends with:\n{}", self.log_tail());
            }
            if Instant::now() > deadline {
                bail!(
                    "the BIRD feeder in {} loaded {loaded} of {routes} routes in {timeout:?}; bird.log ends with:\n{}",
                    self.dir.display(),
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn spawn(dir: PathBuf, config: &str, recovery: bool) -> Result<BirdFeeder> {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("bird.conf"), config).with_context(|| format!("cannot write {}", dir.display()))?;
        let process = Self::run(&dir, recovery)?;
        Ok(BirdFeeder { dir, process: Some(process), peak_kib: 0, waker: None, loader: None, cpu_before: 0.0 })
    }

    fn run(dir: &Path, recovery: bool) -> Result<Process> {
        let how =
            Spawn { log: Some(dir.join("bird.out")), process_group: true, outlive_thread: true, ..Spawn::default() };
        let mut process = crate::daemons::spawn("bird", crate::daemons::bird::command(dir, recovery), dir, None, &how)?;
        process.ending = Ending::Kill;
        Ok(process)
    }

    /// BIRD's own graceful restart (RFC 4724 restarting speaker): `birdc graceful restart`,
    /// then `bird -R` with `config` (its session to the DUT enabled), which keel's loader gives
    /// `feed` (End-of-RIB last) before BIRD's recovery ends and it sends the DUT its table and
    /// End-of-RIB. Returns once BIRD is started again; [`loader_done`](Self::loader_done) tells
    /// when the loader's End-of-RIB was written.
    pub async fn graceful_restart(&mut self, config: &str, loader: SpeakerConfig, feed: Arc<Vec<u8>>) -> Result<()> {
        let dir = self.dir.clone();
        self.cpu_before = self.sample().0;
        let old = self.process.take();
        let config = config.to_string();
        self.loader = None;
        let process = tokio::task::spawn_blocking(move || -> Result<Process> {
            let _ = crate::daemons::bird::birdc(&dir.join("bird.ctl"), "graceful restart");
            if let Some(p) = old {
                p.stop_group(libc::SIGTERM, Duration::from_secs(10));
            }
            std::fs::write(dir.join("bird.conf"), config)?;
            Self::run(&dir, true)
        })
        .await??;
        self.process = Some(process);
        self.loader = Some(Tester::start(loader, feed, false));
        Ok(())
    }

    /// When the loader finished writing its table and End-of-RIB to BIRD.
    pub fn loader_done(&self) -> Option<std::time::Instant> {
        self.loader.as_ref().and_then(|l| l.done())
    }

    /// Routes BIRD imported from the loader (`show protocols all load`: "Routes: N imported,
    /// ..."), 0 while BIRD does not answer. The protocol's counter, not `show route ... count`,
    /// which walks the whole table in BIRD's only thread and slowed the load it was watching
    /// (a million routes took over 18 minutes, polled every 100 ms).
    fn loaded(&self) -> usize {
        let Ok(out) = birdc(&self.dir, "show protocols all load") else { return 0 };
        out.lines()
            .filter_map(|l| l.trim().strip_prefix("Routes:"))
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

    /// CPU seconds (of every BIRD process this feeder ran) and resident set (KiB) of its
    /// process group; updates the peak.
    pub fn sample(&mut self) -> (f64, u64) {
        let Some(pgid) = self.process.as_ref().and_then(|p| p.pid()) else { return (self.cpu_before, 0) };
        let (cpu, rss) = group_usage(pgid);
        self.peak_kib = self.peak_kib.max(rss);
        (self.cpu_before + cpu, rss)
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
        self.loader = None;
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
