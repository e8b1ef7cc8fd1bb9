//! A small BGP speaker for benchmarks, rehearsals and tests: it opens a session from a given
//! local address, sends pre-encoded UPDATE streams and reads what the other side sends. It
//! keeps no RIB; callers record what they need.

use bytes::BytesMut;
use keel_wire::capability::{GracefulRestart, LongLivedFamily};
use keel_wire::{header, Capability, CodecOptions, Family, Message, Open};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpSocket;

#[derive(Debug, Clone)]
pub struct SpeakerConfig {
    pub local: IpAddr,
    pub remote: SocketAddr,
    pub asn: u32,
    pub router_id: Ipv4Addr,
    pub hold_time: u16,
    pub families: Vec<Family>,
    pub graceful_restart: Option<GracefulRestart>,
    /// RFC 9494 §3 capability; sent only with `graceful_restart` (§4.1).
    pub long_lived: Vec<LongLivedFamily>,
}

impl SpeakerConfig {
    pub fn open(&self) -> Open {
        let mut caps: Vec<Capability> = self.families.iter().map(|f| Capability::Multiprotocol(*f)).collect();
        caps.push(Capability::RouteRefresh);
        caps.push(Capability::ExtendedMessage);
        if let Some(g) = &self.graceful_restart {
            caps.push(Capability::GracefulRestart(g.clone()));
            if !self.long_lived.is_empty() {
                caps.push(Capability::LongLivedGracefulRestart(self.long_lived.clone()));
            }
        }
        Open::new(self.asn, self.hold_time, self.router_id, caps)
    }
}

/// Reading half of an Established session.
pub struct SessionReader {
    rd: OwnedReadHalf,
    buf: BytesMut,
    pub codec: CodecOptions,
}

/// Writing half of an Established session.
pub struct SessionWriter {
    wr: OwnedWriteHalf,
}

fn invalid(e: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl SessionReader {
    /// The next message; `Ok(None)` when the peer closed the connection.
    pub async fn next(&mut self) -> io::Result<Option<Message>> {
        loop {
            let framing = CodecOptions { extended_message: true, ..CodecOptions::default() };
            if let Some(h) = header::parse(&self.buf, &framing).map_err(invalid)? {
                if self.buf.len() >= h.length {
                    let frame = self.buf.split_to(h.length);
                    return Message::decode(&frame, &self.codec).map(Some).map_err(invalid);
                }
            }
            self.buf.reserve(64 * 1024);
            if self.rd.read_buf(&mut self.buf).await? == 0 {
                return Ok(None);
            }
        }
    }
}

impl SessionWriter {
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.wr.write_all(bytes).await
    }
    pub async fn keepalive(&mut self) -> io::Result<()> {
        self.send(&Message::Keepalive.encode(&CodecOptions::default()).map_err(invalid)?).await
    }
    pub async fn close(mut self) {
        let _ = self.wr.shutdown().await;
    }
}

/// Connects, exchanges OPEN and KEEPALIVE, and returns the Established session with the
/// other side's OPEN.
pub async fn connect(cfg: &SpeakerConfig) -> io::Result<(SessionReader, SessionWriter, Open)> {
    connect_with(cfg, cfg.open()).await
}

/// Accepts one session on `listener` (the passive side, as a monitor of a direct baseline
/// does) and completes it like [`connect`].
pub async fn accept(
    cfg: &SpeakerConfig,
    listener: &tokio::net::TcpListener,
) -> io::Result<(SessionReader, SessionWriter, Open)> {
    let (stream, _) = listener.accept().await?;
    handshake(cfg, stream).await
}

/// Completes the session on a connection the caller opened itself (to set socket options
/// such as a small receive buffer first), like [`connect`].
pub async fn handshake(
    cfg: &SpeakerConfig,
    stream: tokio::net::TcpStream,
) -> io::Result<(SessionReader, SessionWriter, Open)> {
    handshake_with(cfg.open(), stream).await
}

/// [`connect`] with an OPEN of the caller's (more capabilities than [`SpeakerConfig::open`],
/// such as Add-Path receive); `cfg` gives the addresses.
pub async fn connect_with(cfg: &SpeakerConfig, open: Open) -> io::Result<(SessionReader, SessionWriter, Open)> {
    let socket = if cfg.remote.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.bind(SocketAddr::new(cfg.local, 0))?;
    let stream = socket.connect(cfg.remote).await?;
    handshake_with(open, stream).await
}

/// [`handshake`] sending `local_open`. The reader decodes path ids (RFC 7911) for the families
/// where this OPEN said receive and the other side's said send.
pub async fn handshake_with(
    local_open: Open,
    stream: tokio::net::TcpStream,
) -> io::Result<(SessionReader, SessionWriter, Open)> {
    stream.set_nodelay(true)?;
    let (rd, wr) = stream.into_split();
    let mut reader = SessionReader { rd, buf: BytesMut::with_capacity(64 * 1024), codec: CodecOptions::default() };
    let mut writer = SessionWriter { wr };
    writer.send(&Message::Open(local_open.clone()).encode(&CodecOptions::default()).map_err(invalid)?).await?;
    let remote = match reader.next().await? {
        Some(Message::Open(o)) => o,
        other => return Err(invalid(format!("expected OPEN, got {other:?}"))),
    };
    let extended = local_open.has(keel_wire::capability::code::EXTENDED_MESSAGE)
        && remote.has(keel_wire::capability::code::EXTENDED_MESSAGE);
    let theirs = remote.add_path();
    let add_path = local_open
        .add_path()
        .into_iter()
        .filter(|ours| ours.receive && theirs.iter().any(|t| t.family == ours.family && t.send))
        .map(|ours| ours.family)
        .collect();
    reader.codec = CodecOptions { four_octet_as: true, extended_message: extended, add_path };
    writer.keepalive().await?;
    loop {
        match reader.next().await? {
            Some(Message::Keepalive) => return Ok((reader, writer, remote)),
            Some(Message::Notification(n)) => return Err(invalid(format!("NOTIFICATION {}", n.describe()))),
            Some(_) => {}
            None => return Err(invalid("connection closed during the handshake")),
        }
    }
}
