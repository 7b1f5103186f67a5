//! Lines of one NDJSON input with a size limit: a line longer than the limit is skipped to its
//! end without being held in memory (so one giant line cannot exhaust memory) and reported as
//! too long. A trailing `\r` is dropped; a last line without a newline is still a line.

use std::io::{self, BufRead};

/// One line read into the caller's buffer, or why not.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The buffer holds the line (without its newline).
    Ok,
    /// The line had this many bytes, over the limit; the buffer holds its first `limit` bytes.
    TooLong(u64),
}

/// Reads lines of at most `limit` bytes.
pub struct LineReader<R> {
    inner: R,
    limit: usize,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R, limit: usize) -> Self {
        Self { inner, limit }
    }

    /// The next line into `buf` (cleared first); `None` at end of input.
    pub fn next_line(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<Line>> {
        buf.clear();
        let mut total: u64 = 0;
        let mut saw_any = false;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                break;
            }
            saw_any = true;
            let (part, used, end) = match memchr(chunk) {
                Some(i) => (&chunk[..i], i + 1, true),
                None => (chunk, chunk.len(), false),
            };
            total += part.len() as u64;
            let room = self.limit.saturating_sub(buf.len());
            buf.extend_from_slice(&part[..part.len().min(room)]);
            self.inner.consume(used);
            if end {
                break;
            }
        }
        if !saw_any {
            return Ok(None);
        }
        if total > self.limit as u64 {
            return Ok(Some(Line::TooLong(total)));
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Ok(Some(Line::Ok))
    }
}

fn memchr(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &str, limit: usize) -> Vec<(Line, String)> {
        let mut r = LineReader::new(io::BufReader::with_capacity(4, input.as_bytes()), limit);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(l) = r.next_line(&mut buf).expect("read") {
            out.push((l, String::from_utf8_lossy(&buf).into_owned()));
        }
        out
    }

    #[test]
    fn splits_lines_across_small_buffers() {
        let got = lines("abcdefgh\r\n\nxyz", 100);
        assert_eq!(
            got,
            vec![
                (Line::Ok, "abcdefgh".into()),
                (Line::Ok, String::new()),
                (Line::Ok, "xyz".into())
            ]
        );
    }

    #[test]
    fn long_lines_are_reported_and_skipped_whole() {
        let got = lines("0123456789\nok\n", 5);
        assert_eq!(got[0].0, Line::TooLong(10));
        assert_eq!(got[1], (Line::Ok, "ok".into()));
        assert_eq!(got.len(), 2);
    }
}
