//! keel's JSON API, from both ends: the documents keeld serves on its Unix socket, as serde
//! types, and the client for that socket.
//!
//! **The JSON contract lives here.** keeld builds these types and serializes them
//! (`keel::api`); `keel show`, `keel check --live` and the client's users deserialize the same
//! types, so a field is named once. Scripts read these names: renaming or reshaping a field
//! breaks them, and each module's tests pin a representative document byte for byte, so such a
//! change fails a test before it ships.
//!
//! | module | documents |
//! |---|---|
//! | [`neighbor`] | `GET /v1/neighbors` (a list of them), `GET /v1/neighbors/{address}` |
//! | [`route`] | `GET /v1/routes` (a list) |
//! | [`status`] | `GET /v1/status` (with keel's own restart, [`RestartView`]) |
//! | [`rpki`] | `GET /v1/rpki`: the RTR caches and the VRPs in use |
//! | [`policy`] | `GET /v1/policies`, `/v1/policies/{name}`, `/v1/policies/{name}/test` |
//! | [`bfd`] | the `"bfd"` object of a neighbor, also what keel-bfdd tells keeld |
//! | [`answer`] | what `POST` answers (`reload`, `restart`, `stop`, `clear`); the body of every error |
//! | [`decode`] | what `keel decode` prints: one document per BGP message, or the error |
//! | [`family`] | `{"afi": "ipv4", "safi": "unicast"}`, shared by the above and `keel decode` |
//!
//! **Field order.** keeld built the neighbor, status, policy and answer documents as
//! `serde_json::Value`, whose maps are sorted, so their keys have always gone out in alphabetical
//! order: those types declare their fields alphabetically to keep the bytes as they were, and the
//! newer RPKI document follows them. A route was always a struct, and keeps its order.
//!
//! **Reading.** A reader gets a clear error, never a panic, from a document that lacks a field
//! ([`client::parse`] names the request and the field); a field an older keeld did not send is
//! `#[serde(default)]` only where the reader has a fallback for it.
//!
//! The crate is pure but for [`client`]: serde, and keel-wire for the names of families, AS_PATH
//! segment types and capabilities. No tokio, nothing of the daemon.

pub mod answer;
pub mod bfd;
pub mod client;
pub mod decode;
pub mod family;
pub mod neighbor;
pub mod policy;
pub mod route;
pub mod rpki;
pub mod status;

pub use answer::{Answer, ErrorBody};
pub use client::{
    api_path, bgp_port, get, parse, request, unprivileged_dir, unprivileged_port, BGP_PORT, DEFAULT_API,
    UNPRIVILEGED_BGP_PORT, UNPRIVILEGED_PORT_OFFSET,
};
pub use family::{FamilyView, NameOrNumber};
pub use neighbor::NeighborView;
pub use policy::{PolicyTest, PolicyView};
pub use route::{RouteView, SegmentView};
pub use rpki::{RpkiCacheView, RpkiView, VrpCounts};
pub use status::{RestartView, StatusView, UpgradeView};
