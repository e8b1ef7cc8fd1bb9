//! The receiving speaker ("helper") of RFC 4724 §4.2, with the Notification bit and Hard
//! Reset of RFC 8538 §4 and Long-Lived Graceful Restart (RFC 9494 §4.2), for one neighbor.
//!
//! ```text
//!            session ends, retained          OPEN back (F=1 families stay stale)
//!   Idle ----------------------------> Waiting ---------------------------> Refreshing
//!    ^  \ not retained: Flush            | restart timer: sweep, or LLGR      | End-of-RIB(f): sweep f
//!    |                                   v                                    | stale timer: sweep GR families
//!    +-----------------------------------+------------------------------------+
//! ```
//!
//! Each retained family is either [`Retained::Stale`] (classic GR) or
//! [`Retained::LongLived`] (RFC 9494: its routes are LLGR-stale and its own long-lived stale
//! timer runs). Stale marking is a generation bump of the neighbor's paths
//! ([`Action::BumpGeneration`]), and LLGR marking a per-family generation boundary
//! ([`Action::EnterLongLived`]), both O(1); sweeps remove only paths older than the current
//! generation.

use keel_wire::capability::{GracefulRestart, LongLivedFamily};
use keel_wire::Family;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

/// How a session ended, as far as graceful restart cares (RFC 4724 §4, RFC 8538 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The TCP connection failed or closed without a NOTIFICATION.
    TcpFailure,
    /// A new connection arrived while the old session still looked Established: the neighbor
    /// restarted without a FIN reaching us (RFC 4724 §4.2).
    Restarted,
    HoldTimerExpired,
    /// A NOTIFICATION was sent or received; `hard_reset` for Cease/Hard Reset (RFC 8538 §3).
    Notification {
        hard_reset: bool,
    },
    /// BFD saw the forwarding path fail (keel sent Cease/BFD Down, RFC 9384).
    /// `control_plane_independent` is the neighbor's C bit, `strict` keel's `bfd_strict`.
    /// RFC 5882 §4.3: with C=1 the failure is the neighbor's forwarding, so its routes go;
    /// with C=0 it may be its control plane restarting, and keel helps as after a TCP failure
    /// unless `strict` says to flush.
    BfdDown {
        control_plane_independent: bool,
        strict: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// False for `mode = "disabled"`: nothing is ever retained.
    pub enabled: bool,
    /// Local cap on the neighbor's advertised restart time, seconds.
    pub max_restart_time: u16,
    /// Bound on keeping stale routes once the neighbor is back, seconds.
    pub stale_routes_time: u32,
    /// Graceful restarts allowed within `restart_window` before the next is a hard one.
    pub max_restarts: u32,
    pub restart_window: Duration,
    /// Local cap on the neighbor's advertised long-lived stale time, seconds (RFC 9494 §4.2).
    pub max_stale_time: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enabled: true,
            max_restart_time: 4095,
            stale_routes_time: 360,
            max_restarts: 5,
            restart_window: Duration::from_secs(600),
            max_stale_time: keel_wire::capability::long_lived::MAX_STALE_TIME,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// Runs while the neighbor is away: its advertised restart time (RFC 4724 §4.2).
    Restart,
    /// Runs once it is back, until End-of-RIB for every stale family.
    Stale,
    /// The long-lived stale time of one family (RFC 9494 §4.2): from entering LLGR until that
    /// family's End-of-RIB, whether the neighbor is back or not.
    LongLivedStale(Family),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Every current path of the neighbor becomes stale.
    BumpGeneration,
    /// The neighbor's stale paths of the family become LLGR-stale (RFC 9494 §4.2): those with
    /// NO_LLGR are removed, the others lose to any path that is not LLGR-stale.
    EnterLongLived(Family),
    /// Remove every path of the neighbor (of one family, or all).
    Flush(Option<Family>),
    /// Remove the neighbor's stale paths (of one family, or all).
    SweepStale(Option<Family>),
    StartTimer(Timer, Duration),
    StopTimer(Timer),
    /// A transition worth a log line, with its reason.
    Log(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Idle,
    /// The neighbor is away; its routes are kept as stale.
    Waiting,
    /// The neighbor is back and re-sending its routes.
    Refreshing,
}

/// How a family's routes are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retained {
    /// Stale, as in RFC 4724 §4.2.
    Stale,
    /// LLGR-stale (RFC 9494 §4.2).
    LongLived,
}

