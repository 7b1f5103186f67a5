//! The event builder against a fake `/proc`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use sensor_common::{
    AF_INET6, ARGS_LEN, ConnectEvent, EXEC_CHILD_OF_STAGE1, EXEC_STAGE1, ExeId, ExecEvent,
    FILENAME_LEN, Header, KIND_CONNECT, KIND_EXEC, Task,
};

use super::{
    Enriched, Enricher,
    fake::{FakeProcFs, FakeProcess},
    procfs::PROC_READ_MAX,
    session::tcp_line,
};
use crate::{
    decode::Record,
    host::Host,
    rule::{Engine, Limits, RuleConfig, exclusions::Exclusions},
};

const UNKNOWN: ExeId = ExeId {
    dev: 0xdead,
    _pad: 0,
    ino: 0xbeef,
};
const SSHD: ExeId = ExeId {
    dev: 8,
    _pad: 0,
    ino: 77,
};
const CURL: ExeId = ExeId {
    dev: 8,
    _pad: 0,
    ino: 91,
};

fn host() -> Host {
    Host {
        id: Some("host-1".into()),
        name: Some("h".into()),
        boot_id: "b".into(),
        monotonic_to_epoch_ns: 1_000,
    }
}

fn task(tgid: u32, start_ns: u64, ppid: u32, parent_start_ns: u64) -> Task {
    Task {
        pid: tgid,
        tgid,
        ppid,
        uid: 0,
        gid: 0,
        _pad: 0,
        start_ns,
        parent_start_ns,
        exe: UNKNOWN,
        parent_exe: UNKNOWN,
        comm: [0; 16],
    }
}

fn exec(t: Task, flags: u32, at: u64, argv: &[u8]) -> Record {
    let mut args = [0u8; ARGS_LEN];
    let have = argv.len().min(ARGS_LEN);
    args[..have].copy_from_slice(&argv[..have]);
    Record::Exec(Box::new(ExecEvent {
        header: Header {
            kind: KIND_EXEC,
            flags,
            ktime_ns: at,
        },
        task: t,
        parent_index: if flags == EXEC_STAGE1 { 0 } else { u32::MAX },
        filename_len: 0,
        args_total: argv.len() as u32,
        args_len: have as u32,
        filename: [0; FILENAME_LEN],
        args,
    }))
}

fn connect(t: Task, at: u64, daddr: [u8; 16]) -> Record {
    Record::Connect(ConnectEvent {
        header: Header {
            kind: KIND_CONNECT,
            flags: 0,
            ktime_ns: at,
        },
        task: t,
        family: AF_INET6,
        dport: 443,
        _pad: 0,
        daddr,
    })
}

fn public() -> [u8; 16] {
    Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x0808, 0x0808).octets()
}

fn enricher(fake: FakeProcFs) -> Enricher<FakeProcFs> {
    Enricher::with_proc(host(), vec!["/usr/sbin/sshd".into()], fake)
}

fn event(e: Enriched) -> crate::event::Event {
    match e {
        Enriched::Event(e) => *e,
        Enriched::Excluded { .. } => panic!("unexpectedly excluded"),
    }
}

#[test]
fn a_stage1_exec_and_its_childs_connect_join_and_alert() {
    // An empty /proc: nothing can be verified.
    let mut enricher = enricher(FakeProcFs::default());
    let mut engine = Engine::new(RuleConfig::default(), Limits::default());
    let shell = task(4001, 7, 4000, 3);
    let child = task(4002, 9, 4001, 7);
    let stage1 = enricher.enrich(&exec(shell, EXEC_STAGE1, 100, b"sh\0-c\0x; true\0"));
    assert_eq!(stage1.parent.executable.as_deref(), Some("/usr/sbin/sshd"));
    assert_eq!(
        stage1.process.args.as_deref(),
        Some(&["sh".to_owned(), "-c".into(), "x; true".into()][..])
    );
    assert_eq!(
        stage1.process.executable, None,
        "an unverifiable executable is left empty"
    );
    assert!(engine.process(stage1).is_none());
    let child_exec = enricher.enrich(&exec(child, EXEC_CHILD_OF_STAGE1, 200, b"curl\0"));
    assert!(engine.process(child_exec).is_none());
    let attempt = enricher.enrich(&connect(child, 300, public()));
    assert_eq!(
        attempt.destination.ip,
        Some(IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)))
    );
    assert_eq!(
        attempt.parent.args.as_ref().map(Vec::len),
        Some(3),
        "parent taken from the cache"
    );
    assert_eq!(attempt.timestamp, 1_300);
    let alert = engine
        .process(attempt)
        .expect("the child's connect joins its parent's exec");
    assert_eq!(
        alert.stage1.process.entity_id,
        alert.stage2.parent.entity_id
    );
    assert_eq!(
        alert.stage2.process.args.as_deref(),
        Some(&["curl".to_owned()][..])
    );
}

