//! `keel bench --bmp` (issue 23's Performance section): what BMP costs keel, with pmacct's
//! `pmbmpd` as the station monitoring all four views, for one tester's table (a full feed by
//! default). Three runs of keeld, one `bmp` row each (`station` says which):
//!
//! - `none`: converge with no station configured, the baseline;
//! - `live`: converge with pmbmpd listening from the start: keel's CPU seconds and peak RSS
//!   against `none`, and `station_seconds`, when pmbmpd's log holds the whole Loc-RIB;
//! - `dump`: converge with a station configured but not listening, then start pmbmpd: keel
//!   connects within its `reconnect` (1 s) and streams its dump. `station_seconds` runs from
//!   keel's Initiation in pmbmpd's log to the dump's Statistics Reports there (they follow the
//!   End-of-RIB markers; the log is read every 100 ms), `cpu_seconds` is keel's CPU from
//!   pmbmpd's start and `extra_rss_mib` its peak RSS over what it held before.
//!
//! `station_routes` is the Loc-RIB prefixes in pmbmpd's log, `station_drops` the times keel
//! dropped the station for falling behind (its `buffer`), from keel's log.

use super::{Ctx, Row, Scenario, Setup};
use crate::daemons::pmacct::Pmbmpd;
use anyhow::{bail, Result};
use rustc_hash::FxHashSet;
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Whether and when the DUT's station listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Station {
    /// No `[[bmp.station]]`.
    None,
    /// pmbmpd listens before keeld starts.
    Live,
    /// Configured, pmbmpd started after convergence.
    Dump,
}

impl Station {
    pub fn name(self) -> &'static str {
        match self {
            Station::None => "none",
            Station::Live => "live",
            Station::Dump => "dump",
        }
    }
}

/// keeld's `[[bmp.station]]` for pmbmpd at `address`: every view, statistics only after the
/// dump, reconnecting every second.
pub fn station_config(address: SocketAddr) -> String {
    format!(
        "\n[[bmp.station]]\naddress = \"{}\"\nport = {}\nreconnect = 1\nstatistics = 0\n\
         views = [\"adj_rib_in_pre\", \"adj_rib_in_post\", \"loc_rib\", \"adj_rib_out_post\"]\n",
        address.ip(),
        address.port()
    )
}

/// pmbmpd on `address` in `dir` (made afresh).
pub fn start_pmbmpd(dir: &Path, address: SocketAddr) -> Result<Pmbmpd> {
    if crate::process::find("pmbmpd").is_none() {
        bail!("--bmp needs pmacct's pmbmpd (apt-get install -y --no-install-recommends pmacct)");
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    Ok(Pmbmpd::start(dir, &address.ip().to_string(), address.port()))
}

/// pmbmpd's JSON log, read as it grows: the Loc-RIB it holds and whether a Statistics Report
/// came. Lines are matched as pmbmpd writes them (`"key": value`), not parsed: a full table is
/// millions of them.
pub struct StationLog {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
    pub loc_rib: FxHashSet<String>,
    pub stats: bool,
    /// When the poll that read the first Initiation ran: keel's session with the station began.
    pub initiation: Option<Instant>,
}

impl StationLog {
    pub fn new(path: PathBuf) -> StationLog {
        StationLog {
            path,
            offset: 0,
            partial: Vec::new(),
            loc_rib: FxHashSet::default(),
            stats: false,
            initiation: None,
        }
    }

    /// Reads what was written since the last call.
    pub fn poll(&mut self) {
        let Ok(mut f) = std::fs::File::open(&self.path) else { return };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut buf = Vec::new();
        let Ok(n) = f.read_to_end(&mut buf) else { return };
        self.offset += n as u64;
        self.partial.extend_from_slice(&buf);
        let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') else { return };
        let lines: Vec<u8> = self.partial.drain(..=end).collect();
        for line in String::from_utf8_lossy(&lines).lines() {
            self.line(line);
        }
    }

    fn line(&mut self, l: &str) {
        if self.initiation.is_none() && l.contains("\"bmp_msg_type\": \"init\"") {
            self.initiation = Some(Instant::now());
        }
        if l.contains("\"bmp_msg_type\": \"stats\"") {
            self.stats = true;
            return;
        }
        if !l.contains("\"bmp_msg_type\": \"route_monitor\"") || !l.contains("\"is_loc\": 1") {
            return;
        }
        let Some(prefix) = field(l, "ip_prefix") else { return };
        if l.contains("\"log_type\": \"withdraw\"") {
            self.loc_rib.remove(prefix);
        } else {
            self.loc_rib.insert(prefix.to_string());
        }
    }
}

/// The string value of `"key": "value"` in a JSON line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(&format!("\"{key}\": \""))? + key.len() + 5;
    let rest = line.get(at..)?;
    rest.get(..rest.find('"')?)
}

/// Times keel dropped its station for falling behind, from its log.
fn drops(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("keel.out")).map_or(0, |t| t.matches("BMP station fell behind").count())
}

