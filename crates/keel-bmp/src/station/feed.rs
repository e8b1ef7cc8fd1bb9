//! The RIB task's end of a station: a bounded channel it only ever `try_send`s on, and the
//! [`Link`] both ends share to say the station is not (or no longer) taking changes.

use super::{Change, View};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, Notify};

/// Shared by a [`Feed`] and its station task.
#[derive(Debug)]
pub struct Link {
    /// The station's address, for logs and metrics.
    pub station: std::net::SocketAddr,
    /// The station is not taking changes: not connected, or overrun and being dropped.
    detached: AtomicBool,
    /// Times the station fell behind and was dropped.
    overruns: AtomicU64,
    /// Wakes the station task when the feed overran.
    overrun: Notify,
}

impl Link {
    pub(crate) fn new(station: std::net::SocketAddr) -> Link {
        Link { station, detached: AtomicBool::new(true), overruns: AtomicU64::new(0), overrun: Notify::new() }
    }

    pub fn detached(&self) -> bool {
        self.detached.load(Ordering::Acquire)
    }

    /// Times the station fell behind and was dropped (for the metrics).
    pub fn overruns(&self) -> u64 {
        self.overruns.load(Ordering::Relaxed)
    }

    pub(crate) fn attach(&self) {
        self.detached.store(false, Ordering::Release);
    }

    pub(crate) fn detach(&self) {
        self.detached.store(true, Ordering::Release);
    }

    /// The station task waits here for an overrun.
    pub(crate) async fn overran(&self) {
        self.overrun.notified().await
    }

    fn mark_overrun(&self) {
        self.detach();
        self.overruns.fetch_add(1, Ordering::Relaxed);
        self.overrun.notify_one();
    }
}

/// One station as the RIB task sees it.
#[derive(Debug)]
pub struct Feed {
    pub(crate) tx: mpsc::Sender<(u64, Change)>,
    pub link: Arc<Link>,
    pub views: Vec<View>,
    /// `Some(epoch)` while the station takes changes (from its dump on).
    epoch: Option<u64>,
}

impl Feed {
    pub(crate) fn new(tx: mpsc::Sender<(u64, Change)>, link: Arc<Link>, views: Vec<View>) -> Feed {
        Feed { tx, link, views, epoch: None }
    }

    /// Whether the station takes changes now.
    pub fn live(&self) -> bool {
        self.epoch.is_some()
    }

    /// Whether the station takes changes of `view` now.
    pub fn wants(&self, view: View) -> bool {
        self.live() && self.views.contains(&view)
    }

    /// Turns the feed on at the point of its dump.
    pub fn start(&mut self, epoch: u64) {
        self.epoch = Some(epoch);
    }

    /// Queues `change` without waiting. A full queue turns the feed off and marks the station
    /// overrun: it is dropped and re-synchronised from a fresh dump. Returns false when the
    /// change was not queued.
    pub fn send(&mut self, change: Change) -> bool {
        let Some(epoch) = self.epoch else { return false };
        if self.link.detached() {
            self.epoch = None;
            return false;
        }
        match self.tx.try_send((epoch, change)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.epoch = None;
                self.link.mark_overrun();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.epoch = None;
                false
            }
        }
    }
}
