//! `keel lab --netns`: keeld with the kernel FIB inside network namespaces the lab creates,
//! and a traffic flow whose lost packets it counts.
//!
//! ```text
//!  ns kl-PID-k: lab (upstream 127.77.N.1, observer .3, sender) <-BGP-> keeld (.2, kernel FIB,
//!               table 254 of this namespace); 198.18.0.0/15 and 2001:2::/48 on-link via kl-PID-a
//!               kl-PID-a 198.51.100.1/24
//!                   |  veth
//!  ns kl-PID-t: kl-PID-b 198.51.100.2/24, 198.18.0.1/15 (the table's next hop);
//!               `local 0.0.0.0/0 dev lo`: it accepts every destination; the receiver counts
//! ```
//!
//! The lab's main thread enters kl-PID-k (`setns`) before the runtime starts, so the
//! runtime's threads, the speakers' sockets and keeld (a child) all live there; the receiver
//! thread enters kl-PID-t. The sender sends [`RATE`] UDP packets a second, each with its
//! sequence number, round-robin to addresses inside the generated table's IPv4 prefixes:
//! they leave kl-PID-k only through keeld's kernel routes, so a packet is lost when no route
//! covers its destination (the send fails) or it does not arrive. Nothing touches the host's
//! own namespace beyond creating and deleting the two namespaces (deleting one removes its veth
//! end); all addresses are documentation (RFC 5737), benchmarking (RFC 2544, RFC 5180) or
//! loopback addresses.

use crate::netns::{veth, Entered, Namespace};
use anyhow::{bail, Context, Result};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Packets a second of the traffic flow.
pub const RATE: u64 = 1000;
/// The receiver's UDP port.
const PORT: u16 = 9;

/// The two namespaces; the main thread goes back to its own, then both are deleted, on drop.
pub struct Netns {
    /// Dropped first: the calling thread back in its own namespace.
    _entered: Entered,
    keel_ns: Namespace,
    traffic_ns: Namespace,
    pub keel: String,
    pub traffic: String,
}

impl Netns {
    /// Creates both namespaces and the veth pair, then moves the calling thread into the
    /// keel namespace (threads and processes it starts from then on live there too).
    pub fn create() -> Result<Netns> {
        let id = std::process::id();
        let (a, b) = (format!("kl-{id}-a"), format!("kl-{id}-b"));
        let k = Namespace::create(&format!("kl-{id}-k"))?;
        let t = Namespace::create(&format!("kl-{id}-t"))?;
        for ns in [&k, &t] {
            ns.sysctl("net.ipv4.conf.all.rp_filter=0")?;
            ns.sysctl("net.ipv4.conf.default.rp_filter=0")?;
        }
        veth(&k, &a, &t, &b)?;
        k.ip(&["addr", "add", "198.51.100.1/24", "dev", &a])?;
        k.ip(&["link", "set", &a, "up"])?;
        t.ip(&["addr", "add", "198.51.100.2/24", "dev", &b])?;
        t.ip(&["addr", "add", "198.18.0.1/15", "dev", &b])?;
        t.ip(&["link", "set", &b, "up"])?;
        // The generated table's next hops (198.18.0.1, 2001:2::1) are on the veth.
        k.ip(&["route", "add", "198.18.0.0/15", "dev", &a])?;
        k.ip(&["-6", "route", "add", "2001:2::/48", "dev", &a])?;
        // kl-t accepts packets to any IPv4 address (a `local` route in table local).
        t.ip(&["route", "add", "local", "0.0.0.0/0", "dev", "lo"])?;
        let entered = k.enter()?;
        Ok(Netns {
            _entered: entered,
            keel: k.name().to_string(),
            traffic: t.name().to_string(),
            keel_ns: k,
            traffic_ns: t,
        })
    }

    /// The namespace the traffic's receiver lives in.
    pub fn traffic_namespace(&self) -> &Namespace {
        &self.traffic_ns
    }

    /// The namespace keeld and the lab's speakers live in.
    pub fn keel_namespace(&self) -> &Namespace {
        &self.keel_ns
    }
}

