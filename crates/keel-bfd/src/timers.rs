//! BFD timing: timer negotiation (RFC 5880 §6.8.2), timer manipulation with its Poll Sequence
//! rules (§6.8.3), the Detection Time in Asynchronous mode (§6.8.4) and the transmit jitter
//! (§6.8.7).
//!
//! Intervals are kept in microseconds as `u32`, the unit and width of the packet fields, and
//! turned into [`Duration`]s only to add to an instant. Nothing here reads a clock: the session
//! passes `now` in. The jitter's random numbers come from [`Random`], a SplitMix64 generator the
//! session seeds from its configuration, so a test (or a replayed trace) sees the same draws.
//!
//! [`LocalIntervals`] holds the local side of the negotiation. Three values of each interval
//! exist while a change is in flight: the one configured, the one advertised (bfd.* of §6.8.1,
//! what packets carry) and the one in use (what this system's transmit interval and Detection
//! Time are computed from). §6.8.3 lets the value in use trail the advertised one until the Poll
//! Sequence ends when it would otherwise cause a false failure: a larger transmit interval, a
//! smaller receive interval.

use std::time::Duration;

/// "When bfd.SessionState is not Up, the system MUST set bfd.DesiredMinTxInterval to a value of
/// not less than one second" (RFC 5880 §6.8.3).
pub const SLOW_TX_MICROS: u32 = 1_000_000;

/// Microseconds as a [`Duration`].
pub fn micros(value: u32) -> Duration {
    Duration::from_micros(value.into())
}

/// A [`Duration`] in microseconds, `None` past the 32-bit packet field (about 71 minutes).
pub fn to_micros(value: Duration) -> Option<u32> {
    u32::try_from(value.as_micros()).ok()
}

/// The interval between periodic transmissions before jitter: "the greater of
/// bfd.DesiredMinTxInterval and bfd.RemoteMinRxInterval" (RFC 5880 §6.8.7). `None` when
/// bfd.RemoteMinRxInterval is zero: "A system MUST NOT periodically transmit BFD Control packets
/// if bfd.RemoteMinRxInterval is zero."
pub fn transmit_interval(desired_min_tx: u32, remote_min_rx: u32) -> Option<u32> {
    (remote_min_rx != 0).then(|| desired_min_tx.max(remote_min_rx))
}

/// The Detection Time in Asynchronous mode (RFC 5880 §6.8.4): "the value of Detect Mult received
/// from the remote system, multiplied by the agreed transmit interval of the remote system (the
/// greater of bfd.RequiredMinRxInterval and the last received Desired Min TX Interval)".
pub fn detection_time(remote_detect_mult: u8, required_min_rx: u32, remote_desired_min_tx: u32) -> Duration {
    micros(required_min_rx.max(remote_desired_min_tx)) * u32::from(remote_detect_mult)
}

/// SplitMix64 (Steele, Lea and Flood; public-domain reference by Vigna): small, fast, and good
/// enough to keep sessions from synchronizing, which is all §6.8.7 asks of the jitter. Its state
/// is one number, so a session stays plain data that can be copied or handed to another process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Random {
    state: u64,
}

impl Random {
    pub fn new(seed: u64) -> Random {
        Random { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
}

/// One jittered transmit interval (RFC 5880 §6.8.7): "the interval MUST be reduced by a random
/// value of 0 to 25%", and when bfd.DetectMult is 1 it "MUST be no more than 90% ... and MUST be
/// no less than 75%" of the negotiated interval. The reduction is drawn uniformly in parts per
/// million, so both ends are reachable.
pub fn jittered(interval: u32, detect_mult: u8, random: &mut Random) -> Duration {
    const MILLION: u64 = 1_000_000;
    let (least, most) = if detect_mult == 1 { (100_000, 250_000) } else { (0, 250_000) };
    let reduction = least + random.next_u64() % (most - least + 1);
    Duration::from_micros(u64::from(interval) * (MILLION - reduction) / MILLION)
}

/// The local side of the timer negotiation (RFC 5880 §6.8.3, §6.8.10, §6.8.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalIntervals {
    /// The Desired Min TX Interval configured for an Up session, microseconds.
    configured_tx: u32,
    /// The Required Min RX Interval configured, microseconds.
    configured_rx: u32,
    /// bfd.DesiredMinTxInterval, as advertised.
    desired_min_tx: u32,
    /// bfd.RequiredMinRxInterval, as advertised.
    required_min_rx: u32,
    /// The Desired Min TX Interval this system's transmit interval is computed from.
    tx_in_use: u32,
    /// The Required Min RX Interval the Detection Time is computed from.
    rx_in_use: u32,
    /// A Poll Sequence is being transmitted (§6.5).
    polling: bool,
    /// A Poll Sequence ended and no packet with F clear has arrived since: another may not start
    /// yet (§6.8.3 choice 3, below).
    awaiting_non_final: bool,
}

impl LocalIntervals {
    /// A new session is Down, so it advertises at least one second (§6.8.1: "initialized to a
    /// value of at least one second").
    pub fn new(configured_tx: u32, configured_rx: u32) -> LocalIntervals {
        let desired_min_tx = configured_tx.max(SLOW_TX_MICROS);
        LocalIntervals {
            configured_tx,
            configured_rx,
            desired_min_tx,
            required_min_rx: configured_rx,
            tx_in_use: desired_min_tx,
            rx_in_use: configured_rx,
            polling: false,
            awaiting_non_final: false,
        }
    }

