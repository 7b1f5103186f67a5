//! Record, then replay: the alerts a live run prints (engine over the events, documents
//! rendered from them) equal the alerts `replay` gives over the recording. Also the replay
//! input rules: dotted keys, bad lines counted and skipped, disorder across files.

use std::io::{self, Cursor};

use sshd_sensor::ecs::alert::{AlertMeta, alert_document};
use sshd_sensor::event::{Destination, Event, Process};
use sshd_sensor::record::Recorder;
use sshd_sensor::replay::{self, Input, Options, diagnostics::Diagnostics};
use sshd_sensor::rule::{Engine, Limits, RuleConfig};

const S: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * S + 123_456_789;

fn exec(ts: i64, entity: &str, parent_exe: &str) -> Event {
    Event {
        timestamp: ts,
        host_id: Some("host-1".into()),
        host_name: Some("web1".into()),
        host_os_type: Some("linux".into()),
        category: vec!["process".into()],
        event_type: vec!["start".into()],
        action: Some("exec".into()),
        process: Process {
            pid: Some(1200),
            entity_id: Some(entity.into()),
            executable: Some("/usr/bin/bash".into()),
            name: Some("bash".into()),
            args: Some(vec!["-bash".into()]),
            args_truncated: false,
            command_line: None,
            user_id: Some(1000),
            user_name: Some("alice".into()),
            group_id: Some(1000),
            start: Some(ts - 5),
        },
        parent: Process {
            pid: Some(900),
            entity_id: Some("ent-sshd".into()),
            executable: Some(parent_exe.into()),
            name: Some("sshd".into()),
            ..Process::default()
        },
        ..Event::default()
    }
}

fn connect(ts: i64, parent: &str, ip: &str) -> Event {
    Event {
        timestamp: ts,
        host_id: Some("host-1".into()),
        host_name: Some("web1".into()),
        host_os_type: Some("linux".into()),
        category: vec!["network".into()],
        event_type: vec!["start".into()],
        action: Some("connection_attempted".into()),
        process: Process {
            pid: Some(1234),
            entity_id: Some(format!("curl-{ts}")),
            executable: Some("/usr/bin/curl".into()),
            name: Some("curl".into()),
            args: Some(vec!["curl".into(), "https://example.com/".into()]),
            args_truncated: false,
            command_line: None,
            user_id: Some(1000),
            user_name: Some("alice".into()),
            group_id: Some(1000),
            start: Some(ts - 2),
        },
        parent: Process {
            entity_id: Some(parent.into()),
            ..Process::default()
        },
        destination: Destination {
            ip: ip.parse().ok(),
            port: Some(443),
        },
        source: Destination {
            ip: "192.0.2.10".parse().ok(),
            port: Some(50000),
        },
        transport: Some("tcp".into()),
        ..Event::default()
    }
}

fn run_replay(
    inputs: Vec<(&str, String)>,
    opts: &Options,
) -> (Vec<serde_json::Value>, replay::Summary) {
    let meta = AlertMeta::default();
    let inputs = inputs
        .into_iter()
        .map(|(name, text)| Input {
            name: name.into(),
            reader: Box::new(Cursor::new(text.into_bytes())),
        })
        .collect();
    let mut diag = Diagnostics::new(Box::new(io::sink()), 0);
    let mut alerts = Vec::new();
    let summary = replay::replay(inputs, opts, &mut diag, |a| {
        alerts.push(alert_document(a, &meta));
        Ok(())
    })
    .expect("replay");
    (alerts, summary)
}

