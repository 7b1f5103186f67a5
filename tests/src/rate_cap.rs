//! The rate cap's summary documents as the tests read them: telling them from alerts
//! (`event.action: rate_cap_summary`), reading their destinations, waiting for one while the
//! sensor runs, and reading an NDJSON alert file back.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::alert;
use crate::sensor::Sensor;
use crate::wait;

/// `event.action` of a summary document.
pub const SUMMARY_ACTION: &str = "rate_cap_summary";

/// True if `doc` is a rate-cap summary (an alert document of the rule with that action).
pub fn is_summary(doc: &Value) -> bool {
    alert::field(doc, "event.action").and_then(Value::as_str) == Some(SUMMARY_ACTION)
        && alert::field(doc, "event.kind").and_then(Value::as_str) == Some("alert")
        && alert::field(doc, "rule.id").and_then(Value::as_str) == Some(alert::RULE_ID)
}

/// The summaries among `docs` whose session is the stage-1 process `session_pid`.
pub fn summaries_of(docs: &[Value], session_pid: i32) -> Vec<Value> {
    docs.iter()
        .filter(|d| {
            is_summary(d)
                && alert::int_field(d, "sshd_sensor.rate_cap.session.process.pid")
                    == Some(i64::from(session_pid))
        })
        .cloned()
        .collect()
}

/// One listed destination: ip, port, count, connecting pid, connecting executable.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listed {
    pub ip: String,
    pub port: i64,
    pub count: i64,
    pub pid: i64,
    pub executable: String,
}

/// `sshd_sensor.rate_cap.destinations` of a summary; panics on a malformed entry.
pub fn destinations(doc: &Value) -> Vec<Listed> {
    let list = alert::field(doc, "sshd_sensor.rate_cap.destinations")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("summary without a destinations array:\n{doc}"));
    list.iter()
        .map(|d| {
            let text = |path: &str| {
                alert::field(d, path)
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("destination without {path}: {d}"))
                    .to_owned()
            };
            let int = |path: &str| {
                alert::int_field(d, path)
                    .unwrap_or_else(|| panic!("destination without {path}: {d}"))
            };
            Listed {
                ip: text("ip"),
                port: int("port"),
                count: int("count"),
                pid: int("process.pid"),
                executable: text("process.executable"),
            }
        })
        .collect()
}

/// Polls stdout (bounded by `timeout`) for a summary of session `session_pid`, while the sensor
/// runs; panics naming `what` if none comes.
pub fn wait_for_summary(sensor: &Sensor, session_pid: i32, timeout: Duration, what: &str) -> Value {
    wait::poll(timeout, Duration::from_millis(100), || {
        summaries_of(&sensor.alerts(), session_pid).into_iter().next()
    })
    .unwrap_or_else(|| {
        panic!(
            "{what}: no rate-cap summary of session pid {session_pid} on stdout within {timeout:?}\n\
             stdout:\n{}\nstderr:\n{}",
            alert::dump(&sensor.alerts()),
            sensor.stderr_text()
        )
    })
}

/// Every line of the NDJSON file `path`, parsed; panics on a line that is not JSON.
pub fn read_ndjson(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: line is not JSON ({e}): {l}", path.display()))
        })
        .collect()
}
