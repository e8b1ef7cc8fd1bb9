//! Linux rtnetlink backend (`NETLINK_ROUTE`, rtnetlink(7)); the only code in keel that changes
//! the kernel's routes.
//!
//! Every route carries keel's protocol id (`rtm_protocol`, default [`DEFAULT_PROTOCOL`]) and
//! lives in one configurable table, so a restarted keel finds exactly its own routes with a
//! filtered dump (RFC 4724 §4.1: forwarding state survives the restart, the speaker re-learns it).
//!
//! Design:
//! - Requests are encoded by hand (rtmsg + attributes) into one buffer and sent many per
//!   `sendmsg`; the kernel runs them in order in the sender's context, so one system call and
//!   one receive loop cover up to [`NetlinkFib::set_batch_limit`] routes. Only the last request
//!   of a batch asks for an ACK; the kernel reports every failure anyway (`netlink_rcv_skb`
//!   acks when `NLM_F_ACK` is set *or* the request failed), so a clean batch produces a single
//!   reply. `NETLINK_CAP_ACK` keeps error replies small and `NETLINK_EXT_ACK` adds the kernel's
//!   reason text.
//! - An upsert is `RTM_NEWROUTE` with `NLM_F_CREATE | NLM_F_REPLACE`: the kernel swaps the route
//!   in place, so forwarding never blinks (never delete then add). Several next hops become one
//!   `RTA_MULTIPATH` route; an IPv6 gateway for an IPv4 prefix (RFC 8950) goes in `RTA_VIA`.
//! - A delete names the table and protocol id, so it cannot remove another daemon's route.
//! - Dumps use `NETLINK_GET_STRICT_CHK` so the kernel filters by table and protocol; the same
//!   filter is applied here too (older kernels ignore it). A dump interrupted by concurrent
//!   changes (`NLM_F_DUMP_INTR`) is retried.
//! - [`Fib::resolve`] asks the kernel for the route it would use (`RTM_GETROUTE` with
//!   `RTM_F_FIB_MATCH`, so the reply is the FIB entry with its protocol and metric). If that
//!   entry is keel's own, the next hop must not resolve through it (RFC 4271 §9.1.2.1), so the
//!   best non-keel route covering the address is searched in a dump of that table, then `main`
//!   and `default`. Deviation: that fallback follows the default rule order only, not custom
//!   `ip rule`s.

use crate::{
    covers, ApplyReport, Fib, FibChange, FibError, FibRoute, NextHop, Resolution, RouteError, RouteFailure,
    DEFAULT_PROTOCOL, MAIN_TABLE,
};
use keel_wire::Prefix;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use tokio::io::unix::AsyncFd;

// <linux/netlink.h>
const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_CREATE: u16 = 0x400;
const NLMSGERR_ATTR_MSG: u16 = 1;
const SOL_NETLINK: libc::c_int = 270;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;
const NETLINK_GET_STRICT_CHK: libc::c_int = 12;
// <linux/rtnetlink.h>
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_GETROUTE: u16 = 26;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTA_VIA: u16 = 18;
const RTN_UNICAST: u8 = 1;
const RTN_LOCAL: u8 = 2;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_NOWHERE: u8 = 255;
const RT_TABLE_COMPAT: u8 = 252;
const RT_TABLE_DEFAULT: u32 = 253;
const RTM_F_FIB_MATCH: u32 = 0x2000;
const RTMSG_LEN: usize = 12;
const RTNH_LEN: usize = 8;
const NLA_TYPE_MASK: u16 = 0x3fff;

/// Requests per `sendmsg` unless told otherwise; see [`NetlinkFib::set_batch_limit`].
pub const DEFAULT_BATCH_LIMIT: usize = 2048;
/// Bytes of requests per `sendmsg` (the socket's send buffer is raised above this).
const BATCH_BYTES: usize = 256 * 1024;
const SOCKET_BUFFER: libc::c_int = 4 * 1024 * 1024;
const RECV_BUFFER: usize = 128 * 1024;
const DUMP_ATTEMPTS: usize = 5;

