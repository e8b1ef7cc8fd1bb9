//! Handoff planning: whether a hitless upgrade fits every session now (docs/upgrade.md,
//! "Handoff budget and the hold-time check").
//!
//! A neighbor resets the session when it hears nothing for its negotiated hold time (RFC 4271
//! §6.5). The old keeld sends a KEEPALIVE just before it stops reading and the new one just
//! after it has loaded the state, so the silence a neighbor sees is the handoff itself. The
//! budget is that time with a margin:
//!
//! ```text
//! estimate = 1 s + routes held (Adj-RIBs-In + Adj-RIBs-Out) / 2 M per s
//! budget   = 2 × max(last measured handoff, estimate) + 1 s
//! ```
//!
//! and a session whose hold time is not longer than the budget makes `keel upgrade` refuse
//! (hold time 0, no hold timer, never does). With no routes and no measurement the budget is
//! 3 s: hold time 3 s (RFC 4271's smallest) is refused, 4 s and more accepted.

use std::net::IpAddr;

/// Fixed cost of a handoff: quiesce, exec, runtime start, load (ms).
pub const BASE_MS: u64 = 1_000;
/// Routes a handoff writes and reads per second (UPDATE encoding and decoding, both sides).
pub const ROUTES_PER_SECOND: u64 = 2_000_000;
/// Margin added after doubling the expected handoff (ms).
pub const MARGIN_MS: u64 = 1_000;

/// What the budget is made of, for the refusal's message and `keel check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The expected handoff time from the number of routes (ms).
    pub estimate_ms: u64,
    /// The last upgrade's measured handoff time, if one was measured (ms).
    pub measured_ms: Option<u64>,
    /// The silence a neighbor must tolerate (ms).
    pub budget_ms: u64,
}

impl Budget {
    /// The budget for handing over `routes` routes (Adj-RIBs-In plus Adj-RIBs-Out).
    pub fn new(routes: u64, measured_ms: Option<u64>) -> Budget {
        let estimate_ms = BASE_MS.saturating_add(routes.saturating_mul(1_000) / ROUTES_PER_SECOND);
        let expected = estimate_ms.max(measured_ms.unwrap_or(0));
        Budget { estimate_ms, measured_ms, budget_ms: expected.saturating_mul(2).saturating_add(MARGIN_MS) }
    }
}

/// One Established session as the pre-check sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub address: IpAddr,
    /// Negotiated hold time in seconds; 0 for none.
    pub hold_time: u16,
}

/// A session the handoff would not fit in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooShort {
    pub address: IpAddr,
    pub hold_time: u16,
    pub budget_ms: u64,
}

impl std::fmt::Display for TooShort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "neighbor {}: negotiated hold time {} s is too short for the handoff budget of {}.{:03} s",
            self.address,
            self.hold_time,
            self.budget_ms / 1000,
            self.budget_ms % 1000
        )
    }
}

/// Whether a session with `hold_time` survives a handoff within `budget`.
pub fn fits(hold_time: u16, budget: &Budget) -> bool {
    hold_time == 0 || u64::from(hold_time) * 1000 > budget.budget_ms
}

/// The sessions whose hold time is too short for `budget`, in the order given.
pub fn too_short(sessions: &[Session], budget: &Budget) -> Vec<TooShort> {
    sessions
        .iter()
        .filter(|s| !fits(s.hold_time, budget))
        .map(|s| TooShort { address: s.address, hold_time: s.hold_time, budget_ms: budget.budget_ms })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(last: u8, hold_time: u16) -> Session {
        Session { address: IpAddr::from([192, 0, 2, last]), hold_time }
    }

    #[test]
    fn empty_rib_budget_refuses_three_seconds_only() {
        let b = Budget::new(0, None);
        assert_eq!(b.budget_ms, 3_000);
        let sessions = [session(1, 3), session(2, 4), session(3, 9), session(4, 0), session(5, 90)];
        let refused = too_short(&sessions, &b);
        assert_eq!(refused, vec![TooShort { address: sessions[0].address, hold_time: 3, budget_ms: 3_000 }]);
        assert_eq!(
            refused[0].to_string(),
            "neighbor 192.0.2.1: negotiated hold time 3 s is too short for the handoff budget of 3.000 s"
        );
    }

    #[test]
    fn routes_and_measurement_grow_the_budget() {
        // 4 M routes: 1 s + 2 s estimated, doubled, plus 1 s.
        assert_eq!(Budget::new(4_000_000, None).budget_ms, 7_000);
        // A measured handoff longer than the estimate wins.
        assert_eq!(Budget::new(0, Some(4_500)).budget_ms, 10_000);
        // A shorter one does not lower the estimate.
        assert_eq!(Budget::new(0, Some(10)).budget_ms, 3_000);
        let b = Budget::new(0, Some(4_500));
        assert!(!fits(9, &b));
        assert!(fits(11, &b));
        assert!(fits(0, &b));
    }

    #[test]
    fn extreme_inputs_saturate() {
        let b = Budget::new(u64::MAX, Some(u64::MAX));
        assert_eq!(b.budget_ms, u64::MAX);
        assert!(!fits(u16::MAX, &b));
        assert!(fits(0, &b));
    }
}
