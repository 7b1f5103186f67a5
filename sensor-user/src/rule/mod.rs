//! The rule: its definition as data and the pure sequence engine.
pub mod compiled;
pub mod definition;
pub mod engine;
pub mod eql;
pub mod exclusions;
pub mod fasthash;
pub mod file;
pub mod profiles;

pub use engine::{
    Build, Engine, EngineStats, Held, HeldMismatch, Limits, ParentHint, RuleConfig, Stage2Key,
};
