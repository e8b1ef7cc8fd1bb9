//! The typed handoff state and its records (docs/upgrade.md, "What is handed over").
//!
//! Only Established sessions are handed over. A session's negotiated capabilities are not
//! stored: the two OPEN messages are, and the new keeld negotiates again from them, so the
//! format does not depend on the daemon's internal types. Adj-RIB-In and Adj-RIB-Out travel as
//! BGP UPDATE messages in the session's own encoding, the most compact form and the one
//! keel-wire already decodes fast. Timers travel as milliseconds left.
//!
//! Record tags (top level, then inside a neighbor record); `!` marks [`MUST_UNDERSTAND`]:
//!
//! | tag | record | value |
//! |---|---|---|
//! | `!1` | daemon | version (u16 length, UTF-8), pid u32, time Unix ms u64, config fingerprint u64 |
//! | `!2` | listener | fd i32, socket address |
//! | `!3` | neighbor | the records below |
//! | `!1` | address | IP address |
//! | `!2` | socket | fd i32, local socket address |
//! | `!3`, `!4` | local, remote OPEN | the message's octets (header included) |
//! | `!5` | hold | hold time u16, hold timer left ms u32, keepalive timer left ms u32 |
//! | `6` | uptime | ms since Established u64 |
//! | `7` | counters | five u64 (see [`Counters`]) |
//! | `!8`, `!9` | unread, unwritten | octets |
//! | `!10`, `!11` | Adj-RIB-In, Adj-RIB-Out | one UPDATE message per record, in order |
//! | `!12` | timer | kind u8, AFI u16, SAFI u8, left ms u32 |
//! | `13` | prefix limit | warned count u8, (AFI u16, SAFI u8)*, tripped flag u8 [AFI, SAFI, Unix s u64] |
//! | `14`, `15` | End-of-RIB sent, received | (AFI u16, SAFI u8)* (RFC 4724 §2) |
//!
//! Addresses: family octet 4 or 6, then 4 or 16 octets; socket addresses add a port u16.

use crate::format::{open, seal, DecodeError, EncodeError, Reader, Short, Writer, MUST_UNDERSTAND};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const M: u16 = MUST_UNDERSTAND;
const DAEMON: u16 = M | 1;
const LISTENER: u16 = M | 2;
const NEIGHBOR: u16 = M | 3;

const N_ADDRESS: u16 = M | 1;
const N_SOCKET: u16 = M | 2;
const N_LOCAL_OPEN: u16 = M | 3;
const N_REMOTE_OPEN: u16 = M | 4;
const N_HOLD: u16 = M | 5;
const N_UPTIME: u16 = 6;
const N_COUNTERS: u16 = 7;
const N_UNREAD: u16 = M | 8;
const N_UNWRITTEN: u16 = M | 9;
const N_ADJ_RIB_IN: u16 = M | 10;
const N_ADJ_RIB_OUT: u16 = M | 11;
const N_TIMER: u16 = M | 12;
const N_PREFIX_LIMIT: u16 = 13;
const N_END_OF_RIB_SENT: u16 = 14;
const N_END_OF_RIB_RECEIVED: u16 = 15;

/// Everything the old keeld hands the new one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Handoff {
    pub daemon: DaemonFacts,
    pub listeners: Vec<Listener>,
    pub neighbors: Vec<NeighborState>,
}

/// The old process: for `last_upgrade` in `/v1/status`, and to tell whether the configuration
/// file changed since (then it is applied as `keel reload` would).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DaemonFacts {
    pub version: String,
    pub pid: u32,
    pub time_unix_ms: u64,
    pub config_fingerprint: u64,
}

/// A BGP listening socket, inherited open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub fd: i32,
    pub address: SocketAddr,
}

/// One Established session as its neighbor task left it at a message boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborState {
    pub address: IpAddr,
    /// The TCP socket, inherited open (close-on-exec cleared).
    pub fd: i32,
    pub local_address: SocketAddr,
    /// The OPEN messages sent and received, whole: the new keeld negotiates from them.
    pub local_open: Vec<u8>,
    pub remote_open: Vec<u8>,
    /// Negotiated hold time (RFC 4271 §4.2), 0 for none.
    pub hold_time: u16,
    pub hold_left_ms: u32,
    pub keepalive_left_ms: u32,
    /// Session uptime: it continues across the upgrade.
    pub established_ms: u64,
    pub counters: Counters,
    /// Octets read from the socket but not yet processed (less than one message).
    pub unread: Vec<u8>,
    /// Octets queued for the socket but not yet written.
    pub unwritten: Vec<u8>,
    /// UPDATE messages whose NLRI are the neighbor's Adj-RIB-In (pre-policy).
    pub adj_rib_in: Vec<Vec<u8>>,
    /// UPDATE messages whose NLRI are what the neighbor holds from keel.
    pub adj_rib_out: Vec<Vec<u8>>,
    /// Graceful-restart and LLGR timers running, with the time left.
    pub timers: Vec<Timer>,
    pub prefix_limit: PrefixLimit,
    /// The families whose End-of-RIB keel sent on this session, and received: one still owed
    /// after the handoff goes out when the initial advertisement is through.
    pub end_of_rib_sent: Vec<AfiSafi>,
    pub end_of_rib_received: Vec<AfiSafi>,
}

