//! The JSON API over HTTP on a Unix socket (axum). `keel` is its client.
//!
//! Every document it serves is a type of the `keel-api` crate, where the JSON contract lives
//! (scripts rely on its names; that crate's tests pin them): this module only fills those types
//! from the daemon's state and serializes them.

use crate::access::PeerCredentials;
use crate::daemon::Daemon;
use crate::events::RibEvent;
use crate::neighbor::task::{Command, NeighborHandle, StopKind};
use crate::views::{PeerCounts, RouteFilter};
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use keel_api::neighbor::{
    CapabilityNames, GracefulRestartView, LongLivedView, PrefixLimitView, RestartCapability, RoleView,
};
use keel_api::{Answer, ErrorBody, FamilyView, NeighborView, PolicyView, RpkiView, StatusView};
use keel_wire::{Family, Open, Prefix};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::oneshot;
use tracing::warn;

pub fn router(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route("/v1/neighbors", get(neighbors))
        .route("/v1/neighbors/{address}", get(neighbor))
        .route("/v1/neighbors/{address}/clear", post(clear))
        .route("/v1/routes", get(routes))
        .route("/v1/reload", post(reload))
        .route("/v1/stop", post(stop))
        .route("/v1/graceful-shutdown", post(graceful_shutdown))
        .route("/v1/restart", post(restart))
        .route("/v1/upgrade", post(upgrade))
        .route("/v1/status", get(status))
        .route("/v1/rpki", get(rpki))
        .route("/v1/policies", get(policies))
        .route("/v1/policies/{name}", get(policy))
        .route("/v1/policies/{name}/test", get(test_policy))
        .layer(axum::middleware::from_fn_with_state(daemon.clone(), guard))
        .with_state(daemon)
}

/// Serves a request that changes keeld (see [`crate::access::is_mutating`]) only when the
/// connection's peer credentials allow it; otherwise 403 with the reason (issue 16).
async fn guard(State(d): State<Arc<Daemon>>, request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    if !crate::access::is_mutating(&method, &path) {
        return next.run(request).await;
    }
    let peer = request.extensions().get::<ConnectInfo<PeerCredentials>>().and_then(|c| c.0 .0.clone());
    let admins = d.api_access.clone();
    let (decision, peer) = tokio::task::spawn_blocking(move || {
        // The user database (NSS: files, maybe LDAP) may block; not on the runtime's threads.
        let decision = admins.check(peer.as_ref(), crate::access::user_groups);
        (decision, peer)
    })
    .await
    .unwrap_or_else(|_| (Err("the permission check failed".into()), None));
    match decision {
        Ok(()) => next.run(request).await,
        Err(why) => {
            warn!(
                %method,
                %path,
                uid = peer.as_ref().map(|p| p.uid),
                gid = peer.as_ref().map(|p| p.gid),
                pid = peer.as_ref().and_then(|p| p.pid),
                reason = %why,
                "API request refused"
            );
            error(StatusCode::FORBIDDEN, format!("{method} {path} changes keeld: {why}"))
        }
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(ErrorBody { error: message.into() })).into_response()
}

