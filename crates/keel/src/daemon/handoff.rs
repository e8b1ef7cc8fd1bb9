//! `keel upgrade`'s handoff at the daemon's level (docs/upgrade.md): the old image quiesces
//! every Established session, has the RIB task write the RIBs, takes each session's state and
//! socket and writes it all into a memfd ([`hand_off`], steps O1-O5); the new image reads it
//! back before it opens anything ([`take`], N1).
//!
//! The carrier is a sealed memfd without close-on-exec, whose number the new image gets as
//! `keeld --handoff-fd N`. An unreadable state (fallback B) is logged with the reason, every
//! inherited descriptor is closed so that neighbors see the TCP connections end as after a
//! crash, and keeld starts as a graceful restart.

use super::Daemon;
use crate::events::{FibCommand, RibEvent};
use crate::neighbor::handoff::afi_safi;
use crate::neighbor::task::Command;
use keel_handoff::state::DaemonFacts;
use keel_handoff::Handoff;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::IntoRawFd;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

/// A memfd holding `state`, sealed against change, without close-on-exec.
pub fn write_memfd(state: &[u8]) -> std::io::Result<OwnedFd> {
    let name = c"keel-handoff";
    // SAFETY: `name` is a valid NUL-terminated string; the flags are plain bits.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: memfd_create just returned this descriptor, owned by nothing else.
    let mut file = unsafe { File::from_raw_fd(fd) };
    file.write_all(state)?;
    file.seek(SeekFrom::Start(0))?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on a descriptor we own.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(OwnedFd::from(file))
}

/// Reads and decodes the state in descriptor `fd` (taken over and closed), from its start.
pub fn read_state(fd: RawFd) -> Result<Handoff, String> {
    // SAFETY: F_GETFD only asks whether `fd` is open.
    if fd < 3 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(format!("descriptor {fd} is not an open state"));
    }
    // SAFETY: the old image left `fd` open for this process alone, and nothing else in this
    // process took it: keeld reads it before it opens anything.
    let mut file = unsafe { File::from_raw_fd(fd) };
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0)).and_then(|_| file.read_to_end(&mut bytes)).map_err(|e| e.to_string())?;
    Handoff::decode(&bytes).map_err(|e| e.to_string())
}

/// Closes every descriptor above stderr: the inherited session and listening sockets of a
/// handoff that is not resumed. Neighbors see the connections end as after a crash (no
/// NOTIFICATION), so graceful-restart helpers keep keel's routes (RFC 4724 §4.2).
fn close_inherited() {
    // SAFETY: close_range only closes descriptors; nothing in this process uses any above 2
    // yet (keeld calls this before it opens anything).
    if unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) } == 0 {
        return;
    }
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else { return };
    let fds: Vec<RawFd> = dir.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect();
    for fd in fds.into_iter().filter(|fd| *fd > 2) {
        // SAFETY: as above.
        unsafe { libc::close(fd) };
    }
}

/// `keeld --handoff-fd N`, before anything else is opened: the state, or (fallback B) the
/// reason it cannot be read, after closing every inherited descriptor.
pub fn take(fd: RawFd) -> Result<Handoff, String> {
    let mut h = read_state(fd).map_err(|e| {
        close_inherited();
        format!("handoff state unreadable: {e}")
    })?;
    sockets_only(&mut h);
    Ok(h)
}

/// Keeps the sessions and listeners whose descriptor is an open socket of this process, each
/// named once: the state says which descriptors to take over, and nothing else may be taken
/// (closed, written to) on its word. What is dropped is logged.
fn sockets_only(h: &mut Handoff) {
    let mut seen = std::collections::HashSet::new();
    let mut usable = |fd: RawFd| fd > 2 && is_socket(fd) && seen.insert(fd);
    h.neighbors.retain(|n| {
        let ok = usable(n.fd);
        if !ok {
            warn!(neighbor = %n.address, fd = n.fd, "handed-over session's descriptor is not a socket of this process: not resumed");
        }
        ok
    });
    h.listeners.retain(|l| {
        let ok = usable(l.fd);
        if !ok {
            warn!(address = %l.address, fd = l.fd, "handed-over listener's descriptor is not a socket of this process: bound again");
        }
        ok
    });
}

