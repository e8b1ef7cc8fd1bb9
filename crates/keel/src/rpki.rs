//! RPKI origin validation in keeld: one RPKI-to-Router client per `[[rpki.cache]]` (RFC 8210,
//! version 1 with fallback to 0, RFC 8210 §7), a task merging their VRP sets, and [`Rpki`], the
//! handle the RIB task validates routes with (RFC 6811).
//!
//! ```text
//!  cache client (RTR session, VrpSet) --VRPs--+
//!  cache client (RTR session, VrpSet) --VRPs--+--> merge --watch<Snapshot>--> Rpki handles
//! ```
//!
//! PDUs are encoded and decoded by NLnet Labs' `rpki` crate (`rpki::rtr::pdu`); the session
//! (which query, version negotiation, timers, atomic updates) is here, because the crate's
//! client cannot take keel's `refresh`, `retry` and `expire` overrides.
//!
//! Each client also keeps its status (state, session, VRP count, last update, intervals) in a
//! watch channel, read by `GET /v1/rpki` ([`Rpki::view`], `keel show rpki`).
//!
//! A cache outage never flushes: a cache's VRPs stay in the merged set until its Expire
//! Interval (RFC 8210 §6) has passed since its last successful update, and the client
//! reconnects meanwhile (1 s, doubling up to the Retry Interval) with a Serial Query, so a
//! cache that kept its session sends only what changed. The merged set is the union of every
//! cache's (RFC 8210 §10: "the union of the caches' data"); it is `None` until some cache has
//! delivered a full set and again when every cache's data has expired, and routes then have no
//! RPKI state rather than "not-found".

use keel_api::{RpkiCacheView, RpkiView, VrpCounts};
use keel_config::RpkiConfig;
use keel_rpki::{Change, VrpSet};
use keel_wire::attribute::AsPath;
use keel_wire::Prefix;
use rpki::rtr::pdu;
use rpki::rtr::{State, Timing};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, timeout, Instant};
use tracing::{debug, info, warn};

pub use keel_rpki::{RpkiState, Vrp, VrpTable};

/// The VRPs in use: `None` when no cache is configured or none has data.
pub type Snapshot = Option<Arc<VrpTable>>;

/// The highest RTR version keel speaks (RFC 8210); a cache may take it down to 0 (§7).
const MAX_VERSION: u8 = 1;
/// RFC 8210 §6 defaults, until a version 1 End of Data gives the cache's own.
const DEFAULT_TIMING: Timing = Timing { refresh: 3600, retry: 600, expire: 7200 };
/// How long one PDU, a connection attempt or a query's first answer may take.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// First wait before reconnecting; it doubles up to the Retry Interval.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// RFC 8210 §5.1: no PDU of versions 0 and 1 is longer (Error Reports included).
const MAX_PDU: usize = 65535;

/// Handle to the VRPs in use, for validating routes. Cheap to clone.
#[derive(Clone)]
pub struct Rpki {
    local_as: u32,
    enabled: bool,
    vrps: watch::Receiver<Snapshot>,
    /// Each cache's address and status, in configuration order.
    caches: Arc<Vec<(SocketAddr, watch::Receiver<CacheStatus>)>>,
    /// Held so that [`subscribe`](Self::subscribe)rs wait instead of seeing a closed channel.
    _sender: Arc<watch::Sender<Snapshot>>,
}

/// One VRP snapshot with keel's AS: validates many routes without touching the channel.
#[derive(Clone)]
pub struct Validator {
    table: Snapshot,
    local_as: u32,
}

impl Validator {
    /// The route's state (RFC 6811 §2), `None` without VRPs. `as_path` `None` (a route keel
    /// originates) or empty means keel's own AS is the origin.
    pub fn state(&self, prefix: &Prefix, as_path: Option<&AsPath>) -> Option<RpkiState> {
        Some(self.table.as_ref()?.validate_route(prefix, as_path, self.local_as))
    }

    pub fn table(&self) -> Option<&Arc<VrpTable>> {
        self.table.as_ref()
    }
}

impl Rpki {
    /// No caches: every route's state is `None`.
    pub fn disabled(local_as: u32) -> Rpki {
        let (tx, rx) = watch::channel(None);
        Rpki { local_as, enabled: false, vrps: rx, caches: Arc::default(), _sender: Arc::new(tx) }
    }

