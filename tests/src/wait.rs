//! Bounded polling: every wait in the harness goes through here, so each one has both a
//! deadline and a maximum number of attempts, and a timeout names what was awaited.

use std::time::{Duration, Instant};

/// How often [`poll`] re-checks by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(20);

/// Calls `check` until it returns `Some`, at most `timeout / interval + 1` times and for at
/// most `timeout`. Returns `None` when neither bound produced a value.
pub fn poll<T>(
    timeout: Duration,
    interval: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    let max_attempts = timeout.as_millis() / interval.as_millis().max(1) + 1;
    for _ in 0..max_attempts {
        if let Some(value) = check() {
            return Some(value);
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        std::thread::sleep(interval.min(deadline - now));
    }
    // One last look at the deadline, so a slow `check` still gets its final chance.
    check()
}

/// Like [`poll`] with [`DEFAULT_INTERVAL`], but panics naming `what` when time runs out.
pub fn until<T>(what: &str, timeout: Duration, check: impl FnMut() -> Option<T>) -> T {
    poll(timeout, DEFAULT_INTERVAL, check)
        .unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
}
