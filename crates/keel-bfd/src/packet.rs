//! The BFD Control packet of RFC 5880 §4.1 with its Authentication Section (§4.2-§4.4), and the
//! reception checks of §6.8.6 that need nothing but the packet itself.
//!
//! [`ControlPacket::decode`] checks, in the order of §6.8.6: version, Length against the A bit,
//! Length against the bytes received, Detect Mult, the M bit, My Discriminator, and a zero Your
//! Discriminator with a state other than Down or AdminDown; then that the Authentication Section
//! fills Length exactly and has the length its type says. Each failed check is one [`PacketError`] variant. The
//! checks that need a session (which session Your Discriminator names, whether authentication is
//! in use, the key and sequence number) are in [`crate::session`] and [`crate::auth`].
//!
//! Following §6 ("misguided pedantry has been proven by experience to affect interoperability
//! adversely"), nothing else is rejected: unassigned diagnostic codes are kept as
//! [`Diagnostic::Unassigned`], the P and F bits both set, a zero Desired Min TX Interval and bytes
//! after Length are not decode errors.

use thiserror::Error;

/// The version this crate speaks (RFC 5880 §4.1).
pub const VERSION: u8 = 1;
/// Length of the Mandatory Section (RFC 5880 §4.1).
pub const MANDATORY_LEN: usize = 24;

/// Length of a Keyed MD5 / Meticulous Keyed MD5 Authentication Section (RFC 5880 §4.3).
pub const MD5_AUTH_LEN: u8 = 24;
/// Length of a Keyed SHA1 / Meticulous Keyed SHA1 Authentication Section (RFC 5880 §4.4).
pub const SHA1_AUTH_LEN: u8 = 28;

const POLL: u8 = 0x20;
const FINAL: u8 = 0x10;
const CONTROL_PLANE_INDEPENDENT: u8 = 0x08;
const AUTHENTICATION_PRESENT: u8 = 0x04;
const DEMAND: u8 = 0x02;
const MULTIPOINT: u8 = 0x01;

/// Session state as carried in the State (Sta) field and kept in bfd.SessionState (RFC 5880 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    AdminDown = 0,
    Down = 1,
    Init = 2,
    Up = 3,
}

impl State {
    fn from_bits(bits: u8) -> State {
        match bits & 0x3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }
}

/// The Diagnostic (Diag) field: the local system's reason for the last change in session state
/// (RFC 5880 §4.1; registry in §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Diagnostic {
    NoDiagnostic,
    ControlDetectionTimeExpired,
    EchoFunctionFailed,
    NeighborSignaledSessionDown,
    ForwardingPlaneReset,
    PathDown,
    ConcatenatedPathDown,
    AdministrativelyDown,
    ReverseConcatenatedPathDown,
    /// 9-31: unassigned; kept so that a newer peer's code is shown, not refused.
    Unassigned(u8),
}

impl Diagnostic {
    pub fn code(self) -> u8 {
        match self {
            Diagnostic::NoDiagnostic => 0,
            Diagnostic::ControlDetectionTimeExpired => 1,
            Diagnostic::EchoFunctionFailed => 2,
            Diagnostic::NeighborSignaledSessionDown => 3,
            Diagnostic::ForwardingPlaneReset => 4,
            Diagnostic::PathDown => 5,
            Diagnostic::ConcatenatedPathDown => 6,
            Diagnostic::AdministrativelyDown => 7,
            Diagnostic::ReverseConcatenatedPathDown => 8,
            Diagnostic::Unassigned(code) => code & 0x1f,
        }
    }

    /// The diagnostic for a 5-bit code (higher bits are ignored).
    pub fn from_code(code: u8) -> Diagnostic {
        match code & 0x1f {
            0 => Diagnostic::NoDiagnostic,
            1 => Diagnostic::ControlDetectionTimeExpired,
            2 => Diagnostic::EchoFunctionFailed,
            3 => Diagnostic::NeighborSignaledSessionDown,
            4 => Diagnostic::ForwardingPlaneReset,
            5 => Diagnostic::PathDown,
            6 => Diagnostic::ConcatenatedPathDown,
            7 => Diagnostic::AdministrativelyDown,
            8 => Diagnostic::ReverseConcatenatedPathDown,
            other => Diagnostic::Unassigned(other),
        }
    }
}

/// The Auth Type field (RFC 5880 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    SimplePassword = 1,
    KeyedMd5 = 2,
    MeticulousKeyedMd5 = 3,
    KeyedSha1 = 4,
    MeticulousKeyedSha1 = 5,
}

