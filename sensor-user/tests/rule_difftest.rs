//! Differential test of the compiled rule files against Elastic's reference EQL implementation,
//! the Python package `eql` 1.0.1 (`difftest/stage_oracle.py`): for both embedded rules (v4 and
//! Elastic's latest rewrite) and a user's edited copy, every generated event is judged by each
//! stage's condition on both sides, and the sets of events that satisfy each stage must be
//! equal. The events stress what the rules test: ansible and BECOME-SUCCESS command lines and
//! near misses, executables under each listed directory and just outside, names with leading
//! dots, mixed case, `*.lua5.4` and `.js`, the excluded names and executables, and addresses on
//! both sides of every excluded range. Fields are always present and single-valued, where eql
//! 1.0.1 departs from Elasticsearch (missing fields, lists); the unit tests in
//! `src/rule/compiled/` cover those. Fails, never skips, without Python and eql (run
//! `cargo xtask setup`). `RULE_DIFFTEST_EVENTS` sets the events per rule (default 1,000,000 for
//! each embedded rule, 250,000 for the edited copy).

use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[path = "../../difftest/generator.rs"]
#[expect(dead_code, reason = "only its random numbers are used here")]
mod generator;

use generator::Rng;
use serde_json::json;
use sshd_sensor::event::{Destination, Event, Process};
use sshd_sensor::rule::compiled::CompiledRule;
use sshd_sensor::rule::exclusions::normalize_ip;
use sshd_sensor::rule::file;

const DEFAULT_EVENTS: u64 = 1_000_000;
/// Events for the edited copy, which differs from `latest` in two lists and the maxspan only.
const EDITED_EVENTS: u64 = 250_000;
/// Events per Python process; two run at a time.
const BATCH: u64 = 125_000;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn python() -> PathBuf {
    std::env::var_os("DIFFTEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("difftest/.venv/bin/python"))
}

fn profile(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "src/rule/profiles/persistence_ssh_netcon.{name}.toml"
    ))
}

const OS: &[&str] = &["linux", "linux", "linux", "Linux", "windows"];
const TYPES: &[&str] = &["start", "start", "start", "end"];
const PARENTS: &[&str] = &[
    "/usr/sbin/sshd",
    "/usr/sbin/sshd",
    "/usr/sbin/SSHD",
    "/usr/sbin/sshd-session",
    "/bin/bash",
];
const WORDS: &[&str] = &[
    "sh",
    "-c",
    "bash",
    "curl",
    "ansible",
    "ANSIBLE",
    "ansibl",
    "x-ansible-y",
    "/tmp/ansible_mod.py",
    "BECOME-SUCCESS-abc",
    "echo BECOME-SUCCESS",
    "become-success",
    "BECOME_SUCCESS",
    "BECOME-SUCCES",
    "python3",
    "*",
    "?",
    "",
];
const NEAR_DIRS: &[&str] = &[
    "/tmpx/",
    "/TMP/",
    "/var/tmpx/",
    "/dev/shmx/",
    ".",
    "/runx/",
    "/usr/bin/",
    "/bin/",
    "/usr/sbin/",
    "/root",
    "/home",
    "/rootx/",
    "/lost+found",
    "/var/www",
];
/// Names beyond the generator's [`generator::EXE_NAMES`]: more case and suffix variants, and
/// the extra name the edited copy excludes (`backup-agent`).
const MORE_NAMES: &[&str] = &["x.ELF", "x.sh.bak", "a.pl", "a.php7", "backup-agent"];
const IPS: &[&str] = &[
    "8.8.8.8",
    "1.1.1.1",
    "0.0.0.0",
    "0.0.0.1",
    "10.0.0.0",
    "10.255.255.255",
    "9.255.255.255",
    "11.0.0.0",
    "127.0.0.1",
    "126.255.255.255",
    "128.0.0.0",
    "169.254.1.1",
    "169.253.255.255",
    "172.16.0.0",
    "172.15.255.255",
    "172.31.255.255",
    "172.32.0.0",
    "172.20.1.1",
    "192.0.0.7",
    "192.0.0.8",
    "192.0.0.11",
    "192.0.0.170",
    "192.0.0.172",
    "192.0.2.255",
    "192.0.3.0",
    "192.168.1.1",
    "192.169.0.0",
    "224.0.0.0",
    "223.255.255.255",
    "239.255.255.255",
    "240.0.0.1",
    "255.255.255.255",
    "100.64.0.0",
    "100.63.255.255",
    "100.127.255.255",
    "100.128.0.0",
    "198.18.0.1",
    "198.20.0.0",
    "198.51.100.1",
    "203.0.113.9",
    "203.0.114.0",
    "::1",
    "::2",
    "::",
    "fe80::1",
    "febf:ffff::1",
    "fec0::1",
    "ff00::1",
    "feff::1",
    "2001:db8::1",
    "fc00::1",
    "2606:4700::1111",
];

