//! End-to-end tests of the daemon around the rule, as a service manager and an operator see
//! it: running under the systemd unit's capability set as an unprivileged uid, recording and
//! replaying, the configuration file's outputs, SIGHUP (rotation, refused configuration, new
//! exclusions), the rate cap, sd_notify readiness, and clean failures. The detection scenarios
//! run in the same sandbox as `detection.rs` (netns -> sshd -> sensor -> ssh); every negative
//! result is paired with a positive control in the same sensor run.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use integration_tests::alert;
use integration_tests::cmd::{self, Finished};
use integration_tests::connector::ConnectReport;
use integration_tests::connector_bin;
use integration_tests::notify_socket::{self, NotifySocket};
use integration_tests::prereq;
use integration_tests::privileges::{self, NOBODY, UnitCapabilities};
use integration_tests::rate_cap::{self, read_ndjson};
use integration_tests::scenario::{
    self, ALERT_WAIT, CONTROL_DEST, DUPLICATE_WAIT, PORT, assert_no_alert, assert_single_alert,
    expect_alert,
};
use integration_tests::sensor::{self, Sensor};
use integration_tests::tempdir::TempDir;
use integration_tests::testbed::Testbed;
use integration_tests::wait;

/// How long the sensor may take to act on SIGHUP.
const RELOAD_WAIT: Duration = Duration::from_secs(5);
/// How long a sd_notify datagram may take to arrive.
const NOTIFY_WAIT: Duration = Duration::from_secs(5);
/// Bound for `replay` and for the runs that must fail.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// The alert fields that legitimately differ between a live alert and `replay` of its
/// recording, each with the reason; every other field must be equal.
const REPLAY_MAY_DIFFER: &[(&str, &str)] = &[(
    "sshd_sensor.session",
    "the SSH login (SSH_CONNECTION, USER) is read live from the stage-1 process's \
     /proc/PID/environ; the recording holds Defend-shaped events, which have no field for it, \
     so replay writes `missing: true` instead",
)];

/// Fails fast when the sensor binary is missing, then builds the host (netns, user, sshd).
fn testbed() -> Testbed {
    sensor::binary();
    Testbed::new(connector_bin!())
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("scratch paths are UTF-8")
}

fn write_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// The positive scenario: over ssh, the connector connects to [`CONTROL_DEST`].
fn positive(bed: &Testbed) -> ConnectReport {
    bed.connect_over_ssh(&bed.connector, CONTROL_DEST, PORT)
}

/// Sleeps until [`ALERT_WAIT`] has passed since `since` (at least [`DUPLICATE_WAIT`]), so a
/// late or duplicate alert would have arrived.
fn settle(since: Instant) {
    std::thread::sleep(
        ALERT_WAIT
            .saturating_sub(since.elapsed())
            .max(DUPLICATE_WAIT),
    );
}

/// Sends SIGHUP and waits for a stderr line, written after it, satisfying `matches`.
fn sighup(sensor: &Sensor, what: &str, matches: impl Fn(&str) -> bool) -> String {
    let mark = sensor.stderr_lines().len();
    sensor.signal(libc::SIGHUP);
    sensor.wait_for_stderr(mark, RELOAD_WAIT, what, matches)
}

/// A stderr line reporting a successful reload.
fn reports_reload(line: &str) -> bool {
    let line = line.to_ascii_lowercase();
    line.contains("reloaded") && !line.contains("refused") && !line.contains("error")
}

/// The alert file's documents once it holds at least `count` (bounded by [`ALERT_WAIT`]).
fn file_alerts(path: &Path, count: usize) -> Vec<Value> {
    wait::poll(ALERT_WAIT, Duration::from_millis(50), || {
        path.exists()
            .then(|| read_ndjson(path))
            .filter(|docs| docs.len() >= count)
    })
    .unwrap_or_else(|| {
        let found = path.exists().then(|| read_ndjson(path));
        panic!(
            "alert file {} did not reach {count} alert(s) within {ALERT_WAIT:?}; it holds: {found:?}",
            path.display()
        )
    })
}

/// `doc` flattened to `dotted.path -> value` (arrays of objects indexed, `chain[0].pid`).
fn flatten(doc: &Value) -> std::collections::BTreeMap<String, Value> {
    fn walk(prefix: String, v: &Value, out: &mut std::collections::BTreeMap<String, Value>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(key, x, out);
                }
            }
            Value::Array(a) if a.iter().any(Value::is_object) => {
                for (i, x) in a.iter().enumerate() {
                    walk(format!("{prefix}[{i}]"), x, out);
                }
            }
            _ => {
                out.insert(prefix, v.clone());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(String::new(), doc, &mut out);
    out
}

