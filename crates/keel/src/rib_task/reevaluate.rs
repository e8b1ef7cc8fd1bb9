//! Policy re-evaluation without a session reset: a neighbor's import policy runs again over
//! its stored Adj-RIB-In (or its routes are asked for again with ROUTE-REFRESH, RFC 2918,
//! when nothing was stored), a new export policy sends its Adj-RIB-Out again, and new RPKI
//! VRPs (RFC 6811) re-run the policies that look at the validation state. Graceful shutdown
//! (RFC 8326) re-runs the same way: turned on or off for a neighbor, its Adj-RIB-Out is
//! considered again (§4.2); `honour_graceful_shutdown` changed, every neighbor's routes are
//! imported again (§4.1).

use super::{encoded, import_route, Chains, RibTask};
use crate::events::Out;
use keel_rib::otc;
use keel_rib::policy::{Chain, Context};
use keel_wire::{Message, RefreshSubtype, RouteRefresh};
use rustc_hash::FxHashMap;
use std::net::IpAddr;
use std::sync::Arc;
use tracing::{info, warn};

impl RibTask {
    /// A neighbor's policy changed: inbound, its routes are re-evaluated from the stored
    /// Adj-RIB-In (or asked for again with ROUTE-REFRESH when nothing was stored, after
    /// "none"); outbound, everything is considered again for it. No session reset.
    pub(super) fn policy_changed(&mut self, address: IpAddr, old: &Chains, new: &Chains) {
        let Some(peer) = self.peers.get(&address) else { return };
        let id = peer.id;
        if let Some(mut info) = self.rib.peer(id).cloned() {
            info.import = !new.import.is_reject_all();
            info.export = !new.export.is_reject_all();
            self.rib.add_peer(id, info);
        }
        if old.import_fingerprint != new.import_fingerprint {
            info!(neighbor = %address, "import policy changed: routes re-evaluated");
            self.reimport(address, &new.import);
            if old.import.is_reject_all() && !new.import.is_reject_all() {
                self.request_refresh(address);
            }
        }
        if old.export_fingerprint != new.export_fingerprint {
            info!(neighbor = %address, "export policy changed: Adj-RIB-Out recomputed");
            self.reexport(address);
        }
    }

    /// Runs `chain` again over what `address` sent, as stored before import policy.
    fn reimport(&mut self, address: IpAddr, chain: &Chain) {
        let Some(id) = self.peers.get(&address).map(|p| p.id) else { return };
        let bmp = self.bmp.as_ref().and_then(|b| b.adj_rib_in_post(&self.rib, address));
        let routes = self.rib.received_routes(id);
        let local_address = self.rib.peer(id).map_or(address, |p| p.local_address);
        let validator = chain.uses_rpki().then(|| self.rpki.validator());
        for r in routes {
            if chain.is_reject_all() {
                self.rib.withdraw(id, r.family, r.prefix, r.path_id);
                continue;
            }
            let rpki = validator.as_ref().and_then(|v| v.state(&r.prefix, r.attrs.attributes.as_path.as_ref()));
            let ctx = Context { family: r.family, prefix: &r.prefix, rpki, local_asn: self.local_asn, local_address };
            // RFC 9234 §5: a route leak stays ineligible whatever the new policy says.
            let leak = self
                .rib
                .peer(id)
                .is_some_and(|p| otc::ingress_for(p, r.family, r.attrs.attributes.otc) == otc::Ingress::Leak);
            if leak {
                self.rib.put_filtered(id, r, None);
                continue;
            }
            let honour = self.honour_graceful_shutdown;
            let accepted = import_route(&mut self.rib, chain, &ctx, &r.attrs, honour, &mut FxHashMap::default());
            self.rib.put_filtered(id, r, accepted);
        }
        if let (Some(b), Some(before)) = (self.bmp.as_mut(), bmp) {
            b.reimported(&self.rib, address, before);
        }
        self.rib.attrs.purge();
    }

