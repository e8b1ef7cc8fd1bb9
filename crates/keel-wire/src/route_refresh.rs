//! ROUTE-REFRESH message (RFC 2918 §3) with the Enhanced Route Refresh subtypes of RFC 7313 §3.

use crate::error::{code, route_refresh, WireError};
use crate::family::{Afi, Family, Safi};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum RefreshSubtype {
    /// 0: a plain route refresh request.
    Request,
    /// 1: Beginning of Route Refresh (RFC 7313).
    Begin,
    /// 2: End of Route Refresh (RFC 7313).
    End,
    /// Reserved values: the message MUST be ignored (RFC 7313 §5).
    Reserved(u8),
}

impl RefreshSubtype {
    pub fn name(self) -> &'static str {
        match self {
            RefreshSubtype::Request => "request",
            RefreshSubtype::Begin => "begin",
            RefreshSubtype::End => "end",
            RefreshSubtype::Reserved(_) => "reserved",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct RouteRefresh {
    pub family: Family,
    pub subtype: RefreshSubtype,
}

impl RouteRefresh {
    pub(crate) fn decode(body: &[u8]) -> Result<RouteRefresh, WireError> {
        let [a1, a2, sub, safi] = body else {
            // RFC 7313 §5: a ROUTE-REFRESH whose length is not 23 octets.
            return Err(WireError::new(
                code::ROUTE_REFRESH_MESSAGE,
                route_refresh::INVALID_MESSAGE_LENGTH,
                format!("ROUTE-REFRESH length {} is not 23", body.len() + 19),
            )
            .with_data(body.to_vec()));
        };
        let subtype = match sub {
            0 => RefreshSubtype::Request,
            1 => RefreshSubtype::Begin,
            2 => RefreshSubtype::End,
            s => RefreshSubtype::Reserved(*s),
        };
        Ok(RouteRefresh { family: Family::new(Afi(u16::from_be_bytes([*a1, *a2])), Safi(*safi)), subtype })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.family.afi.0.to_be_bytes());
        out.push(match self.subtype {
            RefreshSubtype::Request => 0,
            RefreshSubtype::Begin => 1,
            RefreshSubtype::End => 2,
            RefreshSubtype::Reserved(s) => s,
        });
        out.push(self.family.safi.0);
    }
}
