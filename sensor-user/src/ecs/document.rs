//! One [`Event`] as an ECS document in the shape Elastic Defend gives its Linux `exec` and
//! `connection_attempted` events (nested objects, not dotted keys), but naming this sensor in
//! `event.module`/`event.dataset`. Promises: every value comes from the event (nothing is
//! invented), an absent value is an absent field (never `null`), and a replayed event's
//! original Defend document is returned verbatim. The field builders are shared with the
//! alert document so a process looks the same wherever it appears.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::{
    bounds::{ARGS_MAX_BYTES, bounded_args},
    time::rfc3339_nanos,
};
use crate::event::{Destination, Event, Process};

/// `ecs.version` of every document this sensor writes.
pub const ECS_VERSION: &str = "9.4.0";
/// `event.module` of every document this sensor writes.
pub const EVENT_MODULE: &str = "sshd_sensor";
/// `event.dataset` of event documents.
pub const EVENTS_DATASET: &str = "sshd_sensor.events";

/// `e` as an ECS document; a clone of `e.original` when the event came from one.
pub fn event_document(e: &Event) -> Value {
    if let Some(original) = &e.original {
        return Value::clone(original);
    }
    let mut doc = Map::new();
    doc.insert("@timestamp".into(), rfc3339_nanos(e.timestamp).into());
    doc.insert("ecs".into(), object([("version", ECS_VERSION.into())]));

    let mut event = Map::new();
    event.insert("kind".into(), "event".into());
    if !e.category.is_empty() {
        event.insert("category".into(), e.category.clone().into());
    }
    if !e.event_type.is_empty() {
        event.insert("type".into(), e.event_type.clone().into());
    }
    put(&mut event, "action", e.action.clone());
    event.insert("module".into(), EVENT_MODULE.into());
    event.insert("dataset".into(), EVENTS_DATASET.into());
    doc.insert("event".into(), event.into());

    put_object(&mut doc, "host", host_fields(e));
    let mut process = process_fields(&e.process);
    put_object(&mut process, "parent", process_fields(&e.parent));
    put_object(&mut doc, "process", process);
    insert_user_and_group(&mut doc, &e.process);
    insert_network(&mut doc, e);
    doc.into()
}

/// `host.{id, name, os.type}` of `e`.
pub(crate) fn host_fields(e: &Event) -> Map<String, Value> {
    let mut host = Map::new();
    put(&mut host, "id", e.host_id.clone());
    put(&mut host, "name", e.host_name.clone());
    let mut os = Map::new();
    put(&mut os, "type", e.host_os_type.clone());
    put_object(&mut host, "os", os);
    host
}

/// The fields ECS defines for `process.*` and `process.parent.*` that a [`Process`] carries:
/// `pid, entity_id, executable, name, args, args_count, command_line, start, user.{id, name},
/// group.id`. `args` and `command_line` are bounded ([`super::bounds`]); `args_count` counts
/// every argument known. ECS types ids as keywords, so uid and gid are strings, as Defend writes them.
pub(crate) fn process_fields(p: &Process) -> Map<String, Value> {
    let mut m = Map::new();
    put(&mut m, "pid", p.pid);
    put(&mut m, "entity_id", p.entity_id.clone());
    put(&mut m, "executable", p.executable.clone());
    put(&mut m, "name", p.name.clone());
    if let Some(args) = &p.args {
        let (kept, _) = bounded_args(args);
        m.insert("args_count".into(), args.len().into());
        let args = kept;
        m.insert("args".into(), args.clone().into());
        // The document's own command line (replay) when it fits the bound, else the kept
        // arguments joined, as Defend builds it.
        if let Some(line) = p
            .command_line
            .as_ref()
            .filter(|l| l.len() <= ARGS_MAX_BYTES)
        {
            m.insert("command_line".into(), line.clone().into());
        } else if !args.is_empty() {
            m.insert("command_line".into(), args.join(" ").into());
        }
    }
    put(&mut m, "start", p.start.map(rfc3339_nanos));
    put_object(&mut m, "user", user_fields(p));
    put_object(&mut m, "group", group_fields(p));
    m
}

