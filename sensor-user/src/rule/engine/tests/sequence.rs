//! Sequence mechanics: maxspan, event order, keys, newest-wins, consumption, expiry, bounds.

use super::{MS, S, T0, connect, engine, exec, run};
use crate::event::TimestampNs;
use crate::rule::engine::filter::KeyFilter;
use crate::rule::engine::{Engine, EngineStats, Limits, QUEUE_SLACK, RuleConfig};

#[test]
fn sequence_alerts_with_both_events() {
    let mut e = engine();
    let stage1 = exec(T0, "h1", "bash-1");
    let stage2 = connect(T0 + 200 * MS, "h1", "bash-1", "8.8.8.8");
    assert!(e.process(stage1.clone()).is_none());
    let alert = e
        .process(stage2.clone())
        .unwrap_or_else(|| panic!("no alert"));
    assert_eq!(*alert.stage1, stage1);
    assert_eq!(*alert.stage2, stage2);
}

#[test]
fn exact_maxspan_alerts() {
    let mut e = engine();
    let alerts = run(
        &mut e,
        [exec(T0, "h1", "b"), connect(T0 + S, "h1", "b", "8.8.8.8")],
    );
    assert_eq!(alerts.len(), 1);
}

#[test]
fn maxspan_plus_one_ns_does_not_alert() {
    let mut e = engine();
    let alerts = run(
        &mut e,
        [
            exec(T0, "h1", "b"),
            connect(T0 + S + 1, "h1", "b", "8.8.8.8"),
        ],
    );
    assert!(alerts.is_empty());
    assert_eq!(e.stats().expired, 1);
    assert_eq!(e.stats().pending, 0);
}

#[test]
fn stage2_before_stage1_does_not_alert() {
    let mut e = engine();
    let alerts = run(
        &mut e,
        [connect(T0, "h1", "b", "8.8.8.8"), exec(T0 + MS, "h1", "b")],
    );
    assert!(alerts.is_empty());
    assert_eq!(e.stats().pending, 1);
}

#[test]
fn equal_timestamps_in_order_alert() {
    let mut e = engine();
    let alerts = run(
        &mut e,
        [exec(T0, "h1", "b"), connect(T0, "h1", "b", "8.8.8.8")],
    );
    assert_eq!(alerts.len(), 1);
    let mut e = engine();
    let alerts = run(
        &mut e,
        [connect(T0, "h1", "b", "8.8.8.8"), exec(T0, "h1", "b")],
    );
    assert!(alerts.is_empty(), "stage 2 fed first is not after stage 1");
}

#[test]
fn out_of_order_stage2_older_than_stage1_does_not_match() {
    let mut e = engine();
    let alerts = run(
        &mut e,
        [
            exec(T0 + 10 * MS, "h1", "b"),
            connect(T0, "h1", "b", "8.8.8.8"),
        ],
    );
    assert!(alerts.is_empty());
    assert_eq!(e.stats().out_of_order, 1);
    // The stage 1 is still there for a connect that really follows it.
    assert!(
        e.process(connect(T0 + 20 * MS, "h1", "b", "8.8.8.8"))
            .is_some()
    );
}

#[test]
fn out_of_order_counting() {
    let mut e = engine();
    let ts = [T0, T0 + 5, T0 + 3, T0 + 5, T0 + 4, T0 + 6, T0 + 6];
    for t in ts {
        let mut ev = exec(t, "h1", "x");
        ev.action = Some("fork".to_owned());
        assert!(e.process(ev).is_none());
    }
    let stats = e.stats();
    assert_eq!(stats.events, 7);
    assert_eq!(
        stats.out_of_order, 2,
        "T0+3 and T0+4 went backwards; equal is not"
    );
}

