//! The Debian package end to end, as root: `packaging/build-deb.sh` builds it (release binary
//! first), `dpkg -i` installs it, the installed binary, unit, conffiles and configuration work,
//! and `dpkg --purge` removes every file. `#[ignore]`d so plain `cargo test` skips it; the root
//! test command (`cargo test -- --include-ignored` as root, as `cargo xtask test` runs it) runs
//! it, and it fails loudly when not root. It installs into the real system: run it on a test
//! machine, never on a host that has sshd-sensor installed for real.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

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

    let guard = Installed;
    run("dpkg", &["-i", deb.to_str().expect("UTF-8")]);
    for file in FILES {
        assert!(Path::new(file).is_file(), "{file} was not installed");
    }
    assert_eq!(
        stdout(&run("/usr/bin/sshd-sensor", &["--version"])),
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
