//! Routing policies: `GET /v1/policies` (a list of [`PolicyView`]), `/v1/policies/{name}`,
//! and what one does to a route, `GET /v1/policies/{name}/test` ([`PolicyTest`]). `keel show
//! policy --config FILE` and `keel test-policy --config FILE` print the same documents from a
//! file.
//!
//! Fields are in alphabetical order, the order keeld has always sent them in (see the crate's
//! doc).

use serde::{Deserialize, Serialize};

/// A policy's terms as the operator wrote them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyView {
    pub name: String,
    pub terms: Vec<TermView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermView {
    /// Each condition as text (`"rpki invalid"`); all must hold.
    #[serde(rename = "match")]
    pub matches: Vec<String>,
    pub name: String,
    /// Each action as text (`"local_pref = 200"`).
    pub set: Vec<String>,
    /// `"accept"`, `"reject"`, or null: on to the next term.
    pub then: Option<String>,
}

/// A policy run on one route: the verdict, the terms that matched, the route before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyTest {
    /// `"POLICY/TERM"`, in the order they ran.
    pub matched_terms: Vec<String>,
    /// The policy's name, or `"all"` / `"none"`.
    pub policy: String,
    /// The route as the policy left it; null when rejected.
    pub result: Option<TestedRoute>,
    pub route: TestedRoute,
    /// `"accept"` or `"reject"`.
    pub verdict: String,
}

impl PolicyTest {
    pub fn accepted(&self) -> bool {
        self.verdict == "accept"
    }
}

/// The attributes a policy sees and sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestedRoute {
    pub as_path: Vec<u32>,
    pub communities: Vec<String>,
    pub extended_communities: Vec<String>,
    pub large_communities: Vec<String>,
    pub local_pref: Option<u32>,
    pub med: Option<u32>,
    pub next_hop: String,
    pub prefix: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As keeld served them.
    const POLICIES: &str = r#"[{"name":"rpki-in","terms":[{"match":["rpki invalid"],"name":"invalid","set":[],"then":"reject"},{"match":[],"name":"rest","set":["local_pref = 200","add communities 65000:100"],"then":"accept"},{"match":[],"name":"fall-through","set":[],"then":null}]}]"#;
    const TEST: &str = r#"{"matched_terms":["rpki-in/rest"],"policy":"rpki-in","result":{"as_path":[65001,65002],"communities":["65001:1","65000:100"],"extended_communities":[],"large_communities":[],"local_pref":200,"med":5,"next_hop":"192.0.2.1","prefix":"192.0.2.0/24"},"route":{"as_path":[65001,65002],"communities":["65001:1"],"extended_communities":[],"large_communities":[],"local_pref":null,"med":5,"next_hop":"192.0.2.1","prefix":"192.0.2.0/24"},"verdict":"accept"}"#;

    #[test]
    fn policy_documents_round_trip() {
        let p: Vec<PolicyView> = serde_json::from_str(POLICIES).expect("policies");
        assert_eq!(p[0].terms[0].matches, ["rpki invalid"]);
        assert_eq!(serde_json::to_string(&p).expect("serialize"), POLICIES);
        let t: PolicyTest = serde_json::from_str(TEST).expect("test");
        assert!(t.accepted());
        assert_eq!(serde_json::to_string(&t).expect("serialize"), TEST);
    }
}