/// The view of one neighbor: its session from the neighbor task, its counts from the RIB task.
/// `policy`: the neighbor's import and export in words ([`keel_config::Config::policy_facts`]).
pub fn neighbor_view(h: &NeighborHandle, counts: Option<&PeerCounts>, policy: (String, String)) -> NeighborView {
    let s = h.status.borrow().clone();
    let c = counts.cloned().unwrap_or_default();
    let n = s.negotiated.as_deref();
    // What keel sent on this session (F bit as it was then), else what it would send.
    let local_open = n.map_or_else(|| h.config.local_open(), |n| n.local.clone());
    let established = n.is_some() && s.state == crate::neighbor::fsm::State::Established;
    let names = |o: &Open| o.capabilities.iter().map(|c| c.name().to_string()).collect::<Vec<_>>();
    let objects = |set: &BTreeSet<Family>| set.iter().map(|f| FamilyView::from(*f)).collect::<Vec<_>>();
    let strings = |list: &[Family]| list.iter().map(Family::to_string).collect::<Vec<_>>();
    let per_family = |m: &BTreeMap<String, usize>| m.iter().map(|(f, n)| (f.clone(), *n as u64)).collect();
    let long_lived = |v: &[keel_wire::capability::LongLivedFamily]| v.iter().map(Into::into).collect::<Vec<_>>();
    NeighborView {
        address: h.config.address,
        advertised_prefixes: c.advertised_prefixes as u64,
        asn: h.config.asn,
        bfd: bfd_view(h, &s),
        capabilities: CapabilityNames { local: names(&local_open), remote: n.map(|n| names(&n.remote)) },
        description: h.config.description.clone(),
        enforce_first_as: h.config.enforce_first_as,
        established_transitions: s.established_transitions,
        export: Some(policy.1),
        families: n.map(|n| n.families.iter().map(Family::to_string).collect()),
        graceful_restart: GracefulRestartView {
            end_of_rib_received: objects(&c.end_of_rib_received),
            end_of_rib_sent: objects(&c.end_of_rib_sent),
            helper_active: c.helper_active,
            local: local_open.graceful_restart().map(RestartCapability::from),
            notification_bit: n.map(|n| n.notification_bit()),
            remote: n.and_then(|n| n.remote_graceful_restart()).map(RestartCapability::from),
            selection_deferral_awaits: c.deferral_awaits.clone(),
            stale_families: strings(&c.stale_families),
            stale_prefixes_by_family: per_family(&c.stale_by_family),
            timers: c.timers.clone(),
        },
        graceful_shutdown: c.graceful_shutdown,
        hold_time: n.map(|n| n.hold_time),
        import: Some(policy.0),
        keepalive_time: n.map(|n| n.keepalive_time()),
        last_error: s.last_error,
        last_notification_received: s.last_notification_received,
        last_notification_sent: s.last_notification_sent,
        llgr: LongLivedView {
            // RFC 9494 §4.2: families whose routes are LLGR-stale now, with the seconds left.
            active_families: strings(&c.long_lived_families),
            local: local_open.long_lived_graceful_restart().map(long_lived),
            remote: n.and_then(|n| n.remote_long_lived()).map(long_lived),
            stale_prefixes_by_family: per_family(&c.llgr_stale_by_family),
            stale_seconds_left: c
                .long_lived_families
                .iter()
                .filter_map(|f| Some((f.to_string(), *c.timers.get(&format!("long_lived_stale:{f}"))?)))
                .collect(),
        },
        llgr_stale_prefixes: c.llgr_stale_prefixes as u64,
        local_address: s.local_address,
        messages_received: s.messages_received,
        // The neighbor task counts OPEN, KEEPALIVE, NOTIFICATION and ROUTE-REFRESH; the RIB
        // task the UPDATEs it writes.
        messages_sent: s.messages_sent + c.updates_sent,
        prefix_limit: h.config.prefix_limit.as_ref().map(|limit| {
            let restart_in =
                s.prefix_limit.restart_at.map(|t| t.saturating_duration_since(std::time::Instant::now()).as_secs());
            limit
                .max
                .iter()
                .map(|(f, max)| {
                    let name = f.to_string();
                    let tripped = s.prefix_limit.tripped.filter(|(x, _)| x == f);
                    let view = PrefixLimitView {
                        count: c.prefix_limit_counts.get(&name).copied().unwrap_or(0) as u64,
                        max: *max,
                        restart_in: tripped.and(restart_in),
                        tripped_at: tripped.map(|(_, at)| at),
                        warning_crossed: s.prefix_limit.warned.contains(f),
                    };
                    (name, view)
                })
                .collect()
        }),
        received_prefixes: c.received_prefixes as u64,
        role: h.config.role.map(|local| RoleView {
            leaks_detected: c.leaks_detected,
            local: local.name().to_string(),
            remote: n
                .and_then(|n| keel_wire::capability::role::received(&n.remote.capabilities).ok().flatten())
                .map(|r| r.name().to_string()),
            strict: h.config.strict_role,
        }),
        stale_prefixes: c.stale_prefixes as u64,
        state: s.state.name().to_string(),
        state_since_s: s.since.elapsed().as_secs(),
        updates_received: s.updates_received,
        updates_sent: c.updates_sent,
        uptime_s: if established { s.since.elapsed().as_secs() } else { 0 },
    }
}

