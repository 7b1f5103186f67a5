//! The ECS 9.4.0 conformance check shared by integration tests: flattens a JSON document and
//! reports every field that is not in `data/ecs-fields-9.4.0.csv` (ECS's own generated list)
//! with a JSON value of its ECS type, except under the sensor's `sshd_sensor.` namespace. The
//! matched events embedded under `sshd_sensor.sequence.stage1`/`stage2` are documents of their
//! own and are checked the same way.
//!
//! Flattening: objects descend (`process.parent.pid`), an array of scalars is one field (and
//! must be one ECS marks as an array), an array of objects descends into each object. ECS
//! `object`, `flattened` and `nested` fields take any object below them. `null` is always an
//! offence: the sensor leaves unknown values out.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{Map, Value};

const FIELDS_CSV: &str = include_str!("../data/ecs-fields-9.4.0.csv");
const OWN_NAMESPACE: &str = "sshd_sensor";
/// Paths whose value is itself a document.
const EMBEDDED_DOCUMENTS: [&str; 2] =
    ["sshd_sensor.sequence.stage1", "sshd_sensor.sequence.stage2"];

// ---------------------------------------------------------------------------------------------
// The schema

pub struct EcsField {
    ty: String,
    array: bool,
}

pub type Schema = BTreeMap<String, EcsField>;

/// Field, Type and Normalization of every row. The first seven columns never contain commas
/// or quotes (only Example and Description, after them, do), so splitting on commas is exact.
pub fn schema() -> Schema {
    let mut lines = FIELDS_CSV.lines();
    let header = lines.next().expect("CSV header");
    assert!(
        header.starts_with("ECS_Version,Indexed,Field_Set,Field,Type,Level,Normalization,"),
        "unexpected header: {header}"
    );
    let schema: Schema = lines
        .map(|line| {
            let cols: Vec<&str> = line.splitn(8, ',').collect();
            assert!(
                cols.len() == 8 && cols[0] == "9.4.0",
                "unexpected row: {line}"
            );
            let field = EcsField {
                ty: cols[4].to_owned(),
                array: cols[6].contains("array"),
            };
            (cols[3].to_owned(), field)
        })
        .collect();
    assert!(schema.len() > 2000, "only {} fields read", schema.len());
    schema
}

// ---------------------------------------------------------------------------------------------
// The check

/// Every offence in `doc`, one line each, as `path: what is wrong`.
pub fn violations(schema: &Schema, doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check_document(schema, doc, "", &mut out);
    out.sort();
    out
}

/// Checks `doc` as a document; `prefix` names where it is embedded (empty at the top).
fn check_document(schema: &Schema, doc: &Value, prefix: &str, out: &mut Vec<String>) {
    match doc {
        Value::Object(fields) => walk_object(schema, fields, "", prefix, out),
        other => out.push(format!("{prefix}document is not an object: {other}")),
    }
}

fn walk_object(
    schema: &Schema,
    fields: &Map<String, Value>,
    path: &str,
    prefix: &str,
    out: &mut Vec<String>,
) {
    if fields.is_empty() && !path.is_empty() && !is_own(path) {
        out.push(format!("{prefix}{path}: empty object"));
    }
    for (key, value) in fields {
        let child = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        walk(schema, value, &child, prefix, out);
    }
}

fn walk(schema: &Schema, value: &Value, path: &str, prefix: &str, out: &mut Vec<String>) {
    let at = format!("{prefix}{path}");
    if EMBEDDED_DOCUMENTS.contains(&path) {
        check_document(schema, value, &format!("{at}: "), out);
        return;
    }
    if let Some(field) = schema.get(path)
        && matches!(field.ty.as_str(), "object" | "flattened" | "nested")
    {
        let ok = match value {
            Value::Object(_) => true,
            Value::Array(items) => items.iter().all(Value::is_object),
            _ => false,
        };
        if !ok {
            out.push(format!(
                "{at}: ECS type {} wants an object, got {value}",
                field.ty
            ));
        }
        return;
    }
    match value {
        Value::Null => out.push(format!("{at}: null (leave unknown values out)")),
        Value::Object(fields) => walk_object(schema, fields, path, prefix, out),
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
            for item in items {
                walk(schema, item, path, prefix, out);
            }
        }
        Value::Array(items) if items.iter().any(|v| v.is_object() || v.is_array()) => {
            out.push(format!("{at}: array mixing scalars with objects or arrays"));
        }
        leaf => check_leaf(schema, leaf, path, &at, out),
    }
}

