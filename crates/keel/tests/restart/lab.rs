//! The three namespaces of the restart tests (see the diagram in [`super`]): H (the pinging
//! host), K (keeld with the kernel FIB) and U (the upstream daemons), joined by two veth pairs,
//! with their directory; all deleted on drop.

use super::spawn;
use keel_lab::netns::{veth, Namespace};
use keel_lab::process::Process;
use std::path::PathBuf;
use std::time::Duration;

pub struct Lab {
    pub h: Namespace,
    pub k: Namespace,
    pub u: Namespace,
    pub dir: PathBuf,
}

impl Lab {
    /// Namespaces `keel-rs-TAG-{h,k,u}-PID`, files in `$TMPDIR/keel-rs-TAG-PID`.
    pub fn new(tag: &str) -> Lab {
        let id = std::process::id();
        let ns = |role: &str| Namespace::create(&format!("keel-rs-{tag}-{role}-{id}")).expect("network namespace");
        let lab =
            Lab { h: ns("h"), k: ns("k"), u: ns("u"), dir: std::env::temp_dir().join(format!("keel-rs-{tag}-{id}")) };
        let _ = std::fs::remove_dir_all(&lab.dir);
        std::fs::create_dir_all(&lab.dir).unwrap();
        let (h, k, u) = (&lab.h, &lab.k, &lab.u);
        let ip = |ns: &Namespace, args: &[&str]| {
            ns.ip(args).unwrap_or_else(|e| panic!("{e:#}"));
        };
        veth(k, "vk1", h, "vh").expect("veth K-H");
        veth(k, "vk2", u, "vu").expect("veth K-U");
        ip(k, &["addr", "add", "192.0.2.129/25", "dev", "vk1"]);
        ip(k, &["addr", "add", "192.0.2.1/25", "dev", "vk2"]);
        ip(h, &["addr", "add", "192.0.2.130/25", "dev", "vh"]);
        for last in 2..=6 {
            ip(u, &["addr", "add", &format!("192.0.2.{last}/25"), "dev", "vu"]);
        }
        ip(u, &["addr", "add", "198.51.100.1/32", "dev", "lo"]);
        for (ns, dev) in [(k, "vk1"), (k, "vk2"), (h, "vh"), (u, "vu")] {
            ip(ns, &["link", "set", dev, "up"]);
        }
        ip(h, &["route", "add", "default", "via", "192.0.2.129"]);
        ip(u, &["route", "add", "192.0.2.128/25", "via", "192.0.2.1"]);
        k.sysctl("net.ipv4.ip_forward=1").unwrap_or_else(|e| panic!("{e:#}"));
        lab
    }

    pub fn sub(&self, name: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// keel's kernel routes (protocol 186) in namespace K.
    pub fn keel_routes(&self) -> String {
        self.k.ip(&["route", "show", "proto", "186"]).unwrap_or_else(|e| panic!("{e:#}"))
    }

    pub fn has_upstream_route(&self) -> bool {
        self.keel_routes().contains("198.51.100.0/24 via 192.0.2.2 dev vk2")
    }

    /// `ip -n K monitor route`, recorded to a file.
    pub fn monitor(&self) -> (Process, PathBuf) {
        let log = self.dir.join("monitor.txt");
        let _ = std::fs::remove_file(&log);
        let p = spawn("ip monitor", &log, keel_lab::process::command("ip", &["-n", self.k.name(), "monitor", "route"]));
        std::thread::sleep(Duration::from_millis(200));
        (p, log)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // The namespaces go with their fields.
        if std::thread::panicking() {
            eprintln!("restart test failed; files kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
