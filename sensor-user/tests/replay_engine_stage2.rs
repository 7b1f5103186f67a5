//! `Engine::process_held` with a stage-2 key (what replay feeds stage-2 candidates through,
//! building the events only when they complete a sequence) and the engine's key filter give
//! exactly what `Engine::process` gives.

use sshd_sensor::event::{Event, TimestampNs};
use sshd_sensor::rule::{Engine, Held, Limits, RuleConfig, Stage2Key};

fn event(ts: TimestampNs, action: &str, host: &str, entity: &str, parent: &str) -> Event {
    let mut e = Event {
        timestamp: ts,
        host_id: Some(host.to_owned()),
        host_os_type: Some("linux".to_owned()),
        event_type: vec!["start".to_owned()],
        action: Some(action.to_owned()),
        ..Event::default()
    };
    e.process.entity_id = Some(entity.to_owned());
    e.parent.entity_id = Some(parent.to_owned());
    if action == "exec" {
        e.category = vec!["process".to_owned()];
        e.parent.executable = Some("/usr/sbin/sshd".to_owned());
    } else {
        e.category = vec!["network".to_owned()];
        e.destination.ip = Some([93, 184, 216, 34].into());
    }
    e
}

/// Same alerts and counters, fed either way, over a pseudo-random mix of keys, time steps
/// (some backwards, some past maxspan) and enough keys to rebuild the filter many times.
#[test]
fn same_answers_as_process() {
    let limits = Limits {
        max_pending: 3000,
        ..Limits::default()
    };
    let mut plain = Engine::new(RuleConfig::default(), limits);
    let mut keyed = Engine::new(RuleConfig::default(), limits);
    let mut x: u64 = 7;
    let mut ts: TimestampNs = 1_700_000_000_000_000_000;
    let mut alerts = 0;
    for i in 0..200_000u64 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let r = x >> 33;
        ts += (r % 5_000_000) as TimestampNs - 400_000;
        // Independent choices from different bits of `x`.
        let host = format!("h{}", (x >> 20) % 3);
        // Few keys at first, then mostly new ones: both hits and a filter that fills up.
        let k = x >> 40;
        let key = if i < 50_000 { k % 500 } else { k % 50_000 };
        let entity = format!("e{key}");
        if (x >> 10).is_multiple_of(4) {
            let e = event(ts, "exec", &host, &entity, "sshd");
            assert_eq!(plain.process(e.clone()), None);
            assert_eq!(keyed.process(e), None);
            continue;
        }
        let e = event(ts, "connection_attempted", &host, &format!("c{i}"), &entity);
        assert!(keyed.is_stage2(&e));
        let want = plain.process(e.clone());
        let key = Stage2Key::new(ts, Some(&host), Some(&entity));
        let whole1 = |h: &Event| event(h.timestamp, "exec", &host, &entity, "sshd");
        let got = keyed.process_held(Held::Stage2(key), (whole1, || e.clone()));
        let got = got.unwrap_or_else(|m| panic!("event {i}: {m}"));
        assert_eq!(got, want, "event {i}");
        alerts += usize::from(got.is_some());
        assert_eq!(keyed.stats(), plain.stats(), "event {i}");
        assert_eq!(
            keyed.is_pending(&host, &entity),
            plain.is_pending(&host, &entity)
        );
    }
    assert!(alerts > 1000, "the test must exercise matches: {alerts}");
    assert!(keyed.stats().expired > 0 && keyed.stats().out_of_order > 0);
}

#[test]
fn null_key_counts_and_never_builds() {
    let mut engine = Engine::new(RuleConfig::default(), Limits::default());
    let never = (|_: &Event| panic!("built"), || panic!("built"));
    let built = engine.process_held(Held::Stage2(Stage2Key::new(5, None, Some("p"))), never);
    assert_eq!(built, Ok(None));
    let stats = engine.stats();
    assert_eq!((stats.events, stats.stage2_candidates), (1, 1));
}
