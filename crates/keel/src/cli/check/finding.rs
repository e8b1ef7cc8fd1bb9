//! A finding of `keel check`: its stable id, PASS/WARN/FAIL, for live checks the neighbor and
//! its [`Verdict`], the reason and the fix; and findings as text and counts.

use serde::Serialize;
use serde_json::{json, Value};
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Pass,
    Warn,
    Fail,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Pass => "PASS",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        }
    }
}

/// Would the neighbor keep keel's routes if keel restarted now (RFC 4724 §4.2, RFC 8538)?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Yes, for every family of the session.
    Keeps,
    /// For some families only; the others are withdrawn at once.
    Partial,
    /// No: the neighbor withdraws keel's routes as soon as the session drops.
    Flushes,
    /// The session is not Established: the neighbor holds no routes from keel to keep.
    Down,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Keeps => "keeps",
            Verdict::Partial => "partial",
            Verdict::Flushes => "flushes",
            Verdict::Down => "down",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub level: Level,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub neighbor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    pub reason: String,
    /// Empty for PASS.
    pub fix: String,
}

pub(super) fn finding(id: &'static str, level: Level, reason: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding { id, level, neighbor: None, verdict: None, reason: reason.into(), fix: fix.into() }
}

pub(super) fn pass(id: &'static str, reason: impl Into<String>) -> Finding {
    finding(id, Level::Pass, reason, "")
}

impl Finding {
    pub(super) fn on(mut self, neighbor: Option<&str>) -> Finding {
        self.neighbor = neighbor.map(str::to_string);
        self
    }
}

pub fn summary(findings: &[Finding]) -> Value {
    let count = |l: Level| findings.iter().filter(|f| f.level == l).count();
    json!({"pass": count(Level::Pass), "warn": count(Level::Warn), "fail": count(Level::Fail)})
}

/// One line per finding, `LEVEL  id  [neighbor: ]reason`, then `fix:` indented.
pub fn render(findings: &[Finding]) -> String {
    let mut o = String::new();
    for f in findings {
        let who = f.neighbor.as_deref().map(|n| format!("{n}: ")).unwrap_or_default();
        let _ = writeln!(o, "{}  {:<20}  {who}{}", f.level.name(), f.id, f.reason);
        if !f.fix.is_empty() {
            let _ = writeln!(o, "      fix: {}", f.fix);
        }
    }
    let s = summary(findings);
    let _ = writeln!(o, "{} pass, {} warn, {} fail", s["pass"], s["warn"], s["fail"]);
    o
}
