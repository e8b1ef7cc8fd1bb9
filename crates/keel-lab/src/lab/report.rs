//! The rehearsal's output: a side-by-side table (with graceful restart vs without) for the
//! terminal, and one self-contained HTML file with the same figures and an SVG timeline
//! (session states, UPDATE rates and route counts per peer; keeld's process; scenarios as
//! shaded spans). No scripts and no external assets: it opens anywhere, offline.

use super::results::{ScenarioResult, Timeline, PEERS};
use std::fmt::Write;

/// Figures about the whole run.
pub struct Summary {
    pub routes: u64,
    pub wall_seconds: f64,
    pub peak_keeld_rss_mib: f64,
    pub peak_total_rss_mib: f64,
    pub addresses: String,
    /// "keel", or the daemon observing keeld (`--peer`).
    pub observer: &'static str,
    /// The namespace of `--netns` (kernel FIB, traffic flow).
    pub netns: Option<String>,
}

/// Where the observer's figures come from.
fn counted(summary: &Summary) -> String {
    match summary.observer {
        "keel" => "observer figures from its own RIB".to_string(),
        daemon => format!(
            "observer {daemon}: routes removed counted at keel's speaker behind it (what left {daemon}'s table), \
             UPDATEs as keeld sent them"
        ),
    }
}

/// A 20-cell progress bar with the count.
pub fn bar(done: u64, total: u64) -> String {
    let cells = (done.min(total) * 20).checked_div(total).unwrap_or(0) as usize;
    format!("[{}{}] {done}/{total}", "#".repeat(cells), ".".repeat(20 - cells))
}

fn pair<'a>(results: &'a [ScenarioResult], scenario: &str) -> (Option<&'a ScenarioResult>, Option<&'a ScenarioResult>) {
    let find = |gr| results.iter().find(|r| r.scenario == scenario && r.graceful_restart == gr);
    (find(true), find(false))
}

fn scenarios(results: &[ScenarioResult]) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for r in results {
        if !names.contains(&r.scenario) {
            names.push(r.scenario);
        }
    }
    names
}

