//! Seeded generator of adversarial event streams for the differential test against Elastic's
//! Python EQL engine. Shared (via `#[path]`) by `sensor-user/tests/replay_difftest.rs`, which
//! runs the same streams against both embedded rules (v4 and latest); no dependencies beyond
//! serde_json. Every stream stays inside what the Python engine and Elasticsearch agree on:
//! every field the rules read is present (Python's three-valued logic on missing fields
//! differs), join keys are never null (Python joins null keys), no IPv4-mapped destinations
//! (Python does not match them against IPv4 ranges), `event.type` has one element (Python
//! compares arrays as a whole), timestamps are whole milliseconds (the engines' time units
//! differ below that). Those cases are pinned by the engine's unit tests. No value ends in a
//! newline either (Python's `$` matches before one: `"nc\n" like "nc"`).
//!
//! Besides v4's edges (parents, actions, excluded names and executables, both sides of every
//! excluded range) the streams stress latest's conditions: stage-1 command lines with
//! `ansible` and `BECOME-SUCCESS` and near misses (case, partial, split across arguments, a
//! command line that says otherwise than its arguments), and stage-2 executables under each
//! directory latest lists and just outside it, names with leading dots, mixed case, the
//! suspicious extensions and tools, and the excluded names. Our side's lines also spell some
//! strings with JSON escapes (`\/`, `\u0062`), which the Python side never sees.

use std::fmt::Write as _;

use serde_json::{Value, json};

/// xorshift64*: small, seeded, reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// One generated event: its unique id, category, time in ms, and nested document.
#[derive(Clone, Debug)]
pub struct GenEvent {
    pub id: String,
    pub category: &'static str,
    pub ms: i64,
    pub doc: Value,
}

/// Edges of every excluded range: first and last address inside, and just outside; and a point
/// in the middle of each wider range, which an edited prefix length (172.16.0.0/12 read as /16)
/// would move outside while every edge above stays where it was (172.31.0.0/16 covers the top of
/// 172.16.0.0/12).
pub const EDGE_IPS: &[&str] = &[
    "10.128.0.0",
    "127.128.0.1",
    "169.254.128.0",
    "172.17.0.0",
    "172.24.0.0",
    "172.30.255.255",
    "172.31.0.0",
    "192.0.0.4",
    "192.0.0.9",
    "192.0.0.128",
    "192.168.128.0",
    "232.0.0.0",
    "100.96.0.0",
    "198.19.0.0",
    "248.0.0.0",
    "fea0::",
    "ff80::",
    "9.255.255.255",
    "10.0.0.0",
    "10.255.255.255",
    "11.0.0.0",
    "126.255.255.255",
    "127.0.0.0",
    "127.255.255.255",
    "128.0.0.0",
    "169.253.255.255",
    "169.254.0.0",
    "169.254.255.255",
    "169.255.0.0",
    "172.15.255.255",
    "172.16.0.0",
    "172.31.255.255",
    "172.32.0.0",
    "191.255.255.255",
    "192.0.0.0",
    "192.0.0.7",
    "192.0.0.8",
    "192.0.0.10",
    "192.0.0.11",
    "192.0.0.169",
    "192.0.0.170",
    "192.0.0.171",
    "192.0.0.172",
    "192.0.0.255",
    "192.0.1.0",
    "192.0.2.0",
    "192.0.2.255",
    "192.0.3.0",
    "192.31.195.255",
    "192.31.196.0",
    "192.31.196.255",
    "192.31.197.0",
    "192.52.192.255",
    "192.52.193.0",
    "192.52.193.255",
    "192.52.194.0",
    "192.167.255.255",
    "192.168.0.0",
    "192.168.255.255",
    "192.169.0.0",
    "192.88.98.255",
    "192.88.99.0",
    "192.88.99.255",
    "192.88.100.0",
    "223.255.255.255",
    "224.0.0.0",
    "239.255.255.255",
    "240.0.0.0",
    "255.255.255.255",
    "100.63.255.255",
    "100.64.0.0",
    "100.127.255.255",
    "100.128.0.0",
    "192.175.47.255",
    "192.175.48.0",
    "192.175.48.255",
    "192.175.49.0",
    "198.17.255.255",
    "198.18.0.0",
    "198.19.255.255",
    "198.20.0.0",
    "198.51.99.255",
    "198.51.100.0",
    "198.51.100.255",
    "198.51.101.0",
    "203.0.112.255",
    "203.0.113.0",
    "203.0.113.255",
    "203.0.114.0",
    "0.0.0.0",
    "0.0.0.1",
    "::",
    "::1",
    "::2",
    "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fe80::",
    "FE80::1",
    "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fec0::",
    "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "ff00::",
    "ff02::1",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fc00::1",
    "fd12:3456::1",
    "2001:db8::1",
    "2606:4700::1111",
    "93.184.216.34",
    "1.1.1.1",
    "8.8.8.8",
];

