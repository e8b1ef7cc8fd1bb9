//! The rehearsal's scenarios and what each one tests: the expectation, derived from the RFCs,
//! that its figures must meet, with graceful restart and without.
//!
//! | scenario | with GR, expected | without GR, expected |
//! |---|---|---|
//! | `restart`, `crash` | no route removed downstream, no FIB operation (RFC 4724 §4.1, §4.2) | every route removed downstream (RFC 4271 §8.2.2) |
//! | `peer-restart` | the same: keel, the helper, keeps the routes stale (RFC 4724 §4.2) | the same |
//! | `llgr` | the same, and every route re-advertised with LLGR_STALE (RFC 9494 §4.2, §4.3) | the same |
//! | `hard-reset` | every route removed: a Hard Reset flushes even with GR (RFC 8538 §3) | the same |
//! | `upgrade` | no session reset, no route removed, no UPDATE downstream, no FIB operation: `keel upgrade` hands the sessions over | the same: graceful restart plays no part |
//! | `bfd-link-down` | every route of the upstream gone within its BFD Detection Time: its C=1 makes BFD Down a forwarding failure (RFC 5882 §4.3) | the same |
//! | `bfd-restart` | the neighbor's BFD session never leaves Up and it keeps keel's routes (RFC 5882 §4.3, RFC 4724 §4.2) | BFD never leaves Up; the routes go with the session (RFC 4271 §8.2.2) |
//!
//! "FIB untouched" is read from the FIB journal; with `--netns` (kernel FIB, no journal) it is
//! read from the traffic flow instead: no packet lost. Every run must also have settled (the
//! observer holds the whole table again, nothing stale) and the disruption must have reached
//! keeld, else its figures show nothing.
//!
//! [`judge`] is pure: figures in, the expectations they missed out. The lab's run collects
//! the figures ([`super::results`]) and the report renders the outcome.

use serde::Serialize;

/// One way of disturbing the network (`keel lab --scenarios`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// keeld gets SIGTERM, then starts again.
    Restart,
    /// keeld gets SIGKILL, then starts again.
    Crash,
    /// `keel upgrade`: keeld hands its sessions to a new image of itself.
    Upgrade,
    /// The upstream's session drops; it returns with R=1.
    PeerRestart,
    /// The upstream stays away past its restart time.
    Llgr,
    /// The upstream sends Cease/Hard Reset and returns.
    HardReset,
    /// Forwarding to the upstream dies (BFD on, needs --netns): its routes go within the
    /// Detection Time.
    BfdLinkDown,
    /// keeld restarts with BFD on (needs --netns): the neighbor's BFD session stays Up.
    BfdRestart,
}

impl Scenario {
    /// Every scenario, in the order the lab runs them by default.
    pub const ALL: [Scenario; 6] = [
        Scenario::Restart,
        Scenario::Crash,
        Scenario::Upgrade,
        Scenario::PeerRestart,
        Scenario::Llgr,
        Scenario::HardReset,
    ];

    /// The BFD scenarios: their own two-namespace topology ([`super::bfd`]), `--netns` only,
    /// not run by default.
    pub const BFD: [Scenario; 2] = [Scenario::BfdLinkDown, Scenario::BfdRestart];

    pub fn is_bfd(self) -> bool {
        Scenario::BFD.contains(&self)
    }

