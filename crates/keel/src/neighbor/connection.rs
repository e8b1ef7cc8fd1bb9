//! One TCP connection of a neighbor: a reader task that cuts the byte stream into messages
//! (RFC 4271 §4.1 framing) and a writer task fed by a bounded queue, so a slow peer pushes
//! back on whoever writes to it and never on the other neighbors.
//!
//! Closing is bounded: what is queued gets [`CLOSE_GRACE`] to reach the peer, then the
//! connection is aborted rather than left to a peer that does not read. The writer also
//! measures the peer's progress for the RFC 9687 send hold timer ([`SendHold`]).

use bytes::{Bytes, BytesMut};
use keel_wire::{header, CodecOptions, WireError};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::debug;

use super::transport;
use crate::events::Out;

/// What a connection reports to its neighbor task.
#[derive(Debug)]
pub enum ConnEvent {
    /// Complete messages, in order (a batch per read).
    Frames(Vec<Bytes>),
    /// A header that cannot be accepted (RFC 4271 §6.1); reading stopped.
    HeaderError(WireError),
    /// The peer closed the connection or it failed.
    Closed(Option<String>),
    /// Outcome of an outgoing connection attempt.
    Connected(Result<TcpStream, String>),
}

/// Queue depth towards one peer, in writes (each up to one batch of messages).
pub const WRITE_QUEUE: usize = 64;

/// How long a closing connection may take to put what is queued (a NOTIFICATION) on the wire
/// and have it acknowledged. Past it the connection is aborted: a peer that does not read must
/// not pin a socket and its queued data in the kernel.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// How often the writer asks the kernel how far the peer got (the send hold timer's input).
const PROGRESS_SAMPLE: Duration = Duration::from_millis(500);

/// How often a closing writer looks whether the peer has acknowledged everything.
const DRAIN_POLL: Duration = Duration::from_millis(10);

/// RFC 9687 send hold timer, as measured on a connection: how long keel has had data for the
/// peer while the peer took none of it. §4.3 restarts the timer each time a message is sent,
/// and §3's example is a peer whose zero receive window stops keel from sending. Handing bytes
/// to the kernel is no proof of sending (it takes megabytes the peer may never see), so here
/// the peer's TCP acknowledging octets is progress: the timer runs while something waits (in
/// keel's writer or in the kernel) and the acknowledged count stands still; any progress, or
/// nothing left to send, restarts it. A pure function of its observations.
#[derive(Debug, Clone, Default)]
pub struct SendHold {
    acked: u64,
    /// When the current stall began (the first observation of it).
    since: Option<Instant>,
}

impl SendHold {
    /// One observation at `now`: `acked` octets acknowledged so far and whether anything waits
    /// to be sent. Returns how long the peer has made no progress while data waited.
    pub fn observe(&mut self, acked: u64, queued: bool, now: Instant) -> Duration {
        if !queued {
            self.since = None;
        } else if acked != self.acked || self.since.is_none() {
            self.since = Some(now);
        }
        self.acked = acked;
        self.since.map_or(Duration::ZERO, |s| now.saturating_duration_since(s))
    }
}

/// The writing half of a connection: a TCP socket's, or (for the session fuzz harness,
/// `neighbor::fuzz`) an in-memory pipe's, which has no kernel queue to ask and nothing to
/// abort.
pub trait WriteSide: AsyncWrite + Unpin + Send + 'static {
    /// How far the peer got: the send hold timer's input (RFC 9687).
    fn progress(&self) -> std::io::Result<transport::SendProgress>;
    /// Makes the close abortive (a RST that frees what the kernel holds).
    fn abort(&self) -> std::io::Result<()>;
}

impl WriteSide for OwnedWriteHalf {
    fn progress(&self) -> std::io::Result<transport::SendProgress> {
        transport::send_progress(self.as_ref())
    }
    fn abort(&self) -> std::io::Result<()> {
        transport::set_abortive_close(self.as_ref())
    }
}

