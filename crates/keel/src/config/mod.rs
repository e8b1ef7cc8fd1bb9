//! keel's configuration: one TOML file. Unknown keys and bad values are errors naming the
//! file, line and field; an embedded default (loopback only, no neighbors) lets a bare
//! `keeld` start.

use keel_wire::capability::graceful_restart::MAX_RESTART_TIME;
use keel_wire::capability::long_lived::MAX_STALE_TIME;
use keel_wire::{Community, Family, Prefix};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use toml::Spanned;

pub mod fit;
pub mod policy;
pub use fit::for_this_process;
pub use policy::{NeighborChain, Policies, PolicyConfig, PolicyNames, PrefixListConfig};

/// The embedded default configuration.
pub const DEFAULT: &str = include_str!("default.toml");
/// Name shown in errors about the embedded default.
pub const DEFAULT_NAME: &str = "<embedded default>";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub global: Global,
    /// `[graceful_restart]` as written; resolved into `graceful_restart`.
    #[serde(default, rename = "graceful_restart")]
    pub graceful_restart_raw: GracefulRestartOverride,
    #[serde(skip)]
    pub graceful_restart: GracefulRestart,
    #[serde(default)]
    pub long_lived_graceful_restart: LongLived,
    #[serde(default)]
    pub fib: FibConfig,
    #[serde(default, rename = "neighbor")]
    pub neighbors: Vec<Neighbor>,
    #[serde(default, rename = "network")]
    pub networks: Vec<Network>,
    #[serde(default, rename = "prefix_list")]
    pub prefix_lists: Vec<PrefixListConfig>,
    #[serde(default, rename = "policy")]
    pub policies: Vec<PolicyConfig>,
    /// `policies` and `prefix_lists`, compiled.
    #[serde(skip)]
    pub policy: Policies,
    #[serde(default)]
    pub rpki: RpkiConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Global {
    pub asn: Spanned<u32>,
    pub router_id: Spanned<Ipv4Addr>,
    #[serde(default = "default_listen")]
    pub listen: Vec<Spanned<SocketAddr>>,
    #[serde(default = "default_api")]
    pub api: PathBuf,
    /// The group of the API socket (mode 0660) whose members may change keeld through it
    /// (`keel stop`, `reload`, `restart`, `clear`); unset: keeld's own group (issue 16).
    #[serde(default)]
    pub api_group: Option<Spanned<String>>,
    /// `api_group`'s gid, looked up when the file is read.
    #[serde(skip)]
    pub api_gid: Option<u32>,
    #[serde(default)]
    pub metrics: Option<SocketAddr>,
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// RFC 4456 cluster id when keel reflects routes; default the router id.
    #[serde(default)]
    pub cluster_id: Option<Ipv4Addr>,
    /// RFC 4271 §9.1.2.2 c: compare MED between routes from different neighboring ASes.
    #[serde(default)]
    pub always_compare_med: bool,
    /// Equal-cost paths installed and kept per destination (1 = no ECMP).
    #[serde(default = "default_max_paths")]
    pub max_paths: u8,
    /// RFC 8326 §4.1: routes received with GRACEFUL_SHUTDOWN (65535:0) get LOCAL_PREF 0, after
    /// import policy. A reload that changes it re-evaluates every neighbor's routes.
    #[serde(default = "default_true")]
    pub honour_graceful_shutdown: bool,
}

fn default_max_paths() -> u8 {
    1
}

fn default_true() -> bool {
    true
}

fn default_listen() -> Vec<Spanned<SocketAddr>> {
    Vec::new()
}
fn default_api() -> PathBuf {
    PathBuf::from("/run/keel/keel.sock")
}
fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/keel")
}

