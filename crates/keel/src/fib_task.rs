//! The FIB task: installs Loc-RIB best paths into the kernel through keel-fib, in batches.
//!
//! BGP next hops are resolved through the kernel's own routes (never keel's): the kernel gets
//! the immediate gateway, and the RIB learns which next hops are unreachable (RFC 4271
//! §9.1.2.1) and their IGP cost (§9.1.2.2 e). Routes keel finds in the kernel at start (from
//! an earlier run) are kept until `keep_owned_for` has passed; those not chosen again by then
//! are deleted, so a restart never removes a route that is still right.

use crate::events::{FibCommand, FibUpdate, ForwardingState, RibEvent};
use keel_fib::{Fib, FibChange, FibRoute, NextHop};
use keel_wire::Prefix;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::HashMap;
use std::net::IpAddr;
use tokio::sync::mpsc;
use tracing::{info, warn};

/// Changes handed to the kernel at a time while a batch is worked through: a million-route
/// withdrawal (a full-table neighbor lost) starts leaving the kernel after the first of them,
/// not after the whole batch was prepared (issue 22: the route out of the kernel soon after
/// BFD Down).
const KERNEL_CHUNK: usize = 16_384;

pub struct FibTask<F: Fib> {
    fib: F,
    rib: mpsc::Sender<RibEvent>,
    /// Resolution of each BGP next hop: (gateway to install, IGP metric), `None` unreachable.
    next_hops: HashMap<IpAddr, Option<(IpAddr, u32)>>,
    /// Routes found in the kernel at start and not yet confirmed by the decision process.
    inherited: FxHashSet<Prefix>,
    /// What the kernel holds from keel, as far as keel knows.
    installed: FxHashMap<Prefix, FibRoute>,
    /// The GR F bit: set when keel's routes survived in the kernel, or once keel has
    /// converged after a cold start (from then on its forwarding state is its own).
    forwarding: ForwardingState,
    /// Inherited routes confirmed unchanged / replaced by the new decision (RFC 4724 §4.1).
    kept: usize,
    replaced: usize,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

impl<F: Fib + Send + 'static> FibTask<F> {
    pub fn new(fib: F, rib: mpsc::Sender<RibEvent>, forwarding: ForwardingState) -> Self {
        FibTask {
            fib,
            rib,
            next_hops: HashMap::new(),
            inherited: FxHashSet::default(),
            installed: FxHashMap::default(),
            forwarding,
            kept: 0,
            replaced: 0,
            metrics: None,
        }
    }

    pub fn with_metrics(mut self, m: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(m);
        self
    }

