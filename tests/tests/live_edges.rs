//! The rule's edges, live: an IPv4-mapped public destination (an AF_INET6 socket connecting
//! to `::ffff:8.8.8.8`) alerts and is reported as the IPv4 address, and the 1 s maxspan is
//! the rule's, not the kernel's: a connect about 0.8 s after the shell's exec alerts, one
//! about 1.1 s after does not, although the kernel (whose window is 1.25 s) passed it up. The
//! gaps are measured from the sensor's own timestamps (the alert's `event.duration`, the
//! recording's exec and connect events), and a run whose gap missed its target fails as a
//! broken setup instead of passing.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use integration_tests::alert;
use integration_tests::connector::ConnectReport;
use integration_tests::connector_bin;
use integration_tests::scenario::{
    ALERT_WAIT, CONTROL_DEST, PORT, assert_no_alert, assert_single_alert, expect_alert,
};
use integration_tests::sensor::{self, Sensor};
use integration_tests::testbed::Testbed;

/// The rule's maxspan.
const MAXSPAN: Duration = Duration::from_secs(1);
/// The kernel's window (`sensor_common::KERNEL_WINDOW_NS`): connects later than this after
/// the stage-1 exec never reach user space.
const KERNEL_WINDOW: Duration = Duration::from_millis(1250);

fn testbed() -> Testbed {
    sensor::binary();
    Testbed::new(connector_bin!())
}

fn str_field<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    alert::field(doc, path).and_then(Value::as_str)
}

/// A public IPv4 destination reached through an IPv6 socket (`::ffff:8.8.8.8`) alerts, and the
/// alert says IPv4: `destination.ip` and `.address` "8.8.8.8", `network.type` "ipv4" (at the
/// top and in the embedded stage-2 event). A sensor that read the mapped address as 0.0.0.0
/// (excluded) or kept the IPv6 spelling fails here.
#[test]
fn ipv4_mapped_public_destination_alerts_as_ipv4() {
    let bed = testbed();
    let sensor = Sensor::start();
    let report = bed.connect_over_ssh(&bed.connector, "::ffff:8.8.8.8", PORT);
    let doc = expect_alert(&sensor, &report, "connect to ::ffff:8.8.8.8");
    std::thread::sleep(Duration::from_secs(1));
    let run = sensor.stop();
    assert_single_alert(&run, &report, "8.8.8.8", PORT, "connect to ::ffff:8.8.8.8");
    for (path, expected) in [
        ("destination.ip", "8.8.8.8"),
        ("destination.address", "8.8.8.8"),
        ("network.type", "ipv4"),
    ] {
        assert_eq!(
            str_field(&doc, path),
            Some(expected),
            "{path} of the mapped destination's alert:\n{doc}"
        );
        let stage2 = doc
            .pointer("/sshd_sensor/sequence/stage2")
            .unwrap_or(&Value::Null);
        assert_eq!(
            str_field(stage2, path),
            Some(expected),
            "sshd_sensor.sequence.stage2.{path} of the mapped destination's alert:\n{doc}"
        );
    }
}

/// `event.duration` of an alert: the gap between the stage-1 exec and the connect.
fn alert_gap(doc: &Value) -> Duration {
    let ns = alert::int_field(doc, "event.duration")
        .unwrap_or_else(|| panic!("alert without event.duration:\n{doc}"));
    Duration::from_nanos(u64::try_from(ns).expect("a non-negative duration"))
}

/// Nanoseconds since the epoch of an RFC 3339 UTC timestamp with a fractional second
/// (`2026-11-30T03:06:32.394616080Z`), as the sensor writes them.
fn epoch_ns(ts: &str) -> i128 {
    integration_tests::alert::epoch_ns(ts).unwrap_or_else(|| panic!("unexpected timestamp {ts:?}"))
}

/// The recorded event with `event.action` `action` of process `pid`; panics if there is not
/// exactly one.
fn recorded<'a>(events: &'a [Value], action: &str, pid: i32) -> &'a Value {
    let found: Vec<&Value> = events
        .iter()
        .filter(|e| {
            str_field(e, "event.action") == Some(action)
                && alert::int_field(e, "process.pid") == Some(i64::from(pid))
        })
        .collect();
    let [event] = found[..] else {
        panic!(
            "expected one recorded {action} of pid {pid}, got {}:\n{}",
            found.len(),
            alert::dump(events)
        )
    };
    event
}