#[test]
fn pid_reuse_gives_a_different_entity_id() {
    let mut enricher = enricher(FakeProcFs::default());
    let mut engine = Engine::new(RuleConfig::default(), Limits::default());
    let shell = task(4001, 7, 4000, 3);
    engine.process(enricher.enrich(&exec(shell, EXEC_STAGE1, 100, b"sh\0")));
    // Same parent pid, but a parent that started at another time: another process.
    let stranger = task(4002, 9, 4001, 8);
    let attempt = enricher.enrich(&connect(stranger, 300, [1; 16]));
    assert!(engine.process(attempt).is_none());
}

/// sshd session process 11 (child of monitor 10) holding the login's socket, a shell 12 it
/// started as uid 1000, and users root and alice.
fn login_host() -> FakeProcFs {
    let table = [
        tcp_line(
            (Ipv4Addr::new(10, 0, 0, 5), 22),
            (Ipv4Addr::new(192, 0, 2, 7), 51234),
            "01",
            500,
        ),
        tcp_line(
            (Ipv4Addr::new(10, 0, 0, 5), 40000),
            (Ipv4Addr::new(198, 51, 100, 23), 51000),
            "01",
            501,
        ),
    ]
    .join("\n");
    let sshd = |ppid, sockets: Vec<u64>| FakeProcess {
        exe: Some(("/usr/sbin/sshd".into(), (SSHD.dev, SSHD.ino))),
        cmdline: b"sshd: bob@notty\0\0\0".to_vec(),
        owner: 1000,
        ppid,
        sockets,
        tcp: table.clone(),
        ..FakeProcess::default()
    };
    let mut fake = FakeProcFs::default();
    fake.processes.insert(10, sshd(1, vec![500]));
    fake.processes.insert(11, sshd(10, vec![500, 501]));
    fake.users.insert(0, "root".into());
    fake.users.insert(1000, "bob".into());
    fake.users.insert(1001, "alice".into());
    fake
}

#[test]
fn the_session_comes_from_sshds_socket_and_the_kernels_uid() {
    let mut enricher = enricher(login_host());
    let mut shell = task(12, 7, 11, 5);
    shell.uid = 1000;
    shell.parent_exe = SSHD;
    // Whatever the environment claims (it is never read), the session is sshd's connection.
    let stage1 = enricher.enrich(&exec(shell, EXEC_STAGE1, 100, b"env\0USER=alice\0sh\0"));
    let s = stage1.session.expect("session");
    assert_eq!(s.client_ip, Some("192.0.2.7".parse().expect("ip")));
    assert_eq!(s.client_port, Some(51234));
    assert_eq!(s.server_ip, Some("10.0.0.5".parse().expect("ip")));
    assert_eq!(s.server_port, Some(22));
    assert_eq!(s.user.as_deref(), Some("bob"));
    assert_eq!(
        stage1.parent.args.as_deref(),
        Some(&["sshd: bob@notty".to_owned()][..])
    );
    assert_eq!(stage1.parent.user_name.as_deref(), Some("bob"));
    // A second login shell of the same sshd process uses the cached lookup.
    let reads = enricher.proc_mut().reads;
    let mut second = task(13, 8, 11, 5);
    second.parent_exe = SSHD;
    second.uid = 1000;
    enricher.enrich(&exec(second, EXEC_STAGE1, 200, b"sh\0"));
    let per_exec = enricher.proc_mut().reads - reads;
    assert!(per_exec <= 4, "no second socket lookup ({per_exec} reads)");
}