#[derive(Debug, Clone)]
pub struct Helper {
    pub settings: Settings,
    phase: Phase,
    retained: BTreeMap<Family, Retained>,
    /// Long-lived stale time per family negotiated on the session that ended (capped).
    long_lived: BTreeMap<Family, u32>,
    /// Families whose long-lived stale timer ran out while the neighbor re-sent its routes:
    /// another reset before their End-of-RIB removes the rest at once (RFC 9494 §4.2).
    expired: BTreeSet<Family>,
    restarts: VecDeque<Instant>,
}

impl Helper {
    pub fn new(settings: Settings) -> Self {
        Helper {
            settings,
            phase: Phase::Idle,
            retained: BTreeMap::new(),
            long_lived: BTreeMap::new(),
            expired: BTreeSet::new(),
            restarts: VecDeque::new(),
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }
    /// Families whose routes are kept now, and how.
    pub fn retained(&self) -> &BTreeMap<Family, Retained> {
        &self.retained
    }
    /// Families whose routes are kept as stale now (GR or LLGR).
    pub fn stale_families(&self) -> impl Iterator<Item = Family> + '_ {
        self.retained.keys().copied()
    }
    /// Families whose routes are LLGR-stale now.
    pub fn long_lived_families(&self) -> impl Iterator<Item = Family> + '_ {
        self.retained.iter().filter(|(_, r)| **r == Retained::LongLived).map(|(f, _)| *f)
    }
    /// The neighbor is restarting and its routes are kept.
    pub fn active(&self) -> bool {
        self.phase != Phase::Idle
    }

    fn of_kind(&self, kind: Retained) -> Vec<Family> {
        self.retained.iter().filter(|(_, r)| **r == kind).map(|(f, _)| *f).collect()
    }

    fn reset(&mut self, out: &mut Vec<Action>) {
        for f in self.of_kind(Retained::LongLived) {
            out.push(Action::StopTimer(Timer::LongLivedStale(f)));
        }
        self.retained.clear();
        self.phase = Phase::Idle;
        out.push(Action::StopTimer(Timer::Restart));
        out.push(Action::StopTimer(Timer::Stale));
    }

    /// Removes `f` from the retained families, stopping its long-lived timer.
    fn release(&mut self, f: Family, out: &mut Vec<Action>) {
        if self.retained.remove(&f) == Some(Retained::LongLived) {
            out.push(Action::StopTimer(Timer::LongLivedStale(f)));
        }
    }

    /// `f` enters LLGR now: its routes become LLGR-stale and its long-lived timer starts.
    fn enter_long_lived(&mut self, f: Family, stale_time: u32, why: &str, out: &mut Vec<Action>) {
        self.retained.insert(f, Retained::LongLived);
        out.push(Action::EnterLongLived(f));
        out.push(Action::StartTimer(Timer::LongLivedStale(f), Duration::from_secs(stale_time.into())));
        out.push(Action::Log(format!("{f}: long-lived stale for up to {stale_time} s ({why})")));
    }

    /// The session ended. `remote` is the GR capability of the neighbor's last OPEN (its
    /// restart time is the one used, RFC 4724 §4.2), `long_lived` the LLGR families both sides
    /// advertised on that session with the neighbor's stale times (RFC 9494 §4.2), `families`
    /// those negotiated, `n_bit` whether N was in both OPENs.
    pub fn session_down(
        &mut self,
        ending: Ending,
        n_bit: bool,
        remote: Option<&GracefulRestart>,
        long_lived: &[LongLivedFamily],
        families: &[Family],
        now: Instant,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        let gr_stale = self.of_kind(Retained::Stale);
        if !gr_stale.is_empty() && !n_bit {
            // RFC 4724 §4.2: dropped again before the sweep; without N the routes still stale
            // from the previous restart go, the refreshed ones become stale below.
            // LLGR-stale ones stay (RFC 9494 §4.2).
            for f in gr_stale {
                out.push(Action::SweepStale(Some(f)));
                self.retained.remove(&f);
            }
            out.push(Action::Log("session lost again during a restart: previous stale routes deleted".into()));
        }
        let mut flushed = BTreeSet::new();
        for f in std::mem::take(&mut self.expired) {
            // RFC 9494 §4.2: its long-lived stale time ran out during the resync.
            out.push(Action::Flush(Some(f)));
            out.push(Action::Log(format!("{f}: reset after the long-lived stale time ran out: routes deleted")));
            flushed.insert(f);
        }
        let why_not = match (ending, remote) {
            _ if !self.settings.enabled => Some("graceful restart disabled".to_string()),
            (_, None) => Some("neighbor did not advertise graceful restart".into()),
            (Ending::Notification { hard_reset: true }, _) => Some("Hard Reset (RFC 8538 §3)".into()),
            (Ending::BfdDown { control_plane_independent: true, .. }, _) => {
                Some("BFD Down with C=1: the neighbor's forwarding failed (RFC 5882 §4.3)".into())
            }
            (Ending::BfdDown { strict: true, .. }, _) => Some("BFD Down and bfd_strict".into()),
            (Ending::HoldTimerExpired | Ending::Notification { .. }, _) if !n_bit => {
                Some("NOTIFICATION without the N bit (RFC 4724 §4)".into())
            }
            _ => None,
        };
        let why_not = why_not.or_else(|| {
            let window = self.settings.restart_window;
            while self.restarts.front().is_some_and(|t| now.duration_since(*t) > window) {
                self.restarts.pop_front();
            }
            (self.restarts.len() as u32 >= self.settings.max_restarts).then(|| {
                format!(
                    "{} graceful restarts within {} s: treated as a hard reset",
                    self.restarts.len(),
                    window.as_secs()
                )
            })
        });
        if let Some(why) = why_not {
            out.push(Action::Flush(None));
            out.push(Action::Log(format!("routes flushed: {why}")));
            self.reset(&mut out);
            return out;
        }
        let Some(g) = remote else { return out };
        self.restarts.push_back(now);
        self.long_lived = long_lived
            .iter()
            .filter(|l| l.stale_time > 0 && families.contains(&l.family))
            .map(|l| (l.family, l.stale_time.min(self.settings.max_stale_time)))
            .collect();
        out.push(Action::BumpGeneration);
        let restart_time = g.restart_time.min(self.settings.max_restart_time);
        for &f in families.iter().filter(|f| !flushed.contains(f)) {
            let in_gr = restart_time > 0 && g.family(f).is_some();
            match (self.retained.get(&f), in_gr, self.long_lived.get(&f).copied()) {
                // RFC 9494 §4.2: a reset during the LLGR period keeps the routes, the timer
                // goes on; what was refreshed since is LLGR-stale too.
                (Some(Retained::LongLived), _, _) => out.push(Action::EnterLongLived(f)),
                (_, true, _) => {
                    self.retained.insert(f, Retained::Stale);
                }
                // RFC 9494 §4.2: restart time 0, or the family is not in the GR capability.
                (_, false, Some(t)) => self.enter_long_lived(f, t, "not covered by the restart time", &mut out),
                (_, false, None) => {
                    self.retained.remove(&f);
                    out.push(Action::Flush(Some(f)));
                }
            }
        }
        out.push(Action::StopTimer(Timer::Stale));
        if self.retained.is_empty() {
            out.push(Action::Log("routes flushed: no family retained".into()));
            self.reset(&mut out);
            return out;
        }
        let stale = self.of_kind(Retained::Stale).len();
        if stale > 0 {
            out.push(Action::StartTimer(Timer::Restart, Duration::from_secs(restart_time.into())));
        }
        out.push(Action::Log(format!(
            "helper mode: {stale} stale families kept for up to {restart_time} s, {} long-lived ({ending:?})",
            self.retained.len() - stale
        )));
        self.phase = Phase::Waiting;
        out
    }

    /// The neighbor is back: `remote` is its new OPEN's GR capability, `long_lived` the LLGR
    /// families negotiated on the new session.
    pub fn session_up(&mut self, remote: Option<&GracefulRestart>, long_lived: &[LongLivedFamily]) -> Vec<Action> {
        let mut out = Vec::new();
        if self.retained.is_empty() {
            self.reset(&mut out);
            return out;
        }
        out.push(Action::StopTimer(Timer::Restart));
        for (f, kind) in self.retained.clone() {
            let why = match kind {
                // RFC 4724 §4.2: no capability, family missing, or F=0: the stale routes go now.
                Retained::Stale => match remote.map(|g| g.family(f)) {
                    None => Some("no graceful restart capability in the new OPEN"),
                    Some(None) => Some("family missing from the new OPEN"),
                    Some(Some(x)) if !x.forwarding_state => Some("F bit clear in the new OPEN"),
                    Some(Some(_)) => None,
                },
                // RFC 9494 §4.2: the new LLGR capability decides.
                Retained::LongLived => match long_lived.iter().find(|l| l.family == f) {
                    _ if remote.is_none() => Some("neither GR nor LLGR in the new OPEN"),
                    None => Some("family missing from the new LLGR capability"),
                    Some(l) if !l.forwarding_state => Some("F bit clear in the new LLGR capability"),
                    Some(_) => None,
                },
            };
            if let Some(why) = why {
                out.push(Action::SweepStale(Some(f)));
                out.push(Action::Log(format!("{f}: stale routes flushed: {why}")));
                self.release(f, &mut out);
            }
        }
        if self.retained.is_empty() {
            self.reset(&mut out);
            return out;
        }
        if self.retained.values().any(|r| *r == Retained::Stale) {
            out.push(Action::StartTimer(Timer::Stale, Duration::from_secs(self.settings.stale_routes_time.into())));
        }
        self.phase = Phase::Refreshing;
        out
    }

    /// End-of-RIB for `family` from the neighbor.
    pub fn end_of_rib(&mut self, family: Family) -> Vec<Action> {
        let mut out = Vec::new();
        self.expired.remove(&family);
        if self.phase == Phase::Refreshing && self.retained.contains_key(&family) {
            self.release(family, &mut out);
            out.push(Action::SweepStale(Some(family)));
            out.push(Action::Log(format!("{family}: End-of-RIB, routes still stale withdrawn")));
            if self.retained.is_empty() {
                out.push(Action::Log("graceful restart complete".into()));
                self.reset(&mut out);
            } else if !self.retained.values().any(|r| *r == Retained::Stale) {
                out.push(Action::StopTimer(Timer::Stale));
            }
        }
        out
    }

    pub fn timer_expired(&mut self, timer: Timer) -> Vec<Action> {
        let mut out = Vec::new();
        match (timer, self.phase) {
            (Timer::Restart, Phase::Waiting) => {
                for f in self.of_kind(Retained::Stale) {
                    // RFC 9494 §4.2: LLGR begins where GR ends.
                    match self.long_lived.get(&f).copied() {
                        Some(t) => self.enter_long_lived(f, t, "restart timer expired", &mut out),
                        None => {
                            out.push(Action::SweepStale(Some(f)));
                            out.push(Action::Log(format!(
                                "{f}: restart timer expired before the neighbor came back: stale routes withdrawn"
                            )));
                            self.retained.remove(&f);
                        }
                    }
                }
            }
            (Timer::Stale, Phase::Refreshing) => {
                for f in self.of_kind(Retained::Stale) {
                    out.push(Action::SweepStale(Some(f)));
                    out.push(Action::Log(format!(
                        "{f}: stale timer expired before End-of-RIB: stale routes withdrawn"
                    )));
                    self.retained.remove(&f);
                }
            }
            (Timer::LongLivedStale(f), phase) if self.retained.get(&f) == Some(&Retained::LongLived) => {
                self.retained.remove(&f);
                out.push(Action::SweepStale(Some(f)));
                out.push(Action::Log(format!("{f}: long-lived stale time expired: stale routes withdrawn")));
                if phase == Phase::Refreshing {
                    self.expired.insert(f);
                }
            }
            _ => {}
        }
        if self.retained.is_empty() && self.phase != Phase::Idle {
            self.reset(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_wire::capability::GracefulRestartFamily;

    const V4: Family = Family::IPV4_UNICAST;
    const V6: Family = Family::IPV6_UNICAST;

    fn gr(families: &[(Family, bool)], restart_time: u16) -> GracefulRestart {
        GracefulRestart {
            restart_state: false,
            notification: true,
            restart_time,
            families: families
                .iter()
                .map(|&(family, f)| GracefulRestartFamily { family, forwarding_state: f })
                .collect(),
        }
    }

    fn down(h: &mut Helper, ending: Ending, n: bool, g: Option<&GracefulRestart>) -> Vec<Action> {
        h.session_down(ending, n, g, &[], &[V4, V6], Instant::now())
    }

    /// RFC 5882 §4.3, one row per case: (neighbor's C bit, bfd_strict, GR advertised, N bit)
    /// -> routes kept. The Cease/BFD Down keel sends does not count as a NOTIFICATION here.
    #[test]
    fn rfc5882_4_3_bfd_down_matrix() {
        let g = gr(&[(V4, true), (V6, true)], 120);
        for (c_bit, strict, advertised, n_bit, kept) in [
            (true, false, true, true, false),
            (true, false, true, false, false),
            (false, false, true, false, true),
            (false, false, true, true, true),
            (false, true, true, true, false),
            (false, false, false, false, false),
            (true, true, false, false, false),
        ] {
            let mut h = Helper::new(Settings::default());
            let ending = Ending::BfdDown { control_plane_independent: c_bit, strict };
            let a = down(&mut h, ending, n_bit, advertised.then_some(&g));
            let flushed = a.contains(&Action::Flush(None));
            assert_eq!(!flushed, kept, "C={c_bit} strict={strict} GR={advertised} N={n_bit}: {a:?}");
            assert_eq!(a.contains(&Action::BumpGeneration), kept);
        }
    }

    #[test]
    fn tcp_failure_keeps_routes_until_end_of_rib() {
        let mut h = Helper::new(Settings::default());
        let g = gr(&[(V4, true), (V6, true)], 120);
        let a = down(&mut h, Ending::TcpFailure, false, Some(&g));
        assert!(a.contains(&Action::BumpGeneration));
        assert!(a.contains(&Action::StartTimer(Timer::Restart, Duration::from_secs(120))));
        assert!(!a.iter().any(|x| matches!(x, Action::Flush(_) | Action::SweepStale(_))));
        assert!(h.active());
        let a = h.session_up(Some(&g), &[]);
        assert!(a.contains(&Action::StopTimer(Timer::Restart)));
        assert!(a.contains(&Action::StartTimer(Timer::Stale, Duration::from_secs(360))));
        assert_eq!(
            h.end_of_rib(V4),
            vec![
                Action::SweepStale(Some(V4)),
                Action::Log("ipv4-unicast: End-of-RIB, routes still stale withdrawn".into())
            ]
        );
        let a = h.end_of_rib(V6);
        assert!(a.contains(&Action::SweepStale(Some(V6))));
        assert!(a.contains(&Action::StopTimer(Timer::Stale)));
        assert!(!h.active());
    }

    #[test]
    fn notification_retains_only_with_n_and_never_on_hard_reset() {
        let g = gr(&[(V4, true)], 120);
        for (ending, n, kept) in [
            (Ending::HoldTimerExpired, false, false),
            (Ending::HoldTimerExpired, true, true),
            (Ending::Notification { hard_reset: false }, false, false),
            (Ending::Notification { hard_reset: false }, true, true),
            (Ending::Notification { hard_reset: true }, true, false),
            (Ending::Restarted, false, true),
        ] {
            let mut h = Helper::new(Settings::default());
            let a = down(&mut h, ending, n, Some(&g));
            assert_eq!(a.contains(&Action::BumpGeneration), kept, "{ending:?} n={n}");
            assert_eq!(a.contains(&Action::Flush(None)), !kept, "{ending:?} n={n}");
        }
    }

    /// RFC 4724 §3 has the capability's <AFI, SAFI> say for which families the sender keeps
    /// state; a family listed there that the session did not negotiate (RFC 4760 §8) has no
    /// routes and gets nothing: the helper works over the session's families only.
    #[test]
    fn capability_families_outside_the_session_are_ignored() {
        let mut h = Helper::new(Settings::default());
        let a = h.session_down(
            Ending::TcpFailure,
            false,
            Some(&gr(&[(V4, true), (V6, true)], 90)),
            &[],
            &[V4],
            Instant::now(),
        );
        assert!(a.contains(&Action::BumpGeneration));
        assert_eq!(h.stale_families().collect::<Vec<_>>(), vec![V4]);
        assert!(!a.iter().any(|x| matches!(x, Action::Flush(Some(f)) | Action::SweepStale(Some(f)) if *f == V6)));
    }

    #[test]
    fn families_outside_the_capability_are_flushed() {
        let mut h = Helper::new(Settings::default());
        let a = down(&mut h, Ending::TcpFailure, false, Some(&gr(&[(V4, true)], 90)));
        assert!(a.contains(&Action::Flush(Some(V6))));
        assert_eq!(h.stale_families().collect::<Vec<_>>(), vec![V4]);
    }

    #[test]
    fn new_open_without_capability_or_family_or_with_f_clear_flushes() {
        for remote in [None, Some(gr(&[(V6, true)], 90)), Some(gr(&[(V4, false)], 90))] {
            let mut h = Helper::new(Settings::default());
            down(&mut h, Ending::TcpFailure, false, Some(&gr(&[(V4, true)], 90)));
            let a = h.session_up(remote.as_ref(), &[]);
            assert!(a.contains(&Action::SweepStale(Some(V4))), "{remote:?}");
            assert!(!h.active());
        }
    }

    #[test]
    fn timers_bound_the_stale_time() {
        let mut h = Helper::new(Settings { max_restart_time: 60, ..Settings::default() });
        let g = gr(&[(V4, true)], 300);
        let a = down(&mut h, Ending::TcpFailure, false, Some(&g));
        assert!(a.contains(&Action::StartTimer(Timer::Restart, Duration::from_secs(60))), "capped locally");
        let a = h.timer_expired(Timer::Restart);
        assert!(a.contains(&Action::SweepStale(Some(V4))));
        assert!(!h.active());
        // Back in time, but no End-of-RIB before the stale timer.
        down(&mut h, Ending::TcpFailure, false, Some(&g));
        h.session_up(Some(&g), &[]);
        assert!(h.timer_expired(Timer::Restart).is_empty(), "restart timer no longer matters");
        assert!(h.timer_expired(Timer::Stale).contains(&Action::SweepStale(Some(V4))));
    }

    #[test]
    fn drop_during_restart_without_n_deletes_previous_stale_routes() {
        let g = gr(&[(V4, true)], 120);
        let mut h = Helper::new(Settings::default());
        down(&mut h, Ending::TcpFailure, false, Some(&g));
        h.session_up(Some(&g), &[]);
        let a = down(&mut h, Ending::TcpFailure, false, Some(&g));
        assert_eq!(a[0], Action::SweepStale(Some(V4)));
        assert!(a.contains(&Action::BumpGeneration));
        // With N, the old stale routes are kept (RFC 8538).
        let mut h = Helper::new(Settings::default());
        down(&mut h, Ending::TcpFailure, true, Some(&g));
        h.session_up(Some(&g), &[]);
        let a = down(&mut h, Ending::TcpFailure, true, Some(&g));
        assert!(!a.contains(&Action::SweepStale(Some(V4))));
        assert!(a.contains(&Action::BumpGeneration));
    }

    #[test]
    fn restart_flood_becomes_a_hard_reset() {
        let g = gr(&[(V4, true)], 120);
        let mut h = Helper::new(Settings { max_restarts: 2, ..Settings::default() });
        let t0 = Instant::now();
        for i in 0..2 {
            let a = h.session_down(Ending::TcpFailure, false, Some(&g), &[], &[V4], t0 + Duration::from_secs(i));
            assert!(a.contains(&Action::BumpGeneration));
            h.session_up(Some(&g), &[]);
            h.end_of_rib(V4);
        }
        let a = h.session_down(Ending::TcpFailure, false, Some(&g), &[], &[V4], t0 + Duration::from_secs(3));
        assert!(a.contains(&Action::Flush(None)));
        // After the window, restarts are graceful again.
        let a = h.session_down(Ending::TcpFailure, false, Some(&g), &[], &[V4], t0 + Duration::from_secs(700));
        assert!(a.contains(&Action::BumpGeneration));
    }

    #[test]
    fn disabled_or_no_capability_flushes() {
        let g = gr(&[(V4, true)], 120);
        let mut h = Helper::new(Settings { enabled: false, ..Settings::default() });
        assert!(down(&mut h, Ending::TcpFailure, false, Some(&g)).contains(&Action::Flush(None)));
        let mut h = Helper::new(Settings::default());
        assert!(down(&mut h, Ending::TcpFailure, false, None).contains(&Action::Flush(None)));
        let a = down(&mut h, Ending::TcpFailure, false, Some(&gr(&[(V4, true)], 0)));
        assert!(a.contains(&Action::Flush(Some(V4))) && a.contains(&Action::Flush(Some(V6))));
        assert!(!h.active());
    }

    fn llgr(families: &[(Family, bool)], stale_time: u32) -> Vec<LongLivedFamily> {
        families.iter().map(|&(family, f)| LongLivedFamily { family, forwarding_state: f, stale_time }).collect()
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn long_lived_begins_when_the_restart_timer_expires() {
        let g = gr(&[(V4, true), (V6, true)], 120);
        let l = llgr(&[(V4, true)], 3600);
        let mut h = Helper::new(Settings::default());
        let a = h.session_down(Ending::TcpFailure, false, Some(&g), &l, &[V4, V6], Instant::now());
        assert!(a.contains(&Action::StartTimer(Timer::Restart, secs(120))));
        assert!(!a.iter().any(|x| matches!(x, Action::EnterLongLived(_))), "GR first");
        let a = h.timer_expired(Timer::Restart);
        assert!(a.contains(&Action::EnterLongLived(V4)));
        assert!(a.contains(&Action::StartTimer(Timer::LongLivedStale(V4), secs(3600))));
        assert!(a.contains(&Action::SweepStale(Some(V6))), "no LLGR for IPv6: swept as in RFC 4724");
        assert_eq!(h.long_lived_families().collect::<Vec<_>>(), vec![V4]);
        assert!(h.active());
        // The long-lived stale time runs out with the neighbor still away.
        let a = h.timer_expired(Timer::LongLivedStale(V4));
        assert!(a.contains(&Action::SweepStale(Some(V4))));
        assert!(!h.active());
    }

    #[test]
    fn restart_time_zero_or_family_outside_gr_enters_long_lived_at_once() {
        for (g, families) in [(gr(&[(V4, true)], 0), vec![V4]), (gr(&[(V6, true)], 120), vec![V4, V6])] {
            let mut h = Helper::new(Settings { max_stale_time: 600, ..Settings::default() });
            let a = h.session_down(
                Ending::TcpFailure,
                false,
                Some(&g),
                &llgr(&[(V4, true)], 3600),
                &families,
                Instant::now(),
            );
            assert!(a.contains(&Action::EnterLongLived(V4)), "{g:?}");
            assert!(a.contains(&Action::StartTimer(Timer::LongLivedStale(V4), secs(600))), "capped by max_stale_time");
            assert!(!a.contains(&Action::Flush(None)));
        }
        // Without LLGR, restart time 0 still flushes.
        let mut h = Helper::new(Settings::default());
        let a = h.session_down(Ending::TcpFailure, false, Some(&gr(&[(V4, true)], 0)), &[], &[V4], Instant::now());
        assert!(a.contains(&Action::Flush(Some(V4))));
        assert!(!h.active());
    }

    #[test]
    fn return_during_long_lived_keeps_the_timer_until_end_of_rib() {
        let g = gr(&[(V4, true), (V6, true)], 0);
        let l = llgr(&[(V4, true), (V6, true)], 3600);
        let mut h = Helper::new(Settings::default());
        h.session_down(Ending::TcpFailure, false, Some(&g), &l, &[V4, V6], Instant::now());
        let a = h.session_up(Some(&g), &llgr(&[(V4, true), (V6, false)], 3600));
        assert!(!a.contains(&Action::StopTimer(Timer::LongLivedStale(V4))), "runs until End-of-RIB");
        assert!(a.contains(&Action::SweepStale(Some(V6))), "F bit clear in the new LLGR capability");
        assert!(a.contains(&Action::StopTimer(Timer::LongLivedStale(V6))));
        let a = h.end_of_rib(V4);
        assert!(a.contains(&Action::SweepStale(Some(V4))));
        assert!(a.contains(&Action::StopTimer(Timer::LongLivedStale(V4))));
        assert!(!h.active());
        // Neither GR nor LLGR in the new OPEN: everything goes.
        let mut h = Helper::new(Settings::default());
        h.session_down(Ending::TcpFailure, false, Some(&g), &l, &[V4, V6], Instant::now());
        let a = h.session_up(None, &[]);
        assert!(a.contains(&Action::SweepStale(Some(V4))) && a.contains(&Action::SweepStale(Some(V6))));
        assert!(!h.active());
    }

    #[test]
    fn reset_during_long_lived_keeps_routes_without_restarting_the_timer() {
        let g = gr(&[(V4, true)], 0);
        let l = llgr(&[(V4, true)], 3600);
        let mut h = Helper::new(Settings::default());
        h.session_down(Ending::TcpFailure, false, Some(&g), &l, &[V4], Instant::now());
        h.session_up(Some(&g), &l);
        let a = h.session_down(Ending::TcpFailure, false, Some(&g), &l, &[V4], Instant::now());
        assert!(a.contains(&Action::BumpGeneration));
        assert!(a.contains(&Action::EnterLongLived(V4)), "refreshed routes become LLGR-stale too");
        assert!(!a.iter().any(|x| matches!(x, Action::StartTimer(Timer::LongLivedStale(_), _))));
        assert!(!a.iter().any(|x| matches!(x, Action::SweepStale(_) | Action::Flush(_))));
        // The timer runs out during the next resync: what was not refreshed goes; another
        // reset before End-of-RIB removes the rest at once.
        h.session_up(Some(&g), &l);
        assert!(h.timer_expired(Timer::LongLivedStale(V4)).contains(&Action::SweepStale(Some(V4))));
        let a = h.session_down(Ending::TcpFailure, false, Some(&g), &l, &[V4], Instant::now());
        assert!(a.contains(&Action::Flush(Some(V4))));
        assert!(!a.contains(&Action::EnterLongLived(V4)));
        assert!(!h.active());
    }

    #[test]
    fn hard_reset_flushes_long_lived_routes() {
        let g = gr(&[(V4, true)], 0);
        let l = llgr(&[(V4, true)], 3600);
        let mut h = Helper::new(Settings::default());
        h.session_down(Ending::TcpFailure, false, Some(&g), &l, &[V4], Instant::now());
        h.session_up(Some(&g), &l);
        let a = h.session_down(Ending::Notification { hard_reset: true }, true, Some(&g), &l, &[V4], Instant::now());
        assert!(a.contains(&Action::Flush(None)));
        assert!(a.contains(&Action::StopTimer(Timer::LongLivedStale(V4))));
        assert!(!h.active());
    }
}