impl WriteSide for tokio::io::WriteHalf<tokio::io::DuplexStream> {
    fn progress(&self) -> std::io::Result<transport::SendProgress> {
        Err(std::io::ErrorKind::Unsupported.into())
    }
    fn abort(&self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct Connection {
    pub id: u64,
    pub outgoing: bool,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub writer: mpsc::Sender<Out>,
    reader: JoinHandle<()>,
    /// Our OPEN went out on it.
    pub open_sent: bool,
    pub remote_open: Option<keel_wire::Open>,
    /// A KEEPALIVE arrived after the OPEN (while the connection waited aside).
    pub keepalive_seen: bool,
    /// When the connection was set up: a connection waiting aside without an OPEN is closed
    /// an OpenSent hold time after it (RFC 4271 §8.2.2).
    pub since: tokio::time::Instant,
    /// Tells the writer to close, with the grace for what is queued; sent when the connection
    /// is dropped.
    close: Option<oneshot::Sender<Duration>>,
    close_grace: Duration,
    /// The writer's latest [`SendHold`] measure, in milliseconds.
    stalled_ms: Arc<AtomicU64>,
}

impl Connection {
    pub fn start(
        id: u64,
        stream: TcpStream,
        outgoing: bool,
        events: mpsc::Sender<(u64, ConnEvent)>,
    ) -> std::io::Result<Self> {
        let local = stream.local_addr()?;
        let remote = stream.peer_addr()?;
        stream.set_nodelay(true)?;
        let (rd, wr) = stream.into_split();
        Ok(Self::start_io(id, rd, wr, local, remote, outgoing, events))
    }

    /// The same over any byte stream: the session fuzz harness (`neighbor::fuzz`) plays the
    /// peer through an in-memory pipe.
    pub fn start_io<R, W>(
        id: u64,
        rd: R,
        wr: W,
        local: SocketAddr,
        remote: SocketAddr,
        outgoing: bool,
        events: mpsc::Sender<(u64, ConnEvent)>,
    ) -> Self
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: WriteSide,
    {
        let (writer, rx) = mpsc::channel(WRITE_QUEUE);
        let (close, close_rx) = oneshot::channel();
        let stalled_ms = Arc::new(AtomicU64::new(0));
        let w = Writer {
            id,
            wr,
            rx,
            events: events.clone(),
            hold: SendHold::default(),
            stalled_ms: stalled_ms.clone(),
            handed: 0,
        };
        tokio::spawn(w.run(close_rx));
        let reader = tokio::spawn(read_loop(id, rd, events));
        Connection {
            id,
            outgoing,
            local,
            remote,
            writer,
            reader,
            open_sent: false,
            remote_open: None,
            keepalive_seen: false,
            since: tokio::time::Instant::now(),
            close: Some(close),
            close_grace: CLOSE_GRACE,
            stalled_ms,
        }
    }

    /// How long the peer has taken nothing of what keel has for it (RFC 9687 send hold timer;
    /// zero while it makes progress or nothing waits). Up to [`PROGRESS_SAMPLE`] old.
    pub fn send_stalled_for(&self) -> Duration {
        Duration::from_millis(self.stalled_ms.load(Ordering::Relaxed))
    }

    /// Queues bytes without waiting; false if the queue is full or closed.
    pub fn try_send(&self, bytes: Vec<u8>) -> bool {
        self.writer.try_send(Out::Bytes(bytes)).is_ok()
    }

    /// How long what is queued may still take when the connection closes ([`CLOSE_GRACE`]
    /// unless set).
    pub fn set_close_grace(&mut self, grace: Duration) {
        self.close_grace = grace;
    }

    /// Stops reading at once; what was queued (a NOTIFICATION, say) is still written and the
    /// connection closes with a FIN, if the peer takes it all within the close grace. Else the
    /// connection is aborted (RST), which frees the socket and what it holds at once. Dropping
    /// a connection closes it the same way.
    pub fn close(self) {
        drop(self)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
        if let Some(close) = self.close.take() {
            let _ = close.send(self.close_grace);
        }
    }
}

/// How the reader cuts the stream into messages: up to 65535 octets whatever was negotiated;
/// the neighbor task decodes with the negotiated limit, so an over-long message still gets its
/// NOTIFICATION (RFC 8654 §4).
pub fn framing() -> CodecOptions {
    CodecOptions { extended_message: true, ..CodecOptions::default() }
}

async fn read_loop<R: AsyncRead + Unpin>(id: u64, mut rd: R, events: mpsc::Sender<(u64, ConnEvent)>) {
    let framing = framing();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        buf.reserve(64 * 1024);
        match rd.read_buf(&mut buf).await {
            Ok(0) => {
                let _ = events.send((id, ConnEvent::Closed(None))).await;
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = events.send((id, ConnEvent::Closed(Some(e.to_string())))).await;
                return;
            }
        }
        let mut frames = Vec::new();
        loop {
            match header::parse(&buf, &framing) {
                Ok(Some(h)) if buf.len() >= h.length => frames.push(buf.split_to(h.length).freeze()),
                Ok(_) => break,
                Err(e) => {
                    if !frames.is_empty() {
                        let _ = events.send((id, ConnEvent::Frames(frames))).await;
                    }
                    let _ = events.send((id, ConnEvent::HeaderError(e))).await;
                    return;
                }
            }
        }
        if !frames.is_empty() && events.send((id, ConnEvent::Frames(frames))).await.is_err() {
            return;
        }
    }
}

/// The writing side: the write half, what is queued for it, and the send hold measure.
struct Writer<W> {
    id: u64,
    wr: W,
    rx: mpsc::Receiver<Out>,
    events: mpsc::Sender<(u64, ConnEvent)>,
    hold: SendHold,
    stalled_ms: Arc<AtomicU64>,
    /// Octets handed to the kernel: the only progress in sight when TCP_INFO cannot be read.
    handed: u64,
}

/// What woke the writer up.
enum Step {
    Close(Duration),
    Queued(Option<Out>),
    Wrote(std::io::Result<usize>),
    Sample,
}

impl<W: WriteSide> Writer<W> {
    async fn run(mut self, mut close: oneshot::Receiver<Duration>) {
        let mut sample = tokio::time::interval(PROGRESS_SAMPLE);
        sample.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The message bytes being written and how far they got. A write that has to wait has
        // written nothing, so giving up on one loses nothing.
        let mut current: Option<(Vec<u8>, usize)> = None;
        let grace = loop {
            let step = match &current {
                None => tokio::select! {
                    biased;
                    g = &mut close => Step::Close(g.unwrap_or(CLOSE_GRACE)),
                    out = self.rx.recv() => Step::Queued(out),
                    _ = sample.tick() => Step::Sample,
                },
                Some((b, done)) => tokio::select! {
                    biased;
                    g = &mut close => Step::Close(g.unwrap_or(CLOSE_GRACE)),
                    r = self.wr.write(&b[*done..]) => Step::Wrote(r),
                    _ = sample.tick() => Step::Sample,
                },
            };
            match step {
                Step::Close(grace) => break grace,
                Step::Queued(Some(Out::Bytes(b))) => current = Some((b, 0)),
                // Every sender gone means the connection was dropped: closed like by `close`.
                Step::Queued(Some(Out::Close) | None) => break CLOSE_GRACE,
                Step::Wrote(Ok(n)) if n > 0 => {
                    self.handed += n as u64;
                    if let Some((b, done)) = &mut current {
                        *done += n;
                        if *done >= b.len() {
                            current = None;
                        }
                    }
                }
                Step::Wrote(r) => {
                    let why = r.err().map_or_else(|| "connection closed while writing".to_string(), |e| e.to_string());
                    let _ = self.events.send((self.id, ConnEvent::Closed(Some(why)))).await;
                    return;
                }
                Step::Sample => self.sample(current.is_some()),
            }
        };
        // Closing: nothing new is taken; what is queued has `grace` to be written and
        // acknowledged, FIN included. A peer that does not take it in time gets a RST, so that
        // neither this task nor the kernel keeps the connection for it.
        self.rx.close();
        let deadline = Instant::now() + grace;
        if !matches!(tokio::time::timeout_at(deadline, self.drain(current)).await, Ok(Ok(()))) {
            if let Err(e) = self.wr.abort() {
                debug!(error = %e, "cannot set SO_LINGER 0; the kernel keeps what is queued");
            }
        }
        // Dropping the write half (the reader's was dropped with the connection) closes the
        // socket.
    }

