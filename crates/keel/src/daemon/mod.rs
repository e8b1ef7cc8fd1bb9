//! The running keeld as the API and the signal handlers see it: its configuration, its
//! neighbors' tasks, the queue into the RIB task; reload (SIGHUP or `keel reload`) applies a
//! changed configuration without resetting sessions whose settings did not change. Start-up
//! and the stop sequence are in [`crate::startup`], the BGP listeners in [`listen`], keeld's
//! state file in [`state`], `keel upgrade`'s pre-checks in [`upgrade`].

pub mod handoff;
pub mod listen;
pub mod state;
pub mod upgrade;

pub use state::{last_restart_seconds, STATE_FILE};

use crate::events::{ForwardingState, RestartState, RibEvent};
use crate::metrics::Metrics;
use crate::neighbor::task::{self, Command, NeighborHandle, StopKind};
use crate::neighbor::transport;
use crate::neighbor::NeighborConfig;
use crate::views::PeerCounts;
use keel_config::Config;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, RwLock};
use tracing::warn;

pub struct Daemon {
    pub config_path: Option<PathBuf>,
    pub config: RwLock<Config>,
    pub neighbors: RwLock<BTreeMap<IpAddr, NeighborHandle>>,
    pub rib: mpsc::Sender<RibEvent>,
    pub metrics: Arc<Metrics>,
    pub started: Instant,
    pub(crate) listeners: RwLock<Vec<Arc<TcpListener>>>,
    pub(crate) shutdown: watch::Sender<Option<StopKind>>,
    /// The GR F bit keel advertises (RFC 4724 §3).
    pub(crate) forwarding: ForwardingState,
    /// The GR R bit keel advertises while it restarts (RFC 4724 §4.1).
    pub(crate) restarting: RestartState,
    /// `keel restart` and `keel upgrade`: after the stop, execute this keeld binary in place
    /// (same pid), with the sessions handed over for an upgrade; see [`upgrade`].
    pub reexec: std::sync::Mutex<Option<upgrade::Reexec>>,
    /// The `keel upgrade` that handed this keeld its sessions, for `/v1/status`.
    pub last_upgrade: Option<keel_api::UpgradeView>,
    /// Fingerprints of each neighbor's import and export chains as the RIB task has them.
    pub(crate) policy_fingerprints: RwLock<BTreeMap<IpAddr, (u64, u64)>>,
    /// Who may change keeld through the API (`[global] api_group`).
    pub api_access: crate::access::Admins,
    /// The RPKI caches' clients (the RIB task validates with a clone), for `GET /v1/rpki`.
    pub rpki: crate::rpki::Rpki,
}

