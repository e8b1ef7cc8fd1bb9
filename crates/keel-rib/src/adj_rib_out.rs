//! Adj-RIB-Out (RFC 4271 §3.2) and UPDATE packing: what one neighbor was sent, what is still
//! to consider for it, and the encoded messages that bring it up to date (RFC 4271 §9.2).
//!
//! An [`AdjRibOut`] lives as long as one session. It does not keep the exported attributes:
//! it keeps, per destination, the best path the route was last advertised from ([`Sent`]),
//! since what goes out is a function of that path, the target and the export policy. A
//! destination whose source is unchanged therefore costs a comparison, not an export.
//!
//! Changed destinations wait in a pending set (one entry per destination however often it
//! changes, so the backlog of a slow neighbor is bounded by the table size).
//! [`AdjRibOut::pack`] takes them in batches of [`BATCH`]: the export (RFC 4271 §9.1.3, then
//! the export policy) is computed once per source attribute set in a batch, and the prefixes
//! sharing the result share UPDATEs. A large backlog (the whole table after a session comes up,
//! or after a neighbor's routes turned LLGR-stale) is first sorted by attribute set, so that
//! prefixes sharing attributes fall into the same batch. Once the backlog is empty the
//! End-of-RIB markers owed after the initial advertisement (RFC 4724 §4.1) and the EoRR owed
//! after an enhanced route refresh (RFC 7313 §4) follow; a BoRR goes before the routes it
//! announces.
//!
//! [`AdjRibOut::pack`] hands out whole messages up to a byte budget: a batch whose UPDATEs do
//! not all fit waits, encoded, for the next call. The caller only writes the bytes. Encoding
//! failures come back as [`PackError`]s for the caller to log: nothing is dropped silently.
//!
//! With Add-Path send negotiated for a family (RFC 7911 §4) and more than one path asked
//! for ([`AdjRibOut::with_add_path_send`]), each destination goes out as up to that many
//! paths, each with its own path identifier ([`add_path`]); otherwise as its one best path
//! (path identifier 0 where Add-Path send was negotiated).
//!
//! Pure: no I/O, no clock; the same calls give the same bytes.

use crate::attr_set::AttrSet;
use crate::export::export;
use crate::graceful_shutdown;
use crate::policy::{Chain, Context, RouteKey, Verdict};
use crate::prefix_map::FamilyMap;
use crate::rib::{Dest, Path, PeerId, PeerInfo, Rib};
use crate::update_groups::UpdateGroups;
use keel_rpki::{RpkiState, VrpTable};
use keel_wire::{builder, header, Afi, Community, EncodeError, Family, Message, MessageType, Nlri, Prefix};
use keel_wire::{CodecOptions, RefreshSubtype, RouteRefresh, Update};
use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::Arc;

/// Destinations considered per batch: the unit within which prefixes sharing an exported
/// attribute set share UPDATEs.
pub const BATCH: usize = 4096;
/// A pending set larger than this is sorted by attribute set before it is sent.
const ORDER_THRESHOLD: usize = 4 * BATCH;

/// The source of an advertised route: its neighbor, attribute set and whether it was
/// LLGR-stale (RFC 9494 §4.3). What was sent is computed again from it ([`exported`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub source: PeerId,
    /// The path identifier the source gave the path (0 without Add-Path receive from it): with
    /// `source`, the path's identity.
    pub path_id: u32,
    pub attrs: Arc<AttrSet>,
    pub llgr_stale: bool,
    /// The export policy generation when sent: a new export policy sends everything again.
    epoch: u32,
    /// It went out changed by the GRACEFUL_SHUTDOWN step (RFC 8326 §4.2,
    /// [`crate::graceful_shutdown::export`]): turning the step on or off re-sends only the
    /// routes it changes.
    pub graceful_shutdown: bool,
}

/// A neighbor's export policy and what it may look at.
#[derive(Debug, Clone, Copy)]
pub struct ExportPolicy<'a> {
    /// The neighbor's export chain; `None` or "all" sends what the export rules allow,
    /// unchanged.
    pub chain: Option<&'a Chain>,
    /// The VRPs for the chain's `rpki` matches (RFC 6811); `None` when there are none (such a
    /// match then fails).
    pub vrps: Option<&'a VrpTable>,
    /// keel's AS: for `prepend`, and the origin of keel's own routes when validating.
    pub local_asn: u32,
    /// The neighbor's session is being shut down gracefully (RFC 8326 §4.2): every route goes
    /// out tagged with GRACEFUL_SHUTDOWN, as the last step of export.
    pub graceful_shutdown: bool,
}

