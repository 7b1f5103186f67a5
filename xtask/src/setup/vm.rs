//! What `cargo xtask vm-test` needs on the host: `mmdebstrap` (the guests' root filesystems),
//! `e2fsprogs` (`mkfs.ext4 -d` turns a directory into a disk image) and `qemu-system-x86`.
//! On Debian 12, QEMU comes from bookworm-backports: the preinstalled `qemu-utils` there is the
//! backports version and conflicts with bookworm's own QEMU. This adds a deb822 source for
//! bookworm-backports when no apt source names it yet, and installs with `-t bookworm-backports`.
//! Elsewhere QEMU comes from the release's own suites. Installed packages are left alone.

use std::{fs, path::Path, process::Command};

use anyhow::{Context, Result};

use crate::exec::exec;

/// Plain Debian packages (any suite will do).
const PACKAGES: &[&str] = &["mmdebstrap", "e2fsprogs"];
/// The emulator, from backports on bookworm.
const QEMU: &str = "qemu-system-x86";
/// Where the backports source goes when none exists.
const BACKPORTS_SOURCE: &str = "/etc/apt/sources.list.d/sshd-sensor-backports.sources";

/// Installs what is missing of [`PACKAGES`] and [`QEMU`]; `present` collects what was there.
pub fn ensure(present: &mut Vec<String>) -> Result<()> {
    let wanted: Vec<String> = PACKAGES
        .iter()
        .chain(&[QEMU])
        .map(|p| p.to_string())
        .collect();
    let installed = super::installed_packages(&wanted);
    let missing: Vec<&str> = PACKAGES
        .iter()
        .copied()
        .filter(|p| !installed.iter().any(|i| i == p))
        .collect();
    let qemu_missing = !installed.iter().any(|i| i == QEMU);
    if missing.is_empty() && !qemu_missing {
        present.push(format!("VM test packages ({})", wanted.join(", ")));
        return Ok(());
    }
    let mut names = missing.clone();
    if qemu_missing {
        names.push(QEMU);
    }
    super::need_root(&format!(
        "the VM test packages {} (for `cargo xtask vm-test`)",
        names.join(" ")
    ))?;
    let backports = if qemu_missing {
        codename()?
            .filter(|c| c == "bookworm")
            .map(|c| format!("{c}-backports"))
    } else {
        None
    };
    if let Some(suite) = &backports {
        ensure_source(suite)?;
    }
    eprintln!(
        "setup: installing the VM test packages: {}",
        names.join(" ")
    );
    exec(
        Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    if !missing.is_empty() {
        exec(apt_install().args(&missing))?;
    }
    if qemu_missing {
        let mut cmd = apt_install();
        if let Some(suite) = &backports {
            eprintln!(
                "setup: {QEMU} from {suite}: bookworm's own QEMU conflicts with the backports qemu-utils"
            );
            cmd.args(["-t", suite]);
        }
        exec(cmd.arg(QEMU))?;
    }
    Ok(())
}

fn apt_install() -> Command {
    let mut cmd = Command::new("apt-get");
    cmd.args(["install", "-y", "--no-install-recommends"])
        .env("DEBIAN_FRONTEND", "noninteractive");
    cmd
}

/// `VERSION_CODENAME` from /etc/os-release, if any.
fn codename() -> Result<Option<String>> {
    let text = fs::read_to_string("/etc/os-release").context("reading /etc/os-release")?;
    Ok(parse_codename(&text))
}

fn parse_codename(os_release: &str) -> Option<String> {
    os_release
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim().trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// Adds a deb822 source for `suite` unless an apt source already names it.
fn ensure_source(suite: &str) -> Result<()> {
    let mut sources = vec![Path::new("/etc/apt/sources.list").to_path_buf()];
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        sources.extend(
            dir.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "list" || x == "sources")),
        );
    }
    let named = sources
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .any(|text| names_suite(&text, suite));
    if named {
        return Ok(());
    }
    eprintln!("setup: adding the apt source {BACKPORTS_SOURCE} for {suite}");
    fs::write(BACKPORTS_SOURCE, backports_source(suite))
        .with_context(|| format!("writing {BACKPORTS_SOURCE}"))
}

/// Whether an apt source file (one-line or deb822) names `suite`, outside comments.
fn names_suite(text: &str, suite: &str) -> bool {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .any(|l| l.split_whitespace().any(|w| w == suite))
}

fn backports_source(suite: &str) -> String {
    format!(
        "# Added by `cargo xtask setup` (sshd-sensor): QEMU for `cargo xtask vm-test`.\n\
         Types: deb\n\
         URIs: http://deb.debian.org/debian\n\
         Suites: {suite}\n\
         Components: main\n\
         Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codename_from_os_release() {
        let text = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_CODENAME=bookworm\n";
        assert_eq!(parse_codename(text).as_deref(), Some("bookworm"));
        assert_eq!(parse_codename("ID=debian\n"), None);
    }

    #[test]
    fn suite_named_in_either_format() {
        let deb822 = "Types: deb\nSuites: bookworm bookworm-backports\n";
        assert!(names_suite(deb822, "bookworm-backports"));
        let one_line = "deb http://deb.debian.org/debian bookworm-backports main\n";
        assert!(names_suite(one_line, "bookworm-backports"));
        let commented =
            "# deb http://deb.debian.org/debian bookworm-backports main\nSuites: bookworm\n";
        assert!(!names_suite(commented, "bookworm-backports"));
        assert!(names_suite(
            &backports_source("bookworm-backports"),
            "bookworm-backports"
        ));
    }
}
