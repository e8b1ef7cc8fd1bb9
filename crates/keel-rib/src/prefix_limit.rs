//! Prefix limits: the most routes keel keeps from one neighbor per family, the guard against a
//! neighbor that leaks a full table or de-aggregates. Pure: the RIB task asks
//! [`Tracker::check`] with the count [`Rib::adj_rib_in_count`](crate::Rib::adj_rib_in_count)
//! keeps (O(1), no walk) after each UPDATE, and acts on the [`Crossing`]s it gets back.
//!
//! RFC 4486 §4 names the NOTIFICATION a speaker sends when a neighbor goes over a configured
//! upper bound, Cease/Maximum Number of Prefixes Reached, with the AFI, SAFI and the bound
//! in its data ([`Limit::notification`]); RFC 8538 §5.1 asks for it as a Hard Reset where the
//! N bit was exchanged, so that neither side keeps the other's routes.
//!
//! Each crossing is reported once per session: the warning when the count reaches
//! `warning_percent` of the limit, the limit when the count goes over it.

use crate::rib::AdjRibInCount;
use keel_wire::error::{cease, code};
use keel_wire::{Family, Notification};
use smallvec::SmallVec;

/// What keel does when a neighbor goes over a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Cease/Maximum Number of Prefixes Reached (RFC 4486 §4), the session closed and not
    /// started again before `restart_after`.
    Reset,
    /// Log and count only: the routes are kept.
    Warn,
}

/// A neighbor's prefix limits, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// The most routes per family; families not listed have no limit.
    pub max: Vec<(Family, u32)>,
    /// Percent of `max` at which keel warns, 1-100.
    pub warning_percent: u8,
    pub count: AdjRibInCount,
    pub action: Action,
}

impl Limit {
    /// The limit of `family`, if it has one.
    pub fn max_for(&self, family: Family) -> Option<u32> {
        self.max.iter().find(|(f, _)| *f == family).map(|(_, m)| *m)
    }

    /// The count at which keel warns: `warning_percent` of the limit, rounded up, at least 1.
    pub fn warning_at(&self, family: Family) -> Option<usize> {
        let max = u64::from(self.max_for(family)?);
        let at = (max * u64::from(self.warning_percent)).div_ceil(100).max(1);
        Some(usize::try_from(at).unwrap_or(usize::MAX))
    }

    /// RFC 4486 §4: Cease/Maximum Number of Prefixes Reached, "the data field ... contains
    /// the Address Family Identifier (2 octets), the Subsequent Address Family Identifier
    /// (1 octet), and the upper bound (4 octets) on the number of address prefixes"; wrapped
    /// in a Hard Reset (RFC 8538 §3: Cease/Hard Reset whose data is the code, subcode and data
    /// of the NOTIFICATION it stands for) when `hard_reset` (the N bit was exchanged, §5.1).
    pub fn notification(family: Family, max: u32, hard_reset: bool) -> Notification {
        let mut data = Vec::with_capacity(7);
        data.extend_from_slice(&family.afi.0.to_be_bytes());
        data.push(family.safi.0);
        data.extend_from_slice(&max.to_be_bytes());
        let n = Notification::new(code::CEASE, cease::MAXIMUM_PREFIXES_REACHED, data);
        if hard_reset {
            Notification::hard_reset(&n)
        } else {
            n
        }
    }
}

/// A threshold a neighbor's count went past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crossing {
    /// The count reached `warning_percent` of the limit.
    Warning { family: Family, count: usize, max: u32 },
    /// The count went over the limit.
    Exceeded { family: Family, count: usize, max: u32 },
}

/// One session's prefix limits and which crossings it has seen (each is reported once per
/// session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    pub limit: Limit,
    warned: SmallVec<[Family; 2]>,
    exceeded: SmallVec<[Family; 2]>,
}

impl Tracker {
    pub fn new(limit: Limit) -> Self {
        Tracker { limit, warned: SmallVec::new(), exceeded: SmallVec::new() }
    }

