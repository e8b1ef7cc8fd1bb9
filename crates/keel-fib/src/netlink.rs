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
//!
//! This module holds [`NetlinkFib`] and the write path ([`Fib::apply`]: encoding changes,
//! batching, matching ACKs to requests); its rooms:
//!
//! | module | concern |
//! |---|---|
//! | `message` | the rtnetlink wire format: constants, building requests, reading replies and routes |
//! | `socket` | the netlink socket: open with its options, send and receive datagrams |
//! | `resolve` | reading the kernel's routes: filtered dumps, the FIB lookup and next-hop resolution |
//!
//! `message` and `socket` import nothing of this module; `resolve` adds to [`NetlinkFib`].

use crate::fib::{
    ApplyReport, Fib, FibChange, FibError, FibRoute, NextHop, Resolution, RouteError, RouteFailure, DEFAULT_PROTOCOL,
    MAIN_TABLE,
};
use message::{
    begin, ext_ack_message, family_of, finish, parse_errno, put_addr, put_attr, put_gateway, Messages, RtMsg,
    NLMSG_ERROR, NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST, RTA_DST, RTA_MULTIPATH, RTA_OIF, RTA_PRIORITY,
    RTA_TABLE, RTM_DELROUTE, RTM_NEWROUTE, RTN_UNICAST, RT_SCOPE_NOWHERE, RT_SCOPE_UNIVERSE, RT_TABLE_COMPAT,
};
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use tokio::io::unix::AsyncFd;

mod message;
mod resolve;
mod socket;

/// Requests per `sendmsg` unless told otherwise; see [`NetlinkFib::set_batch_limit`].
pub const DEFAULT_BATCH_LIMIT: usize = 2048;
/// Bytes of requests per `sendmsg` (the socket's send buffer is raised above this).
const BATCH_BYTES: usize = 256 * 1024;
const RECV_BUFFER: usize = 128 * 1024;

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
        let fd = socket::open()?;
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
        socket::send(&self.fd, &self.out).await
    }

    /// Receives one datagram into `inbuf`; returns its length.
    async fn recv(&mut self) -> Result<usize, FibError> {
        socket::recv(&self.fd, &mut self.inbuf).await
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
        self.resolve_next_hop(addr).await
    }
}

#[derive(Debug, Clone)]
enum Outcome {
    Done,
    Absent,
    Failed(RouteError),
}

#[cfg(test)]
mod tests {
    use super::message::parse_route;
    use super::*;
    use keel_wire::Prefix;

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
