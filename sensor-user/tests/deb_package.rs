//! The Debian package end to end, as root: `packaging/build-deb.sh` builds it (the static
//! release binary first), `dpkg -i` installs it, the installed binary, unit, conffiles and
//! configuration work, and `dpkg --purge` removes every file. The package declares no Depends
//! (its binary is static: no ELF interpreter, no NEEDED library, checked here by reading the
//! ELF headers and by running it in an empty chroot, where no libc exists) and ships the preinst
//! that `deb_preinst.rs` tests. `#[ignore]`d so plain `cargo test` skips it; the root
//! test command (`cargo test -- --include-ignored` as root, as `cargo xtask test` runs it) runs
//! it, and it fails loudly when not root. It installs into the real system: run it on a test
//! machine, never on a host that has sshd-sensor installed for real.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

mod common;
use common::TempDir;

const FILES: &[&str] = &[
    "/usr/bin/sshd-sensor",
    "/lib/systemd/system/sshd-sensor.service",
    "/etc/sshd-sensor/config.toml",
    "/etc/logrotate.d/sshd-sensor",
];

fn run(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "`{program} {}` failed ({}):\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Purges the package on drop, so a failed assertion leaves no install behind.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg")
            .args(["--purge", "sshd-sensor"])
            .output();
    }
}

#[test]
#[ignore = "root: builds the .deb, installs it with dpkg -i and purges it"]
fn deb_installs_works_and_purges() {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test needs root (dpkg -i): run the root test command, \
         cargo test -p sensor-user -- --include-ignored, as root"
    );
    assert!(
        !dpkg_lists_sensor(),
        "sshd-sensor is already installed here; this test would replace it"
    );

    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the workspace root exists");
    let script = root.join("packaging/build-deb.sh");
    let built = run("bash", &[script.to_str().expect("UTF-8 path")]);
    let deb = PathBuf::from(stdout(&built).lines().last().unwrap_or_default().trim());
    let name = deb.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(name, format!("sshd-sensor_{version}_amd64.deb"));
    assert_eq!(deb.parent(), Some(root.join("target").as_path()));
    assert!(deb.is_file(), "{} was not built", deb.display());

    let info = stdout(&run(
        "dpkg-deb",
        &[
            "-f",
            deb.to_str().expect("UTF-8"),
            "Package",
            "Version",
            "Architecture",
        ],
    ));
    assert_eq!(
        info,
        format!("Package: sshd-sensor\nVersion: {version}\nArchitecture: amd64\n")
    );
    // A static binary needs no libc6 (nor anything else); the shipped config's alert file
    // wants logrotate. dpkg-deb prints only the fields that are present.
    let relations = stdout(&run(
        "dpkg-deb",
        &[
            "-f",
            deb.to_str().expect("UTF-8"),
            "Pre-Depends",
            "Depends",
            "Recommends",
        ],
    ));
    assert_eq!(relations, "Recommends: logrotate\n");
    let control = TempDir::new("deb-control");
    run(
        "dpkg-deb",
        &[
            "--control",
            deb.to_str().expect("UTF-8"),
            control.0.to_str().expect("UTF-8"),
        ],
    );
    let preinst = std::fs::read(control.0.join("preinst")).expect("the package has a preinst");
    assert_eq!(
        preinst,
        std::fs::read(root.join("packaging/debian/preinst")).expect("read the source preinst"),
        "the packaged preinst is not packaging/debian/preinst"
    );

    let guard = Installed;
    run("dpkg", &["-i", deb.to_str().expect("UTF-8")]);
    for file in FILES {
        assert!(Path::new(file).is_file(), "{file} was not installed");
    }
    assert_eq!(
        stdout(&run("/usr/bin/sshd-sensor", &["--version"])),
        format!("sshd-sensor {version}\n")
    );
    let linkage = Linkage::of(&std::fs::read("/usr/bin/sshd-sensor").expect("read the binary"));
    assert_eq!(
        linkage,
        Linkage {
            x86_64: true,
            interpreter: false,
            needed: 0
        },
        "the packaged binary is not a static x86-64 executable"
    );
    // Proof that it needs no libc at all: an empty root holds nothing but the binary.
    let empty = TempDir::new("deb-empty-root");
    std::fs::copy("/usr/bin/sshd-sensor", empty.0.join("sshd-sensor")).expect("copy the binary");
    assert_eq!(
        stdout(&run(
            "chroot",
            &[
                empty.0.to_str().expect("UTF-8"),
                "/sshd-sensor",
                "--version"
            ]
        )),
        format!("sshd-sensor {version}\n")
    );
    let unit = std::fs::read_to_string("/lib/systemd/system/sshd-sensor.service")
        .expect("read the installed unit");
    assert_eq!(unit, include_str!("../../systemd/sshd-sensor.service"));
    assert_eq!(
        stdout(&run(
            "/usr/bin/sshd-sensor",
            &["config", "check", "/etc/sshd-sensor/config.toml"]
        )),
        "ok: /etc/sshd-sensor/config.toml is valid\n"
    );
    let listed = stdout(&run(
        "dpkg-query",
        &["-W", "-f=${Conffiles}", "sshd-sensor"],
    ));
    for conffile in [
        "/etc/sshd-sensor/config.toml",
        "/etc/logrotate.d/sshd-sensor",
    ] {
        assert!(
            listed.contains(conffile),
            "{conffile} is not a conffile: {listed}"
        );
    }
    if Path::new("/usr/sbin/logrotate").exists() {
        run(
            "/usr/sbin/logrotate",
            &["--debug", "/etc/logrotate.d/sshd-sensor"],
        );
    }

    run("dpkg", &["--purge", "sshd-sensor"]);
    drop(guard);
    for file in FILES.iter().chain(&["/etc/sshd-sensor"]) {
        assert!(
            !Path::new(file).exists(),
            "{file} is still there after purge"
        );
    }
    assert!(
        !dpkg_lists_sensor(),
        "dpkg still lists sshd-sensor after purge"
    );
}

