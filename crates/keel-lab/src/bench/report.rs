//! `keel bench` output: a line per run while it goes, Markdown tables per scenario with
//! every DUT's ratio to keel, the converge chart as SVG, and the Markdown report with the
//! command, versions and machine.

use super::Row;
use std::fmt::Write;

fn f(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

/// One run, for the progress log.
pub fn line(r: &Row) -> String {
    format!(
        "{} {} ({} tester(s), {} routes): {} {}/{} prefixes, {} s, CPU {} s, peak RSS {} MiB, {} UPDATEs, {} changed, {} withdrawn{}{}",
        r.scenario,
        r.dut,
        r.testers,
        r.routes,
        if r.ok { "ok" } else { "FAILED" },
        r.monitor_prefixes,
        r.expected,
        f(r.seconds, 2),
        f(r.cpu_seconds, 2),
        f(r.peak_rss_mib, 0),
        r.updates,
        r.changed_at_monitor,
        r.withdrawn,
        feeders(r) + &station(r),
        if r.note.is_empty() { String::new() } else { format!(" ({})", r.note) }
    )
}

/// `--bmp`: the station's figures.
fn station(r: &Row) -> String {
    let Some(s) = &r.station else { return String::new() };
    format!(
        ", station {s}: at pmbmpd {} s, {} Loc-RIB prefixes there, {} drops, extra RSS {} MiB",
        f(r.station_seconds, 2),
        r.station_routes.map_or("-".into(), |n| n.to_string()),
        r.station_drops.map_or("-".into(), |n| n.to_string()),
        f(r.extra_rss_mib, 0)
    )
}

/// ", BIRD feeders: CPU x s, peak RSS y MiB" when BIRD fed the DUT.
fn feeders(r: &Row) -> String {
    if r.feeder_cpu_seconds.is_none() && r.feeder_peak_rss_mib.is_none() {
        return String::new();
    }
    format!(
        ", {} feeders: CPU {} s, peak RSS {} MiB, session up {} s after enable",
        r.feeder,
        f(r.feeder_cpu_seconds, 2),
        f(r.feeder_peak_rss_mib, 0),
        f(r.session_seconds, 2)
    )
}

/// `value / keel's value` for the same scenario and tester count.
fn ratio(rows: &[Row], r: &Row, get: impl Fn(&Row) -> Option<f64>) -> String {
    let keel = rows.iter().find(|k| k.dut == "keel" && k.scenario == r.scenario && k.testers == r.testers);
    match (get(r), keel.and_then(&get)) {
        (Some(v), Some(k)) if k > 0.0 => format!("{:.2}x", v / k),
        _ => "-".into(),
    }
}

fn cell(v: Option<f64>, digits: usize, rows: &[Row], r: &Row, get: impl Fn(&Row) -> Option<f64>) -> String {
    match v {
        Some(_) => format!("{} ({})", f(v, digits), ratio(rows, r, get)),
        None => "-".into(),
    }
}

/// A Markdown table per scenario.
pub fn tables(rows: &[Row]) -> String {
    let mut out = String::new();
    for scenario in ["converge", "churn", "helper", "restart", "bmp"] {
        let rs: Vec<&Row> = rows.iter().filter(|r| r.scenario == scenario).collect();
        if rs.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n### {scenario}\n");
        match scenario {
            "converge" => {
                out += "| DUT | testers | prefixes at monitor | time s (vs keel) | CPU s (vs keel) | peak RSS MiB (vs keel) | UPDATEs at monitor | feed written s | note |\n";
                out += "|---|---:|---:|---:|---:|---:|---:|---:|---|\n";
                for r in &rs {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {}/{} | {} | {} | {} | {} | {} | {} |",
                        r.dut,
                        r.testers,
                        r.monitor_prefixes,
                        r.expected,
                        cell(r.seconds, 2, rows, r, |x| x.seconds),
                        cell(r.cpu_seconds, 2, rows, r, |x| x.cpu_seconds),
                        cell(r.peak_rss_mib, 0, rows, r, |x| x.peak_rss_mib),
                        r.updates,
                        f(r.feed_seconds, 2),
                        r.note
                    );
                }
                let fed: Vec<&Row> = rs.iter().copied().filter(|r| r.feeder_cpu_seconds.is_some()).collect();
                if !fed.is_empty() {
                    out += "\nThe feeders (every one together):\n\n";
                    out += "| DUT | feeder | testers | feeders' CPU s | feeders' peak RSS MiB |\n";
                    out += "|---|---|---:|---:|---:|\n";
                    for r in fed {
                        let _ = writeln!(
                            out,
                            "| {} | {} | {} | {} | {} |",
                            r.dut,
                            r.feeder,
                            r.testers,
                            f(r.feeder_cpu_seconds, 2),
                            f(r.feeder_peak_rss_mib, 0)
                        );
                    }
                }
            }
            "bmp" => {
                // Each run against the one without a station.
                let none = rs.iter().find(|r| r.station.as_deref() == Some("none"));
                let vs = |v: Option<f64>, base: Option<f64>| match (v, base) {
                    (Some(v), Some(b)) if b > 0.0 => format!(" (+{:.0}%)", (v / b - 1.0) * 100.0),
                    _ => String::new(),
                };
                out += "| station | converge s | CPU s (vs none) | peak RSS MiB (vs none) | extra RSS MiB | at pmbmpd s | Loc-RIB at pmbmpd | drops | note |\n";
                out += "|---|---:|---:|---:|---:|---:|---:|---:|---|\n";
                for r in &rs {
                    let dump = r.station.as_deref() == Some("dump");
                    let _ = writeln!(
                        out,
                        "| {} | {} | {}{} | {}{} | {} | {} | {}/{} | {} | {} |",
                        r.station.as_deref().unwrap_or("-"),
                        if dump { "-".into() } else { f(r.seconds, 2) },
                        f(r.cpu_seconds, 2),
                        if dump { String::new() } else { vs(r.cpu_seconds, none.and_then(|n| n.cpu_seconds)) },
                        f(r.peak_rss_mib, 0),
                        if dump { String::new() } else { vs(r.peak_rss_mib, none.and_then(|n| n.peak_rss_mib)) },
                        f(r.extra_rss_mib, 0),
                        f(r.station_seconds, 2),
                        r.station_routes.map_or("-".into(), |n| n.to_string()),
                        r.expected,
                        r.station_drops.map_or("-".into(), |n| n.to_string()),
                        r.note
                    );
                }
                out += "\n`dump`: CPU and extra RSS during the dump to a station connecting after convergence.\n";
            }
            "churn" => {
                out += "| DUT | changed prefixes sent | arrived | median ms (vs keel) | p99 ms (vs keel) | CPU s (vs keel) | UPDATEs | note |\n";
                out += "|---|---:|---:|---:|---:|---:|---:|---|\n";
                for r in rs {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {} | {} | {} | {} | {} |",
                        r.dut,
                        r.changed.unwrap_or(0),
                        r.delays,
                        cell(r.p50_ms, 1, rows, r, |x| x.p50_ms),
                        cell(r.p99_ms, 1, rows, r, |x| x.p99_ms),
                        cell(r.cpu_seconds, 2, rows, r, |x| x.cpu_seconds),
                        r.updates,
                        r.note
                    );
                }
            }
            _ => {
                let (what, time) = if scenario == "helper" {
                    ("changed by the tester", "tester End-of-RIB to DUT's last UPDATE, s (vs keel)")
                } else {
                    ("-", "restart to DUT's End-of-RIB, s (vs keel)")
                };
                let _ = writeln!(
                    out,
                    "| DUT | {what} | UPDATEs at monitor | prefixes announced | of which changed | withdrawn | {time} | CPU s (vs keel) | note |"
                );
                out += "|---|---:|---:|---:|---:|---:|---:|---:|---|\n";
                for r in rs {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                        r.dut,
                        r.changed.map_or("-".into(), |c| c.to_string()),
                        r.updates,
                        r.announced,
                        r.changed_at_monitor,
                        r.withdrawn,
                        cell(r.seconds, 2, rows, r, |x| x.seconds),
                        cell(r.cpu_seconds, 2, rows, r, |x| x.cpu_seconds),
                        r.note
                    );
                }
            }
        }
    }
    out
}

