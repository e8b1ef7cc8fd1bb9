//! Authentication of BFD Control packets (RFC 5880 §6.7): Simple Password (§6.7.2), Keyed SHA1
//! and Meticulous Keyed SHA1 (§6.7.4), and the A-bit rules of §6.8.6.
//!
//! [`AuthState`] holds a session's keys and the state variables of §6.8.1 that belong to
//! authentication: bfd.AuthType, bfd.XmitAuthSeq, bfd.RcvAuthSeq and bfd.AuthSeqKnown. It seals
//! outgoing packets ([`AuthState::seal`]) and checks incoming ones ([`check`]).
//!
//! Keyed MD5 (§6.7.3) is optional in RFC 5880 ("Implementations supporting authentication MUST
//! support both types of SHA1 authentication. Other forms of authentication are optional") and
//! is not offered: [`AuthState::new`] refuses it. The codec still decodes MD5 sections, and a
//! session using SHA1 discards them as the wrong Auth Type.

use crate::packet::{AuthSection, AuthType, ControlPacket, MANDATORY_LEN};
use sha1::{Digest, Sha1};
use std::fmt;
use thiserror::Error;

/// Offset of the Auth Key/Hash field in a keyed packet: Mandatory Section, Auth Type, Auth Len,
/// Auth Key ID, Reserved, Sequence Number (RFC 5880 §4.4).
const HASH_OFFSET: usize = MANDATORY_LEN + 8;
const SHA1_LEN: usize = 20;

/// One configured key (a password for Simple Password) and its Auth Key ID.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    pub id: u8,
    pub secret: Vec<u8>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key").field("id", &self.id).field("secret", &"<redacted>").finish()
    }
}

/// A session's authentication settings (RFC 5880 §6.7: "the same authentication type, and any
/// keys ... must be in use by the two systems").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    /// bfd.AuthType: Simple Password, Keyed SHA1 or Meticulous Keyed SHA1.
    pub auth_type: AuthType,
    /// Every key a received packet may use (§6.7: "multiple keys to be active simultaneously").
    pub keys: Vec<Key>,
    /// The Auth Key ID sent; must be one of `keys`.
    pub transmit_key_id: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthConfigError {
    #[error("{0:?} is not supported (only Simple Password, Keyed SHA1 and Meticulous Keyed SHA1)")]
    UnsupportedType(AuthType),
    #[error("key {id} is {len} bytes; {auth_type:?} takes 1 to {max} (RFC 5880 §6.7.2, §6.7.4)")]
    KeyLength { auth_type: AuthType, id: u8, len: usize, max: usize },
    #[error("key id {0} is configured twice")]
    DuplicateKeyId(u8),
    #[error("transmit key id {0} is not among the configured keys")]
    TransmitKeyMissing(u8),
}

/// Why a packet failed authentication (RFC 5880 §6.7 and the A-bit checks of §6.8.6).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    #[error("A bit set but no authentication is in use (RFC 5880 §6.8.6)")]
    Unexpected,
    #[error("A bit clear but authentication is in use (RFC 5880 §6.8.6)")]
    Missing,
    #[error("Auth Type {received:?}, expected {expected:?} (RFC 5880 §6.7.2, §6.7.4)")]
    WrongType { expected: AuthType, received: AuthType },
    #[error("Auth Key ID {0} matches no configured key (RFC 5880 §6.7.2, §6.7.4)")]
    UnknownKeyId(u8),
    #[error("Auth Len {auth_len} is not the selected password's length plus three (RFC 5880 §6.7.2)")]
    PasswordLength { auth_len: usize },
    #[error("password does not match key {0} (RFC 5880 §6.7.2)")]
    WrongPassword(u8),
    #[error("sequence number {received} outside the window after {last} (RFC 5880 §6.7.4)")]
    Sequence { received: u32, last: u32 },
    #[error("SHA1 hash does not match key {0} (RFC 5880 §6.7.4)")]
    WrongHash(u8),
}

/// A session's authentication keys and sequence numbers (RFC 5880 §6.8.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthState {
    config: Authentication,
    /// bfd.XmitAuthSeq: the next sequence number to send.
    xmit_auth_seq: u32,
    /// bfd.RcvAuthSeq: the last sequence number received.
    rcv_auth_seq: u32,
    /// bfd.AuthSeqKnown.
    auth_seq_known: bool,
}

