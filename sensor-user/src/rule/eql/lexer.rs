//! EQL text to tokens: identifiers and dotted field names, strings (escapes, `"""raw"""`),
//! numbers with an optional unit suffix (`1s`), operators, and `//` and `/* */` comments. Each
//! token keeps the line and column where it starts, for `file:line:col` errors.

use super::{EqlError, Pos};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// A keyword, function name or field name (`process.parent.executable`, `@timestamp`,
    /// or a backquoted `` `odd name` ``).
    Ident(String),
    Str(String),
    /// Digits with any letters that follow (`1`, `1s`, `500ms`); parsed in context.
    Number(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    /// `==`
    EqEq,
    /// `!=`
    NotEq,
    /// `=` (only in `maxspan=`)
    Assign,
    /// `~` (only directly after `like`)
    Tilde,
    /// `<`, `<=`, `>`, `>=`, `:`, `+`, `-`, `*`, `/`, `%`, `|`: EQL has them; the subset refuses them.
    Unsupported(&'static str),
    Eof,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub pos: Pos,
    /// Byte offset just past the token (for adjacency: `like~` has no space).
    pub end: usize,
    pub start: usize,
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    at: usize,
    line: u32,
    col: u32,
}

/// All tokens of `src`, ending with [`Tok::Eof`].
pub fn tokens(src: &str) -> Result<Vec<Token>, EqlError> {
    let mut lx = Lexer {
        src,
        bytes: src.as_bytes(),
        at: 0,
        line: 1,
        col: 1,
    };
    let mut out = Vec::new();
    loop {
        lx.skip_blank()?;
        let pos = lx.pos();
        let start = lx.at;
        let Some(&b) = lx.bytes.get(lx.at) else {
            out.push(Token {
                tok: Tok::Eof,
                pos,
                end: start,
                start,
            });
            return Ok(out);
        };
        let tok = match b {
            b'(' => lx.one(Tok::LParen),
            b')' => lx.one(Tok::RParen),
            b'[' => lx.one(Tok::LBracket),
            b']' => lx.one(Tok::RBracket),
            b',' => lx.one(Tok::Comma),
            b'~' => lx.one(Tok::Tilde),
            b'=' if lx.peek(1) == Some(b'=') => lx.two(Tok::EqEq),
            b'=' => lx.one(Tok::Assign),
            b'!' if lx.peek(1) == Some(b'=') => lx.two(Tok::NotEq),
            b'<' | b'>' if lx.peek(1) == Some(b'=') => {
                lx.two(Tok::Unsupported(if b == b'<' { "<=" } else { ">=" }))
            }
            b'<' => lx.one(Tok::Unsupported("<")),
            b'>' => lx.one(Tok::Unsupported(">")),
            b':' => lx.one(Tok::Unsupported(":")),
            b'+' => lx.one(Tok::Unsupported("+")),
            b'-' => lx.one(Tok::Unsupported("-")),
            b'*' => lx.one(Tok::Unsupported("*")),
            b'/' => lx.one(Tok::Unsupported("/")),
            b'%' => lx.one(Tok::Unsupported("%")),
            b'|' => lx.one(Tok::Unsupported("|")),
            b'"' => lx.string(pos)?,
            b'\'' => {
                return Err(EqlError::new(
                    pos,
                    "single-quoted strings are deprecated in EQL; use double quotes",
                ));
            }
            b'?' => {
                return Err(EqlError::new(
                    pos,
                    "raw strings (?\"...\") are not supported; use \"\"\"...\"\"\" or escapes",
                ));
            }
            b'`' => lx.backquoted(pos)?,
            b'0'..=b'9' => lx.word(Tok::Number),
            b if b.is_ascii_alphabetic() || b == b'_' || b == b'@' => lx.word(Tok::Ident),
            _ => {
                let c = lx.src[lx.at..].chars().next().unwrap_or('?');
                return Err(EqlError::new(pos, format!("unexpected character {c:?}")));
            }
        };
        out.push(Token {
            tok,
            pos,
            end: lx.at,
            start,
        });
    }
}

impl Lexer<'_> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.at + ahead).copied()
    }

    /// Moves past one character (a whole UTF-8 sequence), keeping line and column.
    fn bump(&mut self) -> Option<char> {
        let c = self.src[self.at..].chars().next()?;
        self.at += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn one(&mut self, tok: Tok) -> Tok {
        self.bump();
        tok
    }

    fn two(&mut self, tok: Tok) -> Tok {
        self.bump();
        self.bump();
        tok
    }

    fn skip_blank(&mut self) -> Result<(), EqlError> {
        loop {
            match (self.peek(0), self.peek(1)) {
                (Some(b' ' | b'\t' | b'\r' | b'\n'), _) => {
                    self.bump();
                }
                (Some(b'/'), Some(b'/')) => {
                    while self.peek(0).is_some_and(|b| b != b'\n') {
                        self.bump();
                    }
                }
                (Some(b'/'), Some(b'*')) => {
                    let pos = self.pos();
                    self.bump();
                    self.bump();
                    loop {
                        match (self.peek(0), self.peek(1)) {
                            (Some(b'*'), Some(b'/')) => {
                                self.bump();
                                self.bump();
                                break;
                            }
                            (Some(_), _) => {
                                self.bump();
                            }
                            (None, _) => {
                                return Err(EqlError::new(pos, "unterminated /* comment"));
                            }
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn word(&mut self, make: fn(String) -> Tok) -> Tok {
        let start = self.at;
        while self
            .peek(0)
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'@' | b'.'))
        {
            self.bump();
        }
        make(self.src[start..self.at].to_owned())
    }

    fn backquoted(&mut self, pos: Pos) -> Result<Tok, EqlError> {
        self.bump();
        let start = self.at;
        while let Some(b) = self.peek(0) {
            if b == b'`' {
                let name = self.src[start..self.at].to_owned();
                self.bump();
                return Ok(Tok::Ident(name));
            }
            self.bump();
        }
        Err(EqlError::new(pos, "unterminated `field name`"))
    }

    fn string(&mut self, pos: Pos) -> Result<Tok, EqlError> {
        if self.src[self.at..].starts_with("\"\"\"") {
            for _ in 0..3 {
                self.bump();
            }
            let start = self.at;
            while self.at < self.bytes.len() {
                if self.src[self.at..].starts_with("\"\"\"") {
                    let text = self.src[start..self.at].to_owned();
                    for _ in 0..3 {
                        self.bump();
                    }
                    return Ok(Tok::Str(text));
                }
                self.bump();
            }
            return Err(EqlError::new(pos, "unterminated \"\"\" string"));
        }
        self.bump();
        let mut text = String::new();
        loop {
            let here = self.pos();
            match self.bump() {
                None | Some('\n') => {
                    return Err(EqlError::new(
                        pos,
                        "unterminated string (missing closing \")",
                    ));
                }
                Some('"') => return Ok(Tok::Str(text)),
                Some('\\') => match self.bump() {
                    Some('"') => text.push('"'),
                    Some('\\') => text.push('\\'),
                    Some('n') => text.push('\n'),
                    Some('r') => text.push('\r'),
                    Some('t') => text.push('\t'),
                    Some('u') => text.push(self.unicode_escape(here)?),
                    other => {
                        return Err(EqlError::new(
                            here,
                            format!(
                                "unknown escape \\{}; EQL strings know \\\" \\\\ \\n \\r \\t \\u{{hex}}",
                                other.map(String::from).unwrap_or_default()
                            ),
                        ));
                    }
                },
                Some(c) => text.push(c),
            }
        }
    }

    /// `\u{1F600}`: after the `u`.
    fn unicode_escape(&mut self, pos: Pos) -> Result<char, EqlError> {
        let bad = || EqlError::new(pos, "a \\u escape is \\u{HEX} with 2 to 8 hex digits");
        if self.bump() != Some('{') {
            return Err(bad());
        }
        let start = self.at;
        while self.peek(0).is_some_and(|b| b.is_ascii_hexdigit()) {
            self.bump();
        }
        let digits = &self.src[start..self.at];
        if self.bump() != Some('}') || !(2..=8).contains(&digits.len()) {
            return Err(bad());
        }
        u32::from_str_radix(digits, 16)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(bad)
    }
}
