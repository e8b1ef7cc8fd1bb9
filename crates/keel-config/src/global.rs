//! `[global]` and `[fib]`.

use serde::Deserialize;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use toml::Spanned;
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
