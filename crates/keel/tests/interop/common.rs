//! Shared machinery of the interop tests on top of `keel_lab`'s harness: a temporary
//! directory per test, keeld with its JSON API, the configuration pieces every test gives
//! keel, and checks of what keel says about a neighbor. The daemons are in [`super::daemons`].

pub use super::raw_peer::*;
pub use crate::common::keeld_bin;
pub use keel_lab::keeld::Keeld;
pub use keel_lab::process::{run, Process, TempDir};
pub use keel_lab::wait::{holds_for, wait_for};
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a test waits for something that normally takes a few seconds.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A fresh directory `$TMPDIR/keel-interop-PID/NAME`, kept when the test fails (its path is
/// printed so the logs can be read). The first one of a run frees port 179 of packaged
/// services ([`crate::common::preflight`]).
pub fn temp_dir(name: &str) -> TempDir {
    crate::common::preflight();
    TempDir::new(&format!("keel-interop-{}/{name}", std::process::id())).unwrap_or_else(|e| panic!("{e:#}"))
}

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

pub fn read(path: &Path) -> String {
    std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// keeld and its API

/// The last octet of a 127.0.0.x address, as text: the tests derive router ids (192.0.2.x),
/// ASNs (65000 + x) and documentation prefixes from it.
pub fn last_octet(address: &str) -> &str {
    address.rsplit('.').next().unwrap()
}

/// The ASN the tests give the speaker at `address`: 65000 + its last octet.
pub fn asn_of(address: &str) -> u32 {
    65000 + last_octet(address).parse::<u32>().unwrap()
}

/// The `[global]` section of a keeld configuration living in `dir`.
pub fn keel_global(dir: &Path, asn: u32, address: &str) -> String {
    format!(
        "[global]\nasn = {asn}\nrouter_id = \"192.0.2.{last}\"\nlisten = [\"{address}:179\"]\napi = \"{api}\"\n\
         state_dir = \"{state}\"\n",
        last = last_octet(address),
        api = dir.join("keel.sock").display(),
        state = dir.join("state").display(),
    )
}

/// A `[[neighbor]]` section importing and exporting everything. More keys may follow it.
pub fn keel_neighbor(address: &str, asn: u32, local: &str, hold_time: u16) -> String {
    keel_neighbor_policy(address, asn, local, hold_time, "all", "all")
}

/// A `[[neighbor]]` section with the `import` and `export` policies given. They are always
/// explicit: without them keel applies RFC 8212 to eBGP neighbors (nothing in, nothing out).
/// More keys may follow it.
pub fn keel_neighbor_policy(
    address: &str,
    asn: u32,
    local: &str,
    hold_time: u16,
    import: &str,
    export: &str,
) -> String {
    format!(
        "[[neighbor]]\naddress = \"{address}\"\nasn = {asn}\nlocal_address = \"{local}\"\nhold_time = {hold_time}\n\
         connect_retry_time = 1\nimport = \"{import}\"\nexport = \"{export}\"\n"
    )
}

/// keeld as the interop tests drive it: the harness's handle ([`Keeld`]) and the address it
/// listens on, with API accessors that fail the test.
pub struct Keel {
    pub keeld: Keeld,
    pub api: PathBuf,
    pub config: PathBuf,
    pub address: IpAddr,
}

impl Keel {
    /// Writes `config` to `dir/keel.toml`, starts keeld on it (`KEEL_LOG=debug`, its log in
    /// `dir/keeld.log`) and waits for the API.
    pub fn start(dir: &Path, address: &str, config: &str) -> Keel {
        let mut keeld = Keeld::new(keeld_bin(), dir).expect("keeld's directory").env("KEEL_LOG", "debug");
        keeld.write_config(config).expect("keeld's configuration");
        keeld.start().expect("start keeld");
        keeld.wait_api(DEADLINE).unwrap_or_else(|e| panic!("{e:#}"));
        Keel { api: keeld.api(), config: keeld.config_path(), address: address.parse().unwrap(), keeld }
    }

    pub fn listen(&self) -> SocketAddr {
        SocketAddr::new(self.address, 179)
    }

    /// The JSON answer of one API request, or the API's error.
    pub fn request(&self, method: &str, path: &str) -> anyhow::Result<Value> {
        self.keeld.request(method, path)
    }

    pub fn get(&self, path: &str) -> Value {
        self.keeld.get(path).unwrap_or_else(|e| panic!("GET {path}: {e:#}"))
    }

    pub fn neighbor(&self, address: &str) -> Value {
        self.get(&format!("/v1/neighbors/{address}"))
    }

    pub fn routes(&self, query: &str) -> Vec<Value> {
        self.keeld.routes(query).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Waits until the neighbor is Established in keel's API and returns its JSON.
    pub fn wait_established(&self, address: &str) -> Value {
        wait_for(&format!("keel's session with {address} to be established"), DEADLINE, || {
            self.keeld.assert_running();
            let n = self.keeld.neighbor(address).map_err(|e| format!("{e:#}"))?;
            if n["state"] == "established" {
                Ok(n)
            } else {
                Err(format!("state {} last_error {}", n["state"], n["last_error"]))
            }
        })
    }

    /// Waits until keel holds a route for `prefix` learned from `neighbor` and returns it.
    pub fn wait_route(&self, neighbor: &str, prefix: &str) -> Value {
        wait_for(&format!("{prefix} from {neighbor} in keel's routes"), DEADLINE, || {
            let v = self.routes(&format!("neighbor={neighbor}&prefix={prefix}"));
            v.into_iter()
                .next()
                .ok_or_else(|| format!("routes from {neighbor}: {:?}", self.routes(&format!("neighbor={neighbor}"))))
        })
    }

    /// Waits until keel has End-of-RIB from `address` for both families; the neighbor's JSON.
    pub fn wait_end_of_rib(&self, address: &str, who: &str) -> Value {
        wait_for(&format!("keel to see {who}'s End-of-RIB"), DEADLINE, || {
            let n = self.neighbor(address);
            if families(&n["graceful_restart"]["end_of_rib_received"]).len() == 2 {
                Ok(n)
            } else {
                Err(n.to_string())
            }
        })
    }

    pub fn sighup(&self) {
        self.keeld.signal(libc::SIGHUP);
    }

    /// What keeld logged so far.
    pub fn log(&self) -> String {
        self.keeld.log()
    }
}

/// Names of the JSON array of capability names at `v`.
pub fn names(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|x| x.as_str().map(String::from)).collect()
}

/// `[{"afi":"ipv4","safi":"unicast"}, ...]` as `["ipv4-unicast", ...]`.
pub fn families(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|f| format!("{}-{}", f["afi"].as_str().unwrap_or("?"), f["safi"].as_str().unwrap_or("?")))
        .collect()
}

/// Checks keel's view of the neighbor's graceful-restart capability.
pub fn assert_remote_gr(n: &Value, restart_time: u64, notification: bool, forwarding: bool) {
    let gr = &n["graceful_restart"]["remote"];
    assert_eq!(gr["restart_time"], restart_time, "peer's GR restart time in keel: {gr}");
    assert_eq!(gr["notification"], notification, "peer's GR N bit in keel: {gr}");
    assert_eq!(families(&gr["families"]), ["ipv4-unicast", "ipv6-unicast"], "peer's GR families in keel: {gr}");
    for f in gr["families"].as_array().unwrap() {
        assert_eq!(f["forwarding_state"], forwarding, "peer's GR F bit in keel: {gr}");
    }
    assert_eq!(n["graceful_restart"]["notification_bit"], notification, "negotiated N bit: {}", n["graceful_restart"]);
}

/// Checks that keel recorded each of `capabilities` in the neighbor's OPEN (`who` names the
/// neighbor in the messages).
pub fn assert_remote_capabilities(n: &Value, capabilities: &[&str], who: &str) {
    let remote = names(&n["capabilities"]["remote"]);
    for c in capabilities {
        assert!(remote.iter().any(|r| r == c), "keel did not record {c} from {who}: {remote:?}");
    }
}

/// Checks keel's view of the neighbor's LLGR capability: both unicast families, each with
/// `stale_time`.
pub fn assert_remote_llgr(n: &Value, stale_time: u64, who: &str) {
    let llgr = &n["llgr"]["remote"];
    assert_eq!(families(llgr), ["ipv4-unicast", "ipv6-unicast"], "{who}'s LLGR in keel: {llgr}");
    assert!(llgr.as_array().unwrap().iter().all(|f| f["stale_time"] == stale_time), "{who}'s LLGR in keel: {llgr}");
}

/// Checks keel received and sent End-of-RIB for both families.
pub fn assert_keel_end_of_rib(n: &Value) {
    let gr = &n["graceful_restart"];
    assert_eq!(families(&gr["end_of_rib_received"]), ["ipv4-unicast", "ipv6-unicast"], "EoR received by keel: {gr}");
    assert_eq!(families(&gr["end_of_rib_sent"]), ["ipv4-unicast", "ipv6-unicast"], "EoR sent by keel: {gr}");
    // An UPDATE per family for keel's networks, then the End-of-RIB markers.
    let (updates, messages) = (n["updates_sent"].as_u64().unwrap_or(0), n["messages_sent"].as_u64().unwrap_or(0));
    assert!(updates >= 4 && messages > updates, "keel's UPDATEs sent {updates} of {messages} messages: {n}");
}

/// The `[[network]]` sections every daemon test gives keel: an IPv4 and an IPv6 prefix with
/// communities. Next hops are documentation addresses (FRR refuses 127/8 as martian, BIRD
/// refuses IPv4-mapped IPv6 next hops).
pub fn keel_networks(last: u8) -> String {
    format!(
        "[[network]]\nprefix = \"198.51.100.0/24\"\nnext_hop = \"192.0.2.{last}\"\ncommunities = [\"65001:{last}\"]\n\
         [[network]]\nprefix = \"2001:db8:{last}::/48\"\nnext_hop = \"2001:db8::{last}\"\ncommunities = [\"65001:6{last}\"]\n"
    )
}

/// keel's graceful-restart and LLGR settings in the daemon tests (odd values, to see they are
/// the configured ones on the other side).
pub const KEEL_GR: &str = "[graceful_restart]\nrestart_time = 97\n\
                           [long_lived_graceful_restart]\nfamilies = [\"ipv4-unicast\"]\nstale_time = 1801\n";

/// keeld of a daemon test (bird, frr, gobgp, exabgp) in `dir/keel`: `peer` its one neighbor
/// (hold time 9), [`KEEL_GR`], and [`keel_networks`] numbered after keel's last octet.
pub fn start_keel_for_daemon(dir: &TempDir, keel: &str, keel_asn: u32, peer: &str, peer_asn: u32) -> Keel {
    let kdir = dir.sub("keel");
    let config = format!(
        "{}{KEEL_GR}{}{}",
        keel_global(&kdir, keel_asn, keel),
        keel_neighbor(peer, peer_asn, keel, 9),
        keel_networks(last_octet(keel).parse().unwrap()),
    );
    Keel::start(&kdir, keel, &config)
}

/// Checks the routes a daemon test's peer announces, as keel holds them: 203.0.113.0/24 and
/// 2001:db8:LAST::/48 from `peer`, AS path [`asn`], community ASN:7, and the documentation
/// next hops 192.0.2.LAST and 2001:db8::LAST.
pub fn assert_peer_routes(keel: &Keel, peer: &str, asn: u32) {
    let last = last_octet(peer);
    for (prefix, next_hop) in [
        ("203.0.113.0/24".to_string(), format!("192.0.2.{last}")),
        (format!("2001:db8:{last}::/48"), format!("2001:db8::{last}")),
    ] {
        let r = keel.wait_route(peer, &prefix);
        assert_eq!(r["as_path"], serde_json::json!([asn]), "{r}");
        assert_eq!(r["communities"], serde_json::json!([format!("{asn}:7")]), "{r}");
        assert_eq!(r["next_hop"], next_hop, "{r}");
    }
}
