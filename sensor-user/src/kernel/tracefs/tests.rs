//! Tests for format parsing and the tracepoint offsets, on format texts as the kernel writes
//! them.

use super::*;

/// `sock/inet_sock_set_state` on Linux 6.x (`protocol` is `__u16`), as on Linux 6.18.
const SOCK_6X: &str = "name: inet_sock_set_state
ID: 2287
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;
\tfield:int oldstate;\toffset:16;\tsize:4;\tsigned:1;
\tfield:int newstate;\toffset:20;\tsize:4;\tsigned:1;
\tfield:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;
\tfield:__u16 dport;\toffset:26;\tsize:2;\tsigned:0;
\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;
\tfield:__u16 protocol;\toffset:30;\tsize:2;\tsigned:0;
\tfield:__u8 saddr[4];\toffset:32;\tsize:4;\tsigned:0;
\tfield:__u8 daddr[4];\toffset:36;\tsize:4;\tsigned:0;
\tfield:__u8 saddr_v6[16];\toffset:40;\tsize:16;\tsigned:0;
\tfield:__u8 daddr_v6[16];\toffset:56;\tsize:16;\tsigned:0;

print fmt: \"family=%s protocol=%s sport=%hu dport=%hu saddr=%pI4 daddr=%pI4 saddrv6=%pI6c \
daddrv6=%pI6c oldstate=%s newstate=%s\", __print_symbolic(REC->family, { 2, \"AF_INET\" }, \
{ 10, \"AF_INET6\" }), __print_symbolic(REC->protocol, { 6, \"IPPROTO_TCP\" }, \
{ 132, \"IPPROTO_SCTP\" }, { 262, \"IPPROTO_MPTCP\" }), REC->sport, REC->dport, REC->saddr, \
REC->daddr, REC->saddr_v6, REC->daddr_v6, __print_symbolic(REC->oldstate, \
{ 1, \"TCP_ESTABLISHED\" }, { 2, \"TCP_SYN_SENT\" }), __print_symbolic(REC->newstate, \
{ 1, \"TCP_ESTABLISHED\" }, { 2, \"TCP_SYN_SENT\" })
";

/// The same tracepoint on Linux 4.16-5.x: `protocol` is `__u8`, so the addresses that follow
/// are packed one byte earlier.
const SOCK_5X: &str = "name: inet_sock_set_state
ID: 1435
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;
\tfield:int oldstate;\toffset:16;\tsize:4;\tsigned:1;
\tfield:int newstate;\toffset:20;\tsize:4;\tsigned:1;
\tfield:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;
\tfield:__u16 dport;\toffset:26;\tsize:2;\tsigned:0;
\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;
\tfield:__u8 protocol;\toffset:30;\tsize:1;\tsigned:0;
\tfield:__u8 saddr[4];\toffset:31;\tsize:4;\tsigned:0;
\tfield:__u8 daddr[4];\toffset:35;\tsize:4;\tsigned:0;
\tfield:__u8 saddr_v6[16];\toffset:39;\tsize:16;\tsigned:0;
\tfield:__u8 daddr_v6[16];\toffset:55;\tsize:16;\tsigned:0;

print fmt: \"family=%s protocol=%s sport=%hu dport=%hu saddr=%pI4 daddr=%pI4 saddrv6=%pI6c \
daddrv6=%pI6c oldstate=%s newstate=%s\", REC->family, REC->protocol, REC->sport, REC->dport, \
REC->saddr, REC->daddr, REC->saddr_v6, REC->daddr_v6, REC->oldstate, REC->newstate
";

/// `sched/sched_process_exec` (unchanged in layout since 3.x; older kernels print
/// `signed:1` for the `__data_loc` field).
const EXEC: &str = "name: sched_process_exec
ID: 365
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:1;
\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;
\tfield:pid_t old_pid;\toffset:16;\tsize:4;\tsigned:1;

print fmt: \"filename=%s pid=%d old_pid=%d\", __get_str(filename), REC->pid, REC->old_pid
";

