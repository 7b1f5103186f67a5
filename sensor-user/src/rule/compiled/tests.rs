use std::net::IpAddr;

use super::*;
use crate::event::{Destination, Event, Process};
use crate::rule::file;
use crate::rule::seed::{EXCLUDED_CIDRS, EXCLUDED_EXECUTABLES, EXCLUDED_IP, EXCLUDED_NAMES};
use crate::rule::{Engine, Limits, RuleConfig};

const V4: &str = include_str!("../profiles/persistence_ssh_netcon.v4.toml");
const LATEST: &str = include_str!("../profiles/persistence_ssh_netcon.latest.toml");

fn compiled(text: &str) -> CompiledRule {
    CompiledRule::compile(&file::parse(text, "rule.toml").expect("parses")).expect("compiles")
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }

    fn maybe(&mut self, items: &[&str]) -> Option<String> {
        if self.next().is_multiple_of(5) {
            None
        } else {
            Some((*self.pick(items)).to_owned())
        }
    }
}

const IPS: &[&str] = &[
    "8.8.8.8",
    "0.0.0.0",
    "10.0.0.1",
    "9.255.255.255",
    "11.0.0.0",
    "172.16.0.0",
    "172.15.255.255",
    "172.32.0.0",
    "172.31.255.255",
    "127.0.0.1",
    "192.0.0.9",
    "192.0.0.11",
    "192.0.0.170",
    "224.0.0.1",
    "223.255.255.255",
    "100.64.0.1",
    "100.128.0.0",
    "198.51.100.7",
    "::1",
    "::2",
    "fe80::1",
    "febf::1",
    "fec0::1",
    "ff02::1",
    "2001:db8::1",
    "::",
    "fc00::1",
    "::ffff:10.0.0.1",
    "::ffff:8.8.8.8",
];

fn event(g: &mut Gen) -> Event {
    let executable = g.maybe(&[
        "/usr/bin/curl",
        "/bin/yum",
        "/usr/bin/yum",
        "/usr/bin/YUM",
        "/tmp/x",
        "/tmpx/a",
        "./a",
        "/home/u/.x",
        "/dev/shm/nc",
    ]);
    let name = g.maybe(&[
        "curl",
        "ssh",
        "SSH",
        "sshd",
        "sshd-session",
        "login_duo",
        "sqlplus",
        "nc",
        "NC",
        ".x",
        "run.SH",
        "a.lua5.4",
        "a.js",
        ".js",
        "socat",
    ]);
    let args = match g.next() % 6 {
        0 => None,
        1 => Some(vec!["python3".into(), "-c".into(), "ansible_x".into()]),
        2 => Some(vec![
            "sh".into(),
            "-c".into(),
            "echo BECOME-SUCCESS-abc".into(),
        ]),
        3 => Some(vec!["sh".into(), "-c".into(), "echo become-success".into()]),
        4 => Some(vec![]),
        _ => Some(vec!["bash".into()]),
    };
    Event {
        timestamp: 0,
        host_id: g.maybe(&["h1", "h2"]),
        host_name: None,
        host_os_type: g.maybe(&["linux", "Linux", "windows"]),
        category: match g.next() % 4 {
            0 => vec![],
            1 => vec!["process".into()],
            2 => vec!["network".into()],
            _ => vec!["network".into(), "process".into()],
        },
        event_type: match g.next() % 3 {
            0 => vec!["start".into()],
            1 => vec!["end".into()],
            _ => vec!["info".into(), "start".into()],
        },
        action: g.maybe(&["exec", "connection_attempted", "fork", "EXEC"]),
        process: Process {
            executable,
            name,
            args,
            entity_id: g.maybe(&["e1", "e2"]),
            ..Process::default()
        },
        parent: Process {
            executable: g.maybe(&["/usr/sbin/sshd", "/usr/sbin/SSHD", "/bin/bash"]),
            entity_id: g.maybe(&["e1", "e2"]),
            ..Process::default()
        },
        destination: Destination {
            ip: g
                .maybe(IPS)
                .map(|s| normalize_ip(s.parse::<IpAddr>().expect("ip"))),
            port: Some(443),
        },
        ..Event::default()
    }
}