impl ExportPolicy<'_> {
    /// The chain, unless it sends everything unchanged.
    fn chain(&self) -> Option<&Chain> {
        self.chain.filter(|c| !c.is_accept_all())
    }

    /// RFC 6811 state of a route with `as_path`'s origin, when VRPs are there.
    fn rpki(&self, prefix: &Prefix, as_path: Option<&keel_wire::AsPath>) -> Option<RpkiState> {
        self.vrps.map(|t| t.validate_route(prefix, as_path, self.local_asn))
    }
}

/// What [`AdjRibOut::pack`] made.
#[derive(Debug, Default)]
pub struct Packed {
    /// Whole messages back to back: UPDATEs, and the ROUTE-REFRESH BoRR and EoRR markers.
    pub bytes: Vec<u8>,
    /// UPDATE messages in `bytes`, End-of-RIB markers included.
    pub updates: usize,
    /// Families whose End-of-RIB marker is in `bytes`.
    pub end_of_rib: Vec<Family>,
    /// What could not be encoded while packing, for the caller to log.
    pub errors: Vec<PackError>,
}

/// A message that could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    /// RFC 8654 §4: an attribute set too large for a message even after shedding. Its routes
    /// are withdrawn instead (where they were sent before).
    #[error("{routes} routes of {family} not sent: {error}")]
    RoutesNotSent { family: Family, routes: usize, error: EncodeError },
    /// A message keel cannot encode (a bug): not sent.
    #[error("cannot encode a {message}: {error}")]
    Message { message: &'static str, error: EncodeError },
}

/// One neighbor's Adj-RIB-Out for the life of a session.
#[derive(Debug)]
pub struct AdjRibOut {
    /// The session's families (RFC 4760 §8): only their destinations are considered.
    families: Vec<Family>,
    /// How messages to this neighbor are encoded (4-octet AS, Extended Message, Add-Path).
    codec: CodecOptions,
    /// RFC 7313: a route refresh is framed by BoRR and EoRR.
    enhanced_route_refresh: bool,
    /// The best path each destination was last advertised from (one path per destination);
    /// per family, IPv4 destinations keyed in 8 bytes ([`FamilyMap`]).
    sent: FamilyMap<Sent>,
    /// RFC 7911: paths per destination to send in the families of `codec.add_path`; 1 (the
    /// default) sends the best path alone, through `sent`.
    add_path_send: usize,
    /// With `add_path_send` over 1, per destination of an Add-Path family, the paths sent with
    /// the path identifier each went out with, best first. Empty otherwise: the one-path case
    /// allocates nothing per destination.
    multi: FxHashMap<(Family, Prefix), add_path::SentPaths>,
    /// Destinations to (re)consider.
    pending: FxHashSet<(Family, Prefix)>,
    /// A large backlog taken out of `pending` in the order of its best paths' attribute sets
    /// (taken from the end). The order is only a hint: each destination is exported from its
    /// best path when its turn comes.
    ordered: Vec<(Family, Prefix)>,
    /// Bumped when the export policy changes.
    epoch: u32,
    /// Families whose End-of-RIB is owed after the initial advertisement.
    end_of_rib_owed: Vec<Family>,
    /// RFC 7313 §4: families asked for again, owed a BoRR before their routes and an EoRR
    /// after them.
    borr_owed: Vec<Family>,
    eorr_owed: Vec<Family>,
    /// Encoded messages not handed out yet (past the last call's budget).
    queue: Vec<u8>,
    /// End offsets in `queue` of End-of-RIB markers, with their family.
    queued_end_of_rib: Vec<(usize, Family)>,
    /// What the neighbor already holds from keel's previous image (`keel upgrade`), per
    /// destination the attributes it was sent, until the destination is considered: an
    /// export equal to it sends nothing, a destination no longer exported is withdrawn.
    inherited: FxHashMap<(Family, Prefix), Arc<AttrSet>>,
}

impl AdjRibOut {
    /// A session came up on `families`: its initial advertisement is every destination of
    /// those families in `rib`, and an End-of-RIB per family follows it (RFC 4724 §4.1).
    ///
    /// `own` is the neighbor's id when it can be sent nothing for a destination whose best
    /// path it gave (one path per destination, not a route-server client: [`export`] never
    /// sends a route back to its source): those destinations are left out, so that a
    /// neighbor coming back with the whole table is not walked through it again. A later
    /// change of their best path brings them in as any change does.
    pub fn new(
        families: Vec<Family>,
        codec: CodecOptions,
        enhanced_route_refresh: bool,
        rib: &Rib,
        own: Option<PeerId>,
    ) -> Self {
        let from_own = |d: &Dest| own.is_some_and(|o| d.best_path().is_some_and(|b| b.peer == o));
        let pending =
            rib.iter(None).filter(|(f, _, d)| families.contains(f) && !from_own(d)).map(|(f, p, _)| (f, p)).collect();
        AdjRibOut {
            end_of_rib_owed: families.clone(),
            families,
            codec,
            enhanced_route_refresh,
            sent: FamilyMap::default(),
            add_path_send: 1,
            multi: FxHashMap::default(),
            pending,
            ordered: Vec::new(),
            epoch: 0,
            borr_owed: Vec::new(),
            eorr_owed: Vec::new(),
            queue: Vec::new(),
            queued_end_of_rib: Vec::new(),
            inherited: FxHashMap::default(),
        }
    }

