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

#[cfg(test)]
pub(super) mod tests {
    use std::cell::RefCell;
    use std::io;
    use std::rc::Rc;

    use super::*;

    /// A writer the test reads back.
    #[derive(Clone, Default)]
    pub(in crate::replay) struct Shared(Rc<RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(b);
            Ok(b.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        /// The lines written since the last call.
        pub(in crate::replay) fn take(&self) -> Vec<String> {
            let text = String::from_utf8(std::mem::take(&mut *self.0.borrow_mut())).expect("utf-8");
            text.lines().map(str::to_owned).collect()
        }
    }

    /// What every line starts with.
    pub(in crate::replay) const P: &str = "sshd-sensor: replay: ";

    /// Every skipped line and late event is counted; only the first `report_first` of each are
    /// reported, a full buffer once; the summary gives the totals and how many were not shown.
    #[test]
    fn counts_all_and_reports_the_first_few() {
        let out = Shared::default();
        let mut d = Diagnostics::new(Box::new(out.clone()), 2);
        d.bad_line("a.ndjson", 3, "bad JSON", "expected value");
        d.bad_line("a.ndjson", 5, "bad time", "`@timestamp`");
        d.bad_line("b.ndjson", 1, "bad JSON", "EOF");
        assert_eq!(
            out.take(),
            [
                format!("{P}a.ndjson:3: skipped (bad JSON): expected value"),
                format!("{P}a.ndjson:5: skipped (bad time): `@timestamp`"),
            ]
        );
        assert_eq!(d.bad_total(), 3);
        assert_eq!(
            d.bad.iter().map(|(k, n)| (*k, *n)).collect::<Vec<_>>(),
            [("bad JSON", 2), ("bad time", 1)]
        );
        d.late_event("a.ndjson", 7, 1_500_000_000);
        d.late_event("a.ndjson", 8, 2_000_000);
        d.late_event("a.ndjson", 9, 3_000_000_000);
        let late = |line, secs| {
            format!(
                "{P}a.ndjson:{line}: event is {secs}s older than events already replayed, beyond \
                 the tolerated disorder (--max-disorder); replayed late, so a match that needed \
                 it in order may be missed"
            )
        };
        assert_eq!(out.take(), [late(7, "1.500"), late(8, "0.002")]);
        assert_eq!(d.late, 3);
        d.buffer_full(64);
        assert_eq!(
            out.take(),
            [format!(
                "{P}reorder buffer full (64 events within --max-disorder); replaying the oldest \
                 early, later events of that span may be reported as late"
            )]
        );
        d.buffer_full(64);
        assert_eq!(out.take(), Vec::<String>::new(), "said once");
        assert_eq!(d.forced, 2);
        d.summary(10);
        assert_eq!(
            out.take(),
            [
                format!("{P}skipped 3 of 10 lines (2 bad JSON, 1 bad time); 1 not shown"),
                format!("{P}3 events arrived beyond the tolerated disorder and were replayed late"),
            ]
        );
    }

    /// The summary says nothing of what did not happen: no lines when all was well, no "not
    /// shown" when every skipped line was shown, no late line without late events.
    #[test]
    fn summary_is_silent_on_what_did_not_happen() {
        let out = Shared::default();
        let mut d = Diagnostics::new(Box::new(out.clone()), 1);
        d.summary(4);
        assert_eq!(out.take(), Vec::<String>::new());
        d.bad_line("-", 2, "too long", "5 bytes");
        out.take();
        d.summary(4);
        assert_eq!(
            out.take(),
            [format!("{P}skipped 1 of 4 lines (1 too long)")]
        );
        let mut d = Diagnostics::new(Box::new(out.clone()), 0);
        d.late_event("-", 1, 1);
        assert_eq!(
            out.take(),
            Vec::<String>::new(),
            "report_first 0 reports none"
        );
        d.summary(1);
        assert_eq!(
            out.take(),
            [format!(
                "{P}1 events arrived beyond the tolerated disorder and were replayed late"
            )]
        );
    }
}
