//! From the [`Fields`] of one document to the engine's [`Event`], in two steps so that only the
//! events the rule can act on pay for allocation: [`check`] validates every line (parses
//! `@timestamp`, `process.start` and the IP addresses, normalising IPv4-mapped destinations the
//! way the rule matches them) without moving the fields; [`event`] builds the owned event.
//! Promises: an unparsable value is an error naming the field, never a silent `None`; the only
//! required fields are `@timestamp` (the merge needs it) and `event.category` (without it a
//! document is no Defend event); every other absent field is ECS null and left to the rule.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
    pub source_ip: Option<IpAddr>,
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
        args_truncated: false,
        command_line: owned(p.command_line),
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
        if let Some(ip) = plain_ipv4(s)
            .map(IpAddr::V4)
            .or_else(|| plain_ipv6(s).map(IpAddr::V6))
        {
            return Ok(ip);
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
fn plain_ipv4(s: &str) -> Option<Ipv4Addr> {
    let b = s.as_bytes();
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (k, octet) in octets.iter_mut().enumerate() {
        if k > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut n: u32 = 0;
        while let Some(&d) = b.get(i)
            && d.is_ascii_digit()
            && i - start < 3
        {
            n = n * 10 + u32::from(d - b'0');
            i += 1;
        }
        if i == start || (i - start > 1 && b[start] == b'0') {
            return None;
        }
        *octet = u8::try_from(n).ok()?;
    }
    (i == b.len()).then_some(Ipv4Addr::from(octets))
}

/// IPv6 in hex groups only (`2606:4700::1111`, `fe80::1`, eight full groups; no embedded IPv4):
/// one to four hex digits per group, at most one `::` standing for at least one zero group. A
/// fast path like [`plain_ipv4`]: it accepts only what `IpAddr::from_str` accepts, with the same
/// value, and leaves anything else to it.
fn plain_ipv6(s: &str) -> Option<Ipv6Addr> {
    let b = s.as_bytes();
    let mut groups = [0u16; 8];
    let mut n = 0;
    // Groups read before the `::`, if there is one.
    let mut gap = None;
    let mut i = 0;
    if b.starts_with(b"::") {
        gap = Some(0);
        i = 2;
    }
    while i < b.len() {
        let start = i;
        let mut group = 0u16;
        while let Some(digit) = b.get(i).and_then(|&c| hex_digit(c))
            && i - start < 4
        {
            group = (group << 4) | digit;
            i += 1;
        }
        if i == start {
            return None;
        }
        *groups.get_mut(n)? = group;
        n += 1;
        match b.get(i..i + 2) {
            None if i == b.len() => break,
            Some(b"::") if gap.is_none() => {
                gap = Some(n);
                i += 2;
            }
            // A single colon before another group.
            Some([b':', c]) if *c != b':' => i += 1,
            _ => return None,
        }
    }
    match gap {
        None if n == 8 => {}
        Some(at) if n <= 7 => {
            groups.copy_within(at..n, 8 - (n - at));
            groups[at..8 - (n - at)].fill(0);
        }
        _ => return None,
    }
    Some(Ipv6Addr::from(groups))
}

/// The value of one hex digit.
fn hex_digit(c: u8) -> Option<u16> {
    match c {
        b'0'..=b'9' => Some(u16::from(c - b'0')),
        b'a'..=b'f' => Some(u16::from(c - b'a' + 10)),
        b'A'..=b'F' => Some(u16::from(c - b'A' + 10)),
        _ => None,
    }
}

fn owned(s: Option<Str<'_>>) -> Option<String> {
    s.map(Str::into_owned)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::{FieldError, check, event, plain_ipv4, plain_ipv6};
    use crate::event::{Destination, Event, Process};
    use crate::replay::fields;
    use crate::replay::time::parse_rfc3339;

    /// `line` checked and converted.
    fn convert(line: &str) -> Result<Event, FieldError> {
        let f = fields::parse(line.as_bytes()).expect("JSON");
        let p = check(&f)?;
        Ok(event(f, p))
    }

    fn time(s: &str) -> i64 {
        parse_rfc3339(s).expect("time")
    }

    /// Every field the event has is taken from its document field: strings owned, lists
    /// whole, times parsed, an IPv4-mapped destination normalised, the rest of the event empty.
    #[test]
    fn an_event_has_every_field_of_its_document() {
        let line = r#"{"@timestamp":"2024-05-01T12:00:00.5Z","host":{"id":"h1","name":"web1","os":{"type":"linux"}},"event":{"category":["network"],"type":["start","connection"],"action":"connection_attempted"},"process":{"pid":1234,"entity_id":"e1","executable":"/usr/bin/curl","name":"curl","args":["curl","-s"],"command_line":"curl -s","start":"2024-05-01T11:59:59Z","user":{"id":"1000","name":"alice"},"group":{"id":1001},"parent":{"pid":900,"entity_id":"e0","executable":"/usr/bin/bash","name":"bash","args":["-bash"],"command_line":"-bash","start":"2024-05-01T11:00:00Z","user":{"id":"0","name":"root"},"group":{"id":"2"}}},"user":{"id":"7","name":"top"},"group":{"id":8},"destination":{"ip":"::ffff:1.2.3.4","port":443},"source":{"ip":"2001:db8::1","port":50000},"network":{"transport":"tcp"}}"#;
        let want = Event {
            timestamp: time("2024-05-01T12:00:00.5Z"),
            host_id: Some("h1".into()),
            host_name: Some("web1".into()),
            host_os_type: Some("linux".into()),
            category: vec!["network".into()],
            event_type: vec!["start".into(), "connection".into()],
            action: Some("connection_attempted".into()),
            process: Process {
                pid: Some(1234),
                entity_id: Some("e1".into()),
                executable: Some("/usr/bin/curl".into()),
                name: Some("curl".into()),
                args: Some(vec!["curl".into(), "-s".into()]),
                args_truncated: false,
                command_line: Some("curl -s".into()),
                user_id: Some(1000),
                user_name: Some("alice".into()),
                group_id: Some(1001),
                start: Some(time("2024-05-01T11:59:59Z")),
            },
            parent: Process {
                pid: Some(900),
                entity_id: Some("e0".into()),
                executable: Some("/usr/bin/bash".into()),
                name: Some("bash".into()),
                args: Some(vec!["-bash".into()]),
                args_truncated: false,
                command_line: Some("-bash".into()),
                user_id: Some(0),
                user_name: Some("root".into()),
                group_id: Some(2),
                start: Some(time("2024-05-01T11:00:00Z")),
            },
            destination: Destination {
                ip: Some("1.2.3.4".parse().expect("ip")),
                port: Some(443),
            },
            source: Destination {
                ip: Some("2001:db8::1".parse().expect("ip")),
                port: Some(50000),
            },
            transport: Some("tcp".into()),
            session: None,
            original: None,
            raw: None,
        };
        assert_eq!(convert(line), Ok(want));
        // The top-level `user.*` and `group.*` stand in for an absent `process.user.*` and
        // `process.group.*`; everything else absent stays null.
        let line = r#"{"@timestamp":"2024-05-01T12:00:00Z","event":{"category":"process"},"user":{"id":"7","name":"top"},"group":{"id":8}}"#;
        let want = Event {
            timestamp: time("2024-05-01T12:00:00Z"),
            category: vec!["process".into()],
            process: Process {
                user_id: Some(7),
                user_name: Some("top".into()),
                group_id: Some(8),
                ..Process::default()
            },
            ..Event::default()
        };
        assert_eq!(convert(line), Ok(want));
    }

    /// An unparsable value is an error naming the field and quoting the value, with its short
    /// kind for the counters; `@timestamp` and `event.category` are required.
    #[test]
    fn each_bad_field_is_named() {
        let doc = |extra: &str| {
            format!(
                r#"{{"@timestamp":"2024-05-01T12:00:00Z","event":{{"category":"process"}}{extra}}}"#
            )
        };
        let time_err = |field, value: &str| FieldError::Time {
            field,
            value: value.into(),
        };
        let ip_err = |field, value: &str| FieldError::Ip {
            field,
            value: value.into(),
        };
        for (line, want, kind) in [
            (
                r#"{"event":{"category":"process"}}"#.to_owned(),
                FieldError::Missing("@timestamp"),
                "missing field",
            ),
            (
                r#"{"@timestamp":"2024-05-01T12:00:00Z"}"#.to_owned(),
                FieldError::Missing("event.category"),
                "missing field",
            ),
            (
                r#"{"@timestamp":"noon","event":{"category":"process"}}"#.to_owned(),
                time_err("@timestamp", "noon"),
                "bad time",
            ),
            (
                doc(r#","process":{"start":"x"}"#),
                time_err("process.start", "x"),
                "bad time",
            ),
            (
                doc(r#","process":{"parent":{"start":"2024-05-01"}}"#),
                time_err("process.parent.start", "2024-05-01"),
                "bad time",
            ),
            (
                doc(r#","destination":{"ip":"1.2.3"}"#),
                ip_err("destination.ip", "1.2.3"),
                "bad IP",
            ),
            (
                doc(r#","source":{"ip":"fe80::1%eth0"}"#),
                ip_err("source.ip", "fe80::1%eth0"),
                "bad IP",
            ),
        ] {
            let got = convert(&line).expect_err(&line);
            assert_eq!(got, want, "{line}");
            assert_eq!(got.kind(), kind, "{line}");
        }
    }

    /// The fast paths accept only what `IpAddr::from_str` does, with the same value, and
    /// `expect_fast` says whether they must accept a string std accepts.
    fn agrees(s: &str, expect_fast: bool) {
        let fast = plain_ipv4(s)
            .map(IpAddr::V4)
            .or_else(|| plain_ipv6(s).map(IpAddr::V6));
        let std = s.parse::<IpAddr>().ok();
        assert!(fast.is_none() || fast == std, "{s:?}: {fast:?} vs {std:?}");
        if expect_fast && std.is_some() {
            assert_eq!(fast, std, "{s:?}");
        }
    }

    #[test]
    fn plain_ipv4_accepts_only_what_std_does() {
        let mut cases: Vec<String> = "0.0.0.0|255.255.255.255|256.1.1.1|01.2.3.4|1.2.3|1.2.3.4.5|\
             1..2.3|1.2.3.|.1.2.3|1.2.3.4 |+1.2.3.4|1.2.3.04|10.0.0.10|999.1.1.1|1.2.3.-4|\
             ::ffff:1.2.3.4||1234.1.1.1|1.2.3.a|1.2.3.4\n|1.2.3.0000"
            .split('|')
            .map(String::from)
            .collect();
        for a in ["0", "00", "7", "25", "255", "256", "300", "099"] {
            cases.push(format!("{a}.1.{a}.2"));
        }
        for s in &cases {
            agrees(s, !s.contains(':'));
        }
    }

    #[test]
    fn plain_ipv6_accepts_only_what_std_does() {
        for s in "::|::1|1::|1::2|2606:4700::1111|fe80::1|FE80::A:b|1:2:3:4:5:6:7:8|\
             1:2:3:4:5:6:7::|::2:3:4:5:6:7:8|1:2:3::5:6:7:8|0000:ffff:FFFF:0:00:000:1:0|\
             1:2:3:4:5:6:7:8::|::1:2:3:4:5:6:7:8|1:2:3:4:5:6:7|1:2:3:4:5:6:7:8:9|:1::2|1::2:|\
             1::2::3|:::|1:::2|12345::|::12345|g::1|1:2:3:4:5:6::7:8|::ffff:1.2.3.4|\
             ::1.2.3.4|1::2.3.4.5| ::1|::1 |1:2|:|+1::2|1::-2|１::2"
            .split('|')
            .map(str::trim_start)
        {
            agrees(s, !s.contains('.'));
        }
        // Every string of up to six characters over a small alphabet.
        let alphabet = [b'0', b'a', b'F', b':', b'.', b'1'];
        let mut s = Vec::new();
        fn all(s: &mut Vec<u8>, alphabet: &[u8], left: usize) {
            let text = std::str::from_utf8(s).expect("ascii");
            agrees(text, !text.contains('.'));
            if left == 0 {
                return;
            }
            for &c in alphabet {
                s.push(c);
                all(s, alphabet, left - 1);
                s.pop();
            }
        }
        all(&mut s, &alphabet, 6);
        // Generated addresses in every compressed spelling std accepts.
        for bits in [
            0u128,
            1,
            u128::MAX,
            0x2606_4700 << 96 | 0x1111,
            0xfe80 << 112 | 1,
        ] {
            let full: Vec<String> = std::net::Ipv6Addr::from(bits)
                .segments()
                .iter()
                .map(|g| format!("{g:x}"))
                .collect();
            agrees(&full.join(":"), true);
            for at in 0..8 {
                for len in 1..=8 - at {
                    let head = full[..at].join(":");
                    let tail = full[at + len..].join(":");
                    agrees(&format!("{head}::{tail}"), true);
                }
            }
        }
    }
}
