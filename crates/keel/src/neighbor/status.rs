//! What a neighbor task publishes about itself (through a `watch` channel) for the API,
//! metrics and logs. `crate::api` turns it into the neighbor's `keel_api::NeighborView`; the
//! last NOTIFICATIONs are kept already as the API shows them ([`NotificationRecord`], from
//! keel-api, where the JSON contract lives).

use super::fsm::State;
use crate::negotiate::Negotiated;
use keel_wire::Notification;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub use keel_api::neighbor::NotificationRecord;

/// `n`, sent or received now.
pub fn notification_record(n: &Notification) -> NotificationRecord {
    NotificationRecord::new(n, SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

#[derive(Debug, Clone)]
pub struct NeighborStatus {
    pub state: State,
    pub since: Instant,
    pub negotiated: Option<Arc<Negotiated>>,
    pub local_address: Option<std::net::SocketAddr>,
    pub last_notification_sent: Option<NotificationRecord>,
    pub last_notification_received: Option<NotificationRecord>,
    pub last_error: Option<String>,
    pub messages_received: u64,
    pub messages_sent: u64,
    pub updates_received: u64,
    pub established_transitions: u64,
    /// Prefix limits (`[neighbor.prefix_limit]`, RFC 4486 §4): what the neighbor task saw.
    pub prefix_limit: PrefixLimitStatus,
    /// The BFD session as keel-bfdd last reported it; `None` without `bfd` or while keel-bfdd
    /// cannot be reached.
    pub bfd: Option<keel_api::bfd::BfdView>,
}

/// What happened with a neighbor's prefix limits.
#[derive(Debug, Clone, Default)]
pub struct PrefixLimitStatus {
    /// Families whose warning threshold was crossed in the current (or last) session.
    pub warned: std::collections::BTreeSet<keel_wire::Family>,
    /// The family that last went over its limit, and when (Unix seconds).
    pub tripped: Option<(keel_wire::Family, u64)>,
    /// When keel starts the session again after a reset; `None` while not waiting (or
    /// waiting for `keel clear neighbor`, see `waiting_for_clear`).
    pub restart_at: Option<Instant>,
    /// Reset with `restart_after = 0`: only `keel clear neighbor` brings the session back.
    pub waiting_for_clear: bool,
}

/// Now, in Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Default for NeighborStatus {
    fn default() -> Self {
        NeighborStatus {
            state: State::Idle,
            since: Instant::now(),
            negotiated: None,
            local_address: None,
            last_notification_sent: None,
            last_notification_received: None,
            last_error: None,
            messages_received: 0,
            messages_sent: 0,
            updates_received: 0,
            established_transitions: 0,
            prefix_limit: PrefixLimitStatus::default(),
            bfd: None,
        }
    }
}