    /// A session handed over by keel's previous image (`keel upgrade`): the neighbor already
    /// holds `held` (each destination with the attributes it was sent) and had the End-of-RIB
    /// of the families in `end_of_rib_sent`; the others' are still owed (RFC 4724 §4.1).
    /// Every destination is considered as for an initial advertisement, but only what differs
    /// from `held` goes out: a new route, changed attributes, or a withdrawal of what is no
    /// longer exported. Families sending several paths per destination (RFC 7911) are not
    /// inherited: their destinations go out again.
    pub fn inherit(
        &mut self,
        held: impl IntoIterator<Item = (Family, Prefix, Arc<AttrSet>)>,
        end_of_rib_sent: &[Family],
    ) {
        self.end_of_rib_owed.retain(|f| !end_of_rib_sent.contains(f));
        for (family, prefix, set) in held {
            if self.families.contains(&family) && !self.multi_path(family) {
                self.pending.insert((family, prefix));
                self.inherited.insert((family, prefix), set);
            }
        }
    }

    /// Messages packed and counted as sent but not handed out yet (past the last call's
    /// budget), taken out: `keel upgrade` hands them to the next image to write.
    pub fn take_queued(&mut self) -> Vec<u8> {
        self.queued_end_of_rib.clear();
        std::mem::take(&mut self.queue)
    }

    /// Destinations still held from keel's previous image and not yet considered.
    pub fn inherited_left(&self) -> usize {
        self.inherited.len()
    }

    /// RFC 7911 §3, §4: send up to `paths` paths per destination (best first, each with a
    /// path identifier stable while the path exists, see [`add_path`]) in the families where
    /// Add-Path send was negotiated (`codec.add_path`). `usize::MAX` sends every path; 1 (the
    /// default) the best path alone.
    pub fn with_add_path_send(mut self, paths: usize) -> Self {
        self.add_path_send = paths.max(1);
        self
    }

    /// Whether `family` goes out as several paths per destination.
    fn multi_path(&self, family: Family) -> bool {
        self.add_path_send > 1 && self.codec.add_path_for(family)
    }

    /// Whether a change to any path of a destination (not only to its best) may change what
    /// this neighbor is sent: for the caller's [`Rib::track_paths`].
    pub fn sends_several_paths(&self) -> bool {
        self.add_path_send > 1 && self.families.iter().any(|f| self.codec.add_path_for(*f))
    }

    /// How many destinations the neighbor holds a route for.
    pub fn len(&self) -> usize {
        self.sent.len() + self.multi.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sent.is_empty() && self.multi.is_empty()
    }

    /// What the neighbor holds: destination and the path it was sent from, once per path.
    pub fn sent(&self) -> impl Iterator<Item = ((Family, Prefix), &Sent)> {
        self.sent_paths().map(|(k, _, s)| (k, s))
    }

    /// What the neighbor holds, with the path identifier each path went out with where
    /// several paths per destination are sent (RFC 7911 §3); best first per destination.
    pub fn sent_paths(&self) -> impl Iterator<Item = ((Family, Prefix), Option<u32>, &Sent)> {
        let one = self.sent.iter().map(|(k, s)| (k, None, s));
        one.chain(self.multi.iter().flat_map(|(k, v)| v.iter().map(move |(id, s)| (*k, Some(*id), s))))
    }

    /// What the neighbor holds for one destination, as [`AdjRibOut::sent_paths`] lists it.
    pub fn sent_at(&self, family: Family, prefix: &Prefix) -> impl Iterator<Item = (Option<u32>, &Sent)> {
        let one = self.sent.get(family, prefix).map(|s| (None, s));
        let multi = self.multi.get(&(family, *prefix)).into_iter().flat_map(|v| v.iter().map(|(id, s)| (Some(*id), s)));
        one.into_iter().chain(multi)
    }

