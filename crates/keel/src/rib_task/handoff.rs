//! `keel upgrade` in the RIB task (docs/upgrade.md). The old image writes each Established
//! neighbor's Adj-RIB-In (as received, before import policy) and Adj-RIB-Out (as exported)
//! as UPDATE messages ([`RibTask::hand_off`], step O3). The new image loads them when the
//! handed-over session comes up ([`RibTask::resume_ribs`], N4): the Adj-RIB-In through the
//! new binary's import policy, the Adj-RIB-Out as what the neighbor already holds, so that
//! only what the new image decides differently goes out. Nothing is exported until every
//! handed-over session is loaded ([`Resuming`]), else a neighbor would be sent withdrawals
//! for routes of a session not loaded yet.

use super::RibTask;
use crate::events::ResumedRibs;
use keel_rib::adj_rib_out::{self, ExportPolicy};
use keel_rib::AttrSet;
use keel_wire::{builder, CodecOptions, Family, Message, Nlri, Prefix, Update};
use rustc_hash::FxHashMap;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

/// How long the new image waits for every handed-over session before it exports anyway.
pub const RESUME_WAIT: Duration = Duration::from_secs(10);

/// Routes received with one attribute set: one run of UPDATEs in the handed-over Adj-RIB-In.
type ReceivedRun = (Arc<AttrSet>, Vec<Nlri>);

/// Handed-over sessions whose RIBs are not loaded yet: exports wait for them.
#[derive(Debug)]
pub struct Resuming {
    pub waiting: BTreeSet<IpAddr>,
    pub until: Instant,
}

impl RibTask {
    /// The new image: exports wait until each of `neighbors` came up with its RIBs, or
    /// [`RESUME_WAIT`].
    pub fn with_resuming(mut self, neighbors: BTreeSet<IpAddr>) -> Self {
        if !neighbors.is_empty() {
            self.resuming = Some(Resuming { waiting: neighbors, until: Instant::now() + RESUME_WAIT });
        }
        self
    }

    /// Whether exports wait for handed-over sessions; opens the wait once its time is up.
    pub(super) fn resume_wait(&mut self) -> bool {
        match &self.resuming {
            Some(r) if r.until <= Instant::now() => {
                warn!(waiting = ?r.waiting, "handed-over sessions not resumed in time: exporting without them");
                self.resuming = None;
                false
            }
            Some(_) => true,
            None => false,
        }
    }

    /// Loads what the previous image handed over for `address`, whose session just came up.
    pub(super) fn resume_ribs(&mut self, address: IpAddr, ribs: ResumedRibs) {
        let Some(s) = self.peers.get_mut(&address).and_then(|p| p.session.as_mut()) else { return };
        let (send, receive) = (s.negotiated.codec_send(), s.negotiated.codec_receive());
        let held: Vec<(Family, Prefix, AttrSet)> = updates(address, &ribs.adj_rib_out, &send)
            .iter()
            .flat_map(AttrSet::announced)
            .flat_map(|(f, set, nlri)| nlri.into_iter().map(move |n| (f, n.prefix, set.clone())))
            .collect();
        let out = held.len();
        s.adj_rib_out.inherit(held, &ribs.end_of_rib_sent);
        let received = updates(address, &ribs.adj_rib_in, &receive);
        let messages = received.len();
        for u in received {
            self.apply_update(address, Box::new(u));
        }
        if let Some(p) = self.peers.get_mut(&address) {
            p.end_of_rib_sent.extend(ribs.end_of_rib_sent);
            p.end_of_rib_received.extend(ribs.end_of_rib_received);
        }
        info!(neighbor = %address, adj_rib_in_updates = messages, adj_rib_out_routes = out, "RIBs handed over loaded");
        if let Some(r) = self.resuming.as_mut() {
            r.waiting.remove(&address);
            if r.waiting.is_empty() {
                self.resuming = None;
            }
        }
    }

