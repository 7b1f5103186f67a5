//! Elastic detection-rule TOML files (the detection-rules repository's format): the rule's
//! metadata (`rule_id`, `name`, `description`, `risk_score`, `severity`, `references`, `author`,
//! `license`, `tags`, `threat`) and its EQL `query`, parsed by [`super::eql`]. Errors name the
//! file, the line and the column in that file, the query's own included. Only `type = "eql"`
//! rules are accepted; keys this sensor does not use (`from`, `index`, `note`, `setup`, ...) are
//! read past, as Kibana's import does.

use std::fmt;

use serde::Deserialize;
use toml::Spanned;

use super::eql::{self, Pos, Sequence};
use crate::config::Location;

/// A rule's identity and description, as its alerts carry them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleMeta {
    pub rule_id: String,
    pub name: String,
    pub description: String,
    /// Elastic keeps versions outside the file (`version.lock.json`): `None` unless known.
    pub version: Option<String>,
    pub risk_score: u32,
    pub severity: String,
    pub references: Vec<String>,
    pub author: Vec<String>,
    pub license: Option<String>,
    pub tags: Vec<String>,
    pub threats: Vec<Threat>,
    /// ECS `rule.ruleset`: [`CUSTOM_RULESET`] for a user's file; the embedded profiles say
    /// they are Elastic's prebuilt rule.
    pub ruleset: String,
}

/// `rule.ruleset` of a rule loaded from a user's file.
pub const CUSTOM_RULESET: &str = "custom (rule file)";

/// One `[[rule.threat]]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threat {
    pub framework: String,
    pub tactic: Ref,
    #[serde(default, rename = "technique")]
    pub techniques: Vec<Technique>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Technique {
    pub id: String,
    pub name: String,
    pub reference: String,
    #[serde(default, rename = "subtechnique")]
    pub subtechniques: Vec<Ref>,
}

/// An ATT&CK tactic or sub-technique: id, name, reference.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ref {
    pub id: String,
    pub name: String,
    pub reference: String,
}

/// A parsed rule file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleFile {
    pub meta: RuleMeta,
    pub query: Sequence,
    /// The query text as written (for `rule show`).
    pub query_text: String,
    /// Where the query starts in the file (to place errors found after parsing).
    pub query_origin: Pos,
}

/// Why a rule file was refused: one line, `file:line:col: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleFileError {
    pub file: String,
    pub location: Option<Location>,
    pub message: String,
}

impl fmt::Display for RuleFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some(l) => write!(f, "{}:{l}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for RuleFileError {}

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    rule: Option<RawRule>,
}

#[derive(Deserialize)]
struct RawRule {
    rule_id: String,
    name: String,
    description: String,
    /// Not in Elastic's files; a user's copy may carry one.
    #[serde(default)]
    version: Option<toml::Value>,
    risk_score: u32,
    severity: String,
    #[serde(default)]
    references: Vec<String>,
    #[serde(default)]
    author: Vec<String>,
    #[serde(default)]
    license: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    threat: Vec<Threat>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    #[serde(default)]
    language: Option<Spanned<String>>,
    query: Spanned<String>,
}

