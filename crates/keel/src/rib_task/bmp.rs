//! BMP stations' feeds (keel_bmp::station): the RIB task's change stream per view, and the
//! dumps and statistics the station tasks ask for. Off (`bmp: None`, one branch per event)
//! without a `[[bmp.station]]`; a feed never blocks the RIB task ([`Feed::send`] only
//! `try_send`s, and a full feed drops its station, which is re-dumped).

use super::{Peer, RibTask};
use crate::events::DownReason;
use crate::negotiate::Negotiated;
use keel_bmp::station::{from_rib, Change, Down, Dump, Feed, Request, Routes, Session, View};
use keel_rib::adj_rib_out::ExportPolicy;
use keel_rib::Changed;
use keel_wire::{CodecOptions, Message, Notification, Update};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::sync::oneshot;
use tracing::warn;

/// The feeds, and each Established neighbor's session as its Peer Up tells it.
pub(crate) struct Bmp {
    feeds: Vec<Feed>,
    sessions: HashMap<IpAddr, Arc<Session>>,
    /// Dumps asked for during keel's selection deferral wait for its end.
    pending: Vec<(usize, u64, Vec<View>, oneshot::Sender<Dump>)>,
}

impl RibTask {
    /// Feeds the BMP stations (keel_bmp::station::spawn made them, in this order).
    pub fn with_bmp(mut self, feeds: Vec<Feed>) -> Self {
        if !feeds.is_empty() {
            self.bmp = Some(Box::new(Bmp { feeds, sessions: HashMap::new(), pending: Vec::new() }));
        }
        self
    }

    pub(super) fn bmp_wants(&self, view: View) -> bool {
        self.bmp.as_ref().is_some_and(|b| b.feeds.iter().any(|f| f.wants(view)))
    }

    fn bmp_send(&mut self, view: Option<View>, change: Change) {
        let Some(b) = self.bmp.as_mut() else { return };
        for f in b.feeds.iter_mut().filter(|f| view.map_or(f.live(), |v| f.wants(v))) {
            f.send(change.clone());
        }
    }

    fn bmp_neighbor(&self, address: IpAddr) -> Option<(from_rib::Neighbor, &Peer)> {
        let b = self.bmp.as_ref()?;
        let session = b.sessions.get(&address)?;
        let peer = self.peers.get(&address)?;
        let negotiated = &peer.session.as_ref()?.negotiated;
        let n = from_rib::Neighbor {
            peer: session.peer,
            id: peer.id,
            receive: negotiated.codec_receive(),
            send: negotiated.codec_send(),
        };
        Some((n, peer))
    }

    pub(super) fn bmp_peer_up(&mut self, address: IpAddr, negotiated: &Negotiated, local: SocketAddr) {
        let Some(b) = self.bmp.as_mut() else { return };
        let open = |o: &keel_wire::Open| Message::Open(o.clone()).encode(&CodecOptions::default()).unwrap_or_default();
        let session = Arc::new(Session {
            peer: keel_bmp::station::Peer {
                address,
                asn: negotiated.remote.asn(),
                bgp_id: negotiated.remote.router_id,
            },
            local,
            // Deviation from RFC 7854 §4.10: the neighbor's port is not known to the RIB task.
            remote_port: 0,
            sent_open: open(&negotiated.local),
            received_open: open(&negotiated.remote),
            families: negotiated.families.clone(),
            four_octet_as: negotiated.four_octet_as,
        });
        b.sessions.insert(address, session.clone());
        self.bmp_send(None, Change::PeerUp(session));
    }

    pub(super) fn bmp_peer_down(&mut self, address: IpAddr, reason: &DownReason) {
        let Some(session) = self.bmp.as_mut().and_then(|b| b.sessions.remove(&address)) else { return };
        let notification = |code: u8, subcode: u8| {
            Message::Notification(Notification::new(code, subcode, Vec::new()))
                .encode(&CodecOptions::default())
                .unwrap_or_default()
        };
        let reason = match *reason {
            DownReason::TcpFailure | DownReason::Restarted => Down::RemoteNoNotification,
            // RFC 4271 §6.5: Hold Timer Expired, code 4.
            DownReason::HoldTimerExpired => Down::LocalNotification(notification(4, 0)),
            DownReason::NotificationSent { code, subcode } => Down::LocalNotification(notification(code, subcode)),
            DownReason::NotificationReceived { code, subcode } => {
                Down::RemoteNotification(notification(code, subcode))
            }
            DownReason::AdministrativeStop { code: Some(code), subcode } => {
                Down::LocalNotification(notification(code, subcode.unwrap_or(0)))
            }
            // RFC 4271 §8.1.2 Event 2, ManualStop.
            DownReason::AdministrativeStop { code: None, .. } => Down::LocalNoNotification(2),
        };
        self.bmp_send(None, Change::PeerDown { peer: session.peer, reason });
    }

    /// A copy of an UPDATE for the Adj-RIB-In views, when a station monitors one.
    pub(super) fn bmp_copy(&self, update: &Update) -> Option<Box<Update>> {
        (self.bmp_wants(View::AdjRibInPre) || self.bmp_wants(View::AdjRibInPost)).then(|| Box::new(update.clone()))
    }