/// See the [module documentation](self).
#[derive(Debug)]
pub struct NetlinkFib {
    fd: AsyncFd<OwnedFd>,
    table: u32,
    protocol: u8,
    metric: Option<u32>,
    batch_limit: usize,
    seq: u32,
    out: Vec<u8>,
    inbuf: Vec<u8>,
}

impl NetlinkFib {
    /// Opens a rtnetlink socket in the calling thread's network namespace. keel's routes go in
    /// `table` (e.g. [`MAIN_TABLE`]) tagged `protocol` (e.g. [`DEFAULT_PROTOCOL`]).
    /// Must be called inside a tokio runtime with I/O enabled.
    pub fn new(table: u32, protocol: u8) -> Result<Self, FibError> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                libc::NETLINK_ROUTE,
            )
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
        Ok(NetlinkFib {
            fd,
            table,
            protocol,
            metric: None,
            batch_limit: DEFAULT_BATCH_LIMIT,
            seq: 1,
            out: Vec::with_capacity(BATCH_BYTES + 1024),
            inbuf: vec![0; RECV_BUFFER],
        })
    }

    /// [`NetlinkFib::new`] with [`MAIN_TABLE`] and [`DEFAULT_PROTOCOL`].
    pub fn main_table() -> Result<Self, FibError> {
        Self::new(MAIN_TABLE, DEFAULT_PROTOCOL)
    }

    /// Installs routes with this metric (`RTA_PRIORITY`); `None` keeps the kernel default
    /// (0 for IPv4, 1024 for IPv6). The kernel's replace matches on prefix *and* metric, so a
    /// metric of its own keeps keel from replacing a static route of the same prefix.
    pub fn set_metric(&mut self, metric: Option<u32>) {
        self.metric = metric;
    }

    /// At most this many requests per `sendmsg` (at least 1). 1 gives the naive one round
    /// trip per route, for comparison.
    pub fn set_batch_limit(&mut self, requests: usize) {
        self.batch_limit = requests.max(1);
    }

    pub fn table(&self) -> u32 {
        self.table
    }

    pub fn protocol(&self) -> u8 {
        self.protocol
    }

    fn next_seq(&mut self) -> u32 {
        let s = self.seq;
        self.seq = self.seq.wrapping_add(1);
        s
    }

    async fn send_out(&self) -> Result<(), FibError> {
        let buf = &self.out;
        loop {
            let mut guard = self.fd.writable().await?;
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

    /// Receives one datagram into `inbuf`; returns its length.
    async fn recv(&mut self) -> Result<usize, FibError> {
        let (fd, buf) = (&self.fd, &mut self.inbuf);
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

    /// Encodes one change at the end of `out`, or says why it cannot be sent.
    fn encode_change(&mut self, change: &FibChange, seq: u32) -> Result<(), RouteError> {
        let prefix = change.prefix();
        let family = family_of(&prefix.addr());
        let table_u8 = u8::try_from(self.table).unwrap_or(RT_TABLE_COMPAT);
        match change {
            FibChange::Upsert(route) => {
                if route.next_hops.is_empty() {
                    return Err(RouteError::NoNextHop);
                }
                if let Some(n) = route.next_hops.iter().find(|n| !prefix.is_ipv4() && n.gateway.is_ipv4()) {
                    return Err(RouteError::FamilyMismatch(n.gateway));
                }
                let rtm = RtMsg {
                    family,
                    dst_len: prefix.len(),
                    table: table_u8,
                    protocol: self.protocol,
                    scope: RT_SCOPE_UNIVERSE,
                    kind: RTN_UNICAST,
                    flags: 0,
                };
                let start = begin(&mut self.out, RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE, seq, &rtm);
                put_attr(&mut self.out, RTA_TABLE, &self.table.to_ne_bytes());
                put_addr(&mut self.out, RTA_DST, prefix.addr());
                if let Some(m) = self.metric {
                    put_attr(&mut self.out, RTA_PRIORITY, &m.to_ne_bytes());
                }
                if let [hop] = route.next_hops.as_slice() {
                    put_gateway(&mut self.out, family, hop.gateway);
                    if let Some(i) = hop.ifindex {
                        put_attr(&mut self.out, RTA_OIF, &i.to_ne_bytes());
                    }
                } else {
                    let nest = self.out.len();
                    put_attr(&mut self.out, RTA_MULTIPATH, &[]);
                    for hop in &route.next_hops {
                        let nh = self.out.len();
                        // struct rtnexthop { len: u16, flags: u8, hops: u8, ifindex: i32 }
                        self.out.extend_from_slice(&[0, 0, 0, 0]);
                        self.out.extend_from_slice(&hop.ifindex.unwrap_or(0).to_ne_bytes());
                        put_gateway(&mut self.out, family, hop.gateway);
                        let len = (self.out.len() - nh) as u16;
                        self.out[nh..nh + 2].copy_from_slice(&len.to_ne_bytes());
                    }
                    let len = (self.out.len() - nest) as u16;
                    self.out[nest..nest + 2].copy_from_slice(&len.to_ne_bytes());
                }
                finish(&mut self.out, start);
            }
            FibChange::Delete(_) => {
                let rtm = RtMsg {
                    family,
                    dst_len: prefix.len(),
                    table: table_u8,
                    protocol: self.protocol,
                    scope: RT_SCOPE_NOWHERE,
                    kind: 0,
                    flags: 0,
                };
                let start = begin(&mut self.out, RTM_DELROUTE, NLM_F_REQUEST, seq, &rtm);
                put_attr(&mut self.out, RTA_TABLE, &self.table.to_ne_bytes());
                put_addr(&mut self.out, RTA_DST, prefix.addr());
                if let Some(m) = self.metric {
                    put_attr(&mut self.out, RTA_PRIORITY, &m.to_ne_bytes());
                }
                finish(&mut self.out, start);
            }
        }
        Ok(())
    }

    /// Dumps one family's routes, filtered by table and protocol where given.
    async fn dump(
        &mut self,
        family: u8,
        table: Option<u32>,
        protocol: Option<u8>,
    ) -> Result<Vec<KernelRoute>, FibError> {
        'attempt: for _ in 0..DUMP_ATTEMPTS {
            let seq = self.next_seq();
            self.out.clear();
            let rtm = RtMsg {
                family,
                dst_len: 0,
                table: table.map_or(0, |t| u8::try_from(t).unwrap_or(RT_TABLE_COMPAT)),
                protocol: protocol.unwrap_or(0),
                scope: 0,
                kind: 0,
                flags: 0,
            };
            let start = begin(&mut self.out, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq, &rtm);
            if let Some(t) = table {
                put_attr(&mut self.out, RTA_TABLE, &t.to_ne_bytes());
            }
            finish(&mut self.out, start);
            self.send_out().await?;
            let mut routes = Vec::new();
            let mut interrupted = false;
            loop {
                let n = self.recv().await?;
                for msg in Messages(&self.inbuf[..n]) {
                    let (h, payload) = msg?;
                    if h.seq != seq {
                        continue;
                    }
                    interrupted |= h.flags & NLM_F_DUMP_INTR != 0;
                    match h.kind {
                        NLMSG_DONE | NLMSG_ERROR => {
                            let errno = parse_errno(payload)?;
                            if errno != 0 && errno != libc::ENOENT {
                                // ENOENT: the table does not exist yet, so it holds nothing.
                                let message =
                                    if h.kind == NLMSG_ERROR { ext_ack_message(h.flags, payload) } else { None };
                                return Err(FibError::Kernel {
                                    request: "route dump",
                                    error: RouteError::Kernel { errno, message },
                                });
                            }
                            if interrupted {
                                continue 'attempt;
                            }
                            return Ok(routes);
                        }
                        RTM_NEWROUTE => {
                            if let Some(r) = parse_route(payload)? {
                                if table.is_none_or(|t| r.table == t) && protocol.is_none_or(|p| r.protocol == p) {
                                    routes.push(r);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        Err(FibError::DumpInterrupted)
    }

    /// The kernel's own answer for `addr`: the FIB entry it would forward with.
    async fn fib_match(&mut self, addr: IpAddr) -> Result<Option<KernelRoute>, FibError> {
        let seq = self.next_seq();
        self.out.clear();
        let family = family_of(&addr);
        let rtm = RtMsg {
            family,
            dst_len: if addr.is_ipv4() { 32 } else { 128 },
            table: 0,
            protocol: 0,
            scope: 0,
            kind: 0,
            flags: RTM_F_FIB_MATCH,
        };
        let start = begin(&mut self.out, RTM_GETROUTE, NLM_F_REQUEST, seq, &rtm);
        put_addr(&mut self.out, RTA_DST, addr);
        finish(&mut self.out, start);
        self.send_out().await?;
        loop {
            let n = self.recv().await?;
            for msg in Messages(&self.inbuf[..n]) {
                let (h, payload) = msg?;
                if h.seq != seq {
                    continue;
                }
                match h.kind {
                    NLMSG_ERROR => {
                        let errno = parse_errno(payload)?;
                        return match errno {
                            // No route, or a reject route: unreachable / blackhole (EINVAL) /
                            // prohibit. None of them forwards, so the next hop does not resolve.
                            libc::ENETUNREACH | libc::EHOSTUNREACH | libc::EINVAL | libc::EACCES => Ok(None),
                            errno => Err(FibError::Kernel {
                                request: "route lookup",
                                error: RouteError::Kernel { errno, message: ext_ack_message(h.flags, payload) },
                            }),
                        };
                    }
                    RTM_NEWROUTE => return parse_route(payload),
                    _ => {}
                }
            }
        }
    }
}

impl Fib for NetlinkFib {
    async fn apply(&mut self, changes: &[FibChange]) -> Result<ApplyReport, FibError> {
        let mut report = ApplyReport::default();
        let mut next = 0;
        // Change indices of the requests in flight; request k has sequence number base + k.
        let mut in_flight: Vec<usize> = Vec::with_capacity(self.batch_limit.min(changes.len()));
        let mut outcome: Vec<Outcome> = Vec::with_capacity(in_flight.capacity());
        while next < changes.len() {
            self.out.clear();
            in_flight.clear();
            let base = self.seq;
            let mut last_start = 0;
            while next < changes.len() && in_flight.len() < self.batch_limit && self.out.len() < BATCH_BYTES {
                let change = &changes[next];
                let start = self.out.len();
                match self.encode_change(change, base.wrapping_add(in_flight.len() as u32)) {
                    Ok(()) => {
                        last_start = start;
                        in_flight.push(next);
                    }
                    Err(error) => report.failures.push(RouteFailure {
                        prefix: change.prefix(),
                        delete: matches!(change, FibChange::Delete(_)),
                        error,
                    }),
                }
                next += 1;
            }
            if in_flight.is_empty() {
                continue;
            }
            self.seq = base.wrapping_add(in_flight.len() as u32);
            // Only the last request asks for an ACK: its reply ends the batch.
            let flags_at = last_start + 6;
            let flags = u16::from_ne_bytes([self.out[flags_at], self.out[flags_at + 1]]) | NLM_F_ACK;
            self.out[flags_at..flags_at + 2].copy_from_slice(&flags.to_ne_bytes());
            self.send_out().await?;

            outcome.clear();
            outcome.resize(in_flight.len(), Outcome::Done);
            let last = in_flight.len() - 1;
            'batch: loop {
                let n = self.recv().await?;
                for msg in Messages(&self.inbuf[..n]) {
                    let (h, payload) = msg?;
                    let k = h.seq.wrapping_sub(base) as usize;
                    if h.kind != NLMSG_ERROR || k > last {
                        continue; // a stale reply from an abandoned earlier call
                    }
                    let errno = parse_errno(payload)?;
                    if errno != 0 {
                        let delete = matches!(changes[in_flight[k]], FibChange::Delete(_));
                        outcome[k] = if delete && errno == libc::ESRCH {
                            Outcome::Absent
                        } else {
                            Outcome::Failed(RouteError::Kernel { errno, message: ext_ack_message(h.flags, payload) })
                        };
                    }
                    if k == last {
                        break 'batch;
                    }
                }
            }
            for (k, o) in outcome.drain(..).enumerate() {
                let change = &changes[in_flight[k]];
                let delete = matches!(change, FibChange::Delete(_));
                match o {
                    Outcome::Done if delete => report.deleted += 1,
                    Outcome::Done => report.upserted += 1,
                    Outcome::Absent => report.absent += 1,
                    Outcome::Failed(error) => {
                        report.failures.push(RouteFailure { prefix: change.prefix(), delete, error })
                    }
                }
            }
        }
        Ok(report)
    }

    async fn read_owned(&mut self) -> Result<Vec<FibRoute>, FibError> {
        let (table, protocol) = (self.table, self.protocol);
        let mut owned = Vec::new();
        for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
            for r in self.dump(family, Some(table), Some(protocol)).await? {
                if r.kind == RTN_UNICAST && r.src_len == 0 {
                    let next_hops = r
                        .hops
                        .iter()
                        .filter_map(|h| h.gateway.map(|gateway| NextHop { gateway, ifindex: h.ifindex }))
                        .collect();
                    owned.push(FibRoute { prefix: r.prefix, next_hops });
                }
            }
        }
        Ok(owned)
    }

    async fn resolve(&mut self, addr: IpAddr) -> Result<Option<Resolution>, FibError> {
        let Some(found) = self.fib_match(addr).await? else { return Ok(None) };
        if found.protocol != self.protocol {
            return Ok(usable(found));
        }
        // RFC 4271 §9.1.2.1: keel's own routes must not resolve a next hop. Look for the best
        // route below keel's in the tables the default rules consult.
        let mut tables = vec![found.table, MAIN_TABLE, RT_TABLE_DEFAULT];
        tables.dedup();
        let family = family_of(&addr);
        for (i, &table) in tables.iter().enumerate() {
            if tables[..i].contains(&table) {
                continue;
            }
            let best = self
                .dump(family, Some(table), None)
                .await?
                .into_iter()
                .filter(|r| {
                    r.protocol != self.protocol
                        && (r.kind == RTN_UNICAST || r.kind == RTN_LOCAL)
                        && r.src_len == 0
                        && covers(&r.prefix, addr)
                })
                .min_by_key(|r| (std::cmp::Reverse(r.prefix.len()), r.metric));
            if let Some(r) = best {
                return Ok(usable(r));
            }
        }
        Ok(None)
    }
}

#[derive(Debug, Clone)]
enum Outcome {
    Done,
    Absent,
    Failed(RouteError),
}

/// A route as the kernel reported it.
#[derive(Debug, Clone)]
struct KernelRoute {
    prefix: Prefix,
    src_len: u8,
    table: u32,
    protocol: u8,
    kind: u8,
    metric: u32,
    hops: Vec<Hop>,
}

#[derive(Debug, Clone, Copy)]
struct Hop {
    gateway: Option<IpAddr>,
    ifindex: Option<u32>,
}

fn usable(r: KernelRoute) -> Option<Resolution> {
    if r.kind != RTN_UNICAST && r.kind != RTN_LOCAL {
        return None;
    }
    // For a multipath route, the first path stands for all (they share the metric).
    let first = r.hops.first().copied().unwrap_or(Hop { gateway: None, ifindex: None });
    Some(Resolution {
        prefix: r.prefix,
        gateway: first.gateway,
        ifindex: first.ifindex,
        metric: r.metric,
        table: r.table,
        protocol: r.protocol,
    })
}

struct RtMsg {
    family: u8,
    dst_len: u8,
    table: u8,
    protocol: u8,
    scope: u8,
    kind: u8,
    flags: u32,
}

fn family_of(addr: &IpAddr) -> u8 {
    if addr.is_ipv4() {
        libc::AF_INET as u8
    } else {
        libc::AF_INET6 as u8
    }
}

/// Starts a message (header with length to fill in, then `struct rtmsg`); returns its offset.
fn begin(out: &mut Vec<u8>, kind: u16, flags: u16, seq: u32, rtm: &RtMsg) -> usize {
    let start = out.len();
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&[rtm.family, rtm.dst_len, 0, 0, rtm.table, rtm.protocol, rtm.scope, rtm.kind]);
    out.extend_from_slice(&rtm.flags.to_ne_bytes());
    start
}

fn finish(out: &mut [u8], start: usize) {
    let len = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}

fn put_attr(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    out.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(4), 0);
}

fn put_addr(out: &mut Vec<u8>, kind: u16, addr: IpAddr) {
    match addr {
        IpAddr::V4(a) => put_attr(out, kind, &a.octets()),
        IpAddr::V6(a) => put_attr(out, kind, &a.octets()),
    }
}

/// `RTA_GATEWAY` of the route's family, or `RTA_VIA` for an IPv6 gateway of an IPv4 route.
fn put_gateway(out: &mut Vec<u8>, family: u8, gateway: IpAddr) {
    match gateway {
        IpAddr::V6(g) if family == libc::AF_INET as u8 => {
            let mut via = Vec::with_capacity(18);
            via.extend_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
            via.extend_from_slice(&g.octets());
            put_attr(out, RTA_VIA, &via);
        }
        g => put_addr(out, RTA_GATEWAY, g),
    }
}

#[derive(Debug, Clone, Copy)]
struct Header {
    kind: u16,
    flags: u16,
    seq: u32,
}

/// The netlink messages in one datagram.
struct Messages<'a>(&'a [u8]);

impl<'a> Iterator for Messages<'a> {
    type Item = Result<(Header, &'a [u8]), FibError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.0.len() < NLMSG_HDRLEN {
            return None;
        }
        let b = self.0;
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if len < NLMSG_HDRLEN || len > b.len() {
            self.0 = &[];
            return Some(Err(FibError::Malformed("netlink message length")));
        }
        let h = Header {
            kind: u16::from_ne_bytes([b[4], b[5]]),
            flags: u16::from_ne_bytes([b[6], b[7]]),
            seq: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
        };
        self.0 = b.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        Some(Ok((h, &b[NLMSG_HDRLEN..len])))
    }
}

/// Attributes (`struct rtattr` / `struct nlattr`) as (type, payload).
struct Attrs<'a>(&'a [u8]);

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<(u16, &'a [u8]), FibError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.0.len() < 4 {
            return None;
        }
        let b = self.0;
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        if len < 4 || len > b.len() {
            self.0 = &[];
            return Some(Err(FibError::Malformed("attribute length")));
        }
        let kind = u16::from_ne_bytes([b[2], b[3]]) & NLA_TYPE_MASK;
        self.0 = b.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        Some(Ok((kind, &b[4..len])))
    }
}