    /// The name on the command line, in `--json` and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::BfdLinkDown => "bfd-link-down",
            Scenario::BfdRestart => "bfd-restart",
            Scenario::Restart => "restart",
            Scenario::Crash => "crash",
            Scenario::Upgrade => "upgrade",
            Scenario::PeerRestart => "peer-restart",
            Scenario::Llgr => "llgr",
            Scenario::HardReset => "hard-reset",
        }
    }

    /// Whether keeld itself goes away (the observer's session resets).
    pub fn keel_restarts(self) -> bool {
        matches!(self, Scenario::Restart | Scenario::Crash | Scenario::BfdRestart)
    }

    /// What happens, in a few words.
    pub fn what(self) -> &'static str {
        match self {
            Scenario::Restart => "keeld gets SIGTERM and starts again",
            Scenario::Crash => "keeld gets SIGKILL and starts again",
            Scenario::Upgrade => "keel upgrade: keeld hands its sessions to a new image of itself, same pid",
            Scenario::PeerRestart => "the upstream's session drops and it returns 1 s later with R=1",
            Scenario::Llgr => "the upstream stays away past its restart time, then returns",
            Scenario::HardReset => "the upstream sends Cease/Hard Reset and returns 1 s later",
            Scenario::BfdLinkDown => "every packet to and from the upstream is dropped (BFD at 100 ms x 3)",
            Scenario::BfdRestart => "keeld gets SIGTERM and starts again while keel-bfdd runs its BFD session",
        }
    }

    /// What the lab waits for once the disruption is done, in a few words.
    pub fn awaits(self) -> &'static str {
        if self == Scenario::BfdLinkDown {
            "the upstream's routes to leave keeld's RIB and the kernel FIB"
        } else if self == Scenario::BfdRestart {
            "the new keeld's session and BFD Up, keel's route at the neighbor"
        } else if self.keel_restarts() {
            "the upstream's table at the new keeld and keeld's End-of-RIB at the observer"
        } else if self == Scenario::Upgrade {
            "the new keeld image answering with the sessions handed over"
        } else {
            "the upstream's table and End-of-RIB at keeld"
        }
    }

    /// What the scenario is expected to show, with graceful restart or without; the sentence
    /// `--json` prints as `expected`.
    pub fn expected(self, graceful_restart: bool) -> &'static str {
        match (self, graceful_restart) {
            (Scenario::Restart, true) => {
                "no route removed downstream and no FIB operation: the observer keeps keel's routes, stale, while \
                 keeld restarts (RFC 4724 §4.2); keeld keeps its FIB and re-advertises, which replaces the stale \
                 routes (§4.1)"
            }
            (Scenario::Crash, true) => {
                "no route removed downstream and no FIB operation: as restart, the FIB outlives keeld and the new \
                 keeld takes it over (F=1, RFC 4724 §4.1)"
            }
            (Scenario::PeerRestart, true) => {
                "no route removed downstream and no FIB operation: keel, the helper, keeps the upstream's routes \
                 stale until its End-of-RIB (RFC 4724 §4.2)"
            }
            (Scenario::Llgr, true) => {
                "no route removed downstream and no FIB operation: past the restart time the routes stay, \
                 LLGR-stale, and reach the observer again with LLGR_STALE (RFC 9494 §4.2, §4.3)"
            }
            (Scenario::HardReset, true) => "all routes removed: RFC 8538 Hard Reset flushes even with GR (§3)",
            (Scenario::Upgrade, _) => {
                "no session reset, no route removed, no UPDATE downstream and no FIB operation: keel upgrade hands \
                 every session, its socket and its RIBs to the new keeld image, which sends only what it decides \
                 differently; no RFC 4271 §8 event happens, so graceful restart plays no part"
            }
            (Scenario::BfdLinkDown, _) => {
                "all the upstream's routes removed from keeld's RIB and the kernel FIB within the BFD Detection \
                 Time (and the polling's slack): the upstream's BFD sends C=1, so its Down is a forwarding failure \
                 and graceful restart keeps nothing (RFC 5882 §4.3)"
            }
            (Scenario::BfdRestart, true) => {
                "the neighbor's BFD session never leaves Up and it keeps keel's routes while keeld restarts: \
                 keel-bfdd runs on (RFC 5882 §4.3), the neighbor helps (RFC 4724 §4.2)"
            }
            (Scenario::BfdRestart, false) => {
                "the neighbor's BFD session never leaves Up while keeld restarts (keel-bfdd runs on); without \
                 graceful restart the end of the BGP session removes keel's routes (RFC 4271 §8.2.2)"
            }
            (Scenario::HardReset, false) => {
                "all routes removed: a Hard Reset ends the session, whose routes go (RFC 8538 §3, RFC 4271 §8.2.2)"
            }
            (_, false) => {
                "all routes removed downstream: without graceful restart the end of a session deletes its routes \
                 (RFC 4271 §8.2.2)"
            }
        }
    }

    /// Whether the routes are expected to stay (graceful restart keeps them) or to go.
    pub fn keeps_routes(self, graceful_restart: bool) -> bool {
        self == Scenario::Upgrade || (graceful_restart && !matches!(self, Scenario::HardReset | Scenario::BfdLinkDown))
    }

    /// Why figures of a run that look alarming are what the RFCs ask for, if they need saying:
    /// UPDATEs where no route moved, removals with graceful restart.
    pub fn explains(self, graceful_restart: bool) -> Option<&'static str> {
        match (self, graceful_restart) {
            (Scenario::Restart | Scenario::Crash, true) => Some(
                "the new keeld re-advertises its table: each UPDATE replaces a stale route at the observer and \
                 removes nothing (RFC 4724 §4.2)",
            ),
            (Scenario::Llgr, true) => Some(
                "once the upstream's restart time ends keeld re-advertises its routes with the LLGR_STALE \
                 community (RFC 9494 §4.3), and again without it when the upstream is back: UPDATEs, not \
                 withdrawals",
            ),
            (Scenario::HardReset, true) => {
                Some("the removals are expected: a Hard Reset flushes the routes even with GR (RFC 8538 §3)")
            }
            _ => None,
        }
    }
}