type Column = (&'static str, fn(&ScenarioResult) -> String);

const COLUMNS: [Column; 7] = [
    ("routes removed", |r| r.routes_removed.to_string()),
    ("UPDATEs", |r| r.updates.to_string()),
    ("FIB operations", |r| r.fib_operations.map_or("-".into(), |n| n.to_string())),
    ("packets lost", |r| r.packets_lost.map_or("-".into(), |n| n.to_string())),
    ("End-of-RIB (s)", |r| r.seconds_to_end_of_rib.map_or("-".into(), |s| format!("{s:.2}"))),
    ("keeld CPU (s)", |r| format!("{:.2}", r.keel_cpu_seconds)),
    ("keeld RSS (MiB)", |r| format!("{:.0}", r.keel_peak_rss_mib)),
];

/// The terminal table: a row per scenario, each figure with GR | without GR.
pub fn table(results: &[ScenarioResult], summary: &Summary) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut head = vec!["scenario".to_string()];
    let mut sub = vec![String::new()];
    for (name, _) in COLUMNS {
        head.push(name.to_string());
        sub.push("GR | no GR".to_string());
    }
    rows.push(head);
    rows.push(sub);
    for s in scenarios(results) {
        let (gr, no) = pair(results, s);
        let mut row = vec![s.to_string()];
        for (_, f) in COLUMNS {
            let cell = |r: Option<&ScenarioResult>| {
                r.map_or("-".into(), |r| if r.settled && r.disrupted { f(r) } else { format!("{}!", f(r)) })
            };
            row.push(format!("{} | {}", cell(gr), cell(no)));
        }
        rows.push(row);
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    let _ =
        writeln!(out, "keel lab: {} routes; graceful restart (GR) vs disabled; {}", summary.routes, counted(summary));
    for r in &rows {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:>w$}")).collect();
        let _ = writeln!(out, "{}", cells.join("  "));
    }
    if results.iter().any(|r| !r.settled) {
        let _ = writeln!(out, "! did not settle in time");
    }
    if results.iter().any(|r| !r.disrupted) {
        let _ = writeln!(out, "! the disruption did not reach keeld");
    }
    let _ = writeln!(
        out,
        "wall time {:.1} s; peak RSS keeld {:.0} MiB, keeld + lab {:.0} MiB; {}",
        summary.wall_seconds,
        summary.peak_keeld_rss_mib,
        summary.peak_total_rss_mib,
        match &summary.netns {
            Some(ns) => format!(
                "kernel FIB in namespace {ns} (FIB operations not counted); packets lost of {} packets/s",
                super::netns::RATE
            ),
            None => "packets lost: not measured (needs --netns)".into(),
        }
    );
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const COLORS: [&str; 2] = ["#1f77b4", "#d62728"];

/// The SVG timeline. Three bands share the time axis: session state lanes, UPDATE rate and
/// route count. Each peer's marks are in one `<g class="series" data-peer="NAME">`.
pub fn svg(results: &[ScenarioResult], timeline: &Timeline) -> String {
    let (w, left, right) = (1100.0, 90.0, 20.0);
    let (lanes_top, lane_h) = (40.0, 16.0);
    let rate_top = lanes_top + 3.0 * (lane_h + 6.0) + 20.0;
    let band_h = 120.0;
    let routes_top = rate_top + band_h + 30.0;
    let h = routes_top + band_h + 40.0;
    let samples = &timeline.samples;
    let t_max = samples.last().map_or(1.0, |s| s.t).max(1.0);
    let x = |t: f64| left + (t / t_max) * (w - left - right);
    // UPDATE rates per 100 ms sample, as UPDATEs per second.
    let rates: Vec<[f64; 2]> = samples
        .windows(2)
        .map(|p| {
            let dt = (p[1].t - p[0].t).max(1e-3);
            [0, 1].map(|i| p[1].updates[i].saturating_sub(p[0].updates[i]) as f64 / dt)
        })
        .collect();
    let rate_max = rates.iter().flat_map(|r| r.iter().copied()).fold(1.0, f64::max);
    let routes_max = samples.iter().flat_map(|s| s.routes).max().unwrap_or(1).max(1) as f64;
    let mut o = String::new();
    let _ = write!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" \
         role=\"img\" aria-label=\"timeline\">\n<style>text{{font:11px sans-serif}} .axis{{stroke:#888}}</style>\n"
    );
    // Scenario spans.
    for (i, r) in results.iter().enumerate() {
        let (x0, x1) = (x(r.span.0), x(r.span.1));
        // Labels alternate between two rows so that short scenarios stay readable.
        let label_y = lanes_top - 4.0 - 12.0 * (i % 2) as f64;
        let fill = if r.graceful_restart { "#e8f4e8" } else { "#fbeaea" };
        let _ = writeln!(
            o,
            "<g class=\"scenario\"><rect x=\"{x0:.1}\" y=\"{lanes_top}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\"/>\
             <text x=\"{x0:.1}\" y=\"{:.1}\">{}{}</text><title>{} {}: {} routes removed, {} UPDATEs</title></g>",
            (x1 - x0).max(1.0),
            h - lanes_top - 30.0,
            label_y,
            escape(r.scenario),
            if r.graceful_restart { " GR" } else { "" },
            escape(r.scenario),
            if r.graceful_restart { "with GR" } else { "without GR" },
            r.routes_removed,
            r.updates
        );
    }
    // Band labels and axes.
    for (y, label) in [
        (lanes_top + lane_h - 3.0, "upstream"),
        (lanes_top + lane_h + 6.0 + lane_h - 3.0, "observer"),
        (lanes_top + 2.0 * (lane_h + 6.0) + lane_h - 3.0, "keeld process"),
        (rate_top - 6.0, "UPDATEs per second"),
        (routes_top - 6.0, "routes"),
    ] {
        let _ = writeln!(o, "<text x=\"4\" y=\"{y:.1}\">{label}</text>");
    }
    for (top, max) in [(rate_top, rate_max), (routes_top, routes_max)] {
        let _ = writeln!(
            o,
            "<line class=\"axis\" x1=\"{left}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{max:.0}</text>",
            top + band_h,
            w - right,
            top + band_h,
            left - 4.0,
            top + 10.0
        );
    }
    let _ = writeln!(
        o,
        "<text x=\"{left}\" y=\"{:.1}\">0 s</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{t_max:.1} s</text>",
        h - 8.0,
        w - right,
        h - 8.0
    );
    // Lanes: runs of equal state as rectangles.
    let lane = |o: &mut String, y: f64, up: &dyn Fn(usize) -> bool, what: &str| {
        let mut i = 0;
        while i < samples.len() {
            let state = up(i);
            let mut j = i;
            while j + 1 < samples.len() && up(j + 1) == state {
                j += 1;
            }
            let t1 = samples.get(j + 1).map_or(samples[j].t, |s| s.t);
            let (x0, x1) = (x(samples[i].t), x(t1));
            let (fill, name) = if state { ("#2ca02c", "up") } else { ("#bbbbbb", "down") };
            let _ = writeln!(
                o,
                "<rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{lane_h}\" fill=\"{fill}\">\
                 <title>{what} {name} {:.1}-{:.1} s</title></rect>",
                (x1 - x0).max(0.5),
                samples[i].t,
                t1
            );
            i = j + 1;
        }
    };
    for (p, name) in PEERS.iter().enumerate() {
        let _ = writeln!(o, "<g class=\"series\" data-peer=\"{name}\">");
        lane(&mut o, lanes_top + p as f64 * (lane_h + 6.0), &|i| samples[i].established[p], name);
        let points = |vals: &mut dyn Iterator<Item = (f64, f64)>, top: f64, max: f64| {
            let mut pts = String::new();
            for (t, v) in vals {
                let _ = write!(pts, "{:.1},{:.1} ", x(t), top + band_h - v / max * band_h);
            }
            pts
        };
        let rate_pts =
            points(&mut rates.iter().zip(samples.iter().skip(1)).map(|(r, s)| (s.t, r[p])), rate_top, rate_max);
        let route_pts = points(&mut samples.iter().map(|s| (s.t, s.routes[p] as f64)), routes_top, routes_max);
        let _ = writeln!(
            o,
            "<polyline class=\"rate\" fill=\"none\" stroke=\"{c}\" stroke-width=\"1.2\" points=\"{rate_pts}\"><title>{name}: UPDATEs per second</title></polyline>\n\
             <polyline class=\"routes\" fill=\"none\" stroke=\"{c}\" stroke-width=\"1.5\" points=\"{route_pts}\"><title>{name}: routes</title></polyline>\n</g>",
            c = COLORS[p]
        );
    }
    let _ = writeln!(o, "<g class=\"process\" data-process=\"keeld\">");
    let keeld_y = lanes_top + 2.0 * (lane_h + 6.0);
    lane(&mut o, keeld_y, &|i| samples[i].keeld_up, "keeld");
    // A new keeld process (a restart may be shorter than one sample).
    for p in samples.windows(2).filter(|p| p[1].keeld_pid != p[0].keeld_pid && p[1].keeld_pid != 0) {
        let _ = writeln!(
            o,
            "<rect x=\"{:.1}\" y=\"{keeld_y:.1}\" width=\"2\" height=\"{lane_h}\" fill=\"#000\">\
             <title>keeld started (pid {}) at {:.1} s</title></rect>",
            x(p[1].t) - 1.0,
            p[1].keeld_pid,
            p[1].t
        );
    }
    let _ = writeln!(o, "</g>");
    // Legend.
    for (p, name) in PEERS.iter().enumerate() {
        let lx = left + 160.0 * p as f64;
        let _ = writeln!(
            o,
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"12\" height=\"3\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\">{name}</text>",
            h - 24.0,
            COLORS[p],
            lx + 16.0,
            h - 20.0
        );
    }
    o.push_str("</svg>\n");
    o
}