const PARENT_EXECUTABLES: &[&str] = &[
    "/usr/sbin/sshd",
    "/usr/sbin/sshd",
    "/usr/sbin/sshd",
    "/usr/sbin/sshd",
    "/usr/sbin/SSHD",
    "/usr/sbin/sshd ",
    "/usr/lib/openssh/sshd-session",
    "/bin/bash",
    "/usr/sbin/sshd/",
];
const NAMES: &[(&str, &str)] = &[
    ("curl", "/usr/bin/curl"),
    ("curl", "/usr/bin/curl"),
    ("bash", "/usr/bin/bash"),
    ("nc", "/usr/bin/nc"),
    ("ssh", "/usr/bin/ssh"),
    ("SSH", "/usr/bin/SSH"),
    ("sshd", "/usr/sbin/sshd"),
    ("Sshd", "/usr/sbin/Sshd"),
    ("login_duo", "/usr/sbin/login_duo"),
    ("LOGIN_DUO", "/usr/sbin/LOGIN_DUO"),
    ("sshd-session", "/usr/lib/openssh/sshd-session"),
    ("sshd-Session", "/x/sshd-Session"),
    ("yum", "/bin/yum"),
    ("yum", "/usr/bin/yum"),
    ("YUM", "/USR/BIN/YUM"),
    ("yum", "/usr/bin/yum2"),
    ("python3", "/bin/yum/"),
];

/// Stage-1 arguments: ordinary, then with `ansible` or `BECOME-SUCCESS` (which latest's stage 1
/// refuses in `process.command_line`), then near misses of both, then escapes; the command line
/// is the arguments joined with spaces (see [`command_line`]).
const COMMANDS: &[&[&str]] = &[
    &["bash", "-c", "x"],
    &["bash", "-c", "x"],
    &["bash", "-c", "x"],
    &["-bash"],
    &["sh", "-c", "curl -s https://example.com/x | sh"],
    &["sh"],
    &[
        "/bin/sh",
        "-c",
        "echo BECOME-SUCCESS-qwertyuiop ; python3 /home/u/.ansible/tmp/a-1/AnsiballZ_setup.py",
    ],
    &["/bin/sh", "-c", "echo BECOME-SUCCESS-abc"],
    &["python3", "/root/.ansible/tmp/x.py"],
    &["ansible"],
    &["x", "ansible"],
    &["BECOME-SUCCESS"],
    &["sh", "-c", "'echo x;BECOME-SUCCESS'"],
    &["ANSIBLE"],
    &["Ansible-playbook", "site.yml"],
    &["ansibl", "e"],
    &["ansi ble"],
    &["ansibl"],
    &["become-success"],
    &["BECOME_SUCCESS"],
    &["BECOME-SUCCES"],
    &["BECOME-", "SUCCESS"],
    &["Become-Success"],
    &["sh", "-c", "printf '%s\n' \"a\\b\"\tansible"],
    &[
        "sh",
        "-c",
        "echo \"d\u{e9}j\u{e0} vu\" \\ BECOME-SUCCESS\u{2028}",
    ],
    &["sh", "-c", "echo \"d\u{e9}j\u{e0} vu\" \\"],
    &["bash", "-c", "*"],
    &["bash", "-c", "?"],
    &[""],
];
/// The directories latest's stage 2 lists (`process.executable like "<dir>*"`).
pub const SUSPICIOUS_DIRS: &[&str] = &[
    "/tmp/",
    "/var/tmp/",
    "/dev/shm/",
    "./",
    "/run/",
    "/var/run/",
    "/boot/",
    "/sys/",
    "/lost+found/",
    "/proc/",
    "/var/mail/",
    "/var/www/",
    "/home/",
    "/root/",
];
/// Just outside them, and ordinary places.
const OTHER_DIRS: &[&str] = &[
    "/tmpx/",
    "/TMP/",
    "/tmp",
    "/var/tmpx/",
    "/dev/shmx/",
    "/dev/",
    ".",
    "../",
    "/runx/",
    "/var/runx/",
    "/bootx/",
    "/root",
    "/home",
    "/homex/",
    "/rootx/",
    "/lost+found",
    "/lostfound/",
    "/var/www",
    "/var/mailx/",
    "/proc",
    "/usr/bin/",
    "/usr/bin/",
    "/usr/local/bin/",
    "/opt/app/",
    "tmp/",
];
/// Executable names: latest's suspicious ones (`process.name like~`) in several cases, near
/// misses, and the names both rules exclude.
pub const EXE_NAMES: &[&str] = &[
    ".x",
    ".",
    ".SSH",
    "..",
    "x.elf",
    "X.ELF",
    "run.sh",
    "run.SH",
    "Run.Sh",
    "run.sh.bak",
    "sh",
    "a.py",
    "a.rb",
    "A.PL",
    "a.lua",
    "a.lua5.4",
    "a.LUA5.4",
    "lua",
    "a.php",
    "a.PHP7",
    "a.js",
    ".js",
    ".JS",
    "js",
    "systemd",
    "SystemD",
    "cron",
    "CRON",
    "crond",
    "crondx",
    "nc",
    "NC",
    "Nc",
    "ncx",
    "xnc",
    "netcat",
    "ncat",
    "NCat",
    "telnet",
    "socat",
    "SOCAT",
    "openssl",
    "nc.openbsd",
    "NC.OpenBSD",
    "ngrok",
    "nc.traditional",
    "ssh",
    "SSH",
    "sshd",
    "sshd-session",
    "login_duo",
    "sqlplus",
    "SQLPLUS",
    "curl",
    "curl",
    "python3",
    "yum",
    "a",
    "x[1]",
    "d\u{e9}j\u{e0}",
];

