//! One TCP connection of a neighbor: a reader task that cuts the byte stream into messages
//! (RFC 4271 §4.1 framing) and a writer task fed by a bounded queue, so a slow peer pushes
//! back on whoever writes to it and never on the other neighbors.
//!
//! Closing is bounded: what is queued gets [`CLOSE_GRACE`] to reach the peer, then the
//! connection is aborted rather than left to a peer that does not read. The writer also
//! measures the peer's progress for the RFC 9687 send hold timer ([`SendHold`]).
//!
//! A TCP connection can also be handed to the next keeld image (`keel upgrade`,
//! docs/upgrade.md) without being closed: [`Connection::stop_reading`] stops the reader at a
//! message boundary and gives back what it had read past it, [`Connection::hand_over`] stops
//! the writer, gives back what it had not written, and returns the socket itself.

use bytes::{Bytes, BytesMut};
use keel_wire::{header, CodecOptions, WireError};
use std::any::Any;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
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

/// How long a writer handing its connection over may go on writing what is queued; the rest
/// is handed over unwritten.
const HANDOVER_WRITE: Duration = Duration::from_millis(200);

/// How long a reader or writer may take to stop for a handover.
const HANDOVER_STOP: Duration = Duration::from_secs(2);

/// A half of a connection given back for a handover, type-erased (a TCP socket's half, or an
/// in-memory pipe's, which cannot be handed over).
type Half = Box<dyn Any + Send>;

/// A connection handed over whole: the socket, and the bytes queued for it that only this
/// process knew (what it had read and not processed came from [`Connection::stop_reading`]).
#[derive(Debug)]
pub struct HandedOver {
    pub stream: std::net::TcpStream,
    /// Bytes queued for the peer and not yet written: the tail of a message partly written
    /// comes first.
    pub unwritten: Vec<u8>,
}

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
    /// Handover: stop signals, and where the reader and the writer give their halves back.
    stop_reader: Option<oneshot::Sender<()>>,
    reader_back: Option<oneshot::Receiver<(Half, BytesMut)>>,
    stop_writer: Option<oneshot::Sender<()>>,
    writer_back: Option<oneshot::Receiver<(Half, Vec<u8>)>>,
    /// The read half once [`Connection::stop_reading`] took it back.
    read_half: Option<Half>,
}

impl Connection {
    pub fn start(
        id: u64,
        stream: TcpStream,
        outgoing: bool,
        events: mpsc::Sender<(u64, ConnEvent)>,
    ) -> std::io::Result<Self> {
        Self::resume(id, stream, outgoing, events, &[])
    }

    /// A connection handed over by the previous keeld image (or, with nothing `unread`, a new
    /// one): `unread` is what that image had read and not processed; its complete messages are
    /// delivered before anything read anew.
    pub fn resume(
        id: u64,
        stream: TcpStream,
        outgoing: bool,
        events: mpsc::Sender<(u64, ConnEvent)>,
        unread: &[u8],
    ) -> std::io::Result<Self> {
        let local = stream.local_addr()?;
        let remote = stream.peer_addr()?;
        stream.set_nodelay(true)?;
        let (rd, wr) = stream.into_split();
        Ok(Self::start_io(id, rd, wr, local, remote, outgoing, events, BytesMut::from(unread)))
    }

