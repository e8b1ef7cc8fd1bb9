//! The messages between keeld's tasks, and the state they share: what a neighbor task, the
//! RIB task, the FIB task and the API send each other. Every task module imports this one and
//! none imports another task's module, so the tasks stay apart (one floor down, as holo's
//! `events.rs`).
//!
//! ```text
//!   neighbor task --RibEvent--> RIB task --FibCommand--> FIB task
//!        ^                        |   ^                     |
//!        +--- Out (bytes) --------+   +---- RibEvent::NextHop
//!   API --RibEvent::{Routes, Counts, Restart} (with a reply channel)--> RIB task
//! ```

use crate::negotiate::Negotiated;
use crate::views::{PeerCounts, RestartView, RouteFilter, RouteView};
use keel_rib::graceful_restart::helper;
use keel_rib::policy::Chain;
use keel_wire::{Community, Family, Prefix, Update};
use serde::Serialize;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// What a writer task is asked to do.
#[derive(Debug)]
pub enum Out {
    /// Whole encoded messages, possibly several back to back.
    Bytes(Vec<u8>),
    /// Write what is queued, then close the connection (as [`Connection::close`] does).
    Close,
}

/// Why a session ended: what graceful restart will base its decision on (RFC 4724 §4,
/// RFC 8538 §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DownReason {
    TcpFailure,
    /// A new connection came while the session was Established: the neighbor restarted
    /// (RFC 4724 §4.2).
    Restarted,
    HoldTimerExpired,
    /// `data`: the NOTIFICATION's Data field, for BMP's Peer Down (RFC 7854 §4.9 carries the
    /// whole PDU).
    NotificationSent {
        code: u8,
        subcode: u8,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        data: Vec<u8>,
    },
    NotificationReceived {
        code: u8,
        subcode: u8,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        data: Vec<u8>,
    },
    /// `code`/`subcode`/`data` of the Cease sent, if any.
    AdministrativeStop {
        code: Option<u8>,
        subcode: Option<u8>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        data: Vec<u8>,
    },
    /// The neighbor's BFD session went Down; keel sent Cease/BFD Down (RFC 9384).
    /// `control_plane_independent` is the neighbor's C bit, `strict` the neighbor's
    /// `bfd_strict`: with both the helper decides as RFC 5882 §4.3 says.
    BfdDown {
        control_plane_independent: bool,
        strict: bool,
    },
}

/// A route keel originates (`[[network]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub prefix: Prefix,
    pub next_hop: Option<IpAddr>,
    pub communities: Vec<Community>,
}

impl Network {
    /// The configuration's `[[network]]`s (validated when the file was read).
    pub fn from_config(config: &keel_config::Config) -> Vec<Network> {
        config
            .networks
            .iter()
            .filter_map(|n| {
                Some(Network {
                    prefix: n.prefix.get_ref().parse().ok()?,
                    next_hop: n.next_hop,
                    communities: n.communities.iter().filter_map(|c| c.get_ref().parse().ok()).collect(),
                })
            })
            .collect()
    }
}

/// Per-session settings the RIB applies (RFC 4456, RFC 7947, RFC 9494 §4.6). Import and
/// export policies come separately ([`RibEvent::SetPolicy`]): they change without a reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerPolicy {
    pub route_reflector_client: bool,
    pub route_server_client: bool,
    /// RFC 9494 §4.6: LLGR-stale routes to this internal neighbor even without LLGR.
    pub long_lived_to_internal: bool,
    /// RFC 4271 §6.3: the external neighbor's AS_PATH must start with its AS
    /// ([`keel_rib::update_checks`]).
    pub enforce_first_as: bool,
    /// RFC 7911: paths per destination sent where Add-Path send was negotiated (1: the best
    /// alone, `usize::MAX`: all).
    pub add_path_send: usize,
    /// keel's own BGP Role on the session (RFC 9234 §4): the OTC procedures (§5).
    pub role: Option<keel_wire::capability::Role>,
}

