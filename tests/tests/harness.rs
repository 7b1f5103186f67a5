//! Checks the harness itself, without the sensor: the network sandbox, the real sshd and ssh,
//! the exec chain a login produces, and that every scenario's connect really reaches
//! `SYN_SENT` while nothing leaves the sandbox; and that the sensor harness takes readiness
//! from sd_notify, not from log text.

use std::time::Duration;

use integration_tests::cmd;
use integration_tests::connector::{self, ConnectReport};
use integration_tests::connector_bin;
use integration_tests::kernel_trace::KernelTrace;
use integration_tests::netns::INNER_IF;
use integration_tests::prereq::{SSHD, tool};
use integration_tests::sensor::Sensor;
use integration_tests::ssh;
use integration_tests::testbed::Testbed;
use integration_tests::wait;

/// Every destination the detection tests use, with the connector argument that reaches it.
const DESTINATIONS: &[&str] = &[
    "8.8.8.8",
    "2001:db8::1",
    "10.1.2.3",
    "172.20.0.5",
    "192.168.1.1",
    "127.0.0.1",
    "::1",
    "fe80::1%vethA",
    "::ffff:10.0.0.1",
];

/// The harness builds a sandboxed sshd host whose logins and connects behave as the tests assume.
#[test]
fn harness_smoke() {
    assert_eq!(
        INNER_IF, "vethA",
        "DESTINATIONS hard-codes the inner interface name"
    );
    let bed = Testbed::new(connector_bin!());

    // A login runs a command quickly.
    let hi = bed.ssh("echo hi; true");
    assert_eq!(
        hi.stdout.trim(),
        "hi",
        "unexpected output of the ssh command: {hi:?}"
    );
    assert!(
        hi.elapsed < Duration::from_secs(1),
        "ssh login + command took {:?} (> 1 s)",
        hi.elapsed
    );
    eprintln!("ssh login + `echo hi; true` took {:?}", hi.elapsed);

    let trace = KernelTrace::start();
    let rx_before = bed.netns.outer_rx_packets();

    // Over ssh, the connector is the child of a shell that is the child of sshd, and its
    // connect to a public address sits in SYN_SENT (nothing answers).
    let (report, monitor) = check_exec_chain_and_syn_sent(&bed);
    let shell_execs = trace.execs_of(report.ppid);
    eprintln!(
        "execs of the shell (pid {}):\n{}",
        report.ppid,
        shell_execs.join("\n")
    );
    assert!(
        !shell_execs.is_empty(),
        "no exec event recorded for the shell pid {}",
        report.ppid
    );
    // OpenSSH 9.2 re-executes itself for every connection (the future `[priv]` monitor): an
    // exec whose parent is the listener, so a stage-1 event too.
    let monitor_execs = trace.execs_of(monitor);
    eprintln!(
        "execs of the per-connection sshd (pid {monitor}):\n{}",
        monitor_execs.join("\n")
    );
    assert!(
        monitor_execs
            .iter()
            .any(|l| l.contains(&format!("filename={SSHD} "))),
        "expected the per-connection sshd to re-exec {SSHD}: {monitor_execs:?}"
    );

    // Every scenario destination reaches SYN_SENT in the kernel (what the sensor hooks).
    for dest in DESTINATIONS {
        let report = bed.connect_outside_ssh(dest, 443);
        let seen = wait::poll(Duration::from_secs(2), Duration::from_millis(20), || {
            let lines = trace.syn_sent_by(report.pid);
            (!lines.is_empty()).then_some(lines)
        });
        let lines = seen.unwrap_or_else(|| {
            panic!(
                "connect to {dest} by pid {} never reached SYN_SENT",
                report.pid
            )
        });
        eprintln!("{dest}: {}", lines.join(" | "));
    }

    // The probes went to namespace B, which still has no address, route or forwarding.
    let rx_after = bed.netns.outer_rx_packets();
    assert!(
        rx_after > rx_before,
        "namespace B saw no packet from A (rx {rx_before} -> {rx_after})"
    );
    bed.netns.assert_outer_is_dead_end();
    eprintln!(
        "namespace B received {} packets and dropped them",
        rx_after - rx_before
    );
}