/// Session counters that go on across the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub messages_received: u64,
    pub messages_sent: u64,
    pub updates_received: u64,
    pub updates_sent: u64,
    pub established_transitions: u64,
}

/// An address family as AFI and SAFI numbers (RFC 4760), kept raw so this crate needs no codec.
pub type AfiSafi = (u16, u8);

/// A graceful-restart or LLGR timer running for one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    pub kind: TimerKind,
    pub family: AfiSafi,
    pub left_ms: u32,
}

/// The timers of RFC 4724 and RFC 9494 that keel runs per (neighbor, family).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// RFC 4724 §4.2: the neighbor's Restart Time, while its session is down.
    Restart = 1,
    /// RFC 4724 §4.2: keel's stale-routes time after the neighbor came back.
    StalePath = 2,
    /// RFC 9494 §4.2: the long-lived stale time.
    LongLivedStale = 3,
    /// RFC 4724 §4.1: keel's own selection deferral.
    SelectionDeferral = 4,
}

impl TimerKind {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => TimerKind::Restart,
            2 => TimerKind::StalePath,
            3 => TimerKind::LongLivedStale,
            4 => TimerKind::SelectionDeferral,
            _ => return None,
        })
    }
}

/// Prefix limits (RFC 4486 §4) as the neighbor task saw them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrefixLimit {
    pub warned: Vec<AfiSafi>,
    /// The family that last went over its limit, and when (Unix seconds).
    pub tripped: Option<(AfiSafi, u64)>,
}

impl Handoff {
    /// The sealed state: header, checksum, records.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut w = Writer::new();
        let d = &self.daemon;
        w.record(DAEMON, |w| {
            // A version string longer than 64 KiB is cut (it is only shown).
            let v = &d.version.as_bytes()[..d.version.len().min(usize::from(u16::MAX))];
            w.u16(v.len() as u16);
            w.bytes(v);
            w.u32(d.pid);
            w.u64(d.time_unix_ms);
            w.u64(d.config_fingerprint);
            Ok(())
        })?;
        for l in &self.listeners {
            w.record(LISTENER, |w| {
                w.u32(l.fd as u32);
                put_socket_address(w, l.address);
                Ok(())
            })?;
        }
        for n in &self.neighbors {
            w.record(NEIGHBOR, |w| n.encode(w))?;
        }
        Ok(seal(&w.into_inner()))
    }

    /// Reads a sealed state; any error means: fall back to a graceful restart.
    pub fn decode(input: &[u8]) -> Result<Handoff, DecodeError> {
        let body = open(input)?;
        let mut r = Reader::new(body);
        let mut daemon = None;
        let mut h = Handoff::default();
        while let Some(record) = r.record() {
            let (tag, value) = record?;
            let short = |Short| malformed(tag, "short");
            match tag {
                DAEMON => daemon = Some(decode_daemon(value).map_err(short)?),
                LISTENER => h.listeners.push(decode_listener(value).map_err(short)?),
                NEIGHBOR => h.neighbors.push(NeighborState::decode(value)?),
                t if t & MUST_UNDERSTAND != 0 => return Err(DecodeError::UnknownRequired(t)),
                _ => {}
            }
        }
        h.daemon = daemon.ok_or(malformed(DAEMON, "missing"))?;
        Ok(h)
    }
}

fn malformed(tag: u16, reason: &'static str) -> DecodeError {
    DecodeError::Malformed { tag, reason }
}

fn decode_daemon(value: &[u8]) -> Result<DaemonFacts, Short> {
    let mut r = Reader::new(value);
    let len = r.u16()?;
    let version = String::from_utf8_lossy(r.bytes(usize::from(len))?).into_owned();
    Ok(DaemonFacts { version, pid: r.u32()?, time_unix_ms: r.u64()?, config_fingerprint: r.u64()? })
}