/// Whether dpkg lists the sshd-sensor package as installed.
fn dpkg_lists_sensor() -> bool {
    let status = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "sshd-sensor"])
        .output()
        .expect("run dpkg-query");
    String::from_utf8_lossy(&status.stdout).contains("installed")
}

/// What an ELF file's headers say about how it is linked.
#[derive(Debug, PartialEq, Eq)]
struct Linkage {
    /// `e_machine` is EM_X86_64.
    x86_64: bool,
    /// It has a PT_INTERP segment (a dynamic loader runs it).
    interpreter: bool,
    /// Its DT_NEEDED entries (shared libraries it loads).
    needed: usize,
}

impl Linkage {
    /// Reads a little-endian ELF64 file's header, program headers and dynamic section; panics
    /// on anything else or on a truncated file.
    fn of(elf: &[u8]) -> Self {
        const PT_DYNAMIC: u32 = 2;
        const PT_INTERP: u32 = 3;
        const DT_NULL: u64 = 0;
        const DT_NEEDED: u64 = 1;
        const EM_X86_64: u16 = 62;
        assert!(
            elf.starts_with(b"\x7fELF\x02\x01"),
            "not a little-endian ELF64 file"
        );
        let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().expect("2 bytes"));
        let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().expect("8 bytes"));
        let size = |v: u64| usize::try_from(v).expect("offset fits usize");
        let (phoff, phentsize, phnum) = (size(u64_at(32)), usize::from(u16_at(54)), u16_at(56));
        let mut linkage = Linkage {
            x86_64: u16_at(18) == EM_X86_64,
            interpreter: false,
            needed: 0,
        };
        for ph in (0..usize::from(phnum)).map(|i| phoff + i * phentsize) {
            match u32_at(ph) {
                PT_INTERP => linkage.interpreter = true,
                PT_DYNAMIC => {
                    let (offset, len) = (size(u64_at(ph + 8)), size(u64_at(ph + 32)));
                    for entry in (offset..offset + len).step_by(16) {
                        match u64_at(entry) {
                            DT_NULL => break,
                            DT_NEEDED => linkage.needed += 1,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        linkage
    }
}

/// The check above can fail: this test binary itself is a dynamically linked glibc program.
#[test]
fn linkage_sees_a_dynamic_binary() {
    let exe = std::env::current_exe().expect("the test binary's path");
    let linkage = Linkage::of(&std::fs::read(&exe).expect("read the test binary"));
    assert!(linkage.x86_64, "{linkage:?}");
    assert!(linkage.interpreter, "{linkage:?}");
    assert!(linkage.needed >= 1, "{linkage:?}");
}
