//! Shared by the harness-less benchmarks: keeld (`keel_lab`'s handle) on a generated config,
//! its CPU and memory, speakers that wait for it, a table as UPDATEs.
#![allow(dead_code)]

pub mod policy;
pub mod rpki;

pub use keel_lab::keeld::Keeld;

pub fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The 1, 5 and 15 minute load averages, from /proc/loadavg.
pub fn load_average() -> String {
    let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// keeld for a benchmark (`keel_lab`'s handle): in `$TMPDIR/keel-bench-NAME-PID`, `body`
/// appended to a `[global]` section (AS 65000, listening on `listen`), `KEEL_LOG=warn`; killed
/// and its directory removed on drop.
pub fn keeld(name: &str, listen: &str, body: &str) -> Keeld {
    keeld_logging(name, listen, body, "warn")
}

/// [`keeld`] with `KEEL_LOG` set to `log` (its log in `DIR/keeld.log`).
pub fn keeld_logging(name: &str, listen: &str, body: &str, log: &str) -> Keeld {
    let dir = std::env::temp_dir().join(format!("keel-bench-{name}-{}", std::process::id()));
    let config = format!(
        "[global]\nasn = 65000\nrouter_id = \"192.0.2.40\"\nlisten = [\"{listen}\"]\napi = \"{}\"\nstate_dir = \"{}\"\n{body}",
        dir.join("keel.sock").display(),
        dir.display()
    );
    let mut k = Keeld::new(env!("CARGO_BIN_EXE_keeld"), dir)
        .expect("keeld's directory")
        .env("KEEL_LOG", log)
        .remove_dir_on_drop();
    k.write_config(&config).expect("keeld's configuration");
    k.start().expect("start keeld");
    k
}

/// CPU seconds (every run), RSS and peak RSS (KiB) of keeld, from /proc.
pub fn stat(keeld: &Keeld) -> (f64, u64, u64) {
    let u = keeld.usage();
    (u.cpu_seconds, u.rss_kib, u.peak_rss_kib)
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