/// The neighbor's `"bfd"`: keel-bfdd's last report, with what a BFD Down would do to its
/// routes now (RFC 5882 §4.3, as the RIB task's helper decides); state `"unknown"` while
/// keel-bfdd cannot be reached. Null without `bfd = true`.
fn bfd_view(h: &NeighborHandle, s: &crate::neighbor::status::NeighborStatus) -> Option<keel_api::bfd::BfdView> {
    let b = h.config.bfd.as_ref()?;
    let spec = &b.spec;
    let mut v = s.bfd.clone().unwrap_or_else(|| {
        let (tx, rx) = (spec.min_tx_ms.into(), spec.min_rx_ms.into());
        let mut v = keel_api::bfd::BfdView::unknown(spec.peer, spec.multihop, tx, rx, spec.multiplier);
        v.auth = spec.auth.as_ref().map_or("none", |a| a.auth_type.name()).into();
        v
    });
    let advertised = s.negotiated.as_deref().map(|n| n.remote_graceful_restart().is_some());
    let helping = h.config.graceful_restart.mode != keel_config::GrMode::Disabled;
    v.on_down = match (v.remote_control_plane_independent, advertised) {
        (Some(true), _) => Some("flush".into()),
        _ if h.config.bfd_strict || !helping => Some("flush".into()),
        (_, Some(false)) => Some("flush".into()),
        (Some(false), Some(true)) => Some("helper".into()),
        _ => None,
    };
    Some(v)
}

/// Each neighbor's import and export in words, from the configuration in use, by address.
fn policy_facts(config: &keel_config::Config) -> BTreeMap<IpAddr, (String, String)> {
    config.neighbors.iter().map(|n| (*n.address.get_ref(), config.policy_facts(n))).collect()
}

async fn neighbors(State(d): State<Arc<Daemon>>) -> Json<Vec<NeighborView>> {
    let counts = d.peer_counts().await;
    let mut facts = policy_facts(&*d.config.read().await);
    let list = d.neighbors.read().await;
    Json(
        list.values()
            .map(|h| {
                neighbor_view(h, counts.get(&h.config.address), facts.remove(&h.config.address).unwrap_or_default())
            })
            .collect(),
    )
}

async fn neighbor(State(d): State<Arc<Daemon>>, Path(address): Path<String>) -> Response {
    let Ok(address) = address.parse::<IpAddr>() else {
        return error(StatusCode::BAD_REQUEST, format!("{address:?} is not an IP address"));
    };
    let counts = d.peer_counts().await;
    let facts = {
        let config = d.config.read().await;
        config.neighbors.iter().find(|n| *n.address.get_ref() == address).map(|n| config.policy_facts(n))
    };
    match d.neighbors.read().await.get(&address) {
        Some(h) => Json(neighbor_view(h, counts.get(&address), facts.unwrap_or_default())).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no neighbor {address}")),
    }
}

#[derive(Deserialize)]
struct ClearParams {
    #[serde(default)]
    soft: bool,
    #[serde(default)]
    hard: bool,
}

async fn clear(State(d): State<Arc<Daemon>>, Path(address): Path<String>, Query(p): Query<ClearParams>) -> Response {
    let Ok(address) = address.parse::<IpAddr>() else {
        return error(StatusCode::BAD_REQUEST, format!("{address:?} is not an IP address"));
    };
    if p.soft && p.hard {
        return error(StatusCode::BAD_REQUEST, "--soft and --hard exclude each other");
    }
    let Some(h) = d.neighbors.read().await.get(&address).cloned() else {
        return error(StatusCode::NOT_FOUND, format!("no neighbor {address}"));
    };
    let cmd = if p.soft {
        Command::RouteRefresh
    } else {
        Command::Stop { kind: StopKind::Reset { hard: p.hard }, restart: true }
    };
    match h.commands.send(cmd).await {
        Ok(()) => Json(Answer::ok()).into_response(),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "neighbor task is gone"),
    }
}

/// `GET /v1/routes` query parameters. `prefix=P` is an exact match (P as written, host bits
/// clear); `for=ADDR` or `for=P` a longest match: the routes of the most specific prefix in
/// the Loc-RIB covering it, per family (`keel show routes --prefix`; `--exact` asks `prefix=`).
#[derive(Deserialize)]
struct RouteParams {
    family: Option<String>,
    prefix: Option<String>,
    #[serde(rename = "for")]
    covering: Option<String>,
    neighbor: Option<String>,
    #[serde(default)]
    stale: bool,
    advertised: Option<String>,
}

