//! What a SIGHUP changes: the settings that differ between the running configuration and the
//! reloaded one, split into those the daemon applies at once and those fixed at load (which
//! need a restart). Pure: two configurations in, names of settings out.

use crate::config::Config;

/// Changed settings, by their configuration key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Applied by the reload.
    pub applied: Vec<&'static str>,
    /// Fixed at load: they take effect after a restart.
    pub need_restart: Vec<&'static str>,
}

/// The settings that differ between `old` and `new`.
pub fn changes(old: &Config, new: &Config) -> Changes {
    let mut c = Changes::default();
    let applied = [
        (
            "rule.parent_executables",
            old.rule.parent_executables != new.rule.parent_executables,
        ),
        (
            "rule.extra_excluded_cidrs",
            old.rule.extra_excluded_cidrs != new.rule.extra_excluded_cidrs,
        ),
        (
            "rule.extra_excluded_names",
            old.rule.extra_excluded_names != new.rule.extra_excluded_names,
        ),
        (
            "rule.extra_excluded_executables",
            old.rule.extra_excluded_executables != new.rule.extra_excluded_executables,
        ),
        (
            "alerts.max_per_window",
            old.alerts.max_per_window != new.alerts.max_per_window,
        ),
        (
            "alerts.window_seconds",
            old.alerts.window_seconds != new.alerts.window_seconds,
        ),
        ("output.format", old.output.format != new.output.format),
        ("output.file", old.output.file != new.output.file),
        (
            "output.journald",
            old.output.journald != new.output.journald,
        ),
        ("output.record", old.output.record != new.output.record),
        ("log.level", old.log.level != new.log.level),
        (
            "sensor.stats_interval_seconds",
            old.sensor.stats_interval_seconds != new.sensor.stats_interval_seconds,
        ),
    ];
    c.applied = applied
        .into_iter()
        .filter(|(_, d)| *d)
        .map(|(k, _)| k)
        .collect();
    if old.sensor.connect_hook != new.sensor.connect_hook {
        c.need_restart.push("sensor.connect_hook");
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::loader::ConnectHook;

    #[test]
    fn names_what_changed_and_what_needs_a_restart() {
        let old = Config::default();
        assert_eq!(changes(&old, &old), Changes::default());
        let mut new = old.clone();
        new.output.file = Some("/tmp/a".into());
        new.output.record = Some("/tmp/r".into());
        new.log.level = "debug".into();
        new.alerts.max_per_window = 7;
        new.sensor.connect_hook = ConnectHook::Kprobe;
        let c = changes(&old, &new);
        assert_eq!(
            c.applied,
            [
                "alerts.max_per_window",
                "output.file",
                "output.record",
                "log.level"
            ]
        );
        assert_eq!(c.need_restart, ["sensor.connect_hook"]);
    }
}
