//! The 19-octet message header (RFC 4271 §4.1) and message length limits (RFC 8654 §4).

use crate::codec::CodecOptions;
use crate::error::{header as sub, EncodeError, WireError};
use crate::message_type::MessageType;

pub use crate::codec::{MAX_EXTENDED_MESSAGE, MAX_MESSAGE};

pub const MARKER: [u8; 16] = [0xff; 16];
/// Header length, also the smallest message.
pub const LEN: usize = 19;

/// A validated header: type and total length of the message it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub message_type: MessageType,
    pub length: usize,
}

/// Validates the header at the start of `buf`. `Ok(None)` until 19 octets are there.
/// RFC 4271 §6.1: marker, length bounds per type, known type.
pub fn parse(buf: &[u8], opts: &CodecOptions) -> Result<Option<Header>, WireError> {
    if buf.len() < LEN {
        return Ok(None);
    }
    if buf[..16] != MARKER {
        return Err(WireError::header(sub::CONNECTION_NOT_SYNCHRONIZED, "marker is not all ones"));
    }
    let length = u16::from_be_bytes([buf[16], buf[17]]) as usize;
    let t = buf[18];
    let message_type = MessageType::from_u8(t)
        .ok_or_else(|| WireError::header(sub::BAD_MESSAGE_TYPE, format!("message type {t} unknown")).with_data([t]))?;
    let (min, max) = match message_type {
        MessageType::Open => (29, MAX_MESSAGE),
        MessageType::Update => (23, opts.max_message_size()),
        MessageType::Notification => (21, opts.max_message_size()),
        MessageType::Keepalive => (LEN, LEN),
        // Wrong ROUTE-REFRESH lengths get their own error (RFC 7313 §5), from the body.
        MessageType::RouteRefresh => (LEN, opts.max_message_size()),
    };
    if length < min || length > max {
        return Err(WireError::header(
            sub::BAD_MESSAGE_LENGTH,
            format!("{} length {length} outside {min}..={max}", message_type.name()),
        )
        .with_data([buf[16], buf[17]]));
    }
    Ok(Some(Header { message_type, length }))
}

/// Starts a message: marker and room for length and type.
pub(crate) fn begin(out: &mut Vec<u8>) {
    out.extend_from_slice(&MARKER);
    out.extend_from_slice(&[0, 0, 0]);
}

/// Fills in length and type of the message that `out` holds from its start.
pub(crate) fn finish(out: &mut [u8], t: MessageType, limit: usize) -> Result<(), EncodeError> {
    finish_at(out, 0, t, limit)
}

/// Same for a message starting at `start` within `out`.
pub(crate) fn finish_at(out: &mut [u8], start: usize, t: MessageType, limit: usize) -> Result<(), EncodeError> {
    let size = out.len() - start;
    if size > limit {
        return Err(EncodeError::TooLarge { size, limit });
    }
    out[start + 16..start + 18].copy_from_slice(&(size as u16).to_be_bytes());
    out[start + 18] = t as u8;
    Ok(())
}
