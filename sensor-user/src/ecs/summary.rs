//! The rate cap's summary of one session's window ([`Summary`]) as an ECS document and as one
//! terminal line. It stands for the alerts the cap did not print, so it is itself an alert
//! document of the rule (`event.kind: alert`, the rule's `rule.*`, `threat.*`, severity and risk
//! score, so External Alerts promotes it too), told apart by `event.action: rate_cap_summary`.
//! Everything the summary knows lives under `sshd_sensor.rate_cap`: the session (its stage-1
//! process, that process's parent, and the SSH session context when known), the counts, the
//! window, and the destinations with the processes that connected to them; `truncated` and
//! `omitted_alerts` say when the list was cut. No top-level `process.*` or `destination.*`: the
//! summary is about many connects, not one.

use serde_json::{Map, Value};

use super::alert::{ALERTS_DATASET, AlertMeta, insert_rule_and_sensor, session_fields};
use super::document::{
    ECS_VERSION, EVENT_MODULE, host_fields, object, process_fields, put, put_object,
};
use super::human::{endpoint, escape, image};
use super::time::rfc3339_nanos;
use crate::event::Destination;
use crate::ratelimit::Summary;

/// `event.action` of summary documents.
pub const SUMMARY_ACTION: &str = "rate_cap_summary";

fn window_seconds(s: &Summary) -> i64 {
    s.window_ns / 1_000_000_000
}

/// `message`: what happened, in one sentence.
fn message(s: &Summary) -> String {
    format!(
        "{}: rate cap reached, {} alert(s) of one SSH session suppressed \
         (at most {} per {} s and session)",
        s.rule.name,
        s.suppressed,
        s.max_per_window,
        window_seconds(s)
    )
}

/// `summary` as one ECS document.
pub fn summary_document(s: &Summary, meta: &AlertMeta) -> Value {
    let mut doc = Map::new();
    doc.insert("@timestamp".into(), rfc3339_nanos(s.last).into());
    doc.insert("message".into(), message(s).into());
    doc.insert("ecs".into(), object([("version", ECS_VERSION.into())]));
    doc.insert(
        "event".into(),
        object([
            ("kind", "alert".into()),
            ("category", vec!["intrusion_detection"].into()),
            ("type", vec!["info"].into()),
            ("action", SUMMARY_ACTION.into()),
            ("module", EVENT_MODULE.into()),
            ("dataset", ALERTS_DATASET.into()),
            ("severity", s.rule.risk_score.into()),
            ("risk_score", f64::from(s.rule.risk_score).into()),
            ("start", rfc3339_nanos(s.first).into()),
            ("end", rfc3339_nanos(s.last).into()),
        ]),
    );
    insert_rule_and_sensor(&mut doc, &s.rule, meta);
    put_object(&mut doc, "host", host_fields(&s.session));

    let mut session = Map::new();
    put_object(&mut session, "process", process_fields(&s.session.process));
    put_object(&mut session, "parent", process_fields(&s.session.parent));
    if let Some(context) = &s.session.session {
        session.insert("context".into(), session_fields(context));
    }
    let destinations: Vec<Value> = s
        .destinations
        .iter()
        .map(|d| {
            let mut m = Map::new();
            put(&mut m, "ip", d.ip.map(|ip| ip.to_string()));
            put(&mut m, "port", d.port);
            m.insert("count".into(), d.count.into());
            put_object(&mut m, "process", process_fields(&d.process));
            m.into()
        })
        .collect();
    let rate_cap = object([
        ("session", session.into()),
        ("suppressed", s.suppressed.into()),
        ("emitted", s.emitted.into()),
        ("max_per_window", s.max_per_window.into()),
        (
            "window",
            object([
                ("start", rfc3339_nanos(s.window_start).into()),
                ("end", rfc3339_nanos(s.window_end).into()),
                ("seconds", window_seconds(s).into()),
            ]),
        ),
        ("closed", s.closed.as_str().into()),
        ("destinations", destinations.into()),
        ("truncated", s.truncated().into()),
        ("omitted_alerts", s.omitted_alerts.into()),
    ]);
    doc.insert("sshd_sensor".into(), object([("rate_cap", rate_cap)]));
    doc.into()
}