    /// Destinations to consider again (their best path changed, or their paths did for a
    /// route-server client); those of families the session does not carry are left out.
    pub fn consider(&mut self, dests: impl IntoIterator<Item = (Family, Prefix)>) {
        let families = &self.families;
        self.pending.extend(dests.into_iter().filter(|(f, _)| families.contains(f)));
    }

    /// Replaces the backlog by `order` (as [`initial_order`] gives it), for a first
    /// advertisement of the whole table in one pass instead of a lookup per destination.
    pub fn advertise_in_order(&mut self, order: &[(Family, Prefix)]) {
        self.pending.clear();
        self.ordered = order.iter().filter(|(f, _)| self.families.contains(f)).copied().collect();
        self.make_room();
    }

    /// Room in `sent` for the destinations of a large backlog that it does not hold yet, in one
    /// allocation: grown by doubling while the backlog is sent, the table would hold its old
    /// and its new buckets at once at each step (for a full table, 51 MiB on top of 103 MiB at
    /// the last one). New destinations are at least the backlog less what `sent` holds, per
    /// family and address family (each its own table).
    fn make_room(&mut self) {
        let mut backlog: Vec<(Family, Afi, usize)> = Vec::new();
        for (f, p) in self.ordered.iter().filter(|(f, _)| !self.multi_path(*f)) {
            match backlog.iter_mut().find(|(x, afi, _)| x == f && *afi == p.afi()) {
                Some(b) => b.2 += 1,
                None => backlog.push((*f, p.afi(), 1)),
            }
        }
        for (f, afi, n) in backlog {
            let t = self.sent.table_or_default(f);
            t.reserve(afi, n.saturating_sub(t.len_of(afi)));
        }
    }

    /// The neighbor asked for `family` again (RFC 2918): everything is sent anew, framed by
    /// BoRR and EoRR with enhanced route refresh (RFC 7313 §4).
    pub fn route_refresh(&mut self, family: Family, rib: &Rib) {
        if let Some(t) = self.sent.table_mut(family) {
            t.clear();
        }
        self.multi.retain(|(f, _), _| *f != family);
        self.pending.extend(rib.iter(Some(family)).map(|(f, p, _)| (f, p)));
        if self.enhanced_route_refresh && !self.borr_owed.contains(&family) {
            self.borr_owed.push(family);
        }
    }

    /// The export policy changed: every destination is considered again, and those sent
    /// before are sent again even where their source did not change.
    pub fn export_policy_changed(&mut self, rib: &Rib) {
        self.epoch = self.epoch.wrapping_add(1);
        let families = &self.families;
        self.pending.extend(rib.iter(None).filter(|(f, _, _)| families.contains(f)).map(|(f, p, _)| (f, p)));
        self.pending.extend(self.sent.keys());
        self.pending.extend(self.multi.keys().copied());
    }

    /// Graceful shutdown (RFC 8326 §4.2) turned on or off for this neighbor: everything it
    /// was sent is considered again. Only routes whose attributes the GRACEFUL_SHUTDOWN step
    /// changes go out again ([`Sent::graceful_shutdown`]); nothing else is re-sent, and the
    /// export policy's verdicts do not move (the step comes after it).
    pub fn graceful_shutdown_changed(&mut self) {
        self.pending.extend(self.sent.keys());
        self.pending.extend(self.multi.keys().copied());
    }

    /// Destinations still to consider, or messages still to hand out.
    pub fn backlog(&self) -> bool {
        self.to_consider() || !self.queue.is_empty()
    }

    /// Anything left for [`pack`](Self::pack) to do: a backlog or a marker owed.
    pub fn has_work(&self) -> bool {
        self.backlog() || !self.end_of_rib_owed.is_empty() || !self.borr_owed.is_empty() || !self.eorr_owed.is_empty()
    }

    fn to_consider(&self) -> bool {
        !self.pending.is_empty() || !self.ordered.is_empty()
    }

    /// Gives back the memory of a backlog that is gone.
    pub fn shrink_to_fit(&mut self) {
        self.sent.shrink_to_fit();
        self.multi.shrink_to_fit();
        self.pending.shrink_to_fit();
        self.ordered.shrink_to_fit();
        self.queue.shrink_to_fit();
        self.inherited.shrink_to_fit();
    }

    /// Packs what `target` is owed into whole messages, at most `budget` octets of them: it
    /// stops before the first message that would pass the budget (kept for the next call), or
    /// when nothing is left to do. The first message comes whatever its size, so a budget of 0
    /// still makes progress. Returns nothing when `target` is not in `rib`. What is packed
    /// counts as sent: the caller writes every byte it gets.
    pub fn pack(&mut self, rib: &Rib, target: PeerId, policy: &ExportPolicy, budget: usize) -> Packed {
        let mut packed = Packed::default();
        let Some(info) = rib.peer(target) else { return packed };
        loop {
            let emptied = self.hand_out(&mut packed, budget);
            let full = !packed.bytes.is_empty() && packed.bytes.len() >= budget;
            if !emptied || full || !self.has_work() {
                return packed;
            }
            self.encode_next(rib, target, info, policy, &mut packed.errors);
        }
    }

