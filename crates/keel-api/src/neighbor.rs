//! One neighbor: `GET /v1/neighbors/{address}`, and each element of `GET /v1/neighbors`.
//!
//! Its session (state, negotiated timers and capabilities, counters), the graceful restart
//! (RFC 4724, RFC 8538) and long-lived graceful restart (RFC 9494) each side announced and what
//! keel does as helper now, and its prefix counts. Fields are in alphabetical order, the order
//! keeld has always sent them in (see the crate's doc).

use crate::family::{FamilyView, NameOrNumber};
use keel_wire::capability;
use keel_wire::Notification;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// A neighbor as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborView {
    pub address: IpAddr,
    /// Prefixes in its Adj-RIB-Out now.
    pub advertised_prefixes: u64,
    pub asn: u32,
    /// The BFD session (`bfd = true`, RFC 5880); null without it, and from a keeld older than
    /// this field.
    #[serde(default)]
    pub bfd: Option<crate::bfd::BfdView>,
    pub capabilities: CapabilityNames,
    pub description: Option<String>,
    /// RFC 4271 §6.3 first-AS check (always false for iBGP).
    pub enforce_first_as: bool,
    /// Times the session reached Established since keeld started.
    pub established_transitions: u64,
    /// The export policy: its names, else the default and why: `"none (RFC 8212)"` for an
    /// external neighbor (nothing is announced to it), `"all (iBGP default)"`. Null from a
    /// keeld older than this field.
    #[serde(default)]
    pub export: Option<String>,
    /// The negotiated families as `"ipv4-unicast"`; null while no session is up.
    pub families: Option<Vec<String>>,
    pub graceful_restart: GracefulRestartView,
    /// keel is shutting this session down gracefully (RFC 8326 §4.2, `keel graceful-shutdown`):
    /// every route it sends the neighbor carries GRACEFUL_SHUTDOWN (65535:0), with LOCAL_PREF 0
    /// towards an internal neighbor. False from a keeld older than this field.
    #[serde(default)]
    pub graceful_shutdown: bool,
    /// Negotiated hold time (RFC 4271 §4.2); null while no session is up.
    pub hold_time: Option<u16>,
    /// The import policy, as `export` (`"none (RFC 8212)"`: nothing from it is accepted).
    #[serde(default)]
    pub import: Option<String>,
    pub keepalive_time: Option<u16>,
    pub last_error: Option<String>,
    pub last_notification_received: Option<NotificationRecord>,
    pub last_notification_sent: Option<NotificationRecord>,
    pub llgr: LongLivedView,
    pub llgr_stale_prefixes: u64,
    /// The session's local address and port; null before the first connection.
    pub local_address: Option<SocketAddr>,
    pub messages_received: u64,
    /// Every message sent: OPEN, KEEPALIVE, NOTIFICATION and ROUTE-REFRESH (counted by the
    /// neighbor task) and UPDATE (counted by the RIB task).
    pub messages_sent: u64,
    /// `[neighbor.prefix_limit]` per family (RFC 4486 §4); null when not configured, and from
    /// a keeld older than this field.
    #[serde(default)]
    pub prefix_limit: Option<BTreeMap<String, PrefixLimitView>>,
    pub received_prefixes: u64,
    /// BGP Role (RFC 9234): null when the neighbor has no `role` configured, and from a keeld
    /// older than this field.
    #[serde(default)]
    pub role: Option<RoleView>,
    pub stale_prefixes: u64,
    /// The RFC 4271 §8 state, lower case: `idle`, `connect`, `active`, `opensent`,
    /// `openconfirm`, `established`.
    pub state: String,
    /// Seconds in this state.
    pub state_since_s: u64,
    pub updates_received: u64,
    /// UPDATEs sent to the neighbor by this keeld, End-of-RIB markers included, over all its
    /// sessions.
    pub updates_sent: u64,
    /// Seconds Established; 0 in any other state.
    pub uptime_s: u64,
}

impl NeighborView {
    pub fn is_established(&self) -> bool {
        self.state == "established"
    }
}

