//! The EQL subset Elastic's SSH rules use, parsed into a syntax tree: a two-stage
//! `sequence by <field> with maxspan=<duration>`, each stage `[<category> where <condition>] by
//! <field>`, conditions made of `and`, `or`, `not`, parentheses, `==`, `!=`, `in`, `not in`,
//! `like`, `like~` and `cidrmatch` (any case) over field names, strings, integers, booleans and
//! `null`. Anything outside the subset is refused with the line and column where it starts and a
//! sentence on what is supported; nothing is ever half-parsed. Meaning (Elasticsearch's) is the
//! compiler's business, not this module's.

mod lexer;
mod parser;
#[cfg(test)]
mod tests;

use std::fmt;

pub use parser::parse;

/// A place in the query text, 1-based.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

/// Why a query was refused, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EqlError {
    pub pos: Pos,
    pub message: String,
}

impl EqlError {
    pub fn new(pos: Pos, message: impl Into<String>) -> EqlError {
        EqlError {
            pos,
            message: message.into(),
        }
    }

    /// The position in a file whose query text starts at `origin` (the line and column of the
    /// query's first character in that file).
    pub fn shifted(mut self, origin: Pos) -> EqlError {
        if self.pos.line == 1 {
            self.pos.col += origin.col - 1;
        }
        self.pos.line += origin.line - 1;
        self
    }
}

impl fmt::Display for EqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.pos.line, self.pos.col, self.message)
    }
}

impl std::error::Error for EqlError {}

/// A field name as written, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub pos: Pos,
}

/// A constant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Literal {
    Str(String),
    Int(i64),
    Bool(bool),
    Null,
}

/// A condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// Every operand holds (two or more).
    And(Vec<Expr>),
    /// Some operand holds (two or more).
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// `field == value` (`negated`: `!=`).
    Compare {
        field: Field,
        value: Literal,
        negated: bool,
    },
    /// `field in (values)` (`negated`: `not in`).
    In {
        field: Field,
        values: Vec<Literal>,
        negated: bool,
    },
    /// `field like pattern` / `like (patterns)`; `insensitive` for `like~`.
    Like {
        field: Field,
        patterns: Vec<String>,
        insensitive: bool,
    },
    /// `cidrmatch(field, ranges...)`: ranges as written, checked by the compiler.
    CidrMatch {
        field: Field,
        ranges: Vec<String>,
    },
}

/// One `[category where condition] by field` stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    pub category: Field,
    pub condition: Expr,
    pub by: Field,
}

/// A whole sequence query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sequence {
    /// `sequence by <field>`: the join key every stage shares.
    pub by: Field,
    /// `with maxspan=<duration>` in nanoseconds.
    pub maxspan_ns: i64,
    pub stages: Vec<Stage>,
}
