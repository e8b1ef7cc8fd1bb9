//! BGP capabilities (RFC 5492) carried in OPEN optional parameters.
//!
//! Each known capability has a typed variant; any other is kept as raw bytes so that it can be
//! shown and re-encoded unchanged.

pub mod add_path;
pub mod graceful_restart;
pub mod long_lived;
pub mod role;

pub use add_path::AddPathFamily;
pub use graceful_restart::{GracefulRestart, GracefulRestartFamily};
pub use long_lived::LongLivedFamily;

use crate::family::{Afi, Family, Safi};
use crate::reader::Reader;

/// Capability codes (IANA "Capability Codes" registry).
pub mod code {
    pub const MULTIPROTOCOL: u8 = 1;
    pub const ROUTE_REFRESH: u8 = 2;
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    pub const EXTENDED_MESSAGE: u8 = 6;
    pub const ROLE: u8 = 9;
    pub const GRACEFUL_RESTART: u8 = 64;
    pub const FOUR_OCTET_AS: u8 = 65;
    pub const ADD_PATH: u8 = 69;
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
    pub const LONG_LIVED_GRACEFUL_RESTART: u8 = 71;
    pub const FQDN: u8 = 73;
}

/// BGP Role values (RFC 9234 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Role {
    Provider,
    RouteServer,
    RouteServerClient,
    Customer,
    Peer,
    Other(u8),
}

impl Role {
    pub fn from_u8(v: u8) -> Role {
        match v {
            0 => Role::Provider,
            1 => Role::RouteServer,
            2 => Role::RouteServerClient,
            3 => Role::Customer,
            4 => Role::Peer,
            o => Role::Other(o),
        }
    }
    pub fn to_u8(self) -> u8 {
        match self {
            Role::Provider => 0,
            Role::RouteServer => 1,
            Role::RouteServerClient => 2,
            Role::Customer => 3,
            Role::Peer => 4,
            Role::Other(o) => o,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Role::Provider => "provider",
            Role::RouteServer => "rs",
            Role::RouteServerClient => "rs-client",
            Role::Customer => "customer",
            Role::Peer => "peer",
            Role::Other(_) => "unknown",
        }
    }
}

/// One entry of the Extended Next Hop capability (RFC 8950 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ExtendedNextHop {
    pub family: Family,
    pub next_hop_afi: Afi,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Capability {
    /// Code 1 (RFC 4760 §8).
    Multiprotocol(Family),
    /// Code 2 (RFC 2918).
    RouteRefresh,
    /// Code 5 (RFC 8950).
    ExtendedNextHop(Vec<ExtendedNextHop>),
    /// Code 6 (RFC 8654).
    ExtendedMessage,
    /// Code 9 (RFC 9234).
    Role(Role),
    /// Code 64 (RFC 4724, RFC 8538).
    GracefulRestart(GracefulRestart),
    /// Code 65 (RFC 6793).
    FourOctetAs(u32),
    /// Code 69 (RFC 7911).
    AddPath(Vec<AddPathFamily>),
    /// Code 70 (RFC 7313).
    EnhancedRouteRefresh,
    /// Code 71 (RFC 9494).
    LongLivedGracefulRestart(Vec<LongLivedFamily>),
    /// Code 73 (draft-walton-bgp-hostname-capability).
    Fqdn { hostname: String, domain: String },
    /// Any other capability, kept as it came.
    Unknown { code: u8, value: Vec<u8> },
}

