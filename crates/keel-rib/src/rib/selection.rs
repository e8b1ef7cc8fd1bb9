//! The decision process run on one destination of the RIB (RFC 4271 §9.1.2): each path as a
//! [`Candidate`] with its neighbor and the reachability and IGP metric of its next hop, the
//! best path and the multipath set recorded in the [`Dest`], and the destination noted as
//! changed when they differ from before. The ordering itself is [`crate::decision`]'s.
//!
//! What the FIB reports about a next hop ([`Rib::set_next_hop`]) re-runs the decision for
//! every destination it can change.

use super::{Changed, Dest, Path, PeerId, Rib, Selection, NO_BEST};
use crate::decision::{self, Candidate, Source};
use keel_wire::{Family, Prefix};
use std::net::IpAddr;

impl Rib {
    fn candidate<'a>(&'a self, family: Family, p: &'a Path) -> Candidate<'a> {
        let source = self.peers.get(&p.peer).filter(|_| p.peer != PeerId::LOCAL).map(|x| Source {
            address: x.info.address,
            router_id: x.info.router_id,
            ebgp: x.info.ebgp(),
        });
        let igp_metric = if p.peer == PeerId::LOCAL {
            Some(0)
        } else {
            self.next_hops.get(&p.attrs.next_hop.addr()).copied().unwrap_or(Some(0))
        };
        Candidate { attrs: &p.attrs, source, igp_metric, llgr_stale: self.is_llgr_stale(family, p), path_id: p.path_id }
    }

    /// The best of `paths` (of one destination), by the decision process: a route server's
    /// per-client choice when the overall best may not go to that client (RFC 7947 §2.3.2).
    pub fn best_of<'a>(&self, family: Family, paths: &[&'a Path]) -> Option<&'a Path> {
        let cands: Vec<Candidate> = paths.iter().map(|p| self.candidate(family, p)).collect();
        let d = decision::decide(&cands, &self.options)?;
        paths.get(d.best).copied()
    }

    /// Runs the decision process for one destination whose paths changed (`before` is its
    /// selection before the change); records it when the best path or the multipath set
    /// changed; drops the destination when no path is left.
    pub(super) fn decide(&mut self, family: Family, prefix: Prefix, before: Selection) {
        if self.track_paths {
            self.touched.push(Changed { family, prefix });
        }
        let Some(dest) = self.table(family).and_then(|t| t.get(&prefix)) else { return };
        let decision = if dest.paths.len() == 1 {
            // One path: the decision is whether it is eligible (§9.1.2.1).
            let c = self.candidate(family, &dest.paths[0]);
            c.igp_metric.map(|_| decision::Decision { best: 0, step: decision::Step::Only, multipath: vec![0] })
        } else {
            let cands: Vec<Candidate> = dest.paths.iter().map(|p| self.candidate(family, p)).collect();
            decision::decide(&cands, &self.options)
        };
        let Some(table) = self.table_mut(family) else { return };
        let Some(dest) = table.get_mut(&prefix) else { return };
        match decision {
            Some(d) => {
                dest.best = d.best as u16;
                dest.multipath = d.multipath.iter().skip(1).filter(|&&i| i < 16).fold(0, |m, &i| m | 1 << i);
            }
            None => {
                dest.best = NO_BEST;
                dest.multipath = 0;
            }
        }
        let changed = dest.selection() != before;
        if dest.paths.is_empty() {
            table.remove(&prefix);
        }
        if changed {
            self.changed.push(Changed { family, prefix });
        }
    }

    /// Sets what the FIB knows about a next hop; re-decides every destination when it changed.
    pub fn set_next_hop(&mut self, addr: IpAddr, metric: Option<u32>) {
        // A next hop not listed counted as resolvable with metric 0 (see `next_hops`).
        let old = self.next_hops.insert(addr, metric).unwrap_or(Some(0));
        if old == metric {
            return;
        }
        // Between two metrics only a choice among several paths can change; reachability
        // changes every destination using the next hop.
        let min_paths = if old.is_some() && metric.is_some() { 2 } else { 1 };
        let keys: Vec<(Family, Prefix)> = self
            .tables
            .iter()
            .flat_map(|(f, t)| {
                t.iter()
                    .filter(|(_, d)| {
                        d.paths.len() >= min_paths && d.paths.iter().any(|p| p.attrs.next_hop.addr() == addr)
                    })
                    .map(|(p, _)| (*f, p))
            })
            .collect();
        for (f, p) in keys {
            let before = self.dest(f, &p).map(Dest::selection).unwrap_or_default();
            self.decide(f, p, before);
        }
    }
}
