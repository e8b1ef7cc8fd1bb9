//! Selection deferral of the restarting speaker (RFC 4724 §4.1), for the whole RIB.
//!
//! After a restart, keel defers the decision process, advertisement and kernel changes until
//! every neighbor that can has sent End-of-RIB for each family, or the deferral timer (owned
//! by the caller) expires. Neighbors without graceful restart, restarting themselves (R=1), or
//! down are not waited for: waiting for a peer that waits for us is the dual-restart deadlock.
//!
//! ```text
//!   Deferring --(last awaited End-of-RIB / neighbor settled)--> Done
//!       \------------------(timer, by the caller)-------------> Done
//! ```

use keel_wire::capability::GracefulRestart;
use keel_wire::Family;
use std::collections::{BTreeMap, BTreeSet};

/// What the deferral still waits for from one neighbor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Awaited {
    /// Not Established yet.
    Session,
    /// Established; End-of-RIB still missing for these families.
    EndOfRib(BTreeSet<Family>),
}

/// Why the deferral ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    AllSettled,
    Timer,
}

#[derive(Debug, Clone)]
pub struct Deferral<K: Ord + Copy> {
    awaited: BTreeMap<K, Awaited>,
    ended: Option<Ended>,
}

impl<K: Ord + Copy> Deferral<K> {
    /// Deferral waiting for every configured neighbor in `neighbors`.
    pub fn new(neighbors: impl IntoIterator<Item = K>) -> Self {
        let awaited: BTreeMap<K, Awaited> = neighbors.into_iter().map(|k| (k, Awaited::Session)).collect();
        let ended = awaited.is_empty().then_some(Ended::AllSettled);
        Deferral { awaited, ended }
    }

    pub fn ended(&self) -> Option<Ended> {
        self.ended
    }

    /// Neighbors still awaited, and what for.
    pub fn awaited(&self) -> &BTreeMap<K, Awaited> {
        &self.awaited
    }

    fn settle(&mut self, k: K) -> Option<Ended> {
        self.awaited.remove(&k);
        if self.ended.is_none() && self.awaited.is_empty() {
            self.ended = Some(Ended::AllSettled);
            return self.ended;
        }
        None
    }

    /// The neighbor is Established: wait for End-of-RIB of the negotiated families it
    /// preserves, unless it cannot send one usefully.
    pub fn peer_up(&mut self, k: K, remote: Option<&GracefulRestart>, families: &[Family]) -> Option<Ended> {
        if !self.awaited.contains_key(&k) {
            return None;
        }
        match remote {
            None => self.settle(k),
            Some(g) if g.restart_state => self.settle(k),
            Some(g) => {
                let fams: BTreeSet<Family> = families.iter().copied().filter(|f| g.family(*f).is_some()).collect();
                if fams.is_empty() {
                    return self.settle(k);
                }
                self.awaited.insert(k, Awaited::EndOfRib(fams));
                None
            }
        }
    }

    pub fn end_of_rib(&mut self, k: K, family: Family) -> Option<Ended> {
        let done = match self.awaited.get_mut(&k) {
            Some(Awaited::EndOfRib(f)) => {
                f.remove(&family);
                f.is_empty()
            }
            _ => false,
        };
        if done {
            self.settle(k)
        } else {
            None
        }
    }

    /// The neighbor is down, unreachable, or gone from the configuration.
    pub fn peer_down(&mut self, k: K) -> Option<Ended> {
        if self.awaited.contains_key(&k) {
            self.settle(k)
        } else {
            None
        }
    }

    pub fn timer_expired(&mut self) -> Option<Ended> {
        if self.ended.is_none() {
            self.ended = Some(Ended::Timer);
            self.awaited.clear();
            return self.ended;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_wire::capability::GracefulRestartFamily;

    const V4: Family = Family::IPV4_UNICAST;
    const V6: Family = Family::IPV6_UNICAST;

    fn gr(restarting: bool, families: &[Family]) -> GracefulRestart {
        GracefulRestart {
            restart_state: restarting,
            notification: true,
            restart_time: 120,
            families: families.iter().map(|&family| GracefulRestartFamily { family, forwarding_state: true }).collect(),
        }
    }

    #[test]
    fn ends_when_every_neighbor_sent_end_of_rib() {
        let mut d = Deferral::new([1, 2]);
        assert_eq!(d.peer_up(1, Some(&gr(false, &[V4, V6])), &[V4, V6]), None);
        assert_eq!(d.peer_up(2, Some(&gr(false, &[V4])), &[V4]), None);
        assert_eq!(d.end_of_rib(1, V4), None);
        assert_eq!(d.end_of_rib(2, V4), None);
        assert_eq!(d.awaited().get(&1), Some(&Awaited::EndOfRib([V6].into())));
        assert_eq!(d.end_of_rib(1, V6), Some(Ended::AllSettled));
    }

    #[test]
    fn timer_ends_it_when_a_neighbor_never_sends_end_of_rib() {
        let mut d = Deferral::new([1]);
        d.peer_up(1, Some(&gr(false, &[V4])), &[V4]);
        assert_eq!(d.ended(), None);
        assert_eq!(d.timer_expired(), Some(Ended::Timer));
        assert_eq!(d.timer_expired(), None, "ends once");
    }

    #[test]
    fn not_waited_for_down_non_gr_or_restarting_neighbors() {
        let mut d = Deferral::new([1, 2, 3, 4]);
        assert_eq!(d.peer_down(1), None, "down");
        assert_eq!(d.peer_up(2, None, &[V4]), None, "no graceful restart");
        // Restarting itself (R=1): the dual-restart case, no deadlock.
        assert_eq!(d.peer_up(3, Some(&gr(true, &[V4])), &[V4]), None);
        assert_eq!(d.peer_up(4, Some(&gr(false, &[])), &[V4]), Some(Ended::AllSettled), "helper only");
    }

    #[test]
    fn no_neighbors_means_no_wait() {
        let d: Deferral<u8> = Deferral::new([]);
        assert_eq!(d.ended(), Some(Ended::AllSettled));
    }
}
