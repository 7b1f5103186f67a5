//! [`ConfigError`]: one error per bad configuration, naming the file, the line and column of
//! the offending text (1-based; the column counts characters), and what was expected there.

use std::{fmt, io, ops::Range, path::PathBuf};

/// Where in the file a problem is: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` in `text` (clamped to the text; an offset inside a
    /// multi-byte character counts as that character).
    pub fn of(text: &str, offset: usize) -> Location {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = text.get(..offset).unwrap_or_default();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            line: before.matches('\n').count() + 1,
            column: before.get(line_start..).unwrap_or_default().chars().count() + 1,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Why a configuration could not be used. `Display` is one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named explicitly (or the default file, present but unreadable) cannot be read.
    #[error("{}: cannot read the configuration file: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// The file is not valid TOML, or a setting is unknown, of the wrong type, or invalid.
    #[error("{}:{}{message}", path.display(), location.map(|l| format!("{l}: ")).unwrap_or_else(|| " ".to_owned()))]
    Invalid {
        path: PathBuf,
        /// `None` only when the parser gave no position (the whole document is at fault).
        location: Option<Location>,
        message: String,
    },
}

impl ConfigError {
    /// An [`ConfigError::Invalid`] at byte range `span` of `text`.
    pub(crate) fn at(
        path: PathBuf,
        text: &str,
        span: Option<Range<usize>>,
        message: String,
    ) -> ConfigError {
        ConfigError::Invalid {
            path,
            location: span.map(|s| Location::of(text, s.start)),
            message,
        }
    }

    /// The location of the problem, when the file was read and the problem has one.
    pub fn location(&self) -> Option<Location> {
        match self {
            ConfigError::Invalid { location, .. } => *location,
            ConfigError::Read { .. } => None,
        }
    }
}