fn read_recording(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read the recording {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad record ({e}): {l}")))
        .collect()
}

/// The gap between the recorded exec of the connector's shell (stage 1) and its connect.
fn recorded_gap(events: &[Value], report: &ConnectReport) -> Duration {
    let exec = recorded(events, "exec", report.ppid);
    let connect = recorded(events, "connection_attempted", report.pid);
    let at = |e: &Value| epoch_ns(str_field(e, "@timestamp").expect("@timestamp"));
    let ns = at(connect) - at(exec);
    Duration::from_nanos(
        u64::try_from(ns).unwrap_or_else(|_| panic!("connect before exec: {ns} ns")),
    )
}

/// A connect about 0.8 s after the shell's exec alerts; one about 1.1 s after does not, though
/// the kernel passed it up (it is in the recording): the rule's 1 s maxspan decides, not the
/// kernel's 1.25 s filter. A positive control with no delay alerts in the same run. Each
/// measured gap must land where the test aimed it (0.8 s in [0.7, 0.95], 1.1 s in
/// [1.03, 1.22]), or the test fails as a setup that did not test what it claims.
#[test]
fn gap_of_0_8_s_alerts_and_1_1_s_does_not() {
    let bed = testbed();
    let recording = bed.dir.join("events.ndjson");
    let sensor = Sensor::start_with(&[
        "run",
        "--format",
        "json",
        "--record",
        recording.to_str().expect("UTF-8 path"),
    ]);
    let near = bed.connect_over_ssh_after("sleep 0.8; ", &bed.connector, CONTROL_DEST, PORT);
    let near_doc = expect_alert(&sensor, &near, "connect 0.8 s after the shell's exec");
    let far = bed.connect_over_ssh_after("sleep 1.1; ", &bed.connector, CONTROL_DEST, PORT);
    let far_done = Instant::now();
    let control = bed.connect_over_ssh(&bed.connector, CONTROL_DEST, PORT);
    expect_alert(&sensor, &control, "positive control (no delay)");
    std::thread::sleep(ALERT_WAIT.saturating_sub(far_done.elapsed()));
    let run = sensor.stop();
    let events = read_recording(&recording);

    let near_gap = alert_gap(&near_doc);
    eprintln!("0.8 s target: alert's event.duration {near_gap:?}");
    assert!(
        (Duration::from_millis(700)..=Duration::from_millis(950)).contains(&near_gap),
        "setup missed its target: the 0.8 s connect came {near_gap:?} after the exec"
    );
    assert_eq!(
        recorded_gap(&events, &near),
        near_gap,
        "the recording and the alert disagree on the 0.8 s gap"
    );
    assert_single_alert(
        &run,
        &near,
        CONTROL_DEST,
        PORT,
        "connect 0.8 s after the exec",
    );

    let far_gap = recorded_gap(&events, &far);
    eprintln!("1.1 s target: recorded gap {far_gap:?}");
    assert!(
        far_gap > MAXSPAN + Duration::from_millis(30)
            && far_gap < KERNEL_WINDOW - Duration::from_millis(30),
        "setup missed its target: the 1.1 s connect came {far_gap:?} after the exec, not \
         clearly between the rule's {MAXSPAN:?} and the kernel's {KERNEL_WINDOW:?}"
    );
    assert_no_alert(
        &run,
        &far,
        "connect 1.1 s after the exec (beyond the 1 s maxspan)",
    );
    assert_single_alert(&run, &control, CONTROL_DEST, PORT, "positive control");
}

#[test]
fn epoch_ns_reads_the_sensors_timestamps() {
    assert_eq!(epoch_ns("1970-01-01T00:00:00Z"), 0);
    assert_eq!(epoch_ns("1970-01-02T00:00:01.5Z"), 86_401_500_000_000);
    assert_eq!(
        epoch_ns("2026-11-30T03:06:32.394616080Z"),
        1_796_007_992_394_616_080
    );
}
