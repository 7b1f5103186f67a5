//! The fast path of [`super::parse`]: one pass over the bytes of a line that fills [`Fields`]
//! with the same routing ([`super::route`]) as the `serde` visitor, and validates everything
//! else as JSON the way `serde_json` skips it (`IgnoredAny`: string escapes and control
//! characters, number grammar, literals, nesting, nothing after the object but whitespace).
//! It answers `None` for anything it does not handle itself (any error, an escape in a key or
//! in a value it keeps, a number it would have to convert beyond plain digits, deep nesting),
//! and then the `serde` visitor decides, with its error message. So it can only speed up
//! what the visitor answers, never change it; `tests::scan_agrees_with_serde` checks that on
//! mutated documents.

use std::borrow::Cow;

use super::{Fields, Leaf, Obj, ProcLeaf, Route, Str, StrList, Which, pack, route_packed};

/// Deeper nesting than this goes to `serde_json` (whose limit is 128).
const MAX_DEPTH: usize = 100;

/// `line` into `fields`, or `None` to let the `serde` visitor decide (`fields` may then hold
/// some of the line's values).
pub(super) fn parse_into<'a>(line: &'a [u8], fields: &mut Fields<'a>) -> Option<()> {
    let mut s = Scanner { b: line, i: 0 };
    s.ws();
    s.object(Obj::Root, fields)?;
    s.ws();
    (s.i == s.b.len()).then_some(())
}

