//! `[graceful_restart]` (RFC 4724, RFC 8538) and `[long_lived_graceful_restart]` (RFC 9494),
//! globally and per neighbor.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;
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
    pub(crate) fn apply(&self, o: &GracefulRestartOverride) -> GracefulRestart {
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
