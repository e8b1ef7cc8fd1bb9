//! The receiving speaker ("helper") of RFC 4724 §4.2, with the Notification bit and Hard
//! Reset of RFC 8538 §4, for one neighbor.
//!
//! ```text
//!            session ends, retained          OPEN back (F=1 families stay stale)
//!   Idle ----------------------------> Waiting ---------------------------> Refreshing
//!    ^  \ not retained: Flush            | restart timer: sweep               | End-of-RIB(f): sweep f
//!    |                                   v                                    | stale timer: sweep all
//!    +-----------------------------------+------------------------------------+
//! ```
//!
//! Stale marking is a generation bump of the neighbor's paths ([`Action::BumpGeneration`]),
//! O(1); sweeps remove only paths older than the current generation.

use keel_wire::capability::GracefulRestart;
use keel_wire::Family;
use std::collections::{BTreeSet, VecDeque};
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
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enabled: true,
            max_restart_time: 4095,
            stale_routes_time: 360,
            max_restarts: 5,
            restart_window: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// Runs while the neighbor is away: its advertised restart time (RFC 4724 §4.2).
    Restart,
    /// Runs once it is back, until End-of-RIB for every stale family.
    Stale,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Every current path of the neighbor becomes stale.
    BumpGeneration,
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

#[derive(Debug, Clone)]
pub struct Helper {
    pub settings: Settings,
    phase: Phase,
    stale: BTreeSet<Family>,
    restarts: VecDeque<Instant>,
}

impl Helper {
    pub fn new(settings: Settings) -> Self {
        Helper { settings, phase: Phase::Idle, stale: BTreeSet::new(), restarts: VecDeque::new() }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }
    /// Families whose routes are kept as stale now.
    pub fn stale_families(&self) -> &BTreeSet<Family> {
        &self.stale
    }
    /// The neighbor is restarting and its routes are kept.
    pub fn active(&self) -> bool {
        self.phase != Phase::Idle
    }

    fn reset(&mut self, out: &mut Vec<Action>) {
        self.stale.clear();
        self.phase = Phase::Idle;
        out.push(Action::StopTimer(Timer::Restart));
        out.push(Action::StopTimer(Timer::Stale));
    }

