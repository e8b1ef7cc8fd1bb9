//! The BGP listeners: each accepted connection goes to its neighbor's task, or is refused.

use super::Daemon;
use crate::neighbor::task::Command;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tracing::{info, warn};

pub async fn accept_loop(daemon: Arc<Daemon>, listener: Arc<TcpListener>) {
    // Refusals are logged once a minute per address: a flood of connections must not flood
    // the log (the map is bounded; it only spaces the lines out).
    let mut refused_logged: HashMap<IpAddr, std::time::Instant> = HashMap::new();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        // Match IPv4-mapped IPv6 peers to their IPv4 neighbor.
        let ip = match peer.ip() {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        let handle = daemon.neighbors.read().await.get(&ip).cloned();
        let why = match handle {
            // Never wait on one neighbor's task here: a busy one must not hold up the
            // connections of every other neighbor. Its own connection attempts carry on.
            Some(h) => match h.commands.try_send(Command::Incoming(stream)) {
                Ok(()) => continue,
                Err(_) => "the neighbor's task is busy",
            },
            None => "not a configured neighbor",
        };
        let now = std::time::Instant::now();
        if refused_logged.get(&ip).is_none_or(|t| now.duration_since(*t) >= std::time::Duration::from_secs(60)) {
            if refused_logged.len() >= 1024 {
                refused_logged.clear();
            }
            refused_logged.insert(ip, now);
            info!(%peer, reason = why, "connection refused (logged once a minute per address)");
        }
    }
}
