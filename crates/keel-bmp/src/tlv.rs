//! Information TLVs (RFC 7854 §4.4): a 2-octet type, a 2-octet length, then the value. The
//! Initiation, Termination, Peer Up and (RFC 9069 §5.3) Peer Down messages carry them, each
//! from its own IANA registry of types: since RFC 9736 the Peer Up's no longer shares the
//! Initiation's.
//!
//! [`PeerInformation`] is what a Peer Up (and a Loc-RIB Peer Down) can carry; the Initiation
//! and Termination TLVs are fields of those messages' structs.

use crate::error::EncodeError;

/// Initiation Information TLV types (RFC 7854 §4.4).
pub mod initiation {
    /// A free-form UTF-8 string; may appear several times.
    pub const STRING: u16 = 0;
    /// The sysDescr of MIB-II (RFC 1213).
    pub const SYS_DESCR: u16 = 1;
    /// The sysName of MIB-II (RFC 1213).
    pub const SYS_NAME: u16 = 2;
}

/// Termination Message TLV types (RFC 7854 §4.5).
pub mod termination {
    /// A free-form UTF-8 string.
    pub const STRING: u16 = 0;
    /// A 2-octet reason code.
    pub const REASON: u16 = 1;
}

/// Peer Up Information TLV types (the registry RFC 9736 created).
pub mod peer_up {
    /// A free-form UTF-8 string (RFC 7854 §4.10).
    pub const STRING: u16 = 0;
    /// VRF/Table Name (RFC 9069 §5.2.1), also carried by a Loc-RIB Peer Down (§5.3).
    pub const VRF_TABLE_NAME: u16 = 3;
    /// Admin Label (RFC 8671).
    pub const ADMIN_LABEL: u16 = 4;
}

/// An Information TLV of a Peer Up Notification, or of a reason-6 Peer Down (RFC 9069 §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerInformation<'a> {
    /// Type 0: free-form UTF-8.
    String(&'a str),
    /// Type 3 (RFC 9069 §5.2.1): "a UTF-8 string whose value MUST be equal to the value of the
    /// VRF or table name (e.g., RD instance name) being conveyed. The string size MUST be
    /// within the range of 1 to 255 bytes." "The default value of "global" MUST be used for
    /// the default Loc-RIB instance with a zero-filled distinguisher."
    VrfTableName(&'a str),
    /// Type 4 (RFC 8671): an administratively assigned free-form UTF-8 label; several may
    /// be sent and their order is kept.
    AdminLabel(&'a str),
    /// Any other type (e.g. the experimental 65531-65534), value as given.
    Other { tlv_type: u16, value: &'a [u8] },
}

impl PeerInformation<'_> {
    /// The table name of the default Loc-RIB instance (RFC 9069 §5.2.1).
    pub const GLOBAL_TABLE_NAME: &'static str = "global";

    pub fn tlv_type(&self) -> u16 {
        match self {
            PeerInformation::String(_) => peer_up::STRING,
            PeerInformation::VrfTableName(_) => peer_up::VRF_TABLE_NAME,
            PeerInformation::AdminLabel(_) => peer_up::ADMIN_LABEL,
            PeerInformation::Other { tlv_type, .. } => *tlv_type,
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let value = match self {
            PeerInformation::String(s) | PeerInformation::AdminLabel(s) => s.as_bytes(),
            PeerInformation::VrfTableName(s) => {
                if !(1..=255).contains(&s.len()) {
                    return Err(EncodeError::TableNameLength { len: s.len() });
                }
                s.as_bytes()
            }
            PeerInformation::Other { value, .. } => value,
        };
        put(out, self.tlv_type(), value)
    }
}

/// Appends one TLV.
pub(crate) fn put(out: &mut Vec<u8>, tlv_type: u16, value: &[u8]) -> Result<(), EncodeError> {
    let len = u16::try_from(value.len()).map_err(|_| EncodeError::TooLong {
        what: "Information TLV value",
        len: value.len(),
        limit: u16::MAX as usize,
    })?;
    out.extend_from_slice(&tlv_type.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}
