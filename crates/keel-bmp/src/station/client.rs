//! The station task: connect, Initiation and dump, live changes and periodic statistics,
//! reconnect after `reconnect` seconds; Termination when told to stop.
//!
//! ```text
//!   Connecting --connected--> Dumping --dump written--> Live --overrun / lost--> Waiting
//!       ^  |                                             |                         |
//!       |  +--refused--> Waiting                          +--stop--> Termination    |
//!       +------------------------ `reconnect` seconds ----------------------------+
//! ```
//!
//! The dump comes as changes in the feed's channel, a piece at a time: on each piece's
//! [`Change::DumpMore`] the task asks for the next ([`Request::More`]) and writes this one
//! meanwhile, so the dump moves as fast as the station reads and no faster.
//!
//! Every wait (connect, dump, write, reconnect) also waits for the stop signal and for an
//! overrun of the feed: a station that stops reading is dropped even while keel's write to it
//! is blocked.

use super::encode::{Encoder, Router};
use super::feed::{Feed, Link};
use super::{Change, Request, View};
use crate::header::Timestamp;
use crate::TerminationReason;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, warn};

/// One `[[bmp.station]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationConfig {
    pub address: SocketAddr,
    pub reconnect: Duration,
    pub views: Vec<View>,
    /// Time between Statistics Reports; `None`: only after each dump.
    pub statistics: Option<Duration>,
    /// Changes queued for the station at most; past it the station is dropped.
    pub buffer: usize,
    /// Initiation TLVs: sysName and sysDescr.
    pub sys_name: String,
    pub sys_descr: String,
}

impl StationConfig {
    /// A `[[bmp.station]]` of the configuration (validated when the file was read).
    pub fn from_config(s: &keel_config::BmpStation, sys_name: &str, sys_descr: &str) -> StationConfig {
        use keel_config::BmpView;
        let view = |v: &BmpView| match v {
            BmpView::AdjRibInPre => View::AdjRibInPre,
            BmpView::AdjRibInPost => View::AdjRibInPost,
            BmpView::LocRib => View::LocRib,
            BmpView::AdjRibOutPost => View::AdjRibOutPost,
        };
        let statistics = *s.statistics.get_ref();
        StationConfig {
            address: SocketAddr::new(*s.address.get_ref(), *s.port.get_ref()),
            reconnect: Duration::from_secs((*s.reconnect.get_ref()).into()),
            views: s.views.iter().map(|v| view(v.get_ref())).collect(),
            statistics: (statistics > 0).then(|| Duration::from_secs(statistics.into())),
            buffer: *s.buffer.get_ref() as usize,
            sys_name: sys_name.to_string(),
            sys_descr: sys_descr.to_string(),
        }
    }
}

/// Starts every configured station (sysName: the host's name, else `fallback_name`): the RIB
/// task's feeds, the handles, and the queue of the stations' requests to the RIB task.
pub fn start(
    stations: &[keel_config::BmpStation],
    fallback_name: &str,
    sys_descr: &str,
) -> (Vec<Feed>, Vec<Handle>, mpsc::Receiver<Request>) {
    let (requests, rx) = mpsc::channel(16);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let sys_name = if host.trim().is_empty() { fallback_name } else { host.trim() };
    let (mut feeds, mut handles) = (Vec::new(), Vec::new());
    for (i, s) in stations.iter().enumerate() {
        let c = StationConfig::from_config(s, sys_name, sys_descr);
        info!(station = %c.address, views = ?c.views, "BMP station configured");
        let (feed, handle) = spawn(i, c, requests.clone());
        feeds.push(feed);
        handles.push(handle);
    }
    (feeds, handles, rx)
}

/// A running station task, for the daemon's stop sequence.
#[derive(Debug)]
pub struct Handle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    pub link: Arc<Link>,
}

impl Handle {
    /// Sends the Termination (reason: administratively closed) and waits up to `wait` for the
    /// task to end.
    pub async fn terminate(self, wait: Duration) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(wait, self.task).await;
    }
}

/// Starts station number `index` (its place in the RIB task's feed list): the task and the
/// RIB task's [`Feed`] for it. Requests go to the RIB task through `requests`.
pub fn spawn(index: usize, config: StationConfig, requests: mpsc::Sender<Request>) -> (Feed, Handle) {
    let (tx, rx) = mpsc::channel(config.buffer.max(1));
    let link = Arc::new(Link::new(config.address));
    let feed = Feed::new(tx, link.clone(), config.views.clone());
    let (stop, stop_rx) = watch::channel(false);
    let station = Station { index, config, requests, changes: rx, link: link.clone(), stop: stop_rx, epoch: 0 };
    let task = tokio::spawn(station.run());
    (feed, Handle { stop, task, link })
}

struct Station {
    index: usize,
    config: StationConfig,
    requests: mpsc::Sender<Request>,
    changes: mpsc::Receiver<(u64, Change)>,
    link: Arc<Link>,
    stop: watch::Receiver<bool>,
    epoch: u64,
}

/// How a session with the station ended.
#[derive(Debug)]
enum Ended {
    Stopped,
    Overrun,
    Lost(String),
}

fn now() -> Timestamp {
    Timestamp::from_unix(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default())
}