    /// Starts a client per `[[rpki.cache]]` and the merge task (none without caches). Needs a
    /// tokio runtime.
    pub fn start(config: &RpkiConfig, local_as: u32) -> Rpki {
        if config.cache.is_empty() {
            return Rpki::disabled(local_as);
        }
        let (tx, rx) = watch::channel(None);
        let sender = Arc::new(tx);
        let (publish, updates) = mpsc::channel(16);
        let mut names = Vec::new();
        let mut caches = Vec::new();
        for (index, c) in config.cache.iter().enumerate() {
            let settings = CacheSettings {
                address: SocketAddr::new(*c.address.get_ref(), *c.port.get_ref()),
                refresh: c.refresh.as_ref().map(|v| *v.get_ref()),
                retry: c.retry.as_ref().map(|v| *v.get_ref()),
                expire: c.expire.as_ref().map(|v| *v.get_ref()),
            };
            names.push(settings.address);
            let address = settings.address;
            let (status, status_rx) = watch::channel(CacheStatus::new(&settings));
            caches.push((address, status_rx));
            let connect = move || async move {
                let s = timeout(IO_TIMEOUT, tokio::net::TcpStream::connect(address))
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connection attempt timed out"))??;
                let _ = s.set_nodelay(true);
                Ok(s)
            };
            tokio::spawn(run_cache(settings, connect, Publisher { index, tx: publish.clone() }, StatusBoard(status)));
        }
        tokio::spawn(merge(updates, names, sender.clone()));
        Rpki { local_as, enabled: true, vrps: rx, caches: Arc::new(caches), _sender: sender }
    }

    /// The caches and the VRPs in use, as `GET /v1/rpki` shows them.
    pub fn view(&self) -> RpkiView {
        let now = Instant::now();
        RpkiView {
            caches: self.caches.iter().map(|(address, status)| status.borrow().view(*address, now)).collect(),
            vrps: self.vrps.borrow().as_ref().map(|t| {
                let (ipv4, ipv6) = t.counts();
                VrpCounts { ipv4: ipv4 as u64, ipv6: ipv6 as u64 }
            }),
        }
    }

    /// Whether any cache is configured.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The VRPs in use now, for validating a batch of routes.
    pub fn validator(&self) -> Validator {
        Validator { table: self.vrps.borrow().clone(), local_as: self.local_as }
    }

    /// One route's state (RFC 6811 §2); `None` without VRPs. For many routes take a
    /// [`validator`](Self::validator) once.
    pub fn state(&self, prefix: &Prefix, as_path: Option<&AsPath>) -> Option<RpkiState> {
        self.validator().state(prefix, as_path)
    }

    /// Changes of the VRPs in use: `changed().await` returns after each new snapshot; routes
    /// whose state may differ should then be validated again.
    pub fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.vrps.clone()
    }
}

/// One cache's address and the intervals configured for it (RFC 8210 §6), in seconds.
#[derive(Debug, Clone)]
struct CacheSettings {
    address: SocketAddr,
    refresh: Option<u32>,
    retry: Option<u32>,
    expire: Option<u32>,
}

/// Where a cache client sends its VRP set after each change (`None`: expired).
#[derive(Clone)]
struct Publisher {
    index: usize,
    tx: mpsc::Sender<(usize, Option<Arc<Vec<Vrp>>>)>,
}

impl Publisher {
    async fn send(&self, set: Option<Arc<Vec<Vrp>>>) {
        let _ = self.tx.send((self.index, set)).await;
    }
}

/// What a cache client knows across connections: plain data, no socket.
#[derive(Debug, Default)]
struct Session {
    /// Negotiated version (RFC 8210 §7), kept for the next connection.
    version: Option<u8>,
    /// Session ID and serial of the last End of Data; `None`: the next query is a Reset Query.
    state: Option<State>,
    /// From the last version 1 End of Data.
    timing: Option<Timing>,
    vrps: VrpSet,
    /// `vrps` per address family, counted after each update.
    counts: VrpCounts,
    /// When the last update succeeded: the Expire Interval counts from here.
    last_update: Option<Instant>,
}

impl Session {
    fn timing(&self) -> Timing {
        self.timing.unwrap_or(DEFAULT_TIMING)
    }
    fn refresh(&self, s: &CacheSettings) -> Duration {
        Duration::from_secs(s.refresh.unwrap_or(self.timing().refresh).max(1).into())
    }
    fn retry(&self, s: &CacheSettings) -> Duration {
        Duration::from_secs(s.retry.unwrap_or(self.timing().retry).max(1).into())
    }
    fn expire(&self, s: &CacheSettings) -> Duration {
        Duration::from_secs(s.expire.unwrap_or(self.timing().expire).into())
    }
    /// When the VRPs held expire (RFC 8210 §6), if any are held.
    fn expires_at(&self, s: &CacheSettings) -> Option<Instant> {
        Some(self.last_update? + self.expire(s))
    }
}

