//! Where alerts go: stdout (one ECS JSON document per line, or one readable line per alert),
//! an NDJSON alert file, and the systemd journal. Every alert is written whole and flushed at
//! once, so a reader never sees a partial line (the file keeps what it could not write in a
//! bounded backlog, [`ndjson`]); a failing sink never stops the others.

pub mod journal;
pub mod ndjson;

use std::io::{self, IsTerminal, Write};

use crate::{
    ecs::{
        alert::{AlertMeta, alert_document},
        human::human_line,
        summary::{summary_document, summary_line},
    },
    event::Alert,
    ratelimit::Summary,
};

/// How alerts are printed on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `human` on a terminal, `json` otherwise.
    Auto,
    /// One readable line per alert.
    Human,
    /// One ECS alert document per line (NDJSON).
    Json,
}

impl Format {
    /// `Auto` decided for the current stdout.
    pub fn resolve(self) -> Format {
        match self {
            Format::Auto if io::stdout().is_terminal() => Format::Human,
            Format::Auto => Format::Json,
            other => other,
        }
    }
}

/// Renders one alert in `format` (no trailing newline).
pub fn render(alert: &Alert, format: Format, meta: &AlertMeta) -> String {
    match format {
        Format::Human => human_line(alert),
        Format::Json | Format::Auto => alert_document(alert, meta).to_string(),
    }
}

/// Every configured alert destination.
pub struct Sinks {
    pub stdout: Stdout,
    pub file: Option<ndjson::NdjsonFile>,
    pub journal: Option<journal::Journal>,
    meta: AlertMeta,
}

impl Sinks {
    pub fn new(
        stdout: Stdout,
        file: Option<ndjson::NdjsonFile>,
        journal: Option<journal::Journal>,
    ) -> Sinks {
        Sinks {
            stdout,
            file,
            journal,
            meta: AlertMeta::default(),
        }
    }

    /// Writes `alert` everywhere; returns how many sinks failed (each failure is logged).
    pub fn write(&mut self, alert: &Alert) -> u64 {
        let mut failures = 0;
        if let Err(e) = self.stdout.write(alert) {
            failures += 1;
            tracing::warn!(error = %e, "writing an alert to stdout failed");
        }
        if self.file.is_none() && self.journal.is_none() {
            return failures;
        }
        let document = alert_document(alert, &self.meta);
        if let Some(file) = self.file.as_mut()
            && let Err(e) = file.append(&document)
        {
            failures += 1;
            tracing::warn!(error = %e, path = %file.path().display(), backlog = file.backlog(), dropped = file.dropped, "appending an alert to the alert file failed; it waits in the backlog");
        }
        if let Some(journal) = self.journal.as_ref()
            && let Err(e) = journal.send(alert, &document)
        {
            failures += 1;
            tracing::warn!(error = %e, "sending an alert to the journal failed");
        }
        failures
    }

    /// Writes the rate cap's `summary` everywhere, as alerts are; returns how many sinks failed.
    pub fn write_summary(&mut self, summary: &Summary) -> u64 {
        let document = summary_document(summary, &self.meta);
        let mut failures = 0;
        if let Err(e) = self.stdout.write_summary(summary, &document) {
            failures += 1;
            tracing::warn!(error = %e, "writing a rate-cap summary to stdout failed");
        }
        if let Some(file) = self.file.as_mut()
            && let Err(e) = file.append(&document)
        {
            failures += 1;
            tracing::warn!(error = %e, path = %file.path().display(), backlog = file.backlog(), dropped = file.dropped, "appending a rate-cap summary to the alert file failed; it waits in the backlog");
        }
        if let Some(journal) = self.journal.as_ref()
            && let Err(e) = journal.send_summary(summary, &document)
        {
            failures += 1;
            tracing::warn!(error = %e, "sending a rate-cap summary to the journal failed");
        }
        failures
    }

    /// Writes the alert file's waiting lines, if any (the daemon's timer).
    pub fn retry(&mut self) {
        if let Some(file) = self.file.as_mut()
            && file.backlog() > 0
        {
            let waiting = file.backlog();
            match file.retry() {
                Ok(()) => {
                    tracing::info!(lines = waiting, path = %file.path().display(), "the alert file is writable again: waiting lines written")
                }
                Err(e) => {
                    tracing::debug!(error = %e, backlog = file.backlog(), "the alert file is still not writable")
                }
            }
        }
    }

    /// Reopens the alert file (SIGHUP, after logrotate).
    pub fn reopen(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(file) => file.reopen(),
            None => Ok(()),
        }
    }
}

/// stdout, one alert per line.
pub struct Stdout {
    format: Format,
    meta: AlertMeta,
}

impl Stdout {
    pub fn new(format: Format) -> Stdout {
        Stdout {
            format: format.resolve(),
            meta: AlertMeta::default(),
        }
    }

    pub fn write(&mut self, alert: &Alert) -> io::Result<()> {
        let line = render(alert, self.format, &self.meta);
        write_line(line)
    }

    /// The rate cap's summary: its document (json) or its line (human).
    pub fn write_summary(
        &mut self,
        summary: &Summary,
        document: &serde_json::Value,
    ) -> io::Result<()> {
        write_line(match self.format {
            Format::Human => summary_line(summary),
            Format::Json | Format::Auto => document.to_string(),
        })
    }
}

fn write_line(mut line: String) -> io::Result<()> {
    line.push('\n');
    let mut out = io::stdout().lock();
    out.write_all(line.as_bytes())?;
    out.flush()
}
