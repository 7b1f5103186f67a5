//! Unit tests of the engine, one or more per point of SEMANTICS.md, with shared event builders.

use std::net::IpAddr;
use std::str::FromStr;

use ipnetwork::IpNetwork;

use super::{Engine, Limits, RuleConfig};
use crate::event::{Alert, Event, Process, TimestampNs};

const MS: TimestampNs = 1_000_000;
const S: TimestampNs = 1_000_000_000;
/// 2023-11-14T22:13:20Z, an arbitrary event time.
const T0: TimestampNs = 1_700_000_000 * S;

fn ip(s: &str) -> IpAddr {
    IpAddr::from_str(s).unwrap_or_else(|e| panic!("{s:?} is not an address: {e}"))
}

/// A stage-1 exec: `entity` exec'd on `host` by a child of `/usr/sbin/sshd`.
fn exec(ts: TimestampNs, host: &str, entity: &str) -> Event {
    Event {
        timestamp: ts,
        host_id: Some(host.to_owned()),
        host_name: Some(format!("{host}.example")),
        host_os_type: Some("linux".to_owned()),
        category: vec!["process".to_owned()],
        event_type: vec!["start".to_owned()],
        action: Some("exec".to_owned()),
        process: Process {
            pid: Some(4242),
            entity_id: Some(entity.to_owned()),
            executable: Some("/usr/bin/bash".to_owned()),
            name: Some("bash".to_owned()),
            ..Process::default()
        },
        parent: Process {
            pid: Some(4241),
            entity_id: Some(format!("{entity}-parent")),
            executable: Some("/usr/sbin/sshd".to_owned()),
            name: Some("sshd".to_owned()),
            ..Process::default()
        },
        ..Event::default()
    }
}

/// A stage-2 connect by `curl`, a child of `parent_entity`, to `dst`.
fn connect(ts: TimestampNs, host: &str, parent_entity: &str, dst: &str) -> Event {
    let mut e = Event {
        timestamp: ts,
        host_id: Some(host.to_owned()),
        host_name: Some(format!("{host}.example")),
        host_os_type: Some("linux".to_owned()),
        category: vec!["network".to_owned()],
        event_type: vec!["start".to_owned()],
        action: Some("connection_attempted".to_owned()),
        process: Process {
            pid: Some(4343),
            entity_id: Some(format!("{parent_entity}-child")),
            executable: Some("/usr/bin/curl".to_owned()),
            name: Some("curl".to_owned()),
            ..Process::default()
        },
        parent: Process {
            pid: Some(4242),
            entity_id: Some(parent_entity.to_owned()),
            executable: Some("/usr/bin/bash".to_owned()),
            name: Some("bash".to_owned()),
            ..Process::default()
        },
        transport: Some("tcp".to_owned()),
        ..Event::default()
    };
    e.destination.ip = Some(ip(dst));
    e.destination.port = Some(443);
    e
}

fn engine() -> Engine {
    Engine::new(RuleConfig::default(), Limits::default())
}

/// Feeds `events` in order; returns the alerts.
fn run(engine: &mut Engine, events: impl IntoIterator<Item = Event>) -> Vec<Alert> {
    events
        .into_iter()
        .filter_map(|e| engine.process(e))
        .collect()
}

fn net(s: &str) -> IpNetwork {
    IpNetwork::from_str(s).unwrap_or_else(|e| panic!("{s:?} is not a network: {e}"))
}

mod conditions;
mod elasticsearch;
mod held;
mod sequence;

/// `is_pending` answers for exactly the keys held: not before the stage 1, not for another
/// host or entity, and not once a stage 2 consumed it.
#[test]
fn is_pending_only_for_held_keys() {
    let mut e = engine();
    assert!(!e.is_pending("h", "a"));
    assert_eq!(e.process(exec(T0, "h", "a")), None);
    assert!(e.is_pending("h", "a"));
    assert!(!e.is_pending("h", "b"));
    assert!(!e.is_pending("other", "a"));
    let alert = e.process(connect(T0 + MS, "h", "a", "93.184.216.34"));
    assert!(alert.is_some());
    assert!(!e.is_pending("h", "a"), "a matched stage 1 is consumed");
}

/// Two stage 1s of one key with the same timestamp: the later arrival wins (the newest in
/// event order), so the alert carries the second.
#[test]
fn same_timestamp_stage1_later_arrival_wins() {
    let mut e = engine();
    let first = exec(T0, "h", "a");
    let mut second = exec(T0, "h", "a");
    second.process.pid = Some(7);
    assert_eq!(e.process(first), None);
    assert_eq!(e.process(second), None);
    let alert = e.process(connect(T0 + MS, "h", "a", "93.184.216.34"));
    assert_eq!(alert.map(|a| a.stage1.process.pid), Some(Some(7)));
}

/// A stage 1 with a null join key is dropped before anything is counted, even when it is late
/// beyond maxspan (it is not an expired entry: it never could be held).
#[test]
fn null_key_stage1_is_not_counted_as_expired() {
    let mut e = engine();
    assert_eq!(e.process(exec(T0 + 10 * S, "h", "x")), None);
    let mut late = exec(T0, "h", "a");
    late.process.entity_id = None;
    assert_eq!(e.process(late), None);
    let mut late = exec(T0, "h", "a");
    late.host_id = None;
    assert_eq!(e.process(late), None);
    let stats = e.stats();
    assert_eq!((stats.stage1, stats.expired), (3, 0), "{stats:?}");
}
