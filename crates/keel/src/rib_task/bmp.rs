//! BMP stations (keel_bmp::station): the RIB task's hooks hand [`Feeds`] what happened; this
//! room turns keeld's types into its inputs. Off (`bmp: None`) without a `[[bmp.station]]`.

use super::RibTask;
use crate::events::DownReason;
use crate::negotiate::Negotiated;
use keel_bmp::station::{from_rib::Neighbor, Down, Feed, Feeds, Peer, Request, Session};
use keel_rib::adj_rib_out::ExportPolicy;
use keel_rib::AdjRibOut;
use std::net::{IpAddr, SocketAddr};

/// The Peer Down reason (RFC 7854 §4.9) of a session's end: 1 with the NOTIFICATION keel sent,
/// 2 with the FSM event when keel closed without one, 3 with the NOTIFICATION received, 4 when
/// the connection was lost.
pub(super) fn down(reason: &DownReason) -> Down {
    match reason {
        // A second connection while Established: the neighbor restarted (RFC 4724 §4.2) and
        // the old connection is gone with no NOTIFICATION.
        DownReason::TcpFailure | DownReason::Restarted => Down::RemoteNoNotification,
        // RFC 4271 §6.5: keel sent Hold Timer Expired (code 4).
        DownReason::HoldTimerExpired => Down::notification(true, 4, 0, &[]),
        DownReason::NotificationSent { code, subcode, data } => Down::notification(true, *code, *subcode, data),
        DownReason::NotificationReceived { code, subcode, data } => Down::notification(false, *code, *subcode, data),
        DownReason::AdministrativeStop { code: Some(code), subcode, data } => {
            Down::notification(true, *code, subcode.unwrap_or(0), data)
        }
        // RFC 4271 §8.1.2 Event 2, ManualStop, with no NOTIFICATION.
        DownReason::AdministrativeStop { code: None, .. } => Down::LocalNoNotification(2),
        // BFD Down ends the session with Cease / BFD Down (RFC 9384).
        DownReason::BfdDown { .. } => Down::notification(true, 6, 10, &[]),
    }
}

impl RibTask {
    /// Feeds the BMP stations (keel_bmp::station::start made them, in this order).
    pub fn with_bmp(mut self, feeds: Vec<Feed>) -> Self {
        self.bmp = Feeds::new(feeds);
        self
    }

    pub(super) fn bmp_peer_up(&mut self, address: IpAddr, n: &Negotiated, local: SocketAddr, remote: SocketAddr) {
        let (Some(b), Some(p)) = (self.bmp.as_mut(), self.peers.get(&address)) else { return };
        let peer = Peer { address, asn: n.remote.asn(), bgp_id: n.remote.router_id };
        let session = Session::new(peer, (local, remote), &n.local, &n.remote, n.families.clone(), n.four_octet_as);
        b.peer_up(session, Neighbor { peer, id: p.id, receive: n.codec_receive(), send: n.codec_send() });
    }

    pub(super) fn bmp_peer_down(&mut self, address: IpAddr, reason: &DownReason) {
        let Some(b) = self.bmp.as_mut() else { return };
        b.peer_down(address, down(reason));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole NOTIFICATION message `code`/`subcode`/`data`, as on the wire.
    fn pdu(code: u8, subcode: u8, data: &[u8]) -> Vec<u8> {
        let len = 21 + data.len() as u16;
        let mut v = vec![0xff; 16];
        v.extend_from_slice(&len.to_be_bytes());
        v.extend([3, code, subcode]);
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn each_session_end_is_its_peer_down_reason_with_the_notification() {
        let cases = [
            (DownReason::TcpFailure, Down::RemoteNoNotification),
            (DownReason::Restarted, Down::RemoteNoNotification),
            (DownReason::HoldTimerExpired, Down::LocalNotification(pdu(4, 0, &[]))),
            (
                DownReason::NotificationSent { code: 3, subcode: 1, data: vec![0x40] },
                Down::LocalNotification(pdu(3, 1, &[0x40])),
            ),
            (
                DownReason::NotificationReceived { code: 6, subcode: 2, data: b"\x03bye".to_vec() },
                Down::RemoteNotification(pdu(6, 2, b"\x03bye")),
            ),
            (
                DownReason::AdministrativeStop { code: Some(6), subcode: Some(3), data: vec![] },
                Down::LocalNotification(pdu(6, 3, &[])),
            ),
            (DownReason::AdministrativeStop { code: None, subcode: None, data: vec![] }, Down::LocalNoNotification(2)),
            (
                DownReason::BfdDown { control_plane_independent: false, strict: false },
                Down::LocalNotification(pdu(6, 10, &[])),
            ),
        ];
        for (reason, want) in cases {
            assert_eq!(down(&reason), want, "{reason:?}");
        }
    }
}
