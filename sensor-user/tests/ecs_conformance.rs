//! ECS 9.4 conformance of every document the sensor writes: realistic alerts and event
//! documents (every field set; IPv4, IPv6 and IPv4-mapped destinations; a sparse alert) must
//! pass `ecs_checker`, and the checker must catch made-up fields, wrong types, nulls and
//! defects inside the embedded stage documents. A failure lists every offending field.

mod ecs_checker;

use sshd_sensor::rule::profiles::Profile;
use std::sync::Arc;

use ecs_checker::{assert_conforms, leaf_paths, schema, violations};
use serde_json::json;
use sshd_sensor::ecs::alert::{AlertMeta, alert_document};
use sshd_sensor::ecs::document::event_document;
use sshd_sensor::ecs::summary::summary_document;
use sshd_sensor::event::{Alert, Destination, Event, Process};
use sshd_sensor::ratelimit::{MAX_DESTINATIONS, RateCap};

// ---------------------------------------------------------------------------------------------
// Realistic input: every field set

fn process(pid: u32, entity: &str, exe: &str, args: &[&str], uid: u32, user: &str) -> Process {
    Process {
        pid: Some(pid),
        entity_id: Some(entity.into()),
        executable: Some(exe.into()),
        name: exe.rsplit('/').next().map(Into::into),
        args: Some(args.iter().map(|a| (*a).to_owned()).collect()),
        args_truncated: false,
        command_line: None,
        user_id: Some(uid),
        user_name: Some(user.into()),
        group_id: Some(uid),
        start: Some(1_764_328_953_000_000_000 + i64::from(pid)),
    }
}

fn sshd() -> Process {
    process(
        900,
        "aG9zdC0xLTkwMA",
        "/usr/sbin/sshd",
        &["sshd: alice [priv]"],
        0,
        "root",
    )
}

fn bash() -> Process {
    process(
        1200,
        "aG9zdC0xLTEyMDA",
        "/usr/bin/bash",
        &["-bash"],
        1000,
        "alice",
    )
}

fn curl() -> Process {
    let args = ["curl", "-fsS", "-o", "/tmp/x", "https://example.com/x"];
    process(
        1234,
        "aG9zdC0xLTEyMzQ",
        "/usr/bin/curl",
        &args,
        1000,
        "alice",
    )
}

fn exec_event() -> Event {
    Event {
        timestamp: 1_764_328_953_123_456_789,
        host_id: Some("8c5f7d2b4a6e4f0c9a1b2c3d4e5f6a7b".into()),
        host_name: Some("web1".into()),
        host_os_type: Some("linux".into()),
        category: vec!["process".into()],
        event_type: vec!["start".into()],
        action: Some("exec".into()),
        process: bash(),
        parent: sshd(),
        ..Event::default()
    }
}

fn connect_event(dst: &str, src: &str) -> Event {
    Event {
        timestamp: 1_764_328_953_135_456_789,
        category: vec!["network".into()],
        action: Some("connection_attempted".into()),
        process: curl(),
        parent: bash(),
        destination: Destination {
            ip: Some(dst.parse().expect("destination ip")),
            port: Some(443),
        },
        source: Destination {
            ip: Some(src.parse().expect("source ip")),
            port: Some(51_234),
        },
        transport: Some("tcp".into()),
        ..exec_event()
    }
}

fn alert(stage1: Event, stage2: Event) -> Alert {
    Alert {
        stage1: Arc::new(stage1),
        stage2: Arc::new(stage2),
        rule: Profile::V4.rule().meta.clone(),
    }
}

/// Destination/source pairs: IPv4, IPv6, and an IPv4-mapped IPv6 destination.
const ADDRESSES: [(&str, &str); 3] = [
    ("93.184.216.34", "192.0.2.10"),
    ("2606:2800:220:1:248:1893:25c8:1946", "2001:db8::10"),
    ("::ffff:93.184.216.34", "::ffff:192.0.2.10"),
];