/// The (positive) errno of an `NLMSG_ERROR` or `NLMSG_DONE` payload; 0 for an ACK.
fn parse_errno(payload: &[u8]) -> Result<i32, FibError> {
    let b: [u8; 4] = payload.get(..4).and_then(|b| b.try_into().ok()).ok_or(FibError::Malformed("short error"))?;
    Ok(i32::from_ne_bytes(b).checked_neg().unwrap_or(i32::MAX))
}

/// The kernel's reason text (`NLMSGERR_ATTR_MSG`) from an extended ACK, if any.
fn ext_ack_message(flags: u16, payload: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    // struct nlmsgerr: error, then the request's header (and its payload unless capped).
    let request_len = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        u32::from_ne_bytes(payload.get(4..8)?.try_into().ok()?) as usize
    };
    let tlvs = payload.get((4 + request_len).next_multiple_of(4)..)?;
    Attrs(tlvs).filter_map(Result::ok).find(|(k, _)| *k == NLMSGERR_ATTR_MSG).map(|(_, v)| {
        let text = v.split(|&c| c == 0).next().unwrap_or_default();
        String::from_utf8_lossy(text).into_owned()
    })
}

fn parse_ip(family: u8, b: &[u8]) -> Result<IpAddr, FibError> {
    match (family as i32, b.len()) {
        (libc::AF_INET, 4) => Ok(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        (libc::AF_INET6, 16) => {
            let mut o = [0u8; 16];
            o.copy_from_slice(b);
            Ok(IpAddr::V6(Ipv6Addr::from(o)))
        }
        _ => Err(FibError::Malformed("address of unexpected length")),
    }
}

/// `RTA_VIA`: `struct rtvia { family: u16, addr }`.
fn parse_via(b: &[u8]) -> Result<IpAddr, FibError> {
    let family = b.get(..2).ok_or(FibError::Malformed("short RTA_VIA"))?;
    let family = u16::from_ne_bytes([family[0], family[1]]);
    parse_ip(u8::try_from(family).map_err(|_| FibError::Malformed("RTA_VIA family"))?, &b[2..])
}

/// An `RTM_NEWROUTE` payload; `None` for families other than IPv4 and IPv6.
fn parse_route(payload: &[u8]) -> Result<Option<KernelRoute>, FibError> {
    let rtm = payload.get(..RTMSG_LEN).ok_or(FibError::Malformed("short rtmsg"))?;
    let (family, dst_len, src_len, table, protocol, kind) = (rtm[0], rtm[1], rtm[2], rtm[4], rtm[5], rtm[7]);
    if family as i32 != libc::AF_INET && family as i32 != libc::AF_INET6 {
        return Ok(None);
    }
    let mut r = KernelRoute {
        prefix: Prefix::new(unspecified(family), 0).ok_or(FibError::Malformed("prefix"))?,
        src_len,
        table: table as u32,
        protocol,
        kind,
        metric: 0,
        hops: Vec::new(),
    };
    let mut dst = unspecified(family);
    let mut single = Hop { gateway: None, ifindex: None };
    for attr in Attrs(&payload[RTMSG_LEN..]) {
        let (k, v) = attr?;
        match k {
            RTA_DST => dst = parse_ip(family, v)?,
            RTA_TABLE => r.table = u32_attr(v)?,
            RTA_PRIORITY => r.metric = u32_attr(v)?,
            RTA_OIF => single.ifindex = Some(u32_attr(v)?),
            RTA_GATEWAY => single.gateway = Some(parse_ip(family, v)?),
            RTA_VIA => single.gateway = Some(parse_via(v)?),
            RTA_MULTIPATH => {
                let mut rest = v;
                while rest.len() >= RTNH_LEN {
                    let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
                    if len < RTNH_LEN || len > rest.len() {
                        return Err(FibError::Malformed("rtnexthop length"));
                    }
                    let ifindex = u32::from_ne_bytes([rest[4], rest[5], rest[6], rest[7]]);
                    let mut hop = Hop { gateway: None, ifindex: (ifindex != 0).then_some(ifindex) };
                    for attr in Attrs(&rest[RTNH_LEN..len]) {
                        let (k, v) = attr?;
                        match k {
                            RTA_GATEWAY => hop.gateway = Some(parse_ip(family, v)?),
                            RTA_VIA => hop.gateway = Some(parse_via(v)?),
                            _ => {}
                        }
                    }
                    r.hops.push(hop);
                    rest = rest.get(len.next_multiple_of(4)..).unwrap_or(&[]);
                }
            }
            _ => {}
        }
    }
    if r.hops.is_empty() && (single.gateway.is_some() || single.ifindex.is_some()) {
        r.hops.push(single);
    }
    r.prefix = Prefix::new(dst, dst_len).ok_or(FibError::Malformed("prefix length"))?;
    Ok(Some(r))
}

fn unspecified(family: u8) -> IpAddr {
    if family as i32 == libc::AF_INET {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    }
}

fn u32_attr(v: &[u8]) -> Result<u32, FibError> {
    v.try_into().map(u32::from_ne_bytes).map_err(|_| FibError::Malformed("u32 attribute length"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_ecmp_upsert_like_iproute2() {
        let (out, _) = encode(FibChange::Upsert(FibRoute::new(
            "198.51.100.0/24".parse().unwrap(),
            vec![NextHop::new("192.0.2.2".parse().unwrap()), NextHop::with_ifindex("192.0.2.3".parse().unwrap(), 5)],
        )));
        let msgs: Vec<_> = Messages(&out).map(Result::unwrap).collect();
        assert_eq!(msgs.len(), 1);
        let (h, payload) = msgs[0];
        assert_eq!((h.kind, h.flags), (RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE));
        // Parsing our own request back gives the route (the kernel's dump uses the same layout).
        let r = parse_route(payload).unwrap().unwrap();
        assert_eq!(r.prefix.to_string(), "198.51.100.0/24");
        assert_eq!((r.table, r.protocol, r.kind), (1000, DEFAULT_PROTOCOL, RTN_UNICAST));
        let hops: Vec<_> = r.hops.iter().map(|h| (h.gateway.unwrap().to_string(), h.ifindex)).collect();
        assert_eq!(hops, [("192.0.2.2".into(), None), ("192.0.2.3".into(), Some(5))]);
    }

    #[test]
    fn encodes_ipv4_route_via_ipv6_gateway() {
        let (out, _) = encode(FibChange::Upsert(FibRoute::new(
            "203.0.113.0/24".parse().unwrap(),
            vec![NextHop::new("2001:db8::2".parse().unwrap())],
        )));
        let (_, payload) = Messages(&out).next().unwrap().unwrap();
        let r = parse_route(payload).unwrap().unwrap();
        assert_eq!(r.hops[0].gateway, Some("2001:db8::2".parse().unwrap()));
    }

    #[test]
    fn rejects_ipv6_route_via_ipv4_and_empty_routes_before_sending() {
        let p: Prefix = "2001:db8:1::/48".parse().unwrap();
        let (_, e) = encode(FibChange::Upsert(FibRoute::new(p, vec![NextHop::new("192.0.2.2".parse().unwrap())])));
        assert_eq!(e, Err(RouteError::FamilyMismatch("192.0.2.2".parse().unwrap())));
        let (_, e) = encode(FibChange::Upsert(FibRoute::new(p, vec![])));
        assert_eq!(e, Err(RouteError::NoNextHop));
    }

    #[test]
    fn malformed_kernel_data_is_an_error_not_a_panic() {
        assert!(Messages(&[40, 0, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).next().unwrap().is_err());
        assert!(parse_route(&[2, 24, 0]).is_err());
        // rtmsg for IPv4 /33.
        assert!(parse_route(&[2, 33, 0, 0, 254, 186, 0, 1, 0, 0, 0, 0]).is_err());
        // RTA_DST of 3 bytes.
        assert!(parse_route(&[2, 24, 0, 0, 254, 186, 0, 1, 0, 0, 0, 0, 7, 0, 1, 0, 1, 2, 3, 0]).is_err());
        assert!(parse_errno(&[1, 2]).is_err());
    }

    /// Encodes without a socket, using the encoder's own state.
    fn encode(change: FibChange) -> (Vec<u8>, Result<(), RouteError>) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap();
        let _g = rt.enter();
        let mut fib = NetlinkFib::new(1000, DEFAULT_PROTOCOL).unwrap();
        fib.out.clear();
        let e = fib.encode_change(&change, 1);
        (fib.out.clone(), e)
    }
}
