//! The rule as data: Elastic's "Network Connection Initiated by SSHD Child Process", version 4,
//! exactly as the seed gives it (identity, metadata, MITRE mapping, the 27 excluded ranges, the
//! excluded executables and names). Nothing here can be turned off by configuration; users
//! only add to it.

pub const RULE_ID: &str = "63431796-f813-43af-820b-492ee2efec8e";
pub const RULE_NAME: &str = "Network Connection Initiated by SSHD Child Process";
pub const RULE_VERSION: &str = "4";
pub const RULE_DESCRIPTION: &str = "This rule identifies an egress internet connection initiated by an SSH Daemon child \
process. This behavior is indicative of the alteration of a shell configuration file or other mechanism that launches \
a process when a new SSH login occurs. Attackers can also backdoor the SSH daemon to allow for persistence, call out to \
a C2 or to steal credentials.";
pub const RULE_REFERENCE: &str = "https://hadess.io/the-art-of-linux-persistence/";
pub const RULE_AUTHOR: &str = "Elastic";
pub const RULE_LICENSE: &str = "Elastic License v2";
pub const RULE_RULESET: &str = "elastic-prebuilt (reimplemented by sshd-sensor)";
pub const RULE_SEVERITY: &str = "medium";
pub const RISK_SCORE: u32 = 47;
pub const TAGS: &[&str] = &[
    "Domain: Endpoint",
    "OS: Linux",
    "Use Case: Threat Detection",
    "Tactic: Persistence",
    "Data Source: Elastic Defend",
    "Resources: Investigation Guide",
];

/// The rule's maxspan: 1 s, inclusive.
pub const MAXSPAN_NS: i64 = 1_000_000_000;

/// Default `process.parent.executable` of stage 1.
pub const DEFAULT_PARENT_EXECUTABLE: &str = "/usr/sbin/sshd";

/// Kibana's "max alerts per execution", kept as a rate cap: alerts per window.
pub const MAX_ALERTS_PER_WINDOW: u32 = 100;
/// The window of the rate cap: the rule's 5-minute schedule.
pub const ALERT_WINDOW_NS: i64 = 300 * 1_000_000_000;

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

/// One MITRE ATT&CK entry of the rule's `threat` array.
#[derive(Clone, Copy, Debug)]
pub struct Threat {
    /// (id, name, reference)
    pub tactic: (&'static str, &'static str, &'static str),
    pub techniques: &'static [Technique],
}

#[derive(Clone, Copy, Debug)]
pub struct Technique {
    pub id: &'static str,
    pub name: &'static str,
    pub reference: &'static str,
    /// (id, name, reference)
    pub subtechniques: &'static [(&'static str, &'static str, &'static str)],
}

pub const THREAT_FRAMEWORK: &str = "MITRE ATT&CK";

/// Every tactic, technique and sub-technique of the seed.
pub const THREATS: &[Threat] = &[
    Threat {
        tactic: (
            "TA0003",
            "Persistence",
            "https://attack.mitre.org/tactics/TA0003/",
        ),
        techniques: &[Technique {
            id: "T1546",
            name: "Event Triggered Execution",
            reference: "https://attack.mitre.org/techniques/T1546/",
            subtechniques: &[(
                "T1546.004",
                "Unix Shell Configuration Modification",
                "https://attack.mitre.org/techniques/T1546/004/",
            )],
        }],
    },
    Threat {
        tactic: (
            "TA0008",
            "Lateral Movement",
            "https://attack.mitre.org/tactics/TA0008/",
        ),
        techniques: &[
            Technique {
                id: "T1021",
                name: "Remote Services",
                reference: "https://attack.mitre.org/techniques/T1021/",
                subtechniques: &[(
                    "T1021.004",
                    "SSH",
                    "https://attack.mitre.org/techniques/T1021/004/",
                )],
            },
            Technique {
                id: "T1563",
                name: "Remote Service Session Hijacking",
                reference: "https://attack.mitre.org/techniques/T1563/",
                subtechniques: &[(
                    "T1563.001",
                    "SSH Hijacking",
                    "https://attack.mitre.org/techniques/T1563/001/",
                )],
            },
        ],
    },
    Threat {
        tactic: (
            "TA0011",
            "Command and Control",
            "https://attack.mitre.org/tactics/TA0011/",
        ),
        techniques: &[],
    },
];
