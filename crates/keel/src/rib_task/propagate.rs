//! Loc-RIB changes out, after every batch of events: to the FIB task (kernel routes, the
//! sweep of inherited routes) and to each Established neighbor's Adj-RIB-Out
//! ([`keel_rib::adj_rib_out`]), whose packed UPDATEs are written to the neighbor as far as
//! its write queue takes them. Nothing goes out during keel's own selection deferral, nor while
//! the sessions handed over by `keel upgrade` are loaded.
//!
//! Backpressure: a full write queue leaves the rest in the Adj-RIB-Out (one pending entry per
//! destination); the run loop retries on a short tick.

use super::{Peer, RibTask};
use crate::events::{FibCommand, FibUpdate, Out};
use keel_rib::adj_rib_out::{self, ExportPolicy, PackError};
use keel_rib::{Changed, PeerId};
use std::net::IpAddr;
use tracing::warn;

/// What one write to a neighbor holds at most: a write-queue slot's worth of UPDATEs
/// ([`AdjRibOut::pack`](keel_rib::AdjRibOut::pack)'s budget).
const WRITE_BUDGET: usize = 64 * 1024;

impl RibTask {
    /// Hands this round's Loc-RIB changes to the FIB and to every neighbor, then writes what
    /// each neighbor's queue takes.
    pub(super) async fn propagate(&mut self) {
        if self.deferral.is_some() || self.resume_wait() {
            return;
        }
        let changed = self.rib.take_changed();
        if let Some(b) = self.bmp.as_mut() {
            b.loc_rib(&self.rib, &changed);
        }
        let touched = self.rib.take_touched();
        let deferral_ended = std::mem::take(&mut self.deferral_ended);
        if deferral_ended {
            // Deferral just ended: every destination was learnt during it. One pass over the
            // tables in their order, rather than a lookup per changed prefix (1.28M random
            // accesses cost over a second).
            self.tell_fib_all().await;
        } else if !changed.is_empty() {
            self.tell_fib(&changed).await;
        }
        if !touched.is_empty() {
            for (p, s) in self.peers.values_mut().filter_map(|p| p.session.as_mut().map(|s| (p.id, s))) {
                if self.rib.peer(p).is_some_and(|i| i.route_server_client) || s.adj_rib_out.sends_several_paths() {
                    s.adj_rib_out.consider(touched.iter().map(|c| (c.family, c.prefix)));
                }
            }
        }
        // Inherited kernel routes go only after the FIB has this round's table, on the same
        // queue: nothing still chosen is ever deleted, not even for a moment.
        if deferral_ended || std::mem::take(&mut self.sweep_due) {
            if let Some(fib) = &self.fib {
                let _ = fib.send(FibCommand::SweepInherited).await;
            }
        }
        // After the deferral nothing was advertised yet: each neighbor's first advertisement
        // is the whole table, ordered in one pass instead of a lookup per changed prefix.
        let initial = if deferral_ended { adj_rib_out::initial_order(&self.rib) } else { Vec::new() };
        if !changed.is_empty() || deferral_ended {
            for p in self.peers.values_mut() {
                if let Some(s) = p.session.as_mut() {
                    let rs_client = self.rib.peer(p.id).is_some_and(|i| i.route_server_client);
                    if deferral_ended && s.adj_rib_out.is_empty() && !rs_client {
                        s.adj_rib_out.advertise_in_order(&initial);
                        continue;
                    }
                    s.adj_rib_out.consider(changed.iter().map(|c| (c.family, c.prefix)));
                }
            }
        }
        let addresses: Vec<IpAddr> = self.peers.keys().copied().collect();
        for a in addresses {
            self.flush(a);
        }
        self.bmp_request(None);
    }

    async fn tell_fib(&mut self, changed: &[Changed]) {
        let Some(fib) = &self.fib else { return };
        let updates: Vec<FibUpdate> = changed
            .iter()
            .map(|c| FibUpdate { prefix: c.prefix, next_hops: fib_next_hops(self.rib.dest(c.family, &c.prefix)) })
            .collect();
        let _ = fib.send(FibCommand::Routes(updates)).await;
    }

    /// Every destination's kernel route, for the FIB (which touches only what differs).
    async fn tell_fib_all(&mut self) {
        let Some(fib) = &self.fib else { return };
        let updates: Vec<FibUpdate> =
            self.rib.iter(None).map(|(_, p, d)| FibUpdate { prefix: p, next_hops: fib_next_hops(Some(d)) }).collect();
        let _ = fib.send(FibCommand::Routes(updates)).await;
    }

    /// Writes what one neighbor is owed as far as its queue allows: the Adj-RIB-Out packs,
    /// this task only hands the bytes to the neighbor's writer.
    fn flush(&mut self, address: IpAddr) {
        // What is written also goes to BMP stations monitoring the Adj-RIB-Out.
        let mut sent =
            self.bmp.as_ref().filter(|b| b.wants(keel_bmp::station::View::AdjRibOutPost)).map(|_| Vec::new());
        let RibTask { peers, rib, chains, local_asn, rpki, graceful_shutdown, .. } = self;
        let Some(peer) = peers.get_mut(&address) else { return };
        let Peer { id, session, end_of_rib_sent, updates_sent, .. } = peer;
        let Some(s) = session.as_mut() else { return };
        let chain = chains.get(&address).map(|c| c.export.clone());
        // The VRPs are looked at only by a chain with an `rpki` match.
        let validator = chain.as_ref().filter(|c| c.uses_rpki()).map(|_| rpki.validator());
        let policy = ExportPolicy {
            chain: chain.as_deref(),
            vrps: validator.as_ref().and_then(|v| v.table()).map(|t| &**t),
            local_asn: *local_asn,
            graceful_shutdown: graceful_shutdown.contains(&address),
        };
        while s.adj_rib_out.has_work() {
            let Ok(permit) = s.writer.try_reserve() else { break };
            let packed = s.adj_rib_out.pack(rib, *id, &policy, WRITE_BUDGET);
            log_pack_errors(address, &packed.errors);
            if packed.bytes.is_empty() {
                break;
            }
            end_of_rib_sent.extend(packed.end_of_rib);
            *updates_sent += packed.updates as u64;
            if let Some(v) = sent.as_mut() {
                v.extend_from_slice(&packed.bytes);
            }
            permit.send(Out::Bytes(packed.bytes));
        }
        if let (Some(b), Some(v)) = (self.bmp.as_mut(), sent.filter(|v| !v.is_empty())) {
            b.sent(address, &v);
        }
    }
}

/// The kernel route of a destination: its best path's and multipath next hops; none (delete)
/// without a best path or for keel's own networks.
fn fib_next_hops(d: Option<&keel_rib::rib::Dest>) -> Vec<IpAddr> {
    match d {
        Some(d) if d.best_path().is_some_and(|p| p.peer != PeerId::LOCAL) => {
            d.multipath().map(|p| p.attrs.next_hop.addr()).collect()
        }
        _ => Vec::new(),
    }
}

/// Logs what the Adj-RIB-Out could not encode while packing.
fn log_pack_errors(neighbor: IpAddr, errors: &[PackError]) {
    for e in errors {
        match e {
            PackError::RoutesNotSent { routes, error, .. } => {
                warn!(%neighbor, %error, routes, "routes not sent");
            }
            PackError::Message { message, error } => {
                warn!(%neighbor, %error, message, "cannot encode a message: not sent");
            }
        }
    }
}