/// Whether `fd` is open and a socket.
fn is_socket(fd: RawFd) -> bool {
    // SAFETY: all-zero is a valid `stat`; fstat(2) writes into it and touches nothing else.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above; an unopened descriptor gives EBADF.
    unsafe { libc::fstat(fd, &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFSOCK }
}

/// Now, in Unix milliseconds: the old image's stamp and the new image's measure of the handoff
/// (`Instant` does not survive exec).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The new image's first act for its handed-over sessions (step N2), before the FIB is read
/// back or any task runs: what the old image had not written, then a KEEPALIVE, straight to
/// each socket, so that the neighbors' hold timers start again at once. What a socket does
/// not take at once stays in `unwritten` for the neighbor task (which sends a KEEPALIVE too).
pub fn greet(sessions: &mut std::collections::BTreeMap<std::net::IpAddr, keel_handoff::NeighborState>) {
    let keepalive = keel_wire::Message::Keepalive.encode(&keel_wire::CodecOptions::default()).unwrap_or_default();
    for s in sessions.values_mut() {
        let mut bytes = std::mem::take(&mut s.unwritten);
        bytes.extend_from_slice(&keepalive);
        let mut done = 0;
        while done < bytes.len() {
            // SAFETY: write(2) on a descriptor the old image handed over (owned by this state
            // until its task takes it), from a live buffer of the given length.
            let n = unsafe { libc::write(s.fd, bytes[done..].as_ptr().cast(), bytes.len() - done) };
            if n <= 0 {
                // Full (EAGAIN on the non-blocking socket) or failed: the task goes on with it.
                break;
            }
            done += n as usize;
        }
        s.unwritten = bytes.split_off(done);
    }
}

/// How long one step of the handoff may take at most (a neighbor's quiesce or handover, the
/// RIB task's writing); past it that part is not handed over.
const STEP: Duration = Duration::from_secs(2);
const RIB_STEP: Duration = Duration::from_secs(60);

/// The old image's handoff (steps O1-O5): returns the memfd holding the state, to pass to the
/// new image. Sessions that cannot be handed over (not Established, a step failed) are left
/// as they are: their connections close when the process image is replaced. After it the RIB
/// task has ended and the handed-over neighbor tasks too: the caller executes, or stops.
pub async fn hand_off(daemon: &Daemon, fib: Option<&mpsc::Sender<FibCommand>>) -> Result<RawFd, String> {
    let started = std::time::Instant::now();
    // The sessions' silence starts now: the stamp the new image measures the handoff from.
    let stamp_ms = unix_ms();
    let handles: Vec<_> = daemon.neighbors.read().await.values().cloned().collect();
    // O1: a KEEPALIVE, then no more reading, on every Established session.
    let mut quiesced = Vec::new();
    for h in handles {
        let (done, rx) = oneshot::channel();
        if h.commands.send(Command::Quiesce { done }).await.is_ok()
            && matches!(tokio::time::timeout(STEP, rx).await, Ok(Ok(true)))
        {
            quiesced.push(h);
        }
    }
    // O3: the RIB task applies what it was sent before, sends the changes, writes the RIBs
    // and ends.
    let (reply, rx) = oneshot::channel();
    daemon.rib.send(RibEvent::HandOff { reply }).await.map_err(|_| "the RIB task has ended")?;
    let mut ribs = match tokio::time::timeout(RIB_STEP, rx).await {
        Ok(Ok(r)) => r,
        _ => return Err("the RIB task did not hand its RIBs over".into()),
    };
    // The kernel routes stay as they are; the new image reads them back.
    if let Some(fib) = fib {
        let (done, rx) = oneshot::channel();
        if fib.send(FibCommand::Freeze(done)).await.is_ok() {
            let _ = tokio::time::timeout(STEP, rx).await;
        }
    }
    // O2: each quiesced session's state and socket.
    let mut neighbors = Vec::new();
    for h in quiesced {
        let address = h.config.address;
        let Some(r) = ribs.remove(&address) else {
            warn!(neighbor = %address, "no RIBs for the session: not handed over");
            continue;
        };
        let (reply, rx) = oneshot::channel();
        if h.commands.send(Command::HandOver { reply }).await.is_err() {
            continue;
        }
        if let Ok(Ok(Some(mut state))) = tokio::time::timeout(STEP, rx).await {
            state.unwritten.extend_from_slice(&r.queued);
            state.adj_rib_in = vec![r.adj_rib_in];
            state.adj_rib_out = vec![r.adj_rib_out];
            state.end_of_rib_sent = r.end_of_rib_sent.into_iter().map(afi_safi).collect();
            state.end_of_rib_received = r.end_of_rib_received.into_iter().map(afi_safi).collect();
            neighbors.push(state);
        }
    }
    let sessions = neighbors.len();
    let mut listeners = Vec::new();
    for l in daemon.listeners.read().await.iter() {
        match l.local_addr().and_then(|a| Ok((a, crate::neighbor::transport::listener_for_exec(l)?))) {
            Ok((address, fd)) => listeners.push(keel_handoff::state::Listener { fd, address }),
            Err(e) => warn!(error = %e, "a listener is not handed over: the new image binds again"),
        }
    }
    let handoff = Handoff {
        daemon: DaemonFacts {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            time_unix_ms: stamp_ms,
            config_fingerprint: 0,
        },
        listeners,
        neighbors,
    };
    let bytes = handoff.encode().map_err(|e| e.to_string())?;
    let fd = write_memfd(&bytes).map_err(|e| format!("cannot write the handoff state: {e}"))?;
    info!(sessions, octets = bytes.len(), ms = started.elapsed().as_millis() as u64, "handoff state written");
    Ok(fd.into_raw_fd())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::IntoRawFd;

    fn state() -> Vec<u8> {
        let mut h = Handoff::default();
        h.daemon.version = "0.1.0".into();
        h.daemon.pid = 7;
        h.encode().expect("encodes")
    }

    #[test]
    fn memfd_carries_the_state_and_is_sealed() {
        let fd = write_memfd(&state()).expect("memfd");
        // SAFETY: F_GET_SEALS reads flags of our own descriptor.
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        assert!(seals & libc::F_SEAL_WRITE != 0, "sealed: {seals:#x}");
        // SAFETY: as above.
        assert_eq!(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) } & libc::FD_CLOEXEC, 0, "kept across exec");
        let h = read_state(fd.into_raw_fd()).expect("reads back");
        assert_eq!((h.daemon.version.as_str(), h.daemon.pid), ("0.1.0", 7));
    }

    #[test]
    fn unreadable_states_say_why() {
        let mut bad = state();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let fd = write_memfd(&bad).expect("memfd");
        assert!(read_state(fd.into_raw_fd()).expect_err("bad checksum").contains("checksum mismatch"));
        assert!(read_state(1_000_000).expect_err("closed").contains("not an open state"));
        assert!(read_state(1).expect_err("stdout").contains("not an open state"));
    }

    #[test]
    fn only_open_sockets_named_once_are_taken_over() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a socket");
        let file = File::open("/proc/self/status").expect("a file");
        let n = |fd: i32| {
            keel_handoff::NeighborState::new(
                "192.0.2.1".parse().expect("address"),
                fd,
                "192.0.2.2:179".parse().expect("address"),
            )
        };
        let s = socket.as_raw_fd();
        let mut h = Handoff {
            neighbors: vec![n(s), n(s), n(file.as_raw_fd()), n(1), n(-1), n(1_000_000)],
            ..Handoff::default()
        };
        sockets_only(&mut h);
        assert_eq!(h.neighbors.iter().map(|n| n.fd).collect::<Vec<_>>(), vec![s], "the socket, once");
    }

    #[test]
    fn cloexec_is_cleared() {
        let f = File::open("/proc/self/status").expect("open");
        // SAFETY: reads flags of our own descriptor.
        assert_ne!(unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFD) } & libc::FD_CLOEXEC, 0);
        crate::neighbor::transport::set_cloexec(f.as_raw_fd(), false).expect("cleared");
        // SAFETY: as above.
        assert_eq!(unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFD) } & libc::FD_CLOEXEC, 0);
    }
}