impl AuthType {
    pub fn from_code(code: u8) -> Option<AuthType> {
        Some(match code {
            1 => AuthType::SimplePassword,
            2 => AuthType::KeyedMd5,
            3 => AuthType::MeticulousKeyedMd5,
            4 => AuthType::KeyedSha1,
            5 => AuthType::MeticulousKeyedSha1,
            _ => return None,
        })
    }

    /// The Auth Len a section of this type must have, `None` for Simple Password (3 + password).
    pub fn fixed_len(self) -> Option<u8> {
        match self {
            AuthType::SimplePassword => None,
            AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => Some(MD5_AUTH_LEN),
            AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => Some(SHA1_AUTH_LEN),
        }
    }

    /// Meticulous types increment the sequence number on every packet (RFC 5880 §6.7.3, §6.7.4).
    pub fn is_meticulous(self) -> bool {
        matches!(self, AuthType::MeticulousKeyedMd5 | AuthType::MeticulousKeyedSha1)
    }
}

/// The Authentication Section (RFC 5880 §4.2-§4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSection {
    /// RFC 5880 §4.2: Auth Len is the password length plus three.
    SimplePassword { key_id: u8, password: Vec<u8> },
    /// RFC 5880 §4.3 and §4.4: Auth Key ID, a reserved byte (zero on transmit, ignored on
    /// receipt), the Sequence Number and a 16-byte (MD5) or 20-byte (SHA1) digest.
    Keyed { auth_type: AuthType, key_id: u8, sequence: u32, digest: Vec<u8> },
}

impl AuthSection {
    pub fn auth_type(&self) -> AuthType {
        match self {
            AuthSection::SimplePassword { .. } => AuthType::SimplePassword,
            AuthSection::Keyed { auth_type, .. } => *auth_type,
        }
    }

    pub fn key_id(&self) -> u8 {
        match self {
            AuthSection::SimplePassword { key_id, .. } | AuthSection::Keyed { key_id, .. } => *key_id,
        }
    }

    /// Auth Len as encoded: Auth Type, Auth Len and the type's fields.
    pub fn len(&self) -> usize {
        match self {
            AuthSection::SimplePassword { password, .. } => 3 + password.len(),
            AuthSection::Keyed { digest, .. } => 8 + digest.len(),
        }
    }

    /// Never true: a section always has its Auth Type and Auth Len.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// A BFD Control packet (RFC 5880 §4.1). Intervals are in microseconds, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPacket {
    pub diagnostic: Diagnostic,
    pub state: State,
    /// P: the sender asks for a packet with F in reply (§6.5).
    pub poll: bool,
    /// F: the sender answers a packet that had P (§6.5).
    pub final_: bool,
    /// C: the sender's BFD does not share fate with its control plane (RFC 5882 §4.3).
    pub control_plane_independent: bool,
    /// D: Demand mode is active in the sender (§6.6).
    pub demand: bool,
    pub detect_mult: u8,
    pub my_discriminator: u32,
    pub your_discriminator: u32,
    /// Desired Min TX Interval, microseconds.
    pub desired_min_tx: u32,
    /// Required Min RX Interval, microseconds.
    pub required_min_rx: u32,
    /// Required Min Echo RX Interval, microseconds.
    pub required_min_echo_rx: u32,
    /// Present exactly when the A bit is set.
    pub auth: Option<AuthSection>,
}

/// Why [`ControlPacket::decode`] refused a packet: each variant is one check of RFC 5880 §6.8.6
/// (or, for the authentication ones, of §4.2-§4.4).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PacketError {
    #[error("packet of {0} bytes is shorter than the 24-byte Mandatory Section (RFC 5880 §4.1)")]
    Truncated(usize),
    #[error("version {0}, not 1 (RFC 5880 §6.8.6)")]
    Version(u8),
    #[error("Length {length} is below the minimum {minimum} for the A bit (RFC 5880 §6.8.6)")]
    LengthTooSmall { length: u8, minimum: u8 },
    #[error("Length {length} is greater than the {payload} bytes received (RFC 5880 §6.8.6)")]
    LengthExceedsPayload { length: u8, payload: usize },
    #[error("Detect Mult is zero (RFC 5880 §6.8.6)")]
    DetectMultZero,
    #[error("Multipoint (M) bit is set (RFC 5880 §6.8.6)")]
    Multipoint,
    #[error("My Discriminator is zero (RFC 5880 §6.8.6)")]
    MyDiscriminatorZero,
    #[error("Your Discriminator is zero but State is {0:?}, not Down or AdminDown (RFC 5880 §6.8.6)")]
    YourDiscriminatorZero(State),
    #[error(
        "Auth Len {auth_len} is not the {available} bytes Length leaves after the Mandatory Section (RFC 5880 §4.1)"
    )]
    AuthLenMismatch { auth_len: u8, available: usize },
    #[error("Auth Type {0} is reserved or unassigned (RFC 5880 §4.1)")]
    UnknownAuthType(u8),
    #[error("Auth Len {auth_len} is wrong for {auth_type:?} (RFC 5880 §4.2-§4.4)")]
    AuthLength { auth_type: AuthType, auth_len: u8 },
}

