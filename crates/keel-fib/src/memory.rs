//! In-memory [`Fib`] for tests of the daemon's FIB task and the restarting speaker.
//!
//! A map from prefix to next hops stands for keel's table; a separate list of "kernel" routes
//! (connected, IGP) answers [`Fib::resolve`] by longest match, lowest metric on ties, as the
//! kernel would. keel's own routes never resolve (RFC 4271 §9.1.2.1 recursion is through the
//! IGP only). Counters show how much work a batch caused, so a test can assert that a
//! reconcile touched nothing it did not have to.

use crate::fib::{
    covers, ApplyReport, Fib, FibChange, FibError, FibRoute, NextHop, Resolution, RouteError, RouteFailure,
};
use keel_wire::Prefix;
use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

/// Work done by a [`MemoryFib`] since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryCounters {
    /// Upserts that installed a new route or changed one.
    pub upserts: usize,
    /// Deletes that removed a route.
    pub deletes: usize,
    /// Upserts of a route already installed the same way, and deletes of absent routes.
    pub noops: usize,
}

/// See the [module documentation](self).
#[derive(Debug, Clone, Default)]
pub struct MemoryFib {
    routes: BTreeMap<Prefix, Vec<NextHop>>,
    kernel: Vec<Resolution>,
    failing: HashSet<Prefix>,
    counters: MemoryCounters,
}

impl MemoryFib {
    pub fn new() -> Self {
        Self::default()
    }
    /// A table already holding `routes`, as a previous keel process left it; not counted.
    pub fn with_owned(routes: impl IntoIterator<Item = FibRoute>) -> Self {
        MemoryFib { routes: routes.into_iter().map(|r| (r.prefix, r.next_hops)).collect(), ..Self::default() }
    }
    /// Adds a route owned by someone else (connected, IGP), used only by [`Fib::resolve`].
    pub fn add_kernel_route(&mut self, route: Resolution) {
        self.kernel.push(route);
    }
    /// Makes every later change to `prefix` fail with [`RouteError::Injected`].
    pub fn fail_prefix(&mut self, prefix: Prefix) {
        self.failing.insert(prefix);
    }
    pub fn counters(&self) -> MemoryCounters {
        self.counters
    }
    pub fn reset_counters(&mut self) {
        self.counters = MemoryCounters::default();
    }
    /// keel's routes, in prefix order.
    pub fn routes(&self) -> Vec<FibRoute> {
        self.routes.iter().map(|(p, n)| FibRoute::new(*p, n.clone())).collect()
    }
    pub fn get(&self, prefix: &Prefix) -> Option<&[NextHop]> {
        self.routes.get(prefix).map(Vec::as_slice)
    }

    fn apply_now(&mut self, changes: &[FibChange]) -> ApplyReport {
        let mut report = ApplyReport::default();
        for change in changes {
            let prefix = change.prefix();
            let delete = matches!(change, FibChange::Delete(_));
            let fail = |error| RouteFailure { prefix, delete, error };
            if self.failing.contains(&prefix) {
                report.failures.push(fail(RouteError::Injected));
                continue;
            }
            match change {
                FibChange::Upsert(route) => {
                    if route.next_hops.is_empty() {
                        report.failures.push(fail(RouteError::NoNextHop));
                        continue;
                    }
                    // IPv4 via an IPv6 gateway (RFC 8950) is fine in the kernel; the reverse is not.
                    if let Some(n) = route.next_hops.iter().find(|n| n.gateway.is_ipv4() && !prefix.is_ipv4()) {
                        report.failures.push(fail(RouteError::FamilyMismatch(n.gateway)));
                        continue;
                    }
                    let unchanged = self
                        .routes
                        .get(&prefix)
                        .is_some_and(|old| route.satisfied_by(&FibRoute::new(prefix, old.clone())));
                    if unchanged {
                        self.counters.noops += 1;
                    } else {
                        self.counters.upserts += 1;
                        self.routes.insert(prefix, route.next_hops.clone());
                    }
                    report.upserted += 1;
                }
                FibChange::Delete(_) => {
                    if self.routes.remove(&prefix).is_some() {
                        self.counters.deletes += 1;
                        report.deleted += 1;
                    } else {
                        self.counters.noops += 1;
                        report.absent += 1;
                    }
                }
            }
        }
        report
    }

    fn resolve_now(&self, addr: IpAddr) -> Option<Resolution> {
        self.kernel
            .iter()
            .filter(|r| covers(&r.prefix, addr))
            .min_by_key(|r| (std::cmp::Reverse(r.prefix.len()), r.metric))
            .cloned()
    }
}