/// Horizontal bars of the converge time per DUT, one group per tester count.
pub fn svg(rows: &[Row]) -> String {
    let rs: Vec<&Row> = rows.iter().filter(|r| r.scenario == "converge").collect();
    let max = rs.iter().filter_map(|r| r.seconds).fold(0.0f64, f64::max).max(0.001);
    let (bar, gap, left, width) = (18.0, 6.0, 170.0, 460.0);
    let height = 40.0 + rs.len() as f64 * (bar + gap) + 20.0;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"20\" font-size=\"14\">keel bench converge: seconds until the monitor holds every prefix</text>\n",
        w = left + width + 90.0
    );
    for (i, r) in rs.iter().enumerate() {
        let y = 35.0 + i as f64 * (bar + gap);
        let v = r.seconds.unwrap_or(0.0);
        let w = v / max * width;
        let colour = match r.dut.as_str() {
            "keel" => "#1f77b4",
            "direct" => "#999999",
            _ => "#ff7f0e",
        };
        let _ = writeln!(
            out,
            "<text x=\"10\" y=\"{ty}\">{dut}, {k} tester(s)</text><rect x=\"{left}\" y=\"{y}\" width=\"{w:.1}\" height=\"{bar}\" fill=\"{colour}\"/>\
             <text x=\"{tx:.1}\" y=\"{ty}\">{label}</text>",
            ty = y + 13.0,
            dut = r.dut,
            k = r.testers,
            tx = left + w + 5.0,
            label = r.seconds.map_or("failed".into(), |s| format!("{s:.2} s"))
        );
    }
    out + "</svg>\n"
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string()))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(String::new(), |kb| format!("{:.1} GiB RAM", kb / 1048576.0));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores, {mem}, Linux {}", kernel.trim())
}

pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The report: command, versions, machine, load, tables, chart.
pub fn markdown(rows: &[Row], versions: &[(String, String)], svg: Option<&str>) -> String {
    let command: Vec<String> = std::env::args().collect();
    let mut out = String::new();
    let _ = writeln!(out, "Command: `{}`\n", command.join(" "));
    let _ = writeln!(out, "Machine: {}; load average at the end: {}\n", machine(), load());
    out += "Versions:\n\n";
    for (d, v) in versions {
        let _ = writeln!(out, "- {d}: {v}");
    }
    out += &tables(rows);
    if let Some(svg) = svg {
        let _ = writeln!(out, "\n![converge times]({svg})");
    }
    out
}
