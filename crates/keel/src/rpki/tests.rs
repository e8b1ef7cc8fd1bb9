//! The RTR client against a scripted cache over in-memory streams, on a paused clock.

use super::*;
use rpki::resources::asn::Asn;
use rpki::rtr::Serial;
use std::net::IpAddr;
use tokio::io::DuplexStream;
use tokio::sync::Mutex;

/// The cache's end of one connection, driven by the test.
struct FakeCache {
    sock: DuplexStream,
}

/// A query as the cache received it.
#[derive(Debug, PartialEq, Eq)]
enum Query {
    Reset { version: u8 },
    Serial { version: u8, session: u16, serial: u32 },
}

impl FakeCache {
    async fn read_pdu(&mut self) -> (pdu::Header, Vec<u8>) {
        let header = pdu::Header::read(&mut self.sock).await.expect("client PDU header");
        let mut body = vec![0; header.length() as usize - 8];
        self.sock.read_exact(&mut body).await.expect("client PDU body");
        (header, body)
    }

    async fn query(&mut self) -> Query {
        let (h, body) = self.read_pdu().await;
        match h.pdu() {
            pdu::ResetQuery::PDU => Query::Reset { version: h.version() },
            pdu::SerialQuery::PDU => Query::Serial {
                version: h.version(),
                session: h.session(),
                serial: u32::from_be_bytes([body[0], body[1], body[2], body[3]]),
            },
            other => panic!("client sent PDU type {other}, not a query"),
        }
    }

    /// A whole update: Cache Response, the prefixes ("+VRP" announces, "-VRP" withdraws),
    /// End of Data with `timing` (version 1) or without (version 0).
    async fn update(&mut self, version: u8, session: u16, serial: u32, vrps: &[&str], timing: Timing) {
        let state = State::from_parts(session, Serial(serial));
        pdu::CacheResponse::new(version, state).write(&mut self.sock).await.unwrap();
        for v in vrps {
            let (flags, v) = (u8::from(v.starts_with('+')), v[1..].parse::<Vrp>().unwrap());
            let p = v.prefix();
            let asn = Asn::from_u32(v.asn());
            let written = match p.addr() {
                IpAddr::V4(a) => {
                    pdu::Ipv4Prefix::new(version, flags, p.len(), v.max_len(), a, asn).write(&mut self.sock).await
                }
                IpAddr::V6(a) => {
                    pdu::Ipv6Prefix::new(version, flags, p.len(), v.max_len(), a, asn).write(&mut self.sock).await
                }
            };
            written.unwrap();
        }
        pdu::EndOfData::new(version, state, timing).write(&mut self.sock).await.unwrap();
    }

    async fn notify(&mut self, version: u8, session: u16, serial: u32) {
        pdu::SerialNotify::new(version, State::from_parts(session, Serial(serial)))
            .write(&mut self.sock)
            .await
            .unwrap();
    }
}

/// Connections the test hands to the client; none pending means "connection refused".
type Connections = Arc<Mutex<mpsc::UnboundedReceiver<DuplexStream>>>;

struct Harness {
    connections: mpsc::UnboundedSender<DuplexStream>,
    published: mpsc::Receiver<(usize, Option<Arc<Vec<Vrp>>>)>,
    status: watch::Receiver<CacheStatus>,
}

impl Harness {
    fn start(refresh: Option<u32>, retry: Option<u32>, expire: Option<u32>) -> Harness {
        let (tx, rx) = mpsc::unbounded_channel();
        let rx: Connections = Arc::new(Mutex::new(rx));
        let (publish, published) = mpsc::channel(16);
        let settings = CacheSettings { address: "192.0.2.7:323".parse().unwrap(), refresh, retry, expire };
        let connect = move || {
            let rx = rx.clone();
            async move {
                rx.lock().await.try_recv().map_err(|_| io::Error::new(io::ErrorKind::ConnectionRefused, "refused"))
            }
        };
        let (status_tx, status) = watch::channel(CacheStatus::new(&settings));
        tokio::spawn(run_cache(settings, connect, Publisher { index: 0, tx: publish }, StatusBoard(status_tx)));
        Harness { connections: tx, published, status }
    }

    /// A new connection for the client's next attempt.
    fn accept(&self) -> FakeCache {
        let (client, cache) = tokio::io::duplex(1 << 16);
        self.connections.send(client).unwrap();
        FakeCache { sock: cache }
    }

