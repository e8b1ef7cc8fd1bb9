//! rtnetlink messages for routes (rtnetlink(7)), built and read by hand: the netlink header,
//! `struct rtmsg`, and the route attributes keel uses (`RTA_DST`, `RTA_GATEWAY`, `RTA_VIA`,
//! `RTA_OIF`, `RTA_PRIORITY`, `RTA_TABLE`, `RTA_MULTIPATH`), in native byte order.
//!
//! Building appends to one buffer ([`begin`] .. [`finish`]), so that many requests go out in
//! one datagram. Reading goes through views over the kernel's bytes ([`Messages`], then
//! [`parse_route`] into a [`KernelRoute`]): every length is checked, and a malformed reply is
//! a [`FibError::Malformed`], never a panic.

use crate::fib::FibError;
use keel_wire::Prefix;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

// <linux/netlink.h>
const NLMSG_HDRLEN: usize = 16;
pub(super) const NLMSG_ERROR: u16 = 2;
pub(super) const NLMSG_DONE: u16 = 3;
pub(super) const NLM_F_REQUEST: u16 = 0x1;
pub(super) const NLM_F_ACK: u16 = 0x4;
pub(super) const NLM_F_DUMP_INTR: u16 = 0x10;
pub(super) const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
pub(super) const NLM_F_DUMP: u16 = 0x300;
pub(super) const NLM_F_CREATE: u16 = 0x400;
const NLMSGERR_ATTR_MSG: u16 = 1;
// <linux/rtnetlink.h>
pub(super) const RTM_NEWROUTE: u16 = 24;
pub(super) const RTM_DELROUTE: u16 = 25;
pub(super) const RTM_GETROUTE: u16 = 26;
pub(super) const RTA_DST: u16 = 1;
pub(super) const RTA_OIF: u16 = 4;
pub(super) const RTA_GATEWAY: u16 = 5;
pub(super) const RTA_PRIORITY: u16 = 6;
pub(super) const RTA_MULTIPATH: u16 = 9;
pub(super) const RTA_TABLE: u16 = 15;
pub(super) const RTA_VIA: u16 = 18;
pub(super) const RTN_UNICAST: u8 = 1;
pub(super) const RTN_LOCAL: u8 = 2;
pub(super) const RT_SCOPE_UNIVERSE: u8 = 0;
pub(super) const RT_SCOPE_NOWHERE: u8 = 255;
pub(super) const RT_TABLE_COMPAT: u8 = 252;
pub(super) const RT_TABLE_DEFAULT: u32 = 253;
pub(super) const RTM_F_FIB_MATCH: u32 = 0x2000;
const RTMSG_LEN: usize = 12;
const RTNH_LEN: usize = 8;
const NLA_TYPE_MASK: u16 = 0x3fff;

/// A route as the kernel reported it.
#[derive(Debug, Clone)]
pub(super) struct KernelRoute {
    pub(super) prefix: Prefix,
    pub(super) src_len: u8,
    pub(super) table: u32,
    pub(super) protocol: u8,
    pub(super) kind: u8,
    pub(super) metric: u32,
    pub(super) hops: Vec<Hop>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Hop {
    pub(super) gateway: Option<IpAddr>,
    pub(super) ifindex: Option<u32>,
}

pub(super) struct RtMsg {
    pub(super) family: u8,
    pub(super) dst_len: u8,
    pub(super) table: u8,
    pub(super) protocol: u8,
    pub(super) scope: u8,
    pub(super) kind: u8,
    pub(super) flags: u32,
}

pub(super) fn family_of(addr: &IpAddr) -> u8 {
    if addr.is_ipv4() {
        libc::AF_INET as u8
    } else {
        libc::AF_INET6 as u8
    }
}

/// Starts a message (header with length to fill in, then `struct rtmsg`); returns its offset.
pub(super) fn begin(out: &mut Vec<u8>, kind: u16, flags: u16, seq: u32, rtm: &RtMsg) -> usize {
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

pub(super) fn finish(out: &mut [u8], start: usize) {
    let len = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}

pub(super) fn put_attr(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    out.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(4), 0);
}

pub(super) fn put_addr(out: &mut Vec<u8>, kind: u16, addr: IpAddr) {
    match addr {
        IpAddr::V4(a) => put_attr(out, kind, &a.octets()),
        IpAddr::V6(a) => put_attr(out, kind, &a.octets()),
    }
}

/// `RTA_GATEWAY` of the route's family, or `RTA_VIA` for an IPv6 gateway of an IPv4 route.
pub(super) fn put_gateway(out: &mut Vec<u8>, family: u8, gateway: IpAddr) {
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
pub(super) struct Header {
    pub(super) kind: u16,
    pub(super) flags: u16,
    pub(super) seq: u32,
}

/// The netlink messages in one datagram.
pub(super) struct Messages<'a>(pub(super) &'a [u8]);

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
pub(super) fn parse_errno(payload: &[u8]) -> Result<i32, FibError> {
    let b: [u8; 4] = payload.get(..4).and_then(|b| b.try_into().ok()).ok_or(FibError::Malformed("short error"))?;
    Ok(i32::from_ne_bytes(b).checked_neg().unwrap_or(i32::MAX))
}

/// The kernel's reason text (`NLMSGERR_ATTR_MSG`) from an extended ACK, if any.
pub(super) fn ext_ack_message(flags: u16, payload: &[u8]) -> Option<String> {
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
pub(super) fn parse_route(payload: &[u8]) -> Result<Option<KernelRoute>, FibError> {
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
