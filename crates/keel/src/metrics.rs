//! Prometheus metrics (text exposition format): sessions by state, messages and
//! NOTIFICATIONs per neighbor, prefix counts (filled in from the RIB at scrape time).

use crate::views::PeerCounts;
use keel_wire::Notification;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MessageLabel {
    neighbor: String,
    message_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabel {
    neighbor: String,
    direction: String,
    code: u8,
    subcode: u8,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StationLabel {
    station: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NeighborLabel {
    neighbor: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FamilyLabel {
    neighbor: String,
    family: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    neighbor: String,
    family: String,
    action: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    sessions: Family<StateLabel, Gauge>,
    received: Family<MessageLabel, Counter>,
    sent: Family<MessageLabel, Counter>,
    notifications: Family<NotificationLabel, Counter>,
    prefixes_received: Family<NeighborLabel, Gauge>,
    prefixes_advertised: Family<NeighborLabel, Gauge>,
    prefixes_stale: Family<NeighborLabel, Gauge>,
    prefixes_llgr_stale: Family<NeighborLabel, Gauge>,
    helper_active: Family<NeighborLabel, Gauge>,
    llgr_active: Family<NeighborLabel, Gauge>,
    restarting: Gauge,
    fib_operations: Family<OperationLabel, Counter>,
    prefix_limit_tripped: Family<LimitLabel, Counter>,
    prefix_limit_count: Family<FamilyLabel, Gauge>,
    bmp_drops: Family<StationLabel, Counter>,
    /// The BMP stations' links, whose drop counts `bmp_drops` catches up with at scrape time.
    bmp_links: Mutex<Vec<std::sync::Arc<keel_bmp::station::Link>>>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: String,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("keel");
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            sessions: Family::default(),
            received: Family::default(),
            sent: Family::default(),
            notifications: Family::default(),
            prefixes_received: Family::default(),
            prefixes_advertised: Family::default(),
            prefixes_stale: Family::default(),
            prefixes_llgr_stale: Family::default(),
            helper_active: Family::default(),
            llgr_active: Family::default(),
            restarting: Gauge::default(),
            fib_operations: Family::default(),
            prefix_limit_tripped: Family::default(),
            prefix_limit_count: Family::default(),
            bmp_drops: Family::default(),
            bmp_links: Mutex::new(Vec::new()),
        };
        registry.register("bgp_sessions", "BGP sessions by FSM state", m.sessions.clone());
        registry.register("bgp_messages_received", "BGP messages received", m.received.clone());
        registry.register("bgp_messages_sent", "BGP messages sent", m.sent.clone());
        registry.register("bgp_notifications", "NOTIFICATION messages by direction and code", m.notifications.clone());
        registry.register(
            "bgp_prefixes_received",
            "Prefixes in the neighbor's Adj-RIB-In",
            m.prefixes_received.clone(),
        );
        registry.register(
            "bgp_prefixes_advertised",
            "Prefixes advertised to the neighbor",
            m.prefixes_advertised.clone(),
        );
        registry.register(
            "bgp_prefixes_stale",
            "Stale prefixes kept for a restarting neighbor",
            m.prefixes_stale.clone(),
        );
        registry.register(
            "bgp_prefixes_llgr_stale",
            "LLGR-stale prefixes of the neighbor (RFC 9494)",
            m.prefixes_llgr_stale.clone(),
        );
        registry.register(
            "gr_helper_active",
            "1 while keel keeps a restarting neighbor's routes (RFC 4724 §4.2)",
            m.helper_active.clone(),
        );
        registry.register(
            "gr_llgr_active_families",
            "Families of the neighbor in long-lived graceful restart (RFC 9494 §4.2)",
            m.llgr_active.clone(),
        );
        registry.register("restarting", "1 while keeld defers selection after its own restart", m.restarting.clone());
        registry.register("fib_operations", "Kernel route operations by kind", m.fib_operations.clone());
        registry.register(
            "prefix_limit_tripped",
            "Times the neighbor went over its prefix limit of the family (RFC 4486 §4), by action",
            m.prefix_limit_tripped.clone(),
        );
        registry.register(
            "prefix_limit_count",
            "Routes of the neighbor counted against its prefix limit of the family",
            m.prefix_limit_count.clone(),
        );
        registry.register(
            "bmp_station_drops",
            "Times the BMP station fell behind its buffer and was dropped (re-synchronised on reconnect)",
            m.bmp_drops.clone(),
        );
        *m.registry.lock().unwrap_or_else(|e| e.into_inner()) = registry;
        m
    }
}

impl Metrics {
    /// A new neighbor starts in Idle (RFC 4271 §8.2.2).
    pub fn neighbor_added(&self) {
        self.sessions.get_or_create(&StateLabel { state: "idle".into() }).inc();
    }
    /// States by their names (`State::name`).
    pub fn neighbor_removed(&self, state: &str) {
        self.sessions.get_or_create(&StateLabel { state: state.into() }).dec();
    }
    pub fn state_change(&self, from: &str, to: &str) {
        self.sessions.get_or_create(&StateLabel { state: from.into() }).dec();
        self.sessions.get_or_create(&StateLabel { state: to.into() }).inc();
    }
    fn received_counter(&self, neighbor: IpAddr, kind: &str) -> Counter {
        self.received.get_or_create(&MessageLabel { neighbor: neighbor.to_string(), message_type: kind.into() }).clone()
    }
    pub fn message_sent(&self, neighbor: IpAddr, kind: &str) {
        self.sent.get_or_create(&MessageLabel { neighbor: neighbor.to_string(), message_type: kind.into() }).inc();
    }
    pub fn notification(&self, neighbor: IpAddr, direction: &str, n: &Notification) {
        let l = NotificationLabel {
            neighbor: neighbor.to_string(),
            direction: direction.into(),
            code: n.code,
            subcode: n.subcode,
        };
        self.notifications.get_or_create(&l).inc();
    }

    /// A neighbor went over its prefix limit of `family`; `action` "reset" or "warn".
    pub fn prefix_limit_tripped(&self, neighbor: IpAddr, family: keel_wire::Family, action: &str) {
        let l = LimitLabel { neighbor: neighbor.to_string(), family: family.to_string(), action: action.into() };
        self.prefix_limit_tripped.get_or_create(&l).inc();
    }

    /// A BMP station whose drops the metrics count.
    pub fn bmp_station(&self, link: std::sync::Arc<keel_bmp::station::Link>) {
        self.bmp_links.lock().unwrap_or_else(|e| e.into_inner()).push(link);
    }

    pub fn fib_operations(&self, operation: &str, n: u64) {
        if n > 0 {
            self.fib_operations.get_or_create(&OperationLabel { operation: operation.into() }).inc_by(n);
        }
    }

    /// The text exposition, with prefix gauges set from `counts`.
    pub fn render(&self, counts: &HashMap<IpAddr, PeerCounts>, restarting: bool) -> String {
        self.restarting.set(restarting as i64);
        for (a, c) in counts {
            let l = NeighborLabel { neighbor: a.to_string() };
            self.prefixes_received.get_or_create(&l).set(c.received_prefixes as i64);
            self.prefixes_advertised.get_or_create(&l).set(c.advertised_prefixes as i64);
            self.prefixes_stale.get_or_create(&l).set(c.stale_prefixes as i64);
            self.prefixes_llgr_stale.get_or_create(&l).set(c.llgr_stale_prefixes as i64);
            self.helper_active.get_or_create(&l).set(c.helper_active as i64);
            self.llgr_active.get_or_create(&l).set(c.long_lived_families.len() as i64);
            for (family, n) in &c.prefix_limit_counts {
                let l = FamilyLabel { neighbor: a.to_string(), family: family.clone() };
                self.prefix_limit_count.get_or_create(&l).set(*n as i64);
            }
            // UPDATEs are written by the RIB task, which counts them; the counter catches up.
            let updates =
                self.sent.get_or_create(&MessageLabel { neighbor: a.to_string(), message_type: "update".into() });
            if let Some(more) = c.updates_sent.checked_sub(updates.get()).filter(|n| *n > 0) {
                updates.inc_by(more);
            }
        }
        for link in self.bmp_links.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let c = self.bmp_drops.get_or_create(&StationLabel { station: link.station.to_string() });
            if let Some(more) = link.overruns().checked_sub(c.get()).filter(|n| *n > 0) {
                c.inc_by(more);
            }
        }
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// One neighbor's received-message counters, each found in the family once: counting a
/// message is then an atomic add, not two label strings formatted and hashed (an UPDATE
/// stream counts a million). The counters share their values with the family's.
#[derive(Debug, Default)]
pub struct ReceivedCounters(Vec<(&'static str, Counter)>);

impl ReceivedCounters {
    pub fn count(&mut self, metrics: &Metrics, neighbor: IpAddr, kind: &'static str) {
        match self.0.iter().find(|(k, _)| *k == kind) {
            Some((_, c)) => {
                c.inc();
            }
            None => {
                let c = metrics.received_counter(neighbor, kind);
                c.inc();
                self.0.push((kind, c));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_exposed_with_its_value() {
        let m = Metrics::default();
        m.neighbor_added();
        m.fib_operations("add", 3);
        let counts = HashMap::from([(
            IpAddr::from([127, 0, 0, 2]),
            PeerCounts {
                received_prefixes: 10,
                stale_prefixes: 4,
                llgr_stale_prefixes: 2,
                helper_active: true,
                long_lived_families: vec![keel_wire::Family::IPV4_UNICAST],
                updates_sent: 7,
                prefix_limit_counts: [("ipv4-unicast".to_string(), 9)].into(),
                ..Default::default()
            },
        )]);
        m.prefix_limit_tripped(IpAddr::from([127, 0, 0, 2]), keel_wire::Family::IPV4_UNICAST, "reset");
        let text = m.render(&counts, true);
        for line in [
            "keel_bgp_sessions{state=\"idle\"} 1",
            "keel_bgp_prefixes_received{neighbor=\"127.0.0.2\"} 10",
            "keel_bgp_prefixes_stale{neighbor=\"127.0.0.2\"} 4",
            "keel_bgp_prefixes_llgr_stale{neighbor=\"127.0.0.2\"} 2",
            "keel_gr_helper_active{neighbor=\"127.0.0.2\"} 1",
            "keel_gr_llgr_active_families{neighbor=\"127.0.0.2\"} 1",
            "keel_restarting 1",
            "keel_prefix_limit_count{neighbor=\"127.0.0.2\",family=\"ipv4-unicast\"} 9",
            "keel_prefix_limit_tripped_total{neighbor=\"127.0.0.2\",family=\"ipv4-unicast\",action=\"reset\"} 1",
            "keel_fib_operations_total{operation=\"add\"} 3",
            "keel_bgp_messages_sent_total{neighbor=\"127.0.0.2\",message_type=\"update\"} 7",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in:\n{text}");
        }
    }

    #[test]
    fn received_messages_counted_through_the_cache_are_exposed() {
        let m = Metrics::default();
        let mut c = ReceivedCounters::default();
        let n = IpAddr::from([127, 0, 0, 2]);
        for _ in 0..3 {
            c.count(&m, n, "update");
        }
        c.count(&m, n, "keepalive");
        let text = m.render(&HashMap::new(), false);
        for line in [
            "keel_bgp_messages_received_total{neighbor=\"127.0.0.2\",message_type=\"update\"} 3",
            "keel_bgp_messages_received_total{neighbor=\"127.0.0.2\",message_type=\"keepalive\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in:\n{text}");
        }
    }
}
