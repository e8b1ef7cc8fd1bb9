//! Every station's [`Feed`] as the RIB task holds them: the change stream per view, the
//! sessions the Peer Ups told of, the dumps under way ([`Dump`], a piece per
//! [`Request::More`]) and the statistics the station tasks ask for. The
//! RIB task calls these at its hooks (a session up or down, an UPDATE applied, a round's
//! Loc-RIB changes, bytes written to a neighbor) and owns no BMP logic of its own.

use super::dump::{self, Dump};
use super::from_rib::{self, Neighbor};
use super::{Change, Down, Feed, Request, Router, Routes, Session, Statistics, View};
use keel_rib::{Changed, Rib};
use keel_wire::{EncodeError, Family, Nlri, Update};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use tokio::sync::oneshot;
use tracing::warn;

pub use super::dump::WithAdjRibOut;

pub struct Feeds {
    feeds: Vec<Feed>,
    sessions: HashMap<IpAddr, (Arc<Session>, Neighbor)>,
    /// Dumps asked for and not started yet (keel defers selection).
    pending: Vec<(usize, u64, Vec<View>, oneshot::Sender<Router>)>,
    /// Dumps under way, per station.
    dumps: Vec<(usize, Dump)>,
    /// Routes per piece of a dump.
    piece: usize,
}

impl Feeds {
    /// `None` without stations: the RIB task then skips every hook at one branch.
    pub fn new(feeds: Vec<Feed>) -> Option<Box<Feeds>> {
        (!feeds.is_empty()).then(|| {
            Box::new(Feeds {
                feeds,
                sessions: HashMap::new(),
                pending: Vec::new(),
                dumps: Vec::new(),
                piece: dump::PIECE,
            })
        })
    }

    /// Routes per piece of a dump (tests make it small).
    pub fn with_piece(mut self: Box<Self>, piece: usize) -> Box<Self> {
        self.piece = piece.max(1);
        self
    }

    /// Whether a live station monitors `view`.
    pub fn wants(&self, view: View) -> bool {
        self.feeds.iter().any(|f| f.wants(view))
    }

    /// Queues `change` for every live station monitoring `view` (all live ones for `None`).
    fn send(&mut self, view: Option<View>, change: Change) {
        self.forget_dead_dumps();
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

    /// Drops the dumps of stations whose session ended (lost, overrun): their keys are freed
    /// now, not at the station's next session.
    fn forget_dead_dumps(&mut self) {
        let feeds = &self.feeds;
        self.dumps.retain(|(s, _)| feeds.get(*s).is_some_and(|f| f.live() && !f.link.detached()));
    }

    /// A station's request: statistics and the next pieces of dumps are answered at once,
    /// dumps queued for [`Feeds::answer_dumps`].
    pub fn request(&mut self, r: Request, rib: &Rib, out: &WithAdjRibOut) {
        self.forget_dead_dumps();
        match r {
            Request::Dump { station, epoch, views, reply } => {
                self.dumps.retain(|(s, _)| *s != station);
                self.pending.push((station, epoch, views, reply));
            }
            Request::More { station, epoch } => self.next_piece(station, epoch, rib, out),
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

    /// Starts the dumps asked for: each station's feed is turned on and takes the dump's head
    /// (the Peer Ups) and its first two pieces; the live changes follow from here.
    pub fn answer_dumps(&mut self, rib: &Rib, (asn, id): (u32, Ipv4Addr), out: &WithAdjRibOut) {
        for (station, epoch, views, reply) in std::mem::take(&mut self.pending) {
            let Some(f) = self.feeds.get_mut(station) else { continue };
            f.start(epoch);
            let sessions: Vec<_> = self.sessions.values().cloned().collect();
            let (dump, head) = Dump::start(epoch, &views, sessions, rib, self.piece);
            let sent = head.into_iter().all(|c| f.send(c));
            if sent {
                self.dumps.push((station, dump));
                // Two pieces in flight: one written while the next is made.
                self.next_piece(station, epoch, rib, out);
                self.next_piece(station, epoch, rib, out);
            }
            let _ = reply.send(Router { asn, id });
        }
    }

    /// The next piece of `station`'s dump of `epoch` into its feed; the dump is dropped when
    /// done or when the feed no longer takes it (overrun, a new session).
    fn next_piece(&mut self, station: usize, epoch: u64, rib: &Rib, out: &WithAdjRibOut) {
        let Some(i) = self.dumps.iter().position(|(s, d)| *s == station && d.epoch == epoch) else { return };
        let sessions = &self.sessions;
        let live = |s: &Arc<Session>| sessions.get(&s.peer.address).is_some_and(|(x, _)| Arc::ptr_eq(x, s));
        let mut errors = Vec::new();
        let changes = self.dumps[i].1.next_piece(rib, &live, out, &mut errors);
        log(&errors);
        let done = changes.last() == Some(&Change::DumpEnd);
        let feed = self.feeds.get_mut(station);
        let sent = feed.is_some_and(|f| changes.into_iter().all(|c| f.send(c)));
        if done || !sent {
            self.dumps.remove(i);
        }
    }

    /// Dumps under way.
    pub fn dumping(&self) -> usize {
        self.dumps.len()
    }
}

fn log(errors: &[EncodeError]) {
    for e in errors {
        warn!(error = %e, "cannot encode routes for a BMP station: not sent");
    }
}