/// Stage-2 `(process.name, process.executable)`: a v4 pair ([`NAMES`]) or a name under a
/// directory latest lists or one just outside it, the name sometimes not the executable's.
fn network_process(rng: &mut Rng) -> (String, String) {
    if rng.chance(30) {
        let (name, exe) = *rng.pick(NAMES);
        return (name.to_owned(), exe.to_owned());
    }
    let dir = if rng.chance(55) {
        *rng.pick(SUSPICIOUS_DIRS)
    } else {
        *rng.pick(OTHER_DIRS)
    };
    let file = *rng.pick(EXE_NAMES);
    let exe = match rng.below(20) {
        0 => dir.to_owned(),
        1 => "/bin/yum".to_owned(),
        2 => "/usr/bin/yum".to_owned(),
        _ => format!("{dir}{file}"),
    };
    let name = if rng.chance(85) {
        file
    } else {
        *rng.pick(EXE_NAMES)
    };
    (name.to_owned(), exe)
}

/// Stage-1 `(process.args, process.command_line)`: the arguments joined with spaces, except now
/// and then a command line that says otherwise (the rule reads the command line, not the
/// arguments).
fn command_line(rng: &mut Rng) -> (Vec<String>, String) {
    let args: Vec<String> = rng.pick(COMMANDS).iter().map(|a| (*a).to_owned()).collect();
    let line = if rng.chance(8) {
        rng.pick(COMMANDS).join(" ")
    } else {
        args.join(" ")
    };
    (args, line)
}

