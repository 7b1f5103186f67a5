//! Which stage of the rule a checked document satisfies, answered on the borrowed fields so the
//! events the rule cannot act on (most of a hunt) are never converted into owned [`Event`]s.
//! The answer comes from the engine's own compiled stages ([`RuleConfig::tuned_rule`]),
//! evaluated on a borrowed view ([`Doc`]) that reads each field as the conversion to an
//! [`Event`] would; debug builds convert every document and assert that the engine answers the
//! same, so the unit and differential tests check the view on every line they replay.
//!
//! [`Event`]: crate::event::Event

use std::borrow::Cow;
use std::net::IpAddr;

use super::convert::Parsed;
use super::fields::{Fields, ProcessFields, StrList};
use crate::rule::RuleConfig;
use crate::rule::compiled::{CompiledRule, Field, FieldSource};
#[cfg(debug_assertions)]
use crate::rule::{Engine, Limits};

/// The stage a document satisfies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    One,
    Two,
}

/// The rule's stages, ready for borrowed fields.
#[derive(Debug)]
pub struct Relevance {
    rule: CompiledRule,
    /// The engine, whose answer on converted events [`Relevance::debug_check`] compares against.
    #[cfg(debug_assertions)]
    engine: Engine,
}

impl Relevance {
    pub fn new(config: &RuleConfig) -> Self {
        Self {
            rule: config.tuned_rule(),
            #[cfg(debug_assertions)]
            engine: Engine::new(config.clone(), Limits::default()),
        }
    }

    /// Debug builds: asserts that `stage` (this type's answer for `line`) is the engine's answer
    /// for the event converted from `line`.
    pub fn debug_check(&self, line: &[u8], stage: Option<Stage>) {
        #[cfg(debug_assertions)]
        {
            let Ok(fields) = super::fields::parse(line) else {
                panic!("debug_check on a line that does not parse");
            };
            let Ok(parsed) = super::convert::check(&fields) else {
                panic!("debug_check on a line that does not convert");
            };
            let event = super::convert::event(fields, parsed);
            let engine = if self.engine.is_stage1(&event) {
                Some(Stage::One)
            } else if self.engine.is_stage2(&event) {
                Some(Stage::Two)
            } else {
                None
            };
            assert_eq!(
                stage,
                engine,
                "replay relevance disagrees with the engine on {}",
                String::from_utf8_lossy(line)
            );
        }
        #[cfg(not(debug_assertions))]
        let _ = (line, stage);
    }

    /// Stage 1, stage 2 (in the engine's order: a document satisfying both is a stage 1), or
    /// neither.
    pub fn stage(&self, f: &Fields<'_>, p: &Parsed) -> Option<Stage> {
        let doc = Doc { f, p };
        if self.rule.stage1.matches(&doc) {
            Some(Stage::One)
        } else if self.rule.stage2.matches(&doc) {
            Some(Stage::Two)
        } else {
            None
        }
    }
}

/// A checked document's fields, read as [`super::convert::event`] turns them into an event.
struct Doc<'d, 'a> {
    f: &'d Fields<'a>,
    p: &'d Parsed,
}

fn one(v: &Option<Cow<'_, str>>, each: impl FnMut(&str) -> bool) -> Option<bool> {
    v.as_deref().map(each)
}

/// A list field: null when absent or empty, as an event's empty list is.
fn list(v: &Option<StrList<'_>>, mut each: impl FnMut(&str) -> bool) -> Option<bool> {
    let mut items = v.as_ref()?.iter().peekable();
    items.peek()?;
    Some(items.any(&mut each))
}

/// `command_line` as the event has it: the document's own, else the arguments joined.
fn command_line(p: &ProcessFields<'_>, each: impl FnOnce(&str) -> bool) -> Option<bool> {
    if let Some(line) = p.command_line.as_deref() {
        return Some(each(line));
    }
    let args: Vec<&str> = p.args.as_ref()?.iter().collect();
    (!args.is_empty()).then(|| each(&args.join(" ")))
}

