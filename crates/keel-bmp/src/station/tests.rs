//! The station machinery without a real station: the feed's bound and overrun, the dump's
//! order and End-of-RIB markers, the streamed dump against the one-step one (with and without
//! changes while it runs), and the client's re-dump after an overrun and its Termination,
//! against a listener on 127.0.0.1 with a stand-in RIB task. Time is tokio's paused clock:
//! the reconnect wait passes without sleeping.

use super::encode::{messages as bgp_messages, Encoder, Router};
use super::*;
use crate::header::Timestamp;
use keel_wire::{CodecOptions, Message, Open, Update};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

const ROUTER: Router = Router { asn: 65001, id: Ipv4Addr::new(192, 0, 2, 1) };

fn peer() -> Peer {
    Peer { address: "192.0.2.2".parse().unwrap(), asn: 65002, bgp_id: Ipv4Addr::new(192, 0, 2, 2) }
}

fn open(asn: u32) -> Vec<u8> {
    Message::Open(Open::new(asn, 90, Ipv4Addr::new(192, 0, 2, 9), Vec::new())).encode(&CodecOptions::default()).unwrap()
}

fn session() -> Arc<Session> {
    Arc::new(Session {
        peer: peer(),
        local: "192.0.2.1:179".parse().unwrap(),
        remote_port: 0,
        sent_open: open(65001),
        received_open: open(65002),
        families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
        four_octet_as: true,
    })
}

fn routes(view: View, peer: Option<Peer>) -> Routes {
    let update = Update::end_of_rib(Family::IPV4_UNICAST).encode(&CodecOptions::default()).unwrap();
    Routes { view, peer, legacy_as_path: false, updates: update.into() }
}

/// The changes of a dump of the Loc-RIB and the pre-policy Adj-RIB-In with one neighbor of two
/// families, as [`Feeds`] queues them (its piece markers aside).
fn dump() -> Vec<Change> {
    vec![
        Change::LocRibUp(vec![Family::IPV4_UNICAST]),
        Change::PeerUp(session()),
        Change::Routes(routes(View::LocRib, None)),
        Change::Routes(routes(View::AdjRibInPre, Some(peer()))),
        Change::EndOfRib { view: View::LocRib, peer: None, family: Family::IPV4_UNICAST },
        Change::EndOfRib { view: View::AdjRibInPre, peer: Some(peer()), family: Family::IPV4_UNICAST },
        Change::EndOfRib { view: View::AdjRibInPre, peer: Some(peer()), family: Family::IPV6_UNICAST },
    ]
}

/// (message type, peer type, peer flags) of each BMP message in `bytes`.
fn bmp_messages(bytes: &[u8]) -> Vec<(u8, Option<(u8, u8)>)> {
    let mut v = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 6 {
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        assert!(len >= 6 && len <= rest.len(), "a whole BMP message");
        let t = rest[5];
        let per_peer = matches!(t, 0..=3).then(|| (rest[6], rest[7]));
        v.push((t, per_peer));
        rest = &rest[len..];
    }
    assert!(rest.is_empty(), "trailing octets");
    v
}

fn change(n: u8) -> Change {
    Change::PeerDown { peer: Peer { bgp_id: Ipv4Addr::new(192, 0, 2, n), ..peer() }, reason: Down::Deconfigured }
}

#[test]
fn a_full_feed_overruns_once_and_sends_nothing_until_restarted() {
    let (tx, mut rx) = mpsc::channel(2);
    let link = Arc::new(Link::new("192.0.2.9:1790".parse().unwrap()));
    let mut feed = Feed::new(tx, link.clone(), vec![View::LocRib]);
    assert!(!feed.send(change(1)), "not live before its dump");
    link.attach();
    feed.start(7);
    assert!(feed.wants(View::LocRib) && !feed.wants(View::AdjRibInPre));
    assert!(feed.send(change(1)) && feed.send(change(2)));
    assert!(!feed.send(change(3)), "the third does not fit");
    assert!((link.detached(), link.overruns(), feed.live()) == (true, 1, false));
    assert!(!feed.send(change(4)), "off until the next dump");
    assert_eq!(link.overruns(), 1);
    assert_eq!(rx.try_recv().map(|(epoch, _)| epoch).ok(), Some(7));
}

