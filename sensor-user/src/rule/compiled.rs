//! A rule file compiled for the engine: the EQL sequence checked against the fields the sensor's
//! events carry and turned into conditions the engine evaluates ([`Cond`]), plus what the
//! prefilters derive from those same conditions: stage 1's parent executables (the kernel's
//! table) and stage 2's exclusions (the kernel's CIDR tables, replay's and enrichment's early
//! drops). A condition that is not of the shape a prefilter needs derives nothing, and the
//! prefilter then passes a superset that the engine decides.

mod cond;
mod field;
mod glob;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use ipnetwork::IpNetwork;

pub use cond::{Cond, Test};
pub use field::{Field, FieldSource, Kind};
pub use glob::Glob;

use super::eql::{EqlError, Expr, Literal, Sequence};
use super::exclusions::{IpRanges, normalize_ip};
use super::file::{RuleFile, RuleMeta};

/// One compiled stage: `[category where cond] by key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    /// `event.category` the event must have; `any` is every event.
    pub category: String,
    pub cond: Cond,
    pub key: Field,
}

impl Stage {
    pub fn matches<S: FieldSource>(&self, e: &S) -> bool {
        (self.category == "any" || e.has_category(&self.category)) && self.cond.eval(e)
    }
}

/// A compiled rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledRule {
    pub meta: Arc<RuleMeta>,
    pub maxspan_ns: i64,
    pub join: Field,
    pub stage1: Stage,
    pub stage2: Stage,
}

/// What stage 2's `not (...)` blocks exclude, when they have the shape a prefilter can use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DerivedExclusions {
    /// `destination.ip == null` is excluded.
    pub null_destination: bool,
    /// `cidrmatch(destination.ip, ...)` ranges and `destination.ip == "a.b.c.d"` addresses (as
    /// full-length networks), as written.
    pub networks: Vec<IpNetwork>,
    pub executables: Vec<String>,
    pub names: Vec<String>,
}

impl CompiledRule {
    /// Compiles a parsed rule file.
    pub fn compile(file: &RuleFile) -> Result<CompiledRule, EqlError> {
        compile_sequence(&file.query, Arc::new(file.meta.clone()))
    }

    /// The values of stage 1's top-level `process.parent.executable == / in (...)` tests: the
    /// kernel's parent table. `None` when stage 1 has no such test (live mode then cannot tell
    /// the kernel which parents matter).
    pub fn parent_executables(&self) -> Option<Vec<String>> {
        let mut found: Option<Vec<String>> = None;
        for term in self.stage1.cond.conjuncts() {
            if let Cond::Field {
                field: Field::ParentExecutable,
                test:
                    Test::StrIn {
                        values,
                        null: false,
                    },
            } = term
            {
                // Several such tests: an event must pass all, so the intersection.
                found = Some(match found {
                    None => values.clone(),
                    Some(prev) => prev.into_iter().filter(|v| values.contains(v)).collect(),
                });
            }
        }
        found
    }

    /// The exclusions stage 2 states as top-level `not (a or b or ...)` blocks whose every
    /// operand is a destination or process test a prefilter understands. Blocks of any other
    /// shape are left to the engine (they still apply; they are just not derived).
    pub fn stage2_exclusions(&self) -> DerivedExclusions {
        let mut out = DerivedExclusions::default();
        for term in self.stage2.cond.conjuncts() {
            let Cond::Not(inner) = term else { continue };
            let mut block = DerivedExclusions::default();
            let understood = inner.disjuncts().iter().all(|d| absorb(d, &mut block));
            if understood {
                out.null_destination |= block.null_destination;
                out.networks.extend(block.networks);
                out.executables.extend(block.executables);
                out.names.extend(block.names);
            }
        }
        out
    }
}

/// What a configuration adds to a rule: live mode's parent executables, and exclusions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tuning<'a> {
    /// Replaces the values of stage 1's `process.parent.executable` test (added as a test when
    /// the rule has none: the kernel reports children of these parents only).
    pub parent_executables: Option<&'a [String]>,
    pub extra_cidrs: &'a [IpNetwork],
    pub extra_names: &'a [String],
    pub extra_executables: &'a [String],
}

