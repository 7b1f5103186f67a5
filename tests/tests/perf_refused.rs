//! The sensor on a kernel that refuses perf events, as Debian and Ubuntu do by default
//! (`kernel.perf_event_paranoid=3`: perf_event_open(2) fails with EACCES for any process
//! without CAP_SYS_ADMIN). Here `sst-no-perf` refuses the system call the same way with a
//! seccomp filter, so this runs on any kernel: under exactly the systemd unit's capabilities,
//! the default attach path (raw tracepoints, BPF links) still starts and alerts; forcing perf
//! tracepoints fails with one line that calls it a refused permission, never a missing
//! kernel feature. The stock-kernel proof (real paranoid=3) is the VM matrix's.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use integration_tests::cmd;
use integration_tests::connector_bin;
use integration_tests::privileges::{self, UnitCapabilities};
use integration_tests::scenario::{self, CONTROL_DEST, PORT};
use integration_tests::sensor::{self, Sensor};
use integration_tests::tempdir::copy_executable;
use integration_tests::testbed::Testbed;

const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// `sst-no-perf`, copied where uid nobody can execute it.
fn no_perf_for_nobody(dir: &Path) -> PathBuf {
    let target = dir.join("sst-no-perf");
    copy_executable(Path::new(env!("CARGO_BIN_EXE_sst-no-perf")), &target);
    target
}

/// `setpriv (unit capabilities, uid nobody) sst-no-perf sshd-sensor ARGS`.
fn sensor_without_perf_events(dir: &Path, args: &[&str]) -> Command {
    let caps = UnitCapabilities::of_shipped_unit();
    let binary = privileges::binary_for_nobody(dir);
    let wrapper = no_perf_for_nobody(dir);
    let mut full = vec![binary.to_str().expect("UTF-8 path")];
    full.extend_from_slice(args);
    privileges::under_capabilities(&caps, &wrapper, &full)
}

#[test]
fn alerts_when_perf_events_are_refused() {
    sensor::binary();
    let bed = Testbed::new(connector_bin!());
    // The wrapper really refuses: the forced perf path must fail under it (below), and this
    // sensor must come up all the same.
    let sensor = Sensor::start_command(sensor_without_perf_events(
        bed.dir.path(),
        &["run", "--format", "json"],
    ));
    scenario::expect_single_alert_from(sensor, &bed, CONTROL_DEST, |bed| {
        bed.connect_over_ssh(&bed.connector, CONTROL_DEST, PORT)
    });
}

#[test]
fn forced_perf_tracepoints_name_the_refusal() {
    sensor::binary();
    let dir = integration_tests::tempdir::TempDir::new("perf-refused");
    for args in [
        &["run", "--tracepoints", "perf", "--format", "json"][..],
        &["run", "--connect-hook", "tracepoint", "--format", "json"][..],
    ] {
        let what = format!("{args:?} with perf_event_open refused");
        let mut command = sensor_without_perf_events(dir.path(), args);
        command.env("RUST_BACKTRACE", "1").env_remove("RUST_LOG");
        let finished = cmd::run_bounded(&mut command, COMMAND_TIMEOUT);
        assert!(
            !finished.status.success(),
            "{what}: the sensor started although perf_event_open is refused:\n{}",
            finished.stderr
        );
        let errors: Vec<&str> = finished
            .stderr
            .lines()
            .filter(|l| l.starts_with("sshd-sensor: error:"))
            .collect();
        let [line] = errors[..] else {
            panic!("{what}: expected one error line:\n{}", finished.stderr)
        };
        assert!(
            line.contains("permission denied") || line.contains("Permission denied"),
            "{what}: the error does not say permission was refused: {line}"
        );
        for wrong in [
            "CONFIG_TRACEPOINTS",
            "needs raw tracepoints",
            "needs a kernel",
        ] {
            assert!(
                !line.contains(wrong),
                "{what}: a refused permission reported as a missing feature: {line}"
            );
        }
        assert!(
            !finished.stderr.contains("panicked"),
            "{what}: panic:\n{}",
            finished.stderr
        );
    }
}