impl AuthState {
    /// `initial_sequence` initializes bfd.XmitAuthSeq, which "MUST be initialized to a random
    /// 32-bit value" (§6.8.1); the session draws it from its random source.
    pub fn new(config: Authentication, initial_sequence: u32) -> Result<AuthState, AuthConfigError> {
        let max = match config.auth_type {
            AuthType::SimplePassword => 16,
            AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => SHA1_LEN,
            other => return Err(AuthConfigError::UnsupportedType(other)),
        };
        for (i, key) in config.keys.iter().enumerate() {
            if key.secret.is_empty() || key.secret.len() > max {
                let (auth_type, id, len) = (config.auth_type, key.id, key.secret.len());
                return Err(AuthConfigError::KeyLength { auth_type, id, len, max });
            }
            if config.keys[..i].iter().any(|k| k.id == key.id) {
                return Err(AuthConfigError::DuplicateKeyId(key.id));
            }
        }
        if !config.keys.iter().any(|k| k.id == config.transmit_key_id) {
            return Err(AuthConfigError::TransmitKeyMissing(config.transmit_key_id));
        }
        Ok(AuthState { config, xmit_auth_seq: initial_sequence, rcv_auth_seq: 0, auth_seq_known: false })
    }

    pub fn auth_type(&self) -> AuthType {
        self.config.auth_type
    }

    /// bfd.AuthSeqKnown := 0, "after no packets have been received on this session for at least
    /// twice the Detection Time" (§6.8.1), so a restarted peer can resynchronize.
    pub fn forget_sequence(&mut self) {
        self.auth_seq_known = false;
    }

    pub fn sequence_known(&self) -> bool {
        self.auth_seq_known
    }

    fn key(&self, id: u8) -> Option<&[u8]> {
        self.config.keys.iter().find(|k| k.id == id).map(|k| k.secret.as_slice())
    }

    /// Adds the Authentication Section to `packet` and encodes it (§6.7.2, §6.7.4 "Transmission
    /// Using ..."). `contents_changed` says the packet differs from the previous one beyond P and
    /// F: Keyed SHA1 then increments bfd.XmitAuthSeq (the SHOULD of §6.7.4); Meticulous Keyed
    /// SHA1 increments it for every packet (the MUST).
    pub fn seal(&mut self, packet: &mut ControlPacket, contents_changed: bool) -> Vec<u8> {
        let key_id = self.config.transmit_key_id;
        let secret = self.key(key_id).unwrap_or_default().to_vec();
        match self.config.auth_type {
            AuthType::SimplePassword => {
                packet.auth = Some(AuthSection::SimplePassword { key_id, password: secret });
                packet.encode()
            }
            auth_type => {
                // bfd.XmitAuthSeq is the next number to send: Keyed SHA1 moves it before a
                // packet with new contents, Meticulous sends it and moves it.
                if contents_changed && !auth_type.is_meticulous() {
                    self.xmit_auth_seq = self.xmit_auth_seq.wrapping_add(1);
                }
                let sequence = self.xmit_auth_seq;
                if auth_type.is_meticulous() {
                    self.xmit_auth_seq = self.xmit_auth_seq.wrapping_add(1);
                }
                // The key, padded with trailing zeros, stands in the hash field while hashing.
                let mut digest = secret;
                digest.resize(SHA1_LEN, 0);
                packet.auth = Some(AuthSection::Keyed { auth_type, key_id, sequence, digest });
                let mut bytes = packet.encode();
                let hash = Sha1::digest(&bytes);
                bytes[HASH_OFFSET..HASH_OFFSET + SHA1_LEN].copy_from_slice(&hash);
                if let Some(AuthSection::Keyed { digest, .. }) = &mut packet.auth {
                    digest.copy_from_slice(&hash);
                }
                bytes
            }
        }
    }
}