    /// Moves whole messages from the queue into `packed` while they fit `budget`; true when
    /// the queue was emptied.
    fn hand_out(&mut self, packed: &mut Packed, budget: usize) -> bool {
        let mut cut = 0;
        let mut updates = 0;
        while let Some(rest) = self.queue.get(cut..).filter(|r| !r.is_empty()) {
            // The queue holds messages this module encoded; a header it cannot read (a bug)
            // ends the walk with the rest taken as one piece.
            let (len, update) = match header::parse(rest, &self.codec) {
                Ok(Some(h)) if h.length > 0 => (h.length.min(rest.len()), h.message_type == MessageType::Update),
                _ => (rest.len(), false),
            };
            let first = packed.bytes.is_empty() && cut == 0;
            if !first && packed.bytes.len() + cut + len > budget {
                break;
            }
            cut += len;
            updates += usize::from(update);
        }
        packed.updates += updates;
        let mut marks = std::mem::take(&mut self.queued_end_of_rib);
        marks.retain(|&(end, family)| {
            let out = end <= cut;
            if out {
                packed.end_of_rib.push(family);
            }
            !out
        });
        self.queued_end_of_rib = marks.into_iter().map(|(end, f)| (end - cut, f)).collect();
        if cut == self.queue.len() {
            if packed.bytes.is_empty() {
                packed.bytes = std::mem::take(&mut self.queue);
            } else {
                packed.bytes.append(&mut self.queue);
            }
            true
        } else {
            packed.bytes.extend_from_slice(&self.queue[..cut]);
            self.queue.drain(..cut);
            false
        }
    }

    /// Encodes the next step into the queue: the BoRRs owed, or one batch of destinations
    /// and, once the backlog is through, the markers that follow it.
    fn encode_next(
        &mut self,
        rib: &Rib,
        target: PeerId,
        info: &PeerInfo,
        policy: &ExportPolicy,
        errors: &mut Vec<PackError>,
    ) {
        if !self.borr_owed.is_empty() {
            // BoRR goes out before any of the routes it announces (RFC 7313 §4).
            for f in std::mem::take(&mut self.borr_owed) {
                self.refresh(f, RefreshSubtype::Begin, errors);
                if !self.eorr_owed.contains(&f) {
                    self.eorr_owed.push(f);
                }
            }
            return;
        }
        self.encode_batch(rib, target, info, policy, errors);
        if !self.to_consider() {
            // RFC 4724 §4.1: End-of-RIB after the initial advertisement, per family.
            for f in std::mem::take(&mut self.end_of_rib_owed) {
                self.encode("End-of-RIB", errors, |out, codec| {
                    out.extend(Update::end_of_rib(f).encode(codec)?);
                    Ok(())
                });
                self.queued_end_of_rib.push((self.queue.len(), f));
            }
            // RFC 7313 §4: EoRR once the refreshed routes are out.
            for f in std::mem::take(&mut self.eorr_owed) {
                self.refresh(f, RefreshSubtype::End, errors);
            }
        }
    }

    /// The next destinations to consider.
    fn take_batch(&mut self, rib: &Rib) -> Vec<(Family, Prefix)> {
        if self.ordered.is_empty() && self.pending.len() > ORDER_THRESHOLD {
            self.ordered = order(self.pending.drain(), rib);
            self.make_room();
        }
        // Destinations taken from `ordered` may be in `pending` again; they are then
        // considered twice, the second time finding nothing new to send.
        if self.ordered.is_empty() {
            let batch: Vec<_> = self.pending.iter().take(BATCH).copied().collect();
            for key in &batch {
                self.pending.remove(key);
            }
            batch
        } else {
            self.ordered.split_off(self.ordered.len().saturating_sub(BATCH))
        }
    }

