//! Hiding an alert behind the rate cap: the logged-in user floods the cap with decoy alerts of
//! one SSH session, then runs the implant. Another session's real attack must still alert, and
//! the flooding session's summary (a document in every output) must name the implant's
//! destination and process, with the right count.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use integration_tests::alert;
use integration_tests::connector::{self, ConnectReport};
use integration_tests::connector_bin;
use integration_tests::rate_cap::{self, Listed};
use integration_tests::scenario::{CONTROL_DEST, PORT, assert_single_alert, expect_alert};
use integration_tests::sensor::{self, Sensor};
use integration_tests::tempdir::set_mode;
use integration_tests::testbed::Testbed;

/// Alerts per session and window in these tests.
const MAX: usize = 3;
/// The window: long enough for the whole flood to fall into one window on a slow machine.
const WINDOW_SECONDS: u64 = 10;
/// Public decoy destinations (none in the rule's excluded ranges).
const DECOYS: [&str; 4] = ["8.8.8.8", "1.1.1.1", "9.9.9.9", "8.8.4.4"];
/// Decoy alerts before the implant: more than the cap.
const DECOY_ALERTS: usize = 8;
const IMPLANT_DEST: &str = "93.184.216.34";
const IMPLANT_PORT: u16 = 8443;
/// Connect timeout of every connector in the flood (ms): the SYN only has to leave.
const CONNECT_MS: u32 = 50;

fn utf8(path: &Path) -> &str {
    path.to_str().expect("scratch paths are UTF-8")
}

/// A shell script, run as the sshd-started shell itself (`exec /bin/sh script 0`), whose step
/// `i` forks one connector (a stage 2) and then re-executes the shell (`exec`: the same process,
/// so the same session and entity id, and a fresh stage-1 exec that the next connect joins).
/// The decoys go round [`DECOYS`]; the last step runs the implant.
fn flood_script(bed: &Testbed, implant: &Path) -> std::path::PathBuf {
    let script = bed.dir.join("flood.sh");
    let mut text = String::from("case \"$1\" in\n");
    for i in 0..DECOY_ALERTS {
        let dest = DECOYS[i % DECOYS.len()];
        text.push_str(&format!(
            "{i}) {} {CONNECT_MS}; exec /bin/sh {} {} ;;\n",
            connector::invocation(&bed.connector, dest, PORT),
            utf8(&script),
            i + 1
        ));
    }
    text.push_str(&format!(
        "{DECOY_ALERTS}) {} {CONNECT_MS}; true ;;\nesac\n",
        connector::invocation(implant, IMPLANT_DEST, IMPLANT_PORT)
    ));
    std::fs::write(&script, text)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", script.display()));
    set_mode(&script, 0o644);
    script
}

/// Runs the flood over ssh; returns every connector's report, in order (the implant last).
fn flood(bed: &Testbed, implant: &Path) -> Vec<ConnectReport> {
    let script = flood_script(bed, implant);
    let finished = bed.ssh(&format!("exec /bin/sh {} 0", utf8(&script)));
    let reports = connector::parse_reports(&finished.stdout);
    assert_eq!(
        reports.len(),
        DECOY_ALERTS + 1,
        "the flood ran {} connectors, expected {}:\n{}",
        reports.len(),
        DECOY_ALERTS + 1,
        finished.stdout
    );
    let shell = reports[0].ppid;
    assert!(
        reports.iter().all(|r| r.ppid == shell),
        "every connector must be a child of the one sshd-started shell: {reports:?}"
    );
    reports
}

