//! TCP for BGP: outgoing connections bound to a local address, listening sockets, TCP MD5
//! signatures (RFC 2385) and GTSM (RFC 5082) through socket options.

use std::io;
use std::mem;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Linux `struct tcp_md5sig` (include/uapi/linux/tcp.h).
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; 80],
}

/// Longest TCP MD5 key Linux accepts (TCP_MD5SIG_MAXKEYLEN).
pub const MAX_MD5_KEY: usize = 80;

/// Sets (or with an empty key, removes) the TCP MD5 key for `peer` on `fd`.
pub fn set_md5(fd: &impl AsRawFd, peer: IpAddr, key: &[u8]) -> io::Result<()> {
    if key.len() > MAX_MD5_KEY {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "TCP MD5 key longer than 80 octets"));
    }
    // SAFETY: all-zero is a valid value for these plain C structs.
    let mut sig: TcpMd5Sig = unsafe { mem::zeroed() };
    let sa = socket2::SockAddr::from(SocketAddr::new(peer, 0));
    // SAFETY: `sa` holds at most a sockaddr_storage worth of bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(sa.as_ptr() as *const u8, &mut sig.addr as *mut _ as *mut u8, sa.len() as usize);
    }
    sig.keylen = key.len() as u16;
    sig.key[..key.len()].copy_from_slice(key);
    // SAFETY: valid fd, pointer and length of a properly laid out struct.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MD5SIG,
            &sig as *const _ as *const libc::c_void,
            mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn setsockopt_int(fd: &impl AsRawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: valid fd and a pointer to an int of the given size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            &value as *const _ as *const libc::c_void,
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// GTSM (RFC 5082 §3), sending half: TTL 255 on everything sent.
pub fn set_send_ttl_255(fd: &impl AsRawFd, ipv6: bool) -> io::Result<()> {
    if ipv6 {
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, 255)
    } else {
        setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_TTL, 255)
    }
}

/// Back to the system's default TTL (or hop limit) on a connection accepted from a listener
/// that sends with 255, for a neighbor without GTSM.
pub fn set_default_ttl(fd: &impl AsRawFd, ipv6: bool) -> io::Result<()> {
    if ipv6 {
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, -1)
    } else {
        setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_TTL, -1)
    }
}

/// GTSM, receiving half: drop what arrives with a TTL below 254 (one hop).
pub fn set_min_ttl_254(fd: &impl AsRawFd, ipv6: bool) -> io::Result<()> {
    if ipv6 {
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, 254)
    } else {
        setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_MINTTL, 254)
    }
}

/// Both halves of GTSM on an established connection.
pub fn set_gtsm(fd: &impl AsRawFd, ipv6: bool) -> io::Result<()> {
    set_send_ttl_255(fd, ipv6)?;
    set_min_ttl_254(fd, ipv6)
}

/// What the kernel's TCP says about the sending side of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendProgress {
    /// Octets the peer has acknowledged since the connection opened (`tcpi_bytes_acked`,
    /// RFC 4898 tcpEStatsAppHCThruOctetsAcked): it grows only while the peer takes data.
    pub acked: u64,
    /// Whether the kernel still holds data for the peer: written by keel but not yet sent
    /// (`tcpi_notsent_bytes`, a zero window stops it there) or sent and not yet acknowledged
    /// (`tcpi_unacked`, in segments). Together the SIOCOUTQ octets, in one call.
    pub queued: bool,
}

/// `TCP_CLOSE` in `tcpi_state` (include/net/tcp_states.h).
const TCP_CLOSE: u8 = 7;