#[test]
fn replaying_a_recording_gives_the_live_alerts() {
    let events = vec![
        exec(T0, "ent-bash", "/usr/sbin/sshd"),
        connect(T0 + S / 2, "ent-bash", "93.184.216.34"),
        connect(T0 + S / 2 + 1, "ent-bash", "93.184.216.35"), // consumed: no alert
        exec(T0 + 2 * S, "ent-bash2", "/usr/sbin/sshd"),
        connect(T0 + 3 * S, "ent-bash2", "::ffff:1.2.3.4"), // exactly maxspan
        exec(T0 + 4 * S, "ent-bash3", "/usr/sbin/sshd"),
        connect(T0 + 5 * S + 1, "ent-bash3", "1.2.3.4"), // 1 ns too late
        connect(T0 + 5 * S + 2, "ent-x", "10.0.0.1"),
    ];
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("replay-record-{}.ndjson", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let meta = AlertMeta::default();
    let mut live = Vec::new();
    {
        let mut engine = Engine::new(RuleConfig::default(), Limits::default());
        let mut rec = Recorder::open(&path).expect("open recording");
        for e in &events {
            rec.record(e).expect("record");
            if let Some(a) = engine.process(e.clone()) {
                live.push(alert_document(&a, &meta));
            }
        }
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode & !0o640, 0, "mode {mode:o}");
    let text = std::fs::read_to_string(&path).expect("read recording");
    let _ = std::fs::remove_file(&path);
    assert_eq!(text.lines().count(), events.len());
    let (replayed, summary) = run_replay(vec![("rec", text)], &Options::default());
    assert_eq!(live.len(), 2);
    assert_eq!(replayed, live);
    assert_eq!(summary.bad_lines, 0);
}

#[test]
fn dotted_keys_strings_for_arrays_and_two_files_out_of_order() {
    let process = r#"{"@timestamp":"2024-05-01T12:00:00.500Z","event.category":"process","event.type":"start","event.action":"exec","host.id":"h","host.os.type":"linux","process":{"entity_id":"p1","parent.executable":"/usr/sbin/sshd"},"event":{"id":"s1"}}"#;
    let network = [
        // Earlier than the exec, but in the other file and within the tolerance.
        r#"{"@timestamp":"2024-05-01T12:00:01.400Z","event":{"category":["network"],"type":["start"],"action":"connection_attempted","id":"late-ok"},"host":{"id":"h","os":{"type":"linux"}},"process":{"name":"curl","executable":"/usr/bin/curl","parent":{"entity_id":"p1"}},"destination":{"ip":"8.8.8.8"}}"#,
        r#"{"@timestamp":"2024-05-01T12:00:00.400Z","event":{"category":["network"],"type":["start"],"action":"connection_attempted"},"host":{"id":"h","os":{"type":"linux"}},"process":{"name":"curl","parent":{"entity_id":"p1"}},"destination":{"ip":"8.8.8.8"}}"#,
    ];
    let (alerts, summary) = run_replay(
        vec![("net", network.join("\n")), ("proc", process.into())],
        &Options::default(),
    );
    assert_eq!(summary.late, 0);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0]["sshd_sensor"]["sequence"]["stage2"]["event"]["id"],
        "late-ok"
    );
    assert_eq!(
        alerts[0]["sshd_sensor"]["sequence"]["stage1"]["event"]["id"],
        "s1"
    );
}

#[test]
fn bad_lines_are_counted_and_skipped() {
    let good = r#"{"@timestamp":"2024-05-01T12:00:00Z","event":{"category":"process"}}"#;
    let lines = [
        good,
        "{not json",
        r#"{"@timestamp":"2024-05-01T12:00:00Z","event":{"category":"network"},"destination":{"ip":"1.2.3"}}"#,
        r#"{"@timestamp":"yesterday","event":{"category":"process"}}"#,
        r#"{"event":{"category":"process"}}"#,
        r#"{"@timestamp":"2024-05-01T12:00:00Z"}"#,
        r#"{"@timestamp":"2024-05-01T12:00:00Z","event":{"category":"process"},"process":{"pid":"12"}}"#,
        r#"{"@timestamp":"2024-05-01T12:00:00Z","event":{"category":"process"},"host":{"id":7}}"#,
        "[]",
        "",
        &"x".repeat(200),
        good,
    ];
    let opts = Options {
        max_line_bytes: 150,
        ..Options::default()
    };
    let (_, summary) = run_replay(vec![("bad", lines.join("\n"))], &opts);
    assert_eq!(summary.lines, 12);
    assert_eq!(summary.events, 2);
    assert_eq!(summary.bad_lines, 9);
}

#[test]
fn an_event_beyond_the_tolerance_is_reported_late_not_dropped() {
    let stage1 = |ts: &str| {
        format!(
            r#"{{"@timestamp":"{ts}","event":{{"category":"process","type":"start","action":"exec"}},"host":{{"id":"h","os":{{"type":"linux"}}}},"process":{{"entity_id":"p1","parent":{{"executable":"/usr/sbin/sshd"}}}}}}"#
        )
    };
    let text = [
        stage1("2024-05-01T12:00:10Z"),
        stage1("2024-05-01T12:00:13Z"),
        stage1("2024-05-01T12:00:05Z"), // 8 s back: beyond 2 s, after 10 s was replayed
    ]
    .join("\n");
    let (_, summary) = run_replay(vec![("f", text)], &Options::default());
    assert_eq!(summary.late, 1);
    assert_eq!(summary.engine.stage1, 3);
}
