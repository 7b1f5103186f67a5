//! The normalised events the rule engine consumes. Live mode (kernel records, enriched) and
//! replay mode (Elastic Defend ECS documents) both produce exactly these, so the engine cannot
//! tell them apart. Field names follow the ECS fields the rule reads; `None` is ECS null.

use std::net::IpAddr;
use std::sync::Arc;

use crate::rule::file::RuleMeta;

/// Nanoseconds since the Unix epoch (the event's `@timestamp`).
pub type TimestampNs = i64;

/// A process as ECS `process.*` / `process.parent.*` describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Process {
    pub pid: Option<u32>,
    pub entity_id: Option<String>,
    /// Absolute, symlink-resolved path of the image (`/proc/PID/exe`).
    pub executable: Option<String>,
    /// File name of `executable` (not `comm`).
    pub name: Option<String>,
    pub args: Option<Vec<String>>,
    /// `args` is not the whole argv (the kernel's or the `/proc` read's bound cut it).
    pub args_truncated: bool,
    /// The document's `process.command_line` (replay). `None` live, where the command line is
    /// the arguments joined with single spaces, as Defend builds it.
    pub command_line: Option<String>,
    pub user_id: Option<u32>,
    pub user_name: Option<String>,
    pub group_id: Option<u32>,
    /// Process start, ns since the Unix epoch.
    pub start: Option<TimestampNs>,
}

/// ECS `destination.*` of a network event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Destination {
    /// IPv4-mapped IPv6 addresses are already normalised to IPv4.
    pub ip: Option<IpAddr>,
    pub port: Option<u16>,
}

/// The SSH login a stage-1 process serves, from what the logged-in user cannot write: the
/// client and server ends of the TCP socket of the sshd process that started it, and the name
/// of its kernel-reported uid (never `SSH_CONNECTION` or `USER`, which the user sets). Absent
/// pieces stay `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Session {
    pub client_ip: Option<IpAddr>,
    pub client_port: Option<u16>,
    pub server_ip: Option<IpAddr>,
    pub server_port: Option<u16>,
    /// The login user: the name of the stage-1 process's uid.
    pub user: Option<String>,
}

/// One event, as the rule sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Event {
    pub timestamp: TimestampNs,
    /// `host.id`
    pub host_id: Option<String>,
    /// `host.name`
    pub host_name: Option<String>,
    /// `host.os.type`
    pub host_os_type: Option<String>,
    /// `event.category` (array in ECS; a single string becomes one element).
    pub category: Vec<String>,
    /// `event.type`
    pub event_type: Vec<String>,
    /// `event.action`
    pub action: Option<String>,
    /// `process.*`
    pub process: Process,
    /// `process.parent.*`
    pub parent: Process,
    /// `destination.*` (network events).
    pub destination: Destination,
    /// `source.*` of network events (the local end), when known.
    pub source: Destination,
    /// `network.transport`, e.g. "tcp".
    pub transport: Option<String>,
    /// The SSH session of the stage-1 process (live mode only).
    pub session: Option<Session>,
    /// The original ECS document when the event came from one (replay); alerts embed it
    /// verbatim instead of re-rendering.
    pub original: Option<Arc<serde_json::Value>>,
    /// The document line a replayed stage 1 was read from, while the engine holds it: such an
    /// event carries only its timestamp and join key besides (see
    /// [`Held::Stage1`](crate::rule::Held::Stage1)), and replay
    /// builds the whole event from this line only if it becomes part of an alert. `None` for
    /// every other event.
    pub raw: Option<Box<[u8]>>,
}

impl Event {
    /// `event.category` contains `c` (EQL's `process where` / `network where`).
    pub fn has_category(&self, c: &str) -> bool {
        self.category.iter().any(|x| x == c)
    }

    /// `event.type` contains `t` (EQL `==` against an array field matches any element).
    pub fn has_type(&self, t: &str) -> bool {
        self.event_type.iter().any(|x| x == t)
    }
}

/// A completed sequence: the stage-1 exec and the stage-2 connect that joined it.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub stage1: Arc<Event>,
    pub stage2: Arc<Event>,
    /// The rule that matched: its identity and description, as the alert carries them.
    pub rule: Arc<RuleMeta>,
}