    /// Whether the warning threshold of `family` was crossed in this session.
    pub fn warning_crossed(&self, family: Family) -> bool {
        self.warned.contains(&family)
    }

    /// Whether `family` went over its limit in this session.
    pub fn exceeded(&self, family: Family) -> bool {
        self.exceeded.contains(&family)
    }

    /// Whether `count` routes of `family` would go over the limit.
    pub fn over(&self, family: Family, count: usize) -> bool {
        self.limit.max_for(family).is_some_and(|max| count > max as usize)
    }

    /// The crossings `count` routes of `family` make that were not reported yet this session.
    pub fn check(&mut self, family: Family, count: usize) -> SmallVec<[Crossing; 2]> {
        let mut out = SmallVec::new();
        let (Some(max), Some(warn_at)) = (self.limit.max_for(family), self.limit.warning_at(family)) else {
            return out;
        };
        if count >= warn_at && !self.warned.contains(&family) {
            self.warned.push(family);
            out.push(Crossing::Warning { family, count, max });
        }
        if count > max as usize && !self.exceeded.contains(&family) {
            self.exceeded.push(family);
            out.push(Crossing::Exceeded { family, count, max });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(max: u32, pct: u8) -> Limit {
        Limit {
            max: vec![(Family::IPV4_UNICAST, max)],
            warning_percent: pct,
            count: AdjRibInCount::Received,
            action: Action::Reset,
        }
    }

    #[test]
    fn warning_then_limit_each_once() {
        let mut t = Tracker::new(limit(10, 80));
        let v4 = Family::IPV4_UNICAST;
        assert!(t.check(v4, 7).is_empty());
        assert_eq!(t.check(v4, 8).as_slice(), [Crossing::Warning { family: v4, count: 8, max: 10 }]);
        assert!(t.check(v4, 9).is_empty());
        // The limit itself is allowed: only going over it trips (RFC 4486 §4 "upper bound").
        assert!(t.check(v4, 10).is_empty());
        assert_eq!(t.check(v4, 11).as_slice(), [Crossing::Exceeded { family: v4, count: 11, max: 10 }]);
        assert!(t.check(v4, 12).is_empty());
        assert!(t.warning_crossed(v4) && t.exceeded(v4));
        // A family without a limit never crosses anything.
        assert!(t.check(Family::IPV6_UNICAST, 1_000_000).is_empty());
    }

    #[test]
    fn one_update_can_cross_both() {
        let mut t = Tracker::new(limit(10, 80));
        let v4 = Family::IPV4_UNICAST;
        let got = t.check(v4, 50);
        assert_eq!(
            got.as_slice(),
            [
                Crossing::Warning { family: v4, count: 50, max: 10 },
                Crossing::Exceeded { family: v4, count: 50, max: 10 }
            ]
        );
    }

    #[test]
    fn warning_rounds_up_and_is_at_least_one() {
        assert_eq!(limit(10, 75).warning_at(Family::IPV4_UNICAST), Some(8));
        assert_eq!(limit(1, 1).warning_at(Family::IPV4_UNICAST), Some(1));
        assert_eq!(limit(u32::MAX, 100).warning_at(Family::IPV4_UNICAST), Some(u32::MAX as usize));
        assert_eq!(limit(10, 80).warning_at(Family::IPV6_UNICAST), None);
    }

    /// RFC 4486 §4 data: AFI (2), SAFI (1), the limit (4); RFC 8538 §3 wraps code, subcode
    /// and data.
    #[test]
    fn notification_bytes() {
        let n = Limit::notification(Family::IPV6_UNICAST, 250_000, false);
        assert_eq!((n.code, n.subcode), (6, 1));
        assert_eq!(n.data, [0x00, 0x02, 0x01, 0x00, 0x03, 0xd0, 0x90]);
        let h = Limit::notification(Family::IPV4_UNICAST, 3, true);
        assert_eq!((h.code, h.subcode), (6, 9));
        assert_eq!(h.data, [6, 1, 0x00, 0x01, 0x01, 0, 0, 0, 3]);
    }
}