    /// Exports one batch and encodes what changed: withdrawals first, then one run of
    /// UPDATEs per exported attribute set.
    fn encode_batch(
        &mut self,
        rib: &Rib,
        target: PeerId,
        info: &PeerInfo,
        policy: &ExportPolicy,
        errors: &mut Vec<PackError>,
    ) {
        let batch = self.take_batch(rib);
        let mut exports = Exports::new(rib, target, info, policy, self.epoch);
        let mut withdraw: FxHashMap<Family, Vec<Nlri>> = FxHashMap::default();
        for key @ (family, prefix) in &batch {
            if self.multi_path(*family) {
                self.paths_of(&mut exports, *key, &mut withdraw);
                continue;
            }
            let held = if self.inherited.is_empty() { None } else { self.inherited.remove(key) };
            match exports.route(*family, prefix) {
                Some((group, sent)) => {
                    if self.sent.get(*family, prefix) == Some(&sent) {
                        continue;
                    }
                    self.sent.insert(*family, *prefix, sent);
                    // Held from keel's previous image as it would go out now: nothing to send.
                    if held.is_some_and(|h| exports.groups.set(group) == Some(&*h)) {
                        continue;
                    }
                    exports.groups.push(group, Nlri::new(*prefix));
                }
                None => {
                    if self.sent.remove(*family, prefix).is_some() || held.is_some() {
                        withdraw.entry(*family).or_default().push(Nlri::new(*prefix));
                    }
                }
            }
        }
        for (family, nlri) in &withdraw {
            self.encode("withdrawal", errors, |out, codec| builder::withdraw(*family, nlri, codec, out).map(drop));
        }
        for (family, set, nlri) in exports.groups.groups() {
            let start = self.queue.len();
            if let Err(error) =
                builder::announce(*family, &set.attributes, set.next_hop, nlri, &self.codec, &mut self.queue)
            {
                // RFC 8654 §4: too large even after shedding; withdraw instead.
                self.queue.truncate(start);
                errors.push(PackError::RoutesNotSent { family: *family, routes: nlri.len(), error });
                for n in nlri {
                    match n.path_id {
                        Some(id) => self.forget_path(*family, n.prefix, id),
                        None => drop(self.sent.remove(*family, &n.prefix)),
                    }
                }
                self.encode("withdrawal", errors, |out, codec| builder::withdraw(*family, nlri, codec, out).map(drop));
            }
        }
    }

    /// Appends what `encode` writes to the queue; on failure nothing, and the error.
    fn encode(
        &mut self,
        message: &'static str,
        errors: &mut Vec<PackError>,
        encode: impl FnOnce(&mut Vec<u8>, &CodecOptions) -> Result<(), EncodeError>,
    ) {
        let start = self.queue.len();
        if let Err(error) = encode(&mut self.queue, &self.codec) {
            self.queue.truncate(start);
            errors.push(PackError::Message { message, error });
        }
    }

    /// A ROUTE-REFRESH BoRR or EoRR marker (RFC 7313 §4).
    fn refresh(&mut self, family: Family, subtype: RefreshSubtype, errors: &mut Vec<PackError>) {
        let message = if subtype == RefreshSubtype::Begin { "BoRR" } else { "EoRR" };
        self.encode(message, errors, |out, codec| {
            out.extend(Message::RouteRefresh(RouteRefresh { family, subtype }).encode(codec)?);
            Ok(())
        });
    }
}

/// Every destination of `rib` with a best path, in the order [`AdjRibOut::pack`] sorts a
/// large backlog into, from one pass over the tables (for [`AdjRibOut::advertise_in_order`]).
pub fn initial_order(rib: &Rib) -> Vec<(Family, Prefix)> {
    let mut v: Vec<(Family, usize, Prefix)> =
        rib.iter(None).filter_map(|(f, p, d)| d.best_path().map(|b| (f, Arc::as_ptr(&b.attrs) as usize, p))).collect();
    v.sort_unstable_by_key(|(f, attrs, _)| (*f, *attrs));
    v.into_iter().map(|(f, _, p)| (f, p)).collect()
}

/// `dests` sorted so that destinations whose best paths share an attribute set are sent
/// together (taken from the end).
fn order(dests: impl Iterator<Item = (Family, Prefix)>, rib: &Rib) -> Vec<(Family, Prefix)> {
    let mut v: Vec<(usize, (Family, Prefix))> =
        dests.map(|(f, p)| (rib.best(f, &p).map_or(0, |b| Arc::as_ptr(&b.attrs) as usize), (f, p))).collect();
    v.sort_unstable_by_key(|(attrs, (f, _))| (*f, *attrs));
    v.into_iter().map(|(_, k)| k).collect()
}