    /// The UPDATE as received, and after import policy (it is applied by now).
    pub(super) fn bmp_received(&mut self, address: IpAddr, update: &Update) {
        let Some((n, _)) = self.bmp_neighbor(address) else { return };
        let mut errors = Vec::new();
        let pre = self.bmp_wants(View::AdjRibInPre).then(|| n.received(update, &mut errors)).flatten();
        let post = (self.bmp_wants(View::AdjRibInPost) && update.as_end_of_rib().is_none())
            .then(|| n.accepted(&self.rib, update, &mut errors));
        log_errors(&errors);
        for r in pre.into_iter().chain(post) {
            self.bmp_send(Some(r.view), Change::Routes(r));
        }
    }

    pub(super) fn bmp_loc_rib(&mut self, changed: &[Changed]) {
        if changed.is_empty() || !self.bmp_wants(View::LocRib) {
            return;
        }
        let mut errors = Vec::new();
        let r = from_rib::loc_rib_changes(&self.rib, changed, &mut errors);
        log_errors(&errors);
        self.bmp_send(Some(View::LocRib), Change::Routes(r));
    }

    /// What was just written to `address` (whole messages), for the Adj-RIB-Out view.
    pub(super) fn bmp_sent(&mut self, address: IpAddr, bytes: &[u8]) {
        let Some(s) = self.bmp.as_ref().and_then(|b| b.sessions.get(&address)) else { return };
        let r = Routes {
            view: View::AdjRibOutPost,
            peer: Some(s.peer),
            legacy_as_path: !s.four_octet_as,
            updates: bytes.into(),
        };
        self.bmp_send(Some(View::AdjRibOutPost), Change::Routes(r));
    }

    pub(super) fn bmp_request(&mut self, r: Request) {
        match r {
            Request::Dump { station, epoch, views, reply } => {
                if let Some(b) = self.bmp.as_mut() {
                    b.pending.push((station, epoch, views, reply));
                }
                self.bmp_dumps();
            }
            Request::Statistics { reply } => {
                let _ = reply.send(self.bmp_statistics());
            }
        }
    }

    /// Answers the dumps asked for, unless keel defers selection (its Loc-RIB is not made
    /// yet): each station's feed starts at its dump.
    pub(super) fn bmp_dumps(&mut self) {
        if self.deferral.is_some() {
            return;
        }
        let Some(pending) = self.bmp.as_mut().map(|b| std::mem::take(&mut b.pending)) else { return };
        for (station, epoch, views, reply) in pending {
            let dump = self.bmp_dump(&views);
            if let Some(f) = self.bmp.as_mut().and_then(|b| b.feeds.get_mut(station)) {
                f.start(epoch);
            }
            let _ = reply.send(dump);
        }
    }

    fn bmp_dump(&self, views: &[View]) -> Dump {
        let mut errors = Vec::new();
        let mut dump = Dump {
            local_asn: self.local_asn,
            router_id: self.router_id,
            sessions: self.bmp.as_ref().map(|b| b.sessions.values().cloned().collect()).unwrap_or_default(),
            routes: Vec::new(),
            loc_rib_families: vec![keel_wire::Family::IPV4_UNICAST],
        };
        for &view in views {
            if view == View::LocRib {
                dump.routes.push(from_rib::loc_rib(&self.rib, &mut dump.loc_rib_families, &mut errors));
                continue;
            }
            for s in &dump.sessions {
                let Some((n, peer)) = self.bmp_neighbor(s.peer.address) else { continue };
                let r = match (view, peer.session.as_ref()) {
                    (View::AdjRibOutPost, Some(session)) => {
                        let chain = self.chains.get(&s.peer.address).map(|c| c.export.clone());
                        let validator = chain.as_ref().filter(|c| c.uses_rpki()).map(|_| self.rpki.validator());
                        let policy = ExportPolicy {
                            chain: chain.as_deref(),
                            vrps: validator.as_ref().and_then(|v| v.table()).map(|t| &**t),
                            local_asn: self.local_asn,
                            graceful_shutdown: self.graceful_shutdown.contains(&s.peer.address),
                        };
                        n.adj_rib_out(&self.rib, &session.adj_rib_out, &policy, &mut errors)
                    }
                    _ => n.adj_rib_in(&self.rib, view, &mut errors),
                };
                dump.routes.push(r);
            }
        }
        log_errors(&errors);
        dump
    }

    fn bmp_statistics(&self) -> keel_bmp::station::Statistics {
        let mut stats = keel_bmp::station::Statistics {
            peers: Vec::new(),
            loc_rib: from_rib::loc_rib_statistics(&self.rib),
        };
        for s in self.bmp.as_ref().map(|b| b.sessions.values()).into_iter().flatten() {
            let Some((n, peer)) = self.bmp_neighbor(s.peer.address) else { continue };
            let out = peer.session.as_ref().map(|s| &s.adj_rib_out);
            stats.peers.push((s.peer, n.statistics(&self.rib, out, &s.families)));
        }
        stats
    }
}

fn log_errors(errors: &[keel_wire::EncodeError]) {
    for e in errors {
        warn!(error = %e, "cannot encode routes for a BMP station: not sent");
    }
}
