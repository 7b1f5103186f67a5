use super::*;

#[test]
fn nested_dotted_and_mixed_keys_reach_the_same_slots() {
    for doc in [
        r#"{"process":{"parent":{"executable":"/usr/sbin/sshd"},"pid":7}}"#,
        r#"{"process.parent.executable":"/usr/sbin/sshd","process.pid":7}"#,
        r#"{"process":{"parent.executable":"/usr/sbin/sshd","pid":7}}"#,
    ] {
        let f = parse(doc.as_bytes()).expect(doc);
        assert_eq!(
            f.parent.executable.as_deref(),
            Some("/usr/sbin/sshd"),
            "{doc}"
        );
        assert_eq!(f.process.pid, Some(7), "{doc}");
    }
}

#[test]
fn strings_borrow_unless_escaped_and_null_is_absent() {
    let f =
        parse(br#"{"host":{"id":"a\"b","name":"web"},"destination":{"ip":null}}"#).expect("parse");
    assert!(matches!(f.host_name, Some(Cow::Borrowed("web"))));
    assert_eq!(f.host_id.as_deref(), Some("a\"b"));
    assert_eq!(f.destination_ip, None);
}

#[test]
fn arrays_or_strings_and_ids_as_strings() {
    let f = parse(br#"{"event":{"type":"start","category":["network",null]},"user":{"id":"0"},"process":{"group":{"id":5}}}"#)
        .expect("parse");
    assert_eq!(f.event_type.expect("type").into_strings(), vec!["start"]);
    assert_eq!(
        f.category.expect("category").into_strings(),
        vec!["network"]
    );
    assert_eq!(f.user_id, Some(0));
    assert_eq!(f.process.group_id, Some(5));
}

#[test]
fn wrong_types_name_the_field() {
    let e = parse(br#"{"process":{"parent":{"entity_id":5}}}"#).expect_err("wrong type");
    assert!(e.to_string().contains("process.parent.entity_id"), "{e}");
    assert!(parse(br#"{"process":"x"}"#).is_err());
    assert!(parse(b"[1]").is_err());
    assert!(parse(br#"{"a":1} x"#).is_err());
    // Unread fields are validated as JSON but may hold anything.
    assert!(parse(br#"{"process":{"hash":{"md5":[1,{"x":null}]}}}"#).is_ok());
}

/// A wrong type's error says what the field expects (replay's bad-line report shows it).
#[test]
fn wrong_types_say_what_was_expected() {
    for (doc, expected) in [
        (&br#"[1]"#[..], "expected an object"),
        (br#"{"host":{"id":5}}"#, "expected a string"),
        (
            br#"{"event":{"type":5}}"#,
            "expected a string or an array of strings",
        ),
        (
            br#"{"user":{"id":true}}"#,
            "expected a numeric id (number or decimal string)",
        ),
    ] {
        let e = parse(doc).expect_err("wrong type").to_string();
        assert!(e.contains(expected), "{}: {e}", show(doc));
    }
}

/// A single string with an escape (read owned, not borrowed) is a list of that one string.
#[test]
fn an_escaped_single_string_is_a_list() {
    let f = parse(br#"{"event":{"category":"net\u0077ork"}}"#).expect("parse");
    assert_eq!(
        f.category.expect("category").into_strings(),
        vec!["network"]
    );
}

/// `contains`, `==` and `Debug` answer by a list's elements, whichever form holds them.
#[test]
fn lists_answer_by_their_elements() {
    let one = StrList::one(Cow::Borrowed("network"));
    assert!(one.contains("network") && !one.contains("process"));
    let mut two = StrList::default();
    two.push(Cow::Borrowed("process"));
    two.push(Cow::Borrowed("network"));
    assert!(two.contains("network") && two.contains("process") && !two.contains("net"));
    let plain = StrList::Plain(r#""process", null, "network""#);
    assert!(plain.contains("network") && !plain.contains("null"));
    assert_eq!(plain, two);
    assert_ne!(plain, one);
    assert_ne!(one, StrList::default());
    assert_eq!(format!("{plain:?}"), r#"["process", "network"]"#);
}

#[test]
fn lists_of_any_length() {
    let f = parse(br#"{"process":{"args":["a","b\u0041",null,"c"]},"event":{"type":[]}}"#)
        .expect("parse");
    let args = f.process.args.expect("args");
    assert!(args.contains("bA") && !args.contains("x"));
    assert_eq!(args.into_strings(), vec!["a", "bA", "c"]);
    assert_eq!(
        f.event_type.expect("type").into_strings(),
        Vec::<String>::new()
    );
}

#[test]
fn only_known_paths_are_read() {
    for doc in [
        r#"{"process":{"parent":{"parent":{"executable":"/usr/sbin/sshd"}}}}"#,
        r#"{"process.parent.parent.executable":"/usr/sbin/sshd"}"#,
        r#"{"process..parent.executable":"/usr/sbin/sshd"}"#,
        r#"{"process.parent.executable.x":"/usr/sbin/sshd"}"#,
        r#"{"parent":{"executable":"/usr/sbin/sshd"}}"#,
        r#"{"process.parent.":{"executable":"/usr/sbin/sshd"}}"#,
    ] {
        let f = parse(doc.as_bytes()).expect(doc);
        assert_eq!(f.parent.executable, None, "{doc}");
    }
    let f = parse(br#"{"process.parent":{"user.id":"0","user":{"name":"root"}}}"#).expect("parse");
    assert_eq!(f.parent.user_id, Some(0));
    assert_eq!(f.parent.user_name.as_deref(), Some("root"));
    assert_eq!(f.process.user_id, None);
}

/// Documents the scanner must handle itself (the fast path is taken), compact and, through
/// [`respaced`], pretty-printed.
const SAMPLES: &[&str] = &[
    r#"{"@timestamp":"2024-05-01T00:00:00.000648Z","agent":{"id":"a1b2c3","type":"endpoint","version":"8.13.0"},"event":{"id":"E0","kind":"event","category":["network"],"type":["start"],"action":"connection_attempted","module":"endpoint","dataset":"endpoint.events.network"},"host":{"id":"host-4","name":"host-4.example","os":{"type":"linux"}},"process":{"pid":3000,"entity_id":"host-4-c0","executable":"/usr/bin/curl","name":"curl","parent":{"entity_id":"host-4-bash101"}},"destination":{"ip":"93.184.216.34","port":443},"source":{"ip":"192.0.2.10","port":40000},"network":{"transport":"tcp","direction":"egress"},"user":{"id":"1000","name":"alice"}}"#,
    r#"{"@timestamp":"2024-05-01T00:00:00.002365Z","event":{"category":["process"],"type":["start"],"action":"exec"},"host":{"id":"h","os":{"type":"linux","name":"Debian"}},"process":{"pid":1002,"entity_id":"e","executable":"/usr/bin/bash","name":"bash","args":["bash","-c","true"],"parent":{"pid":900,"entity_id":"p","executable":"/usr/sbin/sshd"},"user":{"id":0}},"group":{"id":"5"}}"#,
    r#" { "process.parent.executable" : "/usr/sbin/sshd" , "event.type" : "start", "x": [1, -2.5e3, 0, true, false, null, {"a": []}, "\u00e9\n"], "process.args": null, "destination.port": null } "#,
    r#"{"host":null,"process":{"parent":null,"user":{"name":"root","id":"17"}},"event":{"category":[null,"network"]}}"#,
    // A full Defend exec event: escapes of every kind in the strings it skips (so backslash
    // runs and escaped quotes fall on many block edges), a long args array.
    r#"{"@timestamp":"2024-05-01T00:00:01.123456789Z","agent":{"id":"8b4f4b0e-3c1a-4d2e-9f00-0123456789ab","type":"endpoint","version":"8.13.0","build":{"original":"version: 8.13.0, compiled: Mon Mar 25 12:00:00 2024, branch: 8.13, commit: \"abc\\def\""}},"data_stream":{"dataset":"endpoint.events.process","namespace":"default","type":"logs"},"ecs":{"version":"8.10.0"},"event":{"action":"exec","agent_id_status":"verified","category":["process"],"created":"2024-05-01T00:00:01.123Z","id":"NqXq\/8n+AAAAAAAA","kind":"event","sequence":123456,"risk":-0.5e-3,"type":["start"]},"host":{"architecture":"x86_64","hostname":"web-01","id":"0123456789abcdef0123456789abcdef","ip":["10.0.0.5","fe80::1"],"name":"web-01.example.com","os":{"Ext":{"variant":"Debian"},"family":"debian","kernel":"6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)","name":"Linux","type":"linux","version":"12"}},"message":"Endpoint process event: \u00e9t\u00e9 \ud83d\ude00 tab\there \"quoted\" back\\\\slash \\\" end\\","process":{"Ext":{"ancestry":["aaa","bbb","ccc"],"trusted":true,"code_signature":[]},"args":["/usr/bin/ssh","-o","StrictHostKeyChecking=no","-p","2222","user@example.com","uname -a; id"],"args_count":7,"command_line":"/usr/bin/ssh -o \"StrictHostKeyChecking=no\" -p 2222 user@example.com 'uname -a; id'","entity_id":"ZWYxYWE0ODctN2ZkNS00YjE1LWI2YTAtNDcxZGQ5ZTBkYmM4LTEyMzQ1","executable":"/usr/bin/ssh","hash":{"md5":"d41d8cd98f00b204e9800998ecf8427e","sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},"name":"ssh","parent":{"args":["-bash"],"entity_id":"cGFyZW50LWVudGl0eS1pZC0wMTIzNDU2Nzg5","executable":"/usr/bin/bash","name":"bash","pid":4242,"user":{"id":"1000","name":"alice"}},"pid":4243,"start":"2024-05-01T00:00:01.120Z","user":{"id":"1000","name":"alice"},"group":{"id":"1000","name":"alice"},"working_directory":"/home/alice"},"user":{"id":"1000","name":"alice","Ext":{"real":{"id":1000}}},"group":{"id":1000}}"#,
    // Flattened dotted keys, keys of 16 and 17 bytes and the empty key, duplicates (the last
    // wins), several-string lists with nulls and spaces.
    r#"{"@timestamp":"2024-05-01T00:00:02Z","event.category":["authentication","session"],"event.type":[ "start" , null , "info" ],"event.action":"ssh_login","process.args":["sshd:","alice","[priv]"],"process.parent.args":["/usr/sbin/sshd","-D","-R"],"process.parent.user.id":0,"process.user.name":"root","process.group.id":"0","source.ip":"198.51.100.7","source.port":52022,"destination.port":22,"network.transport":"tcp","host.os.type":"linux","0123456789abcdef":1,"0123456789abcdefg":"x","process.parent.x":{},"":null,"process.pid":1,"process":{"pid":2,"name":"first"},"process.name":"second","event":{"category":"iam"},"host":{"os":{"type":null}}}"#,
    // Non-ASCII and DEL in kept strings and keys, long kept strings across block edges,
    // empty strings, whitespace of every kind.
    "{\t\"host\":{\"name\":\"w\u{e9}bserver-\u{fc}\",\"id\":\"\u{7f}\u{7f}\",\"os\":{\"type\":\"\"}},\r\n\"process\":{\"name\":\"\u{65e5}\u{672c}\",\"executable\":\"/opt/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/bin\",\"args\":[\"\u{20ac}\u{1d11e}\",\"\",\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\",\"c\"],\"user\":{\"name\":\"J\u{f6}rg\"}},\n\"\u{e9}t\u{e9}\":{\"cl\u{e9}\":\"\u{1d11e}\"},\"user\":{\"name\":\"\u{1d11e}\"} }\n",
];

/// `doc` with its whitespace outside strings replaced: a line break (`newline`) and `indent` per
/// level after each `{`, `[` and `,` and before each `}` and `]`, `colon` after each `:`.
fn respaced(doc: &str, newline: &str, indent: &str, colon: &str) -> String {
    let mut out = String::new();
    let (mut in_string, mut escaped, mut depth) = (false, false, 0usize);
    let line = |out: &mut String, depth: usize| {
        out.push_str(newline);
        for _ in 0..depth {
            out.push_str(indent);
        }
    };
    for c in doc.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                depth += 1;
                line(&mut out, depth);
            }
            '}' | ']' => {
                depth -= 1;
                line(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                line(&mut out, depth);
            }
            ':' => {
                out.push(c);
                out.push_str(colon);
            }
            ' ' | '\t' | '\n' | '\r' => {}
            _ => out.push(c),
        }
    }
    out
}

/// Ways to lay a document out: pretty-printed (two spaces, tabs and CRLF), one space everywhere,
/// and compact.
const LAYOUTS: &[(&str, &str, &str)] = &[
    ("\n", "  ", " "),
    ("\r\n", "\t", ""),
    (" ", "", " "),
    ("", "", ""),
];

/// Every sample in every layout.
fn samples() -> Vec<Vec<u8>> {
    let mut docs = Vec::new();
    for doc in SAMPLES {
        docs.push(doc.as_bytes().to_vec());
        for &(newline, indent, colon) in LAYOUTS {
            docs.push(respaced(doc, newline, indent, colon).into_bytes());
        }
    }
    docs
}

fn fields_debug(f: &Fields<'_>) -> String {
    format!("{f:?}")
        .replace("Borrowed(", "(")
        .replace("Owned(", "(")
}

/// A line for a message, control characters and invalid UTF-8 visible.
fn show(doc: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(doc))
}

/// The fields, or the error's message.
fn outcome(parsed: &Result<Fields<'_>, serde_json::Error>) -> String {
    match parsed {
        Ok(f) => fields_debug(f),
        Err(e) => format!("error: {e}"),
    }
}

/// Holds the scanner to the `serde` visitor on one line: whatever the scanner accepts, the
/// visitor accepts with the same fields, and [`parse`] answers exactly as the visitor does
/// (fields, or the same error), even after the scanner gave up half-way. Returns whether the
/// scanner took the line, and whether the visitor accepted it.
fn agree(doc: &[u8]) -> (bool, bool) {
    let slow = parse_with_serde(doc);
    let fast = scan::parse(doc);
    let taken = fast.is_some();
    if let Some(fast) = fast {
        match &slow {
            Ok(slow) => assert_eq!(fields_debug(&fast), fields_debug(slow), "{}", show(doc)),
            Err(e) => panic!("scan accepted, serde: {e}: {}", show(doc)),
        }
    }
    assert_eq!(outcome(&parse(doc)), outcome(&slow), "{}", show(doc));
    (taken, slow.is_ok())
}

/// A xorshift generator: the same numbers on every run (also for [`super::quotes`]' tests).
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.below(items.len())]
    }

    /// `true` with probability `percent`%.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Significant bytes for mutations: JSON's structure and escapes, the first and last control
/// characters, DEL (not a control character for JSON), whitespace JSON does not allow (form
/// feed, vertical tab), number and literal letters, pieces of UTF-8 and a byte never in it.
const MUTATIONS: &[u8] =
    b"{}[]:,\"\"\\\\ \t\n\r\x00\x01\x0b\x0c\x1f\x7f0129-+.eEtrufalsn/u\xc3\xa9\x80\xffAbz";

/// One to three bytes of `doc` replaced, inserted or deleted.
fn mutate(doc: &mut Vec<u8>, rng: &mut Rng) {
    for _ in 0..1 + rng.below(3) {
        if doc.is_empty() {
            return;
        }
        let at = rng.below(doc.len());
        let c = *rng.pick(MUTATIONS);
        match rng.below(3) {
            0 => doc[at] = c,
            1 => doc.insert(at, c),
            _ => {
                doc.remove(at);
            }
        }
    }
}

#[test]
fn scan_takes_the_samples() {
    for doc in samples() {
        let fast = scan::parse(&doc).unwrap_or_else(|| panic!("scan gave up on {}", show(&doc)));
        let slow = parse_with_serde(&doc).unwrap_or_else(|e| panic!("{e}: {}", show(&doc)));
        assert_eq!(fields_debug(&fast), fields_debug(&slow), "{}", show(&doc));
    }
}

#[test]
fn layout_changes_no_field() {
    for doc in SAMPLES {
        let compact = fields_debug(&parse_with_serde(doc.as_bytes()).expect(doc));
        for &(newline, indent, colon) in LAYOUTS {
            let pretty = respaced(doc, newline, indent, colon);
            let fast = scan::parse(pretty.as_bytes()).unwrap_or_else(|| panic!("{pretty}"));
            assert_eq!(fields_debug(&fast), compact, "{pretty}");
        }
    }
    // The samples read what they are meant to.
    let f = parse_with_serde(SAMPLES[5].as_bytes()).expect("sample");
    assert_eq!(f.process.pid, Some(2));
    assert_eq!(f.process.name.as_deref(), Some("second"));
    assert_eq!(f.category.expect("category").into_strings(), vec!["iam"]);
    assert_eq!(
        f.event_type.expect("type").into_strings(),
        vec!["start", "info"]
    );
    assert_eq!(f.host_os_type, None);
    assert_eq!(f.parent.user_id, Some(0));
    let f = parse_with_serde(SAMPLES[4].as_bytes()).expect("sample");
    assert_eq!(f.process.args.expect("args").into_strings().len(), 7);
}

/// Whatever the scanner accepts, the `serde` visitor accepts with the same fields; mutated
/// documents (bytes replaced, inserted, deleted, from JSON's significant characters) probe
/// every place a document can go wrong, in short and multi-block lines, compact and pretty.
#[test]
fn scan_agrees_with_serde() {
    let docs = samples();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut fast_ok, mut both_err) = (0, 0);
    for round in 0..60_000 {
        let mut doc = docs[round % docs.len()].clone();
        mutate(&mut doc, &mut rng);
        match agree(&doc) {
            (true, _) => fast_ok += 1,
            (false, ok) => both_err += usize::from(!ok),
        }
    }
    assert!(fast_ok > 5_000 && both_err > 5_000, "{fast_ok} {both_err}");
}

/// What the `serde` visitor answers, and whether the scanner must take the line itself.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Want {
    /// The visitor accepts; the scanner takes it (the fast path).
    Fast,
    /// The visitor accepts; the scanner may leave it to the visitor (escapes it would unescape).
    Accept,
    /// The visitor rejects (so the scanner must not take it).
    Reject,
}

fn check_cases(cases: &[(&[u8], Want)]) {
    for &(doc, want) in cases {
        let (taken, ok) = agree(doc);
        assert_eq!(ok, want != Want::Reject, "visitor on {}", show(doc));
        if want == Want::Fast {
            assert!(taken, "scan gave up on {}", show(doc));
        }
    }
}

#[test]
fn numbers_for_numeric_fields() {
    use Want::*;
    check_cases(&[
        (br#"{"process":{"pid":0}}"#, Fast),
        (br#"{"process":{"pid": 7 }}"#, Fast),
        (br#"{"process":{"pid":null}}"#, Fast),
        (br#"{"process":{"pid":4294967295}}"#, Fast),
        (br#"{"process":{"pid":4294967296}}"#, Reject),
        (br#"{"process":{"pid":123456789012345678}}"#, Reject),
        (br#"{"process":{"pid":1234567890123456789}}"#, Reject),
        (br#"{"process":{"pid":18446744073709551615}}"#, Reject),
        (br#"{"process":{"pid":18446744073709551616}}"#, Reject),
        (br#"{"process":{"pid":-0}}"#, Reject),
        (br#"{"process":{"pid":-1}}"#, Reject),
        (br#"{"process":{"pid":01}}"#, Reject),
        (br#"{"process":{"pid":00}}"#, Reject),
        (br#"{"process":{"pid":1.}}"#, Reject),
        (br#"{"process":{"pid":1.0}}"#, Reject),
        (br#"{"process":{"pid":1e}}"#, Reject),
        (br#"{"process":{"pid":1e2}}"#, Reject),
        (br#"{"process":{"pid":1E+5}}"#, Reject),
        (br#"{"process":{"pid":+1}}"#, Reject),
        (br#"{"process":{"pid":"1"}}"#, Reject),
        (br#"{"process":{"pid":7x}}"#, Reject),
        (br#"{"process":{"pid":7"#, Reject),
        (br#"{"process":{"pid":true}}"#, Reject),
        (br#"{"process.parent.pid":65536}"#, Fast),
        (br#"{"source":{"port":65535}}"#, Fast),
        (br#"{"source":{"port":65536}}"#, Reject),
        (br#"{"destination":{"port":0}}"#, Fast),
        (br#"{"destination":{"port":-0}}"#, Reject),
        (br#"{"destination.port":4294967296}"#, Reject),
        // Ids: a number, or a decimal string as Rust reads a `u32` (a `+` sign included).
        (br#"{"user":{"id":"0"}}"#, Fast),
        (br#"{"user":{"id":"00"}}"#, Fast),
        (br#"{"user":{"id":"+5"}}"#, Fast),
        (br#"{"user":{"id":"4294967295"}}"#, Fast),
        (br#"{"user":{"id":"4294967296"}}"#, Reject),
        (br#"{"user":{"id":"-0"}}"#, Reject),
        (br#"{"user":{"id":"-1"}}"#, Reject),
        (br#"{"user":{"id":" 5"}}"#, Reject),
        (br#"{"user":{"id":""}}"#, Reject),
        (br#"{"user":{"id":"0x10"}}"#, Reject),
        (br#"{"user":{"id":"\u0035"}}"#, Accept),
        ("{\"user\":{\"id\":\"\u{663}\"}}".as_bytes(), Reject),
        (br#"{"user":{"id":5.0}}"#, Reject),
        (br#"{"user":{"id":-1}}"#, Reject),
        (br#"{"user":{"id":-0}}"#, Reject),
        (br#"{"user":{"id":true}}"#, Reject),
        (br#"{"user":{"id":["1"]}}"#, Reject),
        (br#"{"group":{"id":4294967295}}"#, Fast),
        (br#"{"process":{"group":{"id":"4294967295"}}}"#, Fast),
        (br#"{"process.parent.user.id":null}"#, Fast),
    ]);
    let f = parse(br#"{"user":{"id":"+5"},"process":{"pid":4294967295}}"#).expect("parse");
    assert_eq!((f.user_id, f.process.pid), (Some(5), Some(u32::MAX)));
}

#[test]
fn nulls_arrays_and_wrong_types() {
    use Want::*;
    check_cases(&[
        (br#"{"process":null}"#, Fast),
        (br#"{"host":{"os":null}}"#, Fast),
        (br#"{"event":{"category":null,"type":null}}"#, Fast),
        (br#"{"process":{"name":null,"args":null}}"#, Fast),
        (br#"{"process":{"args":[]}}"#, Fast),
        (br#"{"process":{"args":[ ]}}"#, Fast),
        (br#"{"process":{"args":[null]}}"#, Fast),
        (br#"{"process":{"args":[null,null]}}"#, Fast),
        (br#"{"process":{"args":["a"]}}"#, Fast),
        (br#"{"process":{"args":[ "a" ]}}"#, Fast),
        (br#"{"process":{"args":[null,"a",null]}}"#, Fast),
        (br#"{"process":{"args":["a","b","c","d"]}}"#, Fast),
        (
            b"{\"process\":{\"args\":[\n\t\"a\" ,\r\n null ,\"\",\"b\"\n]}}",
            Fast,
        ),
        (br#"{"process":{"args":["a",]}}"#, Reject),
        (br#"{"process":{"args":[,"a"]}}"#, Reject),
        (br#"{"process":{"args":["a","b",]}}"#, Reject),
        (br#"{"process":{"args":["a" "b"]}}"#, Reject),
        (br#"{"process":{"args":["a",,"b"]}}"#, Reject),
        (br#"{"process":{"args":["a""#, Reject),
        (br#"{"process":{"args":["a"}}"#, Reject),
        (br#"{"process":{"args":[["a"]]}}"#, Reject),
        (br#"{"process":{"args":["a",1]}}"#, Reject),
        (br#"{"process":{"args":["a",true]}}"#, Reject),
        (br#"{"process":{"args":["a",{}]}}"#, Reject),
        (br#"{"process":{"args":["a",nul]}}"#, Reject),
        (br#"{"process":{"args":["a\"b","c"]}}"#, Accept),
        (br#"{"process":{"args":["a","\u00e9"]}}"#, Accept),
        (br#"{"host":"x"}"#, Reject),
        (br#"{"host":[]}"#, Reject),
        (br#"{"host":1}"#, Reject),
        (br#"{"host":true}"#, Reject),
        (br#"{"host":{"name":{}}}"#, Reject),
        (br#"{"host":{"name":1}}"#, Reject),
        (br#"{"host":{"name":["a"]}}"#, Reject),
        (br#"{"host":{"name":true}}"#, Reject),
        (br#"{"event":{"category":{}}}"#, Reject),
        (br#"{"event":{"category":1}}"#, Reject),
        (br#"{"event":{"action":"a\nb"}}"#, Accept),
        // A field given twice keeps the last; null for an object leaves what it held.
        (br#"{"process":{"pid":1},"process.pid":2}"#, Fast),
        (br#"{"process.pid":2,"process":{"pid":null}}"#, Fast),
        (
            br#"{"process":{"args":["a","b"]},"process.args":"c"}"#,
            Fast,
        ),
        (
            br#"{"process.args":"c","process":{"args":["a","b"]}}"#,
            Fast,
        ),
        (br#"{"process":{"name":"a"},"process":null}"#, Fast),
        (
            br#"{"process":{"name":"a"},"process":{"name":"a\tb"}}"#,
            Accept,
        ),
    ]);
    let f = parse(br#"{"process":{"args":["a","b"]},"process.args":"c","process.pid":2,"process":{"pid":null,"name":"n"},"process":null}"#)
        .expect("parse");
    assert_eq!(f.process.args.expect("args").into_strings(), vec!["c"]);
    assert_eq!(
        (f.process.pid, f.process.name.as_deref()),
        (None, Some("n"))
    );
}

#[test]
fn keys_of_every_shape() {
    use Want::*;
    check_cases(&[
        (br#"{"":1}"#, Fast),
        (br#"{"":{"":""}}"#, Fast),
        (br#"{"process":{"":1,"pid":3}}"#, Fast),
        (br#"{"0123456789abcdef":1,"process":{"pid":3}}"#, Fast),
        (br#"{"0123456789abcdefg":1,"process":{"pid":3}}"#, Fast),
        (br#"{"process.parent.x":1,"process.pid":3}"#, Fast),
        (br#"{"process.parent.pid":5}"#, Fast),
        (br#"{"process.pid":1}"#, Fast),
        (br#"{"pid":1}"#, Fast),
        (br#"{"process.":{"pid":1}}"#, Fast),
        (br#"{".process":{"pid":1}}"#, Fast),
        (br#"{"process":{"parent.":1}}"#, Fast),
        (br#"{"x":{"a\"b":1,"\u0000":2}}"#, Fast),
        // Keys with escapes: the visitor reads them unescaped.
        (br#"{"process\u002epid":1}"#, Accept),
        (br#"{"\u0070rocess":{"pid":1}}"#, Accept),
        (br#"{"pro\u0000cess":{"pid":1}}"#, Accept),
        (br#"{"process":{"pid\u0000":1}}"#, Accept),
        (br#"{"process":{"\u0000":1}}"#, Accept),
        (br#"{"a\"b":1}"#, Accept),
        (br#"{"a\\":1}"#, Accept),
        (br#"{"a\x":1}"#, Reject),
        (br#"{"x":{"a\x":1}}"#, Reject),
        (br#"{"x":{"a\u00":1}}"#, Reject),
        // Keys are UTF-8 wherever the visitor reads them, not in an object it skips.
        (
            "{\"\u{e9}\":1,\"process\":{\"\u{e9}\":2,\"pid\":3}}".as_bytes(),
            Fast,
        ),
        (b"{\"x\":{\"\xff\":1}}", Fast),
        (b"{\"\xff\":1}", Reject),
        (b"{\"process\":{\"\xff\":1}}", Reject),
        (b"{\"process.\xff\":1}", Reject),
        (b"{\"\xc3\":1}", Reject),
        // Object grammar.
        (br#"{"a":1,}"#, Reject),
        (br#"{,}"#, Reject),
        (br#"{"a"}"#, Reject),
        (br#"{"a" 1}"#, Reject),
        (br#"{"a"::1}"#, Reject),
        (br#"{"a":1 "b":2}"#, Reject),
        (br#"{"a":}"#, Reject),
        (br#"{"a":1,,"b":2}"#, Reject),
        (br#"{1:2}"#, Reject),
        (br#"{'a':1}"#, Reject),
        (br#"{a:1}"#, Reject),
        (br#"{"process":{"pid":1,}}"#, Reject),
        (br#"{"process":{,"pid":1}}"#, Reject),
        (br#"{"process":{"pid" 1}}"#, Reject),
    ]);
    let f = parse(br#"{"process.parent.pid":5,"0123456789abcdef":1,"process":{"":1,"pid":3}}"#)
        .expect("parse");
    assert_eq!((f.parent.pid, f.process.pid), (Some(5), Some(3)));
}

#[test]
fn strings_escapes_and_bytes() {
    use Want::*;
    check_cases(&[
        (
            br#"{"x":"\"\\\/\b\f\n\r\t\u00e9\uD800\udead\uBEEF\u0000","process":{"pid":1}}"#,
            Fast,
        ),
        (br#"{"x":"\\"}"#, Fast),
        (br#"{"x":"\\\\"}"#, Fast),
        (br#"{"x":"\\\""}"#, Fast),
        (br#"{"x":["\"",{"\\":"\/"}]}"#, Fast),
        (br#"{"x":"\x"}"#, Reject),
        (br#"{"x":"\u12"}"#, Reject),
        (br#"{"x":"\u12G4"}"#, Reject),
        (br#"{"x":"\U0041"}"#, Reject),
        (br#"{"x":"\'"}"#, Reject),
        (br#"{"x":"\"}"#, Reject),
        (br#"{"x":"\\\"}"#, Reject),
        (br#"{"x":"\u"}"#, Reject),
        (br#"{"x":"\u00"#, Reject),
        (b"{\"x\":\"\\\t\"}", Reject),
        (br#"{"x":"unterminated}"#, Reject),
        (br#"{"x":""}"#, Fast),
        (br#"{"host":{"name":""}}"#, Fast),
        // Control characters inside strings (DEL is not one).
        (b"{\"x\":\"a\x01\"}", Reject),
        (b"{\"x\":\"a\x1f\"}", Reject),
        (b"{\"x\":\"a\x00\"}", Reject),
        (b"{\"x\":\"a\n\"}", Reject),
        (b"{\"x\":\"a\x7f\"}", Fast),
        (b"{\"host\":{\"name\":\"a\x1f\"}}", Reject),
        (b"{\"host\":{\"name\":\"a\x7f\"}}", Fast),
        (b"{\"x\x01\":1}", Reject),
        (b"{\"process\":{\"args\":[\"a\",\"\x09\"]}}", Reject),
        // UTF-8: checked in what is kept, not in what is skipped.
        (
            "{\"host\":{\"name\":\"\u{e9}\u{20ac}\u{1d11e}\"}}".as_bytes(),
            Fast,
        ),
        (b"{\"host\":{\"name\":\"\xff\"}}", Reject),
        (b"{\"host\":{\"name\":\"\xc3\"}}", Reject),
        (b"{\"host\":{\"name\":\"\xc0\x80\"}}", Reject),
        (b"{\"host\":{\"name\":\"\xed\xa0\x80\"}}", Reject),
        (b"{\"host\":{\"name\":\"\xf4\x90\x80\x80\"}}", Reject),
        (b"{\"user\":{\"id\":\"1\xff\"}}", Reject),
        (b"{\"process\":{\"args\":[\"\xff\"]}}", Reject),
        (b"{\"process\":{\"args\":[\"a\",\"\xff\"]}}", Reject),
        (
            b"{\"process\":{\"args\":[\"a\",null,\"b\xe2\x82\"]}}",
            Reject,
        ),
        (b"{\"x\":\"\xff\xc3\"}", Fast),
        (
            b"{\"x\":[\"\xed\xa0\x80\"],\"host\":{\"name\":\"h\"}}",
            Fast,
        ),
        // Bytes outside strings: only space, tab, LF and CR are whitespace.
        (b"\n\t {\"x\":1}\r\n \t", Fast),
        (b"{\"x\":1,\x0c\"y\":2}", Reject),
        (b"{\"x\":1,\x0b\"y\":2}", Reject),
        (b"{\"x\":1,\x00\"y\":2}", Reject),
        (b"{\"x\":\xc2\xa01}", Reject),
        (b"{\x7f}", Reject),
        (b"\xef\xbb\xbf{}", Reject),
        (br#"{"x":1,\"y":2}"#, Reject),
        (br#"{"x":\"1"}"#, Reject),
        (br#"\{"x":1}"#, Reject),
        // The line: one object, whitespace around it, nothing else.
        (b"{}", Fast),
        (b"{ }", Fast),
        (b"", Reject),
        (b"   ", Reject),
        (b"null", Reject),
        (b"[]", Reject),
        (b"\"x\"", Reject),
        (b"1", Reject),
        (b"{", Reject),
        (b"}", Reject),
        (b"{} x", Reject),
        (b"{}{}", Reject),
        (b"{},", Reject),
        (b"{}]", Reject),
        (b"{}\x00", Reject),
        (b"{}\x0c", Reject),
        (b"{}\"", Reject),
        (b"{}\"\"", Reject),
        (b"{}\\", Reject),
    ]);
}

#[test]
fn skipped_values_are_validated() {
    use Want::*;
    let mut cases: Vec<(Vec<u8>, Want)> = Vec::new();
    for (value, want) in [
        ("-0", Fast),
        ("0", Fast),
        ("-0.0e-0", Fast),
        ("1E+5", Fast),
        ("-2.5e-3", Fast),
        ("1.5e3", Fast),
        ("1e400", Fast),
        ("123456789012345678901234567890", Fast),
        ("01", Reject),
        ("-01", Reject),
        ("1.", Reject),
        (".5", Reject),
        ("1e", Reject),
        ("1e+", Reject),
        ("-", Reject),
        ("+1", Reject),
        ("--1", Reject),
        ("1.5.", Reject),
        ("1.e5", Reject),
        ("0x10", Reject),
        ("NaN", Reject),
        ("Infinity", Reject),
        ("true", Fast),
        ("false", Fast),
        ("null", Fast),
        ("tru", Reject),
        ("nul", Reject),
        ("nulll", Reject),
        ("True", Reject),
        ("truefalse", Reject),
        ("[1,{\"b\":[[],{}]},\"c\",[null]]", Fast),
        ("{\"a\":[1,{\"b\":[[],{}]}]}", Fast),
        ("[ ]", Fast),
        ("{ }", Fast),
        ("[1,]", Reject),
        ("[,1]", Reject),
        ("{\"a\":1,}", Reject),
        ("[}", Reject),
        ("{]", Reject),
        ("[1 2]", Reject),
        ("{\"a\" 1}", Reject),
        ("{1:1}", Reject),
        ("{\"a\"}", Reject),
        ("[[[]]", Reject),
        ("", Reject),
    ] {
        // At the end of the document, before another field, and inside a kept object.
        cases.push((format!(r#"{{"x":{value}}}"#).into_bytes(), want));
        cases.push((
            format!(r#"{{"x": {value} ,"host":{{"id":"h"}}}}"#).into_bytes(),
            want,
        ));
        cases.push((
            format!(r#"{{"process":{{"hash":{value},"pid":1}}}}"#).into_bytes(),
            want,
        ));
        if !value.is_empty() {
            cases.push((format!(r#"{{"x":[{value}]}}"#).into_bytes(), want));
        }
    }
    let cases: Vec<(&[u8], Want)> = cases.iter().map(|(d, w)| (&d[..], *w)).collect();
    check_cases(&cases);
}

/// Nesting around the scanner's depth limit and far beyond it (it leaves deep documents to
/// `serde_json`, which skips a value of any depth without recursion, so accepts them), in
/// skipped values at the root and under kept objects.
#[test]
fn deep_nesting() {
    for depth in [
        1, 2, 50, 90, 98, 99, 100, 101, 102, 110, 127, 128, 129, 200, 10_000,
    ] {
        for (open, close) in [("[", "]"), (r#"{"a":"#, "}"), (r#"[{"a":"#, "}]")] {
            for (before, after) in [
                (r#"{"x":"#, r#","process":{"pid":1}}"#),
                (r#"{"process":{"parent":{"user":{"x":"#, r#"},"pid":1}}}"#),
            ] {
                let inner = if open == "[" { "" } else { "1" };
                let doc = format!(
                    "{before}{}{inner}{}{after}",
                    open.repeat(depth),
                    close.repeat(depth)
                );
                let (taken, ok) = agree(doc.as_bytes());
                assert!(ok, "{doc}");
                if depth <= 40 {
                    assert!(taken, "{doc}");
                }
                // One level short of closing: an error however deep.
                let cut = &doc[..doc.len() - after.len() - close.len()];
                assert!(!agree(format!("{cut}{after}").as_bytes()).1, "{doc}");
            }
        }
    }
}

/// Strings that cross the 64-byte blocks of stage one at every offset: escaped quotes,
/// backslash runs, empty and long strings, multi-byte characters, and broken ones.
#[test]
fn strings_across_block_edges() {
    use Want::*;
    let long = format!(
        r#"","process":{{"executable":"/{}","args":["{}","{}","{}"],"name":"{}"}}}}"#,
        "a".repeat(130),
        "b".repeat(64),
        "c".repeat(63),
        "d".repeat(128),
        "\u{e9}".repeat(40)
    );
    let tails: &[(&[u8], Want)] = &[
        (br#"\\","process":{"name":"n","args":["a","b"]}}"#, Fast),
        (br#"\"","process":{"name":"n"}}"#, Fast),
        (
            br#"\\\"\\","e":"","process":{"name":"","pid":1,"args":["",""]}}"#,
            Fast,
        ),
        (
            br#"\u00e9\n\t\/","host":{"name":"h","id":"i"},"x":"\\\\\\\""}"#,
            Fast,
        ),
        (long.as_bytes(), Fast),
        (
            "\",\"host\":{\"name\":\"\u{e9}\u{20ac}\u{1d11e}\u{20ac}\u{e9}\u{1d11e}\"}}".as_bytes(),
            Fast,
        ),
        (
            b"\",\"process\":{\"args\":[\"\x7f\",\"\xc3\xa9\"]}}  \n",
            Fast,
        ),
        (br#"\","process":{"name":"n"}}"#, Reject),
        (b"\x01\",\"process\":{\"name\":\"n\"}}", Reject),
        (b"\",\"process\":{\"name\":\"n\x1f\"}}", Reject),
        (br#"\q","process":{"name":"n"}}"#, Reject),
        (br#"\u00g0","process":{"name":"n"}}"#, Reject),
        (b"\",\"process\":{\"name\":\"\xe2\x82\"}}", Reject),
        (b"\",\"process\":{\"args\":[\"a\",\"\xe2\x82\"]}}", Reject),
        (br#"","process":{"name":"a\"b"}}"#, Accept),
        (br#"","process":{"name":"n"}} x"#, Reject),
        (br#"","process":{"name":"n"#, Reject),
        (br#"","process":{"name":"n\"}}"#, Reject),
    ];
    for pad in 0..=192 {
        let fill = "x".repeat(pad);
        for prefix in [
            // The pad in a skipped string, in whitespace, in a kept string.
            format!(r#"{{"p":"{fill}"#),
            format!(r#"{{{}"p":""#, " ".repeat(pad)),
            format!(r#"{{"host":{{"name":"{fill}"}},"p":""#),
        ] {
            for &(tail, want) in tails {
                let mut doc = prefix.clone().into_bytes();
                doc.extend_from_slice(tail);
                let (taken, ok) = agree(&doc);
                assert_eq!(ok, want != Reject, "visitor on {}", show(&doc));
                assert!(taken || want != Fast, "scan gave up on {}", show(&doc));
            }
        }
    }
}

/// A line far longer than the bitmap kept between lines (strings over many 64-bit words), then
/// short lines reusing the bitmap.
#[test]
fn long_lines_then_short_ones() {
    let big = format!(
        r#"{{"x":"{}","process":{{"pid":1,"args":["{}","b"],"name":"{}"}}}}"#,
        "a\\\"".repeat(100_000),
        "c".repeat(70_000),
        "\u{20ac}".repeat(5_000)
    );
    let broken = format!(r#"{{"x":"{}}}"#, "a".repeat(300_000));
    for doc in [
        big.as_bytes(),
        br#"{"process":{"pid":2}}"#,
        broken.as_bytes(),
        br#"{"process":{"name":"n"}}"#,
        big.as_bytes(),
        br#"{"x":"\\","process":{"args":["a","b"]}}"#,
    ] {
        let (_, ok) = agree(doc);
        assert_eq!(ok, doc != broken.as_bytes());
        assert_eq!(
            scan::parse(doc).is_some(),
            ok,
            "{}",
            show(&doc[..doc.len().min(80)])
        );
    }
    let f = parse(big.as_bytes()).expect("big");
    let args = f.process.args.expect("args").into_strings();
    assert_eq!((args[0].len(), args[1].as_str()), (70_000, "b"));
}

/// Generates documents shaped like Defend's: keys from the fields' paths (nested, dotted,
/// escaped) and others, values mostly of the field's type, skipped values of any shape,
/// strings of any length with escapes, multi-byte and broken UTF-8, random layout.
struct Gen {
    rng: Rng,
    out: Vec<u8>,
}

/// Keys as written in JSON (some with escapes).
const KEYS: &[&str] = &[
    "@timestamp",
    "host",
    "event",
    "process",
    "user",
    "group",
    "destination",
    "source",
    "network",
    "id",
    "name",
    "os",
    "type",
    "category",
    "action",
    "ip",
    "port",
    "transport",
    "pid",
    "entity_id",
    "executable",
    "args",
    "start",
    "parent",
    "process.parent",
    "parent.executable",
    "process.args",
    "process.pid",
    "event.category",
    "host.os.type",
    "process.parent.user.id",
    "process.parent.args",
    "process.parent.x",
    "user.id",
    "agent",
    "x",
    "",
    ".",
    "0123456789abcdef",
    "0123456789abcdefg",
    "process.",
    "\u{e9}t\u{e9}",
    "p\\u0069d",
    "process\\u002eargs",
    "a\\\"b",
    "\\\\",
];

/// Pieces of strings the scanner may keep (mostly plain), and of strings anything may skip.
const KEPT_PIECES: &[&[u8]] = &[
    b"a",
    b"b",
    b"z",
    b"/",
    b"-",
    b" ",
    b".",
    b"0",
    b"9",
    b"\x7f",
    b"\xc3\xa9",
    b"\xe2\x82\xac",
    b"\xf0\x9d\x84\x9e",
    b"a",
    b"/usr/sbin/",
    b"sshd",
    b"aaaaaaaaaaaaaaaa",
];
const ANY_PIECES: &[&[u8]] = &[
    b"\\\"",
    b"\\\\",
    b"\\/",
    b"\\n",
    b"\\t",
    b"\\u00e9",
    b"\\uD83D\\uDE00",
    b"\\uDEAD",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"aaaaaaaaaaaaaaaa",
];
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "42",
    "1.5",
    "-2.5e-3",
    "1E+5",
    "0.0",
    "1e400",
    "123456789012345678901234567890",
];
const UINTS: &[&str] = &[
    "0",
    "1",
    "22",
    "443",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "123456789012345678",
    "18446744073709551616",
    "-0",
    "-1",
    "1.0",
    "1e2",
    "null",
    "null",
];
const ID_STRINGS: &[&str] = &[
    "0",
    "17",
    "1000",
    "+5",
    "00",
    "4294967295",
    "4294967296",
    "-1",
    " 1",
    "",
    "x",
];

enum Kind {
    Str,
    List,
    Uint,
    Id,
}

fn kind(leaf: Leaf) -> Kind {
    match leaf {
        Leaf::DestinationPort | Leaf::SourcePort | Leaf::Proc(_, ProcLeaf::Pid) => Kind::Uint,
        Leaf::UserId | Leaf::GroupId | Leaf::Proc(_, ProcLeaf::UserId | ProcLeaf::GroupId) => {
            Kind::Id
        }
        Leaf::Category | Leaf::EventType | Leaf::Proc(_, ProcLeaf::Args) => Kind::List,
        _ => Kind::Str,
    }
}

impl Gen {
    fn push(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    fn ws(&mut self) {
        let ws = *self
            .rng
            .pick(&["", "", "", "", "", "", " ", "\n", "\t", "\r\n", "  "]);
        self.push(ws);
    }

    /// A string whose length crosses a block edge now and then.
    fn string(&mut self, kept: bool) {
        let len = *self.rng.pick(&[0, 1, 2, 5, 10, 20, 40, 63, 64, 65, 100]);
        self.out.push(b'"');
        // Now and then one escape or broken byte in a kept string (the visitor's to read).
        let odd = if kept && self.rng.chance(6) {
            self.rng.below(len + 1)
        } else {
            usize::MAX
        };
        for k in 0..=len {
            let any = k == odd || (!kept && self.rng.chance(30));
            if k < len || any {
                let piece = *self.rng.pick(if any { ANY_PIECES } else { KEPT_PIECES });
                self.out.extend_from_slice(piece);
            }
        }
        self.out.push(b'"');
    }

    fn object(&mut self, at: Option<Obj>, depth: usize) {
        self.out.push(b'{');
        let n = self.rng.below(if at == Some(Obj::Root) { 14 } else { 5 });
        for k in 0..n {
            if k > 0 {
                self.ws();
                self.out.push(b',');
            }
            self.ws();
            let key = *self.rng.pick(KEYS);
            self.out.push(b'"');
            self.push(key);
            self.out.push(b'"');
            self.ws();
            self.out.push(b':');
            self.ws();
            match at.map(|at| route(at, key.as_bytes())) {
                Some(Route::Obj(inner)) if self.rng.chance(85) => {
                    self.object(Some(inner), depth + 1)
                }
                Some(Route::Leaf(leaf)) if self.rng.chance(92) => self.leaf(leaf),
                _ => self.any(depth + 1),
            }
        }
        self.ws();
        self.out.push(b'}');
    }

    fn leaf(&mut self, leaf: Leaf) {
        match kind(leaf) {
            _ if self.rng.chance(8) => self.push("null"),
            Kind::Str => self.string(true),
            Kind::List if self.rng.chance(35) => self.string(true),
            Kind::List => {
                let n = self.rng.below(6);
                self.array(n, |g| {
                    if g.rng.chance(15) {
                        g.push("null");
                    } else {
                        g.string(true);
                    }
                });
            }
            Kind::Id if self.rng.chance(50) => {
                let s = *self.rng.pick(ID_STRINGS);
                self.out.push(b'"');
                self.push(s);
                self.out.push(b'"');
            }
            Kind::Uint | Kind::Id => {
                let n = *self.rng.pick(UINTS);
                self.push(n);
            }
        }
    }

    /// A JSON array of `n` items, each written by `item`, with random whitespace.
    fn array(&mut self, n: usize, mut item: impl FnMut(&mut Self)) {
        self.out.push(b'[');
        for k in 0..n {
            if k > 0 {
                self.ws();
                self.out.push(b',');
            }
            self.ws();
            item(self);
        }
        self.ws();
        self.out.push(b']');
    }

    /// Any value (to be skipped).
    fn any(&mut self, depth: usize) {
        let choice = self.rng.below(if depth > 4 { 4 } else { 6 });
        match choice {
            0 => {
                let lit = *self.rng.pick(&["null", "true", "false"]);
                self.push(lit);
            }
            1 => {
                let n = *self.rng.pick(NUMBERS);
                self.push(n);
            }
            2 | 3 => self.string(false),
            4 => {
                let n = self.rng.below(4);
                self.array(n, |g| g.any(depth + 1));
            }
            _ => self.object(None, depth),
        }
    }
}

/// Whatever the scanner accepts, the `serde` visitor accepts with the same fields, on generated
/// documents (mostly valid, most of them taken by the scanner) and on their mutations.
#[test]
fn scan_agrees_with_serde_on_generated_documents() {
    let mut g = Gen {
        rng: Rng(0x2545_F491_4F6C_DD1D),
        out: Vec::new(),
    };
    let (mut taken, mut valid, mut mutated_taken, mut mutated_err) = (0, 0, 0, 0);
    const DOCS: usize = 8_000;
    for _ in 0..DOCS {
        g.out.clear();
        g.ws();
        g.object(Some(Obj::Root), 0);
        g.ws();
        let doc = g.out.clone();
        let (t, ok) = agree(&doc);
        taken += usize::from(t);
        valid += usize::from(ok);
        for _ in 0..3 {
            let mut doc = doc.clone();
            mutate(&mut doc, &mut g.rng);
            let (t, ok) = agree(&doc);
            mutated_taken += usize::from(t);
            mutated_err += usize::from(!ok);
        }
    }
    assert!(
        taken > DOCS / 4 && valid > DOCS / 3 && valid < DOCS && mutated_taken > DOCS / 4,
        "{taken} {valid} {mutated_taken} {mutated_err}"
    );
    assert!(mutated_err > DOCS, "{mutated_err}");
}
