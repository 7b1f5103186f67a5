//! A compiled condition and its evaluation over an [`Event`], with Elasticsearch's meaning:
//! `==` and `in` compare exactly (a list field matches when any element does), a missing field
//! is null (`== null` holds, every other test fails), `!=` and `not in` are the plain negations
//! of `==` and `in` (two-valued, as SEMANTICS.md says of `not`), `like~` compares lower-cased,
//! and `cidrmatch` matches IPv4-mapped IPv6 addresses as IPv4.

use std::fmt;
use std::net::IpAddr;

use super::field::{Field, FieldSource};
use super::glob::Glob;
use crate::rule::exclusions::IpRanges;

/// A test of one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Test {
    /// `== v` / `in (v, ...)` on a keyword field; `null`: the list holds `null`.
    StrIn {
        values: Vec<String>,
        null: bool,
    },
    IntIn {
        values: Vec<i64>,
        null: bool,
    },
    /// Addresses already normalised (IPv4-mapped as IPv4).
    IpIn {
        values: Vec<IpAddr>,
        null: bool,
    },
    Like {
        globs: Vec<Glob>,
        insensitive: bool,
    },
    Cidr {
        ranges: IpRanges,
        written: Vec<String>,
    },
}

/// A compiled condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Field { field: Field, test: Test },
}

impl Cond {
    pub fn eval<S: FieldSource>(&self, e: &S) -> bool {
        match self {
            Cond::All(terms) => terms.iter().all(|t| t.eval(e)),
            Cond::Any(terms) => terms.iter().any(|t| t.eval(e)),
            Cond::Not(inner) => !inner.eval(e),
            Cond::Field { field, test } => test.eval(*field, e),
        }
    }

    /// The operands of a top-level `and` (or the condition itself).
    pub fn conjuncts(&self) -> &[Cond] {
        match self {
            Cond::All(terms) => terms,
            other => std::slice::from_ref(other),
        }
    }

    /// The operands of a top-level `or` (or the condition itself).
    pub fn disjuncts(&self) -> &[Cond] {
        match self {
            Cond::Any(terms) => terms,
            other => std::slice::from_ref(other),
        }
    }
}

impl Test {
    fn eval<S: FieldSource>(&self, field: Field, e: &S) -> bool {
        match self {
            Test::StrIn { values, null } => e.str_in(field, values).unwrap_or(*null),
            Test::IntIn { values, null } => e.int(field).map_or(*null, |v| values.contains(&v)),
            Test::IpIn { values, null } => e.ip(field).map_or(*null, |v| values.contains(&v)),
            Test::Like {
                globs,
                insensitive: false,
            } => e
                .any_str(field, |v| globs.iter().any(|g| g.matches(v)))
                .unwrap_or(false),
            Test::Like {
                globs,
                insensitive: true,
            } => e
                .any_str(field, |v| {
                    let lower = v.to_lowercase();
                    globs.iter().any(|g| g.matches(&lower))
                })
                .unwrap_or(false),
            Test::Cidr { ranges, .. } => e.ip(field).is_some_and(|ip| ranges.contains(ip)),
        }
    }
}

/// EQL again (normalised: `in` for `==`, lists in the order written).
impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, terms: &[Cond], op: &str| {
            write!(f, "(")?;
            for (i, t) in terms.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                write!(f, "{t}")?;
            }
            write!(f, ")")
        };
        match self {
            Cond::All(terms) => join(f, terms, "and"),
            Cond::Any(terms) => join(f, terms, "or"),
            Cond::Not(inner) => write!(f, "not {inner}"),
            Cond::Field { field, test } => {
                let name = field.name();
                let list = |f: &mut fmt::Formatter<'_>, items: Vec<String>, null: bool| {
                    let mut items = items;
                    if null {
                        items.push("null".into());
                    }
                    match &items[..] {
                        [one] => write!(f, "{name} == {one}"),
                        _ => write!(f, "{name} in ({})", items.join(", ")),
                    }
                };
                match test {
                    Test::StrIn { values, null } => {
                        list(f, values.iter().map(|v| format!("{v:?}")).collect(), *null)
                    }
                    Test::IntIn { values, null } => {
                        list(f, values.iter().map(i64::to_string).collect(), *null)
                    }
                    Test::IpIn { values, null } => list(
                        f,
                        values.iter().map(|v| format!("\"{v}\"")).collect(),
                        *null,
                    ),
                    Test::Like { globs, insensitive } => {
                        let globs: Vec<String> = globs.iter().map(Glob::to_string).collect();
                        let tilde = if *insensitive { "~" } else { "" };
                        write!(f, "{name} like{tilde} ({})", globs.join(", "))
                    }
                    Test::Cidr { written, .. } => {
                        let ranges: Vec<String> =
                            written.iter().map(|r| format!("{r:?}")).collect();
                        write!(f, "cidrmatch({name}, {})", ranges.join(", "))
                    }
                }
            }
        }
    }
}
