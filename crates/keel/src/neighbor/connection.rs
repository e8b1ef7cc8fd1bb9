//! One TCP connection of a neighbor: a reader task that cuts the byte stream into messages
//! (RFC 4271 §4.1 framing) and a writer task fed by a bounded queue, so a slow peer pushes
//! back on whoever writes to it and never on the other neighbors.

use bytes::{Bytes, BytesMut};
use keel_wire::{header, CodecOptions, WireError};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What a writer task is asked to do.
#[derive(Debug)]
pub enum Out {
    /// Whole encoded messages, possibly several back to back.
    Bytes(Vec<u8>),
    /// Flush and close the connection.
    Close,
}

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
    /// When the write in progress started (milliseconds since `epoch`), 0 when idle: a peer
    /// that stops reading leaves it set (RFC 9687 send hold timer).
    busy_since: Arc<AtomicU64>,
    epoch: std::time::Instant,
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
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (writer, rx) = mpsc::channel(WRITE_QUEUE);
        let busy_since = Arc::new(AtomicU64::new(0));
        let epoch = std::time::Instant::now();
        tokio::spawn(write_loop(id, wr, rx, events.clone(), busy_since.clone(), epoch));
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
            busy_since,
            epoch,
        }
    }

    /// How long the peer has not taken what keel writes (RFC 9687 §3), if it is stuck.
    pub fn send_stalled_for(&self) -> Option<Duration> {
        let since = self.busy_since.load(Ordering::Relaxed);
        (since != 0).then(|| self.epoch.elapsed().saturating_sub(Duration::from_millis(since)))
    }

    /// Queues bytes without waiting; false if the queue is full or closed.
    pub fn try_send(&self, bytes: Vec<u8>) -> bool {
        self.writer.try_send(Out::Bytes(bytes)).is_ok()
    }

    /// Stops reading at once; what was queued (a NOTIFICATION, say) is still written, then the
    /// connection closes.
    pub fn close(self) {
        self.reader.abort();
        let w = self.writer;
        tokio::spawn(async move {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), w.send(Out::Close)).await;
        });
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

async fn write_loop<W: AsyncWrite + Unpin>(
    id: u64,
    mut wr: W,
    mut rx: mpsc::Receiver<Out>,
    events: mpsc::Sender<(u64, ConnEvent)>,
    busy_since: Arc<AtomicU64>,
    epoch: std::time::Instant,
) {
    while let Some(out) = rx.recv().await {
        match out {
            Out::Bytes(b) => {
                busy_since.store((epoch.elapsed().as_millis() as u64).max(1), Ordering::Relaxed);
                let r = wr.write_all(&b).await;
                busy_since.store(0, Ordering::Relaxed);
                if let Err(e) = r {
                    let _ = events.send((id, ConnEvent::Closed(Some(e.to_string())))).await;
                    return;
                }
            }
            Out::Close => break,
        }
    }
    let _ = wr.shutdown().await;
}
