//! The rule: its definition as data and the pure sequence engine.
pub mod definition;