/// One session floods the cap with decoys, then its implant connects: another session's real
/// connect still alerts, and the flooding session's summary, on stdout while the sensor runs
/// and the same document in the alert file, counts every suppressed alert and lists the
/// implant's destination and process.
#[test]
fn a_flood_of_decoys_hides_neither_another_session_nor_the_implant() {
    sensor::binary();
    let bed = Testbed::new(connector_bin!());
    let implant = bed.install_connector_as("implant");
    let config = bed.dir.join("config.toml");
    let alerts_file = bed.dir.join("alerts.ndjson");
    std::fs::write(
        &config,
        format!(
            "[alerts]\nmax_per_window = {MAX}\nwindow_seconds = {WINDOW_SECONDS}\n\
             [output]\nfile = \"{}\"\njournald = false\n",
            utf8(&alerts_file)
        ),
    )
    .expect("write the configuration");
    let sensor = Sensor::start_with(&["run", "--format", "json", "--config", utf8(&config)]);

    let reports = flood(&bed, &implant);
    let shell = reports[0].ppid;
    let implant_report = reports.last().expect("the implant's report");
    // The first MAX decoys alert as usual.
    for (i, report) in reports.iter().take(MAX).enumerate() {
        expect_alert(&sensor, report, &format!("decoy {i}, within the cap"));
    }

    // Another session's real attack, after the flood: it must alert.
    let real = bed.connect_over_ssh(&bed.connector, CONTROL_DEST, PORT);
    let real_doc = expect_alert(
        &sensor,
        &real,
        "another session's real connect after the flood",
    );

    // The flooding session's summary, while the sensor runs.
    let wait = Duration::from_secs(WINDOW_SECONDS + 5);
    let summary = rate_cap::wait_for_summary(&sensor, shell, wait, "the flooding session");
    eprintln!("summary:\n{summary}");
    let run = sensor.stop();
    let context = || {
        format!(
            "all documents:\n{}\nstderr:\n{}",
            alert::dump(&run.alerts),
            run.stderr
        )
    };

    let suppressed = reports.len() - MAX;
    assert_eq!(
        alert::int_field(&summary, "sshd_sensor.rate_cap.suppressed"),
        i64::try_from(suppressed).ok(),
        "the summary's suppressed count is wrong:\n{summary}"
    );
    let alerts: Vec<&Value> = run
        .alerts
        .iter()
        .filter(|d| !rate_cap::is_summary(d))
        .collect();
    let session_entity = alerts
        .iter()
        .find(|d| alert::int_field(d, "process.parent.pid") == Some(i64::from(shell)))
        .and_then(|d| alert::field(d, "process.parent.entity_id"))
        .unwrap_or_else(|| panic!("no alert of the flooding session\n{}", context()));
    assert_eq!(
        alert::field(&summary, "sshd_sensor.rate_cap.session.process.entity_id"),
        Some(session_entity),
        "the summary must name the session's stage-1 entity id:\n{summary}"
    );
    let mut expected: BTreeMap<(String, i64, i64), i64> = BTreeMap::new();
    for r in &reports[MAX..] {
        *expected
            .entry((r.dest.clone(), i64::from(r.port), i64::from(r.pid)))
            .or_default() += 1;
    }
    let listed = rate_cap::destinations(&summary);
    // Each listed entry names the first process that connected there; decoys to one address
    // are one entry, so compare per destination.
    let mut per_dest: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for ((ip, port, _), n) in &expected {
        *per_dest.entry((ip.clone(), *port)).or_default() += n;
    }
    let got: BTreeMap<(String, i64), i64> = listed
        .iter()
        .map(|l| ((l.ip.clone(), l.port), l.count))
        .collect();
    assert_eq!(
        got, per_dest,
        "destinations and counts of the summary:\n{summary}"
    );
    let implant_exe = utf8(&implant);
    assert!(
        listed.contains(&Listed {
            ip: IMPLANT_DEST.to_owned(),
            port: i64::from(IMPLANT_PORT),
            count: 1,
            pid: i64::from(implant_report.pid),
            executable: implant_exe.to_owned(),
        }),
        "the summary must list the implant ({implant_exe}, pid {}) -> {IMPLANT_DEST}:{IMPLANT_PORT}:\n{summary}",
        implant_report.pid
    );
    assert_eq!(
        alert::field(&summary, "sshd_sensor.rate_cap.truncated"),
        Some(&Value::Bool(false)),
        "{summary}"
    );

    // Exactly MAX alerts of the flooding session were printed; the implant's was not.
    let session_alerts = alerts
        .iter()
        .filter(|d| alert::int_field(d, "process.parent.pid") == Some(i64::from(shell)))
        .count();
    assert_eq!(
        session_alerts,
        MAX,
        "alerts of the flooding session\n{}",
        context()
    );
    assert_single_alert(
        &run,
        &real,
        CONTROL_DEST,
        PORT,
        "another session's real connect",
    );
    assert_eq!(
        rate_cap::summaries_of(&run.alerts, shell),
        std::slice::from_ref(&summary),
        "exactly one summary of the flooding session on stdout\n{}",
        context()
    );

    // The alert file holds the same documents: the alerts and the summary.
    let file = rate_cap::read_ndjson(&alerts_file);
    assert!(
        file.contains(&summary),
        "the alert file lacks the summary:\n{}",
        alert::dump(&file)
    );
    assert!(
        file.contains(&real_doc),
        "the alert file lacks the real alert"
    );
    assert_eq!(
        file, run.alerts,
        "the alert file must hold exactly the documents printed on stdout"
    );
}

