//! BMP stations: the TCP client that streams keel's sessions and RIB views to a monitoring
//! station (RFC 7854 §3.2: the router connects to the station), and what the RIB task hands it.
//!
//! Unlike the encoder modules above, this one does I/O (tokio). Its shape:
//!
//! ```text
//!   RIB task --Feed::send(Change), try_send on a bounded channel--> station task --TCP--> station
//!        ^                                                             |
//!        +------ Request::{Dump, More, Statistics} (oneshot replies) --+
//! ```
//!
//! - The RIB task owns one [`Feed`] per station and never waits on it: a full channel marks the
//!   station overrun ([`Link`]); the station task then drops its connection (counted and
//!   logged) and, `reconnect` seconds later, connects again and asks for a fresh dump. A slow or
//!   dead station so never slows BGP; it costs at most its buffer of changes.
//! - A session with a station: Initiation (sysName, sysDescr), then the dump, streamed
//!   ([`dump`]): the Peer Ups (each Established neighbor, the Loc-RIB instance), then the
//!   routes of each configured [`View`] in pieces of [`dump::PIECE`] routes, one made each time
//!   the station task takes the one before it from its channel ([`Change::DumpMore`], answered
//!   by [`Request::More`]), so at most two pieces are in memory whatever the table's size;
//!   then an End-of-RIB per view, peer and family, a Statistics Report per peer, and the live
//!   [`Change`]s, with a Statistics Report per peer every `statistics` seconds; Termination
//!   when keeld stops or restarts.
//! - Consistency: the feed is turned on when the dump starts, so the live changes flow during
//!   it, in one channel with its pieces, in the RIB task's order. A piece holds each route's
//!   state when the piece is made: a change before it is overwritten by it, a change after it
//!   follows it, so the station ends with the RIB's state. Each session has an epoch; changes
//!   left in the channel from an earlier session carry an older one and are skipped.
//!
//! [`Feeds`] is what the RIB task holds (every station's feed, the sessions, the dumps under
//! way); [`from_rib`] builds the live route changes and the statistics from keel-rib's tables
//! (pure); [`dump`] the dump's pieces (pure); [`encode`] turns them into BMP messages (pure);
//! [`client`] is the task. docs/bmp.md is the operator's side: views, their cost, the pmacct
//! recipe.

pub mod client;
pub mod dump;
pub mod encode;
mod feed;
mod feeds;
pub mod from_rib;

pub use client::{spawn, start, Handle, StationConfig};
pub use encode::Router;
pub use feed::{Feed, Link};
pub use feeds::{Feeds, WithAdjRibOut};

use crate::stats::Stat;
use keel_wire::{CodecOptions, Family, Message, Notification, Open};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tokio::sync::oneshot;

/// The RIB views a station can monitor (config `views`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum View {
    /// `adj_rib_in_pre`: each neighbor's routes as received (RFC 7854 §2, L=0).
    AdjRibInPre,
    /// `adj_rib_in_post`: each neighbor's routes after import policy (L=1).
    AdjRibInPost,
    /// `loc_rib`: the best paths, as the Loc-RIB instance peer (RFC 9069, peer type 3).
    LocRib,
    /// `adj_rib_out_post`: what each neighbor was sent, after export policy (RFC 8671, O=1 L=1).
    AdjRibOutPost,
}

impl View {
    pub const ALL: [View; 4] = [View::AdjRibInPre, View::AdjRibInPost, View::LocRib, View::AdjRibOutPost];

    /// The configuration's name of the view.
    pub fn name(self) -> &'static str {
        match self {
            View::AdjRibInPre => "adj_rib_in_pre",
            View::AdjRibInPost => "adj_rib_in_post",
            View::LocRib => "loc_rib",
            View::AdjRibOutPost => "adj_rib_out_post",
        }
    }
}

/// A neighbor as a per-peer header names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    pub address: IpAddr,
    pub asn: u32,
    pub bgp_id: Ipv4Addr,
}

/// An Established session, as its Peer Up tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub peer: Peer,
    /// keel's end of the TCP connection.
    pub local: SocketAddr,
    /// The neighbor's TCP port.
    pub remote_port: u16,
    /// Both OPENs, whole BGP messages (keel-wire's encoding of what was exchanged).
    pub sent_open: Vec<u8>,
    pub received_open: Vec<u8>,
    /// The negotiated families: one End-of-RIB per view and family after a dump.
    pub families: Vec<Family>,
    /// Whether UPDATEs keel sends this neighbor carry 4-octet AS numbers (else the A flag is set
    /// on its Adj-RIB-Out messages).
    pub four_octet_as: bool,
}

