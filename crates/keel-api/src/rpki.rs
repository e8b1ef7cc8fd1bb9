//! RPKI: `GET /v1/rpki`, the RPKI-to-Router caches keeld validates routes with (RFC 8210) and
//! the VRPs in use (RFC 6811).
//!
//! One [`RpkiCacheView`] per `[[rpki.cache]]`, in configuration order: its connection, the
//! session it follows (Session ID and serial of the last End of Data, RFC 8210 §5.8), the VRPs
//! it gave, when it last updated them, and the intervals in use (RFC 8210 §6). Durations are in
//! seconds, counted when keeld answered. Fields are in alphabetical order, like the neighbor and
//! status documents (see the crate's doc).

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// `GET /v1/rpki`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpkiView {
    /// Every configured cache; empty when keel does not validate.
    pub caches: Vec<RpkiCacheView>,
    /// The VRPs routes are validated against: the union of every cache's (RFC 8210 §10),
    /// duplicates once. Null while no cache has data (none delivered any yet, or all of it
    /// expired): routes then have no RPKI state, not "not-found".
    pub vrps: Option<VrpCounts>,
}

/// One RTR cache as keeld's client for it sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpkiCacheView {
    pub address: IpAddr,
    /// The Expire Interval in use: how long this cache's VRPs are used without a successful
    /// update. The configured `expire`, else the cache's (version 1 End of Data), else RFC 8210
    /// §6's default; likewise `refresh_s` and `retry_s`.
    pub expire_s: u32,
    /// Seconds until this cache's VRPs expire unless it updates them first; null when it has
    /// none.
    pub expires_in_s: Option<u64>,
    /// Why the last connection failed or ended (kept after a reconnect); null when none has.
    pub last_error: Option<String>,
    /// Seconds since this cache's last update was applied (a Cache Response up to its End of
    /// Data); null before the first and once its VRPs expired.
    pub last_update_s_ago: Option<u64>,
    pub port: u16,
    /// The Refresh Interval in use: how long keel waits for a Serial Notify before it asks.
    pub refresh_s: u32,
    /// The Retry Interval in use: the longest wait between connection attempts.
    pub retry_s: u32,
    /// Serial Number of the last End of Data; null before the first and after a Cache Reset
    /// or an error that makes the next query a Reset Query.
    pub serial: Option<u32>,
    /// Session ID of the last End of Data (null as `serial`).
    pub session_id: Option<u16>,
    /// `connecting` (a TCP connection attempt), `synchronizing` (connected, the first update
    /// of this connection under way), `connected` (in sync, waiting for a Serial Notify or the
    /// Refresh Interval), `down` (not connected; the next attempt is within the Retry
    /// Interval).
    pub state: String,
    /// Seconds in this state.
    pub state_since_s: u64,
    /// The RTR protocol version agreed with the cache (RFC 8210 §7: 1, or 0 for an older
    /// cache); null before it first answered.
    pub version: Option<u8>,
    /// The VRPs this cache gave, kept until they expire (RFC 8210 §6).
    pub vrps: VrpCounts,
}

impl RpkiCacheView {
    /// The state of a cache in sync.
    pub const CONNECTED: &'static str = "connected";
}

/// VRPs per address family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VrpCounts {
    pub ipv4: u64,
    pub ipv6: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two caches as keeld served them: StayRTR in sync, and an address nothing listens on.
    const TWO_CACHES: &str = r#"{"caches":[{"address":"127.0.4.3","expire_s":7200,"expires_in_s":7195,"last_error":null,"last_update_s_ago":5,"port":8282,"refresh_s":3600,"retry_s":1,"serial":2,"session_id":41327,"state":"connected","state_since_s":12,"version":1,"vrps":{"ipv4":3,"ipv6":1}},{"address":"2001:db8::7","expire_s":7200,"expires_in_s":null,"last_error":"Connection refused (os error 111)","last_update_s_ago":null,"port":323,"refresh_s":3600,"retry_s":600,"serial":null,"session_id":null,"state":"down","state_since_s":3,"version":null,"vrps":{"ipv4":0,"ipv6":0}}],"vrps":{"ipv4":3,"ipv6":1}}"#;
    /// keel without `[[rpki.cache]]`.
    const NONE: &str = r#"{"caches":[],"vrps":null}"#;

    #[test]
    fn rpki_documents_round_trip() {
        for doc in [TWO_CACHES, NONE] {
            let v: RpkiView = serde_json::from_str(doc).expect("deserialize");
            assert_eq!(serde_json::to_string(&v).expect("serialize"), doc);
        }
        let v: RpkiView = serde_json::from_str(TWO_CACHES).expect("deserialize");
        assert_eq!(v.caches[0].state, RpkiCacheView::CONNECTED);
        assert_eq!(v.caches[1].address, "2001:db8::7".parse::<IpAddr>().expect("address"));
        let e = serde_json::from_str::<RpkiCacheView>(r#"{"address":"127.0.4.3"}"#).expect_err("partial");
        assert!(e.to_string().contains("missing field"), "{e}");
    }
}