#[test]
fn a_detached_station_turns_its_feed_off() {
    let (tx, _rx) = mpsc::channel(8);
    let link = Arc::new(Link::new("192.0.2.9:1790".parse().unwrap()));
    let mut feed = Feed::new(tx, link.clone(), vec![View::LocRib]);
    link.attach();
    feed.start(1);
    link.detach();
    assert!(!feed.send(change(1)));
    assert!(!feed.live());
    assert_eq!(link.overruns(), 0, "a lost session is no overrun");
}

#[test]
fn a_dump_is_peer_ups_then_routes_then_end_of_rib_per_view_peer_and_family() {
    let views = [View::AdjRibInPre, View::AdjRibInPost, View::LocRib, View::AdjRibOutPost];
    let (rib, n) = rib_with(&["198.51.100.0/24"]);
    let mut s = (*session()).clone();
    s.peer = n.peer;
    let changes = streamed(&rib, &views, vec![(Arc::new(s), n)], 1, &|_, _| {});
    let mut out = Vec::new();
    let mut e = Encoder { router: ROUTER, now: Timestamp::new(1, 0), out: &mut out, errors: Vec::new() };
    e.initiation("keel", "keel 0.1.0");
    for c in &changes {
        e.change(c);
    }
    assert!(e.errors.is_empty(), "{:?}", e.errors);
    let m = bmp_messages(&out);
    // Initiation; Peer Up of the Loc-RIB instance (type 3) and of the neighbor (type 0).
    assert_eq!(m[..3], [(4, None), (3, Some((3, 0))), (3, Some((0, 0)))]);
    // The routes in the order of the views: pre-policy, post-policy (L), Loc-RIB (the
    // neighbor's Adj-RIB-Out is not lent here: nothing).
    assert_eq!(m[3..6], [(0, Some((0, 0))), (0, Some((0, 0x40))), (0, Some((3, 0)))]);
    // End-of-RIB: 2 families for each of the three neighbor views, 1 for the Loc-RIB, with the
    // view's flags (L = 0x40, O = 0x10).
    let eor: Vec<_> = m[6..].to_vec();
    assert_eq!(
        eor,
        vec![
            (0, Some((0, 0))),
            (0, Some((0, 0))),
            (0, Some((0, 0x40))),
            (0, Some((0, 0x40))),
            (0, Some((3, 0))),
            (0, Some((0, 0x50))),
            (0, Some((0, 0x50))),
        ]
    );
}

type Lend<'a> =
    dyn Fn(std::net::IpAddr, &mut dyn FnMut(&keel_rib::AdjRibOut, &keel_rib::adj_rib_out::ExportPolicy)) + 'a;

