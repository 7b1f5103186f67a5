//! sshd-sensor: catches Elastic's "Network Connection Initiated by SSHD Child Process" (v4) as
//! it happens. The kernel programs decide lineage; this library decides the rule.
//!
//! Pipeline: `kernel` (load, attach) -> `daemon` (read the ring buffer) -> `decode` (bytes to
//! records, with length and kind checks) -> `enrich` (records to [`event::Event`]s: paths,
//! args, entity ids) -> `rule` (the pure engine: events in, alerts out) -> `ecs` (documents)
//! -> `output`.

pub mod commands;
pub mod config;
pub mod daemon;
pub mod decode;
pub mod ecs;
pub mod enrich;
pub mod event;
pub mod host;
pub mod kernel;
pub mod logging;
pub mod notify;
pub mod output;
pub mod ratelimit;
pub mod record;
pub mod reload;
pub mod replay;
pub mod rule;
