//! The API's read model of the RIB task: routes as [`RouteView`]s (Loc-RIB and Adj-RIB-In,
//! or what a neighbor was sent), per-neighbor counts and the restart state. Read only: it
//! answers [`RibEvent::Routes`](crate::events::RibEvent::Routes), `Counts` and `Restart`.

use super::RibTask;
use crate::rpki::RpkiState;
use crate::views::{PeerCounts, RestartView, RouteFilter, RouteView, SegmentView};
use keel_rib::adj_rib_out::{self, ExportPolicy};
use keel_rib::graceful_restart::helper;
use keel_rib::graceful_restart::restarting::Awaited;
use keel_rib::{AttrSet, PeerId};
use keel_wire::attribute::Origin;
use keel_wire::{Community, Family, Prefix};
use std::collections::HashMap;
use std::net::IpAddr;
use tokio::time::Instant;

impl RibTask {
    /// Routes as the API lists them: what `f.advertised` was sent, else the Adj-RIB-In paths
    /// (best marked) matching the filter. With `f.longest_match`, the paths of the Loc-RIB's
    /// longest match per family ([`keel_rib::Rib::longest_match`]), then the other filters.
    pub(super) fn routes(&self, f: &RouteFilter) -> Vec<RouteView> {
        if let Some(to) = f.advertised {
            return self.advertised(to, f);
        }
        let by_id: HashMap<PeerId, IpAddr> = self.peers.iter().map(|(a, p)| (p.id, *a)).collect();
        let rpki = self.rpki.validator();
        let mut v = Vec::new();
        let destinations: Box<dyn Iterator<Item = _>> = match &f.longest_match {
            Some(q) => Box::new(self.rib.longest_match(f.family, q)),
            None => Box::new(self.rib.iter(f.family)),
        };
        for (family, prefix, dest) in destinations {
            if f.prefix.is_some_and(|p| p != prefix) {
                continue;
            }
            for (i, path) in dest.paths.iter().enumerate() {
                let neighbor = by_id.get(&path.peer).copied();
                let stale = self.rib.is_stale(path);
                if f.neighbor.is_some_and(|n| Some(n) != neighbor) || (f.stale && !stale) {
                    continue;
                }
                let local = path.peer == PeerId::LOCAL;
                let flags = ViewFlags {
                    path_id: if local { None } else { self.path_id_view(neighbor, family, path.path_id) },
                    best: dest.best_index() == Some(i),
                    stale,
                    llgr_stale: self.rib.is_llgr_stale(family, path),
                };
                let mut view = view(family, &prefix, neighbor, &path.attrs, flags);
                view.rpki = rpki.state(&prefix, path.attrs.attributes.as_path.as_ref()).map(RpkiState::as_str);
                v.push(view);
            }
        }
        v.sort_by(|a, b| (&a.family, &a.prefix, a.neighbor).cmp(&(&b.family, &b.prefix, b.neighbor)));
        v
    }

    /// What `to` was sent (Adj-RIB-Out, RFC 4271 §3.2): the exported attributes.
    fn advertised(&self, to: IpAddr, f: &RouteFilter) -> Vec<RouteView> {
        let Some(peer) = self.peers.get(&to) else { return Vec::new() };
        let Some(s) = peer.session.as_ref() else { return Vec::new() };
        let rpki = self.rpki.validator();
        let policy = ExportPolicy {
            chain: self.chains.get(&to).map(|c| &*c.export),
            vrps: rpki.table().map(|t| &**t),
            local_asn: self.local_asn,
            graceful_shutdown: self.graceful_shutdown.contains(&to),
        };
        let wanted = |family: &Family, prefix: &Prefix| {
            f.family.is_none_or(|x| x == *family)
                && f.prefix.is_none_or(|p| p == *prefix)
                && f.longest_match.is_none_or(|q| prefix.covers(&q))
        };
        // Longest match: per family, the longest of the sent prefixes covering the one asked.
        let mut longest: HashMap<Family, u8> = HashMap::new();
        if f.longest_match.is_some() {
            for ((family, prefix), _) in s.adj_rib_out.sent().filter(|((family, prefix), _)| wanted(family, prefix)) {
                let l = longest.entry(family).or_default();
                *l = (*l).max(prefix.len());
            }
        }
        let mut v: Vec<RouteView> = s
            .adj_rib_out
            .sent_paths()
            .filter(|((family, prefix), _, _)| {
                wanted(family, prefix) && (f.longest_match.is_none() || longest.get(family) == Some(&prefix.len()))
            })
            .filter_map(|((family, prefix), id, sent)| {
                let out = adj_rib_out::exported(&self.rib, peer.id, &policy, family, &prefix, sent)?;
                let mut view = view(family, &prefix, Some(to), &out, ViewFlags { best: true, ..Default::default() });
                // RFC 7911: the path identifier it went out with, where several paths are sent.
                view.path_id = id;
                view.rpki = rpki.state(&prefix, sent.attrs.attributes.as_path.as_ref()).map(RpkiState::as_str);
                Some(view)
            })
            .collect();
        // Stable: several paths of a prefix (RFC 7911) stay best first; only the first is best.
        v.sort_by(|a, b| (&a.family, &a.prefix).cmp(&(&b.family, &b.prefix)));
        for i in 1..v.len() {
            if (&v[i].family, &v[i].prefix) == (&v[i - 1].family, &v[i - 1].prefix) {
                v[i].best = false;
            }
        }
        v
    }