    /// Considers every destination again for `address`, as after an export policy change.
    fn reexport(&mut self, address: IpAddr) {
        if let Some(s) = self.peers.get_mut(&address).and_then(|p| p.session.as_mut()) {
            s.adj_rib_out.export_policy_changed(&self.rib);
        }
    }

    /// The VRP set changed (RFC 6811): routes are validated again where a policy looks at the
    /// state. Nothing is flushed; routes no policy filters on keep flowing.
    pub(super) fn vrps_changed(&mut self) {
        let chains: Vec<(IpAddr, Chains)> = self.chains.iter().map(|(a, c)| (*a, c.clone())).collect();
        for (address, c) in chains {
            if c.import.uses_rpki() {
                info!(neighbor = %address, "RPKI VRPs changed: routes re-evaluated");
                self.reimport(address, &c.import);
            }
            if c.export.uses_rpki() {
                self.reexport(address);
            }
        }
    }

    /// RFC 8326 §4.2: graceful shutdown on or off for `neighbors` (every configured one when
    /// `None`). Each neighbor whose state changes has what it was sent considered again: the
    /// routes the GRACEFUL_SHUTDOWN step changes go out again, nothing else. Returns those
    /// neighbors.
    pub(super) fn set_graceful_shutdown(&mut self, neighbors: Option<Vec<IpAddr>>, on: bool) -> Vec<IpAddr> {
        let targets: Vec<IpAddr> = match neighbors {
            Some(v) => v,
            None => {
                let mut all: Vec<IpAddr> = self.chains.keys().chain(self.peers.keys()).copied().collect();
                all.sort();
                all.dedup();
                all
            }
        };
        let mut changed = Vec::new();
        for a in targets {
            let moved = if on { self.graceful_shutdown.insert(a) } else { self.graceful_shutdown.remove(&a) };
            if !moved {
                continue;
            }
            info!(neighbor = %a, on, "graceful shutdown (RFC 8326): routes re-advertised");
            if let Some(s) = self.peers.get_mut(&a).and_then(|p| p.session.as_mut()) {
                s.adj_rib_out.graceful_shutdown_changed();
            }
            changed.push(a);
        }
        changed
    }

    /// `[global] honour_graceful_shutdown` set (at start) or changed (reload): on a change,
    /// every neighbor's routes, stale ones included, are imported again through its import
    /// policy and the GRACEFUL_SHUTDOWN step (RFC 8326 §4.1), as for a changed import policy.
    pub(super) fn honour_graceful_shutdown_changed(&mut self, on: bool) {
        if self.honour_graceful_shutdown == on {
            return;
        }
        self.honour_graceful_shutdown = on;
        info!(on, "honour_graceful_shutdown changed: routes re-evaluated");
        let addresses: Vec<IpAddr> = self.peers.keys().copied().collect();
        for a in addresses {
            let chain = self.chains.get(&a).map_or_else(|| Arc::new(Chain::accept_all()), |c| c.import.clone());
            self.reimport(a, &chain);
        }
    }

    /// Asks the neighbor to send its routes again (RFC 2918), for every negotiated family.
    fn request_refresh(&mut self, address: IpAddr) {
        let Some(s) = self.peers.get(&address).and_then(|p| p.session.as_ref()) else { return };
        if !s.negotiated.route_refresh {
            warn!(neighbor = %address, "import policy no longer \"none\" but the neighbor has no route refresh: routes come back with the next session");
            return;
        }
        let codec = s.negotiated.codec_send();
        let mut bytes = Vec::new();
        for f in &s.negotiated.families {
            let m = Message::RouteRefresh(RouteRefresh { family: *f, subtype: RefreshSubtype::Request });
            bytes.extend(encoded(address, "ROUTE-REFRESH", m.encode(&codec)));
        }
        info!(neighbor = %address, "route refresh requested after an import policy change");
        let _ = s.writer.try_send(Out::Bytes(bytes));
    }
}
