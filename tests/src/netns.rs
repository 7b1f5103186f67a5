//! The network sandbox every test runs in: two fresh network namespaces joined by a veth pair.
//!
//! Namespace A ("inner") is where sshd, the ssh client and the connector run. It has `lo` up,
//! documentation-range addresses on its veth end, and IPv4 and IPv6 default routes out of that
//! veth, so a connect to any address (8.8.8.8, 2001:db8::1, 10.1.2.3, ...) really enters
//! `SYN_SENT`. Namespace B ("outer") holds the other veth end, up but with NO address, IPv6
//! disabled, no routes and no forwarding: the SYNs and ARP/ND probes land there and are dropped.
//! Nothing ever reaches the host namespace or leaves the machine.
//!
//! Names are unique per test process and test (`sst-<pid>-<n>-a` / `-b`). The [`Drop`] guard
//! kills every process still in either namespace and deletes both, also when the test panics.
//! Namespaces left by a test process that died without cleaning up are swept on the next run.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::cmd::{self, run_ok};
use crate::prereq::tool;
use crate::wait;

/// Interface name of the veth end in namespace A.
pub const INNER_IF: &str = "vethA";
/// Interface name of the veth end in namespace B.
pub const OUTER_IF: &str = "vethB";
/// IPv4 address of namespace A (TEST-NET-1, never routed on the internet).
pub const INNER_V4: &str = "192.0.2.1/24";
/// IPv6 address of namespace A (documentation prefix).
pub const INNER_V6: &str = "2001:db8:ffff::1/64";

const PREFIX: &str = "sst-";
static NEXT: AtomicU32 = AtomicU32::new(0);
static SWEEP: Once = Once::new();

/// A namespace pair; see the module docs. Dropping it destroys both namespaces.
#[derive(Debug)]
pub struct NetnsPair {
    /// Namespace A: lo, addresses, default routes.
    pub inner: String,
    /// Namespace B: the addressless far end.
    pub outer: String,
}

impl NetnsPair {
    /// Creates and configures a fresh pair, then checks that B holds no address.
    pub fn create() -> Self {
        SWEEP.call_once(sweep_stale);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = format!("{PREFIX}{}-{n}", std::process::id());
        // The guard exists before the first namespace does, so a failure below still cleans up.
        let pair = Self {
            inner: format!("{base}-a"),
            outer: format!("{base}-b"),
        };
        run_ok(Command::new(tool("ip")).args(["netns", "add", &pair.inner]));
        run_ok(Command::new(tool("ip")).args(["netns", "add", &pair.outer]));

        // B: no IPv6 at all (so no link-local address or autoconf), no forwarding.
        for key in [
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
            "net.ipv4.ip_forward=0",
        ] {
            pair.sysctl(&pair.outer, key);
        }
        // A: IPv6 on, without duplicate address detection, so every address (the link-local
        // one included) is usable at once and source selection never fails.
        for key in [
            "net.ipv6.conf.all.disable_ipv6=0",
            "net.ipv6.conf.default.disable_ipv6=0",
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
            "net.ipv6.conf.default.accept_ra=0",
        ] {
            pair.sysctl(&pair.inner, key);
        }

        // Create the veth pair directly inside the namespaces: nothing appears on the host.
        pair.ip(
            &pair.inner,
            &[
                "link",
                "add",
                INNER_IF,
                "type",
                "veth",
                "peer",
                "name",
                OUTER_IF,
                "netns",
                &pair.outer,
            ],
        );
        pair.ip(&pair.inner, &["link", "set", "lo", "up"]);
        pair.ip(&pair.inner, &["link", "set", INNER_IF, "up"]);
        pair.ip(&pair.outer, &["link", "set", OUTER_IF, "up"]);
        pair.ip(&pair.inner, &["addr", "add", INNER_V4, "dev", INNER_IF]);
        pair.ip(
            &pair.inner,
            &["-6", "addr", "add", INNER_V6, "dev", INNER_IF, "nodad"],
        );
        pair.ip(&pair.inner, &["route", "add", "default", "dev", INNER_IF]);
        pair.ip(
            &pair.inner,
            &["-6", "route", "add", "default", "dev", INNER_IF],
        );

        pair.assert_outer_is_dead_end();
        pair
    }