    /// Writes the rest of `current` and everything queued, sends the FIN and waits until the
    /// peer has acknowledged all of it.
    async fn drain(&mut self, current: Option<(Vec<u8>, usize)>) -> std::io::Result<()> {
        if let Some((b, done)) = current {
            self.wr.write_all(&b[done..]).await?;
        }
        while let Some(out) = self.rx.recv().await {
            if let Out::Bytes(b) = out {
                self.wr.write_all(&b).await?;
            }
        }
        self.wr.shutdown().await?;
        // Closing the socket with data still unacknowledged would leave the kernel an orphan
        // socket offering it to the peer for minutes.
        while self.wr.progress().is_ok_and(|p| p.queued) {
            tokio::time::sleep(DRAIN_POLL).await;
        }
        Ok(())
    }

    /// Feeds the send hold measure one observation of the peer's progress.
    fn sample(&mut self, writing: bool) {
        let (acked, queued) = match self.wr.progress() {
            Ok(p) => (p.acked, p.queued || writing),
            // Without TCP_INFO, a write that does not complete is all there is to see.
            Err(_) => (self.handed, writing),
        };
        let stalled = self.hold.observe(acked, queued, Instant::now());
        self.stalled_ms.store(stalled.as_millis() as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

    #[test]
    fn send_hold_runs_while_data_waits_and_the_peer_acknowledges_nothing() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut h = SendHold::default();
        // Nothing waits: no stall, however long nothing moves.
        assert_eq!(h.observe(100, false, at(0)), Duration::ZERO);
        assert_eq!(h.observe(100, false, at(30)), Duration::ZERO);
        // Data waits: the stall counts from the first observation of it...
        assert_eq!(h.observe(100, true, at(31)), Duration::ZERO);
        assert_eq!(h.observe(100, true, at(35)), Duration::from_secs(4));
        // ...until the peer acknowledges something, however little.
        assert_eq!(h.observe(101, true, at(36)), Duration::ZERO);
        assert_eq!(h.observe(101, true, at(40)), Duration::from_secs(4));
        // Everything acknowledged and nothing new: over; data again: a new stall.
        assert_eq!(h.observe(101, false, at(41)), Duration::ZERO);
        assert_eq!(h.observe(101, true, at(42)), Duration::ZERO);
        assert_eq!(h.observe(101, true, at(50)), Duration::from_secs(8));
    }

    /// A connected pair on loopback: keel's end (with a small send buffer, so a writer blocks
    /// soon) and the peer's (with a small receive buffer).
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = tokio::net::TcpSocket::new_v4().unwrap();
        peer.set_recv_buffer_size(4096).unwrap();
        let peer = peer.connect(listener.local_addr().unwrap()).await.unwrap();
        let (keel, _) = listener.accept().await.unwrap();
        socket2::SockRef::from(&keel).set_send_buffer_size(16 * 1024).unwrap();
        (keel, peer)
    }

