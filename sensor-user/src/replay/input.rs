//! Lines of one NDJSON input with a size limit: a line longer than the limit is skipped to its
//! end without being held in memory (so one giant line cannot exhaust memory) and reported as
//! too long. A trailing `\r` is dropped; a last line without a newline is still a line. Lines
//! are handed out as slices of the reader's own buffer (no copy per line; only a line cut by
//! the end of a read is moved), found 64 bytes at a time.

use std::io::{self, Read};

/// One line, or why not.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// The line, without its newline (and `\r`).
    Ok(&'a [u8]),
    /// The line had this many bytes, over the limit.
    TooLong(u64),
}

/// Bytes asked of the input per read (and the buffer's initial size).
const CHUNK: usize = 256 * 1024;

/// Reads lines of at most `limit` bytes.
pub struct LineReader<R> {
    inner: R,
    limit: usize,
    buf: Vec<u8>,
    /// `buf[start..end]` is read and not yet handed out.
    start: usize,
    end: usize,
    eof: bool,
}

impl<R: Read> LineReader<R> {
    pub fn new(inner: R, limit: usize) -> Self {
        Self {
            inner,
            limit,
            buf: vec![0; CHUNK],
            start: 0,
            end: 0,
            eof: false,
        }
    }

    /// The next line; `None` at end of input.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        // `buf[start..scanned]` has no newline.
        let mut scanned = self.start;
        loop {
            if let Some(at) = find_newline(&self.buf[scanned..self.end]) {
                let (line_start, nl) = (self.start, scanned + at);
                self.start = nl + 1;
                return Ok(Some(self.line(line_start, nl)));
            }
            scanned = self.end;
            if self.eof {
                if self.start == self.end {
                    return Ok(None);
                }
                let (line_start, end) = (self.start, self.end);
                self.start = end;
                return Ok(Some(self.line(line_start, end)));
            }
            if self.end - self.start > self.limit {
                return self.discard_rest().map(|n| Some(Line::TooLong(n)));
            }
            if self.end == self.buf.len() {
                if self.start > 0 {
                    self.buf.copy_within(self.start..self.end, 0);
                    scanned -= self.start;
                    self.end -= self.start;
                    self.start = 0;
                } else {
                    self.buf.resize(self.buf.len() * 2, 0);
                }
            }
            self.fill()?;
        }
    }

    /// `buf[from..to]` as a line (`to` is its newline or the end of input).
    fn line(&self, from: usize, to: usize) -> Line<'_> {
        if to - from > self.limit {
            return Line::TooLong((to - from) as u64);
        }
        let line = &self.buf[from..to];
        Line::Ok(line.strip_suffix(b"\r").unwrap_or(line))
    }

    /// Reads more after `end`; sets `eof` when there is no more.
    fn fill(&mut self) -> io::Result<()> {
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Drops the current (too long) line through its newline, holding at most one buffer of it;
    /// returns its length without the newline.
    fn discard_rest(&mut self) -> io::Result<u64> {
        let mut total = (self.end - self.start) as u64;
        loop {
            self.start = 0;
            self.end = 0;
            self.fill()?;
            if self.eof {
                return Ok(total);
            }
            if let Some(nl) = find_newline(&self.buf[..self.end]) {
                self.start = nl + 1;
                return Ok(total + nl as u64);
            }
            total += self.end as u64;
        }
    }
}

/// The first `\n` in `hay`: 64 bytes at a time where SSE2 is there (always on x86_64), then
/// eight at a time.
fn find_newline(hay: &[u8]) -> Option<usize> {
    let mut i = 0;
    #[cfg(target_arch = "x86_64")]
    while let Some(Ok(block)) = hay.get(i..i + 64).map(<&[u8; 64]>::try_from) {
        if let Some(at) = newline64(block) {
            return Some(i + at);
        }
        i += 64;
    }
    const ONES: u64 = u64::MAX / 255;
    while let Some(Ok(word)) = hay.get(i..i + 8).map(<[u8; 8]>::try_from) {
        let x = u64::from_le_bytes(word) ^ (ONES * u64::from(b'\n'));
        let hit = x.wrapping_sub(ONES) & !x & (ONES << 7);
        if hit != 0 {
            return Some(i + hit.trailing_zeros() as usize / 8);
        }
        i += 8;
    }
    hay[i..].iter().position(|&c| c == b'\n').map(|k| i + k)
}