#[test]
fn an_unverified_parent_gives_no_connection_only_the_user() {
    let mut enricher = enricher(login_host());
    let mut shell = task(12, 7, 11, 5);
    shell.uid = 1001;
    shell.parent_exe = UNKNOWN;
    let s = enricher
        .enrich(&exec(shell, EXEC_STAGE1, 100, b"sh\0"))
        .session
        .expect("session");
    assert_eq!((s.client_ip, s.client_port), (None, None));
    assert_eq!(s.user.as_deref(), Some("alice"));
}

#[test]
fn an_excluded_destination_is_dropped_before_any_proc_read() {
    let mut fake = login_host();
    fake.processes.insert(
        20,
        FakeProcess {
            exe: Some(("/usr/bin/curl".into(), (CURL.dev, CURL.ino))),
            cmdline: vec![b'a'; 2 << 20],
            ..FakeProcess::default()
        },
    );
    let mut enricher = enricher(fake);
    let exclusions = Exclusions::default();
    let mut curl = task(20, 9, 12, 7);
    curl.exe = CURL;
    let loopback = Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x7f00, 1).octets();
    let before = enricher.proc_mut().reads;
    match enricher.enrich_unless_excluded(&connect(curl, 300, loopback), &exclusions) {
        Enriched::Excluded { timestamp } => assert_eq!(timestamp, 1_300),
        Enriched::Event(_) => panic!("loopback is excluded"),
    }
    assert_eq!(enricher.proc_mut().reads, before, "no /proc read");
    // A public destination is enriched, and a 2 MB argv costs PROC_READ_MAX at most.
    let attempt =
        event(enricher.enrich_unless_excluded(&connect(curl, 400, public()), &exclusions));
    let args = attempt.process.args.expect("args");
    assert!(args.iter().map(String::len).sum::<usize>() <= PROC_READ_MAX);
    assert!(attempt.process.args_truncated);
}

#[test]
fn a_cached_excluded_name_is_dropped_and_the_engine_answers_the_same() {
    let mut fake = FakeProcFs::default();
    fake.files.insert(
        "/usr/bin/ssh".into(),
        ("/usr/bin/ssh".into(), (CURL.dev, CURL.ino)),
    );
    let mut enricher = enricher(fake);
    let mut engine = Engine::new(RuleConfig::default(), Limits::default());
    let exclusions = Exclusions::default();
    let shell = task(4001, 7, 4000, 3);
    let mut ssh = task(4002, 9, 4001, 7);
    ssh.exe = CURL;
    engine.process(enricher.enrich(&exec(shell, EXEC_STAGE1, 100, b"sh\0")));
    let Record::Exec(mut child) = exec(ssh, EXEC_CHILD_OF_STAGE1, 200, b"ssh\0") else {
        unreachable!()
    };
    child.filename[..12].copy_from_slice(b"/usr/bin/ssh");
    child.filename_len = 12;
    let child_exec = enricher.enrich(&Record::Exec(child));
    assert_eq!(child_exec.process.name.as_deref(), Some("ssh"));
    engine.process(child_exec);
    match enricher.enrich_unless_excluded(&connect(ssh, 300, public()), &exclusions) {
        Enriched::Excluded { timestamp } => engine.skip_excluded(timestamp),
        Enriched::Event(_) => panic!("ssh is excluded by name"),
    }
    // The stage 1 was not consumed: a later child's connect still joins it.
    let other = task(4003, 11, 4001, 7);
    let attempt =
        event(enricher.enrich_unless_excluded(&connect(other, 400, public()), &exclusions));
    assert!(engine.process(attempt).is_some());
    assert_eq!(engine.stats().events, 4);
}
