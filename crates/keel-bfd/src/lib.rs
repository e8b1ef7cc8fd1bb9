//! keel-bfd: Bidirectional Forwarding Detection sessions (RFC 5880) in Asynchronous mode, with
//! the Control Plane Independent (C) bit that RFC 5882 §4.3 uses to tell a forwarding failure
//! from a control-plane restart. Pure: no sockets, no tasks, no clock. Time arrives as a `now`
//! argument, randomness from a seed, and what is to be sent leaves as bytes in an [`Action`].
//!
//! | module | holds | RFC 5880 |
//! |---|---|---|
//! | [`packet`] | the Control packet codec and the packet-only reception checks | §4.1-§4.4, §6.8.6 (first checks) |
//! | [`auth`] | Simple Password, Keyed SHA1 and Meticulous Keyed SHA1; the A-bit checks | §6.7, §6.7.2, §6.7.4, §6.8.6 |
//! | [`timers`] | timer negotiation and manipulation, Detection Time, transmit jitter | §6.8.2-§6.8.4, §6.8.7 |
//! | [`session`] | the state machine, state variables, reception, transmission, Poll/Final, AdminDown | §6.2, §6.5, §6.8.1, §6.8.6, §6.8.7, §6.8.15, §6.8.16 |
//!
//! Encapsulation (UDP 3784 with TTL 255, RFC 5881; multihop on 4784, RFC 5883), demultiplexing
//! received packets to sessions by Your Discriminator or address (§6.3), and the sockets and
//! timers belong to the daemon. Demand mode (§6.6) and the Echo function (§6.4, §6.8.9) are not
//! implemented; Keyed MD5 (§6.7.3) is decoded but not offered.
//!
//! ```
//! use keel_bfd::{Action, Session, SessionConfig, State};
//! use std::time::{Duration, Instant};
//!
//! let config = |discriminator| SessionConfig {
//!     local_discriminator: discriminator,
//!     desired_min_tx: Duration::from_millis(100),
//!     required_min_rx: Duration::from_millis(100),
//!     detect_mult: 3,
//!     control_plane_independent: true,
//!     passive: false,
//!     authentication: None,
//!     seed: u64::from(discriminator),
//! };
//! let now = Instant::now();
//! let (mut a, mut b) = (Session::new(config(1), now).unwrap(), Session::new(config(2), now).unwrap());
//! // Hand each side's packets to the other until both are quiet.
//! let mut to_b: Vec<Vec<u8>> = packets(a.poll_timers(now));
//! while !to_b.is_empty() {
//!     let to_a: Vec<Vec<u8>> = to_b.iter().flat_map(|p| packets(b.receive(p, now).unwrap())).collect();
//!     to_b = to_a.iter().flat_map(|p| packets(a.receive(p, now).unwrap())).collect();
//! }
//! assert_eq!((a.state(), b.state()), (State::Up, State::Up));
//! assert_eq!(b.remote_control_plane_independent(), Some(true));
//!
//! fn packets(actions: Vec<Action>) -> Vec<Vec<u8>> {
//!     actions.into_iter().filter_map(|a| match a { Action::Transmit(p) => Some(p), _ => None }).collect()
//! }
//! ```

pub mod auth;
pub mod packet;
pub mod session;
pub mod timers;

pub use auth::{AuthConfigError, AuthError, Authentication, Key};
pub use packet::{AuthSection, AuthType, ControlPacket, Diagnostic, PacketError, State};
pub use session::{Action, ConfigError, Discard, Remote, Session, SessionConfig, Status};
