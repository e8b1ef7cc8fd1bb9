//! keel-wire: BGP-4 messages and their byte encoding.
//!
//! Decoding checks every length before reading (no panics, no reads past a message,
//! parameter, capability or attribute, no allocation beyond what the input justifies) and
//! returns a [`WireError`] naming the NOTIFICATION and RFC 7606 reaction the session owes.
//! Encoding never emits a message longer than the session's limit.
//!
//! | RFC | where |
//! |---|---|
//! | 4271 BGP-4 | [`header`], [`open`], [`update`], [`notification`], [`attribute`] |
//! | 4760 Multiprotocol | [`attribute::mp_reach`], [`capability`] |
//! | 5492 Capabilities, 9072 extended OPEN parameters | [`open`] |
//! | 4724 Graceful Restart, 8538 N bit and Hard Reset | [`capability::graceful_restart`], [`update::Update::end_of_rib`], [`notification`] |
//! | 9494 Long-Lived GR | [`capability::long_lived`], [`attribute::Community::LLGR_STALE`] |
//! | 6793 4-octet AS | [`attribute::as_path`], [`open::AS_TRANS`] |
//! | 7606 revised error handling | [`error`], [`attribute`] |
//! | 7911 Add-Path | [`nlri`], [`capability::add_path`] |
//! | 8654 Extended Message | [`header`], [`builder`] |
//! | 2918/7313 Route Refresh | [`route_refresh`] |
//! | 8950 IPv4 NLRI over IPv6 next hop | [`attribute::mp_reach`], [`capability::ExtendedNextHop`] |
//! | 1997/4360/8092 communities | [`attribute::community`] |
//! | 9234 Roles and OTC | [`capability::Role`], [`attribute::PathAttributes::otc`] |
//! | 9003 shutdown communication | [`notification`] |

pub mod attribute;
pub mod builder;
pub mod capability;
mod codec;
pub mod error;
pub mod family;
pub mod header;
mod message;
mod message_type;
pub mod nlri;
pub mod notification;
pub mod open;
mod reader;
pub mod route_refresh;
pub mod update;

pub use attribute::{AsPath, Community, ExtendedCommunity, LargeCommunity, NextHop, Origin, PathAttributes};
pub use capability::Capability;
pub use codec::CodecOptions;
pub use error::{Action, EncodeError, WireError};
pub use family::{Afi, Family, Safi};
pub use message::Message;
pub use message_type::MessageType;
pub use nlri::{Nlri, Prefix};
pub use notification::Notification;
pub use open::Open;
pub use route_refresh::{RefreshSubtype, RouteRefresh};
pub use update::Update;
