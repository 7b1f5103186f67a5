//! An append-only NDJSON file: created with mode 0640, opened with `O_APPEND`, every line
//! handed to the kernel in one `write` (readers never see a partial line), and reopened by path
//! on SIGHUP so logrotate can move the old file away.

use std::{
    fs::{File, OpenOptions},
    io::{self, Write},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

#[derive(Debug)]
pub struct NdjsonFile {
    path: PathBuf,
    file: File,
    line: Vec<u8>,
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
}

impl NdjsonFile {
    pub fn open(path: &Path) -> io::Result<NdjsonFile> {
        Ok(NdjsonFile {
            path: path.to_owned(),
            file: open(path)?,
            line: Vec::with_capacity(4096),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `value` and a newline in a single write.
    pub fn append(&mut self, value: &serde_json::Value) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, value)?;
        self.line.push(b'\n');
        self.file.write_all(&self.line)
    }

    /// Opens the path anew (after logrotate moved the file).
    pub fn reopen(&mut self) -> io::Result<()> {
        self.file = open(&self.path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn appends_whole_lines_with_mode_0640_and_reopens_after_rotation() {
        let dir = std::env::temp_dir().join(format!("sshd-sensor-ndjson-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("alerts.ndjson");
        let _ = std::fs::remove_file(&path);
        let mut f = NdjsonFile::open(&path).expect("open");
        f.append(&serde_json::json!({"a": 1})).expect("append");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode & !0o640, 0, "mode {mode:o} wider than 0640");
        std::fs::rename(&path, dir.join("alerts.ndjson.1")).expect("rotate");
        f.reopen().expect("reopen");
        f.append(&serde_json::json!({"b": 2})).expect("append");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "{\"b\":2}\n");
        assert_eq!(
            std::fs::read_to_string(dir.join("alerts.ndjson.1")).expect("read"),
            "{\"a\":1}\n"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