/// The compiled v4 file decides both stages exactly as the hand-written engine does.
#[test]
fn compiled_v4_agrees_with_the_hand_written_stages() {
    let rule = compiled(V4);
    let engine = Engine::new(RuleConfig::default(), Limits::default());
    let mut g = Gen(0x5eed_1234_abcd_0001);
    let (mut s1, mut s2) = (0, 0);
    for i in 0..200_000 {
        let e = event(&mut g);
        let (a, b) = (rule.stage1.matches(&e), engine.is_stage1(&e));
        assert_eq!(a, b, "stage 1 of event {i}: {e:?}");
        let (a, b) = (rule.stage2.matches(&e), engine.is_stage2(&e));
        assert_eq!(a, b, "stage 2 of event {i}: {e:?}");
        s1 += usize::from(a);
        s2 += usize::from(b);
    }
    assert!(
        s1 > 100 && s2 > 100,
        "the generator reaches both stages: {s1} {s2}"
    );
}

#[test]
fn the_prefilters_derive_from_the_conditions() {
    for (name, text, extra_name) in [("v4", V4, None), ("latest", LATEST, Some("sqlplus"))] {
        let rule = compiled(text);
        assert_eq!(rule.maxspan_ns, 1_000_000_000, "{name}");
        assert_eq!(
            rule.parent_executables(),
            Some(vec!["/usr/sbin/sshd".to_owned()]),
            "{name}"
        );
        let ex = rule.stage2_exclusions();
        assert!(ex.null_destination, "{name}");
        let mut want: Vec<IpNetwork> = EXCLUDED_CIDRS
            .iter()
            .chain([&EXCLUDED_IP])
            .map(|c| c.parse().expect("cidr"))
            .collect();
        let mut got = ex.networks.clone();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{name}");
        assert_eq!(ex.executables, EXCLUDED_EXECUTABLES, "{name}");
        let mut names: Vec<&str> = EXCLUDED_NAMES.to_vec();
        names.extend(extra_name);
        assert_eq!(ex.names, names, "{name}");
    }
}

#[test]
fn the_latest_rule_means_what_elastic_wrote() {
    let rule = compiled(LATEST);
    let base = |exe: &str, name: &str| Event {
        host_id: Some("h".into()),
        host_os_type: Some("linux".into()),
        category: vec!["network".into()],
        event_type: vec!["start".into()],
        action: Some("connection_attempted".into()),
        process: Process {
            executable: Some(exe.into()),
            name: Some(name.into()),
            ..Process::default()
        },
        destination: Destination {
            ip: Some("8.8.8.8".parse().expect("ip")),
            port: Some(443),
        },
        ..Event::default()
    };
    let cases = [
        ("/tmp/x", "x", true),
        ("/tmpx/a", "a", false),
        ("/usr/bin/curl", "curl", false),
        ("/usr/bin/nc", "NC", true),
        ("/usr/bin/x", ".hidden", true),
        ("/usr/bin/x", "run.SH", true),
        ("/usr/bin/x", "a.lua5.4", true),
        ("/usr/bin/x", "a.js", false),
        ("/usr/bin/x", ".js", true),
        ("/home/u/sqlplus", "sqlplus", false),
        ("/home/u/ssh", "ssh", false),
        ("/home/u/SSH", "SSH", true),
    ];
    for (exe, name, alerts) in cases {
        assert_eq!(
            rule.stage2.matches(&base(exe, name)),
            alerts,
            "{exe} {name}"
        );
    }
    let shell = |args: &[&str]| Event {
        host_os_type: Some("linux".into()),
        category: vec!["process".into()],
        event_type: vec!["start".into()],
        action: Some("exec".into()),
        process: Process {
            args: Some(args.iter().map(|a| (*a).to_owned()).collect()),
            ..Process::default()
        },
        parent: Process {
            executable: Some("/usr/sbin/sshd".into()),
            ..Process::default()
        },
        ..Event::default()
    };
    assert!(rule.stage1.matches(&shell(&["bash"])));
    assert!(
        rule.stage1.matches(&shell(&[])),
        "no args: command_line is null, `not like` holds"
    );
    assert!(
        !rule
            .stage1
            .matches(&shell(&["sh", "-c", "echo BECOME-SUCCESS-x"]))
    );
    assert!(
        !rule
            .stage1
            .matches(&shell(&["/usr/bin/python3", "/tmp/ansible_x.py"]))
    );
    assert!(
        rule.stage1
            .matches(&shell(&["sh", "-c", "echo become-success"])),
        "like is case-sensitive"
    );
}