    /// The same over any byte stream, with `unread` bytes first: the session fuzz harness
    /// (`neighbor::fuzz`) plays the peer through an in-memory pipe.
    #[allow(clippy::too_many_arguments)]
    pub fn start_io<R, W>(
        id: u64,
        rd: R,
        wr: W,
        local: SocketAddr,
        remote: SocketAddr,
        outgoing: bool,
        events: mpsc::Sender<(u64, ConnEvent)>,
        unread: BytesMut,
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
        let (stop_writer, stop_writer_rx) = oneshot::channel();
        let (writer_back_tx, writer_back) = oneshot::channel();
        tokio::spawn(async move {
            if let Some((wr, unwritten)) = w.run(close_rx, stop_writer_rx).await {
                let _ = writer_back_tx.send((Box::new(wr) as Half, unwritten));
            }
        });
        let (stop_reader, stop_reader_rx) = oneshot::channel();
        let (reader_back_tx, reader_back) = oneshot::channel();
        let reader = tokio::spawn(async move {
            if let Some((rd, unread)) = read_loop(id, rd, events, stop_reader_rx, unread).await {
                let _ = reader_back_tx.send((Box::new(rd) as Half, unread));
            }
        });
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
            stop_reader: Some(stop_reader),
            reader_back: Some(reader_back),
            stop_writer: Some(stop_writer),
            writer_back: Some(writer_back),
            read_half: None,
        }
    }

    /// Handover, first step: the reader stops at a message boundary (nothing more is read or
    /// delivered) and gives back the bytes it read past the last message it delivered. The
    /// writer goes on. Fails when the reader had already ended (the connection failed).
    pub async fn stop_reading(&mut self) -> Result<Vec<u8>, String> {
        let (Some(stop), Some(back)) = (self.stop_reader.take(), self.reader_back.take()) else {
            return Err("the reader was stopped before".into());
        };
        let _ = stop.send(());
        match tokio::time::timeout(HANDOVER_STOP, back).await {
            Ok(Ok((half, unread))) => {
                self.read_half = Some(half);
                Ok(unread.to_vec())
            }
            Ok(Err(_)) => Err("the connection's reader had ended".into()),
            Err(_) => Err("the connection's reader did not stop".into()),
        }
    }

    /// Handover, second step (after [`Self::stop_reading`]): the writer writes what it can of
    /// its queue for a moment and stops; the socket comes back whole, open, with the bytes not
    /// written. Only a TCP connection can be handed over.
    pub async fn hand_over(mut self) -> Result<HandedOver, String> {
        let read_half = self.read_half.take().ok_or("the reader is still running")?;
        let (Some(stop), Some(back)) = (self.stop_writer.take(), self.writer_back.take()) else {
            return Err("the writer was stopped before".into());
        };
        let _ = stop.send(());
        let (write_half, unwritten) = match tokio::time::timeout(HANDOVER_STOP, back).await {
            Ok(Ok(w)) => w,
            Ok(Err(_)) => return Err("the connection's writer had ended".into()),
            Err(_) => return Err("the connection's writer did not stop".into()),
        };
        // The writer is gone: nothing must tell it to close (Drop would).
        self.close = None;
        let (Ok(rd), Ok(wr)) = (read_half.downcast::<OwnedReadHalf>(), write_half.downcast::<OwnedWriteHalf>()) else {
            return Err("not a TCP connection".into());
        };
        let stream = rd.reunite(*wr).map_err(|e| e.to_string())?;
        let stream = stream.into_std().map_err(|e| e.to_string())?;
        Ok(HandedOver { stream, unwritten })
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

async fn read_loop<R: AsyncRead + Unpin>(
    id: u64,
    mut rd: R,
    events: mpsc::Sender<(u64, ConnEvent)>,
    mut stop: oneshot::Receiver<()>,
    mut buf: BytesMut,
) -> Option<(R, BytesMut)> {
    let framing = framing();
    loop {
        // What is buffered first: a handed-over connection starts with bytes in `buf`.
        let mut frames = Vec::new();
        let mut bad = None;
        loop {
            match header::parse(&buf, &framing) {
                Ok(Some(h)) if buf.len() >= h.length => frames.push(buf.split_to(h.length).freeze()),
                Ok(_) => break,
                Err(e) => {
                    bad = Some(e);
                    break;
                }
            }
        }
        if !frames.is_empty() {
            tokio::select! {
                biased;
                // A handover while the neighbor task is busy: these messages were not
                // delivered, so they go back with the rest.
                _ = &mut stop => {
                    let mut unread = BytesMut::new();
                    frames.iter().for_each(|f| unread.extend_from_slice(f));
                    unread.extend_from_slice(&buf);
                    return Some((rd, unread));
                }
                permit = events.reserve() => match permit {
                    Ok(p) => p.send((id, ConnEvent::Frames(frames))),
                    Err(_) => return None,
                },
            }
        }
        if let Some(e) = bad {
            let _ = events.send((id, ConnEvent::HeaderError(e))).await;
            return None;
        }
        buf.reserve(64 * 1024);
        tokio::select! {
            biased;
            // A read that has to wait has read nothing (read_buf is cancel safe).
            _ = &mut stop => return Some((rd, buf)),
            r = rd.read_buf(&mut buf) => match r {
                Ok(0) => {
                    let _ = events.send((id, ConnEvent::Closed(None))).await;
                    return None;
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = events.send((id, ConnEvent::Closed(Some(e.to_string())))).await;
                    return None;
                }
            },
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
    HandOver,
    Queued(Option<Out>),
    Wrote(std::io::Result<usize>),
    Sample,
}

impl<W: WriteSide> Writer<W> {
    /// Writes until told to close (`None`) or to hand the connection over: then it gives
    /// back its half and what it did not write.
    async fn run(
        mut self,
        mut close: oneshot::Receiver<Duration>,
        mut stop: oneshot::Receiver<()>,
    ) -> Option<(W, Vec<u8>)> {
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
                    r = &mut stop => if r.is_ok() { Step::HandOver } else { Step::Close(CLOSE_GRACE) },
                    out = self.rx.recv() => Step::Queued(out),
                    _ = sample.tick() => Step::Sample,
                },
                Some((b, done)) => tokio::select! {
                    biased;
                    g = &mut close => Step::Close(g.unwrap_or(CLOSE_GRACE)),
                    r = &mut stop => if r.is_ok() { Step::HandOver } else { Step::Close(CLOSE_GRACE) },
                    r = self.wr.write(&b[*done..]) => Step::Wrote(r),
                    _ = sample.tick() => Step::Sample,
                },
            };
            match step {
                Step::Close(grace) => break grace,
                Step::HandOver => return Some(self.hand_over(current).await),
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
                    return None;
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
        None
    }

    /// Stops for a handover: nothing new is taken; what is queued is written for at most
    /// [`HANDOVER_WRITE`] and the rest, the tail of the message being written first, given
    /// back with the write half. Nothing is shut down.
    async fn hand_over(mut self, current: Option<(Vec<u8>, usize)>) -> (W, Vec<u8>) {
        self.rx.close();
        let mut rest = current.map(|(b, done)| b[done..].to_vec()).unwrap_or_default();
        while let Ok(out) = self.rx.try_recv() {
            if let Out::Bytes(b) = out {
                rest.extend_from_slice(&b);
            }
        }
        let deadline = Instant::now() + HANDOVER_WRITE;
        let mut done = 0;
        while done < rest.len() {
            // A write that has to wait has written nothing: giving up on it loses nothing.
            match tokio::time::timeout_at(deadline, self.wr.write(&rest[done..])).await {
                Ok(Ok(n)) if n > 0 => done += n,
                _ => break,
            }
        }
        rest.drain(..done);
        (self.wr, rest)
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

    /// A connection handed over: the reader stops at a message boundary and gives back the
    /// part of a message it had read; the writer gives back what it did not write; the
    /// socket is never closed. Resumed with those bytes, the connection delivers the message
    /// whole once the rest arrives, and the peer gets every byte once, in order.
    #[tokio::test]
    async fn a_connection_is_handed_over_at_a_message_boundary_and_stays_open() {
        use keel_wire::Message;
        let (keel, mut peer) = pair().await;
        let (events, mut rx) = mpsc::channel(8);
        let mut c = Connection::start(1, keel, false, events).unwrap();
        let keepalive = Message::Keepalive.encode(&CodecOptions::default()).unwrap();
        let mut first = keepalive.clone();
        first.extend_from_slice(&keepalive[..7]);
        peer.write_all(&first).await.unwrap();
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some((1, ConnEvent::Frames(f)))) => assert_eq!(f, vec![Bytes::from(keepalive.clone())]),
            other => panic!("one whole KEEPALIVE first: {other:?}"),
        }
        let unread = c.stop_reading().await.unwrap();
        assert!(unread.len() <= 7 && keepalive.starts_with(&unread), "a part of the next message: {unread:?}");
        assert!(c.try_send(b"abc".to_vec()));
        let h = c.hand_over().await.unwrap();
        assert!(b"abc".ends_with(&h.unwritten), "what was not written: {:?}", h.unwritten);

        let stream = h.stream;
        stream.set_nonblocking(true).unwrap();
        let stream = TcpStream::from_std(stream).unwrap();
        let (events, mut rx) = mpsc::channel(8);
        let resumed = Connection::resume(2, stream, false, events, &unread).unwrap();
        let mut rest = h.unwritten.clone();
        rest.extend_from_slice(b"def");
        assert!(resumed.try_send(rest));
        peer.write_all(&keepalive[7..]).await.unwrap();
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some((2, ConnEvent::Frames(f)))) => assert_eq!(f, vec![Bytes::from(keepalive.clone())]),
            other => panic!("the KEEPALIVE cut in two arrives whole: {other:?}"),
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while got.len() < 6 {
            let n = tokio::time::timeout(Duration::from_secs(10), peer.read(&mut buf)).await.unwrap().unwrap();
            assert!(n > 0, "the connection was closed");
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"abcdef", "every byte once, in order");
        // Still open: nothing more, no FIN.
        assert!(tokio::time::timeout(Duration::from_millis(300), peer.read(&mut buf)).await.is_err());
    }
}
