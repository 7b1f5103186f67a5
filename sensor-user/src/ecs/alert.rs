//! The alert document: one ECS document per completed sequence, shaped as SEMANTICS.md
//! ("The alert document") and Elastic's External Alerts rule expect it (`event.kind: alert`,
//! `event.severity`, `event.risk_score`, `message`). Promises: every field is an ECS 9.4 field
//! of the right type (tests/ecs_conformance.rs checks it) or lives under `sshd_sensor.`; values
//! come from the two matched events or the rule definition, never invented, and absent values
//! are absent fields.
//!
//! Who is who: `process.*` is the connecting process (stage 2's `process`), `process.parent.*`
//! is the stage-1 process (stage 1's `process`, the shell sshd started), and the top-level
//! `host`, `user`, `group`, `destination`, `source` and `network` come from stage 2. ECS has no
//! `process.parent.parent`, and sshd is not known to be a session or entry leader, so the
//! whole lineage sshd -> stage 1 -> connecting process is under `sshd_sensor.chain` (an array,
//! oldest first), and both matched events in full under `sshd_sensor.sequence.stage1` and
//! `sshd_sensor.sequence.stage2` (ECS has no field for the events behind an alert).

use serde_json::{Map, Value};

use super::document::{
    ECS_VERSION, EVENT_MODULE, args_truncated, event_document, host_fields, insert_network,
    insert_user_and_group, object, process_fields, put_object,
};
use super::time::rfc3339_nanos;
use crate::event::Alert;
use crate::rule::file::RuleMeta;

/// `event.dataset` of alert documents.
pub const ALERTS_DATASET: &str = "sshd_sensor.alerts";
/// `agent.type` and `observer.product`: this sensor.
pub const SENSOR_NAME: &str = "sshd-sensor";

/// What the alert says about the sensor that raised it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertMeta {
    /// `agent.version` / `observer.version`.
    pub sensor_version: String,
}