async fn routes(State(d): State<Arc<Daemon>>, Query(p): Query<RouteParams>) -> Response {
    let mut filter = RouteFilter { stale: p.stale, ..Default::default() };
    if let Some(f) = p.family {
        match f.parse() {
            Ok(f) => filter.family = Some(f),
            Err(e) => return error(StatusCode::BAD_REQUEST, e),
        }
    }
    if let Some(x) = p.prefix {
        match x.parse() {
            Ok(x) => filter.prefix = Some(x),
            Err(e) => return error(StatusCode::BAD_REQUEST, e),
        }
    }
    if let Some(x) = p.covering {
        if filter.prefix.is_some() {
            return error(StatusCode::BAD_REQUEST, "prefix= (exact) and for= (longest match) exclude each other");
        }
        match parse_address_or_prefix(&x) {
            Ok(x) => filter.longest_match = Some(x),
            Err(e) => return error(StatusCode::BAD_REQUEST, e),
        }
    }
    for (value, slot) in [(p.neighbor, &mut filter.neighbor), (p.advertised, &mut filter.advertised)] {
        if let Some(n) = value {
            match n.parse() {
                Ok(n) => *slot = Some(n),
                Err(_) => return error(StatusCode::BAD_REQUEST, format!("{n:?} is not an IP address")),
            }
        }
    }
    let (reply, rx) = oneshot::channel();
    if d.rib.send(RibEvent::Routes { filter, reply }).await.is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "RIB task is gone");
    }
    match rx.await {
        Ok(v) => Json(v).into_response(),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "RIB task is gone"),
    }
}

/// `203.0.113.5` (its host prefix) or `203.0.113.0/25`.
fn parse_address_or_prefix(s: &str) -> Result<Prefix, String> {
    if s.contains('/') {
        return s.parse();
    }
    s.parse::<IpAddr>().map(Prefix::host).map_err(|_| format!("{s:?} is neither an IP address nor a prefix"))
}

async fn policies(State(d): State<Arc<Daemon>>) -> Json<Vec<PolicyView>> {
    Json(keel_config::policy_view::list(&*d.config.read().await))
}

async fn policy(State(d): State<Arc<Daemon>>, Path(name): Path<String>) -> Response {
    match keel_config::policy_view::show(&*d.config.read().await, &name) {
        Ok(v) => Json(v).into_response(),
        Err(e) => error(StatusCode::NOT_FOUND, e),
    }
}

async fn test_policy(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
    Query(r): Query<keel_config::policy_view::TestRoute>,
) -> Response {
    match keel_config::policy_view::test(&*d.config.read().await, &name, &r) {
        Ok(v) => Json(v).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn reload(State(d): State<Arc<Daemon>>) -> Response {
    match d.reload().await {
        Ok(summary) => Json(Answer::summary(summary)).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

#[derive(Deserialize)]
struct StopParams {
    #[serde(default)]
    withdraw: bool,
    /// Seconds of graceful shutdown (RFC 8326 §4.2) before the stop.
    graceful_shutdown: Option<u64>,
}

/// `POST /v1/stop`; with `graceful_shutdown=SECONDS` every neighbor first gets its routes again
/// tagged with GRACEFUL_SHUTDOWN (RFC 8326 §4.2) and SECONDS to move traffic away, then keeld
/// stops as without it. The answer comes at once; the wait runs in keeld.
async fn stop(State(d): State<Arc<Daemon>>, Query(p): Query<StopParams>) -> Response {
    let kind = if p.withdraw { StopKind::Withdraw } else { StopKind::Graceful };
    let Some(seconds) = p.graceful_shutdown else {
        d.request_shutdown(kind);
        return Json(Answer::ok()).into_response();
    };
    let (reply, rx) = oneshot::channel();
    if d.rib.send(RibEvent::GracefulShutdown { neighbors: None, on: true, reply }).await.is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "RIB task is gone");
    }
    let tagged = rx.await.map_or(0, |v| v.len());
    tracing::info!(seconds, neighbors = tagged, "graceful shutdown (RFC 8326): stopping after the wait");
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
        d.request_shutdown(kind);
    });
    Json(Answer::summary(format!("in {seconds} s, after graceful shutdown (RFC 8326) of every session")))
        .into_response()
}

