//! Where OpenSSH's executables live, in one list: the live sensor's default parent
//! executables, and what `check` looks for. OpenSSH up to 9.7 runs user shells under
//! `/usr/sbin/sshd`; 9.8 and later under `sshd-session`, which each distribution puts in its
//! own libexec directory. Watching every candidate costs nothing where it is absent, and one
//! that appears later (openssh-server installed or upgraded after the sensor started) is
//! picked up by the watcher.

/// The listener, on every distribution (merged /usr or not: `/sbin` is then a symlink).
pub const SSHD: &str = "/usr/sbin/sshd";

/// Where distributions put OpenSSH 9.8's per-session binary.
pub const SSHD_SESSION_PATHS: &[&str] = &[
    // Debian, Ubuntu
    "/usr/lib/openssh/sshd-session",
    // Fedora, RHEL, CentOS Stream
    "/usr/libexec/openssh/sshd-session",
    // Arch, Alpine
    "/usr/lib/ssh/sshd-session",
    // openSUSE Tumbleweed
    "/usr/libexec/ssh/sshd-session",
    // upstream's own layout with --prefix=/usr
    "/usr/libexec/sshd-session",
];

/// The live default: [`SSHD`] and every [`SSHD_SESSION_PATHS`] entry, in that order (the
/// order is the index the kernel reports, so it never changes while running).
pub fn default_parents() -> Vec<String> {
    defaults().map(str::to_owned).collect()
}

fn defaults() -> impl Iterator<Item = &'static str> {
    std::iter::once(SSHD).chain(SSHD_SESSION_PATHS.iter().copied())
}

/// True when `paths` is the live default: then absent entries are expected, not a mistake.
pub fn is_default(paths: &[String]) -> bool {
    paths.iter().map(String::as_str).eq(defaults())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_sshd_then_every_session_path() {
        let d = default_parents();
        assert_eq!(d[0], "/usr/sbin/sshd");
        assert!(d.contains(&"/usr/lib/openssh/sshd-session".to_owned()));
        assert!(d.contains(&"/usr/libexec/openssh/sshd-session".to_owned()));
        assert!(d.contains(&"/usr/lib/ssh/sshd-session".to_owned()));
        assert!(d.iter().all(|p| p.starts_with('/')));
        assert!(d.len() <= sensor_common::PARENT_EXES_MAX as usize);
        assert!(is_default(&d));
    }

    #[test]
    fn explicit_lists_are_not_the_default() {
        assert!(!is_default(&["/usr/sbin/sshd".to_owned()]));
        let mut d = default_parents();
        d.swap(1, 2);
        assert!(!is_default(&d));
        let mut d = default_parents();
        d.push("/opt/sshd".to_owned());
        assert!(!is_default(&d));
        assert!(!is_default(&[]));
    }
}