impl Default for AlertMeta {
    /// This build's version.
    fn default() -> Self {
        Self {
            sensor_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// `alert` as one ECS alert document.
pub fn alert_document(alert: &Alert, meta: &AlertMeta) -> Value {
    let (stage1, stage2) = (&*alert.stage1, &*alert.stage2);
    let mut doc = Map::new();
    doc.insert("@timestamp".into(), rfc3339_nanos(stage2.timestamp).into());
    let rule = &*alert.rule;
    doc.insert("message".into(), rule.name.clone().into());
    doc.insert("ecs".into(), object([("version", ECS_VERSION.into())]));
    doc.insert(
        "event".into(),
        object([
            ("kind", "alert".into()),
            ("category", vec!["intrusion_detection"].into()),
            // ECS allows allowed, denied and info with intrusion_detection; a detection that
            // blocked nothing is "info".
            ("type", vec!["info"].into()),
            ("module", EVENT_MODULE.into()),
            ("dataset", ALERTS_DATASET.into()),
            ("severity", rule.risk_score.into()),
            ("risk_score", f64::from(rule.risk_score).into()),
            // The sequence spans stage 1 to stage 2; ECS wants the duration in nanoseconds.
            ("start", rfc3339_nanos(stage1.timestamp).into()),
            ("end", rfc3339_nanos(stage2.timestamp).into()),
            (
                "duration",
                stage2.timestamp.saturating_sub(stage1.timestamp).into(),
            ),
        ]),
    );
    insert_rule_and_sensor(&mut doc, rule, meta);

    put_object(&mut doc, "host", host_fields(stage2));
    let mut process = process_fields(&stage2.process);
    put_object(&mut process, "parent", process_fields(&stage1.process));
    put_object(&mut doc, "process", process);
    insert_user_and_group(&mut doc, &stage2.process);
    insert_network(&mut doc, stage2);

    let chain: Vec<Value> = [&stage1.parent, &stage1.process, &stage2.process]
        .into_iter()
        .map(|p| {
            let mut fields = process_fields(p);
            let missing = missing_fields(p);
            if !missing.is_empty() {
                fields.insert("missing".into(), missing.into());
            }
            fields.into()
        })
        .collect();
    let session = match stage2.session.as_ref().or(stage1.session.as_ref()) {
        Some(s) => session_fields(s),
        None => object([("missing", true.into())]),
    };
    let mut sshd_sensor = object([
        ("chain", chain.into()),
        ("session", session),
        (
            "sequence",
            object([
                ("stage1", event_document(stage1)),
                ("stage2", event_document(stage2)),
            ]),
        ),
    ]);
    let truncated = truncated_fields(alert);
    if !truncated.is_empty()
        && let Value::Object(m) = &mut sshd_sensor
    {
        m.insert("truncated".into(), truncated.into());
    }
    doc.insert("sshd_sensor".into(), sshd_sensor);
    doc.into()
}

/// `sshd_sensor.truncated`: the fields whose value is not the whole command line (see
/// [`super::bounds`]). The same processes in `sshd_sensor.chain` and `sshd_sensor.sequence` are
/// cut alike; sshd's own command line appears only there (`sshd_sensor.chain.args`).
fn truncated_fields(alert: &Alert) -> Vec<Value> {
    let (stage1, stage2) = (&*alert.stage1, &*alert.stage2);
    let mut fields = Vec::new();
    for (prefix, p) in [
        ("process", &stage2.process),
        ("process.parent", &stage1.process),
    ] {
        if args_truncated(p) {
            fields.push(format!("{prefix}.args").into());
            fields.push(format!("{prefix}.command_line").into());
        }
    }
    if args_truncated(&stage1.parent) {
        fields.push("sshd_sensor.chain.args".into());
    }
    fields
}

/// Triage fields a responder expects that this process lacks (it exited before it could be
/// read, or was never seen): named, never invented.
fn missing_fields(p: &crate::event::Process) -> Vec<Value> {
    let checks = [
        ("pid", p.pid.is_none()),
        ("entity_id", p.entity_id.is_none()),
        ("executable", p.executable.is_none()),
        ("command_line", p.args.as_ref().is_none_or(|a| a.is_empty())),
        ("user.id", p.user_id.is_none()),
        ("user.name", p.user_name.is_none()),
    ];
    checks
        .into_iter()
        .filter(|(_, m)| *m)
        .map(|(name, _)| name.into())
        .collect()
}

/// `sshd_sensor.session`: the SSH login behind the chain, from what the user cannot write
/// (see [`Session`](crate::event::Session)): `client` and `server` are the two ends of sshd's
/// own TCP connection, `user` the name of the stage-1 process's uid. What could not be learned
/// is named under `missing`.
pub(crate) fn session_fields(s: &crate::event::Session) -> Value {
    let mut out = Map::new();
    for (end, ip, port) in [
        ("client", s.client_ip, s.client_port),
        ("server", s.server_ip, s.server_port),
    ] {
        let mut m = Map::new();
        if let Some(ip) = ip {
            m.insert("ip".into(), ip.to_string().into());
        }
        if let Some(port) = port {
            m.insert("port".into(), port.into());
        }
        if !m.is_empty() {
            out.insert(end.into(), m.into());
        }
    }
    if let Some(user) = &s.user {
        out.insert("user".into(), user.clone().into());
    }
    let mut missing: Vec<Value> = Vec::new();
    for (name, absent) in [
        ("client.ip", s.client_ip.is_none()),
        ("client.port", s.client_port.is_none()),
        ("user", s.user.is_none()),
    ] {
        if absent {
            missing.push(name.into());
        }
    }
    if !missing.is_empty() {
        out.insert("missing".into(), missing.into());
    }
    out.into()
}

/// `rule.*` and `threat.*` of `rule`, and `agent.*` / `observer.*` naming this sensor: what
/// every document that stands for the rule's alerts carries (alerts and rate-cap summaries).
pub(crate) fn insert_rule_and_sensor(
    doc: &mut Map<String, Value>,
    rule: &RuleMeta,
    meta: &AlertMeta,
) {
    doc.insert("rule".into(), rule_fields(rule));
    if let Some(threat) = threat_fields(rule) {
        doc.insert("threat".into(), threat);
    }
    // A shipper (Filebeat, Elastic Agent) may replace `agent.*` with its own; `observer.*`
    // ("a server configured to run security software", type "sensor") keeps naming us.
    let version: Value = meta.sensor_version.clone().into();
    doc.insert(
        "agent".into(),
        object([("type", SENSOR_NAME.into()), ("version", version.clone())]),
    );
    doc.insert(
        "observer".into(),
        object([
            ("type", "sensor".into()),
            ("product", SENSOR_NAME.into()),
            ("version", version),
        ]),
    );
}

/// `rule.*`. All are ECS keywords; `rule.author` is the one ECS marks as an array.
fn rule_fields(rule: &RuleMeta) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), rule.rule_id.clone().into());
    m.insert("name".into(), rule.name.clone().into());
    if let Some(version) = &rule.version {
        m.insert("version".into(), version.clone().into());
    }
    m.insert("description".into(), rule.description.clone().into());
    // ECS has one `rule.reference`: the rule's first.
    if let Some(reference) = rule.references.first() {
        m.insert("reference".into(), reference.clone().into());
    }
    m.insert("ruleset".into(), rule.ruleset.clone().into());
    if !rule.author.is_empty() {
        m.insert("author".into(), rule.author.clone().into());
    }
    if let Some(license) = &rule.license {
        m.insert("license".into(), license.clone().into());
    }
    m.into()
}