/// e.g. `2023-11-14T22:13:20Z RATE-CAP Network Connection ...: host=web1 session /usr/bin/bash
/// (pid 1200, from 192.0.2.7:51234, user alice): 6 alert(s) suppressed (max 3 per 300 s):
/// 8.8.8.8:443 x5 by /usr/bin/curl (pid 1300), 93.184.216.34:8443 x1 by /tmp/implant (pid
/// 1310)` (one line; `, +N more alert(s) not listed` when cut).
pub fn summary_line(s: &Summary) -> String {
    let stage1 = &*s.session;
    let host = stage1
        .host_name
        .as_deref()
        .or(stage1.host_id.as_deref())
        .unwrap_or("?");
    let mut who = Vec::new();
    if let Some(pid) = stage1.process.pid {
        who.push(format!("pid {pid}"));
    }
    if let Some(context) = &stage1.session {
        if let Some(ip) = context.client_ip {
            who.push(format!(
                "from {}",
                endpoint(&Destination {
                    ip: Some(ip),
                    port: context.client_port
                })
            ));
        }
        if let Some(user) = &context.user {
            who.push(format!("user {}", escape(user)));
        }
    }
    let mut destinations: Vec<String> = s
        .destinations
        .iter()
        .map(|d| {
            let pid = d
                .process
                .pid
                .map(|p| format!(" (pid {p})"))
                .unwrap_or_default();
            format!(
                "{} x{} by {}{pid}",
                endpoint(&Destination {
                    ip: d.ip,
                    port: d.port
                }),
                d.count,
                escape(image(&d.process))
            )
        })
        .collect();
    if s.truncated() {
        destinations.push(format!("+{} more alert(s) not listed", s.omitted_alerts));
    }
    format!(
        "{} RATE-CAP {}: host={} session {} ({}): {} alert(s) suppressed (max {} per {} s): {}",
        rfc3339_nanos(s.last),
        escape(&s.rule.name),
        escape(host),
        escape(image(&stage1.process)),
        who.join(", "),
        s.suppressed,
        s.max_per_window,
        window_seconds(s),
        destinations.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::fixtures;
    use crate::ratelimit::{RateCap, Summary};

    fn summary() -> Summary {
        let mut cap = RateCap::new(1, 300_000_000_000);
        let mut stage1 = fixtures::stage1();
        stage1.session = Some(crate::event::Session {
            client_ip: "192.0.2.7".parse().ok(),
            client_port: Some(51_234),
            user: Some("alice".into()),
            ..Default::default()
        });
        for ip in ["93.184.216.34", "93.184.216.34", "1.2.3.4"] {
            let mut stage2 = fixtures::stage2();
            stage2.destination.ip = ip.parse().ok();
            cap.admit(&fixtures::alert_of(stage1.clone(), stage2));
        }
        cap.flush().remove(0)
    }

    #[test]
    fn document_names_session_counts_and_destinations() {
        let doc = summary_document(&summary(), &AlertMeta::default());
        assert_eq!(doc["event"]["kind"], "alert");
        assert_eq!(doc["event"]["action"], SUMMARY_ACTION);
        let cap = &doc["sshd_sensor"]["rate_cap"];
        assert_eq!(cap["suppressed"], 2);
        assert_eq!(cap["emitted"], 1);
        assert_eq!(cap["session"]["process"]["pid"], 1200);
        assert_eq!(cap["session"]["context"]["client"]["ip"], "192.0.2.7");
        assert_eq!(cap["destinations"][0]["ip"], "93.184.216.34");
        assert_eq!(cap["destinations"][0]["count"], 1);
        assert_eq!(cap["destinations"][1]["ip"], "1.2.3.4");
        assert_eq!(cap["destinations"][1]["process"]["pid"], 1234);
        assert_eq!(cap["truncated"], false);
        assert_eq!(cap["closed"], "flushed");
        assert_eq!(cap["max_per_window"], 1);
        assert_eq!(cap["window"]["seconds"], 300);
        assert!(doc.get("process").is_none() && doc.get("destination").is_none());
    }

    #[test]
    fn message_names_the_rule_the_count_and_the_cap() {
        let doc = summary_document(&summary(), &AlertMeta::default());
        assert_eq!(
            doc["message"],
            "Network Connection Initiated by SSHD Child Process: rate cap reached, 2 alert(s) of \
             one SSH session suppressed (at most 1 per 300 s and session)"
        );
    }

    #[test]
    fn one_line_with_session_and_destinations() {
        let line = summary_line(&summary());
        assert!(!line.contains('\n'));
        assert!(
            line.contains("session /usr/bin/bash (pid 1200, from 192.0.2.7:51234, user alice): 2 alert(s) suppressed (max 1 per 300 s): 93.184.216.34:443 x1 by /usr/bin/curl (pid 1234), 1.2.3.4:443 x1"),
            "{line}"
        );
    }
}
