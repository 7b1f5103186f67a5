//! `Engine::process_held`, replay's entry point for events held in a cheaper form: the same
//! answers and counters as `process` of the whole events, and a refusal (never an alert) when
//! the whole events are not what was held.

use super::{MS, T0, connect, engine, exec};
use crate::event::{Event, TimestampNs};
use crate::rule::engine::{Engine, Held, HeldMismatch, Limits, RuleConfig, Stage2Key};

/// What replay holds of a stage 1: its time, key and a raw line.
fn stub(e: &Event) -> Box<Event> {
    let mut stub = Event {
        timestamp: e.timestamp,
        host_id: e.host_id.clone(),
        raw: Some(Box::from(&b"line"[..])),
        ..Event::default()
    };
    stub.process.entity_id = e.process.entity_id.clone();
    Box::new(stub)
}

fn key(e: &Event) -> Stage2Key<'_> {
    Stage2Key::new(
        e.timestamp,
        e.host_id.as_deref(),
        e.parent.entity_id.as_deref(),
    )
}

/// Holds `stage1` (as its stub), then feeds `stage2` by its key, building the whole events as
/// `whole1` and `stage2`.
fn held_pair(
    stage1: &Event,
    whole1: Event,
    stage2: &Event,
    key: Stage2Key<'_>,
) -> Result<Option<crate::event::Alert>, HeldMismatch> {
    let mut e = engine();
    let never = (|_: &Event| panic!("built"), || panic!("built"));
    assert_eq!(e.process_held(Held::Stage1(stub(stage1)), never), Ok(None));
    e.process_held(
        Held::Stage2(key),
        (|_: &Event| whole1.clone(), || stage2.clone()),
    )
}

/// Fed held (stage 1s as stubs, stage 2s by key), over a pseudo-random stream with keys
/// replaced, expired, evicted and matched, the engine gives what `process` of the whole events
/// gives: same alerts (with the whole events built), same counters after every event.
#[test]
fn held_is_process_of_the_whole_events() {
    let limits = Limits {
        max_pending: 40,
        ..Limits::default()
    };
    let mut whole = Engine::new(RuleConfig::default(), limits);
    let mut held = Engine::new(RuleConfig::default(), limits);
    let mut x: u64 = 11;
    let mut ts = T0;
    for i in 0..20_000u64 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        // Mostly forward, sometimes back, sometimes past maxspan.
        ts += ((x >> 33) % (30 * MS as u64)) as TimestampNs - 5 * MS;
        let host = format!("h{}", (x >> 20) % 3);
        let entity = format!("e{}", (x >> 40) % 100);
        if (x >> 10).is_multiple_of(3) {
            let e = exec(ts, &host, &entity);
            assert_eq!(whole.process(e.clone()), None);
            let never = (|_: &Event| panic!("built"), || panic!("built"));
            assert_eq!(held.process_held(Held::Stage1(stub(&e)), never), Ok(None));
        } else {
            let e = connect(ts, &host, &entity, "93.184.216.34");
            let want = whole.process(e.clone());
            let rebuild = |h: &Event| {
                assert_eq!(h.raw.as_deref(), Some(&b"line"[..]), "the held stage 1");
                let mut w = exec(h.timestamp, &host, &entity);
                w.raw.clone_from(&h.raw);
                w
            };
            let got = held.process_held(Held::Stage2(key(&e)), (rebuild, || e.clone()));
            let got = got.unwrap_or_else(|m| panic!("event {i}: {m}"));
            assert_eq!(got.is_some(), want.is_some(), "event {i}");
            if let (Some(got), Some(want)) = (got, want) {
                assert_eq!(got.stage1.timestamp, want.stage1.timestamp);
                assert_eq!(got.stage1.process.entity_id, want.stage1.process.entity_id);
                assert_eq!(got.stage1.raw.as_deref(), Some(&b"line"[..]));
                assert_eq!(got.stage2, want.stage2);
            }
        }
        assert_eq!(held.stats(), whole.stats(), "event {i}");
    }
    let stats = held.stats();
    assert!(
        stats.alerts > 100 && stats.expired > 0 && stats.evicted > 0,
        "{stats:?}"
    );
}

