//! The fast path of [`super::parse`], stage two: a walk over the bytes of a line that fills
//! [`Fields`] with the same routing ([`super::route`]) as the `serde` visitor, and validates
//! everything else as JSON the way `serde_json` skips it (`IgnoredAny`: string escapes and
//! control characters, number grammar, literals, nesting, nothing after the object but
//! whitespace). Stage one ([`quotes`]) has already found where every string ends and checked
//! their bytes, so the walk reads only the bytes outside strings and jumps over each string
//! with one bit search. It answers `None` for anything it does not handle itself (any error, an
//! escape in a key or in a value it keeps, a number it would have to convert beyond plain
//! digits, deep nesting), and then the `serde` visitor decides, with its error message. So it
//! can only speed up what the visitor answers, never change it; `tests::scan_agrees_with_serde`
//! checks that on mutated documents.
//!
//! The cursor is passed and returned by value so it stays in a register: held in a struct, each
//! step would wait for the store of the one before.

use std::borrow::Cow;
use std::cell::Cell;

use super::quotes::{self, Flags};
use super::route::{Leaf, Obj, ProcLeaf, Route, Which, pack, route_packed};
use super::{Fields, Str, StrList};

mod skip;

/// Nesting of skipped values deeper than this goes to `serde_json` (which skips them without
/// recursion): it bounds the walk's own recursion.
const MAX_DEPTH: usize = 100;

/// `KEEP[n]`: the low `n` bytes of a `u128` (a key's bytes, read with what follows it).
const KEEP: [u128; 17] = {
    let mut keep = [0; 17];
    let mut n = 1;
    while n <= 16 {
        keep[n] = u128::MAX >> (8 * (16 - n));
        n += 1;
    }
    keep
};

/// Bitmap words kept between lines up to this many; a longer line's are freed after it.
const KEEP_WORDS: usize = 1 << 12;

thread_local! {
    /// The quote bitmap, reused from line to line.
    static QUOTES: Cell<Vec<u64>> = const { Cell::new(Vec::new()) };
}

/// `line` into `fields`, or `None` to let the `serde` visitor decide (`fields` may then hold
/// some of the line's values).
pub(super) fn parse_into<'a>(line: &'a [u8], fields: &mut Fields<'a>) -> Option<()> {
    QUOTES.with(|cell| {
        let mut bitmap = cell.take();
        let parsed = walk(line, &mut bitmap, fields);
        cell.set(retained(bitmap));
        parsed
    })
}

/// The bitmap to keep for the next line: this one, or nothing if it grew past [`KEEP_WORDS`]
/// (so one huge line does not hold its memory for the rest of the run).
fn retained(bitmap: Vec<u64>) -> Vec<u64> {
    if bitmap.capacity() > KEEP_WORDS {
        Vec::new()
    } else {
        bitmap
    }
}

#[cfg(test)]
pub(super) fn parse(line: &[u8]) -> Option<Fields<'_>> {
    let mut fields = Fields::default();
    parse_into(line, &mut fields)?;
    Some(fields)
}

fn walk<'a>(line: &'a [u8], bitmap: &mut Vec<u64>, fields: &mut Fields<'a>) -> Option<()> {
    let flags = quotes::quotes(line, bitmap)?;
    let w = Walker {
        b: line,
        quotes: bitmap,
        flags,
    };
    let i = w.ws(0);
    if w.b.get(i) != Some(&b'{') {
        return None;
    }
    let i = w.object(i + 1, Obj::Root, fields)?;
    (w.ws(i) == line.len()).then_some(())
}

/// What [`Walker::first`] and [`Walker::next`] find in an object or array.
#[derive(Clone, Copy)]
enum Next {
    /// A member or element starts here.
    Item(usize),
    /// The object or array ended; the index after its closing bracket.
    End(usize),
}

impl Next {
    /// The index after the closing bracket (the loops over members stop only there).
    #[inline(always)]
    fn end(self) -> Option<usize> {
        match self {
            Next::End(i) => Some(i),
            Next::Item(_) => None,
        }
    }
}

struct Walker<'a, 'q> {
    b: &'a [u8],
    /// Stage one's bitmap of `b`'s unescaped quotes.
    quotes: &'q [u64],
    flags: Flags,
}

