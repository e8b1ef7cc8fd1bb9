//! The common header every BMP message starts with (RFC 7854 §4.1) and the per-peer header of
//! the messages about one peer (RFC 7854 §4.2, with the O flag of RFC 8671 §4 and the Loc-RIB
//! instance peer of RFC 9069 §4).
//!
//! ```text
//! common header (6 octets)        per-peer header (42 octets)
//! +---------+----------------+    +-----------+------------+-------------------------+
//! | Version | Message Length |    | Peer Type | Peer Flags | Peer Distinguisher (8)  |
//! |  (1) 3  |  (4) whole msg |    +-----------+------------+-------------------------+
//! +---------+----------------+    | Peer Address (16)      | Peer AS (4) | BGP ID (4)|
//! | Message Type (1)         |    +------------------------+-------------+-----------+
//! +--------------------------+    | Timestamp seconds (4)  | Timestamp microseconds (4)
//!                                 +------------------------+--------------------------+
//! ```
//!
//! The model says what a peer is rather than which bits to set: a [`PeerType::Global`] peer
//! has an address (the V flag follows from its family), a view ([`AdjRib`]: the L and O flags)
//! and the A flag; a [`PeerType::LocRib`] instance has a distinguisher and the F flag, and its
//! address is zero. Time is an input ([`Timestamp`]); nothing here reads a clock.

use crate::error::EncodeError;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// BMP version 3 (RFC 7854 §4.1).
pub const VERSION: u8 = 3;
/// Octets in the common header.
pub const COMMON_HEADER_LEN: usize = 6;
/// Octets in the per-peer header.
pub const PEER_HEADER_LEN: usize = 42;

/// Message Type of the common header (RFC 7854 §4.1, §10.1). Route Mirroring (6) is listed for
/// completeness; keel does not send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    RouteMonitoring = 0,
    StatisticsReport = 1,
    PeerDownNotification = 2,
    PeerUpNotification = 3,
    Initiation = 4,
    Termination = 5,
    RouteMirroring = 6,
}

/// Peer flag bits (RFC 7854 §4.2, RFC 8671 §4, RFC 9069 §4.2); bit 0 is the most significant.
pub mod flags {
    /// V: the Peer Address (and a Peer Up's Local Address) is IPv6.
    pub const IPV6: u8 = 0x80;
    /// L: the routes are post-policy (else pre-policy).
    pub const POST_POLICY: u8 = 0x40;
    /// A: the UPDATE uses the legacy 2-octet AS_PATH format (RFC 7854 §4.2).
    pub const LEGACY_AS_PATH: u8 = 0x20;
    /// O: the routes are from the Adj-RIB-Out (RFC 8671 §4), else the Adj-RIB-In.
    pub const ADJ_RIB_OUT: u8 = 0x10;
    /// F, peer type 3 only: the Loc-RIB is filtered (RFC 9069 §4.2).
    pub const FILTERED: u8 = 0x80;
}

/// Appends a message: the common header of `message_type`, then what `body` writes, then fills
/// in the Message Length. On any error `out` is cut back to where it was.
pub(crate) fn message(
    out: &mut Vec<u8>,
    message_type: MessageType,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = out.len();
    out.push(VERSION);
    out.extend_from_slice(&[0; 4]);
    out.push(message_type as u8);
    let result = body(out).and_then(|()| {
        // RFC 7854 §4.1: "Length of the message in bytes (including headers, data, and
        // encapsulated messages, if any)."
        let len = out.len() - start;
        let field = u32::try_from(len).map_err(|_| EncodeError::TooLong {
            what: "BMP message",
            len,
            limit: u32::MAX as usize,
        })?;
        out[start + 1..start + 5].copy_from_slice(&field.to_be_bytes());
        Ok(())
    });
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Seconds and microseconds since 1970-01-01 00:00 UTC (RFC 7854 §4.2). Zero means the time is
/// unavailable (RFC 8671 §4, RFC 9069 §5.1), e.g. for routes sent in an initial dump.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp {
    seconds: u32,
    microseconds: u32,
}

impl Timestamp {
    /// "If zero, the time is unavailable."
    pub const UNAVAILABLE: Timestamp = Timestamp { seconds: 0, microseconds: 0 };

