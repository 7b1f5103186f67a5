//! Which events are stage 1 and stage 2: the conditions, the exclusions as the engine applies
//! them, and configuration.

use super::{MS, S, T0, connect, engine, exec, ip, net, run};
use crate::event::TimestampNs;
use crate::rule::engine::{Engine, Limits, RuleConfig};
use crate::rule::seed::{EXCLUDED_CIDRS, EXCLUDED_IP, MAXSPAN_NS};
use ipnetwork::IpNetwork;

#[test]
fn default_config_is_the_seed() {
    let c = RuleConfig::default();
    assert_eq!(c.parent_executables, vec!["/usr/sbin/sshd".to_owned()]);
    assert!(c.extra_excluded_cidrs.is_empty());
    assert!(c.extra_excluded_names.is_empty());
    assert!(c.extra_excluded_executables.is_empty());
    assert_eq!(Limits::default().max_pending, 65_536);
    assert_eq!(MAXSPAN_NS, S);
}

#[test]
fn parent_executable_is_case_sensitive() {
    let e = engine();
    let mut s1 = exec(T0, "h1", "b");
    s1.parent.executable = Some("/usr/sbin/SSHD".to_owned());
    assert!(!e.is_stage1(&s1));
    s1.parent.executable = None;
    assert!(!e.is_stage1(&s1));
    s1.parent.executable = Some("/usr/sbin/sshd".to_owned());
    assert!(e.is_stage1(&s1));
}

#[test]
fn configured_parent_executables() {
    let mut config = RuleConfig::default();
    config
        .parent_executables
        .push("/usr/lib/openssh/sshd-session".to_owned());
    let mut e = Engine::new(config, Limits::default());
    let mut s1 = exec(T0, "h1", "b");
    s1.parent.executable = Some("/usr/lib/openssh/sshd-session".to_owned());
    assert!(e.is_stage1(&s1));
    assert_eq!(
        run(&mut e, [s1, connect(T0 + MS, "h1", "b", "8.8.8.8")]).len(),
        1
    );
}

#[test]
fn non_linux_host_is_neither_stage() {
    let e = engine();
    for os in [Some("windows"), Some("macos"), Some("Linux"), None] {
        let mut s1 = exec(T0, "h1", "b");
        s1.host_os_type = os.map(str::to_owned);
        assert!(!e.is_stage1(&s1), "{os:?}");
        let mut s2 = connect(T0, "h1", "b", "8.8.8.8");
        s2.host_os_type = os.map(str::to_owned);
        assert!(!e.is_stage2(&s2), "{os:?}");
    }
}

#[test]
fn event_type_must_contain_start() {
    let e = engine();
    for types in [vec![], vec!["end"], vec!["info", "change"]] {
        let types: Vec<String> = types.into_iter().map(str::to_owned).collect();
        let mut s1 = exec(T0, "h1", "b");
        s1.event_type = types.clone();
        assert!(!e.is_stage1(&s1), "{types:?}");
        let mut s2 = connect(T0, "h1", "b", "8.8.8.8");
        s2.event_type = types.clone();
        assert!(!e.is_stage2(&s2), "{types:?}");
    }
    let mut s1 = exec(T0, "h1", "b");
    s1.event_type = vec!["info".to_owned(), "start".to_owned()];
    assert!(e.is_stage1(&s1), "any element of event.type may match");
}

#[test]
fn category_and_action_must_match() {
    let e = engine();
    let mut s1 = exec(T0, "h1", "b");
    s1.category = vec!["network".to_owned()];
    assert!(!e.is_stage1(&s1));
    let mut s1 = exec(T0, "h1", "b");
    s1.action = Some("fork".to_owned());
    assert!(!e.is_stage1(&s1));
    let mut s2 = connect(T0, "h1", "b", "8.8.8.8");
    s2.category = vec!["process".to_owned()];
    assert!(!e.is_stage2(&s2));
    let mut s2 = connect(T0, "h1", "b", "8.8.8.8");
    s2.action = Some("connection_accepted".to_owned());
    assert!(!e.is_stage2(&s2));
    // An exec is never stage 2, even with network fields.
    let mut s1 = exec(T0, "h1", "b");
    s1.category.push("network".to_owned());
    s1.destination.ip = Some(ip("8.8.8.8"));
    assert!(e.is_stage1(&s1));
    assert!(!e.is_stage2(&s1));
}

#[test]
fn excluded_destinations_do_not_alert_nor_consume() {
    let mut e = engine();
    let mut null_dst = connect(T0 + MS, "h1", "b", "8.8.8.8");
    null_dst.destination.ip = None;
    let mut events = vec![exec(T0, "h1", "b"), null_dst];
    for (i, dst) in [
        "0.0.0.0",
        "10.0.0.1",
        "::ffff:10.0.0.1",
        "::1",
        "fe80::1",
        "ff02::1",
        "172.31.1.1",
    ]
    .into_iter()
    .enumerate()
    {
        let offset = TimestampNs::try_from(i).unwrap_or_else(|e| panic!("{e}"));
        events.push(connect(T0 + (2 + offset) * MS, "h1", "b", dst));
    }
    assert!(run(&mut e, events).is_empty());
    assert_eq!(e.stats().stage2_candidates, 0);
    assert_eq!(
        run(&mut e, [connect(T0 + 50 * MS, "h1", "b", "8.8.8.8")]).len(),
        1
    );
}

#[test]
fn unexcluded_destinations_alert() {
    for dst in ["::", "fc00::1", "2001:db8::1", "8.8.8.8", "::ffff:8.8.8.8"] {
        let mut e = engine();
        let alerts = run(
            &mut e,
            [exec(T0, "h1", "b"), connect(T0 + MS, "h1", "b", dst)],
        );
        assert_eq!(alerts.len(), 1, "{dst}");
    }
}

