//! The test scenarios' shared shape and assertions: a positive connect must alert exactly once
//! with the right fields; a negative one must not alert, and is always paired with a positive
//! control in the same sensor run, so a dead sensor can never pass a negative test.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::alert::{self, RULE_ID};
use crate::connector::ConnectReport;
use crate::sensor::{Sensor, SensorRun};
use crate::testbed::Testbed;

/// How long after an ssh command returns an alert may take to appear.
pub const ALERT_WAIT: Duration = Duration::from_secs(3);
/// Extra time to catch a duplicate alert after the expected one arrived.
pub const DUPLICATE_WAIT: Duration = Duration::from_secs(1);
/// The positive control's destination.
pub const CONTROL_DEST: &str = "8.8.8.8";
/// The port every scenario connects to.
pub const PORT: u16 = 443;

/// Waits up to [`ALERT_WAIT`] for an alert about `report`; panics naming `what` if none comes.
pub fn expect_alert(sensor: &Sensor, report: &ConnectReport, what: &str) -> Value {
    sensor.wait_for_alert(ALERT_WAIT, |a| alert::is_about(a, report)).unwrap_or_else(|| {
        panic!(
            "{what}: no alert within {ALERT_WAIT:?} for {report:?}\nalerts so far:\n{}\nsensor stderr:\n{}",
            alert::dump(&sensor.alerts()),
            sensor.stderr_text()
        )
    })
}

/// Panics unless exactly one alert of `run` is about `report`, with the rule id, destination
/// `dest`:`port`, `process.pid` = the connector and `process.parent.pid` = its shell.
pub fn assert_single_alert(
    run: &SensorRun,
    report: &ConnectReport,
    dest: &str,
    port: u16,
    what: &str,
) {
    let matching = alert::about(&run.alerts, report);
    let context = || {
        format!(
            "all alerts:\n{}\nsensor stderr:\n{}",
            alert::dump(&run.alerts),
            run.stderr
        )
    };
    let [doc] = matching[..] else {
        panic!(
            "{what}: expected exactly 1 alert for {report:?}, got {}\n{}",
            matching.len(),
            context()
        )
    };
    let expected_ip: IpAddr = dest
        .parse()
        .unwrap_or_else(|e| panic!("bad expected ip {dest:?}: {e}"));
    let checks = [
        (
            "rule.id",
            alert::field(doc, "rule.id").and_then(Value::as_str) == Some(RULE_ID),
        ),
        (
            "destination.ip",
            alert::destination_ip(doc) == Some(expected_ip),
        ),
        (
            "destination.port",
            alert::int_field(doc, "destination.port") == Some(i64::from(port)),
        ),
        (
            "process.pid",
            alert::int_field(doc, "process.pid") == Some(i64::from(report.pid)),
        ),
        (
            "process.parent.pid",
            alert::int_field(doc, "process.parent.pid") == Some(i64::from(report.ppid)),
        ),
    ];
    let wrong: Vec<&str> = checks
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| *name)
        .collect();
    assert!(
        wrong.is_empty(),
        "{what}: alert has wrong {wrong:?} (expected rule.id {RULE_ID}, destination {dest}:{port}, \
         process.pid {}, process.parent.pid {}):\n{doc}\n{}",
        report.pid,
        report.ppid,
        context()
    );
}

/// Panics if any alert of `run` is about `report`.
pub fn assert_no_alert(run: &SensorRun, report: &ConnectReport, what: &str) {
    let matching = alert::about(&run.alerts, report);
    assert!(
        matching.is_empty(),
        "{what}: expected NO alert for {report:?}, got {}:\n{}",
        matching.len(),
        alert::dump(&matching.into_iter().cloned().collect::<Vec<_>>())
    );
}

/// Positive scenario: starts the sensor, runs `connect`, expects exactly one alert for it with
/// destination `dest`:[`PORT`].
pub fn expect_single_alert(
    bed: &Testbed,
    dest: &str,
    connect: impl FnOnce(&Testbed) -> ConnectReport,
) {
    expect_single_alert_from(Sensor::start(), bed, dest, connect);
}

/// [`expect_single_alert`] with a sensor the caller started (another command line, another
/// identity); stops it.
pub fn expect_single_alert_from(
    sensor: Sensor,
    bed: &Testbed,
    dest: &str,
    connect: impl FnOnce(&Testbed) -> ConnectReport,
) {
    let report = connect(bed);
    let doc = expect_alert(&sensor, &report, &format!("connect to {dest}"));
    eprintln!("alert for {report:?}:\n{doc}");
    std::thread::sleep(DUPLICATE_WAIT);
    let run = sensor.stop();
    assert_single_alert(&run, &report, dest, PORT, &format!("connect to {dest}"));
}

/// Negative scenario with a positive control: starts the sensor, runs `negative`, then an ssh
/// connect to [`CONTROL_DEST`] that must alert; after [`ALERT_WAIT`] from the negative connect,
/// asserts the negative one did not alert.
pub fn expect_no_alert_with_control(
    bed: &Testbed,
    what: &str,
    negative: impl FnOnce(&Testbed) -> ConnectReport,
) {
    let sensor = Sensor::start();
    let report = negative(bed);
    let negative_done = Instant::now();
    let control = bed.connect_over_ssh(&bed.connector, CONTROL_DEST, PORT);
    expect_alert(
        &sensor,
        &control,
        "positive control (without it a negative result proves nothing)",
    );
    let remaining = ALERT_WAIT
        .saturating_sub(negative_done.elapsed())
        .max(DUPLICATE_WAIT);
    std::thread::sleep(remaining);
    let run = sensor.stop();
    assert_no_alert(&run, &report, what);
    assert_single_alert(&run, &control, CONTROL_DEST, PORT, "positive control");
}
