//! The RIB task's side of a station, pure: keel-rib's tables into [`Routes`] (whole BGP UPDATEs,
//! packed by keel-rib's [`ByAttrSet`] as keel-wire packs them for a neighbor), and into
//! [`Statistics`](super::Statistics). The dump streams the same views a piece at a time
//! ([`super::dump`]); the one-step functions here ([`loc_rib`], [`Neighbor::adj_rib_in`],
//! [`Neighbor::adj_rib_out`]) are what it is tested against.
//!
//! What each view costs the RIB task (the figures docs/bmp.md gives an operator):
//!
//! | view | live | dump |
//! |---|---|---|
//! | `adj_rib_in_pre` | a copy and a re-encoding of each UPDATE received | a walk of the table per neighbor, a lookup per route |
//! | `adj_rib_in_post` | a lookup per route of each UPDATE received; two walks of the table per re-evaluated neighbor | a walk of the table per neighbor, a lookup per route |
//! | `loc_rib` | a lookup per changed destination, once per batch of events | a walk of the table, a lookup per route |
//! | `adj_rib_out_post` | a copy of the bytes written to each neighbor | a walk of each neighbor's Adj-RIB-Out, exported again once per source attribute set |

use super::{Peer, Routes, View};
use keel_rib::adj_rib_out::{ExportPolicy, SentExports};
use keel_rib::update_groups::ByAttrSet;
use keel_rib::{AdjRibInCount, AdjRibOut, AttrSet, Changed, PeerId, Rib};
use keel_wire::{CodecOptions, EncodeError, Family, Nlri, Prefix, Update};
use rustc_hash::FxHashMap;
use std::sync::Arc;

use crate::stats::Stat;

/// Routes grouped by interned attribute set, withdrawals apart: keel-rib's grouping.
pub type Packer = ByAttrSet;

/// How the routes of one neighbor are encoded for a station.
#[derive(Debug, Clone)]
pub struct Neighbor {
    pub peer: Peer,
    pub id: PeerId,
    /// Add-Path receive families (RFC 7911): the path identifiers of its Adj-RIB-In.
    pub receive: CodecOptions,
    /// How keel encodes what it sends it (Adj-RIB-Out).
    pub send: CodecOptions,
}

impl Neighbor {
    /// Adj-RIB-In views are re-encoded with 4-octet AS numbers and Extended Messages (the BMP
    /// framing takes them), so their A flag is clear.
    pub(crate) fn adj_rib_in_codec(&self) -> CodecOptions {
        CodecOptions { four_octet_as: true, extended_message: true, add_path: self.receive.add_path.clone() }
    }

    pub(crate) fn nlri(&self, family: Family, prefix: Prefix, path_id: u32) -> Nlri {
        Nlri { prefix, path_id: self.receive.add_path_for(family).then_some(path_id) }
    }

    fn routes(&self, view: View, packer: Packer, errors: &mut Vec<EncodeError>) -> Routes {
        let codec = if view == View::AdjRibOutPost { self.send.clone() } else { self.adj_rib_in_codec() };
        let (bytes, e) = packer.finish(&codec);
        errors.extend(e);
        Routes {
            view,
            peer: Some(self.peer),
            legacy_as_path: view == View::AdjRibOutPost && !self.send.four_octet_as,
            updates: bytes.into(),
        }
    }

    /// An UPDATE as received, for the pre-policy view.
    pub fn received(&self, update: &Update, errors: &mut Vec<EncodeError>) -> Option<Routes> {
        match update.encode(&self.adj_rib_in_codec()) {
            Ok(bytes) => Some(Routes {
                view: View::AdjRibInPre,
                peer: Some(self.peer),
                legacy_as_path: false,
                updates: bytes.into(),
            }),
            Err(e) => {
                errors.push(e);
                None
            }
        }
    }

    /// What import policy made of the routes of `update` (applied to `rib` already), for the
    /// post-policy view: each route's path in the table now, or its withdrawal.
    pub fn accepted(&self, rib: &Rib, update: &Update, errors: &mut Vec<EncodeError>) -> Routes {
        let mut packer = Packer::default();
        for (family, n) in update.announced_routes().chain(update.withdrawn_routes()) {
            let path_id = n.path_id.unwrap_or(0);
            let path = rib
                .dest(family, &n.prefix)
                .and_then(|d| d.paths.iter().find(|p| p.peer == self.id && p.path_id == path_id));
            match path {
                Some(p) => packer.announce(family, &p.attrs, *n),
                None => packer.withdraw(family, *n),
            }
        }
        self.routes(View::AdjRibInPost, packer, errors)
    }