    /// bfd.DesiredMinTxInterval, for the Desired Min TX Interval field.
    pub fn desired_min_tx(&self) -> u32 {
        self.desired_min_tx
    }

    /// bfd.RequiredMinRxInterval, for the Required Min RX Interval field.
    pub fn required_min_rx(&self) -> u32 {
        self.required_min_rx
    }

    /// The Desired Min TX Interval this system transmits by now (§6.8.3 may hold the old one).
    pub fn tx_in_use(&self) -> u32 {
        self.tx_in_use
    }

    /// The Required Min RX Interval the Detection Time uses now (§6.8.3 may hold the old one).
    pub fn rx_in_use(&self) -> u32 {
        self.rx_in_use
    }

    /// True while outgoing packets carry P.
    pub fn polling(&self) -> bool {
        self.polling
    }

    /// The values configured for an Up session (§6.8.10, §6.8.11: "can be changed at any time to
    /// any value"). Takes effect through [`LocalIntervals::update`].
    pub fn configure(&mut self, tx: u32, rx: u32) {
        self.configured_tx = tx;
        self.configured_rx = rx;
    }

    pub fn configured(&self) -> (u32, u32) {
        (self.configured_tx, self.configured_rx)
    }

    /// Brings the advertised and in-use values toward the configured ones for a session that is
    /// (`up`) or is not Up, starting a Poll Sequence when the advertised values change (§6.8.3:
    /// "If either bfd.DesiredMinTxInterval is changed or bfd.RequiredMinRxInterval is changed, a
    /// Poll Sequence MUST be initiated").
    ///
    /// Not Up: the transmit interval is at least one second, and every change applies at once
    /// (the two exceptions of §6.8.3 hold only "and bfd.SessionState is Up").
    ///
    /// Up: "If bfd.DesiredMinTxInterval is increased ... the actual transmission interval used
    /// MUST NOT change until the Poll Sequence ... has terminated", and "If
    /// bfd.RequiredMinRxInterval is reduced ... the previous value ... MUST be used when
    /// calculating the Detection Time ... until the Poll Sequence ... has terminated"; other
    /// changes apply at once. A change made while a Poll Sequence runs, or before a packet with
    /// F clear followed its Final, waits: §6.8.3 requires several changes either in one packet or
    /// separated so that each Final is unambiguous, and keel takes its third choice ("an
    /// additional BFD Control packet with the Final (F) bit *clear* MUST be received after the
    /// Poll Sequence has completed prior to the initiation of another Poll Sequence").
    pub fn update(&mut self, up: bool) {
        let target_tx = if up { self.configured_tx } else { self.configured_tx.max(SLOW_TX_MICROS) };
        let target_rx = self.configured_rx;
        let changed = (target_tx, target_rx) != (self.desired_min_tx, self.required_min_rx);
        if !up {
            if changed {
                self.polling = true;
            }
            (self.desired_min_tx, self.required_min_rx) = (target_tx, target_rx);
            (self.tx_in_use, self.rx_in_use) = (target_tx, target_rx);
            return;
        }
        if !changed || self.polling || self.awaiting_non_final {
            return;
        }
        if target_tx <= self.desired_min_tx {
            self.tx_in_use = target_tx;
        }
        if target_rx >= self.required_min_rx {
            self.rx_in_use = target_rx;
        }
        (self.desired_min_tx, self.required_min_rx) = (target_tx, target_rx);
        self.polling = true;
    }

    /// A packet with F arrived: "If a Poll Sequence is being transmitted by the local system and
    /// the Final (F) bit in the received packet is set, the Poll Sequence MUST be terminated"
    /// (§6.8.6), and the held values give way to the advertised ones.
    pub fn final_received(&mut self) {
        if self.polling {
            self.polling = false;
            self.awaiting_non_final = true;
            self.tx_in_use = self.desired_min_tx;
            self.rx_in_use = self.required_min_rx;
        }
    }

