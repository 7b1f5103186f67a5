//! The rule: its definition as data and the pure sequence engine.
pub mod compiled;
pub mod definition;
pub mod engine;
pub mod eql;
pub mod exclusions;
pub mod fasthash;
pub mod file;
pub mod profiles;

pub use engine::{Engine, EngineStats, Limits, ParentHint, RuleConfig};
