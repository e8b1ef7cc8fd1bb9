use super::*;
use keel_wire::{Origin, PathAttributes};
use proptest::prelude::*;
use std::net::Ipv4Addr;

const V4: Family = Family::IPV4_UNICAST;

fn attrs(path: &[u32], communities: &[&str]) -> AttrSet {
    AttrSet {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence(path.to_vec())),
            communities: communities.iter().map(|c| c.parse().unwrap()).collect(),
            large_communities: vec!["65001:1:2".parse().unwrap()].into(),
            extended_communities: vec!["rt:65001:7".parse().unwrap()].into(),
            med: Some(5),
            ..Default::default()
        },
        next_hop: NextHop::V4(Ipv4Addr::new(192, 0, 2, 9)),
    }
}

fn ctx(prefix: &Prefix, rpki: Option<RpkiState>) -> Context<'_> {
    Context { family: V4, prefix, rpki, local_asn: 65000, local_address: IpAddr::from([127, 0, 0, 100]) }
}

fn chain(matches: Vec<Match>, actions: Vec<Action>, verdict: Option<Verdict>) -> Chain {
    let term = Term { name: "t".into(), matches, actions, verdict };
    Chain { links: vec![Link::Policy(Arc::new(Policy { name: "p".into(), terms: vec![term] }))] }
}

fn list(entries: &[&str]) -> Arc<PrefixList> {
    Arc::new(PrefixList::new(entries.iter().map(|e| e.parse::<PrefixEntry>().unwrap())))
}

#[test]
fn prefix_entries_parse_and_match() {
    let l = list(&["198.51.100.0/24", "203.0.113.0/24 ge 25 le 26", "192.0.2.0/24 le 32", "2001:db8::/32 ge 48"]);
    for (p, hit) in [
        ("198.51.100.0/24", true),
        ("198.51.100.0/25", false),
        ("203.0.113.0/24", false),
        ("203.0.113.128/25", true),
        ("203.0.113.64/26", true),
        ("203.0.113.0/27", false),
        ("192.0.2.7/32", true),
        ("192.0.0.0/16", false),
        ("2001:db8:1::/48", true),
        ("2001:db8::/32", false),
        ("2001:db9::/48", false),
    ] {
        assert_eq!(l.matches(&p.parse().unwrap()), hit, "{p}");
    }
    for bad in ["198.51.100.0/24 ge 20", "198.51.100.0/24 le 33", "198.51.100.0/24 foo 3", "198.51.100.1/24", ""] {
        assert!(bad.parse::<PrefixEntry>().is_err(), "{bad:?}");
    }
}

/// A route to evaluate: prefix, attributes, RPKI state.
type Route<'a> = (&'a Prefix, &'a AttrSet, Option<RpkiState>);