#[test]
fn what_the_events_cannot_answer_is_refused_at_compile_time() {
    let with = |stage2: &str| {
        V4.replacen(
            "event.action == \"connection_attempted\" and",
            &format!("event.action == \"connection_attempted\" and {stage2} and"),
            1,
        )
    };
    let cases = [
        (
            "process.hash.sha256 == \"x\"",
            "do not carry `process.hash.sha256`",
        ),
        (
            "destination.ip like \"10.*\"",
            "`like` needs a keyword field",
        ),
        ("process.name == 3", "holds strings"),
        ("destination.port == \"443\"", "holds integers"),
        ("destination.ip == \"not-an-ip\"", "holds IP addresses"),
        (
            "cidrmatch(process.name, \"10.0.0.0/8\")",
            "needs an address field",
        ),
        (
            "cidrmatch(destination.ip, \"10.0.0.0/33\")",
            "is not a CIDR",
        ),
    ];
    for (stage2, says) in cases {
        let text = with(stage2);
        let parsed = file::parse(&text, "rule.toml").expect("parses");
        let err = CompiledRule::compile(&parsed).expect_err(stage2);
        assert!(err.message.contains(says), "{stage2}: {err}");
    }
    let by = V4.replacen("] by process.parent.entity_id", "] by process.entity_id", 1);
    let err = CompiledRule::compile(&file::parse(&by, "r").expect("parses")).expect_err("join");
    assert!(
        err.message
            .contains("stage 2 must be `by process.parent.entity_id`"),
        "{err}"
    );
}

/// A user's edited copy: an extra exclusion and another maxspan.
#[test]
fn an_edited_copy_compiles_to_its_own_meaning() {
    let edited = V4.replacen("maxspan=1s", "maxspan=3s", 1).replacen(
        "\"sshd-session\")",
        "\"sshd-session\", \"backup-agent\")",
        1,
    );
    let rule = compiled(&edited);
    assert_eq!(rule.maxspan_ns, 3_000_000_000);
    assert!(
        rule.stage2_exclusions()
            .names
            .contains(&"backup-agent".to_owned())
    );
    let e = Event {
        host_os_type: Some("linux".into()),
        category: vec!["network".into()],
        event_type: vec!["start".into()],
        action: Some("connection_attempted".into()),
        process: Process {
            name: Some("backup-agent".into()),
            ..Process::default()
        },
        destination: Destination {
            ip: Some("8.8.8.8".parse().expect("ip")),
            port: Some(443),
        },
        ..Event::default()
    };
    assert!(!rule.stage2.matches(&e));
    assert!(compiled(V4).stage2.matches(&e));
}

#[test]
fn shows_as_eql_again() {
    let rule = compiled(V4);
    let text = rule.stage2.cond.to_string();
    assert!(
        text.contains("cidrmatch(destination.ip, \"10.0.0.0/8\""),
        "{text}"
    );
    assert!(
        text.contains("process.name in (\"login_duo\", \"ssh\", \"sshd\", \"sshd-session\")"),
        "{text}"
    );
    assert!(text.contains("destination.ip == null"), "{text}");
    assert!(text.contains("host.os.type == \"linux\""), "{text}");
}