/// What a cache client is doing ([`RpkiCacheView::state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CacheState {
    /// A TCP connection attempt is under way.
    Connecting,
    /// Connected; the first update of this connection is under way.
    Synchronizing,
    /// In sync; waiting for a Serial Notify or the Refresh Interval.
    Connected,
    /// Not connected; waiting to try again.
    Down,
}

impl CacheState {
    fn as_str(self) -> &'static str {
        match self {
            CacheState::Connecting => "connecting",
            CacheState::Synchronizing => "synchronizing",
            CacheState::Connected => RpkiCacheView::CONNECTED,
            CacheState::Down => "down",
        }
    }
}

/// One cache client's status: plain data its task replaces as it goes and the API reads.
#[derive(Debug, Clone)]
struct CacheStatus {
    state: CacheState,
    /// When `state` began.
    since: Instant,
    last_error: Option<String>,
    version: Option<u8>,
    /// Session ID and serial of the last End of Data.
    session: Option<State>,
    last_update: Option<Instant>,
    vrps: VrpCounts,
    /// Intervals in use (RFC 8210 §6), in seconds.
    refresh: u32,
    retry: u32,
    expire: u32,
}

impl CacheStatus {
    fn new(settings: &CacheSettings) -> CacheStatus {
        let mut s = CacheStatus {
            state: CacheState::Connecting,
            since: Instant::now(),
            last_error: None,
            version: None,
            session: None,
            last_update: None,
            vrps: VrpCounts::default(),
            refresh: 0,
            retry: 0,
            expire: 0,
        };
        s.take(&Session::default(), settings);
        s
    }

    /// The session's facts: what the client knows across connections.
    fn take(&mut self, session: &Session, settings: &CacheSettings) {
        let secs = |d: Duration| u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
        self.version = session.version;
        self.session = session.state;
        self.last_update = session.last_update;
        self.vrps = session.counts;
        self.refresh = secs(session.refresh(settings));
        self.retry = secs(session.retry(settings));
        self.expire = secs(session.expire(settings));
    }

    fn view(&self, address: SocketAddr, now: Instant) -> RpkiCacheView {
        let ago = |t: Instant| now.saturating_duration_since(t).as_secs();
        RpkiCacheView {
            address: address.ip(),
            expire_s: self.expire,
            expires_in_s: self
                .last_update
                .map(|t| (t + Duration::from_secs(self.expire.into())).saturating_duration_since(now).as_secs()),
            last_error: self.last_error.clone(),
            last_update_s_ago: self.last_update.map(ago),
            port: address.port(),
            refresh_s: self.refresh,
            retry_s: self.retry,
            serial: self.session.map(|s| s.serial().0),
            session_id: self.session.map(|s| s.session()),
            state: self.state.as_str().to_string(),
            state_since_s: ago(self.since),
            version: self.version,
            vrps: self.vrps,
        }
    }
}

/// A cache client's end of its status channel.
struct StatusBoard(watch::Sender<CacheStatus>);

impl StatusBoard {
    /// The client is in `state` now, with `session`; `error` (if any) is why it got there.
    fn report(&self, state: CacheState, session: &Session, settings: &CacheSettings, error: Option<&io::Error>) {
        self.0.send_modify(|s| {
            if s.state != state {
                s.state = state;
                s.since = Instant::now();
            }
            if let Some(e) = error {
                s.last_error = Some(e.to_string());
            }
            s.take(session, settings);
        });
    }
}

