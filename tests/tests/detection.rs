//! End-to-end detection tests: a real sshd login whose shell starts a connecting child, watched
//! by the real sensor. Each negative test also runs a positive control in the same sensor run,
//! so it cannot pass with a sensor that detects nothing.

use integration_tests::connector_bin;
use integration_tests::scenario::{PORT, expect_no_alert_with_control, expect_single_alert};
use integration_tests::sensor;
use integration_tests::testbed::Testbed;

/// Fails fast when the sensor binary is missing, then builds the host (netns, user, sshd).
fn testbed() -> Testbed {
    sensor::binary();
    Testbed::new(connector_bin!())
}

/// A child of the sshd-started shell connecting to a public IPv4 address alerts exactly once.
#[test]
fn ssh_child_connect_ipv4_public_alerts() {
    let bed = testbed();
    expect_single_alert(&bed, "8.8.8.8", |bed| {
        bed.connect_over_ssh(&bed.connector, "8.8.8.8", PORT)
    });
}

/// A child of the sshd-started shell connecting to a non-excluded IPv6 address alerts.
#[test]
fn ssh_child_connect_ipv6_alerts() {
    let bed = testbed();
    expect_single_alert(&bed, "2001:db8::1", |bed| {
        bed.connect_over_ssh(&bed.connector, "2001:db8::1", PORT)
    });
}

/// Declares a test proving that a connect to `$dest` (an excluded range) does not alert.
macro_rules! excluded_destination {
    ($name:ident, $dest:expr) => {
        /// A connect to an address in one of the rule's excluded ranges does not alert.
        #[test]
        fn $name() {
            let bed = testbed();
            expect_no_alert_with_control(&bed, concat!("connect to excluded ", $dest), |bed| {
                bed.connect_over_ssh(&bed.connector, $dest, PORT)
            });
        }
    };
}

excluded_destination!(excluded_ipv4_10_does_not_alert, "10.1.2.3");
// 172.20.0.5 is inside 172.16.0.0/12 only (not also inside 172.31.0.0/16), so a narrowed /12 fails here.
excluded_destination!(excluded_ipv4_172_16_does_not_alert, "172.20.0.5");
excluded_destination!(excluded_ipv4_192_168_does_not_alert, "192.168.1.1");
excluded_destination!(excluded_ipv4_loopback_does_not_alert, "127.0.0.1");
excluded_destination!(excluded_ipv6_loopback_does_not_alert, "::1");
// Link-local needs a scope, or the kernel rejects the connect before SYN_SENT.
excluded_destination!(excluded_ipv6_link_local_does_not_alert, "fe80::1%vethA");
excluded_destination!(
    excluded_ipv4_mapped_private_does_not_alert,
    "::ffff:10.0.0.1"
);

/// A connecting process named `ssh` is excluded by process.name and does not alert.
#[test]
fn process_named_ssh_does_not_alert() {
    let bed = testbed();
    let ssh = bed.install_connector_as("ssh");
    expect_no_alert_with_control(&bed, "connector named ssh", |bed| {
        bed.connect_over_ssh(&ssh, "8.8.8.8", PORT)
    });
}

/// A connecting process named `login_duo` is excluded by process.name and does not alert.
#[test]
fn process_named_login_duo_does_not_alert() {
    let bed = testbed();
    let duo = bed.install_connector_as("login_duo");
    expect_no_alert_with_control(&bed, "connector named login_duo", |bed| {
        bed.connect_over_ssh(&duo, "8.8.8.8", PORT)
    });
}

/// A connect 1.5 s after the shell's exec is outside maxspan (1 s) and does not alert.
#[test]
fn connect_after_maxspan_does_not_alert() {
    let bed = testbed();
    expect_no_alert_with_control(&bed, "connect 1.5 s after the shell started", |bed| {
        bed.connect_over_ssh_after("sleep 1.5; ", &bed.connector, "8.8.8.8", PORT)
    });
}

/// The same connect from a process sshd did not start (run directly in the namespace) does not alert.
#[test]
fn connect_not_started_by_sshd_does_not_alert() {
    let bed = testbed();
    expect_no_alert_with_control(
        &bed,
        "connect by a process outside any ssh session",
        |bed| bed.connect_outside_ssh("8.8.8.8", PORT),
    );
}
