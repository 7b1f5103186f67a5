//! Parent executables are recognised by what they are (the kernel's device and inode), so the
//! sensor must follow the files: a package upgrade that renames a new sshd over the old one, an
//! sshd that appears after the sensor started, an old image a running process still executes,
//! and files on filesystems whose `stat().st_dev` is not the kernel's device (a btrfs
//! subvolume, an overlay). Each test runs a real sshd listener from a copy of
//! `/usr/sbin/sshd` at a scratch path that is the sensor's only parent executable, logs in
//! with the real ssh client and expects the alert. Every test is positive: it fails when the
//! sensor does not recognise the file. Readiness and reloads are awaited on the sd_notify
//! socket, not in the log.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use integration_tests::cmd;
use integration_tests::connector::{self, ConnectReport};
use integration_tests::connector_bin;
use integration_tests::notify_socket::NotifySocket;
use integration_tests::prereq::SSHD;
use integration_tests::scenario::{
    ALERT_WAIT, PORT, assert_no_alert, assert_single_alert, expect_alert,
};
use integration_tests::scratch_fs::ScratchMounts;
use integration_tests::sensor::{self, Sensor};
use integration_tests::tempdir::{TempDir, copy_executable, set_mode};
use integration_tests::testbed::Testbed;

/// The sensor's promise: a changed parent executable is in the kernel table within this.
const FOLLOW: Duration = Duration::from_secs(1);
/// How long a notification may take.
const NOTIFY_WAIT: Duration = Duration::from_secs(10);
/// The public destination of every connect (reached only inside the test namespace).
const DEST: &str = "8.8.8.8";