/// One cache's client, forever: connect, synchronize, refresh; after an outage reconnect and
/// drop the cache's VRPs only once they expire.
async fn run_cache<S, F, C>(settings: CacheSettings, mut connect: C, publish: Publisher, status: StatusBoard)
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: Future<Output = io::Result<S>>,
    C: FnMut() -> F,
{
    let cache = settings.address;
    let mut session = Session::default();
    let mut backoff = FIRST_RETRY;
    // One warning per outage; the attempts within it are debug lines.
    let mut reported_down = false;
    loop {
        status.report(CacheState::Connecting, &session, &settings, None);
        match connect().await {
            Ok(sock) => {
                debug!(%cache, "RTR cache connected");
                status.report(CacheState::Synchronizing, &session, &settings, None);
                let mut sock = BufReader::new(sock);
                let before = session.last_update;
                let e = serve(&mut session, &mut sock, &settings, &publish, &status).await;
                status.report(CacheState::Down, &session, &settings, Some(&e));
                if session.last_update != before {
                    backoff = FIRST_RETRY;
                    reported_down = false;
                }
                let left = session.expires_at(&settings).map(|t| t.saturating_duration_since(Instant::now()).as_secs());
                if reported_down {
                    debug!(%cache, error = %e, "RTR cache connection lost again");
                } else {
                    warn!(%cache, error = %e, vrps = session.vrps.len(), expires_in_seconds = ?left,
                        "RTR cache connection lost; its VRPs stay in use until they expire");
                }
                reported_down = true;
            }
            Err(e) => {
                status.report(CacheState::Down, &session, &settings, Some(&e));
                if reported_down {
                    debug!(%cache, error = %e, "cannot reach RTR cache");
                } else {
                    warn!(%cache, error = %e, "cannot reach RTR cache; retrying");
                    reported_down = true;
                }
            }
        }
        let next = Instant::now() + backoff;
        if let Some(expiry) = session.expires_at(&settings).filter(|&t| t <= next) {
            sleep_until(expiry).await;
            // RFC 8210 §6: past the Expire Interval the data must no longer be used.
            info!(%cache, vrps = session.vrps.len(), "VRPs of unreachable RTR cache expired; dropped");
            session = Session { version: session.version, ..Session::default() };
            status.report(CacheState::Down, &session, &settings, None);
            publish.send(None).await;
        }
        sleep_until(next).await;
        backoff = (backoff * 2).min(session.retry(&settings));
    }
}

/// One connection: synchronize, then wait for the Refresh Interval or a Serial Notify, again
/// and again. Returns why it ended.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    session: &mut Session,
    sock: &mut BufReader<S>,
    settings: &CacheSettings,
    publish: &Publisher,
    status: &StatusBoard,
) -> io::Error {
    loop {
        if let Err(e) = synchronize(session, sock, settings, publish).await {
            return e;
        }
        status.report(CacheState::Connected, session, settings, None);
        if let Err(e) = wait_for_refresh(sock, session.refresh(settings)).await {
            return e;
        }
    }
}

fn protocol_error(text: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, text.into())
}

async fn within<T>(f: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    timeout(IO_TIMEOUT, f).await.map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "cache did not answer in time"))?
}

/// RFC 8210 §5.11: tells the cache what went wrong; the connection is closed after it.
async fn report<S: AsyncWrite + Unpin>(sock: &mut S, version: u8, code: u16, offending: &[u8], text: &str) {
    let _ = pdu::Error::new(version, code, offending, text).write(sock).await;
    let _ = sock.flush().await;
}

/// Reads the rest of an Error Report (RFC 8210 §5.11): its code and text.
async fn read_error<S: AsyncRead + Unpin>(header: pdu::Header, sock: &mut S) -> io::Result<(u16, String)> {
    let len = header.pdu_len()?;
    if !(16..=MAX_PDU).contains(&len) {
        return Err(protocol_error(format!("Error Report of {len} octets")));
    }
    let mut body = vec![0; len - 8];
    within(sock.read_exact(&mut body)).await?;
    // Encapsulated PDU length and PDU, then text length and text.
    let pdu_len = u32::from_be_bytes([body[0], body[1], body[2], body[3]]) as usize;
    let text = body
        .get(4 + pdu_len..8 + pdu_len)
        .and_then(|l| {
            let n = u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize;
            body.get(8 + pdu_len..8 + pdu_len + n)
        })
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .unwrap_or_default();
    Ok((header.session(), text))
}

/// RFC 8210 §12 error code names, for logs.
fn error_name(code: u16) -> &'static str {
    match code {
        0 => "Corrupt Data",
        1 => "Internal Error",
        2 => "No Data Available",
        3 => "Invalid Request",
        4 => "Unsupported Protocol Version",
        5 => "Unsupported PDU Type",
        6 => "Withdrawal of Unknown Record",
        7 => "Duplicate Announcement Received",
        8 => "Unexpected Protocol Version",
        _ => "unknown error",
    }
}

