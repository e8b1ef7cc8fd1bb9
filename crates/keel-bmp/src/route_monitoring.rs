//! Route Monitoring (RFC 7854 §4.6): the per-peer header and one BGP UPDATE PDU, whole.
//!
//! RFC 7854 §4.6: "Following the common BMP header and per-peer header is a BGP Update PDU."
//! The peer header says which view the UPDATE belongs to (a peer's pre- or post-policy
//! Adj-RIB-In or Adj-RIB-Out, or the Loc-RIB) and how to read it: its AS_PATH has 4-octet AS
//! numbers unless the A flag is set, and Add-Path identifiers are present as the Peer Up's
//! OPENs negotiated (RFC 9069 §5.4.1: Loc-RIB messages "MUST use a 4-byte ASN encoding").
//!
//! After a view's initial dump keel sends an End-of-RIB marker (RFC 4724 §2) per family in a
//! Route Monitoring message ([`RouteMonitoring::encode_end_of_rib`]), so a collector knows
//! the dump is complete.

use crate::error::EncodeError;
use crate::header::{self, MessageType, PeerHeader};
use crate::pdu;
use keel_wire::{CodecOptions, Family, Update};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteMonitoring<'a> {
    pub peer: PeerHeader,
    /// One whole BGP UPDATE message, header included, as keel-wire encodes it.
    pub update: &'a [u8],
}

impl<'a> RouteMonitoring<'a> {
    pub fn new(peer: PeerHeader, update: &'a [u8]) -> RouteMonitoring<'a> {
        RouteMonitoring { peer, update }
    }

    /// Appends the whole message.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        pdu::check(self.update, keel_wire::MessageType::Update)?;
        out.reserve(header::COMMON_HEADER_LEN + header::PEER_HEADER_LEN + self.update.len());
        header::message(out, MessageType::RouteMonitoring, |out| {
            self.peer.encode(out);
            out.extend_from_slice(self.update);
            Ok(())
        })
    }

    /// Appends a Route Monitoring message holding the End-of-RIB marker of `family` (RFC 4724
    /// §2: an empty UPDATE for IPv4 unicast, else one with only an empty MP_UNREACH_NLRI).
    pub fn encode_end_of_rib(peer: PeerHeader, family: Family, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        RouteMonitoring::new(peer, &end_of_rib_update(family)?).encode(out)
    }
}

/// The End-of-RIB UPDATE of `family`, built by keel-wire. It holds no AS_PATH and no NLRI, so
/// it reads the same on every session whatever the AS size or Add-Path.
pub fn end_of_rib_update(family: Family) -> Result<Vec<u8>, EncodeError> {
    Ok(Update::end_of_rib(family).encode(&CodecOptions::default())?)
}
