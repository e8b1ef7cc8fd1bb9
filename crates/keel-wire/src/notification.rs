//! NOTIFICATION message (RFC 4271 §4.5), Hard Reset (RFC 8538 §3) and the shutdown
//! communication of RFC 9003.

use crate::error::{cease, code, header as header_err, WireError};
use crate::reader::Reader;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Vec<u8>,
}

/// Longest shutdown communication, in octets (RFC 9003 §2).
pub const MAX_SHUTDOWN_MESSAGE: usize = 255;

impl Notification {
    pub fn new(code: u8, subcode: u8, data: impl Into<Vec<u8>>) -> Self {
        Notification { code, subcode, data: data.into() }
    }

    /// The NOTIFICATION answering a decode error.
    pub fn from_error(e: &WireError) -> Self {
        Notification::new(e.code, e.subcode, e.data.clone())
    }

    /// Cease with a shutdown communication (RFC 9003 §2: subcodes 2 and 4), cut to 255
    /// octets at a character boundary.
    pub fn cease_with_message(subcode: u8, message: &str) -> Self {
        let mut end = message.len().min(MAX_SHUTDOWN_MESSAGE);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let mut data = vec![end as u8];
        data.extend_from_slice(&message.as_bytes()[..end]);
        Notification::new(code::CEASE, subcode, data)
    }

    /// Wraps `inner` in a Hard Reset (RFC 8538 §3): Cease/9 whose data is the inner
    /// code, subcode and data.
    pub fn hard_reset(inner: &Notification) -> Self {
        let mut data = vec![inner.code, inner.subcode];
        data.extend_from_slice(&inner.data);
        Notification::new(code::CEASE, cease::HARD_RESET, data)
    }

    pub fn is_hard_reset(&self) -> bool {
        self.code == code::CEASE && self.subcode == cease::HARD_RESET
    }

    /// The encapsulated NOTIFICATION of a Hard Reset, if the data holds one.
    pub fn hard_reset_inner(&self) -> Option<Notification> {
        if !self.is_hard_reset() || self.data.len() < 2 {
            return None;
        }
        Some(Notification::new(self.data[0], self.data[1], &self.data[2..]))
    }

    /// RFC 9003 shutdown communication, when present and well formed (UTF-8, length in range).
    pub fn shutdown_message(&self) -> Option<String> {
        let n = self.effective();
        if n.code != code::CEASE || !matches!(n.subcode, cease::ADMINISTRATIVE_SHUTDOWN | cease::ADMINISTRATIVE_RESET) {
            return None;
        }
        let mut r = Reader::new(&n.data);
        let len = r.u8()? as usize;
        let text = r.take(len)?;
        std::str::from_utf8(text).ok().map(str::to_owned)
    }

    /// The NOTIFICATION that describes the cause: the inner one of a Hard Reset, else itself.
    pub fn effective(&self) -> Notification {
        self.hard_reset_inner().unwrap_or_else(|| self.clone())
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Notification, WireError> {
        match body {
            [c, s, data @ ..] => Ok(Notification::new(*c, *s, data)),
            _ => Err(WireError::header(header_err::BAD_MESSAGE_LENGTH, "NOTIFICATION shorter than 21 octets")),
        }
    }

    /// Appends the body; data is cut so that the message stays within `limit` octets.
    pub(crate) fn encode_body(&self, limit: usize, out: &mut Vec<u8>) {
        out.push(self.code);
        out.push(self.subcode);
        let room = limit.saturating_sub(crate::header::LEN + 2);
        out.extend_from_slice(&self.data[..self.data.len().min(room)]);
    }

    /// Human text of code and subcode, as logs and the CLI show it.
    pub fn describe(&self) -> String {
        let c = match self.code {
            code::MESSAGE_HEADER => "Message Header Error",
            code::OPEN_MESSAGE => "OPEN Message Error",
            code::UPDATE_MESSAGE => "UPDATE Message Error",
            code::HOLD_TIMER_EXPIRED => "Hold Timer Expired",
            code::FSM => "Finite State Machine Error",
            code::CEASE => "Cease",
            code::ROUTE_REFRESH_MESSAGE => "ROUTE-REFRESH Message Error",
            code::SEND_HOLD_TIMER_EXPIRED => "Send Hold Timer Expired",
            _ => "Unknown error",
        };
        let s = match (self.code, self.subcode) {
            (code::CEASE, cease::MAXIMUM_PREFIXES_REACHED) => "Maximum Number of Prefixes Reached",
            (code::CEASE, cease::ADMINISTRATIVE_SHUTDOWN) => "Administrative Shutdown",
            (code::CEASE, cease::PEER_DECONFIGURED) => "Peer De-configured",
            (code::CEASE, cease::ADMINISTRATIVE_RESET) => "Administrative Reset",
            (code::CEASE, cease::CONNECTION_REJECTED) => "Connection Rejected",
            (code::CEASE, cease::OTHER_CONFIGURATION_CHANGE) => "Other Configuration Change",
            (code::CEASE, cease::CONNECTION_COLLISION_RESOLUTION) => "Connection Collision Resolution",
            (code::CEASE, cease::OUT_OF_RESOURCES) => "Out of Resources",
            (code::CEASE, cease::HARD_RESET) => "Hard Reset",
            (code::CEASE, cease::BFD_DOWN) => "BFD Down",
            _ => "",
        };
        let mut text = if s.is_empty() { format!("{c} ({}/{})", self.code, self.subcode) } else { format!("{c}/{s}") };
        // A Hard Reset's shutdown communication belongs to (and is shown with) its inner one.
        if let Some(inner) = self.hard_reset_inner() {
            text.push_str(&format!(" of {}", inner.describe()));
        } else if let Some(m) = self.shutdown_message() {
            text.push_str(&format!(": {m:?}"));
        }
        text
    }
}