/// The counters of a known stream, exactly: every event, every stage 1, every stage-2
/// candidate (matched or not) and every alert counts once, through `process` and through
/// `process_held` alike.
#[test]
fn counters_count_each_event_once() {
    let stream = || {
        [
            exec(T0, "h", "a"),
            connect(T0 + MS, "h", "b", "93.184.216.34"),
            connect(T0 + 2 * MS, "h", "a", "93.184.216.34"),
            connect(T0 + 3 * MS, "h", "a", "10.0.0.1"),
        ]
    };
    let mut plain = engine();
    let alerts = super::run(&mut plain, stream());
    assert_eq!(alerts.len(), 1);
    let stats = plain.stats();
    assert_eq!(
        (
            stats.events,
            stats.stage1,
            stats.stage2_candidates,
            stats.alerts
        ),
        (4, 1, 2, 1),
        "{stats:?}"
    );

    let mut keyed = engine();
    let mut keyed_alerts = 0;
    let first = exec(T0, "h", "a");
    for e in stream() {
        let got = if keyed.is_stage1(&e) {
            keyed.process_held(Held::Stage1(stub(&e)), (|_: &Event| panic!(), || panic!()))
        } else if keyed.is_stage2(&e) {
            keyed.process_held(
                Held::Stage2(key(&e)),
                (|_: &Event| first.clone(), || e.clone()),
            )
        } else {
            Ok(keyed.process(e))
        };
        keyed_alerts += usize::from(got.is_ok_and(|a| a.is_some()));
    }
    assert_eq!(keyed_alerts, 1, "process_held must complete the sequence");
    assert_eq!(keyed.stats(), stats);
}

/// A null key half counts the candidate, matches nothing and builds nothing.
#[test]
fn null_key_counts_and_never_builds() {
    let mut e = engine();
    assert_eq!(e.process(exec(T0, "h", "a")), None);
    let never = (|_: &Event| panic!("built"), || panic!("built"));
    let key = Stage2Key::new(T0 + MS, None, Some("a"));
    assert_eq!(e.process_held(Held::Stage2(key), never), Ok(None));
    let stats = e.stats();
    assert_eq!(
        (stats.events, stats.stage2_candidates, stats.alerts),
        (2, 1, 0)
    );
    assert!(e.is_pending("h", "a"), "nothing consumed");
}

#[test]
fn matches_only_with_the_key() {
    let (s1, s2) = (
        exec(T0, "h", "a"),
        connect(T0 + MS, "h", "a", "93.184.216.34"),
    );
    let other = connect(T0 + MS, "h", "b", "93.184.216.34");
    assert_eq!(held_pair(&s1, s1.clone(), &other, key(&other)), Ok(None));
    let alert = held_pair(&s1, s1.clone(), &s2, key(&s2));
    assert_eq!(alert.map(|a| a.map(|a| a.stage1.timestamp)), Ok(Some(T0)));
}

/// Whole events that are not what was held are refused with what differed, every build.
#[test]
fn whole_events_unlike_the_held_ones_are_refused() {
    let s1 = exec(T0, "h", "a");
    let s2 = connect(T0 + MS, "h", "a", "93.184.216.34");
    let refused = |whole1: Event, whole2: Event, key: Stage2Key<'_>| {
        held_pair(&s1, whole1, &whole2, key).map(|a| a.is_some())
    };
    let mismatch = |stage, what| Err(HeldMismatch { stage, what });

    let mut later = s1.clone();
    later.timestamp += 1;
    assert_eq!(
        refused(later, s2.clone(), key(&s2)),
        mismatch("stage 1", "timestamp")
    );
    let mut other_key = s1.clone();
    other_key.process.entity_id = Some("z".to_owned());
    let got = refused(other_key, s2.clone(), key(&s2));
    assert_eq!(got, mismatch("stage 1", "join key"));
    let mut not_stage1 = s1.clone();
    not_stage1.parent.executable = Some("/usr/bin/cron".to_owned());
    let got = refused(not_stage1, s2.clone(), key(&s2));
    assert_eq!(got, mismatch("stage 1", "stage 1 does not hold for it"));

    let mut s2_late = s2.clone();
    s2_late.timestamp += 1;
    let got = refused(s1.clone(), s2_late, key(&s2));
    assert_eq!(got, mismatch("stage 2", "timestamp"));
    let mut s2_host = s2.clone();
    s2_host.host_id = Some("g".to_owned());
    let got = refused(s1.clone(), s2_host, key(&s2));
    assert_eq!(got, mismatch("stage 2", "join key"));
    let mut excluded = s2.clone();
    excluded.destination.ip = Some(super::ip("10.0.0.1"));
    let got = refused(s1.clone(), excluded, key(&s2));
    assert_eq!(got, mismatch("stage 2", "stage 2 does not hold for it"));
    let mut both = exec(T0 + MS, "h", "c");
    both.parent.entity_id = Some("a".to_owned());
    let got = refused(s1.clone(), both, key(&s2));
    assert_eq!(got, mismatch("stage 2", "it is a stage 1"));

    assert_eq!(refused(s1.clone(), s2.clone(), key(&s2)), Ok(true));
}