/// Parses the rule file `text`; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<RuleFile, RuleFileError> {
    let err = |span: Option<std::ops::Range<usize>>, message: String| RuleFileError {
        file: file.to_owned(),
        location: span.map(|s| Location::of(text, s.start)),
        message,
    };
    let raw: RawFile =
        toml::from_str(text).map_err(|e| err(e.span(), e.message().trim().replace('\n', "; ")))?;
    let rule = raw.rule.ok_or_else(|| {
        err(
            None,
            "no [rule] table: this is not an Elastic detection-rule file".into(),
        )
    })?;
    if rule.kind.get_ref() != "eql" {
        return Err(err(
            Some(rule.kind.span()),
            format!(
                "type = {:?}: only EQL rules (type = \"eql\") can run here",
                rule.kind.get_ref()
            ),
        ));
    }
    if let Some(language) = &rule.language
        && language.get_ref() != "eql"
    {
        return Err(err(
            Some(language.span()),
            format!(
                "language = {:?}: only EQL rules can run here",
                language.get_ref()
            ),
        ));
    }
    let origin = query_origin(text, rule.query.span().start);
    let origin = Pos {
        line: origin.line as u32,
        col: origin.column as u32,
    };
    let query = eql::parse(rule.query.get_ref()).map_err(|e| {
        let e = e.shifted(origin);
        RuleFileError {
            file: file.to_owned(),
            location: Some(Location {
                line: e.pos.line as usize,
                column: e.pos.col as usize,
            }),
            message: e.message,
        }
    })?;
    let version = rule.version.map(|v| match v {
        toml::Value::String(s) => s,
        other => other.to_string(),
    });
    Ok(RuleFile {
        meta: RuleMeta {
            rule_id: rule.rule_id,
            name: rule.name,
            description: rule.description.trim().to_owned(),
            version,
            risk_score: rule.risk_score,
            severity: rule.severity,
            references: rule.references,
            author: rule.author,
            license: rule.license,
            tags: rule.tags,
            threats: rule.threat,
            ruleset: CUSTOM_RULESET.to_owned(),
        },
        query_text: rule.query.into_inner(),
        query_origin: origin,
        query,
    })
}