impl ControlPacket {
    /// Decodes and checks the packet in `bytes` (the whole UDP payload). Bytes after the Length
    /// field's count are ignored. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<ControlPacket, PacketError> {
        if bytes.len() < MANDATORY_LEN {
            return Err(PacketError::Truncated(bytes.len()));
        }
        let version = bytes[0] >> 5;
        if version != VERSION {
            return Err(PacketError::Version(version));
        }
        let flags = bytes[1];
        let auth_present = flags & AUTHENTICATION_PRESENT != 0;
        let length = bytes[3];
        let minimum = if auth_present { 26 } else { 24 };
        if length < minimum {
            return Err(PacketError::LengthTooSmall { length, minimum });
        }
        if usize::from(length) > bytes.len() {
            return Err(PacketError::LengthExceedsPayload { length, payload: bytes.len() });
        }
        let detect_mult = bytes[2];
        if detect_mult == 0 {
            return Err(PacketError::DetectMultZero);
        }
        if flags & MULTIPOINT != 0 {
            return Err(PacketError::Multipoint);
        }
        let word = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let my_discriminator = word(4);
        if my_discriminator == 0 {
            return Err(PacketError::MyDiscriminatorZero);
        }
        let state = State::from_bits(flags >> 6);
        let your_discriminator = word(8);
        if your_discriminator == 0 && !matches!(state, State::Down | State::AdminDown) {
            return Err(PacketError::YourDiscriminatorZero(state));
        }
        let auth = if auth_present { Some(decode_auth(&bytes[MANDATORY_LEN..usize::from(length)])?) } else { None };
        Ok(ControlPacket {
            diagnostic: Diagnostic::from_code(bytes[0]),
            state,
            poll: flags & POLL != 0,
            final_: flags & FINAL != 0,
            control_plane_independent: flags & CONTROL_PLANE_INDEPENDENT != 0,
            demand: flags & DEMAND != 0,
            detect_mult,
            my_discriminator,
            your_discriminator,
            desired_min_tx: word(12),
            required_min_rx: word(16),
            required_min_echo_rx: word(20),
            auth,
        })
    }

    /// The encoded length: 24 plus the Authentication Section.
    pub fn len(&self) -> usize {
        MANDATORY_LEN + self.auth.as_ref().map_or(0, AuthSection::len)
    }

    /// Never true: a packet always has its Mandatory Section.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Encodes the packet as RFC 5880 §6.8.7 says to fill it: version 1, A set exactly when an
    /// Authentication Section is present, M clear, Length from the content. A keyed section is
    /// written as given; [`crate::auth`] writes the key, hashes, and replaces it with the digest.
    ///
    /// A simple password longer than 252 bytes would not fit the one-byte Auth Len; the session
    /// never builds one (passwords are 1-16 bytes, RFC 5880 §4.2), and Length saturates.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        out.push((VERSION << 5) | self.diagnostic.code());
        let mut flags = (self.state as u8) << 6;
        for (set, bit) in [
            (self.poll, POLL),
            (self.final_, FINAL),
            (self.control_plane_independent, CONTROL_PLANE_INDEPENDENT),
            (self.auth.is_some(), AUTHENTICATION_PRESENT),
            (self.demand, DEMAND),
        ] {
            if set {
                flags |= bit;
            }
        }
        out.push(flags);
        out.push(self.detect_mult);
        out.push(u8::try_from(self.len()).unwrap_or(u8::MAX));
        for word in [
            self.my_discriminator,
            self.your_discriminator,
            self.desired_min_tx,
            self.required_min_rx,
            self.required_min_echo_rx,
        ] {
            out.extend_from_slice(&word.to_be_bytes());
        }
        match &self.auth {
            None => {}
            Some(section @ AuthSection::SimplePassword { key_id, password }) => {
                out.push(AuthType::SimplePassword as u8);
                out.push(u8::try_from(section.len()).unwrap_or(u8::MAX));
                out.push(*key_id);
                out.extend_from_slice(password);
            }
            Some(section @ AuthSection::Keyed { auth_type, key_id, sequence, digest }) => {
                out.push(*auth_type as u8);
                out.push(u8::try_from(section.len()).unwrap_or(u8::MAX));
                out.push(*key_id);
                out.push(0); // Reserved: "MUST be set to zero on transmit" (§4.3, §4.4)
                out.extend_from_slice(&sequence.to_be_bytes());
                out.extend_from_slice(digest);
            }
        }
        out
    }
}