/// `[fib]`: installing best paths into the Linux kernel.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FibConfig {
    #[serde(default)]
    pub enabled: bool,
    /// Kernel routing table (254 = main).
    #[serde(default = "default_table")]
    pub table: u32,
    /// Protocol id keel's routes carry (`ip route ... proto 186`).
    #[serde(default = "default_protocol")]
    pub protocol: u8,
    /// Where routes go: the Linux kernel, or an in-memory table journalled to
    /// `state_dir/fib.journal` that outlives keeld like the kernel's does (no root needed;
    /// `keel lab`).
    #[serde(default)]
    pub backend: FibBackend,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FibBackend {
    #[default]
    Kernel,
    Memory,
}

fn default_table() -> u32 {
    254
}
fn default_protocol() -> u8 {
    186
}

impl Default for FibConfig {
    fn default() -> Self {
        FibConfig { enabled: false, table: default_table(), protocol: default_protocol(), backend: FibBackend::Kernel }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrMode {
    Restart,
    Helper,
    Disabled,
}

/// `[graceful_restart]` (RFC 4724, RFC 8538). Every key optional; a neighbor may override.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GracefulRestartOverride {
    pub mode: Option<GrMode>,
    pub restart_time: Option<Spanned<u16>>,
    pub stale_routes_time: Option<u32>,
    pub selection_deferral_time: Option<u32>,
    /// Cap on a neighbor's advertised restart time (seconds).
    pub max_restart_time: Option<u16>,
    /// Graceful restarts allowed per `restart_window` seconds before the next is a hard reset.
    pub max_restarts: Option<u32>,
    pub restart_window: Option<u32>,
    pub notification: Option<bool>,
}

/// Resolved graceful-restart settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GracefulRestart {
    pub mode: GrMode,
    pub restart_time: u16,
    pub stale_routes_time: u32,
    pub selection_deferral_time: u32,
    pub max_restart_time: u16,
    pub max_restarts: u32,
    pub restart_window: u32,
    pub notification: bool,
}

impl Default for GracefulRestart {
    fn default() -> Self {
        GracefulRestart {
            mode: GrMode::Restart,
            restart_time: 120,
            stale_routes_time: 360,
            selection_deferral_time: 240,
            max_restart_time: 600,
            max_restarts: 5,
            restart_window: 600,
            notification: true,
        }
    }
}

impl GracefulRestart {
    fn apply(&self, o: &GracefulRestartOverride) -> GracefulRestart {
        GracefulRestart {
            mode: o.mode.unwrap_or(self.mode),
            restart_time: o.restart_time.as_ref().map_or(self.restart_time, |s| *s.get_ref()),
            stale_routes_time: o.stale_routes_time.unwrap_or(self.stale_routes_time),
            selection_deferral_time: o.selection_deferral_time.unwrap_or(self.selection_deferral_time),
            max_restart_time: o.max_restart_time.unwrap_or(self.max_restart_time),
            max_restarts: o.max_restarts.unwrap_or(self.max_restarts),
            restart_window: o.restart_window.unwrap_or(self.restart_window),
            notification: o.notification.unwrap_or(self.notification),
        }
    }
}

/// `[long_lived_graceful_restart]` (RFC 9494): off unless families are named (§5).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongLived {
    /// Unset in a neighbor's block: the global list.
    #[serde(default)]
    pub families: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub stale_time: Option<Spanned<u32>>,
    #[serde(default)]
    pub stale_times: BTreeMap<String, Spanned<u32>>,
    /// Local cap on a neighbor's advertised stale time when keel keeps its routes.
    #[serde(default)]
    pub max_stale_time: Option<u32>,
    /// RFC 9494 §4.6 partial deployment: send LLGR-stale routes to internal neighbors without
    /// LLGR, with NO_EXPORT and LOCAL_PREF 0 (off: they are withdrawn, §4.3).
    #[serde(default)]
    pub partial_deployment: Option<bool>,
}

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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub prefix: Spanned<String>,
    #[serde(default)]
    pub next_hop: Option<IpAddr>,
    #[serde(default)]
    pub communities: Vec<Spanned<String>>,
}

