//! The report's SVG timeline: three bands share the time axis, session state lanes (each
//! peer's session with keeld, keeld's process), UPDATEs per second and routes per peer, with
//! the scenarios as shaded spans. Both plots have ticks with units on both axes.
//!
//! The geometry is computed by [`Layout::new`], apart from the drawing: every text's position
//! is there, so a test checks on the very positions the SVG uses that no two labels overlap
//! and none leaves the picture. Scenario labels, which can be many and close together, are
//! packed into as many rows as they need.

use super::results::{ScenarioResult, Timeline, PEERS};
use super::text::{escape, thousands};
use std::fmt::Write;

/// The peers' colours, in [`PEERS`] order.
const COLORS: [&str; 2] = ["#1f77b4", "#d62728"];
/// The shading of a run with graceful restart, and without.
const GR_FILL: &str = "#e8f4e8";
const NO_GR_FILL: &str = "#fbeaea";

/// Text of the timeline: 11 px sans-serif.
const FONT_PX: f64 = 11.0;
/// An upper bound of a character's advance at [`FONT_PX`] (DejaVu Sans, Chromium's default on
/// Debian, has digits of 7.0 px and lower case of at most 10.7 px; most are under 7).
const CHAR_PX: f64 = 7.2;

/// How a label's `x` anchors it (SVG `text-anchor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

/// One text of the timeline: where it is drawn, so its box can be checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub x: f64,
    /// The baseline.
    pub y: f64,
    pub text: String,
    pub anchor: Anchor,
    /// Its `class` in the SVG ("tick-label", "scenario-label", ...).
    pub class: &'static str,
}

impl Label {
    /// The box the text may cover: `[x0, y0, x1, y1]`, generous in width.
    pub fn bbox(&self) -> [f64; 4] {
        let w = self.text.chars().count() as f64 * CHAR_PX;
        let x0 = match self.anchor {
            Anchor::Start => self.x,
            Anchor::Middle => self.x - w / 2.0,
            Anchor::End => self.x - w,
        };
        [x0, self.y - FONT_PX, x0 + w, self.y + 3.0]
    }

    fn svg(&self) -> String {
        let anchor = match self.anchor {
            Anchor::Start => "",
            Anchor::Middle => " text-anchor=\"middle\"",
            Anchor::End => " text-anchor=\"end\"",
        };
        format!(
            "<text class=\"{}\" x=\"{:.1}\" y=\"{:.1}\"{anchor}>{}</text>",
            self.class,
            self.x,
            self.y,
            escape(&self.text)
        )
    }
}

/// Whether two boxes `[x0, y0, x1, y1]` share more than an edge.
pub fn overlap(a: [f64; 4], b: [f64; 4]) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

/// Ticks for an axis from 0 to at least `max`: a step of 1, 2 or 5 times a power of ten
/// giving at most `target` intervals, and the ticks up to the first at or past `max`.
pub fn ticks(max: f64, target: usize) -> (f64, Vec<f64>) {
    let max = if max.is_finite() && max > 0.0 { max } else { 1.0 };
    let raw = max / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(raw);
    let n = (max / step - 1e-9).ceil().max(1.0) as usize;
    (step, (0..=n).map(|i| i as f64 * step).collect())
}

/// A tick's label: thousands separated, one decimal for steps under 1.
fn tick_text(v: f64, step: f64, unit: &str) -> String {
    let n = if step >= 1.0 { thousands(v.round() as i64) } else { format!("{v:.1}") };
    format!("{n}{unit}")
}

/// Where everything of the timeline goes.
pub struct Layout {
    pub w: f64,
    pub h: f64,
    pub left: f64,
    pub right: f64,
    pub lanes_top: f64,
    pub lane_h: f64,
    pub lane_pitch: f64,
    pub band_h: f64,
    pub rate_top: f64,
    pub routes_top: f64,
    /// The time axis ends at the last sample.
    pub t_max: f64,
    pub x_ticks: Vec<f64>,
    /// The y axes end at their last tick.
    pub rate_max: f64,
    pub rate_ticks: Vec<f64>,
    pub routes_max: f64,
    pub routes_ticks: Vec<f64>,
    /// One label per scenario run, in the order of the results.
    pub scenario_labels: Vec<Label>,
    /// Every other text: lane names, axis titles, tick labels, legend.
    pub labels: Vec<Label>,
}

