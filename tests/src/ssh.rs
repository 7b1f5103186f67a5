//! The real OpenSSH client, run inside namespace A against the test sshd, with a time bound.
//!
//! Batch mode, no config files, no known-hosts files, key-only, no pty (`-T`): the remote
//! command runs as `<login shell> -c '<command>'` under the per-connection sshd.

use std::process::Command;
use std::time::Duration;

use crate::cmd::{self, Finished};
use crate::netns::NetnsPair;
use crate::prereq::tool;
use crate::sshd::SshServer;

/// Default bound for one ssh command (login plus the remote command).
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// `ip netns exec A ssh ... user@127.0.0.1 -- <remote>`, not yet started.
pub fn command(netns: &NetnsPair, server: &SshServer, user: &str, remote: &str) -> Command {
    let mut command = netns.exec_inner(tool("ssh"));
    command
        .args(["-F", "/dev/null", "-T", "-i"])
        .arg(&server.client_key)
        .args(["-p", &server.port.to_string()])
        .args(["-o", "BatchMode=yes"])
        .args(["-o", "IdentitiesOnly=yes"])
        .args(["-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null"])
        .args(["-o", "GlobalKnownHostsFile=/dev/null"])
        .args(["-o", "ConnectTimeout=5"])
        .args(["-o", "LogLevel=ERROR"])
        .arg(format!("{user}@127.0.0.1"))
        .arg("--")
        .arg(remote);
    command
}

/// Runs `remote` over ssh and panics (with ssh's output and sshd's log) unless it exits 0
/// within [`TIMEOUT`].
pub fn run(netns: &NetnsPair, server: &SshServer, user: &str, remote: &str) -> Finished {
    let finished = cmd::run_bounded(&mut command(netns, server, user, remote), TIMEOUT);
    assert!(
        finished.status.success(),
        "ssh command failed ({}): {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- sshd log ---\n{}",
        finished.status,
        finished.command,
        finished.stdout,
        finished.stderr,
        server.log_text()
    );
    finished
}
