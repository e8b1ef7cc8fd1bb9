//! A neighbor's session as plain data, apart from its socket: the FSM (with its settings and
//! the negotiated capabilities, both OPENs included) and the FSM's running timers.
//!
//! Timers are deadlines on tokio's clock while keeld runs ([`Timers`]) and time left when
//! written down ([`SessionState`], serde), so a session handed to another process (a hitless
//! upgrade) resumes with the same time left on every timer.

use super::fsm::{Fsm, Timer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// The FSM's running timers (RFC 4271 §8: ConnectRetry, Hold, Keepalive, and the
/// IdleHold of §8.1.1) as deadlines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timers {
    deadlines: BTreeMap<Timer, Instant>,
}

impl Timers {
    /// Starts (or restarts) `timer` to expire `after` from `now`.
    pub fn start(&mut self, timer: Timer, now: Instant, after: Duration) {
        self.deadlines.insert(timer, now + after);
    }

    pub fn stop(&mut self, timer: Timer) {
        self.deadlines.remove(&timer);
    }

    /// The earliest deadline, if any timer runs.
    pub fn next(&self) -> Option<Instant> {
        self.deadlines.values().min().copied()
    }

    /// The timers expired at `now`, in a fixed order, each stopped.
    pub fn take_expired(&mut self, now: Instant) -> Vec<Timer> {
        let due: Vec<Timer> = self.deadlines.iter().filter(|(_, &t)| t <= now).map(|(k, _)| *k).collect();
        for t in &due {
            self.deadlines.remove(t);
        }
        due
    }

    /// Time left on each running timer at `now` (zero for one already due).
    pub fn left(&self, now: Instant) -> BTreeMap<Timer, Duration> {
        self.deadlines.iter().map(|(&t, &at)| (t, at.saturating_duration_since(now))).collect()
    }

    /// The timers again from the time each had left, counted from `now`.
    pub fn resume(now: Instant, left: &BTreeMap<Timer, Duration>) -> Timers {
        Timers { deadlines: left.iter().map(|(&t, &d)| (t, now + d)).collect() }
    }
}

/// One session written down: what a new process needs to carry it on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionState {
    pub fsm: Fsm,
    /// Time left on each running timer, in milliseconds.
    #[serde(with = "millis")]
    pub timers: BTreeMap<Timer, Duration>,
}

impl SessionState {
    pub fn capture(fsm: &Fsm, timers: &Timers, now: Instant) -> SessionState {
        SessionState { fsm: fsm.clone(), timers: timers.left(now) }
    }

    /// The FSM and its timers, resumed at `now`.
    pub fn resume(self, now: Instant) -> (Fsm, Timers) {
        let timers = Timers::resume(now, &self.timers);
        (self.fsm, timers)
    }
}

/// Durations as whole milliseconds in JSON (`{"hold": 87000}`).
mod millis {
    use super::Timer;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(m: &BTreeMap<Timer, Duration>, s: S) -> Result<S::Ok, S::Error> {
        let ms: BTreeMap<Timer, u64> =
            m.iter().map(|(&t, d)| (t, u64::try_from(d.as_millis()).unwrap_or(u64::MAX))).collect();
        ms.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<Timer, Duration>, D::Error> {
        let ms = BTreeMap::<Timer, u64>::deserialize(d)?;
        Ok(ms.into_iter().map(|(t, v)| (t, Duration::from_millis(v))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neighbor::fsm::tests::{settings, up};
    use crate::neighbor::fsm::{Event, State};

    #[test]
    fn expired_timers_are_taken_once_and_in_order() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        timers.start(Timer::Keepalive, t0, Duration::from_secs(30));
        timers.start(Timer::Hold, t0, Duration::from_secs(90));
        timers.start(Timer::ConnectRetry, t0, Duration::from_secs(10));
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(10)));
        assert_eq!(timers.take_expired(t0 + Duration::from_secs(30)), vec![Timer::ConnectRetry, Timer::Keepalive]);
        assert!(timers.take_expired(t0 + Duration::from_secs(30)).is_empty());
        timers.stop(Timer::Hold);
        assert_eq!(timers.next(), None);
    }

    #[test]
    fn established_session_resumes_with_the_time_left_on_each_timer() {
        let t0 = Instant::now();
        let mut fsm = Fsm::new(settings(false));
        up(&mut fsm);
        assert_eq!(fsm.state(), State::Established);
        let mut timers = Timers::default();
        timers.start(Timer::Hold, t0, Duration::from_secs(30));
        timers.start(Timer::Keepalive, t0, Duration::from_secs(10));

        // Written down 4 s later, read back in "another process" 100 s after that.
        let text = serde_json::to_string(&SessionState::capture(&fsm, &timers, t0 + Duration::from_secs(4)))
            .expect("serialize");
        assert!(text.contains(r#""timers":{"hold":26000,"keepalive":6000}"#), "{text}");
        let back: SessionState = serde_json::from_str(&text).expect("deserialize");
        let t1 = t0 + Duration::from_secs(104);
        let (mut fsm2, mut timers2) = back.resume(t1);

        assert_eq!(fsm2, fsm);
        assert_eq!(timers2.next(), Some(t1 + Duration::from_secs(6)));
        assert_eq!(timers2.take_expired(t1 + Duration::from_secs(6)), vec![Timer::Keepalive]);
        assert_eq!(timers2.left(t1 + Duration::from_secs(6)), BTreeMap::from([(Timer::Hold, Duration::from_secs(20))]));
        // The resumed FSM acts as the original would.
        assert_eq!(fsm2.handle(Event::HoldTimerExpires), fsm.handle(Event::HoldTimerExpires));
        assert_eq!(fsm2.state(), State::Idle);
    }

    #[test]
    fn a_timer_written_down_after_it_was_due_resumes_due() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        timers.start(Timer::Hold, t0, Duration::from_secs(3));
        let left = timers.left(t0 + Duration::from_secs(5));
        assert_eq!(left[&Timer::Hold], Duration::ZERO);
        let t1 = t0 + Duration::from_secs(60);
        assert_eq!(Timers::resume(t1, &left).take_expired(t1), vec![Timer::Hold]);
    }
}
