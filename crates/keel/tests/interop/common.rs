//! Shared machinery of the interop tests: temporary directories, processes killed by pid on
//! drop, keeld with its JSON API (a tiny HTTP/1.1 client over the Unix socket), a raw BGP
//! peer on a TCP socket, and polling with a deadline.

use keel_wire::capability::{GracefulRestart, GracefulRestartFamily};
use keel_wire::{Capability, CodecOptions, Family, Message, Notification, Open};
use serde_json::Value;
use std::cell::RefCell;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a test waits for something that normally takes a few seconds.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The keeld binary built by cargo for this test run.
pub fn keeld_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keeld"))
}

/// Finds a daemon binary or fails the test (never skips): the interop tests exist to run
/// against the real daemons.
pub fn require(binary: &str) -> PathBuf {
    // FRR's bgpd lives in /usr/lib/frr; /usr/sbin/bgpd is OpenBGPD's when openbgpd is installed.
    let frr = PathBuf::from("/usr/lib/frr").join(binary);
    if binary == "bgpd" && frr.is_file() {
        return frr;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(
        ["/usr/sbin", "/sbin", "/usr/bin", "/usr/lib/frr", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from),
    );
    for d in dirs {
        let p = d.join(binary);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "{binary} is not installed; the interop tests need it (Debian: apt-get install -y --no-install-recommends \
         bird2 frr gobgpd exabgp, see scripts/test-packages.txt)"
    );
}

// ---------------------------------------------------------------------------------------------
// Temporary directories

/// A fresh directory under the system temp dir, removed on drop unless the test failed (then
/// its path is printed so the logs can be read).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        preflight();
        let base = std::env::temp_dir().join(format!("keel-interop-{}", std::process::id()));
        let path = base.join(name);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        // Daemons that drop privileges (FRR runs as user frr) must reach their directory
        // whatever the umask.
        for d in [&base, &path] {
            let _ = std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755));
        }
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A subdirectory, created.
    pub fn sub(&self, name: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("cannot create {}: {e}", p.display()));
        let _ = std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755));
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("interop: test failed, files kept in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
            // The per-run parent goes with the last test (fails while others still use it).
            if let Some(parent) = self.path.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
    }
}

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

pub fn read(path: &Path) -> String {
    std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Processes

/// A child process, ended by its pid when dropped (SIGTERM, then SIGKILL after a second),
/// also when the test fails. On failure the tails of its logs go to stderr.
pub struct Proc {
    pub name: String,
    child: RefCell<Child>,
    logs: Vec<PathBuf>,
}

impl Proc {
    /// Starts `cmd` in `dir` with stdout and stderr in `dir/NAME.out`.
    pub fn spawn(name: &str, dir: &Path, mut cmd: Command, extra_logs: &[PathBuf]) -> Proc {
        let out = dir.join(format!("{name}.out"));
        let f = File::create(&out).unwrap_or_else(|e| panic!("cannot create {}: {e}", out.display()));
        let f2 = f.try_clone().expect("dup log file");
        cmd.current_dir(dir).stdin(Stdio::null()).stdout(f).stderr(f2);
        // Should the test binary itself die (killed by a harness timeout), the daemon goes
        // with it instead of holding its 127.0.0.x:179 for the next run.
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        let mut logs = vec![out];
        logs.extend_from_slice(extra_logs);
        Proc { name: name.to_string(), child: RefCell::new(child), logs }
    }

    pub fn pid(&self) -> i32 {
        self.child.borrow().id() as i32
    }

    /// Panics when the process has exited (it should be running).
    pub fn assert_running(&self) {
        let exited = self.child.borrow_mut().try_wait();
        if let Ok(Some(status)) = exited {
            panic!("{} exited with {status}:\n{}", self.name, self.log_tail());
        }
    }

    /// Whether the process has exited (reaped here if so).
    pub fn exited(&self) -> bool {
        matches!(self.child.borrow_mut().try_wait(), Ok(Some(_)))
    }

    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    pub fn log_tail(&self) -> String {
        let mut s = String::new();
        for l in &self.logs {
            let text = read(l);
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(40);
            s += &format!("--- {} (last {} lines)\n", l.display(), lines.len() - from);
            for line in &lines[from..] {
                s += line;
                s += "\n";
            }
        }
        s
    }

    /// Ends the process and waits for it.
    pub fn stop(&self) {
        let pid = self.pid();
        let mut child = self.child.borrow_mut();
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        // SAFETY: kill(2) of our own child, which has not been reaped yet.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("interop: {} (pid {}) logs:\n{}", self.name, self.pid(), self.log_tail());
        }
        self.stop();
    }
}

