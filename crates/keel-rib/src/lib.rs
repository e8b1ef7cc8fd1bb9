//! keel-rib: Adj-RIB-In, Loc-RIB, the decision process (RFC 4271 §9.1), what each neighbor is
//! sent (§9.1.3) and each neighbor's Adj-RIB-Out with the UPDATE packing (§3.2, §9.2). Pure:
//! no I/O, no clock.
//!
//! | module | holds |
//! |---|---|
//! | [`rib`] | every neighbor's paths per destination (Adj-RIB-In), the best path (Loc-RIB), GR generations; in `rib/`: `selection` (the decision per destination), `stale` (GR stale marking and sweeps), `adj_rib_in` (routes before import policy) |
//! | [`decision`] | the decision process as an ordering of candidates |
//! | [`export`] | the export rules: split horizon, route reflection, route server, attribute rewrites |
//! | [`adj_rib_out`] | what one neighbor was sent, and its encoded UPDATEs up to a byte budget |
//! | [`policy`] | import and export policy chains |
//! | [`prefix_map`] | hash maps keyed by prefix, IPv4 prefixes under an 8-byte key: the RIB's tables, what a neighbor was sent |
//! | [`dense_map`] | the hash map under `prefix_map`: entries packed in chunks, a hash index of 4-byte positions |
//! | [`prefix_limit`] | a neighbor's prefix limits per family: warning and limit crossings (RFC 4486 §4) |
//! | [`update_checks`] | the UPDATE checks that need to know the neighbor |
//! | [`otc`] | RFC 9234 §5: Only to Customer on receipt (route leaks) and on advertisement |
//! | [`graceful_shutdown`] | RFC 8326: GRACEFUL_SHUTDOWN added on export, LOCAL_PREF 0 on import |
//! | [`graceful_restart`] | the helper and restarting-speaker machines: events in, actions out |

pub mod adj_rib_out;
pub mod attr_set;
pub mod decision;
pub mod dense_map;
pub mod export;
pub mod graceful_restart;
pub mod graceful_shutdown;
pub mod otc;
pub mod policy;
pub mod prefix_limit;
pub mod prefix_map;
pub mod rib;
pub mod update_checks;
pub mod update_groups;

pub use adj_rib_out::AdjRibOut;
pub use attr_set::{AttrSet, AttrTable};
pub use prefix_map::{FamilyMap, PrefixMap};
pub use rib::{AdjRibInCount, Changed, Dest, Generation, Path, PeerId, PeerInfo, Received, Rib, StaleCount};
