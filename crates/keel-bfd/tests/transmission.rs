//! RFC 5880 §6.8.7 transmission timing on one session, on a simulated clock: the session is
//! polled at each of its deadlines while the remote keeps it Up, and the gaps between its
//! periodic packets are measured.

use super::*;
use keel_bfd::packet::ControlPacket as Packet;

/// Runs an Up session (configured by `detect_mult`, remote asking `remote_min_rx` µs) for 20 s
/// with the remote's packets every 100 ms; the gaps between the periodic packets it sent.
fn gaps(detect_mult: u8, remote_min_rx: u32) -> Vec<Duration> {
    let start = Instant::now();
    let mut s = Session::new(SessionConfig { detect_mult, ..config(1) }, start).unwrap();
    s.poll_timers(start);
    let remote = |state| Packet { required_min_rx: remote_min_rx, ..from_remote(state, 1) };
    s.receive(&from_remote(State::Down, 0).encode(), start).unwrap();
    s.receive(&remote(State::Init).encode(), start).unwrap();
    assert_eq!(s.state(), State::Up);
    let mut now = start;
    let mut next_remote = start + ms(100);
    let mut times = Vec::new();
    while now < start + Duration::from_secs(20) {
        let deadline = s.next_deadline().expect("an Up session has a deadline");
        if next_remote <= deadline {
            now = next_remote;
            next_remote += ms(100);
            s.receive(&remote(State::Up).encode(), now).unwrap();
            continue;
        }
        now = deadline;
        if !sent(&s.poll_timers(now)).is_empty() {
            times.push(now);
        }
    }
    // The first second is the Up transition's settling (§6.8.3 Poll Sequence); after it only
    // periodic packets.
    let settled: Vec<Instant> = times.into_iter().filter(|t| *t > start + Duration::from_secs(1)).collect();
    settled.windows(2).map(|w| w[1] - w[0]).collect()
}

#[test]
fn rfc5880_6_8_7_periodic_packets_are_jittered_down_by_0_to_25_percent() {
    // "the interval MUST be reduced by a random value of 0 to 25%": 75-100 ms at 100 ms.
    let g = gaps(3, 100_000);
    assert!(g.len() > 150, "{} packets", g.len());
    assert!(g.iter().all(|d| *d >= ms(75) && *d <= ms(100)), "{:?}", g.iter().minmax());
    // Jitter, not a constant: the gaps differ.
    assert!(*g.iter().max().unwrap() - *g.iter().min().unwrap() > ms(10));
}

#[test]
fn rfc5880_6_8_7_detect_mult_1_sends_at_75_to_90_percent() {
    // "If bfd.DetectMult is equal to 1, the interval between transmitted BFD Control packets
    // MUST be no more than 90% of the negotiated transmission interval, and MUST be no less
    // than 75%".
    let g = gaps(1, 100_000);
    assert!(g.iter().all(|d| *d >= ms(75) && *d <= ms(90)), "{:?}", g.iter().minmax());
}

#[test]
fn rfc5880_6_8_7_interval_is_the_larger_of_local_tx_and_remote_rx() {
    // "the greater of bfd.DesiredMinTxInterval and bfd.RemoteMinRxInterval": the remote asks
    // for 300 ms, so 225-300 ms.
    let g = gaps(3, 300_000);
    assert!(g.iter().all(|d| *d >= ms(225) && *d <= ms(300)), "{:?}", g.iter().minmax());
}

trait MinMax {
    fn minmax(self) -> (Option<Duration>, Option<Duration>);
}

impl<'a, I: Iterator<Item = &'a Duration> + Clone> MinMax for I {
    fn minmax(self) -> (Option<Duration>, Option<Duration>) {
        (self.clone().min().copied(), self.max().copied())
    }
}