fn is_own(path: &str) -> bool {
    path == OWN_NAMESPACE || path.starts_with(&format!("{OWN_NAMESPACE}."))
}

fn check_leaf(schema: &Schema, value: &Value, path: &str, at: &str, out: &mut Vec<String>) {
    if is_own(path) {
        if let Value::Array(items) = value
            && items.iter().any(Value::is_null)
        {
            out.push(format!("{at}: null in array"));
        }
        return;
    }
    let Some(field) = schema.get(path) else {
        out.push(format!("{at}: not an ECS 9.4.0 field"));
        return;
    };
    let items: Vec<&Value> = match value {
        Value::Array(items) => {
            if !field.array {
                out.push(format!(
                    "{at}: array, but ECS does not mark the field as an array"
                ));
            }
            items.iter().collect()
        }
        scalar => vec![scalar],
    };
    for item in items {
        if let Err(why) = type_check(&field.ty, item) {
            out.push(format!("{at}: ECS type {}: {why}: {item}", field.ty));
        }
    }
}

/// Whether `v` is a JSON value Elasticsearch indexes as ECS type `ty`, strictly: no strings
/// for numbers, no numbers for strings.
fn type_check(ty: &str, v: &Value) -> Result<(), &'static str> {
    let ok = match ty {
        "keyword" | "constant_keyword" | "wildcard" | "match_only_text" | "text" => v.is_string(),
        "long" | "integer" | "short" | "byte" | "unsigned_long" => v.is_i64() || v.is_u64(),
        "float" | "double" | "scaled_float" | "half_float" => v.is_number(),
        "boolean" => v.is_boolean(),
        "date" => {
            return match v.as_str() {
                Some(s) if is_rfc3339(s) => Ok(()),
                _ => Err("not RFC 3339"),
            };
        }
        "ip" => {
            return match v.as_str().map(str::parse::<IpAddr>) {
                Some(Ok(_)) => Ok(()),
                _ => Err("not an IP address"),
            };
        }
        _ => return Err("type not supported by this test"),
    };
    if ok { Ok(()) } else { Err("wrong JSON type") }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`, with a real calendar date.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if !seps.iter().all(|&(i, c)| b.get(i) == Some(&c)) {
        return false;
    }
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(sec)) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) else {
        return false;
    };
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let date_ok = (1..=12).contains(&mo) && d >= 1 && d <= month_days[(mo.max(1) - 1) as usize];
    if !date_ok || h > 23 || mi > 59 || sec > 60 {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let digits = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        rest = &frac[digits..];
    }
    match rest {
        b"Z" => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
                && (h1 - b'0') * 10 + (h2 - b'0') <= 23
                && (m1 - b'0') * 10 + (m2 - b'0') <= 59
        }
        _ => false,
    }
}

pub fn assert_conforms(schema: &Schema, what: &str, doc: &Value) {
    let v = violations(schema, doc);
    assert!(
        v.is_empty(),
        "{what}: {} field(s) not ECS 9.4.0:\n  {}\ndocument: {doc:#}",
        v.len(),
        v.join("\n  ")
    );
}

/// The flattened ECS field names of `doc` (outside the sensor's namespace), to show the check
/// saw what it was meant to see.
pub fn leaf_paths(doc: &Value, path: &str, out: &mut Vec<String>) {
    match doc {
        Value::Object(fields) => {
            for (k, v) in fields {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                leaf_paths(v, &child, out);
            }
        }
        Value::Array(items) if items.iter().any(Value::is_object) => {
            items.iter().for_each(|v| leaf_paths(v, path, out));
        }
        _ => out.push(path.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_checker() {
        for good in [
            "2024-02-29T12:34:56Z",
            "2024-02-29T12:34:56.123456789Z",
            "1969-12-31T23:59:59.999999999Z",
            "2024-01-01T00:00:00.5+05:30",
        ] {
            assert!(is_rfc3339(good), "{good}");
        }
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T24:00:00Z",
            "1700000000",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }
}
