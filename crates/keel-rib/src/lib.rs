//! keel-rib: Adj-RIB-In, Loc-RIB, the decision process (RFC 4271 §9.1) and what each
//! neighbor is sent (§9.1.3). Pure: no I/O, no clock.

pub mod attr_set;
pub mod decision;
pub mod export;
pub mod graceful_restart;
pub mod policy;
pub mod rib;
pub mod update_checks;

pub use attr_set::{AttrSet, AttrTable};
pub use rib::{Changed, Dest, Generation, Path, PeerId, PeerInfo, Received, Rib, StaleCount};