    /// Whole microseconds past a million carry into the seconds; seconds past the 32-bit field
    /// (year 2106) stay at its largest value.
    pub fn new(seconds: u32, microseconds: u32) -> Timestamp {
        match seconds.checked_add(microseconds / 1_000_000) {
            Some(seconds) => Timestamp { seconds, microseconds: microseconds % 1_000_000 },
            None => Timestamp { seconds: u32::MAX, microseconds: 999_999 },
        }
    }

    /// From the time since the Unix epoch (the caller's `SystemTime::duration_since(UNIX_EPOCH)`).
    pub fn from_unix(since_epoch: Duration) -> Timestamp {
        match u32::try_from(since_epoch.as_secs()) {
            Ok(seconds) => Timestamp { seconds, microseconds: since_epoch.subsec_micros() },
            Err(_) => Timestamp { seconds: u32::MAX, microseconds: 999_999 },
        }
    }

    pub fn seconds(self) -> u32 {
        self.seconds
    }

    pub fn microseconds(self) -> u32 {
        self.microseconds
    }
}

/// Which Adj-RIB a global peer's routes come from: the L flag (RFC 7854 §4.2) and the O flag
/// (RFC 8671 §4). Messages that carry no routes (Peer Up, Peer Down) use the default,
/// pre-policy Adj-RIB-In, with both flags clear.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum AdjRib {
    /// L=0, O=0: routes as received, before inbound policy.
    #[default]
    InPrePolicy,
    /// L=1, O=0: routes after inbound policy (RFC 7854 §2 "Post-Policy Adj-RIB-In").
    InPostPolicy,
    /// L=0, O=1: routes chosen for the peer before outbound policy (RFC 8671).
    OutPrePolicy,
    /// L=1, O=1: routes as sent to the peer, after outbound policy (RFC 8671).
    OutPostPolicy,
}

impl AdjRib {
    /// The L and O bits of this view.
    pub fn flags(self) -> u8 {
        match self {
            AdjRib::InPrePolicy => 0,
            AdjRib::InPostPolicy => flags::POST_POLICY,
            AdjRib::OutPrePolicy => flags::ADJ_RIB_OUT,
            AdjRib::OutPostPolicy => flags::POST_POLICY | flags::ADJ_RIB_OUT,
        }
    }
}

/// The Peer Type and what depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerType {
    /// Peer type 0, Global Instance Peer (RFC 7854 §4.2): a BGP neighbor. The distinguisher is
    /// zero; with [`AdjRib::OutPrePolicy`] or [`AdjRib::OutPostPolicy`] the address, AS and
    /// BGP ID are those of the peer the routes are sent to (RFC 8671 §4).
    Global {
        /// The remote address of the BGP session. An IPv4-mapped IPv6 address is sent as the
        /// IPv4 address it maps (V=0), as a collector would see the session.
        address: IpAddr,
        rib: AdjRib,
        /// A flag: the embedded UPDATEs use 2-octet AS numbers in AS_PATH (a peer without the
        /// four-octet AS capability, pre-policy).
        legacy_as_path: bool,
    },
    /// Peer type 3, Loc-RIB Instance Peer (RFC 9069 §4.1). The Peer Address is zero-filled
    /// (§5.1: "The remote peer address is not applicable.").
    LocRib {
        /// RFC 9069 §5.1: "Zero-filled if the Loc-RIB represents the global instance.
        /// Otherwise, set to the route distinguisher or unique locally defined value of the
        /// particular instance to which the Loc-RIB belongs."
        distinguisher: u64,
        /// F flag (RFC 9069 §4.2): only a subset of the Loc-RIB is sent.
        filtered: bool,
    },
}

impl PeerType {
    /// The Peer Type octet.
    pub fn code(&self) -> u8 {
        match self {
            PeerType::Global { .. } => 0,
            PeerType::LocRib { .. } => 3,
        }
    }