/// What [`judge`] reads of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    /// Routes in the table.
    pub routes: u64,
    /// Routes that left the observer's RIB at any moment.
    pub routes_removed: u64,
    /// FIB operations; `None` when not counted (`--netns`).
    pub fib_operations: Option<u64>,
    /// Packets the traffic flow lost; `None` when not measured (without `--netns`).
    pub packets_lost: Option<u64>,
    /// Routes the observer received with LLGR_STALE.
    pub llgr_stale_routes: u64,
    /// The observer held the whole table again, nothing stale, in time.
    pub settled: bool,
    /// The disruption reached keeld.
    pub disrupted: bool,
    /// `bfd-link-down`: the routes left keeld within the Detection Time and its slack.
    pub bfd_within_detection: Option<bool>,
    /// `bfd-restart`: the neighbor's BFD session stayed Up throughout.
    pub bfd_stayed_up: Option<bool>,
    /// UPDATEs the observer received.
    pub updates: u64,
    /// `upgrade`: sessions reset (keeld's sessions with the upstream and the observer).
    pub sessions_reset: Option<u64>,
}

/// The figure an expectation reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    RoutesRemoved,
    FibOperations,
    PacketsLost,
    LlgrStaleRoutes,
    Settled,
    Disrupted,
    BfdDetection,
    BfdStayedUp,
    Updates,
    SessionsKept,
}

/// An expectation a run missed: the figure and what it showed instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Miss {
    pub check: Check,
    pub text: String,
}

/// The figures `scenario` checks, with graceful restart or without: the report colours them.
pub fn checks(scenario: Scenario, graceful_restart: bool) -> Vec<Check> {
    let mut c = vec![Check::RoutesRemoved];
    match scenario {
        Scenario::BfdLinkDown => c.push(Check::BfdDetection),
        Scenario::BfdRestart => c.push(Check::BfdStayedUp),
        Scenario::Upgrade => c.extend([Check::Updates, Check::SessionsKept]),
        _ => {}
    }
    if scenario.keeps_routes(graceful_restart) {
        c.extend([Check::FibOperations, Check::PacketsLost]);
        if scenario == Scenario::Llgr {
            c.push(Check::LlgrStaleRoutes);
        }
    }
    c.extend([Check::Settled, Check::Disrupted]);
    c
}

