use super::*;
use crate::ecs::fixtures;

const S: i64 = 1_000_000_000;

/// An alert of session `entity` at `at` seconds, by `exe` to `ip`:443.
fn alert(entity: &str, at: i64, exe: &str, ip: &str) -> Alert {
    let mut stage1 = fixtures::stage1();
    stage1.process.entity_id = Some(entity.into());
    stage1.timestamp = at * S - 1;
    let mut stage2 = fixtures::stage2();
    stage2.timestamp = at * S;
    stage2.process.executable = Some(exe.into());
    stage2.process.args = Some(vec!["x".repeat(1000)]);
    stage2.destination.ip = ip.parse().ok();
    fixtures::alert_of(stage1, stage2)
}

fn noise(entity: &str, at: i64) -> Alert {
    alert(entity, at, "/usr/bin/curl", "8.8.8.8")
}

fn verdicts(cap: &mut RateCap, alerts: &[Alert]) -> Vec<Verdict> {
    alerts
        .iter()
        .map(|a| {
            let admission = cap.admit(a);
            assert!(admission.summaries.is_empty(), "{:?}", admission.summaries);
            admission.verdict
        })
        .collect()
}

#[test]
fn caps_each_session_on_its_own() {
    let mut cap = RateCap::new(2, 300 * S);
    let a: Vec<Alert> = (1..=4).map(|t| noise("A", t)).collect();
    assert_eq!(
        verdicts(&mut cap, &a),
        [
            Verdict::Emit,
            Verdict::Emit,
            Verdict::Suppress,
            Verdict::Suppress
        ]
    );
    // Session B is not touched by A's flood.
    assert_eq!(
        verdicts(&mut cap, &[noise("B", 5), noise("B", 6), noise("B", 7)]),
        [Verdict::Emit, Verdict::Emit, Verdict::Suppress]
    );
    assert_eq!(cap.suppressed_total(), 3);
}

#[test]
fn a_later_alert_closes_the_window_and_its_summary_comes_first() {
    let mut cap = RateCap::new(1, 10 * S);
    cap.admit(&noise("A", 0));
    cap.admit(&noise("A", 1));
    cap.admit(&alert("A", 9, "/tmp/implant", "1.2.3.4"));
    // 10 s after the window's first alert: a new window (inclusive end).
    let admission = cap.admit(&noise("A", 10));
    assert_eq!(admission.verdict, Verdict::Emit);
    let [summary] = &admission.summaries[..] else {
        panic!("{:?}", admission.summaries)
    };
    assert_eq!(summary.closed, Closed::WindowEnded);
    assert_eq!((summary.emitted, summary.suppressed), (1, 2));
    assert_eq!((summary.window_start, summary.window_end), (0, 10 * S));
    assert_eq!((summary.first, summary.last), (S, 9 * S));
    assert_eq!(summary.session.process.entity_id.as_deref(), Some("A"));
    assert_eq!(summary.session.process.args, None, "no args are kept");
    let listed: Vec<(String, u64, Option<&str>)> = summary
        .destinations
        .iter()
        .map(|d| {
            (
                d.ip.map(|i| i.to_string()).unwrap_or_default(),
                d.count,
                d.process.executable.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("8.8.8.8".to_owned(), 1, Some("/usr/bin/curl")),
            ("1.2.3.4".to_owned(), 1, Some("/tmp/implant"))
        ]
    );
    assert!(!summary.truncated());
    // Nothing suppressed in the new window: no summary when it ends.
    assert!(cap.expire(100 * S).is_empty());
}

#[test]
fn windows_end_at_the_callers_time_and_only_suppressing_ones_report() {
    let mut cap = RateCap::new(1, 10 * S);
    cap.admit(&noise("A", 0));
    cap.admit(&noise("A", 1));
    cap.admit(&noise("B", 5));
    assert!(cap.expire(10 * S - 1).is_empty());
    let ended = cap.expire(10 * S);
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].suppressed, 1);
    assert_eq!(cap.sessions(), 1, "B's window runs on");
    assert!(cap.expire(15 * S).is_empty(), "B suppressed nothing");
    assert_eq!(cap.sessions(), 0);
}

#[test]
fn flush_reports_pending_once_and_keeps_the_window() {
    let mut cap = RateCap::new(1, 10 * S);
    cap.admit(&noise("A", 0));
    cap.admit(&noise("A", 1));
    let flushed = cap.flush();
    assert_eq!(flushed.len(), 1);
    assert_eq!(flushed[0].closed, Closed::Flushed);
    assert!(cap.flush().is_empty());
    assert_eq!(cap.admit(&noise("A", 2)).verdict, Verdict::Suppress);
}

#[test]
fn the_implant_shows_behind_a_flood_of_decoy_destinations() {
    let mut cap = RateCap::new(0, 300 * S);
    for i in 0..100 {
        cap.admit(&alert("A", 1, "/usr/bin/curl", &format!("8.8.{i}.1")));
    }
    cap.admit(&alert("A", 2, "/tmp/implant", "1.2.3.4"));
    for i in 100..150 {
        cap.admit(&alert("A", 3, "/usr/bin/curl", &format!("8.8.{i}.1")));
    }
    let [summary] = &cap.flush()[..] else {
        panic!("one summary expected")
    };
    assert_eq!(summary.suppressed, 151);
    assert_eq!(summary.destinations.len(), MAX_DESTINATIONS);
    assert!(summary.truncated());
    let listed: u64 = summary.destinations.iter().map(|d| d.count).sum();
    assert_eq!(listed + summary.omitted_alerts, 151);
    assert!(
        summary
            .destinations
            .iter()
            .any(|d| d.process.executable.as_deref() == Some("/tmp/implant")
                && d.ip == "1.2.3.4".parse().ok()),
        "{:?}",
        summary.destinations
    );
}