/// The sensor watching exactly `parents`, started with `$NOTIFY_SOCKET` and awaited on it.
fn sensor_watching(dir: &Path, parents: &[&Path]) -> (Sensor, NotifySocket) {
    let socket = NotifySocket::bind(dir);
    let mut args = vec!["run".to_owned(), "--format".to_owned(), "json".to_owned()];
    for parent in parents {
        args.push("--parent-executable".to_owned());
        args.push(parent.to_str().expect("UTF-8 path").to_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let sensor = Sensor::start_notified(sensor::command(&args), &socket);
    (sensor, socket)
}

/// Waits for a notification setting `assignment`; panics naming `when` if none comes.
fn await_notification(socket: &NotifySocket, sensor: &Sensor, assignment: &str, when: &str) {
    await_line(socket, sensor, when, |line| line == assignment);
}

/// Waits for a notification with a line satisfying `matches`, skipping others; returns that
/// line, or panics naming `when`.
fn await_line(
    socket: &NotifySocket,
    sensor: &Sensor,
    when: &str,
    matches: impl Fn(&str) -> bool,
) -> String {
    for _ in 0..8 {
        match socket.receive(NOTIFY_WAIT) {
            Some(m) => {
                if let Some(line) = m.lines().find(|l| matches(l)) {
                    return line.to_owned();
                }
            }
            None => break,
        }
    }
    panic!(
        "no notification ({when}) within {NOTIFY_WAIT:?}; stderr:\n{}",
        sensor.stderr_text()
    );
}

/// Waits at most until [`FOLLOW`] after `since` (the sensor's promise) for the sensor to tell
/// systemd its parent-executable table changed; returns that status line and when it came.
/// The caller logs in next either way, so a sensor that never follows fails on the missing
/// alert, and then checks the promise with [`assert_followed`].
fn table_change(socket: &NotifySocket, since: Instant) -> Option<(String, Duration)> {
    for _ in 0..8 {
        let left = FOLLOW.checked_sub(since.elapsed())?;
        let message = socket.receive(left)?;
        if let Some(line) = message
            .lines()
            .find(|l| l.starts_with("STATUS=parent executables: "))
        {
            return Some((line.to_owned(), since.elapsed()));
        }
    }
    None
}

/// Panics unless [`table_change`] saw the change within [`FOLLOW`].
fn assert_followed(change: Option<(String, Duration)>, sensor_stderr: &str, what: &str) {
    match change {
        Some((status, took)) => eprintln!("{what}: {status:?} after {took:?}"),
        None => panic!(
            "{what}: the sensor did not report a parent-executable table change within \
             {FOLLOW:?}; stderr:\n{sensor_stderr}"
        ),
    }
}

/// A copy of `/usr/sbin/sshd` at `path` (its directories created, traversable).
fn install_sshd(path: &Path) {
    let dir = path.parent().expect("absolute path");
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    set_mode(dir, 0o755);
    copy_executable(Path::new(SSHD), path);
}

fn inode(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .ino()
}

/// What dpkg does on an upgrade: the new file is written next to the old one, then renamed
/// over it. Returns the old and new inode.
fn replace_by_rename(path: &Path) -> (u64, u64) {
    let old = inode(path);
    let new_file = path.with_file_name("sshd.dpkg-new");
    copy_executable(Path::new(SSHD), &new_file);
    std::fs::rename(&new_file, path)
        .unwrap_or_else(|e| panic!("rename over {}: {e}", path.display()));
    let new = inode(path);
    assert_ne!(
        old,
        new,
        "the rename must give {} a new inode",
        path.display()
    );
    (old, new)
}

/// A login whose shell's child connects to [`DEST`]; waits for its alert, naming `what`.
fn login_alerts(bed: &Testbed, sensor: &Sensor, what: &str) -> ConnectReport {
    login_alert(bed, sensor, what).0
}

/// [`login_alerts`], also returning the alert.
fn login_alert(bed: &Testbed, sensor: &Sensor, what: &str) -> (ConnectReport, Value) {
    let report = bed.connect_over_ssh(&bed.connector, DEST, PORT);
    let alert = expect_alert(sensor, &report, what);
    eprintln!("{what}: alert {alert}");
    (report, alert)
}

/// The alert names the sshd process with its command line and user: the enricher verified
/// `/proc/PID/exe` against the kernel's identity of sshd's image (which fails if it compares
/// `st_dev`).
fn assert_sshd_verified(alert: &Value, sshd: &Path) {
    let first = alert.pointer("/sshd_sensor/chain/0");
    let field = |name: &str| first.and_then(|c| c.get(name));
    assert_eq!(
        field("executable").and_then(Value::as_str),
        sshd.to_str(),
        "chain[0] is not sshd: {alert}"
    );
    for name in ["command_line", "user"] {
        assert!(
            field(name).is_some(),
            "chain[0] (sshd) lacks {name}: its image was not verified against the kernel's \
             identity: {alert}"
        );
    }
}

/// Stops the sensor; each report must have exactly one alert.
fn stop_expecting(sensor: Sensor, reports: &[(&ConnectReport, &str)]) {
    let run = sensor.stop();
    for (report, what) in reports {
        assert_single_alert(&run, report, DEST, PORT, what);
    }
}

/// dpkg renames a new sshd over the watched one while the sensor and the listener run: the
/// next login (sshd re-executes itself by path, so it runs the new file) still alerts, with no
/// restart and no SIGHUP.
#[test]
fn parent_replaced_by_rename_keeps_alerting() {
    sensor::binary();
    let bins = TempDir::new("sst-ident");
    let sshd = bins.join("sbin/sshd");
    install_sshd(&sshd);
    let bed = Testbed::with_sshd(connector_bin!(), &sshd);
    let (sensor, socket) = sensor_watching(bins.path(), &[&sshd]);
    let before = login_alerts(&bed, &sensor, "login before the upgrade");
    let (old, new) = replace_by_rename(&sshd);
    let renamed = Instant::now();
    eprintln!(
        "renamed a new sshd over {}: inode {old} -> {new}",
        sshd.display()
    );
    let change = table_change(&socket, renamed);
    let after = login_alerts(
        &bed,
        &sensor,
        "login after the upgrade (no restart, no SIGHUP)",
    );
    assert_followed(change, &sensor.stderr_text(), "after the rename");
    stop_expecting(
        sensor,
        &[
            (&before, "before the upgrade"),
            (&after, "after the upgrade"),
        ],
    );
}

/// openssh-server installed after the sensor started: the parent executable's directory (two
/// levels of it) does not exist at start, then the file appears and sshd starts from it.
#[test]
fn parent_appearing_after_start_alerts() {
    sensor::binary();
    let bins = TempDir::new("sst-ident");
    let sshd = bins.join("lib/openssh/sshd");
    let (sensor, socket) = sensor_watching(bins.path(), &[&sshd]);
    install_sshd(&sshd);
    let installed = Instant::now();
    let change = table_change(&socket, installed);
    let bed = Testbed::with_sshd(connector_bin!(), &sshd);
    let report = login_alerts(&bed, &sensor, "login through an sshd installed later");
    assert_followed(change, &sensor.stderr_text(), "after the install");
    stop_expecting(sensor, &[(&report, "sshd installed later")]);
}

/// A parent executable on a btrfs subvolume (Fedora's and openSUSE's root filesystem), where
/// `stat().st_dev` is the subvolume's anonymous device and not the superblock's.
#[test]
fn parent_on_btrfs_subvolume_alerts() {
    sensor::binary();
    let bins = TempDir::new("sst-ident");
    let (mounts, subvolume) = ScratchMounts::btrfs_subvolume(bins.path());
    let sshd = subvolume.join("sshd");
    install_sshd(&sshd);
    let stat_dev = std::fs::metadata(&sshd).expect("stat sshd").dev();
    eprintln!(
        "sshd on btrfs subvolume: st_dev {}:{}",
        libc::major(stat_dev),
        libc::minor(stat_dev)
    );
    let bed = Testbed::with_sshd(connector_bin!(), &sshd);
    let (sensor, _socket) = sensor_watching(bins.path(), &[&sshd]);
    let (report, alert) = login_alert(&bed, &sensor, "login through sshd on a btrfs subvolume");
    assert_sshd_verified(&alert, &sshd);
    stop_expecting(sensor, &[(&report, "sshd on btrfs")]);
    drop(bed);
    drop(mounts);
}

/// A parent executable in an overlay's lower layer (a container image), run through the
/// overlay, whose layers are on two filesystems (there `stat().st_dev` is a pseudo device).
#[test]
fn parent_on_overlayfs_alerts() {
    sensor::binary();
    let bins = TempDir::new("sst-ident");
    let (mounts, merged) =
        ScratchMounts::overlay(bins.path(), |lower| install_sshd(&lower.join("sshd")));
    let sshd = merged.join("sshd");
    let stat_dev = std::fs::metadata(&sshd).expect("stat sshd").dev();
    eprintln!(
        "sshd on overlayfs: st_dev {}:{}",
        libc::major(stat_dev),
        libc::minor(stat_dev)
    );
    let bed = Testbed::with_sshd(connector_bin!(), &sshd);
    let (sensor, _socket) = sensor_watching(bins.path(), &[&sshd]);
    let (report, alert) = login_alert(&bed, &sensor, "login through sshd on an overlay");
    assert_sshd_verified(&alert, &sshd);
    stop_expecting(sensor, &[(&report, "sshd on overlayfs")]);
    drop(bed);
    drop(mounts);
}

/// SIGHUP re-resolves the parent executables even when the configuration is unchanged. The
/// change here is one the directory watch does not see (an intermediate directory symlink
/// switched to another release, as alternatives-style layouts do); without SIGHUP the
/// sensor would only notice it at its slow 30 s check, long after this test's login.
#[test]
fn sighup_re_resolves() {
    sensor::binary();
    let bins = TempDir::new("sst-ident");
    install_sshd(&bins.join("v1/sshd"));
    install_sshd(&bins.join("v2/sshd"));
    let current = bins.join("current");
    std::os::unix::fs::symlink("v1", &current).expect("symlink current -> v1");
    let sshd = current.join("sshd");
    let bed = Testbed::with_sshd(connector_bin!(), &sshd);
    let (sensor, socket) = sensor_watching(bins.path(), &[&sshd]);
    let before = login_alerts(&bed, &sensor, "login before the switch");
    let next = bins.join("current.new");
    std::os::unix::fs::symlink("v2", &next).expect("symlink current.new -> v2");
    std::fs::rename(&next, &current).expect("switch current to v2");
    assert_eq!(inode(&sshd), inode(&bins.join("v2/sshd")));
    sensor.signal(libc::SIGHUP);
    await_notification(&socket, &sensor, "RELOADING=1", "SIGHUP");
    await_notification(&socket, &sensor, "READY=1", "after SIGHUP");
    let after = login_alerts(&bed, &sensor, "login after the switch and SIGHUP");
    stop_expecting(
        sensor,
        &[(&before, "before the switch"), (&after, "after SIGHUP")],
    );
}

/// A parent executable added to the configuration file takes effect on SIGHUP: the sensor
/// starts with only `/usr/sbin/sshd`, a login through an sshd at another path does not alert
/// (it is not a parent yet), the path is added to `rule.parent_executables`, SIGHUP (awaited
/// as RELOADING=1 then READY=1), and the same login now alerts: the reload put the new
/// executable into the kernel's table, which nothing else would have done.
#[test]
fn sighup_adds_a_new_parent_executable() {
    sensor::binary();
    let bins = TempDir::new("sst-ident");
    let sshd = bins.join("opt/sshd");
    install_sshd(&sshd);
    let bed = Testbed::with_sshd(connector_bin!(), &sshd);
    let config = bins.join("config.toml");
    let parents = |list: &[&Path]| {
        let quoted: Vec<String> = list
            .iter()
            .map(|p| format!("{:?}", p.to_str().expect("UTF-8")))
            .collect();
        format!(
            "[output]\njournald = false\n[rule]\nparent_executables = [{}]\n",
            quoted.join(", ")
        )
    };
    std::fs::write(&config, parents(&[Path::new(SSHD)])).expect("write the configuration");
    let socket = NotifySocket::bind(bins.path());
    let command = sensor::command(&[
        "run",
        "--format",
        "json",
        "--config",
        config.to_str().expect("UTF-8"),
    ]);
    let sensor = Sensor::start_notified(command, &socket);

    let before = bed.connect_over_ssh(&bed.connector, DEST, PORT);
    let before_done = Instant::now();
    std::fs::write(&config, parents(&[Path::new(SSHD), &sshd])).expect("rewrite the configuration");
    sensor.signal(libc::SIGHUP);
    await_notification(&socket, &sensor, "RELOADING=1", "SIGHUP");
    await_notification(&socket, &sensor, "READY=1", "after SIGHUP");
    let (after, alert) = login_alert(&bed, &sensor, "login through the added sshd after SIGHUP");
    assert_sshd_verified(&alert, &sshd);
    std::thread::sleep(ALERT_WAIT.saturating_sub(before_done.elapsed()));
    let run = sensor.stop();
    assert_no_alert(
        &run,
        &before,
        "login through an sshd that is not a parent yet",
    );
    assert_single_alert(&run, &after, DEST, PORT, "login through the added sshd");
}

/// Runs `<parent> -c '<script>'` in the test namespace (in place: `ip netns exec` execs it)
/// and returns its connector report; the parent starts `sh -c '<connector>; true'` after
/// reading a line from `fifo` if one is given.
struct ParentRun {
    child: std::process::Child,
    output: std::sync::mpsc::Receiver<String>,
}

impl ParentRun {
    fn start(bed: &Testbed, parent: &Path, fifo: Option<&Path>) -> ParentRun {
        let wait = fifo.map_or(String::new(), |f| format!("read x < {}; ", f.display()));
        let script = format!(
            "{wait}/bin/sh -c '{}; true'; true",
            connector::invocation(&bed.connector, DEST, PORT)
        );
        let mut command = bed.netns.exec_inner(parent);
        command.arg("-c").arg(&script);
        let mut child = cmd::spawn_piped(&mut command);
        let output = cmd::read_in_background(child.stdout.take().expect("piped stdout"));
        ParentRun { child, output }
    }

    fn report(mut self) -> ConnectReport {
        let status = cmd::wait_bounded(&mut self.child, Duration::from_secs(10));
        if status.is_none() {
            cmd::kill_and_reap(&mut self.child);
        }
        let text = self
            .output
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_default();
        assert!(
            status.is_some_and(|s| s.success()),
            "the parent did not finish ({status:?}); output:\n{text}"
        );
        connector::single_report(&text)
    }
}

/// A process started from the parent executable before an upgrade keeps running the old image,
/// and the children it starts afterwards are still stage 1. Once it exited, the next
/// re-resolution (here SIGHUP) retires the old identity: the same old image started again
/// (through a file descriptor the test kept) no longer counts, while the new file does. The
/// parent is a copy of `/bin/sh` run in the test namespace.
#[test]
fn old_image_kept_while_running_then_retired() {
    sensor::binary();
    let bins = TempDir::new("sst-ident");
    let bed = Testbed::new(connector_bin!());
    let parent = bins.join("bin/parent-sh");
    std::fs::create_dir_all(bins.join("bin")).expect("mkdir bin");
    copy_executable(Path::new("/bin/sh"), &parent);
    let old_image = std::fs::File::open(&parent).expect("keep the old image open");
    let old_image_path = format!(
        "/proc/{}/fd/{}",
        std::process::id(),
        std::os::fd::AsRawFd::as_raw_fd(&old_image)
    );
    let fifo = bins.join("go");
    let c_fifo = std::ffi::CString::new(fifo.to_str().expect("UTF-8")).expect("no NUL");
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o600) }, 0, "mkfifo");
    let (sensor, socket) = sensor_watching(bins.path(), &[&parent]);

    let running = ParentRun::start(&bed, &parent, Some(&fifo));
    // Let it start from the old file before that is replaced.
    std::thread::sleep(Duration::from_millis(300));
    let old_ino = inode(&parent);
    let new_file = bins.join("bin/parent-sh.new");
    copy_executable(Path::new("/bin/sh"), &new_file);
    std::fs::rename(&new_file, &parent).expect("rename over the parent");
    let renamed = Instant::now();
    eprintln!(
        "{} renamed over: inode {old_ino} -> {}",
        parent.display(),
        inode(&parent)
    );
    let change = table_change(&socket, renamed);
    std::fs::write(&fifo, "go\n").expect("write the FIFO");
    let kept = running.report();
    expect_alert(
        &sensor,
        &kept,
        "child of a process still running the old image",
    );
    assert_followed(change, &sensor.stderr_text(), "after the rename");

    // Nothing runs the old image now: SIGHUP re-resolves and retires it.
    sensor.signal(libc::SIGHUP);
    await_notification(&socket, &sensor, "RELOADING=1", "SIGHUP");
    await_notification(&socket, &sensor, "READY=1", "after SIGHUP");
    let retired = ParentRun::start(&bed, Path::new(&old_image_path), None).report();
    let negative_done = Instant::now();
    let control = ParentRun::start(&bed, &parent, None).report();
    expect_alert(&sensor, &control, "positive control: child of the new file");
    std::thread::sleep(ALERT_WAIT.saturating_sub(negative_done.elapsed()));
    let run = sensor.stop();
    assert_single_alert(&run, &kept, DEST, PORT, "old image while running");
    assert_single_alert(&run, &control, DEST, PORT, "new file");
    assert_no_alert(&run, &retired, "old image started again after retirement");
    drop(old_image);
}