impl CompiledRule {
    /// This rule as a configuration tunes it.
    pub fn tuned(&self, tuning: &Tuning<'_>) -> CompiledRule {
        let mut rule = self.clone();
        if let Some(parents) = tuning.parent_executables {
            let test = || Cond::Field {
                field: Field::ParentExecutable,
                test: Test::StrIn {
                    values: parents.to_vec(),
                    null: false,
                },
            };
            let mut terms = rule.stage1.cond.conjuncts().to_vec();
            let mut replaced = false;
            for term in &mut terms {
                if matches!(
                    term,
                    Cond::Field {
                        field: Field::ParentExecutable,
                        test: Test::StrIn { null: false, .. },
                    }
                ) {
                    *term = test();
                    replaced = true;
                }
            }
            if !replaced {
                terms.push(test());
            }
            rule.stage1.cond = Cond::All(terms);
        }
        let mut extra = Vec::new();
        if !tuning.extra_cidrs.is_empty() {
            extra.push(Cond::Field {
                field: Field::DestinationIp,
                test: Test::Cidr {
                    ranges: IpRanges::new(tuning.extra_cidrs.iter().copied()),
                    written: tuning.extra_cidrs.iter().map(ToString::to_string).collect(),
                },
            });
        }
        for (field, values) in [
            (Field::ProcessExecutable, tuning.extra_executables),
            (Field::ProcessName, tuning.extra_names),
        ] {
            if !values.is_empty() {
                extra.push(Cond::Field {
                    field,
                    test: Test::StrIn {
                        values: values.to_vec(),
                        null: false,
                    },
                });
            }
        }
        if !extra.is_empty() {
            let mut terms = rule.stage2.cond.conjuncts().to_vec();
            terms.push(Cond::Not(Box::new(Cond::Any(extra))));
            rule.stage2.cond = Cond::All(terms);
        }
        rule
    }
}

/// Adds `cond` to `block` if it is an exclusion a prefilter understands.
fn absorb(cond: &Cond, block: &mut DerivedExclusions) -> bool {
    let Cond::Field { field, test } = cond else {
        return false;
    };
    match (field, test) {
        (Field::DestinationIp, Test::IpIn { values, null }) => {
            block.null_destination |= *null;
            block
                .networks
                .extend(values.iter().map(|ip| IpNetwork::from(*ip)));
            true
        }
        (Field::DestinationIp, Test::Cidr { written, .. }) => {
            // Written ranges parsed when compiled; parse again for the prefilter's own form.
            block
                .networks
                .extend(written.iter().filter_map(|r| IpNetwork::from_str(r).ok()));
            true
        }
        (
            Field::ProcessExecutable,
            Test::StrIn {
                values,
                null: false,
            },
        ) => {
            block.executables.extend(values.iter().cloned());
            true
        }
        (
            Field::ProcessName,
            Test::StrIn {
                values,
                null: false,
            },
        ) => {
            block.names.extend(values.iter().cloned());
            true
        }
        _ => false,
    }
}

fn compile_sequence(seq: &Sequence, meta: Arc<RuleMeta>) -> Result<CompiledRule, EqlError> {
    let join = known_field(&seq.by)?;
    let expect_key = |f: &super::eql::Field, want: Field, what: &str| {
        let got = known_field(f)?;
        if got == want {
            Ok(got)
        } else {
            Err(EqlError::new(
                f.pos,
                format!(
                    "{what} must be `by {}`: the sensor joins a login's process to its child",
                    want.name()
                ),
            ))
        }
    };
    if join != Field::HostId {
        return Err(EqlError::new(
            seq.by.pos,
            "the sequence must be `by host.id`: the sensor joins events of one host",
        ));
    }
    let [first, second] = &seq.stages[..] else {
        return Err(EqlError::new(
            seq.by.pos,
            "a sequence has exactly two stages",
        ));
    };
    let stage1 = Stage {
        category: first.category.name.clone(),
        cond: compile_expr(&first.condition)?,
        key: expect_key(&first.by, Field::ProcessEntityId, "stage 1")?,
    };
    let stage2 = Stage {
        category: second.category.name.clone(),
        cond: compile_expr(&second.condition)?,
        key: expect_key(&second.by, Field::ParentEntityId, "stage 2")?,
    };
    Ok(CompiledRule {
        meta,
        maxspan_ns: seq.maxspan_ns,
        join,
        stage1,
        stage2,
    })
}

fn known_field(f: &super::eql::Field) -> Result<Field, EqlError> {
    Field::named(&f.name).ok_or_else(|| {
        let known: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
        EqlError::new(
            f.pos,
            format!(
                "the sensor's events do not carry `{}`; the fields a rule can test are: {}",
                f.name,
                known.join(", ")
            ),
        )
    })
}

