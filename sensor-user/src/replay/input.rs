//! Lines of one NDJSON input with a size limit: a line longer than the limit is skipped to its
//! end without being held in memory (so one giant line cannot exhaust memory) and reported as
//! too long. A trailing `\r` is dropped; a last line without a newline is still a line. The
//! newline search is std's `read_until`/`memchr` (word at a time), not a byte loop.

use std::io::{self, BufRead, Read};

/// One line read into the caller's buffer, or why not.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The buffer holds the line (without its newline).
    Ok,
    /// The line had this many bytes, over the limit; the buffer holds its first `limit` bytes.
    TooLong(u64),
}

/// Bytes skipped per read while discarding the rest of a too-long line.
const SKIP_CHUNK: u64 = 1 << 16;

/// Reads lines of at most `limit` bytes.
pub struct LineReader<R> {
    inner: R,
    limit: usize,
    /// Scratch for the rest of a too-long line (at most [`SKIP_CHUNK`] bytes).
    skip: Vec<u8>,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R, limit: usize) -> Self {
        Self {
            inner,
            limit,
            skip: Vec::new(),
        }
    }

    /// The next line into `buf` (cleared first); `None` at end of input.
    pub fn next_line(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<Line>> {
        buf.clear();
        // One byte more than the limit tells a line of exactly `limit` bytes from a longer one.
        let cap = (self.limit as u64).saturating_add(1);
        let n = (&mut self.inner).take(cap).read_until(b'\n', buf)?;
        if n == 0 {
            return Ok(None);
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        } else if buf.len() > self.limit {
            let total = buf.len() as u64 + self.skip_rest()?;
            buf.truncate(self.limit);
            return Ok(Some(Line::TooLong(total)));
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Ok(Some(Line::Ok))
    }

    /// Discards the rest of the current line; returns its length without the newline.
    fn skip_rest(&mut self) -> io::Result<u64> {
        let mut skipped = 0;
        loop {
            self.skip.clear();
            let n = (&mut self.inner)
                .take(SKIP_CHUNK)
                .read_until(b'\n', &mut self.skip)?;
            if self.skip.last() == Some(&b'\n') {
                return Ok(skipped + n as u64 - 1);
            }
            skipped += n as u64;
            if n == 0 {
                return Ok(skipped);
            }
        }
    }
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

    #[test]
    fn limit_is_inclusive_and_skips_span_many_reads() {
        let long = "x".repeat(200_000);
        let input = format!("1234\r\n123456\n{long}\nend\n{long}");
        let got = lines(&input, 5);
        assert_eq!(
            got[0],
            (Line::Ok, "1234".into()),
            "the \\r counts toward the limit"
        );
        assert_eq!(got[1], (Line::TooLong(6), "12345".into()));
        assert_eq!(got[2].0, Line::TooLong(200_000));
        assert_eq!(got[3], (Line::Ok, "end".into()));
        assert_eq!(
            got[4].0,
            Line::TooLong(200_000),
            "a last line without a newline"
        );
        assert_eq!(got.len(), 5);
        let got = lines("12345", 5);
        assert_eq!(got, vec![(Line::Ok, "12345".into())]);
    }
}