/// Issue 9's blinding attack, which the identities must not allow: an ordinary user, in a user
/// and mount namespace of his own, bind-mounts any program (here dash) over the parent
/// executable's path and runs it, so that its `/proc/PID/exe` reads as the parent's path. The
/// sensor, started and reloaded while it runs, must not count it as a parent: its child's
/// connect does not alert, while a real login's does (the positive control, same run).
#[test]
fn parent_path_in_another_mount_namespace_is_not_adopted() {
    sensor::binary();
    let bins = TempDir::new("sst-ident");
    let sshd = bins.join("sbin/sshd");
    install_sshd(&sshd);
    let bed = Testbed::with_sshd(connector_bin!(), &sshd);
    let fifo = bins.join("go");
    let c_fifo = std::ffi::CString::new(fifo.to_str().expect("UTF-8")).expect("no NUL");
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o600) }, 0, "mkfifo");
    set_mode(&fifo, 0o666);
    let inner = format!(
        "read x < {fifo}; /bin/sh -c '{}; true'; true",
        connector::invocation(&bed.connector, DEST, PORT),
        fifo = fifo.display()
    );
    let disguise = format!(
        "mount --bind /bin/dash {sshd} && exec {sshd} -c \"{inner}\"",
        sshd = sshd.display()
    );
    let mut command = bed
        .netns
        .exec_inner(integration_tests::prereq::tool("setpriv"));
    command
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "unshare",
            "-Urm",
        ])
        .args(["sh", "-c", &disguise]);
    let mut attacker = cmd::spawn_piped(&mut command);
    let output = cmd::read_in_background(attacker.stdout.take().expect("piped stdout"));
    let errors = cmd::read_in_background(attacker.stderr.take().expect("piped stderr"));
    // The disguised program runs before the sensor starts and while it reloads.
    std::thread::sleep(Duration::from_millis(500));
    if let Some(status) = attacker.try_wait().expect("try_wait") {
        panic!(
            "the attacker's namespace could not be set up ({status}): {}; unprivileged user \
             namespaces are needed (sysctl user.max_user_namespaces)",
            errors
                .recv_timeout(Duration::from_secs(1))
                .unwrap_or_default()
        );
    }
    let (sensor, socket) = sensor_watching(bins.path(), &[&sshd]);
    sensor.signal(libc::SIGHUP);
    await_notification(&socket, &sensor, "RELOADING=1", "SIGHUP");
    await_notification(&socket, &sensor, "READY=1", "after SIGHUP");
    std::fs::write(&fifo, "go\n").expect("write the FIFO");
    let status = cmd::wait_bounded(&mut attacker, Duration::from_secs(10));
    if status.is_none() {
        cmd::kill_and_reap(&mut attacker);
    }
    let text = output
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()),
        "the disguised program did not finish ({status:?}); output:\n{text}\n{}",
        errors
            .recv_timeout(Duration::from_secs(1))
            .unwrap_or_default()
    );
    let disguised = connector::single_report(&text);
    let negative_done = Instant::now();
    let control = login_alerts(&bed, &sensor, "positive control: a real login");
    std::thread::sleep(ALERT_WAIT.saturating_sub(negative_done.elapsed()));
    let run = sensor.stop();
    assert_single_alert(&run, &control, DEST, PORT, "real login");
    assert_no_alert(
        &run,
        &disguised,
        "child of dash bind-mounted over the parent's path in another mount namespace",
    );
}
