//! Peer Down Notification (RFC 7854 §4.9), and the Loc-RIB instance's (RFC 9069 §5.3).
//!
//! ```text
//! per-peer header | Reason (1) | Data (a NOTIFICATION PDU for 1 and 3, an FSM event for 2,
//!                                      Information TLVs for 6, nothing for 4 and 5)
//! ```
//!
//! For graceful restart (RFC 4724) the reason is what happened to the session: a peer that
//! restarts usually just drops its TCP connection, which is reason 4; its routes stay in keel's
//! Loc-RIB as stale, and so stay in the monitored Loc-RIB, until its End-of-RIB or the timer.

use crate::error::EncodeError;
use crate::header::{self, MessageType, PeerHeader, PeerType};
use crate::pdu;
use crate::tlv::PeerInformation;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerDown<'a> {
    pub peer: PeerHeader,
    pub reason: PeerDownReason<'a>,
}

/// The Reason octet and its data (RFC 7854 §4.9, RFC 9069 §5.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PeerDownReason<'a> {
    /// 1: "The local system closed the session. Following the Reason is a BGP PDU containing a
    /// BGP NOTIFICATION message that would have been sent to the peer." The whole message,
    /// header included.
    LocalSystemClosedNotification(&'a [u8]),
    /// 2: "The local system closed the session. No notification message was sent. Following
    /// the reason code is a 2-byte field containing the code corresponding to the Finite State
    /// Machine (FSM) Event that caused the system to close the session (see Section 8.1 of
    /// \[RFC4271\]). Two bytes both set to 0 are used to indicate that no relevant Event code is
    /// defined."
    LocalSystemClosedFsmEvent(u16),
    /// 3: "The remote system closed the session with a notification message. Following the
    /// Reason is a BGP PDU containing the BGP NOTIFICATION message as received from the peer."
    RemoteSystemClosedNotification(&'a [u8]),
    /// 4: "The remote system closed the session without a notification message. This includes
    /// any unexpected termination of the transport session".
    RemoteSystemClosedNoData,
    /// 5: "Information for this peer will no longer be sent to the monitoring station for
    /// configuration reasons."
    PeerDeconfigured,
    /// 6 (RFC 9069 §5.3), for a Loc-RIB instance: "Local system closed, TLV data follows". The
    /// VRF/Table Name TLV "MUST also be included in the Peer Down notification" when the Peer
    /// Up had it.
    LocalSystemClosedTlvData(Vec<PeerInformation<'a>>),
}

impl PeerDownReason<'_> {
    pub fn code(&self) -> u8 {
        match self {
            PeerDownReason::LocalSystemClosedNotification(_) => 1,
            PeerDownReason::LocalSystemClosedFsmEvent(_) => 2,
            PeerDownReason::RemoteSystemClosedNotification(_) => 3,
            PeerDownReason::RemoteSystemClosedNoData => 4,
            PeerDownReason::PeerDeconfigured => 5,
            PeerDownReason::LocalSystemClosedTlvData(_) => 6,
        }
    }
}

impl<'a> PeerDown<'a> {
    /// The Peer Down of a Loc-RIB instance (RFC 9069 §5.3): reason 6 with the VRF/Table Name
    /// its Peer Up carried.
    pub fn loc_rib(peer: PeerHeader, table_name: &'a str) -> PeerDown<'a> {
        PeerDown {
            peer,
            reason: PeerDownReason::LocalSystemClosedTlvData(vec![PeerInformation::VrfTableName(table_name)]),
        }
    }

    /// Appends the whole message.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let code = self.reason.code();
        // RFC 9069 §5.3: "The Peer Down notification MUST use reason code 6."
        if matches!(self.peer.peer_type, PeerType::LocRib { .. }) && code != 6 {
            return Err(EncodeError::LocRibPeerDownReason { reason: code });
        }
        if let PeerDownReason::LocalSystemClosedNotification(n) | PeerDownReason::RemoteSystemClosedNotification(n) =
            self.reason
        {
            pdu::check(n, keel_wire::MessageType::Notification)?;
        }
        header::message(out, MessageType::PeerDownNotification, |out| {
            self.peer.encode(out);
            out.push(code);
            match &self.reason {
                PeerDownReason::LocalSystemClosedNotification(n)
                | PeerDownReason::RemoteSystemClosedNotification(n) => out.extend_from_slice(n),
                PeerDownReason::LocalSystemClosedFsmEvent(event) => out.extend_from_slice(&event.to_be_bytes()),
                PeerDownReason::RemoteSystemClosedNoData | PeerDownReason::PeerDeconfigured => {}
                PeerDownReason::LocalSystemClosedTlvData(information) => {
                    information.iter().try_for_each(|i| i.encode(out))?;
                }
            }
            Ok(())
        })
    }
}
