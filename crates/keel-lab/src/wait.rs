//! Polling with a deadline, the one way tests, benchmarks and the lab wait for something that
//! happens elsewhere (a session coming up, a route arriving, a process exiting).
//!
//! The condition returns `Option<T>` (None: not yet) or `Result<T, String>` (the error says
//! what was seen instead; the last one goes into the failure message).

use std::time::{Duration, Instant};

/// How often [`wait_for`] asks.
pub const POLL: Duration = Duration::from_millis(100);

/// One answer of a polled condition: the value, or what was seen instead.
pub trait Attempt<T> {
    fn attempt(self) -> Result<T, String>;
}

impl<T> Attempt<T> for Option<T> {
    fn attempt(self) -> Result<T, String> {
        self.ok_or_else(|| "not yet".to_string())
    }
}

impl<T> Attempt<T> for Result<T, String> {
    fn attempt(self) -> Result<T, String> {
        self
    }
}

/// Asks `f` every [`POLL`] until it gives a value; panics after `timeout` with `what` and the
/// last thing `f` saw.
pub fn wait_for<T, A: Attempt<T>>(what: &str, timeout: Duration, f: impl FnMut() -> A) -> T {
    wait_every(what, timeout, POLL, f)
}

/// [`wait_for`], asking every `every` (a test that checks an invariant at each poll asks more
/// often).
pub fn wait_every<T, A: Attempt<T>>(what: &str, timeout: Duration, every: Duration, f: impl FnMut() -> A) -> T {
    poll(timeout, every, f)
        .unwrap_or_else(|(e, took)| panic!("timed out after {:.1}s waiting for {what}: {e}", took.as_secs_f64()))
}

/// Asks `f` every `every` until it gives a value: the value, or after `timeout` the last thing
/// `f` saw and the time spent (for callers that report instead of panicking).
pub fn poll<T, A: Attempt<T>>(
    timeout: Duration,
    every: Duration,
    mut f: impl FnMut() -> A,
) -> Result<T, (String, Duration)> {
    let start = Instant::now();
    loop {
        match f().attempt() {
            Ok(v) => return Ok(v),
            Err(e) if start.elapsed() >= timeout => return Err((e, start.elapsed())),
            Err(_) => std::thread::sleep(every),
        }
    }
}

/// Asserts that `f` keeps returning `Ok` for `period`, asking every 250 ms.
pub fn holds_for(what: &str, period: Duration, mut f: impl FnMut() -> Result<(), String>) {
    let start = Instant::now();
    while start.elapsed() < period {
        if let Err(e) = f() {
            panic!("{what} stopped holding after {:.1}s: {e}", start.elapsed().as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_comes_back_and_the_last_error_goes_into_the_failure() {
        let mut n = 0;
        assert_eq!(
            wait_for("three", Duration::from_secs(5), || {
                n += 1;
                (n == 3).then_some(n)
            }),
            3
        );
        let r = poll(Duration::from_millis(30), Duration::from_millis(10), || Err::<(), _>("still red".to_string()));
        assert_eq!(r.map_err(|e| e.0), Err("still red".to_string()));
    }
}
