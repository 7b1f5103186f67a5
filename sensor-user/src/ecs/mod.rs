//! ECS documents: the alert, and events in the Elastic Defend shape. `document` renders one
//! event (and owns the field builders the alert reuses), `alert` one completed sequence,
//! `human` one terminal line, `summary` the rate cap's summary of a session, `time` the RFC 3339
//! timestamps they all print, `bounds` how much of a command line they carry. Everything here
//! is a pure function of its input: no clock, no I/O.

pub mod alert;
pub mod bounds;
pub mod document;
pub mod human;
pub mod summary;
pub mod time;

#[cfg(test)]
pub(crate) mod fixtures;
