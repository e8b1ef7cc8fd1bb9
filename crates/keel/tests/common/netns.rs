//! Two network namespaces joined by a veth pair, for tests that run keeld with the kernel
//! FIB (never the host's tables), documentation addresses only:
//!
//! ```text
//!  ns "r": keelds on 127.0.0.x (FIB on)       va 192.0.2.1/24, 2001:db8::1/64
//!                                              |  veth
//!  ns "h":                                    vb 192.0.2.2/24, 2001:db8::2/64, lo 198.51.100.1/32
//! ```
#![allow(dead_code)]

use super::Keeld;
use keel_lab::netns::{veth, Namespace};
use std::process::Stdio;

/// Two namespaces, `keel-TAG-r-PID` and `keel-TAG-h-PID`, joined by a veth pair; deleted on
/// drop.
pub struct Lab {
    pub r: Namespace,
    pub h: Namespace,
}

impl Lab {
    pub fn new(tag: &str) -> Lab {
        let id = std::process::id() % 100_000;
        let ns = |role: &str| Namespace::create(&format!("keel-{tag}-{role}-{id}")).expect("network namespace");
        let lab = Lab { r: ns("r"), h: ns("h") };
        let (r, h) = (&lab.r, &lab.h);
        veth(r, "va", h, "vb").expect("veth pair");
        let ip = |ns: &Namespace, args: &[&str]| {
            ns.ip(args).unwrap_or_else(|e| panic!("{e:#}"));
        };
        ip(r, &["addr", "add", "192.0.2.1/24", "dev", "va"]);
        ip(r, &["link", "set", "va", "up"]);
        ip(h, &["addr", "add", "192.0.2.2/24", "dev", "vb"]);
        ip(h, &["link", "set", "vb", "up"]);
        ip(h, &["addr", "add", "198.51.100.1/32", "dev", "lo"]);
        ip(r, &["addr", "add", "2001:db8::1/64", "dev", "va", "nodad"]);
        ip(h, &["addr", "add", "2001:db8::2/64", "dev", "vb", "nodad"]);
        lab
    }

    pub fn keel_routes(&self) -> String {
        self.r.ip(&["route", "show", "proto", "186"]).unwrap_or_else(|e| panic!("{e:#}"))
    }

    pub fn ping(&self, to: &str) -> bool {
        self.r
            .command("ping")
            .args(["-c", "1", "-W", "1", to])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts keeld inside namespace r, in `$TMPDIR/keel-fibtest-R-NAME` (`DIR` in `config`
    /// stands for it).
    pub fn keeld(&self, name: &str, config: &str) -> Keeld {
        let dir = std::env::temp_dir().join(format!("keel-fibtest-{}-{name}", self.r.name()));
        let config = config.replace("DIR", &dir.display().to_string());
        super::start(Keeld::new(super::keeld_bin(), dir).expect("keeld's directory").in_netns(&self.r), &config)
    }
}

/// `ip ARGS`, failing the test on an error; its stdout.
pub fn ip(args: &[&str]) -> String {
    keel_lab::netns::ip(args).unwrap_or_else(|e| panic!("{e:#}"))
}
