//! Every station's [`Feed`] as the RIB task holds them: the change stream per view, the
//! sessions the Peer Ups told of, and the dumps and statistics the station tasks ask for. The
//! RIB task calls these at its hooks (a session up or down, an UPDATE applied, a round's
//! Loc-RIB changes, bytes written to a neighbor) and owns no BMP logic of its own.

use super::from_rib::{self, Neighbor};
use super::{Change, Down, Dump, Feed, Request, Routes, Session, Statistics, View};
use keel_rib::adj_rib_out::ExportPolicy;
use keel_rib::{AdjRibOut, Changed, Rib};
use keel_wire::{EncodeError, Family, Nlri, Update};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use tokio::sync::oneshot;
use tracing::warn;

/// A neighbor's Adj-RIB-Out and export policy, lent for the time of a call.
pub type WithAdjRibOut<'a> = dyn Fn(IpAddr, &mut dyn FnMut(&AdjRibOut, &ExportPolicy)) + 'a;

pub struct Feeds {
    feeds: Vec<Feed>,
    sessions: HashMap<IpAddr, (Arc<Session>, Neighbor)>,
    /// Dumps asked for and not answered yet (keel defers selection).
    pending: Vec<(usize, u64, Vec<View>, oneshot::Sender<Dump>)>,
}

impl Feeds {
    /// `None` without stations: the RIB task then skips every hook at one branch.
    pub fn new(feeds: Vec<Feed>) -> Option<Box<Feeds>> {
        (!feeds.is_empty()).then(|| Box::new(Feeds { feeds, sessions: HashMap::new(), pending: Vec::new() }))
    }

    /// Whether a live station monitors `view`.
    pub fn wants(&self, view: View) -> bool {
        self.feeds.iter().any(|f| f.wants(view))
    }

    /// Queues `change` for every live station monitoring `view` (all live ones for `None`).
    fn send(&mut self, view: Option<View>, change: Change) {
        for f in self.feeds.iter_mut().filter(|f| view.map_or(f.live(), |v| f.wants(v))) {
            f.send(change.clone());
        }
    }

    pub fn peer_up(&mut self, session: Session, neighbor: Neighbor) {
        let session = Arc::new(session);
        self.sessions.insert(session.peer.address, (session.clone(), neighbor));
        self.send(None, Change::PeerUp(session));
    }

    pub fn peer_down(&mut self, address: IpAddr, reason: Down) {
        if let Some((s, _)) = self.sessions.remove(&address) {
            self.send(None, Change::PeerDown { peer: s.peer, reason });
        }
    }

    /// A copy of an UPDATE for the Adj-RIB-In views, made before the RIB consumes it.
    pub fn copy(&self, update: &Update) -> Option<Box<Update>> {
        (self.wants(View::AdjRibInPre) || self.wants(View::AdjRibInPost)).then(|| Box::new(update.clone()))
    }

    /// An UPDATE from `address` as received, and after import policy (`rib` has applied it).
    pub fn received(&mut self, rib: &Rib, address: IpAddr, update: &Update) {
        let Some((_, n)) = self.sessions.get(&address) else { return };
        let mut errors = Vec::new();
        let pre = self.wants(View::AdjRibInPre).then(|| n.received(update, &mut errors)).flatten();
        let post = (self.wants(View::AdjRibInPost) && update.as_end_of_rib().is_none())
            .then(|| n.accepted(rib, update, &mut errors));
        log(&errors);
        for r in pre.into_iter().chain(post) {
            self.send(Some(r.view), Change::Routes(r));
        }
    }

    /// What `address`'s post-policy Adj-RIB-In holds, when a station monitors it: taken before
    /// its routes are re-evaluated, for [`Feeds::reimported`].
    pub fn adj_rib_in_post(&self, rib: &Rib, address: IpAddr) -> Option<Vec<(Family, Nlri)>> {
        let (_, n) = self.sessions.get(&address).filter(|_| self.wants(View::AdjRibInPost))?;
        Some(n.post_policy(rib))
    }