impl Ctx<'_> {
    /// The three runs of `keel bench --bmp`.
    pub(super) async fn bmp(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        for station in [Station::None, Station::Live, Station::Dump] {
            let mut row = self.row(Scenario::Bmp, 1);
            row.station = Some(station.name().into());
            if let Err(e) = self.bmp_run(station, &mut row).await {
                row.ok = false;
                row.note = format!("{e:#}");
            }
            rows.push(row);
        }
        rows
    }

    async fn bmp_run(&self, station: Station, row: &mut Row) -> Result<()> {
        self.station.set(station);
        let setup = self.converge(1, row).await;
        self.station.set(Station::None);
        let mut setup = setup?;
        if !row.ok {
            return Ok(());
        }
        let timeout = self.sizes.converge_timeout;
        let dir = self.dir.join("pmbmpd");
        match station {
            Station::None => {}
            Station::Live => {
                let started = Instant::now();
                let log = self.wait_station(&mut setup, timeout, &dir).await;
                // Counted from the testers' start, as converge's seconds.
                let since = row.seconds.unwrap_or(0.0) + started.elapsed().as_secs_f64();
                self.station_figures(&setup, row, log, since)?;
            }
            Station::Dump => {
                let address = setup.layout.station();
                let (cpu0, rss0) = Self::sample(&mut setup);
                if let Some(d) = setup.dut.as_mut() {
                    d.peak_kib = rss0;
                }
                let started = Instant::now();
                setup.pmbmpd = Some(start_pmbmpd(&dir, address)?);
                let log = self.wait_station(&mut setup, timeout, &dir).await;
                // From keel's Initiation at pmbmpd (keel connects within its `reconnect`).
                let connected = log.as_ref().ok().and_then(|l| l.initiation).unwrap_or(started);
                let seconds = connected.elapsed().as_secs_f64();
                let (cpu1, _) = Self::sample(&mut setup);
                row.cpu_seconds = Some(cpu1 - cpu0);
                let peak = setup.dut.as_ref().map_or(0, |d| d.peak_kib);
                row.peak_rss_mib = Some(peak as f64 / 1024.0);
                row.extra_rss_mib = Some(peak.saturating_sub(rss0) as f64 / 1024.0);
                self.station_figures(&setup, row, log, seconds)?;
            }
        }
        Ok(())
    }

    /// Waits until pmbmpd's log holds the whole Loc-RIB and a Statistics Report (the end of
    /// the dump), sampling the DUT.
    async fn wait_station(&self, setup: &mut Setup, timeout: Duration, dir: &Path) -> Result<StationLog, StationLog> {
        let mut log = StationLog::new(dir.join("bmp.json"));
        let deadline = Instant::now() + timeout;
        loop {
            log.poll();
            Self::sample(setup);
            if log.stats && log.loc_rib.len() == self.expected {
                return Ok(log);
            }
            if Instant::now() > deadline {
                return Err(log);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn station_figures(
        &self,
        setup: &Setup,
        row: &mut Row,
        log: Result<StationLog, StationLog>,
        seconds: f64,
    ) -> Result<()> {
        row.station_drops = setup.dut.as_ref().map(|d| drops(&d.dir));
        match log {
            Ok(log) => {
                row.station_routes = Some(log.loc_rib.len());
                row.station_seconds = Some(seconds);
                Ok(())
            }
            Err(log) => {
                row.station_routes = Some(log.loc_rib.len());
                bail!(
                    "pmbmpd holds {}/{} Loc-RIB prefixes (statistics seen: {})",
                    log.loc_rib.len(),
                    self.expected,
                    log.stats
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_gives_the_loc_rib_and_the_statistics() {
        let dir = std::env::temp_dir().join(format!("keel-bench-bmp-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bmp.json");
        let lines = [
            r#"{"bmp_msg_type": "route_monitor", "is_loc": 1, "log_type": "update", "ip_prefix": "198.18.0.1/32"}"#,
            r#"{"bmp_msg_type": "route_monitor", "is_in": 1, "log_type": "update", "ip_prefix": "198.18.0.9/32"}"#,
            r#"{"bmp_msg_type": "route_monitor", "is_loc": 1, "log_type": "update", "ip_prefix": "198.18.0.2/32"}"#,
        ];
        std::fs::write(&path, lines.join("\n") + "\n{\"bmp_msg_type\": \"route_mon").unwrap();
        let mut log = StationLog::new(path.clone());
        log.poll();
        assert_eq!(log.loc_rib.len(), 2);
        assert!(!log.stats);
        let more = "itor\", \"is_loc\": 1, \"log_type\": \"withdraw\", \"ip_prefix\": \"198.18.0.1/32\"}\n\
                    {\"bmp_msg_type\": \"stats\"}\n";
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(more);
        std::fs::write(&path, text).unwrap();
        log.poll();
        assert_eq!(log.loc_rib.iter().collect::<Vec<_>>(), ["198.18.0.2/32"]);
        assert!(log.stats);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