/// One generated event: the JSON document both sides read, and the event the engine reads.
fn generate(rng: &mut Rng, id: u64) -> (serde_json::Value, Event) {
    let category = if rng.next().is_multiple_of(2) {
        "process"
    } else {
        "network"
    };
    let action = match rng.next() % 8 {
        0 => "fork",
        1..=3 => "exec",
        _ => "connection_attempted",
    };
    let os = *rng.pick(OS);
    let kind = *rng.pick(TYPES);
    let parent = *rng.pick(PARENTS);
    let args: Vec<String> = (0..=(rng.next() % 4))
        .map(|_| (*rng.pick(WORDS)).to_owned())
        .collect();
    let command_line = args.join(" ");
    let pick = rng.below((generator::EXE_NAMES.len() + MORE_NAMES.len()) as u64) as usize;
    let name = match generator::EXE_NAMES.get(pick) {
        Some(name) => *name,
        None => MORE_NAMES[pick - generator::EXE_NAMES.len()],
    };
    let dir = if rng.next().is_multiple_of(2) {
        *rng.pick(generator::SUSPICIOUS_DIRS)
    } else {
        *rng.pick(NEAR_DIRS)
    };
    let executable = match rng.next() % 10 {
        0 => "/bin/yum".to_owned(),
        1 => "/usr/bin/yum".to_owned(),
        2 => dir.to_owned(),
        _ => format!("{dir}{name}"),
    };
    let ip = *rng.pick(IPS);
    let doc = json!({
        "id": id,
        "host": {"id": "h", "os": {"type": os}},
        "event": {"type": kind, "action": action, "category": category},
        "process": {
            "executable": executable,
            "name": name,
            "command_line": command_line,
            "entity_id": "e",
            "parent": {"executable": parent, "entity_id": "p"},
        },
        "lc": {"process": {"name": name.to_lowercase(), "executable": executable.to_lowercase()}},
        "destination": {"ip": ip, "port": 443},
    });
    let event = Event {
        host_id: Some("h".into()),
        host_os_type: Some(os.into()),
        category: vec![category.into()],
        event_type: vec![kind.into()],
        action: Some(action.into()),
        process: Process {
            executable: Some(executable),
            name: Some(name.into()),
            args: Some(args),
            entity_id: Some("e".into()),
            ..Process::default()
        },
        parent: Process {
            executable: Some(parent.into()),
            entity_id: Some("p".into()),
            ..Process::default()
        },
        destination: Destination {
            ip: Some(normalize_ip(ip.parse::<IpAddr>().expect("ip"))),
            port: Some(443),
        },
        ..Event::default()
    };
    (doc, event)
}