impl Daemon {
    /// Every neighbor's counts from the RIB task (empty when it is gone).
    pub async fn peer_counts(&self) -> HashMap<IpAddr, PeerCounts> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        if self.rib.send(RibEvent::Counts { reply }).await.is_err() {
            return HashMap::new();
        }
        rx.await.unwrap_or_default()
    }

    pub fn request_shutdown(&self, kind: StopKind) {
        let _ = self.shutdown.send(Some(kind));
    }

    /// Sends the RIB task every neighbor's import and export chains that differ from what it
    /// has (all of them at start); it re-evaluates routes without a session reset.
    pub(crate) async fn set_policies(&self, config: &Config) -> usize {
        let mut changed = 0;
        let mut known = self.policy_fingerprints.write().await;
        known.retain(|a, _| config.neighbors.iter().any(|n| n.address.get_ref() == a));
        for n in &config.neighbors {
            let (import, export) = config.neighbor_policy(n);
            let fps = (import.fingerprint, export.fingerprint);
            let address = *n.address.get_ref();
            if known.insert(address, fps) == Some(fps) {
                continue;
            }
            let ev = RibEvent::SetPolicy {
                address,
                import: import.chain,
                export: export.chain,
                import_fingerprint: fps.0,
                export_fingerprint: fps.1,
            };
            let _ = self.rib.send(ev).await;
            changed += 1;
        }
        changed
    }

    /// Starts a neighbor's task; `resume` is its session as the previous keeld image handed it
    /// over (`keel upgrade`).
    pub(crate) async fn add_neighbor(&self, n: NeighborConfig, resume: Option<keel_handoff::NeighborState>) {
        self.set_md5(&n).await;
        self.metrics.neighbor_added();
        let (rib, metrics) = (self.rib.clone(), self.metrics.clone());
        let h = task::spawn(n, rib, metrics, self.forwarding.clone(), self.restarting.clone(), resume);
        self.neighbors.write().await.insert(h.config.address, h);
    }

    /// TCP MD5 keys live on the listening sockets too (RFC 2385), per neighbor address.
    async fn set_md5(&self, n: &NeighborConfig) {
        for l in self.listeners.read().await.iter() {
            let local_v4 = l.local_addr().map(|a| a.is_ipv4()).unwrap_or(true);
            if local_v4 != n.address.is_ipv4() {
                continue;
            }
            let key = n.password.as_deref().unwrap_or("").as_bytes();
            if let Err(e) = transport::set_md5(l.as_ref(), n.address, key) {
                if !key.is_empty() {
                    warn!(neighbor = %n.address, error = %e, "cannot set TCP MD5 key on listener");
                }
            }
        }
    }

    /// Re-reads the configuration file: unchanged neighbors keep their sessions, changed ones
    /// restart, removed ones get Cease/Peer De-configured, new ones start. A broken file
    /// changes nothing.
    /// Logs, once per external neighbor without import or export policy, that RFC 8212 makes
    /// keel exchange nothing in that direction (so an operator sees why no route flows).
    pub fn warn_rfc_8212(config: &Config) {
        for n in &config.neighbors {
            let unset = config.unset_under_rfc_8212(n);
            if unset.is_empty() {
                continue;
            }
            let missing = unset.join(" and ");
            tracing::warn!(
                neighbor = %n.address.get_ref(),
                "external neighbor without {missing} policy: RFC 8212 makes keel accept or announce nothing there \
                 (set import/export, e.g. import = \"all\")"
            );
        }
    }

    pub async fn reload(&self) -> Result<String, String> {
        let Some(path) = &self.config_path else {
            return Err("keeld runs on its embedded default configuration; nothing to reload".into());
        };
        let new = Config::load(path).map_err(|e| e.to_string())?;
        let old = self.config.read().await.clone();
        if new.global.asn.get_ref() != old.global.asn.get_ref()
            || new.global.router_id.get_ref() != old.global.router_id.get_ref()
            || new.global.listen.iter().map(|a| *a.get_ref()).collect::<Vec<SocketAddr>>()
                != old.global.listen.iter().map(|a| *a.get_ref()).collect::<Vec<SocketAddr>>()
            || new.global.api != old.global.api
            || new.global.api_gid != old.global.api_gid
        {
            return Err(
                "changes to global asn, router_id, listen, api or api_group need a restart (keel restart)".into()
            );
        }
        let wanted: BTreeMap<IpAddr, NeighborConfig> =
            NeighborConfig::from_config(&new).into_iter().map(|n| (n.address, n)).collect();
        // Policies before sessions: a restarted or new neighbor comes up with its new chains.
        let policies = self.set_policies(&new).await;
        let (mut kept, mut changed, mut removed, mut added) = (0, 0, 0, 0);
        let current: Vec<(IpAddr, NeighborHandle)> =
            self.neighbors.read().await.iter().map(|(a, h)| (*a, h.clone())).collect();
        for (addr, h) in current {
            match wanted.get(&addr) {
                Some(n) if *n == h.config => kept += 1,
                other => {
                    let kind = if other.is_some() { StopKind::ConfigChange } else { StopKind::Deconfigured };
                    let (done, rx) = tokio::sync::oneshot::channel();
                    let _ = h.commands.send(Command::Shutdown { kind, done }).await;
                    let _ = rx.await;
                    self.metrics.neighbor_removed(h.status.borrow().state.name());
                    self.neighbors.write().await.remove(&addr);
                    if other.is_none() {
                        let _ = self.rib.send(RibEvent::PeerRemoved { address: addr }).await;
                    }
                    if let Some(n) = other {
                        changed += 1;
                        self.add_neighbor(n.clone(), None).await;
                    } else {
                        removed += 1;
                    }
                }
            }
        }
        for (addr, n) in wanted {
            if !self.neighbors.read().await.contains_key(&addr) {
                added += 1;
                self.add_neighbor(n, None).await;
            }
        }
        let _ = self.rib.send(RibEvent::SetNetworks(crate::events::Network::from_config(&new))).await;
        if new.global.honour_graceful_shutdown != old.global.honour_graceful_shutdown {
            let _ = self.rib.send(RibEvent::HonourGracefulShutdown(new.global.honour_graceful_shutdown)).await;
        }
        // The RTR clients run on the configuration keeld started with.
        let rpki = if new.rpki != old.rpki { "; [rpki] changes apply at the next start (keel restart)" } else { "" };
        let bmp = if new.bmp != old.bmp { "; [bmp] changes apply at the next start (keel restart)" } else { "" };
        Daemon::warn_rfc_8212(&new);
        *self.config.write().await = new;
        Ok(format!(
            "{kept} neighbor(s) kept, {changed} restarted, {removed} removed, {added} added; \
             policies re-applied to {policies} neighbor(s){rpki}{bmp}"
        ))
    }
}