/// The authentication steps of RFC 5880 §6.8.6 for a decoded `packet` whose bytes (up to Length)
/// are `bytes`: the A bit against bfd.AuthType, then §6.7.2 or §6.7.4. On success a keyed
/// session's bfd.RcvAuthSeq moves to the packet's sequence number.
///
/// Two readings of §6.7.4 (both as in common implementations):
/// - The hash is checked before the sequence number is learnt or moved, although the text for
///   bfd.AuthSeqKnown = 0 says the packet "MUST be accepted" right there; accepting without the
///   hash would let anyone reset the replay window.
/// - "Detect Mult" in the window bfd.RcvAuthSeq+(3*Detect Mult) is the received packet's field,
///   the sender's multiplier, which bounds how many packets it sends per Detection Time.
pub fn check(auth: Option<&mut AuthState>, packet: &ControlPacket, bytes: &[u8]) -> Result<(), AuthError> {
    let (state, section) = match (auth, &packet.auth) {
        (None, None) => return Ok(()),
        (None, Some(_)) => return Err(AuthError::Unexpected),
        (Some(_), None) => return Err(AuthError::Missing),
        (Some(state), Some(section)) => (state, section),
    };
    let expected = state.config.auth_type;
    if section.auth_type() != expected {
        return Err(AuthError::WrongType { expected, received: section.auth_type() });
    }
    let key_id = section.key_id();
    let key = state.key(key_id).ok_or(AuthError::UnknownKeyId(key_id))?;
    match section {
        AuthSection::SimplePassword { password, .. } => {
            if password.len() != key.len() {
                return Err(AuthError::PasswordLength { auth_len: section.len() });
            }
            if !constant_time_eq(password, key) {
                return Err(AuthError::WrongPassword(key_id));
            }
            Ok(())
        }
        AuthSection::Keyed { sequence, digest, .. } => {
            // Auth Len was checked to be 28 by the decoder (§6.7.4 "If the Auth Len field is
            // not equal to 28, the packet MUST be discarded").
            if state.auth_seq_known {
                let offset = sequence.wrapping_sub(state.rcv_auth_seq);
                let lowest = u32::from(expected.is_meticulous());
                if offset < lowest || offset > 3 * u32::from(packet.detect_mult) {
                    return Err(AuthError::Sequence { received: *sequence, last: state.rcv_auth_seq });
                }
            }
            let mut padded = key.to_vec();
            padded.resize(SHA1_LEN, 0);
            let mut hashed = bytes[..packet.len().min(bytes.len())].to_vec();
            if hashed.len() < HASH_OFFSET + SHA1_LEN {
                return Err(AuthError::WrongHash(key_id));
            }
            hashed[HASH_OFFSET..HASH_OFFSET + SHA1_LEN].copy_from_slice(&padded);
            if !constant_time_eq(&Sha1::digest(&hashed), digest) {
                return Err(AuthError::WrongHash(key_id));
            }
            state.auth_seq_known = true;
            state.rcv_auth_seq = *sequence;
            Ok(())
        }
    }
}

