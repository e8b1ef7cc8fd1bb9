//! Peer Up Notification (RFC 7854 §4.10), including the Loc-RIB instance's (RFC 9069 §5.2).
//!
//! ```text
//! per-peer header | Local Address (16) | Local Port (2) | Remote Port (2)
//! | Sent OPEN Message | Received OPEN Message | Information TLVs (optional)
//! ```
//!
//! Both OPENs are whole BGP messages as they went over the wire, which is how a collector learns
//! what the session negotiated (4-octet AS, Add-Path) and so how to read the Route Monitoring
//! messages that follow. A Loc-RIB instance has no session: RFC 9069 §5.2 zero-fills the
//! address and ports and sends "a fabricated BGP OPEN message" whose capabilities "MUST include
//! the 4-octet ASN and all necessary capabilities to represent the Loc-RIB route monitoring
//! messages", repeated as the received OPEN ("The duplication allows the BMP receiver to use
//! existing parsing"). [`PeerUp::loc_rib`] builds that shape.

use crate::error::EncodeError;
use crate::header::{self, MessageType, PeerHeader, PeerType};
use crate::pdu;
use crate::tlv::PeerInformation;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerUp<'a> {
    pub peer: PeerHeader,
    /// "The local IP address associated with the peering TCP session", of the peer address's
    /// family (the V flag says how to read both). `None` is zero-filled, as for a Loc-RIB
    /// instance.
    pub local_address: Option<IpAddr>,
    /// The local TCP port, "or 0 if no TCP session actually exists".
    pub local_port: u16,
    /// The remote TCP port, likewise.
    pub remote_port: u16,
    /// "The full OPEN message transmitted by the monitored router to its peer", header included.
    pub sent_open: &'a [u8],
    /// "The full OPEN message received by the monitored router from its peer".
    pub received_open: &'a [u8],
    /// Optional Information TLVs.
    pub information: Vec<PeerInformation<'a>>,
}

impl<'a> PeerUp<'a> {
    /// The Peer Up of a Loc-RIB instance (RFC 9069 §5.2): no address or ports, `open` as both
    /// the sent and the received OPEN, and the VRF/Table Name TLV (§5.2.1: "If a name is
    /// configured, it MUST be included"; [`PeerInformation::GLOBAL_TABLE_NAME`] for the
    /// default instance).
    pub fn loc_rib(peer: PeerHeader, open: &'a [u8], table_name: &'a str) -> PeerUp<'a> {
        PeerUp {
            peer,
            local_address: None,
            local_port: 0,
            remote_port: 0,
            sent_open: open,
            received_open: open,
            information: vec![PeerInformation::VrfTableName(table_name)],
        }
    }

    /// Appends the whole message.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        pdu::check(self.sent_open, keel_wire::MessageType::Open)?;
        pdu::check(self.received_open, keel_wire::MessageType::Open)?;
        let local = self.local_address.map(|a| a.to_canonical());
        match (self.peer.peer_type, local) {
            (PeerType::Global { address, .. }, Some(local)) if local.is_ipv6() != self.peer.is_ipv6() => {
                return Err(EncodeError::LocalAddressFamily { peer: address, local });
            }
            (PeerType::LocRib { .. }, Some(local)) => return Err(EncodeError::LocRibLocalAddress(local)),
            _ => {}
        }
        header::message(out, MessageType::PeerUpNotification, |out| {
            self.peer.encode(out);
            header::put_address(out, local);
            out.extend_from_slice(&self.local_port.to_be_bytes());
            out.extend_from_slice(&self.remote_port.to_be_bytes());
            out.extend_from_slice(self.sent_open);
            out.extend_from_slice(self.received_open);
            self.information.iter().try_for_each(|i| i.encode(out))
        })
    }
}