/// Whether `p`'s `args` and `command_line` are not its whole argv: the kernel or the `/proc`
/// read cut it, or [`bounded_args`] does.
pub(crate) fn args_truncated(p: &Process) -> bool {
    p.args_truncated || p.args.as_deref().is_some_and(|a| bounded_args(a).1)
}

/// Top-level `user.{id, name}` and `group.id`: who ran the event's process (Defend sets
/// these on every event).
pub(crate) fn insert_user_and_group(doc: &mut Map<String, Value>, p: &Process) {
    put_object(doc, "user", user_fields(p));
    put_object(doc, "group", group_fields(p));
}

fn user_fields(p: &Process) -> Map<String, Value> {
    let mut user = Map::new();
    put(&mut user, "id", p.user_id.map(|u| u.to_string()));
    put(&mut user, "name", p.user_name.clone());
    user
}

fn group_fields(p: &Process) -> Map<String, Value> {
    let mut group = Map::new();
    put(&mut group, "id", p.group_id.map(|g| g.to_string()));
    group
}

/// `destination.*`, `source.*` and `network.*` of a network event; nothing for an event
/// without them. `network.type` follows the destination address; `network.direction` is
/// seen from the host, as ECS asks of host-based sensors: an attempted connection is egress,
/// an accepted one ingress, anything else is left out.
pub(crate) fn insert_network(doc: &mut Map<String, Value>, e: &Event) {
    put_object(doc, "destination", endpoint_fields(&e.destination));
    put_object(doc, "source", endpoint_fields(&e.source));
    let mut network = Map::new();
    put(&mut network, "transport", e.transport.clone());
    put(
        &mut network,
        "type",
        e.destination.ip.map(|ip| match ip.to_canonical() {
            IpAddr::V4(_) => "ipv4",
            IpAddr::V6(_) => "ipv6",
        }),
    );
    if e.has_category("network") {
        let direction = match e.action.as_deref() {
            Some("connection_attempted") => Some("egress"),
            Some("connection_accepted") => Some("ingress"),
            _ => None,
        };
        put(&mut network, "direction", direction);
    }
    put_object(doc, "network", network);
}

/// `{ip, port, address}` of one end of a connection. An IPv4-mapped IPv6 address is shown as
/// the IPv4 address, as the rule matches it.
fn endpoint_fields(d: &Destination) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(ip) = d.ip.map(|ip| ip.to_canonical()) {
        m.insert("ip".into(), ip.to_string().into());
        m.insert("address".into(), ip.to_string().into());
    }
    put(&mut m, "port", d.port);
    m
}

/// Inserts `key: v` when `v` is `Some`.
pub(crate) fn put<T: Into<Value>>(m: &mut Map<String, Value>, key: &str, v: Option<T>) {
    if let Some(v) = v {
        m.insert(key.into(), v.into());
    }
}

/// Inserts `key: obj` when `obj` has any field (ECS has no use for empty objects).
pub(crate) fn put_object(m: &mut Map<String, Value>, key: &str, obj: Map<String, Value>) {
    if !obj.is_empty() {
        m.insert(key.into(), obj.into());
    }
}