fn compile_expr(expr: &Expr) -> Result<Cond, EqlError> {
    Ok(match expr {
        Expr::And(terms) => {
            let mut terms: Vec<Cond> = terms.iter().map(compile_expr).collect::<Result<_, _>>()?;
            // `and` is pure and two-valued: the order of its operands changes no answer, only
            // the work. The event's kind (action, type, OS) rejects most events, so first.
            terms.sort_by_key(cost);
            Cond::All(terms)
        }
        Expr::Or(terms) => Cond::Any(terms.iter().map(compile_expr).collect::<Result<_, _>>()?),
        Expr::Not(inner) => Cond::Not(Box::new(compile_expr(inner)?)),
        Expr::Compare {
            field,
            value,
            negated,
        } => negate(field_in(field, std::slice::from_ref(value))?, *negated),
        Expr::In {
            field,
            values,
            negated,
        } => negate(field_in(field, values)?, *negated),
        Expr::Like {
            field,
            patterns,
            insensitive,
        } => {
            let f = known_field(field)?;
            if f.kind() != Kind::Str {
                return Err(EqlError::new(
                    field.pos,
                    format!("`like` needs a keyword field; `{}` is not one", f.name()),
                ));
            }
            let globs = patterns
                .iter()
                .map(|p| Glob::new(p, *insensitive))
                .collect::<Result<_, _>>()
                .map_err(|m| EqlError::new(field.pos, m))?;
            Cond::Field {
                field: f,
                test: Test::Like {
                    globs,
                    insensitive: *insensitive,
                },
            }
        }
        Expr::CidrMatch { field, ranges } => {
            let f = known_field(field)?;
            if f.kind() != Kind::Ip {
                return Err(EqlError::new(
                    field.pos,
                    format!(
                        "cidrmatch needs an address field; `{}` is not one",
                        f.name()
                    ),
                ));
            }
            let networks = ranges
                .iter()
                .map(|r| {
                    IpNetwork::from_str(r).map_err(|e| {
                        EqlError::new(
                            field.pos,
                            format!("cidrmatch range {r:?} is not a CIDR: {e}"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Cond::Field {
                field: f,
                test: Test::Cidr {
                    ranges: IpRanges::new(networks),
                    written: ranges.clone(),
                },
            }
        }
    })
}

/// A rough cost rank of evaluating `cond` (stable-sorted, so equal ranks keep their order).
fn cost(cond: &Cond) -> u8 {
    match cond {
        Cond::Field {
            field: Field::EventAction,
            test: Test::StrIn { .. },
        } => 0,
        Cond::Field {
            field: Field::EventType | Field::HostOsType,
            test: Test::StrIn { .. },
        } => 1,
        Cond::Field {
            test: Test::StrIn { .. } | Test::IntIn { .. } | Test::IpIn { .. },
            ..
        } => 2,
        Cond::Field { .. } => 3,
        Cond::Not(_) | Cond::All(_) | Cond::Any(_) => 4,
    }
}

fn negate(cond: Cond, negated: bool) -> Cond {
    if negated {
        Cond::Not(Box::new(cond))
    } else {
        cond
    }
}

/// `field == v` or `field in (v, ...)`, typed by the field.
fn field_in(field: &super::eql::Field, values: &[Literal]) -> Result<Cond, EqlError> {
    let f = known_field(field)?;
    let null = values.contains(&Literal::Null);
    let mismatch = |v: &Literal| {
        EqlError::new(
            field.pos,
            format!(
                "`{}` holds {}, and {v:?} is not one",
                f.name(),
                match f.kind() {
                    Kind::Str => "strings",
                    Kind::Int => "integers",
                    Kind::Ip => "IP addresses",
                }
            ),
        )
    };
    let non_null = values.iter().filter(|v| **v != Literal::Null);
    let test = match f.kind() {
        Kind::Str => Test::StrIn {
            values: non_null
                .map(|v| match v {
                    Literal::Str(s) => Ok(s.clone()),
                    other => Err(mismatch(other)),
                })
                .collect::<Result<_, _>>()?,
            null,
        },
        Kind::Int => Test::IntIn {
            values: non_null
                .map(|v| match v {
                    Literal::Int(i) => Ok(*i),
                    other => Err(mismatch(other)),
                })
                .collect::<Result<_, _>>()?,
            null,
        },
        Kind::Ip => Test::IpIn {
            values: non_null
                .map(|v| match v {
                    Literal::Str(s) => IpAddr::from_str(s)
                        .map(normalize_ip)
                        .map_err(|_| mismatch(v)),
                    other => Err(mismatch(other)),
                })
                .collect::<Result<_, _>>()?,
            null,
        },
    };
    Ok(Cond::Field { field: f, test })
}