    /// The session ended. `remote` is the GR capability of the neighbor's last OPEN (its
    /// restart time is the one used, RFC 4724 §4.2), `families` those negotiated, `n_bit`
    /// whether N was in both OPENs.
    pub fn session_down(
        &mut self,
        ending: Ending,
        n_bit: bool,
        remote: Option<&GracefulRestart>,
        families: &[Family],
        now: Instant,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.stale.is_empty() && !n_bit {
            // RFC 4724 §4.2: dropped again before the sweep; without N the routes still stale
            // from the previous restart go, the refreshed ones become stale below.
            out.push(Action::SweepStale(None));
            out.push(Action::Log("session lost again during a restart: previous stale routes deleted".into()));
            self.stale.clear();
        }
        let why_not = match (ending, remote) {
            _ if !self.settings.enabled => Some("graceful restart disabled".to_string()),
            (_, None) => Some("neighbor did not advertise graceful restart".into()),
            (_, Some(g)) if g.restart_time == 0 => Some("neighbor's restart time is 0".into()),
            (Ending::Notification { hard_reset: true }, _) => Some("Hard Reset (RFC 8538 §3)".into()),
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
        out.push(Action::BumpGeneration);
        let kept: BTreeSet<Family> = g.families.iter().map(|f| f.family).filter(|f| families.contains(f)).collect();
        for f in families.iter().filter(|f| !kept.contains(f)) {
            out.push(Action::Flush(Some(*f)));
        }
        self.stale.extend(kept.iter().copied());
        let restart_time = g.restart_time.min(self.settings.max_restart_time);
        out.push(Action::StopTimer(Timer::Stale));
        out.push(Action::StartTimer(Timer::Restart, Duration::from_secs(restart_time.into())));
        out.push(Action::Log(format!(
            "helper mode: {} stale families kept for up to {restart_time} s ({ending:?})",
            self.stale.len()
        )));
        self.phase = Phase::Waiting;
        out
    }

    /// The neighbor is back (its new OPEN's GR capability in `remote`).
    pub fn session_up(&mut self, remote: Option<&GracefulRestart>) -> Vec<Action> {
        let mut out = Vec::new();
        if self.stale.is_empty() {
            self.reset(&mut out);
            return out;
        }
        out.push(Action::StopTimer(Timer::Restart));
        for f in self.stale.clone() {
            // RFC 4724 §4.2: no capability, family missing, or F=0: the stale routes go now.
            let why = match remote.map(|g| g.family(f)) {
                None => Some("no graceful restart capability in the new OPEN"),
                Some(None) => Some("family missing from the new OPEN"),
                Some(Some(x)) if !x.forwarding_state => Some("F bit clear in the new OPEN"),
                Some(Some(_)) => None,
            };
            if let Some(why) = why {
                out.push(Action::SweepStale(Some(f)));
                out.push(Action::Log(format!("{f}: stale routes flushed: {why}")));
                self.stale.remove(&f);
            }
        }
        if self.stale.is_empty() {
            self.reset(&mut out);
        } else {
            out.push(Action::StartTimer(Timer::Stale, Duration::from_secs(self.settings.stale_routes_time.into())));
            self.phase = Phase::Refreshing;
        }
        out
    }

    /// End-of-RIB for `family` from the neighbor.
    pub fn end_of_rib(&mut self, family: Family) -> Vec<Action> {
        let mut out = Vec::new();
        if self.phase == Phase::Refreshing && self.stale.remove(&family) {
            out.push(Action::SweepStale(Some(family)));
            out.push(Action::Log(format!("{family}: End-of-RIB, routes still stale withdrawn")));
            if self.stale.is_empty() {
                out.push(Action::Log("graceful restart complete".into()));
                self.reset(&mut out);
            }
        }
        out
    }

    pub fn timer_expired(&mut self, timer: Timer) -> Vec<Action> {
        let mut out = Vec::new();
        let relevant =
            matches!((timer, self.phase), (Timer::Restart, Phase::Waiting) | (Timer::Stale, Phase::Refreshing));
        if relevant && !self.stale.is_empty() {
            out.push(Action::SweepStale(None));
            out.push(Action::Log(match timer {
                Timer::Restart => "restart timer expired before the neighbor came back: stale routes withdrawn".into(),
                Timer::Stale => "stale timer expired before End-of-RIB: stale routes withdrawn".into(),
            }));
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
        h.session_down(ending, n, g, &[V4, V6], Instant::now())
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
        let a = h.session_up(Some(&g));
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

    #[test]
    fn families_outside_the_capability_are_flushed() {
        let mut h = Helper::new(Settings::default());
        let a = down(&mut h, Ending::TcpFailure, false, Some(&gr(&[(V4, true)], 90)));
        assert!(a.contains(&Action::Flush(Some(V6))));
        assert_eq!(h.stale_families().iter().copied().collect::<Vec<_>>(), vec![V4]);
    }

    #[test]
    fn new_open_without_capability_or_family_or_with_f_clear_flushes() {
        for remote in [None, Some(gr(&[(V6, true)], 90)), Some(gr(&[(V4, false)], 90))] {
            let mut h = Helper::new(Settings::default());
            down(&mut h, Ending::TcpFailure, false, Some(&gr(&[(V4, true)], 90)));
            let a = h.session_up(remote.as_ref());
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
        assert!(a.contains(&Action::SweepStale(None)));
        assert!(!h.active());
        // Back in time, but no End-of-RIB before the stale timer.
        down(&mut h, Ending::TcpFailure, false, Some(&g));
        h.session_up(Some(&g));
        assert!(h.timer_expired(Timer::Restart).is_empty(), "restart timer no longer matters");
        assert!(h.timer_expired(Timer::Stale).contains(&Action::SweepStale(None)));
    }

    #[test]
    fn drop_during_restart_without_n_deletes_previous_stale_routes() {
        let g = gr(&[(V4, true)], 120);
        let mut h = Helper::new(Settings::default());
        down(&mut h, Ending::TcpFailure, false, Some(&g));
        h.session_up(Some(&g));
        let a = down(&mut h, Ending::TcpFailure, false, Some(&g));
        assert_eq!(a[0], Action::SweepStale(None));
        assert!(a.contains(&Action::BumpGeneration));
        // With N, the old stale routes are kept (RFC 8538).
        let mut h = Helper::new(Settings::default());
        down(&mut h, Ending::TcpFailure, true, Some(&g));
        h.session_up(Some(&g));
        let a = down(&mut h, Ending::TcpFailure, true, Some(&g));
        assert!(!a.contains(&Action::SweepStale(None)));
        assert!(a.contains(&Action::BumpGeneration));
    }

    #[test]
    fn restart_flood_becomes_a_hard_reset() {
        let g = gr(&[(V4, true)], 120);
        let mut h = Helper::new(Settings { max_restarts: 2, ..Settings::default() });
        let t0 = Instant::now();
        for i in 0..2 {
            let a = h.session_down(Ending::TcpFailure, false, Some(&g), &[V4], t0 + Duration::from_secs(i));
            assert!(a.contains(&Action::BumpGeneration));
            h.session_up(Some(&g));
            h.end_of_rib(V4);
        }
        let a = h.session_down(Ending::TcpFailure, false, Some(&g), &[V4], t0 + Duration::from_secs(3));
        assert!(a.contains(&Action::Flush(None)));
        // After the window, restarts are graceful again.
        let a = h.session_down(Ending::TcpFailure, false, Some(&g), &[V4], t0 + Duration::from_secs(700));
        assert!(a.contains(&Action::BumpGeneration));
    }

    #[test]
    fn disabled_or_no_capability_flushes() {
        let g = gr(&[(V4, true)], 120);
        let mut h = Helper::new(Settings { enabled: false, ..Settings::default() });
        assert!(down(&mut h, Ending::TcpFailure, false, Some(&g)).contains(&Action::Flush(None)));
        let mut h = Helper::new(Settings::default());
        assert!(down(&mut h, Ending::TcpFailure, false, None).contains(&Action::Flush(None)));
        assert!(down(&mut h, Ending::TcpFailure, false, Some(&gr(&[(V4, true)], 0))).contains(&Action::Flush(None)));
    }
}
