//! A station session's messages as bytes, from the RIB task's [`Change`]s (the dump's and
//! the live ones) and
//! [`Statistics`]: pure, with the time passed in. What cannot be encoded is skipped and
//! counted in the returned error list (a bug to log), never a panic.

use super::{Change, Down, Peer, Routes, Session, Statistics, View};
use crate::error::EncodeError;
use crate::header::{AdjRib, PeerHeader, PeerType, Timestamp};
use crate::{
    Initiation, PeerDown, PeerDownReason, PeerInformation, PeerUp, RouteMonitoring, StatisticsReport, Termination,
    TerminationReason,
};
use keel_wire::capability::Capability;
use keel_wire::{CodecOptions, Family, Message, Open};
use std::net::Ipv4Addr;

/// The router a session's messages describe, known from its dump on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Router {
    pub asn: u32,
    pub id: Ipv4Addr,
}

/// An encoder of one session's messages into `out`, collecting what failed.
pub struct Encoder<'a> {
    pub router: Router,
    pub now: Timestamp,
    pub out: &'a mut Vec<u8>,
    pub errors: Vec<EncodeError>,
}

impl Encoder<'_> {
    fn put(&mut self, r: Result<(), EncodeError>) {
        if let Err(e) = r {
            self.errors.push(e);
        }
    }

    pub fn initiation(&mut self, sys_name: &str, sys_descr: &str) {
        let r = Initiation::new(sys_name, sys_descr).encode(self.out);
        self.put(r);
    }

    pub fn termination(&mut self, reason: TerminationReason, why: &str) {
        let r = Termination { reason, strings: vec![why] }.encode(self.out);
        self.put(r);
    }

    fn header(&self, peer: &Peer) -> PeerHeader {
        PeerHeader::global(peer.address, peer.asn, peer.bgp_id, self.now)
    }

    fn loc_rib_header(&self) -> PeerHeader {
        PeerHeader::loc_rib(self.router.asn, self.router.id, self.now)
    }

    pub fn peer_up(&mut self, s: &Session) {
        let m = PeerUp {
            peer: self.header(&s.peer),
            local_address: Some(s.local.ip()),
            local_port: s.local.port(),
            remote_port: s.remote_port,
            sent_open: &s.sent_open,
            received_open: &s.received_open,
            information: Vec::new(),
        };
        let r = m.encode(self.out);
        self.put(r);
    }

    /// The Loc-RIB instance's Peer Up (RFC 9069 §5.2) with a fabricated OPEN: 4-octet AS and
    /// the Loc-RIB's families.
    pub fn loc_rib_peer_up(&mut self, families: &[Family]) {
        let mut caps: Vec<Capability> = families.iter().map(|f| Capability::Multiprotocol(*f)).collect();
        caps.push(Capability::FourOctetAs(self.router.asn));
        let open = Message::Open(Open::new(self.router.asn, 0, self.router.id, caps));
        let r = open.encode(&CodecOptions::default()).map_err(EncodeError::from).and_then(|open| {
            PeerUp::loc_rib(self.loc_rib_header(), &open, PeerInformation::GLOBAL_TABLE_NAME).encode(self.out)
        });
        self.put(r);
    }

    pub fn peer_down(&mut self, peer: &Peer, reason: &Down) {
        let reason = match reason {
            Down::LocalNotification(n) => PeerDownReason::LocalSystemClosedNotification(n),
            Down::LocalNoNotification(event) => PeerDownReason::LocalSystemClosedFsmEvent(*event),
            Down::RemoteNotification(n) => PeerDownReason::RemoteSystemClosedNotification(n),
            Down::RemoteNoNotification => PeerDownReason::RemoteSystemClosedNoData,
            Down::Deconfigured => PeerDownReason::PeerDeconfigured,
        };
        let r = PeerDown { peer: self.header(peer), reason }.encode(self.out);
        self.put(r);
    }

    fn view_header(&self, view: View, peer: Option<&Peer>, legacy_as_path: bool) -> PeerHeader {
        let rib = match view {
            View::AdjRibInPre => AdjRib::InPrePolicy,
            View::AdjRibInPost => AdjRib::InPostPolicy,
            View::AdjRibOutPost => AdjRib::OutPostPolicy,
            View::LocRib => return self.loc_rib_header(),
        };
        match peer {
            Some(p) => {
                let mut h = self.header(p).with_rib(rib);
                if let PeerType::Global { legacy_as_path: a, .. } = &mut h.peer_type {
                    *a = legacy_as_path;
                }
                h
            }
            None => self.loc_rib_header(),
        }
    }

    /// One Route Monitoring message per UPDATE in `routes`.
    pub fn routes(&mut self, routes: &Routes) {
        let header = self.view_header(routes.view, routes.peer.as_ref(), routes.legacy_as_path);
        for m in messages(&routes.updates) {
            if m.get(18) == Some(&(keel_wire::MessageType::Update as u8)) {
                let r = RouteMonitoring::new(header, m).encode(self.out);
                self.put(r);
            }
        }
    }

    pub fn end_of_rib(&mut self, view: View, peer: Option<&Peer>, family: Family) {
        let r = RouteMonitoring::encode_end_of_rib(self.view_header(view, peer, false), family, self.out);
        self.put(r);
    }

    pub fn change(&mut self, change: &Change) {
        match change {
            Change::PeerUp(s) => self.peer_up(s),
            Change::PeerDown { peer, reason } => self.peer_down(peer, reason),
            Change::Routes(r) => self.routes(r),
            Change::LocRibUp(families) => self.loc_rib_peer_up(families),
            Change::EndOfRib { view, peer, family } => self.end_of_rib(*view, peer.as_ref(), *family),
            Change::DumpMore | Change::DumpEnd => {}
        }
    }

    /// One Statistics Report per neighbor, and the Loc-RIB instance's when it has stats.
    pub fn statistics(&mut self, stats: &Statistics) {
        for (peer, s) in &stats.peers {
            let r = StatisticsReport { peer: self.header(peer), stats: s.clone() }.encode(self.out);
            self.put(r);
        }
        if !stats.loc_rib.is_empty() {
            let r = StatisticsReport { peer: self.loc_rib_header(), stats: stats.loc_rib.clone() }.encode(self.out);
            self.put(r);
        }
    }
}

/// The whole BGP messages in `bytes`, by their length fields; a truncated tail is left out.
pub fn messages(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        let len = usize::from(u16::from_be_bytes([*rest.get(16)?, *rest.get(17)?]));
        if len < keel_wire::header::LEN || len > rest.len() {
            return None;
        }
        let (m, tail) = rest.split_at(len);
        rest = tail;
        Some(m)
    })
}