#[test]
fn newest_stage1_wins() {
    let mut e = engine();
    let first = exec(T0, "h1", "b");
    let mut second = exec(T0 + 600 * MS, "h1", "b");
    second.process.executable = Some("/usr/bin/zsh".to_owned());
    let alerts = run(
        &mut e,
        [
            first,
            second.clone(),
            connect(T0 + 1_500 * MS, "h1", "b", "8.8.8.8"),
        ],
    );
    assert_eq!(alerts.len(), 1);
    assert_eq!(*alerts[0].stage1, second);
    assert_eq!(e.stats().pending, 0);
    assert_eq!(
        e.stats().expired,
        0,
        "the replaced stage 1 is not counted as expired"
    );
}

#[test]
fn newest_stage1_only_one_sequence() {
    let mut e = engine();
    let alerts = run(
        &mut e,
        [
            exec(T0, "h1", "b"),
            exec(T0 + 100 * MS, "h1", "b"),
            exec(T0 + 200 * MS, "h1", "b"),
            connect(T0 + 300 * MS, "h1", "b", "8.8.8.8"),
            connect(T0 + 400 * MS, "h1", "b", "8.8.8.8"),
        ],
    );
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].stage1.timestamp, T0 + 200 * MS);
}

#[test]
fn late_older_stage1_does_not_replace_newer() {
    let mut e = engine();
    let newer = exec(T0 + 500 * MS, "h1", "b");
    let alerts = run(
        &mut e,
        [
            newer.clone(),
            exec(T0 + 400 * MS, "h1", "b"),
            connect(T0 + 600 * MS, "h1", "b", "8.8.8.8"),
        ],
    );
    assert_eq!(alerts.len(), 1);
    assert_eq!(*alerts[0].stage1, newer);
}

#[test]
fn match_consumes_stage1() {
    let mut e = engine();
    let alerts = run(
        &mut e,
        [
            exec(T0, "h1", "b"),
            connect(T0 + 100 * MS, "h1", "b", "8.8.8.8"),
            connect(T0 + 200 * MS, "h1", "b", "1.1.1.1"),
        ],
    );
    assert_eq!(alerts.len(), 1);
    assert_eq!(e.stats().pending, 0);
    let again = run(
        &mut e,
        [
            exec(T0 + 300 * MS, "h1", "b"),
            connect(T0 + 400 * MS, "h1", "b", "1.1.1.1"),
        ],
    );
    assert_eq!(again.len(), 1, "a new stage-1 exec re-arms the key");
}

#[test]
fn expired_stage1_is_dropped() {
    let mut e = engine();
    let mut other = exec(T0 + S + 11, "h2", "unrelated");
    other.action = Some("fork".to_owned());
    run(
        &mut e,
        [exec(T0, "h1", "b"), exec(T0 + 10, "h1", "c"), other],
    );
    let stats = e.stats();
    assert_eq!(stats.expired, 2);
    assert_eq!(stats.pending, 0);
    assert!(e.pending.is_empty());
    assert!(e.queue.is_empty());
    // Even an out-of-order connect within 1 s of the dropped stage 1 finds nothing.
    assert!(
        e.process(connect(T0 + 500 * MS, "h1", "b", "8.8.8.8"))
            .is_none()
    );
}

#[test]
fn late_stage1_beyond_maxspan_is_not_stored() {
    let mut e = engine();
    let mut now = exec(T0 + 2 * S, "h2", "x");
    now.action = Some("fork".to_owned());
    run(&mut e, [now, exec(T0, "h1", "b")]);
    assert_eq!(e.stats().pending, 0);
    assert_eq!(e.stats().expired, 1);
    assert_eq!(e.stats().out_of_order, 1);
}

#[test]
fn null_host_id_never_joins() {
    let mut e = engine();
    let mut s1 = exec(T0, "h1", "b");
    s1.host_id = None;
    let mut s2 = connect(T0 + MS, "h1", "b", "8.8.8.8");
    s2.host_id = None;
    assert!(run(&mut e, [s1.clone(), s2.clone()]).is_empty());
    assert_eq!(e.stats().stage1, 1);
    assert_eq!(
        e.stats().pending,
        0,
        "a stage 1 with a null key is not stored"
    );
    // Nor does a null-host stage 2 join a real one.
    assert!(run(&mut e, [exec(T0 + 2 * MS, "h1", "b"), s2]).is_empty());
}

