use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/sshd-sensor/config.toml"))
}

/// The error's one line, and its location.
fn error(text: &str) -> (String, Option<Location>) {
    let err = parse(text).expect_err("the configuration must be rejected");
    (err.to_string(), err.location())
}

#[track_caller]
fn assert_error(text: &str, line: usize, column: usize, message: &str) {
    let (shown, location) = error(text);
    assert_eq!(location, Some(Location { line, column }), "{shown}");
    assert_eq!(
        shown,
        format!("/etc/sshd-sensor/config.toml:{line}:{column}: {message}")
    );
    assert!(!shown.contains('\n'), "one line: {shown:?}");
}

#[test]
fn empty_file_is_the_seed() {
    assert_eq!(parse("").unwrap(), Config::default());
    assert_eq!(
        parse("# nothing set\n\n[rule]\n").unwrap(),
        Config::default()
    );
    let seed = Config::default();
    // The seed rule, except that the parents are sshd plus every sshd-session location.
    assert_eq!(
        seed.rule,
        RuleConfig {
            parent_executables: candidates::default_parents(),
            ..RuleConfig::default()
        }
    );
    assert_eq!(seed.rule.parent_executables[0], "/usr/sbin/sshd");
    assert!(
        seed.rule
            .parent_executables
            .contains(&"/usr/lib/openssh/sshd-session".to_owned())
    );
    assert_eq!(RuleConfig::default().parent_executables, ["/usr/sbin/sshd"]);
    assert_eq!(seed.alerts.max_per_window, 100);
    assert_eq!(seed.alerts.window_seconds, 300);
    assert_eq!(seed.alerts.window_ns(), ALERT_WINDOW_NS);
    assert_eq!(seed.output.format, Format::Auto);
    assert_eq!(seed.output.file, None);
    assert_eq!(seed.output.journald, Journald::Auto);
    assert_eq!(seed.output.record, None);
    assert_eq!(seed.log.level, "info");
    assert_eq!(seed.sensor.connect_hook, ConnectHook::Auto);
    assert_eq!(seed.sensor.stats_interval(), Duration::from_secs(300));
}

const FULL: &str = r#"
[rule]
parent_executables = ["/usr/sbin/sshd", "/usr/lib/openssh/sshd-session"]
extra_excluded_cidrs = ["fc00::/7", "8.8.8.8", "::ffff:1.2.3.0/120"]
extra_excluded_names = ["ansible"]
extra_excluded_executables = ["/usr/bin/apt"]

[alerts]
max_per_window = 5
window_seconds = 60

[output]
format = "json"
file = "/var/log/sshd-sensor/alerts.ndjson"
journald = false
record = "/var/lib/sshd-sensor/events.ndjson"

[log]
level = "debug"

[sensor]
connect_hook = "kprobe"
stats_interval_seconds = 10
"#;

#[test]
fn every_setting_is_read() {
    let c = parse(FULL).unwrap();
    assert_eq!(
        c.rule.parent_executables,
        ["/usr/sbin/sshd", "/usr/lib/openssh/sshd-session"]
    );
    let cidrs: Vec<String> = c
        .rule
        .extra_excluded_cidrs
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(cidrs, ["fc00::/7", "8.8.8.8/32", "::ffff:1.2.3.0/120"]);
    assert_eq!(c.rule.extra_excluded_names, ["ansible"]);
    assert_eq!(c.rule.extra_excluded_executables, ["/usr/bin/apt"]);
    assert_eq!(c.rule_config(), c.rule);
    assert_eq!(c.alerts.max_per_window, 5);
    assert_eq!(c.alerts.window(), Duration::from_secs(60));
    assert_eq!(c.output.format, Format::Json);
    assert_eq!(
        c.output.file.as_deref(),
        Some(Path::new("/var/log/sshd-sensor/alerts.ndjson"))
    );
    assert_eq!(c.output.journald, Journald::Off);
    assert_eq!(
        c.output.record.as_deref(),
        Some(Path::new("/var/lib/sshd-sensor/events.ndjson"))
    );
    assert_eq!(c.log.level, "debug");
    assert_eq!(c.sensor.connect_hook, ConnectHook::Kprobe);
    assert_eq!(c.sensor.stats_interval_seconds, 10);
}

