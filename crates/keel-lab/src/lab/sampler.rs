//! The sampler: every 100 ms, a sample of the timeline (sessions, UPDATEs and routes at the
//! upstream and the observer, keeld's process and memory, the lab's memory), and on a terminal
//! the progress line.

use super::peers::PeerStats;
use super::process;
use super::report;
use super::results::{Sample, Timeline};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Samples the timeline every 100 ms and draws the progress line on a terminal.
pub(super) async fn sample(
    timeline: Arc<Mutex<Timeline>>,
    started: Instant,
    peers: [Arc<PeerStats>; 2],
    keeld: Arc<AtomicI32>,
    progress: Arc<Mutex<Option<String>>>,
    total: u64,
    tty: bool,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let lab_pid = std::process::id() as i32;
    loop {
        tick.tick().await;
        let pid = keeld.load(Ordering::Relaxed);
        let keeld_stat = (pid > 0).then(|| process::proc_stat(pid)).flatten();
        let s = Sample {
            t: started.elapsed().as_secs_f64(),
            established: peers.each_ref().map(|p| p.established.load(Ordering::Relaxed)),
            updates: peers.each_ref().map(|p| p.updates.load(Ordering::Relaxed)),
            routes: peers.each_ref().map(|p| p.routes.load(Ordering::Relaxed)),
            keeld_up: keeld_stat.is_some(),
            keeld_pid: pid,
            keeld_rss_kib: keeld_stat.map_or(0, |s| s.1),
            lab_rss_kib: process::proc_stat(lab_pid).map_or(0, |s| s.1),
        };
        timeline.lock().unwrap_or_else(|e| e.into_inner()).samples.push(s);
        if tty {
            if let Some(label) = progress.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                let line = format!(
                    "{label}  upstream {} observer {}",
                    report::bar(s.routes[0], total),
                    report::bar(s.routes[1], total)
                );
                // One terminal line, so that the next redraw clears it.
                let line: String = line.chars().take(terminal_columns().saturating_sub(1)).collect();
                crate::say!(err, "\r\x1b[2K{line}");
            }
        }
    }
}

/// The terminal's width (stderr's), 80 when unknown.
fn terminal_columns() -> usize {
    // SAFETY: winsize is plain data; TIOCGWINSZ fills it or fails, leaving it zeroed.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: fd 2 is ours to query; the pointer is valid for the call.
    let rc = unsafe { libc::ioctl(2, libc::TIOCGWINSZ, &mut size) };
    if rc == 0 && size.ws_col > 0 {
        usize::from(size.ws_col)
    } else {
        80
    }
}
