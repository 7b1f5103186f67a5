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