    /// The status as `GET /v1/rpki` would show it now.
    fn view(&self) -> RpkiCacheView {
        self.status.borrow().view("192.0.2.7:323".parse().unwrap(), Instant::now())
    }

    /// Waits until the client reports `state`; then its view.
    async fn wait_state(&mut self, state: &str) -> RpkiCacheView {
        let view = self.status.wait_for(|s| s.state.as_str() == state).await.expect("client task alive");
        view.view("192.0.2.7:323".parse().unwrap(), Instant::now())
    }

    async fn next_set(&mut self) -> Option<Vec<String>> {
        let (_, set) = self.published.recv().await.expect("client task alive");
        set.map(|s| s.iter().map(Vrp::to_string).collect())
    }
}

const TIMING: Timing = Timing { refresh: 3600, retry: 600, expire: 7200 };

#[tokio::test(start_paused = true)]
async fn reset_query_then_serial_notify_and_refresh() {
    let mut h = Harness::start(None, None, None);
    let mut cache = h.accept();
    assert_eq!(cache.query().await, Query::Reset { version: 1 });
    cache.update(1, 7, 1, &["+10.0.0.0/8-16 AS64496", "+2001:db8::/32 AS64497"], TIMING).await;
    assert_eq!(h.next_set().await.unwrap(), ["10.0.0.0/8-16 AS64496", "2001:db8::/32-32 AS64497"]);

    // RFC 8210 §5.2: a Serial Notify brings a Serial Query with the last serial.
    cache.notify(1, 7, 2).await;
    assert_eq!(cache.query().await, Query::Serial { version: 1, session: 7, serial: 1 });
    cache.update(1, 7, 2, &["-10.0.0.0/8-16 AS64496", "+192.0.2.0/24 AS64498"], TIMING).await;
    assert_eq!(h.next_set().await.unwrap(), ["192.0.2.0/24-24 AS64498", "2001:db8::/32-32 AS64497"]);

    // Two notifies in a row: the second crosses the Serial Query and needs no other.
    cache.notify(1, 7, 3).await;
    cache.notify(1, 7, 3).await;
    assert_eq!(cache.query().await, Query::Serial { version: 1, session: 7, serial: 2 });
    cache.update(1, 7, 3, &["+198.51.100.0/24 AS64500"], TIMING).await;
    assert_eq!(h.next_set().await.unwrap().len(), 3);

    // Then one after the cache's Refresh Interval.
    let start = Instant::now();
    assert_eq!(cache.query().await, Query::Serial { version: 1, session: 7, serial: 3 });
    assert_eq!(start.elapsed().as_secs(), 3600);
}

#[tokio::test(start_paused = true)]
async fn configured_refresh_overrides_the_caches() {
    let mut h = Harness::start(Some(60), None, None);
    let mut cache = h.accept();
    assert_eq!(cache.query().await, Query::Reset { version: 1 });
    cache.update(1, 7, 1, &["+10.0.0.0/8 AS64496"], TIMING).await;
    h.next_set().await.unwrap();
    let start = Instant::now();
    assert_eq!(cache.query().await, Query::Serial { version: 1, session: 7, serial: 1 });
    assert_eq!(start.elapsed().as_secs(), 60);
}

#[tokio::test(start_paused = true)]
async fn falls_back_to_version_0() {
    let mut h = Harness::start(None, None, None);
    let mut cache = h.accept();
    assert_eq!(cache.query().await, Query::Reset { version: 1 });
    // RFC 8210 §7: a version 0 cache answers "Unsupported Protocol Version" in version 0.
    pdu::Error::new(0, 4, [], "only version 0").write(&mut cache.sock).await.unwrap();
    assert_eq!(cache.query().await, Query::Reset { version: 0 });
    cache.update(0, 9, 5, &["+10.0.0.0/8 AS64496"], TIMING).await;
    assert_eq!(h.next_set().await.unwrap(), ["10.0.0.0/8-8 AS64496"]);
    // Version 0 has no timing in End of Data: the RFC 8210 §6 default refresh applies.
    let start = Instant::now();
    assert_eq!(cache.query().await, Query::Serial { version: 0, session: 9, serial: 5 });
    assert_eq!(start.elapsed().as_secs(), 3600);
}