impl FieldSource for Doc<'_, '_> {
    fn any_str(&self, field: Field, mut each: impl FnMut(&str) -> bool) -> Option<bool> {
        let (f, process, parent) = (self.f, &self.f.process, &self.f.parent);
        match field {
            Field::HostId => one(&f.host_id, each),
            Field::HostName => one(&f.host_name, each),
            Field::HostOsType => one(&f.host_os_type, each),
            Field::EventCategory => list(&f.category, each),
            Field::EventType => list(&f.event_type, each),
            Field::EventAction => one(&f.action, each),
            Field::ProcessEntityId => one(&process.entity_id, each),
            Field::ProcessExecutable => one(&process.executable, each),
            Field::ProcessName => one(&process.name, each),
            Field::ProcessArgs => list(&process.args, each),
            Field::ProcessCommandLine => command_line(process, each),
            Field::ProcessUserId => process
                .user_id
                .or(f.user_id)
                .map(|u| u.to_string())
                .as_deref()
                .map(each),
            Field::ProcessUserName => match &process.user_name {
                Some(name) => Some(each(name)),
                None => one(&f.user_name, each),
            },
            Field::ParentEntityId => one(&parent.entity_id, each),
            Field::ParentExecutable => one(&parent.executable, each),
            Field::ParentName => one(&parent.name, each),
            Field::ParentArgs => list(&parent.args, each),
            Field::ParentCommandLine => command_line(parent, each),
            Field::NetworkTransport => one(&f.transport, each),
            Field::ProcessPid
            | Field::ParentPid
            | Field::DestinationIp
            | Field::DestinationPort
            | Field::SourceIp
            | Field::SourcePort => None,
        }
    }

    fn str_in(&self, field: Field, values: &[String]) -> Option<bool> {
        let list = match field {
            Field::EventCategory => &self.f.category,
            Field::EventType => &self.f.event_type,
            _ => return self.any_str(field, |v| values.iter().any(|x| x == v)),
        };
        let list = list.as_ref()?;
        if values.iter().any(|v| list.contains(v)) {
            return Some(true);
        }
        // Null (absent or empty) rather than false, as for any list.
        list.iter().next().map(|_| false)
    }

    fn int(&self, field: Field) -> Option<i64> {
        match field {
            Field::ProcessPid => self.f.process.pid.map(i64::from),
            Field::ParentPid => self.f.parent.pid.map(i64::from),
            Field::DestinationPort => self.f.destination_port.map(i64::from),
            Field::SourcePort => self.f.source_port.map(i64::from),
            _ => None,
        }
    }

    fn ip(&self, field: Field) -> Option<IpAddr> {
        match field {
            Field::DestinationIp => self.p.destination_ip,
            Field::SourceIp => self.p.source_ip.map(crate::rule::exclusions::normalize_ip),
            _ => None,
        }
    }