/// Whether `path` is one of [`REPLAY_MAY_DIFFER`] (itself or inside it).
fn may_differ(path: &str) -> bool {
    REPLAY_MAY_DIFFER.iter().any(|(p, _)| {
        path == *p || path.starts_with(&format!("{p}.")) || path.starts_with(&format!("{p}["))
    })
}

/// Each alert flattened without the fields that may differ, keyed by `process.entity_id`.
fn comparable(alerts: &[Value]) -> std::collections::BTreeMap<String, Vec<(String, Value)>> {
    alerts
        .iter()
        .map(|doc| {
            let key =
                alert::field(doc, "process.entity_id").map_or("null".to_owned(), Value::to_string);
            let fields = flatten(doc)
                .into_iter()
                .filter(|(path, _)| !may_differ(path))
                .collect();
            (key, fields)
        })
        .collect()
}

/// Every field that differs between live and replayed alerts of the same process, as lines.
fn replay_differences(live: &[Value], replayed: &[Value]) -> Vec<String> {
    let live = comparable(live);
    let replayed = comparable(replayed);
    let mut out = Vec::new();
    for key in live
        .keys()
        .chain(replayed.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let (Some(a), Some(b)) = (live.get(key), replayed.get(key)) else {
            out.push(format!(
                "alert for process.entity_id {key} only on one side"
            ));
            continue;
        };
        let a: std::collections::BTreeMap<_, _> = a.iter().cloned().collect();
        let b: std::collections::BTreeMap<_, _> = b.iter().cloned().collect();
        for path in a
            .keys()
            .chain(b.keys())
            .collect::<std::collections::BTreeSet<_>>()
        {
            if a.get(path) != b.get(path) {
                out.push(format!(
                    "{key}: {path}: live {:?} replayed {:?}",
                    a.get(path),
                    b.get(path)
                ));
            }
        }
    }
    out
}

/// Runs a command that must fail: bounded, RUST_BACKTRACE=1 (so a panic would show its
/// backtrace) and RUST_LOG unset (the default log level).
fn run_failing(mut command: Command, what: &str) -> Finished {
    command.env("RUST_BACKTRACE", "1").env_remove("RUST_LOG");
    let finished = cmd::run_bounded(&mut command, COMMAND_TIMEOUT);
    assert!(
        !finished.status.success(),
        "{what}: `{}` succeeded; expected a non-zero exit\nstderr:\n{}",
        finished.command,
        finished.stderr
    );
    finished
}

/// The single stderr line of a failed run; panics on a panic, a backtrace, stdout output, or
/// any number of lines other than one.
fn single_error_line(finished: &Finished, what: &str) -> String {
    let lower = finished.stderr.to_ascii_lowercase();
    assert!(
        !lower.contains("panicked") && !lower.contains("backtrace"),
        "{what}: a panic or backtrace instead of an error message:\n{}",
        finished.stderr
    );
    assert!(
        finished.stdout.trim().is_empty(),
        "{what}: unexpected stdout:\n{}",
        finished.stdout
    );
    let lines: Vec<&str> = finished
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    let [line] = lines[..] else {
        panic!(
            "{what}: expected exactly one stderr line, got {}:\n{}",
            lines.len(),
            finished.stderr
        )
    };
    eprintln!("{what}: {line}");
    line.to_owned()
}

/// As uid 65534 with exactly the unit file's capabilities, the sensor detects the positive scenario.
#[test]
fn alerts_under_the_units_capability_set() {
    let bed = testbed();
    let caps = UnitCapabilities::of_shipped_unit();
    eprintln!("unit capabilities: {caps:?}");
    let binary = privileges::binary_for_nobody(bed.dir.path());
    let sensor = Sensor::start_command(privileges::under_capabilities(
        &caps,
        &binary,
        &["run", "--format", "json"],
    ));
    let uid = privileges::proc_status(sensor.pid(), "Uid");
    assert!(
        uid.split_whitespace().all(|u| u == NOBODY.to_string()),
        "the sensor runs with Uid: {uid}, expected {NOBODY} throughout"
    );
    let effective = privileges::proc_status(sensor.pid(), "CapEff");
    let effective = u64::from_str_radix(&effective, 16)
        .unwrap_or_else(|e| panic!("bad CapEff {effective:?}: {e}"));
    assert_eq!(
        effective,
        caps.ambient_mask(),
        "the sensor's effective capabilities ({effective:#x}) are not exactly the unit's {caps:?}"
    );
    scenario::expect_single_alert_from(sensor, &bed, CONTROL_DEST, positive);
}