    /// The Peer Flags octet. RFC 9069 §4.2, for peer type 3: "The unused bits are reserved for
    /// future use. They MUST be transmitted as 0".
    pub fn flags(&self) -> u8 {
        match *self {
            PeerType::Global { address, rib, legacy_as_path } => {
                let v = if address.to_canonical().is_ipv6() { flags::IPV6 } else { 0 };
                let a = if legacy_as_path { flags::LEGACY_AS_PATH } else { 0 };
                v | rib.flags() | a
            }
            PeerType::LocRib { filtered, .. } => {
                if filtered {
                    flags::FILTERED
                } else {
                    0
                }
            }
        }
    }

    /// The peer address, canonical (IPv4-mapped addresses as IPv4); `None` for Loc-RIB.
    pub fn address(&self) -> Option<IpAddr> {
        match self {
            PeerType::Global { address, .. } => Some(address.to_canonical()),
            PeerType::LocRib { .. } => None,
        }
    }
}

/// The per-peer header (RFC 7854 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerHeader {
    pub peer_type: PeerType,
    /// The peer's AS; for a Loc-RIB instance, RFC 9069 §5.1: "Set to the primary router BGP
    /// autonomous system number (ASN)". Always four octets (a 2-octet AS is zero-extended).
    pub peer_as: u32,
    /// The peer's BGP Identifier; for a Loc-RIB instance the router's own (RFC 9069 §5.1).
    pub bgp_id: Ipv4Addr,
    pub timestamp: Timestamp,
}

impl PeerHeader {
    /// A global peer, pre-policy Adj-RIB-In view, four-octet AS_PATH.
    pub fn global(address: IpAddr, peer_as: u32, bgp_id: Ipv4Addr, timestamp: Timestamp) -> PeerHeader {
        PeerHeader {
            peer_type: PeerType::Global { address, rib: AdjRib::InPrePolicy, legacy_as_path: false },
            peer_as,
            bgp_id,
            timestamp,
        }
    }

    /// The global Loc-RIB instance (distinguisher zero, unfiltered) of a router with `local_as`
    /// and `router_id` (RFC 9069 §5.1).
    pub fn loc_rib(local_as: u32, router_id: Ipv4Addr, timestamp: Timestamp) -> PeerHeader {
        PeerHeader {
            peer_type: PeerType::LocRib { distinguisher: 0, filtered: false },
            peer_as: local_as,
            bgp_id: router_id,
            timestamp,
        }
    }

    /// The same peer seen through another Adj-RIB view; a Loc-RIB header is returned as it is.
    pub fn with_rib(mut self, view: AdjRib) -> PeerHeader {
        if let PeerType::Global { rib, .. } = &mut self.peer_type {
            *rib = view;
        }
        self
    }

    /// The same peer with another timestamp.
    pub fn with_timestamp(mut self, timestamp: Timestamp) -> PeerHeader {
        self.timestamp = timestamp;
        self
    }

    /// True when the V flag is set, which also says how a Peer Up's Local Address is read.
    pub fn is_ipv6(&self) -> bool {
        self.peer_type.address().is_some_and(|a| a.is_ipv6())
    }

    /// Appends the 42 octets.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.peer_type.code());
        out.push(self.peer_type.flags());
        let distinguisher = match self.peer_type {
            PeerType::Global { .. } => 0,
            PeerType::LocRib { distinguisher, .. } => distinguisher,
        };
        out.extend_from_slice(&distinguisher.to_be_bytes());
        put_address(out, self.peer_type.address());
        out.extend_from_slice(&self.peer_as.to_be_bytes());
        out.extend_from_slice(&self.bgp_id.octets());
        out.extend_from_slice(&self.timestamp.seconds.to_be_bytes());
        out.extend_from_slice(&self.timestamp.microseconds.to_be_bytes());
    }
}

/// Appends a 16-octet address field. RFC 7854 §4.2: an IPv4 address goes "with the 12 most
/// significant bytes zero-filled"; `None` is all zeros.
pub(crate) fn put_address(out: &mut Vec<u8>, address: Option<IpAddr>) {
    match address.map(|a| a.to_canonical()) {
        Some(IpAddr::V6(a)) => out.extend_from_slice(&a.octets()),
        Some(IpAddr::V4(a)) => {
            out.extend_from_slice(&[0; 12]);
            out.extend_from_slice(&a.octets());
        }
        None => out.extend_from_slice(&[0; 16]),
    }
}
