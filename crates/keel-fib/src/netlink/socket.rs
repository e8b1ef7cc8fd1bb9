//! The rtnetlink socket (`NETLINK_ROUTE`, netlink(7)): opening it with the buffer sizes and
//! options the backend relies on, and moving datagrams in and out of it under tokio.
//!
//! It knows nothing of routes: [`super::message`] builds and reads what goes through it.

use crate::fib::FibError;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use tokio::io::unix::AsyncFd;

// <linux/netlink.h>
const SOL_NETLINK: libc::c_int = 270;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;
const NETLINK_GET_STRICT_CHK: libc::c_int = 12;

const SOCKET_BUFFER: libc::c_int = 4 * 1024 * 1024;

/// Opens a rtnetlink socket in the calling thread's network namespace: send and receive
/// buffers raised, extended and capped ACKs and strict dump checking asked for (where the
/// kernel has them), bound to a port id the kernel chooses, registered with tokio. Must be
/// called inside a tokio runtime with I/O enabled.
pub(super) fn open() -> Result<AsyncFd<OwnedFd>, FibError> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe {
        libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, libc::NETLINK_ROUTE)
    };
    if raw < 0 {
        return Err(io::Error::last_os_error().into());
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // The FORCE variants (CAP_NET_ADMIN) go past net.core.{r,w}mem_max; fall back if denied.
    if setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, SOCKET_BUFFER).is_err() {
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, SOCKET_BUFFER)?;
    }
    if setsockopt(&fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, SOCKET_BUFFER).is_err() {
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_SNDBUF, SOCKET_BUFFER)?;
    }
    // Best effort: older kernels lack these and still work, with bigger or terser replies.
    let _ = setsockopt(&fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
    let _ = setsockopt(&fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
    let _ = setsockopt(&fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1);
    // SAFETY: a zeroed sockaddr_nl is valid; port id 0 lets the kernel choose one.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: `addr` is a valid sockaddr_nl of the length passed.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error().into());
    }
    // SAFETY: the OwnedFd moves into the AsyncFd, which keeps it open and unchanged.
    let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| FibError::Io(e.into()))?;
    Ok(fd)
}

/// Sends `buf` (requests one after the other) to the kernel in one datagram.
pub(super) async fn send(fd: &AsyncFd<OwnedFd>, buf: &[u8]) -> Result<(), FibError> {
    loop {
        let mut guard = fd.writable().await?;
        let sent = guard.try_io(|fd| {
            // SAFETY: a zeroed sockaddr_nl addresses the kernel (port id 0).
            let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
            kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
            // SAFETY: `buf` and `kernel` are valid for the lengths given.
            let n = unsafe {
                libc::sendto(
                    fd.as_raw_fd(),
                    buf.as_ptr().cast(),
                    buf.len(),
                    0,
                    &kernel as *const libc::sockaddr_nl as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match sent {
            Ok(Ok(n)) if n == buf.len() => return Ok(()),
            Ok(Ok(_)) => return Err(io::Error::new(io::ErrorKind::WriteZero, "short netlink send").into()),
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(e)) => return Err(e.into()),
            Err(_would_block) => continue,
        }
    }
}

/// Receives one datagram into `buf`; returns its length.
pub(super) async fn recv(fd: &AsyncFd<OwnedFd>, buf: &mut [u8]) -> Result<usize, FibError> {
    loop {
        let mut guard = fd.readable().await?;
        let got = guard.try_io(|fd| {
            // SAFETY: `buf` is valid for `buf.len()` bytes. MSG_TRUNC makes the call return
            // the real length, so truncation is detected below.
            let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_TRUNC) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match got {
            Ok(Ok(n)) if n > buf.len() => return Err(FibError::Malformed("reply larger than the receive buffer")),
            Ok(Ok(n)) => return Ok(n),
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(e)) => return Err(e.into()),
            Err(_would_block) => continue,
        }
    }
}

fn setsockopt(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` is a c_int and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            &value as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
