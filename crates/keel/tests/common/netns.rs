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
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two namespaces joined by a veth pair; deleted on drop.
pub struct Lab {
    pub r: String,
    pub h: String,
}

impl Lab {
    pub fn new(tag: &str) -> Lab {
        let id = std::process::id() % 100_000;
        let lab = Lab { r: format!("keel-{tag}-r-{id}"), h: format!("keel-{tag}-h-{id}") };
        for ns in [&lab.r, &lab.h] {
            let _ = Command::new("ip").args(["netns", "del", ns]).stderr(Stdio::null()).status();
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip(&["-n", &lab.r, "link", "add", "va", "type", "veth", "peer", "name", "vb"]);
        ip(&["-n", &lab.r, "link", "set", "vb", "netns", &lab.h]);
        ip(&["-n", &lab.r, "addr", "add", "192.0.2.1/24", "dev", "va"]);
        ip(&["-n", &lab.r, "link", "set", "va", "up"]);
        ip(&["-n", &lab.h, "addr", "add", "192.0.2.2/24", "dev", "vb"]);
        ip(&["-n", &lab.h, "link", "set", "vb", "up"]);
        ip(&["-n", &lab.h, "addr", "add", "198.51.100.1/32", "dev", "lo"]);
        ip(&["-n", &lab.r, "addr", "add", "2001:db8::1/64", "dev", "va", "nodad"]);
        ip(&["-n", &lab.h, "addr", "add", "2001:db8::2/64", "dev", "vb", "nodad"]);
        lab
    }

    pub fn keel_routes(&self) -> String {
        ip(&["-n", &self.r, "route", "show", "proto", "186"])
    }

    pub fn ping(&self, to: &str) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.r, "ping", "-c", "1", "-W", "1", to])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts keeld inside namespace r.
    pub fn keeld(&self, name: &str, config: &str) -> Keeld {
        let dir = std::env::temp_dir().join(format!("keel-fibtest-{}-{name}", self.r));
        let _ = std::fs::create_dir_all(&dir);
        let config = config.replace("DIR", &dir.display().to_string());
        start_in_netns(&self.r, dir, &config)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.r, &self.h] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

pub fn start_in_netns(ns: &str, dir: PathBuf, config: &str) -> Keeld {
    let path = dir.join("keel.toml");
    std::fs::write(&path, config).unwrap();
    let log = std::fs::File::create(dir.join("keeld.log")).unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_keeld"), "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start keeld in the namespace");
    Keeld { child, dir }
}