/// One payload PDU as a change; `Ok(None)` for payload keel does not use (router keys).
fn change_of(p: &pdu::Payload) -> Result<Option<Change>, String> {
    let (flags, vrp) = match p {
        pdu::Payload::V4(v) => {
            (v.flags(), Vrp::from_parts(v.prefix().into(), v.prefix_len(), v.max_len(), v.asn().into_u32()))
        }
        pdu::Payload::V6(v) => {
            (v.flags(), Vrp::from_parts(v.prefix().into(), v.prefix_len(), v.max_len(), v.asn().into_u32()))
        }
        _ => return Ok(None),
    };
    let vrp = vrp.map_err(|e| e.to_string())?;
    // RFC 8210 §5.6: flags bit 0 is 1 for an announcement, 0 for a withdrawal.
    Ok(Some(if flags & 1 == 1 { Change::Announce(vrp) } else { Change::Withdraw(vrp) }))
}

/// One query and its update (RFC 8210 §8.1, §8.2): Reset Query without a session state,
/// else Serial Query; a Cache Reset turns it into a Reset Query (§5.9). The update applies
/// whole or not at all; the new set is published.
async fn synchronize<S: AsyncRead + AsyncWrite + Unpin>(
    session: &mut Session,
    sock: &mut BufReader<S>,
    settings: &CacheSettings,
    publish: &Publisher,
) -> io::Result<()> {
    let cache = settings.address;
    let (reset, response) = loop {
        let version = session.version.unwrap_or(MAX_VERSION);
        match session.state {
            None => pdu::ResetQuery::new(version).write(sock).await?,
            Some(state) => pdu::SerialQuery::new(version, state).write(sock).await?,
        }
        sock.flush().await?;
        let mut header = within(pdu::Header::read(sock)).await?;
        // RFC 8210 §5.2: a Serial Notify may cross our query; the query answers it already.
        while header.pdu() == pdu::SerialNotify::PDU {
            within(pdu::SerialNotify::read_payload(header, sock)).await?;
            header = within(pdu::Header::read(sock)).await?;
        }
        match header.pdu() {
            pdu::CacheResponse::PDU => {
                break (session.state.is_none(), within(pdu::CacheResponse::read_payload(header, sock)).await?);
            }
            pdu::CacheReset::PDU => {
                within(pdu::CacheReset::read_payload(header, sock)).await?;
                info!(%cache, "RTR cache cannot update from our serial (Cache Reset); sending a Reset Query");
                session.state = None;
            }
            pdu::Error::PDU => {
                let (code, text) = read_error(header, sock).await?;
                // RFC 8210 §7: a cache of a lower version answers in it with "Unsupported
                // Protocol Version"; the router may then go down to that version.
                if code == 4 && session.version.is_none() && header.version() < version {
                    info!(%cache, version = header.version(), "RTR cache speaks an older version; downgrading");
                    session.version = Some(header.version());
                    continue;
                }
                // A cache that restarted has another Session ID and answers our Serial Query
                // with Corrupt Data (RFC 8210 §5.1); after any error start over with a Reset
                // Query. Deviation from §5.1 ("the router MUST flush all data learned from
                // that cache"): the VRPs stay until the Reset Query's answer replaces them or
                // they expire, so a cache restart never turns every route not-found meanwhile.
                session.state = None;
                return Err(io::Error::other(format!("cache reported error {code} ({}): {text}", error_name(code))));
            }
            other => return Err(protocol_error(format!("unexpected PDU type {other} in answer to a query"))),
        }
    };
    // RFC 8210 §7: the version is fixed by the first answer of the connection.
    let version = response.version();
    match session.version {
        None if version <= MAX_VERSION => session.version = Some(version),
        Some(v) if v == version => {}
        _ => {
            report(sock, session.version.unwrap_or(MAX_VERSION), 8, response.as_ref(), "unexpected version").await;
            return Err(protocol_error(format!("cache answered in RTR version {version}")));
        }
    }
    if let Some(state) = session.state.filter(|s| s.session() != response.session()) {
        report(sock, version, 0, response.as_ref(), "session ID differs from the serial query's").await;
        session.state = None;
        return Err(protocol_error(format!("cache changed its session ID from {} mid-session", state.session())));
    }
    let mut changes = Vec::new();
    let end = loop {
        match within(pdu::Payload::read(sock)).await? {
            Ok(Some(p)) => {
                if p.version() != version {
                    report(sock, version, 8, p.as_partial_slice(), "unexpected version").await;
                    return Err(protocol_error(format!(
                        "payload PDU of version {} in a version {version} session",
                        p.version()
                    )));
                }
                match change_of(&p) {
                    Ok(Some(c)) => changes.push(c),
                    Ok(None) => {}
                    Err(e) => {
                        report(sock, version, 0, p.as_partial_slice(), &e).await;
                        return Err(protocol_error(format!("corrupt payload PDU: {e}")));
                    }
                }
            }
            Ok(None) => {}
            Err(end) => break end,
        }
    };
    if end.version() != version || end.session() != response.session() {
        report(sock, version, 0, end.as_ref(), "End of Data does not match the Cache Response").await;
        session.state = None;
        return Err(protocol_error("End of Data does not match the Cache Response"));
    }
    if let Err(e) = session.vrps.apply(reset, &changes) {
        let text = e.to_string();
        report(sock, version, e.error_code(), &[], &text).await;
        // The next connection starts over with a Reset Query; the old VRPs stay meanwhile.
        session.state = None;
        return Err(protocol_error(text));
    }
    session.state = Some(end.state());
    if let Some(t) = end.timing() {
        session.timing = Some(t);
    }
    session.last_update = Some(Instant::now());
    let ipv4 = session.vrps.iter().filter(|v| v.prefix().is_ipv4()).count() as u64;
    session.counts = VrpCounts { ipv4, ipv6: session.vrps.len() as u64 - ipv4 };
    let announced = changes.iter().filter(|c| matches!(c, Change::Announce(_))).count();
    info!(
        %cache, version, session_id = end.session(), serial = end.serial().0, reset, announced,
        withdrawn = changes.len() - announced, vrps = session.vrps.len(), "RTR cache update applied"
    );
    publish.send(Some(Arc::new(session.vrps.to_vec()))).await;
    Ok(())
}

