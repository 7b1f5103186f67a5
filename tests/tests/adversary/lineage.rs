//! Lineage attacks: escaping the parent-child join, and drowning the kernel's records.
//!
//! - Orphaning (issue 9, item 2): the shell forks a child and exits at once, so the child is
//!   reparented to a reaper before it connects. The rule's parent is the process that forked
//!   (SEMANTICS.md), so the connect must still alert with the exited shell as its parent, and
//!   `--record` must hold the connect with that parent.
//! - Flooding (item 3): one session floods the kernel side (a child with 2 MB of argv looping on
//!   loopback connects, thousands of children, the shell re-executing itself to keep its window
//!   open) while another login makes a real connect to a public address; each real alert must
//!   arrive, less than a second after its `@timestamp`.

use std::io::Read as _;
use std::path::Path;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use integration_tests::alert;
use integration_tests::cmd;
use integration_tests::connector::{self, ConnectReport};
use integration_tests::connector_bin;
use integration_tests::scenario::{CONTROL_DEST, DUPLICATE_WAIT, PORT, expect_alert};
use integration_tests::sensor::{self, Sensor};
use integration_tests::ssh;
use integration_tests::tempdir;
use integration_tests::testbed::Testbed;
use serde_json::Value;

fn testbed() -> Testbed {
    sensor::binary();
    Testbed::new(connector_bin!())
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// The integer after `key=` on the first line of `output` that has it.
fn value_after(output: &str, key: &str) -> Option<i64> {
    output.lines().find_map(|line| {
        let rest = &line[line.find(key)? + key.len()..];
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The orphan attack: `(sleep 0.2; exec connector) & exit`. The connector's parent for the rule
/// is the shell that forked its subshell, which exited before the connect.
#[test]
fn a_child_orphaned_before_it_connects_still_joins_its_shell() {
    let bed = testbed();
    let recording = bed.dir.join("events.ndjson");
    let sensor = Sensor::start_with(&["run", "--format", "json", "--record", utf8(&recording)]);

    let remote = format!(
        "echo shell=$$; (sleep 0.2; exec {}) & exit 0",
        connector::invocation(&bed.connector, CONTROL_DEST, PORT)
    );
    let finished = bed.ssh(&remote);
    let shell = value_after(&finished.stdout, "shell=")
        .unwrap_or_else(|| panic!("the shell printed no pid:\n{}", finished.stdout));
    let orphan = connector::single_report(&finished.stdout);
    assert_ne!(
        i64::from(orphan.ppid),
        shell,
        "the connector was not orphaned (its parent was still the shell), so this run tests \
         nothing: {orphan:?}"
    );
    // The real attack next to it, from another login.
    let control = bed.connect_over_ssh(&bed.connector, CONTROL_DEST, PORT);
    expect_alert(&sensor, &control, "the real attack from another login");
    let doc = expect_alert(
        &sensor,
        &orphan,
        "the orphaned child's connect (its shell had exited)",
    );
    std::thread::sleep(DUPLICATE_WAIT);
    let run = sensor.stop();

    let matching = alert::about(&run.alerts, &orphan);
    assert_eq!(
        matching.len(),
        1,
        "expected exactly one alert for {orphan:?}:\n{}",
        alert::dump(&run.alerts)
    );
    let stage1_entity = alert::field(&doc, "sshd_sensor.sequence.stage1.process.entity_id")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("the alert names no stage-1 entity id:\n{doc}"))
        .to_owned();
    let checks = [
        (
            "process.pid",
            alert::int_field(&doc, "process.pid") == Some(i64::from(orphan.pid)),
        ),
        (
            "process.parent.pid",
            alert::int_field(&doc, "process.parent.pid") == Some(shell),
        ),
        (
            "stage 2's process.parent.pid",
            alert::int_field(&doc, "sshd_sensor.sequence.stage2.process.parent.pid") == Some(shell),
        ),
        (
            "process.parent.entity_id",
            alert::field(&doc, "process.parent.entity_id").and_then(Value::as_str)
                == Some(stage1_entity.as_str()),
        ),
        (
            "stage 2's process.parent.entity_id",
            alert::field(&doc, "sshd_sensor.sequence.stage2.process.parent.entity_id")
                .and_then(Value::as_str)
                == Some(stage1_entity.as_str()),
        ),
        (
            "destination.ip",
            alert::destination_ip(&doc) == CONTROL_DEST.parse().ok(),
        ),
    ];
    let wrong: Vec<&str> = checks.iter().filter(|c| !c.1).map(|c| c.0).collect();
    assert!(
        wrong.is_empty(),
        "the orphan's alert has wrong {wrong:?} (expected parent pid {shell}, parent entity \
         {stage1_entity}):\n{doc}"
    );

    // The recording holds the connect, with the shell as its parent.
    let text = std::fs::read_to_string(&recording)
        .unwrap_or_else(|e| panic!("reading the recording {}: {e}", recording.display()));
    let connects: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|d| {
            alert::field(d, "event.action").and_then(Value::as_str) == Some("connection_attempted")
                && alert::int_field(d, "process.pid") == Some(i64::from(orphan.pid))
        })
        .collect();
    let [recorded] = &connects[..] else {
        panic!(
            "expected the orphan's connect once in the recording, found {}:\n{text}",
            connects.len()
        )
    };
    assert_eq!(
        (
            alert::int_field(recorded, "process.parent.pid"),
            alert::field(recorded, "process.parent.entity_id").and_then(Value::as_str),
        ),
        (Some(shell), Some(stage1_entity.as_str())),
        "the recorded connect does not name the exited shell as its parent:\n{recorded}"
    );
    // And replay recovers the alert from the recording.
    let replay = cmd::run_bounded(
        &mut sensor::command(&["replay", utf8(&recording), "--format", "json"]),
        Duration::from_secs(30),
    )
    .expect_success();
    let replayed: Vec<Value> = replay
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(
        alert::about(&replayed, &orphan).len(),
        1,
        "replay of the recording does not give the orphan's alert once:\n{}\nstderr:\n{}",
        replay.stdout,
        replay.stderr
    );
}

/// Seconds since the epoch of an RFC 3339 UTC timestamp `YYYY-MM-DDTHH:MM:SS[.frac]Z`.
fn epoch_seconds(text: &str) -> Option<f64> {
    integration_tests::alert::epoch_ns(text).map(|ns| ns as f64 / 1e9)
}

fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// When the test first saw each alert (wall clock, seconds since the epoch), by its
/// `process.pid`, with the alert's own `@timestamp`: filled by a thread polling every 5 ms while
/// the real attacks run, so the ssh command's own duration is not counted.
type Seen = std::collections::HashMap<i64, (f64, f64)>;

fn watch_alerts(sensor: &Sensor, stop: &AtomicBool) -> Seen {
    let mut seen = Seen::new();
    // Bounded: the test stops it, and it gives up after a minute regardless.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let now = now_epoch();
        for doc in sensor.alerts() {
            let Some(pid) = alert::int_field(&doc, "process.pid") else {
                continue;
            };
            seen.entry(pid).or_insert_with(|| {
                let at = alert::field(&doc, "@timestamp")
                    .and_then(Value::as_str)
                    .and_then(epoch_seconds)
                    .unwrap_or_else(|| panic!("alert without a readable @timestamp:\n{doc}"));
                (now, at)
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    seen
}

/// How long the flooding session runs, and the real attacks made meanwhile.
const FLOOD_SECONDS: u32 = 10;
const TRIALS: usize = 5;
/// Children the flooding shell starts at once (in the background) in each of its windows, and
/// how many windows.
const CHILDREN_PER_WINDOW: u32 = 600;
const WINDOWS: u32 = 7;

/// The flooding session: the login shell starts the fat flooder, then re-executes itself
/// [`WINDOWS`] times (each exec is a new stage-1 exec, so its children stay "recent"), each time
/// starting [`CHILDREN_PER_WINDOW`] short-lived children.
fn start_flood(bed: &Testbed) -> Child {
    let flooder = connector::install(
        Path::new(env!("CARGO_BIN_EXE_sst-flood")),
        bed.dir.path(),
        "sst-flood",
    );
    let script = bed.dir.join("reexec.sh");
    std::fs::write(
        &script,
        format!(
            "n=$1\ni=0\nwhile [ $i -lt {CHILDREN_PER_WINDOW} ]; do /bin/true & i=$((i+1)); done\n\
             wait\n[ \"$n\" -gt 0 ] || exit 0\nsleep 0.5\nexec /bin/sh {} $((n-1))\n",
            utf8(&script)
        ),
    )
    .expect("writing the re-exec script");
    tempdir::set_mode(&script, 0o755);
    // The flooder execs 1.5 s after the login shell, outside the shell's first window, so no
    // exec record tells userspace its image (an old sensor then read its 2 MB command line for
    // every connect); the shell re-executes at 2 s, and from then on the flooder's connects are
    // its stage-1 parent's child's.
    let remote = format!(
        "(sleep 1.5; exec {} 127.0.0.1 9 {FLOOD_SECONDS} 5000000 fat) & sleep 2; \
         exec /bin/sh {} {WINDOWS}",
        utf8(&flooder),
        utf8(&script)
    );
    cmd::spawn_piped(&mut ssh::command(
        &bed.netns,
        &bed.sshd,
        &bed.user.name,
        &remote,
    ))
}

/// One session floods; another login's real connects to a public address still alert, each
/// within a second of its `@timestamp`. Prints the delays and the sensor's last stats line.
#[test]
fn a_flooding_session_does_not_delay_another_sessions_alert() {
    let bed = testbed();
    let sensor = Sensor::start_with(&["run", "--format", "json", "--stats-interval", "1"]);
    let mut flood = start_flood(&bed);
    std::thread::sleep(Duration::from_millis(2500));

    let stop = AtomicBool::new(false);
    let (reports, seen) = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| watch_alerts(&sensor, &stop));
        let reports: Vec<ConnectReport> = (0..TRIALS)
            .map(|_| bed.connect_over_ssh(&bed.connector, CONTROL_DEST, PORT))
            .collect();
        // Time for the last alert to arrive even when late (it then fails the limit below).
        std::thread::sleep(Duration::from_secs(5));
        stop.store(true, Ordering::Relaxed);
        (reports, watcher.join().expect("the alert watcher panicked"))
    });
    let mut delays = Vec::new();
    let mut lost = Vec::new();
    for (trial, report) in reports.iter().enumerate() {
        match seen.get(&i64::from(report.pid)) {
            Some((seen_at, at)) => {
                let delay = seen_at - at;
                eprintln!("trial {trial}: alert {delay:.3} s after its @timestamp");
                delays.push(delay);
            }
            None => {
                eprintln!("trial {trial}: no alert for {report:?}");
                lost.push(report.clone());
            }
        }
    }

    let flood_status = cmd::wait_bounded(&mut flood, Duration::from_secs(30));
    if flood_status.is_none() {
        cmd::kill_and_reap(&mut flood);
    }
    let mut flood_out = String::new();
    if let Some(mut out) = flood.stdout.take() {
        let _ = out.read_to_string(&mut flood_out);
    }
    let run = sensor.stop();
    let stats = run
        .stderr
        .lines()
        .rev()
        .find(|l| l.contains(" stats "))
        .unwrap_or("(no stats line)");
    let worst = delays.iter().copied().fold(0.0f64, f64::max);
    for doc in &run.alerts {
        eprintln!(
            "alert: {} (pid {:?}, parent {:?}) -> {:?}",
            alert::field(doc, "process.name").unwrap_or(&Value::Null),
            alert::int_field(doc, "process.pid"),
            alert::field(doc, "process.parent.name").unwrap_or(&Value::Null),
            alert::destination_ip(doc)
        );
    }
    eprintln!(
        "flood: {}\nworst delay {worst:.3} s over {} alerts, {} lost\nlast stats: {stats}",
        flood_out.trim(),
        delays.len(),
        lost.len()
    );

    let attempts = value_after(&flood_out, "attempts=").unwrap_or(0);
    assert!(
        attempts >= 10_000 && flood_out.contains("first=ConnectionRefused"),
        "the flood did not happen (fewer than 10,000 loopback connects refused), so this run \
         tests nothing: {flood_out:?}"
    );
    assert!(
        lost.is_empty(),
        "{} of {TRIALS} real alerts were lost under the flood: {lost:?}\nlast stats: {stats}",
        lost.len()
    );
    // The budget refused the flood's records, and the kernel said so once (aya-log), not per
    // record.
    let budget_lines = run
        .stderr
        .lines()
        .filter(|l| l.contains("went from 0 to 1"))
        .count();
    assert!(
        stats.contains("budget_exec=") && !stats.contains("budget_exec=0 ") && budget_lines >= 1,
        "the flood spent no stage-1 budget, or the kernel did not report its first refusal; \
         last stats: {stats}"
    );
    assert!(
        budget_lines <= 64,
        "the kernel logged {budget_lines} counter lines: it must log only the first occurrence \
         per CPU and cause"
    );
    assert!(
        worst < 1.0,
        "an alert arrived {worst:.3} s after its @timestamp under the flood (limit 1 s); delays \
         {delays:?}\nlast stats: {stats}"
    );
}