/// Runs a command to completion: (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------------------------------------
// Port 179 on the wildcard address

static PREFLIGHT: Once = Once::new();

/// Daemons that Debian starts as services and that would hold `*:179`.
const SERVICE_DAEMONS: [&str; 6] = ["bird", "bgpd", "gobgpd", "watchfrr", "zebra", "exabgp"];

/// A listener on 0.0.0.0:179 or [::]:179 makes every bind to 127.0.0.x:179 fail. Packaged
/// services (bird, frr, gobgpd) may run one after installation: stop them once per test run.
/// Our own daemons bind only their own 127.0.0.x address.
fn preflight() {
    PREFLIGHT.call_once(|| {
        if wildcard_179_owners().is_empty() {
            return;
        }
        if Path::new("/run/systemd/system").exists() {
            for unit in ["bird", "frr", "gobgpd", "exabgp"] {
                let _ = Command::new("systemctl").args(["stop", unit]).stdin(Stdio::null()).output();
            }
        }
        for (pid, comm) in wildcard_179_owners() {
            if SERVICE_DAEMONS.iter().any(|d| comm.starts_with(d)) {
                eprintln!("interop: stopping {comm} (pid {pid}), it listens on *:179");
                // SAFETY: plain kill(2) of a pid we identified as a BGP service daemon.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
        }
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until && !can_bind_179() {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            can_bind_179(),
            "processes listen on *:179 and block 127.0.0.x:179 for the tests: {:?}",
            wildcard_179_owners()
        );
    });
}

/// Whether a listener on 127.0.0.199:179 (an address no test uses) is possible: a
/// dual-stack or IPv4 wildcard listener on port 179 prevents it.
fn can_bind_179() -> bool {
    let Ok(s) = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None) else { return false };
    let _ = s.set_reuse_address(true);
    let addr: SocketAddr = "127.0.0.199:179".parse().unwrap();
    s.bind(&addr.into()).and_then(|_| s.listen(1)).is_ok()
}

/// (pid, command name) of every process listening on TCP port 179 of a wildcard address.
fn wildcard_179_owners() -> Vec<(i32, String)> {
    let mut inodes = Vec::new();
    for (file, wildcard) in
        [("/proc/net/tcp", "00000000:00B3"), ("/proc/net/tcp6", "00000000000000000000000000000000:00B3")]
    {
        for line in read(Path::new(file)).lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st ... inode(9)
            if f.len() > 9 && f[1] == wildcard && f[3] == "0A" {
                inodes.push(format!("socket:[{}]", f[9]));
            }
        }
    }
    if inodes.is_empty() {
        return Vec::new();
    }
    let mut owners = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let fds = std::fs::read_dir(entry.path().join("fd"));
        let holds =
            fds.into_iter().flatten().flatten().any(|fd| {
                std::fs::read_link(fd.path()).is_ok_and(|l| inodes.iter().any(|i| l.to_string_lossy() == *i))
            });
        if holds {
            owners.push((pid, read(&entry.path().join("comm")).trim().to_string()));
        }
    }
    if owners.is_empty() {
        owners.push((0, "unknown process".into()));
    }
    owners
}

// ---------------------------------------------------------------------------------------------
// Polling

