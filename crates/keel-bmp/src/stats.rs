//! Statistics Report (RFC 7854 §4.8) and the statistics types of the IANA "BMP Statistics
//! Types" registry that keel can report.
//!
//! ```text
//! per-peer header | Stats Count (4) | { Stat Type (2) | Stat Len (2) | Stat Data } ...
//! ```
//!
//! Three shapes of Stat Data exist: a 32-bit counter ("a non-negative integer that
//! monotonically increases until it reaches a maximum value, when it wraps around and starts
//! increasing again from 0"), a 64-bit gauge (a current count, e.g. routes in a RIB), and a
//! per-AFI/SAFI gauge (2-octet AFI, 1-octet SAFI, 64-bit gauge). Each [`Stat`] variant fixes its
//! type and shape, so a value cannot be sent in the wrong one.
//!
//! | types | defined by | what |
//! |---|---|---|
//! | 0-6 | RFC 7854 §4.8 | counters: rejected, duplicate and invalidated updates |
//! | 7-10 | RFC 7854 §4.8 | gauges: routes in Adj-RIBs-In and Loc-RIB, in total and per family |
//! | 11-13 | IANA registry | counters: treat-as-withdraw (RFC 7606) and duplicate UPDATEs |
//! | 14-17 | RFC 8671 | gauges: routes in pre- and post-policy Adj-RIB-Out, total and per family |
//! | 18-23 | RFC 9972 | gauges: routes in pre- and post-policy Adj-RIB-In; per family rejected and accepted by inbound policy |
//! | 27, 28 | RFC 9972 | per-family gauges: routes marked stale by Graceful Restart and by Long-Lived GR |
//!
//! Other types (RFC 9972's 24-26 and 29-43, the experimental 65531-65534) go as [`Stat::Other`].
//! RFC 9069 defines no statistics types of its own: a Loc-RIB instance peer's route counts are
//! types 8 and 10.

use crate::error::EncodeError;
use crate::header::{self, MessageType, PeerHeader};
use keel_wire::Family;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatisticsReport {
    pub peer: PeerHeader,
    pub stats: Vec<Stat>,
}

/// One statistic. Counters are `u32` and wrap (the caller passes `count as u32`); gauges are
/// `u64`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Stat {
    /// 0: Number of prefixes rejected by inbound policy.
    PrefixesRejectedByInboundPolicy(u32),
    /// 1: Number of (known) duplicate prefix advertisements.
    DuplicatePrefixAdvertisements(u32),
    /// 2: Number of (known) duplicate withdraws.
    DuplicateWithdraws(u32),
    /// 3: Number of updates invalidated due to CLUSTER_LIST loop.
    UpdatesInvalidatedByClusterListLoop(u32),
    /// 4: Number of updates invalidated due to AS_PATH loop.
    UpdatesInvalidatedByAsPathLoop(u32),
    /// 5: Number of updates invalidated due to ORIGINATOR_ID.
    UpdatesInvalidatedByOriginatorId(u32),
    /// 6: Number of updates invalidated due to a loop found in AS_CONFED_SEQUENCE or
    /// AS_CONFED_SET.
    UpdatesInvalidatedByAsConfedLoop(u32),
    /// 7: Number of routes in Adj-RIBs-In.
    RoutesInAdjRibIn(u64),
    /// 8: Number of routes in Loc-RIB.
    RoutesInLocRib(u64),
    /// 9: Number of routes in per-AFI/SAFI Adj-RIB-In.
    RoutesInAdjRibInPerFamily(Family, u64),
    /// 10: Number of routes in per-AFI/SAFI Loc-RIB.
    RoutesInLocRibPerFamily(Family, u64),
    /// 11: Number of updates subjected to treat-as-withdraw treatment (RFC 7606).
    UpdatesTreatedAsWithdraw(u32),
    /// 12: Number of prefixes subjected to treat-as-withdraw treatment (RFC 7606).
    PrefixesTreatedAsWithdraw(u32),
    /// 13: Number of duplicate update messages received.
    DuplicateUpdates(u32),
    /// 14 (RFC 8671): Number of routes in pre-policy Adj-RIB-Out.
    RoutesInPrePolicyAdjRibOut(u64),
    /// 15 (RFC 8671): Number of routes in post-policy Adj-RIB-Out.
    RoutesInPostPolicyAdjRibOut(u64),
    /// 16 (RFC 8671): Number of routes in per-AFI/SAFI pre-policy Adj-RIB-Out.
    RoutesInPrePolicyAdjRibOutPerFamily(Family, u64),
    /// 17 (RFC 8671): Number of routes in per-AFI/SAFI post-policy Adj-RIB-Out.
    RoutesInPostPolicyAdjRibOutPerFamily(Family, u64),
    /// 18 (RFC 9972): Number of routes currently in the pre-policy Adj-RIB-In.
    RoutesInPrePolicyAdjRibIn(u64),
    /// 19 (RFC 9972): Number of routes currently in the per-AFI/SAFI pre-policy Adj-RIB-In.
    RoutesInPrePolicyAdjRibInPerFamily(Family, u64),
    /// 20 (RFC 9972): Number of routes currently in the post-policy Adj-RIB-In.
    RoutesInPostPolicyAdjRibIn(u64),
    /// 21 (RFC 9972): Number of routes currently in the per-AFI/SAFI post-policy Adj-RIB-In.
    RoutesInPostPolicyAdjRibInPerFamily(Family, u64),
    /// 22 (RFC 9972): Number of routes currently in the per-AFI/SAFI pre-policy Adj-RIB-In
    /// rejected by inbound policy.
    RoutesRejectedByInboundPolicyPerFamily(Family, u64),
    /// 23 (RFC 9972): Number of routes currently in the per-AFI/SAFI post-policy Adj-RIB-In
    /// accepted by inbound policy.
    RoutesAcceptedByInboundPolicyPerFamily(Family, u64),
    /// 27 (RFC 9972): Number of routes currently in the per-AFI/SAFI post-policy Adj-RIB-In
    /// or Loc-RIB marked as stale by Graceful Restart (RFC 4724).
    StaleRoutesPerFamily(Family, u64),
    /// 28 (RFC 9972): Number of routes currently in the per-AFI/SAFI post-policy Adj-RIB-In
    /// or Loc-RIB marked as stale by Long-Lived Graceful Restart (RFC 9494).
    LlgrStaleRoutesPerFamily(Family, u64),
    /// Any other type, Stat Data as given.
    Other { stat_type: u16, data: Vec<u8> },
}

