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
use keel_rib::adj_rib_out::{ExportPolicy, SentExports};
use keel_rib::update_groups::ByAttrSet;
use keel_rib::AttrSet;
use keel_wire::{CodecOptions, Message, Nlri, Update};
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

/// How long the new image waits for every handed-over session before it exports anyway.
pub const RESUME_WAIT: Duration = Duration::from_secs(10);

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
    /// The messages are decoded one at a time, and each attribute set of the Adj-RIB-Out is
    /// held once for all its routes.
    pub(super) fn resume_ribs(&mut self, address: IpAddr, ribs: ResumedRibs) {
        let Some(s) = self.peers.get_mut(&address).and_then(|p| p.session.as_mut()) else { return };
        let (send, receive) = (s.negotiated.codec_send(), s.negotiated.codec_receive());
        let mut out = 0;
        let held = updates(address, &ribs.adj_rib_out, &send).flat_map(|u| {
            AttrSet::announced(&u).into_iter().flat_map(|(f, set, nlri)| {
                let set = Arc::new(set);
                nlri.into_iter().map(move |n| (f, n.prefix, set.clone()))
            })
        });
        s.adj_rib_out.inherit(held.inspect(|_| out += 1), &ribs.end_of_rib_sent);
        let mut messages = 0;
        for u in updates(address, &ribs.adj_rib_in, &receive) {
            messages += 1;
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
    /// (they go out first in the new image, after what its writer had not written). Both
    /// are grouped as keel-rib groups UPDATEs ([`keel_rib::update_groups`]): the received
    /// routes by their interned set, the sent ones by their export, computed once per source
    /// set ([`adj_rib_out::SentExports`]).
    pub(super) fn hand_off(&mut self) -> HashMap<IpAddr, ResumedRibs> {
        let mut out = HashMap::new();
        let rpki = self.rpki.validator();
        for (&address, peer) in self.peers.iter_mut() {
            let Some(s) = peer.session.as_mut() else { continue };
            let (send, receive) = (s.negotiated.codec_send(), s.negotiated.codec_receive());
            let mut ribs = ResumedRibs::default();
            let mut received = ByAttrSet::default();
            for r in self.rib.received_routes(peer.id) {
                received.announce(r.family, &r.attrs, Nlri::with_path_id(r.prefix, r.path_id));
            }
            let errors;
            (ribs.adj_rib_in, errors) = received.finish(&receive);
            log_errors(address, "Adj-RIB-In", &errors);
            let policy = ExportPolicy {
                chain: self.chains.get(&address).map(|c| &*c.export),
                vrps: rpki.table().map(|t| &**t),
                local_asn: self.local_asn,
                graceful_shutdown: self.graceful_shutdown.contains(&address),
            };
            if let Some(mut sent) = SentExports::new(&self.rib, peer.id, &policy) {
                for ((family, prefix), id, entry) in s.adj_rib_out.sent_paths() {
                    sent.add(family, &prefix, id, entry);
                }
                let errors = sent.take().encode(&send, &mut ribs.adj_rib_out);
                log_errors(address, "Adj-RIB-Out", &errors);
            }
            ribs.queued = s.adj_rib_out.take_queued();
            ribs.end_of_rib_sent = peer.end_of_rib_sent.iter().copied().collect();
            ribs.end_of_rib_received = peer.end_of_rib_received.iter().copied().collect();
            out.insert(address, ribs);
        }
        out
    }
}

/// Logs what could not be encoded for the handoff (those routes are not handed over).
fn log_errors(address: IpAddr, rib: &str, errors: &[keel_wire::EncodeError]) {
    for e in errors {
        warn!(neighbor = %address, rib, error = %e, "routes not handed over");
    }
}

/// The UPDATE messages in `bytes`, back to back, decoded as they are taken; what does not
/// decode is logged and left.
fn updates<'a>(address: IpAddr, bytes: &'a [u8], codec: &'a CodecOptions) -> impl Iterator<Item = Update> + 'a {
    let mut rest = bytes;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let Ok(Some(frame)) = Message::next_frame(rest, codec) else {
            warn!(neighbor = %address, octets = rest.len(), "handed-over RIB cut short");
            rest = &[];
            return None;
        };
        rest = &rest[frame.len()..];
        match Message::decode(frame, codec) {
            Ok(Message::Update(u)) => return Some(*u),
            Ok(_) => {}
            Err(e) => warn!(neighbor = %address, error = %e, "a handed-over UPDATE does not decode"),
        }
    })
}
