//! The handoff state's contract: what one keeld writes, the next one reads back whole; a state
//! of another format version, with a bad checksum, cut short or made of random octets is refused
//! with an error (never a panic), which sends the new keeld to the graceful-restart fallback.

use keel_handoff::format::{self, DecodeError, Writer, MUST_UNDERSTAND};
use keel_handoff::state::{Counters, DaemonFacts, PrefixLimit, Timer, TimerKind};
use keel_handoff::{Handoff, Listener, NeighborState};
use proptest::prelude::*;
use std::net::{IpAddr, SocketAddr};

fn sample() -> Handoff {
    // An OPEN and an UPDATE as a session has them (marker, length, type, body).
    let mut open = vec![0xff; 16];
    open.extend_from_slice(&[0, 29, 1, 4, 0xfd, 0xe9, 0, 9, 192, 0, 2, 1, 0]);
    let mut update = vec![0xff; 16];
    update.extend_from_slice(&[0, 27, 2, 0, 0, 0, 0, 24, 198, 51, 100]);
    Handoff {
        daemon: DaemonFacts {
            version: "0.1.0".into(),
            pid: 4242,
            time_unix_ms: 1_765_000_000_000,
            config_fingerprint: 0x0123_4567_89ab_cdef,
        },
        listeners: vec![
            Listener { fd: 7, address: "127.0.5.42:179".parse().expect("socket address") },
            Listener { fd: 8, address: "[::1]:179".parse().expect("socket address") },
        ],
        neighbors: vec![NeighborState {
            address: "127.0.5.43".parse().expect("address"),
            fd: 12,
            local_address: "127.0.5.42:179".parse().expect("socket address"),
            local_open: open.clone(),
            remote_open: open,
            hold_time: 9,
            hold_left_ms: 8_500,
            keepalive_left_ms: 2_100,
            established_ms: 3_600_000,
            counters: Counters {
                messages_received: 10,
                messages_sent: 11,
                updates_received: 2,
                updates_sent: 3,
                established_transitions: 1,
            },
            unread: vec![0xff; 7],
            unwritten: update.clone(),
            adj_rib_in: vec![update.clone(), update.clone()],
            adj_rib_out: vec![update],
            timers: vec![Timer { kind: TimerKind::LongLivedStale, family: (2, 1), left_ms: 59_000 }],
            prefix_limit: PrefixLimit { warned: vec![(1, 1)], tripped: Some(((1, 1), 1_765_000_000)) },
            end_of_rib_sent: vec![(1, 1), (2, 1)],
            end_of_rib_received: vec![(1, 1)],
        }],
    }
}

#[test]
fn round_trip() {
    let h = sample();
    let bytes = h.encode().expect("encodes");
    assert_eq!(Handoff::decode(&bytes), Ok(h));
}

#[test]
fn empty_state_round_trips() {
    let h = Handoff::default();
    assert_eq!(Handoff::decode(&h.encode().expect("encodes")), Ok(h));
}

#[test]
fn other_format_version_is_refused() {
    let mut bytes = sample().encode().expect("encodes");
    bytes[8..10].copy_from_slice(&2u16.to_be_bytes());
    assert_eq!(Handoff::decode(&bytes), Err(DecodeError::Version { found: 2, expected: 1 }));
}

#[test]
fn bad_checksum_is_refused() {
    let mut bytes = sample().encode().expect("encodes");
    // One flipped bit anywhere in the body.
    let middle = format::HEADER_LEN + (bytes.len() - format::HEADER_LEN) / 2;
    bytes[middle] ^= 0x10;
    assert!(matches!(Handoff::decode(&bytes), Err(DecodeError::Checksum { .. })));
}

#[test]
fn every_truncation_is_refused() {
    let bytes = sample().encode().expect("encodes");
    for len in 0..bytes.len() {
        assert!(Handoff::decode(&bytes[..len]).is_err(), "{len} octets accepted");
    }
}

/// A state with `extra` appended as a record after the daemon's.
fn with_record(tag: u16) -> Vec<u8> {
    let good = sample().encode().expect("encodes");
    let mut body = format::open(&good).expect("opens").to_vec();
    let mut w = Writer::new();
    w.bytes_record(tag, b"from a later keeld").expect("small record");
    body.extend_from_slice(&w.into_inner());
    format::seal(&body)
}

#[test]
fn unknown_optional_record_is_skipped() {
    assert_eq!(Handoff::decode(&with_record(0x0077)), Ok(sample()));
}

