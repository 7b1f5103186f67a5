//! Seeded generator of adversarial event streams for the differential test against Elastic's
//! Python EQL engine. Shared (via `#[path]`) by `sensor-user/tests/replay_difftest.rs`; no
//! dependencies beyond serde_json. Every stream stays inside what the Python engine and
//! Elasticsearch agree on: every field the rule reads is present (Python's three-valued logic
//! on missing fields differs), join keys are never null (Python joins null keys), no
//! IPv4-mapped destinations (Python does not match them against IPv4 ranges), `event.type` has
//! one element (Python compares arrays as a whole), timestamps are whole milliseconds (the
//! engines' time units differ below that). Those cases are pinned by the engine's unit tests.

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
            let doc = json!({
                "@timestamp": ms,
                "event": {"id": id, "kind": "event", "category": ["process"], "type": [etype],
                          "action": action, "module": "endpoint", "dataset": "endpoint.events.process"},
                "host": {"id": host, "name": format!("{host}.example"), "os": {"type": os}},
                "process": {
                    "pid": 1000 + rng.below(50), "entity_id": entity(rng), "executable": exe, "name": name,
                    "args": [name, "-c", "x"],
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
            let (name, exe) = *rng.pick(NAMES);
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

/// The Python engine's input record: nested, integer ms, one-element arrays flattened.
pub fn python_record(stream_id: u64, e: &GenEvent) -> Value {
    let mut doc = e.doc.clone();
    if let Some(obj) = doc.as_object_mut() {
        obj.remove("@timestamp");
    }
    if let Some(ev) = doc.get_mut("event").and_then(Value::as_object_mut) {
        for key in ["type", "category"] {
            if let Some(Value::Array(a)) = ev.get(key)
                && a.len() == 1
            {
                let one = a[0].clone();
                ev.insert(key.to_owned(), one);
            }
        }
    }
    json!({"s": stream_id, "t": e.category, "ms": e.ms, "e": doc})
}

/// Our input line: the Defend shape, with the variations Elasticsearch exports show (dotted
/// keys, strings for one-element arrays, RFC 3339 with 3 or 9 fractional digits or an offset).
pub fn our_line(rng: &mut Rng, e: &GenEvent) -> String {
    let mut doc = e.doc.clone();
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("@timestamp".into(), rfc3339_ms(e.ms, rng.below(3)).into());
    }
    if rng.chance(30)
        && let Some(ev) = doc.get_mut("event").and_then(Value::as_object_mut)
        && let Some(Value::Array(a)) = ev.get("type").cloned()
    {
        ev.insert("type".into(), a[0].clone());
    }
    if rng.chance(30) {
        doc = flatten(&doc);
    }
    doc.to_string()
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