/// A JSON object from `(key, value)` pairs.
pub(crate) fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::ecs::fixtures;

    /// A document's own command line is kept when it fits the bound (replay: it may differ from
    /// the arguments joined); past the bound, the kept arguments joined replace it.
    #[test]
    fn own_command_line_within_the_bound_is_kept() {
        let mut e = fixtures::stage2();
        e.process.command_line = Some("curl  -s   https://example.com/".into());
        let doc = event_document(&e);
        assert_eq!(
            doc["process"]["command_line"],
            "curl  -s   https://example.com/"
        );
        e.process.command_line = Some("c".repeat(ARGS_MAX_BYTES + 1));
        let doc = event_document(&e);
        assert_eq!(
            doc["process"]["command_line"],
            "curl -s https://example.com/"
        );
    }

    #[test]
    fn network_event_in_the_defend_shape() {
        let mut e = fixtures::stage2();
        // Mapped addresses are reported as the IPv4 address the rule matched.
        e.destination.ip = "::ffff:93.184.216.34".parse().ok();
        assert_eq!(
            event_document(&e),
            json!({
                "@timestamp": "2023-11-14T22:13:20.123456789Z",
                "ecs": {"version": "9.4.0"},
                "event": {
                    "kind": "event",
                    "category": ["network"],
                    "type": ["start"],
                    "action": "connection_attempted",
                    "module": "sshd_sensor",
                    "dataset": "sshd_sensor.events",
                },
                "host": {"id": "host-1", "name": "web1", "os": {"type": "linux"}},
                "process": {
                    "pid": 1234,
                    "entity_id": "ent-curl",
                    "executable": "/usr/bin/curl",
                    "name": "curl",
                    "args": ["curl", "-s", "https://example.com/"],
                    "args_count": 3,
                    "command_line": "curl -s https://example.com/",
                    "start": "2023-11-14T22:13:20.121456789Z",
                    "user": {"id": "1000", "name": "alice"},
                    "group": {"id": "1000"},
                    "parent": {
                        "pid": 1200,
                        "entity_id": "ent-bash",
                        "executable": "/usr/bin/bash",
                        "name": "bash",
                        "args": ["-bash"],
                        "args_count": 1,
                        "command_line": "-bash",
                        "start": "2023-11-14T22:13:20.110456789Z",
                        "user": {"id": "1000", "name": "alice"},
                        "group": {"id": "1000"},
                    },
                },
                "user": {"id": "1000", "name": "alice"},
                "group": {"id": "1000"},
                "destination": {"ip": "93.184.216.34", "address": "93.184.216.34", "port": 443},
                "source": {"ip": "192.0.2.10", "address": "192.0.2.10", "port": 50000},
                "network": {"transport": "tcp", "type": "ipv4", "direction": "egress"},
            })
        );
    }

    #[test]
    fn exec_event_has_no_network_fields() {
        let doc = event_document(&fixtures::stage1());
        assert_eq!(doc["event"]["category"], json!(["process"]));
        assert_eq!(doc["event"]["action"], "exec");
        assert_eq!(doc["process"]["parent"]["executable"], "/usr/sbin/sshd");
        assert_eq!(doc["user"]["name"], "alice");
        for absent in ["destination", "source", "network"] {
            assert!(doc.get(absent).is_none(), "{absent}");
        }
    }

    #[test]
    fn missing_values_are_absent_not_null() {
        let e = Event {
            timestamp: 0,
            category: vec!["process".into()],
            event_type: vec!["start".into()],
            action: Some("exec".into()),
            process: Process {
                pid: Some(7),
                ..Process::default()
            },
            ..Event::default()
        };
        assert_eq!(
            event_document(&e),
            json!({
                "@timestamp": "1970-01-01T00:00:00.000000000Z",
                "ecs": {"version": "9.4.0"},
                "event": {
                    "kind": "event",
                    "category": ["process"],
                    "type": ["start"],
                    "action": "exec",
                    "module": "sshd_sensor",
                    "dataset": "sshd_sensor.events",
                },
                "process": {"pid": 7},
            })
        );
    }

    #[test]
    fn ipv6_destination_and_empty_argv() {
        let mut e = fixtures::stage2();
        e.destination.ip = "2001:db8::1".parse().ok();
        e.process.args = Some(Vec::new());
        let doc = event_document(&e);
        assert_eq!(doc["network"]["type"], "ipv6");
        assert_eq!(doc["destination"]["ip"], "2001:db8::1");
        assert_eq!(doc["process"]["args_count"], 0);
        assert_eq!(doc["process"]["args"], json!([]));
        assert!(doc["process"].get("command_line").is_none());
    }

    #[test]
    fn direction_only_for_network_events_with_a_known_action() {
        let mut e = fixtures::stage2();
        e.action = Some("connection_accepted".into());
        assert_eq!(event_document(&e)["network"]["direction"], "ingress");
        e.action = Some("disconnect_received".into());
        assert!(event_document(&e)["network"].get("direction").is_none());
        e.action = Some("connection_attempted".into());
        e.category = vec!["process".into()];
        assert!(event_document(&e)["network"].get("direction").is_none());
    }

    #[test]
    fn replayed_event_returns_the_original_verbatim() {
        let original = json!({
            "@timestamp": "2024-01-01T00:00:00.000Z",
            "event": {"module": "endpoint", "dataset": "endpoint.events.network"},
        });
        let e = Event {
            original: Some(Arc::new(original.clone())),
            ..fixtures::stage2()
        };
        assert_eq!(event_document(&e), original);
    }
}