#[test]
fn excluded_processes_do_not_alert() {
    let e = engine();
    for name in ["ssh", "sshd", "login_duo", "sshd-session"] {
        let mut s2 = connect(T0, "h1", "b", "8.8.8.8");
        s2.process.name = Some(name.to_owned());
        assert!(!e.is_stage2(&s2), "{name}");
    }
    for exe in ["/usr/bin/yum", "/bin/yum"] {
        let mut s2 = connect(T0, "h1", "b", "8.8.8.8");
        s2.process.executable = Some(exe.to_owned());
        assert!(!e.is_stage2(&s2), "{exe}");
    }
    let mut s2 = connect(T0, "h1", "b", "8.8.8.8");
    s2.process.name = Some("SSH".to_owned());
    assert!(e.is_stage2(&s2));
    s2.process.executable = Some("/usr/bin/YUM".to_owned());
    assert!(e.is_stage2(&s2));
}

#[test]
fn missing_process_name_is_not_excluded() {
    let mut e = engine();
    let mut s2 = connect(T0 + MS, "h1", "b", "8.8.8.8");
    s2.process.name = None;
    s2.process.executable = None;
    assert_eq!(run(&mut e, [exec(T0, "h1", "b"), s2]).len(), 1);
}

#[test]
fn user_added_exclusions() {
    let config = RuleConfig {
        extra_excluded_cidrs: vec![net("8.8.8.0/24"), net("fc00::/7")],
        extra_excluded_names: vec!["curl".to_owned()],
        extra_excluded_executables: vec!["/opt/agent/bin/agent".to_owned()],
        ..RuleConfig::default()
    };
    let e = Engine::new(config, Limits::default());
    assert!(!e.is_stage2(&connect(T0, "h1", "b", "8.8.8.8")));
    assert!(!e.is_stage2(&connect(T0, "h1", "b", "fc00::1")));
    let mut wget = connect(T0, "h1", "b", "1.1.1.1");
    wget.process.name = Some("wget".to_owned());
    wget.process.executable = Some("/usr/bin/wget".to_owned());
    assert!(e.is_stage2(&wget));
    assert!(
        !e.is_stage2(&connect(T0, "h1", "b", "1.1.1.1")),
        "curl is excluded by name"
    );
    wget.process.executable = Some("/opt/agent/bin/agent".to_owned());
    assert!(!e.is_stage2(&wget));
    // The seed still applies.
    wget.process.executable = Some("/usr/bin/wget".to_owned());
    wget.destination.ip = Some(ip("10.0.0.1"));
    assert!(!e.is_stage2(&wget));
}

/// The kernel's ranges and the live pipeline's early drops are the seed's exclusions plus the
/// configured ones, exactly.
#[test]
fn the_prefilters_get_the_configured_exclusions() {
    let config = RuleConfig {
        extra_excluded_cidrs: vec![net("8.8.8.0/24")],
        extra_excluded_names: vec!["backup".to_owned()],
        extra_excluded_executables: vec!["/opt/agent/bin/agent".to_owned()],
        ..RuleConfig::default()
    };
    let mut want: Vec<IpNetwork> = EXCLUDED_CIDRS
        .iter()
        .chain([&EXCLUDED_IP, &"8.8.8.0/24"])
        .map(|c| net(c))
        .collect();
    want.sort();
    let mut got = config.kernel_excluded_networks();
    got.sort();
    assert_eq!(got, want);
    let e = Engine::new(config, Limits::default());
    let ex = e.exclusions();
    assert!(ex.excludes_destination(Some(ip("8.8.8.8"))));
    assert!(ex.excludes_destination(Some(ip("10.0.0.1"))));
    assert!(ex.excludes_destination(None));
    assert!(!ex.excludes_destination(Some(ip("8.8.9.8"))));
    assert!(ex.excludes_process(None, Some("backup")));
    assert!(ex.excludes_process(Some("/opt/agent/bin/agent"), None));
    assert!(ex.excludes_process(None, Some("sshd")));
    assert!(!ex.excludes_process(Some("/usr/bin/curl"), Some("curl")));
}

/// An event dropped as excluded before the engine still counts and moves event time on, so
/// a stage 1 older than maxspan expires.
#[test]
fn a_skipped_event_counts_and_moves_time_on() {
    let mut e = engine();
    assert!(e.process(exec(T0, "h1", "b")).is_none());
    e.skip_excluded(T0 + MAXSPAN_NS + 1);
    let stats = e.stats();
    assert_eq!(
        (stats.events, stats.expired, stats.pending),
        (2, 1, 0),
        "{stats:?}"
    );
    assert!(!e.is_pending("h1", "b"));
}

#[test]
fn set_config_keeps_pending_state() {
    let mut e = engine();
    assert!(e.process(exec(T0, "h1", "b")).is_none());
    let config = RuleConfig {
        extra_excluded_names: vec!["wget".to_owned()],
        ..RuleConfig::default()
    };
    e.set_config(config.clone());
    assert_eq!(e.config(), &config);
    assert_eq!(e.stats().pending, 1);
    let mut wget = connect(T0 + MS, "h1", "b", "8.8.8.8");
    wget.process.name = Some("wget".to_owned());
    assert!(e.process(wget).is_none(), "the new exclusion applies");
    assert_eq!(
        e.process(connect(T0 + 2 * MS, "h1", "b", "8.8.8.8"))
            .map(|a| a.stage1.timestamp),
        Some(T0)
    );
    assert_eq!(e.stats().events, 3);
}
