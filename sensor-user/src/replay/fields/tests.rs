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

/// Documents the scanner must handle itself (the fast path is taken).
const SAMPLES: &[&str] = &[
    r#"{"@timestamp":"2024-05-01T00:00:00.000648Z","agent":{"id":"a1b2c3","type":"endpoint","version":"8.13.0"},"event":{"id":"E0","kind":"event","category":["network"],"type":["start"],"action":"connection_attempted","module":"endpoint","dataset":"endpoint.events.network"},"host":{"id":"host-4","name":"host-4.example","os":{"type":"linux"}},"process":{"pid":3000,"entity_id":"host-4-c0","executable":"/usr/bin/curl","name":"curl","parent":{"entity_id":"host-4-bash101"}},"destination":{"ip":"93.184.216.34","port":443},"source":{"ip":"192.0.2.10","port":40000},"network":{"transport":"tcp","direction":"egress"},"user":{"id":"1000","name":"alice"}}"#,
    r#"{"@timestamp":"2024-05-01T00:00:00.002365Z","event":{"category":["process"],"type":["start"],"action":"exec"},"host":{"id":"h","os":{"type":"linux","name":"Debian"}},"process":{"pid":1002,"entity_id":"e","executable":"/usr/bin/bash","name":"bash","args":["bash","-c","true"],"parent":{"pid":900,"entity_id":"p","executable":"/usr/sbin/sshd"},"user":{"id":0}},"group":{"id":"5"}}"#,
    r#" { "process.parent.executable" : "/usr/sbin/sshd" , "event.type" : "start", "x": [1, -2.5e3, 0, true, false, null, {"a": []}, "\u00e9\n"], "process.args": null, "destination.port": null } "#,
    r#"{"host":null,"process":{"parent":null,"user":{"name":"root","id":"17"}},"event":{"category":[null,"network"]}}"#,
];

fn fields_debug(f: &Fields<'_>) -> String {
    format!("{f:?}")
        .replace("Borrowed(", "(")
        .replace("Owned(", "(")
}

#[test]
fn scan_takes_the_samples() {
    for doc in SAMPLES {
        let fast = scan::parse(doc.as_bytes()).unwrap_or_else(|| panic!("scan gave up on {doc}"));
        let slow = parse_with_serde(doc.as_bytes()).expect(doc);
        assert_eq!(fields_debug(&fast), fields_debug(&slow), "{doc}");
    }
}

/// Whatever the scanner accepts, the `serde` visitor accepts with the same fields; mutated
/// documents (bytes replaced, inserted, deleted, from JSON's significant characters) probe
/// every place a document can go wrong.
#[test]
fn scan_agrees_with_serde() {
    const ALPHABET: &[u8] = b"{}[]:,\"\\ \t\n\r\x01\x1f0129-+.eEtrufalsn/u\xc3\xa9\xffAbz";
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rand = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let (mut fast_ok, mut both_err) = (0, 0);
    for round in 0..60_000 {
        let mut doc = SAMPLES[round % SAMPLES.len()].as_bytes().to_vec();
        for _ in 0..1 + rand(3) {
            let at = rand(doc.len());
            let c = ALPHABET[rand(ALPHABET.len())];
            match rand(3) {
                0 => doc[at] = c,
                1 => doc.insert(at, c),
                _ => {
                    doc.remove(at);
                }
            }
        }
        let slow = parse_with_serde(&doc);
        match scan::parse(&doc) {
            Some(fast) => {
                let slow = slow.unwrap_or_else(|e| {
                    panic!(
                        "scan accepted, serde: {e}: {}",
                        String::from_utf8_lossy(&doc)
                    )
                });
                assert_eq!(
                    fields_debug(&fast),
                    fields_debug(&slow),
                    "{}",
                    String::from_utf8_lossy(&doc)
                );
                fast_ok += 1;
            }
            None => both_err += usize::from(slow.is_err()),
        }
    }
    assert!(fast_ok > 5_000 && both_err > 5_000, "{fast_ok} {both_err}");
}