/// Reads [`SendProgress`] from Linux `TCP_INFO` on `fd`. The RFC 9687 send hold timer needs
/// it: the peer makes progress when it acknowledges octets, and keel has something to send
/// as long as the kernel holds any. Fails on a kernel too old to report `tcpi_notsent_bytes`
/// (before Linux 4.6).
pub fn send_progress(fd: &impl AsRawFd) -> io::Result<SendProgress> {
    // SAFETY: all-zero is a valid value for this plain C struct.
    let mut info: libc::tcp_info = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: valid fd; the kernel writes at most `len` octets into `info` and sets `len` to
    // how many it wrote.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            &mut info as *mut _ as *mut libc::c_void,
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // An older kernel fills a shorter struct: the fields read below must be in what it wrote.
    let needed = mem::offset_of!(libc::tcp_info, tcpi_notsent_bytes) + mem::size_of::<u32>();
    if (len as usize) < needed {
        return Err(io::Error::new(io::ErrorKind::Unsupported, "TCP_INFO without tcpi_notsent_bytes"));
    }
    // A closed connection (reset, say) sends nothing more, whatever its counters say.
    let open = info.tcpi_state != TCP_CLOSE;
    Ok(SendProgress {
        acked: info.tcpi_bytes_acked,
        queued: open && (info.tcpi_notsent_bytes > 0 || info.tcpi_unacked > 0),
    })
}

/// Makes the next close of `fd` abortive (SO_LINGER with a zero timeout): the kernel sends a
/// RST and frees what is still queued at once, instead of keeping an orphan socket that goes on
/// offering the data to a peer that does not take it.
pub fn set_abortive_close(fd: &impl AsFd) -> io::Result<()> {
    socket2::SockRef::from(fd).set_linger(Some(std::time::Duration::ZERO))
}

/// Sets (`on`) or clears `FD_CLOEXEC` on `fd`: a socket handed to the next keeld image
/// (`keel upgrade`) must stay open across exec, and only that once.
pub fn set_cloexec(fd: std::os::fd::RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl with F_GETFD/F_SETFD only reads and sets descriptor flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    let flags = if on { flags | libc::FD_CLOEXEC } else { flags & !libc::FD_CLOEXEC };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFD, flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// How to reach one neighbor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    pub remote: SocketAddr,
    pub local_address: Option<IpAddr>,
    pub password: Option<String>,
    pub ttl_security: bool,
}

impl Transport {
    /// Opens the outgoing connection (RFC 4271 §8: the Connect state's attempt).
    pub async fn connect(&self) -> io::Result<TcpStream> {
        let socket = if self.remote.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        if let Some(key) = &self.password {
            set_md5(&socket, self.remote.ip(), key.as_bytes())?;
        }
        if self.ttl_security {
            set_send_ttl_255(&socket, self.remote.is_ipv6())?;
        }
        if let Some(local) = self.local_address {
            socket.bind(SocketAddr::new(local, 0))?;
        }
        let stream = socket.connect(self.remote).await?;
        // The SYN-ACK comes from the peer's shared listening socket, which may not send with
        // TTL 255; the check applies from the first segment after it.
        if self.ttl_security {
            set_min_ttl_254(&stream, self.remote.is_ipv6())?;
        }
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// A listening socket for BGP (SO_REUSEADDR, so a restarted keeld binds at once).
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    if addr.is_ipv6() {
        socket2::SockRef::from(&socket).set_only_v6(true)?;
    }
    // GTSM (RFC 5082 §3) wants TTL 255 on everything a GTSM neighbor receives, the SYN-ACK
    // and a refusal's FIN included, which the kernel sends with the listener's TTL before
    // keeld knows the connection; accepted connections of other neighbors go back to the
    // default TTL (`set_default_ttl`).
    set_send_ttl_255(&socket, addr.is_ipv6())?;
    socket.bind(addr)?;
    socket.listen(128)
}

/// A listening socket handed over by the previous keeld image (`keel upgrade`): what queued in
/// its backlog during the exec is accepted now. Close-on-exec is set again.
pub fn adopt_listener(fd: std::os::fd::RawFd) -> io::Result<TcpListener> {
    use std::os::fd::FromRawFd;
    // SAFETY: the old image handed this descriptor to this process; nothing else took it.
    let l = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    set_cloexec(fd, true)?;
    l.set_nonblocking(true)?;
    TcpListener::from_std(l)
}

/// A copy of a listening socket's descriptor that survives exec (dup(2) leaves close-on-exec
/// off), for the next keeld image: the original closes with this image's runtime.
pub fn listener_for_exec(l: &TcpListener) -> io::Result<std::os::fd::RawFd> {
    // SAFETY: dup(2) of a descriptor this process holds open.
    let fd = unsafe { libc::dup(l.as_raw_fd()) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}