/// The whole report: one HTML file, no scripts, no external assets.
pub fn html(results: &[ScenarioResult], timeline: &Timeline, summary: &Summary) -> String {
    let mut o = String::new();
    o.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>keel lab report</title>\n<style>\
         body{font:14px sans-serif;margin:2em;max-width:1200px} table{border-collapse:collapse;margin:1em 0}\
         td,th{border:1px solid #ccc;padding:3px 8px;text-align:right} th{background:#f4f4f4}\
         td:first-child{text-align:left} .bad{color:#b00} code{background:#f4f4f4;padding:0 3px}</style></head><body>\n",
    );
    let _ = writeln!(
        o,
        "<h1>keel lab: restart rehearsal</h1>\n<p>{} routes (IPv4 + IPv6) from an upstream speaker through keeld to an \
         observer ({}); every scenario with graceful restart and with it disabled; {}. Wall time {:.1} s; peak RSS \
         keeld {:.0} MiB, keeld + lab {:.0} MiB. {}</p>",
        summary.routes,
        escape(&summary.addresses),
        escape(&counted(summary)),
        summary.wall_seconds,
        summary.peak_keeld_rss_mib,
        summary.peak_total_rss_mib,
        match &summary.netns {
            Some(ns) => format!(
                "FIB: the kernel's, in network namespace <code>{}</code> (FIB operations not counted); packets \
                 lost: a flow of {} UDP packets/s to addresses of the table, through keeld's kernel routes.",
                escape(ns),
                super::netns::RATE
            ),
            None => "FIB: keeld's in-memory FIB (journalled, outliving keeld like the kernel table); packets lost \
                     are not measured without <code>--netns</code>."
                .to_string(),
        }
    );
    o.push_str("<table><tr><th rowspan=\"2\">scenario</th>");
    for (name, _) in super::report::COLUMNS {
        let _ = write!(o, "<th colspan=\"2\">{}</th>", escape(name));
    }
    o.push_str("</tr><tr>");
    for _ in super::report::COLUMNS {
        o.push_str("<th>GR</th><th>no GR</th>");
    }
    o.push_str("</tr>\n");
    for s in scenarios(results) {
        let (gr, no) = pair(results, s);
        let _ = write!(o, "<tr><td>{}</td>", escape(s));
        for (_, f) in super::report::COLUMNS {
            for r in [gr, no] {
                match r {
                    Some(r) if r.settled && r.disrupted => {
                        let _ = write!(o, "<td>{}</td>", escape(&f(r)));
                    }
                    Some(r) => {
                        let why = if r.settled { "the disruption did not reach keeld" } else { "did not settle" };
                        let _ = write!(o, "<td class=\"bad\" title=\"{why}\">{}!</td>", escape(&f(r)));
                    }
                    None => o.push_str("<td>-</td>"),
                }
            }
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</table>\n<h2>Timeline</h2>\n<p>Lanes: sessions of each peer with keeld and keeld's process (green: up; \
         black tick: a new keeld process). \
         Then UPDATEs per second and routes per peer (upstream: routes sent on its session; observer: routes in its RIB). \
         Shaded: scenarios (green with graceful restart, red without).</p>\n");
    o.push_str(&svg(results, timeline));
    o.push_str("<h2>Scenarios</h2>\n<ul>\n<li><b>restart</b>: keeld gets SIGTERM and starts again (RFC 4724 §4.1).</li>\n\
         <li><b>crash</b>: keeld gets SIGKILL and starts again (RFC 4724 §4.1).</li>\n\
         <li><b>peer-restart</b>: the upstream's session drops and it returns with R=1; keel is the helper (RFC 4724 §4.2).</li>\n\
         <li><b>llgr</b>: the upstream stays away past its restart time (RFC 9494 §4.2).</li>\n\
         <li><b>hard-reset</b>: the upstream sends Cease/Hard Reset and returns; routes are flushed even with GR (RFC 8538 §3).</li>\n</ul>\n");
    o.push_str("</body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::results::Sample;

    fn result(scenario: &'static str, gr: bool) -> ScenarioResult {
        ScenarioResult {
            scenario,
            graceful_restart: gr,
            upstream: "keel",
            observer: "keel",
            routes_removed: if gr { 0 } else { 10 },
            updates: 3,
            fib_operations: Some(0),
            packets_lost: None,
            seconds_to_end_of_rib: Some(1.5),
            routes: 10,
            withdrawals: 0,
            announcements: 10,
            llgr_stale_routes: 0,
            seconds_to_settle: 2.0,
            settled: true,
            disrupted: true,
            keel_cpu_seconds: 0.5,
            keel_peak_rss_mib: 20.0,
            keeld_pids: vec![1],
            span: (1.0, 2.0),
        }
    }

    #[test]
    fn svg_has_one_series_per_peer_and_table_pairs_modes() {
        let samples = (0..30)
            .map(|i| Sample {
                t: i as f64 * 0.1,
                established: [i > 3, i > 5],
                updates: [i * 10, i * 5],
                routes: [i, i / 2],
                keeld_up: true,
                ..Sample::default()
            })
            .collect();
        let results = [result("restart", true), result("restart", false)];
        let svg = svg(&results, &Timeline { samples });
        assert_eq!(svg.matches("<g class=\"series\"").count(), PEERS.len());
        let summary = Summary {
            routes: 10,
            wall_seconds: 3.0,
            peak_keeld_rss_mib: 1.0,
            peak_total_rss_mib: 2.0,
            addresses: String::new(),
            observer: "keel",
            netns: None,
        };
        let t = table(&results, &summary);
        assert!(t.lines().any(|l| l.trim_start().starts_with("restart") && l.contains("0 | 10")), "{t}");
        assert_eq!(bar(5, 10), "[##########..........] 5/10");
        assert_eq!(bar(0, 0), "[....................] 0/0");
    }
}