    /// The neighbor's Adj-RIB-In, before (`View::AdjRibInPre`) or after import policy, in one
    /// step (the streamed dump, [`super::dump`], is tested against it).
    pub fn adj_rib_in(&self, rib: &Rib, view: View, errors: &mut Vec<EncodeError>) -> Routes {
        let mut packer = Packer::default();
        if view == View::AdjRibInPre {
            for r in rib.received_routes(self.id) {
                packer.announce(r.family, &r.attrs, self.nlri(r.family, r.prefix, r.path_id));
            }
        } else {
            for (family, nlri, attrs) in self.accepted_paths(rib) {
                packer.announce(family, attrs, nlri);
            }
        }
        self.routes(view, packer, errors)
    }

    /// The neighbor's routes in the table: its post-policy Adj-RIB-In.
    fn accepted_paths<'r>(&'r self, rib: &'r Rib) -> impl Iterator<Item = (Family, Nlri, &'r Arc<AttrSet>)> + 'r {
        rib.iter(None).flat_map(move |(family, prefix, d)| {
            let mine = d.paths.iter().filter(move |p| p.peer == self.id);
            mine.map(move |p| (family, self.nlri(family, prefix, p.path_id), &p.attrs))
        })
    }

    /// What the post-policy Adj-RIB-In holds, before a re-evaluation of import policy.
    pub fn post_policy(&self, rib: &Rib) -> Vec<(Family, Nlri)> {
        self.accepted_paths(rib).map(|(f, n, _)| (f, n)).collect()
    }

    /// After a re-evaluation (a new import policy, new VRPs): the post-policy Adj-RIB-In now, and
    /// the withdrawal of each route of `before` it no longer holds.
    pub fn reimported(&self, rib: &Rib, before: &[(Family, Nlri)], errors: &mut Vec<EncodeError>) -> Routes {
        let mut packer = Packer::default();
        let mut now = std::collections::HashSet::new();
        for (family, nlri, attrs) in self.accepted_paths(rib) {
            now.insert((family, nlri));
            packer.announce(family, attrs, nlri);
        }
        for (family, nlri) in before.iter().filter(|r| !now.contains(*r)) {
            packer.withdraw(*family, *nlri);
        }
        self.routes(View::AdjRibInPost, packer, errors)
    }

    /// What the neighbor was sent (its Adj-RIB-Out after export policy), exported again, in
    /// one step (the streamed dump, [`super::dump`], is tested against it).
    pub fn adj_rib_out(
        &self,
        rib: &Rib,
        out: &AdjRibOut,
        policy: &ExportPolicy,
        errors: &mut Vec<EncodeError>,
    ) -> Routes {
        let mut bytes = Vec::new();
        if let Some(mut exports) = SentExports::new(rib, self.id, policy) {
            for ((family, prefix), path_id, sent) in out.sent_paths() {
                exports.add(family, &prefix, path_id, sent);
            }
            errors.extend(exports.take().encode(&self.send, &mut bytes));
        }
        Routes {
            view: View::AdjRibOutPost,
            peer: Some(self.peer),
            legacy_as_path: !self.send.four_octet_as,
            updates: bytes.into(),
        }
    }

    /// RFC 7854 §4.8 gauges of the neighbor: routes in its Adj-RIB-In (7, 9), in what it was
    /// sent (15, 17, RFC 8671), and its stale and LLGR-stale routes (27, 28, RFC 9972), per
    /// family. Counters (types 0-6, 11-13) are not kept by keel and not sent.
    pub fn statistics(&self, rib: &Rib, out: Option<&AdjRibOut>, families: &[Family]) -> Vec<Stat> {
        let per_family: Vec<(Family, u64)> =
            families.iter().map(|f| (*f, rib.adj_rib_in_count(self.id, *f, AdjRibInCount::Received) as u64)).collect();
        let mut v = vec![Stat::RoutesInAdjRibIn(per_family.iter().map(|(_, n)| n).sum())];
        v.extend(per_family.iter().map(|(f, n)| Stat::RoutesInAdjRibInPerFamily(*f, *n)));
        if let Some(out) = out {
            let mut sent: FxHashMap<Family, u64> = FxHashMap::default();
            for ((family, _), _) in out.sent() {
                *sent.entry(family).or_default() += 1;
            }
            v.push(Stat::RoutesInPostPolicyAdjRibOut(sent.values().sum()));
            v.extend(
                families
                    .iter()
                    .map(|f| Stat::RoutesInPostPolicyAdjRibOutPerFamily(*f, sent.get(f).copied().unwrap_or(0))),
            );
        }
        // Last: collectors that stop at a type they do not know (pmacct 1.7 knows up to 17)
        // still read the others.
        for (f, c) in rib.stale_counts(self.id) {
            v.push(Stat::StaleRoutesPerFamily(f, c.stale as u64));
            v.push(Stat::LlgrStaleRoutesPerFamily(f, c.long_lived as u64));
        }
        v
    }
}