/// The expectations of `scenario` (see the module's table) that `f` misses; empty when the
/// run went as expected.
pub fn judge(scenario: Scenario, graceful_restart: bool, f: &Figures) -> Vec<Miss> {
    let mut misses = Vec::new();
    let mut miss = |check, text: String| misses.push(Miss { check, text });
    if scenario.keeps_routes(graceful_restart) {
        if f.routes_removed > 0 {
            miss(Check::RoutesRemoved, format!("{} routes removed downstream, expected none", f.routes_removed));
        }
        if let Some(n) = f.fib_operations.filter(|&n| n > 0) {
            miss(Check::FibOperations, format!("{n} FIB operations, expected none"));
        }
        if let Some(n) = f.packets_lost.filter(|&n| n > 0) {
            miss(Check::PacketsLost, format!("{n} packets lost, expected none"));
        }
        if scenario == Scenario::Llgr && f.llgr_stale_routes < f.routes {
            miss(
                Check::LlgrStaleRoutes,
                format!("{} of {} routes re-advertised with LLGR_STALE, expected all", f.llgr_stale_routes, f.routes),
            );
        }
    } else if f.routes_removed < f.routes {
        miss(
            Check::RoutesRemoved,
            format!("{} of {} routes removed downstream, expected all", f.routes_removed, f.routes),
        );
    }
    if scenario == Scenario::BfdLinkDown && f.bfd_within_detection != Some(true) {
        miss(Check::BfdDetection, "the routes did not leave within the Detection Time and its slack".to_string());
    }
    if scenario == Scenario::BfdRestart && f.bfd_stayed_up != Some(true) {
        miss(Check::BfdStayedUp, "the neighbor's BFD session left Up".to_string());
    }
    if scenario == Scenario::Upgrade {
        if f.updates > 0 {
            miss(Check::Updates, format!("{} UPDATEs downstream, expected none", f.updates));
        }
        match f.sessions_reset {
            Some(0) => {}
            Some(n) => miss(Check::SessionsKept, format!("{n} sessions reset, expected none")),
            None => miss(Check::SessionsKept, "the sessions could not be counted".to_string()),
        }
    }
    if !f.settled {
        miss(Check::Settled, "did not settle in time".to_string());
    }
    if !f.disrupted {
        miss(Check::Disrupted, "the disruption did not reach keeld".to_string());
    }
    misses
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A settled, disrupted run of a 6000-route table that removed `removed` routes.
    fn figures(removed: u64, fib: Option<u64>) -> Figures {
        Figures {
            routes: 6000,
            routes_removed: removed,
            fib_operations: fib,
            packets_lost: None,
            llgr_stale_routes: 0,
            settled: true,
            disrupted: true,
            bfd_within_detection: None,
            bfd_stayed_up: None,
            updates: 0,
            sessions_reset: None,
        }
    }

    #[test]
    fn bfd_link_down_removes_every_route_within_the_detection_time_in_both_modes() {
        for gr in [true, false] {
            let on_time = Figures { bfd_within_detection: Some(true), ..figures(6000, None) };
            assert_eq!(judge(Scenario::BfdLinkDown, gr, &on_time), vec![]);
            let late = Figures { bfd_within_detection: Some(false), ..on_time };
            assert_eq!(checks_missed(Scenario::BfdLinkDown, gr, &late), [Check::BfdDetection]);
            let kept = Figures { routes_removed: 0, ..on_time };
            assert_eq!(checks_missed(Scenario::BfdLinkDown, gr, &kept), [Check::RoutesRemoved]);
        }
    }

    #[test]
    fn bfd_restart_keeps_bfd_up_and_with_graceful_restart_the_routes() {
        let up = Figures { routes: 1, bfd_stayed_up: Some(true), ..figures(0, None) };
        assert_eq!(judge(Scenario::BfdRestart, true, &up), vec![]);
        assert_eq!(judge(Scenario::BfdRestart, false, &Figures { routes_removed: 1, ..up }), vec![]);
        let flapped = Figures { bfd_stayed_up: Some(false), ..up };
        assert_eq!(checks_missed(Scenario::BfdRestart, true, &flapped), [Check::BfdStayedUp]);
        assert_eq!(
            checks_missed(Scenario::BfdRestart, true, &Figures { routes_removed: 1, ..up }),
            [Check::RoutesRemoved]
        );
    }

    fn checks_missed(scenario: Scenario, gr: bool, f: &Figures) -> Vec<Check> {
        judge(scenario, gr, f).into_iter().map(|m| m.check).collect()
    }

    #[test]
    fn graceful_restart_keeps_every_route_and_the_fib() {
        for s in [Scenario::Restart, Scenario::Crash, Scenario::PeerRestart] {
            assert_eq!(judge(s, true, &figures(0, Some(0))), vec![], "{s:?}");
            assert_eq!(checks_missed(s, true, &figures(1, Some(0))), [Check::RoutesRemoved], "{s:?}");
            assert_eq!(checks_missed(s, true, &figures(0, Some(2))), [Check::FibOperations], "{s:?}");
            // --netns: the FIB is the kernel's, read from the traffic flow.
            let netns = Figures { packets_lost: Some(0), ..figures(0, None) };
            assert_eq!(judge(s, true, &netns), vec![], "{s:?}");
            let lost = Figures { packets_lost: Some(7), ..netns };
            assert_eq!(judge(s, true, &lost)[0].text, "7 packets lost, expected none");
        }
    }

    #[test]
    fn llgr_with_graceful_restart_re_advertises_every_route_llgr_stale() {
        let marked = Figures { llgr_stale_routes: 6000, ..figures(0, Some(0)) };
        assert_eq!(judge(Scenario::Llgr, true, &marked), vec![]);
        let half = Figures { llgr_stale_routes: 3000, ..marked };
        assert_eq!(
            judge(Scenario::Llgr, true, &half),
            vec![Miss {
                check: Check::LlgrStaleRoutes,
                text: "3000 of 6000 routes re-advertised with LLGR_STALE, expected all".into()
            }]
        );
        // Withdrawn instead of marked: the observer lost them.
        let withdrawn = Figures { routes_removed: 6000, ..half };
        assert!(checks_missed(Scenario::Llgr, true, &withdrawn).contains(&Check::RoutesRemoved));
    }

    #[test]
    fn hard_reset_and_no_graceful_restart_remove_every_route() {
        // RFC 8538 §3: a Hard Reset flushes even with GR; FIB operations are not held against it.
        assert_eq!(judge(Scenario::HardReset, true, &figures(6000, Some(12000))), vec![]);
        // (`upgrade` keeps every route in both modes: no session ends.)
        for s in Scenario::ALL.into_iter().filter(|s| *s != Scenario::Upgrade) {
            assert_eq!(judge(s, false, &figures(6000, Some(12000))), vec![], "{s:?}");
            let kept = judge(s, false, &figures(10, Some(0)));
            assert_eq!(kept[0].text, "10 of 6000 routes removed downstream, expected all", "{s:?}");
        }
        assert_eq!(checks_missed(Scenario::HardReset, true, &figures(0, Some(0))), [Check::RoutesRemoved]);
    }

    #[test]
    fn a_run_that_did_not_settle_or_did_not_happen_is_unexpected() {
        let f = Figures { settled: false, disrupted: false, ..figures(0, Some(0)) };
        assert_eq!(checks_missed(Scenario::Restart, true, &f), [Check::Settled, Check::Disrupted]);
    }

    /// `upgrade`, with graceful restart or without: nothing may move, not even an UPDATE, and
    /// no session may reset.
    #[test]
    fn upgrade_moves_nothing_in_both_modes() {
        let quiet = Figures { sessions_reset: Some(0), packets_lost: Some(0), ..figures(0, Some(0)) };
        for gr in [true, false] {
            assert_eq!(judge(Scenario::Upgrade, gr, &quiet), vec![], "{gr}");
            let updates = Figures { updates: 12, ..quiet };
            assert_eq!(judge(Scenario::Upgrade, gr, &updates)[0].text, "12 UPDATEs downstream, expected none");
            let reset = Figures { sessions_reset: Some(1), ..quiet };
            assert_eq!(checks_missed(Scenario::Upgrade, gr, &reset), [Check::SessionsKept]);
            let uncounted = Figures { sessions_reset: None, ..quiet };
            assert_eq!(checks_missed(Scenario::Upgrade, gr, &uncounted), [Check::SessionsKept]);
            let removed = Figures { routes_removed: 3, fib_operations: Some(2), ..quiet };
            assert_eq!(checks_missed(Scenario::Upgrade, gr, &removed), [Check::RoutesRemoved, Check::FibOperations]);
        }
    }

    #[test]
    fn every_scenario_says_what_it_expects_and_checks_what_it_judges() {
        for s in Scenario::ALL.into_iter().chain(Scenario::BFD) {
            for gr in [true, false] {
                assert!(s.expected(gr).contains("RFC"), "{s:?} {gr}");
                let checked = checks(s, gr);
                // Every figure judge can hold against a run is one the report marks.
                let worst = Figures {
                    routes: 10,
                    routes_removed: if s.keeps_routes(gr) { 10 } else { 0 },
                    fib_operations: Some(1),
                    packets_lost: Some(1),
                    llgr_stale_routes: 0,
                    settled: false,
                    disrupted: false,
                    bfd_within_detection: Some(false),
                    bfd_stayed_up: Some(false),
                    updates: 1,
                    sessions_reset: Some(1),
                };
                for m in judge(s, gr, &worst) {
                    assert!(checked.contains(&m.check), "{s:?} {gr}: {m:?}");
                }
            }
        }
        assert_eq!(serde_json::to_value(Scenario::PeerRestart).ok(), Some("peer-restart".into()));
        assert_eq!(serde_json::to_value(Scenario::HardReset).ok(), Some("hard-reset".into()));
        assert_eq!(serde_json::to_value(Scenario::BfdLinkDown).ok(), Some("bfd-link-down".into()));
        assert!(Scenario::BFD.iter().all(|s| s.is_bfd() && !Scenario::ALL.contains(s)), "not run by default");
    }
}
