//! Shared by the harness-less benchmarks: start keeld on a generated config, read its CPU and
//! memory from /proc.
#![allow(dead_code)]

pub mod policy;
pub mod rpki;

use std::path::PathBuf;
use std::process::{Child, Command};

pub fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The 1, 5 and 15 minute load averages, from /proc/loadavg.
pub fn load_average() -> String {
    let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// keeld started by a benchmark; killed on drop.
pub struct Keeld {
    pub child: Child,
    pub dir: PathBuf,
}

impl Keeld {
    /// Starts keeld with `body` appended to a `[global]` section (AS 65000, listening on `listen`).
    pub fn start(name: &str, listen: &str, body: &str) -> Keeld {
        Keeld::start_logging(name, listen, body, "warn")
    }

    /// [`start`](Self::start) with `KEEL_LOG` set to `log` (its log in `dir/keeld.log`).
    pub fn start_logging(name: &str, listen: &str, body: &str, log: &str) -> Keeld {
        let dir = std::env::temp_dir().join(format!("keel-bench-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = format!(
            "[global]\nasn = 65000\nrouter_id = \"192.0.2.40\"\nlisten = [\"{listen}\"]\napi = \"{}\"\nstate_dir = \"{}\"\n{body}",
            dir.join("keel.sock").display(),
            dir.display()
        );
        let path = dir.join("keel.toml");
        std::fs::write(&path, config).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_keeld"))
            .arg("--config")
            .arg(&path)
            .env("KEEL_LOG", log)
            .stderr(std::fs::File::create(dir.join("keeld.log")).unwrap())
            .spawn()
            .expect("start keeld");
        Keeld { child, dir }
    }

    /// What keeld has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("keeld.log")).unwrap_or_default()
    }

    pub fn proc(&self) -> Proc {
        Proc(self.child.id())
    }
}

impl Drop for Keeld {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// CPU seconds, RSS and peak RSS (KiB) of a process, from /proc.
pub struct Proc(pub u32);

impl Proc {
    pub fn stat(&self) -> (f64, u64, u64) {
        let (cpu, rss) = keel_lab::lab::process::proc_stat(self.0 as i32).unwrap_or_default();
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0)).unwrap_or_default();
        let hwm = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        (cpu, rss, hwm)
    }
}

/// Connects a speaker, retrying while keeld is still starting (up to 10 s).
pub async fn connect(
    cfg: &keel_lab::speaker::SpeakerConfig,
) -> (keel_lab::speaker::SessionReader, keel_lab::speaker::SessionWriter, keel_wire::Open) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match keel_lab::speaker::connect(cfg).await {
            Ok(s) => return s,
            Err(e) if std::time::Instant::now() > deadline => panic!("session from {}: {e}", cfg.local),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
}

/// The table's UPDATEs (IPv4 then IPv6, each family ending with End-of-RIB), keeping the
/// prefixes whose running index `keep` accepts; and how many were kept.
pub fn feed(table: &keel_tablegen::Table, keep: impl Fn(usize) -> bool) -> (Vec<u8>, usize) {
    use keel_wire::{builder, CodecOptions, Family, Update};
    let opts = CodecOptions { extended_message: true, ..CodecOptions::default() };
    let mut out = Vec::new();
    let mut i = 0;
    let mut kept = 0;
    for family in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
        for g in table.family(family) {
            let nlri: Vec<_> = g
                .prefixes
                .iter()
                .filter(|_| {
                    i += 1;
                    keep(i)
                })
                .copied()
                .collect();
            kept += nlri.len();
            builder::announce(family, &g.attributes, g.next_hop, &nlri, &opts, &mut out).unwrap();
        }
        out.extend(Update::end_of_rib(family).encode(&opts).unwrap());
    }
    (out, kept)
}
