//! Add-Path send (RFC 7911): several paths per destination to one neighbor, each under its
//! own path identifier.
//!
//! RFC 7911 §3 leaves the identifier to the sender; it only has to tell the paths of one
//! prefix apart on one session, and a path must keep it while it exists (a new identifier
//! is a new path to the receiver, the old one staying until withdrawn). keel derives it from
//! what identifies the path across restarts of keel: the address of the neighbor it came
//! from and the path identifier that neighbor gave it (0 without Add-Path receive), hashed
//! with a fixed function ([`path_id`], FNV-1a, the same in every build). So after keel
//! restarts (RFC 4724, keel the restarting speaker) the helper receives the same
//! identifiers for the same paths and replaces its stale paths one for one.
//!
//! Two paths of one prefix whose hashes collide: the one sent first keeps the hash, the
//! other takes the next free value, and keeps it while it exists. Which one came first can
//! differ after a restart, so in that case (a chance of about n²/2³³ for n paths of a prefix)
//! the two identifiers may swap: the helper then replaces both paths, none is lost. Paths keel
//! originates (`[[network]]`) hash the unspecified address. What is not stable: a path whose
//! upstream itself renumbers its path identifiers across the restart is a new path.
//!
//! Which paths: the destination's paths in decision-process order (RFC 4271 §9.1.2), the
//! best first, each passed through the export rules and policy on its own (a path the
//! neighbor may not have is skipped, the next one taken); the first `add_path_send` that
//! pass are sent.

use super::{AdjRibOut, Exports, Sent};
use crate::policy::Context;
use crate::rib::{Path, PeerId};
use keel_wire::{Family, Nlri, Prefix};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::net::IpAddr;

/// The paths sent for one destination, with their path identifiers, best first.
pub type SentPaths = SmallVec<[(u32, Sent); 2]>;

/// The path identifier keel sends for the path that `source` gave identifier `received`
/// (RFC 7911 §3): 32-bit FNV-1a over the address octets (4 or 16, after a family octet) and
/// the received identifier, big-endian. Fixed, so the same across runs and builds.
pub fn path_id(source: IpAddr, received: u32) -> u32 {
    let mut bytes: SmallVec<[u8; 21]> = SmallVec::new();
    match source {
        IpAddr::V4(a) => {
            bytes.push(4);
            bytes.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            bytes.push(6);
            bytes.extend_from_slice(&a.octets());
        }
    }
    bytes.extend_from_slice(&received.to_be_bytes());
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

impl AdjRibOut {
    /// Exports one destination of a several-path family and queues the difference with what
    /// was sent: announcements into `exports`' groups, withdrawals into `withdraw`.
    pub(super) fn paths_of(
        &mut self,
        exports: &mut Exports,
        key: (Family, Prefix),
        withdraw: &mut FxHashMap<Family, Vec<Nlri>>,
    ) {
        let (family, prefix) = key;
        let now = exports.paths(family, &prefix, self.add_path_send);
        let old = self.multi.remove(&key).unwrap_or_default();
        let mut new = SentPaths::new();
        // Paths sent before keep their identifier; changed ones are announced again under it.
        let mut fresh = Vec::new();
        for (group, sent, source) in now {
            match old.iter().find(|(_, s)| s.source == sent.source && s.path_id == sent.path_id) {
                Some((id, before)) => {
                    if *before != sent {
                        exports.groups.push(group, Nlri::with_path_id(prefix, *id));
                    }
                    new.push((*id, sent));
                }
                None => fresh.push((group, sent, source)),
            }
        }
        // New paths in a fixed order, so that the same paths get the same identifiers however
        // they arrived (collisions aside).
        fresh.sort_by_key(|(_, s, source)| (path_id(*source, s.path_id), *source, s.path_id));
        for (group, sent, source) in fresh {
            let mut id = path_id(source, sent.path_id);
            while new.iter().any(|(x, _)| *x == id) {
                id = id.wrapping_add(1);
            }
            exports.groups.push(group, Nlri::with_path_id(prefix, id));
            new.push((id, sent));
        }
        // RFC 7911 §3: a path that went away is withdrawn under its identifier, unless a new
        // path took it over (an announcement under an identifier replaces the route).
        for (id, _) in &old {
            if !new.iter().any(|(x, _)| x == id) {
                withdraw.entry(family).or_default().push(Nlri::with_path_id(prefix, *id));
            }
        }
        // Best first, as ranked (the kept ones were pushed before the new ones).
        let rank = |s: &Sent| exports.ranked.iter().position(|r| *r == (s.source, s.path_id));
        new.sort_by_key(|(_, s)| rank(s));
        if !new.is_empty() {
            self.multi.insert(key, new);
        }
    }

    /// A path that could not be sent after all (RFC 8654 §4): no longer held by the neighbor.
    pub(super) fn forget_path(&mut self, family: Family, prefix: Prefix, id: u32) {
        let key = (family, prefix);
        if let Some(v) = self.multi.get_mut(&key) {
            v.retain(|(x, _)| *x != id);
            if v.is_empty() {
                self.multi.remove(&key);
            }
        }
    }
}

impl Exports<'_> {
    /// Up to `limit` paths of a destination the target may have, best first: UPDATE group,
    /// [`Sent`] record and source address of each. Also leaves the ranking in `ranked`.
    fn paths(&mut self, family: Family, prefix: &Prefix, limit: usize) -> Vec<(usize, Sent, IpAddr)> {
        let rib = self.exporter.rib;
        let mut out = Vec::new();
        self.ranked.clear();
        let Some(dest) = rib.dest(family, prefix) else { return out };
        let Some(best) = dest.best_path() else { return out };
        let mut rest: Vec<&Path> = dest.paths.iter().filter(|p| !std::ptr::eq(*p, best)).collect();
        let mut next = Some(best);
        while let Some(path) = next {
            if out.len() >= limit {
                break;
            }
            if let Some((group, sent)) = self.one(family, prefix, path) {
                let source = rib.peer(path.peer).filter(|_| path.peer != PeerId::LOCAL).map(|i| i.address);
                let source = source.unwrap_or(IpAddr::from([0, 0, 0, 0]));
                self.ranked.push((sent.source, sent.path_id));
                out.push((group, sent, source));
            }
            rest.retain(|p| !std::ptr::eq(*p, path));
            // The decision process over what is left ranks the next one (§9.1.2); `None`
            // when none left is eligible.
            next = rib.best_of(family, &rest);
        }
        out
    }

    /// The export of one path, with the RFC 6811 state of that path's own origin for the
    /// export policy.
    fn one(&mut self, family: Family, prefix: &Prefix, path: &Path) -> Option<(usize, Sent)> {
        let e = &self.exporter;
        let rpki = e.vrps.map(|t| t.validate_route(prefix, path.attrs.attributes.as_path.as_ref(), e.local_asn));
        let ctx = Context { family, prefix, rpki, local_asn: e.local_asn, local_address: e.info.local_address };
        let key = e.chain.map(|c| c.route_key(&ctx));
        self.slot(&ctx, key, path)
    }
}
