//! The rehearsal's output: a side-by-side table (with graceful restart vs without) for the
//! terminal that ends with the verdict, and one self-contained HTML file with the same figures,
//! each run's expectation and an SVG timeline (session states, UPDATE rates and route counts
//! per peer; keeld's process; scenarios as shaded spans). No scripts and no external assets: it
//! opens anywhere, offline.
//!
//! Both drop a column that is empty in every row (`packets lost` without `--netns`, `FIB
//! operations` with it). Cells of figures a run's expectation reads are green when it held
//! and red when it did not (classes `good` and `bad`). The timeline is [`super::timeline`]'s.

use super::results::{Savings, ScenarioResult, Timeline, Verdict};
use super::scenario::{self, Check, Scenario};
use super::text::{count, escape, thousands, utc};
use super::timeline::svg;
use std::fmt::Write;

/// Figures about the whole run, and where and when it ran.
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
    /// keel's version (the `keel` running the lab).
    pub version: &'static str,
    /// keeld's version as its API reports it, when it could be read.
    pub keeld_version: Option<String>,
    /// When the lab started, in seconds since the Unix epoch.
    pub started_unix: u64,
    /// The machine's host name.
    pub host: String,
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

fn pair(results: &[ScenarioResult], scenario: Scenario) -> [Option<&ScenarioResult>; 2] {
    let find = |gr| results.iter().find(|r| r.scenario == scenario && r.graceful_restart == gr);
    [find(true), find(false)]
}

fn scenarios(results: &[ScenarioResult]) -> Vec<Scenario> {
    let mut names: Vec<Scenario> = Vec::new();
    for r in results {
        if !names.contains(&r.scenario) {
            names.push(r.scenario);
        }
    }
    names
}

/// A column of the figures table: its heading, the expectation it shows (coloured in the
/// report) and its cell, `None` when the run has no such figure.
struct Column {
    name: &'static str,
    check: Option<Check>,
    cell: fn(&ScenarioResult) -> Option<String>,
}

const COLUMNS: [Column; 8] = [
    Column { name: "routes removed", check: Some(Check::RoutesRemoved), cell: |r| Some(count(r.routes_removed)) },
    Column { name: "UPDATEs", check: None, cell: |r| Some(count(r.updates)) },
    Column { name: "FIB operations", check: Some(Check::FibOperations), cell: |r| r.fib_operations.map(count) },
    Column { name: "packets lost", check: Some(Check::PacketsLost), cell: |r| r.packets_lost.map(count) },
    Column {
        name: "LLGR_STALE",
        check: Some(Check::LlgrStaleRoutes),
        cell: |r| (r.scenario == Scenario::Llgr).then(|| count(r.llgr_stale_routes)),
    },
    Column { name: "End-of-RIB (s)", check: None, cell: |r| r.seconds_to_end_of_rib.map(|s| format!("{s:.2}")) },
    Column { name: "keeld CPU (s)", check: None, cell: |r| Some(format!("{:.2}", r.keel_cpu_seconds)) },
    Column { name: "keeld RSS (MiB)", check: None, cell: |r| Some(format!("{:.0}", r.keel_peak_rss_mib)) },
];

/// The columns with a figure in at least one run.
fn columns(results: &[ScenarioResult]) -> Vec<&'static Column> {
    COLUMNS.iter().filter(|c| results.iter().any(|r| (c.cell)(r).is_some())).collect()
}

/// How a cell reads against the run's expectation: met, missed, or not an expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Good,
    Bad,
    Plain,
}

fn mark(r: &ScenarioResult, check: Option<Check>) -> Mark {
    match check {
        Some(c) if r.misses.iter().any(|m| m.check == c) => Mark::Bad,
        // A figure the run could not show (not measured) is neither.
        Some(c) if scenario::checks(r.scenario, r.graceful_restart).contains(&c) => Mark::Good,
        _ => Mark::Plain,
    }
}

/// A cell's text: "-" without a figure, "!" when the run did not settle or did not happen.
fn cell_text(r: &ScenarioResult, c: &Column) -> String {
    let v = (c.cell)(r).unwrap_or_else(|| "-".into());
    if r.settled && r.disrupted {
        v
    } else {
        format!("{v}!")
    }
}

fn yes_no(r: Option<&ScenarioResult>) -> &'static str {
    match r {
        Some(r) if r.as_expected => "yes",
        Some(_) => "NO",
        None => "-",
    }
}