/// Generates one batch, judges it on both sides, and returns how many events satisfied each
/// stage; panics with the disagreeing documents.
fn run_batch(
    rule_path: &Path,
    rule: &CompiledRule,
    seed: u64,
    first_id: u64,
    count: u64,
) -> (u64, u64) {
    let mut rng = Rng::new(seed);
    let mut child = Command::new(python())
        .arg(repo_root().join("difftest/stage_oracle.py"))
        .arg(rule_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): install Python and eql 1.0.1 with `cargo xtask setup`",
                python().display()
            )
        });
    let mut ours = [Vec::new(), Vec::new()];
    {
        let mut stdin = std::io::BufWriter::new(child.stdin.take().expect("stdin"));
        for id in first_id..first_id + count {
            let (doc, event) = generate(&mut rng, id);
            let category = doc["event"]["category"]
                .as_str()
                .expect("category")
                .to_owned();
            writeln!(stdin, "{}", json!({"id": id, "t": category, "e": doc}))
                .expect("write to python");
            if rule.stage1.matches(&event) {
                ours[0].push(id);
            }
            if rule.stage2.matches(&event) {
                ours[1].push(id);
            }
        }
    }
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut theirs = [Vec::new(), Vec::new()];
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(&line.expect("read")).expect("json");
        if let Some(stage) = v["stage"].as_u64() {
            theirs[stage as usize - 1] = v["ids"]
                .as_array()
                .expect("ids")
                .iter()
                .map(|x| x.as_u64().expect("id"))
                .collect();
        }
    }
    let status = child.wait().expect("wait for python");
    assert!(
        status.success(),
        "the oracle failed ({status}) on batch seed {seed:#x}"
    );
    for stage in 0..2 {
        theirs[stage].sort_unstable();
        if ours[stage] != theirs[stage] {
            let only_ours: Vec<_> = ours[stage]
                .iter()
                .filter(|i| theirs[stage].binary_search(i).is_err())
                .take(3)
                .collect();
            let only_theirs: Vec<_> = theirs[stage]
                .iter()
                .filter(|i| ours[stage].binary_search(i).is_err())
                .take(3)
                .collect();
            let mut rng = Rng::new(seed);
            let show = |wanted: &[&u64], rng: &mut Rng| {
                let mut docs = Vec::new();
                for id in first_id..first_id + count {
                    let (doc, _) = generate(rng, id);
                    if wanted.contains(&&id) {
                        docs.push(doc.to_string());
                    }
                }
                docs.join("\n")
            };
            panic!(
                "stage {} of {}: the compiled rule and eql 1.0.1 disagree\nonly the sensor matched:\n{}\nonly eql matched:\n{}",
                stage + 1,
                rule_path.display(),
                show(&only_ours, &mut rng),
                show(&only_theirs, &mut Rng::new(seed)),
            );
        }
    }
    (ours[0].len() as u64, ours[1].len() as u64)
}

fn difftest(rule_path: &Path, default_events: u64) {
    let text = std::fs::read_to_string(rule_path).expect("rule file");
    let parsed = file::parse(&text, &rule_path.display().to_string()).expect("parses");
    let rule = CompiledRule::compile(&parsed).expect("compiles");
    let events: u64 = std::env::var("RULE_DIFFTEST_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_events);
    let batches = events.div_ceil(BATCH);
    let totals = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        let mut totals = (0, 0);
        for b in 0..batches {
            let count = BATCH.min(events - b * BATCH);
            let rule = &rule;
            handles.push(scope.spawn(move || {
                run_batch(rule_path, rule, 0x5eed_1000 + b * 7919, b * BATCH, count)
            }));
            if handles.len() == 2 {
                let (s1, s2) = handles.remove(0).join().expect("batch");
                totals = (totals.0 + s1, totals.1 + s2);
            }
        }
        for h in handles {
            let (s1, s2) = h.join().expect("batch");
            totals = (totals.0 + s1, totals.1 + s2);
        }
        totals
    });
    eprintln!(
        "{}: {events} events, stage 1 matched {}, stage 2 matched {}, 0 disagreements",
        rule_path.display(),
        totals.0,
        totals.1
    );
    assert!(
        totals.0 > events / 100 && totals.1 > events / 1000,
        "the generator reaches both stages: {totals:?}"
    );
}

#[test]
fn v4_agrees_with_eql() {
    difftest(&profile("v4"), DEFAULT_EVENTS);
}

#[test]
fn latest_agrees_with_eql() {
    difftest(&profile("latest"), DEFAULT_EVENTS);
}

/// A user's edited copy of the latest rule: an extra excluded name and a longer maxspan.
#[test]
fn an_edited_copy_agrees_with_eql() {
    let text = std::fs::read_to_string(profile("latest"))
        .expect("latest")
        .replacen("maxspan=1s", "maxspan=5s", 1)
        .replacen("\"sqlplus\"", "\"sqlplus\", \"backup-agent\", \"SOCAT\"", 1);
    let dir = std::env::temp_dir().join(format!("rule-difftest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("edited.toml");
    std::fs::write(&path, text).expect("write the edited rule");
    difftest(&path, EDITED_EVENTS);
    let _ = std::fs::remove_dir_all(&dir);
}
