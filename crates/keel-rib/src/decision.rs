//! The decision process (RFC 4271 §9.1.2): which of a destination's paths is best.
//!
//! Implemented as the RFC describes it, by eliminating candidates step by step rather than
//! by a pairwise comparison: the MED step (§9.1.2.2 c) compares only routes from the same
//! neighboring AS, which is not a total order, and elimination keeps the result independent
//! of the order in which paths arrived. Before the RFC 4271 steps, paths that are not
//! LLGR-stale beat LLGR-stale ones (RFC 9494 §4.3) and keel's own routes beat learned ones.

use crate::attr_set::AttrSet;
use keel_wire::attribute::SegmentType;
use keel_wire::{Origin, PathAttributes};
use std::net::{IpAddr, Ipv4Addr};

/// LOCAL_PREF assumed for routes that carry none (eBGP-learned, own routes).
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// What the decision process needs to know about one candidate path.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub attrs: &'a AttrSet,
    /// `None` for keel's own routes.
    pub source: Option<Source>,
    /// IGP cost to the next hop (§9.1.2.2 e); `None` when the next hop does not resolve, which
    /// makes the path ineligible (§9.1.2.1).
    pub igp_metric: Option<u32>,
    /// RFC 9494: kept past a restart as a last resort.
    pub llgr_stale: bool,
    /// Add-Path identifier the neighbor gave the path (0 without Add-Path).
    pub path_id: u32,
}

/// The neighbor a path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    pub address: IpAddr,
    /// The neighbor's BGP Identifier.
    pub router_id: Ipv4Addr,
    pub ebgp: bool,
}

/// The step that decided, for logs, `keel show` and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// Only one eligible path.
    Only,
    LlgrStale,
    Local,
    LocalPref,
    AsPathLength,
    Origin,
    Med,
    ExternalOverInternal,
    IgpMetric,
    RouterId,
    ClusterListLength,
    NeighborAddress,
    PathId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Compare MED between routes from different neighboring ASes.
    pub always_compare_med: bool,
    /// Most paths kept as equal-cost multipath (1 = no ECMP).
    pub max_paths: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { always_compare_med: false, max_paths: 1 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Index of the best path in the candidate slice.
    pub best: usize,
    pub step: Step,
    /// Indices of the equal-cost paths (best first), at most `max_paths`.
    pub multipath: Vec<usize>,
}

fn local_pref(a: &PathAttributes) -> u32 {
    a.local_pref.unwrap_or(DEFAULT_LOCAL_PREF)
}
fn as_path_length(a: &PathAttributes) -> usize {
    a.as_path.as_ref().map_or(0, |p| p.path_length())
}
fn origin(a: &PathAttributes) -> Origin {
    a.origin.unwrap_or(Origin::Incomplete)
}
/// §9.1.2.2 c: a missing MED counts as the lowest value.
fn med(a: &PathAttributes) -> u32 {
    a.med.unwrap_or(0)
}
/// The neighboring AS whose MEDs compare (§9.1.2.2 c): the first AS of the first AS_SEQUENCE,
/// with the confederation segments before it skipped (RFC 5065 §5.2).
fn neighbor_as(a: &PathAttributes) -> Option<u32> {
    let first = a.as_path.as_ref()?.segments.iter().find(|s| !s.kind.is_confed())?;
    match first.kind {
        SegmentType::Sequence => first.asns.first().copied(),
        _ => None,
    }
}
/// RFC 4456 §9: ORIGINATOR_ID stands in for the BGP Identifier when present.
fn router_id(c: &Candidate) -> u32 {
    c.attrs.attributes.originator_id.or(c.source.map(|s| s.router_id)).map_or(0, u32::from)
}

/// Keeps the candidates minimising `key`; true when that removed any.
fn keep_min<K: Ord>(set: &mut Vec<usize>, c: &[Candidate], key: impl Fn(&Candidate) -> K) -> bool {
    let Some(min) = set.iter().map(|&i| key(&c[i])).min() else { return false };
    let before = set.len();
    set.retain(|&i| key(&c[i]) == min);
    set.len() != before
}