/// `replay` over the events recorded by `run --record` gives exactly the live run's alerts:
/// every field of every document, except those of [`REPLAY_MAY_DIFFER`].
#[test]
fn record_then_replay_gives_the_same_alerts() {
    let bed = testbed();
    let recording = bed.dir.join("events.ndjson");
    let sensor = Sensor::start_with(&["run", "--format", "json", "--record", utf8(&recording)]);
    let first = positive(&bed);
    expect_alert(&sensor, &first, "first positive (8.8.8.8)");
    let excluded = bed.connect_over_ssh(&bed.connector, "10.1.2.3", PORT);
    let late = bed.connect_over_ssh_after("sleep 1.5; ", &bed.connector, CONTROL_DEST, PORT);
    let negatives_done = Instant::now();
    let second = bed.connect_over_ssh(&bed.connector, "2001:db8::1", PORT);
    expect_alert(&sensor, &second, "second positive (2001:db8::1)");
    settle(negatives_done);
    let live = sensor.stop();
    assert_single_alert(&live, &first, CONTROL_DEST, PORT, "first positive");
    assert_single_alert(&live, &second, "2001:db8::1", PORT, "second positive");
    assert_no_alert(&live, &excluded, "connect to excluded 10.1.2.3");
    assert_no_alert(&live, &late, "connect 1.5 s after the shell started");
    assert_eq!(live.alerts.len(), 2, "{}", alert::dump(&live.alerts));

    let replay = cmd::run_bounded(
        &mut sensor::command(&["replay", utf8(&recording), "--format", "json"]),
        COMMAND_TIMEOUT,
    )
    .expect_success();
    let replayed: Vec<Value> = replay
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("replay printed a line that is not JSON ({e}): {l}"))
        })
        .collect();
    assert_eq!(
        replayed.len(),
        live.alerts.len(),
        "replay gave another number of alerts\nreplayed:\n{}\nreplay stderr:\n{}",
        alert::dump(&replayed),
        replay.stderr
    );
    assert_eq!(
        comparable(&live.alerts).len(),
        live.alerts.len(),
        "live alerts without distinct process.entity_id cannot be paired with replay's:\n{}",
        alert::dump(&live.alerts)
    );
    let differences = replay_differences(&live.alerts, &replayed);
    assert!(
        differences.is_empty(),
        "replay's alerts differ from the live run's (besides {:?}):\n{}\nreplay stderr:\n{}",
        REPLAY_MAY_DIFFER.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        differences.join("\n"),
        replay.stderr
    );
}