/// The Loc-RIB: every destination's best path, in one step (the streamed dump,
/// [`super::dump`], is tested against it); `families` gets the families seen.
pub fn loc_rib(rib: &Rib, families: &mut Vec<Family>, errors: &mut Vec<EncodeError>) -> Routes {
    let mut packer = Packer::default();
    for (family, prefix, d) in rib.iter(None) {
        if !families.contains(&family) {
            families.push(family);
        }
        if let Some(p) = d.best_path() {
            packer.announce(family, &p.attrs, Nlri::new(prefix));
        }
    }
    loc_rib_routes(packer, errors)
}

/// Loc-RIB changes: each changed destination's best path now, or its withdrawal.
pub fn loc_rib_changes(rib: &Rib, changed: &[Changed], errors: &mut Vec<EncodeError>) -> Routes {
    let mut packer = Packer::default();
    for c in changed {
        match rib.best(c.family, &c.prefix) {
            Some(p) => packer.announce(c.family, &p.attrs, Nlri::new(c.prefix)),
            None => packer.withdraw(c.family, Nlri::new(c.prefix)),
        }
    }
    loc_rib_routes(packer, errors)
}

/// RFC 9069 §5.4.1: Loc-RIB messages "MUST use a 4-byte ASN encoding"; no Add-Path.
fn loc_rib_routes(packer: Packer, errors: &mut Vec<EncodeError>) -> Routes {
    let codec = CodecOptions { extended_message: true, ..CodecOptions::default() };
    let (bytes, e) = packer.finish(&codec);
    errors.extend(e);
    Routes { view: View::LocRib, peer: None, legacy_as_path: false, updates: bytes.into() }
}

/// The Loc-RIB instance's gauges: routes in the Loc-RIB (8), per family (10), and per family
/// the best paths that are stale (27) and LLGR-stale (28, RFC 9972): a restarting neighbor's
/// routes kept in the Loc-RIB while it is away.
pub fn loc_rib_statistics(rib: &Rib) -> Vec<Stat> {
    // Per family: best paths, stale ones, LLGR-stale ones.
    let mut per: Vec<(Family, [u64; 3])> = Vec::new();
    for (family, _, d) in rib.iter(None) {
        let Some(best) = d.best_path() else { continue };
        let i = match per.iter().position(|(f, _)| *f == family) {
            Some(i) => i,
            None => {
                per.push((family, [0; 3]));
                per.len() - 1
            }
        };
        let n = &mut per[i].1;
        n[0] += 1;
        n[1] += u64::from(rib.is_stale(best));
        n[2] += u64::from(rib.is_llgr_stale(family, best));
    }
    let mut v = vec![Stat::RoutesInLocRib(per.iter().map(|(_, n)| n[0]).sum())];
    v.extend(per.iter().map(|(f, n)| Stat::RoutesInLocRibPerFamily(*f, n[0])));
    v.extend(per.iter().map(|(f, n)| Stat::StaleRoutesPerFamily(*f, n[1])));
    v.extend(per.iter().map(|(f, n)| Stat::LlgrStaleRoutesPerFamily(*f, n[2])));
    v
}