#[test]
fn parses_fields() {
    let fmt = Format::parse(SOCK_6X).unwrap();
    assert_eq!(fmt.name.as_deref(), Some("inet_sock_set_state"));
    assert_eq!(fmt.id, Some(2287));
    assert_eq!(fmt.fields.len(), 15);
    assert_eq!(
        fmt.field("skaddr").unwrap(),
        &Field {
            name: "skaddr".into(),
            type_decl: "const void * skaddr".into(),
            offset: 8,
            size: 8,
            signed: false,
        }
    );
    let daddr = fmt.field("daddr").unwrap();
    assert_eq!(
        (daddr.type_decl.as_str(), daddr.offset, daddr.size),
        ("__u8 daddr[4]", 36, 4)
    );
    assert!(fmt.field("common_pid").unwrap().signed);
    let exec = Format::parse(EXEC).unwrap();
    let f = exec.field("filename").unwrap();
    assert_eq!(
        (f.type_decl.as_str(), f.offset),
        ("__data_loc char[] filename", 8)
    );
    let err = exec.field("nope").unwrap_err();
    assert_eq!(
        err.to_string(),
        "tracepoint sched_process_exec has no field nope"
    );
}

#[test]
fn fills_offsets_6x() {
    let mut cfg = Config::default();
    let (exec, sock) = (
        Format::parse(EXEC).unwrap(),
        Format::parse(SOCK_6X).unwrap(),
    );
    fill_tracepoint_offsets(&exec, &sock, &mut cfg).unwrap();
    assert_eq!(cfg.tp_exec_filename, 8);
    assert_eq!((cfg.tp_sk_oldstate, cfg.tp_sk_newstate), (16, 20));
    assert_eq!((cfg.tp_sk_dport, cfg.tp_sk_family), (26, 28));
    assert_eq!((cfg.tp_sk_protocol, cfg.tp_sk_protocol_size), (30, 2));
    assert_eq!((cfg.tp_sk_daddr, cfg.tp_sk_daddr_v6), (36, 56));
}

#[test]
fn fills_offsets_5x_with_u8_protocol() {
    let mut cfg = Config::default();
    let (exec, sock) = (
        Format::parse(EXEC).unwrap(),
        Format::parse(SOCK_5X).unwrap(),
    );
    fill_tracepoint_offsets(&exec, &sock, &mut cfg).unwrap();
    assert_eq!((cfg.tp_sk_protocol, cfg.tp_sk_protocol_size), (30, 1));
    assert_eq!((cfg.tp_sk_daddr, cfg.tp_sk_daddr_v6), (35, 55));
}

#[test]
fn rejects_unexpected_sizes_and_types() {
    let exec = Format::parse(EXEC).unwrap();
    let odd = SOCK_6X.replace(
        "__u16 protocol;\toffset:30;\tsize:2;",
        "__u32 protocol;\toffset:30;\tsize:4;",
    );
    let err = fill_tracepoint_offsets(&exec, &Format::parse(&odd).unwrap(), &mut Config::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "tracepoint inet_sock_set_state field protocol is 4 bytes, expected 1 or 2"
    );
    let odd = SOCK_6X.replace(
        "daddr_v6[16];\toffset:56;\tsize:16;",
        "daddr_v6[8];\toffset:56;\tsize:8;",
    );
    let err = fill_tracepoint_offsets(&exec, &Format::parse(&odd).unwrap(), &mut Config::default())
        .unwrap_err();
    assert!(
        matches!(err, FormatError::FieldSize { size: 8, .. }),
        "{err}"
    );
    let no_dport = SOCK_6X.replace("dport", "dst_port");
    let err = fill_tracepoint_offsets(
        &exec,
        &Format::parse(&no_dport).unwrap(),
        &mut Config::default(),
    )
    .unwrap_err();
    assert!(matches!(err, FormatError::MissingField { ref field, .. } if field == "dport"));
    let fixed = EXEC.replace("__data_loc char[] filename", "char filename[4]");
    let err = fill_tracepoint_offsets(
        &Format::parse(&fixed).unwrap(),
        &Format::parse(SOCK_6X).unwrap(),
        &mut Config::default(),
    )
    .unwrap_err();
    assert!(matches!(err, FormatError::FieldType { .. }), "{err}");
}