#[derive(Deserialize)]
struct GracefulShutdownParams {
    /// Comma-separated neighbor addresses; absent or empty: every neighbor.
    #[serde(default)]
    neighbors: String,
    /// Undo it: routes go out again without GRACEFUL_SHUTDOWN.
    #[serde(default)]
    off: bool,
}

/// `POST /v1/graceful-shutdown?neighbors=A,B&off=BOOL`: RFC 8326 §4.2 on (or off) for those
/// neighbors, every one when none is named. Their routes are re-advertised through the
/// Adj-RIB-Out with (or without) GRACEFUL_SHUTDOWN; the state lasts until undone or keeld
/// stops.
async fn graceful_shutdown(State(d): State<Arc<Daemon>>, Query(p): Query<GracefulShutdownParams>) -> Response {
    let mut named = Vec::new();
    for a in p.neighbors.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        let Ok(address) = a.parse::<IpAddr>() else {
            return error(StatusCode::BAD_REQUEST, format!("{a:?} is not an IP address"));
        };
        if !d.neighbors.read().await.contains_key(&address) {
            return error(StatusCode::NOT_FOUND, format!("no neighbor {address}"));
        }
        named.push(address);
    }
    let neighbors = (!named.is_empty()).then_some(named);
    let on = !p.off;
    let (reply, rx) = oneshot::channel();
    if d.rib.send(RibEvent::GracefulShutdown { neighbors, on, reply }).await.is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "RIB task is gone");
    }
    let Ok(changed) = rx.await else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "RIB task is gone");
    };
    let state = if on { "on" } else { "off" };
    let summary = if changed.is_empty() {
        format!("already {state}; nothing re-advertised")
    } else {
        let list: Vec<String> = changed.iter().map(IpAddr::to_string).collect();
        format!("{state} for {} neighbor(s): {}", changed.len(), list.join(", "))
    };
    Json(Answer::summary(summary)).into_response()
}

/// Graceful restart of keeld itself: sessions close so that helpers keep keel's routes, kernel
/// routes stay, and the keeld binary is executed again (the upgrade path).
async fn restart(State(d): State<Arc<Daemon>>) -> Json<Answer> {
    d.prepare_restart();
    d.request_shutdown(StopKind::Graceful);
    Json(Answer::ok())
}

#[derive(Deserialize)]
struct UpgradeParams {
    /// Absolute path of the new keeld; absent: the keeld binary now at keeld's own path.
    binary: Option<std::path::PathBuf>,
}

/// `POST /v1/upgrade?binary=PATH` (`keel upgrade`, docs/upgrade.md): the pre-checks, each
/// refusing with no change (400: the binary; 409: a hold time too short for the handoff, a
/// neighbor restarting, or a restart already under way); then the handoff into the new binary,
/// which goes on with every Established session.
async fn upgrade(State(d): State<Arc<Daemon>>, Query(p): Query<UpgradeParams>) -> Response {
    use crate::daemon::upgrade::Refusal;
    match d.prepare_upgrade(p.binary).await {
        Err(Refusal::Binary(why)) => error(StatusCode::BAD_REQUEST, why),
        Err(Refusal::Conflict(why)) => error(StatusCode::CONFLICT, why),
        Ok(binary) => {
            tracing::info!(binary = %binary.display(), "upgrade: handing the sessions over to the new binary");
            d.request_shutdown(StopKind::Graceful);
            let summary = format!("upgrading into {}: sessions are handed over", binary.display());
            Json(Answer::summary(summary)).into_response()
        }
    }
}

/// The RTR caches and the VRPs in use ([`keel_api::rpki`]).
async fn rpki(State(d): State<Arc<Daemon>>) -> Json<RpkiView> {
    Json(d.rpki.view())
}

async fn status(State(d): State<Arc<Daemon>>) -> Json<StatusView> {
    let (reply, rx) = oneshot::channel();
    let restart = match d.rib.send(RibEvent::Restart { reply }).await {
        Ok(()) => rx.await.unwrap_or_default(),
        Err(_) => Default::default(),
    };
    let config = d.config.read().await;
    Json(StatusView {
        asn: *config.global.asn.get_ref(),
        neighbors: d.neighbors.read().await.len() as u64,
        pid: std::process::id(),
        restarting: restart.deferring,
        router_id: *config.global.router_id.get_ref(),
        selection_deferral: restart,
        uptime_s: d.started.elapsed().as_secs(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        last_upgrade: d.last_upgrade.clone(),
    })
}