/// One elimination step: removes candidates from the set, true when it removed any.
type StepFn<'a> = dyn Fn(&mut Vec<usize>) -> bool + 'a;

/// Chooses the best path among `candidates`; `None` when none is eligible.
pub fn decide(candidates: &[Candidate], opts: &Options) -> Option<Decision> {
    let mut set: Vec<usize> = (0..candidates.len()).filter(|&i| candidates[i].igp_metric.is_some()).collect();
    if set.is_empty() {
        return None;
    }
    let c = candidates;
    let mut step = Step::Only;
    let mut multipath_set = None;
    let steps: [(Step, &StepFn); 12] = [
        (Step::LlgrStale, &|s| keep_min(s, c, |x| x.llgr_stale)),
        (Step::Local, &|s| keep_min(s, c, |x| x.source.is_some())),
        (Step::LocalPref, &|s| keep_min(s, c, |x| std::cmp::Reverse(local_pref(&x.attrs.attributes)))),
        (Step::AsPathLength, &|s| keep_min(s, c, |x| as_path_length(&x.attrs.attributes))),
        (Step::Origin, &|s| keep_min(s, c, |x| origin(&x.attrs.attributes))),
        (Step::Med, &|s| {
            let before = s.len();
            let snapshot = s.clone();
            s.retain(|&i| {
                let a = &c[i].attrs.attributes;
                snapshot.iter().all(|&j| {
                    let b = &c[j].attrs.attributes;
                    let comparable = opts.always_compare_med || neighbor_as(a) == neighbor_as(b);
                    !comparable || med(a) <= med(b)
                })
            });
            s.len() != before
        }),
        (Step::ExternalOverInternal, &|s| keep_min(s, c, |x| !x.source.is_some_and(|s| s.ebgp))),
        (Step::IgpMetric, &|s| keep_min(s, c, |x| x.igp_metric)),
        (Step::RouterId, &|s| keep_min(s, c, router_id)),
        (Step::ClusterListLength, &|s| keep_min(s, c, |x| x.attrs.attributes.cluster_list.len())),
        (Step::NeighborAddress, &|s| keep_min(s, c, |x| x.source.map(|s| s.address))),
        (Step::PathId, &|s| keep_min(s, c, |x| x.path_id)),
    ];
    for (name, f) in steps.iter() {
        if set.len() > 1 && f(&mut set) {
            step = *name;
        }
        if *name == Step::IgpMetric {
            // Equal up to the IGP metric: candidates for multipath.
            multipath_set = Some(set.clone());
        }
    }
    let best = set[0];
    let mut multipath = vec![best];
    if opts.max_paths > 1 {
        for i in multipath_set.unwrap_or_default() {
            if i != best && multipath.len() < opts.max_paths {
                multipath.push(i);
            }
        }
    }
    Some(Decision { best, step, multipath })
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_wire::attribute::AsSegment;
    use keel_wire::{AsPath, NextHop};

    fn attrs(f: impl FnOnce(&mut PathAttributes)) -> AttrSet {
        let mut a = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence(vec![65001, 65100])),
            ..Default::default()
        };
        f(&mut a);
        AttrSet { attributes: a, next_hop: NextHop::V4("192.0.2.1".parse().unwrap()) }
    }

    fn src(last: u8, ebgp: bool) -> Option<Source> {
        Some(Source { address: IpAddr::from([127, 0, 0, last]), router_id: Ipv4Addr::new(192, 0, 2, last), ebgp })
    }

    fn same_router(last: u8) -> Option<Source> {
        Some(Source { router_id: Ipv4Addr::new(192, 0, 2, 1), ..src(last, true).unwrap() })
    }

    fn cand(a: &AttrSet, source: Option<Source>) -> Candidate<'_> {
        Candidate { attrs: a, source, igp_metric: Some(0), llgr_stale: false, path_id: 0 }
    }

    /// One row per RFC 4271 §9.1.2.2 step: the winner is candidate 0, decided by `step`.
    #[test]
    fn every_tie_breaker() {
        let base = attrs(|_| {});
        let lp200 = attrs(|a| a.local_pref = Some(200));
        let long = attrs(|a| a.as_path = Some(AsPath::sequence(vec![65001, 65002, 65100])));
        let egp = attrs(|a| a.origin = Some(Origin::Egp));
        let med10 = attrs(|a| a.med = Some(10));
        let med5 = attrs(|a| a.med = Some(5));
        let other_as_med1 = attrs(|a| {
            a.as_path = Some(AsPath::sequence(vec![65009, 65100]));
            a.med = Some(1)
        });
        let orig = attrs(|a| a.originator_id = Some(Ipv4Addr::new(10, 0, 0, 1)));
        let cl0_same_id = attrs(|a| a.originator_id = Some(Ipv4Addr::new(192, 0, 2, 50)));
        let cl1_same_id = attrs(|a| {
            a.originator_id = Some(Ipv4Addr::new(192, 0, 2, 50));
            a.cluster_list = vec![Ipv4Addr::new(192, 0, 2, 9)].into();
        });
        let mut llgr = cand(&lp200, src(1, true));
        llgr.llgr_stale = true;
        let near = Candidate { igp_metric: Some(5), ..cand(&base, src(3, false)) };
        let far = Candidate { igp_metric: Some(50), ..cand(&base, src(2, false)) };
        let rows: Vec<(Vec<Candidate>, Step)> = vec![
            (vec![cand(&base, src(2, true)), llgr], Step::LlgrStale),
            (vec![cand(&base, None), cand(&lp200, src(1, true))], Step::Local),
            (vec![cand(&lp200, src(2, true)), cand(&base, src(1, true))], Step::LocalPref),
            (vec![cand(&base, src(2, true)), cand(&long, src(1, true))], Step::AsPathLength),
            (vec![cand(&base, src(2, true)), cand(&egp, src(1, true))], Step::Origin),
            (vec![cand(&med5, src(2, true)), cand(&med10, src(1, true))], Step::Med),
            (vec![cand(&base, src(2, true)), cand(&base, src(1, false))], Step::ExternalOverInternal),
            (vec![near, far], Step::IgpMetric),
            (vec![cand(&orig, src(2, false)), cand(&base, src(1, false))], Step::RouterId),
            (vec![cand(&cl0_same_id, src(2, false)), cand(&cl1_same_id, src(1, false))], Step::ClusterListLength),
            // Two sessions to one router (same BGP Identifier): the lower address wins.
            (vec![cand(&base, src(1, true)), cand(&base, same_router(2))], Step::NeighborAddress),
            (vec![cand(&base, src(1, true))], Step::Only),
            // MED is not compared across neighboring ASes: the lower router id decides.
            (vec![cand(&med10, src(1, true)), cand(&other_as_med1, src(2, true))], Step::RouterId),
        ];
        for (i, (c, step)) in rows.iter().enumerate() {
            let d = decide(c, &Options::default()).unwrap();
            assert_eq!((d.best, d.step), (0, *step), "row {i}");
        }
        // RFC 5065 §5.3: confederation segments do not count in the AS_PATH length, and
        // (§5.2) are skipped to find the neighboring AS whose MEDs compare.
        let confed = |c: &[u32], s: &[u32], m| {
            attrs(|a| {
                a.as_path = Some(AsPath {
                    segments: vec![
                        AsSegment { kind: SegmentType::ConfedSequence, asns: c.into() },
                        AsSegment { kind: SegmentType::Sequence, asns: s.into() },
                    ]
                    .into(),
                });
                a.med = Some(m);
            })
        };
        let (three_confed, two_seq) = (confed(&[64512, 64513, 64514], &[65100], 0), attrs(|_| {}));
        let (from_65001, from_65002) = (confed(&[64512], &[65001, 65100], 9), confed(&[64513], &[65002, 65100], 1));
        let from_65001_low = confed(&[64514], &[65001, 65100], 5);
        let rows = [
            (vec![cand(&three_confed, src(2, false)), cand(&two_seq, src(1, false))], Step::AsPathLength),
            (vec![cand(&from_65001, src(1, false)), cand(&from_65002, src(2, false))], Step::RouterId),
            (vec![cand(&from_65001_low, src(2, false)), cand(&from_65001, src(1, false))], Step::Med),
        ];
        for (i, (c, step)) in rows.iter().enumerate() {
            let d = decide(c, &Options::default()).unwrap();
            assert_eq!((d.best, d.step), (0, *step), "confederation row {i}");
        }
        // always_compare_med makes MED decide across ASes.
        let c = [cand(&other_as_med1, src(2, true)), cand(&med10, src(1, true))];
        let d = decide(&c, &Options { always_compare_med: true, max_paths: 1 }).unwrap();
        assert_eq!((d.best, d.step), (0, Step::Med));
    }

    #[test]
    fn unresolvable_next_hop_is_not_eligible() {
        let a = attrs(|_| {});
        let c = [Candidate { igp_metric: None, ..cand(&a, src(1, true)) }];
        assert_eq!(decide(&c, &Options::default()), None);
    }

    #[test]
    fn multipath_takes_paths_equal_up_to_igp_metric() {
        let a = attrs(|_| {});
        let long = attrs(|a| a.as_path = Some(AsPath::sequence(vec![65001, 65002, 65100])));
        let c = [cand(&a, src(3, true)), cand(&a, src(1, true)), cand(&long, src(2, true))];
        let d = decide(&c, &Options { always_compare_med: false, max_paths: 4 }).unwrap();
        assert_eq!(d.best, 1);
        assert_eq!(d.multipath, vec![1, 0]);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use keel_wire::{AsPath, NextHop};
    use proptest::prelude::*;

    fn candidate_sets() -> impl Strategy<Value = Vec<(AttrSet, u8, bool, Option<u32>, bool)>> {
        let one = (
            0u32..3,                       // local pref choice
            1usize..4,                     // path length
            0u32..3,                       // neighbor AS choice
            proptest::option::of(0u32..3), // MED
            0u8..3,                        // origin
            1u8..6,                        // neighbor
            any::<bool>(),                 // ebgp
            proptest::option::of(0u32..3), // igp metric
            any::<bool>(),                 // llgr stale
        )
            .prop_map(|(lp, len, nas, med, origin, n, ebgp, igp, llgr)| {
                let mut path: Vec<u32> = (0..len as u32).map(|i| 65100 + i).collect();
                path[0] = 65001 + nas;
                let a = PathAttributes {
                    local_pref: Some(100 + lp * 50),
                    as_path: Some(AsPath::sequence(path)),
                    med,
                    origin: Some([Origin::Igp, Origin::Egp, Origin::Incomplete][origin as usize]),
                    ..Default::default()
                };
                (AttrSet { attributes: a, next_hop: NextHop::V4("192.0.2.1".parse().unwrap()) }, n, ebgp, igp, llgr)
            });
        proptest::collection::vec(one, 1..7)
    }

    proptest! {
        /// The best path does not depend on the order in which paths arrived.
        #[test]
        fn best_is_independent_of_order(set in candidate_sets(), rotate in 0usize..7, cmp_med in any::<bool>()) {
            let cands: Vec<Candidate> = set.iter().enumerate().map(|(i, (a, n, ebgp, igp, llgr))| Candidate {
                attrs: a,
                source: Some(Source { address: IpAddr::from([127, 0, 0, *n]), router_id: Ipv4Addr::new(192, 0, 2, *n), ebgp: *ebgp }),
                igp_metric: *igp,
                llgr_stale: *llgr,
                path_id: i as u32,
            }).collect();
            let opts = Options { always_compare_med: cmp_med, max_paths: 1 };
            let mut order: Vec<usize> = (0..cands.len()).collect();
            order.rotate_left(rotate % cands.len());
            order.reverse();
            let permuted: Vec<Candidate> = order.iter().map(|&i| cands[i]).collect();
            let a = decide(&cands, &opts).map(|d| d.best);
            let b = decide(&permuted, &opts).map(|d| order[d.best]);
            prop_assert_eq!(a, b);
        }
    }
}
