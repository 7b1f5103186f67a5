//! The configuration file (`/etc/sshd-sensor/config.toml` unless `--config PATH`): what the
//! operator may change, validated in one pass. Without any file the sensor runs the seed rule
//! ([`Config::default`]) with one difference: its parent executables are `/usr/sbin/sshd` plus
//! every place distributions put OpenSSH 9.8's `sshd-session`, so that the rule's intent holds
//! on every OpenSSH; an explicit list replaces that default. The rule's own exclusions always
//! stay on; the file only adds to them. A bad file yields one [`ConfigError`] naming the file, line and column, and what
//! was expected there; unknown keys are errors, never ignored.
//!
//! ```toml
//! [rule]
//! parent_executables = ["/usr/sbin/sshd", ...]    # default: sshd + every sshd-session path
//! extra_excluded_cidrs = []                       # added to the rule's 27 ranges
//! extra_excluded_names = []                       # added to login_duo, ssh, sshd, sshd-session
//! extra_excluded_executables = []                 # added to /bin/yum, /usr/bin/yum
//! [alerts]
//! max_per_window = 100                            # per SSH session (stage-1 process) and window
//! window_seconds = 300                            # then one summary document per session
//! [output]
//! format = "auto"                                 # auto | human | json
//! # file = "/var/log/sshd-sensor/alerts.ndjson"   # also append alerts (NDJSON) here
//! journald = "auto"                               # true | false | "auto"
//! # record = "/var/lib/sshd-sensor/events.ndjson" # record the events for replay
//! [log]
//! level = "info"                                  # error | warn | info | debug | trace
//! [sensor]
//! connect_hook = "auto"                           # auto | raw-tracepoint | tracepoint | fentry | kprobe
//! stats_interval_seconds = 300
//! ```

mod error;
mod raw;
mod render;

use std::{
    io,
    path::{Path, PathBuf},
    time::Duration,
};

pub use error::{ConfigError, Location};

use crate::{
    kernel::{loader::ConnectHook, parents::candidates},
    output::Format,
    ratelimit::{ALERT_WINDOW_NS, MAX_ALERTS_PER_WINDOW},
    rule::{RuleConfig, compiled::CompiledRule},
};

/// Where the configuration is read from when no `--config` is given.
pub const DEFAULT_PATH: &str = "/etc/sshd-sensor/config.toml";

/// The values `[log] level` accepts.
pub const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];

/// The effective configuration. `Default` is the seed rule with the built-in settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `[rule]`: stage-1 parents and the exclusions added to the rule's.
    pub rule: RuleConfig,
    pub alerts: AlertsSection,
    pub output: OutputSection,
    pub log: LogSection,
    pub sensor: SensorSection,
}

/// `[alerts]`: the rate cap that stands in for Kibana's "max alerts per execution".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertsSection {
    /// Alerts written per window and SSH session (stage-1 process); the rest of the session's
    /// window is summed up in one summary document ([`crate::ratelimit`]). At least 1.
    pub max_per_window: u32,
    /// Length of the window in seconds. At least 1.
    pub window_seconds: u64,
}

impl AlertsSection {
    /// The window as a duration.
    pub fn window(&self) -> Duration {
        Duration::from_secs(self.window_seconds)
    }

    /// The window in nanoseconds (saturating), the unit of event timestamps.
    pub fn window_ns(&self) -> i64 {
        i64::try_from(u128::from(self.window_seconds) * 1_000_000_000).unwrap_or(i64::MAX)
    }
}

/// `journald = true | false | "auto"`: whether alerts also go to the systemd journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Journald {
    /// When stderr is connected to the journal (`$JOURNAL_STREAM` is set, as under systemd).
    Auto,
    On,
    Off,
}

impl Journald {
    /// Decides `Auto` given the value of `$JOURNAL_STREAM` (pure; pass
    /// `std::env::var_os("JOURNAL_STREAM").is_some()`).
    pub fn enabled(self, journal_stream_set: bool) -> bool {
        match self {
            Journald::Auto => journal_stream_set,
            Journald::On => true,
            Journald::Off => false,
        }
    }
}