/// The Stat Data of the known types.
enum Data<'a> {
    Counter(u32),
    Gauge(u64),
    FamilyGauge(Family, u64),
    Raw(&'a [u8]),
}

impl Stat {
    /// The Stat Type code.
    pub fn stat_type(&self) -> u16 {
        self.parts().0
    }

    fn parts(&self) -> (u16, Data<'_>) {
        use Data::*;
        match *self {
            Stat::PrefixesRejectedByInboundPolicy(n) => (0, Counter(n)),
            Stat::DuplicatePrefixAdvertisements(n) => (1, Counter(n)),
            Stat::DuplicateWithdraws(n) => (2, Counter(n)),
            Stat::UpdatesInvalidatedByClusterListLoop(n) => (3, Counter(n)),
            Stat::UpdatesInvalidatedByAsPathLoop(n) => (4, Counter(n)),
            Stat::UpdatesInvalidatedByOriginatorId(n) => (5, Counter(n)),
            Stat::UpdatesInvalidatedByAsConfedLoop(n) => (6, Counter(n)),
            Stat::RoutesInAdjRibIn(n) => (7, Gauge(n)),
            Stat::RoutesInLocRib(n) => (8, Gauge(n)),
            Stat::RoutesInAdjRibInPerFamily(f, n) => (9, FamilyGauge(f, n)),
            Stat::RoutesInLocRibPerFamily(f, n) => (10, FamilyGauge(f, n)),
            Stat::UpdatesTreatedAsWithdraw(n) => (11, Counter(n)),
            Stat::PrefixesTreatedAsWithdraw(n) => (12, Counter(n)),
            Stat::DuplicateUpdates(n) => (13, Counter(n)),
            Stat::RoutesInPrePolicyAdjRibOut(n) => (14, Gauge(n)),
            Stat::RoutesInPostPolicyAdjRibOut(n) => (15, Gauge(n)),
            Stat::RoutesInPrePolicyAdjRibOutPerFamily(f, n) => (16, FamilyGauge(f, n)),
            Stat::RoutesInPostPolicyAdjRibOutPerFamily(f, n) => (17, FamilyGauge(f, n)),
            Stat::RoutesInPrePolicyAdjRibIn(n) => (18, Gauge(n)),
            Stat::RoutesInPrePolicyAdjRibInPerFamily(f, n) => (19, FamilyGauge(f, n)),
            Stat::RoutesInPostPolicyAdjRibIn(n) => (20, Gauge(n)),
            Stat::RoutesInPostPolicyAdjRibInPerFamily(f, n) => (21, FamilyGauge(f, n)),
            Stat::RoutesRejectedByInboundPolicyPerFamily(f, n) => (22, FamilyGauge(f, n)),
            Stat::RoutesAcceptedByInboundPolicyPerFamily(f, n) => (23, FamilyGauge(f, n)),
            Stat::StaleRoutesPerFamily(f, n) => (27, FamilyGauge(f, n)),
            Stat::LlgrStaleRoutesPerFamily(f, n) => (28, FamilyGauge(f, n)),
            Stat::Other { stat_type, ref data } => (stat_type, Raw(data)),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let (stat_type, data) = self.parts();
        out.extend_from_slice(&stat_type.to_be_bytes());
        match data {
            Data::Counter(n) => {
                out.extend_from_slice(&4u16.to_be_bytes());
                out.extend_from_slice(&n.to_be_bytes());
            }
            Data::Gauge(n) => {
                out.extend_from_slice(&8u16.to_be_bytes());
                out.extend_from_slice(&n.to_be_bytes());
            }
            Data::FamilyGauge(f, n) => {
                out.extend_from_slice(&11u16.to_be_bytes());
                out.extend_from_slice(&f.afi.0.to_be_bytes());
                out.push(f.safi.0);
                out.extend_from_slice(&n.to_be_bytes());
            }
            Data::Raw(data) => {
                let len = u16::try_from(data.len()).map_err(|_| EncodeError::TooLong {
                    what: "Stat Data",
                    len: data.len(),
                    limit: u16::MAX as usize,
                })?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(data);
            }
        }
        Ok(())
    }
}

impl StatisticsReport {
    pub fn new(peer: PeerHeader, stats: Vec<Stat>) -> StatisticsReport {
        StatisticsReport { peer, stats }
    }

    /// Appends the whole message.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let count = u32::try_from(self.stats.len()).map_err(|_| EncodeError::TooLong {
            what: "Stats Count",
            len: self.stats.len(),
            limit: u32::MAX as usize,
        })?;
        header::message(out, MessageType::StatisticsReport, |out| {
            self.peer.encode(out);
            out.extend_from_slice(&count.to_be_bytes());
            self.stats.iter().try_for_each(|s| s.encode(out))
        })
    }
}