#[test]
fn repeated_destinations_are_counted_not_listed_twice() {
    let mut cap = RateCap::new(0, 300 * S);
    for t in 0..5 {
        cap.admit(&noise("A", t));
    }
    let [summary] = &cap.flush()[..] else {
        panic!("one summary expected")
    };
    assert_eq!(summary.destinations.len(), 1);
    assert_eq!(summary.destinations[0].count, 5);
    assert!(!summary.truncated());
}

#[test]
fn sessions_are_bounded_and_an_evicted_one_reports_first() {
    let mut cap = RateCap::new(0, 300 * S);
    for i in 0..MAX_SESSIONS {
        let admission = cap.admit(&noise(&format!("s{i}"), i64::try_from(i).unwrap_or(0)));
        assert!(admission.summaries.is_empty());
    }
    assert_eq!(cap.sessions(), MAX_SESSIONS);
    let admission = cap.admit(&noise("new", 1000));
    let [summary] = &admission.summaries[..] else {
        panic!("{:?}", admission.summaries)
    };
    assert_eq!(summary.closed, Closed::Evicted);
    assert_eq!(summary.session.process.entity_id.as_deref(), Some("s0"));
    assert_eq!(cap.sessions(), MAX_SESSIONS);
    assert_eq!(cap.evicted(), 1);
    let admission = cap.admit(&noise("newer", 1001));
    assert_eq!(
        admission.summaries[0].session.process.entity_id.as_deref(),
        Some("s1")
    );
    assert_eq!(cap.evicted(), 2);
}

#[test]
fn the_newest_stage1_names_the_session() {
    let mut cap = RateCap::new(0, 300 * S);
    cap.admit(&noise("A", 1));
    let mut later = noise("A", 3);
    let mut s1 = (*later.stage1).clone();
    s1.process.pid = Some(4242);
    later.stage1 = Arc::new(s1);
    cap.admit(&later);
    cap.admit(&noise("A", 2));
    assert_eq!(cap.flush()[0].session.process.pid, Some(4242));
}

#[test]
fn zero_max_suppresses_everything_and_new_limits_apply() {
    let mut cap = RateCap::new(0, S);
    assert_eq!(cap.admit(&noise("A", 0)).verdict, Verdict::Suppress);
    cap.set_limits(5, 10 * S);
    assert_eq!(cap.admit(&noise("A", 0)).verdict, Verdict::Emit);
}

#[test]
fn closing_reasons_have_stable_names() {
    assert_eq!(Closed::WindowEnded.as_str(), "window_ended");
    assert_eq!(Closed::Evicted.as_str(), "evicted");
    assert_eq!(Closed::Flushed.as_str(), "flushed");
}

#[test]
fn the_session_keeps_host_parent_and_context_but_no_args() {
    let mut cap = RateCap::new(0, 300 * S);
    let mut a = noise("A", 1);
    let mut s1 = (*a.stage1).clone();
    s1.session = Some(crate::event::Session {
        user: Some("alice".into()),
        ..Default::default()
    });
    s1.process.args = Some(vec!["-bash".into()]);
    a.stage1 = Arc::new(s1);
    cap.admit(&a);
    let summary = cap.flush().remove(0);
    let s = &*summary.session;
    assert_eq!(s.host_id.as_deref(), Some("host-1"));
    assert_eq!(s.host_name.as_deref(), Some("web1"));
    assert_eq!(s.host_os_type.as_deref(), Some("linux"));
    assert_eq!(s.parent.executable.as_deref(), Some("/usr/sbin/sshd"));
    assert_eq!(s.parent.pid, Some(1100));
    assert_eq!(s.process.pid, Some(1200));
    assert_eq!(s.process.executable.as_deref(), Some("/usr/bin/bash"));
    assert_eq!(s.timestamp, a.stage1.timestamp);
    assert_eq!(
        s.session.as_ref().and_then(|c| c.user.as_deref()),
        Some("alice")
    );
    assert_eq!(
        (s.process.args.as_ref(), s.parent.args.as_ref()),
        (None, None)
    );
    let without_args = |p: &Process| Process {
        args: None,
        ..p.clone()
    };
    assert_eq!(s.process, without_args(&a.stage1.process));
    assert_eq!(s.parent, without_args(&a.stage1.parent));
    assert_eq!(
        summary.destinations[0].process,
        without_args(&a.stage2.process)
    );
}

#[test]
fn on_equal_stage1_times_the_later_arrival_names_the_session() {
    let mut cap = RateCap::new(0, 300 * S);
    cap.admit(&noise("A", 1));
    let mut again = noise("A", 1);
    let mut s1 = (*again.stage1).clone();
    s1.process.pid = Some(77);
    again.stage1 = Arc::new(s1);
    cap.admit(&again);
    assert_eq!(cap.flush()[0].session.process.pid, Some(77));
}