/// `[output]`: where alerts go besides stdout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSection {
    /// Format on stdout.
    pub format: Format,
    /// An NDJSON file alerts are appended to (reopened on SIGHUP for logrotate). Absolute.
    pub file: Option<PathBuf>,
    pub journald: Journald,
    /// A file the decoded events are recorded to, for replay. Absolute.
    pub record: Option<PathBuf>,
}

/// `[log]`: diagnostics on stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSection {
    /// One of [`LOG_LEVELS`]; `RUST_LOG` and `--log-level` override it.
    pub level: String,
}

/// `[sensor]`: kernel side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SensorSection {
    pub connect_hook: ConnectHook,
    /// Seconds between stats lines. At least 1.
    pub stats_interval_seconds: u64,
}

impl SensorSection {
    pub fn stats_interval(&self) -> Duration {
        Duration::from_secs(self.stats_interval_seconds)
    }
}

impl Default for Config {
    /// As with no configuration file: the seed rule, watching sshd and every `sshd-session`.
    fn default() -> Self {
        Config {
            rule: RuleConfig {
                parent_executables: candidates::default_parents(),
                ..RuleConfig::default()
            },
            alerts: AlertsSection {
                max_per_window: MAX_ALERTS_PER_WINDOW,
                window_seconds: u64::try_from(ALERT_WINDOW_NS / 1_000_000_000).unwrap_or(300),
            },
            output: OutputSection {
                format: Format::Auto,
                file: None,
                journald: Journald::Auto,
                record: None,
            },
            log: LogSection {
                level: "info".to_owned(),
            },
            sensor: SensorSection {
                connect_hook: ConnectHook::Auto,
                stats_interval_seconds: 300,
            },
        }
    }
}

impl Config {
    /// Reads the configuration. `None` reads [`DEFAULT_PATH`], and a missing default file
    /// means the defaults; an explicit `path` that does not exist is an error.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        match path {
            Some(p) => Config::read(p, true),
            None => Config::read(Path::new(DEFAULT_PATH), false),
        }
    }

    /// Reads `path`; a missing file is the defaults unless `explicit`.
    fn read(path: &Path, explicit: bool) -> Result<Config, ConfigError> {
        let path = path.to_path_buf();
        match std::fs::read_to_string(&path) {
            Ok(text) => Config::parse(&text, &path),
            Err(e) if !explicit && e.kind() == io::ErrorKind::NotFound => Ok(Config::default()),
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    }

    /// Parses and validates `text`; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: raw::RawConfig = toml::from_str(text).map_err(|e| {
            ConfigError::at(
                path.to_path_buf(),
                text,
                e.span(),
                raw::plain_message(e.message()),
            )
        })?;
        raw.validate()
            .map_err(|e| ConfigError::at(path.to_path_buf(), text, Some(e.span), e.message))
    }

    /// The rule settings for [`crate::rule::Engine::new`] and the loader.
    pub fn rule_config(&self) -> RuleConfig {
        self.rule.clone()
    }

    /// The effective configuration as TOML, every setting spelled out (`config show`). Parsing
    /// it gives back the same [`Config`].
    pub fn to_toml(&self) -> String {
        render::to_toml(self)
    }
}

/// The parent executables live mode watches for `rule` when none are configured: the rule's
/// own (stage 1's `process.parent.executable` test), and with `/usr/sbin/sshd` every
/// `sshd-session` location too (SEMANTICS.md: the rule's intent on OpenSSH 9.8+). `None` when
/// stage 1 has no such test.
pub fn live_parents(rule: &CompiledRule) -> Option<Vec<String>> {
    let parents = rule.parent_executables()?;
    if !parents.iter().any(|p| p == candidates::SSHD) {
        return Some(parents);
    }
    let mut all = candidates::default_parents();
    for p in parents {
        if !all.contains(&p) {
            all.push(p);
        }
    }
    Some(all)
}

#[cfg(test)]
mod tests;