/// Alerts go to stdout and `[output] file` alike; SIGHUP reopens a rotated file, refuses an
/// invalid configuration without stopping, and applies a new name exclusion.
#[test]
fn config_file_outputs_and_sighup() {
    let bed = testbed();
    let config = bed.dir.join("config.toml");
    let alerts_file = bed.dir.join("alerts.ndjson");
    let rotated = bed.dir.join("alerts.ndjson.1");
    let output = format!(
        "[output]\nfile = \"{}\"\njournald = false\n",
        utf8(&alerts_file)
    );
    write_file(&config, &output);
    let mut sensor = Sensor::start_with(&["run", "--format", "json", "--config", utf8(&config)]);

    // The alert is printed and appended to the file, as the same document.
    let first = positive(&bed);
    let first_doc = expect_alert(&sensor, &first, "first positive");
    assert_eq!(
        file_alerts(&alerts_file, 1),
        std::slice::from_ref(&first_doc),
        "the alert file must hold exactly the alert printed on stdout"
    );

    // Rotation: after SIGHUP the next alert goes to a new file at the configured path.
    std::fs::rename(&alerts_file, &rotated).expect("rotate the alert file");
    let line = sighup(&sensor, "reporting the reload", reports_reload);
    eprintln!("reload: {line}");
    let second = positive(&bed);
    let second_doc = expect_alert(&sensor, &second, "positive after rotation");
    assert_eq!(
        file_alerts(&alerts_file, 1),
        std::slice::from_ref(&second_doc),
        "after rotation and SIGHUP the new file must hold the new alert"
    );
    assert_eq!(
        read_ndjson(&rotated),
        [first_doc],
        "the rotated file must keep only the first alert"
    );

    // An invalid configuration is refused with file:line:col, and the sensor carries on.
    write_file(&config, &format!("{output}no_such_key = 1\n"));
    let location = format!("{}:4:1", utf8(&config));
    let line = sighup(&sensor, &format!("naming {location}"), |l| {
        l.contains(&location)
    });
    eprintln!("refused: {line}");
    std::thread::sleep(Duration::from_millis(200));
    sensor.assert_running("after SIGHUP with an invalid configuration");
    let third = positive(&bed);
    let third_doc = expect_alert(&sensor, &third, "positive after a refused configuration");

    // A new name exclusion applies on reload; a copy under another name still alerts.
    let name = bed
        .connector
        .file_name()
        .and_then(|n| n.to_str())
        .expect("connector file name");
    let other = bed.install_connector_as("other-connect");
    write_file(
        &config,
        &format!("{output}[rule]\nextra_excluded_names = [\"{name}\"]\n"),
    );
    sighup(&sensor, "reporting the reload", reports_reload);
    let excluded = positive(&bed);
    let excluded_done = Instant::now();
    let control = bed.connect_over_ssh(&other, CONTROL_DEST, PORT);
    let control_doc = expect_alert(&sensor, &control, "positive control named other-connect");
    settle(excluded_done);
    let run = sensor.stop();
    for (report, what) in [
        (&first, "first positive"),
        (&second, "positive after rotation"),
        (&third, "positive after a refused configuration"),
        (&control, "positive control named other-connect"),
    ] {
        assert_single_alert(&run, report, CONTROL_DEST, PORT, what);
    }
    assert_no_alert(
        &run,
        &excluded,
        &format!("connector named {name}, now excluded"),
    );
    assert_eq!(
        read_ndjson(&alerts_file),
        [second_doc, third_doc, control_doc],
        "the alert file must hold the alerts printed since the rotation"
    );
}

/// With `max_per_window = 1`, a session's second match is not printed; when its window ends,
/// while the sensor runs, the summary document on stdout names the session, counts the one
/// suppressed alert and lists its destination and process. Another session is not capped.
#[test]
fn rate_cap_suppresses_and_summarises() {
    let bed = testbed();
    let config = bed.dir.join("config.toml");
    write_file(
        &config,
        "[alerts]\nmax_per_window = 1\nwindow_seconds = 3\n[output]\njournald = false\n",
    );
    let sensor = Sensor::start_with(&["run", "--format", "json", "--config", utf8(&config)]);
    // One session, two stage-1 execs of its shell (the second replaces the first image), each
    // followed by a connect of a child.
    let first_call = integration_tests::connector::invocation(&bed.connector, CONTROL_DEST, PORT);
    let second_call = integration_tests::connector::invocation(&bed.connector, "1.1.1.1", PORT);
    let finished = bed.ssh(&format!(
        "{first_call}; exec /bin/sh -c '{second_call}; true'"
    ));
    let reports = integration_tests::connector::parse_reports(&finished.stdout);
    let [first, second] = &reports[..] else {
        panic!("expected two connector reports:\n{}", finished.stdout)
    };
    assert_eq!(first.ppid, second.ppid, "both connects come from one shell");
    expect_alert(&sensor, first, "first positive");
    let other = positive(&bed);
    expect_alert(&sensor, &other, "another session, not capped by the first");
    let summary = rate_cap::wait_for_summary(
        &sensor,
        first.ppid,
        Duration::from_secs(3 + 5),
        "the capped session",
    );
    assert_eq!(
        alert::int_field(&summary, "sshd_sensor.rate_cap.suppressed"),
        Some(1),
        "{summary}"
    );
    assert_eq!(
        alert::int_field(&summary, "sshd_sensor.rate_cap.emitted"),
        Some(1),
        "{summary}"
    );
    assert_eq!(
        rate_cap::destinations(&summary),
        [rate_cap::Listed {
            ip: "1.1.1.1".to_owned(),
            port: i64::from(PORT),
            count: 1,
            pid: i64::from(second.pid),
            executable: utf8(&bed.connector).to_owned(),
        }],
        "{summary}"
    );
    settle(Instant::now());
    let run = sensor.stop();
    assert_single_alert(&run, first, CONTROL_DEST, PORT, "first positive");
    assert_single_alert(&run, &other, CONTROL_DEST, PORT, "another session");
    assert_no_alert(&run, second, "second positive of the session, over the cap");
    assert_eq!(
        rate_cap::summaries_of(&run.alerts, first.ppid),
        [summary],
        "exactly one summary, and none at shutdown (nothing pending)"
    );
}

