//! Byte/value pairs, checked by hand against the layouts of RFC 5880 §4.1, §4.2 and §4.4.

use crate::config;
use keel_bfd::auth::AuthState;
use keel_bfd::{AuthSection, AuthType, Authentication, ControlPacket, Diagnostic, Key, Session, State};
use std::time::{Duration, Instant};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// The first packet of a new session: Down, slow (§6.8.3), no authentication.
#[test]
fn first_packet_of_a_session() {
    let now = Instant::now();
    let mut s = Session::new(config(1), now).unwrap();
    let bytes = match &s.poll_timers(now)[..] {
        [keel_bfd::Action::Transmit(bytes)] => bytes.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        bytes,
        hex("20         \
             40         \
             03         \
             18         \
             00000001   \
             00000000   \
             000f4240   \
             000186a0   \
             00000000")
    );
    // 20: Vers 1 (001), Diag 0 (00000)
    // 40: Sta 1 Down (01), P F C A D M all 0
    // 03: Detect Mult 3;  18: Length 24
    // My Discriminator 1, Your Discriminator 0 (unknown yet, allowed in Down)
    // Desired Min TX 1,000,000 µs: one second while not Up (§6.8.3), although 100 ms is configured
    // Required Min RX 100,000 µs; Required Min Echo RX 0: no Echo function
}

#[test]
fn up_with_c_bit_and_final_decodes_field_by_field() {
    let bytes = hex("23 d8 05 18  deadbeef  00000002  000186a0  0007a120  00000000");
    // 23: Vers 1, Diag 3 (Neighbor Signaled Session Down)
    // d8: Sta 3 Up (11), P 0, F 1, C 1, A 0, D 0, M 0 = 1101 1000
    // 05: Detect Mult 5;  18: Length 24
    let p = ControlPacket::decode(&bytes).unwrap();
    assert_eq!(p.diagnostic, Diagnostic::NeighborSignaledSessionDown);
    assert_eq!(p.state, State::Up);
    assert!(!p.poll && p.final_ && p.control_plane_independent && !p.demand);
    assert_eq!(p.detect_mult, 5);
    assert_eq!((p.my_discriminator, p.your_discriminator), (0xdead_beef, 2));
    assert_eq!((p.desired_min_tx, p.required_min_rx, p.required_min_echo_rx), (100_000, 500_000, 0));
    assert_eq!(p.auth, None);
    assert_eq!(p.encode(), bytes);
}

/// RFC 5880 §4.2.
#[test]
fn simple_password() {
    let bytes = hex("20 44 03 1f  00000001  00000000  000f4240  000f4240  00000000  01 07 02 6b65656c");
    // 44: Sta 1 Down, A 1 (0100 0100); 1f: Length 31 = 24 + 7
    // 01: Auth Type 1 (Simple Password); 07: Auth Len = password 4 + 3; 02: Auth Key ID 2
    // 6b65656c: "keel"
    let p = ControlPacket::decode(&bytes).unwrap();
    assert_eq!(p.auth, Some(AuthSection::SimplePassword { key_id: 2, password: b"keel".to_vec() }));

    let keys = vec![Key { id: 2, secret: b"keel".to_vec() }];
    let mut auth =
        AuthState::new(Authentication { auth_type: AuthType::SimplePassword, keys, transmit_key_id: 2 }, 0).unwrap();
    let mut unsigned = ControlPacket { auth: None, ..p.clone() };
    assert_eq!(auth.seal(&mut unsigned, true), bytes);
    assert_eq!(keel_bfd::auth::check(Some(&mut auth), &p, &bytes), Ok(()));
}

/// RFC 5880 §4.4. The hash was computed independently, with Python's hashlib, over the packet
/// with "keel-bfd" and 12 zero bytes in the Auth Key/Hash field (§6.7.4).
#[test]
fn meticulous_keyed_sha1() {
    let bytes = hex("20 ec 03 34  01020304  0a0b0c0d  000186a0  000186a0  00000000 \
                     05 1c 07 00  11223344  a541ed1667c8444a45d3c140e0a6ab8da7725b43");
    // ec: Sta 3 Up, P 1, F 0, C 1, A 1, D 0, M 0 = 1110 1100; 34: Length 52 = 24 + 28
    // 05: Auth Type 5 (Meticulous Keyed SHA1); 1c: Auth Len 28; 07: Auth Key ID 7; 00: Reserved
    // 11223344: Sequence Number; then the 20-byte SHA1 hash
    let p = ControlPacket::decode(&bytes).unwrap();
    assert!(p.poll && p.control_plane_independent);
    match &p.auth {
        Some(AuthSection::Keyed { auth_type, key_id, sequence, digest }) => {
            assert_eq!(
                (*auth_type, *key_id, *sequence, digest.len()),
                (AuthType::MeticulousKeyedSha1, 7, 0x1122_3344, 20)
            );
        }
        other => panic!("{other:?}"),
    }

    let settings = || Authentication {
        auth_type: AuthType::MeticulousKeyedSha1,
        keys: vec![Key { id: 7, secret: b"keel-bfd".to_vec() }],
        transmit_key_id: 7,
    };
    // bfd.XmitAuthSeq starts at 0x11223344: the first packet carries it.
    let mut auth = AuthState::new(settings(), 0x1122_3344).unwrap();
    let mut unsigned = ControlPacket { auth: None, ..p.clone() };
    assert_eq!(auth.seal(&mut unsigned, true), bytes);
    let mut receiver = AuthState::new(settings(), 0).unwrap();
    assert_eq!(keel_bfd::auth::check(Some(&mut receiver), &p, &bytes), Ok(()));
}

#[test]
fn session_with_keyed_sha1_sends_28_byte_sections() {
    let now = Instant::now();
    let mut c = config(9);
    c.authentication = Some(Authentication {
        auth_type: AuthType::KeyedSha1,
        keys: vec![Key { id: 1, secret: b"k".to_vec() }],
        transmit_key_id: 1,
    });
    let mut s = Session::new(c, now).unwrap();
    let p = crate::sent(&s.poll_timers(now + Duration::ZERO)).remove(0);
    assert_eq!(p.len(), 52);
    assert!(matches!(p.auth, Some(AuthSection::Keyed { auth_type: AuthType::KeyedSha1, key_id: 1, .. })));
}