/// Calls `f` every 200 ms until it returns `Ok`, or fails the test after `timeout` with the
/// last error `f` gave.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if start.elapsed() >= timeout => {
                panic!("timed out after {:.1}s waiting for {what}: {e}", start.elapsed().as_secs_f64())
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Asserts that `f` keeps returning `Ok` for `period` (polled every 250 ms).
pub fn holds_for(what: &str, period: Duration, mut f: impl FnMut() -> Result<(), String>) {
    let start = Instant::now();
    while start.elapsed() < period {
        if let Err(e) = f() {
            panic!("{what} stopped holding after {:.1}s: {e}", start.elapsed().as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
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

pub struct Keel {
    pub proc: Proc,
    pub api: PathBuf,
    pub config: PathBuf,
    pub address: IpAddr,
}

impl Keel {
    /// Writes `config` to `dir/keel.toml`, starts `keeld -c` on it and waits for the API.
    pub fn start(dir: &Path, address: &str, config: &str) -> Keel {
        let path = dir.join("keel.toml");
        write(&path, config);
        let mut cmd = Command::new(keeld_binary());
        cmd.arg("-c").arg(&path).env("KEEL_LOG", "debug");
        let proc = Proc::spawn("keeld", dir, cmd, &[]);
        let k = Keel { proc, api: dir.join("keel.sock"), config: path, address: address.parse().unwrap() };
        wait_for("keeld's API", DEADLINE, || {
            k.proc.assert_running();
            match http(&k.api, "GET", "/v1/status") {
                Ok((200, _)) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        });
        k
    }

    pub fn listen(&self) -> SocketAddr {
        SocketAddr::new(self.address, 179)
    }

    /// (status, JSON body) of one API request.
    pub fn request(&self, method: &str, path: &str) -> (u16, Value) {
        let (status, body) = http(&self.api, method, path).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{method} {path}: bad JSON ({e}): {body}"));
        (status, v)
    }

    pub fn get(&self, path: &str) -> Value {
        match self.request("GET", path) {
            (200, v) => v,
            (s, v) => panic!("GET {path}: HTTP {s}: {v}"),
        }
    }

    pub fn neighbor(&self, address: &str) -> Value {
        self.get(&format!("/v1/neighbors/{address}"))
    }

    pub fn routes(&self, query: &str) -> Vec<Value> {
        match self.get(&format!("/v1/routes?{query}")) {
            Value::Array(v) => v,
            other => panic!("/v1/routes?{query}: not an array: {other}"),
        }
    }

    /// Waits until the neighbor is Established in keel's API and returns its JSON.
    pub fn wait_established(&self, address: &str) -> Value {
        wait_for(&format!("keel's session with {address} to be established"), DEADLINE, || {
            self.proc.assert_running();
            let n = match self.request("GET", &format!("/v1/neighbors/{address}")) {
                (200, n) => n,
                (status, body) => return Err(format!("HTTP {status}: {body}")),
            };
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
        self.proc.signal(libc::SIGHUP);
    }
}

/// One HTTP/1.1 request over a Unix socket: (status, body).
pub fn http(socket: &Path, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "{method} {path} HTTP/1.1\r\nHost: keel\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{why}: {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| bad("no end of headers"))?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| bad("no status"))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(body) } else { body.to_string() };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out += &rest[..n];
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
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

// ---------------------------------------------------------------------------------------------
// A raw BGP peer on a plain TCP socket

/// What reading from the raw socket gave.
#[derive(Debug)]
pub enum Recv {
    Message(Box<Message>),
    /// Bytes keel sent that do not decode (a test failure in itself), described.
    Garbage(String),
    Timeout,
    Closed,
}

pub struct RawPeer {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawPeer {
    /// Connects from `local` (port chosen by the kernel) to keel, retrying until keel listens.
    pub fn connect(local: &str, remote: SocketAddr) -> RawPeer {
        let local: IpAddr = local.parse().unwrap();
        let stream = wait_for(&format!("TCP connection {local} -> {remote}"), DEADLINE, || {
            let s =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).map_err(|e| e.to_string())?;
            s.bind(&SocketAddr::new(local, 0).into()).map_err(|e| e.to_string())?;
            s.connect_timeout(&remote.into(), Duration::from_secs(2)).map_err(|e| e.to_string())?;
            Ok(TcpStream::from(s))
        });
        stream.set_nodelay(true).unwrap();
        RawPeer { stream, buf: Vec::new() }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap_or_else(|e| panic!("raw peer write: {e}"));
    }

    pub fn send_message(&mut self, m: &Message) {
        let b = m.encode(&CodecOptions::default()).expect("encode");
        self.send(&b);
    }

    /// Reads one message, waiting at most `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> Recv {
        let until = Instant::now() + timeout;
        loop {
            if self.buf.len() >= 19 {
                let len = u16::from_be_bytes([self.buf[16], self.buf[17]]) as usize;
                if len < 19 {
                    return Recv::Garbage(format!("header with length {len}: {:02x?}", std::mem::take(&mut self.buf)));
                }
                if self.buf.len() >= len {
                    let frame: Vec<u8> = self.buf.drain(..len).collect();
                    let opts = CodecOptions { extended_message: true, ..CodecOptions::default() };
                    return match Message::decode(&frame, &opts) {
                        Ok(m) => Recv::Message(Box::new(m)),
                        Err(e) => Recv::Garbage(format!("{e}: {frame:02x?}")),
                    };
                }
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Recv::Timeout;
            }
            self.stream.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Recv::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return Recv::Closed,
            }
        }
    }

    /// Reads until a NOTIFICATION arrives (skipping OPEN, KEEPALIVE, UPDATE) and returns it.
    pub fn expect_notification(&mut self, timeout: Duration) -> Notification {
        let until = Instant::now() + timeout;
        loop {
            match self.recv(until.saturating_duration_since(Instant::now())) {
                Recv::Message(m) => {
                    if let Message::Notification(n) = *m {
                        return n;
                    }
                }
                Recv::Garbage(g) => panic!("keel sent a message that does not decode: {g}"),
                other => panic!("expected a NOTIFICATION from keel, got {other:?}"),
            }
        }
    }

    /// Reads until the connection closes, failing on anything but KEEPALIVE.
    pub fn expect_closed(&mut self, timeout: Duration) {
        let until = Instant::now() + timeout;
        loop {
            match self.recv(until.saturating_duration_since(Instant::now())) {
                Recv::Closed => return,
                Recv::Message(m) if matches!(*m, Message::Keepalive) => {}
                other => panic!("expected keel to close the connection, got {other:?}"),
            }
        }
    }

    /// Sends `open`, expects keel's OPEN, then exchanges KEEPALIVEs: the session is
    /// Established on both sides. Returns keel's OPEN.
    pub fn handshake(&mut self, open: &Open) -> Open {
        self.send_message(&Message::Open(open.clone()));
        let keel_open = match self.recv(Duration::from_secs(10)) {
            Recv::Message(m) => match *m {
                Message::Open(o) => o,
                other => panic!("expected keel's OPEN, got {other:?}"),
            },
            other => panic!("expected keel's OPEN, got {other:?}"),
        };
        self.send_message(&Message::Keepalive);
        match self.recv(Duration::from_secs(10)) {
            Recv::Message(m) if matches!(*m, Message::Keepalive) => {}
            other => panic!("expected keel's KEEPALIVE, got {other:?}"),
        }
        keel_open
    }

    /// Keeps the session alive from a thread: answers with a KEEPALIVE every second and
    /// records everything keel sends.
    pub fn keep_alive(self) -> Bystander {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (stop2, log2) = (stop.clone(), log.clone());
        let mut peer = self;
        let thread = std::thread::spawn(move || {
            let mut last = Instant::now();
            while !stop2.load(Ordering::Relaxed) {
                if last.elapsed() >= Duration::from_secs(1) {
                    let b = Message::Keepalive.encode(&CodecOptions::default()).unwrap();
                    if peer.stream.write_all(&b).is_err() {
                        log2.lock().unwrap().push("write failed".to_string());
                        return;
                    }
                    last = Instant::now();
                }
                match peer.recv(Duration::from_millis(200)) {
                    Recv::Timeout => {}
                    Recv::Message(m) if matches!(*m, Message::Keepalive | Message::Update(_)) => {}
                    Recv::Closed => {
                        log2.lock().unwrap().push("connection closed".to_string());
                        return;
                    }
                    Recv::Garbage(g) => log2.lock().unwrap().push(format!("undecodable message: {g}")),
                    other => log2.lock().unwrap().push(format!("{other:?}")),
                }
            }
        });
        Bystander { stop, log, thread: Some(thread) }
    }
}

/// A raw session kept up by a thread, to show that other neighbors' trouble leaves it alone.
pub struct Bystander {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl Bystander {
    /// Events other than KEEPALIVE and UPDATE seen so far (NOTIFICATION, close, ...).
    pub fn trouble(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Bystander {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An OPEN for a raw peer: IPv4 and IPv6 unicast, route refresh, graceful restart (helper).
pub fn raw_open(asn: u32, hold_time: u16, router_id: Ipv4Addr) -> Open {
    Open::new(
        asn,
        hold_time,
        router_id,
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            Capability::RouteRefresh,
            Capability::GracefulRestart(GracefulRestart {
                restart_state: false,
                notification: false,
                restart_time: 60,
                families: vec![GracefulRestartFamily { family: Family::IPV4_UNICAST, forwarding_state: false }],
            }),
        ],
    )
}

/// Encodes an OPEN.
pub fn encode_open(open: &Open) -> Vec<u8> {
    Message::Open(open.clone()).encode(&CodecOptions::default()).expect("encode OPEN")
}