/// `[rpki]`: route origin validation (RFC 6811) with VRPs from RTR caches (RFC 8210).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpkiConfig {
    /// `[[rpki.cache]]`: the VRP set is the union of every cache's.
    #[serde(default)]
    pub cache: Vec<RpkiCache>,
}

/// One RTR cache. The intervals override what the cache sends (RFC 8210 §6).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpkiCache {
    pub address: Spanned<IpAddr>,
    /// RFC 8210 §9: the IANA "rtr" port.
    #[serde(default = "default_rtr_port")]
    pub port: Spanned<u16>,
    /// Seconds between Serial Queries.
    #[serde(default)]
    pub refresh: Option<Spanned<u32>>,
    /// Longest wait, in seconds, between attempts to reach the cache.
    #[serde(default)]
    pub retry: Option<Spanned<u32>>,
    /// Seconds the cache's VRPs stay in use after the last successful update.
    #[serde(default)]
    pub expire: Option<Spanned<u32>>,
}

fn default_rtr_port() -> Spanned<u16> {
    Spanned::new(0..0, 323)
}

/// A configuration error: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}: {}", self.file, self.line, self.field, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Line (1-based) of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

/// The dotted field path at `offset`: the enclosing `[table]` header plus the key there.
fn field_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let mut line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    // A value spread over several lines (a multi-line array): the key is where it starts.
    while line_start > 0 && is_continuation(text[line_start..].lines().next().unwrap_or("")) {
        line_start = text[..line_start - 1].rfind('\n').map_or(0, |i| i + 1);
    }
    let line = text[line_start..].lines().next().unwrap_or("");
    let key = line.split('=').next().unwrap_or("").trim();
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let key_is_header = key.starts_with('[');
    match (table, key_is_header || key.is_empty()) {
        (_, true) => key.trim_matches(|c| c == '[' || c == ']').to_string(),
        (Some(t), false) => format!("{t}.{key}"),
        (None, false) => key.to_string(),
    }
}

/// True for a line inside a multi-line value: neither a `[table]` header nor `key = ...`.
fn is_continuation(line: &str) -> bool {
    let l = line.trim();
    let is_key = |k: &str| {
        let k = k.trim();
        let quoted =
            k.len() >= 2 && (k.starts_with('"') && k.ends_with('"') || k.starts_with('\'') && k.ends_with('\''));
        !k.is_empty() && (quoted || k.chars().all(|c| c.is_ascii_alphanumeric() || "_-. ".contains(c)))
    };
    !l.is_empty() && !l.starts_with('[') && !l.starts_with('#') && !l.split_once('=').is_some_and(|(k, _)| is_key(k))
}

impl Config {
    /// The `[[network]]`s as the RIB task takes them (validated when the file was read).
    pub fn networks(&self) -> Vec<crate::events::Network> {
        self.networks
            .iter()
            .filter_map(|n| {
                Some(crate::events::Network {
                    prefix: n.prefix.get_ref().parse().ok()?,
                    next_hop: n.next_hop,
                    communities: n.communities.iter().filter_map(|c| c.get_ref().parse().ok()).collect(),
                })
            })
            .collect()
    }

