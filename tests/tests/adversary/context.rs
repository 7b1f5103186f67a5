//! Forged context: the watched user sets the environment its own processes start with, so an
//! alert that names the SSH client or login user from `SSH_CONNECTION` and `USER` says whatever
//! the attacker wants. The sensor takes them from sshd's own TCP socket and the kernel's uid.

use integration_tests::{
    alert, connector,
    connector::ConnectReport,
    scenario::{CONTROL_DEST, DUPLICATE_WAIT, PORT, assert_single_alert, expect_alert},
    sensor::{self, Sensor},
    testbed::Testbed,
};
use serde_json::Value;

/// The SSH connection as sshd itself announced it to the login (`client_ip client_port
/// server_ip server_port`): printed by the login shell before the attacker rewrites anything.
fn real_connection(stdout: &str) -> Vec<String> {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("real="))
        .unwrap_or_else(|| panic!("no real= line in the ssh output:\n{stdout}"));
    line.split_whitespace().map(str::to_owned).collect()
}

/// Panics unless `doc`'s `sshd_sensor.session` is `real` (from sshd) and the test user.
fn assert_true_session(doc: &Value, real: &[String], user: &str, what: &str) {
    let got = |path: &str| alert::field(doc, path).map(Value::to_string);
    let want = [
        ("sshd_sensor.session.client.ip", format!("\"{}\"", real[0])),
        ("sshd_sensor.session.client.port", real[1].clone()),
        ("sshd_sensor.session.server.ip", format!("\"{}\"", real[2])),
        ("sshd_sensor.session.server.port", real[3].clone()),
        ("sshd_sensor.session.user", format!("\"{user}\"")),
    ];
    let wrong: Vec<String> = want
        .iter()
        .filter(|(path, value)| got(path).as_deref() != Some(value.as_str()))
        .map(|(path, value)| format!("{path}: want {value}, got {:?}", got(path)))
        .collect();
    assert!(
        wrong.is_empty(),
        "{what}: the alert's session is not the real login ({real:?} as {user}):\n{}\n{doc}",
        wrong.join("\n")
    );
}

/// `env SSH_CONNECTION="198.51.100.23 51000 ..." USER=alice /bin/sh -c '<connect>'`: the forged
/// shell is itself exec'd by sshd's child (a stage-1 exec). Its child's connect alerts with the
/// real client address and port (127.0.0.1, the ssh client's port) and the real login user,
/// never the forged ones; a real attack from another login alerts too, with its own session.
#[test]
fn forged_ssh_connection_and_user_do_not_reach_the_alert() {
    sensor::binary();
    let bed = Testbed::new(integration_tests::connector_bin!());
    let sensor = Sensor::start();
    let invocation = connector::invocation(&bed.connector, CONTROL_DEST, PORT);
    let remote = format!(
        "echo \"real=$SSH_CONNECTION\"; exec env \
         SSH_CONNECTION='198.51.100.23 51000 203.0.113.9 22' USER=alice LOGNAME=alice \
         /bin/sh -c '{invocation}; true'"
    );
    let finished = bed.ssh(&remote);
    let real = real_connection(&finished.stdout);
    assert_eq!(real.len(), 4, "SSH_CONNECTION from sshd: {real:?}");
    let forged: ConnectReport = connector::single_report(&finished.stdout);
    let control = bed.connect_over_ssh(&bed.connector, CONTROL_DEST, PORT);
    let forged_doc = expect_alert(&sensor, &forged, "connect under a forged environment");
    let control_doc = expect_alert(&sensor, &control, "real attack from another login");
    std::thread::sleep(DUPLICATE_WAIT);
    let run = sensor.stop();
    assert_single_alert(&run, &forged, CONTROL_DEST, PORT, "forged environment");
    assert_single_alert(&run, &control, CONTROL_DEST, PORT, "real attack");
    let forged_text = forged_doc.to_string();
    assert!(
        !forged_text.contains("198.51.100.23") && !forged_text.contains("\"alice\""),
        "the forged client or user reached the alert:\n{forged_doc}"
    );
    assert_true_session(&forged_doc, &real, &bed.user.name, "forged environment");
    assert_eq!(
        alert::field(&control_doc, "sshd_sensor.session.user").and_then(Value::as_str),
        Some(bed.user.name.as_str()),
        "real attack: login user\n{control_doc}"
    );
    assert_eq!(
        alert::field(&control_doc, "sshd_sensor.session.client.ip").and_then(Value::as_str),
        Some("127.0.0.1"),
        "real attack: client address\n{control_doc}"
    );
}