/// The terminal table: a row per scenario, each figure with GR | without GR, whether each run
/// went as expected, what was not, and why the figures that look alarming are right. The
/// verdict line ([`verdict_line`]) follows.
pub fn table(results: &[ScenarioResult], summary: &Summary) -> String {
    let shown = columns(results);
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut head = vec!["scenario".to_string()];
    let mut sub = vec![String::new()];
    for c in &shown {
        head.push(c.name.to_string());
        sub.push("GR | no GR".to_string());
    }
    head.push("as expected".into());
    sub.push("GR | no GR".into());
    rows.push(head);
    rows.push(sub);
    for s in scenarios(results) {
        let [gr, no] = pair(results, s);
        let mut row = vec![s.name().to_string()];
        for c in &shown {
            let cell = |r: Option<&ScenarioResult>| r.map_or("-".into(), |r| cell_text(r, c));
            row.push(format!("{} | {}", cell(gr), cell(no)));
        }
        row.push(format!("{} | {}", yes_no(gr), yes_no(no)));
        rows.push(row);
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "keel lab: {} routes; graceful restart (GR) vs disabled; {}",
        count(summary.routes),
        counted(summary)
    );
    for r in &rows {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:>w$}")).collect();
        let _ = writeln!(out, "{}", cells.join("  "));
    }
    if results.iter().any(|r| !r.settled || !r.disrupted) {
        let _ = writeln!(out, "! did not settle in time, or the disruption did not reach keeld");
    }
    for r in results.iter().filter(|r| !r.as_expected) {
        let misses: Vec<&str> = r.misses.iter().map(|m| m.text.as_str()).collect();
        let _ = writeln!(out, "NOT as expected: {}: {}", r.run_name(), misses.join("; "));
        let _ = writeln!(out, "  expected: {}", r.expected);
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
    let why = explanations(results);
    if !why.is_empty() {
        let _ = writeln!(out, "why these figures:");
        for line in why {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

/// For the runs whose figures look alarming but are what the RFCs ask for: the figure and why,
/// one line per reason.
fn explanations(results: &[ScenarioResult]) -> Vec<String> {
    let mut reasons: Vec<(&str, Vec<String>)> = Vec::new();
    for r in results {
        let Some(why) = r.scenario.explains(r.graceful_restart) else { continue };
        let figure = if r.scenario.keeps_routes(r.graceful_restart) {
            format!("{} UPDATEs", count(r.updates))
        } else {
            format!("{} routes removed", count(r.routes_removed))
        };
        let run = format!("{} ({figure})", r.run_name());
        match reasons.iter_mut().find(|(w, _)| *w == why) {
            Some((_, runs)) => runs.push(run),
            None => reasons.push((why, vec![run])),
        }
    }
    reasons.into_iter().map(|(why, runs)| format!("{}: {why}", runs.join(", "))).collect()
}

/// "avoided 24,000 route removals and 48,000 FIB operations", from the runs' savings.
fn savings_text(s: &Savings) -> String {
    let mut parts = vec![(s.routes_removed, "route removals")];
    match (s.fib_operations, s.packets_lost) {
        (Some(f), _) => parts.push((f, "FIB operations")),
        (None, Some(p)) => parts.push((p, "lost packets")),
        (None, None) => {}
    }
    let mut text = String::from("graceful restart");
    let mut verb = "";
    for (i, (n, what)) in parts.into_iter().enumerate() {
        let this = if n >= 0 { "avoided" } else { "added" };
        if i > 0 {
            text.push_str(" and");
        }
        if this != verb {
            text.push(' ');
            text.push_str(this);
            verb = this;
        }
        let _ = write!(text, " {} {what}", thousands(n.abs()));
    }
    text
}

/// The summary's last line: what graceful restart saved and the verdict, e.g. "graceful restart
/// avoided 480,000 route removals and 960,000 FIB operations; all 12 runs as expected (verdict:
/// pass)".
pub fn verdict_line(results: &[ScenarioResult]) -> String {
    format!("{} (verdict: {})", outcome(results), Verdict::of(results).name())
}

/// What graceful restart saved and how many runs went as expected.
fn outcome(results: &[ScenarioResult]) -> String {
    let unexpected: Vec<String> = results.iter().filter(|r| !r.as_expected).map(|r| r.run_name()).collect();
    let runs = if unexpected.is_empty() {
        format!("all {} runs as expected", results.len())
    } else {
        format!("{} of {} runs not as expected: {}", unexpected.len(), results.len(), unexpected.join(", "))
    };
    format!("{}; {runs}", savings_text(&Savings::of(results)))
}

/// A `<td>` of the report, coloured by its mark, with the run's misses as its tooltip.
fn td(text: &str, mark: Mark, title: &str) -> String {
    let class = match mark {
        Mark::Good => " class=\"good\"",
        Mark::Bad => " class=\"bad\"",
        Mark::Plain => "",
    };
    let title = if title.is_empty() { String::new() } else { format!(" title=\"{}\"", escape(title)) };
    format!("<td{class}{title}>{}</td>", escape(text))
}

/// The whole report: one HTML file, no scripts, no external assets.
pub fn html(results: &[ScenarioResult], timeline: &Timeline, summary: &Summary) -> String {
    let verdict = Verdict::of(results);
    let mut o = String::new();
    o.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>keel lab report</title>\n<style>\
         body{font:14px sans-serif;margin:2em;max-width:1200px} table{border-collapse:collapse;margin:1em 0}\
         td,th{border:1px solid #ccc;padding:3px 8px;text-align:right} th{background:#f4f4f4}\
         td:first-child{text-align:left} table.scenarios td,table.scenarios th{text-align:left;vertical-align:top}\
         .good{background:#e6f4e6;color:#1a6b1a} .bad{background:#fbe3e3;color:#b00;font-weight:bold}\
         .meta{color:#555} .verdict{font-size:16px;padding:6px 10px;border-left:5px solid}\
         .verdict.pass{border-color:#2ca02c;background:#eef8ee} .verdict.fail{border-color:#b00;background:#fdeeee}\
         code{background:#f4f4f4;padding:0 3px}</style></head><body>\n",
    );
    let keeld = match &summary.keeld_version {
        Some(v) if v != summary.version => format!(" (keeld <span class=\"keeld-version\">{}</span>)", escape(v)),
        _ => String::new(),
    };
    let _ = writeln!(
        o,
        "<h1>keel lab: restart rehearsal</h1>\n<p class=\"meta\">keel <span class=\"version\">{}</span>{keeld}, \
         <span class=\"date\">{}</span>, host <span class=\"host\">{}</span></p>",
        escape(summary.version),
        utc(summary.started_unix),
        escape(&summary.host)
    );
    let _ = writeln!(
        o,
        "<p class=\"verdict {v}\" id=\"verdict\">Verdict: <b>{v}</b>. {}.</p>",
        escape(&outcome(results).replacen("graceful", "Graceful", 1)),
        v = verdict.name()
    );
    if verdict == Verdict::Fail {
        o.push_str("<ul class=\"misses\">\n");
        for r in results.iter().filter(|r| !r.as_expected) {
            let misses: Vec<&str> = r.misses.iter().map(|m| m.text.as_str()).collect();
            let _ = writeln!(
                o,
                "<li class=\"bad\">{}: {}; expected: {}</li>",
                escape(&r.run_name()),
                escape(&misses.join("; ")),
                escape(r.expected)
            );
        }
        o.push_str("</ul>\n");
    }
    let _ = writeln!(
        o,
        "<p>{} routes (IPv4 + IPv6) from an upstream speaker through keeld to an observer ({}); every scenario \
         with graceful restart and with it disabled; {}. Wall time {:.1} s; peak RSS keeld {:.0} MiB, keeld + lab \
         {:.0} MiB. {}</p>",
        count(summary.routes),
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
    o.push_str(
        "<p>Green cells met the scenario's expectation, red ones did not (hover for what was expected); \
         uncoloured figures are not part of it.</p>\n",
    );
    let shown = columns(results);
    o.push_str("<table id=\"figures\"><tr><th rowspan=\"2\">scenario</th>");
    for c in &shown {
        let _ = write!(o, "<th colspan=\"2\">{}</th>", escape(c.name));
    }
    o.push_str("<th colspan=\"2\">as expected</th></tr><tr>");
    for _ in 0..=shown.len() {
        o.push_str("<th>GR</th><th>no GR</th>");
    }
    o.push_str("</tr>\n");
    for s in scenarios(results) {
        let runs = pair(results, s);
        let _ = write!(o, "<tr><td>{}</td>", escape(s.name()));
        for c in &shown {
            for r in runs {
                match r {
                    Some(r) => o.push_str(&td(&cell_text(r, c), mark(r, c.check), r.expected)),
                    None => o.push_str("<td>-</td>"),
                }
            }
        }
        for r in runs {
            match r {
                Some(r) => {
                    let misses: Vec<&str> = r.misses.iter().map(|m| m.text.as_str()).collect();
                    let title = if r.as_expected {
                        format!("expected: {}", r.expected)
                    } else {
                        format!("{}; expected: {}", misses.join("; "), r.expected)
                    };
                    let m = if r.as_expected { Mark::Good } else { Mark::Bad };
                    o.push_str(&td(yes_no(Some(r)), m, &title));
                }
                None => o.push_str("<td>-</td>"),
            }
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</table>\n");
    let why = explanations(results);
    if !why.is_empty() {
        o.push_str("<p>Why these figures:</p>\n<ul class=\"why\">\n");
        for line in why {
            let _ = writeln!(o, "<li>{}</li>", escape(&line));
        }
        o.push_str("</ul>\n");
    }
    o.push_str(
        "<h2>Timeline</h2>\n<p>Lanes: sessions of each peer with keeld and keeld's process (green: up; black tick: a \
         new keeld process). Then UPDATEs per second and routes per peer (upstream: routes sent on its session; \
         observer: routes in its RIB), against seconds since the lab started. Shaded: scenarios (green with \
         graceful restart, red without).</p>\n",
    );
    o.push_str(&svg(results, timeline));
    o.push_str(
        "<h2>Scenarios</h2>\n<table class=\"scenarios\" id=\"scenarios\"><tr><th>scenario</th><th>what happens</th>\
         <th>expected with GR</th><th>expected without GR</th></tr>\n",
    );
    for s in scenarios(results) {
        let _ = write!(o, "<tr><td><b>{}</b></td><td>{}</td>", escape(s.name()), escape(s.what()));
        for r in pair(results, s) {
            match r {
                Some(r) => {
                    let m = if r.as_expected { Mark::Good } else { Mark::Bad };
                    let held = if r.as_expected { "held" } else { "did NOT hold" };
                    o.push_str(&td(&format!("{} ({held})", r.expected), m, ""));
                }
                None => o.push_str("<td>-</td>"),
            }
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</table>\n</body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        Summary {
            routes: 6000,
            wall_seconds: 22.0,
            peak_keeld_rss_mib: 25.0,
            peak_total_rss_mib: 36.0,
            addresses: String::new(),
            observer: "keel",
            netns: None,
            version: "0.1.0",
            keeld_version: Some("0.1.0".into()),
            started_unix: 1_796_661_646,
            host: "lab-host".into(),
        }
    }

    #[test]
    fn table_pairs_modes() {
        let t = table(&ScenarioResult::test_rehearsal(), &summary());
        assert!(t.lines().any(|l| l.trim_start().starts_with("restart") && l.contains("0 | 6,000")), "{t}");
        assert_eq!(bar(5, 10), "[##########..........] 5/10");
        assert_eq!(bar(0, 0), "[....................] 0/0");
    }

    #[test]
    fn the_summary_ends_with_savings_and_verdict_and_explains_the_updates() {
        let mut results = ScenarioResult::test_rehearsal();
        let t = table(&results, &summary());
        let head = t.lines().nth(1).unwrap_or_default();
        assert!(!head.contains("packets lost"), "an all-empty column is dropped:\n{t}");
        assert!(head.contains("LLGR_STALE"), "{t}");
        assert!(
            t.contains("restart with GR (1,337 UPDATEs), crash with GR (1,337 UPDATEs): the new keeld re-advertises"),
            "{t}"
        );
        assert!(t.contains("llgr with GR (1,337 UPDATEs): once the upstream's restart time ends"), "{t}");
        assert!(t.contains("hard-reset with GR (6,000 routes removed): the removals are expected"), "{t}");
        assert_eq!(
            verdict_line(&results),
            "graceful restart avoided 24,000 route removals and 48,000 FIB operations; all 12 runs as expected \
             (verdict: pass)"
        );
        results[0] = ScenarioResult::test(Scenario::Restart, true, 6000, Some(0));
        assert_eq!(
            verdict_line(&results),
            "graceful restart avoided 18,000 route removals and 48,000 FIB operations; 1 of 12 runs not as \
             expected: restart with GR (verdict: fail)"
        );
        let t = table(&results, &summary());
        assert!(t.contains("NOT as expected: restart with GR: 6000 routes removed downstream, expected none"), "{t}");
        assert!(t.lines().any(|l| l.trim_start().starts_with("restart") && l.ends_with("NO | yes")), "{t}");
        // With --netns: lost packets instead of FIB operations; a cost is not called a saving.
        let s = Savings { routes_removed: -5, fib_operations: None, packets_lost: Some(1200) };
        assert_eq!(savings_text(&s), "graceful restart added 5 route removals and avoided 1,200 lost packets");
    }

    #[test]
    fn html_marks_expected_and_unexpected_cells_and_drops_empty_columns() {
        let mut results = ScenarioResult::test_rehearsal();
        results[0] = ScenarioResult::test(Scenario::Restart, true, 6000, Some(0));
        let html = html(&results, &Timeline::test(22.0), &summary());
        assert!(html.contains("class=\"verdict fail\""), "{html}");
        assert!(html.contains("<span class=\"version\">0.1.0</span>"));
        assert!(html.contains("<span class=\"host\">lab-host</span>"));
        assert!(html.contains("<span class=\"date\">2026-12-07 "), "{html}");
        assert!(!html.contains("packets lost</th>"), "all-empty column shown");
        let row = html.lines().find(|l| l.starts_with("<tr><td>restart</td>")).unwrap_or_default();
        // routes removed: GR missed (red), no GR met (green).
        assert!(row.starts_with("<tr><td>restart</td><td class=\"bad\""), "{row}");
        assert!(row.contains("<td class=\"good\" title=\"all routes removed"), "{row}");
        assert!(html.contains("class=\"tick-label\""));
    }
}