#[test]
fn null_entity_id_never_joins() {
    let mut e = engine();
    let mut s1 = exec(T0, "h1", "b");
    s1.process.entity_id = None;
    let mut s2 = connect(T0 + MS, "h1", "b", "8.8.8.8");
    s2.parent.entity_id = None;
    assert!(run(&mut e, [s1, s2]).is_empty());
    assert_eq!(e.stats().pending, 0);
}

#[test]
fn null_parent_entity_id_never_joins() {
    let mut e = engine();
    let mut s2 = connect(T0 + MS, "h1", "b", "8.8.8.8");
    s2.parent.entity_id = None;
    assert!(run(&mut e, [exec(T0, "h1", "b"), s2]).is_empty());
    assert_eq!(e.stats().stage2_candidates, 1);
    assert_eq!(e.stats().pending, 1, "the stage 1 is untouched");
}

#[test]
fn different_host_does_not_join() {
    let mut e = engine();
    assert!(
        run(
            &mut e,
            [exec(T0, "h1", "b"), connect(T0 + MS, "h2", "b", "8.8.8.8")]
        )
        .is_empty()
    );
    assert_eq!(
        run(&mut e, [connect(T0 + 2 * MS, "h1", "b", "8.8.8.8")]).len(),
        1
    );
}

#[test]
fn pid_reuse_does_not_join() {
    let mut e = engine();
    let s1 = exec(T0, "h1", "4242-boot-start1");
    let mut s2 = connect(T0 + MS, "h1", "4242-boot-start2", "8.8.8.8");
    assert_eq!(s2.parent.pid, s1.process.pid, "same pid");
    s2.parent.executable = s1.process.executable.clone();
    assert!(run(&mut e, [s1, s2]).is_empty());
}

#[test]
fn connect_by_stage1_itself_does_not_join() {
    // The join is stage2.process.parent.entity_id, not stage2.process.entity_id.
    let mut e = engine();
    let mut s2 = connect(T0 + MS, "h1", "sshd-parent", "8.8.8.8");
    s2.process.entity_id = Some("b".to_owned());
    assert!(run(&mut e, [exec(T0, "h1", "b"), s2]).is_empty());
}

#[test]
fn eviction_at_max_pending() {
    let mut e = Engine::new(
        RuleConfig::default(),
        Limits {
            max_pending: 2,
            ..Limits::default()
        },
    );
    run(
        &mut e,
        [
            exec(T0, "h1", "a"),
            exec(T0 + MS, "h1", "b"),
            exec(T0 + 2 * MS, "h1", "b"),
        ],
    );
    assert_eq!(e.stats().evicted, 0, "replacing a held key is not eviction");
    run(&mut e, [exec(T0 + 3 * MS, "h2", "c")]);
    let stats = e.stats();
    assert_eq!(stats.evicted, 1);
    assert_eq!(stats.pending, 2);
    let alerts = run(
        &mut e,
        [
            connect(T0 + 4 * MS, "h1", "a", "8.8.8.8"),
            connect(T0 + 5 * MS, "h1", "b", "8.8.8.8"),
            connect(T0 + 6 * MS, "h2", "c", "8.8.8.8"),
        ],
    );
    let keys: Vec<_> = alerts
        .iter()
        .map(|a| a.stage1.process.entity_id.clone())
        .collect();
    assert_eq!(
        keys,
        [Some("b".to_owned()), Some("c".to_owned())],
        "the oldest, a, was evicted"
    );
}

#[test]
fn max_pending_zero_holds_nothing() {
    let mut e = Engine::new(
        RuleConfig::default(),
        Limits {
            max_pending: 0,
            ..Limits::default()
        },
    );
    assert!(
        run(
            &mut e,
            [exec(T0, "h1", "a"), connect(T0 + MS, "h1", "a", "8.8.8.8")]
        )
        .is_empty()
    );
    assert_eq!(e.stats().evicted, 1);
    assert_eq!(e.stats().pending, 0);
}