    /// Reads keel's routes left in the kernel by an earlier run; they are kept (and the F bit
    /// set) until the decision process confirms or replaces them. Done before any session
    /// starts, so the first OPEN already carries the right F bit (RFC 4724 §3).
    pub async fn inherit(&mut self) {
        match self.fib.read_owned().await {
            Ok(routes) => {
                self.inherited = routes.iter().map(|r| r.prefix).collect();
                self.installed = routes.into_iter().map(|r| (r.prefix, r)).collect();
                if !self.inherited.is_empty() {
                    info!(
                        routes = self.inherited.len(),
                        "kernel routes from an earlier run kept while the RIB converges"
                    );
                    self.forwarding.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            Err(e) => warn!(error = %e, "cannot read keel's kernel routes"),
        }
    }

    /// Handles commands in the order they were sent until the queue closes or keeld freezes
    /// the kernel for a restart.
    pub async fn run(mut self, mut rx: mpsc::Receiver<FibCommand>) {
        // A command taken off the queue while gathering route batches, handled next.
        let mut next: Option<FibCommand> = None;
        loop {
            let cmd = match next.take() {
                Some(c) => c,
                None => match rx.recv().await {
                    Some(c) => c,
                    None => return,
                },
            };
            match cmd {
                FibCommand::Freeze(done) => {
                    info!(routes = self.installed.len(), "kernel routes frozen for the restart");
                    let _ = done.send(());
                    while let Some(cmd) = rx.recv().await {
                        if let FibCommand::Freeze(done) | FibCommand::Flush(done) = cmd {
                            let _ = done.send(());
                        }
                    }
                    return;
                }
                FibCommand::Resolve(addr) => {
                    self.resolve(addr).await;
                }
                FibCommand::SweepInherited => self.sweep_inherited().await,
                FibCommand::Routes(mut batch) => {
                    // Consecutive batches go to the kernel together; the first other command
                    // (a sweep, say) keeps its place after them.
                    loop {
                        match rx.try_recv() {
                            Ok(FibCommand::Routes(more)) => batch.extend(more),
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.apply(batch).await;
                }
                FibCommand::Flush(done) => {
                    let changes: Vec<FibChange> = self.installed.drain().map(|(p, _)| FibChange::Delete(p)).collect();
                    match self.fib.apply(&changes).await {
                        Ok(r) => info!(deleted = r.deleted, "kernel routes withdrawn"),
                        Err(e) => warn!(error = %e, "cannot withdraw kernel routes"),
                    }
                    let _ = done.send(());
                }
            }
        }
    }

    async fn sweep_inherited(&mut self) {
        self.forwarding.store(true, std::sync::atomic::Ordering::Relaxed);
        let stale: Vec<FibChange> = self.inherited.drain().map(FibChange::Delete).collect();
        for c in &stale {
            self.installed.remove(&c.prefix());
        }
        if let Ok(r) = self.fib.apply(&stale).await {
            info!(
                kept = self.kept,
                replaced = self.replaced,
                deleted = r.deleted,
                "kernel reconciled after the restart: routes from the earlier run kept, replaced, deleted"
            );
            if let Some(m) = &self.metrics {
                m.fib_operations("deleted", r.deleted as u64);
            }
        }
    }

    async fn resolve(&mut self, nh: IpAddr) -> Option<(IpAddr, u32)> {
        if let Some(r) = self.next_hops.get(&nh) {
            return *r;
        }
        let r = match self.fib.resolve(nh).await {
            Ok(Some(res)) => Some((res.gateway.unwrap_or(nh), res.metric)),
            Ok(None) => None,
            Err(e) => {
                warn!(next_hop = %nh, error = %e, "next hop lookup failed");
                None
            }
        };
        self.next_hops.insert(nh, r);
        // Never wait on the RIB here: the RIB task may itself be waiting for this task's queue.
        let rib = self.rib.clone();
        tokio::spawn(async move {
            let _ = rib.send(RibEvent::NextHop { address: nh, metric: r.map(|x| x.1) }).await;
        });
        r
    }

    async fn apply(&mut self, batch: Vec<FibUpdate>) {
        // The last word on each prefix wins.
        let mut last: FxHashMap<Prefix, Vec<IpAddr>> = FxHashMap::default();
        last.reserve(batch.len());
        for u in batch {
            last.insert(u.prefix, u.next_hops);
        }
        let mut changes = Vec::with_capacity(last.len());
        for (prefix, hops) in last {
            let mut gateways = Vec::new();
            for nh in hops {
                if let Some((gw, _)) = self.resolve(nh).await {
                    if !gateways.iter().any(|g: &NextHop| g.gateway == gw) {
                        gateways.push(NextHop::new(gw));
                    }
                }
            }
            let inherited = self.inherited.remove(&prefix);
            if gateways.is_empty() {
                if self.installed.remove(&prefix).is_some() {
                    changes.push(FibChange::Delete(prefix));
                    if changes.len() >= KERNEL_CHUNK {
                        self.send_to_kernel(std::mem::take(&mut changes)).await;
                    }
                }
                continue;
            }
            let route = FibRoute::new(prefix, gateways);
            // Only what changed reaches the kernel (RFC 4724 §4.1: forwarding state stays).
            if self.installed.get(&prefix).is_some_and(|old| route.satisfied_by(old)) {
                self.kept += usize::from(inherited);
                continue;
            }
            self.replaced += usize::from(inherited);
            self.installed.insert(prefix, route.clone());
            changes.push(FibChange::Upsert(route));
            if changes.len() >= KERNEL_CHUNK {
                self.send_to_kernel(std::mem::take(&mut changes)).await;
            }
        }
        self.send_to_kernel(changes).await;
    }

    /// Hands `changes` to the FIB (the kernel), counting and logging what it refused.
    async fn send_to_kernel(&mut self, changes: Vec<FibChange>) {
        if changes.is_empty() {
            return;
        }
        match self.fib.apply(&changes).await {
            Ok(r) => {
                if let Some(m) = &self.metrics {
                    m.fib_operations("upserted", r.upserted as u64);
                    m.fib_operations("deleted", r.deleted as u64);
                    m.fib_operations("failed", r.failures.len() as u64);
                }
                for f in r.failures.iter().take(5) {
                    warn!(prefix = %f.prefix, error = ?f.error, "kernel refused a route");
                }
            }
            Err(e) => warn!(error = %e, "FIB update failed"),
        }
    }
}