#[test]
fn explicit_parents_replace_the_default() {
    let c = parse(
        "[rule]\nparent_executables = [\"/usr/sbin/sshd\", \"/usr/lib/openssh/sshd-session\"]\n",
    )
    .unwrap();
    let mut expected = Config::default();
    expected.rule.parent_executables = vec![
        "/usr/sbin/sshd".to_owned(),
        "/usr/lib/openssh/sshd-session".to_owned(),
    ];
    assert_eq!(c, expected);
}

#[test]
fn journald_accepts_bool_and_auto() {
    for (text, value) in [
        ("true", Journald::On),
        ("false", Journald::Off),
        ("\"auto\"", Journald::Auto),
    ] {
        let c = parse(&format!("[output]\njournald = {text}\n")).unwrap();
        assert_eq!(c.output.journald, value);
    }
    assert!(Journald::Auto.enabled(true));
    assert!(!Journald::Auto.enabled(false));
    assert!(Journald::On.enabled(false));
    assert!(!Journald::Off.enabled(true));
}

#[test]
fn to_toml_round_trips() {
    for c in [Config::default(), parse(FULL).unwrap()] {
        let text = c.to_toml();
        assert_eq!(parse(&text).unwrap(), c, "{text}");
    }
    let odd = Config {
        rule: RuleConfig {
            extra_excluded_executables: vec!["/opt/we \"ird\"\\path\n".to_owned()],
            ..RuleConfig::default()
        },
        ..Config::default()
    };
    assert_eq!(parse(&odd.to_toml()).unwrap(), odd);
}

#[test]
fn to_toml_spells_out_the_defaults() {
    let text = Config::default().to_toml();
    assert!(
        text.starts_with("[rule]\n# The rule: an embedded profile"),
        "{text}"
    );
    assert!(
        text.contains("\nprofile = \"v4\"\n# The default: sshd, and sshd-session wherever"),
        "{text}"
    );
    assert!(
        text.contains(
            "\nparent_executables = [\"/usr/sbin/sshd\", \"/usr/lib/openssh/sshd-session\", "
        ),
        "{text}"
    );
    // An explicit list has no such comment.
    let explicit = parse("[rule]\nparent_executables = [\"/usr/sbin/sshd\"]\n").unwrap();
    assert!(
        explicit
            .to_toml()
            .contains("\nprofile = \"v4\"\nparent_executables = [\"/usr/sbin/sshd\"]\n")
    );
    assert!(
        text.contains("\nmax_per_window = 100\nwindow_seconds = 300\n"),
        "{text}"
    );
    assert!(
        text.contains("\n# file = \"/var/log/sshd-sensor/alerts.ndjson\""),
        "{text}"
    );
    assert!(text.contains("\njournald = \"auto\"\n"), "{text}");
    assert!(
        text.contains("\nconnect_hook = \"auto\"\nstats_interval_seconds = 300\n"),
        "{text}"
    );
}

#[test]
fn unknown_keys_are_errors() {
    assert_error(
        "[rule]\nparent_executables = [\"/usr/sbin/sshd\"]\nparent_executable = []\n",
        3,
        1,
        "unknown field `parent_executable`, expected one of `profile`, `file`, `parent_executables`, \
         `extra_excluded_cidrs`, `extra_excluded_names`, `extra_excluded_executables`",
    );
    assert_error(
        "# top\n[alert]\n",
        2,
        2,
        "unknown field `alert`, expected one of `rule`, `alerts`, `output`, `log`, `sensor`",
    );
    assert_error(
        "[sensor]\n  hook = \"auto\"\n",
        2,
        3,
        "unknown field `hook`, expected `connect_hook` or `stats_interval_seconds`",
    );
}