#[test]
fn unknown_required_record_is_refused() {
    assert_eq!(Handoff::decode(&with_record(MUST_UNDERSTAND | 0x77)), Err(DecodeError::UnknownRequired(0x8077)));
}

#[test]
fn state_without_daemon_record_is_refused() {
    assert_eq!(Handoff::decode(&format::seal(&[])), Err(DecodeError::Malformed { tag: 0x8001, reason: "missing" }));
}

fn address() -> impl Strategy<Value = IpAddr> {
    prop_oneof![any::<[u8; 4]>().prop_map(IpAddr::from), any::<[u8; 16]>().prop_map(IpAddr::from)]
}

fn socket_address() -> impl Strategy<Value = SocketAddr> {
    (address(), any::<u16>()).prop_map(|(a, p)| SocketAddr::new(a, p))
}

fn octets() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..64)
}

fn timer() -> impl Strategy<Value = Timer> {
    let kind = prop_oneof![
        Just(TimerKind::Restart),
        Just(TimerKind::StalePath),
        Just(TimerKind::LongLivedStale),
        Just(TimerKind::SelectionDeferral)
    ];
    (kind, any::<(u16, u8)>(), any::<u32>()).prop_map(|(kind, family, left_ms)| Timer { kind, family, left_ms })
}

prop_compose! {
    fn neighbor()(
        address in address(), fd in any::<i32>(), local_address in socket_address(),
        local_open in octets(), remote_open in octets(),
        hold in any::<(u16, u32, u32)>(), established_ms in any::<u64>(),
        c in any::<(u64, u64, u64, u64, u64)>(),
        unread in octets(), unwritten in octets(),
        adj_rib_in in proptest::collection::vec(octets(), 0..4),
        adj_rib_out in proptest::collection::vec(octets(), 0..4),
        timers in proptest::collection::vec(timer(), 0..4),
        warned in proptest::collection::vec(any::<(u16, u8)>(), 0..4),
        tripped in proptest::option::of(any::<((u16, u8), u64)>()),
        end_of_rib_sent in proptest::collection::vec(any::<(u16, u8)>(), 0..3),
        end_of_rib_received in proptest::collection::vec(any::<(u16, u8)>(), 0..3),
    ) -> NeighborState {
        NeighborState {
            address, fd, local_address, local_open, remote_open,
            hold_time: hold.0, hold_left_ms: hold.1, keepalive_left_ms: hold.2, established_ms,
            counters: Counters {
                messages_received: c.0, messages_sent: c.1, updates_received: c.2,
                updates_sent: c.3, established_transitions: c.4,
            },
            unread, unwritten, adj_rib_in, adj_rib_out, timers,
            prefix_limit: PrefixLimit { warned, tripped },
            end_of_rib_sent, end_of_rib_received,
        }
    }
}

prop_compose! {
    fn handoff()(
        version in "[ -~]{0,20}", pid in any::<u32>(), time_unix_ms in any::<u64>(),
        config_fingerprint in any::<u64>(),
        listeners in proptest::collection::vec((any::<i32>(), socket_address()), 0..3),
        neighbors in proptest::collection::vec(neighbor(), 0..3),
    ) -> Handoff {
        Handoff {
            daemon: DaemonFacts { version, pid, time_unix_ms, config_fingerprint },
            listeners: listeners.into_iter().map(|(fd, address)| Listener { fd, address }).collect(),
            neighbors,
        }
    }
}

proptest! {
    #[test]
    fn any_state_round_trips(h in handoff()) {
        let bytes = h.encode().expect("encodes");
        prop_assert_eq!(Handoff::decode(&bytes), Ok(h));
    }

    #[test]
    fn arbitrary_octets_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Handoff::decode(&bytes);
    }

    /// Random bodies behind a valid header and checksum reach the record parser.
    #[test]
    fn arbitrary_sealed_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Handoff::decode(&format::seal(&body));
    }

    /// A valid state with one octet changed: the checksum catches it, or (in the header) the
    /// magic, version or length check does; it is never accepted as another state.
    #[test]
    fn any_changed_octet_is_refused(h in handoff(), at in any::<prop::sample::Index>(), flip in 1u8..) {
        let mut bytes = h.encode().expect("encodes");
        let i = at.index(bytes.len());
        // The flags field (octets 10-11) is reserved and ignored.
        prop_assume!(!(10..12).contains(&i));
        bytes[i] ^= flip;
        prop_assert!(Handoff::decode(&bytes).is_err());
    }
}
