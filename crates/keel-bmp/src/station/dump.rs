//! A station's initial dump, streamed: the routes of each view in pieces of at most [`PIECE`]
//! routes, each made by the RIB task when the station task took the one before (pure: the RIB
//! task calls [`Dump::next_piece`] with its tables).
//!
//! The dump never copies a view's routes: when a view's stream starts (per view, per
//! neighbor), it takes the *keys* of its routes (family, prefix, path identifier and a hint of
//! the attribute set to sort by; 20 octets for IPv4, 21 MB for a full table), and each piece
//! looks its keys up in the tables as they are then. So:
//!
//! - a route changed after the keys were taken and before its piece: the live change went to
//!   the station first, the piece (with the route as it is now) after it;
//! - a route changed after its piece: the live change follows the piece;
//! - a route added after the keys were taken: not in the dump, its live change carries it;
//! - a route gone: its key finds nothing and is skipped, its live withdrawal went out.
//!
//! The station so ends with the tables' state, and every route message of a neighbor comes
//! after its Peer Up. A neighbor whose session ends during the dump (its Peer Down went out
//! live) is left out from then on, End-of-RIB markers included; one that comes up during it
//! is not in the dump (its Peer Up and routes go out live).
//!
//! Memory: the keys of one stream at a time, and at most two pieces between the RIB task and
//! the socket. Grouping into UPDATEs is per piece (keel-rib's [`ByAttrSet`] for the
//! Adj-RIB-In and Loc-RIB views, [`SentExports`] for the Adj-RIB-Out, the grouping
//! [`keel_rib::AdjRibOut`] packs with).

use super::from_rib::Neighbor;
use super::{Change, Routes, Session, View};
use keel_rib::adj_rib_out::SentExports;
use keel_rib::update_groups::ByAttrSet;
use keel_rib::{AdjRibInCount, Rib};
use keel_wire::{CodecOptions, EncodeError, Family, Nlri, Prefix};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// A neighbor's Adj-RIB-Out and export policy, lent for the time of a call.
pub type WithAdjRibOut<'a> =
    dyn Fn(IpAddr, &mut dyn FnMut(&keel_rib::AdjRibOut, &keel_rib::adj_rib_out::ExportPolicy)) + 'a;

/// Routes per piece: about 1-2 MB of UPDATEs for a full table's attribute sets.
pub const PIECE: usize = 16 * 1024;

/// The keys of a view's routes: (family, prefix, path identifier), IPv4 ones in 20 octets,
/// with a hint of the route's attribute set when the keys were taken (its address, cut to 32
/// bits): sorted by it, routes that share a set come together and share UPDATEs, as a dump in
/// one step would pack them. A stale or colliding hint costs packing, never a route.
#[derive(Debug, Default)]
pub struct Keys {
    v4: Vec<(u32, u32, u32, u8, Family)>,
    other: Vec<(u32, Family, Prefix, u32)>,
}

/// The grouping hint of an attribute set.
fn hint(attrs: &Arc<keel_rib::AttrSet>) -> u32 {
    // Sets are at least 8-aligned: the low bits carry nothing.
    (Arc::as_ptr(attrs) as usize >> 3) as u32
}

impl Keys {
    pub fn with_capacity(routes: usize) -> Keys {
        Keys { v4: Vec::with_capacity(routes), other: Vec::new() }
    }

    pub fn push(&mut self, family: Family, prefix: Prefix, path_id: u32, hint: u32) {
        match prefix.addr() {
            IpAddr::V4(a) => self.v4.push((hint, u32::from(a), path_id, prefix.len(), family)),
            IpAddr::V6(_) => self.other.push((hint, family, prefix, path_id)),
        }
    }

