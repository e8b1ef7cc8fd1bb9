//! keel's own restart: kernel routes inherited from the previous run, selection deferral, the sweep, families not negotiated.

use super::*;

/// A [`keel_fib::MemoryFib`] whose every change is also written to a shared log, so a test
/// sees the order of kernel operations after the FIB task owns the table.
struct Recording {
    table: keel_fib::MemoryFib,
    log: FibLog,
}

type FibLog = Arc<std::sync::Mutex<Vec<keel_fib::FibChange>>>;

/// The prefixes deleted from the kernel, in order.
fn deletes(log: &[keel_fib::FibChange]) -> Vec<String> {
    log.iter()
        .filter_map(|c| match c {
            keel_fib::FibChange::Delete(p) => Some(p.to_string()),
            _ => None,
        })
        .collect()
}

impl Recording {
    /// A table holding `inherited` (via 192.0.2.9, on a connected /24) as an earlier keeld
    /// left it, and the log of what is done to it from now on.
    fn inherited(inherited: &[&str]) -> (Recording, FibLog) {
        let mut table = keel_fib::MemoryFib::with_owned(inherited.iter().map(|p| {
            let hop = keel_fib::NextHop::new(IpAddr::from([192, 0, 2, 9]));
            keel_fib::FibRoute::new(p.parse().expect("prefix"), vec![hop])
        }));
        table.add_kernel_route(keel_fib::Resolution {
            prefix: "192.0.2.0/24".parse().expect("prefix"),
            gateway: None,
            ifindex: Some(2),
            metric: 0,
            table: 254,
            protocol: 2,
        });
        let log = FibLog::default();
        (Recording { table, log: log.clone() }, log)
    }
}

impl keel_fib::Fib for Recording {
    async fn apply(&mut self, changes: &[keel_fib::FibChange]) -> Result<keel_fib::ApplyReport, keel_fib::FibError> {
        self.log.lock().expect("log").extend_from_slice(changes);
        self.table.apply(changes).await
    }
    async fn read_owned(&mut self) -> Result<Vec<keel_fib::FibRoute>, keel_fib::FibError> {
        self.table.read_owned().await
    }
    async fn resolve(&mut self, addr: IpAddr) -> Result<Option<keel_fib::Resolution>, keel_fib::FibError> {
        self.table.resolve(addr).await
    }
}

/// keeld starting with `inherited` in the kernel: a FIB task and a RIB task started as the
/// daemon does, the RIB in selection deferral for `deferral` (waiting for `expected`) when
/// given, and holding inherited routes for `hold`.
async fn with_inherited_routes(
    inherited: &[&str],
    deferral: Option<Duration>,
    hold: Duration,
    expected: Vec<IpAddr>,
) -> (Rig, FibLog) {
    let (recording, log) = Recording::inherited(inherited);
    let (tx, rx) = mpsc::channel(1024);
    let (fib_tx, fib_rx) = mpsc::channel(64);
    let forwarding = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut fib = crate::fib_task::FibTask::new(recording, tx.clone(), forwarding);
    fib.inherit().await;
    tokio::spawn(fib.run(fib_rx));
    // The FIB is ready a little before the RIB, as in the daemon.
    tokio::time::advance(Duration::from_millis(5)).await;
    let restarting = Arc::new(std::sync::atomic::AtomicBool::new(deferral.is_some()));
    let task = rib_task(Some(fib_tx)).with_deferral(deferral, restarting, expected, None).with_inherited_hold(hold);
    tokio::spawn(task.run(rx));
    (Rig { tx }, log)
}