/// One stream of roughly `target` events.
pub fn stream(rng: &mut Rng, stream_id: u64, target: usize) -> Vec<GenEvent> {
    let hosts = 1 + rng.below(3);
    // Few entity ids per host: stage-1 keys repeat (replacement, pid reuse) and joins happen.
    let entities = 1 + rng.below(5);
    let mut ms: i64 = 1_700_000_000_000 + rng.below(1_000_000) as i64;
    let mut out = Vec::with_capacity(target);
    for n in 0..target {
        ms += match rng.below(12) {
            0 | 1 => 0,
            2 => 1,
            3 => 999,
            4 => 1000,
            5 => 1001,
            6 => 500,
            7 => 1500 + rng.below(1500) as i64,
            _ => rng.below(60) as i64,
        };
        let host = format!("h{}", rng.below(hosts));
        let id = format!("{stream_id}-{n}");
        let entity = |rng: &mut Rng| format!("{host}-e{}", rng.below(entities));
        let os = if rng.chance(95) {
            "linux"
        } else {
            *rng.pick(&["Linux", "windows"])
        };
        let etype = if rng.chance(92) {
            "start"
        } else {
            *rng.pick(&["end", "START", "info"])
        };
        let (category, doc) = if rng.chance(45) {
            let action = if rng.chance(90) {
                "exec"
            } else {
                *rng.pick(&["fork", "end", "EXEC"])
            };
            let (name, exe) = *rng.pick(&[
                ("bash", "/usr/bin/bash"),
                ("sh", "/bin/sh"),
                ("sshd", "/usr/sbin/sshd"),
            ]);
            let parent_entity = format!("{host}-sshd{}", rng.below(2));
            let (args, command_line) = command_line(rng);
            let doc = json!({
                "@timestamp": ms,
                "event": {"id": id, "kind": "event", "category": ["process"], "type": [etype],
                          "action": action, "module": "endpoint", "dataset": "endpoint.events.process"},
                "host": {"id": host, "name": format!("{host}.example"), "os": {"type": os}},
                "process": {
                    "pid": 1000 + rng.below(50), "entity_id": entity(rng), "executable": exe, "name": name,
                    "args": args, "command_line": command_line,
                    "parent": {"pid": 900, "entity_id": parent_entity, "executable": *rng.pick(PARENT_EXECUTABLES), "name": "sshd"},
                },
                "user": {"id": "1000", "name": "alice"},
            });
            ("process", doc)
        } else {
            let action = if rng.chance(90) {
                "connection_attempted"
            } else {
                *rng.pick(&[
                    "connection_accepted",
                    "disconnect_received",
                    "Connection_Attempted",
                ])
            };
            let (name, exe) = network_process(rng);
            let ip = *rng.pick(EDGE_IPS);
            let v6 = ip.contains(':');
            let doc = json!({
                "@timestamp": ms,
                "event": {"id": id, "kind": "event", "category": ["network"], "type": [etype],
                          "action": action, "module": "endpoint", "dataset": "endpoint.events.network"},
                "host": {"id": host, "name": format!("{host}.example"), "os": {"type": os}},
                "process": {
                    "pid": 2000 + rng.below(50), "entity_id": format!("{host}-c{n}"), "executable": exe, "name": name,
                    "parent": {"entity_id": entity(rng)},
                },
                "destination": {"ip": ip, "address": ip, "port": 443},
                "source": {"ip": if v6 { "2001:db8::10" } else { "192.0.2.10" }, "port": 50000},
                "network": {"transport": "tcp", "type": if v6 { "ipv6" } else { "ipv4" }, "direction": "egress"},
                "user": {"id": "1000", "name": "alice"},
            });
            ("network", doc)
        };
        out.push(GenEvent {
            id,
            category,
            ms,
            doc,
        });
    }
    out
}

/// The Python engine's input record: nested, integer ms, one-element arrays flattened, and the
/// lower-cased copies of `process.name` and `process.executable` (under `lc.`) with which
/// `difftest/eql_adapt.py` emulates `like~`. Written straight from the document (no copy of it:
/// this runs for every event).
pub fn python_record(stream_id: u64, e: &GenEvent) -> String {
    let head = format!(
        r#"{{"s":{stream_id},"t":"{}","ms":{},"e":"#,
        e.category, e.ms
    );
    let mut doc = JsonObject::new(head);
    members_but_timestamp(&mut doc, &e.doc, &["type", "category"]);
    let lower = |key: &str| {
        e.doc
            .pointer(&format!("/process/{key}"))
            .and_then(Value::as_str)
            .map(str::to_lowercase)
    };
    doc.member(
        "lc",
        &json!({"process": {"name": lower("name"), "executable": lower("executable")}}),
    );
    let mut record = doc.finish();
    record.push('}');
    record
}

/// The members of a generated document but its `@timestamp`, into `doc`; the `event` members
/// named in `unwrap` written as plain strings when they are one-element arrays.
fn members_but_timestamp(doc: &mut JsonObject, source: &Value, unwrap: &[&str]) {
    let members = source
        .as_object()
        .expect("a generated document is an object");
    for (key, value) in members {
        match key.as_str() {
            "@timestamp" => {}
            "event" if !unwrap.is_empty() => doc.nested(key, |event| {
                for (k, v) in value.as_object().expect("event is an object") {
                    event.member(
                        k,
                        if unwrap.contains(&k.as_str()) {
                            unwrapped(v)
                        } else {
                            v
                        },
                    );
                }
            }),
            _ => doc.member(key, value),
        }
    }
}

