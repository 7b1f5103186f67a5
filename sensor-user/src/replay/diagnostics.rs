//! What replay says about its input on stderr: each skipped line and each event that arrived
//! later than the merge tolerates is counted; the first few of each are reported with
//! `file:line`; [`Diagnostics::summary`] gives the totals at the end. Nothing is dropped
//! without being counted here.

use std::collections::BTreeMap;
use std::io::Write;

/// Counters and the reporting budget.
pub struct Diagnostics {
    out: Box<dyn Write>,
    report_first: u64,
    /// Skipped lines per reason.
    pub bad: BTreeMap<&'static str, u64>,
    /// Events older than what was already replayed (beyond the disorder tolerance).
    pub late: u64,
    /// Events fed out of order because the reorder buffer was full.
    pub forced: u64,
}

impl Diagnostics {
    /// Reports the first `report_first` skipped lines and late events (each) to `out`.
    pub fn new(out: Box<dyn Write>, report_first: u64) -> Self {
        Self {
            out,
            report_first,
            bad: BTreeMap::new(),
            late: 0,
            forced: 0,
        }
    }

    pub fn bad_total(&self) -> u64 {
        self.bad.values().sum()
    }

    /// A line skipped for `kind` (a short reason) with a detailed `message`.
    pub fn bad_line(&mut self, name: &str, line: u64, kind: &'static str, message: &str) {
        let n = self.bad.entry(kind).or_default();
        *n += 1;
        if self.bad_total() <= self.report_first {
            self.say(format_args!("{name}:{line}: skipped ({kind}): {message}"));
        }
    }

    /// An event older than `behind_ns` before what was already replayed.
    pub fn late_event(&mut self, name: &str, line: u64, behind_ns: i64) {
        self.late += 1;
        if self.late <= self.report_first {
            self.say(format_args!(
                "{name}:{line}: event is {:.3}s older than events already replayed, beyond the \
                 tolerated disorder (--max-disorder); replayed late, so a match that needed it \
                 in order may be missed",
                behind_ns as f64 / 1e9
            ));
        }
    }

    /// The reorder buffer was full and an event was replayed before its file caught up.
    pub fn buffer_full(&mut self, capacity: usize) {
        self.forced += 1;
        if self.forced == 1 {
            self.say(format_args!(
                "reorder buffer full ({capacity} events within --max-disorder); replaying the \
                 oldest early, later events of that span may be reported as late"
            ));
        }
    }

    /// The end-of-run lines (nothing when all was well).
    pub fn summary(&mut self, lines: u64) {
        let bad = self.bad_total();
        if bad > 0 {
            let kinds: Vec<String> = self.bad.iter().map(|(k, n)| format!("{n} {k}")).collect();
            let kinds = kinds.join(", ");
            let more = bad.saturating_sub(self.report_first);
            let tail = if more > 0 {
                format!("; {more} not shown")
            } else {
                String::new()
            };
            self.say(format_args!(
                "skipped {bad} of {lines} lines ({kinds}){tail}"
            ));
        }
        let late = self.late;
        if late > 0 {
            self.say(format_args!(
                "{late} events arrived beyond the tolerated disorder and were replayed late"
            ));
        }
    }

    fn say(&mut self, msg: std::fmt::Arguments<'_>) {
        // stderr going away must not stop the replay; there is nowhere else to say it.
        let _ = writeln!(self.out, "sshd-sensor: replay: {msg}");
    }
}
