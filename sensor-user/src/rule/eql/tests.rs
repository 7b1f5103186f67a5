use super::*;

const V4: &str = include_str!("../profiles/persistence_ssh_netcon.v4.toml");

fn f(name: &str, line: u32, col: u32) -> Field {
    Field {
        name: name.into(),
        pos: Pos { line, col },
    }
}

fn s(v: &str) -> Literal {
    Literal::Str(v.into())
}

/// The query of a rule TOML, without a TOML parser (the loader's business).
fn query_of(toml: &str) -> &str {
    let start = toml.find("query = '''\n").expect("query") + "query = '''\n".len();
    let len = toml[start..].find("'''").expect("end of query");
    &toml[start..start + len]
}

#[test]
fn a_minimal_sequence_parses_to_the_tree() {
    let q = "sequence by host.id with maxspan=1s\n [process where a == \"x\"] by p\n [network where not b in (\"y\", null)] by q";
    let seq = parse(q).expect("parses");
    assert_eq!(seq.by, f("host.id", 1, 13));
    assert_eq!(seq.maxspan_ns, 1_000_000_000);
    assert_eq!(seq.stages.len(), 2);
    assert_eq!(seq.stages[0].category, f("process", 2, 3));
    assert_eq!(
        seq.stages[0].condition,
        Expr::Compare {
            field: f("a", 2, 17),
            value: s("x"),
            negated: false
        }
    );
    assert_eq!(seq.stages[0].by, f("p", 2, 30));
    assert_eq!(
        seq.stages[1].condition,
        Expr::Not(Box::new(Expr::In {
            field: f("b", 3, 21),
            values: vec![s("y"), Literal::Null],
            negated: false
        }))
    );
}

#[test]
fn and_binds_tighter_than_or_and_not_tighter_than_and() {
    let q = "sequence by h with maxspan=1s [process where a == \"1\" or not b == \"2\" and c != \"3\"] by p [network where d == 4] by q";
    let seq = parse(q).expect("parses");
    let Expr::Or(terms) = &seq.stages[0].condition else {
        panic!("or at the top: {:?}", seq.stages[0].condition)
    };
    assert_eq!(terms.len(), 2);
    let Expr::And(right) = &terms[1] else {
        panic!("and under or: {:?}", terms[1])
    };
    assert!(matches!(right[0], Expr::Not(_)));
    assert!(matches!(right[1], Expr::Compare { negated: true, .. }));
    assert_eq!(
        seq.stages[1].condition,
        Expr::Compare {
            field: f("d", 1, 105),
            value: Literal::Int(4),
            negated: false
        }
    );
}

#[test]
fn like_tilde_not_in_cidrmatch_any_case_escapes_and_comments() {
    let q = r#"sequence by h with maxspan=500ms
  [process where x like~ (".*", "*.sh") // a comment, with "quotes" and ]
     and y like "a\"b\\c\u{41}" /* block
     comment */ and z not in ("n")] by p
  [network where CIDRMATCH(destination.ip, "10.0.0.0/8", "::1")] by q"#;
    let seq = parse(q).expect("parses");
    assert_eq!(seq.maxspan_ns, 500_000_000);
    let Expr::And(terms) = &seq.stages[0].condition else {
        panic!("and: {:?}", seq.stages[0].condition)
    };
    assert_eq!(
        terms[0],
        Expr::Like {
            field: f("x", 2, 18),
            patterns: vec![".*".into(), "*.sh".into()],
            insensitive: true
        }
    );
    assert_eq!(
        terms[1],
        Expr::Like {
            field: f("y", 3, 10),
            patterns: vec!["a\"b\\cA".into()],
            insensitive: false
        }
    );
    assert!(matches!(&terms[2], Expr::In { negated: true, .. }));
    assert_eq!(
        seq.stages[1].condition,
        Expr::CidrMatch {
            field: f("destination.ip", 5, 28),
            ranges: vec!["10.0.0.0/8".into(), "::1".into()]
        }
    );
}