#[cfg(test)]
pub(super) fn parse(line: &[u8]) -> Option<Fields<'_>> {
    let mut fields = Fields::default();
    parse_into(line, &mut fields)?;
    Some(fields)
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// An object (the `{` is next) read in `at`, its fields stored.
    fn object(&mut self, at: Obj, f: &mut Fields<'a>) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.ws();
            let (key, packed) = self.key()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            match route_packed(at, key, packed) {
                Route::Ignore => self.skip(0)?,
                Route::Obj(inner) => {
                    if self.peek()? == b'n' {
                        self.literal(b"null")?;
                    } else {
                        self.object(inner, f)?;
                    }
                }
                Route::Leaf(leaf) => self.store(leaf, f)?,
            }
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string without escapes (the `"` is next): its raw bytes, and whether any is not ASCII.
    #[inline]
    fn plain_str(&mut self) -> Option<(&'a [u8], bool)> {
        self.eat(b'"')?;
        let start = self.i;
        let (end, non_ascii) = special_fast(self.b, start);
        if *self.b.get(end)? != b'"' {
            return None;
        }
        self.i = end + 1;
        Some((&self.b[start..end], non_ascii))
    }

    /// A key: a string without escapes, UTF-8 (checked only when not ASCII), and its [`pack`]
    /// (from one load of the line when 16 bytes are there: a key holds no NUL, it cannot hold
    /// a control character).
    #[inline]
    fn key(&mut self) -> Option<(&'a [u8], Option<u128>)> {
        let start = self.i + 1;
        let (key, non_ascii) = self.plain_str()?;
        if non_ascii {
            std::str::from_utf8(key).ok()?;
        }
        let packed = match self.b.get(start..start + 16) {
            Some(word) if key.len() <= 16 => {
                let word = u128::from_le_bytes(word.try_into().ok()?);
                // The empty key keeps no byte (a shift by 128 would overflow).
                let keep = u128::MAX.checked_shr(8 * (16 - key.len() as u32));
                Some(word & keep.unwrap_or(0))
            }
            _ => pack(key),
        };
        Some((key, packed))
    }

    /// A string without escapes as `str`.
    #[inline(always)]
    fn plain_utf8(&mut self) -> Option<&'a str> {
        match self.plain_str()? {
            // SAFETY: `special` saw every byte of `raw` and none is over 0x7f: ASCII is UTF-8.
            (raw, false) => Some(unsafe { std::str::from_utf8_unchecked(raw) }),
            (raw, true) => std::str::from_utf8(raw).ok(),
        }
    }

    /// A string value kept as `str`, or null.
    #[inline(always)]
    fn opt_str(&mut self) -> Option<Option<Str<'a>>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        Some(Some(Cow::Borrowed(self.plain_utf8()?)))
    }

    /// A string, an array of strings and nulls, or null.
    fn str_list(&mut self) -> Option<Option<StrList<'a>>> {
        match self.peek()? {
            b'n' => {
                self.literal(b"null")?;
                Some(None)
            }
            b'"' => {
                let mut list = StrList::default();
                list.push(self.opt_str()??);
                Some(Some(list))
            }
            b'[' => {
                self.i += 1;
                let mut list = StrList::default();
                self.ws();
                if self.eat(b']').is_some() {
                    return Some(Some(list));
                }
                loop {
                    self.ws();
                    if let Some(s) = self.opt_str()? {
                        list.push(s);
                    }
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(Some(list));
                        }
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }

    /// Plain decimal digits (what `serde_json` reads as a `u64`), or null.
    fn opt_uint(&mut self) -> Option<Option<u64>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        let digits = &self.b[start..self.i];
        // Leading zeros, signs, fractions, exponents and long numbers: serde decides.
        if digits.is_empty() || digits.len() > 18 || (digits.len() > 1 && digits[0] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.peek() {
            return None;
        }
        Some(Some(
            digits.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')),
        ))
    }

    fn opt_int<T: TryFrom<u64>>(&mut self) -> Option<Option<T>> {
        match self.opt_uint()? {
            None => Some(None),
            Some(n) => Some(Some(T::try_from(n).ok()?)),
        }
    }

    /// A numeric id: digits, a decimal string, or null.
    fn opt_id(&mut self) -> Option<Option<u32>> {
        if self.peek()? == b'"' {
            return Some(Some(self.plain_utf8()?.parse().ok()?));
        }
        self.opt_int()
    }

    fn store(&mut self, leaf: Leaf, f: &mut Fields<'a>) -> Option<()> {
        match leaf {
            Leaf::Timestamp => f.timestamp = self.opt_str()?,
            Leaf::HostId => f.host_id = self.opt_str()?,
            Leaf::HostName => f.host_name = self.opt_str()?,
            Leaf::HostOsType => f.host_os_type = self.opt_str()?,
            Leaf::Category => f.category = self.str_list()?,
            Leaf::EventType => f.event_type = self.str_list()?,
            Leaf::Action => f.action = self.opt_str()?,
            Leaf::UserId => f.user_id = self.opt_id()?,
            Leaf::UserName => f.user_name = self.opt_str()?,
            Leaf::GroupId => f.group_id = self.opt_id()?,
            Leaf::DestinationIp => f.destination_ip = self.opt_str()?,
            Leaf::DestinationPort => f.destination_port = self.opt_int()?,
            Leaf::SourceIp => f.source_ip = self.opt_str()?,
            Leaf::SourcePort => f.source_port = self.opt_int()?,
            Leaf::Transport => f.transport = self.opt_str()?,
            Leaf::Proc(which, leaf) => {
                let p = match which {
                    Which::Process => &mut f.process,
                    Which::Parent => &mut f.parent,
                };
                match leaf {
                    ProcLeaf::Pid => p.pid = self.opt_int()?,
                    ProcLeaf::EntityId => p.entity_id = self.opt_str()?,
                    ProcLeaf::Executable => p.executable = self.opt_str()?,
                    ProcLeaf::Name => p.name = self.opt_str()?,
                    ProcLeaf::Args => p.args = self.str_list()?,
                    ProcLeaf::Start => p.start = self.opt_str()?,
                    ProcLeaf::UserId => p.user_id = self.opt_id()?,
                    ProcLeaf::UserName => p.user_name = self.opt_str()?,
                    ProcLeaf::GroupId => p.group_id = self.opt_id()?,
                }
            }
        }
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// Skips any JSON value, validating it as `serde_json` does when it ignores one.
    fn skip(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.skip_str(),
            b'{' => {
                self.i += 1;
                self.ws();
                if self.eat(b'}').is_some() {
                    return Some(());
                }
                loop {
                    self.ws();
                    self.skip_str()?;
                    self.ws();
                    self.eat(b':')?;
                    self.ws();
                    self.skip(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.i += 1;
                self.ws();
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.ws();
                    self.skip(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.skip_number(),
            _ => None,
        }
    }

    /// A string (the `"` is next) with escapes checked, its content not (as `serde_json`'s
    /// `ignore_str`: no UTF-8 check).
    fn skip_str(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            self.i = special_fast(self.b, self.i).0;
            match *self.b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => {
                    self.i += 1;
                    match *self.b.get(self.i)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                        b'u' => {
                            let hex = self.b.get(self.i + 1..self.i + 5)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.i += 5;
                        }
                        _ => return None,
                    }
                }
                0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn skip_number(&mut self) -> Option<()> {
        let _ = self.eat(b'-');
        match self.peek()? {
            b'0' => {
                self.i += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return None;
                }
            }
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b'.').is_some() {
            self.need_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            self.need_digits()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }

    fn need_digits(&mut self) -> Option<()> {
        let start = self.i;
        self.digits();
        (self.i > start).then_some(())
    }
}

/// [`special`], with the first sixteen bytes (enough for most strings of a document) inline.
#[inline(always)]
fn special_fast(b: &[u8], i: usize) -> (usize, bool) {
    #[cfg(target_arch = "x86_64")]
    if let Some(Ok(chunk)) = b.get(i..i + 16).map(<&[u8; 16]>::try_from) {
        let (hit, non_ascii) = special16(chunk);
        if hit != 0 {
            let k = hit.trailing_zeros();
            return (i + k as usize, non_ascii & ((1 << k) - 1) != 0);
        }
    }
    special(b, i)
}

/// The index of the first `"`, `\\` or control character at or after `i` (or `b.len()`), and
/// whether any byte before it is not ASCII. Eight bytes at a time (`serde_json` does the same):
/// in each word the lowest flagged byte is exact, borrows only run upward.
#[inline(never)]
fn special(b: &[u8], mut i: usize) -> (usize, bool) {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    let mut seen = 0u64;
    // Sixteen bytes at a time where SSE2 is there (always on x86_64); eight for the rest.
    #[cfg(target_arch = "x86_64")]
    {
        let mut high = 0;
        while let Some(Ok(chunk)) = b.get(i..i + 16).map(<&[u8; 16]>::try_from) {
            let (hit, non_ascii) = special16(chunk);
            if hit != 0 {
                let k = hit.trailing_zeros();
                high |= non_ascii & ((1 << k) - 1);
                return (i + k as usize, high != 0);
            }
            high |= non_ascii;
            i += 16;
        }
        if high != 0 {
            seen = HIGH;
        }
    }
    while let Some(Ok(word)) = b.get(i..i + 8).map(<[u8; 8]>::try_from) {
        let x = u64::from_le_bytes(word);
        let ctrl = x.wrapping_sub(ONES * 0x20) & !x;
        let q = x ^ (ONES * u64::from(b'"'));
        let quote = q.wrapping_sub(ONES) & !q;
        let s = x ^ (ONES * u64::from(b'\\'));
        let slash = s.wrapping_sub(ONES) & !s;
        let hit = (ctrl | quote | slash) & HIGH;
        if hit != 0 {
            let k = hit.trailing_zeros() / 8;
            if k > 0 {
                seen |= x & (u64::MAX >> (64 - 8 * k));
            }
            return (i + k as usize, seen & HIGH != 0);
        }
        seen |= x;
        i += 8;
    }
    let mut non_ascii = seen & HIGH != 0;
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        non_ascii |= c >= 0x80;
        i += 1;
    }
    (i, non_ascii)
}

/// Of 16 bytes: a bit per `"`, `\\` or control character, and a bit per byte over 0x7f.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn special16(chunk: &[u8; 16]) -> (u32, u32) {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of every x86_64 target; `chunk` is 16 readable bytes and `loadu`
    // needs no alignment.
    unsafe {
        let x = _mm_loadu_si128(chunk.as_ptr().cast());
        let quote = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8));
        let slash = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8));
        // x <= 0x1f exactly when max(x, 0x1f) == 0x1f (unsigned).
        let ctrl = _mm_cmpeq_epi8(_mm_max_epu8(x, _mm_set1_epi8(0x1f)), _mm_set1_epi8(0x1f));
        let hit = _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, slash), ctrl));
        (hit as u32, _mm_movemask_epi8(x) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::special;

    #[test]
    fn special_finds_the_first_and_sees_non_ascii() {
        for (s, at, non_ascii) in [
            (&b"abc\"def"[..], 3, false),
            (b"", 0, false),
            (b"0123456789abcdef\\", 16, false),
            (b"01234567\x1f", 8, false),
            (b"0123\xc3\xa9567\"", 9, true),
            (b"012345678901\xff\"\xff", 13, true),
            (b"0123456\"\xff", 7, false),
            (b"0123456\xff89abcdef\"", 16, true),
            (b"0123456789abcde\x80", 16, true),
            (b"\x7f\x20~!#$%&'()*+,-./", 17, false),
        ] {
            assert_eq!(special(s, 0), (at, non_ascii), "{s:?}");
        }
    }
}