impl<'a> Walker<'a, '_> {
    #[inline(always)]
    fn at(&self, i: usize) -> Option<u8> {
        self.b.get(i).copied()
    }

    /// The first byte at or after `i` that is not JSON whitespace (or the end). Compact JSON
    /// has none: one comparison (every byte above the space is not whitespace).
    #[inline(always)]
    fn ws(&self, mut i: usize) -> usize {
        if self.at(i).is_none_or(|c| c > b' ') {
            return i;
        }
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.at(i) {
            i += 1;
        }
        i
    }

    /// The closing quote of the string opened at `open`: the next bit of the bitmap, found in
    /// the 64 bits from the one after `open` (no loop for strings under 64 bytes).
    #[inline(always)]
    fn close(&self, open: usize) -> Option<usize> {
        let i = open + 1;
        let (w, s) = (i / 64, i % 64);
        let (lo, hi) = (*self.quotes.get(w)?, *self.quotes.get(w + 1)?);
        // `hi << (64 - s)` in two steps, so that `s == 0` shifts `hi` out instead of overflowing.
        let after = lo >> s | (hi << 1) << (63 - s);
        if after != 0 {
            return Some(i + after.trailing_zeros() as usize);
        }
        self.close_far(w + 1)
    }

    #[inline(never)]
    fn close_far(&self, mut w: usize) -> Option<usize> {
        loop {
            let word = *self.quotes.get(w)?;
            if word != 0 {
                return Some(w * 64 + word.trailing_zeros() as usize);
            }
            w += 1;
        }
    }

    /// The raw bytes of the string opened at `open`, and the index after its closing quote.
    #[inline(always)]
    fn string(&self, open: usize) -> Option<(&'a [u8], usize)> {
        let close = self.close(open)?;
        Some((self.b.get(open + 1..close)?, close + 1))
    }

    /// The first member or element of an object or array whose opening bracket is just before
    /// `i`, or its end (`close` right away).
    #[inline(always)]
    fn first(&self, i: usize, close: u8) -> Option<Next> {
        let i = self.ws(i);
        Some(if self.at(i)? == close {
            Next::End(i + 1)
        } else {
            Next::Item(i)
        })
    }

    /// What follows a member or element that ended before `i`: the next one (after `,`) or the
    /// end of its object or array (`close`).
    #[inline(always)]
    fn next(&self, i: usize, close: u8) -> Option<Next> {
        let i = self.ws(i);
        match self.at(i)? {
            b',' => Some(Next::Item(self.ws(i + 1))),
            c if c == close => Some(Next::End(i + 1)),
            _ => None,
        }
    }

    /// The index of the value after a key that ended before `i` (past the `:`).
    #[inline(always)]
    fn colon(&self, i: usize) -> Option<usize> {
        let i = self.ws(i);
        (self.at(i)? == b':').then(|| self.ws(i + 1))
    }

    /// An object whose `{` is just before `i`, its fields stored as read in `at`; the index
    /// after its `}`.
    fn object(&self, i: usize, at: Obj, f: &mut Fields<'a>) -> Option<usize> {
        let mut next = self.first(i, b'}')?;
        while let Next::Item(i) = next {
            if self.at(i)? != b'"' {
                return None;
            }
            let (key, after) = self.string(i)?;
            let packed = self.key(i, key)?;
            let i = self.colon(after)?;
            let end = match route_packed(at, key, packed) {
                Route::Ignore => self.skip(i, 0)?,
                Route::Obj(inner) => match self.at(i)? {
                    b'{' => self.object(i + 1, inner, f)?,
                    b'n' => self.literal(i, b"null")?,
                    _ => return None,
                },
                Route::Leaf(leaf) => self.store(i, leaf, f)?,
            };
            next = self.next(end, b'}')?;
        }
        next.end()
    }

    /// A key (opened at `open`) without escapes, UTF-8, and its [`pack`] (from one load of the
    /// line when 16 bytes are there: a key holds no NUL, stage one refused control characters
    /// in strings).
    #[inline(always)]
    fn key(&self, open: usize, key: &[u8]) -> Option<Option<u128>> {
        if self.flags.backslash && key.contains(&b'\\') {
            return None;
        }
        if self.flags.non_ascii {
            std::str::from_utf8(key).ok()?;
        }
        Some(match self.b.get(open + 1..open + 17) {
            Some(word) if key.len() <= 16 => {
                Some(u128::from_le_bytes(word.try_into().ok()?) & KEEP[key.len()])
            }
            _ => pack(key),
        })
    }

    /// A string value (opened at `i`) kept as `str`, without escapes, UTF-8; the index after.
    #[inline(always)]
    fn kept_str(&self, i: usize) -> Option<(&'a str, usize)> {
        let (raw, after) = self.string(i)?;
        if self.flags.backslash && raw.contains(&b'\\') {
            return None;
        }
        Some((self.utf8(raw)?, after))
    }

    /// Bytes of the line as `str`: checked only when the line is not all ASCII.
    #[inline(always)]
    fn utf8(&self, raw: &'a [u8]) -> Option<&'a str> {
        if self.flags.non_ascii {
            std::str::from_utf8(raw).ok()
        } else {
            // SAFETY: stage one saw no byte over 0x7f in the line: ASCII is UTF-8.
            Some(unsafe { std::str::from_utf8_unchecked(raw) })
        }
    }

    /// A string value kept as `str`, or null, at `i`; the index after.
    #[inline(always)]
    fn opt_str(&self, i: usize, slot: &mut Option<Str<'a>>) -> Option<usize> {
        match self.at(i)? {
            b'"' => {
                let (s, after) = self.kept_str(i)?;
                *slot = Some(Cow::Borrowed(s));
                Some(after)
            }
            b'n' => {
                *slot = None;
                self.literal(i, b"null")
            }
            _ => None,
        }
    }

    /// [`Walker::opt_str`] for a value that often holds escapes (`process.command_line`
    /// quotes its arguments): an escaped string is decoded (owned) instead of giving up.
    fn opt_str_escaped(&self, i: usize, slot: &mut Option<Str<'a>>) -> Option<usize> {
        if self.at(i)? != b'"' {
            return self.opt_str(i, slot);
        }
        let (raw, after) = self.string(i)?;
        if self.flags.backslash && raw.contains(&b'\\') {
            *slot = Some(Cow::Owned(
                serde_json::from_slice(self.b.get(i..after)?).ok()?,
            ));
        } else {
            *slot = Some(Cow::Borrowed(self.utf8(raw)?));
        }
        Some(after)
    }

    /// A string, an array of strings and nulls, or null, at `i`; the index after. An array is
    /// checked here and held as its raw text ([`StrList::Plain`]).
    fn str_list(&self, i: usize, slot: &mut Option<StrList<'a>>) -> Option<usize> {
        match self.at(i)? {
            b'n' => {
                *slot = None;
                return self.literal(i, b"null");
            }
            b'"' => {
                let (s, after) = self.kept_str(i)?;
                *slot = Some(StrList::one(Cow::Borrowed(s)));
                return Some(after);
            }
            b'[' => {}
            _ => return None,
        }
        let start = i + 1;
        // The first string, held inline when it is the only one (`event.category` and
        // `event.type` are one-element arrays, read for every line).
        let (mut first, mut count) = (None, 0);
        let mut next = self.first(start, b']')?;
        while let Next::Item(i) = next {
            let end = match self.at(i)? {
                b'"' => {
                    let (s, after) = self.kept_str(i)?;
                    first = first.or(Some(s));
                    count += 1;
                    after
                }
                b'n' => self.literal(i, b"null")?,
                _ => return None,
            };
            next = self.next(end, b']')?;
        }
        let end = next.end()?;
        *slot = Some(match first {
            Some(_) if count > 1 => StrList::Plain(self.utf8(&self.b[start..end - 1])?),
            Some(s) => StrList::one(Cow::Borrowed(s)),
            None => StrList::default(),
        });
        Some(end)
    }

    /// Plain decimal digits (what `serde_json` reads as a `u64`) or null, at `i`; the value and
    /// the index after.
    fn opt_uint(&self, i: usize) -> Option<(Option<u64>, usize)> {
        if self.at(i)? == b'n' {
            return Some((None, self.literal(i, b"null")?));
        }
        let mut end = i;
        while let Some(b'0'..=b'9') = self.at(end) {
            end += 1;
        }
        let digits = &self.b[i..end];
        // Leading zeros, signs, fractions, exponents and long numbers: serde decides.
        if digits.is_empty() || digits.len() > 18 || (digits.len() > 1 && digits[0] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.at(end) {
            return None;
        }
        let n = digits.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0'));
        Some((Some(n), end))
    }

    fn opt_int<T: TryFrom<u64>>(&self, i: usize, slot: &mut Option<T>) -> Option<usize> {
        let (n, after) = self.opt_uint(i)?;
        *slot = match n {
            None => None,
            Some(n) => Some(T::try_from(n).ok()?),
        };
        Some(after)
    }

    /// A numeric id: digits, a decimal string, or null, at `i`; the index after.
    fn opt_id(&self, i: usize, slot: &mut Option<u32>) -> Option<usize> {
        if self.at(i)? == b'"' {
            let (s, after) = self.kept_str(i)?;
            *slot = Some(s.parse().ok()?);
            return Some(after);
        }
        self.opt_int(i, slot)
    }

    /// The value of `leaf` at `i` into `f`; the index after.
    fn store(&self, i: usize, leaf: Leaf, f: &mut Fields<'a>) -> Option<usize> {
        match leaf {
            Leaf::Timestamp => self.opt_str(i, &mut f.timestamp),
            Leaf::HostId => self.opt_str(i, &mut f.host_id),
            Leaf::HostName => self.opt_str(i, &mut f.host_name),
            Leaf::HostOsType => self.opt_str(i, &mut f.host_os_type),
            Leaf::Category => self.str_list(i, &mut f.category),
            Leaf::EventType => self.str_list(i, &mut f.event_type),
            Leaf::Action => self.opt_str(i, &mut f.action),
            Leaf::UserId => self.opt_id(i, &mut f.user_id),
            Leaf::UserName => self.opt_str(i, &mut f.user_name),
            Leaf::GroupId => self.opt_id(i, &mut f.group_id),
            Leaf::DestinationIp => self.opt_str(i, &mut f.destination_ip),
            Leaf::DestinationPort => self.opt_int(i, &mut f.destination_port),
            Leaf::SourceIp => self.opt_str(i, &mut f.source_ip),
            Leaf::SourcePort => self.opt_int(i, &mut f.source_port),
            Leaf::Transport => self.opt_str(i, &mut f.transport),
            Leaf::Proc(which, leaf) => {
                let p = match which {
                    Which::Process => &mut f.process,
                    Which::Parent => &mut f.parent,
                };
                match leaf {
                    ProcLeaf::Pid => self.opt_int(i, &mut p.pid),
                    ProcLeaf::EntityId => self.opt_str(i, &mut p.entity_id),
                    ProcLeaf::Executable => self.opt_str(i, &mut p.executable),
                    ProcLeaf::Name => self.opt_str(i, &mut p.name),
                    ProcLeaf::Args => self.str_list(i, &mut p.args),
                    ProcLeaf::CommandLine => self.opt_str_escaped(i, &mut p.command_line),
                    ProcLeaf::Start => self.opt_str(i, &mut p.start),
                    ProcLeaf::UserId => self.opt_id(i, &mut p.user_id),
                    ProcLeaf::UserName => self.opt_str(i, &mut p.user_name),
                    ProcLeaf::GroupId => self.opt_id(i, &mut p.group_id),
                }
            }
        }
    }

    /// `word` at `i`; the index after it.
    #[inline(always)]
    fn literal(&self, i: usize, word: &[u8]) -> Option<usize> {
        let end = i + word.len();
        (self.b.get(i..end)? == word).then_some(end)
    }

    #[inline(always)]
    fn digits(&self, mut i: usize) -> usize {
        while let Some(b'0'..=b'9') = self.at(i) {
            i += 1;
        }
        i
    }

    #[inline(always)]
    fn need_digits(&self, i: usize) -> Option<usize> {
        let end = self.digits(i);
        (end > i).then_some(end)
    }
}

#[cfg(test)]
mod tests {
    use super::retained;

    /// Bitmaps of lines up to 256 KiB (4,096 words) are reused, larger ones freed.
    #[test]
    fn the_bitmap_is_kept_up_to_4096_words() {
        for words in [1, 100, 4096] {
            let kept = retained(Vec::with_capacity(words));
            assert_eq!(kept.capacity(), words, "a bitmap of {words} words is kept");
        }
        for words in [4097, 100_000] {
            let kept = retained(Vec::with_capacity(words));
            assert_eq!(kept.capacity(), 0, "a bitmap of {words} words is freed");
        }
    }
}
