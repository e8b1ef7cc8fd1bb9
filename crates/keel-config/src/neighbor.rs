//! `[[neighbor]]`: one BGP neighbor, with its `[neighbor.prefix_limit]` (RFC 4486).

use crate::graceful_restart::{GracefulRestartOverride, LongLived};
use crate::policy::PolicyNames;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use toml::Spanned;
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddPathMode {
    #[default]
    Off,
    Receive,
    Send,
    Both,
}

/// `role`: keel's own role on the session (RFC 9234 §4, §3.1 names; "rs" is a route server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoleConfig {
    Provider,
    Customer,
    Peer,
    Rs,
    RsClient,
}

impl RoleConfig {
    /// The capability value (RFC 9234 §4.1).
    pub fn role(self) -> keel_wire::capability::Role {
        use keel_wire::capability::Role;
        match self {
            RoleConfig::Provider => Role::Provider,
            RoleConfig::Customer => Role::Customer,
            RoleConfig::Peer => Role::Peer,
            RoleConfig::Rs => Role::RouteServer,
            RoleConfig::RsClient => Role::RouteServerClient,
        }
    }
}

/// `add_path_send`: how many paths per destination to send where Add-Path send was
/// negotiated (RFC 7911 §4): a count (2-16) or "all". Checked by [`Config::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum AddPathSend {
    Count(i64),
    Word(String),
}