/// Every change of a streamed dump of `views` with `sessions`, `piece` routes at a time, the
/// RIB task's side alone: a piece per [`Change::DumpMore`] until [`Change::DumpEnd`].
fn streamed(
    rib: &keel_rib::Rib,
    views: &[View],
    sessions: Vec<(Arc<Session>, from_rib::Neighbor)>,
    piece: usize,
    out: &Lend,
) -> Vec<Change> {
    let live = |_: &Arc<Session>| true;
    let (mut dump, mut changes) = dump::Dump::start(1, views, sessions, rib, piece);
    loop {
        let mut errors = Vec::new();
        let piece = dump.next_piece(rib, &live, out, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let end = piece.last() == Some(&Change::DumpEnd);
        changes.extend(piece.into_iter().filter(|c| !matches!(c, Change::DumpMore | Change::DumpEnd)));
        if end {
            return changes;
        }
    }
}

#[test]
fn only_updates_become_route_monitoring() {
    let mut bytes = Update::end_of_rib(Family::IPV4_UNICAST).encode(&CodecOptions::default()).unwrap();
    bytes.extend(Message::Keepalive.encode(&CodecOptions::default()).unwrap());
    bytes.extend(Update::end_of_rib(Family::IPV6_UNICAST).encode(&CodecOptions::default()).unwrap());
    assert_eq!(bgp_messages(&bytes).count(), 3);
    let r = Routes { view: View::AdjRibOutPost, peer: Some(peer()), legacy_as_path: true, updates: bytes.into() };
    let mut out = Vec::new();
    let mut e = Encoder { router: ROUTER, now: Timestamp::UNAVAILABLE, out: &mut out, errors: Vec::new() };
    e.routes(&r);
    // O, L and A flags.
    assert_eq!(bmp_messages(&out), vec![(0, Some((0, 0x70))), (0, Some((0, 0x70)))]);
    // A truncated tail is no message.
    assert_eq!(bgp_messages(&r.updates[..r.updates.len() - 1]).count(), 2);
}

/// A stand-in RIB task: answers each dump with [`dump`] one change at a time, a piece per
/// [`Request::More`] (turning the feed on, as the RIB task does), and counts them; statistics
/// are empty.
fn rib(mut requests: mpsc::Receiver<Request>, feed: Arc<Mutex<Feed>>) -> Arc<AtomicUsize> {
    let dumps = Arc::new(AtomicUsize::new(0));
    let count = dumps.clone();
    tokio::spawn(async move {
        let mut left: Vec<Change> = Vec::new();
        let next = |left: &mut Vec<Change>| {
            let mut f = feed.lock().unwrap();
            if !left.is_empty() {
                f.send(left.remove(0));
            }
            f.send(if left.is_empty() { Change::DumpEnd } else { Change::DumpMore });
        };
        while let Some(r) = requests.recv().await {
            match r {
                Request::Dump { epoch, reply, .. } => {
                    feed.lock().unwrap().start(epoch);
                    count.fetch_add(1, Ordering::SeqCst);
                    left = dump();
                    next(&mut left);
                    let _ = reply.send(ROUTER);
                }
                Request::More { .. } => next(&mut left),
                Request::Statistics { reply } => {
                    let _ = reply.send(Statistics::default());
                }
            }
        }
    });
    dumps
}

fn config(address: SocketAddr, buffer: usize) -> StationConfig {
    StationConfig {
        address,
        reconnect: Duration::from_secs(30),
        views: vec![View::LocRib, View::AdjRibInPre],
        statistics: None,
        buffer,
        sys_name: "keel".into(),
        sys_descr: "keel 0.1.0".into(),
    }
}

/// Reads whole BMP messages from `s` until `count` of them came; `None` if it closes first.
async fn read_messages(s: &mut TcpStream, count: usize) -> Option<Vec<(u8, Option<(u8, u8)>)>> {
    let mut buf = Vec::new();
    loop {
        let m = complete(&buf);
        if m.len() >= count {
            return Some(bmp_messages(&buf[..m.iter().sum::<usize>()]));
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Lengths of the whole messages at the start of `buf`.
fn complete(buf: &[u8]) -> Vec<usize> {
    let mut v = Vec::new();
    let mut rest = buf;
    while rest.len() >= 6 {
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        if len > rest.len() || len < 6 {
            break;
        }
        v.push(len);
        rest = &rest[len..];
    }
    v
}

/// Initiation, 2 Peer Ups, 2 route messages, 3 End-of-RIBs (Loc-RIB 1, neighbor 2).
const DUMP_MESSAGES: usize = 8;
/// The feed's buffer in the rigs: a piece of the stand-in's dump and its marker.
const BUFFER: usize = 2;

/// A station task with a `buffer`, the stand-in RIB, and the station's end of its first
/// session once the dump was read.
struct Rig {
    listener: TcpListener,
    feed: Arc<Mutex<Feed>>,
    handle: Handle,
    dumps: Arc<AtomicUsize>,
    first: TcpStream,
    /// The first session's dump.
    dump: Vec<(u8, Option<(u8, u8)>)>,
}

async fn rig(buffer: usize) -> Rig {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (requests, requests_rx) = mpsc::channel(4);
    let (feed, handle) = spawn(0, config(listener.local_addr().unwrap(), buffer), requests);
    let feed = Arc::new(Mutex::new(feed));
    let dumps = rib(requests_rx, feed.clone());
    let (mut first, _) = listener.accept().await.unwrap();
    let dump = read_messages(&mut first, DUMP_MESSAGES).await.expect("the dump");
    Rig { listener, feed, handle, dumps, first, dump }
}

#[tokio::test(start_paused = true)]
async fn an_overrun_station_is_dropped_and_dumped_again_on_reconnect() {
    let Rig { listener, feed, handle, dumps, mut first, dump: m } = rig(BUFFER).await;
    assert_eq!(m[0], (4, None));
    assert_eq!(dumps.load(Ordering::SeqCst), 1);
    {
        // Three changes without a yield: the station task cannot drain its two-slot buffer
        // between them.
        let mut f = feed.lock().unwrap();
        assert!(f.send(change(1)) && f.send(change(2)));
        assert!(!f.send(change(3)));
    }
    assert_eq!(handle.link.overruns(), 1);
    // The station closes the session (what it had queued may come first)...
    let mut rest = Vec::new();
    let _ = first.read_to_end(&mut rest).await;
    // ...and after `reconnect` connects again for a fresh dump (the paused clock skips the wait).
    let (mut second, _) = listener.accept().await.unwrap();
    let m = read_messages(&mut second, DUMP_MESSAGES).await.expect("a second dump");
    assert_eq!(m[0], (4, None), "a fresh Initiation");
    assert_eq!(m.iter().filter(|(t, _)| *t == 3).count(), 2, "the Peer Ups again");
    assert_eq!(dumps.load(Ordering::SeqCst), 2);
    // Live again: a change goes through.
    assert!(feed.lock().unwrap().send(change(4)));
    let m = read_messages(&mut second, 1).await.expect("the change");
    assert_eq!(m, vec![(2, Some((0, 0)))], "the Peer Down");
    handle.terminate(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn stopping_sends_a_termination_and_changes_of_an_old_session_are_skipped() {
    let Rig { listener, feed, handle, first, .. } = rig(BUFFER).await;
    // The station goes away: keel reconnects, and what was queued for the old session (epoch 1)
    // does not reach the new one.
    drop(first);
    let (mut second, _) = listener.accept().await.unwrap();
    read_messages(&mut second, DUMP_MESSAGES).await.expect("a second dump");
    // A change the RIB task queued for the first session, still in the channel.
    feed.lock().unwrap().tx.try_send((1, change(9))).expect("room in the buffer");
    tokio::task::yield_now().await;
    handle.terminate(Duration::from_secs(1)).await;
    let mut rest = Vec::new();
    let _ = second.read_to_end(&mut rest).await;
    assert_eq!(bmp_messages(&rest), vec![(5, None)], "only the Termination after the dump");
}

/// A RIB with one neighbor (AS 65002) holding `prefixes`, and what the neighbor looks like to
/// a station.
fn rib_with(prefixes: &[&str]) -> (keel_rib::Rib, from_rib::Neighbor) {
    use keel_rib::{AttrSet, PeerId, PeerInfo, Rib};
    use keel_wire::{AsPath, NextHop, Origin, PathAttributes};
    let mut rib = Rib::default();
    let p = peer();
    let id = PeerId(1);
    rib.add_peer(id, PeerInfo::new(p.address, p.asn, p.bgp_id, ROUTER.asn, ROUTER.id, "192.0.2.1".parse().unwrap()));
    let attributes = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::sequence(vec![65002])),
        ..Default::default()
    };
    let set = rib.attrs.intern(AttrSet { attributes, next_hop: NextHop::V4(Ipv4Addr::new(192, 0, 2, 2)) });
    for prefix in prefixes {
        rib.announce(id, Family::IPV4_UNICAST, prefix.parse().unwrap(), 0, set.clone());
    }
    let codec = CodecOptions::default();
    (rib, from_rib::Neighbor { peer: p, id, receive: codec.clone(), send: codec })
}

/// The prefixes announced and withdrawn by the UPDATEs of `r`.
fn prefixes_of(r: &Routes) -> (Vec<String>, Vec<String>) {
    let opts = CodecOptions { extended_message: true, ..CodecOptions::default() };
    let (mut announced, mut withdrawn) = (Vec::new(), Vec::new());
    for m in bgp_messages(&r.updates) {
        let Ok(Message::Update(u)) = Message::decode(m, &opts) else { panic!("an UPDATE") };
        announced.extend(u.announced_routes().map(|(_, n)| n.prefix.to_string()));
        withdrawn.extend(u.withdrawn_routes().map(|(_, n)| n.prefix.to_string()));
    }
    (announced, withdrawn)
}

#[test]
fn loc_rib_changes_are_the_best_paths_now_or_withdrawals() {
    let (mut rib, n) = rib_with(&["198.51.100.0/24", "203.0.113.0/24"]);
    let mut errors = Vec::new();
    let mut families = Vec::new();
    let dump = from_rib::loc_rib(&rib, &mut families, &mut errors);
    assert_eq!(prefixes_of(&dump).0.len(), 2, "one UPDATE for both: one attribute set");
    assert_eq!((dump.view, dump.peer, families), (View::LocRib, None, vec![Family::IPV4_UNICAST]));
    let _ = rib.take_changed();
    rib.withdraw(n.id, Family::IPV4_UNICAST, "203.0.113.0/24".parse().unwrap(), 0);
    let changed = rib.take_changed();
    let r = from_rib::loc_rib_changes(&rib, &changed, &mut errors);
    assert_eq!(prefixes_of(&r), (vec![], vec!["203.0.113.0/24".to_string()]));
    // A re-evaluation that lost a route: the rest again, and its withdrawal.
    let before = n.post_policy(&rib);
    rib.withdraw(n.id, Family::IPV4_UNICAST, "198.51.100.0/24".parse().unwrap(), 0);
    let r = n.reimported(&rib, &before, &mut errors);
    assert_eq!(prefixes_of(&r), (vec![], vec!["198.51.100.0/24".to_string()]));
    let (rib, n) = rib_with(&["198.51.100.0/24"]);
    let pre = n.adj_rib_in(&rib, View::AdjRibInPre, &mut errors);
    assert_eq!((prefixes_of(&pre).0, pre.peer), (vec!["198.51.100.0/24".to_string()], Some(peer())));
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn a_feed_starts_at_its_dump_and_carries_only_its_views() {
    let (rib, n) = rib_with(&["198.51.100.0/24"]);
    let (tx, mut rx) = mpsc::channel(8);
    let link = Arc::new(Link::new("192.0.2.9:1790".parse().unwrap()));
    link.attach();
    let mut feeds = Feeds::new(vec![Feed::new(tx, link.clone(), vec![View::LocRib])]).expect("one station");
    feeds.peer_up((*session()).clone(), n);
    assert!(rx.try_recv().is_err(), "nothing before the dump");
    let (reply, mut dump) = tokio::sync::oneshot::channel();
    let no_out =
        |_: std::net::IpAddr, _: &mut dyn FnMut(&keel_rib::AdjRibOut, &keel_rib::adj_rib_out::ExportPolicy)| {};
    let request = Request::Dump { station: 0, epoch: 3, views: vec![View::LocRib], reply };
    feeds.request(request, &rib, &no_out);
    assert!(dump.try_recv().is_err() && !feeds.wants(View::LocRib), "queued until answered");
    feeds.answer_dumps(&rib, (ROUTER.asn, ROUTER.id), &no_out);
    assert_eq!(dump.try_recv().expect("the dump started"), ROUTER);
    // The whole dump in its first piece: Peer Ups, the route, the End-of-RIB, the end.
    let got: Vec<Change> = std::iter::from_fn(|| rx.try_recv().ok())
        .map(|(epoch, c)| {
            assert_eq!(epoch, 3);
            c
        })
        .collect();
    assert!(matches!(got[..2], [Change::LocRibUp(_), Change::PeerUp(_)]), "{got:?}");
    assert!(matches!(&got[2], Change::Routes(r) if r.view == View::LocRib));
    assert!(matches!(got[3..], [Change::EndOfRib { view: View::LocRib, .. }, Change::DumpEnd]), "{got:?}");
    assert_eq!(feeds.dumping(), 0, "done");
    // A dump whose station goes away is dropped at the next hook, its keys with it.
    let (three, _) = rib_with(&["198.51.100.0/24", "198.51.100.0/25", "198.51.100.128/25"]);
    let request = Request::Dump { station: 0, epoch: 4, views: vec![View::LocRib], reply: oneshot::channel().0 };
    let mut feeds = feeds.with_piece(1);
    feeds.request(request, &three, &no_out);
    feeds.answer_dumps(&three, (ROUTER.asn, ROUTER.id), &no_out);
    assert_eq!(feeds.dumping(), 1, "pieces of one route: more to come");
    link.detach();
    feeds.request(Request::Statistics { reply: oneshot::channel().0 }, &three, &no_out);
    assert_eq!(feeds.dumping(), 0, "dropped with its station");
    // Live again (the feed of the dump of epoch 4): what it queued so far is not looked at.
    link.attach();
    let _ = std::iter::from_fn(|| rx.try_recv().ok()).count();
    // An UPDATE's Adj-RIB-In views are not monitored: nothing; a Peer Down goes to every live feed.
    let update = Update::end_of_rib(Family::IPV4_UNICAST);
    assert!(feeds.copy(&update).is_none());
    feeds.received(&rib, peer().address, &update);
    feeds.peer_down(peer().address, Down::RemoteNoNotification);
    feeds.peer_down(peer().address, Down::RemoteNoNotification);
    let (epoch, change) = rx.try_recv().expect("the Peer Down");
    assert_eq!((epoch, change), (4, Change::PeerDown { peer: peer(), reason: Down::RemoteNoNotification }));
    assert!(rx.try_recv().is_err(), "once: the session is gone");
}

/// What a station holds after `changes`, per (view, neighbor): each prefix's attributes as
/// decoded; announcements replace, withdrawals remove, a Peer Down clears the neighbor's views.
type State = std::collections::BTreeMap<(View, Option<std::net::IpAddr>), std::collections::BTreeMap<String, String>>;

fn station_state(changes: &[Change]) -> State {
    let mut state = State::new();
    for c in changes {
        match c {
            Change::PeerDown { peer, .. } => state.retain(|(_, p), _| *p != Some(peer.address)),
            Change::Routes(r) => {
                let opts =
                    CodecOptions { four_octet_as: !r.legacy_as_path, extended_message: true, ..Default::default() };
                let held = state.entry((r.view, r.peer.map(|p| p.address))).or_default();
                for m in bgp_messages(&r.updates) {
                    let Ok(Message::Update(u)) = Message::decode(m, &opts) else { panic!("an UPDATE") };
                    for (_, n) in u.withdrawn_routes() {
                        held.remove(&n.prefix.to_string());
                    }
                    for (_, n) in u.announced_routes() {
                        held.insert(n.prefix.to_string(), format!("{:?}", u.attributes));
                    }
                }
            }
            _ => {}
        }
    }
    state.retain(|_, v| !v.is_empty());
    state
}

/// A RIB with neighbor 192.0.2.2 (AS 65002) sending `routes` prefixes 10.0.x.y/32, each with
/// MED `med(i)` (so `med`'s range of attribute sets), and neighbor 192.0.2.3 (AS 65003, eBGP)
/// that keel sends them to: its Adj-RIB-Out, packed.
struct Table {
    rib: keel_rib::Rib,
    from: from_rib::Neighbor,
    to: from_rib::Neighbor,
    out: keel_rib::AdjRibOut,
    sets: Vec<Arc<keel_rib::AttrSet>>,
}

fn prefix(i: usize) -> keel_wire::Prefix {
    format!("10.0.{}.{}/32", i / 250, i % 250).parse().unwrap()
}

impl Table {
    fn new(routes: usize, med: impl Fn(usize) -> u32) -> Table {
        use keel_rib::{AttrSet, PeerId, PeerInfo};
        use keel_wire::{AsPath, NextHop, Origin, PathAttributes};
        let (mut rib, from) = rib_with(&[]);
        let to_peer = Peer { address: "192.0.2.3".parse().unwrap(), asn: 65003, bgp_id: Ipv4Addr::new(192, 0, 2, 3) };
        let info = PeerInfo::new(to_peer.address, to_peer.asn, to_peer.bgp_id, ROUTER.asn, ROUTER.id, ROUTER.id.into());
        rib.add_peer(PeerId(2), info);
        let codec = CodecOptions::default();
        let to = from_rib::Neighbor { peer: to_peer, id: PeerId(2), receive: codec.clone(), send: codec.clone() };
        let sets: Vec<Arc<AttrSet>> = (0..64)
            .map(|m| {
                let attributes = PathAttributes {
                    origin: Some(Origin::Igp),
                    as_path: Some(AsPath::sequence(vec![65002])),
                    med: Some(m),
                    ..Default::default()
                };
                rib.attrs.intern(AttrSet { attributes, next_hop: NextHop::V4(Ipv4Addr::new(192, 0, 2, 2)) })
            })
            .collect();
        for i in 0..routes {
            rib.announce(from.id, Family::IPV4_UNICAST, prefix(i), 0, sets[med(i) as usize % 64].clone());
        }
        let _ = rib.take_changed();
        let out = keel_rib::AdjRibOut::new(vec![Family::IPV4_UNICAST], codec, false, &rib, None);
        let mut t = Table { rib, from, to, out, sets };
        t.pack();
        t
    }

    /// Sends the neighbor what it is owed, as the RIB task's flush does; the bytes written.
    fn pack(&mut self) -> Vec<u8> {
        let policy = self.policy();
        self.out.pack(&self.rib, self.to.id, &policy, usize::MAX).bytes
    }

    fn policy(&self) -> keel_rib::adj_rib_out::ExportPolicy<'static> {
        keel_rib::adj_rib_out::ExportPolicy { chain: None, vrps: None, local_asn: ROUTER.asn, graceful_shutdown: false }
    }

    fn sessions(&self) -> Vec<(Arc<Session>, from_rib::Neighbor)> {
        let s = |n: &from_rib::Neighbor| Session {
            peer: n.peer,
            families: vec![Family::IPV4_UNICAST],
            ..(*session()).clone()
        };
        vec![(Arc::new(s(&self.from)), self.from.clone()), (Arc::new(s(&self.to)), self.to.clone())]
    }

    /// The one-step dump of every view.
    fn one_step(&self) -> State {
        let mut errors = Vec::new();
        let mut routes = vec![from_rib::loc_rib(&self.rib, &mut Vec::new(), &mut errors)];
        for n in [&self.from, &self.to] {
            routes.push(n.adj_rib_in(&self.rib, View::AdjRibInPre, &mut errors));
            routes.push(n.adj_rib_in(&self.rib, View::AdjRibInPost, &mut errors));
        }
        routes.push(self.to.adj_rib_out(&self.rib, &self.out, &self.policy(), &mut errors));
        assert!(errors.is_empty(), "{errors:?}");
        station_state(&routes.into_iter().map(Change::Routes).collect::<Vec<_>>())
    }
}

const ALL_VIEWS: [View; 4] = [View::AdjRibInPre, View::AdjRibInPost, View::LocRib, View::AdjRibOutPost];

#[test]
fn the_streamed_dump_holds_what_the_one_step_dump_does() {
    let t = Table::new(3000, |i| (i % 37) as u32);
    let lend = |address: std::net::IpAddr,
                f: &mut dyn FnMut(&keel_rib::AdjRibOut, &keel_rib::adj_rib_out::ExportPolicy)| {
        if address == t.to.peer.address {
            f(&t.out, &t.policy());
        }
    };
    let want = t.one_step();
    // 3000 routes in the neighbor's three views and the Loc-RIB.
    assert_eq!(want.values().map(|v| v.len()).collect::<Vec<_>>(), vec![3000; 4]);
    for piece in [1, 7, 1000, dump::PIECE] {
        let changes = streamed(&t.rib, &ALL_VIEWS, t.sessions(), piece, &lend);
        assert_eq!(station_state(&changes), want, "pieces of {piece}");
        let pieces = changes.iter().filter(|c| matches!(c, Change::Routes(_))).count();
        assert!(pieces >= 4 * 3000 / piece.max(1), "{pieces} route changes for pieces of {piece}");
        // Sorted by attribute set, a piece packs like the one-step dump: the Loc-RIB's 37 sets
        // in one piece are 37 UPDATEs.
        let loc_rib_updates: usize = changes
            .iter()
            .filter_map(|c| match c {
                Change::Routes(r) if r.view == View::LocRib => Some(bgp_messages(&r.updates).count()),
                _ => None,
            })
            .sum();
        if piece == dump::PIECE {
            assert_eq!(loc_rib_updates, 37);
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Routes announced, changed and withdrawn between the pieces of a dump, each change sent
    /// live as the RIB task's hooks send it: the station ends with the tables' state.
    #[test]
    fn changes_during_a_dump_end_in_the_tables_state(
        ops in proptest::collection::vec((0usize..400, proptest::option::of(0u32..64), 0usize..3), 1..60),
        piece in 1usize..150,
    ) {
        let mut t = Table::new(300, |i| (i % 5) as u32);
        let (tx, mut rx) = mpsc::channel(100_000);
        let link = Arc::new(Link::new("192.0.2.9:1790".parse().unwrap()));
        link.attach();
        let mut feeds = Feeds::new(vec![Feed::new(tx, link, ALL_VIEWS.to_vec())]).expect("one station").with_piece(piece);
        for (s, n) in t.sessions() {
            feeds.peer_up((*s).clone(), n);
        }
        let _ = std::iter::from_fn(|| rx.try_recv().ok()).count();
        let (reply, _router) = tokio::sync::oneshot::channel();
        let noop = |_: std::net::IpAddr, _: &mut dyn FnMut(&keel_rib::AdjRibOut, &keel_rib::adj_rib_out::ExportPolicy)| {};
        feeds.request(Request::Dump { station: 0, epoch: 1, views: ALL_VIEWS.to_vec(), reply }, &t.rib, &noop);
        let mut changes = Vec::new();
        let mut ops = ops.into_iter();
        loop {
            // What the station task took: a More asks for the next piece.
            let mut more = 0;
            for (_, c) in std::iter::from_fn(|| rx.try_recv().ok()) {
                more += usize::from(c == Change::DumpMore);
                changes.push(c);
            }
            let lend = |address: std::net::IpAddr, f: &mut dyn FnMut(&keel_rib::AdjRibOut, &keel_rib::adj_rib_out::ExportPolicy)| {
                if address == t.to.peer.address {
                    f(&t.out, &t.policy());
                }
            };
            if changes.is_empty() {
                feeds.answer_dumps(&t.rib, (ROUTER.asn, ROUTER.id), &lend);
                continue;
            }
            for _ in 0..more {
                feeds.request(Request::More { station: 0, epoch: 1 }, &t.rib, &lend);
            }
            // A few changes between pieces, each through the hooks.
            for (i, med, _) in ops.by_ref().take(2) {
                let (family, p) = (Family::IPV4_UNICAST, prefix(i));
                let mut update = Update { withdrawn: vec![], attributes: Default::default(), announced: vec![], errors: vec![] };
                match med {
                    Some(m) => {
                        let set = t.sets[m as usize].clone();
                        update.attributes = keel_wire::PathAttributes { next_hop: Some(Ipv4Addr::new(192, 0, 2, 2)), ..set.attributes.clone() };
                        update.announced.push(keel_wire::Nlri::new(p));
                        t.rib.announce(t.from.id, family, p, 0, set);
                    }
                    None => {
                        update.withdrawn.push(keel_wire::Nlri::new(p));
                        t.rib.withdraw(t.from.id, family, p, 0);
                    }
                }
                feeds.received(&t.rib, t.from.peer.address, &update);
                let changed = t.rib.take_changed();
                t.out.consider(changed.iter().map(|c| (c.family, c.prefix)));
                feeds.loc_rib(&t.rib, &changed);
                let sent = t.pack();
                if !sent.is_empty() {
                    feeds.sent(t.to.peer.address, &sent);
                }
            }
            if changes.contains(&Change::DumpEnd) && ops.len() == 0 {
                // Last round's live changes.
                changes.extend(std::iter::from_fn(|| rx.try_recv().ok()).map(|(_, c)| c));
                break;
            }
        }
        let mut want = t.one_step();
        // The pre-policy view is the post-policy one here (import accepts all).
        want.retain(|_, v| !v.is_empty());
        proptest::prop_assert_eq!(station_state(&changes), want);
        let dumps_ended = changes.iter().filter(|c| **c == Change::DumpEnd).count();
        proptest::prop_assert_eq!(dumps_ended, 1);
    }
}