impl Session {
    /// A session with `peer` over the TCP connection `local` to `remote` (RFC 7854 §4.10: the
    /// Peer Up's Local Address, Local Port and Remote Port), its OPENs encoded by keel-wire.
    pub fn new(
        peer: Peer,
        (local, remote): (SocketAddr, SocketAddr),
        sent: &Open,
        received: &Open,
        families: Vec<Family>,
        four_octet_as: bool,
    ) -> Session {
        let encode = |o: &Open| Message::Open(o.clone()).encode(&CodecOptions::default()).unwrap_or_default();
        Session {
            peer,
            local,
            remote_port: remote.port(),
            sent_open: encode(sent),
            received_open: encode(received),
            families,
            four_octet_as,
        }
    }
}

/// Why a session went down (the Peer Down reason, RFC 7854 §4.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Down {
    /// 1: keel sent this NOTIFICATION (a whole BGP message).
    LocalNotification(Vec<u8>),
    /// 2: keel closed without a NOTIFICATION, for this FSM event (RFC 4271 §8.1; 0 if none).
    LocalNoNotification(u16),
    /// 3: the neighbor sent this NOTIFICATION.
    RemoteNotification(Vec<u8>),
    /// 4: the connection was lost without a NOTIFICATION (a restarting neighbor, usually).
    RemoteNoNotification,
    /// 5: the neighbor left the configuration.
    Deconfigured,
}

impl Down {
    /// Reason 1 (sent by keel) or 3 (received) with the NOTIFICATION `code`/`subcode`/`data`,
    /// encoded again by keel-wire: the same octets as went over the wire (a NOTIFICATION has
    /// one encoding).
    pub fn notification(sent: bool, code: u8, subcode: u8, data: &[u8]) -> Down {
        let n = Message::Notification(Notification::new(code, subcode, data.to_vec()));
        let bytes = n.encode(&CodecOptions::default()).unwrap_or_default();
        if sent {
            Down::LocalNotification(bytes)
        } else {
            Down::RemoteNotification(bytes)
        }
    }
}

/// Routes of one view: whole BGP UPDATE messages back to back (other BGP messages among them,
/// such as ROUTE-REFRESH markers in what a neighbor was sent, are skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routes {
    pub view: View,
    /// The neighbor; `None` for the Loc-RIB view.
    pub peer: Option<Peer>,
    /// The UPDATEs use 2-octet AS numbers (the A flag, RFC 7854 §4.2).
    pub legacy_as_path: bool,
    pub updates: Arc<[u8]>,
}

/// What the RIB task tells a live station: the dump's parts and the live changes, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    PeerUp(Arc<Session>),
    PeerDown {
        peer: Peer,
        reason: Down,
    },
    Routes(Routes),
    /// The Loc-RIB instance's Peer Up (RFC 9069 §5.2), with its families.
    LocRibUp(Vec<Family>),
    /// A view's End-of-RIB marker after its dump (RFC 9069 §5.4 for the Loc-RIB).
    EndOfRib {
        view: View,
        peer: Option<Peer>,
        family: Family,
    },
    /// The dump has more: the station task asks for the next piece ([`Request::More`]) when it
    /// takes this from its channel.
    DumpMore,
    /// The dump is complete: the station task sends its Statistics Reports.
    DumpEnd,
}

/// Statistics Report contents (RFC 7854 §4.8): per neighbor, and the Loc-RIB instance's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Statistics {
    pub peers: Vec<(Peer, Vec<Stat>)>,
    pub loc_rib: Vec<Stat>,
}

/// What a station task asks the RIB task.
#[derive(Debug)]
pub enum Request {
    /// Turn on feed `station` with `epoch` and start the dump of `views` into it; the reply is
    /// the router the messages describe (its AS and BGP ID), sent once the dump's Peer Ups
    /// are queued.
    Dump {
        station: usize,
        epoch: u64,
        views: Vec<View>,
        reply: oneshot::Sender<Router>,
    },
    /// The next piece of feed `station`'s dump of `epoch` ([`Change::DumpMore`]).
    More {
        station: usize,
        epoch: u64,
    },
    Statistics {
        reply: oneshot::Sender<Statistics>,
    },
}

#[cfg(test)]
mod tests;
