//! keel-wire integration tests, built as one binary (faster to link than one per file).
//!
//! - `capabilities`: RFC 5492 and the capability RFCs, one test per receiver rule.
//! - `golden`: hand-written byte vectors (per-field comments) from the RFCs and in the shapes
//!   other implementations (FRR, BIRD, GoBGP, ExaBGP) send, decoded to expected fields.
//! - `malformed`: invalid messages and the NOTIFICATION code/subcode, data and RFC 7606 action.
//! - `properties`: proptest round trips, builder splitting, and decode robustness.
//! - `oracle`: cross-checks against an independent codec (netgauze-bgp-pkt).

mod capabilities;
mod golden;
mod malformed;
mod oracle;
mod properties;
mod util;