/// BGP Role on the session (RFC 9234): `{"leaks_detected", "local", "remote", "strict"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleView {
    /// Routes received from the neighbor found to be route leaks by the OTC ingress procedure
    /// (RFC 9234 §5) and kept out of route selection, since keeld started.
    pub leaks_detected: u64,
    /// keel's own role on the session as configured (`"provider"`, `"customer"`, `"peer"`,
    /// `"rs"`, `"rs-client"`; `"customer"`: keel is the neighbor's customer).
    pub local: String,
    /// The role in the neighbor's Role capability (`"unknown"` for a value RFC 9234 does not
    /// name); null when it sent none or no session is up.
    pub remote: Option<String>,
    /// `strict_role`: a neighbor without a Role capability is refused (RFC 9234 §4.2).
    pub strict: bool,
}

/// One family's prefix limit: `{"count", "max", "restart_in", "tripped_at", "warning_crossed"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixLimitView {
    /// Routes counted now (before or after import policy, as configured; stale ones until
    /// the End-of-RIB sweep); 0 while no session is up.
    pub count: u64,
    pub max: u32,
    /// Seconds until keel starts the session again after a reset; null when not waiting, and
    /// while only `keel clear neighbor` will (`restart_after = 0`).
    pub restart_in: Option<u64>,
    /// When this family last went over its limit (Unix seconds); null if never.
    pub tripped_at: Option<u64>,
    /// The warning threshold was crossed in the current (or last) session.
    pub warning_crossed: bool,
}

/// The names of the capabilities in each side's OPEN (`"graceful-restart"`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilityNames {
    /// What keel sent on this session, else what it would send.
    pub local: Vec<String>,
    /// Null while no session is up.
    pub remote: Option<Vec<String>>,
}

/// Graceful restart with this neighbor: both sides' capabilities, and keel as helper.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GracefulRestartView {
    pub end_of_rib_received: Vec<FamilyView>,
    pub end_of_rib_sent: Vec<FamilyView>,
    /// The neighbor is restarting and its routes are kept (RFC 4724 §4.2).
    pub helper_active: bool,
    /// keel's capability on this session (F bit as it was then), else what it would send; null
    /// when keel sends none.
    pub local: Option<RestartCapability>,
    /// Both sides sent the N bit (RFC 8538 §2); null while no session is up.
    pub notification_bit: Option<bool>,
    /// The neighbor's capability; null when it sent none or no session is up.
    pub remote: Option<RestartCapability>,
    /// While keel itself restarts: what its selection deferral still awaits from this neighbor
    /// (`"session"`, or the families whose End-of-RIB is missing).
    pub selection_deferral_awaits: Option<Vec<String>>,
    /// Families whose routes from this neighbor are stale, as `"ipv4-unicast"`.
    pub stale_families: Vec<String>,
    pub stale_prefixes_by_family: BTreeMap<String, u64>,
    /// Timers running, with the seconds left: `"restart"`, `"stale_routes"`,
    /// `"long_lived_stale:FAMILY"`.
    pub timers: BTreeMap<String, u64>,
}

/// A Graceful Restart capability (RFC 4724 §3, N bit RFC 8538 §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartCapability {
    pub families: Vec<RestartFamily>,
    /// N bit.
    pub notification: bool,
    /// R bit.
    pub restart_state: bool,
    pub restart_time: u16,
}

/// A family of a Graceful Restart capability: `{"afi", "forwarding_state", "safi"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartFamily {
    pub afi: NameOrNumber,
    /// F bit.
    pub forwarding_state: bool,
    pub safi: NameOrNumber,
}

impl From<&capability::GracefulRestart> for RestartCapability {
    fn from(g: &capability::GracefulRestart) -> Self {
        RestartCapability {
            families: g
                .families
                .iter()
                .map(|f| RestartFamily {
                    afi: NameOrNumber::afi(f.family.afi),
                    forwarding_state: f.forwarding_state,
                    safi: NameOrNumber::safi(f.family.safi),
                })
                .collect(),
            notification: g.notification,
            restart_state: g.restart_state,
            restart_time: g.restart_time,
        }
    }
}