    /// Routes of one family and hint together.
    pub fn sort(&mut self) {
        self.v4.sort_unstable_by_key(|k| (k.4, k.0));
        self.v4.shrink_to_fit();
        self.other.sort_unstable_by_key(|k| (k.1, k.0));
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.other.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> Option<(Family, Prefix, u32)> {
        match self.v4.get(i) {
            Some(&(_, a, path_id, len, family)) => {
                let addr = IpAddr::V4(Ipv4Addr::from(a));
                Some((family, Prefix::new(addr, len).unwrap_or(Prefix::host(addr)), path_id))
            }
            None => self.other.get(i - self.v4.len()).map(|&(_, f, p, id)| (f, p, id)),
        }
    }

    /// The last key pushed is `(family, prefix)` (with any path identifier).
    fn ends_with(&self, family: Family, prefix: &Prefix) -> bool {
        let last = match prefix.addr() {
            IpAddr::V4(_) => self.v4.len().checked_sub(1).and_then(|i| self.get(i)),
            IpAddr::V6(_) => self.other.last().map(|&(_, f, p, id)| (f, p, id)),
        };
        last.is_some_and(|(f, p, _)| f == family && p == *prefix)
    }
}

/// One view's stream: of the Loc-RIB, or of the neighbor at `session` (its place in
/// [`Dump::sessions`]).
#[derive(Debug)]
struct Stream {
    view: View,
    session: Option<usize>,
    keys: Keys,
    next: usize,
}

/// A dump under way for one station.
#[derive(Debug)]
pub struct Dump {
    pub epoch: u64,
    views: Vec<View>,
    /// The sessions Established when the dump started: their Peer Ups are its head.
    sessions: Vec<(Arc<Session>, Neighbor)>,
    /// The streams not started yet, in order: per view, the Loc-RIB or each neighbor.
    todo: VecDeque<(View, Option<usize>)>,
    current: Option<Stream>,
    loc_rib_families: Vec<Family>,
    /// Routes per piece.
    piece: usize,
}

impl Dump {
    /// A dump of `views` with `sessions`, and its head: the Loc-RIB instance's Peer Up (when
    /// the Loc-RIB is a view) and each session's.
    pub fn start(
        epoch: u64,
        views: &[View],
        sessions: Vec<(Arc<Session>, Neighbor)>,
        rib: &Rib,
        piece: usize,
    ) -> (Dump, Vec<Change>) {
        let mut loc_rib_families = vec![Family::IPV4_UNICAST];
        for f in rib.families() {
            if !loc_rib_families.contains(&f) {
                loc_rib_families.push(f);
            }
        }
        let mut head = Vec::new();
        if views.contains(&View::LocRib) {
            head.push(Change::LocRibUp(loc_rib_families.clone()));
        }
        head.extend(sessions.iter().map(|(s, _)| Change::PeerUp(s.clone())));
        let mut todo = VecDeque::new();
        for &view in views {
            if view == View::LocRib {
                todo.push_back((view, None));
            } else {
                todo.extend((0..sessions.len()).map(|i| (view, Some(i))));
            }
        }
        let dump =
            Dump { epoch, views: views.to_vec(), sessions, todo, current: None, loc_rib_families, piece: piece.max(1) };
        (dump, head)
    }

    /// The next piece: route messages of at most `piece` routes looked up (a stream that
    /// ends early is followed by the next), then [`Change::DumpMore`]; or, when every stream
    /// is through, the End-of-RIB markers and [`Change::DumpEnd`]. `live` tells whether a
    /// session of the dump is still the neighbor's (not down, not replaced).
    pub fn next_piece(
        &mut self,
        rib: &Rib,
        live: &dyn Fn(&Arc<Session>) -> bool,
        out: &WithAdjRibOut,
        errors: &mut Vec<EncodeError>,
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut budget = self.piece;
        while budget > 0 {
            let Some(stream) = self.current.take() else {
                let Some((view, session)) = self.todo.pop_front() else { break };
                self.current = self.stream(view, session, rib, live, out);
                continue;
            };
            // A neighbor that went down (its Peer Down is out): the rest of its stream goes.
            if stream.session.and_then(|i| self.sessions.get(i)).is_some_and(|(s, _)| !live(s)) {
                continue;
            }
            let end = (stream.next + budget).min(stream.keys.len());
            budget -= end - stream.next;
            if let Some(r) = self.routes(&stream, stream.next..end, rib, out, errors) {
                changes.push(Change::Routes(r));
            }
            if end < stream.keys.len() {
                self.current = Some(Stream { next: end, ..stream });
            }
        }
        if self.current.is_none() && self.todo.is_empty() {
            changes.extend(self.end_of_rib(live));
            changes.push(Change::DumpEnd);
        } else {
            changes.push(Change::DumpMore);
        }
        changes
    }

    /// The routes of `stream`'s keys `range`, as the tables hold them now.
    fn routes(
        &self,
        stream: &Stream,
        range: std::ops::Range<usize>,
        rib: &Rib,
        out: &WithAdjRibOut,
        errors: &mut Vec<EncodeError>,
    ) -> Option<Routes> {
        let keys = range.filter_map(|i| stream.keys.get(i));
        let neighbor = stream.session.and_then(|i| self.sessions.get(i)).map(|(_, n)| n);
        let mut groups = ByAttrSet::default();
        let (bytes, e) = match (stream.view, neighbor) {
            (View::LocRib, _) => {
                for (family, prefix, _) in keys {
                    if let Some(p) = rib.best(family, &prefix) {
                        groups.announce(family, &p.attrs, Nlri::new(prefix));
                    }
                }
                // RFC 9069 §5.4.1: 4-octet AS numbers, no Add-Path.
                groups.finish(&CodecOptions { extended_message: true, ..CodecOptions::default() })
            }
            (View::AdjRibInPre, Some(n)) => {
                for (family, prefix, path_id) in keys {
                    if let Some(attrs) = rib.received_route(n.id, family, &prefix, path_id) {
                        groups.announce(family, attrs, n.nlri(family, prefix, path_id));
                    }
                }
                groups.finish(&n.adj_rib_in_codec())
            }
            (View::AdjRibInPost, Some(n)) => {
                for (family, prefix, path_id) in keys {
                    let path = rib
                        .dest(family, &prefix)
                        .and_then(|d| d.paths.iter().find(|p| p.peer == n.id && p.path_id == path_id));
                    if let Some(p) = path {
                        groups.announce(family, &p.attrs, n.nlri(family, prefix, path_id));
                    }
                }
                groups.finish(&n.adj_rib_in_codec())
            }
            (View::AdjRibOutPost, Some(n)) => {
                let (mut bytes, mut e) = (Vec::new(), Vec::new());
                let mut keys = Some(keys);
                out(n.peer.address, &mut |o, policy| {
                    let (Some(keys), Some(mut exports)) = (keys.take(), SentExports::new(rib, n.id, policy)) else {
                        return;
                    };
                    for (family, prefix, _) in keys {
                        for (path_id, sent) in o.sent_at(family, &prefix) {
                            exports.add(family, &prefix, path_id, sent);
                        }
                    }
                    e = exports.take().encode(&n.send, &mut bytes);
                });
                (bytes, e)
            }
            _ => return None,
        };
        errors.extend(e);
        let peer = neighbor.map(|n| n.peer);
        let legacy_as_path = stream.view == View::AdjRibOutPost && neighbor.is_some_and(|n| !n.send.four_octet_as);
        (!bytes.is_empty()).then(|| Routes { view: stream.view, peer, legacy_as_path, updates: bytes.into() })
    }

