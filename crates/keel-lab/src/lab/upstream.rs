//! The upstream of a rehearsal, whatever plays it: keel's own speaker ([`super::peers`]) or,
//! with `--peer`, BIRD, FRR or GoBGP ([`super::bird`], [`super::frr`], [`super::gobgp`]), each
//! restarting, vanishing and resetting its own way.

use super::peers::{PeerStats, Upstream};
use super::{bird, frr, gobgp};
use anyhow::Result;
use std::sync::Arc;
use std::time::Instant;

/// The upstream: keel's own speaker, or a real daemon with `--peer`.
pub(super) enum UpstreamPeer {
    Speaker(Upstream),
    Bird(bird::BirdUpstream),
    Frr(frr::FrrUpstream),
    GoBgp(gobgp::GoBgpUpstream),
}

impl UpstreamPeer {
    pub(super) fn stats(&self) -> Arc<PeerStats> {
        match self {
            UpstreamPeer::Speaker(u) => u.stats.clone(),
            UpstreamPeer::Bird(b) => b.stats.clone(),
            UpstreamPeer::Frr(f) => f.stats.clone(),
            UpstreamPeer::GoBgp(g) => g.stats.clone(),
        }
    }

    pub(super) async fn connect_and_feed(&mut self, restarting: bool, deadline: Instant) -> Result<()> {
        match self {
            UpstreamPeer::Speaker(u) => Ok(u.connect_and_feed(restarting, deadline).await?),
            UpstreamPeer::Bird(b) => b.connect_and_feed(restarting, deadline).await,
            UpstreamPeer::Frr(f) => f.connect_and_feed(restarting, deadline).await,
            UpstreamPeer::GoBgp(g) => g.connect_and_feed(restarting, deadline).await,
        }
    }

    /// Whether its whole table is sent on an established session.
    pub(super) fn ready(&self) -> bool {
        match self {
            UpstreamPeer::Speaker(u) => {
                u.end_of_rib_sent.is_some() && u.stats.established.load(std::sync::atomic::Ordering::Relaxed)
            }
            UpstreamPeer::Bird(b) => b.ready(),
            UpstreamPeer::Frr(f) => f.ready(),
            UpstreamPeer::GoBgp(g) => g.ready(),
        }
    }

    /// When FRR's startup window ends ([`frr::STARTUP_WINDOW`]).
    pub(super) fn startup_ends(&self) -> Option<Instant> {
        match self {
            UpstreamPeer::Frr(f) => Some(f.startup_ends),
            _ => None,
        }
    }

    /// keeld goes away: the speaker drops its dead session; the daemons reconnect by themselves.
    pub(super) fn keel_leaves(&mut self) {
        if let UpstreamPeer::Speaker(u) = self {
            u.close();
        }
    }

    /// The upstream restarts: TCP loss (speaker, GoBGP: SIGKILL), `birdc graceful restart`
    /// (BIRD), SIGTERM (FRR: Cease with the N bit).
    pub(super) async fn restart(&mut self) {
        match self {
            UpstreamPeer::Speaker(u) => u.close(),
            UpstreamPeer::Bird(b) => b.graceful_stop().await,
            UpstreamPeer::Frr(f) => f.graceful_stop().await,
            UpstreamPeer::GoBgp(g) => g.kill().await,
        }
    }

    /// The upstream disappears without a word: TCP loss (speaker) or SIGKILL (BIRD).
    pub(super) async fn vanish(&mut self) {
        match self {
            UpstreamPeer::Speaker(u) => u.close(),
            UpstreamPeer::Bird(b) => b.kill().await,
            UpstreamPeer::Frr(f) => f.kill().await,
            UpstreamPeer::GoBgp(g) => g.kill().await,
        }
    }

    /// Cease/Hard Reset (speaker, FRR); BIRD, without the N bit, resets with
    /// Cease/Administrative Reset; GoBGP with `gobgp neighbor X reset`.
    pub(super) async fn hard_reset(&mut self) {
        match self {
            UpstreamPeer::Speaker(u) => u.hard_reset().await,
            UpstreamPeer::Bird(b) => b.reset().await,
            UpstreamPeer::Frr(f) => f.reset().await,
            UpstreamPeer::GoBgp(g) => g.reset().await,
        }
    }
}
