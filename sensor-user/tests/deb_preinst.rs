//! The package's preinst (`packaging/debian/preinst`; `deb_package.rs` checks the package ships
//! this very file): a first install on a running kernel without BTF, or older than 5.8, fails at
//! dpkg time; upgrades, `SSHD_SENSOR_SKIP_KERNEL_CHECK=1`, `dpkg --root` (DPKG_ROOT) and a chroot
//! (an image build, whose kernel is not the running one) are never refused. BTF is hidden by
//! mounting an empty tmpfs over `/sys/kernel/btf` in a private mount namespace (`unshare`), and
//! the kernel version by a `uname` earlier on PATH, so nothing on the host changes. Root:
//! `#[ignore]`d, run by the root test command (`cargo xtask test`), failing loudly when not root.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output},
};

mod common;
use common::TempDir;

fn preinst() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/debian/preinst")
}

fn require_root() {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test needs root (mount namespaces): run the root test command, \
         cargo test -p sensor-user -- --include-ignored, as root"
    );
}

/// Runs `script` with `sh -e` in a private mount and PID namespace where `/sys/kernel/btf` is
/// an empty tmpfs; `$1` is the preinst and `$2` a scratch directory.
fn without_btf(script: &str, scratch: &Path) -> Output {
    let script = format!("set -e\nmount -t tmpfs none /sys/kernel/btf\n{script}");
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--pid", "--fork"])
        .args(["sh", "-c", &script, "sh"])
        .arg(preinst())
        .arg(scratch)
        .output()
        .expect("run unshare (util-linux)")
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "root: unshare and mount to hide the kernel's BTF"]
fn preinst_refuses_a_kernel_without_btf_but_not_image_builds() {
    require_root();
    assert!(
        Path::new("/sys/kernel/btf/vmlinux").exists(),
        "this host has no BTF, which the sensor and this test need"
    );
    let scratch = TempDir::new("preinst-btf");
    assert_ok(
        &Command::new("sh")
            .arg(preinst())
            .arg("install")
            .output()
            .expect("run sh"),
        "with BTF, on this kernel, a first install goes ahead",
    );

    let refused = without_btf(r#"sh "$1" install"#, &scratch.0);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("/sys/kernel/btf/vmlinux")
            && stderr.contains("SSHD_SENSOR_SKIP_KERNEL_CHECK"),
        "the refusal names the cause and the way out: {stderr}"
    );

    // Never refused: an upgrade, the override, dpkg --root, and a chroot whose / is not PID 1's.
    // The chroot shares /usr and /sys (with BTF hidden) and gets its own /proc, in which PID 1
    // is this namespace's shell, outside the chroot, as in mmdebstrap's unshare mode.
    let skipped = without_btf(
        r#"sh "$1" upgrade 0.0.1
SSHD_SENSOR_SKIP_KERNEL_CHECK=1 sh "$1" install
DPKG_ROOT=/srv/image sh "$1" install
root="$2/root"
mkdir -p "$root/usr" "$root/proc" "$root/sys" "$root/tmp"
for dir in bin sbin lib lib64; do ln -s "usr/$dir" "$root/$dir"; done
mount --bind /usr "$root/usr"
mount --rbind /sys "$root/sys"
mount -t proc proc "$root/proc"
cp "$1" "$root/tmp/preinst"
test ! -e "$root/sys/kernel/btf/vmlinux"
chroot "$root" /bin/sh /tmp/preinst install
echo skipped"#,
        &scratch.0,
    );
    assert_ok(
        &skipped,
        "upgrade, override, DPKG_ROOT and chroot are not refused",
    );
    assert_eq!(String::from_utf8_lossy(&skipped.stdout), "skipped\n");
}

#[test]
#[ignore = "root: the preinst judges the running kernel's BTF, which needs a kernel that has it"]
fn preinst_refuses_kernels_before_5_8() {
    require_root();
    let scratch = TempDir::new("preinst-version");
    let bin = scratch.0.join("bin");
    std::fs::create_dir(&bin).expect("create a bin directory");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (release, accepted) in [
        ("4.19.0-27-amd64", false),
        ("5.4.0-1", false),
        ("5.7.19", false),
        ("5.8.0", true),
        ("5.10.0-33-amd64", true),
        ("6.1.0-28-amd64", true),
        ("6.12.9+deb13-amd64", true),
        ("not-a-version", true),
    ] {
        let uname = scratch.file("bin/uname", &format!("#!/bin/sh\necho '{release}'\n"));
        std::fs::set_permissions(&uname, std::fs::Permissions::from_mode(0o755))
            .expect("chmod uname");
        let out = Command::new("sh")
            .arg(preinst())
            .arg("install")
            .env("PATH", &path)
            .output()
            .expect("run sh");
        assert_eq!(
            out.status.success(),
            accepted,
            "kernel {release}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