/// Stage 1's condition with its `and` operands written costliest first.
const STAGE1_V4: &str = "host.os.type == \"linux\" and event.type == \"start\" and event.action == \"exec\" and\n   process.parent.executable == \"/usr/sbin/sshd\"";

/// An `and`'s operands are ordered by their cost rank (action; type and OS; value lists; other
/// field tests; compound terms), equal ranks in the order written, as `rule show` prints them.
#[test]
fn an_and_puts_its_cheapest_operands_first() {
    assert!(V4.contains(STAGE1_V4));
    let written = "(process.name == \"a\" or process.name == \"b\") and not (process.name == \"c\") and \
         cidrmatch(destination.ip, \"10.0.0.0/8\") and process.name like \"x*\" and \
         destination.ip == \"1.2.3.4\" and destination.port == 22 and \
         process.parent.executable == \"/usr/sbin/sshd\" and event.type == \"start\" and \
         host.os.type == \"linux\" and event.action == \"exec\"";
    let rule = compiled(&V4.replacen(STAGE1_V4, written, 1));
    assert_eq!(
        rule.stage1.cond.to_string(),
        "(event.action == \"exec\" and event.type == \"start\" and host.os.type == \"linux\" and \
         destination.ip == \"1.2.3.4\" and destination.port == 22 and \
         process.parent.executable == \"/usr/sbin/sshd\" and \
         cidrmatch(destination.ip, \"10.0.0.0/8\") and process.name like (\"x*\") and \
         (process.name == \"a\" or process.name == \"b\") and not process.name == \"c\")"
    );
}

/// Tuning with parent executables adds stage 1's parent test when the rule has none.
#[test]
fn tuning_adds_a_parent_test_the_rule_lacks() {
    let without = V4.replacen(
        STAGE1_V4,
        "host.os.type == \"linux\" and event.type == \"start\" and event.action == \"exec\"",
        1,
    );
    let rule = compiled(&without);
    assert_eq!(rule.parent_executables(), None);
    let parents = ["/usr/sbin/sshd-session".to_owned()];
    let tuned = rule.tuned(&Tuning {
        parent_executables: Some(&parents),
        ..Tuning::default()
    });
    assert_eq!(tuned.parent_executables(), Some(parents.to_vec()));
    assert_eq!(
        tuned.stage1.cond.to_string(),
        "(event.action == \"exec\" and host.os.type == \"linux\" and event.type == \"start\" \
         and process.parent.executable == \"/usr/sbin/sshd-session\")"
    );
}

/// An event answers each integer and address field from its own value (addresses normalised),
/// and nothing for a field of another kind.
#[test]
fn an_event_answers_its_integer_and_address_fields() {
    let e = Event {
        process: Process {
            pid: Some(11),
            name: Some("curl".into()),
            ..Process::default()
        },
        parent: Process {
            pid: Some(12),
            ..Process::default()
        },
        destination: Destination {
            ip: Some("::ffff:8.8.8.8".parse().expect("ip")),
            port: Some(443),
        },
        source: Destination {
            ip: Some("10.0.0.1".parse().expect("ip")),
            port: Some(5000),
        },
        ..Event::default()
    };
    assert_eq!(e.int(Field::ProcessPid), Some(11));
    assert_eq!(e.int(Field::ParentPid), Some(12));
    assert_eq!(e.int(Field::DestinationPort), Some(443));
    assert_eq!(e.int(Field::SourcePort), Some(5000));
    assert_eq!(e.int(Field::ProcessName), None);
    assert_eq!(
        e.ip(Field::DestinationIp),
        Some("8.8.8.8".parse().expect("ip"))
    );
    assert_eq!(e.ip(Field::SourceIp), Some("10.0.0.1".parse().expect("ip")));
    assert_eq!(e.ip(Field::ProcessName), None);
    let none = Event::default();
    assert_eq!(none.int(Field::ProcessPid), None);
    assert_eq!(none.ip(Field::SourceIp), None);
}
