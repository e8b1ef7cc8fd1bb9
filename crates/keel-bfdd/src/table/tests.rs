//! Two tables wired back to back (A is 192.0.2.1, B 192.0.2.2), time as an argument.

use super::*;
use crate::protocol::{AuthKind, AuthSpec};
use std::net::{IpAddr, SocketAddr};

const A: &str = "192.0.2.1";
const B: &str = "192.0.2.2";
const CLIENT: u64 = 1;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn spec(peer: &str) -> SessionSpec {
    SessionSpec {
        peer: ip(peer),
        local: None,
        multihop: false,
        min_tx_ms: 100,
        min_rx_ms: 100,
        multiplier: 3,
        auth: None,
    }
}

fn with_auth(spec: SessionSpec, auth_type: AuthKind, password: &str) -> SessionSpec {
    SessionSpec { auth: Some(AuthSpec { auth_type, key_id: 5, password: password.into() }), ..spec }
}

struct Pair {
    tables: [Table; 2],
    start: Instant,
    now: Instant,
    /// Datagrams in flight to table 0 and 1; `drop` loses them (the link is down).
    drop: bool,
    views: [Vec<BfdView>; 2],
    ttl: u8,
}

impl Pair {
    fn new() -> Pair {
        Pair::with(spec(B), spec(A))
    }

    /// Table 0 with session `a` (towards B), table 1 with `b` (towards A).
    fn with(a: SessionSpec, b: SessionSpec) -> Pair {
        let now = Instant::now();
        let orphan = Duration::from_secs(60);
        let mut p = Pair {
            tables: [Table::new(true, orphan, 1), Table::new(false, orphan, 2)],
            start: now,
            now,
            drop: false,
            views: [Vec::new(), Vec::new()],
            ttl: 255,
        };
        let out = p.tables[0].register(CLIENT, a, now);
        p.deliver(0, out);
        let out = p.tables[1].register(CLIENT, b, now);
        p.deliver(1, out);
        p
    }

    fn deliver(&mut self, side: usize, out: Outputs) {
        self.views[side].extend(out.notify.into_iter().map(|(_, v)| v));
        if self.drop {
            return;
        }
        let from = SocketAddr::new(ip([A, B][side]), 49152);
        for (_, bytes) in out.transmit {
            let d = Datagram { bytes, from, ttl: Some(self.ttl), multihop: false };
            let reply = self.tables[1 - side].receive(&d, self.now);
            self.deliver(1 - side, reply);
        }
    }

    /// Runs both tables' timers until `until` after the start.
    fn run_until(&mut self, until: Duration) {
        let end = self.start + until;
        loop {
            let next = self.tables.iter().filter_map(|t| t.next_deadline()).min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    for side in 0..2 {
                        let out = self.tables[side].poll(self.now);
                        self.deliver(side, out);
                    }
                }
                _ => break,
            }
        }
        self.now = end;
    }

    fn state(&self, side: usize) -> String {
        self.views[side].last().map_or("none".into(), |v| v.state.clone())
    }
}

#[test]
fn sessions_come_up_and_report_the_remote_c_bit() {
    let mut p = Pair::new();
    p.run_until(Duration::from_secs(5));
    assert_eq!((p.state(0), p.state(1)), ("up".into(), "up".into()));
    let (a, b) = (p.views[0].last().unwrap(), p.views[1].last().unwrap());
    assert_eq!((a.remote_control_plane_independent, b.remote_control_plane_independent), (Some(false), Some(true)));
    assert_eq!((a.transmit_interval_ms, a.detection_time_ms), (Some(100), Some(300)));
}

#[test]
fn rfc5881_5_single_hop_packets_need_ttl_255() {
    let mut p = Pair::new();
    p.ttl = 254;
    p.run_until(Duration::from_secs(5));
    assert_eq!((p.state(0), p.state(1)), ("down".into(), "down".into()));
}

#[test]
fn link_loss_is_seen_within_the_detection_time_and_counted_as_a_flap() {
    let mut p = Pair::new();
    p.run_until(Duration::from_secs(5));
    p.drop = true;
    let seen = p.views[0].len();
    // The Detection Time is 300 ms (3 x 100 ms) from the last packet, which came before.
    p.run_until(Duration::from_millis(5300));
    let down = p.views[0][seen..].iter().find(|v| v.state == "down").expect("A saw Down");
    assert_eq!((down.diagnostic.as_str(), down.flaps), ("control-detection-time-expired", 1));
    assert_eq!(p.state(1), "down");
}

