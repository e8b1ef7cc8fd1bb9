//! Issue 16, defect 3: when the send hold timer expires (RFC 9687), keeld must release the
//! connection, not leave it ESTABLISHED with its table queued towards a peer that stopped
//! reading.
//!
//! A scripted peer with a small receive buffer establishes a session, then keeps sending
//! KEEPALIVEs (keeld's own hold timer stays satisfied) but never reads again: the zero receive
//! window of RFC 9687 §3. keeld has a few thousand `[[network]]`s to advertise to it, far more
//! than the two sockets' buffers hold.

use crate::common::*;
use keel_lab::speaker::{self, SessionReader, SessionWriter, SpeakerConfig};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::net::TcpSocket;

const ME: u8 = 74;
const PEER: u8 = 75;
/// Each network has its own communities, so each goes out in an UPDATE of its own (~120 octets):
/// about 700 kB in all.
const NETWORKS: usize = 6000;
const CYCLES: usize = 3;
/// What the log says on expiry (RFC 9687 §4.3: an error is logged).
const EXPIRED: &str = "send hold timer expired";
/// TCP_ESTABLISHED in /proc/net/tcp.
const ESTABLISHED: u8 = 1;

/// keeld with one passive neighbor, hold time 3 s and send_hold_time 4 s: the send hold limit
/// is then twice the hold time, 6 s (RFC 9687 §6).
fn config(dir: &Path) -> String {
    let mut c = format!(
        "[global]\nasn = 650{ME}\nrouter_id = \"192.0.2.{ME}\"\nlisten = [\"127.0.0.{ME}:179\"]\n\
         api = \"{}\"\nstate_dir = \"{}\"\n\
         [[neighbor]]\naddress = \"127.0.0.{PEER}\"\nasn = 650{PEER}\nlocal_address = \"127.0.0.{ME}\"\n\
         passive = true\nhold_time = 3\nsend_hold_time = 4\nimport = \"all\"\nexport = \"all\"\n",
        dir.join("keel.sock").display(),
        dir.display()
    );
    let padding: Vec<String> = (1..16).map(|k| format!("\"64512:{k}\"")).collect();
    let padding = padding.join(", ");
    for i in 0..NETWORKS {
        c.push_str(&format!(
            "[[network]]\nprefix = \"10.{}.{}.0/24\"\ncommunities = [\"650{ME}:{i}\", {padding}]\n",
            i / 256,
            i % 256
        ));
    }
    c
}

/// keeld's ends of connections to the peer, from /proc/net/tcp: (peer's port, TCP state).
fn keeld_sockets() -> Vec<(u16, u8)> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let addr = |s: &str| -> Option<(Ipv4Addr, u16)> {
        let (ip, port) = s.split_once(':')?;
        // The kernel prints the address as the native-endian value of its network-order u32.
        let ip = Ipv4Addr::from(u32::from_str_radix(ip, 16).ok()?.to_ne_bytes());
        Some((ip, u16::from_str_radix(port, 16).ok()?))
    };
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (local, remote) = (addr(f.get(1)?)?, addr(f.get(2)?)?);
            let state = u8::from_str_radix(f.get(3)?, 16).ok()?;
            (local == (Ipv4Addr::new(127, 0, 0, ME), 179) && remote.0 == Ipv4Addr::new(127, 0, 0, PEER))
                .then_some((remote.1, state))
        })
        .collect()
}

fn expiries(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("keeld.log")).unwrap_or_default().matches(EXPIRED).count()
}

/// A session from a socket with a small receive buffer, so keeld's UPDATEs fill it at once.
/// With `small_mss` the peer also announces a small MSS, from which the kernel sizes keeld's
/// send buffer (a few tens of kB instead of the 4 MB of loopback's 64 kB MSS): keeld's writer
/// then blocks in a write; without, the whole table fits in the kernel and keeld's writer is
/// idle while nothing moves.
async fn connect(cfg: &SpeakerConfig, small_mss: bool) -> std::io::Result<(SessionReader, SessionWriter, u16)> {
    let socket = TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    if small_mss {
        socket2::SockRef::from(&socket).set_mss(536)?;
    }
    socket.bind(SocketAddr::new(cfg.local, 0))?;
    let port = socket.local_addr()?.port();
    let stream = socket.connect(cfg.remote).await?;
    let (rd, wr, _) = speaker::handshake(cfg, stream).await?;
    Ok((rd, wr, port))
}

#[test]
fn send_hold_timer_expiry_releases_the_connection() {
    let dir = std::env::temp_dir().join(format!("keel-test-sendhold-{ME}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let keeld = start_with_config(dir.clone(), &config(&dir));
    wait_for("keeld's API", WAIT, || json(&keeld.api(), &["show", "neighbors", "--json"]));
    let cfg = SpeakerConfig { hold_time: 3, ..crate::common::session::speaker_config(PEER, ME, None) };
    let rt = tokio::runtime::Runtime::new().unwrap();
    // The peer's reading halves: a stuck peer keeps its end open, so nothing but keeld itself
    // can release keeld's end.
    let mut stuck = Vec::new();
    for cycle in 1..=CYCLES {
        let small_mss = cycle % 2 == 1;
        let (rd, mut wr, port) = wait_for("session established", WAIT, || rt.block_on(connect(&cfg, small_mss)).ok());
        rt.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if wr.keepalive().await.is_err() {
                    return;
                }
            }
        });
        let what = format!("cycle {cycle} (small MSS: {small_mss}): the send hold timer to expire");
        wait_for(&what, WAIT, || (expiries(&dir) >= cycle).then_some(()));
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left: Vec<_> = keeld_sockets().into_iter().filter(|&(p, _)| p == port).collect();
            if left.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "cycle {cycle} (small MSS: {small_mss}): 5 s after the send hold timer expired, keeld's end of the connection \
                 127.0.0.{ME}:179 <-> 127.0.0.{PEER}:{port} is still there (TCP state {:?}; 1 = ESTABLISHED)",
                left.iter().map(|l| l.1).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        stuck.push(rd);
    }
    let zombies: Vec<_> = keeld_sockets().into_iter().filter(|&(_, s)| s == ESTABLISHED).collect();
    assert!(zombies.is_empty(), "ESTABLISHED sockets left at keeld after {CYCLES} expiries: {zombies:?}");
    // When the peer reads at last, it finds the end of the connection (keeld reset it) after
    // what its small buffer held, not an endless stream.
    for (i, mut rd) in stuck.into_iter().enumerate() {
        let read_to_end = async {
            loop {
                match rd.next().await {
                    Ok(Some(_)) => continue,
                    Ok(None) => return "EOF".to_string(),
                    Err(e) => return e.to_string(),
                }
            }
        };
        let end = rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), read_to_end).await });
        assert!(end.is_ok(), "session {}: the peer still reads data 5 s after the expiry", i + 1);
    }
    assert_eq!(expiries(&dir), CYCLES, "one expiry per stuck session");
}