impl Fib for MemoryFib {
    async fn apply(&mut self, changes: &[FibChange]) -> Result<ApplyReport, FibError> {
        Ok(self.apply_now(changes))
    }
    async fn read_owned(&mut self) -> Result<Vec<FibRoute>, FibError> {
        Ok(self.routes())
    }
    async fn resolve(&mut self, addr: IpAddr) -> Result<Option<Resolution>, FibError> {
        Ok(self.resolve_now(addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile;

    fn route(p: &str, gws: &[&str]) -> FibRoute {
        FibRoute::new(p.parse().unwrap(), gws.iter().map(|g| NextHop::new(g.parse().unwrap())).collect())
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn counts_upserts_deletes_and_noops() {
        let mut fib = MemoryFib::new();
        let a = route("198.51.100.0/24", &["192.0.2.2"]);
        let report = block_on(fib.apply(&[
            FibChange::Upsert(a.clone()),
            FibChange::Upsert(a.clone()),
            FibChange::Upsert(route("198.51.100.0/24", &["192.0.2.3"])),
            FibChange::Delete("203.0.113.0/24".parse().unwrap()),
        ]))
        .unwrap();
        assert_eq!((report.upserted, report.deleted, report.absent), (3, 0, 1));
        assert_eq!(fib.counters(), MemoryCounters { upserts: 2, deletes: 0, noops: 2 });
        assert_eq!(fib.routes(), [route("198.51.100.0/24", &["192.0.2.3"])]);
        block_on(fib.apply(&[FibChange::Delete(a.prefix)])).unwrap();
        assert_eq!(fib.counters().deletes, 1);
        assert!(fib.routes().is_empty());
    }

    #[test]
    fn a_failure_does_not_abort_the_batch() {
        let mut fib = MemoryFib::new();
        fib.fail_prefix("198.51.100.0/24".parse().unwrap());
        let report = block_on(fib.apply(&[
            FibChange::Upsert(route("198.51.100.0/24", &["192.0.2.2"])),
            FibChange::Upsert(route("203.0.113.0/24", &[])),
            FibChange::Upsert(route("2001:db8:1::/48", &["192.0.2.2"])),
            FibChange::Upsert(route("192.0.2.0/25", &["2001:db8::2"])),
        ]))
        .unwrap();
        assert_eq!(report.upserted, 1);
        let errors: Vec<_> = report.failures.iter().map(|f| f.error.clone()).collect();
        assert_eq!(
            errors,
            [RouteError::Injected, RouteError::NoNextHop, RouteError::FamilyMismatch("192.0.2.2".parse().unwrap())]
        );
    }

    #[test]
    fn restart_reconcile_touches_only_differences() {
        let before: Vec<_> = (0..100u8).map(|i| route(&format!("198.51.{i}.0/24"), &["192.0.2.2"])).collect();
        let mut fib = MemoryFib::with_owned(before.clone());
        let mut wanted = before.clone();
        wanted[3].next_hops = vec![NextHop::new("192.0.2.3".parse().unwrap())];
        wanted.pop();
        let owned = block_on(fib.read_owned()).unwrap();
        let changes = reconcile(&owned, &wanted);
        block_on(fib.apply(&changes)).unwrap();
        assert_eq!(fib.counters(), MemoryCounters { upserts: 1, deletes: 1, noops: 0 });
        assert_eq!(block_on(fib.read_owned()).unwrap(), {
            let mut w = wanted.clone();
            w.sort_by_key(|r| r.prefix);
            w
        });
    }

    #[test]
    fn resolve_uses_longest_kernel_route_never_keel_routes() {
        let mut fib = MemoryFib::with_owned([route("192.0.2.0/25", &["198.51.100.1"])]);
        let kernel = |p: &str, gw: Option<&str>, metric| Resolution {
            prefix: p.parse().unwrap(),
            gateway: gw.map(|g| g.parse().unwrap()),
            ifindex: Some(2),
            metric,
            table: crate::MAIN_TABLE,
            protocol: 2,
        };
        fib.add_kernel_route(kernel("192.0.2.0/24", None, 0));
        fib.add_kernel_route(kernel("0.0.0.0/0", Some("203.0.113.1"), 10));
        fib.add_kernel_route(kernel("0.0.0.0/0", Some("203.0.113.2"), 5));
        let r = block_on(fib.resolve("192.0.2.2".parse().unwrap())).unwrap().unwrap();
        assert_eq!((r.prefix.to_string(), r.gateway), ("192.0.2.0/24".into(), None));
        let r = block_on(fib.resolve("198.18.0.1".parse().unwrap())).unwrap().unwrap();
        assert_eq!((r.gateway, r.metric), (Some("203.0.113.2".parse().unwrap()), 5));
        assert_eq!(block_on(fib.resolve("2001:db8::2".parse().unwrap())).unwrap(), None);
    }
}