fn decode_listener(value: &[u8]) -> Result<Listener, Short> {
    let mut r = Reader::new(value);
    Ok(Listener { fd: r.u32()? as i32, address: socket_address(&mut r)? })
}

fn put_address(w: &mut Writer, a: IpAddr) {
    match a {
        IpAddr::V4(a) => {
            w.u8(4);
            w.bytes(&a.octets());
        }
        IpAddr::V6(a) => {
            w.u8(6);
            w.bytes(&a.octets());
        }
    }
}

fn put_socket_address(w: &mut Writer, a: SocketAddr) {
    put_address(w, a.ip());
    w.u16(a.port());
}

fn address(r: &mut Reader) -> Result<IpAddr, Short> {
    match r.u8()? {
        4 => {
            let mut o = [0u8; 4];
            o.copy_from_slice(r.bytes(4)?);
            Ok(IpAddr::V4(Ipv4Addr::from(o)))
        }
        6 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(r.bytes(16)?);
            Ok(IpAddr::V6(Ipv6Addr::from(o)))
        }
        _ => Err(Short),
    }
}

fn socket_address(r: &mut Reader) -> Result<SocketAddr, Short> {
    let ip = address(r)?;
    Ok(SocketAddr::new(ip, r.u16()?))
}

fn put_family(w: &mut Writer, (afi, safi): AfiSafi) {
    w.u16(afi);
    w.u8(safi);
}

fn family(r: &mut Reader) -> Result<AfiSafi, Short> {
    Ok((r.u16()?, r.u8()?))
}

/// A neighbor's required fields while its records are read.
#[derive(Default)]
struct Required {
    address: Option<IpAddr>,
    socket: Option<(i32, SocketAddr)>,
    local_open: Option<Vec<u8>>,
    remote_open: Option<Vec<u8>>,
    hold: Option<(u16, u32, u32)>,
}

impl NeighborState {
    /// A session's state with its identity alone: everything else empty, zero or none, for
    /// the caller to fill in.
    pub fn new(address: IpAddr, fd: i32, local_address: SocketAddr) -> NeighborState {
        NeighborState {
            address,
            fd,
            local_address,
            local_open: Vec::new(),
            remote_open: Vec::new(),
            hold_time: 0,
            hold_left_ms: 0,
            keepalive_left_ms: 0,
            established_ms: 0,
            counters: Counters::default(),
            unread: Vec::new(),
            unwritten: Vec::new(),
            adj_rib_in: Vec::new(),
            adj_rib_out: Vec::new(),
            timers: Vec::new(),
            prefix_limit: PrefixLimit::default(),
            end_of_rib_sent: Vec::new(),
            end_of_rib_received: Vec::new(),
        }
    }
}

