//! The values the walk ([`super::Walker`]) does not keep: each is validated as `serde_json`
//! validates a value it ignores (`IgnoredAny`: string escapes, number grammar, literals,
//! nesting), and only the index after it is returned.

use super::{MAX_DEPTH, Next, Walker};

impl Walker<'_, '_> {
    /// Skips the value at `i`, validating it as `serde_json` does when it ignores one; the
    /// index after it.
    #[inline(always)]
    pub(super) fn skip(&self, i: usize, depth: usize) -> Option<usize> {
        // Strings first: most skipped values are, and they need no call.
        if self.at(i)? == b'"' {
            return self.skip_str(i);
        }
        self.skip_other(i, depth)
    }

    /// Skips a value that is not a string (`skip` took those).
    fn skip_other(&self, i: usize, depth: usize) -> Option<usize> {
        match self.at(i)? {
            b'{' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                let mut next = self.first(i + 1, b'}')?;
                while let Next::Item(i) = next {
                    if self.at(i)? != b'"' {
                        return None;
                    }
                    let value = self.colon(self.skip_str(i)?)?;
                    next = self.next(self.skip(value, depth + 1)?, b'}')?;
                }
                next.end()
            }
            b'[' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                let mut next = self.first(i + 1, b']')?;
                while let Next::Item(i) = next {
                    next = self.next(self.skip(i, depth + 1)?, b']')?;
                }
                next.end()
            }
            b't' => self.literal(i, b"true"),
            b'f' => self.literal(i, b"false"),
            b'n' => self.literal(i, b"null"),
            b'-' | b'0'..=b'9' => self.skip_number(i),
            _ => None,
        }
    }

    /// A string (opened at `open`) with its escapes checked, its content not (as
    /// `serde_json`'s `ignore_str`: no UTF-8 check; stage one refused control characters); the
    /// index after it.
    #[inline(always)]
    fn skip_str(&self, open: usize) -> Option<usize> {
        let (raw, after) = self.string(open)?;
        if self.flags.backslash && raw.contains(&b'\\') && !escapes_valid(raw) {
            return None;
        }
        Some(after)
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?` at `i`; the index after it.
    fn skip_number(&self, mut i: usize) -> Option<usize> {
        if self.at(i) == Some(b'-') {
            i += 1;
        }
        match self.at(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => i = self.digits(i),
            _ => return None,
        }
        if self.at(i) == Some(b'.') {
            i = self.need_digits(i + 1)?;
        }
        if let Some(b'e' | b'E') = self.at(i) {
            i += 1;
            if let Some(b'+' | b'-') = self.at(i) {
                i += 1;
            }
            i = self.need_digits(i)?;
        }
        Some(i)
    }
}

/// Every backslash in a string's raw bytes starts a valid JSON escape (`\u` takes four hex
/// digits, whatever code point they make, as `serde_json` checks an ignored string).
#[inline(never)]
fn escapes_valid(raw: &[u8]) -> bool {
    let mut i = 0;
    while let Some(at) = raw[i..].iter().position(|&c| c == b'\\') {
        let j = i + at + 1;
        match raw.get(j) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i = j + 1,
            Some(b'u') => match raw.get(j + 1..j + 5) {
                Some(hex) if hex.iter().all(u8::is_ascii_hexdigit) => i = j + 5,
                _ => return false,
            },
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::escapes_valid;

    #[test]
    fn escapes() {
        for (s, ok) in [
            (&br#"plain"#[..], true),
            (br#"a\"b\\c\/d\b\f\n\r\t"#, true),
            (br#"\u00e9\uD800x"#, true),
            (br#"\u00e"#, false),
            (br#"\x"#, false),
            (br#"end\"#, false),
            (br#"\uzzzz"#, false),
        ] {
            assert_eq!(escapes_valid(s), ok, "{}", String::from_utf8_lossy(s));
        }
    }
}