impl Layout {
    /// The layout for runs at `spans` (seconds, with their labels), a timeline of `t_max`
    /// seconds, and peak UPDATE rate and route count.
    pub fn new(spans: &[((f64, f64), String)], t_max: f64, rate_peak: f64, routes_peak: f64) -> Layout {
        let (w, left, right) = (1100.0, 110.0, 30.0);
        let t_max = if t_max.is_finite() && t_max > 0.0 { t_max } else { 1.0 };
        let x = |t: f64| left + (t / t_max) * (w - left - right);
        // Scenario labels: each at its span's start (kept inside the picture), in the first
        // row where it clears the labels before it; rows stack upwards from the lanes.
        let (row_pitch, gap) = (15.0, 6.0);
        let mut row_ends: Vec<f64> = Vec::new();
        let mut placed = Vec::new();
        for ((t0, _), text) in spans {
            let width = text.chars().count() as f64 * CHAR_PX;
            let x0 = x(*t0).min(w - 2.0 - width).max(2.0);
            let row = match row_ends.iter().position(|end| *end + gap <= x0) {
                Some(r) => r,
                None => {
                    row_ends.push(f64::MIN);
                    row_ends.len() - 1
                }
            };
            row_ends[row] = x0 + width;
            placed.push((x0, row, text.clone()));
        }
        let rows = row_ends.len().max(1) as f64;
        let lanes_top = 20.0 + (rows - 1.0) * row_pitch;
        let scenario_labels = placed
            .into_iter()
            .map(|(x0, row, text)| Label {
                x: x0,
                y: lanes_top - 5.0 - row as f64 * row_pitch,
                text,
                anchor: Anchor::Start,
                class: "scenario-label",
            })
            .collect();
        let (lane_h, lane_pitch) = (16.0, 22.0);
        let band_h = 120.0;
        let rate_top = lanes_top + 3.0 * lane_pitch + 24.0;
        let routes_top = rate_top + band_h + 44.0;
        let h = routes_top + band_h + 52.0;
        let (_, x_ticks) = ticks(t_max, 10);
        let x_ticks: Vec<f64> = x_ticks.into_iter().filter(|t| *t <= t_max + 1e-9).collect();
        let (rate_step, rate_ticks) = ticks(rate_peak, 4);
        let (routes_step, routes_ticks) = ticks(routes_peak, 4);
        let rate_max = rate_ticks.last().copied().unwrap_or(1.0);
        let routes_max = routes_ticks.last().copied().unwrap_or(1.0);
        let mut labels = Vec::new();
        let mut label = |x: f64, y: f64, text: String, anchor: Anchor, class: &'static str| {
            labels.push(Label { x, y, text, anchor, class });
        };
        for (i, name) in ["upstream", "observer", "keeld process"].into_iter().enumerate() {
            label(4.0, lanes_top + i as f64 * lane_pitch + lane_h - 4.0, name.into(), Anchor::Start, "lane-label");
        }
        let (step_t, _) = ticks(t_max, 10);
        for (top, title, max, step, band_ticks) in [
            (rate_top, "UPDATEs per second", rate_max, rate_step, &rate_ticks),
            (routes_top, "routes", routes_max, routes_step, &routes_ticks),
        ] {
            label(left, top - 8.0, title.into(), Anchor::Start, "axis-title");
            for v in band_ticks {
                let y = top + band_h - v / max * band_h;
                label(left - 6.0, y + 4.0, tick_text(*v, step, ""), Anchor::End, "tick-label");
            }
            for t in &x_ticks {
                label(x(*t), top + band_h + 20.0, tick_text(*t, step_t, " s"), Anchor::Middle, "tick-label");
            }
        }
        let legend: [(&str, &str); 4] =
            [(PEERS[0], COLORS[0]), (PEERS[1], COLORS[1]), ("with GR", GR_FILL), ("without GR", NO_GR_FILL)];
        for (i, (name, _)) in legend.iter().enumerate() {
            label(left + 150.0 * i as f64 + 16.0, h - 8.0, (*name).into(), Anchor::Start, "legend");
        }
        Layout {
            w,
            h,
            left,
            right,
            lanes_top,
            lane_h,
            lane_pitch,
            band_h,
            rate_top,
            routes_top,
            t_max,
            x_ticks,
            rate_max,
            rate_ticks,
            routes_max,
            routes_ticks,
            scenario_labels,
            labels,
        }
    }

    fn x(&self, t: f64) -> f64 {
        self.left + (t / self.t_max) * (self.w - self.left - self.right)
    }

    /// Every label, scenario labels first.
    pub fn all_labels(&self) -> impl Iterator<Item = &Label> {
        self.scenario_labels.iter().chain(&self.labels)
    }
}

/// "restart, GR" / "restart, no GR": a run's label on the timeline.
fn span_label(r: &ScenarioResult) -> String {
    format!("{}, {}", r.scenario.name(), if r.graceful_restart { "GR" } else { "no GR" })
}

