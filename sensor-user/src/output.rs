//! Where alerts go: stdout as one ECS JSON document per line or one readable line per alert.
//! Every alert is written whole and flushed at once, so a reader never sees a partial line.

use std::io::{self, IsTerminal, Write};

use crate::{
    ecs::{
        alert::{AlertMeta, alert_document},
        human::human_line,
    },
    event::Alert,
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
        let mut line = render(alert, self.format, &self.meta);
        line.push('\n');
        let mut out = io::stdout().lock();
        out.write_all(line.as_bytes())?;
        out.flush()
    }
}
