//! The BGP PDUs that BMP messages carry (RFC 7854 §4.6, §4.9, §4.10): whole BGP messages, header
//! included, as keel-wire encodes them.
//!
//! A collector finds where the sent OPEN of a Peer Up ends, and the received one starts, only by
//! the BGP length field; a Route Monitoring message is parsed as one UPDATE. So each PDU is checked
//! before it is copied: marker, a length field equal to the slice's length, and the expected type.
//! RFC 8654 Extended Messages (up to 65535 octets) are accepted: the BMP framing carries them.

use crate::error::EncodeError;
use keel_wire::{header, CodecOptions, MessageType};

/// Checks that `pdu` is exactly one BGP message of type `expected`.
pub(crate) fn check(pdu: &[u8], expected: MessageType) -> Result<(), EncodeError> {
    let bad = |why: String| EncodeError::BadPdu { expected: expected.name(), why };
    // Any size up to the Extended Message limit: the session's limit is not this crate's to know.
    let opts = CodecOptions { extended_message: true, ..CodecOptions::default() };
    let h = header::parse(pdu, &opts)
        .map_err(|e| bad(e.to_string()))?
        .ok_or_else(|| bad(format!("{} octets, shorter than the {}-octet BGP header", pdu.len(), header::LEN)))?;
    if h.length != pdu.len() {
        return Err(bad(format!("length field says {} octets but {} were given", h.length, pdu.len())));
    }
    if h.message_type != expected {
        return Err(bad(format!("is a {} message", h.message_type.name())));
    }
    Ok(())
}