/// The first `\n` of 64 bytes: one test for the whole block, the exact place only on a hit.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn newline64(block: &[u8; 64]) -> Option<usize> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of every x86_64 target; each load reads 16 of the 64 bytes of
    // `block` and `loadu` needs no alignment.
    unsafe {
        let nl = _mm_set1_epi8(b'\n' as i8);
        let at = |k: usize| -> __m128i {
            _mm_cmpeq_epi8(_mm_loadu_si128(block.as_ptr().add(16 * k).cast()), nl)
        };
        let (a, b, c, d) = (at(0), at(1), at(2), at(3));
        if _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d))) == 0 {
            return None;
        }
        let mask = |x| u64::from(_mm_movemask_epi8(x) as u16);
        let hits = mask(a) | mask(b) << 16 | mask(c) << 32 | mask(d) << 48;
        Some(hits.trailing_zeros() as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns at most `step` bytes per read.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[derive(Debug, PartialEq, Eq)]
    enum Got {
        Ok(String),
        TooLong(u64),
    }

    fn lines(input: &str, limit: usize, step: usize) -> Vec<Got> {
        let trickle = Trickle {
            data: input.as_bytes(),
            step,
        };
        let mut r = LineReader::new(trickle, limit);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().expect("read") {
            out.push(match l {
                Line::Ok(b) => Got::Ok(String::from_utf8_lossy(b).into_owned()),
                Line::TooLong(n) => Got::TooLong(n),
            });
        }
        out
    }

    #[test]
    fn splits_lines_across_small_reads() {
        for step in [1, 3, 1000] {
            let got = lines("abcdefgh\r\n\nxyz", 100, step);
            assert_eq!(
                got,
                vec![
                    Got::Ok("abcdefgh".into()),
                    Got::Ok(String::new()),
                    Got::Ok("xyz".into())
                ],
                "{step}"
            );
        }
    }

    #[test]
    fn long_lines_are_reported_and_skipped_whole() {
        let got = lines("0123456789\nok\n", 5, 4);
        assert_eq!(got, vec![Got::TooLong(10), Got::Ok("ok".into())]);
    }

    #[test]
    fn limit_is_inclusive_and_long_lines_span_many_reads() {
        let long = "x".repeat(3 * CHUNK + 7);
        let input = format!("1234\r\n123456\n{long}\nend\n{long}");
        for (limit, step) in [(5, CHUNK), (5, 100_000), (5, 7)] {
            let got = lines(&input, limit, step);
            assert_eq!(
                got[0],
                Got::Ok("1234".into()),
                "the \\r counts toward the limit"
            );
            assert_eq!(got[1], Got::TooLong(6));
            assert_eq!(got[2], Got::TooLong(long.len() as u64));
            assert_eq!(got[3], Got::Ok("end".into()));
            assert_eq!(
                got[4],
                Got::TooLong(long.len() as u64),
                "a last line without a newline"
            );
            assert_eq!(got.len(), 5);
        }
        assert_eq!(lines("12345", 5, 2), vec![Got::Ok("12345".into())]);
        // Lines longer than the buffer but within the limit grow the buffer.
        let got = lines(&format!("{long}\nz"), long.len(), 65_536);
        assert_eq!(got, vec![Got::Ok(long.clone()), Got::Ok("z".into())]);
    }

    /// A reader that hands out all it is asked for, counting the reads, and fails the reads
    /// numbered in `fail` with `kind`.
    struct Counted<'a> {
        data: &'a [u8],
        reads: usize,
        fail: &'a [usize],
        kind: io::ErrorKind,
    }

    impl Read for Counted<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            if self.fail.contains(&self.reads) {
                return Err(io::Error::new(self.kind, "test"));
            }
            let n = out.len().min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn counted(data: &[u8]) -> Counted<'_> {
        Counted {
            data,
            reads: 0,
            fail: &[],
            kind: io::ErrorKind::Other,
        }
    }

    fn ok(line: io::Result<Option<Line<'_>>>) -> Option<String> {
        match line.expect("read") {
            Some(Line::Ok(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            None => None,
            Some(other) => panic!("{other:?}"),
        }
    }

    /// A line cut by the end of a full buffer is moved to its start (the buffer does not grow),
    /// and the search for its newline goes on exactly where it stopped: a newline that lands
    /// on the last byte of the moved part is found, and the next read fills after it.
    #[test]
    fn a_line_cut_by_a_full_buffer_is_moved_to_its_start() {
        let long = "x".repeat(CHUNK - 1);
        let input = format!("\n{long}\ny\n");
        let mut r = LineReader::new(counted(input.as_bytes()), 2 * CHUNK);
        assert_eq!(ok(r.next_line()), Some(String::new()));
        assert_eq!(ok(r.next_line()), Some(long));
        assert_eq!(ok(r.next_line()), Some("y".into()));
        assert_eq!(ok(r.next_line()), None);
        assert_eq!(r.buf.len(), CHUNK, "moved, not grown");
    }

    /// A line longer than the buffer (within the limit) doubles it: a few reads, not one per
    /// few bytes.
    #[test]
    fn a_line_longer_than_the_buffer_doubles_it() {
        let long = "x".repeat(3 * CHUNK + 7);
        let input = format!("{long}\n");
        let mut r = LineReader::new(counted(input.as_bytes()), 4 * CHUNK);
        assert_eq!(ok(r.next_line()), Some(long));
        assert_eq!(r.inner.reads, 3, "CHUNK, then CHUNK more, then 2 CHUNK");
        assert_eq!(r.buf.len(), 4 * CHUNK);
        assert_eq!(ok(r.next_line()), None);
    }

    /// An interrupted read is retried; any other read error is the caller's, once (the next
    /// call reads on).
    #[test]
    fn interrupted_reads_are_retried_other_errors_returned() {
        let mut r = LineReader::new(
            Counted {
                fail: &[1, 2],
                kind: io::ErrorKind::Interrupted,
                ..counted(b"a\nb")
            },
            10,
        );
        assert_eq!(ok(r.next_line()), Some("a".into()));
        assert_eq!(ok(r.next_line()), Some("b".into()));
        assert_eq!(ok(r.next_line()), None);
        let mut r = LineReader::new(
            Counted {
                fail: &[1],
                kind: io::ErrorKind::InvalidData,
                ..counted(b"a\nb")
            },
            10,
        );
        let err = r.next_line().expect_err("the read error");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(ok(r.next_line()), Some("a".into()));
    }

    #[test]
    fn newline_search() {
        for n in 0..150 {
            let mut hay = vec![b'a'; n];
            assert_eq!(find_newline(&hay), None);
            for at in 0..n {
                hay[at] = b'\n';
                assert_eq!(find_newline(&hay), Some(at), "{n} {at}");
                hay[at] = 0x8a;
            }
        }
    }
}
