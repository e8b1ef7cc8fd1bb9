//! What a rehearsal is made of: [`Lab`], what every step shares (the temporary directory, the
//! addresses, the generated table, the timeline, the progress line), with keeld's
//! configuration for the lab ([`Lab::keeld_config`]); and one mode's [`Topology`]: keeld, the
//! upstream, the observer and the sampler.

use super::netns;
use super::observer::ObserverPeer;
use super::peers;
use super::process::{Task, TempDir};
use super::results::Timeline;
use super::roles::{Addresses, PeerKind, DAEMON_UPSTREAM_ASN, KEELD_ASN, OBSERVER_ASN};
use super::upstream::UpstreamPeer;
use crate::keeld::Keeld;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What every step of a rehearsal shares.
pub(super) struct Lab {
    pub(super) dir: TempDir,
    pub(super) keeld_exe: PathBuf,
    pub(super) addresses: Addresses,
    pub(super) feed: Arc<peers::Feed>,
    pub(super) timeline: Arc<Mutex<Timeline>>,
    pub(super) started: Instant,
    /// The line the progress display shows, if any.
    pub(super) progress: Arc<Mutex<Option<String>>>,
    pub(super) tty: bool,
    pub(super) quiet: Duration,
    pub(super) peer: Option<PeerKind>,
    pub(super) ipv4: usize,
    pub(super) ipv6: usize,
    /// The traffic flow (`--netns`).
    pub(super) traffic: Option<netns::Traffic>,
    /// Whether keel's observer speaker is a graceful-restart helper (not `--observer-no-gr`).
    pub(super) observer_helper: bool,
    /// Runs in the rehearsal: scenarios times two modes.
    pub(super) runs: usize,
    /// keeld's version, from its API once it ran.
    pub(super) keeld_version: Mutex<Option<String>>,
}

impl Lab {
    pub(super) fn note(&self, text: &str) {
        if self.tty {
            crate::say!(err, "\r\x1b[2K");
        }
        crate::say!(errln, "keel lab: {text}");
    }

    pub(super) fn set_progress(&self, label: Option<String>) {
        *self.progress.lock().unwrap_or_else(|e| e.into_inner()) = label;
        if self.tty {
            crate::say!(err, "\r\x1b[2K");
        }
    }

    pub(super) fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Who is where, for the log and the report.
    pub(super) fn who(&self) -> String {
        let a = &self.addresses;
        let name = peer_name(self.peer);
        let mut w = format!("keeld {}, upstream {} ({name}), observer {} ({name})", a.keel, a.upstream, a.observer);
        if self.peer.is_some() {
            w.push_str(&format!(", tap {} (keel, behind the observer)", a.tap));
        }
        w
    }

    pub(super) fn keeld_config(&self, state_dir: &std::path::Path, graceful_restart: bool) -> String {
        let a = &self.addresses;
        let mut c = format!(
            "# keel lab: keeld under test ({})\n[global]\nasn = {KEELD_ASN}\nrouter_id = \"192.0.2.2\"\nlisten = [\"{}\"]\n\
             api = \"{}\"\nstate_dir = \"{}\"\n\n[graceful_restart]\nmode = \"{}\"\nrestart_time = 30\n\
             selection_deferral_time = 30\n\n",
            if graceful_restart { "graceful restart" } else { "graceful restart disabled" },
            a.keel,
            state_dir.join("keel.sock").display(),
            state_dir.display(),
            if graceful_restart { "restart" } else { "disabled" },
        );
        if graceful_restart {
            c.push_str(
                "[long_lived_graceful_restart]\nfamilies = [\"ipv4-unicast\", \"ipv6-unicast\"]\nstale_time = 60\n\n",
            );
        }
        if self.traffic.is_some() {
            // The kernel's main table of the lab's namespace, not the host's.
            c.push_str("[fib]\nenabled = true\n\n");
        } else {
            c.push_str("[fib]\nenabled = true\nbackend = \"memory\"\n\n");
        }
        // A daemon observer gets documentation next hops (FRR refuses 127/8 as martian).
        let export = if self.peer.is_some() {
            c.push_str(
                "[[policy]]\nname = \"to-observer\"\n\
                 [[policy.term]]\nname = \"next-hop-v4\"\nmatch.family = \"ipv4-unicast\"\nset.next_hop = \"192.0.2.2\"\n\
                 [[policy.term]]\nname = \"next-hop-v6\"\nmatch.family = \"ipv6-unicast\"\nset.next_hop = \"2001:db8::2\"\n\
                 [[policy.term]]\nname = \"all\"\nthen = \"accept\"\n\n",
            );
            "to-observer"
        } else {
            "all"
        };
        c.push_str(&format!(
            "[[neighbor]]\naddress = \"{}\"\nasn = {}\ndescription = \"upstream\"\npassive = true\nimport = \"all\"\nexport = \"none\"\n\n\
             [[neighbor]]\naddress = \"{}\"\nasn = {}\ndescription = \"observer\"\npassive = true\nimport = \"none\"\nexport = \"{export}\"\n",
            a.upstream,
            if self.peer.is_some() { DAEMON_UPSTREAM_ASN } else { self.feed.peer_as },
            a.observer,
            OBSERVER_ASN,
        ));
        c
    }
}

/// One mode's topology: keeld, the upstream, the observer and the sampler.
pub(super) struct Topology {
    pub(super) keeld: Keeld,
    pub(super) upstream: UpstreamPeer,
    pub(super) observer: ObserverPeer,
    pub(super) _sampler: Task,
}

/// "keel" for keel's own speaker, else the daemon's name.
pub(super) fn peer_name(peer: Option<PeerKind>) -> &'static str {
    match peer {
        None => "keel",
        Some(PeerKind::Bird) => "bird",
        Some(PeerKind::Frr) => "frr",
        Some(PeerKind::Gobgp) => "gobgp",
    }
}
