//! Termination message (RFC 7854 §4.5): the last message the router sends before it closes a
//! BMP session, saying why.
//!
//! RFC 7854 §4.5: "The termination message consists of the common BMP header followed by one
//! or more TLVs containing information about the reason for the termination". keel always sends
//! the Reason TLV (type 1), first, then any String TLVs (type 0).

use crate::error::EncodeError;
use crate::header::{self, MessageType};
use crate::tlv;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Termination<'a> {
    pub reason: TerminationReason,
    /// Free-form UTF-8 strings (TLV type 0), e.g. "keel is restarting".
    pub strings: Vec<&'a str>,
}

/// The Reason TLV's 2-octet code (RFC 7854 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TerminationReason {
    /// 0: "Session administratively closed. The session might be re-initiated."
    AdministrativelyClosed,
    /// 1: "Unspecified reason."
    Unspecified,
    /// 2: "Out of resources. The router has exhausted resources available for the BMP
    /// session."
    OutOfResources,
    /// 3: "Redundant connection. The router has determined that this connection is redundant
    /// with another one."
    RedundantConnection,
    /// 4: "Session permanently administratively closed, will not be re-initiated."
    PermanentlyAdministrativelyClosed,
    /// Any other code (e.g. the experimental 65531-65534).
    Other(u16),
}

impl TerminationReason {
    pub fn code(self) -> u16 {
        match self {
            TerminationReason::AdministrativelyClosed => 0,
            TerminationReason::Unspecified => 1,
            TerminationReason::OutOfResources => 2,
            TerminationReason::RedundantConnection => 3,
            TerminationReason::PermanentlyAdministrativelyClosed => 4,
            TerminationReason::Other(code) => code,
        }
    }
}

impl<'a> Termination<'a> {
    pub fn new(reason: TerminationReason) -> Termination<'a> {
        Termination { reason, strings: Vec::new() }
    }

    /// Appends the whole message.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        header::message(out, MessageType::Termination, |out| {
            tlv::put(out, tlv::termination::REASON, &self.reason.code().to_be_bytes())?;
            for s in &self.strings {
                tlv::put(out, tlv::termination::STRING, s.as_bytes())?;
            }
            Ok(())
        })
    }
}