/// The attributes `sent` went out with to `target`, computed again (for showing the
/// Adj-RIB-Out); `None` if they would not go out now.
pub fn exported(
    rib: &Rib,
    target: PeerId,
    policy: &ExportPolicy,
    family: Family,
    prefix: &Prefix,
    sent: &Sent,
) -> Option<AttrSet> {
    let info = rib.peer(target)?;
    let source = (sent.source != PeerId::LOCAL).then(|| rib.peer(sent.source)).flatten();
    let out = export(family, &sent.attrs, sent.source, source, target, info, sent.llgr_stale)?;
    let mut out = match policy.chain() {
        Some(chain) => {
            let rpki = policy.rpki(prefix, sent.attrs.attributes.as_path.as_ref());
            let ctx = Context { family, prefix, rpki, local_asn: policy.local_asn, local_address: info.local_address };
            export_policy(chain, &ctx, &chain.route_key(&ctx), out, sent.llgr_stale)?
        }
        None => out,
    };
    if policy.graceful_shutdown {
        graceful_shutdown::export(&mut out, info);
    }
    Some(out)
}

/// What a neighbor was sent, computed again and grouped into UPDATEs by the attributes it went
/// out with (for a BMP station's Adj-RIB-Out view, RFC 8671): the export of each source
/// attribute set is computed once per batch, in the slots [`AdjRibOut::pack`] uses, so a
/// million routes from a few hundred thousand sets cost that many exports, not a million.
pub struct SentExports<'a> {
    exports: Exports<'a>,
}

impl<'a> SentExports<'a> {
    /// `None` when `target` is not in `rib`.
    pub fn new(rib: &'a Rib, target: PeerId, policy: &ExportPolicy<'a>) -> Option<SentExports<'a>> {
        let info = rib.peer(target)?;
        Some(SentExports { exports: Exports::new(rib, target, info, policy, 0) })
    }

    /// Adds a route the neighbor holds (`path_id`: the identifier it went out with, under
    /// Add-Path send); left out if it would not go out now.
    pub fn add(&mut self, family: Family, prefix: &Prefix, path_id: Option<u32>, sent: &Sent) {
        let Exports { exporter, slots, groups, .. } = &mut self.exports;
        let Exporter { chain, local_asn, info, .. } = *exporter;
        let rpki = exporter.vrps.map(|t| t.validate_route(prefix, sent.attrs.attributes.as_path.as_ref(), local_asn));
        let ctx = Context { family, prefix, rpki, local_asn, local_address: info.local_address };
        let key = chain.map(|c| c.route_key(&ctx));
        let slot =
            *slots.entry((family, sent.source, Arc::as_ptr(&sent.attrs), sent.llgr_stale, key)).or_insert_with(|| {
                let (set, graceful_shutdown) =
                    exporter.export(&ctx, key.as_ref(), sent.source, &sent.attrs, sent.llgr_stale)?;
                Some((groups.group(family, set), graceful_shutdown))
            });
        if let Some((group, _)) = slot {
            groups.push(group, Nlri { prefix: *prefix, path_id });
        }
    }

    /// The groups so far; the slots are kept for the next batch.
    pub fn take(&mut self) -> UpdateGroups<AttrSet> {
        let groups = std::mem::take(&mut self.exports.groups);
        // Group indexes are of the groups taken: the slots start again.
        self.exports.slots.clear();
        groups
    }
}

/// Export policy on what the export rules made of a route: `None` when rejected. LLGR_STALE
/// stays even if the policy removes it (RFC 9494 §4.3).
fn export_policy(chain: &Chain, ctx: &Context, key: &RouteKey, set: AttrSet, llgr_stale: bool) -> Option<AttrSet> {
    let out = chain.evaluate_keyed(ctx, key, &set);
    if out.verdict == Verdict::Reject {
        return None;
    }
    let mut set = out.attrs.unwrap_or(set);
    if llgr_stale && !set.attributes.communities.contains(&Community::LLGR_STALE) {
        set.attributes.communities.push(Community::LLGR_STALE);
    }
    Some(set)
}

/// The export of one batch, per source attribute set (and LLGR flag and export-policy route
/// key): the index of its UPDATE group, or `None` when not sent.
/// The group index comes with whether the GRACEFUL_SHUTDOWN step changed the export.
type Slots = FxHashMap<(Family, PeerId, *const AttrSet, bool, Option<RouteKey>), Option<(usize, bool)>>;

/// The exports of one batch to one neighbor: computed once per source attribute set, the
/// prefixes grouped by the attributes they go out with.
struct Exports<'a> {
    exporter: Exporter<'a>,
    slots: Slots,
    /// The UPDATE groups: family, exported attributes, prefixes.
    groups: UpdateGroups<AttrSet>,
    /// Add-Path send: the paths of the last destination exported, best first, by source and
    /// received path identifier ([`add_path`]).
    ranked: Vec<(PeerId, u32)>,
}

