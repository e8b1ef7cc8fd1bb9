//! BFD's UDP encapsulation: single hop on port 3784 sent with TTL 255 and accepted only with
//! TTL 255 (RFC 5881 §4, §5: the GTSM check), multihop on port 4784 (RFC 5883 §2, §5: any TTL),
//! for IPv4 and IPv6. Each session sends from its own socket, from a source port in
//! 49152-65535 that stays the same for the session's life (RFC 5881 §4).

use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// RFC 5881 §4: "the destination port MUST be 3784".
pub const SINGLE_HOP_PORT: u16 = 3784;
/// RFC 5883 §5: "the destination port MUST be 4784".
pub const MULTIHOP_PORT: u16 = 4784;
/// RFC 5881 §4: "The source port MUST be in the range 49152 through 65535."
pub const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;
/// RFC 5881 §5 (GTSM, RFC 5082): sent with, and single-hop packets accepted only with, 255.
pub const TTL: u8 = 255;

/// A datagram as received, with the TTL or Hop Limit it arrived with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub bytes: Vec<u8>,
    pub from: SocketAddr,
    pub ttl: Option<u8>,
    pub multihop: bool,
}

impl Datagram {
    /// RFC 5881 §5: "received packets MUST be discarded unless the received TTL or Hop Limit is
    /// 255" (single hop only; RFC 5883 §2 leaves multihop TTLs alone).
    pub fn passes_ttl_check(&self) -> bool {
        self.multihop || self.ttl == Some(TTL)
    }
}

fn socket(domain: Domain) -> io::Result<Socket> {
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_nonblocking(true)?;
    if domain == Domain::IPV6 {
        s.set_only_v6(true)?;
    }
    Ok(s)
}

/// A receiving socket on `port` for one address family, reporting each datagram's TTL.
pub fn listener(ipv6: bool, port: u16) -> io::Result<UdpSocket> {
    let (domain, address) = if ipv6 {
        (Domain::IPV6, SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)))
    } else {
        (Domain::IPV4, SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))
    };
    // No SO_REUSEADDR: with it a second BFD daemon could bind the same port and silently take
    // the packets.
    let s = socket(domain)?;
    if ipv6 {
        setsockopt(&s, sockopt::Ipv6RecvHopLimit, &true)?;
    } else {
        setsockopt(&s, sockopt::Ipv4RecvTtl, &true)?;
    }
    s.bind(&address.into())?;
    UdpSocket::from_std(s.into())
}

/// A session's sending socket: bound to `local` (or any address of `peer`'s family) and the
/// first free port of [`SOURCE_PORTS`], TTL (Hop Limit) 255.
pub fn sender(local: Option<IpAddr>, peer: IpAddr, first_port: u16) -> io::Result<UdpSocket> {
    let ipv6 = peer.is_ipv6();
    let s = socket(if ipv6 { Domain::IPV6 } else { Domain::IPV4 })?;
    if ipv6 {
        s.set_unicast_hops_v6(TTL.into())?;
    } else {
        s.set_ttl(TTL.into())?;
    }
    let any = if ipv6 { IpAddr::V6(Ipv6Addr::UNSPECIFIED) } else { IpAddr::V4(Ipv4Addr::UNSPECIFIED) };
    let ip = local.filter(|l| l.is_ipv6() == ipv6).unwrap_or(any);
    let span = u32::from(SOURCE_PORTS.end() - SOURCE_PORTS.start()) + 1;
    let start = first_port.clamp(*SOURCE_PORTS.start(), *SOURCE_PORTS.end());
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "no free source port in 49152-65535");
    for i in 0..span {
        let offset = (u32::from(start - SOURCE_PORTS.start()) + i) % span;
        let port = SOURCE_PORTS.start() + offset as u16;
        match s.bind(&SocketAddr::new(ip, port).into()) {
            Ok(()) => return UdpSocket::from_std(s.into()),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// The next datagram on a [`listener`] socket.
pub async fn receive(socket: &UdpSocket, multihop: bool) -> io::Result<Datagram> {
    let mut buffer = [0u8; 512];
    loop {
        socket.readable().await?;
        match socket.try_io(Interest::READABLE, || receive_now(socket, &mut buffer)) {
            Ok((n, from, ttl)) => {
                return Ok(Datagram { bytes: buffer[..n].to_vec(), from, ttl, multihop });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

fn receive_now(socket: &UdpSocket, buffer: &mut [u8]) -> io::Result<(usize, SocketAddr, Option<u8>)> {
    let mut cmsg = nix::cmsg_space!(libc::c_int);
    let mut iov = [IoSliceMut::new(buffer)];
    let msg = recvmsg::<SockaddrStorage>(socket.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())?;
    let mut ttl = None;
    for c in msg.cmsgs()? {
        match c {
            ControlMessageOwned::Ipv4Ttl(t) | ControlMessageOwned::Ipv6HopLimit(t) => ttl = u8::try_from(t).ok(),
            _ => {}
        }
    }
    let from = msg
        .address
        .and_then(|a| {
            a.as_sockaddr_in()
                .map(|a| SocketAddr::from(*a))
                .or_else(|| a.as_sockaddr_in6().map(|a| SocketAddr::from(*a)))
        })
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "datagram without a source address"))?;
    // An IPv4-mapped source on an IPv6 socket cannot happen: the IPv6 sockets are IPv6 only.
    Ok((msg.bytes, from, ttl))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ttl_255_is_sent_and_seen() {
        // An unprivileged port instead of 3784, on loopback.
        let l = listener(false, 0).unwrap();
        let port = l.local_addr().unwrap().port();
        let s = sender(Some(Ipv4Addr::LOCALHOST.into()), Ipv4Addr::LOCALHOST.into(), 60000).unwrap();
        assert!(SOURCE_PORTS.contains(&s.local_addr().unwrap().port()));
        s.send_to(b"x", (Ipv4Addr::LOCALHOST, port)).await.unwrap();
        let d = receive(&l, false).await.unwrap();
        assert_eq!((d.bytes.as_slice(), d.ttl, d.passes_ttl_check()), (&b"x"[..], Some(255), true));
        let d = Datagram { ttl: Some(254), ..d };
        assert!(!d.passes_ttl_check());
        assert!(Datagram { multihop: true, ..d }.passes_ttl_check());
    }
}
