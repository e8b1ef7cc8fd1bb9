//! keel-rib: Adj-RIB-In, Loc-RIB, the decision process (RFC 4271 §9.1) and Adj-RIB-Out.
//! Pure: no I/O, no clock.

pub mod adj_rib_in;
pub mod attr_set;
pub mod decision;

pub use adj_rib_in::{AdjRibIn, Generation, RouteEntry};
pub use attr_set::{AttrSet, AttrTable};
