//! Scripted neighbors for tests: keel's own speaker (`keel_lab::speaker`) kept Established in the
//! background, and raw TCP connections from a neighbor's address that say as little as a test
//! wants (a port check, half a header).

use keel_lab::speaker::{self, SpeakerConfig};
use keel_wire::capability::GracefulRestart;
use keel_wire::{CodecOptions, Family, Message, NextHop, Nlri, PathAttributes, Update};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A speaker at 127.0.0.`me` (AS 65000+me, BGP Identifier 192.0.2.`me`) towards keeld at
/// 127.0.0.`keeld`, IPv4 unicast, with the GR capability `gr` if any.
pub fn speaker_config(me: u8, keeld: u8, gr: Option<GracefulRestart>) -> SpeakerConfig {
    SpeakerConfig {
        local: IpAddr::V4(Ipv4Addr::new(127, 0, 0, me)),
        remote: SocketAddr::from(([127, 0, 0, keeld], 179)),
        asn: 65000 + me as u32,
        router_id: Ipv4Addr::new(192, 0, 2, me),
        hold_time: 90,
        families: vec![Family::IPV4_UNICAST],
        graceful_restart: gr,
        long_lived: Vec::new(),
    }
}

/// `prefix` from the speaker at 127.0.0.`me` (AS path: its AS, next hop: its address).
pub fn announce_only(me: u8, prefix: &str) -> Vec<u8> {
    let attrs = PathAttributes {
        origin: Some(keel_wire::Origin::Igp),
        as_path: Some(keel_wire::AsPath::sequence(vec![65000 + me as u32])),
        ..Default::default()
    };
    let mut out = Vec::new();
    keel_wire::builder::announce(
        Family::IPV4_UNICAST,
        &attrs,
        NextHop::V4(Ipv4Addr::new(127, 0, 0, me)),
        &[Nlri::new(prefix.parse().expect("test prefix"))],
        &CodecOptions::default(),
        &mut out,
    )
    .expect("encode UPDATE");
    out
}

/// [`announce_only`], then End-of-RIB.
pub fn announce(me: u8, prefix: &str) -> Vec<u8> {
    let mut out = announce_only(me, prefix);
    out.extend(Update::end_of_rib(Family::IPV4_UNICAST).encode(&CodecOptions::default()).expect("encode EoR"));
    out
}

/// An Established session kept up in the background.
pub struct Session {
    /// Ends when keeld closes the connection, with whether a NOTIFICATION came first.
    pub ended: JoinHandle<bool>,
    send: mpsc::UnboundedSender<Vec<u8>>,
}

impl Session {
    /// Queues `bytes` (whole messages) for the peer.
    pub fn send(&self, bytes: Vec<u8>) {
        let _ = self.send.send(bytes);
    }
}

/// Completes a session, sends `updates`, then keeps it up: a KEEPALIVE a second (keeld's hold
/// time in these tests is 9 s) and whatever [`Session::send`] queues; what keeld sends is read
/// and dropped.
pub async fn keep_session(cfg: &SpeakerConfig, updates: &[u8]) -> Session {
    let (mut rd, mut wr, _) = speaker::connect(cfg).await.expect("session");
    wr.send(updates).await.expect("send UPDATEs");
    let (send, mut queued) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let r = tokio::select! {
                _ = tick.tick() => wr.keepalive().await,
                Some(b) = queued.recv() => wr.send(&b).await,
            };
            if r.is_err() {
                return;
            }
        }
    });
    let ended = tokio::spawn(async move {
        let mut notified = false;
        while let Ok(Some(m)) = rd.next().await {
            notified |= matches!(m, Message::Notification(_));
        }
        writer.abort();
        notified
    });
    Session { ended, send }
}

/// A TCP connection from 127.0.0.`from` to port 179 of 127.0.0.`to` that sends `bytes`.
pub async fn bare_connect(from: u8, to: u8, bytes: &[u8]) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::from(([127, 0, 0, from], 0))).expect("bind to the test address");
    let mut stream = socket.connect(SocketAddr::from(([127, 0, 0, to], 179))).await.expect("connect");
    if !bytes.is_empty() {
        stream.write_all(bytes).await.expect("write");
    }
    stream
}

/// Reads until at least `want` bytes came or the connection ended, for up to 20 s; what was
/// read, and whether the connection ended (EOF or reset).
pub async fn read_some(stream: &mut TcpStream, want: usize) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let r = tokio::time::timeout(Duration::from_secs(20), async {
        while got.len() < want {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        false
    })
    .await;
    assert!(r.is_ok(), "keeld neither answered nor closed the connection in 20 s");
    (got, r.unwrap_or(false))
}

/// Reads until keeld closes the connection, for up to 20 s; everything it sent.
pub async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let (got, closed) = read_some(stream, usize::MAX).await;
    assert!(closed);
    got
}

/// The BGP messages in `bytes` (RFC 4271 §4.1 framing) as (type, body), up to the first
/// incomplete one.
pub fn messages(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= 19 {
        let len = u16::from_be_bytes([bytes[16], bytes[17]]) as usize;
        if len < 19 || bytes.len() < len {
            break;
        }
        out.push((bytes[18], bytes[19..len].to_vec()));
        bytes = &bytes[len..];
    }
    out
}

/// The (code, subcode) of the NOTIFICATIONs in `bytes`.
pub fn notifications(bytes: &[u8]) -> Vec<(u8, u8)> {
    messages(bytes).into_iter().filter(|(t, b)| *t == 3 && b.len() >= 2).map(|(_, b)| (b[0], b[1])).collect()
}
