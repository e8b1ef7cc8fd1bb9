//! RPKI route origin validation (RFC 6811) against a set of Validated ROA Payloads (VRPs).
//!
//! - [`Vrp`]: one VRP, {prefix, maximum length, origin AS} (RFC 6811 §2, RFC 8210 §5.6).
//! - [`VrpTable`]: an immutable VRP set indexed for validation; [`VrpTable::validate`] gives a
//!   route's [`RpkiState`] per RFC 6811 §2. Built once per VRP change and shared (`Arc`) by
//!   whoever validates, so lookups need no lock.
//! - [`VrpSet`]: the VRPs one RTR cache gave, changed by whole updates (RFC 8210 §5: a Cache
//!   Response up to its End of Data) that apply atomically or not at all.
//!
//! The crate does no I/O: keel's daemon runs the RTR clients (RFC 8210) and feeds it.

mod route;
mod set;
pub mod synthetic;
mod table;
mod vrp;

pub use route::{route_origin_asn, RpkiState};
pub use set::{Change, UpdateError, VrpSet};
pub use table::VrpTable;
pub use vrp::{Vrp, VrpError};
