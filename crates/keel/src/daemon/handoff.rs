//! The handoff state's carrier between the old and the new keeld image (docs/upgrade.md,
//! "Format" and steps O4-O6, N1): a memfd without close-on-exec, sealed once written, whose
//! number the new image gets as `keeld --handoff-fd N`; and the new image's first act, reading
//! it back ([`take`]).
//!
//! Built so far: the carrier and the reading with its fallback (B: an unreadable state is
//! logged with the reason and keeld starts as a graceful restart, every inherited descriptor
//! closed so that neighbors see the TCP connections end as after a crash). Resuming sessions
//! from a readable state is not built yet: it takes the same fallback, saying so.

use keel_handoff::Handoff;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

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

/// Clears `FD_CLOEXEC` on `fd`, so that it stays open across exec.
pub fn clear_cloexec(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: fcntl with F_GETFD/F_SETFD only reads and sets descriptor flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
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

/// `keeld --handoff-fd N`, before anything else is opened: reads the state and, since sessions
/// cannot be resumed yet, closes what was inherited and goes on as a graceful restart, logging
/// why (fallback B). Returns the reason, for the caller's log line.
pub fn take(fd: RawFd) -> String {
    let why = match read_state(fd) {
        Ok(h) => format!(
            "handoff state of keeld {} (pid {}) read: {} session(s), {} listener(s); resuming sessions is not \
             built yet",
            h.daemon.version,
            h.daemon.pid,
            h.neighbors.len(),
            h.listeners.len()
        ),
        Err(e) => format!("handoff state unreadable: {e}"),
    };
    close_inherited();
    why
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
    fn cloexec_is_cleared() {
        let f = File::open("/proc/self/status").expect("open");
        // SAFETY: reads flags of our own descriptor.
        assert_ne!(unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFD) } & libc::FD_CLOEXEC, 0);
        clear_cloexec(f.as_raw_fd()).expect("cleared");
        // SAFETY: as above.
        assert_eq!(unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFD) } & libc::FD_CLOEXEC, 0);
    }
}
