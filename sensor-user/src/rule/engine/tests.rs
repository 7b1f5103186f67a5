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
mod sequence;
