//! `cargo xtask setup`: makes a fresh Debian 12 machine able to build and test the sensor, and
//! does nothing on one that already is. It checks each requirement, prints what it installs and
//! skips what is present: the nightly toolchain with `rust-src` (aya-build compiles the eBPF
//! crate with it), rustfmt and clippy, the musl target the shipped static binary is built for
//! (Rust's own self-contained musl: no musl-gcc, since no dependency compiles C), the Debian
//! packages (LLVM at the major version nightly rustc reports, for bpf-linker; OpenSSH, iproute2
//! and btrfs-progs for the integration tests), bpf-linker built against that same LLVM, the
//! differential test's Python venv ([`venv`]), and what `cargo xtask vm-test` boots guests with
//! ([`vm`]). Installing system packages needs root; checking does not.
//! Installing openssh-server may start the system's sshd: the tests start their own and do not
//! need or touch it.

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use crate::{
    exec::{capture, exec, probe},
    host,
};

mod venv;
mod vm;

/// Debian packages needed whatever the LLVM version, with what needs each.
const PACKAGES: &[&str] = &[
    "pkg-config",     // bpf-linker's build
    "libzstd-dev",    // linking LLVM
    "zlib1g-dev",     // linking LLVM
    "openssh-server", // integration tests: /usr/sbin/sshd
    "openssh-client", // integration tests: ssh, ssh-keygen
    "iproute2",       // integration tests: ip netns, ss
    "procps",         // integration tests: sysctl
    "passwd",         // integration tests: useradd
    "binutils",       // packaging/build-deb.sh: readelf proves the binary is static
    "btrfs-progs",    // integration tests: mkfs.btrfs, a parent executable on a subvolume
];

pub fn execute() -> Result<()> {
    let mut present = Vec::new();
    rust_toolchains(&mut present)?;
    let llvm = nightly_llvm_major()?;
    apt_packages(llvm, &mut present)?;
    bpf_linker(llvm, &mut present)?;
    if venv::wanted() {
        venv::ensure(&mut present)?;
    }
    vm::ensure(&mut present)?;
    eprintln!("setup: present: {}", present.join(", "));
    eprintln!("setup: done (nightly rustc uses LLVM {llvm})");
    Ok(())
}

/// Fails unless root, naming what was about to be installed.
fn need_root(what: &str) -> Result<()> {
    if !host::is_root() {
        bail!("setup must install {what}, which needs root: run `cargo xtask setup` as root");
    }
    Ok(())
}

fn rust_toolchains(present: &mut Vec<String>) -> Result<()> {
    if probe(Command::new("rustup").arg("--version")).is_none() {
        bail!(
            "rustup is not installed: install Rust with rustup (https://rustup.rs), then rerun `cargo xtask setup`"
        );
    }
    let toolchains = capture(Command::new("rustup").args(["toolchain", "list"]))?;
    if toolchains.lines().any(|l| l.starts_with("nightly")) {
        present.push("nightly toolchain".into());
    } else {
        eprintln!(
            "setup: installing the nightly toolchain (aya-build compiles the eBPF crate with it)"
        );
        exec(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
        ]))?;
    }
    let nightly = capture(Command::new("rustup").args([
        "component",
        "list",
        "--installed",
        "--toolchain",
        "nightly",
    ]))?;
    if has_component(&nightly, "rust-src") {
        present.push("nightly rust-src".into());
    } else {
        eprintln!(
            "setup: adding rust-src to nightly (needed to build core for bpfel-unknown-none)"
        );
        exec(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            "nightly",
        ]))?;
    }
    if has_component(&nightly, "clippy") {
        present.push("nightly clippy".into());
    } else {
        eprintln!("setup: adding clippy to nightly (the test command lints the eBPF crate)");
        exec(Command::new("rustup").args([
            "component",
            "add",
            "clippy",
            "--toolchain",
            "nightly",
        ]))?;
    }
    // The toolchain cargo xtask itself runs on (rustup sets RUSTUP_TOOLCHAIN for it).
    let default = capture(Command::new("rustup").args(["component", "list", "--installed"]))?;
    let missing: Vec<&str> = ["rustfmt", "clippy"]
        .into_iter()
        .filter(|c| !has_component(&default, c))
        .collect();
    if missing.is_empty() {
        present.push("rustfmt, clippy".into());
    } else {
        eprintln!(
            "setup: adding {} (used by `cargo xtask test`)",
            missing.join(", ")
        );
        exec(
            Command::new("rustup")
                .args(["component", "add"])
                .args(&missing),
        )?;
    }
    let targets = capture(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if targets.lines().any(|l| l.trim() == host::SENSOR_TARGET) {
        present.push(format!("{} target", host::SENSOR_TARGET));
    } else {
        eprintln!(
            "setup: adding the {} target (the shipped sshd-sensor is a static musl binary)",
            host::SENSOR_TARGET
        );
        exec(Command::new("rustup").args(["target", "add", host::SENSOR_TARGET]))?;
    }
    Ok(())
}

fn has_component(list: &str, name: &str) -> bool {
    list.lines()
        .any(|l| l == name || l.starts_with(&format!("{name}-")))
}