impl Capability {
    pub fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol(_) => code::MULTIPROTOCOL,
            Capability::RouteRefresh => code::ROUTE_REFRESH,
            Capability::ExtendedNextHop(_) => code::EXTENDED_NEXT_HOP,
            Capability::ExtendedMessage => code::EXTENDED_MESSAGE,
            Capability::Role(_) => code::ROLE,
            Capability::GracefulRestart(_) => code::GRACEFUL_RESTART,
            Capability::FourOctetAs(_) => code::FOUR_OCTET_AS,
            Capability::AddPath(_) => code::ADD_PATH,
            Capability::EnhancedRouteRefresh => code::ENHANCED_ROUTE_REFRESH,
            Capability::LongLivedGracefulRestart(_) => code::LONG_LIVED_GRACEFUL_RESTART,
            Capability::Fqdn { .. } => code::FQDN,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// The name keel prints for it (`keel decode`, the API).
    pub fn name(&self) -> &'static str {
        match self {
            Capability::Multiprotocol(_) => "multiprotocol",
            Capability::RouteRefresh => "route-refresh",
            Capability::ExtendedNextHop(_) => "extended-next-hop",
            Capability::ExtendedMessage => "extended-message",
            Capability::Role(_) => "role",
            Capability::GracefulRestart(_) => "graceful-restart",
            Capability::FourOctetAs(_) => "four-octet-as",
            Capability::AddPath(_) => "add-path",
            Capability::EnhancedRouteRefresh => "enhanced-route-refresh",
            Capability::LongLivedGracefulRestart(_) => "long-lived-graceful-restart",
            Capability::Fqdn { .. } => "fqdn",
            Capability::Unknown { .. } => "unknown",
        }
    }

    /// Decodes one capability value. A malformed known capability is an error (the caller
    /// answers with OPEN Message Error).
    pub fn decode(code: u8, value: &[u8]) -> Result<Capability, String> {
        let fixed = |n: usize, what: &str| {
            if value.len() == n {
                Ok(())
            } else {
                Err(format!("{what} capability length {} is not {n}", value.len()))
            }
        };
        let mut r = Reader::new(value);
        Ok(match code {
            code::MULTIPROTOCOL => {
                fixed(4, "multiprotocol")?;
                let afi = r.u16().unwrap_or_default();
                let _reserved = r.u8();
                Capability::Multiprotocol(Family::new(Afi(afi), Safi(r.u8().unwrap_or_default())))
            }
            code::ROUTE_REFRESH => {
                fixed(0, "route refresh")?;
                Capability::RouteRefresh
            }
            code::EXTENDED_NEXT_HOP => {
                if !value.len().is_multiple_of(6) {
                    return Err(format!("extended next hop capability length {} is not 6n", value.len()));
                }
                let mut v = Vec::with_capacity(value.len() / 6);
                while let (Some(afi), Some(safi), Some(nh)) = (r.u16(), r.u16(), r.u16()) {
                    // The NLRI SAFI is carried in two octets here (RFC 8950 §3).
                    let safi = u8::try_from(safi).map_err(|_| format!("extended next hop SAFI {safi} out of range"))?;
                    v.push(ExtendedNextHop { family: Family::new(Afi(afi), Safi(safi)), next_hop_afi: Afi(nh) });
                }
                Capability::ExtendedNextHop(v)
            }
            code::EXTENDED_MESSAGE => {
                fixed(0, "extended message")?;
                Capability::ExtendedMessage
            }
            code::ROLE => {
                fixed(1, "role")?;
                Capability::Role(Role::from_u8(value[0]))
            }
            code::GRACEFUL_RESTART => Capability::GracefulRestart(GracefulRestart::decode(value)?),
            code::FOUR_OCTET_AS => {
                fixed(4, "four-octet AS")?;
                Capability::FourOctetAs(r.u32().unwrap_or_default())
            }
            code::ADD_PATH => match add_path::decode(value)? {
                Some(v) => Capability::AddPath(v),
                None => Capability::Unknown { code, value: value.to_vec() },
            },
            code::ENHANCED_ROUTE_REFRESH => {
                fixed(0, "enhanced route refresh")?;
                Capability::EnhancedRouteRefresh
            }
            code::LONG_LIVED_GRACEFUL_RESTART => Capability::LongLivedGracefulRestart(long_lived::decode(value)?),
            code::FQDN => {
                fn text(r: &mut Reader) -> Result<String, String> {
                    let n = r.u8().ok_or("FQDN capability truncated")?;
                    let b = r.take(n as usize).ok_or("FQDN capability truncated")?;
                    Ok(String::from_utf8_lossy(b).into_owned())
                }
                let hostname = text(&mut r)?;
                // Some speakers omit the domain name entirely.
                let domain = if r.is_empty() { String::new() } else { text(&mut r)? };
                Capability::Fqdn { hostname, domain }
            }
            _ => Capability::Unknown { code, value: value.to_vec() },
        })
    }

    /// Appends the capability value (without code and length).
    pub fn encode_value(&self, out: &mut Vec<u8>) {
        match self {
            Capability::Multiprotocol(f) => {
                out.extend_from_slice(&f.afi.0.to_be_bytes());
                out.push(0);
                out.push(f.safi.0);
            }
            Capability::RouteRefresh | Capability::ExtendedMessage | Capability::EnhancedRouteRefresh => {}
            Capability::ExtendedNextHop(v) => {
                for e in v {
                    out.extend_from_slice(&e.family.afi.0.to_be_bytes());
                    out.extend_from_slice(&(e.family.safi.0 as u16).to_be_bytes());
                    out.extend_from_slice(&e.next_hop_afi.0.to_be_bytes());
                }
            }
            Capability::Role(r) => out.push(r.to_u8()),
            Capability::GracefulRestart(g) => g.encode(out),
            Capability::FourOctetAs(asn) => out.extend_from_slice(&asn.to_be_bytes()),
            Capability::AddPath(v) => add_path::encode(v, out),
            Capability::LongLivedGracefulRestart(v) => long_lived::encode(v, out),
            Capability::Fqdn { hostname, domain } => {
                for s in [hostname, domain] {
                    let b = &s.as_bytes()[..s.len().min(255)];
                    out.push(b.len() as u8);
                    out.extend_from_slice(b);
                }
            }
            Capability::Unknown { value, .. } => out.extend_from_slice(value),
        }
    }
}