/// A systemd-journald of the test's own: started in a private mount namespace (tmpfs over
/// `/run/systemd` and `/var/log/journal`, the test's directory over `/run/log`), so the host's
/// journal, if any, is untouched. The sensor reaches its socket through `/proc/PID/root`.
struct PrivateJournal {
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl PrivateJournal {
    const JOURNALD: &str = "/lib/systemd/systemd-journald";

    fn start(dir: &std::path::Path) -> Self {
        assert!(
            std::path::Path::new(Self::JOURNALD).exists(),
            "{} is missing: install systemd to run the journal test",
            Self::JOURNALD
        );
        let log = dir.join("log");
        std::fs::create_dir_all(&log).expect("journal directory");
        let script = format!(
            "mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/journal && \
             mkdir -p /run/log && mount --bind {} /run/log && \
             mount -t tmpfs tmpfs /var/log/journal && exec {}",
            log.display(),
            Self::JOURNALD
        );
        let child = std::process::Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting systemd-journald under unshare");
        let journal = Self { child, dir: log };
        let up = integration_tests::wait::poll(
            std::time::Duration::from_secs(5),
            std::time::Duration::from_millis(50),
            || journal.socket().exists().then_some(()),
        );
        assert!(
            up.is_some(),
            "the private journald did not create its socket within 5 s"
        );
        journal
    }

    fn socket(&self) -> std::path::PathBuf {
        std::path::PathBuf::from(format!(
            "/proc/{}/root/run/systemd/journal/socket",
            self.child.id()
        ))
    }

    /// The entries whose field `key` is `value`, as journalctl's JSON (every field in full).
    fn entries(&self, key: &str, value: &str) -> Vec<Value> {
        let mut command = std::process::Command::new("journalctl");
        command
            .arg(format!(
                "--directory={}",
                self.dir.join("journal").display()
            ))
            .args(["--merge", "-o", "json", "--all", "--no-pager"])
            .arg(format!("{key}={value}"));
        let finished =
            integration_tests::cmd::run_bounded(&mut command, std::time::Duration::from_secs(10));
        finished
            .stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits (bounded) for the entry of the alert about the process `pid`.
    fn wait_for_alert(&self, pid: i32) -> Option<Value> {
        integration_tests::wait::poll(
            std::time::Duration::from_secs(5),
            std::time::Duration::from_millis(200),
            || {
                self.entries("SSHD_SENSOR_PROCESS_PID", &pid.to_string())
                    .into_iter()
                    .next()
            },
        )
    }
}

impl Drop for PrivateJournal {
    fn drop(&mut self) {
        let pid = i32::try_from(self.child.id()).expect("pid fits in i32");
        integration_tests::cmd::signal(pid, libc::SIGTERM);
        if integration_tests::cmd::wait_bounded(&mut self.child, std::time::Duration::from_secs(5))
            .is_none()
        {
            integration_tests::cmd::kill_and_reap(&mut self.child);
        }
    }
}

/// Arguments of 100,000 bytes each given to the huge-argv process: 1.8 MB in all.
const HUGE_ARGS: usize = 18;

/// A session whose stage-1 process has 1.8 MB of argv (`exec perl -e ... <18 x 100 kB>`), and a
/// forked child of it (no exec: its `/proc/PID/cmdline` is that argv) connects to a public
/// address. Its alert keeps a bounded command line, says so in `sshd_sensor.truncated`, and
/// reaches the journal (before: a 12 MB document, which journald refused with EMSGSIZE). A
/// real attack from another login alerts in both outputs too.
#[test]
fn a_huge_argv_gives_a_bounded_alert_that_reaches_every_output() {
    sensor::binary();
    let bed = Testbed::new(integration_tests::connector_bin!());
    let journal = PrivateJournal::start(&bed.dir.join("journald"));
    let config = bed.dir.join("journal.toml");
    std::fs::write(&config, "[output]\njournald = true\n").expect("write the configuration");
    let mut command = sensor::command(&[
        "run",
        "--format",
        "json",
        "--config",
        config.to_str().expect("utf-8 path"),
    ]);
    command.env("SSHD_SENSOR_JOURNAL_SOCKET", journal.socket());
    let sensor = Sensor::start_command(command);

    let script = format!(
        "$|=1; my $p = fork; if ($p == 0) {{ print \"sst-connect pid=$$ ppid=\" . getppid() . \
         \" dest={CONTROL_DEST} port={PORT}\\n\"; IO::Socket::INET->new(PeerAddr => \"{CONTROL_DEST}\", \
         PeerPort => {PORT}, Timeout => 0.3); exit 0 }} waitpid($p, 0);"
    );
    let remote = format!(
        "a=$(head -c 100000 /dev/zero | tr '\\0' a); exec perl -MIO::Socket::INET -e '{script}' {}",
        vec!["$a"; HUGE_ARGS].join(" ")
    );
    let huge = connector::single_report(&bed.ssh(&remote).stdout);
    let control = bed.connect_over_ssh(&bed.connector, CONTROL_DEST, PORT);
    let huge_doc = expect_alert(&sensor, &huge, "connect by a child with a 1.8 MB argv");
    expect_alert(&sensor, &control, "real attack from another login");
    let huge_entry = journal.wait_for_alert(huge.pid);
    let control_entry = journal.wait_for_alert(control.pid);
    let run = sensor.stop();
    assert_single_alert(&run, &huge, CONTROL_DEST, PORT, "huge argv");
    assert_single_alert(&run, &control, CONTROL_DEST, PORT, "real attack");

    let size = huge_doc.to_string().len();
    let truncated = alert::field(&huge_doc, "sshd_sensor.truncated");
    let has = |f: &str| {
        truncated
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == f))
    };
    assert!(
        has("process.args") && has("process.command_line") && size < 256 * 1024,
        "the alert is {size} bytes with sshd_sensor.truncated = {truncated:?} (want both \
         process.args and process.command_line, under 256 KiB)"
    );
    for (what, entry, report) in [
        ("huge argv", &huge_entry, &huge),
        ("real attack", &control_entry, &control),
    ] {
        let entry = entry.as_ref().unwrap_or_else(|| {
            panic!(
                "{what}: no journal entry for pid {} within 5 s; sensor stderr:\n{}",
                report.pid, run.stderr
            )
        });
        let ecs: Value = entry["SSHD_SENSOR_ECS"]
            .as_str()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_else(|| panic!("{what}: the journal entry has no ECS document: {entry}"));
        assert_eq!(
            alert::int_field(&ecs, "process.pid"),
            Some(i64::from(report.pid)),
            "{what}: the journal's document is about another process"
        );
    }
    eprintln!("huge-argv alert: {size} bytes on stdout and in the journal");
}
