//! A whole BGP message of any type: framing, decoding and encoding with its header.

use crate::codec::CodecOptions;
use crate::error::{self, EncodeError, WireError};
use crate::header;
use crate::message_type::MessageType;
use crate::notification::Notification;
use crate::open::Open;
use crate::route_refresh::RouteRefresh;
use crate::update::Update;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Message {
    Open(Open),
    /// Boxed: an `Update` is several hundred octets and is decoded in place.
    Update(Box<Update>),
    Notification(Notification),
    Keepalive,
    RouteRefresh(RouteRefresh),
}

impl Message {
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Open(_) => MessageType::Open,
            Message::Update(_) => MessageType::Update,
            Message::Notification(_) => MessageType::Notification,
            Message::Keepalive => MessageType::Keepalive,
            Message::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }

    /// Decodes exactly one message, header included.
    pub fn decode(buf: &[u8], opts: &CodecOptions) -> Result<Message, WireError> {
        let h = header::parse(buf, opts)?.ok_or_else(|| {
            WireError::header(
                error::header::BAD_MESSAGE_LENGTH,
                format!("message of {} octets is shorter than its header", buf.len()),
            )
        })?;
        if h.length != buf.len() {
            return Err(WireError::header(
                error::header::BAD_MESSAGE_LENGTH,
                format!("length field says {} octets but the message has {}", h.length, buf.len()),
            )
            .with_data([buf[16], buf[17]]));
        }
        let body = &buf[header::LEN..];
        Ok(match h.message_type {
            MessageType::Open => Message::Open(Open::decode(body)?),
            MessageType::Update => Message::Update(Update::decode(body, opts)?),
            MessageType::Notification => Message::Notification(Notification::decode(body)?),
            MessageType::Keepalive => Message::Keepalive,
            // RFC 7313 §5: the NOTIFICATION data is the complete ROUTE-REFRESH message.
            MessageType::RouteRefresh => {
                Message::RouteRefresh(RouteRefresh::decode(body).map_err(|e| e.with_data(buf.to_vec()))?)
            }
        })
    }

    /// Splits the first complete message off `buf`: `Ok(None)` while more octets are needed.
    pub fn next_frame<'a>(buf: &'a [u8], opts: &CodecOptions) -> Result<Option<&'a [u8]>, WireError> {
        Ok(header::parse(buf, opts)?.and_then(|h| buf.get(..h.length)))
    }

    /// Encodes the message. OPEN and KEEPALIVE never exceed 4096 octets, a NOTIFICATION's
    /// data is cut to fit (RFC 8654 §4); an UPDATE that does not fit is an error.
    pub fn encode(&self, opts: &CodecOptions) -> Result<Vec<u8>, EncodeError> {
        if let Message::Update(u) = self {
            return u.encode(opts);
        }
        let mut out = Vec::with_capacity(64);
        header::begin(&mut out);
        let limit = match self {
            Message::Open(o) => {
                o.encode_body(&mut out);
                header::MAX_MESSAGE
            }
            Message::Notification(n) => {
                n.encode_body(opts.max_message_size(), &mut out);
                opts.max_message_size()
            }
            Message::RouteRefresh(r) => {
                r.encode_body(&mut out);
                header::MAX_MESSAGE
            }
            Message::Keepalive | Message::Update(_) => header::MAX_MESSAGE,
        };
        header::finish(&mut out, self.message_type(), limit)?;
        Ok(out)
    }
}