impl NeighborState {
    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        w.record(N_ADDRESS, |w| {
            put_address(w, self.address);
            Ok(())
        })?;
        w.record(N_SOCKET, |w| {
            w.u32(self.fd as u32);
            put_socket_address(w, self.local_address);
            Ok(())
        })?;
        w.bytes_record(N_LOCAL_OPEN, &self.local_open)?;
        w.bytes_record(N_REMOTE_OPEN, &self.remote_open)?;
        w.record(N_HOLD, |w| {
            w.u16(self.hold_time);
            w.u32(self.hold_left_ms);
            w.u32(self.keepalive_left_ms);
            Ok(())
        })?;
        w.record(N_UPTIME, |w| {
            w.u64(self.established_ms);
            Ok(())
        })?;
        let c = &self.counters;
        w.record(N_COUNTERS, |w| {
            for v in
                [c.messages_received, c.messages_sent, c.updates_received, c.updates_sent, c.established_transitions]
            {
                w.u64(v);
            }
            Ok(())
        })?;
        w.bytes_record(N_UNREAD, &self.unread)?;
        w.bytes_record(N_UNWRITTEN, &self.unwritten)?;
        for u in &self.adj_rib_in {
            w.bytes_record(N_ADJ_RIB_IN, u)?;
        }
        for u in &self.adj_rib_out {
            w.bytes_record(N_ADJ_RIB_OUT, u)?;
        }
        for t in &self.timers {
            w.record(N_TIMER, |w| {
                w.u8(t.kind as u8);
                put_family(w, t.family);
                w.u32(t.left_ms);
                Ok(())
            })?;
        }
        for (tag, families) in
            [(N_END_OF_RIB_SENT, &self.end_of_rib_sent), (N_END_OF_RIB_RECEIVED, &self.end_of_rib_received)]
        {
            w.record(tag, |w| {
                families.iter().for_each(|f| put_family(w, *f));
                Ok(())
            })?;
        }
        let p = &self.prefix_limit;
        w.record(N_PREFIX_LIMIT, |w| {
            // At most 255 families are warned of; there are far fewer families.
            let warned = &p.warned[..p.warned.len().min(usize::from(u8::MAX))];
            w.u8(warned.len() as u8);
            for f in warned {
                put_family(w, *f);
            }
            match p.tripped {
                None => w.u8(0),
                Some((f, at)) => {
                    w.u8(1);
                    put_family(w, f);
                    w.u64(at);
                }
            }
            Ok(())
        })
    }

    fn decode(value: &[u8]) -> Result<NeighborState, DecodeError> {
        let mut r = Reader::new(value);
        let mut req = Required::default();
        let unspecified = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let mut n = NeighborState::new(unspecified, -1, SocketAddr::new(unspecified, 0));
        while let Some(record) = r.record() {
            let (tag, value) = record?;
            n.decode_field(&mut req, tag, value).map_err(|Short| malformed(tag, "short"))??;
        }
        n.address = req.address.ok_or(malformed(N_ADDRESS, "missing"))?;
        (n.fd, n.local_address) = req.socket.ok_or(malformed(N_SOCKET, "missing"))?;
        n.local_open = req.local_open.ok_or(malformed(N_LOCAL_OPEN, "missing"))?;
        n.remote_open = req.remote_open.ok_or(malformed(N_REMOTE_OPEN, "missing"))?;
        (n.hold_time, n.hold_left_ms, n.keepalive_left_ms) = req.hold.ok_or(malformed(N_HOLD, "missing"))?;
        Ok(n)
    }

    /// One record of a neighbor: `Err(Short)` when its value is too short, `Ok(Err(_))` when it
    /// is otherwise wrong.
    fn decode_field(&mut self, req: &mut Required, tag: u16, value: &[u8]) -> Result<Result<(), DecodeError>, Short> {
        let mut v = Reader::new(value);
        match tag {
            N_ADDRESS => req.address = Some(address(&mut v)?),
            N_SOCKET => req.socket = Some((v.u32()? as i32, socket_address(&mut v)?)),
            N_LOCAL_OPEN => req.local_open = Some(value.to_vec()),
            N_REMOTE_OPEN => req.remote_open = Some(value.to_vec()),
            N_HOLD => req.hold = Some((v.u16()?, v.u32()?, v.u32()?)),
            N_UPTIME => self.established_ms = v.u64()?,
            N_COUNTERS => {
                self.counters = Counters {
                    messages_received: v.u64()?,
                    messages_sent: v.u64()?,
                    updates_received: v.u64()?,
                    updates_sent: v.u64()?,
                    established_transitions: v.u64()?,
                }
            }
            N_UNREAD => self.unread = value.to_vec(),
            N_UNWRITTEN => self.unwritten = value.to_vec(),
            N_ADJ_RIB_IN => self.adj_rib_in.push(value.to_vec()),
            N_ADJ_RIB_OUT => self.adj_rib_out.push(value.to_vec()),
            N_TIMER => {
                let Some(kind) = TimerKind::from_u8(v.u8()?) else {
                    return Ok(Err(malformed(tag, "unknown timer kind")));
                };
                let family = family(&mut v)?;
                self.timers.push(Timer { kind, family, left_ms: v.u32()? });
            }
            N_PREFIX_LIMIT => self.prefix_limit = decode_prefix_limit(&mut v)?,
            N_END_OF_RIB_SENT | N_END_OF_RIB_RECEIVED => {
                let mut families = Vec::new();
                while !v.is_empty() {
                    families.push(family(&mut v)?);
                }
                if tag == N_END_OF_RIB_SENT {
                    self.end_of_rib_sent = families;
                } else {
                    self.end_of_rib_received = families;
                }
            }
            t if t & MUST_UNDERSTAND != 0 => return Ok(Err(DecodeError::UnknownRequired(t))),
            _ => {}
        }
        Ok(Ok(()))
    }
}

fn decode_prefix_limit(r: &mut Reader) -> Result<PrefixLimit, Short> {
    let count = r.u8()?;
    let mut p = PrefixLimit::default();
    for _ in 0..count {
        p.warned.push(family(r)?);
    }
    if r.u8()? != 0 {
        let f = family(r)?;
        p.tripped = Some((f, r.u64()?));
    }
    Ok(p)
}
