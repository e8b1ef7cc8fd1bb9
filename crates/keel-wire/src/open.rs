//! OPEN message (RFC 4271 §4.2) with capabilities in optional parameters (RFC 5492), in either
//! layout (one capability per parameter or several per parameter), and the extended optional
//! parameters length of RFC 9072.

use crate::capability::{AddPathFamily, Capability, GracefulRestart, LongLivedFamily};
use crate::error::{open, WireError};
use crate::reader::Reader;
use std::net::Ipv4Addr;

/// AS_TRANS (RFC 6793 §9): the 2-octet My AS of a speaker whose AS does not fit.
pub const AS_TRANS: u16 = 23456;
const PARAM_CAPABILITIES: u8 = 2;
/// RFC 9072 §2: Non-Ext OP Type marking the extended layout.
const PARAM_EXTENDED: u8 = 255;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Open {
    pub version: u8,
    /// The 2-octet My AS field (AS_TRANS when the real AS needs four octets).
    pub my_as: u16,
    pub hold_time: u16,
    pub router_id: Ipv4Addr,
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// An OPEN for `asn`, setting My AS and the four-octet AS capability (RFC 6793 §3).
    pub fn new(asn: u32, hold_time: u16, router_id: Ipv4Addr, mut capabilities: Vec<Capability>) -> Self {
        if !capabilities.iter().any(|c| matches!(c, Capability::FourOctetAs(_))) {
            capabilities.push(Capability::FourOctetAs(asn));
        }
        Open { version: 4, my_as: u16::try_from(asn).unwrap_or(AS_TRANS), hold_time, router_id, capabilities }
    }

    /// The speaker's AS: from the four-octet AS capability when present (RFC 6793 §4.1).
    pub fn asn(&self) -> u32 {
        self.four_octet_as().unwrap_or(self.my_as as u32)
    }
    /// The AS of the four-octet AS capability. RFC 6793 says nothing of several instances;
    /// keel takes the last, as RFC 4724 §3 asks for Graceful Restart.
    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities.iter().rev().find_map(|c| match c {
            Capability::FourOctetAs(a) => Some(*a),
            _ => None,
        })
    }
    /// RFC 4724 §3: "If more than one instance of the Graceful Restart Capability is carried
    /// in the capability advertisement, the receiver of the advertisement MUST ignore all but
    /// the last instance of the Graceful Restart Capability."
    pub fn graceful_restart(&self) -> Option<&GracefulRestart> {
        self.capabilities.iter().rev().find_map(|c| match c {
            Capability::GracefulRestart(g) => Some(g),
            _ => None,
        })
    }
    /// The last LLGR capability. RFC 9494 defines no rule for several instances; keel reads
    /// them as RFC 4724 §3 reads Graceful Restart, whose companion LLGR is (RFC 9494 §4.1).
    pub fn long_lived_graceful_restart(&self) -> Option<&[LongLivedFamily]> {
        self.capabilities.iter().rev().find_map(|c| match c {
            Capability::LongLivedGracefulRestart(v) => Some(v.as_slice()),
            _ => None,
        })
    }
    /// The Add-Path tuples of every instance, a later tuple for a family replacing an earlier
    /// one. RFC 7911 §4 asks the sender for "a single instance of the ADD-PATH Capability" and
    /// gives the receiver no rule; RFC 5492 §4 asks that capabilities be "processed in the
    /// same way" however they are split across Optional Parameters, so keel loses no tuple.
    /// An instance with a Send/Receive value other than 1..=3 was decoded as
    /// [`Capability::Unknown`] and is not among them (RFC 7911 §4: "the capability SHOULD be
    /// treated as not understood and ignored").
    pub fn add_path(&self) -> Vec<AddPathFamily> {
        let mut out: Vec<AddPathFamily> = Vec::new();
        for c in &self.capabilities {
            if let Capability::AddPath(v) = c {
                for t in v {
                    match out.iter_mut().find(|o| o.family == t.family) {
                        Some(o) => *o = *t,
                        None => out.push(*t),
                    }
                }
            }
        }
        out
    }
    pub fn has(&self, code: u8) -> bool {
        self.capabilities.iter().any(|c| c.code() == code)
    }

    /// Decodes the body after the 19-byte header.
    pub(crate) fn decode(body: &[u8]) -> Result<Open, WireError> {
        let mut r = Reader::new(body);
        let short = || WireError::open(open::UNSPECIFIC, "OPEN shorter than its fixed fields");
        let version = r.u8().ok_or_else(short)?;
        if version != 4 {
            // RFC 4271 §6.2: the data is the largest supported version, two octets.
            return Err(WireError::open(open::UNSUPPORTED_VERSION_NUMBER, format!("BGP version {version} is not 4"))
                .with_data([0, 4]));
        }
        let my_as = r.u16().ok_or_else(short)?;
        let hold_time = r.u16().ok_or_else(short)?;
        if hold_time == 1 || hold_time == 2 {
            return Err(WireError::open(
                open::UNACCEPTABLE_HOLD_TIME,
                format!("hold time {hold_time} is 1 or 2 seconds"),
            ));
        }
        let router_id = Ipv4Addr::from(r.u32().ok_or_else(short)?);
        if router_id.is_unspecified() {
            return Err(WireError::open(open::BAD_BGP_IDENTIFIER, "BGP identifier is 0.0.0.0"));
        }
        let opt_len = r.u8().ok_or_else(short)? as usize;
        let mut params = r.rest();
        // RFC 9072 §2: extended layout, with 2-octet lengths throughout. "It is not considered
        // a fatal error to receive an OPEN message whose (non-extended) Optional Parameters
        // Length value is not 255 and whose first Optional Parameter type code is 255 -- in
        // this case, the encoding of this specification MUST be used for decoding the message."
        let extended = opt_len != 0 && params.first() == Some(&PARAM_EXTENDED);
        if extended {
            let mut pr = Reader::new(&params[1..]);
            let len = pr.u16().ok_or_else(short)? as usize;
            params = pr.rest();
            if params.len() != len {
                return Err(WireError::open(
                    open::UNSPECIFIC,
                    format!("extended optional parameters length {len} but {} octets follow", params.len()),
                ));
            }
        } else if params.len() != opt_len {
            return Err(WireError::open(
                open::UNSPECIFIC,
                format!("optional parameters length {opt_len} but {} octets follow", params.len()),
            ));
        }
        let mut capabilities = Vec::new();
        let mut pr = Reader::new(params);
        while !pr.is_empty() {
            let truncated = || WireError::open(open::UNSPECIFIC, "optional parameter runs past the end of the OPEN");
            let ptype = pr.u8().ok_or_else(truncated)?;
            let plen = if extended { pr.u16() } else { pr.u8().map(u16::from) }.ok_or_else(truncated)?;
            let value = pr.take(plen as usize).ok_or_else(truncated)?;
            if ptype != PARAM_CAPABILITIES {
                return Err(WireError::open(
                    open::UNSUPPORTED_OPTIONAL_PARAMETER,
                    format!("optional parameter type {ptype} is not supported"),
                ));
            }
            let mut cr = Reader::new(value);
            while !cr.is_empty() {
                let bad = || WireError::open(open::UNSPECIFIC, "capability runs past the end of its parameter");
                let code = cr.u8().ok_or_else(bad)?;
                let clen = cr.u8().ok_or_else(bad)?;
                let cvalue = cr.take(clen as usize).ok_or_else(bad)?;
                let cap = Capability::decode(code, cvalue)
                    .map_err(|e| WireError::open(open::UNSPECIFIC, format!("malformed capability {code}: {e}")))?;
                capabilities.push(cap);
            }
        }
        Ok(Open { version, my_as, hold_time, router_id, capabilities })
    }

    /// Appends the body. Capabilities go into one parameter when they fit in 255 octets, else
    /// one parameter each, else the RFC 9072 extended layout.
    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(self.version);
        out.extend_from_slice(&self.my_as.to_be_bytes());
        out.extend_from_slice(&self.hold_time.to_be_bytes());
        out.extend_from_slice(&self.router_id.octets());
        let mut caps = Vec::new();
        for c in &self.capabilities {
            let start = caps.len();
            caps.push(c.code());
            caps.push(0);
            c.encode_value(&mut caps);
            let len = caps.len() - start - 2;
            // A capability value longer than 255 octets cannot be encoded; keep the
            // length byte honest by truncating (no standard capability comes near it).
            if len > 255 {
                caps.truncate(start + 2 + 255);
            }
            caps[start + 1] = len.min(255) as u8;
        }
        if caps.is_empty() {
            out.push(0);
        } else if caps.len() <= 253 {
            out.extend_from_slice(&[caps.len() as u8 + 2, PARAM_CAPABILITIES, caps.len() as u8]);
            out.extend_from_slice(&caps);
        } else if self.capabilities.len() * 2 + caps.len() <= 255 {
            let mut r = Reader::new(&caps);
            out.push((self.capabilities.len() * 2 + caps.len()) as u8);
            while let (Some(code), Some(len)) = (r.u8(), r.u8()) {
                out.extend_from_slice(&[PARAM_CAPABILITIES, len + 2, code, len]);
                out.extend_from_slice(r.take(len as usize).unwrap_or_default());
            }
        } else {
            out.extend_from_slice(&[255, PARAM_EXTENDED]);
            out.extend_from_slice(&((caps.len() + 3) as u16).to_be_bytes());
            out.push(PARAM_CAPABILITIES);
            out.extend_from_slice(&(caps.len() as u16).to_be_bytes());
            out.extend_from_slice(&caps);
        }
    }
}
