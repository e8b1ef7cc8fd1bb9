//! What the restart tests watch besides the daemons: pings from H through keeld to U, a
//! capture of keel's OPENs, and a GR peer that never sends End-of-RIB.

use super::lab::Lab;
use super::{run, spawn, KEEL, POLL, SILENT, TARGET};
use keel_lab::process::{file_tail, require, Process};
use keel_lab::wait::wait_every;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// `ping -i 0.01` from namespace H through keel to 198.51.100.1 in namespace U.
pub struct Ping {
    proc: Process,
    out: PathBuf,
}

impl Ping {
    pub fn start(lab: &Lab, name: &str) -> Ping {
        let out = lab.dir.join(format!("ping-{name}.txt"));
        let mut cmd = lab.h.command(require("ping"));
        cmd.args(["-n", "-i", "0.01", "-W", "1", TARGET]);
        let p = Ping { proc: spawn("ping", &out, cmd), out };
        wait_every("the first ping reply", Duration::from_secs(5), POLL, || {
            p.proc.assert_running();
            Some(()).filter(|_| !p.replies().is_empty()).ok_or_else(|| file_tail(&p.out, 30))
        });
        p
    }

    /// icmp_seq of every reply so far.
    pub fn replies(&self) -> Vec<u64> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("bytes from"))
            .filter_map(|l| l.split("icmp_seq=").nth(1)?.split_whitespace().next()?.parse().ok())
            .collect()
    }

    /// Stops the pings; asserts every echo request up to the last answered one was answered.
    /// Returns how many were answered.
    pub fn stop_and_check(self, what: &str) -> usize {
        self.proc.signal(libc::SIGINT);
        assert!(self.proc.wait_exit(Duration::from_secs(5)), "ping did not exit");
        let seqs: BTreeSet<u64> = self.replies().into_iter().collect();
        let last = *seqs.last().expect("replies");
        let missing: Vec<u64> = (1..=last).filter(|s| !seqs.contains(s)).collect();
        assert!(missing.is_empty(), "{what}: {} of {last} pings lost: {missing:?}", missing.len());
        seqs.len()
    }
}

/// tshark on namespace K's interface towards U, BGP only.
pub struct Capture {
    proc: Process,
    file: PathBuf,
}

impl Capture {
    pub fn start(lab: &Lab) -> Capture {
        let file = lab.dir.join("bgp.pcap");
        let log = lab.dir.join("tshark.out");
        let mut cmd = lab.k.command(require("tshark"));
        cmd.args(["-i", "vk2", "-f", "tcp port 179", "-w"]).arg(&file);
        let c = Capture { proc: spawn("tshark", &log, cmd), file };
        wait_every("tshark to capture", Duration::from_secs(10), POLL, || {
            c.proc.assert_running();
            Some(()).filter(|_| file_tail(&log, 30).contains("Capturing on")).ok_or_else(|| file_tail(&log, 30))
        });
        c
    }

    /// Stops the capture and decodes keel's OPENs: (destination, R bit, F bits per family).
    pub fn keel_opens(self) -> Vec<(String, bool, Vec<bool>)> {
        self.proc.signal(libc::SIGINT);
        assert!(self.proc.wait_exit(Duration::from_secs(10)), "tshark did not exit");
        let (ok, text) = run(Command::new(require("tshark")).arg("-r").arg(&self.file).args(["-V", "-Y", "bgp"]));
        assert!(ok, "tshark -r: {text}");
        let mut opens = Vec::new();
        for frame in text.split("\nFrame ") {
            let Some(ip) = frame.lines().find(|l| l.starts_with("Internet Protocol Version 4, Src: ")) else {
                continue;
            };
            let src = ip.split("Src: ").nth(1).and_then(|s| s.split(',').next()).unwrap_or("");
            let dst = ip.split("Dst: ").nth(1).unwrap_or("").trim().to_string();
            if src != KEEL || !frame.contains("OPEN Message") || !frame.contains("Graceful Restart capability") {
                continue;
            }
            let flag = |l: &str| l.trim_end().ends_with("True") || l.trim_end().ends_with("Yes");
            let restart = frame.lines().filter(|l| l.contains("Restart state:")).any(flag);
            let forwarding: Vec<bool> =
                frame.lines().filter(|l| l.contains("Preserve forwarding state:")).map(flag).collect();
            opens.push((dst, restart, forwarding));
        }
        opens
    }
}

/// A GR-capable peer (R=0, IPv4 listed) that never sends End-of-RIB: a restarting keel waits
/// for it until selection_deferral_time. A thread of the test process in namespace U
/// (setns), listening on 192.0.2.6:179 (AS 65006); it answers OPEN and KEEPALIVEs, ignores
/// the rest. (ExaBGP cannot play this part: after losing a session it sends R=1 in its next
/// OPEN, and keel does not wait for restarting neighbors.)
pub struct SilentPeer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SilentPeer {
    pub fn start(ns: &str) -> SilentPeer {
        use std::io::Read;
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (stop2, ns) = (stop.clone(), ns.to_string());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            // This thread only: the test's other threads stay where they are.
            let _entered = keel_lab::netns::enter(&ns).expect("setns");
            let l = std::net::TcpListener::bind((SILENT, 179)).expect("bind 192.0.2.6:179");
            l.set_nonblocking(true).unwrap();
            ready_tx.send(()).unwrap();
            let open: Vec<u8> = {
                let caps = [
                    &[1u8, 4, 0, 1, 0, 1][..],              // IPv4 unicast
                    &[64, 6, 0x00, 120, 0, 1, 1, 0x00][..], // GR: R=0, 120 s, IPv4 F=0
                    &[65, 4, 0, 0, 0xfd, 0xee][..],         // AS 65006
                ]
                .concat();
                let mut body = vec![4u8, 0xfd, 0xee, 0, 9, 192, 0, 2, 6, caps.len() as u8 + 2, 2, caps.len() as u8];
                body.extend_from_slice(&caps);
                let mut m = vec![0xffu8; 16];
                m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
                m.push(1);
                m.extend_from_slice(&body);
                m
            };
            let mut keepalive = vec![0xffu8; 16];
            keepalive.extend_from_slice(&[0, 19, 4]);
            while !stop2.load(Ordering::Relaxed) {
                let Ok((mut c, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let _ = c.set_nonblocking(false);
                let _ = c.set_read_timeout(Some(Duration::from_millis(200)));
                if c.write_all(&open).and_then(|_| c.write_all(&keepalive)).is_err() {
                    continue;
                }
                let mut last = Instant::now();
                let mut buf = [0u8; 4096];
                while !stop2.load(Ordering::Relaxed) {
                    match c.read(&mut buf) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                        }
                        Err(_) => break,
                    }
                    if last.elapsed() >= Duration::from_secs(1) {
                        if c.write_all(&keepalive).is_err() {
                            break;
                        }
                        last = Instant::now();
                    }
                }
            }
        });
        ready_rx.recv_timeout(Duration::from_secs(5)).expect("silent peer listening");
        SilentPeer { stop, thread: Some(thread) }
    }
}

impl Drop for SilentPeer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
