//! One test's miniature host, built in the realistic order: network namespaces, then the test
//! user and sshd; the test starts the sensor afterwards and then drives ssh commands.
//!
//! Field order is drop order: sshd stops first, then both namespaces (and every process left
//! in them) go, then the scratch directory.

use std::path::{Path, PathBuf};

use crate::cmd::{self, Finished};
use crate::connector::{self, ConnectReport};
use crate::netns::NetnsPair;
use crate::prereq;
use crate::ssh;
use crate::sshd::SshServer;
use crate::tempdir::TempDir;
use crate::user::{self, TestUser};

/// Netns pair + sshd + test user + connector, ready for ssh commands.
#[derive(Debug)]
pub struct Testbed {
    pub sshd: SshServer,
    pub netns: NetnsPair,
    pub user: TestUser,
    /// The connector installed under its own name, runnable by the test user.
    pub connector: PathBuf,
    connector_source: PathBuf,
    pub dir: TempDir,
}

impl Testbed {
    /// Checks prerequisites and builds the host; `connector_source` is
    /// [`connector_bin!()`](crate::connector_bin).
    pub fn new(connector_source: &Path) -> Self {
        Self::with_sshd(connector_source, Path::new(prereq::SSHD))
    }

    /// [`Self::new`] with the sshd listener run from `sshd_binary` (a copy elsewhere).
    pub fn with_sshd(connector_source: &Path, sshd_binary: &Path) -> Self {
        prereq::require_all();
        let dir = TempDir::new("sst");
        let netns = NetnsPair::create();
        let user = user::ensure_test_user();
        let sshd = SshServer::start_from(&netns, &user, dir.path(), sshd_binary);
        let connector = connector::install(connector_source, dir.path(), "sst-connect");
        Self {
            sshd,
            netns,
            user,
            connector,
            connector_source: connector_source.to_owned(),
            dir,
        }
    }

    /// Installs another copy of the connector named `name` (e.g. `ssh`, `login_duo`) in a
    /// subdirectory of its own, so names never collide.
    pub fn install_connector_as(&self, name: &str) -> PathBuf {
        let subdir = self.dir.join(&format!("as-{name}"));
        std::fs::create_dir_all(&subdir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", subdir.display()));
        crate::tempdir::set_mode(&subdir, 0o755);
        connector::install(&self.connector_source, &subdir, name)
    }

    /// Runs `remote` over ssh as the test user; panics unless it succeeds.
    pub fn ssh(&self, remote: &str) -> Finished {
        ssh::run(&self.netns, &self.sshd, &self.user.name, remote)
    }

    /// Over ssh, the remote command `<prefix><connector> <dest> <port>; true`, which sshd runs
    /// as `/bin/sh -c '<that>'` (the login shell, dash, exec'd by the per-connection sshd). dash
    /// forks for every command, and the trailing `true` keeps a shell that execs its last
    /// command in place (bash) from doing so, so the connector is the child of the sshd-started
    /// shell. Do not wrap the command in another `sh -c`: that adds a generation (sshd -> sh ->
    /// sh -> connector) and the connector is no longer the stage-1 process's child. Returns the
    /// connector's report.
    pub fn connect_over_ssh_after(
        &self,
        prefix: &str,
        connector: &Path,
        dest: &str,
        port: u16,
    ) -> ConnectReport {
        let remote = format!(
            "{prefix}{}; true",
            connector::invocation(connector, dest, port)
        );
        let finished = self.ssh(&remote);
        connector::single_report(&finished.stdout)
    }

    /// [`Self::connect_over_ssh_after`] with no prefix.
    pub fn connect_over_ssh(&self, connector: &Path, dest: &str, port: u16) -> ConnectReport {
        self.connect_over_ssh_after("", connector, dest, port)
    }

    /// The same connect from a process sshd did not start: `ip netns exec A <connector> ...`
    /// run by the test process itself.
    pub fn connect_outside_ssh(&self, dest: &str, port: u16) -> ConnectReport {
        let mut command = self.netns.exec_inner(&self.connector);
        command.arg(dest).arg(port.to_string());
        let finished = cmd::run_bounded(&mut command, cmd::SHORT).expect_success();
        connector::single_report(&finished.stdout)
    }
}
