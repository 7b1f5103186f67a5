//! The seed rule's literals (Elastic's v4 query, `difftest/seed-rule-v4.txt`), typed by hand
//! for tests: expectations written independently of the compiled rule that the product derives
//! from the embedded TOML, so a wrong parse or derivation cannot agree with itself.

/// The rule's maxspan: 1 s, inclusive.
pub const MAXSPAN_NS: i64 = 1_000_000_000;

/// `cidrmatch(destination.ip, ...)` ranges, in the seed's order and spelling.
pub const EXCLUDED_CIDRS: &[&str] = &[
    "10.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.0.0/29",
    "192.0.0.8/32",
    "192.0.0.9/32",
    "192.0.0.10/32",
    "192.0.0.170/32",
    "192.0.0.171/32",
    "192.0.2.0/24",
    "192.31.196.0/24",
    "192.52.193.0/24",
    "192.168.0.0/16",
    "192.88.99.0/24",
    "224.0.0.0/4",
    "100.64.0.0/10",
    "192.175.48.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "240.0.0.0/4",
    "::1",
    "FE80::/10",
    "FF00::/8",
    "172.31.0.0/16",
];

/// `destination.ip == "0.0.0.0"`.
pub const EXCLUDED_IP: &str = "0.0.0.0";

/// `process.executable in (...)`
pub const EXCLUDED_EXECUTABLES: &[&str] = &["/bin/yum", "/usr/bin/yum"];

/// `process.name in (...)`
pub const EXCLUDED_NAMES: &[&str] = &["login_duo", "ssh", "sshd", "sshd-session"];