/// Long-lived graceful restart with this neighbor (RFC 9494).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LongLivedView {
    /// Families in LLGR now: their routes are LLGR-stale (RFC 9494 §4.2).
    pub active_families: Vec<String>,
    /// keel's capability; null when it sends none.
    pub local: Option<Vec<LongLivedFamily>>,
    /// The neighbor's; null when it sent none or no session is up.
    pub remote: Option<Vec<LongLivedFamily>>,
    pub stale_prefixes_by_family: BTreeMap<String, u64>,
    /// Seconds left of each active family's long-lived stale time.
    pub stale_seconds_left: BTreeMap<String, u64>,
}

/// A family of a Long-Lived Graceful Restart capability (RFC 9494 §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LongLivedFamily {
    pub afi: NameOrNumber,
    /// F bit.
    pub forwarding_state: bool,
    pub safi: NameOrNumber,
    /// Seconds.
    pub stale_time: u32,
}

impl From<&capability::LongLivedFamily> for LongLivedFamily {
    fn from(f: &capability::LongLivedFamily) -> Self {
        LongLivedFamily {
            afi: NameOrNumber::afi(f.family.afi),
            forwarding_state: f.forwarding_state,
            safi: NameOrNumber::safi(f.family.safi),
            stale_time: f.stale_time,
        }
    }
}

/// The last NOTIFICATION sent or received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRecord {
    pub code: u8,
    /// `"Cease/Administrative Reset"`.
    pub description: String,
    /// For a Hard Reset, the encapsulated cause as `[code, subcode]` (RFC 8538 §3).
    pub hard_reset_inner: Option<(u8, u8)>,
    pub subcode: u8,
    /// Unix seconds.
    pub time: u64,
}