#[derive(Debug)]
pub enum RibEvent {
    PeerUp {
        address: IpAddr,
        negotiated: Arc<Negotiated>,
        /// Both ends of the session's TCP connection (BMP's Peer Up carries them).
        local: SocketAddr,
        remote: SocketAddr,
        policy: PeerPolicy,
        /// Graceful restart helper settings for this neighbor (RFC 4724 §4.2).
        helper: helper::Settings,
        writer: mpsc::Sender<Out>,
        /// The neighbor's prefix limits, if any, and where their crossings go.
        prefix_limit: Option<keel_rib::prefix_limit::Limit>,
        limit_crossed: mpsc::Sender<keel_rib::prefix_limit::Crossing>,
        /// A session handed over by the previous keeld image (`keel upgrade`): its
        /// Adj-RIB-In and what the neighbor holds from keel, as that image saved them.
        resumed: Option<Box<ResumedRibs>>,
    },
    /// `keel upgrade` (docs/upgrade.md, step O3): every queued event before this one is
    /// applied and the changes go out; then each Established neighbor's Adj-RIB-In and
    /// Adj-RIB-Out are written as UPDATE messages into the reply, and the RIB task ends.
    HandOff {
        reply: oneshot::Sender<std::collections::HashMap<IpAddr, ResumedRibs>>,
    },
    PeerDown {
        address: IpAddr,
        reason: DownReason,
    },
    /// A neighbor's import and export chains, at start and when a reload changed them
    /// (`*_fingerprint` tells what changed): its routes are re-evaluated from the stored
    /// Adj-RIB-In and its Adj-RIB-Out recomputed, without a session reset.
    SetPolicy {
        address: IpAddr,
        import: Arc<Chain>,
        export: Arc<Chain>,
        import_fingerprint: u64,
        export_fingerprint: u64,
    },
    /// The neighbor was removed from the configuration: its routes go, stale or not.
    PeerRemoved {
        address: IpAddr,
    },
    /// The neighbor could not be reached since keeld started: selection deferral does not
    /// wait for it (RFC 4724 §4.1).
    PeerUnreachable {
        address: IpAddr,
    },
    Update {
        address: IpAddr,
        update: Box<Update>,
    },
    /// A neighbor's UPDATEs in the order received: a neighbor task hands over what one read
    /// of its socket gave at once, one channel operation (and wake-up) instead of one per
    /// UPDATE. The RIB task applies them as that many [`RibEvent::Update`]s.
    Updates {
        address: IpAddr,
        // Boxed as the decoder gives them and [`RibEvent::Update`] takes them.
        #[allow(clippy::vec_box)]
        updates: Vec<Box<Update>>,
    },
    /// ROUTE-REFRESH received: send our routes of the family again (RFC 2918 §4).
    RouteRefresh {
        address: IpAddr,
        family: Family,
    },
    SetNetworks(Vec<Network>),
    /// What the FIB learned about a BGP next hop: IGP metric, or `None` when unreachable.
    NextHop {
        address: IpAddr,
        metric: Option<u32>,
    },
    Routes {
        filter: RouteFilter,
        reply: oneshot::Sender<Vec<RouteView>>,
    },
    Counts {
        reply: oneshot::Sender<HashMap<IpAddr, PeerCounts>>,
    },
    Restart {
        reply: oneshot::Sender<RestartView>,
    },
    /// Graceful shutdown (RFC 8326 §4.2) on (`on`) or off for `neighbors` (every configured
    /// one when `None`): their routes are re-advertised with, or without, GRACEFUL_SHUTDOWN.
    /// The reply lists the neighbors whose state changed.
    GracefulShutdown {
        neighbors: Option<Vec<IpAddr>>,
        on: bool,
        reply: oneshot::Sender<Vec<IpAddr>>,
    },
    /// `[global] honour_graceful_shutdown` at start and after a reload that changed it: routes
    /// received with GRACEFUL_SHUTDOWN get LOCAL_PREF 0 (RFC 8326 §4.1); a change re-evaluates
    /// every neighbor's routes as a changed import policy would.
    HonourGracefulShutdown(bool),
    /// A BMP station task asks for its dump or for statistics (keel_bmp::station).
    Bmp(keel_bmp::station::Request),
}

impl RibEvent {
    /// How many messages of a neighbor it carries, for the RIB task's batch budget.
    pub fn messages(&self) -> usize {
        match self {
            RibEvent::Updates { updates, .. } => updates.len(),
            _ => 1,
        }
    }
}

/// A Loc-RIB change for the FIB task: the next hops of the best path(s), or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FibUpdate {
    pub prefix: Prefix,
    pub next_hops: Vec<IpAddr>,
}

#[derive(Debug)]
pub enum FibCommand {
    Routes(Vec<FibUpdate>),
    /// Delete every keel route (`keel stop --withdraw`, graceful restart disabled).
    Flush(oneshot::Sender<()>),
    /// Selection deferral is over and every best path was sent: kernel routes from the
    /// previous run that were not chosen again go now (RFC 4724 §4.1).
    SweepInherited,
    /// keeld is leaving for a graceful restart: keep the kernel as it is, whatever the RIB
    /// does while sessions close (RFC 4724 §4.1).
    Freeze(oneshot::Sender<()>),
    /// A next hop the RIB has just seen: its IGP metric goes back to the RIB before the
    /// decision needs it (RFC 4271 §9.1.2.2 e), during selection deferral too.
    Resolve(IpAddr),
}

/// Whether keel's forwarding state is preserved right now (the GR F bit, RFC 4724 §3),
/// shared by all neighbor tasks and set by the daemon.
pub type ForwardingState = Arc<std::sync::atomic::AtomicBool>;

/// keel's own restart state: the R bit in its OPENs (RFC 4724 §4.1), true from a restart
/// until selection deferral has ended and End-of-RIB went out; shared like [`ForwardingState`].
pub type RestartState = Arc<std::sync::atomic::AtomicBool>;

/// Sleeps until `t`, forever when there is none (a `select!` branch with no timer).
pub(crate) async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// A session's Adj-RIB-In (as received, before import policy) and Adj-RIB-Out (as sent), each
/// as UPDATE messages back to back in the session's own encoding: what `keel upgrade` hands
/// from one keeld image to the next (docs/upgrade.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumedRibs {
    pub adj_rib_in: Vec<u8>,
    pub adj_rib_out: Vec<u8>,
    /// The families whose End-of-RIB keel had sent and received on the session (RFC 4724 §2).
    pub end_of_rib_sent: Vec<Family>,
    pub end_of_rib_received: Vec<Family>,
    /// Old image only: messages packed for the neighbor and not handed to its writer yet.
    pub queued: Vec<u8>,
}
