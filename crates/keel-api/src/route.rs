//! A route: each element of `GET /v1/routes` (Loc-RIB paths, or with `?advertised=ADDRESS` what
//! was sent to that neighbor, RFC 4271 §3.2).
//!
//! The query narrows the list: `family=ipv4-unicast`, `neighbor=ADDRESS`, `stale=true`,
//! `prefix=P` (that prefix exactly, as written), or `for=ADDRESS` / `for=P` (longest match: the
//! routes of the most specific prefix covering it that has a best path, per family; among what
//! was sent with `advertised=`). `prefix=` and `for=` exclude each other.
//!
//! Fields keep the order keeld has always sent them in (a route was always a struct).
//!
//! A few fields are one word of a fixed vocabulary: the ORIGIN, the RPKI state and each AS_PATH
//! segment's type. Their type is the parameter `W`: keeld fills them with the `&'static str`
//! names its own types give (`Origin::name`, `RpkiState::as_str`) and builds a
//! `RouteView<&'static str>` without allocating per route; a reader deserializes a
//! `RouteView<String>` (the default). Both serialize alike; the tests below check the one
//! against the other.

use keel_wire::attribute::{AsPath, SegmentType};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// A route as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteView<W = String> {
    pub prefix: String,
    /// `"ipv4-unicast"`.
    pub family: String,
    /// The Add-Path identifier as received (RFC 7911); null from neighbors that send none, and
    /// for keel's own routes.
    pub path_id: Option<u32>,
    /// Null for keel's own routes (`[[network]]`).
    pub neighbor: Option<IpAddr>,
    /// An address, or `"self"` for keel's own routes.
    pub next_hop: String,
    /// Every AS in order, segment types dropped (kept as it always was).
    pub as_path: Vec<u32>,
    /// The same path with its segment types (RFC 4271 §4.3, RFC 5065 §3). A keeld older than
    /// this field did not send it; read as empty, and [`RouteView::as_path`] is all there is.
    #[serde(default)]
    pub as_path_segments: Vec<SegmentView<W>>,
    /// `"igp"`, `"egp"` or `"incomplete"`.
    pub origin: Option<W>,
    pub communities: Vec<String>,
    pub large_communities: Vec<String>,
    pub local_pref: Option<u32>,
    pub med: Option<u32>,
    pub best: bool,
    /// Kept for a restarting neighbor (RFC 4724 §4.2).
    pub stale: bool,
    /// LLGR-stale (RFC 9494 §4.2), or carrying the LLGR_STALE community.
    pub llgr_stale: bool,
    /// RPKI origin validation (RFC 6811): `"valid"`, `"invalid"`, `"not-found"`; null while
    /// keel has no VRPs.
    pub rpki: Option<W>,
}

/// One AS_PATH segment: `{"type": "as_sequence", "asns": [65001]}`, the type one of
/// [`SegmentView::AS_SET`], [`SegmentView::AS_SEQUENCE`], [`SegmentView::AS_CONFED_SEQUENCE`],
/// [`SegmentView::AS_CONFED_SET`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentView<W = String> {
    #[serde(rename = "type")]
    pub kind: W,
    pub asns: Vec<u32>,
}

impl<W> SegmentView<W> {
    /// RFC 4271 §4.3.
    pub const AS_SET: &'static str = "as_set";
    pub const AS_SEQUENCE: &'static str = "as_sequence";
    /// RFC 5065 §3.
    pub const AS_CONFED_SEQUENCE: &'static str = "as_confed_sequence";
    pub const AS_CONFED_SET: &'static str = "as_confed_set";
}

