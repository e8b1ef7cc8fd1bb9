//! The types every backend shares: a route, a change, what applying changes did, errors,
//! next-hop resolution, and the [`Fib`] trait itself.

use keel_wire::Prefix;
use std::future::Future;
use std::net::IpAddr;

/// keel's routing protocol id in the kernel (`rtm_protocol`), as in `/etc/iproute2/rt_protos`
/// style tables; 186 is unassigned by the kernel and iproute2.
pub const DEFAULT_PROTOCOL: u8 = 186;
/// The kernel's main table (`RT_TABLE_MAIN`): routes there forward without extra `ip rule`s.
pub const MAIN_TABLE: u32 = 254;

/// One way to forward: a gateway, optionally pinned to an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NextHop {
    pub gateway: IpAddr,
    /// Outgoing interface; `None` lets the kernel find it from the gateway.
    pub ifindex: Option<u32>,
}

impl NextHop {
    pub fn new(gateway: IpAddr) -> Self {
        NextHop { gateway, ifindex: None }
    }
    pub fn with_ifindex(gateway: IpAddr, ifindex: u32) -> Self {
        NextHop { gateway, ifindex: Some(ifindex) }
    }
    /// Whether an installed next hop does what `self` asks. The kernel always reports the
    /// interface it chose, so a wanted next hop without one matches any interface.
    pub fn satisfied_by(&self, installed: &NextHop) -> bool {
        self.gateway == installed.gateway && (self.ifindex.is_none() || self.ifindex == installed.ifindex)
    }
}

/// A route to install: one next hop, or several for ECMP (`RTA_MULTIPATH`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FibRoute {
    pub prefix: Prefix,
    pub next_hops: Vec<NextHop>,
}

impl FibRoute {
    pub fn new(prefix: Prefix, next_hops: Vec<NextHop>) -> Self {
        FibRoute { prefix, next_hops }
    }
    /// Whether `installed` forwards as `self` wants: same prefix, same set of next hops (order
    /// and duplicates do not matter, as ECMP spreads flows by hash, not by position).
    pub fn satisfied_by(&self, installed: &FibRoute) -> bool {
        if self.prefix != installed.prefix {
            return false;
        }
        match (self.next_hops.as_slice(), installed.next_hops.as_slice()) {
            ([w], [i]) => w.satisfied_by(i),
            _ => {
                let (mut w, mut i) = (self.next_hops.clone(), installed.next_hops.clone());
                w.sort_unstable_by_key(|n| n.gateway);
                w.dedup();
                i.sort_unstable_by_key(|n| n.gateway);
                i.dedup();
                w.len() == i.len() && w.iter().zip(&i).all(|(w, i)| w.satisfied_by(i))
            }
        }
    }
}

/// One change to the forwarding table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FibChange {
    /// Install or replace in place (never delete then add: forwarding must not blink).
    Upsert(FibRoute),
    /// Remove keel's route for the prefix, if any.
    Delete(Prefix),
}

impl FibChange {
    pub fn prefix(&self) -> Prefix {
        match self {
            FibChange::Upsert(r) => r.prefix,
            FibChange::Delete(p) => *p,
        }
    }
}

/// What one [`Fib::apply`] did. A failed route does not abort the batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Routes installed or replaced.
    pub upserted: usize,
    /// Routes removed.
    pub deleted: usize,
    /// Deletes of routes that were not there (not a failure: the goal state holds).
    pub absent: usize,
    pub failures: Vec<RouteFailure>,
}

impl ApplyReport {
    /// Operations that changed (or rewrote) the table.
    pub fn operations(&self) -> usize {
        self.upserted + self.deleted
    }
}

/// One change the backend refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteFailure {
    pub prefix: Prefix,
    pub delete: bool,
    pub error: RouteError,
}

/// Why one route could not be changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The kernel answered with an error; `message` is its extended ack text, if any.
    #[error("kernel: {} (errno {errno}){}", std::io::Error::from_raw_os_error(*errno), message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kernel { errno: i32, message: Option<String> },
    #[error("route has no next hop")]
    NoNextHop,
    #[error("next hop {0} cannot be used for a route of this address family")]
    FamilyMismatch(IpAddr),
    /// Injected by [`MemoryFib::fail_prefix`].
    #[error("injected failure")]
    Injected,
}

/// Errors that stop a whole operation (as opposed to [`RouteFailure`]).
#[derive(Debug, thiserror::Error)]
pub enum FibError {
    #[error("netlink socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("kernel refused {request}: {error}")]
    Kernel { request: &'static str, error: RouteError },
    #[error("malformed netlink message from the kernel: {0}")]
    Malformed(&'static str),
    #[error("route dump kept being interrupted by concurrent changes")]
    DumpInterrupted,
}

/// How the kernel reaches an address (RFC 4271 §9.1.2.1 "immediate next hop").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The covering route that matched.
    pub prefix: Prefix,
    /// `None` when the address is directly connected.
    pub gateway: Option<IpAddr>,
    pub ifindex: Option<u32>,
    /// The route's metric (`RTA_PRIORITY`): the interior cost for RFC 4271 §9.1.2.2 (e).
    pub metric: u32,
    pub table: u32,
    pub protocol: u8,
}

/// A forwarding table. Futures are `Send` so the daemon's FIB task can run anywhere.
pub trait Fib {
    /// Applies changes in order, batched; per-route failures are reported, not fatal.
    fn apply(&mut self, changes: &[FibChange]) -> impl Future<Output = Result<ApplyReport, FibError>> + Send;
    /// Every route this speaker owns (its table and protocol id), for reconcile after restart.
    fn read_owned(&mut self) -> impl Future<Output = Result<Vec<FibRoute>, FibError>> + Send;
    /// How `addr` is reached through routes *not* owned by keel; `None` if unreachable.
    fn resolve(&mut self, addr: IpAddr) -> impl Future<Output = Result<Option<Resolution>, FibError>> + Send;
}

/// Whether `prefix` covers `addr` (same family, leading bits equal).
pub(crate) fn covers(prefix: &Prefix, addr: IpAddr) -> bool {
    prefix.is_ipv4() == addr.is_ipv4() && Prefix::new(addr, prefix.len()).is_some_and(|p| p == *prefix)
}