/// The LLVM major version of nightly rustc, which bpf-linker must be built against.
fn nightly_llvm_major() -> Result<u32> {
    let verbose = capture(Command::new("rustc").args(["+nightly", "--version", "--verbose"]))?;
    parse_llvm_major(&verbose).with_context(|| {
        format!("no `LLVM version:` line in `rustc +nightly --version --verbose`:\n{verbose}")
    })
}

fn parse_llvm_major(verbose: &str) -> Option<u32> {
    let version = verbose
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version:"))?;
    version.trim().split('.').next()?.parse().ok()
}

fn apt_packages(llvm: u32, present: &mut Vec<String>) -> Result<()> {
    let mut wanted: Vec<String> = PACKAGES.iter().map(|p| p.to_string()).collect();
    wanted.push(format!("llvm-{llvm}-dev"));
    wanted.push(format!("libpolly-{llvm}-dev"));
    if probe(Command::new("cc").arg("--version")).is_none() {
        wanted.push("build-essential".into());
    }
    if venv::wanted() {
        wanted.push(venv::APT_PACKAGE.into());
    }
    let installed = installed_packages(&wanted);
    let missing: Vec<&String> = wanted.iter().filter(|p| !installed.contains(p)).collect();
    if missing.is_empty() {
        present.push(format!("{} apt packages", wanted.len()));
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
    need_root(&format!("the Debian packages {}", names.join(" ")))?;
    eprintln!("setup: installing Debian packages: {}", names.join(" "));
    exec(
        Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    exec(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&names)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    Ok(())
}

/// Which of `names` dpkg reports as installed (unknown names are simply absent).
fn installed_packages(names: &[String]) -> Vec<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Package}\t${db:Status-Status}\n"])
        .args(names)
        .output();
    // dpkg-query exits 1 when some name is unknown; its stdout still lists the known ones.
    let stdout = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    stdout
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(_, status)| *status == "installed")
        .map(|(name, _)| name.to_string())
        .collect()
}

fn bpf_linker(llvm: u32, present: &mut Vec<String>) -> Result<()> {
    let reason = match find_in_path("bpf-linker") {
        None => "it is not installed".to_string(),
        Some(path) => match linked_llvm_major(&path)? {
            Some(found) if found == llvm => {
                present.push(format!("bpf-linker (LLVM {llvm})"));
                return Ok(());
            }
            Some(found) => format!(
                "{} is built against LLVM {found}, nightly uses {llvm}",
                path.display()
            ),
            None => format!("cannot tell which LLVM {} is built against", path.display()),
        },
    };
    need_root(&format!("bpf-linker ({reason})"))?;
    eprintln!("setup: installing bpf-linker for LLVM {llvm}: {reason}");
    exec(
        Command::new("cargo")
            .args([
                "install",
                "--force",
                "bpf-linker",
                "--no-default-features",
                "--features",
            ])
            .arg(format!("llvm-{llvm}"))
            .env("LLVM_PREFIX", format!("/usr/lib/llvm-{llvm}")),
    )?;
    if find_in_path("bpf-linker").is_none() {
        bail!(
            "bpf-linker was installed but is not on PATH: add ~/.cargo/bin to PATH (`. \"$HOME/.cargo/env\"`)"
        );
    }
    Ok(())
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The LLVM major version a bpf-linker binary links dynamically (`libLLVM.so.22.1`,
/// `libLLVM-22.so`), read from its dynamic section's strings; `None` if it names none.
fn linked_llvm_major(binary: &Path) -> Result<Option<u32>> {
    let bytes = fs::read(binary).with_context(|| format!("reading {}", binary.display()))?;
    Ok(find_llvm_soname(&bytes))
}

fn find_llvm_soname(bytes: &[u8]) -> Option<u32> {
    let needle = b"libLLVM";
    bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| w == needle)
        .find_map(|(i, _)| {
            let rest = &bytes[i + needle.len()..];
            let rest = rest
                .strip_prefix(b".so.")
                .or_else(|| rest.strip_prefix(b"-"))?;
            let digits: Vec<u8> = rest
                .iter()
                .copied()
                .take_while(u8::is_ascii_digit)
                .collect();
            std::str::from_utf8(&digits).ok()?.parse().ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llvm_major_from_rustc_verbose() {
        let v = "rustc 1.97.0-nightly (e50aa6fba 2026-05-19)\nhost: x86_64-unknown-linux-gnu\nLLVM version: 22.1.4\n";
        assert_eq!(parse_llvm_major(v), Some(22));
        assert_eq!(parse_llvm_major("rustc 1.0\n"), None);
    }

    #[test]
    fn llvm_soname_forms() {
        assert_eq!(
            find_llvm_soname(b"\0libc.so.6\0libLLVM.so.22.1\0"),
            Some(22)
        );
        assert_eq!(find_llvm_soname(b"\0libLLVM-19.so\0"), Some(19));
        assert_eq!(find_llvm_soname(b"libLLVMfoo\0libLLVM.so.21.1"), Some(21));
        assert_eq!(find_llvm_soname(b"nothing here"), None);
    }

    #[test]
    fn component_names() {
        let list = "rust-src\nrustfmt-x86_64-unknown-linux-gnu\n";
        assert!(has_component(list, "rust-src"));
        assert!(has_component(list, "rustfmt"));
        assert!(!has_component(list, "clippy"));
    }
}