/// SIGHUP applies what it can: started with one alert file, no recording and log level info,
/// then reloaded (waiting on RELOADING=1 and READY=1) with another alert file, a recording and
/// level debug: the next alert lands in the new file only, the recording gets its events, and
/// debug lines appear.
#[test]
fn sighup_applies_outputs_record_and_log_level() {
    let bed = testbed();
    let socket = NotifySocket::bind(bed.dir.path());
    let config = bed.dir.join("config.toml");
    let old_file = bed.dir.join("old.ndjson");
    let new_file = bed.dir.join("new.ndjson");
    let recording = bed.dir.join("events.ndjson");
    write_file(
        &config,
        &format!(
            "[output]\nfile = \"{}\"\njournald = false\n[log]\nlevel = \"info\"\n",
            utf8(&old_file)
        ),
    );
    let mut command = sensor::command(&["run", "--format", "json", "--config", utf8(&config)]);
    command.env_remove("RUST_LOG");
    // Returns once READY=1 came on `socket`.
    let sensor = Sensor::start_notified(command, &socket);
    let first = positive(&bed);
    let first_doc = expect_alert(&sensor, &first, "positive before the reload");
    assert_eq!(file_alerts(&old_file, 1), std::slice::from_ref(&first_doc));
    let is_debug = |l: &str| l.contains("DEBUG");
    assert!(
        !sensor.stderr_lines().iter().any(|l| is_debug(l)),
        "debug lines at level info:\n{}",
        sensor.stderr_text()
    );

    write_file(
        &config,
        &format!(
            "[output]\nfile = \"{}\"\njournald = false\nrecord = \"{}\"\n\
             [log]\nlevel = \"debug\"\n",
            utf8(&new_file),
            utf8(&recording)
        ),
    );
    let mark = sensor.stderr_lines().len();
    sensor.signal(libc::SIGHUP);
    for expected in ["RELOADING=1", "READY=1"] {
        let got = socket.receive(NOTIFY_WAIT);
        assert!(
            got.as_deref()
                .is_some_and(|m| notify_socket::has(m, expected)),
            "after SIGHUP expected {expected}, got {got:?}; stderr:\n{}",
            sensor.stderr_text()
        );
    }
    let second = positive(&bed);
    let second_doc = expect_alert(&sensor, &second, "positive after the reload");
    assert_eq!(
        file_alerts(&new_file, 1),
        [second_doc],
        "the new alert file must hold the alert raised after the reload"
    );
    sensor.wait_for_stderr(
        mark,
        RELOAD_WAIT,
        "at level debug after the reload",
        is_debug,
    );
    let run = sensor.stop();
    assert_single_alert(
        &run,
        &second,
        CONTROL_DEST,
        PORT,
        "positive after the reload",
    );
    assert_eq!(
        read_ndjson(&old_file),
        [first_doc],
        "the old alert file must keep only the alert from before the reload"
    );
    let recorded = read_ndjson(&recording);
    let connect = recorded.iter().find(|d| {
        alert::int_field(d, "process.pid") == Some(i64::from(second.pid))
            && alert::field(d, "event.action").and_then(Value::as_str)
                == Some("connection_attempted")
    });
    assert!(
        connect.is_some(),
        "the recording added by the reload lacks the connect of pid {}:\n{}",
        second.pid,
        alert::dump(&recorded)
    );
    let exec = recorded.iter().find(|d| {
        alert::int_field(d, "process.pid") == Some(i64::from(second.ppid))
            && alert::field(d, "event.action").and_then(Value::as_str) == Some("exec")
    });
    assert!(
        exec.is_some(),
        "the recording lacks the stage-1 exec of pid {}",
        second.ppid
    );
}

