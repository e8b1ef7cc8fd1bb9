//! Decoding errors and the protocol reaction each one implies.
//!
//! Every error names the NOTIFICATION keel would send (RFC 4271 §6, §4.5) and, for UPDATE
//! attribute errors, the RFC 7606 §2 approach: session reset, AFI/SAFI disable,
//! treat-as-withdraw or attribute discard. The session layer only has to act on it.

use crate::family::Family;
use std::fmt;

/// NOTIFICATION error codes (RFC 4271 §4.5, RFC 7313 §5).
pub mod code {
    pub const MESSAGE_HEADER: u8 = 1;
    pub const OPEN_MESSAGE: u8 = 2;
    pub const UPDATE_MESSAGE: u8 = 3;
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    pub const FSM: u8 = 5;
    pub const CEASE: u8 = 6;
    pub const ROUTE_REFRESH_MESSAGE: u8 = 7;
    /// RFC 9687.
    pub const SEND_HOLD_TIMER_EXPIRED: u8 = 8;
}

/// Message Header Error subcodes (RFC 4271 §6.1).
pub mod header {
    pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
    pub const BAD_MESSAGE_LENGTH: u8 = 2;
    pub const BAD_MESSAGE_TYPE: u8 = 3;
}

/// OPEN Message Error subcodes (RFC 4271 §6.2, RFC 5492 §5, RFC 9234 §4.2).
pub mod open {
    pub const UNSPECIFIC: u8 = 0;
    pub const UNSUPPORTED_VERSION_NUMBER: u8 = 1;
    pub const BAD_PEER_AS: u8 = 2;
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
    pub const ROLE_MISMATCH: u8 = 11;
}

/// UPDATE Message Error subcodes (RFC 4271 §6.3).
pub mod update {
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    pub const UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: u8 = 2;
    pub const MISSING_WELL_KNOWN_ATTRIBUTE: u8 = 3;
    pub const ATTRIBUTE_FLAGS_ERROR: u8 = 4;
    pub const ATTRIBUTE_LENGTH_ERROR: u8 = 5;
    pub const INVALID_ORIGIN_ATTRIBUTE: u8 = 6;
    pub const INVALID_NEXT_HOP_ATTRIBUTE: u8 = 8;
    pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    pub const MALFORMED_AS_PATH: u8 = 11;
}

/// Cease subcodes (RFC 4486, RFC 8538 §3, RFC 9384).
pub mod cease {
    pub const MAXIMUM_PREFIXES_REACHED: u8 = 1;
    pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
    pub const PEER_DECONFIGURED: u8 = 3;
    pub const ADMINISTRATIVE_RESET: u8 = 4;
    pub const CONNECTION_REJECTED: u8 = 5;
    pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
    pub const CONNECTION_COLLISION_RESOLUTION: u8 = 7;
    pub const OUT_OF_RESOURCES: u8 = 8;
    pub const HARD_RESET: u8 = 9;
    pub const BFD_DOWN: u8 = 10;
}

/// ROUTE-REFRESH Message Error subcodes (RFC 7313 §5).
pub mod route_refresh {
    pub const INVALID_MESSAGE_LENGTH: u8 = 1;
}

/// What the receiver of a faulty message must do (RFC 7606 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Send the NOTIFICATION and close the session.
    SessionReset,
    /// Disable the family (RFC 4760 §7); a speaker may reset the session instead.
    AfiSafiDisable(Family),
    /// Keep the session, treat every route in the UPDATE as withdrawn.
    TreatAsWithdraw,
    /// Keep the session and the routes, drop the faulty attribute.
    AttributeDiscard,
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::SessionReset => "session-reset",
            Action::AfiSafiDisable(_) => "afi-safi-disable",
            Action::TreatAsWithdraw => "treat-as-withdraw",
            Action::AttributeDiscard => "attribute-discard",
        }
    }
}

/// A decoding error: the reaction, the NOTIFICATION it implies (sent only for session reset
/// and AFI/SAFI disable) and a human reason for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    pub action: Action,
    pub code: u8,
    pub subcode: u8,
    /// The NOTIFICATION data field (RFC 4271 §6 says what it holds for each subcode).
    pub data: Vec<u8>,
    pub reason: String,
    /// The type code of the path attribute the error is about, when it is about one: the
    /// session layer needs it where the reaction depends on the neighbor, which the codec does
    /// not know (RFC 7606 §7.5, §7.9, §7.10: discard, not withdraw, from an external neighbor).
    pub attribute: Option<u8>,
}

impl WireError {
    pub fn new(code: u8, subcode: u8, reason: impl Into<String>) -> Self {
        WireError {
            action: Action::SessionReset,
            code,
            subcode,
            data: Vec::new(),
            reason: reason.into(),
            attribute: None,
        }
    }
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }
    pub fn with_action(mut self, action: Action) -> Self {
        self.action = action;
        self
    }
    /// Names the path attribute (type code) the error is about.
    pub fn with_attribute(mut self, code: u8) -> Self {
        self.attribute = Some(code);
        self
    }
    pub(crate) fn header(subcode: u8, reason: impl Into<String>) -> Self {
        Self::new(code::MESSAGE_HEADER, subcode, reason)
    }
    pub(crate) fn open(subcode: u8, reason: impl Into<String>) -> Self {
        Self::new(code::OPEN_MESSAGE, subcode, reason)
    }
    pub(crate) fn update(subcode: u8, reason: impl Into<String>) -> Self {
        Self::new(code::UPDATE_MESSAGE, subcode, reason)
    }
    /// True when the session survives this error (RFC 7606 treat-as-withdraw or discard).
    pub fn keeps_session(&self) -> bool {
        matches!(self.action, Action::TreatAsWithdraw | Action::AttributeDiscard)
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, NOTIFICATION {}/{})", self.reason, self.action.name(), self.code, self.subcode)
    }
}

impl std::error::Error for WireError {}

/// Encoding failures: a message that cannot be made to fit, or a value the wire cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("message of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("{0}")]
    Invalid(String),
}