/// `threat.*` as ECS 9.4 defines it: `threat.framework` one keyword; `threat.tactic.{id, name,
/// reference}`, `threat.technique.{id, name, reference}` and
/// `threat.technique.subtechnique.{id, name, reference}` keyword arrays (normalization
/// "array" in fields-9.4.0.csv), each listing every entry of the rule once, in the rule's
/// order. Kibana's `kibana.alert.rule.threat` instead nests an array of per-tactic objects;
/// ECS does not map `threat` as `nested`, so Elasticsearch would flatten such an array into
/// these same arrays anyway, and `framework` would become a repeated value ECS does not
/// declare as an array. Which technique belongs to which tactic is in the rule definition
/// (its `[[rule.threat]]` tables). `None` when the rule maps to no framework.
fn threat_fields(rule: &RuleMeta) -> Option<Value> {
    let framework = rule.threats.first()?.framework.clone();
    let mut tactics = Triple::default();
    let mut techniques = Triple::default();
    let mut subtechniques = Triple::default();
    for threat in &rule.threats {
        let tactic = &threat.tactic;
        tactics.push((&tactic.id, &tactic.name, &tactic.reference));
        for t in &threat.techniques {
            techniques.push((&t.id, &t.name, &t.reference));
            for sub in &t.subtechniques {
                subtechniques.push((&sub.id, &sub.name, &sub.reference));
            }
        }
    }
    let mut technique = techniques.into_map();
    put_object(&mut technique, "subtechnique", subtechniques.into_map());
    let mut threat = Map::new();
    threat.insert("framework".into(), framework.into());
    put_object(&mut threat, "tactic", tactics.into_map());
    put_object(&mut threat, "technique", technique);
    Some(threat.into())
}

/// Parallel `id`, `name` and `reference` arrays, without repeating an id.
#[derive(Default)]
struct Triple<'a> {
    ids: Vec<&'a str>,
    names: Vec<&'a str>,
    references: Vec<&'a str>,
}

