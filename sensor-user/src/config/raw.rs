//! The file as written: serde structs that reject unknown keys and keep the byte span of every
//! value, and their validation into a [`Config`]. Each check reports the span of the offending
//! value with what was expected there, so the error names the exact line and column.

use std::{
    ops::Range,
    path::{Path, PathBuf},
    str::FromStr,
    sync::Arc,
};

use ipnetwork::IpNetwork;
use sensor_common::PARENT_EXES_MAX;
use serde::Deserialize;
use toml::Spanned;

use super::{
    AlertsSection, Config, Journald, LOG_LEVELS, LogSection, OutputSection, SensorSection,
};
use crate::{
    kernel::loader::ConnectHook,
    output::Format,
    rule::{
        RuleConfig,
        compiled::CompiledRule,
        profiles::{Profile, RuleSource, load_file},
    },
};

/// A problem at a byte range of the file.
pub(super) struct Invalid {
    pub span: Range<usize>,
    pub message: String,
}

type Result<T> = std::result::Result<T, Invalid>;

fn invalid<T>(span: Range<usize>, message: String) -> Result<T> {
    Err(Invalid { span, message })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    rule: Option<RawRule>,
    alerts: Option<RawAlerts>,
    output: Option<RawOutput>,
    log: Option<RawLog>,
    sensor: Option<RawSensor>,
}

