//! What the byte encoding depends on beyond the message itself: the options the session
//! negotiated, and the message length limits they choose between (RFC 8654 §4).

use crate::family::Family;

/// Largest message without the Extended Message capability, and always for OPEN and KEEPALIVE.
pub const MAX_MESSAGE: usize = 4096;
/// Largest message with the Extended Message capability (RFC 8654).
pub const MAX_EXTENDED_MESSAGE: usize = 65535;

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
            MAX_EXTENDED_MESSAGE
        } else {
            MAX_MESSAGE
        }
    }
}