#[test]
fn sessions_outlive_their_client_until_the_orphan_time() {
    let mut p = Pair::new();
    p.run_until(Duration::from_secs(5));
    p.tables[0].client_gone(CLIENT, p.now);
    p.run_until(Duration::from_secs(30));
    assert_eq!(p.state(1), "up", "the neighbor's session stays up while keeld is away");
    // keeld is back: the same session, still up, is reported at once.
    let out = p.tables[0].register(7, spec(B), p.now);
    assert_eq!(out.notify.len(), 1);
    assert_eq!((out.notify[0].0, out.notify[0].1.state.as_str(), out.created.len()), (7, "up", 0));
    p.deliver(0, out);
    p.tables[0].client_gone(7, p.now);
    p.run_until(Duration::from_secs(95));
    // Orphaned for 60 s: AdminDown, which the neighbor does not take for a failure.
    let b = p.views[1].last().unwrap();
    assert_eq!((b.state.as_str(), b.remote_state.as_str()), ("down", "admin-down"));
    assert!(p.tables[0].is_empty(), "removed after AdminDown was sent");
}

#[test]
fn remove_sends_admin_down_then_forgets_the_session() {
    let mut p = Pair::new();
    p.run_until(Duration::from_secs(5));
    let out = p.tables[0].remove(spec(B).key(), p.now);
    p.deliver(0, out);
    p.run_until(Duration::from_secs(10));
    assert_eq!(p.views[1].last().unwrap().diagnostic, "neighbor-signaled-session-down");
    assert!(p.tables[0].is_empty());
}

#[test]
fn rfc5882_3_2_shutdown_tells_the_neighbor_admin_down() {
    let mut p = Pair::new();
    p.run_until(Duration::from_secs(5));
    let out = p.tables[0].shutdown(p.now);
    assert!(!out.transmit.is_empty(), "AdminDown sent at once");
    p.deliver(0, out);
    let b = p.views[1].last().unwrap();
    assert_eq!((b.state.as_str(), b.remote_state.as_str()), ("down", "admin-down"));
}

#[test]
fn rfc5880_6_7_same_key_comes_up_and_shows_the_type() {
    for kind in [AuthKind::Simple, AuthKind::KeyedSha1, AuthKind::MeticulousKeyedSha1] {
        let mut p = Pair::with(with_auth(spec(B), kind, "s3cret"), with_auth(spec(A), kind, "s3cret"));
        p.run_until(Duration::from_secs(5));
        assert_eq!((p.state(0), p.state(1)), ("up".into(), "up".into()), "{kind:?}");
        let a = p.views[0].last().unwrap();
        assert_eq!((a.auth.as_str(), a.auth_failures), (kind.name(), 0));
    }
}

/// A wrong password never comes Up; the failures are counted and told, at most once a second.
#[test]
fn rfc5880_6_7_wrong_key_never_comes_up_and_failures_are_counted() {
    let mut p =
        Pair::with(with_auth(spec(B), AuthKind::KeyedSha1, "right"), with_auth(spec(A), AuthKind::KeyedSha1, "wrong"));
    p.run_until(Duration::from_secs(10));
    assert!(p.views.iter().flatten().all(|v| v.state != "up"), "never Up");
    let a = p.views[0].last().unwrap();
    assert!(a.auth_failures >= 5, "failures counted: {a:?}");
    let told = p.views[0].iter().filter(|v| v.auth_failures > 0).count();
    assert!((5..=12).contains(&told), "told about once a second over 10 s, not per packet: {told}");
    // One side without authentication: its packets lack the A bit (RFC 5880 §6.8.6).
    let mut p = Pair::with(with_auth(spec(B), AuthKind::Simple, "pw"), spec(A));
    p.run_until(Duration::from_secs(5));
    assert_ne!(p.state(0), "up");
    assert!(p.views[0].last().unwrap().auth_failures > 0);
    assert!(p.views[1].last().unwrap().auth_failures > 0, "the A bit where none is expected is a failure too");
}

/// keeld changes the password of a running session: it starts afresh with the new one.
#[test]
fn changed_authentication_restarts_the_session() {
    let mut p =
        Pair::with(with_auth(spec(B), AuthKind::KeyedSha1, "old"), with_auth(spec(A), AuthKind::KeyedSha1, "old"));
    p.run_until(Duration::from_secs(5));
    assert_eq!(p.state(0), "up");
    for (side, peer) in [(0, B), (1, A)] {
        let out = p.tables[side].register(CLIENT, with_auth(spec(peer), AuthKind::MeticulousKeyedSha1, "new"), p.now);
        p.deliver(side, out);
    }
    p.run_until(Duration::from_secs(15));
    assert_eq!((p.state(0), p.state(1)), ("up".into(), "up".into()));
    assert_eq!(p.views[0].last().unwrap().auth, "meticulous-keyed-sha1");
}