    /// Parses and validates `text`; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            ConfigError {
                file: file.to_string(),
                line: line_of(text, offset),
                field: field_at(text, offset),
                message: e.message().trim().to_string(),
            }
        })?;
        cfg.validate(text, file)?;
        cfg.global.api_gid =
            cfg.global.api_group.as_ref().and_then(|g| crate::access::group_gid(g.get_ref()).ok().flatten());
        cfg.graceful_restart = GracefulRestart::default().apply(&cfg.graceful_restart_raw);
        let err = |span: std::ops::Range<usize>, message: String| ConfigError {
            file: file.to_string(),
            line: line_of(text, span.start),
            field: field_at(text, span.start),
            message,
        };
        cfg.policy = policy::compile(&cfg.prefix_lists, &cfg.policies, &err)?;
        for n in &cfg.neighbors {
            for names in n.import.iter().chain(n.export.iter()) {
                cfg.policy.check_names(names, &err)?;
            }
        }
        Ok(cfg)
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: name.clone(),
            line: 0,
            field: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        Config::parse(&text, &name)
    }

    pub fn embedded_default() -> Result<Config, ConfigError> {
        Config::parse(DEFAULT, DEFAULT_NAME)
    }

    /// Semantic checks the types do not express.
    fn validate(&self, text: &str, file: &str) -> Result<(), ConfigError> {
        let err = |span: std::ops::Range<usize>, message: String| ConfigError {
            file: file.to_string(),
            line: line_of(text, span.start),
            field: field_at(text, span.start),
            message,
        };
        let g = &self.global;
        if *g.asn.get_ref() == 0 {
            return Err(err(g.asn.span(), "AS 0 is reserved (RFC 7607)".into()));
        }
        if g.router_id.get_ref().is_unspecified() {
            return Err(err(g.router_id.span(), "router_id 0.0.0.0 is not a valid BGP identifier".into()));
        }
        if let Some(group) = &g.api_group {
            match crate::access::group_gid(group.get_ref()) {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Err(err(
                        group.span(),
                        format!("no group {:?} on this system (see getent group)", group.get_ref()),
                    ))
                }
                Err(e) => return Err(err(group.span(), e)),
            }
        }
        let check_gr = |o: &GracefulRestartOverride| match &o.restart_time {
            Some(t) if *t.get_ref() > MAX_RESTART_TIME => Err(err(
                t.span(),
                format!("restart_time {} exceeds {MAX_RESTART_TIME} (12-bit field, RFC 4724 §3)", t.get_ref()),
            )),
            _ => Ok(()),
        };
        check_gr(&self.graceful_restart_raw)?;
        let check_llgr = |l: &LongLived| -> Result<(), ConfigError> {
            for f in l.families.iter().flatten() {
                f.get_ref().parse::<Family>().map_err(|e| err(f.span(), e))?;
            }
            for (name, t) in &l.stale_times {
                name.parse::<Family>().map_err(|e| err(t.span(), e))?;
                if *t.get_ref() > MAX_STALE_TIME {
                    return Err(err(t.span(), format!("stale time exceeds {MAX_STALE_TIME} (24-bit field)")));
                }
            }
            if let Some(t) = &l.stale_time {
                if *t.get_ref() > MAX_STALE_TIME {
                    return Err(err(
                        t.span(),
                        format!("stale_time exceeds {MAX_STALE_TIME} (24-bit field, RFC 9494 §3)"),
                    ));
                }
            }
            Ok(())
        };
        check_llgr(&self.long_lived_graceful_restart)?;
        let mut seen = std::collections::HashSet::new();
        for n in &self.neighbors {
            if !seen.insert(*n.address.get_ref()) {
                return Err(err(n.address.span(), format!("neighbor {} is configured twice", n.address.get_ref())));
            }
            if *n.asn.get_ref() == 0 {
                return Err(err(n.asn.span(), "AS 0 is reserved (RFC 7607)".into()));
            }
            let h = *n.hold_time.get_ref();
            if h == 1 || h == 2 {
                return Err(err(
                    n.hold_time.span(),
                    "hold_time must be 0 or at least 3 seconds (RFC 4271 §4.2)".into(),
                ));
            }
            if let Some(t) = n.open_hold_time.as_ref().filter(|t| *t.get_ref() == 0) {
                return Err(err(t.span(), "open_hold_time must be at least 1 second (RFC 4271 §8.2.2)".into()));
            }
            // RFC 9687 §4.4: a non-zero SendHoldTime MUST be greater than the HoldTime (zero
            // stops the timer, §4.3). Against the configured hold time: the negotiated one is
            // never larger.
            if let Some(t) = n.send_hold_time.as_ref().filter(|t| *t.get_ref() != 0 && *t.get_ref() <= u32::from(h)) {
                return Err(err(
                    t.span(),
                    format!(
                        "send_hold_time {} must be greater than hold_time {h} (RFC 9687 §4.4), or 0 to turn \
                         the send hold timer off",
                        t.get_ref()
                    ),
                ));
            }
            for f in n.families.iter().flatten() {
                f.get_ref().parse::<Family>().map_err(|e| err(f.span(), e))?;
            }
            if let Some(e) = n.enforce_first_as.as_ref().filter(|e| *e.get_ref()) {
                if n.asn.get_ref() == g.asn.get_ref() {
                    return Err(err(
                        e.span(),
                        "enforce_first_as applies to external neighbors only: an internal neighbor's AS_PATH \
                         starts with whichever AS the route came from (RFC 4271 §6.3)"
                            .into(),
                    ));
                }
            }
            if let Some(s) = &n.add_path_send {
                if s.get_ref().paths().is_none() {
                    return Err(err(s.span(), "add_path_send must be a count from 2 to 16, or \"all\"".into()));
                }
                if !matches!(n.add_path, AddPathMode::Send | AddPathMode::Both) {
                    return Err(err(
                        s.span(),
                        "add_path_send needs add_path = \"send\" or \"both\": paths go out several per \
                         prefix only where Add-Path send is negotiated (RFC 7911 §4)"
                            .into(),
                    ));
                }
            }
            // RFC 9234 §4: roles belong to eBGP sessions ("Allowed Role values for eBGP
            // sessions"; §4.1: "the eBGP speaker MUST advertise the BGP Role Capability").
            if let Some(r) = &n.role {
                if n.asn.get_ref() == g.asn.get_ref() {
                    return Err(err(
                        r.span(),
                        "role applies to external neighbors only: BGP Roles are configured on eBGP \
                         sessions (RFC 9234 §4), and OTC passes unchanged inside the AS (§5)"
                            .into(),
                    ));
                }
            }
            if let Some(s) = n.strict_role.as_ref().filter(|s| *s.get_ref() && n.role.is_none()) {
                return Err(err(
                    s.span(),
                    "strict_role needs role: keel checks the neighbor's Role capability only against its \
                     own (RFC 9234 §4.2)"
                        .into(),
                ));
            }
            if let Some(g) = &n.graceful_restart {
                check_gr(g)?;
            }
            if let Some(l) = &n.long_lived_graceful_restart {
                check_llgr(l)?;
            }
            if let Some(p) = &n.prefix_limit {
                if p.max.is_empty() {
                    return Err(err(
                        n.address.span(),
                        "prefix_limit.max names no family: give at least one, as max = { ipv4-unicast = 1100000 }"
                            .into(),
                    ));
                }
                for (name, m) in &p.max {
                    name.parse::<Family>().map_err(|e| err(m.span(), e))?;
                    if *m.get_ref() == 0 {
                        return Err(err(m.span(), format!("prefix_limit.max for {name} must be above 0")));
                    }
                }
                if let Some(w) = p.warning_percent.as_ref().filter(|w| !(1..=100).contains(w.get_ref())) {
                    return Err(err(w.span(), format!("warning_percent {} outside 1-100", w.get_ref())));
                }
            }
        }
        let mut caches = std::collections::HashSet::new();
        for c in &self.rpki.cache {
            let (address, port) = (*c.address.get_ref(), *c.port.get_ref());
            if !caches.insert((address, port)) {
                return Err(err(c.address.span(), format!("RTR cache {address} port {port} is configured twice")));
            }
            if port == 0 {
                return Err(err(c.port.span(), "port 0 is not a TCP port".into()));
            }
            // RFC 8210 §6: the allowed ranges of the timing parameters.
            for (value, name, min, max) in
                [(&c.refresh, "refresh", 1, 86400), (&c.retry, "retry", 1, 7200), (&c.expire, "expire", 600, 172800)]
            {
                if let Some(v) = value.as_ref().filter(|v| !(min..=max).contains(v.get_ref())) {
                    return Err(err(
                        v.span(),
                        format!("{name} {} outside {min}-{max} seconds (RFC 8210 §6)", v.get_ref()),
                    ));
                }
            }
        }
        for net in &self.networks {
            net.prefix.get_ref().parse::<Prefix>().map_err(|e| err(net.prefix.span(), e))?;
            for c in &net.communities {
                c.get_ref().parse::<Community>().map_err(|e| err(c.span(), e))?;
            }
        }
        Ok(())
    }

    /// A neighbor's import and export chains; unset, "all" for iBGP and "none" for eBGP
    /// (RFC 8212).
    pub fn neighbor_policy(&self, n: &Neighbor) -> (NeighborChain, NeighborChain) {
        let default = if self.is_external(n) { "none" } else { "all" };
        let names =
            |v: &Option<Spanned<PolicyNames>>| v.as_ref().map_or(vec![default.to_string()], |s| s.get_ref().to_vec());
        (self.policy.chain(&names(&n.import)), self.policy.chain(&names(&n.export)))
    }

    /// Whether `n` is an external (eBGP) neighbor: another AS than keel's.
    pub fn is_external(&self, n: &Neighbor) -> bool {
        n.asn.get_ref() != self.global.asn.get_ref()
    }

    /// The directions (`"import"`, `"export"`) in which RFC 8212 makes keel exchange nothing
    /// with `n`: an external neighbor whose policy for it is not set.
    pub fn unset_under_rfc_8212(&self, n: &Neighbor) -> Vec<&'static str> {
        if !self.is_external(n) {
            return Vec::new();
        }
        [("import", &n.import), ("export", &n.export)]
            .into_iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k)
            .collect()
    }

    /// What the neighbor's import and export are, in words for the API and the log: the
    /// configured policy names, else the default and why (`"none (RFC 8212)"` for eBGP,
    /// `"all (iBGP default)"`).
    pub fn policy_facts(&self, n: &Neighbor) -> (String, String) {
        let ebgp = self.is_external(n);
        let fact = |v: &Option<Spanned<PolicyNames>>| match v {
            Some(names) => names.get_ref().to_vec().join(", "),
            None if ebgp => "none (RFC 8212)".to_string(),
            None => "all (iBGP default)".to_string(),
        };
        (fact(&n.import), fact(&n.export))
    }

    /// Whether keel checks that this neighbor's AS_PATHs start with its AS (RFC 4271 §6.3):
    /// as configured for eBGP, on when unset; never for iBGP.
    pub fn enforce_first_as(&self, n: &Neighbor) -> bool {
        self.is_external(n) && n.enforce_first_as.as_ref().is_none_or(|e| *e.get_ref())
    }

    /// Graceful-restart settings for one neighbor: global values with its overrides.
    pub fn graceful_restart_for(&self, n: &Neighbor) -> GracefulRestart {
        match &n.graceful_restart {
            Some(o) => self.graceful_restart.apply(o),
            None => self.graceful_restart.clone(),
        }
    }

    /// One line for `keeld --check-config`.
    pub fn summary(&self) -> String {
        let llgr = self.long_lived_graceful_restart.families.as_deref().unwrap_or_default();
        format!(
            "AS {} router-id {}, {} neighbor(s), {} network(s), graceful restart {:?} (restart time {}s), LLGR {}",
            self.global.asn.get_ref(),
            self.global.router_id.get_ref(),
            self.neighbors.len(),
            self.networks.len(),
            self.graceful_restart.mode,
            self.graceful_restart.restart_time,
            if llgr.is_empty() {
                "off".to_string()
            } else {
                llgr.iter().map(|f| f.get_ref().as_str()).collect::<Vec<_>>().join(",")
            }
        )
        .to_lowercase()
    }
}

#[cfg(test)]
mod tests;