/// Our input line: the Defend shape, with the variations Elasticsearch exports show (dotted
/// keys, strings for one-element arrays, RFC 3339 with 3 or 9 fractional digits or an offset),
/// and some strings spelled with escapes ([`escape`]).
pub fn our_line(rng: &mut Rng, e: &GenEvent) -> String {
    let timestamp = Value::from(rfc3339_ms(e.ms, rng.below(3)));
    let unwrap_type = rng.chance(30);
    let line = if rng.chance(30) {
        let mut flat = flatten(&e.doc);
        let map = flat.as_object_mut().expect("flatten gives an object");
        map.insert("@timestamp".into(), timestamp);
        if unwrap_type && let Some(t) = map.get_mut("event.type") {
            *t = unwrapped(t).clone();
        }
        flat.to_string()
    } else {
        let mut doc = JsonObject::new(String::with_capacity(1024));
        doc.member("@timestamp", &timestamp);
        members_but_timestamp(&mut doc, &e.doc, if unwrap_type { &["type"] } else { &[] });
        doc.finish()
    };
    escape(rng, line)
}

/// `v`, or its element if it is a one-element array.
fn unwrapped(v: &Value) -> &Value {
    match v {
        Value::Array(a) if a.len() == 1 => &a[0],
        other => other,
    }
}

/// A JSON object written member by member from borrowed values (no copy of the document: the
/// records and lines of every event are written this way). Values go through `Value`'s
/// `Display`, which serde_json compiles (optimised even in test builds).
struct JsonObject {
    out: String,
    first: bool,
}

impl JsonObject {
    /// An object written after what `out` holds.
    fn new(mut out: String) -> JsonObject {
        out.push('{');
        JsonObject { out, first: true }
    }

    fn key(&mut self, key: &str) {
        if !std::mem::take(&mut self.first) {
            self.out.push(',');
        }
        let _ = write!(self.out, "{}:", Value::from(key));
    }

    fn member(&mut self, key: &str, value: &Value) {
        self.key(key);
        let _ = write!(self.out, "{value}");
    }

    /// `key` with an object whose members `fill` writes.
    fn nested(&mut self, key: &str, fill: impl FnOnce(&mut JsonObject)) {
        self.key(key);
        self.out.push('{');
        self.first = true;
        fill(self);
        self.out.push('}');
        self.first = false;
    }

    fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// Respells some strings of a serialized document with JSON escapes that mean the same
/// characters: `ansible` as `ansi\u0062le`, `/` as `\/`, and capitals and `-` as `\u00XX`
/// (none of which occur in keys or outside strings).
fn escape(rng: &mut Rng, line: String) -> String {
    let mut line = line;
    if rng.chance(30) {
        line = line.replace("ansible", "ansi\\u0062le");
    }
    if rng.chance(10) {
        line = line.replace('/', "\\/");
    }
    if rng.chance(10) {
        let mut out = String::with_capacity(line.len() + 64);
        for c in line.chars() {
            if c.is_ascii_uppercase() || c == '-' {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            } else {
                out.push(c);
            }
        }
        line = out;
    }
    line
}

/// `{"a": {"b": 1}}` to `{"a.b": 1}`.
pub fn flatten(v: &Value) -> Value {
    fn walk(prefix: &str, v: &Value, out: &mut serde_json::Map<String, Value>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            other => {
                out.insert(prefix.to_owned(), other.clone());
            }
        }
    }
    let mut out = serde_json::Map::new();
    walk("", v, &mut out);
    Value::Object(out)
}

/// `ms` as RFC 3339: style 0 `.mmmZ`, 1 `.mmm000000Z`, 2 `.mmm+01:00`.
pub fn rfc3339_ms(ms: i64, style: u64) -> String {
    let offset_s = if style == 2 { 3600 } else { 0 };
    let secs = ms.div_euclid(1000) + offset_s;
    let frac = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    let hms = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    match style {
        0 => format!("{hms}.{frac:03}Z"),
        1 => format!("{hms}.{frac:03}000000Z"),
        _ => format!("{hms}.{frac:03}+01:00"),
    }
}

fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}
