//! keel's configuration: one TOML file. Unknown keys and bad values are errors naming the
//! file, line and field; an embedded default (loopback only, no neighbors) lets a bare
//! `keeld` start.
//!
//! keeld and `keel check` read it through this crate, so both see the same errors. Where
//! each part lives:
//!
//! | file | holds |
//! |---|---|
//! | `global.rs` | `[global]`, `[fib]` |
//! | `bfd.rs` | `[bfd]` |
//! | `graceful_restart.rs` | `[graceful_restart]`, `[long_lived_graceful_restart]` |
//! | `neighbor.rs` | `[[neighbor]]` and its prefix limit |
//! | `policy.rs` | `[[prefix_list]]`, `[[policy]]`, compiled into keel-rib's policy |
//! | `rpki.rs` | `[rpki]` |
//! | `bmp.rs` | `[bmp]`, its `[[bmp.station]]`s |
//! | `validate.rs` | the checks the types do not express |
//! | `error.rs` | the file, line and field of an error |
//! | `group.rs` | `api_group` in the system's group database |
//! | `fit.rs` | the embedded default fitted to the process: the ports and paths it may use |
//! | `policy_view.rs` | a policy as the API and `keel show policy` show it, and what it does to one route |
//!
//! docs/configuration.md lists every key, and a test holds it to the parser.

use keel_wire::{Community, Family, Prefix};
use serde::Deserialize;
use std::net::IpAddr;
use std::path::Path;
use toml::Spanned;

mod bfd;
mod bmp;
mod error;
pub mod fit;
mod global;
mod graceful_restart;
mod group;
mod neighbor;
pub mod policy;
pub mod policy_view;
mod rpki;
mod validate;

pub use bfd::{BfdAuth, BfdAuthentication, BfdConfig, DEFAULT_AUTH_KEY_ID};
pub use bmp::{BmpConfig, BmpStation, BmpView};
pub use error::ConfigError;
pub use global::{FibBackend, FibConfig, Global};
pub use graceful_restart::{GrMode, GracefulRestart, GracefulRestartOverride, LongLived};
pub use group::group_gid;
pub use neighbor::{
    AddPathMode, AddPathSend, Neighbor, PrefixLimitAction, PrefixLimitConfig, PrefixLimitCount, RoleConfig,
    DEFAULT_RESTART_AFTER, DEFAULT_WARNING_PERCENT,
};
pub use policy::{NeighborChain, Policies, PolicyConfig, PolicyNames, PrefixListConfig};
pub use rpki::{RpkiCache, RpkiConfig};

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
    #[serde(default)]
    pub bmp: BmpConfig,
    #[serde(default)]
    pub bfd: BfdConfig,
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

impl Config {
    /// Parses and validates `text`; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| {
            ConfigError::at(file, text, e.span().map_or(0, |s| s.start), e.message().trim().to_string())
        })?;
        cfg.validate(text, file)?;
        cfg.global.api_gid = cfg.global.api_group.as_ref().and_then(|g| group_gid(g.get_ref()).ok().flatten());
        cfg.graceful_restart = GracefulRestart::default().apply(&cfg.graceful_restart_raw);
        let err = |span: std::ops::Range<usize>, message: String| ConfigError::at(file, text, span.start, message);
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
