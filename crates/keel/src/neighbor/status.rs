//! What a neighbor task publishes about itself (through a `watch` channel) for the API,
//! metrics and logs.

use super::fsm::State;
use crate::negotiate::Negotiated;
use keel_wire::Notification;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NotificationRecord {
    pub code: u8,
    pub subcode: u8,
    pub description: String,
    /// For a Hard Reset, the encapsulated cause (RFC 8538 §3).
    pub hard_reset_inner: Option<(u8, u8)>,
    /// Unix seconds.
    pub time: u64,
}

impl NotificationRecord {
    pub fn new(n: &Notification) -> Self {
        NotificationRecord {
            code: n.code,
            subcode: n.subcode,
            description: n.describe(),
            hard_reset_inner: n.hard_reset_inner().map(|i| (i.code, i.subcode)),
            time: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        }
    }
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
        }
    }
}
