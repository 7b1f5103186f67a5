//! From the [`Fields`] of one document to the engine's [`Event`]: parses `@timestamp`,
//! `process.start` and the IP addresses, and normalises IPv4-mapped destinations the way the
//! rule matches them. Promises: an unparsable value is an error naming the field, never a
//! silent `None`; the only required fields are `@timestamp` (the merge needs it) and
//! `event.category` (without it a document is no Defend event); every other absent field is
//! ECS null and left to the rule.

use std::net::IpAddr;

use super::fields::{Fields, ProcessFields, Str};
use super::time::parse_rfc3339;
use crate::event::{Destination, Event, Process};
use crate::rule::exclusions::normalize_ip;

/// Why a well-formed JSON line is still not a usable event.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FieldError {
    #[error("missing `{0}`")]
    Missing(&'static str),
    #[error("`{field}`: not an RFC 3339 time: {value:?}")]
    Time { field: &'static str, value: String },
    #[error("`{field}`: not an IP address: {value:?}")]
    Ip { field: &'static str, value: String },
}

impl FieldError {
    /// Short name for the summary's counters.
    pub fn kind(&self) -> &'static str {
        match self {
            FieldError::Missing(_) => "missing field",
            FieldError::Time { .. } => "bad time",
            FieldError::Ip { .. } => "bad IP",
        }
    }
}

/// `@timestamp` of the document (needed for every line, relevant or not).
pub fn timestamp(f: &Fields<'_>) -> Result<i64, FieldError> {
    let raw = f
        .timestamp
        .as_deref()
        .ok_or(FieldError::Missing("@timestamp"))?;
    parse_rfc3339(raw).ok_or_else(|| FieldError::Time {
        field: "@timestamp",
        value: raw.to_owned(),
    })
}

/// The whole event; `timestamp` is [`timestamp`]'s answer.
pub fn event(f: Fields<'_>, timestamp: i64) -> Result<Event, FieldError> {
    let category = f.category.ok_or(FieldError::Missing("event.category"))?;
    let destination = Destination {
        ip: ip(f.destination_ip.as_deref(), "destination.ip")?.map(normalize_ip),
        port: f.destination_port,
    };
    let source = Destination {
        ip: ip(f.source_ip.as_deref(), "source.ip")?,
        port: f.source_port,
    };
    let mut process = process_of(f.process, "process.start")?;
    process.user_id = process.user_id.or(f.user_id);
    process.group_id = process.group_id.or(f.group_id);
    if process.user_name.is_none() {
        process.user_name = owned(f.user_name);
    }
    Ok(Event {
        timestamp,
        host_id: owned(f.host_id),
        host_name: owned(f.host_name),
        host_os_type: owned(f.host_os_type),
        category: list(category),
        event_type: f.event_type.map(list).unwrap_or_default(),
        action: owned(f.action),
        process,
        parent: process_of(f.parent, "process.parent.start")?,
        destination,
        source,
        transport: owned(f.transport),
        ..Event::default()
    })
}

fn process_of(p: ProcessFields<'_>, start_field: &'static str) -> Result<Process, FieldError> {
    let start = match p.start.as_deref() {
        None => None,
        Some(raw) => Some(parse_rfc3339(raw).ok_or_else(|| FieldError::Time {
            field: start_field,
            value: raw.to_owned(),
        })?),
    };
    Ok(Process {
        pid: p.pid,
        entity_id: owned(p.entity_id),
        executable: owned(p.executable),
        name: owned(p.name),
        args: p.args.map(list),
        user_id: p.user_id,
        user_name: owned(p.user_name),
        group_id: p.group_id,
        start,
    })
}

fn ip(raw: Option<&str>, field: &'static str) -> Result<Option<IpAddr>, FieldError> {
    raw.map(|s| {
        s.parse().map_err(|_| FieldError::Ip {
            field,
            value: s.to_owned(),
        })
    })
    .transpose()
}

fn owned(s: Option<Str<'_>>) -> Option<String> {
    s.map(Str::into_owned)
}

fn list(v: Vec<Str<'_>>) -> Vec<String> {
    v.into_iter().map(Str::into_owned).collect()
}
