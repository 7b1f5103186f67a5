//! The rule: Elastic's rule files, their compiled form and the pure sequence engine.
pub mod compiled;
pub mod engine;
pub mod eql;
pub mod exclusions;
pub mod fasthash;
pub mod file;
pub mod profiles;
#[cfg(test)]
pub(crate) mod seed;

pub use engine::{
    Build, Engine, EngineStats, Held, HeldMismatch, Limits, ParentHint, RuleConfig, Stage2Key,
};