/// Where the query's first character sits, given the byte offset of its TOML string value:
/// past the opening quotes, and past the newline TOML trims after `'''` or `"""`.
fn query_origin(text: &str, value_start: usize) -> Location {
    let rest = text.get(value_start..).unwrap_or_default();
    let mut offset = value_start;
    if rest.starts_with("'''") || rest.starts_with("\"\"\"") {
        offset += 3;
        let after = &text[offset..];
        if after.starts_with("\r\n") {
            offset += 2;
        } else if after.starts_with('\n') {
            offset += 1;
        }
    } else if rest.starts_with('\'') || rest.starts_with('"') {
        offset += 1;
    }
    Location::of(text, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: &str = include_str!("profiles/persistence_ssh_netcon.v4.toml");
    const LATEST: &str = include_str!("profiles/persistence_ssh_netcon.latest.toml");

    #[test]
    fn elastics_files_load_with_their_metadata() {
        let v4 = parse(V4, "v4.toml").expect("v4 loads");
        assert_eq!(v4.meta.rule_id, "63431796-f813-43af-820b-492ee2efec8e");
        assert_eq!(
            v4.meta.name,
            "Network Connection Initiated by SSHD Child Process"
        );
        assert_eq!(v4.meta.risk_score, 47);
        assert_eq!(v4.meta.severity, "medium");
        assert_eq!(v4.meta.version, None);
        assert!(
            v4.meta
                .description
                .starts_with("This rule identifies an egress")
        );
        let tactics: Vec<&str> = v4
            .meta
            .threats
            .iter()
            .map(|t| t.tactic.id.as_str())
            .collect();
        assert_eq!(tactics, ["TA0003", "TA0008", "TA0011"]);
        assert_eq!(
            v4.meta.threats[1].techniques[1].subtechniques[0].id,
            "T1563.001"
        );
        let latest = parse(LATEST, "latest.toml").expect("latest loads");
        assert_eq!(
            latest.meta.name,
            "Network Connection Initiated by Suspicious SSHD Child Process"
        );
        assert_eq!(latest.meta.threats[2].techniques[0].id, "T1095");
    }

    #[test]
    fn a_query_error_points_into_the_file() {
        // Line 67 of the latest file is the query's first line: `sequence by host.id ...`.
        let broken = LATEST.replacen("maxspan=1s", "maxspan=1", 1);
        let err = parse(&broken, "rule.toml").expect_err("refused");
        let line = LATEST
            .lines()
            .position(|l| l.starts_with("sequence by host.id"))
            .expect("query line")
            + 1;
        assert_eq!(err.location, Some(Location { line, column: 34 }), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("rule.toml:{line}:34: `1` is not a duration")),
            "{err}"
        );
        let broken = LATEST.replacen("cidrmatch(", "cidr_match(", 1);
        let err = parse(&broken, "rule.toml").expect_err("refused");
        let line = LATEST
            .lines()
            .position(|l| l.contains("cidrmatch("))
            .expect("cidrmatch line")
            + 1;
        assert_eq!(err.location.map(|l| l.line), Some(line), "{err}");
        assert!(
            err.message
                .contains("function `cidr_match` is not supported"),
            "{err}"
        );
    }

    /// A minimal rule file whose `query` key is `query`, written as given, on line 8.
    fn minimal(query: &str) -> String {
        format!(
            "[rule]\nrule_id = \"x\"\nname = \"n\"\ndescription = \" d \"\nrisk_score = 1\n\
             severity = \"low\"\ntype = \"eql\"\n{query}\n"
        )
    }

    /// However the query string is quoted, an error in it is placed in the file: past a one-line
    /// string's quote, past the newline (LF or CRLF) that follows a multi-line string's quotes.
    #[test]
    fn a_query_error_is_placed_whatever_the_quoting() {
        let bad = "sequence by host.id with maxspan=1";
        let cases = [
            (format!("query = '{bad}'"), (8, 43)),
            (format!("query = \"{bad}\""), (8, 43)),
            (format!("query   =   '{bad}'"), (8, 47)),
            (format!("query = '''{bad}'''"), (8, 45)),
            (format!("query = '''\n{bad}'''"), (9, 34)),
            (format!("query = \"\"\"\n{bad}\"\"\""), (9, 34)),
            (format!("query = '''\r\n  {bad}'''"), (9, 36)),
        ];
        for (line, (want_line, want_col)) in cases {
            let err = parse(&minimal(&line), "r.toml").expect_err(&line);
            assert_eq!(
                err.location,
                Some(Location {
                    line: want_line,
                    column: want_col
                }),
                "{line:?}: {err}"
            );
            assert!(err.message.contains("is not a duration"), "{err}");
        }
    }

    /// `language`, when present, must be EQL too; `version` is kept as written; the description
    /// is trimmed; a user's file is a custom ruleset.
    #[test]
    fn language_version_and_description() {
        let query = "query = '''\nsequence by host.id with maxspan=1s\n  [process where host.os.type == \"linux\"] by process.entity_id\n  [network where host.os.type == \"linux\"] by process.parent.entity_id\n'''";
        let ok = minimal(query);
        let file = parse(&ok, "r.toml").expect("loads");
        assert_eq!(file.meta.description, "d");
        assert_eq!(file.meta.version, None);
        assert_eq!(file.meta.ruleset, CUSTOM_RULESET);
        assert_eq!(file.query_origin, Pos { line: 9, col: 1 });
        let with = |extra: &str| ok.replacen("[rule]\n", &format!("[rule]\n{extra}\n"), 1);
        let file = parse(&with("language = \"eql\""), "r.toml").expect("eql is fine");
        assert_eq!(file.query_origin, Pos { line: 10, col: 1 });
        let err = parse(&with("language = \"kuery\""), "r.toml").expect_err("kuery");
        assert_eq!(
            err.to_string(),
            "r.toml:2:12: language = \"kuery\": only EQL rules can run here"
        );
        let v = |text: &str| parse(&with(text), "r.toml").expect("loads").meta.version;
        assert_eq!(v("version = \"2.1\""), Some("2.1".to_owned()));
        assert_eq!(v("version = 7"), Some("7".to_owned()));
    }

    #[test]
    fn not_a_rule_or_not_eql_is_refused_with_a_place() {
        let err = parse("[metadata]\nx = 1\n", "f.toml").expect_err("no rule");
        assert_eq!(
            err.to_string(),
            "f.toml: no [rule] table: this is not an Elastic detection-rule file"
        );
        let kql = V4.replace("type = \"eql\"", "type = \"query\"");
        let err = parse(&kql, "f.toml").expect_err("not eql");
        assert!(err.to_string().contains("only EQL rules"), "{err}");
        assert!(err.location.is_some());
        let err = parse("[rule\n", "f.toml").expect_err("bad toml");
        assert_eq!(err.location.map(|l| l.line), Some(1), "{err}");
        let missing = V4.replace("rule_id = ", "rule_idx = ");
        let err = parse(&missing, "f.toml").expect_err("missing rule_id");
        assert!(err.message.contains("rule_id"), "{err}");
    }
}