impl NotificationRecord {
    /// `n`, sent or received at `time` (Unix seconds).
    pub fn new(n: &Notification, time: u64) -> Self {
        NotificationRecord {
            code: n.code,
            description: n.describe(),
            hard_reset_inner: n.hard_reset_inner().map(|i| (i.code, i.subcode)),
            subcode: n.subcode,
            time,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A neighbor in Established with graceful restart and LLGR both ways, as keeld served it
    /// (a keeld peering with another, uptimes set to round numbers).
    const ESTABLISHED: &str = r#"{
  "address": "127.0.9.2",
  "advertised_prefixes": 2,
  "asn": 65092,
  "bfd": {
    "auth": "keyed-sha1",
    "auth_failures": 0,
    "control_plane_independent": true,
    "detection_time_ms": 900,
    "diagnostic": "none",
    "flaps": 1,
    "local_discriminator": 4711,
    "min_rx_ms": 300,
    "min_tx_ms": 300,
    "multihop": false,
    "multiplier": 3,
    "on_down": "helper",
    "peer": "127.0.9.2",
    "remote_control_plane_independent": false,
    "remote_discriminator": 17,
    "remote_min_rx_ms": 300,
    "remote_min_tx_ms": 300,
    "remote_multiplier": 3,
    "remote_state": "up",
    "state": "up",
    "transmit_interval_ms": 300
  },
  "capabilities": {
    "local": [
      "multiprotocol",
      "multiprotocol",
      "route-refresh",
      "enhanced-route-refresh",
      "extended-message",
      "four-octet-as",
      "add-path",
      "graceful-restart",
      "long-lived-graceful-restart"
    ],
    "remote": [
      "multiprotocol",
      "route-refresh",
      "four-octet-as",
      "graceful-restart",
      "long-lived-graceful-restart"
    ]
  },
  "description": "peer 2",
  "enforce_first_as": true,
  "established_transitions": 1,
  "export": "all (iBGP default)",
  "families": [
    "ipv4-unicast",
    "ipv6-unicast"
  ],
  "graceful_restart": {
    "end_of_rib_received": [
      {
        "afi": "ipv4",
        "safi": "unicast"
      },
      {
        "afi": "ipv6",
        "safi": "unicast"
      }
    ],
    "end_of_rib_sent": [
      {
        "afi": "ipv4",
        "safi": "unicast"
      }
    ],
    "helper_active": false,
    "local": {
      "families": [
        {
          "afi": "ipv4",
          "forwarding_state": true,
          "safi": "unicast"
        },
        {
          "afi": "ipv6",
          "forwarding_state": true,
          "safi": "unicast"
        }
      ],
      "notification": true,
      "restart_state": false,
      "restart_time": 120
    },
    "notification_bit": true,
    "remote": {
      "families": [
        {
          "afi": "ipv4",
          "forwarding_state": false,
          "safi": "unicast"
        }
      ],
      "notification": true,
      "restart_state": true,
      "restart_time": 90
    },
    "selection_deferral_awaits": null,
    "stale_families": [],
    "stale_prefixes_by_family": {},
    "timers": {}
  },
  "graceful_shutdown": false,
  "hold_time": 9,
  "import": "all (iBGP default)",
  "keepalive_time": 3,
  "last_error": null,
  "last_notification_received": null,
  "last_notification_sent": null,
  "llgr": {
    "active_families": [],
    "local": [
      {
        "afi": "ipv4",
        "forwarding_state": true,
        "safi": "unicast",
        "stale_time": 3600
      }
    ],
    "remote": [
      {
        "afi": "ipv4",
        "forwarding_state": false,
        "safi": "unicast",
        "stale_time": 600
      }
    ],
    "stale_prefixes_by_family": {},
    "stale_seconds_left": {}
  },
  "llgr_stale_prefixes": 0,
  "local_address": "127.0.9.1:179",
  "messages_received": 23,
  "messages_sent": 23,
  "prefix_limit": null,
  "received_prefixes": 2,
  "role": {
    "leaks_detected": 1,
    "local": "customer",
    "remote": "provider",
    "strict": false
  },
  "stale_prefixes": 0,
  "state": "established",
  "state_since_s": 51,
  "updates_received": 4,
  "updates_sent": 4,
  "uptime_s": 51
}"#;

    /// The same neighbor gone: keel helps it (stale routes, LLGR timers), and a NOTIFICATION was
    /// received; nothing negotiated any more, so those fields are null.
    const HELPED: &str = r#"{"address":"127.0.9.2","advertised_prefixes":0,"asn":65092,"bfd":null,"capabilities":{"local":["graceful-restart","long-lived-graceful-restart"],"remote":null},"description":null,"enforce_first_as":true,"established_transitions":1,"export":"none (RFC 8212)","families":null,"graceful_restart":{"end_of_rib_received":[{"afi":"ipv4","safi":"unicast"},{"afi":"ipv6","safi":"unicast"}],"end_of_rib_sent":[{"afi":"ipv4","safi":"unicast"},{"afi":"ipv6","safi":"unicast"}],"helper_active":true,"local":{"families":[{"afi":"ipv4","forwarding_state":false,"safi":"unicast"}],"notification":true,"restart_state":false,"restart_time":4},"notification_bit":null,"remote":null,"selection_deferral_awaits":["session"],"stale_families":["ipv4-unicast","ipv6-unicast"],"stale_prefixes_by_family":{"ipv4-unicast":1,"ipv6-unicast":1},"timers":{"long_lived_stale:ipv4-unicast":3599,"restart":3}},"graceful_shutdown":true,"hold_time":null,"import":"none (RFC 8212)","keepalive_time":null,"last_error":"connect: Connection refused (os error 111)","last_notification_received":{"code":6,"description":"Cease/Hard Reset","hard_reset_inner":[6,4],"subcode":9,"time":1796661646},"last_notification_sent":null,"llgr":{"active_families":["ipv4-unicast"],"local":[{"afi":"ipv4","forwarding_state":false,"safi":"unicast","stale_time":3600}],"remote":null,"stale_prefixes_by_family":{"ipv4-unicast":1},"stale_seconds_left":{"ipv4-unicast":3599}},"llgr_stale_prefixes":1,"local_address":null,"messages_received":30,"messages_sent":24,"prefix_limit":{"ipv4-unicast":{"count":0,"max":1100000,"restart_in":297,"tripped_at":1796661646,"warning_crossed":true},"ipv6-unicast":{"count":0,"max":250000,"restart_in":null,"tripped_at":null,"warning_crossed":false}},"received_prefixes":2,"role":null,"stale_prefixes":2,"state":"active","state_since_s":0,"updates_received":6,"updates_sent":4,"uptime_s":0}"#;

    /// Reading a document and writing it again gives the same bytes: a renamed, retyped,
    /// reordered or dropped field fails here.
    #[test]
    fn neighbor_documents_round_trip() {
        let n: NeighborView = serde_json::from_str(ESTABLISHED).expect("established neighbor");
        assert!(n.is_established());
        assert_eq!(n.graceful_restart.remote.as_ref().map(|r| r.restart_time), Some(90));
        assert_eq!(n.llgr.local.as_ref().map(|l| l[0].stale_time), Some(3600));
        assert_eq!(n.role.as_ref().map(|r| (r.local.as_str(), r.leaks_detected)), Some(("customer", 1)));
        assert_eq!(n.bfd.as_ref().map(|b| (b.is_up(), b.remote_control_plane_independent)), Some((true, Some(false))));
        assert_eq!(serde_json::to_string_pretty(&n).expect("serialize"), ESTABLISHED);

        let n: NeighborView = serde_json::from_str(HELPED).expect("helped neighbor");
        assert_eq!(n.last_notification_received.as_ref().and_then(|r| r.hard_reset_inner), Some((6, 4)));
        assert_eq!(n.graceful_restart.timers.get("restart"), Some(&3));
        assert!(n.graceful_shutdown, "RFC 8326 §4.2 state");
        let v4 = n.prefix_limit.as_ref().and_then(|p| p.get("ipv4-unicast")).expect("ipv4 limit");
        assert_eq!((v4.max, v4.restart_in, v4.warning_crossed), (1_100_000, Some(297), true));
        assert_eq!(serde_json::to_string(&n).expect("serialize"), HELPED);
    }

    /// keeld's neighbor list is an array of the same documents.
    #[test]
    fn a_list_of_neighbors() {
        let list: Vec<NeighborView> =
            serde_json::from_str(&format!("[{ESTABLISHED},{HELPED}]")).expect("neighbor list");
        assert_eq!(list.len(), 2);
    }

    /// A document without a field is an error naming it, not a panic or a silent default.
    #[test]
    fn a_missing_field_is_named() {
        let mut v: serde_json::Value = serde_json::from_str(HELPED).expect("json");
        if let Some(o) = v.as_object_mut() {
            o.remove("state");
        }
        let e = serde_json::from_value::<NeighborView>(v).expect_err("no state");
        assert!(e.to_string().contains("missing field `state`"), "{e}");
    }

    #[test]
    fn capabilities_from_the_wire() {
        let gr = capability::GracefulRestart {
            restart_state: true,
            notification: false,
            restart_time: 120,
            families: vec![capability::graceful_restart::GracefulRestartFamily {
                family: keel_wire::Family::IPV6_UNICAST,
                forwarding_state: true,
            }],
        };
        let text = serde_json::to_string(&RestartCapability::from(&gr)).expect("serialize");
        assert_eq!(
            text,
            r#"{"families":[{"afi":"ipv6","forwarding_state":true,"safi":"unicast"}],"notification":false,"restart_state":true,"restart_time":120}"#
        );
        let hard = Notification { code: 6, subcode: 9, data: vec![6, 4] };
        let r = NotificationRecord::new(&hard, 7);
        assert_eq!((r.code, r.subcode, r.hard_reset_inner, r.time), (6, 9, Some((6, 4)), 7));
    }
}