type Strings = Spanned<Vec<Spanned<String>>>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    profile: Option<Spanned<String>>,
    file: Option<Spanned<String>>,
    parent_executables: Option<Strings>,
    extra_excluded_cidrs: Option<Strings>,
    extra_excluded_names: Option<Strings>,
    extra_excluded_executables: Option<Strings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlerts {
    max_per_window: Option<Spanned<u32>>,
    window_seconds: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    format: Option<Spanned<String>>,
    file: Option<Spanned<String>>,
    journald: Option<Spanned<RawJournald>>,
    record: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    level: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSensor {
    connect_hook: Option<Spanned<String>>,
    stats_interval_seconds: Option<Spanned<u64>>,
}

/// `journald = true | false | "auto"`.
#[derive(Debug)]
struct RawJournald(Journald);

impl<'de> Deserialize<'de> for RawJournald {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RawJournald;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("true, false or \"auto\"")
            }
            fn visit_bool<E: serde::de::Error>(
                self,
                v: bool,
            ) -> std::result::Result<RawJournald, E> {
                Ok(RawJournald(if v { Journald::On } else { Journald::Off }))
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<RawJournald, E> {
                match v {
                    "auto" => Ok(RawJournald(Journald::Auto)),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// `value` if it is an absolute path.
fn absolute(value: Spanned<String>, key: &str) -> Result<String> {
    if value.get_ref().starts_with('/') {
        Ok(value.into_inner())
    } else {
        let found = value.get_ref().clone();
        invalid(
            value.span(),
            format!("{key}: expected an absolute path, found {found:?}"),
        )
    }
}

fn absolute_paths(values: Strings, key: &str) -> Result<Vec<String>> {
    values
        .into_inner()
        .into_iter()
        .map(|v| absolute(v, key))
        .collect()
}

fn cidr(value: Spanned<String>) -> Result<IpNetwork> {
    IpNetwork::from_str(value.get_ref()).or_else(|e| {
        invalid(
            value.span(),
            format!(
                "rule.extra_excluded_cidrs: expected a CIDR range such as \"10.0.0.0/8\" or \
                 \"fc00::/7\", or an address such as \"::1\", found {:?} ({e})",
                value.get_ref()
            ),
        )
    })
}

fn process_name(value: Spanned<String>) -> Result<String> {
    let name = value.get_ref();
    if name.is_empty() || name.contains('/') {
        return invalid(
            value.span(),
            format!(
                "rule.extra_excluded_names: expected a process name (a file name, without \
                 '/'), found {name:?}"
            ),
        );
    }
    Ok(value.into_inner())
}

fn one_of<T: Copy>(value: &Spanned<String>, key: &str, choices: &[(&str, T)]) -> Result<T> {
    match choices.iter().find(|(name, _)| name == value.get_ref()) {
        Some(&(_, v)) => Ok(v),
        None => {
            let names: Vec<String> = choices.iter().map(|(n, _)| format!("{n:?}")).collect();
            invalid(
                value.span(),
                format!(
                    "{key}: expected one of {}, found {:?}",
                    names.join(", "),
                    value.get_ref()
                ),
            )
        }
    }
}

fn positive<T: Copy + Default + PartialEq>(value: Spanned<T>, key: &str) -> Result<T> {
    if *value.get_ref() == T::default() {
        invalid(
            value.span(),
            format!("{key}: expected a positive integer, found 0"),
        )
    } else {
        Ok(*value.get_ref())
    }
}

impl RawConfig {
    /// Checks every value and builds the effective configuration (defaults where unset).
    pub(super) fn validate(self) -> Result<Config> {
        let defaults = Config::default();
        Ok(Config {
            rule: self.rule.unwrap_or_default().validate(defaults.rule)?,
            alerts: self.alerts.unwrap_or_default().validate(defaults.alerts)?,
            output: self.output.unwrap_or_default().validate(defaults.output)?,
            log: self.log.unwrap_or_default().validate(defaults.log)?,
            sensor: self.sensor.unwrap_or_default().validate(defaults.sensor)?,
        })
    }
}

impl RawRule {
    /// `profile` or `file`, loaded and compiled.
    fn source(&self) -> Result<Option<(RuleSource, Arc<CompiledRule>)>> {
        match (&self.profile, &self.file) {
            (Some(_), Some(file)) => invalid(
                file.span(),
                "rule.file: rule.profile is given too; choose one (a profile is a rule file \
                 that ships inside the sensor)"
                    .to_owned(),
            ),
            (Some(name), None) => match Profile::named(name.get_ref()) {
                Some(p) => Ok(Some((RuleSource::Profile(p), p.rule()))),
                None => invalid(
                    name.span(),
                    format!(
                        "rule.profile: expected \"v4\" (Elastic's version 4, the default) or \
                         \"latest\" (Elastic's current rewrite), found {:?}",
                        name.get_ref()
                    ),
                ),
            },
            (None, Some(file)) => {
                let path = absolute(file.clone(), "rule.file")?;
                match load_file(Path::new(&path)) {
                    Ok(rule) => Ok(Some((RuleSource::File(path.into()), rule))),
                    Err(e) => invalid(file.span(), format!("rule.file: {e}")),
                }
            }
            (None, None) => Ok(None),
        }
    }

    fn validate(self, defaults: RuleConfig) -> Result<RuleConfig> {
        let (source, rule) = match self.source()? {
            Some(loaded) => loaded,
            None => (defaults.source.clone(), defaults.rule.clone()),
        };
        let rule_parents = super::live_parents(&rule);
        let parent_executables = match self.parent_executables {
            Some(list) if list.get_ref().is_empty() => {
                return invalid(
                    list.span(),
                    "rule.parent_executables: expected at least one executable (the seed's is \"/usr/sbin/sshd\"), \
                     found an empty list"
                        .to_owned(),
                );
            }
            Some(list) if list.get_ref().len() > PARENT_EXES_MAX as usize => {
                return invalid(
                    list.span(),
                    format!(
                        "rule.parent_executables: expected at most {PARENT_EXES_MAX} executables \
                         (the kernel table's size), found {}",
                        list.get_ref().len()
                    ),
                );
            }
            Some(list) => absolute_paths(list, "rule.parent_executables")?,
            None => match (&self.file, &self.profile, rule_parents) {
                (None, None, _) => defaults.parent_executables,
                (_, _, Some(parents)) => parents,
                (Some(file), _, None) | (None, Some(file), None) => {
                    return invalid(
                        file.span(),
                        "rule.parent_executables: the rule's stage 1 has no \
                         `process.parent.executable == / in (...)` test, so the kernel cannot \
                         tell which processes start logins; list them in rule.parent_executables"
                            .to_owned(),
                    );
                }
            },
        };
        let extra_excluded_cidrs = match self.extra_excluded_cidrs {
            Some(list) => {
                let span = list.span();
                let cidrs: Vec<IpNetwork> = list
                    .into_inner()
                    .into_iter()
                    .map(cidr)
                    .collect::<Result<_>>()?;
                // The kernel decides these too, with the rule's own: they must fit its tables.
                let mut all = rule.stage2_exclusions().networks;
                all.extend(cidrs.iter().copied());
                if let Err(e) = crate::kernel::exclusions::Table::new(&all) {
                    return invalid(span, e.to_string());
                }
                cidrs
            }
            None => defaults.extra_excluded_cidrs,
        };
        let extra_excluded_names = match self.extra_excluded_names {
            Some(list) => list
                .into_inner()
                .into_iter()
                .map(process_name)
                .collect::<Result<_>>()?,
            None => defaults.extra_excluded_names,
        };
        let extra_excluded_executables = match self.extra_excluded_executables {
            Some(list) => absolute_paths(list, "rule.extra_excluded_executables")?,
            None => defaults.extra_excluded_executables,
        };
        Ok(RuleConfig {
            source,
            rule,
            parent_executables,
            extra_excluded_cidrs,
            extra_excluded_names,
            extra_excluded_executables,
        })
    }
}

impl RawAlerts {
    fn validate(self, defaults: AlertsSection) -> Result<AlertsSection> {
        Ok(AlertsSection {
            max_per_window: self
                .max_per_window
                .map(|v| positive(v, "alerts.max_per_window"))
                .transpose()?
                .unwrap_or(defaults.max_per_window),
            window_seconds: self
                .window_seconds
                .map(|v| positive(v, "alerts.window_seconds"))
                .transpose()?
                .unwrap_or(defaults.window_seconds),
        })
    }
}

impl RawOutput {
    fn validate(self, defaults: OutputSection) -> Result<OutputSection> {
        let formats = [
            ("auto", Format::Auto),
            ("human", Format::Human),
            ("json", Format::Json),
        ];
        Ok(OutputSection {
            format: match &self.format {
                Some(f) => one_of(f, "output.format", &formats)?,
                None => defaults.format,
            },
            file: match self.file {
                Some(f) => Some(PathBuf::from(absolute(f, "output.file")?)),
                None => defaults.file,
            },
            journald: self
                .journald
                .map_or(defaults.journald, |j| j.into_inner().0),
            record: match self.record {
                Some(f) => Some(PathBuf::from(absolute(f, "output.record")?)),
                None => defaults.record,
            },
        })
    }
}

impl RawLog {
    fn validate(self, defaults: LogSection) -> Result<LogSection> {
        let levels: Vec<(&str, &str)> = LOG_LEVELS.iter().map(|&l| (l, l)).collect();
        Ok(LogSection {
            level: match &self.level {
                Some(l) => one_of(l, "log.level", &levels)?.to_owned(),
                None => defaults.level,
            },
        })
    }
}

impl RawSensor {
    fn validate(self, defaults: SensorSection) -> Result<SensorSection> {
        let hooks: Vec<(&str, ConnectHook)> = std::iter::once(ConnectHook::Auto)
            .chain(ConnectHook::ALL)
            .map(|h| (h.name(), h))
            .collect();
        Ok(SensorSection {
            connect_hook: match &self.connect_hook {
                Some(h) => one_of(h, "sensor.connect_hook", &hooks)?,
                None => defaults.connect_hook,
            },
            stats_interval_seconds: self
                .stats_interval_seconds
                .map(|v| positive(v, "sensor.stats_interval_seconds"))
                .transpose()?
                .unwrap_or(defaults.stats_interval_seconds),
        })
    }
}

/// The parser's message in the file's terms: serde's Rust type names become what to write.
pub(super) fn plain_message(message: &str) -> String {
    let mut text = message.trim().replace('\n', "; ");
    for (rust, plain) in [
        ("struct RawConfig", "a TOML document"),
        ("struct RawRule", "a table ([rule])"),
        ("struct RawAlerts", "a table ([alerts])"),
        ("struct RawOutput", "a table ([output])"),
        ("struct RawLog", "a table ([log])"),
        ("struct RawSensor", "a table ([sensor])"),
        ("expected u32", "expected an integer from 0 to 4294967295"),
        ("expected u64", "expected a non-negative integer"),
        ("expected a sequence", "expected an array of strings"),
    ] {
        text = text.replace(rust, plain);
    }
    text
}