#[tokio::test(start_paused = true)]
async fn outage_keeps_vrps_until_they_expire() {
    let mut h = Harness::start(None, None, None);
    let mut cache = h.accept();
    cache.query().await;
    cache.update(1, 7, 1, &["+10.0.0.0/8 AS64496"], Timing { refresh: 3600, retry: 5, expire: 600 }).await;
    h.next_set().await.unwrap();
    let synced = Instant::now();
    drop(cache);
    // Unreachable from now on (no connection pending): the VRPs stay for the Expire Interval.
    assert_eq!(h.next_set().await, None);
    assert_eq!(synced.elapsed().as_secs(), 600);
    // Reachable again: a Reset Query, since the state went with the data.
    let mut cache = h.accept();
    let q = tokio::time::timeout(Duration::from_secs(6), cache.query()).await.expect("reconnects within retry");
    assert_eq!(q, Query::Reset { version: 1 });
}

#[tokio::test(start_paused = true)]
async fn reconnect_sends_serial_query_and_follows_cache_reset() {
    let mut h = Harness::start(None, Some(5), None);
    let mut cache = h.accept();
    cache.query().await;
    cache.update(1, 7, 1, &["+10.0.0.0/8 AS64496"], TIMING).await;
    h.next_set().await.unwrap();
    drop(cache);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let mut cache = h.accept();
    // The session state survived the outage.
    assert_eq!(cache.query().await, Query::Serial { version: 1, session: 7, serial: 1 });
    // A restarted cache has another session: Cache Reset, then a Reset Query (RFC 8210 §5.9).
    pdu::CacheReset::new(1).write(&mut cache.sock).await.unwrap();
    assert_eq!(cache.query().await, Query::Reset { version: 1 });
    cache.update(1, 8, 1, &["+198.51.100.0/24 AS64500"], TIMING).await;
    // No flush in between: the next set published is the new one.
    assert_eq!(h.next_set().await.unwrap(), ["198.51.100.0/24-24 AS64500"]);
}

#[tokio::test(start_paused = true)]
async fn error_answer_to_serial_query_leads_to_reset_query() {
    let mut h = Harness::start(None, Some(5), None);
    let mut cache = h.accept();
    cache.query().await;
    cache.update(1, 7, 1, &["+10.0.0.0/8 AS64496"], TIMING).await;
    h.next_set().await.unwrap();
    drop(cache);
    let mut cache = h.accept();
    assert_eq!(cache.query().await, Query::Serial { version: 1, session: 7, serial: 1 });
    // StayRTR's answer after its restart (RFC 8210 §5.1): Corrupt Data, and it closes.
    pdu::Error::new(1, 0, [], "Session ID mismatch: client is desynchronized").write(&mut cache.sock).await.unwrap();
    drop(cache);
    let mut cache = h.accept();
    assert_eq!(cache.query().await, Query::Reset { version: 1 });
    cache.update(1, 8, 3, &["+198.51.100.0/24 AS64500"], TIMING).await;
    assert_eq!(h.next_set().await.unwrap(), ["198.51.100.0/24-24 AS64500"], "replaced, never flushed before");
}

#[tokio::test(start_paused = true)]
async fn duplicate_announcement_is_reported_and_the_set_kept() {
    let mut h = Harness::start(None, Some(5), None);
    let mut cache = h.accept();
    cache.query().await;
    cache.update(1, 7, 1, &["+10.0.0.0/8 AS64496"], TIMING).await;
    h.next_set().await.unwrap();
    cache.notify(1, 7, 2).await;
    cache.query().await;
    cache.update(1, 7, 2, &["+192.0.2.0/24 AS1", "+10.0.0.0/8 AS64496"], TIMING).await;
    let (header, _) = cache.read_pdu().await;
    assert_eq!((header.pdu(), header.session()), (pdu::Error::PDU, 7), "Error Report, Duplicate Announcement");
    drop(cache);
    let mut cache = h.accept();
    assert_eq!(cache.query().await, Query::Reset { version: 1 });
    cache.update(1, 8, 1, &["+10.0.0.0/8 AS64496", "+192.0.2.0/24 AS1"], TIMING).await;
    assert_eq!(h.next_set().await.unwrap(), ["10.0.0.0/8-8 AS64496", "192.0.2.0/24-24 AS1"]);
}

