//! Test-only events for the `ecs` unit tests: one realistic sequence, sshd (pid 1100) execs
//! `-bash` (pid 1200, stage 1), which forks and execs curl (pid 1234) that connects to
//! 93.184.216.34:443 twelve milliseconds later (stage 2).

use std::sync::Arc;

use crate::event::{Alert, Destination, Event, Process};

/// Stage 1's time: 2023-11-14T22:13:20.111456789Z.
pub const STAGE1_NS: i64 = 1_700_000_000_111_456_789;
/// Stage 2's time: 12 ms after stage 1.
pub const STAGE2_NS: i64 = STAGE1_NS + 12_000_000;

pub fn sshd() -> Process {
    Process {
        pid: Some(1100),
        entity_id: Some("ent-sshd".into()),
        executable: Some("/usr/sbin/sshd".into()),
        name: Some("sshd".into()),
        args: Some(vec!["sshd: alice [priv]".into()]),
        args_truncated: false,
        command_line: None,
        user_id: Some(0),
        user_name: Some("root".into()),
        group_id: Some(0),
        start: Some(STAGE1_NS - 500_000_000),
    }
}

pub fn bash() -> Process {
    Process {
        pid: Some(1200),
        entity_id: Some("ent-bash".into()),
        executable: Some("/usr/bin/bash".into()),
        name: Some("bash".into()),
        args: Some(vec!["-bash".into()]),
        args_truncated: false,
        command_line: None,
        user_id: Some(1000),
        user_name: Some("alice".into()),
        group_id: Some(1000),
        start: Some(STAGE1_NS - 1_000_000),
    }
}

pub fn curl() -> Process {
    Process {
        pid: Some(1234),
        entity_id: Some("ent-curl".into()),
        executable: Some("/usr/bin/curl".into()),
        name: Some("curl".into()),
        args: Some(vec![
            "curl".into(),
            "-s".into(),
            "https://example.com/".into(),
        ]),
        args_truncated: false,
        start: Some(STAGE2_NS - 2_000_000),
        ..bash()
    }
}

fn host(e: Event) -> Event {
    Event {
        host_id: Some("host-1".into()),
        host_name: Some("web1".into()),
        host_os_type: Some("linux".into()),
        ..e
    }
}

pub fn stage1() -> Event {
    host(Event {
        timestamp: STAGE1_NS,
        category: vec!["process".into()],
        event_type: vec!["start".into()],
        action: Some("exec".into()),
        process: bash(),
        parent: sshd(),
        ..Event::default()
    })
}

pub fn stage2() -> Event {
    host(Event {
        timestamp: STAGE2_NS,
        category: vec!["network".into()],
        event_type: vec!["start".into()],
        action: Some("connection_attempted".into()),
        process: curl(),
        parent: bash(),
        destination: Destination {
            ip: "93.184.216.34".parse().ok(),
            port: Some(443),
        },
        source: Destination {
            ip: "192.0.2.10".parse().ok(),
            port: Some(50_000),
        },
        transport: Some("tcp".into()),
        ..Event::default()
    })
}

pub fn alert_of(stage1: Event, stage2: Event) -> Alert {
    Alert {
        stage1: Arc::new(stage1),
        stage2: Arc::new(stage2),
        rule: crate::rule::profiles::Profile::V4.rule().meta.clone(),
    }
}

pub fn alert() -> Alert {
    alert_of(stage1(), stage2())
}
