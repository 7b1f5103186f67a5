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
    assert_eq!(f.event_type.expect("type"), vec!["start"]);
    assert_eq!(f.category.expect("category"), vec!["network"]);
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