    /// The old image, step O3: every Established neighbor's Adj-RIB-In and Adj-RIB-Out as
    /// UPDATE messages, and the messages packed for it and not handed to its writer yet
    /// (they go out first in the new image, after what its writer had not written).
    pub(super) fn hand_off(&mut self) -> HashMap<IpAddr, ResumedRibs> {
        let mut out = HashMap::new();
        let rpki = self.rpki.validator();
        for (&address, peer) in self.peers.iter_mut() {
            let Some(s) = peer.session.as_mut() else { continue };
            let (send, receive) = (s.negotiated.codec_send(), s.negotiated.codec_receive());
            let mut ribs = ResumedRibs::default();
            // Adj-RIB-In: one run of UPDATEs per received attribute set.
            let mut by_set: FxHashMap<(Family, *const AttrSet), ReceivedRun> = FxHashMap::default();
            for r in self.rib.received_routes(peer.id) {
                let e =
                    by_set.entry((r.family, Arc::as_ptr(&r.attrs))).or_insert_with(|| (r.attrs.clone(), Vec::new()));
                e.1.push(Nlri::with_path_id(r.prefix, r.path_id));
            }
            for ((family, _), (set, nlri)) in by_set {
                encode(address, family, &set, &nlri, &receive, &mut ribs.adj_rib_in);
            }
            // Adj-RIB-Out: what each destination went out as, grouped by exported set.
            let policy = ExportPolicy {
                chain: self.chains.get(&address).map(|c| &*c.export),
                vrps: rpki.table().map(|t| &**t),
                local_asn: self.local_asn,
                graceful_shutdown: self.graceful_shutdown.contains(&address),
            };
            let mut exported: FxHashMap<(Family, AttrSet), Vec<Nlri>> = FxHashMap::default();
            for ((family, prefix), id, sent) in s.adj_rib_out.sent_paths() {
                if let Some(set) = adj_rib_out::exported(&self.rib, peer.id, &policy, family, &prefix, sent) {
                    let nlri = id.map_or(Nlri::new(prefix), |id| Nlri::with_path_id(prefix, id));
                    exported.entry((family, set)).or_default().push(nlri);
                }
            }
            for ((family, set), nlri) in exported {
                encode(address, family, &set, &nlri, &send, &mut ribs.adj_rib_out);
            }
            ribs.queued = s.adj_rib_out.take_queued();
            ribs.end_of_rib_sent = peer.end_of_rib_sent.iter().copied().collect();
            ribs.end_of_rib_received = peer.end_of_rib_received.iter().copied().collect();
            out.insert(address, ribs);
        }
        out
    }
}

/// Appends UPDATEs announcing `nlri` with `set` to `out`; an encoding failure is logged.
fn encode(address: IpAddr, family: Family, set: &AttrSet, nlri: &[Nlri], codec: &CodecOptions, out: &mut Vec<u8>) {
    if let Err(e) = builder::announce(family, &set.attributes, set.next_hop, nlri, codec, out) {
        warn!(neighbor = %address, %family, routes = nlri.len(), error = %e, "routes not handed over");
    }
}

/// The UPDATE messages in `bytes`, back to back; what does not decode is logged and left.
fn updates(address: IpAddr, bytes: &[u8], codec: &CodecOptions) -> Vec<Update> {
    let mut rest = bytes;
    let mut v = Vec::new();
    while !rest.is_empty() {
        let frame = match Message::next_frame(rest, codec) {
            Ok(Some(f)) => f,
            _ => {
                warn!(neighbor = %address, octets = rest.len(), "handed-over RIB cut short");
                break;
            }
        };
        match Message::decode(frame, codec) {
            Ok(Message::Update(u)) => v.push(*u),
            Ok(_) => {}
            Err(e) => warn!(neighbor = %address, error = %e, "a handed-over UPDATE does not decode"),
        }
        rest = &rest[frame.len()..];
    }
    v
}