    /// Starts the stream of `view` (for the neighbor at `session`): takes its keys. `None`
    /// for a neighbor no longer live.
    fn stream(
        &self,
        view: View,
        session: Option<usize>,
        rib: &Rib,
        live: &dyn Fn(&Arc<Session>) -> bool,
        out: &WithAdjRibOut,
    ) -> Option<Stream> {
        let neighbor = match session {
            Some(i) => {
                let (s, n) = self.sessions.get(i)?;
                if !live(s) {
                    return None;
                }
                Some(n)
            }
            None => None,
        };
        let mut keys = match (view, neighbor) {
            (View::LocRib, _) => Keys::with_capacity(rib.len()),
            (View::AdjRibInPre | View::AdjRibInPost, Some(n)) => {
                let count = rib.families().map(|f| rib.adj_rib_in_count(n.id, f, AdjRibInCount::Received)).sum();
                Keys::with_capacity(count)
            }
            _ => Keys::default(),
        };
        match (view, neighbor) {
            (View::LocRib, _) => {
                for (family, prefix, d) in rib.iter(None) {
                    if let Some(b) = d.best_path() {
                        keys.push(family, prefix, 0, hint(&b.attrs));
                    }
                }
            }
            (View::AdjRibInPre | View::AdjRibInPost, Some(n)) => {
                for (family, prefix, d) in rib.iter(None) {
                    for p in d.paths.iter().filter(|p| p.peer == n.id) {
                        let attrs = match view {
                            View::AdjRibInPre => {
                                rib.received_route(n.id, family, &prefix, p.path_id).unwrap_or(&p.attrs)
                            }
                            _ => &p.attrs,
                        };
                        keys.push(family, prefix, p.path_id, hint(attrs));
                    }
                }
                if view == View::AdjRibInPre {
                    // Routes import policy rejected: kept apart, not in the table.
                    for (family, prefix, path_id) in rib.pre_policy_keys(n.id) {
                        let in_table = rib
                            .dest(family, &prefix)
                            .is_some_and(|d| d.paths.iter().any(|p| p.peer == n.id && p.path_id == path_id));
                        if let Some(attrs) = rib.received_route(n.id, family, &prefix, path_id).filter(|_| !in_table) {
                            keys.push(family, prefix, path_id, hint(attrs));
                        }
                    }
                }
            }
            (View::AdjRibOutPost, Some(n)) => {
                out(n.peer.address, &mut |o, _| {
                    keys = Keys::with_capacity(o.len());
                    for ((family, prefix), _, sent) in o.sent_paths() {
                        // Several paths of a destination (Add-Path) come together: one key.
                        if !keys.ends_with(family, &prefix) {
                            keys.push(family, prefix, 0, hint(&sent.attrs));
                        }
                    }
                });
            }
            _ => return None,
        }
        keys.sort();
        Some(Stream { view, session, keys, next: 0 })
    }

    /// The End-of-RIB markers of every view, for the Loc-RIB and each session still live.
    fn end_of_rib(&self, live: &dyn Fn(&Arc<Session>) -> bool) -> Vec<Change> {
        let mut v = Vec::new();
        for &view in &self.views {
            if view == View::LocRib {
                v.extend(self.loc_rib_families.iter().map(|&family| Change::EndOfRib { view, peer: None, family }));
                continue;
            }
            for (s, _) in self.sessions.iter().filter(|(s, _)| live(s)) {
                v.extend(s.families.iter().map(|&family| Change::EndOfRib { view, peer: Some(s.peer), family }));
            }
        }
        v
    }
}
