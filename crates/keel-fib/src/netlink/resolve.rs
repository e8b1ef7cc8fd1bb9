//! Reading the kernel's routes back: filtered dumps (what [`Fib::read_owned`] finds after a
//! restart) and next-hop resolution ([`Fib::resolve`], RFC 4271 §9.1.2.1).
//!
//! A dump asks the kernel to filter by table and protocol (`NETLINK_GET_STRICT_CHK`) and
//! filters again here, as older kernels ignore the request; one interrupted by concurrent
//! changes (`NLM_F_DUMP_INTR`) is retried. Resolution asks for the FIB entry the kernel would
//! forward with (`RTM_GETROUTE` with `RTM_F_FIB_MATCH`); when that entry is keel's own, the
//! best other route covering the address is searched in dumps of that table, then `main` and
//! `default`. Deviation: that fallback follows the default rule order only, not custom
//! `ip rule`s.
//!
//! [`Fib::read_owned`]: crate::Fib::read_owned
//! [`Fib::resolve`]: crate::Fib::resolve

use super::message::{
    begin, ext_ack_message, family_of, finish, parse_errno, parse_route, put_addr, put_attr, Hop, KernelRoute,
    Messages, RtMsg, NLMSG_DONE, NLMSG_ERROR, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, RTA_DST, RTA_TABLE,
    RTM_F_FIB_MATCH, RTM_GETROUTE, RTM_NEWROUTE, RTN_LOCAL, RTN_UNICAST, RT_TABLE_COMPAT, RT_TABLE_DEFAULT,
};
use super::NetlinkFib;
use crate::fib::{covers, FibError, Resolution, RouteError, MAIN_TABLE};
use std::net::IpAddr;

const DUMP_ATTEMPTS: usize = 5;

impl NetlinkFib {
    /// Dumps one family's routes, filtered by table and protocol where given.
    pub(super) async fn dump(
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

    /// How the kernel reaches `addr` through a route that is not keel's own (RFC 4271
    /// §9.1.2.1); `None` if unreachable.
    pub(super) async fn resolve_next_hop(&mut self, addr: IpAddr) -> Result<Option<Resolution>, FibError> {
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
