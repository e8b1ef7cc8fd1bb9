//! The hitless upgrade's pure half (`keel upgrade`, docs/upgrade.md): what the old keeld hands
//! the new one, and whether a handoff fits the sessions' hold times.
//!
//! - [`format`]: the container: a header with magic, format version and CRC-32C of the body,
//!   then tagged records; tags with [`format::MUST_UNDERSTAND`] set make a reader that does not
//!   know them fail, others are skipped, so most releases add fields without a version change.
//! - [`state`]: the typed state ([`Handoff`]: the daemon's facts, listeners, one
//!   [`NeighborState`] per Established session with its Adj-RIB-In and Adj-RIB-Out as BGP
//!   UPDATE bytes) and its encoding into records.
//! - [`plan`]: the pre-checks that need no handoff: the handoff budget and the neighbors whose
//!   negotiated hold time is too short for it.
//!
//! No I/O and no clock: durations arrive and leave as "milliseconds left", the daemon turns them
//! into tokio deadlines. Decoding never panics on any input (property-tested).

pub mod crc;
pub mod format;
pub mod plan;
pub mod state;

pub use format::{DecodeError, FORMAT_VERSION};
pub use state::{Handoff, Listener, NeighborState};
