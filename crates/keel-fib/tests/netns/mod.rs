//! A throwaway network namespace per test: veth pair `va`/`vb` with 192.0.2.1/24 and
//! 2001:db8::1/64 on `va`, so next hops 192.0.2.2-3 and 2001:db8::2-3 are directly connected.
//! The host's routing tables are never touched: code runs on a thread that entered the
//! namespace with setns(CLONE_NEWNET), and the namespace is deleted on drop, also on panic.

#![allow(dead_code)]

use std::future::Future;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct NetNs {
    pub name: String,
}

impl NetNs {
    /// A fresh namespace, or `None` (the test is skipped) when not running as root.
    pub fn new() -> Option<NetNs> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: network namespace tests need root");
            return None;
        }
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name =
            format!("keel-fib-{}-{}-{:x}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos & 0xffff);
        run(&["ip", "netns", "add", &name]);
        let ns = NetNs { name };
        for cmd in [
            "link set lo up",
            "link add va type veth peer name vb",
            "addr add 192.0.2.1/24 dev va",
            "addr add 2001:db8::1/64 dev va nodad",
            "link set va up",
            "link set vb up",
        ] {
            ns.ip(cmd);
        }
        Some(ns)
    }

    /// Runs `ip ARGS` inside the namespace; panics on failure.
    pub fn ip(&self, args: &str) -> String {
        let mut argv = vec!["ip", "netns", "exec", &self.name, "ip"];
        argv.extend(args.split_whitespace());
        run(&argv)
    }

    /// Lines of `ip [-6] route show table T proto P` in the namespace.
    pub fn routes(&self, v6: bool, table: u32, proto: u8) -> Vec<String> {
        let fam = if v6 { "-6 " } else { "" };
        self.ip(&format!("{fam}route show table {table} proto {proto}"))
            .lines()
            .filter(|l| !l.starts_with(char::is_whitespace))
            .map(|l| l.trim_end().to_string())
            .collect()
    }

    pub fn ifindex(&self, dev: &str) -> u32 {
        let out = self.ip(&format!("-o link show {dev}"));
        out.split(':').next().unwrap().trim().parse().unwrap()
    }

    /// Runs `f` on a new thread inside the namespace, on a current-thread tokio runtime.
    pub fn run<F, Fut, T>(&self, f: F) -> T
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        let path = format!("/run/netns/{}", self.name);
        let thread = std::thread::spawn(move || {
            let file = std::fs::File::open(&path).unwrap();
            use std::os::fd::AsRawFd;
            // SAFETY: setns on this thread only; the thread never leaves the namespace.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(f())
        });
        match thread.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

fn run(argv: &[&str]) -> String {
    let out = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
    assert!(out.status.success(), "{argv:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}
