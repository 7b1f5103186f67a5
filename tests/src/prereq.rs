//! Preconditions of every test: running as root and the host tools being installed. A missing
//! prerequisite is a test failure with a message saying how to fix it, never a silent skip.

use std::path::{Path, PathBuf};

/// Where Debian's OpenSSH server lives; the rule matches this exact path.
pub const SSHD: &str = "/usr/sbin/sshd";

/// The tools the harness runs, with the Debian package that provides each.
const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("ss", "iproute2"),
    ("sysctl", "procps"),
    ("ssh", "openssh-client"),
    ("ssh-keygen", "openssh-client"),
    ("useradd", "passwd"),
    ("usermod", "passwd"),
    ("getent", "libc-bin"),
];

/// Panics unless the process runs as root (uid 0).
pub fn require_root() {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "these tests need root (they create network namespaces, start sshd and load eBPF); \
         run them as root: cargo test -p integration-tests -- --test-threads=1"
    );
}

/// Panics unless root and every tool the harness needs is installed.
pub fn require_all() {
    require_root();
    for (name, _) in TOOLS {
        tool(name);
    }
    assert!(
        Path::new(SSHD).is_file(),
        "{SSHD} is missing: install the OpenSSH server (apt-get install openssh-server)"
    );
    assert!(Path::new("/bin/sh").exists(), "/bin/sh is missing");
}

/// The absolute path of a required tool, looked up in `PATH` and the sbin directories (which a
/// non-login root `PATH` may lack). Panics naming the package to install when it is missing.
pub fn tool(name: &str) -> PathBuf {
    let from_env = std::env::var_os("PATH").unwrap_or_default();
    let fallback = [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ];
    std::env::split_paths(&from_env)
        .chain(fallback.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            let package = TOOLS
                .iter()
                .find(|(tool, _)| *tool == name)
                .map_or("the package that provides it", |(_, package)| package);
            panic!("required tool `{name}` not found: install it (apt-get install {package})")
        })
}
