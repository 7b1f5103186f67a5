//! `run --record FILE`: appends every event the kernel passed up (exec and connect) to a file,
//! one ECS document per line in the Elastic Defend shape ([`event_document`]), so `replay`
//! over the file gives exactly the alerts the live run printed. Promises: the file is opened
//! with `O_APPEND` (created with mode 0640, before umask), each line is handed to the kernel in
//! one `write` of a whole line, so concurrent appenders and readers never see a torn line
//! unless the disk fills (then the error is returned and the caller decides).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::ecs::document::event_document;
use crate::event::Event;

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
    path: PathBuf,
    file: File,
    line: Vec<u8>,
    /// Events recorded.
    pub events: u64,
}

impl Recorder {
    /// Opens (creating, mode 0640) `path` for appending.
    pub fn open(path: &Path) -> Result<Recorder, RecordError> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .open(path)
            .map_err(|source| RecordError::Open {
                path: path.to_owned(),
                source,
            })?;
        Ok(Recorder {
            path: path.to_owned(),
            file,
            line: Vec::with_capacity(1024),
            events: 0,
        })
    }

    /// Appends `event` as one line.
    pub fn record(&mut self, event: &Event) -> Result<(), RecordError> {
        self.line.clear();
        // Serializing a `Value` into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.line, &event_document(event));
        self.line.push(b'\n');
        self.file
            .write_all(&self.line)
            .map_err(|source| RecordError::Write {
                path: self.path.clone(),
                source,
            })?;
        self.events += 1;
        Ok(())
    }
}