    fn has_category(&self, category: &str) -> bool {
        self.f
            .category
            .as_ref()
            .is_some_and(|c| c.contains(category))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::replay::{convert, fields};

    /// Everything `src` answers about `field`, written out: every value `any_str` visits and
    /// its answer, its answer when the first value is sought, `str_in` of each value seen, of
    /// one not there and of none, `int` and `ip`.
    fn answers(src: &impl FieldSource, field: Field) -> String {
        let mut seen = Vec::new();
        let all = src.any_str(field, |v| {
            seen.push(v.to_owned());
            false
        });
        let first = seen.first().cloned().unwrap_or_default();
        let found = src.any_str(field, |v| v == first);
        let mut probes: Vec<Vec<String>> = seen.iter().map(|v| vec![v.clone()]).collect();
        probes.extend([vec!["nope".to_owned()], vec![], seen.clone()]);
        let ins: Vec<_> = probes.iter().map(|p| src.str_in(field, p)).collect();
        format!(
            "{all:?} {seen:?} {found:?} {ins:?} {:?} {:?}",
            src.int(field),
            src.ip(field)
        )
    }

    /// The borrowed view answers every field as the converted event does: single values,
    /// lists (absent, empty, with nulls), the command line (the document's own, else the
    /// arguments joined, null for none), the top-level user standing in for the process's,
    /// numbers, addresses (IPv4-mapped ones as IPv4) and categories.
    #[test]
    fn the_view_answers_as_the_event_does() {
        let docs = [
            r#"{"@timestamp":"2024-05-01T12:00:00Z","host":{"id":"h1","name":"web1","os":{"type":"linux"}},"event":{"category":["network"],"type":["start","connection"],"action":"connection_attempted"},"process":{"pid":1234,"entity_id":"e1","executable":"/usr/bin/curl","name":"curl","args":["curl","-s"],"command_line":"curl  -s","user":{"id":"1000","name":"alice"},"group":{"id":1001},"parent":{"pid":900,"entity_id":"e0","executable":"/usr/bin/bash","name":"bash","args":["bash","-c","x"]}},"user":{"id":"7","name":"top"},"destination":{"ip":"::ffff:1.2.3.4","port":443},"source":{"ip":"::ffff:10.0.0.1","port":50000},"network":{"transport":"tcp"}}"#,
            r#"{"@timestamp":"2024-05-01T12:00:00Z","event":{"category":["process","x"],"type":["start",null,"end"]},"process":{"args":[],"parent":{"args":["-bash"]}},"user":{"id":"7","name":"top"},"destination":{"ip":"2001:db8::1"}}"#,
            r#"{"@timestamp":"2024-05-01T12:00:00Z","event":{"category":[],"type":[]}}"#,
            r#"{"@timestamp":"2024-05-01T12:00:00Z","event":{"category":"process"}}"#,
        ];
        for line in docs {
            let f = fields::parse(line.as_bytes()).expect("JSON");
            let p = convert::check(&f).expect("valid");
            let event: Event = convert::event(fields::parse(line.as_bytes()).expect("JSON"), p);
            let doc = Doc { f: &f, p: &p };
            for &field in Field::ALL {
                assert_eq!(
                    answers(&doc, field),
                    answers(&event, field),
                    "{field:?} of {line}"
                );
            }
            for c in ["process", "network", "x", ""] {
                assert_eq!(doc.has_category(c), event.has_category(c), "{c} of {line}");
            }
        }
        // The answers above are not all null.
        let f = fields::parse(docs[0].as_bytes()).expect("JSON");
        let p = convert::check(&f).expect("valid");
        let doc = Doc { f: &f, p: &p };
        assert_eq!(
            answers(&doc, Field::ParentCommandLine),
            r#"Some(false) ["bash -c x"] Some(true) [Some(true), Some(false), Some(false), Some(true)] None None"#
        );
        assert_eq!(
            answers(&doc, Field::SourcePort),
            "None [] None [None, None, None] Some(50000) None"
        );
        assert_eq!(
            answers(&doc, Field::SourceIp),
            "None [] None [None, None, None] None Some(10.0.0.1)"
        );
        assert!(doc.has_category("network"));
        assert!(!doc.has_category("process"));
    }

    fn stage_of(line: &str) -> Option<Stage> {
        let f = fields::parse(line.as_bytes()).expect("JSON");
        let p = convert::check(&f).expect("valid");
        Relevance::new(&RuleConfig::default()).stage(&f, &p)
    }

    const STAGE1: &str = r#"{"@timestamp":"2024-05-01T12:00:00Z","event":{"category":"process","type":"start","action":"exec"},"host":{"id":"h","os":{"type":"linux"}},"process":{"entity_id":"p1","parent":{"executable":"/usr/sbin/sshd"}}}"#;

    /// The default rule's stage 1 and stage 2 are told apart, and a document of neither is
    /// irrelevant.
    #[test]
    fn stages_of_the_default_rule() {
        let stage2 = r#"{"@timestamp":"2024-05-01T12:00:01Z","event":{"category":["network"],"type":["start"],"action":"connection_attempted"},"host":{"id":"h","os":{"type":"linux"}},"process":{"name":"curl","parent":{"entity_id":"p1"}},"destination":{"ip":"8.8.8.8"}}"#;
        assert_eq!(stage_of(STAGE1), Some(Stage::One));
        assert_eq!(stage_of(stage2), Some(Stage::Two));
        assert_eq!(
            stage_of(r#"{"@timestamp":"2024-05-01T12:00:00Z","event":{"category":"process"}}"#),
            None
        );
    }

    /// Debug builds catch a view that disagrees with the engine.
    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "replay relevance disagrees with the engine")]
    fn debug_check_catches_a_disagreement() {
        Relevance::new(&RuleConfig::default()).debug_check(STAGE1.as_bytes(), Some(Stage::Two));
    }
}