impl<'a> Triple<'a> {
    fn push(&mut self, (id, name, reference): (&'a str, &'a str, &'a str)) {
        if !self.ids.contains(&id) {
            self.ids.push(id);
            self.names.push(name);
            self.references.push(reference);
        }
    }

    fn into_map(self) -> Map<String, Value> {
        let mut m = Map::new();
        if !self.ids.is_empty() {
            m.insert("id".into(), self.ids.into());
            m.insert("name".into(), self.names.into());
            m.insert("reference".into(), self.references.into());
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::ecs::fixtures;
    use crate::event::{Destination, Process};

    fn meta() -> AlertMeta {
        AlertMeta {
            sensor_version: "0.1.0".into(),
        }
    }

    /// `missing` names exactly what could not be learned, and is absent when nothing is.
    #[test]
    fn session_missing_lists_only_what_is_absent() {
        let whole = crate::event::Session {
            client_ip: "192.0.2.7".parse().ok(),
            client_port: Some(51_234),
            server_ip: "192.0.2.1".parse().ok(),
            server_port: Some(22),
            user: Some("alice".into()),
        };
        let doc = session_fields(&whole);
        assert!(doc.get("missing").is_none(), "{doc}");
        assert_eq!(doc["client"], json!({"ip": "192.0.2.7", "port": 51_234}));
        let partial = crate::event::Session {
            client_port: None,
            user: None,
            ..whole
        };
        assert_eq!(
            session_fields(&partial)["missing"],
            json!(["client.port", "user"])
        );
    }

    #[test]
    fn alert_header_rule_and_sensor() {
        let doc = alert_document(&fixtures::alert(), &meta());
        assert_eq!(doc["@timestamp"], "2023-11-14T22:13:20.123456789Z");
        assert_eq!(
            doc["message"],
            "Network Connection Initiated by SSHD Child Process"
        );
        assert_eq!(doc["ecs"], json!({"version": "9.4.0"}));
        assert_eq!(
            doc["event"],
            json!({
                "kind": "alert",
                "category": ["intrusion_detection"],
                "type": ["info"],
                "module": "sshd_sensor",
                "dataset": "sshd_sensor.alerts",
                "severity": 47,
                "risk_score": 47.0,
                "start": "2023-11-14T22:13:20.111456789Z",
                "end": "2023-11-14T22:13:20.123456789Z",
                "duration": 12_000_000,
            })
        );
        assert_eq!(doc["rule"]["id"], "63431796-f813-43af-820b-492ee2efec8e");
        assert_eq!(doc["rule"]["version"], "4");
        assert_eq!(doc["rule"]["author"], json!(["Elastic"]));
        for key in ["name", "description", "reference", "ruleset", "license"] {
            assert!(doc["rule"][key].is_string(), "rule.{key}");
        }
        assert_eq!(
            doc["agent"],
            json!({"type": "sshd-sensor", "version": "0.1.0"})
        );
        assert_eq!(doc["observer"]["product"], "sshd-sensor");
    }

    #[test]
    fn every_tactic_technique_and_subtechnique_of_the_rule() {
        let doc = alert_document(&fixtures::alert(), &meta());
        let t = &doc["threat"];
        assert_eq!(t["framework"], "MITRE ATT&CK");
        assert_eq!(t["tactic"]["id"], json!(["TA0003", "TA0008", "TA0011"]));
        assert_eq!(
            t["tactic"]["name"],
            json!(["Persistence", "Lateral Movement", "Command and Control"])
        );
        assert_eq!(t["technique"]["id"], json!(["T1546", "T1021", "T1563"]));
        assert_eq!(
            t["technique"]["subtechnique"]["id"],
            json!(["T1546.004", "T1021.004", "T1563.001"])
        );
        assert_eq!(
            t["technique"]["subtechnique"]["reference"][2],
            "https://attack.mitre.org/techniques/T1563/001/"
        );
        for part in [
            &t["tactic"],
            &t["technique"],
            &t["technique"]["subtechnique"],
        ] {
            let n = part["id"].as_array().map(Vec::len);
            assert_eq!(part["name"].as_array().map(Vec::len), n);
            assert_eq!(part["reference"].as_array().map(Vec::len), n);
        }
    }

    #[test]
    fn who_is_who() {
        let doc = alert_document(&fixtures::alert(), &meta());
        assert_eq!(
            doc["host"],
            json!({"id": "host-1", "name": "web1", "os": {"type": "linux"}})
        );
        assert_eq!(doc["process"]["executable"], "/usr/bin/curl");
        assert_eq!(
            doc["process"]["command_line"],
            "curl -s https://example.com/"
        );
        assert_eq!(doc["process"]["parent"]["entity_id"], "ent-bash");
        assert_eq!(doc["process"]["parent"]["args"], json!(["-bash"]));
        assert!(doc["process"]["parent"].get("parent").is_none());
        assert_eq!(doc["user"], json!({"id": "1000", "name": "alice"}));
        assert_eq!(
            doc["destination"],
            json!({"ip": "93.184.216.34", "address": "93.184.216.34", "port": 443})
        );
        assert_eq!(
            doc["network"],
            json!({"transport": "tcp", "type": "ipv4", "direction": "egress"})
        );
        let chain: Vec<&Value> = doc["sshd_sensor"]["chain"]
            .as_array()
            .map(|c| c.iter().map(|p| &p["executable"]).collect())
            .unwrap_or_default();
        assert_eq!(chain, ["/usr/sbin/sshd", "/usr/bin/bash", "/usr/bin/curl"]);
        assert_eq!(doc["sshd_sensor"]["chain"][0]["user"]["name"], "root");
    }

    #[test]
    fn both_events_are_embedded_as_event_documents() {
        let alert = fixtures::alert();
        let doc = alert_document(&alert, &meta());
        let seq = &doc["sshd_sensor"]["sequence"];
        assert_eq!(seq["stage1"], event_document(&alert.stage1));
        assert_eq!(seq["stage2"], event_document(&alert.stage2));
        assert_eq!(seq["stage1"]["event"]["action"], "exec");
    }

    #[test]
    fn replayed_events_are_embedded_verbatim() {
        let original = json!({"event": {"module": "endpoint"}, "process": {"pid": 1234}});
        let stage2 = crate::event::Event {
            original: Some(Arc::new(original.clone())),
            ..fixtures::stage2()
        };
        let doc = alert_document(&fixtures::alert_of(fixtures::stage1(), stage2), &meta());
        assert_eq!(doc["sshd_sensor"]["sequence"]["stage2"], original);
        // The alert's own fields still come from the normalised event.
        assert_eq!(doc["event"]["module"], "sshd_sensor");
    }

    #[test]
    fn ipv6_and_missing_values() {
        let mut stage2 = fixtures::stage2();
        stage2.destination = Destination {
            ip: "2606:4700::1111".parse().ok(),
            port: None,
        };
        stage2.source = Destination::default();
        stage2.host_name = None;
        let mut stage1 = fixtures::stage1();
        stage1.parent = Process::default();
        stage1.process.args = None;
        let doc = alert_document(&fixtures::alert_of(stage1, stage2), &meta());
        assert_eq!(
            doc["destination"],
            json!({"ip": "2606:4700::1111", "address": "2606:4700::1111"})
        );
        assert_eq!(doc["network"]["type"], "ipv6");
        assert!(doc.get("source").is_none());
        assert!(doc["host"].get("name").is_none());
        let parent = &doc["process"]["parent"];
        for absent in ["args", "args_count", "command_line"] {
            assert!(parent.get(absent).is_none(), "{absent}");
        }
        // An unknown process is named as missing, field by field, never invented.
        assert_eq!(
            doc["sshd_sensor"]["chain"][0],
            json!({"missing": ["pid", "entity_id", "executable", "command_line", "user.id", "user.name"]})
        );
        assert!(!doc.to_string().contains("null"));
    }

    #[test]
    fn a_huge_argv_is_cut_and_the_cut_fields_are_named() {
        let mut alert = fixtures::alert();
        let mut stage2 = (*alert.stage2).clone();
        stage2.process.args = Some(vec!["a".repeat(2 << 20), "b".into()]);
        alert.stage2 = Arc::new(stage2);
        let doc = alert_document(&alert, &meta());
        assert!(
            doc.to_string().len() < 128 * 1024,
            "{}",
            doc.to_string().len()
        );
        assert_eq!(
            doc["sshd_sensor"]["truncated"],
            json!(["process.args", "process.command_line"])
        );
        assert_eq!(doc["process"]["args_count"], json!(2));
        assert_eq!(
            doc["process"]["args"][0].as_str().map(str::len),
            Some(crate::ecs::bounds::ARG_MAX_BYTES)
        );
        // Nothing cut, nothing said.
        let whole = alert_document(&fixtures::alert(), &meta());
        assert!(whole["sshd_sensor"].get("truncated").is_none());
    }
}
