//! The result of `sshd-sensor check`: one [`Row`] per aspect of the host, rendered as an
//! aligned table, and the verdict (can the sensor run here, and if not, why). Pure.

use std::fmt::Write as _;

/// How an aspect of the host stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Fine.
    Ok,
    /// Informational (versions, identities).
    Info,
    /// Works, but something is missing or worth changing.
    Warn,
    /// The sensor cannot run (or cannot detect) until this is fixed.
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Info => "info",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

/// One line of the table (the detail may continue on further lines).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub item: String,
    pub status: Status,
    pub detail: Vec<String>,
}

impl Row {
    pub fn new(item: &str, status: Status, detail: impl Into<String>) -> Row {
        Row {
            item: item.to_owned(),
            status,
            detail: vec![detail.into()],
        }
    }

    /// Adds a continuation line to the detail.
    pub fn with(mut self, line: impl Into<String>) -> Row {
        self.detail.push(line.into());
        self
    }
}

/// Every row, in the order checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub rows: Vec<Row>,
}

impl Report {
    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// The rows that stop the sensor: empty when it can run here.
    pub fn failures(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| r.status == Status::Fail)
            .collect()
    }

    /// The table, then the verdict line.
    pub fn render(&self) -> String {
        let item_width = self
            .rows
            .iter()
            .map(|r| r.item.chars().count())
            .chain(std::iter::once("CHECK".len()))
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        let _ = writeln!(out, "{:<item_width$}  {:<6}  DETAIL", "CHECK", "STATUS");
        for row in &self.rows {
            for (i, line) in row.detail.iter().enumerate() {
                let (item, status) = if i == 0 {
                    (row.item.as_str(), row.status.label())
                } else {
                    ("", "")
                };
                let _ = writeln!(out, "{item:<item_width$}  {status:<6}  {line}");
            }
        }
        let failures = self.failures();
        if failures.is_empty() {
            let _ = writeln!(out, "\nverdict: the sensor can run here");
        } else {
            let names: Vec<&str> = failures.iter().map(|r| r.item.as_str()).collect();
            let _ = writeln!(
                out,
                "\nverdict: the sensor cannot run here; fix: {}",
                names.join(", ")
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_aligned_with_verdict() {
        let mut report = Report::default();
        report.push(Row::new("kernel", Status::Info, "6.1.0"));
        report.push(Row::new("connect hook: kprobe", Status::Warn, "no kprobes").with("second"));
        assert!(report.failures().is_empty());
        assert_eq!(
            report.render(),
            "CHECK                 STATUS  DETAIL\n\
             kernel                info    6.1.0\n\
             connect hook: kprobe  warn    no kprobes\n\
             \x20                             second\n\
             \n\
             verdict: the sensor can run here\n"
        );
        report.push(Row::new("BTF", Status::Fail, "missing"));
        assert_eq!(report.failures().len(), 1);
        assert!(
            report
                .render()
                .ends_with("\nverdict: the sensor cannot run here; fix: BTF\n")
        );
    }
}