fn meta() -> AlertMeta {
    AlertMeta {
        sensor_version: "0.1.0".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// The tests

#[test]
fn alerts_conform() {
    let schema = schema();
    for (dst, src) in ADDRESSES {
        let doc = alert_document(&alert(exec_event(), connect_event(dst, src)), &meta());
        assert_conforms(&schema, &format!("alert to {dst}"), &doc);
    }
}

/// Every embedded rule's metadata (the latest rule has no version, other techniques).
#[test]
fn alerts_of_every_profile_conform() {
    let schema = schema();
    for profile in Profile::ALL {
        let mut a = alert(exec_event(), connect_event("8.8.8.8", "192.0.2.10"));
        a.rule = profile.rule().meta.clone();
        let doc = alert_document(&a, &meta());
        assert_eq!(doc["rule"]["name"], a.rule.name.as_str());
        assert_conforms(
            &schema,
            &format!("alert of profile {}", profile.name()),
            &doc,
        );
    }
}

#[test]
fn event_documents_conform() {
    let schema = schema();
    assert_conforms(&schema, "exec event", &event_document(&exec_event()));
    for (dst, src) in ADDRESSES {
        let doc = event_document(&connect_event(dst, src));
        assert_conforms(&schema, &format!("connect to {dst}"), &doc);
    }
}

/// The rate cap's summary, full (session context, a cut destination list over IPv4 and IPv6)
/// and sparse (nothing but the join key), is an ECS document too.
#[test]
fn rate_cap_summaries_conform() {
    let schema = schema();
    let mut cap = RateCap::new(1, 300_000_000_000);
    let mut stage1 = exec_event();
    stage1.session = Some(sshd_sensor::event::Session {
        client_ip: Some("192.0.2.7".parse().expect("ip")),
        client_port: Some(51_234),
        server_ip: Some("192.0.2.1".parse().expect("ip")),
        server_port: Some(22),
        user: Some("alice".into()),
    });
    for i in 0..=MAX_DESTINATIONS + 1 {
        let (dst, src) = ADDRESSES[i % ADDRESSES.len()];
        let mut stage2 = connect_event(dst, src);
        stage2.destination.port = Some(u16::try_from(1000 + i).expect("port"));
        cap.admit(&alert(stage1.clone(), stage2));
    }
    let summaries = cap.flush();
    let [full] = &summaries[..] else {
        panic!("one summary expected, got {summaries:?}")
    };
    assert!(full.truncated());
    let doc = summary_document(full, &meta());
    assert_eq!(doc["event"]["action"], "rate_cap_summary");
    assert_conforms(&schema, "rate-cap summary", &doc);

    let mut cap = RateCap::new(0, 1);
    let stage1 = Event {
        timestamp: 1,
        process: Process {
            entity_id: Some("e1".into()),
            ..Process::default()
        },
        ..Event::default()
    };
    cap.admit(&alert(stage1, Event::default()));
    let doc = summary_document(&cap.flush()[0], &meta());
    assert_conforms(&schema, "sparse rate-cap summary", &doc);
}

#[test]
fn sparse_alert_conforms() {
    let stage1 = Event {
        timestamp: 1,
        process: Process {
            entity_id: Some("e1".into()),
            ..Process::default()
        },
        ..Event::default()
    };
    let stage2 = Event {
        timestamp: 2,
        parent: stage1.process.clone(),
        ..Event::default()
    };
    let doc = alert_document(&alert(stage1, stage2), &meta());
    assert_conforms(&schema(), "sparse alert", &doc);
}

#[test]
fn the_check_covers_the_alert_fields_semantics_md_asks_for() {
    let doc = alert_document(
        &alert(exec_event(), connect_event("93.184.216.34", "192.0.2.10")),
        &meta(),
    );
    let mut paths = Vec::new();
    leaf_paths(&doc, "", &mut paths);
    let expected = [
        "@timestamp",
        "message",
        "event.kind",
        "event.category",
        "event.module",
        "event.dataset",
        "event.severity",
        "event.risk_score",
        "rule.id",
        "rule.name",
        "rule.version",
        "rule.description",
        "rule.reference",
        "rule.ruleset",
        "rule.author",
        "rule.license",
        "threat.framework",
        "threat.tactic.id",
        "threat.tactic.name",
        "threat.tactic.reference",
        "threat.technique.id",
        "threat.technique.subtechnique.id",
        "host.id",
        "host.name",
        "host.os.type",
        "destination.ip",
        "destination.port",
        "network.transport",
        "network.type",
        "network.direction",
        "process.pid",
        "process.entity_id",
        "process.executable",
        "process.args",
        "process.command_line",
        "process.parent.pid",
        "process.parent.entity_id",
        "process.parent.executable",
        "process.parent.args",
        "process.parent.command_line",
        "sshd_sensor.sequence.stage1.process.parent.executable",
        "sshd_sensor.sequence.stage2.destination.ip",
    ];
    let missing: Vec<&str> = expected
        .into_iter()
        .filter(|e| !paths.iter().any(|p| p == e))
        .collect();
    assert!(missing.is_empty(), "alert lacks {missing:?}");
}

#[test]
fn a_made_up_field_and_a_wrong_type_are_reported() {
    let schema = schema();
    let doc = json!({
        "@timestamp": "2025-11-28T11:22:33.123456789Z",
        "process": {"pid": 1234, "bogus": "x"},
        "destination": {"ip": "8.8.8.8", "port": "443"},
    });
    let v = violations(&schema, &doc);
    assert_eq!(v.len(), 2, "{v:#?}");
    assert!(
        v[0].starts_with("destination.port: ECS type long"),
        "{v:#?}"
    );
    assert!(v[1].starts_with("process.bogus: not an ECS"), "{v:#?}");
}

#[test]
fn a_real_alert_with_defects_fails() {
    let schema = schema();
    let mut doc = alert_document(
        &alert(exec_event(), connect_event("8.8.8.8", "192.0.2.10")),
        &meta(),
    );
    doc["process"]["bogus"] = json!(1);
    doc["destination"]["port"] = json!("443");
    doc["sshd_sensor"]["sequence"]["stage1"]["host"]["name"] = json!(["web1", "web2"]);
    doc["sshd_sensor"]["sequence"]["stage2"]["event"]["created"] = json!("2024-02-30T00:00:00Z");
    let v = violations(&schema, &doc);
    let at: Vec<&str> = v.iter().filter_map(|m| m.split(": ").next()).collect();
    assert_eq!(
        at,
        [
            "destination.port",
            "process.bogus",
            "sshd_sensor.sequence.stage1",
            "sshd_sensor.sequence.stage2"
        ],
        "{v:#?}"
    );
    assert!(
        v[2].contains("host.name: array, but ECS does not mark"),
        "{v:#?}"
    );
    assert!(
        v[3].contains("event.created: ECS type date: not RFC 3339"),
        "{v:#?}"
    );
}

#[test]
fn every_kind_of_offence_is_reported() {
    let schema = schema();
    let doc = json!({
        "@timestamp": 1_700_000_000_000_i64,
        "event": {"severity": 47.5, "risk_score": "47", "category": ["network", null]},
        "host": {"name": null, "ip": ["10.0.0.1", "not-an-ip"], "os": {}},
        "labels": "not an object",
        "user": {"id": 1000},
        "process": {"args": ["a", {"b": 1}]},
        "sshd_sensor": {"anything": {"goes": [1, "x"]}, "sequence": {"stage1": "not a document"}},
    });
    let v = violations(&schema, &doc);
    let at: Vec<&str> = v.iter().filter_map(|m| m.split(':').next()).collect();
    assert_eq!(
        at,
        [
            "@timestamp",
            "event.category",
            "event.risk_score",
            "event.severity",
            "host.ip",
            "host.name",
            "host.os",
            "labels",
            "process.args",
            "sshd_sensor.sequence.stage1",
            "user.id",
        ],
        "{v:#?}"
    );
}