    /// A command that runs `program` inside namespace A (`ip netns exec A program`).
    pub fn exec_inner(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(tool("ip"));
        command.args(["netns", "exec", &self.inner]).arg(program);
        command
    }

    /// Runs `ip -n <ns> <args>`, panicking on failure; returns stdout.
    pub fn ip(&self, ns: &str, args: &[&str]) -> String {
        run_ok(Command::new(tool("ip")).args(["-n", ns]).args(args))
    }

    /// Panics unless namespace B has no IPv4/IPv6 address, no route and no forwarding: the
    /// property that makes every connect from A a dead end inside this machine.
    pub fn assert_outer_is_dead_end(&self) {
        let addresses = self.ip(&self.outer, &["-o", "addr", "show"]);
        assert!(
            !addresses.contains(" inet"),
            "namespace {} must hold no address, but has:\n{addresses}",
            self.outer
        );
        for family in ["-4", "-6"] {
            let routes = self.ip(&self.outer, &[family, "route", "show", "table", "all"]);
            let routes: Vec<&str> = routes.lines().filter(|l| !l.trim().is_empty()).collect();
            assert!(
                routes.is_empty(),
                "namespace {} must have no {family} route: {routes:?}",
                self.outer
            );
        }
        let forward = run_ok(
            Command::new(tool("ip"))
                .args(["netns", "exec", &self.outer])
                .arg(tool("sysctl"))
                .args(["-n", "net.ipv4.ip_forward"]),
        );
        assert_eq!(
            forward.trim(),
            "0",
            "namespace {} must not forward",
            self.outer
        );
    }

    /// Packets received by the veth end in namespace B (where every probe from A ends up).
    pub fn outer_rx_packets(&self) -> u64 {
        let path = format!("/sys/class/net/{OUTER_IF}/statistics/rx_packets");
        let text = run_ok(
            Command::new(tool("ip"))
                .args(["netns", "exec", &self.outer])
                .args([Path::new("/bin/cat"), Path::new(&path)]),
        );
        text.trim()
            .parse()
            .unwrap_or_else(|e| panic!("bad rx_packets {text:?}: {e}"))
    }

    /// Pids of the processes whose network namespace is `ns`.
    pub fn pids(ns: &str) -> Vec<i32> {
        let out = cmd::run_bounded(
            Command::new(tool("ip")).args(["netns", "pids", ns]),
            cmd::SHORT,
        );
        out.stdout
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    fn sysctl(&self, ns: &str, key_value: &str) {
        run_ok(
            Command::new(tool("ip"))
                .args(["netns", "exec", ns])
                .arg(tool("sysctl"))
                .args(["-qw", key_value]),
        );
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        for ns in [&self.inner, &self.outer] {
            destroy(ns);
        }
    }
}

/// Kills every process in `ns` (bounded) and deletes it. Never panics: it runs in `Drop`.
fn destroy(ns: &str) {
    if !Path::new("/run/netns").join(ns).exists() {
        return;
    }
    let gone = wait::poll(Duration::from_secs(5), Duration::from_millis(50), || {
        let pids = NetnsPair::pids(ns);
        for pid in &pids {
            cmd::signal(*pid, libc::SIGKILL);
        }
        pids.is_empty().then_some(())
    });
    if gone.is_none() {
        eprintln!("warning: processes still in namespace {ns} after 5 s of SIGKILL");
    }
    let out = cmd::run_bounded(
        Command::new(tool("ip")).args(["netns", "del", ns]),
        cmd::SHORT,
    );
    if !out.status.success() {
        eprintln!(
            "warning: cannot delete namespace {ns}: {}",
            out.stderr.trim()
        );
    }
}

/// Deletes `sst-<pid>-*` namespaces whose creating test process no longer exists.
fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            eprintln!("removing stale namespace {name} (its test process {pid} is gone)");
            destroy(&name);
        }
    }
}