#[test]
fn wrong_types_are_errors() {
    assert_error(
        "[alerts]\nmax_per_window = \"ten\"\n",
        2,
        18,
        "invalid type: string \"ten\", expected an integer from 0 to 4294967295",
    );
    assert_error(
        "[alerts]\nwindow_seconds = -5\n",
        2,
        18,
        "invalid value: integer `-5`, expected a non-negative integer",
    );
    assert_error(
        "[rule]\nparent_executables = \"/usr/sbin/sshd\"\n",
        2,
        22,
        "invalid type: string \"/usr/sbin/sshd\", expected an array of strings",
    );
    assert_error(
        "[rule]\nextra_excluded_names = [\"a\", 7]\n",
        2,
        30,
        "invalid type: integer `7`, expected a string",
    );
    assert_error(
        "rule = 3\n",
        1,
        8,
        "invalid type: integer `3`, expected a table ([rule])",
    );
    assert_error(
        "[output]\njournald = \"yes\"\n",
        2,
        12,
        "invalid value: string \"yes\", expected true, false or \"auto\"",
    );
    assert_error(
        "[output]\njournald = 1\n",
        2,
        12,
        "invalid type: integer `1`, expected true, false or \"auto\"",
    );
}

#[test]
fn syntax_errors_are_located() {
    assert_error("[rule\n", 1, 6, "unclosed table, expected `]`");
    assert_error("[rule]\n[rule]\n", 2, 2, "duplicate key");
}

#[test]
fn invalid_cidrs_are_located() {
    assert_error(
        "[rule]\nextra_excluded_cidrs = [\n  \"10.0.0.0/8\",\n  \"10.0.0.0/33\",\n]\n",
        4,
        3,
        "rule.extra_excluded_cidrs: expected a CIDR range such as \"10.0.0.0/8\" or \
         \"fc00::/7\", or an address such as \"::1\", found \"10.0.0.0/33\" (invalid address: \
         10.0.0.0/33)",
    );
    let (shown, location) = error("[rule]\nextra_excluded_cidrs = [\"example.com\"]\n");
    assert_eq!(
        location,
        Some(Location {
            line: 2,
            column: 25
        }),
        "{shown}"
    );
    assert!(shown.contains("found \"example.com\""), "{shown}");
}

#[test]
fn relative_paths_are_located() {
    assert_error(
        "[rule]\nparent_executables = [\"/usr/sbin/sshd\", \"sshd-session\"]\n",
        2,
        41,
        "rule.parent_executables: expected an absolute path, found \"sshd-session\"",
    );
    assert_error(
        "[rule]\nextra_excluded_executables = [\"yum\"]\n",
        2,
        31,
        "rule.extra_excluded_executables: expected an absolute path, found \"yum\"",
    );
    assert_error(
        "[output]\nfile = \"alerts.ndjson\"\n",
        2,
        8,
        "output.file: expected an absolute path, found \"alerts.ndjson\"",
    );
    assert_error(
        "[output]\nrecord = \"\"\n",
        2,
        10,
        "output.record: expected an absolute path, found \"\"",
    );
}

/// As many parent executables as the kernel table holds are accepted, one more is not (below).
#[test]
fn a_full_parent_table_is_accepted() {
    let full: Vec<String> = (0..sensor_common::PARENT_EXES_MAX)
        .map(|i| format!("/opt/sshd{i}"))
        .collect();
    let quoted: Vec<String> = full.iter().map(|p| format!("{p:?}")).collect();
    let text = format!("[rule]\nparent_executables = [{}]\n", quoted.join(", "));
    let config = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.rule.parent_executables, full);
}

#[test]
fn invalid_values_are_located() {
    assert_error(
        "[rule]\nparent_executables = []\n",
        2,
        22,
        "rule.parent_executables: expected at least one executable (the seed's is \
         \"/usr/sbin/sshd\"), found an empty list",
    );
    let many: Vec<String> = (0..65).map(|i| format!("\"/opt/sshd{i}\"")).collect();
    assert_error(
        &format!("[rule]\nparent_executables = [{}]\n", many.join(", ")),
        2,
        22,
        "rule.parent_executables: expected at most 64 executables (the kernel table's size), \
         found 65",
    );
    assert_error(
        "[rule]\nextra_excluded_names = [\"bin/curl\"]\n",
        2,
        25,
        "rule.extra_excluded_names: expected a process name (a file name, without '/'), found \
         \"bin/curl\"",
    );
    assert_error(
        "[output]\nformat = \"xml\"\n",
        2,
        10,
        "output.format: expected one of \"auto\", \"human\", \"json\", found \"xml\"",
    );
    assert_error(
        "[log]\nlevel = \"INFO\"\n",
        2,
        9,
        "log.level: expected one of \"error\", \"warn\", \"info\", \"debug\", \"trace\", found \
         \"INFO\"",
    );
    assert_error(
        "[sensor]\nconnect_hook = \"uprobe\"\n",
        2,
        16,
        "sensor.connect_hook: expected one of \"auto\", \"raw-tracepoint\", \"tracepoint\", \"fentry\", \"kprobe\", \
         found \"uprobe\"",
    );
    assert_error(
        "[alerts]\nmax_per_window = 0\n",
        2,
        18,
        "alerts.max_per_window: expected a positive integer, found 0",
    );
    assert_error(
        "[sensor]\nstats_interval_seconds = 0\n",
        2,
        26,
        "sensor.stats_interval_seconds: expected a positive integer, found 0",
    );
}

