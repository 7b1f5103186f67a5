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