/// Fills `dir`'s filesystem with one file, in 4 KiB writes (bounded), until ENOSPC.
fn fill_up(dir: &Path) -> std::path::PathBuf {
    use std::io::Write as _;
    let filler = dir.join("filler");
    let mut file = std::fs::File::create(&filler)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", filler.display()));
    let block = [b'x'; 4096];
    for _ in 0..1024 {
        match file.write(&block) {
            Ok(n) if n == block.len() => {}
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => return filler,
            Err(e) => panic!("filling {}: {e}", filler.display()),
        }
    }
    panic!("{} never filled up", dir.display());
}

/// The logged-in user cannot corrupt or lose an alert by filling the disk: with the alert file
/// on a full filesystem (its last page almost used, so the alert's write is cut short), the
/// real attack's alert leaves no partial line, waits, and lands whole once space returns,
/// before a later alert. Every line of the file stays JSON.
#[test]
fn a_full_disk_neither_corrupts_the_alert_file_nor_loses_the_alert() {
    sensor::binary();
    let bed = Testbed::new(connector_bin!());
    let (_mount, tiny) =
        integration_tests::scratch_fs::ScratchMounts::tmpfs(bed.dir.path(), "tiny", "64k");
    let alerts_file = tiny.join("alerts.ndjson");
    // A first line of 4000 bytes: the file's page has 96 bytes left, so the next alert's write
    // gets that far and then meets ENOSPC.
    let seed = format!("{{\"seed\":\"{}\"}}\n", "s".repeat(4000 - 12));
    assert_eq!(seed.len(), 4000);
    std::fs::write(&alerts_file, &seed).expect("seed the alert file");
    let config = bed.dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[output]\nfile = \"{}\"\njournald = false\n",
            utf8(&alerts_file)
        ),
    )
    .expect("write the configuration");
    let sensor = Sensor::start_with(&["run", "--format", "json", "--config", utf8(&config)]);
    let filler = fill_up(&tiny);

    let held = bed.connect_over_ssh(&bed.connector, CONTROL_DEST, PORT);
    let held_doc = expect_alert(&sensor, &held, "the attack while the disk is full");
    std::thread::sleep(Duration::from_millis(500));
    let text = std::fs::read_to_string(&alerts_file).expect("read the alert file");
    assert_eq!(
        text, seed,
        "while the disk is full the alert file must hold only whole lines (the seed)"
    );

    std::fs::remove_file(&filler).expect("free the space");
    let later = bed.connect_over_ssh(&bed.connector, "1.1.1.1", PORT);
    let later_doc = expect_alert(&sensor, &later, "an attack after space returned");
    let docs =
        integration_tests::wait::poll(Duration::from_secs(5), Duration::from_millis(100), || {
            let docs = rate_cap::read_ndjson(&alerts_file);
            docs.contains(&later_doc).then_some(docs)
        })
        .unwrap_or_else(|| {
            panic!(
                "the alert file never got the held and the later alert:\n{}\nstderr:\n{}",
                std::fs::read_to_string(&alerts_file).unwrap_or_default(),
                sensor.stderr_text()
            )
        });
    let run = sensor.stop();
    let seed_doc: Value = serde_json::from_str(&seed).expect("seed is JSON");
    // Other processes on the host may alert too (their lines are whole as well); ours come
    // in order: the seed, the held alert, the later one.
    let position = |doc: &Value| docs.iter().position(|d| d == doc);
    let (seed_at, held_at, later_at) = (
        position(&seed_doc),
        position(&held_doc),
        position(&later_doc),
    );
    assert!(
        seed_at == Some(0) && held_at.is_some() && later_at.is_some() && held_at < later_at,
        "the alert file must hold the seed, the held alert, then the later one (positions \
         {seed_at:?}, {held_at:?}, {later_at:?} of {}); stderr:\n{}",
        docs.len(),
        run.stderr
    );
    assert_eq!(
        docs.iter().filter(|d| **d == held_doc).count(),
        1,
        "the held alert must land exactly once"
    );
    assert_single_alert(
        &run,
        &held,
        CONTROL_DEST,
        PORT,
        "the attack while the disk is full",
    );
}
