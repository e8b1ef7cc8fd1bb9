//! keel-rib: Adj-RIB-In, Loc-RIB, the decision process (RFC 4271 §9.1) and Adj-RIB-Out.
//! Pure: no I/O, no clock.
//!
//! Today it holds the per-neighbor Adj-RIB-In with interned attribute sets and session
//! generations; the decision process and Adj-RIB-Out come with their own issue.

pub mod adj_rib_in;
pub mod attr_set;

pub use adj_rib_in::{AdjRibIn, Generation, RouteEntry};
pub use attr_set::{AttrSet, AttrTable};