#[test]
fn both_reference_rules_parse() {
    for (name, toml) in [
        ("v4", V4),
        (
            "latest",
            include_str!("../profiles/persistence_ssh_netcon.latest.toml"),
        ),
    ] {
        let seq = parse(query_of(toml)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(seq.by.name, "host.id", "{name}");
        assert_eq!(seq.maxspan_ns, 1_000_000_000, "{name}");
        assert_eq!(seq.stages[0].by.name, "process.entity_id", "{name}");
        assert_eq!(seq.stages[1].by.name, "process.parent.entity_id", "{name}");
        assert_eq!(seq.stages[1].category.name, "network", "{name}");
    }
}

/// Each refused query gives the place and a sentence; never a half-parsed tree.
#[test]
fn outside_the_subset_is_refused_where_it_starts() {
    let cases: &[(&str, (u32, u32), &str)] = &[
        ("process where true", (1, 1), "only sequence queries"),
        (
            "SEQUENCE by h with maxspan=1s [a where b == 1] by c [d where e == 1] by f",
            (1, 1),
            "lower case",
        ),
        (
            "sequence with maxspan=1s [a where b == 1] by c [d where e == 1] by f",
            (1, 26),
            "needs `by",
        ),
        (
            "sequence by h [a where b == 1] by c [d where e == 1] by f",
            (1, 15),
            "maxspan",
        ),
        (
            "sequence by h with maxspan=1 [a where b == 1] by c [d where e == 1] by f",
            (1, 28),
            "not a duration",
        ),
        (
            "sequence by h with maxspan=1s [a where b < 1] by c [d where e == 1] by f",
            (1, 42),
            "operator `<`",
        ),
        (
            "sequence by h with maxspan=1s [a where b : \"x\"] by c [d where e == 1] by f",
            (1, 42),
            "operator `:`",
        ),
        (
            "sequence by h with maxspan=1s [a where length(b) == 1] by c [d where e == 1] by f",
            (1, 40),
            "function `length`",
        ),
        (
            "sequence by h with maxspan=1s [a where b == 1] by c",
            (1, 52),
            "two",
        ),
        (
            "sequence by h with maxspan=1s [a where b == 1] by c [d where e == 1] by f [g where h == 1] by i",
            (1, 75),
            "third stage",
        ),
        (
            "sequence by h with maxspan=1s [a where b == 1] by c [d where e == 1] by f | head 1",
            (1, 75),
            "pipes",
        ),
        (
            "sequence by h with maxspan=1s [a where b == 'x'] by c [d where e == 1] by f",
            (1, 45),
            "double quotes",
        ),
        (
            "sequence by h with maxspan=1s [a where b == \"x] by c",
            (1, 45),
            "unterminated string",
        ),
        (
            "sequence by h with maxspan=1s [a where b == \"\\q\"] by c [d where e == 1] by f",
            (1, 46),
            "unknown escape",
        ),
        (
            "sequence by h with maxspan=1s [a where b == c] by c [d where e == 1] by f",
            (1, 45),
            "comparing two fields",
        ),
        (
            "sequence by h with maxspan=1s [a where b like ~ \"x\"] by c [d where e == 1] by f",
            (1, 47),
            "without a space",
        ),
        (
            "sequence by h with maxspan=1s [a where b in~ (\"x\")] by c [d where e == 1] by f",
            (1, 44),
            "in~",
        ),
        (
            "sequence by h with maxspan=1s [a where b == 1] by c, d [d where e == 1] by f",
            (1, 52),
            "one join field",
        ),
        (
            "sequence by h with maxspan=1s [a where b == 1 /* open",
            (1, 47),
            "unterminated /*",
        ),
        (
            "sequence by h with maxspan=1s [a where (b == 1] by c [d where e == 1] by f",
            (1, 47),
            "expected `)`",
        ),
    ];
    for (query, (line, col), says) in cases {
        let err = parse(query).expect_err(query);
        assert_eq!((err.pos.line, err.pos.col), (*line, *col), "{query}: {err}");
        assert!(
            err.message.contains(says),
            "{query}: {err} (wanted {says:?})"
        );
    }
}

#[test]
fn positions_shift_to_the_file() {
    let err = EqlError::new(Pos { line: 1, col: 5 }, "x").shifted(Pos { line: 67, col: 1 });
    assert_eq!(err.to_string(), "67:5: x");
    let err = EqlError::new(Pos { line: 3, col: 2 }, "y").shifted(Pos { line: 67, col: 9 });
    assert_eq!(err.to_string(), "69:2: y");
    let err = EqlError::new(Pos { line: 1, col: 5 }, "z").shifted(Pos { line: 4, col: 9 });
    assert_eq!(
        err.to_string(),
        "4:13: z",
        "line 1 starts at the origin's column"
    );
}

/// Every operator of EQL outside the subset is named as such where it stands (not refused as
/// an unknown character), and so are raw strings.
#[test]
fn each_unsupported_operator_is_named() {
    for op in ["<", "<=", ">", ">=", ":", "+", "-", "*", "/", "%", "|"] {
        let query =
            format!("sequence by h with maxspan=1s [a where b {op} 1] by c [d where e == 1] by f");
        let err = parse(&query).expect_err(&query);
        assert_eq!((err.pos.line, err.pos.col), (1, 42), "{query}: {err}");
        assert!(
            err.message
                .starts_with(&format!("the operator `{op}` is not supported")),
            "{query}: {err}"
        );
    }
    let query = "sequence by h with maxspan=1s [a where b == ?\"x\"] by c [d where e == 1] by f";
    let err = parse(query).expect_err(query);
    assert_eq!((err.pos.line, err.pos.col), (1, 45), "{err}");
    assert!(err.message.starts_with("raw strings"), "{err}");
}

/// A backquoted field name may hold any character, a bare one may start with a letter, `_` or
/// `@`; a character EQL has no use for is refused where it stands (a `.` included: it only
/// continues a name).
#[test]
fn backquoted_names_and_stray_characters() {
    let q = "sequence by h with maxspan=1s [a where `odd name` == 1] by c [d where e == 1] by f";
    let seq = parse(q).expect("parses");
    assert_eq!(
        seq.stages[0].condition,
        Expr::Compare {
            field: f("odd name", 1, 40),
            value: Literal::Int(1),
            negated: false
        }
    );
    let q = "sequence by h with maxspan=1s [a where @timestamp == 1 or _x == 2] by c [d where e == 1] by f";
    let seq = parse(q).expect("parses");
    assert_eq!(
        seq.stages[0].condition,
        Expr::Or(vec![
            Expr::Compare {
                field: f("@timestamp", 1, 40),
                value: Literal::Int(1),
                negated: false
            },
            Expr::Compare {
                field: f("_x", 1, 59),
                value: Literal::Int(2),
                negated: false
            },
        ])
    );
    for (stray, c) in [(".b", '.'), ("!b", '!'), ("#b", '#'), ("\u{e9}", '\u{e9}')] {
        let q = format!(
            "sequence by h with maxspan=1s [a where {stray} == 1] by c [d where e == 1] by f"
        );
        let err = parse(&q).expect_err(&q);
        assert_eq!((err.pos.line, err.pos.col), (1, 40), "{q}: {err}");
        assert_eq!(err.message, format!("unexpected character {c:?}"), "{q}");
    }
    let q = "sequence by h with maxspan=1s [a where `odd == 1] by c";
    let err = parse(q).expect_err(q);
    assert_eq!((err.pos.line, err.pos.col), (1, 40), "{err}");
    assert_eq!(err.message, "unterminated `field name`");
}

/// The value of the one comparison in stage 1 of a query around `value`.
fn value_of(value: &str) -> Result<Literal, EqlError> {
    let q =
        format!("sequence by h with maxspan=1s [a where b == {value}] by c [d where e == 1] by f");
    let seq = parse(&q)?;
    match &seq.stages[0].condition {
        Expr::Compare { value, .. } => Ok(value.clone()),
        other => panic!("{q}: {other:?}"),
    }
}

/// Every escape a string knows, `"""` strings taken as written, and the `\u{...}` bounds.
#[test]
fn string_escapes_and_raw_strings() {
    assert_eq!(value_of(r#""\n\r\t\"\\""#), Ok(s("\n\r\t\"\\")));
    assert_eq!(
        value_of(r#""\u{41}\u{0041}\u{1F600}""#),
        Ok(s("AA\u{1F600}"))
    );
    assert_eq!(value_of(r#""\u{00000041}""#), Ok(s("A")), "eight digits");
    assert_eq!(value_of(r#""""a \n "b" c""""#), Ok(s(r#"a \n "b" c"#)));
    assert_eq!(value_of(r#""""""""#), Ok(s("")));
    for bad in [
        r#""\u{4}""#,
        r#""\u{000000041}""#,
        r#""\u41""#,
        r#""\u{41""#,
        r#""\u{D800}""#,
    ] {
        let err = value_of(bad).expect_err(bad);
        assert_eq!(
            (err.pos.line, err.pos.col, err.message.as_str()),
            (1, 46, "a \\u escape is \\u{HEX} with 2 to 8 hex digits"),
            "{bad}"
        );
    }
    let err = value_of(r#""""open"#).expect_err("open");
    assert_eq!(
        (err.pos.col, err.message.as_str()),
        (45, "unterminated \"\"\" string")
    );
}

/// Tabs, carriage returns and `//` comments are blank; positions count lines and characters.
#[test]
fn blanks_and_positions() {
    let q =
        "sequence\tby h with maxspan=1s\r\n// c\r\n\t[a where\tb == 1] by c [d where e == 1] by f";
    let seq = parse(q).expect("parses");
    assert_eq!(seq.by, f("h", 1, 13));
    assert_eq!(seq.stages[0].category, f("a", 3, 3));
    assert_eq!(
        seq.stages[0].condition,
        Expr::Compare {
            field: f("b", 3, 11),
            value: Literal::Int(1),
            negated: false
        }
    );
    assert_eq!(seq.stages[1].by, f("f", 3, 44));
}

/// maxspan's every unit, and a duration must be positive.
#[test]
fn durations_in_every_unit() {
    let span = |d: &str| {
        parse(&format!(
            "sequence by h with maxspan={d} [a where b == 1] by c [d where e == 1] by f"
        ))
        .map(|seq| seq.maxspan_ns)
    };
    assert_eq!(span("1500ms"), Ok(1_500_000_000));
    assert_eq!(span("2s"), Ok(2_000_000_000));
    assert_eq!(span("2m"), Ok(120_000_000_000));
    assert_eq!(span("2h"), Ok(7_200_000_000_000));
    assert_eq!(span("2d"), Ok(172_800_000_000_000));
    assert_eq!(span("1ms"), Ok(1_000_000));
    for zero in ["0s", "0ms", "0d"] {
        let err = span(zero).expect_err(zero);
        assert_eq!(err.message, format!("`{zero}` is not a positive duration"));
        assert_eq!((err.pos.line, err.pos.col), (1, 28));
    }
}

/// A keyword must be the one the grammar expects there, and a reserved word is no field name
/// (as a join field or in a condition).
#[test]
fn keywords_where_expected_and_reserved_words_no_fields() {
    let cases = [
        (
            "sequence by h with maxspan=1s [a wher b == 1] by c [d where e == 1] by f",
            31 + 3,
            "expected `where` after the event category, found `wher`",
        ),
        (
            "sequence by h with maxspan=1s [a where b not like \"x\"] by c [d where e == 1] by f",
            40 + 6,
            "expected `in` after `not` (`field not in (...)`), found `like`",
        ),
        (
            "sequence by null with maxspan=1s [a where b == 1] by c [d where e == 1] by f",
            13,
            "found `null`",
        ),
        (
            "sequence by h with maxspan=1s [a where null == 1] by c [d where e == 1] by f",
            40,
            "expected a field name, `not`, `(` or cidrmatch(...), found `null`",
        ),
        (
            "sequence by h with maxspan=1s [a where b == 1] by in [d where e == 1] by f",
            51,
            "found `in`",
        ),
    ];
    for (query, col, says) in cases {
        let err = parse(query).expect_err(query);
        assert_eq!((err.pos.line, err.pos.col), (1, col), "{query}: {err}");
        assert!(err.message.contains(says), "{query}: {err}");
    }
}

/// EQL's comparisons outside the subset are named; any other word after a field is not an
/// operator; a bare `true` or `false` is no condition.
#[test]
fn unsupported_comparisons_and_bare_booleans() {
    let cases = [
        (
            "b regex \"x\"",
            42,
            "`regex` is not supported: the supported EQL",
        ),
        (
            "b seq \"x\"",
            42,
            "`seq` is not supported: the supported EQL",
        ),
        (
            "b foo \"x\"",
            42,
            "expected ==, !=, in, not in, like or like~ after the field, found `foo`",
        ),
        ("true", 40, "a bare `true` condition is not supported"),
        ("false", 40, "a bare `false` condition is not supported"),
    ];
    for (condition, col, says) in cases {
        let query = format!(
            "sequence by h with maxspan=1s [a where {condition}] by c [d where e == 1] by f"
        );
        let err = parse(&query).expect_err(&query);
        assert_eq!((err.pos.line, err.pos.col), (1, col), "{query}: {err}");
        assert!(err.message.starts_with(says), "{query}: {err}");
    }
}

/// The literals a comparison takes, and what it refuses in their place.
#[test]
fn literals_and_what_is_no_literal() {
    assert_eq!(value_of("true"), Ok(Literal::Bool(true)));
    assert_eq!(value_of("false"), Ok(Literal::Bool(false)));
    assert_eq!(value_of("null"), Ok(Literal::Null));
    assert_eq!(value_of("42"), Ok(Literal::Int(42)));
    assert_eq!(value_of("\"x\""), Ok(s("x")));
    let cases = [
        ("1.5", "`1.5` is not supported: numbers are integers"),
        (
            "other",
            "comparing two fields (`other`) is not supported: compare a field with a constant",
        ),
        (
            "and",
            "expected a string, integer, true, false or null, found `and`",
        ),
    ];
    for (value, says) in cases {
        let err = value_of(value).expect_err(value);
        assert_eq!(
            (err.pos.line, err.pos.col, err.message.as_str()),
            (1, 45, says)
        );
    }
}
