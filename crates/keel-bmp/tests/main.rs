//! keel-bmp integration tests, built as one binary.
//!
//! - `golden`: every message type against bytes written by hand from the RFC layouts.
//! - `oracle`: every message type decoded by an independent BMP implementation
//!   (netgauze-bmp-pkt), with the decoded fields checked.
//! - `errors`: input the encoders refuse, and the buffer left unchanged.
//! - `station`: the station's Peer Up and Peer Down as keeld makes them (TCP ports, the
//!   NOTIFICATION sent or received), against golden bytes and the oracle.
//! - `properties`: random headers, statistics and strings, decoded by the oracle to the same
//!   values.

mod errors;
mod golden;
mod oracle;
mod properties;
mod station;
mod util;