    /// Reads everything the peer gets until the connection ends: the octets and how it ended.
    async fn read_to_end(peer: &mut TcpStream) -> (usize, std::io::Result<()>) {
        let mut total = 0;
        let mut buf = vec![0; 64 * 1024];
        let read_all = async {
            loop {
                match peer.read(&mut buf).await {
                    Ok(0) => return Ok(()),
                    Ok(n) => total += n,
                    Err(e) => return Err(e),
                }
            }
        };
        let end = tokio::time::timeout(Duration::from_secs(20), read_all).await.expect("the connection ends");
        (total, end)
    }

    #[tokio::test]
    async fn close_delivers_what_is_queued_and_ends_with_a_fin() {
        let (keel, mut peer) = pair().await;
        let (events, _events) = mpsc::channel(8);
        let c = Connection::start(1, keel, false, events).unwrap();
        assert!(c.try_send(vec![7; 100_000]));
        assert!(c.try_send(vec![9; 21]), "the NOTIFICATION");
        c.close();
        let (total, end) = read_to_end(&mut peer).await;
        assert_eq!(total, 100_021, "everything queued arrived");
        assert!(end.is_ok(), "FIN, not RST: {end:?}");
    }

    /// Closing towards a peer that does not read: within the grace the writer gives up and
    /// resets the connection, blocked in a write with a full queue behind it.
    #[tokio::test]
    async fn close_aborts_a_connection_the_peer_does_not_read() {
        let (keel, peer) = pair().await;
        let (events, _events) = mpsc::channel(8);
        let c = Connection::start(1, keel, false, events).unwrap();
        let mut queued = 0;
        while c.try_send(vec![1; 64 * 1024]) {
            queued += 1;
            tokio::task::yield_now().await;
        }
        assert!(queued >= WRITE_QUEUE, "the queue filled: {queued}");
        c.close();
        // The peer reads nothing; the RST reaches it all the same.
        let deadline = Instant::now() + Duration::from_secs(20);
        let e = loop {
            if let Some(e) = peer.take_error().unwrap() {
                break e;
            }
            assert!(Instant::now() < deadline, "no RST from the closed connection");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
    }

    /// The send hold measure sees a stall even when all keel wrote fits in the kernel: the
    /// writer is idle, the kernel holds data and the peer acknowledges none of it.
    #[tokio::test]
    async fn a_peer_that_stops_reading_stalls_even_with_room_in_the_kernel() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = tokio::net::TcpSocket::new_v4().unwrap();
        peer.set_recv_buffer_size(4096).unwrap();
        let mut peer = peer.connect(listener.local_addr().unwrap()).await.unwrap();
        let (keel, _) = listener.accept().await.unwrap();
        socket2::SockRef::from(&keel).set_send_buffer_size(1024 * 1024).unwrap();
        let (events, _events) = mpsc::channel(8);
        let c = Connection::start(1, keel, false, events).unwrap();
        assert!(c.try_send(vec![1; 200_000]));
        let deadline = Instant::now() + Duration::from_secs(20);
        while c.send_stalled_for() < Duration::from_secs(1) {
            assert!(Instant::now() < deadline, "no stall seen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The peer reads everything: progress, then nothing waits; no stall.
        let mut buf = vec![0; 64 * 1024];
        let mut total = 0;
        while total < 200_000 {
            total += peer.read(&mut buf).await.unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while c.send_stalled_for() > Duration::ZERO {
            assert!(Instant::now() < deadline, "stall not over");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
