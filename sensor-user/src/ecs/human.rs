//! One alert as one readable terminal line: when, which rule, which host, who connected where,
//! and the shell sshd started for it. Promises: exactly one line (control characters in
//! attacker-chosen paths, arguments and names are escaped, so a crafted file name cannot
//! forge or hide log lines), and `?` where a value is unknown rather than a guess.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use super::time::rfc3339_nanos;
use crate::event::{Alert, Destination, Process};

const UNKNOWN: &str = "?";

/// e.g. `2023-11-14T22:13:20.123456789Z ALERT Network Connection Initiated by SSHD Child
/// Process: host=web1 /usr/bin/curl (pid 1234, user alice) -> 93.184.216.34:443 | parent
/// /usr/bin/bash (pid 1200) started by /usr/sbin/sshd 0.012s earlier` (on one line).
pub fn human_line(alert: &Alert) -> String {
    let (stage1, stage2) = (&*alert.stage1, &*alert.stage2);
    let host = stage2
        .host_name
        .as_deref()
        .or(stage2.host_id.as_deref())
        .unwrap_or(UNKNOWN);
    format!(
        "{} ALERT {}: host={} {} -> {} | parent {} started by {} {} earlier",
        rfc3339_nanos(stage2.timestamp),
        escape(&alert.rule.name),
        escape(host),
        describe(&stage2.process, true),
        endpoint(&stage2.destination),
        describe(&stage1.process, false),
        escape(image(&stage1.parent)),
        seconds(stage2.timestamp.saturating_sub(stage1.timestamp)),
    )
}

/// `executable (pid N, user U)`; the parenthesis lists only what is known.
fn describe(p: &Process, with_user: bool) -> String {
    let mut out = escape(image(p));
    let mut details = Vec::new();
    if let Some(pid) = p.pid {
        details.push(format!("pid {pid}"));
    }
    if with_user {
        match (&p.user_name, p.user_id) {
            (Some(name), _) => details.push(format!("user {}", escape(name))),
            (None, Some(uid)) => details.push(format!("uid {uid}")),
            (None, None) => {}
        }
    }
    if !details.is_empty() {
        let _ = write!(out, " ({})", details.join(", "));
    }
    out
}

/// The process's image: its executable, else its name, else `?`.
pub(crate) fn image(p: &Process) -> &str {
    p.executable
        .as_deref()
        .or(p.name.as_deref())
        .unwrap_or(UNKNOWN)
}

/// `ip:port`, `[ipv6]:port`, the bare address without a port, or `?`.
pub(crate) fn endpoint(d: &Destination) -> String {
    match (d.ip.map(|ip| ip.to_canonical()), d.port) {
        (Some(ip), Some(port)) => SocketAddr::new(ip, port).to_string(),
        (Some(IpAddr::V6(ip)), None) => format!("[{ip}]"),
        (Some(ip), None) => ip.to_string(),
        (None, Some(port)) => format!("?:{port}"),
        (None, None) => UNKNOWN.to_owned(),
    }
}

/// Nanoseconds as seconds with millisecond precision (truncated), e.g. `0.012s`.
fn seconds(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let ns = ns.unsigned_abs();
    format!(
        "{sign}{}.{:03}s",
        ns / 1_000_000_000,
        ns % 1_000_000_000 / 1_000_000
    )
}

/// `s` with control characters (newline, escape, ...) written as Rust escapes.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::fixtures;

    #[test]
    fn the_whole_story_on_one_line() {
        assert_eq!(
            human_line(&fixtures::alert()),
            "2023-11-14T22:13:20.123456789Z ALERT Network Connection Initiated by SSHD Child \
             Process: host=web1 /usr/bin/curl (pid 1234, user alice) -> 93.184.216.34:443 | \
             parent /usr/bin/bash (pid 1200) started by /usr/sbin/sshd 0.012s earlier"
        );
    }

    #[test]
    fn ipv6_destination_is_bracketed() {
        let mut stage2 = fixtures::stage2();
        stage2.destination.ip = "2001:db8::1".parse().ok();
        let line = human_line(&fixtures::alert_of(fixtures::stage1(), stage2));
        assert!(line.contains(" -> [2001:db8::1]:443 | "), "{line}");
    }

    #[test]
    fn unknown_values_are_question_marks_not_guesses() {
        let mut stage1 = fixtures::stage1();
        stage1.parent = Process::default();
        stage1.process.pid = None;
        let mut stage2 = fixtures::stage2();
        stage2.host_name = None;
        stage2.host_id = None;
        stage2.process.executable = None;
        stage2.process.user_name = None;
        stage2.destination = Destination::default();
        let line = human_line(&fixtures::alert_of(stage1, stage2));
        assert!(
            line.ends_with(
                "host=? curl (pid 1234, uid 1000) -> ? | parent /usr/bin/bash started by ? \
                 0.012s earlier"
            ),
            "{line}"
        );
    }

    #[test]
    fn control_characters_cannot_break_the_line() {
        let mut stage2 = fixtures::stage2();
        stage2.process.executable = Some("/tmp/x\n2023-01-01T00:00:00Z ALERT fake\x1b[2K".into());
        let line = human_line(&fixtures::alert_of(fixtures::stage1(), stage2));
        assert!(!line.contains('\n') && !line.contains('\x1b'), "{line}");
        assert!(
            line.contains(r"/tmp/x\n2023-01-01T00:00:00Z ALERT fake\u{1b}[2K"),
            "{line}"
        );
    }

    #[test]
    fn elapsed_time() {
        assert_eq!(seconds(0), "0.000s");
        assert_eq!(seconds(999_999), "0.000s");
        assert_eq!(seconds(1_000_000_000), "1.000s");
        assert_eq!(seconds(-12_000_000), "-0.012s");
    }
}