/// Issue 16, defect 1: when selection deferral ended by its timer (a GR neighbor slow to send
/// End-of-RIB), the FIB task's own timer of the same length fired first and deleted every
/// inherited kernel route, re-added milliseconds later. Fails on the code before the fix with
/// 3 deletes.
#[tokio::test(start_paused = true)]
async fn restart_deferral_ended_by_timer_deletes_no_inherited_route() {
    let a = Neighbor::new(1, 65001, false);
    let inherited = ["198.51.100.0/24", "203.0.113.0/24", "192.0.2.128/25"];
    let deferral = Duration::from_secs(120);
    let (rig, log) = with_inherited_routes(&inherited, Some(deferral), deferral, vec![a.address]).await;
    rig.send(a.up()).await;
    rig.send(a.announce(&["198.51.100.0/24", "203.0.113.0/24"], &[65001], vec![])).await;
    rig.routes().await;
    // No End-of-RIB from a: the deferral ends by its timer.
    for _ in 0..130 {
        advance(1).await;
    }
    rig.routes().await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let log = log.lock().expect("log").clone();
    let deleted = deletes(&log);
    let upserted = log.iter().filter(|c| matches!(c, keel_fib::FibChange::Upsert(_))).count();
    assert_eq!(deleted, vec!["192.0.2.128/25"], "only the route no longer chosen goes");
    assert_eq!(upserted, 0, "the two routes chosen again stay untouched");
}

/// Without a deferral (helper only), inherited routes stay for the hold and then only the ones
/// not chosen again go: the sweep follows the table.
#[tokio::test(start_paused = true)]
async fn inherited_routes_not_chosen_again_go_after_the_hold() {
    let a = Neighbor::new(1, 65001, false);
    let inherited = ["198.51.100.0/24", "192.0.2.128/25"];
    let (rig, log) = with_inherited_routes(&inherited, None, Duration::from_secs(120), Vec::new()).await;
    rig.send(a.up()).await;
    rig.send(a.announce(&["198.51.100.0/24"], &[65001], vec![])).await;
    rig.routes().await;
    advance(60).await;
    rig.routes().await;
    assert!(log.lock().expect("log").is_empty(), "nothing moves before the hold ends");
    advance(61).await;
    rig.routes().await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let log = log.lock().expect("log").clone();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(matches!(&log[0], keel_fib::FibChange::Delete(p) if p.to_string() == "192.0.2.128/25"), "{log:?}");
}

/// RFC 4760 §8: a session carries the families both sides advertised. IPv6 routes from a
/// neighbor that negotiated IPv4 unicast only are ignored: they reach neither the RIB nor the
/// kernel (found by the session fuzz harness).
#[tokio::test(start_paused = true)]
async fn routes_of_a_family_not_negotiated_are_ignored() {
    let rig = Rig::start();
    let a = Neighbor::new(1, 65001, false);
    rig.send(a.up()).await;
    let attributes = igp_path(&[65001]);
    let hop = NextHop::V6 { global: "2001:db8::9".parse().expect("address"), link_local: None };
    rig.send(a.announce_attributes(&["2001:db8:1::/48"], &attributes, hop)).await;
    rig.send(a.announce(&["198.51.100.0/24"], &[65001], vec![])).await;
    let routes: Vec<String> = rig.routes().await.into_iter().map(|r| r.prefix).collect();
    assert_eq!(routes, vec!["198.51.100.0/24"], "the IPv4 route only");
}

/// The FIB task takes consecutive route batches together; a command queued right behind them
/// (here the sweep) keeps its place. It used to be taken off the queue and dropped, so the
/// inherited route nobody chose stayed in the kernel for good.
#[tokio::test(start_paused = true)]
async fn a_sweep_queued_behind_route_batches_is_not_lost() {
    let (recording, log) = Recording::inherited(&["198.51.100.0/24", "192.0.2.128/25"]);
    let (rib_tx, _rib_rx) = mpsc::channel(16);
    let (fib_tx, fib_rx) = mpsc::channel(16);
    let mut fib = crate::fib_task::FibTask::new(recording, rib_tx, Arc::new(std::sync::atomic::AtomicBool::new(false)));
    fib.inherit().await;
    let hop = IpAddr::from([192, 0, 2, 9]);
    let update = |p: &str| FibUpdate { prefix: p.parse().expect("prefix"), next_hops: vec![hop] };
    // All queued before the task reads any of it.
    fib_tx.send(FibCommand::Routes(vec![update("198.51.100.0/24")])).await.expect("queue");
    fib_tx.send(FibCommand::Routes(vec![update("203.0.113.0/24")])).await.expect("queue");
    fib_tx.send(FibCommand::SweepInherited).await.expect("queue");
    drop(fib_tx);
    fib.run(fib_rx).await;
    let log = log.lock().expect("log").clone();
    let deleted = deletes(&log);
    assert_eq!(deleted, vec!["192.0.2.128/25"], "the sweep ran: {log:?}");
}
