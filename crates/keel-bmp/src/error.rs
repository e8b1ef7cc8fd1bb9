//! What can keep a BMP message from being encoded.
//!
//! Every length field in BMP has a fixed width (the common header's Message Length is 4 octets,
//! an Information TLV's or a statistic's length 2 octets), so a value too long for its field is
//! an error rather than a truncation: a collector reads the lengths to find the next message, and
//! a wrong one desynchronises the whole session. Embedded BGP PDUs are checked for the same
//! reason. An encoder that returns an error leaves the output buffer as it found it.

use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A value longer than the length field in front of it can say.
    #[error("{what} of {len} octets is longer than its {limit}-octet limit")]
    TooLong { what: &'static str, len: usize, limit: usize },

    /// RFC 9069 §5.2.1: "The string size MUST be within the range of 1 to 255 bytes."
    #[error("VRF/Table Name of {len} octets; RFC 9069 §5.2.1 allows 1 to 255")]
    TableNameLength { len: usize },

    /// An embedded PDU that is not one whole BGP message of the type the BMP message carries.
    #[error("embedded {expected} PDU: {why}")]
    BadPdu { expected: &'static str, why: String },

    /// RFC 7854 §4.10: the V flag of the per-peer header says how to read the Local Address too,
    /// so it must be of the peer address's family.
    #[error("local address {local} is not of the same family as peer address {peer}")]
    LocalAddressFamily { peer: IpAddr, local: IpAddr },

    /// RFC 9069 §5.2: a Loc-RIB instance's Peer Up has "Local Address: Zero-filled".
    #[error("a Loc-RIB instance peer has no local address (RFC 9069 §5.2), but {0} was given")]
    LocRibLocalAddress(IpAddr),

    /// RFC 9069 §5.3: "The Peer Down notification MUST use reason code 6."
    #[error("a Loc-RIB instance peer goes down with reason code 6 (RFC 9069 §5.3), not {reason}")]
    LocRibPeerDownReason { reason: u8 },

    /// keel-wire could not build the End-of-RIB UPDATE.
    #[error("End-of-RIB UPDATE: {0}")]
    Wire(#[from] keel_wire::EncodeError),
}
