//! A raw BGP peer on a plain TCP socket, for the tests that send keel exact (or broken)
//! messages: connect from a chosen address, hand-made OPENs, read what keel answers, keep a
//! session alive from a thread as a bystander.

use keel_lab::wait::wait_for;
use keel_wire::capability::{GracefulRestart, GracefulRestartFamily};
use keel_wire::{Capability, CodecOptions, Family, Message, Notification, Open};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::common::DEADLINE;

/// What reading from the raw socket gave.
#[derive(Debug)]
pub enum Recv {
    Message(Box<Message>),
    /// Bytes keel sent that do not decode (a test failure in itself), described.
    Garbage(String),
    Timeout,
    Closed,
}

pub struct RawPeer {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawPeer {
    /// Connects from `local` (port chosen by the kernel) to keel, retrying until keel listens.
    pub fn connect(local: &str, remote: SocketAddr) -> RawPeer {
        let local: IpAddr = local.parse().unwrap();
        let stream = wait_for(&format!("TCP connection {local} -> {remote}"), DEADLINE, || {
            let s =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).map_err(|e| e.to_string())?;
            s.bind(&SocketAddr::new(local, 0).into()).map_err(|e| e.to_string())?;
            s.connect_timeout(&remote.into(), Duration::from_secs(2)).map_err(|e| e.to_string())?;
            Ok(TcpStream::from(s))
        });
        stream.set_nodelay(true).unwrap();
        RawPeer { stream, buf: Vec::new() }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap_or_else(|e| panic!("raw peer write: {e}"));
    }

    pub fn send_message(&mut self, m: &Message) {
        let b = m.encode(&CodecOptions::default()).expect("encode");
        self.send(&b);
    }

    /// Reads one message, waiting at most `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> Recv {
        let until = Instant::now() + timeout;
        loop {
            if self.buf.len() >= 19 {
                let len = u16::from_be_bytes([self.buf[16], self.buf[17]]) as usize;
                if len < 19 {
                    return Recv::Garbage(format!("header with length {len}: {:02x?}", std::mem::take(&mut self.buf)));
                }
                if self.buf.len() >= len {
                    let frame: Vec<u8> = self.buf.drain(..len).collect();
                    let opts = CodecOptions { extended_message: true, ..CodecOptions::default() };
                    return match Message::decode(&frame, &opts) {
                        Ok(m) => Recv::Message(Box::new(m)),
                        Err(e) => Recv::Garbage(format!("{e}: {frame:02x?}")),
                    };
                }
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Recv::Timeout;
            }
            self.stream.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Recv::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return Recv::Closed,
            }
        }
    }

    /// Reads until a NOTIFICATION arrives (skipping OPEN, KEEPALIVE, UPDATE) and returns it.
    pub fn expect_notification(&mut self, timeout: Duration) -> Notification {
        let until = Instant::now() + timeout;
        loop {
            match self.recv(until.saturating_duration_since(Instant::now())) {
                Recv::Message(m) => {
                    if let Message::Notification(n) = *m {
                        return n;
                    }
                }
                Recv::Garbage(g) => panic!("keel sent a message that does not decode: {g}"),
                other => panic!("expected a NOTIFICATION from keel, got {other:?}"),
            }
        }
    }

    /// Reads until the connection closes, failing on anything but KEEPALIVE.
    pub fn expect_closed(&mut self, timeout: Duration) {
        let until = Instant::now() + timeout;
        loop {
            match self.recv(until.saturating_duration_since(Instant::now())) {
                Recv::Closed => return,
                Recv::Message(m) if matches!(*m, Message::Keepalive) => {}
                other => panic!("expected keel to close the connection, got {other:?}"),
            }
        }
    }

    /// Sends `open`, expects keel's OPEN, then exchanges KEEPALIVEs: the session is
    /// Established on both sides. Returns keel's OPEN.
    pub fn handshake(&mut self, open: &Open) -> Open {
        self.send_message(&Message::Open(open.clone()));
        let keel_open = match self.recv(Duration::from_secs(10)) {
            Recv::Message(m) => match *m {
                Message::Open(o) => o,
                other => panic!("expected keel's OPEN, got {other:?}"),
            },
            other => panic!("expected keel's OPEN, got {other:?}"),
        };
        self.send_message(&Message::Keepalive);
        match self.recv(Duration::from_secs(10)) {
            Recv::Message(m) if matches!(*m, Message::Keepalive) => {}
            other => panic!("expected keel's KEEPALIVE, got {other:?}"),
        }
        keel_open
    }

    /// Keeps the session alive from a thread: answers with a KEEPALIVE every second and
    /// records everything keel sends.
    pub fn keep_alive(self) -> Bystander {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (stop2, log2) = (stop.clone(), log.clone());
        let mut peer = self;
        let thread = std::thread::spawn(move || {
            let mut last = Instant::now();
            while !stop2.load(Ordering::Relaxed) {
                if last.elapsed() >= Duration::from_secs(1) {
                    let b = Message::Keepalive.encode(&CodecOptions::default()).unwrap();
                    if peer.stream.write_all(&b).is_err() {
                        log2.lock().unwrap().push("write failed".to_string());
                        return;
                    }
                    last = Instant::now();
                }
                match peer.recv(Duration::from_millis(200)) {
                    Recv::Timeout => {}
                    Recv::Message(m) if matches!(*m, Message::Keepalive | Message::Update(_)) => {}
                    Recv::Closed => {
                        log2.lock().unwrap().push("connection closed".to_string());
                        return;
                    }
                    Recv::Garbage(g) => log2.lock().unwrap().push(format!("undecodable message: {g}")),
                    other => log2.lock().unwrap().push(format!("{other:?}")),
                }
            }
        });
        Bystander { stop, log, thread: Some(thread) }
    }
}

/// A raw session kept up by a thread, to show that other neighbors' trouble leaves it alone.
pub struct Bystander {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl Bystander {
    /// Events other than KEEPALIVE and UPDATE seen so far (NOTIFICATION, close, ...).
    pub fn trouble(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Bystander {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An OPEN for a raw peer: IPv4 and IPv6 unicast, route refresh, graceful restart (helper).
pub fn raw_open(asn: u32, hold_time: u16, router_id: Ipv4Addr) -> Open {
    Open::new(
        asn,
        hold_time,
        router_id,
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            Capability::RouteRefresh,
            Capability::GracefulRestart(GracefulRestart {
                restart_state: false,
                notification: false,
                restart_time: 60,
                families: vec![GracefulRestartFamily { family: Family::IPV4_UNICAST, forwarding_state: false }],
            }),
        ],
    )
}

/// Encodes an OPEN.
pub fn encode_open(open: &Open) -> Vec<u8> {
    Message::Open(open.clone()).encode(&CodecOptions::default()).expect("encode OPEN")
}