/// One row per match kind: the condition, a route it matches, and one it does not.
#[test]
fn each_match_kind() {
    let re = |s: &str| Match::AsPathRegex(regex::Regex::new(s).unwrap());
    let p24: Prefix = "198.51.100.0/24".parse().unwrap();
    let other: Prefix = "203.0.113.0/24".parse().unwrap();
    let base = attrs(&[65001, 65010, 65100], &["65001:100"]);
    let short = attrs(&[65002], &["65002:1"]);
    let bare = AttrSet { attributes: PathAttributes::default(), next_hop: base.next_hop };
    let elsewhere = AttrSet { next_hop: NextHop::V4(Ipv4Addr::new(198, 18, 0, 1)), ..base.clone() };
    let rows: Vec<(&str, Match, Route, Route)> = vec![
        ("prefix", Match::Prefix(list(&["198.51.100.0/24"])), (&p24, &base, None), (&other, &base, None)),
        ("contains", Match::AsPathContains(65010), (&p24, &base, None), (&p24, &short, None)),
        ("origin", Match::OriginAs(vec![65100, 7]), (&p24, &base, None), (&p24, &short, None)),
        ("neighbor", Match::NeighborAs(65002), (&p24, &short, None), (&p24, &base, None)),
        ("length", Match::AsPathLength { min: Some(2), max: Some(3) }, (&p24, &base, None), (&p24, &short, None)),
        ("regex", re("^65001 .* 65100$"), (&p24, &base, None), (&p24, &short, None)),
        ("community", Match::Community(vec!["65001:*".parse().unwrap()]), (&p24, &base, None), (&p24, &short, None)),
        (
            "community exact",
            Match::Community(vec!["65002:1".parse().unwrap()]),
            (&p24, &short, None),
            (&p24, &base, None),
        ),
        ("large", Match::LargeCommunity(vec!["65001:*:2".parse().unwrap()]), (&p24, &base, None), (&p24, &bare, None)),
        (
            "extended",
            Match::ExtendedCommunity(vec!["rt:65001:*".parse().unwrap()]),
            (&p24, &base, None),
            (&p24, &bare, None),
        ),
        (
            "next hop",
            Match::NextHop(vec!["192.0.2.0/24".parse().unwrap()]),
            (&p24, &base, None),
            (&p24, &elsewhere, None),
        ),
        (
            "rpki",
            Match::Rpki(vec![RpkiState::Invalid]),
            (&p24, &base, Some(RpkiState::Invalid)),
            (&p24, &base, Some(RpkiState::Valid)),
        ),
        (
            "rpki without cache",
            Match::Rpki(vec![RpkiState::NotFound]),
            (&p24, &base, Some(RpkiState::NotFound)),
            (&p24, &base, None),
        ),
        ("family", Match::Family(vec![V4]), (&p24, &base, None), (&p24, &base, None)),
    ];
    for (name, m, (yp, ya, yr), (np, na, nr)) in rows {
        let c = chain(vec![m], vec![], Some(Verdict::Accept));
        assert_eq!(c.evaluate(&ctx(yp, yr), ya).verdict, Verdict::Accept, "{name}: should match");
        if name != "family" {
            assert_eq!(c.evaluate(&ctx(np, nr), na).verdict, Verdict::Reject, "{name}: should not match");
        }
    }
    // Family: the same route in another family.
    let c = chain(vec![Match::Family(vec![Family::IPV6_UNICAST])], vec![], Some(Verdict::Accept));
    assert_eq!(c.evaluate(&ctx(&p24, None), &base).verdict, Verdict::Reject);
}

/// One row per action: what it does to the base route.
#[test]
fn each_action() {
    let p: Prefix = "198.51.100.0/24".parse().unwrap();
    let mut stale = attrs(&[65001], &["65001:100", "65001:200"]);
    stale.attributes.communities.push(Community::LLGR_STALE);
    let c = |s: &str| s.parse::<Community>().unwrap();
    let l = |s: &str| s.parse::<LargeCommunity>().unwrap();
    let e = |s: &str| s.parse::<ExtendedCommunity>().unwrap();
    type Check = Box<dyn Fn(&AttrSet) -> bool>;
    let rows: Vec<(Action, Check)> = vec![
        (Action::SetLocalPref(300), Box::new(|a| a.attributes.local_pref == Some(300))),
        (Action::SetMed(0), Box::new(|a| a.attributes.med == Some(0))),
        (Action::SetNextHop(SetNextHop::Own), Box::new(|a| a.next_hop == NextHop::V4(Ipv4Addr::new(127, 0, 0, 100)))),
        (
            Action::SetNextHop(SetNextHop::Address("192.0.2.77".parse().unwrap())),
            Box::new(|a| a.next_hop == NextHop::V4(Ipv4Addr::new(192, 0, 2, 77))),
        ),
        (Action::AddCommunities(vec![c("65000:1")]), Box::new(move |a| a.attributes.communities.len() == 4)),
        (
            Action::RemoveCommunities(vec!["65001:*".parse().unwrap(), "65535:*".parse().unwrap()]),
            Box::new(|a| a.attributes.communities == vec![Community::LLGR_STALE]),
        ),
        (
            Action::ReplaceCommunities(vec![c("65000:9")]),
            Box::new(move |a| a.attributes.communities == vec![c("65000:9"), Community::LLGR_STALE]),
        ),
        (Action::AddLargeCommunities(vec![l("65000:0:1")]), Box::new(|a| a.attributes.large_communities.len() == 2)),
        (
            Action::RemoveLargeCommunities(vec!["*:*:*".parse().unwrap()]),
            Box::new(|a| a.attributes.large_communities.is_empty()),
        ),
        (
            Action::ReplaceLargeCommunities(vec![l("1:2:3")]),
            Box::new(move |a| a.attributes.large_communities == vec![l("1:2:3")]),
        ),
        (
            Action::AddExtendedCommunities(vec![e("ro:65000:1")]),
            Box::new(|a| a.attributes.extended_communities.len() == 2),
        ),
        (
            Action::RemoveExtendedCommunities(vec!["rt:65001:*".parse().unwrap()]),
            Box::new(|a| a.attributes.extended_communities.is_empty()),
        ),
        (
            Action::ReplaceExtendedCommunities(vec![e("0x0002fde800000001")]),
            Box::new(move |a| a.attributes.extended_communities == vec![e("rt:65000:1")]),
        ),
        (
            Action::Prepend { asn: None, times: 2 },
            Box::new(|a| a.attributes.as_path == Some(AsPath::sequence(vec![65000, 65000, 65001]))),
        ),
        (
            Action::Prepend { asn: Some(64512), times: 1 },
            Box::new(|a| a.attributes.as_path == Some(AsPath::sequence(vec![64512, 65001]))),
        ),
    ];
    for (action, check) in rows {
        let name = format!("{action:?}");
        let out = chain(vec![], vec![action], Some(Verdict::Accept)).evaluate(&ctx(&p, None), &stale);
        assert_eq!(out.verdict, Verdict::Accept, "{name}");
        let a = out.attrs.unwrap_or_else(|| panic!("{name}: no change"));
        assert!(check(&a), "{name}: {a:?}");
    }
}

