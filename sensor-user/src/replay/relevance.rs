//! Which stage of the rule a checked document satisfies, answered on the borrowed fields so the
//! events the rule cannot act on (most of a hunt) are never converted into owned [`Event`]s.
//! Promises: the answer is exactly [`Engine::is_stage1`] / [`Engine::is_stage2`] of the converted
//! event under the same [`RuleConfig`] (the same conditions, the same [`Exclusions`] type); debug
//! builds convert every document and assert it, so the unit and differential tests check it on
//! every line they replay.
//!
//! [`Event`]: crate::event::Event
//! [`Engine::is_stage1`]: crate::rule::Engine::is_stage1
//! [`Engine::is_stage2`]: crate::rule::Engine::is_stage2

use super::convert::Parsed;
use super::fields::Fields;
use crate::rule::RuleConfig;
use crate::rule::exclusions::Exclusions;
#[cfg(debug_assertions)]
use crate::rule::{Engine, Limits};

/// The stage a document satisfies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    One,
    Two,
}

/// The rule's stage conditions, ready for borrowed fields.
#[derive(Debug)]
pub struct Relevance {
    parent_executables: Vec<String>,
    exclusions: Exclusions,
    /// The engine's own predicates, which [`Relevance::debug_check`] compares against.
    #[cfg(debug_assertions)]
    engine: Engine,
}

impl Relevance {
    pub fn new(config: &RuleConfig) -> Self {
        Self {
            parent_executables: config.parent_executables.clone(),
            exclusions: Exclusions::new(
                &config.extra_excluded_cidrs,
                &config.extra_excluded_names,
                &config.extra_excluded_executables,
            ),
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

    /// Stage 1 (`process where ... and process.parent.executable in <parent executables>`),
    /// stage 2 (`network where ... and not <exclusions>`), or neither.
    pub fn stage(&self, f: &Fields<'_>, p: &Parsed) -> Option<Stage> {
        let common = |category: &str| {
            f.host_os_type.as_deref() == Some("linux")
                && f.category.as_ref().is_some_and(|c| c.contains(category))
                && f.event_type.as_ref().is_some_and(|t| t.contains("start"))
        };
        match f.action.as_deref()? {
            "exec" => {
                let parent = f.parent.executable.as_deref()?;
                let stage1 =
                    common("process") && self.parent_executables.iter().any(|x| x == parent);
                stage1.then_some(Stage::One)
            }
            "connection_attempted" => {
                let stage2 = common("network")
                    && !self.exclusions.excludes_destination(p.destination_ip)
                    && !self.exclusions.excludes_process(
                        f.process.executable.as_deref(),
                        f.process.name.as_deref(),
                    );
                stage2.then_some(Stage::Two)
            }
            _ => None,
        }
    }
}