#[test]
fn stats_count_each_kind() {
    let mut e = engine();
    let mut excluded = connect(T0 + 2 * MS, "h1", "b", "10.0.0.1");
    excluded.process.name = Some("curl".to_owned());
    let mut fork = exec(T0 + 3 * MS, "h1", "b");
    fork.action = Some("fork".to_owned());
    run(
        &mut e,
        [
            exec(T0, "h1", "b"),
            connect(T0 + MS, "h1", "nobody", "8.8.8.8"),
            excluded,
            fork,
            connect(T0 + 4 * MS, "h1", "b", "8.8.8.8"),
        ],
    );
    assert_eq!(
        e.stats(),
        EngineStats {
            events: 5,
            stage1: 1,
            stage2_candidates: 2,
            alerts: 1,
            expired: 0,
            evicted: 0,
            evicted_bytes: 0,
            pending: 0,
            out_of_order: 0,
        }
    );
}

#[test]
fn queue_stays_bounded_under_churn() {
    let mut e = engine();
    for i in 0..50_000 {
        // The same key re-exec'd and consumed over and over within one second.
        assert!(e.process(exec(T0 + i, "h1", "b")).is_none());
        if i % 2 == 0 {
            assert!(e.process(connect(T0 + i, "h1", "b", "8.8.8.8")).is_some());
        }
    }
    assert!(
        e.queue.len() <= 2 * e.pending_len + QUEUE_SLACK + 1,
        "{}",
        e.queue.len()
    );
    assert_eq!(e.stats().alerts, 25_000);
}

#[test]
fn many_keys_expire_together() {
    let mut e = engine();
    for i in 0..10_000 {
        e.process(exec(T0 + i, "h1", &format!("b{i}")));
    }
    assert_eq!(e.stats().pending, 10_000);
    assert!(
        e.process(connect(T0 + S + 5_000, "h1", "b5000", "8.8.8.8"))
            .is_some()
    );
    assert!(
        e.process(connect(T0 + S + 5_000, "h1", "b4999", "8.8.8.8"))
            .is_none()
    );
    let stats = e.stats();
    assert_eq!(stats.expired, 5_000);
    assert_eq!(stats.pending, 4_999);
}

#[test]
fn extreme_timestamps_do_not_overflow() {
    let mut e = engine();
    assert!(e.process(exec(TimestampNs::MIN, "h1", "a")).is_none());
    assert!(
        e.process(connect(TimestampNs::MAX, "h1", "a", "8.8.8.8"))
            .is_none()
    );
    assert!(e.process(exec(TimestampNs::MAX, "h1", "b")).is_none());
    assert!(
        e.process(connect(TimestampNs::MAX, "h1", "b", "8.8.8.8"))
            .is_some()
    );
    assert!(
        e.process(connect(TimestampNs::MIN, "h1", "b", "8.8.8.8"))
            .is_none()
    );
}

/// An exec carrying a raw line of `bytes` bytes, as replay holds a stage 1.
fn exec_with_line(at: TimestampNs, host: &str, entity: &str, bytes: usize) -> crate::event::Event {
    let mut e = exec(at, host, entity);
    e.raw = Some(vec![b'x'; bytes].into_boxed_slice());
    e
}