#[test]
fn columns_count_characters() {
    assert_eq!(Location::of("", 0), Location { line: 1, column: 1 });
    assert_eq!(Location::of("ab\ncd", 4), Location { line: 2, column: 2 });
    assert_eq!(Location::of("é = 1", 3), Location { line: 1, column: 3 });
    // Inside a multi-byte character and past the end: clamped.
    assert_eq!(Location::of("é", 1), Location { line: 1, column: 1 });
    assert_eq!(Location::of("a\n", 99), Location { line: 2, column: 1 });
    assert_error(
        "# café ☕\n[output] # déjà\nformat = \"yaml\"\n",
        3,
        10,
        "output.format: expected one of \"auto\", \"human\", \"json\", found \"yaml\"",
    );
}

#[test]
fn missing_files() {
    let dir = std::env::temp_dir().join(format!("sshd-sensor-config-{}", std::process::id()));
    let missing = dir.join("config.toml");
    // The default file may be absent: the seed applies.
    assert_eq!(Config::read(&missing, false).unwrap(), Config::default());
    // A file named explicitly must exist.
    let err = Config::load(Some(&missing)).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: cannot read the configuration file: No such file or directory (os error 2)",
            missing.display()
        )
    );
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&missing, "[log]\nlevel = \"warn\"\n").unwrap();
    assert_eq!(Config::load(Some(&missing)).unwrap().log.level, "warn");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_rule_is_a_profile_or_a_file() {
    use crate::rule::profiles::{Profile, RuleSource};
    let latest = parse("[rule]\nprofile = \"latest\"\n").unwrap();
    assert_eq!(latest.rule.source, RuleSource::Profile(Profile::Latest));
    assert!(latest.rule.rule.meta.name.contains("Suspicious"));
    assert_eq!(
        latest.rule.parent_executables,
        Config::default().rule.parent_executables
    );
    assert_eq!(parse(&latest.to_toml()).unwrap(), latest);
    assert_error(
        "[rule]\nprofile = \"v5\"\n",
        2,
        11,
        "rule.profile: expected \"v4\" (Elastic's version 4, the default) or \"latest\" \
         (Elastic's current rewrite), found \"v5\"",
    );
    assert_error(
        "[rule]\nfile = \"rule.toml\"\n",
        2,
        8,
        "rule.file: expected an absolute path, found \"rule.toml\"",
    );
    assert_error(
        "[rule]\nprofile = \"v4\"\nfile = \"/x.toml\"\n",
        3,
        8,
        "rule.file: rule.profile is given too; choose one (a profile is a rule file that ships \
         inside the sensor)",
    );
    let dir = std::env::temp_dir().join(format!("sshd-sensor-rule-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        Profile::V4.text().replacen("maxspan=1s", "maxspan=1", 1),
    )
    .unwrap();
    let (shown, location) = error(&format!("[rule]\nfile = \"{}\"\n", bad.display()));
    assert_eq!(location, Some(Location { line: 2, column: 8 }), "{shown}");
    assert!(
        shown.ends_with(&format!(
            "rule.file: {}:34:34: `1` is not a duration: write a number with ms, s, m, h or d",
            bad.display()
        )),
        "{shown}"
    );
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        Profile::V4.text().replacen("maxspan=1s", "maxspan=2s", 1),
    )
    .unwrap();
    let custom = parse(&format!("[rule]\nfile = \"{}\"\n", good.display())).unwrap();
    assert_eq!(custom.rule.rule.maxspan_ns, 2_000_000_000);
    assert_eq!(custom.rule.source, RuleSource::File(good.clone()));
    let _ = std::fs::remove_dir_all(&dir);
}
