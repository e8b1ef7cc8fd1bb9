//! ADD-PATH capability, code 69 (RFC 7911 §4): per family, whether the sender can receive,
//! send, or both.

use crate::family::{Afi, Family, Safi};
use crate::reader::Reader;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct AddPathFamily {
    pub family: Family,
    pub receive: bool,
    pub send: bool,
}

/// `Ok(None)`: a Send/Receive value other than 1..=3, so the capability SHOULD be ignored
/// (RFC 7911 §4).
pub(crate) fn decode(value: &[u8]) -> Result<Option<Vec<AddPathFamily>>, String> {
    if value.is_empty() || !value.len().is_multiple_of(4) {
        return Err(format!("add-path capability length {} is not 4n", value.len()));
    }
    let mut r = Reader::new(value);
    let mut out = Vec::with_capacity(value.len() / 4);
    while let (Some(afi), Some(safi), Some(sr)) = (r.u16(), r.u8(), r.u8()) {
        if !(1..=3).contains(&sr) {
            return Ok(None);
        }
        out.push(AddPathFamily { family: Family::new(Afi(afi), Safi(safi)), receive: sr & 1 != 0, send: sr & 2 != 0 });
    }
    Ok(Some(out))
}

pub(crate) fn encode(families: &[AddPathFamily], out: &mut Vec<u8>) {
    for f in families {
        f.family.write(out);
        out.push(f.receive as u8 | (f.send as u8) << 1);
    }
}