#[test]
fn rejects_malformed_text() {
    assert!(matches!(Format::parse(""), Err(FormatError::NoFields)));
    assert!(matches!(
        Format::parse("name: x\nformat:\n\nprint fmt: \"\"\n"),
        Err(FormatError::NoFields)
    ));
    let cases = [
        "\tfield:int a;\tsize:4;\tsigned:1;\n",   // no offset
        "\tfield:int a;\toffset:0;\tsigned:1;\n", // no size
        "\tfield:int a;\toffset:zero;\tsize:4;\tsigned:1;\n", // bad number
        "\tfield:int a;\toffset:-1;\tsize:4;\tsigned:1;\n", // negative
        "\tfield:a;\toffset:0;\tsize:4;\tsigned:1;\n", // no type
        "\tfield:int ;\toffset:0;\tsize:4;\tsigned:1;\n", // no name
        "\tfield:int 9a;\toffset:0;\tsize:4;\tsigned:1;\n", // invalid name
        "\tfield:int a[4;\toffset:0;\tsize:4;\tsigned:1;\n", // unbalanced (name `a[4`)
        "\tfield:int a;\toffset 0;\tsize:4;\tsigned:1;\n", // no colon
        "ID: twelve\n\tfield:int a;\toffset:0;\tsize:4;\n", // bad ID
    ];
    for text in cases {
        let err = Format::parse(text).unwrap_err();
        assert!(
            matches!(err, FormatError::Malformed { .. }),
            "{text:?}: {err}"
        );
    }
    let err =
        Format::parse("\tfield:int a;\toffset:0;\tsize:4;\n\tfield:int a;\toffset:4;\tsize:4;\n")
            .unwrap_err();
    assert!(matches!(err, FormatError::DuplicateField(ref n) if n == "a"));
    // Line numbers are 1-based and point at the bad line.
    let err = Format::parse(&SOCK_6X.replace("offset:26;", "offset:x;")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("malformed tracepoint format, line 13: bad number"),
        "{err}"
    );
}

#[test]
fn tolerates_missing_signed_and_extra_keys() {
    let fmt = Format::parse("\tfield:u8 x;\toffset:1;\tsize:1;\tfuture:7;\n").unwrap();
    assert_eq!(fmt.field("x").unwrap().offset, 1);
    assert!(!fmt.field("x").unwrap().signed);
    assert_eq!(fmt.name, None);
}

#[test]
fn locates_root_and_reads_format() {
    let base = std::env::temp_dir().join(format!("sshd-sensor-tracefs-{}", std::process::id()));
    let (empty, good) = (base.join("empty"), base.join("good"));
    let event_dir = good.join("events/sock/inet_sock_set_state");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::create_dir_all(&event_dir).unwrap();
    std::fs::write(event_dir.join("format"), SOCK_5X).unwrap();
    assert_eq!(first_with_events(&[&empty, &good]), Some(good.clone()));
    assert_eq!(first_with_events(&[&empty]), None);
    let fmt = read_format(&good, "sock", "inet_sock_set_state").unwrap();
    assert_eq!(fmt.field("protocol").unwrap().size, 1);
    let err = read_format(&good, "sock", "nope").unwrap_err();
    assert!(matches!(err, FormatError::Io { .. }));
    assert!(err.to_string().contains("events/sock/nope/format"), "{err}");
    for bad in ["..", "a/b", ""] {
        assert!(matches!(
            read_format(&good, bad, "x"),
            Err(FormatError::InvalidName(_))
        ));
    }
    std::fs::remove_dir_all(&base).unwrap();
}

/// The running kernel's formats; needs tracefs mounted (`ensure_tracefs` or
/// `mount -t tracefs tracefs /sys/kernel/tracing`).
#[test]
#[ignore = "needs a mounted tracefs"]
fn real_formats() {
    let root = tracefs_root().expect("tracefs is not mounted");
    let exec = read_format(&root, "sched", "sched_process_exec").unwrap();
    let sock = read_format(&root, "sock", "inet_sock_set_state").unwrap();
    let mut cfg = Config::default();
    fill_tracepoint_offsets(&exec, &sock, &mut cfg).unwrap();
    eprintln!("{cfg:#?}");
    assert!(cfg.tp_sk_daddr_v6 > cfg.tp_sk_daddr);
}