/// Runs the connector over ssh with a long timeout, finds it in `ss` while it waits in
/// SYN_SENT, and checks its ancestry in /proc: shell (dash) <- sshd user process <- sshd
/// monitor <- listener. Returns the connector's report and the monitor's pid.
fn check_exec_chain_and_syn_sent(bed: &Testbed) -> (ConnectReport, i32) {
    let invocation = connector::invocation(&bed.connector, "8.8.8.8", 443);
    // sshd runs this as `/bin/sh -c '<invocation> 3000; true'`.
    let remote = format!("{invocation} 3000; true");
    let mut command = ssh::command(&bed.netns, &bed.sshd, &bed.user.name, &remote);
    let description = cmd::describe(&command);
    let mut child = cmd::spawn_piped(&mut command);
    let stdout = cmd::read_in_background(child.stdout.take().expect("stdout was piped"));
    let stderr = cmd::read_in_background(child.stderr.take().expect("stderr was piped"));

    let connector_pid = wait::until(
        "the connector's socket in SYN_SENT (ss in namespace A)",
        Duration::from_secs(5),
        || {
            let mut ss = bed.netns.exec_inner(tool("ss"));
            ss.args(["-tnpH", "state", "syn-sent", "dst", "8.8.8.8"]);
            let out = cmd::run_ok(&mut ss);
            out.lines().find_map(|l| {
                l.split("pid=")
                    .nth(1)?
                    .split(',')
                    .next()?
                    .parse::<i32>()
                    .ok()
            })
        },
    );
    let shell = parent_of(connector_pid);
    let sshd = parent_of(shell);
    let monitor = parent_of(sshd);
    let chain: Vec<String> = [connector_pid, shell, sshd, monitor, parent_of(monitor)]
        .iter()
        .map(|pid| format!("{pid} exe={} cmdline={:?}", exe_of(*pid), cmdline_of(*pid)))
        .collect();
    eprintln!("ancestry of the connector:\n  {}", chain.join("\n  "));
    assert_eq!(
        exe_of(shell),
        "/usr/bin/dash",
        "the connector's parent should be the shell:\n{chain:?}"
    );
    assert_eq!(
        exe_of(sshd),
        SSHD,
        "the shell's parent should be sshd:\n{chain:?}"
    );
    assert_eq!(
        parent_of(monitor),
        bed.sshd.pid,
        "the per-connection sshd should be the listener's child:\n{chain:?}"
    );

    let status = cmd::wait_bounded(&mut child, ssh::TIMEOUT).unwrap_or_else(|| {
        cmd::kill_and_reap(&mut child);
        panic!("`{description}` did not finish within {:?}", ssh::TIMEOUT)
    });
    let out = stdout
        .recv_timeout(Duration::from_secs(5))
        .expect("ssh stdout");
    let err = stderr
        .recv_timeout(Duration::from_secs(5))
        .expect("ssh stderr");
    assert!(
        status.success(),
        "`{description}` failed ({status}):\n{out}\n{err}"
    );
    let report = connector::single_report(&out);
    assert_eq!(
        (report.pid, report.ppid),
        (connector_pid, shell),
        "report {report:?} vs /proc"
    );
    assert!(
        out.contains("result=TimedOut"),
        "the connect to 8.8.8.8 should time out unanswered:\n{out}"
    );
    (report, monitor)
}

fn parent_of(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/stat: {e}"));
    // Fields after the `(comm)`, which may itself contain spaces or parentheses.
    let after_comm = stat
        .rsplit_once(')')
        .unwrap_or_else(|| panic!("bad /proc/{pid}/stat: {stat}"))
        .1;
    after_comm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no ppid in /proc/{pid}/stat: {stat}"))
}

fn exe_of(pid: i32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map_or_else(|e| format!("({e})"), |p| p.display().to_string())
}

fn cmdline_of(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace('\0', " ")
                .trim()
                .to_owned()
        })
        .unwrap_or_else(|e| format!("({e})"))
}

/// `Sensor::start_command` waits for `READY=1` on its own `$NOTIFY_SOCKET`: a stand-in daemon
/// that only writes the sensor's "ready" log line and exits is refused (with the old rule, any
/// stderr line containing `ready`, it passed), and one that sends `READY=1` is accepted.
#[test]
fn readiness_is_the_notification_not_a_log_line() {
    let mut liar = std::process::Command::new("/bin/sh");
    liar.args([
        "-c",
        "echo 'INFO sshd_sensor: ready: all programs attached' >&2; sleep 1",
    ]);
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        Sensor::start_command(liar)
    }));
    let message = refused
        .err()
        .and_then(|p| p.downcast_ref::<String>().cloned())
        .expect("a stand-in that only logs `ready` must not count as started");
    assert!(
        message.contains("before sending READY=1"),
        "refused for another reason: {message}"
    );

    let mut honest = std::process::Command::new(tool("python3"));
    honest.args([
        "-c",
        "import os, socket, time\n\
         s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
         s.sendto(b'STATUS=loading', os.environ['NOTIFY_SOCKET'])\n\
         s.sendto(b'READY=1', os.environ['NOTIFY_SOCKET'])\n\
         s.sendto(b'RELOADING=1', os.environ['NOTIFY_SOCKET'])\n\
         time.sleep(20)\n",
    ]);
    let started = Sensor::start_command(honest);
    started.await_notification("RELOADING=1", Duration::from_secs(5), "after READY=1");
}
