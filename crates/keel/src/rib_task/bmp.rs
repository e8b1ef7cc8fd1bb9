//! BMP stations (keel_bmp::station): the RIB task's hooks hand [`Feeds`] what happened; this
//! room turns keeld's types into its inputs. Off (`bmp: None`) without a `[[bmp.station]]`.

use super::RibTask;
use crate::events::DownReason;
use crate::negotiate::Negotiated;
use keel_bmp::station::{from_rib::Neighbor, Down, Feed, Feeds, Peer, Request, Session};
use keel_rib::adj_rib_out::ExportPolicy;
use keel_rib::AdjRibOut;
use std::net::{IpAddr, SocketAddr};

impl RibTask {
    /// Feeds the BMP stations (keel_bmp::station::start made them, in this order).
    pub fn with_bmp(mut self, feeds: Vec<Feed>) -> Self {
        self.bmp = Feeds::new(feeds);
        self
    }

    pub(super) fn bmp_peer_up(&mut self, address: IpAddr, n: &Negotiated, local: SocketAddr) {
        let (Some(b), Some(p)) = (self.bmp.as_mut(), self.peers.get(&address)) else { return };
        let peer = Peer { address, asn: n.remote.asn(), bgp_id: n.remote.router_id };
        let session = Session::new(peer, local, &n.local, &n.remote, n.families.clone(), n.four_octet_as);
        b.peer_up(session, Neighbor { peer, id: p.id, receive: n.codec_receive(), send: n.codec_send() });
    }

    pub(super) fn bmp_peer_down(&mut self, address: IpAddr, reason: &DownReason) {
        let Some(b) = self.bmp.as_mut() else { return };
        let reason = match *reason {
            DownReason::TcpFailure | DownReason::Restarted => Down::RemoteNoNotification,
            // RFC 4271 §6.5: Hold Timer Expired is code 4.
            DownReason::HoldTimerExpired => Down::notification(true, 4, 0),
            DownReason::NotificationSent { code, subcode } => Down::notification(true, code, subcode),
            DownReason::NotificationReceived { code, subcode } => Down::notification(false, code, subcode),
            DownReason::AdministrativeStop { code: Some(code), subcode } => {
                Down::notification(true, code, subcode.unwrap_or(0))
            }
            // RFC 4271 §8.1.2 Event 2, ManualStop.
            DownReason::AdministrativeStop { code: None, .. } => Down::LocalNoNotification(2),
            // BFD Down ends the session with Cease / BFD Down (RFC 9384).
            DownReason::BfdDown { .. } => Down::notification(true, 6, 10),
        };
        b.peer_down(address, reason);
    }

    /// A station's request; dumps wait for the end of keel's selection deferral (its Loc-RIB
    /// is not made until then).
    pub(super) fn bmp_request(&mut self, r: Option<Request>) {
        let Some(mut b) = self.bmp.take() else { return };
        let out = |address: IpAddr, f: &mut dyn FnMut(&AdjRibOut, &ExportPolicy)| self.with_export(address, f);
        if let Some(r) = r {
            b.request(r, &self.rib, &out);
        }
        if self.deferral.is_none() {
            b.answer_dumps(&self.rib, (self.local_asn, self.router_id), &out);
        }
        self.bmp = Some(b);
    }

    /// Calls `f` with a neighbor's Adj-RIB-Out and export policy, as [`RibTask::flush`] packs.
    fn with_export(&self, address: IpAddr, f: &mut dyn FnMut(&AdjRibOut, &ExportPolicy)) {
        let Some(s) = self.peers.get(&address).and_then(|p| p.session.as_ref()) else { return };
        let chain = self.chains.get(&address).map(|c| c.export.clone());
        let validator = chain.as_ref().filter(|c| c.uses_rpki()).map(|_| self.rpki.validator());
        let policy = ExportPolicy {
            chain: chain.as_deref(),
            vrps: validator.as_ref().and_then(|v| v.table()).map(|t| &**t),
            local_asn: self.local_asn,
            graceful_shutdown: self.graceful_shutdown.contains(&address),
        };
        f(&s.adj_rib_out, &policy);
    }
}
