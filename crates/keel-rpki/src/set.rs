//! The VRPs one RTR cache gave (RFC 8210 §5): changed only by whole updates, each the payload
//! PDUs between a Cache Response and its End of Data. An update applies entirely or not at
//! all, so a failed transfer leaves the previous set in use.

use crate::vrp::Vrp;
use rustc_hash::FxHashSet;

/// One payload PDU of an update (RFC 8210 §5.6, flags bit 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Announce(Vrp),
    Withdraw(Vrp),
}

/// An update that contradicts the set (RFC 8210 §12 error codes 6 and 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// RFC 8210 §5.6: "The cache server MUST ensure that it has told the router client to have
    /// one and only one IPvX PDU for a unique {Prefix, Len, Max-Len, ASN}".
    #[error("duplicate announcement of {0}")]
    DuplicateAnnouncement(Vrp),
    #[error("withdrawal of unknown record {0}")]
    WithdrawalOfUnknownRecord(Vrp),
}

impl UpdateError {
    /// The Error Report code to send (RFC 8210 §12).
    pub fn error_code(&self) -> u16 {
        match self {
            UpdateError::WithdrawalOfUnknownRecord(_) => 6,
            UpdateError::DuplicateAnnouncement(_) => 7,
        }
    }
}

/// The VRP set of one cache.
#[derive(Debug, Clone, Default)]
pub struct VrpSet {
    vrps: FxHashSet<Vrp>,
}

impl VrpSet {
    /// Applies one update: after a Reset Query (`reset`) it replaces the set, after a Serial
    /// Query it changes it. On error nothing changes.
    pub fn apply(&mut self, reset: bool, changes: &[Change]) -> Result<(), UpdateError> {
        if reset {
            let mut fresh = VrpSet::default();
            fresh.apply(false, changes)?;
            *self = fresh;
            return Ok(());
        }
        for (i, c) in changes.iter().enumerate() {
            let result = match *c {
                Change::Announce(v) if !self.vrps.insert(v) => Err(UpdateError::DuplicateAnnouncement(v)),
                Change::Withdraw(v) if !self.vrps.remove(&v) => Err(UpdateError::WithdrawalOfUnknownRecord(v)),
                _ => Ok(()),
            };
            if let Err(e) = result {
                self.undo(&changes[..i]);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Reverts `done`, the changes applied before one that failed.
    fn undo(&mut self, done: &[Change]) {
        for c in done.iter().rev() {
            match *c {
                Change::Announce(v) => self.vrps.remove(&v),
                Change::Withdraw(v) => self.vrps.insert(v),
            };
        }
    }

    pub fn len(&self) -> usize {
        self.vrps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vrps.is_empty()
    }

    pub fn clear(&mut self) {
        self.vrps = FxHashSet::default();
    }

    pub fn iter(&self) -> impl Iterator<Item = &Vrp> + '_ {
        self.vrps.iter()
    }

    /// The VRPs, sorted.
    pub fn to_vec(&self) -> Vec<Vrp> {
        let mut v: Vec<Vrp> = self.vrps.iter().copied().collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Change::*;

    fn v(s: &str) -> Vrp {
        s.parse().unwrap()
    }

    #[test]
    fn reset_replaces_serial_changes() {
        let mut s = VrpSet::default();
        s.apply(true, &[Announce(v("10.0.0.0/8 AS1")), Announce(v("10.0.0.0/8 AS2"))]).unwrap();
        assert_eq!(s.len(), 2);
        s.apply(false, &[Withdraw(v("10.0.0.0/8 AS1")), Announce(v("192.0.2.0/24 AS3"))]).unwrap();
        assert_eq!(s.to_vec(), [v("10.0.0.0/8 AS2"), v("192.0.2.0/24 AS3")]);
        s.apply(true, &[Announce(v("198.51.100.0/24 AS4"))]).unwrap();
        assert_eq!(s.to_vec(), [v("198.51.100.0/24 AS4")]);
    }

    #[test]
    fn failed_update_changes_nothing() {
        let mut s = VrpSet::default();
        s.apply(true, &[Announce(v("10.0.0.0/8 AS1"))]).unwrap();
        let before = s.to_vec();
        let e = s
            .apply(
                false,
                &[Withdraw(v("10.0.0.0/8 AS1")), Announce(v("10.0.0.0/9 AS1")), Announce(v("10.0.0.0/9 AS1"))],
            )
            .unwrap_err();
        assert_eq!((e, e.error_code()), (UpdateError::DuplicateAnnouncement(v("10.0.0.0/9 AS1")), 7));
        assert_eq!(s.to_vec(), before);
        let e = s.apply(false, &[Announce(v("10.0.0.0/9 AS1")), Withdraw(v("10.0.0.0/10 AS1"))]).unwrap_err();
        assert_eq!(e.error_code(), 6);
        assert_eq!(s.to_vec(), before);
        // A broken reset response keeps the old set too.
        assert!(s.apply(true, &[Announce(v("10.0.0.0/9 AS1")), Announce(v("10.0.0.0/9 AS1"))]).is_err());
        assert_eq!(s.to_vec(), before);
    }
}