    /// `address`'s routes were re-evaluated without an UPDATE (import policy, VRPs): its
    /// post-policy Adj-RIB-In again, with the withdrawal of what it held `before` and lost.
    pub fn reimported(&mut self, rib: &Rib, address: IpAddr, before: Vec<(Family, Nlri)>) {
        let Some((_, n)) = self.sessions.get(&address) else { return };
        let mut errors = Vec::new();
        let r = n.reimported(rib, &before, &mut errors);
        log(&errors);
        self.send(Some(View::AdjRibInPost), Change::Routes(r));
    }

    /// A round's Loc-RIB changes.
    pub fn loc_rib(&mut self, rib: &Rib, changed: &[Changed]) {
        if changed.is_empty() || !self.wants(View::LocRib) {
            return;
        }
        let mut errors = Vec::new();
        let r = from_rib::loc_rib_changes(rib, changed, &mut errors);
        log(&errors);
        self.send(Some(View::LocRib), Change::Routes(r));
    }

    /// Whole messages just written to `address`, for its Adj-RIB-Out view.
    pub fn sent(&mut self, address: IpAddr, bytes: &[u8]) {
        let Some((s, _)) = self.sessions.get(&address) else { return };
        let peer = Some(s.peer);
        let r = Routes { view: View::AdjRibOutPost, peer, legacy_as_path: !s.four_octet_as, updates: bytes.into() };
        self.send(Some(View::AdjRibOutPost), Change::Routes(r));
    }

    /// A station's request: statistics are answered at once, dumps queued for
    /// [`Feeds::answer_dumps`].
    pub fn request(&mut self, r: Request, rib: &Rib, out: &WithAdjRibOut) {
        match r {
            Request::Dump { station, epoch, views, reply } => self.pending.push((station, epoch, views, reply)),
            Request::Statistics { reply } => {
                let mut stats = Statistics { peers: Vec::new(), loc_rib: from_rib::loc_rib_statistics(rib) };
                for (s, n) in self.sessions.values() {
                    let mut v = None;
                    out(s.peer.address, &mut |o, _| v = Some(n.statistics(rib, Some(o), &s.families)));
                    stats.peers.push((s.peer, v.unwrap_or_else(|| n.statistics(rib, None, &s.families))));
                }
                let _ = reply.send(stats);
            }
        }
    }

    /// Answers the dumps asked for; each station's feed starts at its dump, so the changes
    /// that follow are those after it.
    pub fn answer_dumps(&mut self, rib: &Rib, router: (u32, Ipv4Addr), out: &WithAdjRibOut) {
        for (station, epoch, views, reply) in std::mem::take(&mut self.pending) {
            let dump = self.dump(rib, router, &views, out);
            if let Some(f) = self.feeds.get_mut(station) {
                f.start(epoch);
            }
            let _ = reply.send(dump);
        }
    }

    fn dump(&self, rib: &Rib, (local_asn, router_id): (u32, Ipv4Addr), views: &[View], out: &WithAdjRibOut) -> Dump {
        let mut errors = Vec::new();
        let sessions: Vec<_> = self.sessions.values().collect();
        let mut dump = Dump {
            local_asn,
            router_id,
            sessions: sessions.iter().map(|(s, _)| s.clone()).collect(),
            routes: Vec::new(),
            loc_rib_families: vec![Family::IPV4_UNICAST],
        };
        for &view in views {
            if view == View::LocRib {
                dump.routes.push(from_rib::loc_rib(rib, &mut dump.loc_rib_families, &mut errors));
                continue;
            }
            for (s, n) in &sessions {
                if view == View::AdjRibOutPost {
                    out(s.peer.address, &mut |o, policy| dump.routes.push(n.adj_rib_out(rib, o, policy, &mut errors)));
                } else {
                    dump.routes.push(n.adj_rib_in(rib, view, &mut errors));
                }
            }
        }
        log(&errors);
        dump
    }
}

fn log(errors: &[EncodeError]) {
    for e in errors {
        warn!(error = %e, "cannot encode routes for a BMP station: not sent");
    }
}
