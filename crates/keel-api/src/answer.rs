//! What `POST /v1/reload`, `/v1/restart`, `/v1/stop`, `/v1/graceful-shutdown` and
//! `/v1/neighbors/{address}/clear` answer ([`Answer`]), and the body of every answer with a
//! non-2xx status ([`ErrorBody`]).

use serde::{Deserialize, Serialize};

/// `{"ok": true}`; a reload adds what it did: `{"ok": true, "summary": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

impl Answer {
    pub fn ok() -> Self {
        Answer { ok: true, summary: None }
    }

    pub fn summary(summary: String) -> Self {
        Answer { ok: true, summary: Some(summary) }
    }
}

/// `{"error": "no neighbor 192.0.2.9"}`: why the request failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip() {
        let reload = r#"{"ok":true,"summary":"2 neighbor(s) kept, 0 restarted, 0 removed, 0 added; policies re-applied to 0 neighbor(s)"}"#;
        for (doc, answer) in [
            (r#"{"ok":true}"#, Answer::ok()),
            (
                reload,
                Answer::summary(
                    "2 neighbor(s) kept, 0 restarted, 0 removed, 0 added; policies re-applied to 0 neighbor(s)".into(),
                ),
            ),
        ] {
            assert_eq!(serde_json::to_string(&answer).expect("serialize"), doc);
            assert_eq!(serde_json::from_str::<Answer>(doc).expect("deserialize"), answer);
        }
        let e = ErrorBody { error: "--soft and --hard exclude each other".into() };
        let doc = r#"{"error":"--soft and --hard exclude each other"}"#;
        assert_eq!(serde_json::to_string(&e).expect("serialize"), doc);
        assert_eq!(serde_json::from_str::<ErrorBody>(doc).expect("deserialize"), e);
    }
}
