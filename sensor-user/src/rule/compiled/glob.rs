//! EQL `like` patterns: `*` matches any run of characters (none included), `?` exactly one, and
//! everything else itself. `like` compares exactly; `like~` compares after lower-casing both
//! sides (the pattern once, here; the value per match), as Elasticsearch's case-insensitive
//! wildcard does.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(Box<str>),
    One,
    Many,
}

/// One compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob {
    written: Box<str>,
    pieces: Vec<Piece>,
}

impl Glob {
    /// Compiles `pattern`; `insensitive` lower-cases it first. A backslash is refused (`Err`
    /// with the reason): Elasticsearch reads it as an escape, and no rule here needs one.
    pub fn new(pattern: &str, insensitive: bool) -> Result<Glob, String> {
        if pattern.contains('\\') {
            return Err(format!(
                "the pattern {pattern:?} has a backslash: escapes in like patterns are not supported"
            ));
        }
        let text = if insensitive {
            pattern.to_lowercase()
        } else {
            pattern.to_owned()
        };
        let mut pieces = Vec::new();
        let mut literal = String::new();
        for c in text.chars() {
            let wild = match c {
                '*' => Piece::Many,
                '?' => Piece::One,
                _ => {
                    literal.push(c);
                    continue;
                }
            };
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal).into()));
            }
            if !(wild == Piece::Many && pieces.last() == Some(&Piece::Many)) {
                pieces.push(wild);
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal.into()));
        }
        Ok(Glob {
            written: pattern.into(),
            pieces,
        })
    }

    /// Whether `value` (already lower-cased for `like~`) matches.
    pub fn matches(&self, value: &str) -> bool {
        matches_from(&self.pieces, value)
    }
}

/// Backtracking only at `*`, and only to the latest one: linear in practice, never exponential.
fn matches_from(pieces: &[Piece], value: &str) -> bool {
    let mut p = 0;
    let mut v = value;
    // The latest `*`: the piece after it and the text it has not yet swallowed.
    let mut star: Option<(usize, &str)> = None;
    loop {
        match pieces.get(p) {
            Some(Piece::Many) => {
                p += 1;
                star = Some((p, v));
                continue;
            }
            Some(Piece::One) => {
                if let Some(c) = v.chars().next() {
                    v = &v[c.len_utf8()..];
                    p += 1;
                    continue;
                }
            }
            Some(Piece::Text(t)) => {
                if let Some(rest) = v.strip_prefix(&**t) {
                    v = rest;
                    p += 1;
                    continue;
                }
            }
            None if v.is_empty() => return true,
            None => {}
        }
        // Mismatch: let the latest `*` swallow one more character, or fail.
        let Some((after, swallowed_to)) = star else {
            return false;
        };
        let Some(c) = swallowed_to.chars().next() else {
            return false;
        };
        let next = &swallowed_to[c.len_utf8()..];
        star = Some((after, next));
        p = after;
        v = next;
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(p: &str, v: &str) -> bool {
        Glob::new(p, false).expect("pattern").matches(v)
    }

    #[test]
    fn stars_and_question_marks() {
        assert!(like("/tmp/*", "/tmp/x"));
        assert!(like("/tmp/*", "/tmp/"));
        assert!(!like("/tmp/*", "/tmpx/a"));
        assert!(!like("/tmp/*", "/tmp"));
        assert!(like("*ansible*", "python3 -c ansible"));
        assert!(like("*ansible*", "ansible"));
        assert!(!like("*ansible*", "ANSIBLE"));
        assert!(like("*.lua*", "x.lua5.4"));
        assert!(!like(".js", "a.js"));
        assert!(like("a?c", "abc"));
        assert!(like("a?c", "aéc"));
        assert!(!like("a?c", "ac"));
        assert!(like("*a*b*", "xxaxxbxx"));
        assert!(!like("*a*b", "xxaxxbxx"));
        assert!(like("**", ""));
        assert!(like("", ""));
        assert!(!like("", "x"));
        assert!(like("*aab", "aaaab"));
    }

    #[test]
    fn insensitive_lowercases_the_pattern() {
        let g = Glob::new("*.SH", true).expect("pattern");
        assert!(g.matches("run.sh"));
        assert!(!g.matches("run.SH"), "values are lower-cased by the caller");
        assert!(Glob::new("a\\*", false).is_err());
    }

    /// Against a plain recursive definition, over every pattern and value of a small alphabet.
    #[test]
    fn agrees_with_the_recursive_definition() {
        fn reference(p: &[char], v: &[char]) -> bool {
            match p.split_first() {
                None => v.is_empty(),
                Some(('*', rest)) => (0..=v.len()).any(|i| reference(rest, &v[i..])),
                Some(('?', rest)) => !v.is_empty() && reference(rest, &v[1..]),
                Some((c, rest)) => v.first() == Some(c) && reference(rest, &v[1..]),
            }
        }
        fn all(alphabet: &[char], max: usize) -> Vec<String> {
            let mut out = vec![String::new()];
            let mut frontier = vec![String::new()];
            for _ in 0..max {
                let mut next = Vec::new();
                for s in &frontier {
                    for c in alphabet {
                        next.push(format!("{s}{c}"));
                    }
                }
                out.extend(next.iter().cloned());
                frontier = next;
            }
            out
        }
        let patterns = all(&['a', 'b', '*', '?'], 4);
        let values = all(&['a', 'b'], 5);
        for p in &patterns {
            let glob = Glob::new(p, false).expect("pattern");
            let pc: Vec<char> = p.chars().collect();
            for v in &values {
                let vc: Vec<char> = v.chars().collect();
                assert_eq!(glob.matches(v), reference(&pc, &vc), "{p:?} vs {v:?}");
            }
        }
    }
}