/// The SVG timeline. Three bands share the time axis: session state lanes, UPDATE rate and
/// route count, each plot with ticks and units on both axes. Each peer's marks are in one
/// `<g class="series" data-peer="NAME">`.
pub fn svg(results: &[ScenarioResult], timeline: &Timeline) -> String {
    let samples = &timeline.samples;
    // UPDATE rates per 100 ms sample, as UPDATEs per second.
    let rates: Vec<[f64; 2]> = samples
        .windows(2)
        .map(|p| {
            let dt = (p[1].t - p[0].t).max(1e-3);
            [0, 1].map(|i| p[1].updates[i].saturating_sub(p[0].updates[i]) as f64 / dt)
        })
        .collect();
    let rate_peak = rates.iter().flat_map(|r| r.iter().copied()).fold(1.0, f64::max);
    let routes_peak = samples.iter().flat_map(|s| s.routes).max().unwrap_or(1).max(1) as f64;
    let spans: Vec<((f64, f64), String)> = results.iter().map(|r| (r.span, span_label(r))).collect();
    let t_max = samples.last().map_or(1.0, |s| s.t).max(1.0);
    let l = Layout::new(&spans, t_max, rate_peak, routes_peak);
    let (w, h, left, right, band_h, lane_h) = (l.w, l.h, l.left, l.right, l.band_h, l.lane_h);
    let x = |t: f64| l.x(t);
    let mut o = String::new();
    let _ = write!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" \
         role=\"img\" aria-label=\"timeline\">\n<style>text{{font:{FONT_PX}px sans-serif}} .axis{{stroke:#888}} \
         .tick{{stroke:#888}} .grid{{stroke:#e4e4e4}}</style>\n"
    );
    // Scenario spans.
    for (r, label) in results.iter().zip(&l.scenario_labels) {
        let (x0, x1) = (x(r.span.0), x(r.span.1));
        let fill = if r.graceful_restart { GR_FILL } else { NO_GR_FILL };
        let _ = writeln!(
            o,
            "<g class=\"scenario\"><rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\"/>\
             {}<title>{}: {} routes removed, {} UPDATEs; {}</title></g>",
            l.lanes_top,
            (x1 - x0).max(1.0),
            l.routes_top + band_h - l.lanes_top,
            label.svg(),
            escape(&r.run_name()),
            r.routes_removed,
            r.updates,
            if r.as_expected { "as expected" } else { "NOT as expected" }
        );
    }
    // Axes: gridlines and ticks on both axes of each plot.
    for top in [l.rate_top, l.routes_top] {
        let bottom = top + band_h;
        for t in &l.x_ticks {
            let xt = x(*t);
            let _ = writeln!(
                o,
                "<line class=\"grid\" x1=\"{xt:.1}\" y1=\"{top:.1}\" x2=\"{xt:.1}\" y2=\"{bottom:.1}\"/>\
                 <line class=\"tick\" x1=\"{xt:.1}\" y1=\"{bottom:.1}\" x2=\"{xt:.1}\" y2=\"{:.1}\"/>",
                bottom + 5.0
            );
        }
        let (max, band_ticks) =
            if top == l.rate_top { (l.rate_max, &l.rate_ticks) } else { (l.routes_max, &l.routes_ticks) };
        for v in band_ticks {
            let y = bottom - v / max * band_h;
            let _ = writeln!(
                o,
                "<line class=\"grid\" x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/>\
                 <line class=\"tick\" x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{left}\" y2=\"{y:.1}\"/>",
                w - right,
                left - 4.0
            );
        }
        let _ = writeln!(
            o,
            "<line class=\"axis\" x1=\"{left}\" y1=\"{bottom:.1}\" x2=\"{:.1}\" y2=\"{bottom:.1}\"/>\
             <line class=\"axis\" x1=\"{left}\" y1=\"{top:.1}\" x2=\"{left}\" y2=\"{bottom:.1}\"/>",
            w - right
        );
    }
    for label in &l.labels {
        let _ = writeln!(o, "{}", label.svg());
    }
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
        lane(&mut o, l.lanes_top + p as f64 * l.lane_pitch, &|i| samples[i].established[p], name);
        let points = |vals: &mut dyn Iterator<Item = (f64, f64)>, top: f64, max: f64| {
            let mut pts = String::new();
            for (t, v) in vals {
                let _ = write!(pts, "{:.1},{:.1} ", x(t), top + band_h - v / max * band_h);
            }
            pts
        };
        let rate_pts =
            points(&mut rates.iter().zip(samples.iter().skip(1)).map(|(r, s)| (s.t, r[p])), l.rate_top, l.rate_max);
        let route_pts = points(&mut samples.iter().map(|s| (s.t, s.routes[p] as f64)), l.routes_top, l.routes_max);
        let _ = writeln!(
            o,
            "<polyline class=\"rate\" fill=\"none\" stroke=\"{c}\" stroke-width=\"1.2\" points=\"{rate_pts}\"><title>{name}: UPDATEs per second</title></polyline>\n\
             <polyline class=\"routes\" fill=\"none\" stroke=\"{c}\" stroke-width=\"1.5\" points=\"{route_pts}\"><title>{name}: routes</title></polyline>\n</g>",
            c = COLORS[p]
        );
    }
    let _ = writeln!(o, "<g class=\"process\" data-process=\"keeld\">");
    let keeld_y = l.lanes_top + 2.0 * l.lane_pitch;
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
    // Legend swatches (their names are among the labels).
    for (i, fill) in [COLORS[0], COLORS[1], GR_FILL, NO_GR_FILL].into_iter().enumerate() {
        let lx = left + 150.0 * i as f64;
        let (y, sh) = if i < 2 { (h - 13.0, 3.0) } else { (h - 17.0, 10.0) };
        let _ = writeln!(o, "<rect x=\"{lx:.1}\" y=\"{y:.1}\" width=\"12\" height=\"{sh}\" fill=\"{fill}\"/>");
    }
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_has_one_series_per_peer() {
        let results = ScenarioResult::test_rehearsal();
        let svg = svg(&results, &Timeline::test(22.0));
        assert_eq!(svg.matches("<g class=\"series\"").count(), PEERS.len());
        assert_eq!(svg.matches("<g class=\"scenario\"").count(), results.len());
        assert!(svg.contains(">restart, GR</text>") && svg.contains(">hard-reset, no GR</text>"), "{svg}");
        assert!(svg.contains(">20 s</text>") && svg.contains(">6,000</text>"), "ticks: {svg}");
    }

    #[test]
    fn ticks_are_round_and_cover_the_maximum() {
        assert_eq!(ticks(17547.0, 4), (5000.0, vec![0.0, 5000.0, 10000.0, 15000.0, 20000.0]));
        assert_eq!(ticks(6000.0, 4), (2000.0, vec![0.0, 2000.0, 4000.0, 6000.0]));
        assert_eq!(ticks(22.3, 10).0, 5.0);
        assert_eq!(ticks(1.0, 4), (0.5, vec![0.0, 0.5, 1.0]));
        assert_eq!(ticks(0.0, 4).1.last(), Some(&1.0));
        assert_eq!(tick_text(20000.0, 5000.0, ""), "20,000");
        assert_eq!(tick_text(1.5, 0.5, " s"), "1.5 s");
    }

    /// No two texts of the timeline overlap, and all lie inside it: with short scenarios side by
    /// side (the labels take several rows), a short timeline, and a long one with a million
    /// routes.
    #[test]
    fn timeline_labels_do_not_overlap() {
        let short = ScenarioResult::test_rehearsal();
        let mut long = ScenarioResult::test_rehearsal();
        for r in &mut long {
            r.span = (r.span.0 * 40.0, r.span.1 * 40.0);
        }
        let cases = [(short.clone(), 22.0, 17547.0, 6000.0), (short, 3.0, 1.0, 10.0), (long, 900.0, 250_000.0, 1.2e6)];
        for (results, t_max, rate, routes) in cases {
            let spans: Vec<((f64, f64), String)> = results.iter().map(|r| (r.span, span_label(r))).collect();
            let l = Layout::new(&spans, t_max, rate, routes);
            assert_eq!(l.scenario_labels.len(), results.len());
            assert!(l.x_ticks.len() >= 4 && l.rate_ticks.len() >= 3 && l.routes_ticks.len() >= 3);
            let labels: Vec<&Label> = l.all_labels().collect();
            for (i, a) in labels.iter().enumerate() {
                let b = a.bbox();
                assert!(b[0] >= 0.0 && b[1] >= 0.0 && b[2] <= l.w && b[3] <= l.h, "{a:?} outside {}x{}", l.w, l.h);
                for other in &labels[i + 1..] {
                    assert!(!overlap(b, other.bbox()), "t_max {t_max}: {a:?} overlaps {other:?}");
                }
            }
        }
        // The check sees an overlap.
        let label = |x: f64, text: &str| Label { x, y: 20.0, text: text.into(), anchor: Anchor::Start, class: "t" };
        assert!(overlap(label(10.0, "restart").bbox(), label(40.0, "crash").bbox()));
        assert!(!overlap(label(10.0, "restart").bbox(), label(70.0, "crash").bbox()));
    }
}