/// With `$NOTIFY_SOCKET` set, the sensor sends READY=1 once attached, nothing more while idle,
/// and STOPPING=1 on SIGTERM.
#[test]
fn sd_notify_ready() {
    prereq::require_root();
    sensor::binary();
    let dir = TempDir::new("sst-notify");
    let socket = NotifySocket::bind(dir.path());
    // Returns once READY=1 came, after nothing but STATUS= lines.
    let sensor = Sensor::start_notified(sensor::command(&["run", "--format", "json"]), &socket);
    let early = socket.receive(Duration::from_millis(200));
    assert!(
        early.is_none(),
        "unexpected notification while running: {early:?}"
    );
    let run = sensor.stop();
    let stopping = socket.receive(NOTIFY_WAIT);
    assert!(
        stopping
            .as_deref()
            .is_some_and(|m| notify_socket::has(m, "STOPPING=1")),
        "notification after SIGTERM is {stopping:?}, expected STOPPING=1; stderr:\n{}",
        run.stderr
    );
}

/// Without privileges, or with a missing or invalid configuration, `run` fails with one line
/// naming the problem (and for privileges the fix), never a panic.
#[test]
fn bad_privileges_and_input_fail_cleanly() {
    prereq::require_root();
    let dir = TempDir::new("sst-fail");
    let binary = privileges::binary_for_nobody(dir.path());

    let what = "run as uid 65534 without capabilities";
    let finished = run_failing(
        privileges::without_capabilities(&binary, &["run", "--format", "json"]),
        what,
    );
    let line = single_error_line(&finished, what);
    assert!(
        line.contains("CAP_BPF") || line.contains("root"),
        "{what}: the error does not name the fix (CAP_BPF or root): {line}"
    );

    let missing = "/nonexistent.toml";
    assert!(
        !Path::new(missing).exists(),
        "{missing} exists on this host"
    );
    let what = "run --config with a missing file";
    let finished = run_failing(sensor::command(&["run", "--config", missing]), what);
    let line = single_error_line(&finished, what);
    assert!(
        line.contains(missing),
        "{what}: the error does not name {missing}: {line}"
    );

    let bad = dir.join("bad.toml");
    write_file(&bad, "[output]\njournald = false\nno_such_key = 1\n");
    let location = format!("{}:3:1", utf8(&bad));
    let what = "run --config with an unknown key";
    let finished = run_failing(sensor::command(&["run", "--config", utf8(&bad)]), what);
    let line = single_error_line(&finished, what);
    assert!(
        line.contains(&location),
        "{what}: the error does not name {location}: {line}"
    );
}

/// Each forced connect hook either makes a real alert (it attached AND sees connects: "attached
/// and silent" fails) or ends the sensor before READY=1 with one error line that names the
/// hook. Only fentry and kprobe may be refused (the CI kernel has no kprobes and refuses fentry
/// with EPERM; where they attach, they must alert like the others). The tracepoint hooks (raw
/// and perf) and auto must attach and alert. (The VM matrix runs the forced hooks on stock
/// kernels.)
#[test]
fn forced_connect_hooks_alert_or_fail_cleanly() {
    let bed = testbed();
    for hook in ["fentry", "kprobe", "raw-tracepoint", "tracepoint", "auto"] {
        let what = format!("run --connect-hook {hook}");
        let mut command = sensor::command(&[
            "run",
            "--connect-hook",
            hook,
            "--log-level",
            "error",
            "--format",
            "json",
        ]);
        command.env("RUST_BACKTRACE", "1").env_remove("RUST_LOG");
        match Sensor::try_start_command(command) {
            Ok(sensor) => {
                eprintln!("{what}: attached; a connect must alert");
                let report = positive(&bed);
                expect_alert(&sensor, &report, &what);
                std::thread::sleep(DUPLICATE_WAIT);
                let run = sensor.stop();
                assert_single_alert(&run, &report, CONTROL_DEST, PORT, &what);
                let stderr = run.stderr.trim();
                assert!(stderr.is_empty(), "{what}: printed errors:\n{stderr}");
            }
            Err((status, stderr)) => {
                assert!(
                    hook == "fentry" || hook == "kprobe",
                    "{what}: the hook must attach here, but the sensor exited ({status}):\n{stderr}"
                );
                assert_eq!(status.code(), Some(1), "{what}: exit status\n{stderr}");
                let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
                let [line] = lines[..] else {
                    panic!("{what}: expected one error line, got:\n{stderr}")
                };
                assert!(
                    line.starts_with("sshd-sensor: error:") && line.contains(hook),
                    "{what}: the error does not name the hook: {line}"
                );
                assert!(
                    !stderr.to_ascii_lowercase().contains("panicked"),
                    "{what}: panicked:\n{stderr}"
                );
            }
        }
    }
}
