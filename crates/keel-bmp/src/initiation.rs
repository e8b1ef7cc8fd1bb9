//! Initiation message (RFC 7854 §4.3): the first message on a BMP session, naming the monitored
//! router.
//!
//! RFC 7854 §4.3: "The initiation message consists of the common BMP header followed by two or
//! more Information TLVs (Section 4.4) containing information about the monitored router. The
//! sysDescr and sysName Information TLVs MUST be sent, any others are optional. The string TLV
//! MAY be included multiple times." Both are required fields here, so none can be forgotten;
//! they go first, sysName then sysDescr, then the strings in order.

use crate::error::EncodeError;
use crate::header::{self, MessageType};
use crate::tlv;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Initiation<'a> {
    /// sysName (TLV type 2): the router's administratively assigned name, as in MIB-II.
    pub sys_name: &'a str,
    /// sysDescr (TLV type 1): a description of the router, e.g. keel and its version.
    pub sys_descr: &'a str,
    /// Free-form strings (TLV type 0).
    pub strings: Vec<&'a str>,
}

impl<'a> Initiation<'a> {
    pub fn new(sys_name: &'a str, sys_descr: &'a str) -> Initiation<'a> {
        Initiation { sys_name, sys_descr, strings: Vec::new() }
    }

    /// Appends the whole message.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        header::message(out, MessageType::Initiation, |out| {
            tlv::put(out, tlv::initiation::SYS_NAME, self.sys_name.as_bytes())?;
            tlv::put(out, tlv::initiation::SYS_DESCR, self.sys_descr.as_bytes())?;
            for s in &self.strings {
                tlv::put(out, tlv::initiation::STRING, s.as_bytes())?;
            }
            Ok(())
        })
    }
}
