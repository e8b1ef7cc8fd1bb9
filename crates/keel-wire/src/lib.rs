//! keel-wire: BGP-4 messages and their byte encoding.
//!
//! Decoding checks every length before reading (no panics, no reads past a message,
//! parameter, capability or attribute, no allocation beyond what the input justifies) and
//! returns a [`WireError`] naming the NOTIFICATION and RFC 7606 reaction the session owes.
//! Encoding never emits a message longer than the session's limit.
//!
//! | RFC | where |
//! |---|---|
//! | 4271 BGP-4 | [`header`], [`open`], [`update`], [`notification`], [`attribute`] |
//! | 4760 Multiprotocol | [`attribute::mp_reach`], [`capability`] |
//! | 5492 Capabilities, 9072 extended OPEN parameters | [`open`] |
//! | 4724 Graceful Restart, 8538 N bit and Hard Reset | [`capability::graceful_restart`], [`update::Update::end_of_rib`], [`notification`] |
//! | 9494 Long-Lived GR | [`capability::long_lived`], [`attribute::Community::LLGR_STALE`] |
//! | 6793 4-octet AS | [`attribute::as_path`], [`open::AS_TRANS`] |
//! | 7606 revised error handling | [`error`], [`attribute`] |
//! | 7911 Add-Path | [`nlri`], [`capability::add_path`] |
//! | 8654 Extended Message | [`header`], [`builder`] |
//! | 2918/7313 Route Refresh | [`route_refresh`] |
//! | 8950 IPv4 NLRI over IPv6 next hop | [`attribute::mp_reach`], [`capability::ExtendedNextHop`] |
//! | 1997/4360/8092 communities | [`attribute::community`] |
//! | 9234 Roles and OTC | [`capability::Role`], [`attribute::PathAttributes::otc`] |
//! | 9003 shutdown communication | [`notification`] |

pub mod attribute;
pub mod builder;
pub mod capability;
pub mod error;
pub mod family;
pub mod header;
pub mod nlri;
pub mod notification;
pub mod open;
mod reader;
pub mod route_refresh;
pub mod update;

pub use attribute::{AsPath, Community, ExtendedCommunity, LargeCommunity, NextHop, Origin, PathAttributes};
pub use capability::Capability;
pub use error::{Action, EncodeError, WireError};
pub use family::{Afi, Family, Safi};
pub use nlri::{Nlri, Prefix};
pub use notification::Notification;
pub use open::Open;
pub use route_refresh::{RefreshSubtype, RouteRefresh};
pub use update::Update;

/// What the session negotiated, as far as the byte encoding depends on it. One value per
/// direction: `add_path` lists the families whose NLRI carry path identifiers in it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CodecOptions {
    /// Both sides advertised the 4-octet AS capability (RFC 6793).
    pub four_octet_as: bool,
    /// Both sides advertised Extended Message (RFC 8654).
    pub extended_message: bool,
    /// Families with Add-Path path identifiers in this direction (RFC 7911).
    pub add_path: Vec<Family>,
}

impl Default for CodecOptions {
    /// 4-octet AS, 4096-octet messages, no Add-Path.
    fn default() -> Self {
        CodecOptions { four_octet_as: true, extended_message: false, add_path: Vec::new() }
    }
}

impl CodecOptions {
    pub fn add_path_for(&self, family: Family) -> bool {
        self.add_path.contains(&family)
    }
    pub fn max_message_size(&self) -> usize {
        if self.extended_message {
            header::MAX_EXTENDED_MESSAGE
        } else {
            header::MAX_MESSAGE
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum MessageType {
    Open = 1,
    Update = 2,
    Notification = 3,
    Keepalive = 4,
    RouteRefresh = 5,
}

impl MessageType {
    pub fn from_u8(t: u8) -> Option<Self> {
        Some(match t {
            1 => MessageType::Open,
            2 => MessageType::Update,
            3 => MessageType::Notification,
            4 => MessageType::Keepalive,
            5 => MessageType::RouteRefresh,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            MessageType::Open => "open",
            MessageType::Update => "update",
            MessageType::Notification => "notification",
            MessageType::Keepalive => "keepalive",
            MessageType::RouteRefresh => "route-refresh",
        }
    }
}

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
