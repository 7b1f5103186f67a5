//! Pure readers for `sshd-sensor check`: the OpenSSH version from `sshd -V` / `ssh -V`, and the
//! configuration line that adds `sshd-session`. (Capabilities: `kernel::privileges`.)

/// An OpenSSH version as printed in `OpenSSH_9.2p1 Debian-2, OpenSSL ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpensshVersion {
    /// The text after `OpenSSH_`, up to a space or comma (`9.2p1`).
    pub text: String,
    pub major: u32,
    pub minor: u32,
}

impl OpensshVersion {
    /// OpenSSH 9.8 split the daemon: user sessions are children of `sshd-session`.
    pub fn has_sshd_session(&self) -> bool {
        (self.major, self.minor) >= (9, 8)
    }
}

/// The first `OpenSSH_X.Y...` in `text`.
pub fn openssh_version(text: &str) -> Option<OpensshVersion> {
    let start = text.find("OpenSSH_")? + "OpenSSH_".len();
    let rest = text.get(start..)?;
    let version: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != ',')
        .collect();
    let mut numbers = version.split(|c: char| !c.is_ascii_digit());
    let major = numbers.next()?.parse().ok()?;
    let minor = numbers.next()?.parse().ok()?;
    Some(OpensshVersion {
        text: version,
        major,
        minor,
    })
}

/// The `[rule]` line that makes `sshd-session` a parent executable, keeping `current`.
pub fn parent_executables_line(current: &[String], session: &str) -> String {
    let mut parents: Vec<&str> = current.iter().map(String::as_str).collect();
    if !parents.contains(&session) {
        parents.push(session);
    }
    let quoted: Vec<String> = parents
        .iter()
        .map(|p| toml::Value::String((*p).to_owned()).to_string())
        .collect();
    format!("parent_executables = [{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_openssh_versions() {
        let v =
            openssh_version("OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19 27 Jan 2026").unwrap();
        assert_eq!((v.text.as_str(), v.major, v.minor), ("9.2p1", 9, 2));
        assert!(!v.has_sshd_session());
        let v = openssh_version("OpenSSH_9.2, OpenSSL 3.0.19").unwrap();
        assert_eq!((v.text.as_str(), v.major, v.minor), ("9.2", 9, 2));
        let v = openssh_version("unknown option -- V\nOpenSSH_10.0p2 Ubuntu").unwrap();
        assert_eq!((v.major, v.minor), (10, 0));
        assert!(v.has_sshd_session());
        assert!(openssh_version("OpenSSH_9.8p1").unwrap().has_sshd_session());
        assert_eq!(openssh_version("usage: sshd [-46DdeGiqTtV]"), None);
        assert_eq!(openssh_version("OpenSSH_x"), None);
    }

    #[test]
    fn builds_the_config_line() {
        let seed = vec!["/usr/sbin/sshd".to_owned()];
        let line = "parent_executables = [\"/usr/sbin/sshd\", \"/usr/lib/openssh/sshd-session\"]";
        assert_eq!(
            parent_executables_line(&seed, "/usr/lib/openssh/sshd-session"),
            line
        );
        let both = vec![
            "/usr/sbin/sshd".to_owned(),
            "/usr/lib/openssh/sshd-session".to_owned(),
        ];
        assert_eq!(
            parent_executables_line(&both, "/usr/lib/openssh/sshd-session"),
            line
        );
    }
}