impl SegmentView<&'static str> {
    /// The segments of `path`, as keeld sends them.
    pub fn of(path: &AsPath) -> Vec<Self> {
        path.segments
            .iter()
            .map(|s| SegmentView {
                kind: match s.kind {
                    SegmentType::Set => Self::AS_SET,
                    SegmentType::Sequence => Self::AS_SEQUENCE,
                    SegmentType::ConfedSequence => Self::AS_CONFED_SEQUENCE,
                    SegmentType::ConfedSet => Self::AS_CONFED_SET,
                },
                asns: s.asns.to_vec(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_wire::attribute::AsSegment;

    /// A route received over a confederation, validated, with every segment type.
    const ROUTE: &str = r#"{"prefix":"203.0.113.0/24","family":"ipv4-unicast","path_id":7,"neighbor":"127.0.9.2","next_hop":"127.0.9.2","as_path":[64512,65092,65003,65004,64513],"as_path_segments":[{"type":"as_confed_sequence","asns":[64512]},{"type":"as_sequence","asns":[65092]},{"type":"as_set","asns":[65003,65004]},{"type":"as_confed_set","asns":[64513]}],"origin":"igp","communities":["65000:2"],"large_communities":["65000:1:2"],"local_pref":100,"med":5,"best":true,"stale":true,"llgr_stale":false,"rpki":"valid"}"#;

    /// keel's own route, as keeld served it before keel had VRPs.
    const OWN: &str = r#"{"prefix":"2001:db8:91::/48","family":"ipv6-unicast","path_id":null,"neighbor":null,"next_hop":"self","as_path":[],"as_path_segments":[],"origin":"igp","communities":[],"large_communities":[],"local_pref":null,"med":null,"best":true,"stale":false,"llgr_stale":false,"rpki":null}"#;

    /// What keeld builds for [`ROUTE`] (words as `&'static str`) serializes to it, and a
    /// reader gets the same route back as `RouteView<String>`.
    #[test]
    fn keelds_route_reads_back() {
        let path = AsPath {
            segments: vec![
                AsSegment { kind: SegmentType::ConfedSequence, asns: vec![64512].into() },
                AsSegment { kind: SegmentType::Sequence, asns: vec![65092].into() },
                AsSegment { kind: SegmentType::Set, asns: vec![65003, 65004].into() },
                AsSegment { kind: SegmentType::ConfedSet, asns: vec![64513].into() },
            ]
            .into(),
        };
        let sent: RouteView<&'static str> = RouteView {
            prefix: "203.0.113.0/24".into(),
            family: "ipv4-unicast".into(),
            path_id: Some(7),
            neighbor: Some(IpAddr::from([127, 0, 9, 2])),
            next_hop: "127.0.9.2".into(),
            as_path: path.asns().collect(),
            as_path_segments: SegmentView::of(&path),
            origin: Some("igp"),
            communities: vec!["65000:2".into()],
            large_communities: vec!["65000:1:2".into()],
            local_pref: Some(100),
            med: Some(5),
            best: true,
            stale: true,
            llgr_stale: false,
            rpki: Some("valid"),
        };
        assert_eq!(serde_json::to_string(&sent).expect("serialize"), ROUTE);
        let read: RouteView = serde_json::from_str(ROUTE).expect("deserialize");
        assert_eq!(read.as_path_segments[2].kind, SegmentView::<String>::AS_SET);
        assert_eq!(read.rpki.as_deref(), Some("valid"));
        assert_eq!(serde_json::to_string(&read).expect("serialize"), ROUTE);
    }

    #[test]
    fn own_routes_round_trip() {
        let read: Vec<RouteView> = serde_json::from_str(&format!("[{OWN}]")).expect("deserialize");
        assert_eq!((read[0].neighbor, read[0].rpki.as_deref()), (None, None));
        assert_eq!(serde_json::to_string(&read[0]).expect("serialize"), OWN);
    }

    /// A keeld older than `as_path_segments` is still read (no segments); any other missing
    /// field is an error naming it.
    #[test]
    fn missing_fields() {
        let old = OWN.replace(r#""as_path_segments":[],"#, "");
        let read: RouteView = serde_json::from_str(&old).expect("a route without segments");
        assert!(read.as_path_segments.is_empty());
        let e = serde_json::from_str::<RouteView>(&OWN.replace(r#""best":true,"#, "")).expect_err("no best");
        assert!(e.to_string().contains("missing field `best`"), "{e}");
    }
}