/// Compares without stopping at the first difference, so timing does not reveal how much of a
/// guessed password or hash was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{Diagnostic, State};

    fn packet() -> ControlPacket {
        ControlPacket {
            diagnostic: Diagnostic::NoDiagnostic,
            state: State::Down,
            poll: false,
            final_: false,
            control_plane_independent: true,
            demand: false,
            detect_mult: 3,
            my_discriminator: 0x0101_0101,
            your_discriminator: 0,
            desired_min_tx: 1_000_000,
            required_min_rx: 1_000_000,
            required_min_echo_rx: 0,
            auth: None,
        }
    }

    fn state(auth_type: AuthType, keys: &[(u8, &[u8])], transmit_key_id: u8) -> AuthState {
        let keys = keys.iter().map(|(id, s)| Key { id: *id, secret: s.to_vec() }).collect();
        AuthState::new(Authentication { auth_type, keys, transmit_key_id }, 1000).unwrap()
    }

    /// Seals with `tx`, decodes and checks with `rx`.
    fn deliver(tx: &mut AuthState, rx: &mut AuthState) -> Result<(), AuthError> {
        let mut p = packet();
        let bytes = tx.seal(&mut p, false);
        let decoded = ControlPacket::decode(&bytes).unwrap();
        assert_eq!(decoded, p);
        check(Some(rx), &decoded, &bytes)
    }

    #[test]
    fn rfc5880_6_8_6_a_bit_against_auth_type() {
        let mut p = packet();
        assert_eq!(check(None, &p, &p.encode()), Ok(()));
        let mut s = state(AuthType::SimplePassword, &[(1, b"secret")], 1);
        assert_eq!(check(Some(&mut s), &p, &p.encode()), Err(AuthError::Missing));
        let bytes = s.seal(&mut p, false);
        assert_eq!(check(None, &p, &bytes), Err(AuthError::Unexpected));
    }

    #[test]
    fn rfc5880_6_7_2_simple_password_accepts_any_configured_key() {
        let mut tx = state(AuthType::SimplePassword, &[(2, b"second")], 2);
        let mut rx = state(AuthType::SimplePassword, &[(1, b"first"), (2, b"second")], 1);
        assert_eq!(deliver(&mut tx, &mut rx), Ok(()));
    }

    #[test]
    fn rfc5880_6_7_2_simple_password_wrong_key_id() {
        let mut tx = state(AuthType::SimplePassword, &[(3, b"secret")], 3);
        let mut rx = state(AuthType::SimplePassword, &[(1, b"secret")], 1);
        assert_eq!(deliver(&mut tx, &mut rx), Err(AuthError::UnknownKeyId(3)));
    }

    #[test]
    fn rfc5880_6_7_2_simple_password_wrong_password() {
        let mut tx = state(AuthType::SimplePassword, &[(1, b"secreT")], 1);
        let mut rx = state(AuthType::SimplePassword, &[(1, b"secret")], 1);
        assert_eq!(deliver(&mut tx, &mut rx), Err(AuthError::WrongPassword(1)));
        let mut tx = state(AuthType::SimplePassword, &[(1, b"secret!")], 1);
        assert_eq!(deliver(&mut tx, &mut rx), Err(AuthError::PasswordLength { auth_len: 10 }));
    }

    #[test]
    fn rfc5880_6_7_4_wrong_auth_type() {
        let mut tx = state(AuthType::KeyedSha1, &[(1, b"k")], 1);
        let mut rx = state(AuthType::MeticulousKeyedSha1, &[(1, b"k")], 1);
        assert_eq!(
            deliver(&mut tx, &mut rx),
            Err(AuthError::WrongType { expected: AuthType::MeticulousKeyedSha1, received: AuthType::KeyedSha1 })
        );
    }

    #[test]
    fn rfc5880_6_7_4_sha1_hash_and_key_id() {
        let mut tx = state(AuthType::KeyedSha1, &[(7, b"twenty-byte-key-1234")], 7);
        let mut rx = state(AuthType::KeyedSha1, &[(7, b"twenty-byte-key-1234")], 7);
        assert_eq!(deliver(&mut tx, &mut rx), Ok(()));
        let mut wrong = state(AuthType::KeyedSha1, &[(7, b"twenty-byte-key-1235")], 7);
        assert_eq!(deliver(&mut tx, &mut wrong), Err(AuthError::WrongHash(7)));
        let mut other_id = state(AuthType::KeyedSha1, &[(8, b"twenty-byte-key-1234")], 8);
        assert_eq!(deliver(&mut tx, &mut other_id), Err(AuthError::UnknownKeyId(7)));
    }

    /// §6.7.4: the secret "MUST NOT be carried in the packet".
    #[test]
    fn rfc5880_6_7_4_key_not_carried() {
        let mut tx = state(AuthType::MeticulousKeyedSha1, &[(1, b"0123456789")], 1);
        let bytes = tx.seal(&mut packet(), false);
        assert!(!bytes.windows(10).any(|w| w == b"0123456789"));
    }

    #[test]
    fn rfc5880_6_7_4_any_flipped_bit_fails_the_hash() {
        let mut tx = state(AuthType::KeyedSha1, &[(1, b"k")], 1);
        let bytes = tx.seal(&mut packet(), false);
        for i in [0usize, 5, 12, 20, 31, 40] {
            let mut rx = state(AuthType::KeyedSha1, &[(1, b"k")], 1);
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            if let Ok(p) = ControlPacket::decode(&b) {
                assert!(check(Some(&mut rx), &p, &b).is_err(), "byte {i}");
            }
        }
    }

    #[test]
    fn rfc5880_6_7_4_meticulous_increments_every_packet_and_refuses_replay() {
        let mut tx = state(AuthType::MeticulousKeyedSha1, &[(1, b"k")], 1);
        let mut rx = state(AuthType::MeticulousKeyedSha1, &[(1, b"k")], 1);
        let first = tx.seal(&mut packet(), false);
        let second = tx.seal(&mut packet(), false);
        let decode = |b: &[u8]| ControlPacket::decode(b).unwrap();
        assert_eq!(check(Some(&mut rx), &decode(&first), &first), Ok(()));
        assert_eq!(check(Some(&mut rx), &decode(&second), &second), Ok(()));
        // Replaying either: "outside of the range of bfd.RcvAuthSeq+1 to ..."
        assert_eq!(
            check(Some(&mut rx), &decode(&second), &second),
            Err(AuthError::Sequence { received: 1001, last: 1001 })
        );
        assert!(check(Some(&mut rx), &decode(&first), &first).is_err());
    }

    #[test]
    fn rfc5880_6_7_4_keyed_accepts_same_sequence_and_window_of_3_detect_mult() {
        let mut tx = state(AuthType::KeyedSha1, &[(1, b"k")], 1);
        let mut rx = state(AuthType::KeyedSha1, &[(1, b"k")], 1);
        assert_eq!(deliver(&mut tx, &mut rx), Ok(()));
        // Keyed SHA1 "greater than or equal": the same number again is fine.
        assert_eq!(deliver(&mut tx, &mut rx), Ok(()));
        // Jump by 3 * Detect Mult (9) is the edge of the window; 10 is outside.
        tx.xmit_auth_seq = tx.xmit_auth_seq.wrapping_add(9);
        assert_eq!(deliver(&mut tx, &mut rx), Ok(()));
        tx.xmit_auth_seq = tx.xmit_auth_seq.wrapping_add(10);
        assert!(matches!(deliver(&mut tx, &mut rx), Err(AuthError::Sequence { .. })));
        // After bfd.AuthSeqKnown = 0 any number resynchronizes.
        rx.forget_sequence();
        assert_eq!(deliver(&mut tx, &mut rx), Ok(()));
    }

    #[test]
    fn rfc5880_6_7_4_sequence_window_wraps() {
        let mut tx = state(AuthType::MeticulousKeyedSha1, &[(1, b"k")], 1);
        tx.xmit_auth_seq = u32::MAX - 1;
        let mut rx = state(AuthType::MeticulousKeyedSha1, &[(1, b"k")], 1);
        for _ in 0..4 {
            assert_eq!(deliver(&mut tx, &mut rx), Ok(()));
        }
        assert_eq!(rx.rcv_auth_seq, 1);
    }

    /// A forged packet with a valid-looking sequence number but a wrong hash must not move the
    /// window (otherwise it could push the real sender's numbers out of it).
    #[test]
    fn failed_hash_leaves_sequence_alone() {
        let mut rx = state(AuthType::MeticulousKeyedSha1, &[(1, b"k")], 1);
        let mut forger = state(AuthType::MeticulousKeyedSha1, &[(1, b"guess")], 1);
        assert_eq!(deliver(&mut forger, &mut rx), Err(AuthError::WrongHash(1)));
        assert!(!rx.sequence_known());
    }

    #[test]
    fn config_checks() {
        let new = |auth_type, secret: &[u8], id| {
            AuthState::new(
                Authentication { auth_type, keys: vec![Key { id: 1, secret: secret.to_vec() }], transmit_key_id: id },
                0,
            )
        };
        assert_eq!(new(AuthType::KeyedMd5, b"k", 1), Err(AuthConfigError::UnsupportedType(AuthType::KeyedMd5)));
        assert!(matches!(new(AuthType::SimplePassword, &[b'x'; 17], 1), Err(AuthConfigError::KeyLength { .. })));
        assert!(matches!(new(AuthType::KeyedSha1, &[b'x'; 21], 1), Err(AuthConfigError::KeyLength { .. })));
        assert!(matches!(new(AuthType::KeyedSha1, b"", 1), Err(AuthConfigError::KeyLength { .. })));
        assert_eq!(new(AuthType::KeyedSha1, b"k", 2), Err(AuthConfigError::TransmitKeyMissing(2)));
        assert!(!format!("{:?}", new(AuthType::KeyedSha1, b"hunter2", 1)).contains("hunter2"));
    }
}
