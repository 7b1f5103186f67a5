//! The dedicated, unprivileged account the tests log in as over ssh.
//!
//! Created idempotently with `/bin/sh` (dash) as its shell, so a remote command starts fast and
//! reads no profile. sshd with `UsePAM no` refuses an account whose password field is locked
//! (`!`), so the field is set to `*`: no password can ever match, but the account is usable
//! with a key.

use std::path::PathBuf;
use std::process::Command;

use crate::cmd::{self, run_ok};
use crate::prereq::tool;

/// The test account's name.
pub const TEST_USER: &str = "sshsensor-test";
/// Its login shell.
pub const TEST_SHELL: &str = "/bin/sh";

/// The account as `getent passwd` shows it.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub home: PathBuf,
    pub shell: String,
}

/// Makes sure the test account exists, with `/bin/sh` and password field `*`, and returns it.
pub fn ensure_test_user() -> TestUser {
    if passwd_entry(TEST_USER).is_none() {
        let out = cmd::run_bounded(
            Command::new(tool("useradd")).args(["--create-home", "--shell", TEST_SHELL, TEST_USER]),
            cmd::SHORT,
        );
        // Another test process may have created it meanwhile (useradd exits 9 then).
        assert!(
            out.status.success() || passwd_entry(TEST_USER).is_some(),
            "cannot create test user {TEST_USER}: {}",
            out.stderr
        );
    }
    let user =
        passwd_entry(TEST_USER).unwrap_or_else(|| panic!("user {TEST_USER} missing after useradd"));
    if user.shell != TEST_SHELL {
        run_ok(Command::new(tool("usermod")).args(["--shell", TEST_SHELL, TEST_USER]));
    }
    if shadow_password(TEST_USER).as_deref() != Some("*") {
        run_ok(Command::new(tool("usermod")).args(["-p", "*", TEST_USER]));
    }
    assert_eq!(
        shadow_password(TEST_USER).as_deref(),
        Some("*"),
        "password field of {TEST_USER} must be '*' (sshd with UsePAM no refuses locked accounts)"
    );
    if !user.home.is_dir() {
        std::fs::create_dir_all(&user.home)
            .unwrap_or_else(|e| panic!("cannot create home {}: {e}", user.home.display()));
        run_ok(
            Command::new("/bin/chown")
                .arg(format!("{TEST_USER}:"))
                .arg(&user.home),
        );
    }
    passwd_entry(TEST_USER).unwrap_or_else(|| panic!("user {TEST_USER} vanished"))
}

fn passwd_entry(name: &str) -> Option<TestUser> {
    let out = cmd::run_bounded(
        Command::new(tool("getent")).args(["passwd", name]),
        cmd::SHORT,
    );
    if !out.status.success() {
        return None;
    }
    let fields: Vec<&str> = out.stdout.trim().split(':').collect();
    let [name, _, uid, _, _, home, shell] = fields[..] else {
        panic!("unexpected passwd entry: {}", out.stdout)
    };
    Some(TestUser {
        name: name.to_owned(),
        uid: uid
            .parse()
            .unwrap_or_else(|e| panic!("bad uid in {fields:?}: {e}")),
        home: PathBuf::from(home),
        shell: shell.to_owned(),
    })
}

fn shadow_password(name: &str) -> Option<String> {
    let out = cmd::run_bounded(
        Command::new(tool("getent")).args(["shadow", name]),
        cmd::SHORT,
    );
    out.status
        .success()
        .then(|| out.stdout.split(':').nth(1).unwrap_or_default().to_owned())
}