/// What the export of a path to one neighbor depends on besides the path.
struct Exporter<'a> {
    rib: &'a Rib,
    target: PeerId,
    info: &'a PeerInfo,
    /// The export chain, unless it sends everything unchanged.
    chain: Option<&'a Chain>,
    /// The VRPs, when the chain looks at the RPKI state (else it is not computed).
    vrps: Option<&'a VrpTable>,
    local_asn: u32,
    epoch: u32,
    /// RFC 8326 §4.2: tag every route with GRACEFUL_SHUTDOWN.
    graceful_shutdown: bool,
}

impl<'a> Exports<'a> {
    fn new(rib: &'a Rib, target: PeerId, info: &'a PeerInfo, policy: &ExportPolicy<'a>, epoch: u32) -> Self {
        let chain = policy.chain.filter(|c| !c.is_accept_all());
        let vrps = policy.vrps.filter(|_| chain.is_some_and(|c| c.uses_rpki()));
        let exporter = Exporter {
            rib,
            target,
            info,
            chain,
            vrps,
            local_asn: policy.local_asn,
            epoch,
            graceful_shutdown: policy.graceful_shutdown,
        };
        Exports { exporter, slots: Slots::default(), groups: UpdateGroups::default(), ranked: Vec::new() }
    }

    /// What a destination goes out as: its UPDATE group and its [`Sent`] record, `None` to
    /// withdraw it.
    fn route(&mut self, family: Family, prefix: &Prefix) -> Option<(usize, Sent)> {
        let Exporter { rib, info, chain, vrps, local_asn, .. } = self.exporter;
        let dest = rib.dest(family, prefix)?;
        let best = dest.best_path();
        // RPKI state for the export policy: from the Loc-RIB best path's origin.
        let as_path = best.and_then(|b| b.attrs.attributes.as_path.as_ref());
        let rpki = vrps.map(|t| t.validate_route(prefix, as_path, local_asn));
        let ctx = Context { family, prefix, rpki, local_asn, local_address: info.local_address };
        let key = chain.map(|c| c.route_key(&ctx));
        if let Some(out) = best.and_then(|b| self.slot(&ctx, key, b)) {
            return Some(out);
        }
        // RFC 7947 §2.3.2: a route-server client gets the best path it may have, not
        // nothing, when the overall best is filtered for it.
        if !info.route_server_client || dest.paths.len() < 2 {
            return None;
        }
        let allowed: Vec<&Path> = dest
            .paths
            .iter()
            .filter(|p| best.is_none_or(|b| !std::ptr::eq(*p, b)))
            .filter(|p| self.slot(&ctx, key, p).is_some())
            .collect();
        rib.best_of(family, &allowed).and_then(|p| self.slot(&ctx, key, p))
    }

    /// The export of one path to the target: its UPDATE group (made on first use) and
    /// [`Sent`] record, or `None`.
    fn slot(&mut self, ctx: &Context, key: Option<RouteKey>, path: &Path) -> Option<(usize, Sent)> {
        let Exports { exporter, slots, groups, .. } = self;
        let llgr = exporter.rib.is_llgr_stale(ctx.family, path);
        let slot = *slots.entry((ctx.family, path.peer, Arc::as_ptr(&path.attrs), llgr, key)).or_insert_with(|| {
            let (set, graceful_shutdown) = exporter.export(ctx, key.as_ref(), path.peer, &path.attrs, llgr)?;
            Some((groups.group(ctx.family, set), graceful_shutdown))
        });
        let epoch = exporter.epoch;
        slot.map(|(i, graceful_shutdown)| {
            let attrs = path.attrs.clone();
            (i, Sent { source: path.peer, path_id: path.path_id, attrs, llgr_stale: llgr, epoch, graceful_shutdown })
        })
    }
}

impl Exporter<'_> {
    /// The export rules (RFC 4271 §9.1.3), then the export policy, then, last, the
    /// GRACEFUL_SHUTDOWN step (RFC 8326 §4.2) with whether it changed anything.
    fn export(
        &self,
        ctx: &Context,
        key: Option<&RouteKey>,
        from: PeerId,
        attrs: &AttrSet,
        llgr: bool,
    ) -> Option<(AttrSet, bool)> {
        let source = (from != PeerId::LOCAL).then(|| self.rib.peer(from)).flatten();
        let set = export(ctx.family, attrs, from, source, self.target, self.info, llgr)?;
        let mut set = match (self.chain, key) {
            (Some(chain), Some(k)) => export_policy(chain, ctx, k, set, llgr)?,
            _ => set,
        };
        let changed = self.graceful_shutdown && graceful_shutdown::export(&mut set, self.info);
        Some((set, changed))
    }
}

pub mod add_path;
#[cfg(test)]
mod tests;