/// The status `keel show rpki` reads follows the client: down while refused, synchronizing,
/// connected in a session, down with its VRPs kept until they expire.
#[tokio::test(start_paused = true)]
async fn status_follows_the_session() {
    let mut h = Harness::start(None, Some(5), None);
    let down = h.wait_state("down").await;
    assert_eq!(down.last_error.as_deref(), Some("refused"));
    assert_eq!((down.session_id, down.serial, down.version, down.last_update_s_ago), (None, None, None, None));
    assert_eq!((down.refresh_s, down.retry_s, down.expire_s), (3600, 5, 7200), "the RFC 8210 §6 defaults but retry");
    assert_eq!(down.vrps, VrpCounts::default());
    let mut cache = h.accept();
    cache.query().await;
    assert_eq!(h.view().state, "synchronizing");
    let timing = Timing { refresh: 900, retry: 60, expire: 1800 };
    cache.update(1, 7, 3, &["+10.0.0.0/8 AS64496", "+192.0.2.0/24 AS1", "+2001:db8::/32 AS64497"], timing).await;
    h.next_set().await.unwrap();
    let up = h.wait_state("connected").await;
    assert_eq!((up.session_id, up.serial, up.version), (Some(7), Some(3), Some(1)));
    assert_eq!(up.vrps, VrpCounts { ipv4: 2, ipv6: 1 });
    assert_eq!((up.refresh_s, up.retry_s, up.expire_s), (900, 5, 1800), "the cache's, but the configured retry");
    assert_eq!((up.last_update_s_ago, up.expires_in_s), (Some(0), Some(1800)));
    tokio::time::sleep(Duration::from_secs(100)).await;
    let view = h.view();
    assert_eq!((view.state.as_str(), view.state_since_s, view.last_update_s_ago), ("connected", 100, Some(100)));
    // The cache goes away: down, its VRPs and session kept; they expire 1800 s after the update.
    drop(cache);
    let down = h.wait_state("down").await;
    assert_eq!((down.vrps.ipv4, down.serial, down.expires_in_s), (2, Some(3), Some(1700)));
    assert!(down.last_error.is_some_and(|e| e.contains("closed")), "{:?}", h.view());
    assert_eq!(h.next_set().await, None);
    let expired = h.view();
    assert_eq!((expired.vrps, expired.serial, expired.last_update_s_ago), (VrpCounts::default(), None, None));
    assert_eq!(expired.version, Some(1), "kept for the next connection");
}

#[tokio::test]
async fn merge_is_the_union_until_every_cache_expires() {
    let (tx, rx) = mpsc::channel(4);
    let (out, mut snapshots) = watch::channel(None);
    let caches = vec!["192.0.2.7:323".parse().unwrap(), "192.0.2.8:323".parse().unwrap()];
    tokio::spawn(merge(rx, caches, Arc::new(out)));
    let set = |v: &[&str]| Some(Arc::new(v.iter().map(|s| s.parse::<Vrp>().unwrap()).collect::<Vec<_>>()));
    let p = |s: &str| s.parse::<Prefix>().unwrap();
    let mut next = async || {
        snapshots.changed().await.unwrap();
        snapshots.borrow_and_update().clone()
    };
    tx.send((0, set(&["10.0.0.0/8 AS1"]))).await.unwrap();
    assert_eq!(next().await.unwrap().len(), 1);
    tx.send((1, set(&["10.0.0.0/8 AS1", "192.0.2.0/24 AS2"]))).await.unwrap();
    let t = next().await.unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(t.validate(&p("192.0.2.0/24"), Some(2)), RpkiState::Valid);
    tx.send((1, None)).await.unwrap();
    let t = next().await.unwrap();
    assert_eq!(t.validate(&p("192.0.2.0/24"), Some(2)), RpkiState::NotFound);
    tx.send((0, None)).await.unwrap();
    assert!(next().await.is_none());
}

#[test]
fn validator_states() {
    let rpki = Rpki::disabled(65000);
    assert!(!rpki.is_enabled());
    let p: Prefix = "10.0.0.0/8".parse().unwrap();
    assert_eq!(rpki.state(&p, None), None);
    let v = Validator {
        table: Some(Arc::new(VrpTable::new(["10.0.0.0/8 AS65000".parse::<Vrp>().unwrap()]))),
        local_as: 65000,
    };
    assert_eq!(v.state(&p, None), Some(RpkiState::Valid));
    assert_eq!(v.state(&p, Some(&AsPath::sequence(vec![64496]))), Some(RpkiState::Invalid));
}