/// Waits for the Refresh Interval to pass or a Serial Notify to arrive (RFC 8210 §5.2, §8.2).
/// Errors when the cache closes the connection or sends anything else.
async fn wait_for_refresh<S: AsyncRead + AsyncWrite + Unpin>(
    sock: &mut BufReader<S>,
    refresh: Duration,
) -> io::Result<()> {
    tokio::select! {
        _ = tokio::time::sleep(refresh) => return Ok(()),
        // Cancel safe: what it reads stays in the BufReader.
        r = sock.fill_buf() => if r?.is_empty() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "cache closed the connection"));
        },
    }
    let header = within(pdu::Header::read(sock)).await?;
    match header.pdu() {
        pdu::SerialNotify::PDU => {
            within(pdu::SerialNotify::read_payload(header, sock)).await?;
            debug!(session_id = header.session(), "RTR Serial Notify");
            Ok(())
        }
        pdu::Error::PDU => {
            let (code, text) = read_error(header, sock).await?;
            Err(io::Error::other(format!("cache reported error {code} ({}): {text}", error_name(code))))
        }
        other => Err(protocol_error(format!("unexpected PDU type {other} between updates"))),
    }
}

/// Merges the caches' VRP sets into the snapshot every handle sees. Bursts of updates are
/// merged once; the table is built off the async threads.
async fn merge(
    mut updates: mpsc::Receiver<(usize, Option<Arc<Vec<Vrp>>>)>,
    caches: Vec<SocketAddr>,
    out: Arc<watch::Sender<Snapshot>>,
) {
    let mut sets: Vec<Option<Arc<Vec<Vrp>>>> = vec![None; caches.len()];
    while let Some(first) = updates.recv().await {
        let mut next = Some(first);
        while let Some((index, set)) = next {
            if let Some(slot) = sets.get_mut(index) {
                *slot = set;
            }
            next = updates.try_recv().ok();
        }
        let live: Vec<Arc<Vec<Vrp>>> = sets.iter().flatten().cloned().collect();
        let in_use = live.len();
        let table = if live.is_empty() {
            None
        } else {
            match tokio::task::spawn_blocking(move || VrpTable::new(live.iter().flat_map(|s| s.iter().copied()))).await
            {
                Ok(t) => Some(Arc::new(t)),
                Err(e) => {
                    warn!(error = %e, "building the VRP table failed; the previous one stays");
                    continue;
                }
            }
        };
        let (v4, v6) = table.as_ref().map_or((0, 0), |t| t.counts());
        info!(ipv4 = v4, ipv6 = v6, caches_with_data = in_use, caches = caches.len(), "VRP set in use changed");
        out.send_replace(table);
    }
}

#[cfg(test)]
mod tests;