    /// The path id as received: shown only for neighbors that send Add-Path ids.
    fn path_id_view(&self, neighbor: Option<IpAddr>, family: Family, id: u32) -> Option<u32> {
        let s = self.peers.get(&neighbor?)?.session.as_ref()?;
        s.negotiated.add_path_receive.contains(&family).then_some(id)
    }

    /// Per-neighbor counts for the API ([`PeerCounts`]).
    pub(super) fn counts(&self) -> HashMap<IpAddr, PeerCounts> {
        let now = Instant::now();
        let mut counts: HashMap<IpAddr, PeerCounts> = self
            .peers
            .iter()
            .map(|(a, p)| {
                // One walk per neighbor for its stale paths (the API, not the hot path).
                let stale = self.rib.stale_counts(p.id);
                let counts = PeerCounts {
                    received_prefixes: self.rib.received(p.id),
                    advertised_prefixes: p.session.as_ref().map_or(0, |s| s.adj_rib_out.len()),
                    stale_prefixes: stale.iter().map(|(_, n)| n.stale).sum(),
                    stale_by_family: stale.iter().map(|(f, n)| (f.to_string(), n.stale)).collect(),
                    llgr_stale_prefixes: stale.iter().map(|(_, n)| n.long_lived).sum(),
                    llgr_stale_by_family: stale
                        .iter()
                        .filter(|(_, n)| n.long_lived > 0)
                        .map(|(f, n)| (f.to_string(), n.long_lived))
                        .collect(),
                    long_lived_families: p.helper.long_lived_families().collect(),
                    end_of_rib_received: p.end_of_rib_received.clone(),
                    end_of_rib_sent: p.end_of_rib_sent.clone(),
                    updates_sent: p.updates_sent,
                    leaks_detected: p.leaks_detected,
                    helper_active: p.helper.active(),
                    stale_families: p.helper.stale_families().collect(),
                    timers: self
                        .timers
                        .iter()
                        .filter(|((x, _), _)| x == a)
                        .map(|((_, t), at)| (timer_name(t), at.saturating_duration_since(now).as_secs()))
                        .collect(),
                    deferral_awaits: self.deferral.as_ref().and_then(|d| d.state.awaited().get(a)).map(|w| match w {
                        Awaited::Session => vec!["session".to_string()],
                        Awaited::EndOfRib(f) => f.iter().map(|f| f.to_string()).collect(),
                    }),
                    prefix_limit_counts: p
                        .session
                        .as_ref()
                        .and_then(|s| s.prefix_limit.as_ref())
                        .map(|t| {
                            t.limit
                                .max
                                .iter()
                                .map(|(f, _)| (f.to_string(), self.rib.adj_rib_in_count(p.id, *f, t.limit.count)))
                                .collect()
                        })
                        .unwrap_or_default(),
                    graceful_shutdown: self.graceful_shutdown.contains(a),
                };
                (*a, counts)
            })
            .collect();
        // Neighbors never up show their graceful shutdown too.
        for a in &self.graceful_shutdown {
            counts.entry(*a).or_default().graceful_shutdown = true;
        }
        // Neighbors never up since the restart still show what the deferral awaits.
        for (a, w) in self.deferral.iter().flat_map(|d| d.state.awaited()) {
            if *w == Awaited::Session {
                counts.entry(*a).or_default().deferral_awaits = Some(vec!["session".to_string()]);
            }
        }
        counts
    }

    /// keel's own restart as the API shows it: deferring, for how long, awaiting whom.
    pub(super) fn restart_view(&self) -> RestartView {
        match &self.deferral {
            Some(d) => RestartView {
                deferring: true,
                deferral_seconds_left: Some(d.until.saturating_duration_since(Instant::now()).as_secs()),
                awaited_neighbors: d.state.awaited().keys().copied().collect(),
            },
            None => RestartView::default(),
        }
    }
}

/// One route as the API shows it.
fn view(family: Family, prefix: &Prefix, neighbor: Option<IpAddr>, set: &AttrSet, flags: ViewFlags) -> RouteView {
    let a = &set.attributes;
    let local = neighbor.is_none();
    RouteView {
        prefix: prefix.to_string(),
        family: family.to_string(),
        path_id: flags.path_id,
        neighbor,
        next_hop: if local && set.next_hop.addr().is_unspecified() {
            "self".to_string()
        } else {
            set.next_hop.to_string()
        },
        as_path: a.as_path.as_ref().map(|p| p.asns().collect()).unwrap_or_default(),
        as_path_segments: a.as_path.as_ref().map(SegmentView::of).unwrap_or_default(),
        origin: a.origin.map(Origin::name),
        communities: a.communities.iter().map(|c| c.to_string()).collect(),
        large_communities: a.large_communities.iter().map(|c| c.to_string()).collect(),
        local_pref: a.local_pref,
        med: a.med,
        best: flags.best,
        stale: flags.stale,
        llgr_stale: flags.llgr_stale || a.communities.contains(&Community::LLGR_STALE),
        rpki: None,
    }
}

/// A helper timer's name in [`PeerCounts::timers`].
fn timer_name(t: &helper::Timer) -> String {
    match t {
        helper::Timer::Restart => "restart".to_string(),
        helper::Timer::Stale => "stale_routes".to_string(),
        helper::Timer::LongLivedStale(f) => format!("long_lived_stale:{f}"),
    }
}

/// Per-path facts a route view shows beside the attributes.
#[derive(Default)]
struct ViewFlags {
    path_id: Option<u32>,
    best: bool,
    stale: bool,
    llgr_stale: bool,
}