/// The Authentication Section in `section` (bytes 24..Length of the packet).
fn decode_auth(section: &[u8]) -> Result<AuthSection, PacketError> {
    // decode() checked Length >= 26 before calling, so both header bytes are there.
    let (code, auth_len) = (section[0], section[1]);
    // Length counts the Mandatory Section plus the Authentication Section (§4.1), and the hash of
    // §6.7.4 covers exactly those bytes.
    if usize::from(auth_len) != section.len() {
        return Err(PacketError::AuthLenMismatch { auth_len, available: section.len() });
    }
    let auth_type = AuthType::from_code(code).ok_or(PacketError::UnknownAuthType(code))?;
    let wrong_len = PacketError::AuthLength { auth_type, auth_len };
    match auth_type.fixed_len() {
        // §4.2: "the password ... MUST be from 1 to 16 bytes in length", so Auth Len is 4 to 19.
        None if (4..=19).contains(&auth_len) => {
            Ok(AuthSection::SimplePassword { key_id: section[2], password: section[3..usize::from(auth_len)].to_vec() })
        }
        Some(fixed) if auth_len == fixed => Ok(AuthSection::Keyed {
            auth_type,
            key_id: section[2],
            sequence: u32::from_be_bytes([section[4], section[5], section[6], section[7]]),
            digest: section[8..usize::from(auth_len)].to_vec(),
        }),
        _ => Err(wrong_len),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid packet without authentication: Up, discriminators 1 and 2, 300 ms / 300 ms / 0.
    fn up() -> Vec<u8> {
        ControlPacket {
            diagnostic: Diagnostic::NoDiagnostic,
            state: State::Up,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 1,
            your_discriminator: 2,
            desired_min_tx: 300_000,
            required_min_rx: 300_000,
            required_min_echo_rx: 0,
            auth: None,
        }
        .encode()
    }

    #[test]
    fn rfc5880_6_8_6_version_must_be_1() {
        let mut b = up();
        b[0] = (2 << 5) | (b[0] & 0x1f);
        assert_eq!(ControlPacket::decode(&b), Err(PacketError::Version(2)));
    }

    #[test]
    fn rfc5880_6_8_6_length_below_24_without_a_bit() {
        let mut b = up();
        b[3] = 23;
        assert_eq!(ControlPacket::decode(&b), Err(PacketError::LengthTooSmall { length: 23, minimum: 24 }));
    }

    #[test]
    fn rfc5880_6_8_6_length_below_26_with_a_bit() {
        let mut b = up();
        b[1] |= AUTHENTICATION_PRESENT;
        b[3] = 24;
        assert_eq!(ControlPacket::decode(&b), Err(PacketError::LengthTooSmall { length: 24, minimum: 26 }));
    }

    #[test]
    fn rfc5880_6_8_6_length_greater_than_payload() {
        let mut b = up();
        b[3] = 25;
        assert_eq!(ControlPacket::decode(&b), Err(PacketError::LengthExceedsPayload { length: 25, payload: 24 }));
    }

    #[test]
    fn rfc5880_6_8_6_detect_mult_zero() {
        let mut b = up();
        b[2] = 0;
        assert_eq!(ControlPacket::decode(&b), Err(PacketError::DetectMultZero));
    }

    #[test]
    fn rfc5880_6_8_6_multipoint_bit() {
        let mut b = up();
        b[1] |= MULTIPOINT;
        assert_eq!(ControlPacket::decode(&b), Err(PacketError::Multipoint));
    }

    #[test]
    fn rfc5880_6_8_6_my_discriminator_zero() {
        let mut b = up();
        b[4..8].fill(0);
        assert_eq!(ControlPacket::decode(&b), Err(PacketError::MyDiscriminatorZero));
    }

    #[test]
    fn rfc5880_6_8_6_your_discriminator_zero_needs_down_or_admin_down() {
        for (state, ok) in [(State::AdminDown, true), (State::Down, true), (State::Init, false), (State::Up, false)] {
            let mut b = up();
            b[8..12].fill(0);
            b[1] = (b[1] & 0x3f) | ((state as u8) << 6);
            let got = ControlPacket::decode(&b);
            assert_eq!(got.is_ok(), ok, "{state:?}: {got:?}");
            if !ok {
                assert_eq!(got, Err(PacketError::YourDiscriminatorZero(state)));
            }
        }
    }

    /// The checks run in §6.8.6's order: a packet failing several reports the first.
    #[test]
    fn rfc5880_6_8_6_checks_in_order() {
        let mut b = up();
        b[2] = 0; // Detect Mult zero
        b[1] |= MULTIPOINT;
        b[4..8].fill(0);
        assert_eq!(ControlPacket::decode(&b), Err(PacketError::DetectMultZero));
        b[0] = 0; // version 0 comes first
        assert_eq!(ControlPacket::decode(&b), Err(PacketError::Version(0)));
    }

    #[test]
    fn truncated_below_mandatory_section() {
        for n in 0..24 {
            assert_eq!(ControlPacket::decode(&up()[..n]), Err(PacketError::Truncated(n)));
        }
    }

    /// §6: enforce only what §6.8.6 says. Bytes past Length (e.g. UDP padding), an unassigned
    /// diagnostic and a zero Desired Min TX are accepted.
    #[test]
    fn rfc5880_6_no_misguided_pedantry() {
        let mut b = up();
        b[0] = (1 << 5) | 31;
        b[12..16].fill(0);
        b.extend_from_slice(&[0xff; 8]);
        let p = ControlPacket::decode(&b).unwrap();
        assert_eq!(p.diagnostic, Diagnostic::Unassigned(31));
        assert_eq!(p.desired_min_tx, 0);
        assert_eq!(p.encode(), b[..24]);
    }

    #[test]
    fn rfc5880_4_2_simple_password_auth_len_4_to_19() {
        let mut packet = ControlPacket::decode(&up()).unwrap();
        for password_len in [1usize, 16] {
            packet.auth = Some(AuthSection::SimplePassword { key_id: 9, password: vec![b'x'; password_len] });
            let b = packet.encode();
            assert_eq!(b[25] as usize, password_len + 3);
            assert_eq!(ControlPacket::decode(&b).unwrap(), packet);
        }
        for password_len in [0usize, 17] {
            packet.auth = Some(AuthSection::SimplePassword { key_id: 9, password: vec![b'x'; password_len] });
            let auth_len = (password_len + 3) as u8;
            assert_eq!(
                ControlPacket::decode(&packet.encode()),
                Err(PacketError::AuthLength { auth_type: AuthType::SimplePassword, auth_len })
            );
        }
    }

    #[test]
    fn rfc5880_4_3_4_4_keyed_auth_len_is_fixed() {
        let mut packet = ControlPacket::decode(&up()).unwrap();
        for (auth_type, digest_len) in [(AuthType::KeyedMd5, 16), (AuthType::MeticulousKeyedSha1, 20)] {
            packet.auth =
                Some(AuthSection::Keyed { auth_type, key_id: 1, sequence: 7, digest: vec![0xab; digest_len] });
            assert_eq!(ControlPacket::decode(&packet.encode()).unwrap(), packet);
            packet.auth = Some(AuthSection::Keyed { auth_type, key_id: 1, sequence: 7, digest: vec![0xab; 4] });
            assert_eq!(
                ControlPacket::decode(&packet.encode()),
                Err(PacketError::AuthLength { auth_type, auth_len: 12 })
            );
        }
    }

    #[test]
    fn rfc5880_4_1_auth_len_must_match_length_and_type_must_be_known() {
        let mut b = up();
        b[1] |= AUTHENTICATION_PRESENT;
        b.extend_from_slice(&[1, 10, 1, b'a']); // Auth Len 10 but 4 bytes
        b[3] = 28;
        assert_eq!(ControlPacket::decode(&b), Err(PacketError::AuthLenMismatch { auth_len: 10, available: 4 }));
        b[24] = 6;
        b[25] = 4;
        assert_eq!(ControlPacket::decode(&b), Err(PacketError::UnknownAuthType(6)));
    }

    #[test]
    fn rfc5880_4_3_reserved_byte_ignored_on_receipt() {
        let mut packet = ControlPacket::decode(&up()).unwrap();
        packet.auth =
            Some(AuthSection::Keyed { auth_type: AuthType::KeyedSha1, key_id: 1, sequence: 1, digest: vec![0; 20] });
        let mut b = packet.encode();
        b[27] = 0x5a;
        assert_eq!(ControlPacket::decode(&b).unwrap(), packet);
    }
}