impl Station {
    async fn run(mut self) {
        let address = self.config.address;
        loop {
            let connected = tokio::select! {
                c = TcpStream::connect(address) => c,
                _ = self.stop.changed() => return,
            };
            let ended = match connected {
                Ok(stream) => {
                    info!(station = %address, "BMP station connected");
                    self.session(stream).await
                }
                Err(e) => Ended::Lost(format!("cannot connect: {e}")),
            };
            self.link.detach();
            match ended {
                Ended::Stopped => return,
                Ended::Overrun => warn!(
                    station = %address,
                    buffer = self.config.buffer,
                    drops = self.link.overruns(),
                    "BMP station fell behind: dropped, re-synchronised from a fresh dump on reconnect"
                ),
                Ended::Lost(why) => warn!(station = %address, %why, "BMP station session ended"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.reconnect) => {}
                _ = self.stop.changed() => return,
            }
        }
    }

    /// One TCP session with the station, from Initiation to its end.
    async fn session(&mut self, mut stream: TcpStream) -> Ended {
        let _ = stream.set_nodelay(true);
        // Changes of an earlier session are of an older epoch: skipped as they come. The feed
        // takes none until the dump starts (it is off since the last session ended), so what
        // is queued now is all stale: dropped, to leave the whole buffer to the dump.
        self.epoch += 1;
        while self.changes.try_recv().is_ok() {}
        self.link.attach();
        let (reply, dump) = oneshot::channel();
        let request = Request::Dump { station: self.index, epoch: self.epoch, views: self.config.views.clone(), reply };
        if self.requests.send(request).await.is_err() {
            return Ended::Stopped;
        }
        let router = tokio::select! {
            d = dump => match d { Ok(d) => d, Err(_) => return Ended::Stopped },
            _ = self.stop.changed() => return Ended::Stopped,
        };
        let mut out = Vec::new();
        let mut e = Encoder { router, now: now(), out: &mut out, errors: Vec::new() };
        e.initiation(&self.config.sys_name, &self.config.sys_descr);
        if let Err(ended) = self.write(&mut stream, &out).await {
            return ended;
        }
        // The dump comes through the channel, its pieces among the live changes.
        let mut tick = self.config.statistics.map(|d| {
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        let mut scratch = [0u8; 512];
        loop {
            let next = tokio::select! {
                _ = self.stop.changed() => {
                    let mut out = Vec::new();
                    let mut e = Encoder { router, now: now(), out: &mut out, errors: Vec::new() };
                    e.termination(TerminationReason::AdministrativelyClosed, "keeld is stopping");
                    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&out)).await;
                    let _ = stream.shutdown().await;
                    return Ended::Stopped;
                }
                _ = self.link.overran() => {
                    if self.link.detached() { return Ended::Overrun }
                    continue;
                }
                c = self.changes.recv() => match c { Some(c) => c, None => return Ended::Stopped },
                _ = next_tick(&mut tick) => {
                    if let Err(ended) = self.statistics(&mut stream, router).await { return ended }
                    continue;
                }
                // A station sends nothing (RFC 7854 §3.2); a read ends only at its close.
                r = stream.read(&mut scratch) => match r {
                    Ok(0) => return Ended::Lost("closed by the station".into()),
                    Ok(_) => continue,
                    Err(e) => return Ended::Lost(e.to_string()),
                },
            };
            let mut out = Vec::new();
            let mut e = Encoder { router, now: now(), out: &mut out, errors: Vec::new() };
            let mut next = Some(next);
            let (mut more, mut dumped) = (false, false);
            // What else is queued goes in the same write.
            while let Some((epoch, change)) = next.take() {
                if epoch == self.epoch {
                    match change {
                        Change::DumpMore => more = true,
                        Change::DumpEnd => dumped = true,
                        change => e.change(&change),
                    }
                }
                if e.out.len() < 256 * 1024 && !more {
                    next = self.changes.try_recv().ok();
                }
            }
            let errors = e.errors;
            self.log_errors(errors);
            // The next piece is made while this one is written.
            if more {
                let request = Request::More { station: self.index, epoch: self.epoch };
                if self.requests.send(request).await.is_err() {
                    return Ended::Stopped;
                }
            }
            if let Err(ended) = self.write(&mut stream, &out).await {
                return ended;
            }
            if dumped {
                info!(station = %self.config.address, "BMP dump sent");
                if let Err(ended) = self.statistics(&mut stream, router).await {
                    return ended;
                }
            }
        }
    }

    /// Asks the RIB task for the counts and writes one report per peer.
    async fn statistics(&mut self, stream: &mut TcpStream, router: Router) -> Result<(), Ended> {
        let (reply, rx) = oneshot::channel();
        if self.requests.send(Request::Statistics { reply }).await.is_err() {
            return Err(Ended::Stopped);
        }
        let Ok(stats) = rx.await else { return Err(Ended::Stopped) };
        let mut out = Vec::new();
        let mut e = Encoder { router, now: now(), out: &mut out, errors: Vec::new() };
        e.statistics(&stats);
        let errors = e.errors;
        self.log_errors(errors);
        self.write(stream, &out).await
    }

    /// Writes `bytes`, unless the station is dropped or keeld stops first.
    async fn write(&mut self, stream: &mut TcpStream, bytes: &[u8]) -> Result<(), Ended> {
        let write = stream.write_all(bytes);
        tokio::pin!(write);
        loop {
            tokio::select! {
                r = &mut write => return r.map_err(|e| Ended::Lost(e.to_string())),
                _ = self.link.overran() => if self.link.detached() { return Err(Ended::Overrun) },
                _ = self.stop.changed() => return Err(Ended::Stopped),
            }
        }
    }

    fn log_errors(&self, errors: Vec<crate::EncodeError>) {
        for e in errors {
            warn!(station = %self.config.address, error = %e, "cannot encode a BMP message: not sent");
        }
    }
}

/// The next statistics time; never without one.
async fn next_tick(tick: &mut Option<tokio::time::Interval>) {
    match tick {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}