impl AddPathSend {
    /// Paths per destination: `usize::MAX` for "all"; `None` when out of range.
    pub fn paths(&self) -> Option<usize> {
        match self {
            AddPathSend::Count(n) if (2..=16).contains(n) => usize::try_from(*n).ok(),
            AddPathSend::Word(w) if w == "all" => Some(usize::MAX),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Neighbor {
    pub address: Spanned<IpAddr>,
    pub asn: Spanned<u32>,
    #[serde(default)]
    pub local_address: Option<IpAddr>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub families: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub passive: bool,
    /// Seconds between outgoing connection attempts (RFC 4271 §10 ConnectRetryTime).
    #[serde(default)]
    pub connect_retry_time: Option<u16>,
    /// RFC 9687 SendHoldTime, seconds: close the session when the neighbor has taken nothing
    /// keel sent it for this long (default 480 s; the timer uses at least twice the negotiated
    /// hold time). 0 turns the timer off; otherwise it must exceed `hold_time` (§4.4).
    #[serde(default)]
    pub send_hold_time: Option<Spanned<u32>>,
    /// Seconds a new connection may take to send its OPEN (RFC 4271 §8.2.2: the hold timer
    /// in OpenSent is "a large value", 4 minutes suggested; default 240). It bounds a
    /// connection from the neighbor's address that never speaks.
    #[serde(default)]
    pub open_hold_time: Option<Spanned<u16>>,
    #[serde(default = "default_hold_time")]
    pub hold_time: Spanned<u16>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub ttl_security: bool,
    /// "all", "none", a `[[policy]]` name or a list of them. Unset: "all" for iBGP, "none"
    /// for eBGP (RFC 8212).
    #[serde(default)]
    pub import: Option<Spanned<PolicyNames>>,
    #[serde(default)]
    pub export: Option<Spanned<PolicyNames>>,
    /// RFC 4456: reflect iBGP routes to and from this neighbor.
    #[serde(default)]
    pub route_reflector_client: bool,
    /// RFC 7947: act as a transparent route server towards this neighbor.
    #[serde(default)]
    pub route_server_client: bool,
    /// RFC 4271 §6.3: an UPDATE from this external neighbor whose AS_PATH does not start with
    /// its AS is treat-as-withdraw (RFC 7606 §7.2). Unset: on for eBGP (as BIRD and FRR).
    /// Set it to false when the neighbor is a route server, which does not prepend its own AS
    /// (RFC 7947 §2.2). Meaningless for iBGP: `true` there is an error.
    #[serde(default)]
    pub enforce_first_as: Option<Spanned<bool>>,
    /// Add-Path (RFC 7911) to advertise: "off", "receive", "send" or "both".
    #[serde(default)]
    pub add_path: AddPathMode,
    /// RFC 7911: paths per destination sent where Add-Path send was negotiated, 2-16 or
    /// "all". Unset: the best path alone (path identifier 0), as a neighbor without Add-Path.
    #[serde(default)]
    pub add_path_send: Option<Spanned<AddPathSend>>,
    #[serde(default)]
    pub graceful_restart: Option<GracefulRestartOverride>,
    #[serde(default)]
    pub long_lived_graceful_restart: Option<LongLived>,
    /// RFC 9234 §4: keel's own BGP Role on this session ("customer": keel is the neighbor's
    /// customer), sent as the Role capability; drives the OTC procedures (§5). External
    /// neighbors only.
    #[serde(default)]
    pub role: Option<Spanned<RoleConfig>>,
    /// RFC 9234 §4.2 strict mode: a neighbor that sends no Role capability is refused with
    /// Role Mismatch. Needs `role`.
    #[serde(default)]
    pub strict_role: Option<Spanned<bool>>,
    /// A BFD session (RFC 5880) with the neighbor's address, set up as `[bfd]` says: BFD Down
    /// ends the BGP session at once with Cease/BFD Down (RFC 9384).
    #[serde(default)]
    pub bfd: bool,
    /// On BFD Down, flush the neighbor's routes even when its BFD has C=0 and it advertised
    /// graceful restart (RFC 5882 §4.3 leaves keeping them to local policy). Needs `bfd`.
    #[serde(default)]
    pub bfd_strict: Option<Spanned<bool>>,
    /// This neighbor's BFD authentication, overriding `[bfd]`'s `auth`, `auth_key_id` and
    /// `password` key by key. Need `bfd`.
    #[serde(default)]
    pub bfd_auth: Option<Spanned<crate::BfdAuth>>,
    #[serde(default)]
    pub bfd_auth_key_id: Option<Spanned<i64>>,
    #[serde(default)]
    pub bfd_password: Option<Spanned<String>>,
    /// `[neighbor.prefix_limit]`: the most routes kept from it per family (RFC 4486 §4).
    #[serde(default)]
    pub prefix_limit: Option<PrefixLimitConfig>,
}

/// `[neighbor.prefix_limit]`: the guard against a neighbor that leaks a full table. Crossing
/// `max` closes the session with Cease/Maximum Number of Prefixes Reached (RFC 4486 §4), a
/// Hard Reset where the N bit was exchanged (RFC 8538 §5.1), or only warns.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixLimitConfig {
    /// The most routes per family (`ipv4-unicast = 1100000`); required, each above 0.
    pub max: BTreeMap<String, Spanned<u32>>,
    /// Percent of `max` at which keel logs a warning, once per session (1-100, default 80).
    #[serde(default)]
    pub warning_percent: Option<Spanned<u8>>,
    /// What counts: every route kept as received, before import policy (the memory bound,
    /// the default), or the routes import policy accepted.
    #[serde(default)]
    pub count: PrefixLimitCount,
    #[serde(default)]
    pub action: PrefixLimitAction,
    /// Seconds before keel connects to or accepts the neighbor again after a reset; 0: only
    /// `keel clear neighbor` brings it back. Default 300.
    #[serde(default)]
    pub restart_after: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrefixLimitCount {
    #[default]
    Received,
    Accepted,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrefixLimitAction {
    #[default]
    Reset,
    Warn,
}

/// `warning_percent` when not written.
pub const DEFAULT_WARNING_PERCENT: u8 = 80;
/// `restart_after` when not written, seconds.
pub const DEFAULT_RESTART_AFTER: u32 = 300;

impl Neighbor {
    pub fn bfd_strict(&self) -> bool {
        self.bfd_strict.as_ref().is_some_and(|s| *s.get_ref())
    }
}

impl PrefixLimitConfig {
    /// The limits as the RIB applies them (families validated when the file was read).
    pub fn limit(&self) -> keel_rib::prefix_limit::Limit {
        use keel_rib::prefix_limit::{Action, Limit};
        Limit {
            max: self.max.iter().filter_map(|(f, m)| Some((f.parse().ok()?, *m.get_ref()))).collect(),
            warning_percent: self.warning_percent.as_ref().map_or(DEFAULT_WARNING_PERCENT, |p| *p.get_ref()),
            count: match self.count {
                PrefixLimitCount::Received => keel_rib::AdjRibInCount::Received,
                PrefixLimitCount::Accepted => keel_rib::AdjRibInCount::Accepted,
            },
            action: match self.action {
                PrefixLimitAction::Reset => Action::Reset,
                PrefixLimitAction::Warn => Action::Warn,
            },
        }
    }

    pub fn restart_after(&self) -> u32 {
        self.restart_after.unwrap_or(DEFAULT_RESTART_AFTER)
    }
}

fn default_hold_time() -> Spanned<u16> {
    Spanned::new(0..0, 90)
}