#[test]
fn terms_run_in_order_and_see_earlier_changes() {
    let p: Prefix = "198.51.100.0/24".parse().unwrap();
    let tag = Term {
        name: "tag".into(),
        matches: vec![Match::OriginAs(vec![65001])],
        actions: vec![Action::AddCommunities(vec!["65000:666".parse().unwrap()])],
        verdict: None,
    };
    let drop_tagged = Term {
        name: "drop".into(),
        matches: vec![Match::Community(vec!["65000:666".parse().unwrap()])],
        actions: vec![],
        verdict: Some(Verdict::Reject),
    };
    let accept =
        Term { name: "rest".into(), matches: vec![], actions: vec![Action::SetMed(1)], verdict: Some(Verdict::Accept) };
    let pol = Arc::new(Policy { name: "p".into(), terms: vec![tag, drop_tagged, accept] });
    let c = Chain { links: vec![Link::Policy(pol.clone())] };
    assert_eq!(c.evaluate(&ctx(&p, None), &attrs(&[65001], &[])).verdict, Verdict::Reject);
    let out = c.evaluate(&ctx(&p, None), &attrs(&[65002], &[]));
    assert_eq!((out.verdict, out.attrs.map(|a| a.attributes.med)), (Verdict::Accept, Some(Some(1))));
    // Falling off the end of the chain rejects; "all" after a policy accepts what is left.
    let no_verdict = Arc::new(Policy {
        name: "q".into(),
        terms: vec![Term { name: "t".into(), matches: vec![], actions: vec![Action::SetMed(9)], verdict: None }],
    });
    let c = Chain { links: vec![Link::Policy(no_verdict.clone())] };
    assert_eq!(c.evaluate(&ctx(&p, None), &attrs(&[65002], &[])).verdict, Verdict::Reject);
    let c = Chain { links: vec![Link::Policy(no_verdict), Link::AcceptAll] };
    let out = c.evaluate(&ctx(&p, None), &attrs(&[65002], &[]));
    assert_eq!((out.verdict, out.attrs.map(|a| a.attributes.med)), (Verdict::Accept, Some(Some(9))));
}

