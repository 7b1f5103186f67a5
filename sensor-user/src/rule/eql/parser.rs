//! Tokens to a [`Sequence`], by recursive descent: `or` binds loosest, then `and`, then `not`,
//! then one predicate or a parenthesised condition.

use super::lexer::{Tok, Token, tokens};
use super::{EqlError, Expr, Field, Literal, Pos, Sequence, Stage};

/// What the subset supports, said when something else is found.
const SUPPORTED: &str = "the supported EQL is `sequence by <field> with maxspan=<duration>` and two \
`[<category> where <condition>] by <field>` stages, with and, or, not, parentheses, ==, !=, in, \
not in, like, like~ and cidrmatch";

/// Parses a whole query; refuses anything outside the subset.
pub fn parse(src: &str) -> Result<Sequence, EqlError> {
    let mut p = Parser {
        toks: tokens(src)?,
        at: 0,
    };
    let seq = p.sequence()?;
    p.expect_eof()?;
    Ok(seq)
}

struct Parser {
    toks: Vec<Token>,
    at: usize,
}

impl Parser {
    /// The current token; `at` never passes the final `Eof` (see `next`).
    fn peek(&self) -> &Token {
        &self.toks[self.at]
    }

    /// Takes the current token and moves on, except past the final `Eof`, which every later
    /// call sees again.
    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.at + 1 < self.toks.len() {
            self.at += 1;
        }
        t
    }

    fn is_keyword(&self, word: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(w) if w == word)
    }

    fn eat_keyword(&mut self, word: &str) -> bool {
        let found = self.is_keyword(word);
        if found {
            self.next();
        }
        found
    }

    fn expect_keyword(&mut self, word: &str, context: &str) -> Result<Pos, EqlError> {
        let t = self.next();
        match &t.tok {
            Tok::Ident(w) if w == word => Ok(t.pos),
            _ => Err(self.unexpected(&t, &format!("`{word}` {context}"))),
        }
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<Token, EqlError> {
        let t = self.next();
        if t.tok == tok {
            Ok(t)
        } else {
            Err(self.unexpected(&t, what))
        }
    }

    fn unexpected(&self, t: &Token, wanted: &str) -> EqlError {
        let found = match &t.tok {
            Tok::Ident(w) => format!("`{w}`"),
            Tok::Str(s) => format!("the string {s:?}"),
            Tok::Number(n) => format!("`{n}`"),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::LBracket => "`[`".into(),
            Tok::RBracket => "`]`".into(),
            Tok::Comma => "`,`".into(),
            Tok::EqEq => "`==`".into(),
            Tok::NotEq => "`!=`".into(),
            Tok::Assign => "`=`".into(),
            Tok::Tilde => "`~`".into(),
            Tok::Unsupported(op) => {
                return EqlError::new(
                    t.pos,
                    format!("the operator `{op}` is not supported: {SUPPORTED}"),
                );
            }
            Tok::Eof => "the end of the query".into(),
        };
        EqlError::new(t.pos, format!("expected {wanted}, found {found}"))
    }

    fn expect_eof(&mut self) -> Result<(), EqlError> {
        let t = self.next();
        match t.tok {
            Tok::Eof => Ok(()),
            Tok::LBracket => Err(EqlError::new(
                t.pos,
                format!("a third stage is not supported: {SUPPORTED}"),
            )),
            Tok::Unsupported("|") => Err(EqlError::new(
                t.pos,
                format!("pipes (`| head`, `| tail`, ...) are not supported: {SUPPORTED}"),
            )),
            _ => Err(self.unexpected(&t, "the end of the query")),
        }
    }

    fn field(&mut self, what: &str) -> Result<Field, EqlError> {
        let t = self.next();
        match t.tok {
            Tok::Ident(name) if !is_reserved(&name) => Ok(Field { name, pos: t.pos }),
            _ => Err(self.unexpected(&t, what)),
        }
    }

    fn sequence(&mut self) -> Result<Sequence, EqlError> {
        let first = self.peek().clone();
        if !self.eat_keyword("sequence") {
            return Err(match &first.tok {
                Tok::Ident(w) if w.eq_ignore_ascii_case("sequence") => {
                    EqlError::new(first.pos, "write `sequence` in lower case")
                }
                Tok::Ident(_) => EqlError::new(
                    first.pos,
                    format!("only sequence queries are supported (`sequence by ...`): {SUPPORTED}"),
                ),
                _ => self.unexpected(&first, "`sequence`"),
            });
        }
        let mut by = None;
        let mut maxspan = None;
        loop {
            if self.eat_keyword("by") {
                if by.is_some() {
                    return Err(EqlError::new(self.peek().pos, "`by` given twice"));
                }
                by = Some(self.field("the sequence's join field after `by`")?);
                if self.peek().tok == Tok::Comma {
                    return Err(EqlError::new(
                        self.peek().pos,
                        format!("one join field is supported: {SUPPORTED}"),
                    ));
                }
            } else if self.eat_keyword("with") {
                if maxspan.is_some() {
                    return Err(EqlError::new(self.peek().pos, "`with` given twice"));
                }
                self.expect_keyword("maxspan", "after `with` (the supported option)")?;
                self.expect(Tok::Assign, "`=` after `maxspan`")?;
                maxspan = Some(self.duration()?);
            } else {
                break;
            }
        }
        let head = self.peek().pos;
        let by = by.ok_or_else(|| {
            EqlError::new(
                head,
                format!("the sequence needs `by <field>`: {SUPPORTED}"),
            )
        })?;
        let maxspan_ns = maxspan.ok_or_else(|| {
            EqlError::new(
                head,
                format!("the sequence needs `with maxspan=<duration>`: {SUPPORTED}"),
            )
        })?;
        let mut stages = Vec::new();
        while self.peek().tok == Tok::LBracket && stages.len() < 2 {
            stages.push(self.stage()?);
        }
        if stages.len() < 2 {
            let t = self.peek().clone();
            return Err(self.unexpected(&t, "`[` starting a stage (a sequence has two)"));
        }
        Ok(Sequence {
            by,
            maxspan_ns,
            stages,
        })
    }

    /// `1s`, `500ms`, `2m`, `1h`, `1d`.
    fn duration(&mut self) -> Result<i64, EqlError> {
        let t = self.next();
        let Tok::Number(text) = &t.tok else {
            return Err(self.unexpected(&t, "a duration such as `1s` or `500ms`"));
        };
        let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let unit = &text[digits.len()..];
        let per_unit: i64 = match unit {
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            _ => {
                return Err(EqlError::new(
                    t.pos,
                    format!("`{text}` is not a duration: write a number with ms, s, m, h or d"),
                ));
            }
        };
        digits
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(per_unit))
            .filter(|&ns| ns > 0)
            .ok_or_else(|| EqlError::new(t.pos, format!("`{text}` is not a positive duration")))
    }

    fn stage(&mut self) -> Result<Stage, EqlError> {
        self.expect(Tok::LBracket, "`[`")?;
        let category = self.field("an event category (`process`, `network`, ...)")?;
        self.expect_keyword("where", "after the event category")?;
        let condition = self.or()?;
        self.expect(Tok::RBracket, "`]` closing the stage, or `and`/`or`")?;
        self.expect_keyword("by", "after the stage (its join field)")?;
        let by = self.field("the stage's join field after `by`")?;
        if self.peek().tok == Tok::Comma {
            return Err(EqlError::new(
                self.peek().pos,
                format!("one join field per stage is supported: {SUPPORTED}"),
            ));
        }
        Ok(Stage {
            category,
            condition,
            by,
        })
    }

    fn or(&mut self) -> Result<Expr, EqlError> {
        let mut terms = vec![self.and()?];
        while self.eat_keyword("or") {
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 {
            terms.pop().expect("one term")
        } else {
            Expr::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Expr, EqlError> {
        let mut terms = vec![self.not()?];
        while self.eat_keyword("and") {
            terms.push(self.not()?);
        }
        Ok(if terms.len() == 1 {
            terms.pop().expect("one term")
        } else {
            Expr::And(terms)
        })
    }

    fn not(&mut self) -> Result<Expr, EqlError> {
        if self.eat_keyword("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Expr, EqlError> {
        if self.peek().tok == Tok::LParen {
            self.next();
            let inner = self.or()?;
            self.expect(Tok::RParen, "`)` or `and`/`or`")?;
            return Ok(inner);
        }
        let t = self.next();
        let name = match &t.tok {
            Tok::Ident(name) if !is_reserved(name) => name.clone(),
            Tok::Ident(w) if matches!(w.as_str(), "true" | "false") => {
                return Err(EqlError::new(
                    t.pos,
                    format!("a bare `{w}` condition is not supported: {SUPPORTED}"),
                ));
            }
            _ => return Err(self.unexpected(&t, "a field name, `not`, `(` or cidrmatch(...)")),
        };
        if self.peek().tok == Tok::LParen {
            return self.function(name, t.pos);
        }
        let field = Field { name, pos: t.pos };
        let op = self.next();
        match &op.tok {
            Tok::EqEq | Tok::NotEq => Ok(Expr::Compare {
                field,
                value: self.literal()?,
                negated: op.tok == Tok::NotEq,
            }),
            Tok::Ident(w) if w == "in" => self.in_list(field, false),
            Tok::Ident(w) if w == "not" => {
                self.expect_keyword("in", "after `not` (`field not in (...)`)")?;
                self.in_list(field, true)
            }
            Tok::Ident(w) if w == "like" => {
                let insensitive = self.peek().tok == Tok::Tilde && self.peek().start == op.end;
                if insensitive {
                    self.next();
                } else if self.peek().tok == Tok::Tilde {
                    return Err(EqlError::new(
                        self.peek().pos,
                        "write `like~` without a space",
                    ));
                }
                Ok(Expr::Like {
                    field,
                    patterns: self.strings("a pattern string")?,
                    insensitive,
                })
            }
            Tok::Ident(w) if matches!(w.as_str(), "in~" | "regex" | "regex~" | "seq") => Err(
                EqlError::new(op.pos, format!("`{w}` is not supported: {SUPPORTED}")),
            ),
            _ => Err(self.unexpected(&op, "==, !=, in, not in, like or like~ after the field")),
        }
    }

    /// After `in`: `(literal, ...)`.
    fn in_list(&mut self, field: Field, negated: bool) -> Result<Expr, EqlError> {
        if self.peek().tok == Tok::Tilde {
            return Err(EqlError::new(
                self.peek().pos,
                format!("`in~` is not supported: {SUPPORTED}"),
            ));
        }
        self.expect(Tok::LParen, "`(` after `in`")?;
        let mut values = vec![self.literal()?];
        while self.peek().tok == Tok::Comma {
            self.next();
            values.push(self.literal()?);
        }
        self.expect(Tok::RParen, "`,` or `)` in the `in` list")?;
        Ok(Expr::In {
            field,
            values,
            negated,
        })
    }

    /// One string, or `(string, ...)`.
    fn strings(&mut self, what: &str) -> Result<Vec<String>, EqlError> {
        let parenthesised = self.peek().tok == Tok::LParen;
        if parenthesised {
            self.next();
        }
        let mut out = vec![self.string(what)?];
        while parenthesised && self.peek().tok == Tok::Comma {
            self.next();
            out.push(self.string(what)?);
        }
        if parenthesised {
            self.expect(Tok::RParen, "`,` or `)` in the list")?;
        }
        Ok(out)
    }

    fn string(&mut self, what: &str) -> Result<String, EqlError> {
        let t = self.next();
        match t.tok {
            Tok::Str(s) => Ok(s),
            _ => Err(self.unexpected(&t, what)),
        }
    }

    fn literal(&mut self) -> Result<Literal, EqlError> {
        let t = self.next();
        match &t.tok {
            Tok::Str(s) => Ok(Literal::Str(s.clone())),
            Tok::Ident(w) if w == "null" => Ok(Literal::Null),
            Tok::Ident(w) if w == "true" => Ok(Literal::Bool(true)),
            Tok::Ident(w) if w == "false" => Ok(Literal::Bool(false)),
            Tok::Number(n) => n.parse::<i64>().map(Literal::Int).map_err(|_| {
                EqlError::new(
                    t.pos,
                    format!("`{n}` is not supported: numbers are integers"),
                )
            }),
            Tok::Ident(w) if !is_reserved(w) => Err(EqlError::new(
                t.pos,
                format!(
                    "comparing two fields (`{w}`) is not supported: compare a field with a constant"
                ),
            )),
            _ => Err(self.unexpected(&t, "a string, integer, true, false or null")),
        }
    }

    /// `name(` seen: only `cidrmatch(field, "range", ...)`, any case.
    fn function(&mut self, name: String, pos: Pos) -> Result<Expr, EqlError> {
        if !name.eq_ignore_ascii_case("cidrmatch") {
            return Err(EqlError::new(
                pos,
                format!("the function `{name}` is not supported (only cidrmatch is): {SUPPORTED}"),
            ));
        }
        self.expect(Tok::LParen, "`(`")?;
        let field = self.field("the address field, cidrmatch's first argument")?;
        let mut ranges = Vec::new();
        while self.peek().tok == Tok::Comma {
            self.next();
            ranges.push(self.string("a CIDR range string")?);
        }
        if ranges.is_empty() {
            return Err(EqlError::new(pos, "cidrmatch needs at least one range"));
        }
        self.expect(Tok::RParen, "`,` or `)` closing cidrmatch")?;
        Ok(Expr::CidrMatch { field, ranges })
    }
}

/// Words that are never field names.
fn is_reserved(word: &str) -> bool {
    matches!(
        word,
        "and"
            | "or"
            | "not"
            | "in"
            | "like"
            | "where"
            | "by"
            | "with"
            | "sequence"
            | "null"
            | "true"
            | "false"
            | "maxspan"
            | "until"
            | "join"
            | "of"
            | "descendant"
            | "child"
    )
}

#[cfg(test)]
mod tests {
    use super::Parser;
    use crate::rule::eql::lexer::{Tok, tokens};

    /// Taking the final `Eof` leaves it in place: every later `peek` and `next` sees it again
    /// (no index past the tokens, so no panic whatever an error path asks for next).
    #[test]
    fn the_final_eof_is_never_passed() {
        let mut p = Parser {
            toks: tokens("x").unwrap_or_else(|e| panic!("{e}")),
            at: 0,
        };
        assert_ne!(p.next().tok, Tok::Eof);
        for _ in 0..3 {
            assert_eq!(p.next().tok, Tok::Eof);
            assert_eq!(p.peek().tok, Tok::Eof);
        }
    }
}
