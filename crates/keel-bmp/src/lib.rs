//! keel-bmp: BGP Monitoring Protocol (BMP) messages and their byte encoding, for keel to stream
//! its sessions and RIBs to the collectors operators run (pmacct, OpenBMP, GoBMP).
//!
//! keel is a monitored router, so this crate only encodes, and (in [`station`] alone) runs the
//! client that streams to a station. The encoder modules are pure: no sockets, no clock, no
//! tasks. Each message is a plain struct whose `encode(&self, out: &mut Vec<u8>)` appends one
//! whole BMP message (common header included) to `out`; times are given as [`Timestamp`]s. The
//! BGP PDUs that BMP carries (OPENs, UPDATEs, NOTIFICATIONs) are passed in as the bytes
//! keel-wire encoded, borrowed, and checked to be one whole BGP message of the right type before
//! they are copied. A message that cannot be encoded (a value too long for its length field, a
//! malformed PDU, an RFC MUST the input breaks) is an [`EncodeError`], and `out` is left as it
//! was: nothing here panics on its input.
//!
//! | RFC | where |
//! |---|---|
//! | 7854 §4.1 common header, §4.2 per-peer header | [`header`] |
//! | 7854 §4.3 Initiation, §4.4 Information TLVs | [`initiation`], [`tlv`] |
//! | 7854 §4.5 Termination | [`termination`] |
//! | 7854 §4.6 Route Monitoring (with an RFC 4724 End-of-RIB helper) | [`route_monitoring`] |
//! | 7854 §4.8 Statistics Report; stat types of RFC 8671 and RFC 9972 | [`stats`] |
//! | 7854 §4.9 Peer Down Notification | [`peer_down`] |
//! | 7854 §4.10 Peer Up Notification | [`peer_up`] |
//! | 8671 Adj-RIB-Out: O flag, Admin Label TLV, stat types 14-17 | [`header::AdjRib`], [`tlv::PeerInformation`], [`stats`] |
//! | 9069 Loc-RIB: peer type 3, F flag, VRF/Table Name TLV, Peer Down reason 6 | [`header::PeerType::LocRib`], [`peer_up::PeerUp::loc_rib`], [`peer_down::PeerDown::loc_rib`] |
//! | 9736 Peer Up TLV namespace | [`tlv`] |
//! | 7854 §3.2 the router's side of a session (connect, dump, changes, Termination), bounded per station | [`station`] (tokio) |
//!
//! Route Mirroring (RFC 7854 §4.7) is not implemented: keel has nothing to mirror.

pub mod error;
pub mod header;
pub mod initiation;
mod pdu;
pub mod peer_down;
pub mod peer_up;
pub mod route_monitoring;
pub mod station;
pub mod stats;
pub mod termination;
pub mod tlv;

pub use error::EncodeError;
pub use header::{AdjRib, MessageType, PeerHeader, PeerType, Timestamp};
pub use initiation::Initiation;
pub use peer_down::{PeerDown, PeerDownReason};
pub use peer_up::PeerUp;
pub use route_monitoring::RouteMonitoring;
pub use stats::{Stat, StatisticsReport};
pub use termination::{Termination, TerminationReason};
pub use tlv::PeerInformation;

/// Any message keel sends to a BMP station.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Message<'a> {
    Initiation(Initiation<'a>),
    Termination(Termination<'a>),
    PeerUp(PeerUp<'a>),
    PeerDown(PeerDown<'a>),
    RouteMonitoring(RouteMonitoring<'a>),
    StatisticsReport(StatisticsReport),
}

impl Message<'_> {
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Initiation(_) => MessageType::Initiation,
            Message::Termination(_) => MessageType::Termination,
            Message::PeerUp(_) => MessageType::PeerUpNotification,
            Message::PeerDown(_) => MessageType::PeerDownNotification,
            Message::RouteMonitoring(_) => MessageType::RouteMonitoring,
            Message::StatisticsReport(_) => MessageType::StatisticsReport,
        }
    }

    /// Appends the whole message to `out`; on error `out` is unchanged.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Message::Initiation(m) => m.encode(out),
            Message::Termination(m) => m.encode(out),
            Message::PeerUp(m) => m.encode(out),
            Message::PeerDown(m) => m.encode(out),
            Message::RouteMonitoring(m) => m.encode(out),
            Message::StatisticsReport(m) => m.encode(out),
        }
    }
}
