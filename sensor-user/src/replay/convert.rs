//! From the [`Fields`] of one document to the engine's [`Event`], in two steps so that only the
//! events the rule can act on pay for allocation: [`check`] validates every line (parses
//! `@timestamp`, `process.start` and the IP addresses, normalising IPv4-mapped destinations the
//! way the rule matches them) without moving the fields; [`event`] builds the owned event.
//! Promises: an unparsable value is an error naming the field, never a silent `None`; the only
//! required fields are `@timestamp` (the merge needs it) and `event.category` (without it a
//! document is no Defend event); every other absent field is ECS null and left to the rule.

use std::net::IpAddr;

use super::fields::{Fields, ProcessFields, Str, StrList};
use super::time::{DateCache, parse_rfc3339, parse_rfc3339_with};
use crate::event::{Destination, Event, Process, TimestampNs};
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

/// The values of a valid document that needed parsing.
#[derive(Clone, Copy, Debug)]
pub struct Parsed {
    pub timestamp: TimestampNs,
    /// Normalised: `::ffff:a.b.c.d` is `a.b.c.d`.
    pub destination_ip: Option<IpAddr>,
    source_ip: Option<IpAddr>,
    process_start: Option<TimestampNs>,
    parent_start: Option<TimestampNs>,
}

/// Validates one document: every value the event needs parses, the required fields are there.
pub fn check(f: &Fields<'_>) -> Result<Parsed, FieldError> {
    check_with(f, &mut DateCache::default())
}

/// [`check`], with the date of the `@timestamp` before it in `cache` (same answers, faster).
pub fn check_with(f: &Fields<'_>, cache: &mut DateCache) -> Result<Parsed, FieldError> {
    let timestamp = match f.timestamp.as_deref() {
        None => return Err(FieldError::Missing("@timestamp")),
        Some(s) => parse_rfc3339_with(s, cache).ok_or_else(|| FieldError::Time {
            field: "@timestamp",
            value: s.to_owned(),
        })?,
    };
    if f.category.is_none() {
        return Err(FieldError::Missing("event.category"));
    }
    Ok(Parsed {
        timestamp,
        destination_ip: ip(f.destination_ip.as_deref(), "destination.ip")?.map(normalize_ip),
        source_ip: ip(f.source_ip.as_deref(), "source.ip")?,
        process_start: time(f.process.start.as_deref(), "process.start")?,
        parent_start: time(f.parent.start.as_deref(), "process.parent.start")?,
    })
}

/// The whole event of a document [`check`] accepted.
pub fn event(f: Fields<'_>, p: Parsed) -> Event {
    let mut process = process_of(f.process, p.process_start);
    process.user_id = process.user_id.or(f.user_id);
    process.group_id = process.group_id.or(f.group_id);
    if process.user_name.is_none() {
        process.user_name = owned(f.user_name);
    }
    Event {
        timestamp: p.timestamp,
        host_id: owned(f.host_id),
        host_name: owned(f.host_name),
        host_os_type: owned(f.host_os_type),
        category: f.category.map(StrList::into_strings).unwrap_or_default(),
        event_type: f.event_type.map(StrList::into_strings).unwrap_or_default(),
        action: owned(f.action),
        process,
        parent: process_of(f.parent, p.parent_start),
        destination: Destination {
            ip: p.destination_ip,
            port: f.destination_port,
        },
        source: Destination {
            ip: p.source_ip,
            port: f.source_port,
        },
        transport: owned(f.transport),
        ..Event::default()
    }
}

fn process_of(p: ProcessFields<'_>, start: Option<TimestampNs>) -> Process {
    Process {
        pid: p.pid,
        entity_id: owned(p.entity_id),
        executable: owned(p.executable),
        name: owned(p.name),
        args: p.args.map(StrList::into_strings),
        user_id: p.user_id,
        user_name: owned(p.user_name),
        group_id: p.group_id,
        start,
    }
}

fn time(raw: Option<&str>, field: &'static str) -> Result<Option<TimestampNs>, FieldError> {
    raw.map(|s| {
        parse_rfc3339(s).ok_or_else(|| FieldError::Time {
            field,
            value: s.to_owned(),
        })
    })
    .transpose()
}

fn ip(raw: Option<&str>, field: &'static str) -> Result<Option<IpAddr>, FieldError> {
    raw.map(|s| {
        if let Some(v4) = plain_ipv4(s) {
            return Ok(IpAddr::V4(v4));
        }
        s.parse().map_err(|_| FieldError::Ip {
            field,
            value: s.to_owned(),
        })
    })
    .transpose()
}

/// Dotted-quad IPv4 (`a.b.c.d`, each 0 to 255 in one to three digits, no leading zero): a fast
/// path that accepts only what `IpAddr::from_str` accepts, with the same value; anything else
/// is left to it.
fn plain_ipv4(s: &str) -> Option<std::net::Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.as_bytes().split(|&b| b == b'.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || (part.len() > 1 && part[0] == b'0') {
            return None;
        }
        let mut n: u16 = 0;
        for &d in part {
            if !d.is_ascii_digit() {
                return None;
            }
            n = n * 10 + u16::from(d - b'0');
        }
        *octet = u8::try_from(n).ok()?;
    }
    parts
        .next()
        .is_none()
        .then_some(std::net::Ipv4Addr::from(octets))
}

fn owned(s: Option<Str<'_>>) -> Option<String> {
    s.map(Str::into_owned)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::plain_ipv4;

    #[test]
    fn plain_ipv4_accepts_only_what_std_does() {
        let mut cases: Vec<String> = "0.0.0.0|255.255.255.255|256.1.1.1|01.2.3.4|1.2.3|1.2.3.4.5|\
             1..2.3|1.2.3.|.1.2.3|1.2.3.4 |+1.2.3.4|1.2.3.04|10.0.0.10|999.1.1.1|1.2.3.-4|\
             ::ffff:1.2.3.4||1234.1.1.1|1.2.3.a"
            .split('|')
            .map(String::from)
            .collect();
        for a in ["0", "00", "7", "25", "255", "256", "300", "099"] {
            cases.push(format!("{a}.1.{a}.2"));
        }
        for s in &cases {
            let fast = plain_ipv4(s).map(IpAddr::V4);
            let std = s.parse::<IpAddr>().ok();
            assert!(fast.is_none() || fast == std, "{s:?}: {fast:?} vs {std:?}");
            if std.is_some_and(|ip| ip.is_ipv4()) {
                assert_eq!(fast, std, "{s:?}");
            }
        }
    }
}
