//! keel-bfdd: keel's BFD sessions (RFC 5880 Asynchronous mode, single hop RFC 5881, multihop
//! RFC 5883, IPv4 and IPv6) in a process of their own, and keeld's client for it.
//!
//! **Why a process of its own.** RFC 5882 §4.3 lets a BGP speaker's neighbors keep its routes
//! through a control-plane restart only if its BFD says so: the C (Control Plane Independent)
//! bit. keeld restarts (`keel restart`, upgrades, crashes) while the kernel keeps forwarding; if
//! its BFD sessions stopped with it, every neighbor would see BFD Down and drop keel's routes,
//! defeating graceful restart. keel-bfdd runs the sessions; keeld registers its neighbors over a
//! Unix socket and hears their state. keeld's restart closes the socket, not the sessions.
//!
//! **The C bit** keel-bfdd sends is decided when it starts ([`independence`]): set only when
//! nothing that stops keeld stops it too. Under systemd that means its own unit
//! (keel-bfdd.service); a keel-bfdd that keeld started inside keeld.service's cgroup dies with
//! keeld's unit and sends C=0.
//!
//! **When keeld does not come back**, a session nobody registers again within the orphan time
//! (`--orphan-time`, 300 s, longer than a graceful restart's restart time) is set AdminDown —
//! which the neighbor must not take for a forwarding failure (RFC 5882 §3.2) — and removed.
//!
//! | module | holds |
//! |---|---|
//! | [`protocol`] | the JSON lines keeld and keel-bfdd exchange |
//! | [`table`] | the sessions without sockets: demultiplexing, clients, orphans (tested with time as input) |
//! | [`udp`] | the UDP sockets: ports 3784/4784, TTL 255 and its check |
//! | [`server`] | keel-bfdd's event loop: sockets, timers, clients |
//! | [`client`] | keeld's end: one connection per neighbor, keel-bfdd started when absent |
//! | [`independence`] | whether this process outlives keeld (the C bit) |

pub mod cli;
pub mod client;
pub mod independence;
pub mod protocol;
pub mod server;
pub mod table;
pub mod udp;
