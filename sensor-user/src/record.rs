//! `run --record FILE`: appends every event the kernel passed up (exec and connect) to a file,
//! one ECS document per line in the Elastic Defend shape ([`event_document`]), so `replay`
//! over the file gives exactly the alerts the live run printed. The file is an
//! [`NdjsonFile`]: `O_APPEND`, mode 0640, whole lines only (an event it could not write waits in
//! a bounded backlog), reopened on SIGHUP.

use std::io;
use std::path::{Path, PathBuf};

use crate::ecs::document::event_document;
use crate::event::Event;
use crate::output::ndjson::NdjsonFile;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("opening the recording {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("appending to the recording {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// An open recording.
#[derive(Debug)]
pub struct Recorder {
    file: NdjsonFile,
    /// Events recorded.
    pub events: u64,
}

impl Recorder {
    /// Opens (creating, mode 0640) `path` for appending.
    pub fn open(path: &Path) -> Result<Recorder, RecordError> {
        let file = NdjsonFile::open(path).map_err(|source| RecordError::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(Recorder { file, events: 0 })
    }

    /// Appends `event` as one line.
    pub fn record(&mut self, event: &Event) -> Result<(), RecordError> {
        self.file
            .append(&event_document(event))
            .map_err(|source| RecordError::Write {
                path: self.file.path().to_owned(),
                source,
            })?;
        self.events += 1;
        Ok(())
    }

    /// Writes the events waiting since a failed write (the daemon's timer).
    pub fn retry(&mut self) -> io::Result<()> {
        self.file.retry()
    }

    /// Events waiting since a failed write, and events dropped from the full backlog.
    pub fn backlog(&self) -> (usize, u64) {
        (self.file.backlog(), self.file.dropped)
    }

    /// Opens the path anew (after logrotate moved the file).
    pub fn reopen(&mut self) -> io::Result<()> {
        self.file.reopen()
    }
}
