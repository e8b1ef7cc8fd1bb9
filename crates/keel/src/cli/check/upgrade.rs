//! `keel check --live`'s hitless-upgrade finding: would `keel upgrade` go ahead now, and for
//! which neighbors not. The same rule as keeld's own pre-check ([`keel_handoff::plan`]): every
//! Established session's negotiated hold time must be longer than the handoff budget, which
//! grows with the routes held in Adj-RIBs-In and Adj-RIBs-Out.

use super::finding::{finding, pass, Finding, Level};
use keel_api::NeighborView;
use keel_handoff::plan::{self, Budget};

/// One PASS when every session fits the budget, else one WARN per neighbor that does not.
pub(super) fn upgrade_checks(out: &mut Vec<Finding>, neighbors: &[NeighborView]) {
    let routes: u64 = neighbors.iter().map(|n| n.received_prefixes + n.advertised_prefixes).sum();
    let sessions: Vec<plan::Session> = neighbors
        .iter()
        .filter(|n| n.state == "established")
        .filter_map(|n| n.hold_time.map(|hold_time| plan::Session { address: n.address, hold_time }))
        .collect();
    hold_time_findings(out, &sessions, &Budget::new(routes, None));
}

fn hold_time_findings(out: &mut Vec<Finding>, sessions: &[plan::Session], budget: &Budget) {
    let seconds = budget.budget_ms.div_ceil(1000);
    let refused = plan::too_short(sessions, budget);
    if refused.is_empty() {
        out.push(pass(
            "hitless-upgrade",
            format!(
                "keel upgrade possible now: every Established session's hold time is longer than the handoff \
                 budget of {seconds} s"
            ),
        ));
    }
    for r in refused {
        let address = r.address.to_string();
        let f = finding(
            "hitless-upgrade",
            Level::Warn,
            format!("{r}: keel upgrade refuses while this session is up"),
            format!("a hold time above {seconds} s on both sides (hold_time), or keel restart (graceful restart)"),
        );
        out.push(f.on(Some(&address)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_too_short_for_the_budget_are_named() {
        let s = |last: u8, hold_time| plan::Session { address: std::net::IpAddr::from([192, 0, 2, last]), hold_time };
        let mut out = Vec::new();
        hold_time_findings(&mut out, &[s(2, 9), s(3, 3), s(4, 0)], &Budget::new(0, None));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].level, Level::Warn);
        assert_eq!(out[0].neighbor.as_deref(), Some("192.0.2.3"));
        assert!(out[0].reason.contains("hold time 3 s is too short"), "{}", out[0].reason);
        assert!(out[0].fix.contains("above 3 s"), "{}", out[0].fix);
        let mut out = Vec::new();
        hold_time_findings(&mut out, &[s(2, 9), s(4, 0)], &Budget::new(0, None));
        assert_eq!((out.len(), out[0].level), (1, Level::Pass));
        assert!(out[0].reason.contains("budget of 3 s"), "{}", out[0].reason);
    }
}
