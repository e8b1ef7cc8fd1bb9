//! The handoff container: a 24-octet header, then a body of tagged records.
//!
//! ```text
//! header  "KEELHOFF" | version u16 | flags u16 | body length u64 | CRC-32C of the body u32
//! body    record*          record = tag u16 | length u32 | value (length octets)
//! ```
//!
//! Integers are big-endian, as in BGP. A reader accepts only [`FORMAT_VERSION`]; it fails on a
//! bad magic, a bad checksum, a short or long body, and on a record whose tag has
//! [`MUST_UNDERSTAND`] set that it does not know. Other unknown records are skipped, so a field
//! whose absence is safe can be added without a version change. Reading never panics: every
//! read is checked ([`Reader`]).

use crate::crc::crc32c;

/// The first eight octets of every handoff state.
pub const MAGIC: &[u8; 8] = b"KEELHOFF";
/// The one format version this build reads and writes.
pub const FORMAT_VERSION: u16 = 1;
/// Octets before the body.
pub const HEADER_LEN: usize = 24;
/// Tag bit: a reader that does not know this record must refuse the whole state.
pub const MUST_UNDERSTAND: u16 = 0x8000;

/// Why a handoff state cannot be read. Each one makes the new keeld fall back to a graceful
/// restart, logging this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a keel handoff state (bad magic)")]
    BadMagic,
    #[error("handoff state format version {found}; this keeld reads version {expected}")]
    Version { found: u16, expected: u16 },
    #[error("handoff state truncated ({0})")]
    Truncated(&'static str),
    #[error("handoff state has {0} octets after its body")]
    Trailing(u64),
    #[error("handoff state checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Checksum { stored: u32, computed: u32 },
    #[error("handoff state holds a record this keeld does not understand (tag {0:#06x})")]
    UnknownRequired(u16),
    #[error("handoff state record {tag:#06x} is malformed: {reason}")]
    Malformed { tag: u16, reason: &'static str },
}

/// Why a state cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("handoff record {tag:#06x} is {len} octets, more than a record holds (4 GiB)")]
    RecordTooLarge { tag: u16, len: usize },
}

/// Header plus `body`, checksummed.
pub fn seal(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&(body.len() as u64).to_be_bytes());
    out.extend_from_slice(&crc32c(body).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// The body of a sealed state, after checking magic, version, length and checksum.
pub fn open(input: &[u8]) -> Result<&[u8], DecodeError> {
    if input.len() < MAGIC.len() {
        return Err(DecodeError::Truncated("header"));
    }
    if &input[..MAGIC.len()] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let mut r = Reader::new(&input[MAGIC.len()..]);
    let version = r.u16().map_err(|_| DecodeError::Truncated("header"))?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::Version { found: version, expected: FORMAT_VERSION });
    }
    let _flags = r.u16().map_err(|_| DecodeError::Truncated("header"))?;
    let len = r.u64().map_err(|_| DecodeError::Truncated("header"))?;
    let stored = r.u32().map_err(|_| DecodeError::Truncated("header"))?;
    let rest = r.rest();
    let available = rest.len() as u64;
    if available < len {
        return Err(DecodeError::Truncated("body"));
    }
    if available > len {
        return Err(DecodeError::Trailing(available - len));
    }
    let computed = crc32c(rest);
    if computed != stored {
        return Err(DecodeError::Checksum { stored, computed });
    }
    Ok(rest)
}

/// Appends big-endian fields and records to a buffer.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Writer::default()
    }
    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    /// One record: `tag`, then the length of what `value` writes, then that.
    pub fn record(
        &mut self,
        tag: u16,
        value: impl FnOnce(&mut Writer) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        self.u16(tag);
        let at = self.buf.len();
        self.u32(0);
        value(self)?;
        let len = self.buf.len() - at - 4;
        let len32 = u32::try_from(len).map_err(|_| EncodeError::RecordTooLarge { tag, len })?;
        self.buf[at..at + 4].copy_from_slice(&len32.to_be_bytes());
        Ok(())
    }
    /// A record holding just `value`'s octets.
    pub fn bytes_record(&mut self, tag: u16, value: &[u8]) -> Result<(), EncodeError> {
        self.record(tag, |w| {
            w.bytes(value);
            Ok(())
        })
    }
}

/// Checked big-endian reads over a slice; every read fails instead of panicking when the slice
/// is too short.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

/// A read past the end (the caller names the record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Short;

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Short> {
        if self.buf.len() < n {
            return Err(Short);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Short> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }
    pub fn u8(&mut self) -> Result<u8, Short> {
        Ok(self.array::<1>()?[0])
    }
    pub fn u16(&mut self) -> Result<u16, Short> {
        self.array().map(u16::from_be_bytes)
    }
    pub fn u32(&mut self) -> Result<u32, Short> {
        self.array().map(u32::from_be_bytes)
    }
    pub fn u64(&mut self) -> Result<u64, Short> {
        self.array().map(u64::from_be_bytes)
    }
    /// The next record as (tag, value), `None` at the end.
    pub fn record(&mut self) -> Option<Result<(u16, &'a [u8]), DecodeError>> {
        if self.buf.is_empty() {
            return None;
        }
        let r = (|| {
            let tag = self.u16()?;
            let len = self.u32()? as usize;
            Ok((tag, self.bytes(len)?))
        })();
        Some(r.map_err(|Short| {
            self.buf = &[];
            DecodeError::Truncated("record")
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open() {
        let sealed = seal(b"body");
        assert_eq!(sealed.len(), HEADER_LEN + 4);
        assert_eq!(open(&sealed), Ok(&b"body"[..]));
    }

    #[test]
    fn other_version_is_refused() {
        let mut sealed = seal(b"body");
        sealed[9] = 2;
        assert_eq!(open(&sealed), Err(DecodeError::Version { found: 2, expected: 1 }));
    }

    #[test]
    fn bad_checksum_is_refused() {
        let mut sealed = seal(b"body");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(matches!(open(&sealed), Err(DecodeError::Checksum { .. })));
    }

    #[test]
    fn short_long_and_foreign_input() {
        let sealed = seal(b"body");
        assert_eq!(open(&sealed[..sealed.len() - 1]), Err(DecodeError::Truncated("body")));
        assert_eq!(open(&sealed[..10]), Err(DecodeError::Truncated("header")));
        assert_eq!(open(b"KEEL"), Err(DecodeError::Truncated("header")));
        assert_eq!(open(b"NOTKEELXYZ"), Err(DecodeError::BadMagic));
        let mut long = sealed.clone();
        long.push(0);
        assert_eq!(open(&long), Err(DecodeError::Trailing(1)));
    }

    #[test]
    fn records_round_trip_and_truncated_record_fails() {
        let mut w = Writer::new();
        w.bytes_record(1, b"abc").expect("small record");
        w.record(MUST_UNDERSTAND | 2, |w| {
            w.u32(7);
            Ok(())
        })
        .expect("small record");
        let body = w.into_inner();
        let mut r = Reader::new(&body);
        assert_eq!(r.record(), Some(Ok((1, &b"abc"[..]))));
        assert_eq!(r.record(), Some(Ok((0x8002, &[0, 0, 0, 7][..]))));
        assert_eq!(r.record(), None);
        let mut r = Reader::new(&body[..body.len() - 1]);
        assert!(matches!(r.record(), Some(Ok(_))));
        assert_eq!(r.record(), Some(Err(DecodeError::Truncated("record"))));
        assert_eq!(r.record(), None);
    }
}
