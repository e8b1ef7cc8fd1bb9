//! Helpers shared by the test modules.

use keel_wire::{CodecOptions, Family, Message, Nlri, Prefix, Update, WireError};

/// Bytes from hex fragments; spaces inside a fragment are ignored so that vectors can be
/// written one field per line with a comment.
pub fn hex(parts: &[&str]) -> Vec<u8> {
    let s: String = parts.concat().chars().filter(|c| !c.is_whitespace()).collect();
    assert!(s.len().is_multiple_of(2), "odd number of hex digits in {s}");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit")).collect()
}

pub const MARKER: &str = "ffffffffffffffffffffffffffffffff";

/// Session options: 4-octet AS, no extended messages, no Add-Path.
pub fn four() -> CodecOptions {
    CodecOptions::default()
}

/// Session options with a 2-octet AS peer (RFC 6793 "OLD" speaker).
pub fn two() -> CodecOptions {
    CodecOptions { four_octet_as: false, ..CodecOptions::default() }
}

pub fn add_path(families: &[Family]) -> CodecOptions {
    CodecOptions { add_path: families.to_vec(), ..CodecOptions::default() }
}

pub fn decode(bytes: &[u8], opts: &CodecOptions) -> Message {
    Message::decode(bytes, opts).unwrap_or_else(|e| panic!("decode failed: {e}"))
}

pub fn decode_update(bytes: &[u8], opts: &CodecOptions) -> Update {
    match decode(bytes, opts) {
        Message::Update(u) => *u,
        m => panic!("expected an UPDATE, got {m:?}"),
    }
}

pub fn decode_err(bytes: &[u8], opts: &CodecOptions) -> WireError {
    match Message::decode(bytes, opts) {
        Ok(m) => panic!("expected an error, decoded {m:?}"),
        Err(e) => e,
    }
}

pub fn pfx(s: &str) -> Prefix {
    s.parse().unwrap()
}

pub fn nlri(s: &str) -> Nlri {
    Nlri::new(pfx(s))
}

/// A whole UPDATE message around the three variable fields, lengths filled in.
pub fn update_msg(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut m = hex(&[MARKER, "0000", "02"]);
    m.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    m.extend_from_slice(withdrawn);
    m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    m.extend_from_slice(attrs);
    m.extend_from_slice(nlri);
    let len = m.len() as u16;
    m[16..18].copy_from_slice(&len.to_be_bytes());
    m
}

/// A whole OPEN message around a body (version onwards), length filled in.
pub fn open_msg(body: &[u8]) -> Vec<u8> {
    let mut m = hex(&[MARKER, "0000", "01"]);
    m.extend_from_slice(body);
    let len = m.len() as u16;
    m[16..18].copy_from_slice(&len.to_be_bytes());
    m
}