    /// A packet with F clear arrived: a new Poll Sequence may start.
    pub fn non_final_received(&mut self) {
        self.awaiting_non_final = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5880_6_8_7_interval_is_the_greater_and_zero_rx_stops_periodic() {
        assert_eq!(transmit_interval(300_000, 1), Some(300_000));
        assert_eq!(transmit_interval(300_000, 500_000), Some(500_000));
        assert_eq!(transmit_interval(300_000, 0), None);
    }

    #[test]
    fn rfc5880_6_8_4_detection_time() {
        // Remote Detect Mult 3, remote sends every 100 ms but we require 300 ms: 900 ms.
        assert_eq!(detection_time(3, 300_000, 100_000), Duration::from_millis(900));
        assert_eq!(detection_time(5, 50_000, 200_000), Duration::from_millis(1000));
        // The largest values do not overflow.
        assert_eq!(detection_time(255, u32::MAX, 0), micros(u32::MAX) * 255);
    }

    #[test]
    fn rfc5880_6_8_7_jitter_bounds_over_many_draws() {
        for (detect_mult, least, most) in [(3u8, 750_000u64, 1_000_000u64), (1, 750_000, 900_000)] {
            let mut random = Random::new(u64::from(detect_mult));
            let (mut low, mut high, mut sum) = (u64::MAX, 0, 0);
            let draws = 100_000;
            for _ in 0..draws {
                let us = jittered(1_000_000, detect_mult, &mut random).as_micros() as u64;
                assert!((least..=most).contains(&us), "detect mult {detect_mult}: {us} µs");
                (low, high, sum) = (low.min(us), high.max(us), sum + us);
            }
            // The draws cover the range (within 0.1%) and centre on its middle (within 0.5%).
            assert!(low < least + 1_000 && high > most - 1_000, "{low}..{high}");
            let middle = (least + most) / 2;
            assert!((sum / draws).abs_diff(middle) < 5_000, "mean {}", sum / draws);
        }
    }

    #[test]
    fn random_is_deterministic_per_seed() {
        let draw = |seed| {
            let mut r = Random::new(seed);
            [r.next_u64(), r.next_u64()]
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn rfc5880_6_8_3_not_up_means_at_least_one_second() {
        let mut i = LocalIntervals::new(50_000, 50_000);
        assert_eq!((i.desired_min_tx(), i.tx_in_use()), (SLOW_TX_MICROS, SLOW_TX_MICROS));
        i.update(true);
        assert_eq!((i.desired_min_tx(), i.tx_in_use()), (50_000, 50_000), "a decrease applies at once");
        assert!(i.polling());
        i.final_received();
        i.update(false);
        assert_eq!((i.desired_min_tx(), i.tx_in_use()), (SLOW_TX_MICROS, SLOW_TX_MICROS));
    }

    #[test]
    fn rfc5880_6_8_3_tx_increase_waits_for_final_when_up() {
        let mut i = LocalIntervals::new(100_000, 100_000);
        i.update(true);
        i.final_received();
        i.non_final_received();
        i.configure(400_000, 100_000);
        i.update(true);
        assert_eq!((i.desired_min_tx(), i.tx_in_use(), i.polling()), (400_000, 100_000, true));
        i.final_received();
        assert_eq!((i.tx_in_use(), i.polling()), (400_000, false));
    }

    #[test]
    fn rfc5880_6_8_3_rx_decrease_waits_for_final_when_up() {
        let mut i = LocalIntervals::new(100_000, 500_000);
        i.update(true);
        i.final_received();
        i.non_final_received();
        i.configure(100_000, 100_000);
        i.update(true);
        assert_eq!((i.required_min_rx(), i.rx_in_use()), (100_000, 500_000));
        i.final_received();
        assert_eq!(i.rx_in_use(), 100_000);
        // An increase applies at once.
        i.non_final_received();
        i.configure(100_000, 900_000);
        i.update(true);
        assert_eq!(i.rx_in_use(), 900_000);
    }

    #[test]
    fn rfc5880_6_8_3_second_change_waits_for_a_non_final_packet() {
        let mut i = LocalIntervals::new(100_000, 100_000);
        i.update(true);
        i.configure(200_000, 100_000);
        i.update(true);
        assert_eq!(i.desired_min_tx(), 100_000, "the first Poll Sequence is still running");
        i.final_received();
        i.update(true);
        assert_eq!(i.desired_min_tx(), 100_000, "no packet with F clear yet");
        i.non_final_received();
        i.update(true);
        assert_eq!((i.desired_min_tx(), i.tx_in_use(), i.polling()), (200_000, 100_000, true));
    }
}