#[test]
fn route_key_captures_every_per_route_input() {
    let pl = list(&["198.51.100.0/24"]);
    let c = chain(vec![Match::Prefix(pl.clone()), Match::Rpki(vec![RpkiState::Valid])], vec![], Some(Verdict::Accept));
    let (a, b): (Prefix, Prefix) = ("198.51.100.0/24".parse().unwrap(), "203.0.113.0/24".parse().unwrap());
    assert_ne!(c.route_key(&ctx(&a, None)), c.route_key(&ctx(&b, None)));
    assert_ne!(c.route_key(&ctx(&a, Some(RpkiState::Valid))), c.route_key(&ctx(&a, Some(RpkiState::Invalid))));
    // Without an rpki match, the state does not split routes.
    let c = chain(vec![Match::Prefix(pl)], vec![], Some(Verdict::Accept));
    assert_eq!(c.route_key(&ctx(&a, Some(RpkiState::Valid))), c.route_key(&ctx(&a, Some(RpkiState::Invalid))));
}

#[test]
fn as_path_text_shows_sets() {
    use keel_wire::attribute::{AsSegment, SegmentType};
    let p = AsPath {
        segments: vec![
            AsSegment { kind: SegmentType::Sequence, asns: vec![65001, 65002].into() },
            AsSegment { kind: SegmentType::Set, asns: vec![1, 2].into() },
        ]
        .into(),
    };
    assert_eq!(as_path_text(&p), "65001 65002 {1,2}");
}

fn any_attrs() -> impl Strategy<Value = AttrSet> {
    (
        proptest::collection::vec(any::<u32>(), 0..6),
        proptest::collection::vec(any::<u32>(), 0..4),
        any::<Option<u32>>(),
        any::<[u8; 4]>(),
    )
        .prop_map(|(path, comms, med, nh)| AttrSet {
            attributes: PathAttributes {
                as_path: (!path.is_empty()).then(|| AsPath::sequence(path)),
                communities: comms.into_iter().map(Community).collect(),
                med,
                ..Default::default()
            },
            next_hop: NextHop::V4(Ipv4Addr::from(nh)),
        })
}

proptest! {
    /// Policy evaluation never panics, and what it rejects carries no attributes.
    #[test]
    fn evaluation_never_panics(a in any_attrs(), addr in any::<u32>(), len in 0u8..=32, rpki in 0u8..4) {
        let p = Prefix::new(IpAddr::from(Ipv4Addr::from(addr)), len).unwrap();
        let rpki = [None, Some(RpkiState::Valid), Some(RpkiState::Invalid), Some(RpkiState::NotFound)][rpki as usize];
        let terms = vec![
            Term { name: "a".into(), matches: vec![Match::Prefix(list(&["0.0.0.0/0 le 8"]))], actions: vec![], verdict: Some(Verdict::Reject) },
            Term { name: "b".into(), matches: vec![Match::AsPathRegex(regex::Regex::new("^6").unwrap()), Match::AsPathLength { min: Some(2), max: None }],
                   actions: vec![Action::Prepend { asn: None, times: 3 }, Action::RemoveCommunities(vec!["*:*".parse().unwrap()])], verdict: None },
            Term { name: "c".into(), matches: vec![Match::Rpki(vec![RpkiState::Invalid])], actions: vec![], verdict: Some(Verdict::Reject) },
            Term { name: "d".into(), matches: vec![Match::NextHop(vec!["192.0.2.0/24".parse().unwrap()])], actions: vec![Action::SetNextHop(SetNextHop::Own), Action::SetLocalPref(0)], verdict: None },
        ];
        let c = Chain { links: vec![Link::Policy(Arc::new(Policy { name: "p".into(), terms })), Link::AcceptAll] };
        let out = c.evaluate(&ctx(&p, rpki), &a);
        if out.verdict == Verdict::Reject {
            prop_assert!(out.attrs.is_none());
        }
    }
}

#[test]
fn next_hop_of_another_family_is_not_set() {
    let p: Prefix = "198.51.100.0/24".parse().unwrap();
    let set6 = Action::SetNextHop(SetNextHop::Address("2001:db8::1".parse().unwrap()));
    let out = chain(vec![], vec![set6], Some(Verdict::Accept)).evaluate(&ctx(&p, None), &attrs(&[65001], &[]));
    assert_eq!(out.attrs.map(|a| a.next_hop), Some(NextHop::V4(Ipv4Addr::new(192, 0, 2, 9))));
}