#[test]
fn held_lines_are_bounded_in_bytes_evicting_the_oldest() {
    let mut e = Engine::new(
        RuleConfig::default(),
        Limits {
            max_held_bytes: 2500,
            ..Limits::default()
        },
    );
    run(
        &mut e,
        [
            exec_with_line(T0, "h1", "a", 1000),
            exec_with_line(T0 + MS, "h1", "b", 1000),
        ],
    );
    assert_eq!(e.stats().evicted_bytes, 0);
    // A third line passes the budget: the oldest, a, goes.
    run(&mut e, [exec_with_line(T0 + 2 * MS, "h1", "c", 1000)]);
    assert_eq!(e.stats().evicted_bytes, 1);
    assert_eq!(e.stats().evicted, 0, "not a max_pending eviction");
    assert_eq!(e.stats().pending, 2);
    // Replacing b's line: the stale one is dropped first, nothing live is evicted.
    run(&mut e, [exec_with_line(T0 + 3 * MS, "h1", "b", 1000)]);
    assert_eq!(e.stats().evicted_bytes, 1);
    let alerts = run(
        &mut e,
        [
            connect(T0 + 4 * MS, "h1", "a", "8.8.8.8"),
            connect(T0 + 5 * MS, "h1", "b", "8.8.8.8"),
            connect(T0 + 6 * MS, "h1", "c", "8.8.8.8"),
        ],
    );
    let keys: Vec<_> = alerts
        .iter()
        .map(|a| a.stage1.process.entity_id.clone())
        .collect();
    assert_eq!(keys, [Some("b".to_owned()), Some("c".to_owned())]);
    // One line over the whole budget is not held at all.
    run(&mut e, [exec_with_line(T0 + 7 * MS, "h1", "d", 3000)]);
    assert_eq!(e.stats().evicted_bytes, 2);
    assert_eq!(e.stats().pending, 0);
}

/// Eviction for bytes stops as soon as the lines held fit the budget: exactly the budget is
/// within it.
#[test]
fn held_lines_may_fill_the_byte_budget_exactly() {
    let mut e = Engine::new(
        RuleConfig::default(),
        Limits {
            max_held_bytes: 2000,
            ..Limits::default()
        },
    );
    run(
        &mut e,
        [
            exec_with_line(T0, "h1", "a", 1000),
            exec_with_line(T0 + MS, "h1", "b", 1000),
            exec_with_line(T0 + 2 * MS, "h1", "c", 1000),
        ],
    );
    let stats = e.stats();
    assert_eq!((stats.evicted_bytes, stats.pending), (1, 2), "{stats:?}");
    assert!(!e.is_pending("h1", "a"));
    assert!(e.is_pending("h1", "b"));
    assert!(e.is_pending("h1", "c"));
}

/// Replaced entries leave stale queue slots; they are dropped once they outnumber the live
/// ones (with some slack), so the queue stays within twice the keys held plus that slack.
#[test]
fn the_queue_is_bounded_by_the_keys_held() {
    let mut e = engine();
    let mut longest = 0;
    for i in 0..5000 {
        let entity = format!("k{}", i % 10);
        assert!(e.process(exec(T0, "h1", &entity)).is_none());
        assert!(
            e.queue.len() <= 2 * 10 + QUEUE_SLACK,
            "after {i}: {}",
            e.queue.len()
        );
        longest = longest.max(e.queue.len());
    }
    assert_eq!(e.stats().pending, 10);
    // Compaction waits for the bound (amortised O(1) per stored key), not sooner.
    assert_eq!(longest, 2 * 10 + QUEUE_SLACK);
}

/// The key filter is rebuilt exactly when the keys set since its last rebuild outnumber twice
/// the keys held plus its slack: its fill (so its share of false "maybe held") stays bounded,
/// and rebuilds stay amortised O(1) per stored key. About 100 keys are held at a time (one new
/// key every 10 ms, each expiring after the 1 s maxspan).
#[test]
fn the_key_filter_is_rebuilt_when_its_insertions_outnumber_the_held_keys() {
    let mut e = engine();
    let mut expected = 0;
    let mut rebuilds = 0;
    for i in 0..12_000i64 {
        assert!(
            e.process(exec(T0 + i * 10 * MS, "h1", &format!("k{i}")))
                .is_none()
        );
        expected += 1;
        if expected > 2 * e.pending_len + KeyFilter::SLACK {
            expected = e.pending_len;
            rebuilds += 1;
        }
        assert_eq!(e.filter.inserted, expected, "after key {i}");
    }
    assert!(
        (100..=101).contains(&e.pending_len),
        "{} held",
        e.pending_len
    );
    assert_eq!(rebuilds, 2);
}
