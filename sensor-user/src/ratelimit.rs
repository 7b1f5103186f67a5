//! The rule's "max alerts per execution" kept as a rate cap: at most `max` alerts per window
//! of event time, then one summary of how many were suppressed. Time comes from the alerts.

/// What to do with one alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Emit it. `suppressed_before` alerts of the previous window were dropped (report them).
    Emit { suppressed_before: u64 },
    /// Drop it (counted).
    Suppress,
}

#[derive(Clone, Debug)]
pub struct RateCap {
    max: u64,
    window_ns: i64,
    window_start: Option<i64>,
    emitted: u64,
    suppressed: u64,
    suppressed_total: u64,
}

impl RateCap {
    pub fn new(max: u64, window_ns: i64) -> RateCap {
        RateCap {
            max,
            window_ns: window_ns.max(1),
            window_start: None,
            emitted: 0,
            suppressed: 0,
            suppressed_total: 0,
        }
    }

    /// Judges an alert raised at `timestamp` (ns since the epoch).
    pub fn admit(&mut self, timestamp: i64) -> Verdict {
        let mut suppressed_before = 0;
        let in_window = self
            .window_start
            .is_some_and(|start| timestamp < start.saturating_add(self.window_ns));
        if !in_window {
            suppressed_before = std::mem::take(&mut self.suppressed);
            self.window_start = Some(timestamp);
            self.emitted = 0;
        }
        if self.emitted < self.max {
            self.emitted += 1;
            Verdict::Emit { suppressed_before }
        } else {
            self.suppressed += 1;
            self.suppressed_total += 1;
            Verdict::Suppress
        }
    }

    /// Suppressed alerts of the current window not yet reported; resets the count (used at a
    /// window's end by the caller's timer, and at shutdown).
    pub fn take_pending_summary(&mut self) -> u64 {
        std::mem::take(&mut self.suppressed)
    }

    /// Every alert suppressed since start.
    pub fn suppressed_total(&self) -> u64 {
        self.suppressed_total
    }

    pub fn set_limits(&mut self, max: u64, window_ns: i64) {
        self.max = max;
        self.window_ns = window_ns.max(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn caps_per_window_and_reports_suppressed_once() {
        let mut cap = RateCap::new(2, 300 * S);
        assert_eq!(
            cap.admit(0),
            Verdict::Emit {
                suppressed_before: 0
            }
        );
        assert_eq!(
            cap.admit(S),
            Verdict::Emit {
                suppressed_before: 0
            }
        );
        assert_eq!(cap.admit(2 * S), Verdict::Suppress);
        assert_eq!(cap.admit(299 * S), Verdict::Suppress);
        // The next window starts with the first alert at or after 300 s.
        assert_eq!(
            cap.admit(300 * S),
            Verdict::Emit {
                suppressed_before: 2
            }
        );
        assert_eq!(
            cap.admit(301 * S),
            Verdict::Emit {
                suppressed_before: 0
            }
        );
        assert_eq!(cap.suppressed_total(), 2);
    }

    #[test]
    fn pending_summary_is_taken_once() {
        let mut cap = RateCap::new(1, 10 * S);
        cap.admit(0);
        cap.admit(1);
        cap.admit(2);
        assert_eq!(cap.take_pending_summary(), 2);
        assert_eq!(cap.take_pending_summary(), 0);
        assert_eq!(
            cap.admit(11 * S),
            Verdict::Emit {
                suppressed_before: 0
            }
        );
    }

    #[test]
    fn zero_max_suppresses_everything() {
        let mut cap = RateCap::new(0, S);
        assert_eq!(cap.admit(0), Verdict::Suppress);
    }
}