/// The traffic flow: a sender in the current thread's namespace (kl-k), a receiver in kl-t.
pub struct Traffic {
    sent: Arc<AtomicU64>,
    /// One bit per sequence number received.
    received: Arc<Mutex<Vec<u64>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Traffic {
    pub fn start(ns: &Netns, destinations: Vec<Ipv4Addr>) -> Result<Traffic> {
        if destinations.is_empty() {
            bail!("no IPv4 destination in the table for the traffic flow");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let received: Arc<Mutex<Vec<u64>>> = Arc::default();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<()>>();
        let (stop_r, received_r) = (stop.clone(), received.clone());
        let traffic = ns.traffic.clone();
        let receiver = std::thread::Builder::new().name("lab-receiver".into()).spawn(move || {
            // The receiver thread stays in kl-t until it ends.
            let socket = crate::netns::enter(&traffic).and_then(|entered| {
                let s = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT)).context("receiver socket")?;
                s.set_read_timeout(Some(Duration::from_millis(100)))?;
                Ok((entered, s))
            });
            let (_entered, socket) = match socket {
                Ok(s) => {
                    let _ = ready_tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let mut buf = [0u8; 64];
            while !stop_r.load(Ordering::Relaxed) {
                let Ok(n) = socket.recv(&mut buf) else { continue };
                let Some(seq) = buf.get(..8).filter(|_| n >= 8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes)
                else {
                    continue;
                };
                let (word, bit) = ((seq / 64) as usize, seq % 64);
                let mut r = received_r.lock().unwrap_or_else(|e| e.into_inner());
                if r.len() <= word {
                    r.resize(word + 1, 0);
                }
                r[word] |= 1 << bit;
            }
        })?;
        let mut threads = vec![receiver];
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => bail!("the receiver thread ended"),
        }
        let socket = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).context("sender socket")?;
        let (stop_s, sent_s) = (stop.clone(), sent.clone());
        threads.push(std::thread::Builder::new().name("lab-sender".into()).spawn(move || {
            let t0 = Instant::now();
            let mut seq = 0u64;
            while !stop_s.load(Ordering::Relaxed) {
                let due = t0.elapsed().as_micros() as u64 * RATE / 1_000_000;
                while seq < due {
                    let to = destinations[(seq % destinations.len() as u64) as usize];
                    // A failed send (no route) is a lost packet like one that never arrives.
                    let _ = socket.send_to(&seq.to_be_bytes(), SocketAddrV4::new(to, PORT));
                    seq += 1;
                    sent_s.store(seq, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })?);
        Ok(Traffic { sent, received, stop, threads })
    }

    /// Packets sent so far (the next sequence number).
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Whether the packets of the last [`RATE`]/4 sequence numbers but the newest 50 (still on
    /// their way) all arrived.
    pub fn forwarding(&self) -> bool {
        let to = self.sent().saturating_sub(50);
        let from = to.saturating_sub(RATE / 4);
        to > from && self.missing(from, to) == 0
    }

    fn missing(&self, from: u64, to: u64) -> u64 {
        let r = self.received.lock().unwrap_or_else(|e| e.into_inner());
        let arrived = (from..to).filter(|&s| r.get((s / 64) as usize).is_some_and(|w| w & (1 << (s % 64)) != 0));
        to.saturating_sub(from) - arrived.count() as u64
    }

    /// Packets with sequence numbers in `from..to` that did not arrive. Waits a moment first
    /// for packets still on their way.
    pub async fn lost(&self, from: u64, to: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.missing(from, to)
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Up to 256 addresses spread over the table's IPv4 prefixes (the first host of each),
/// outside the ranges of the namespaces' own addresses.
pub fn destinations(prefixes: &[keel_wire::Prefix]) -> Vec<Ipv4Addr> {
    let v4: Vec<(Ipv4Addr, u8)> = prefixes
        .iter()
        .filter_map(|p| match p.addr() {
            std::net::IpAddr::V4(a) => Some((a, p.len())),
            std::net::IpAddr::V6(_) => None,
        })
        .filter(|(a, _)| {
            let o = a.octets();
            let benchmarking = o[0] == 198 && (o[1] & 0xfe) == 18;
            let veth = o[..3] == [198, 51, 100];
            !benchmarking && !veth
        })
        .collect();
    let step = (v4.len() / 256).max(1);
    v4.iter()
        .step_by(step)
        .take(256)
        .map(|(a, len)| if *len >= 32 { *a } else { Ipv4Addr::from(u32::from(*a) + 1) })
        .collect()
}
