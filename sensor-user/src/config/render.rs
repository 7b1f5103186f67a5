//! [`to_toml`]: the effective configuration written out in full, in the file's own layout,
//! with unset optional settings shown as comments. Values are encoded by `toml` itself, so any
//! string round-trips.

use std::{fmt::Write as _, path::Path};

use super::{Config, Journald};
use crate::{kernel::parents::candidates, output::Format, rule::profiles::RuleSource};

fn string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn strings<T: ToString>(items: &[T]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| string(&i.to_string())).collect();
    format!("[{}]", quoted.join(", "))
}

fn optional_path(out: &mut String, key: &str, value: Option<&Path>, example: &str) {
    // Writing to a String cannot fail.
    let _ = match value {
        Some(p) => writeln!(out, "{key} = {}", string(&p.to_string_lossy())),
        None => writeln!(out, "# {key} = {}  (not set)", string(example)),
    };
}

pub(super) fn to_toml(c: &Config) -> String {
    let format = match c.output.format {
        Format::Auto => "auto",
        Format::Human => "human",
        Format::Json => "json",
    };
    let journald = match c.output.journald {
        Journald::Auto => string("auto"),
        Journald::On => "true".to_owned(),
        Journald::Off => "false".to_owned(),
    };
    let hook = c.sensor.connect_hook.name();
    let mut out = String::new();
    let r = &c.rule;
    out.push_str("[rule]\n");
    // Writing to a String cannot fail.
    let _ = match &r.source {
        RuleSource::Profile(p) => writeln!(
            out,
            "# The rule: an embedded profile (\"v4\", the default, or \"latest\"), or `file` = an Elastic rule TOML.\nprofile = {}",
            string(p.name())
        ),
        RuleSource::File(path) => writeln!(out, "file = {}", string(&path.to_string_lossy())),
    };
    if candidates::is_default(&r.parent_executables) {
        out.push_str(
            "# The default: sshd, and sshd-session wherever distributions put it (OpenSSH 9.8+).\n\
             # `run` watches those that exist and picks up any that appear later.\n",
        );
    }
    let _ = write!(
        out,
        "parent_executables = {}\n\
         extra_excluded_cidrs = {}\n\
         extra_excluded_names = {}\n\
         extra_excluded_executables = {}\n\
         \n\
         [alerts]\n\
         max_per_window = {}\n\
         window_seconds = {}\n\
         \n\
         [output]\n\
         format = {}\n",
        strings(&r.parent_executables),
        strings(&r.extra_excluded_cidrs),
        strings(&r.extra_excluded_names),
        strings(&r.extra_excluded_executables),
        c.alerts.max_per_window,
        c.alerts.window_seconds,
        string(format),
    );
    optional_path(
        &mut out,
        "file",
        c.output.file.as_deref(),
        "/var/log/sshd-sensor/alerts.ndjson",
    );
    let _ = writeln!(out, "journald = {journald}");
    optional_path(
        &mut out,
        "record",
        c.output.record.as_deref(),
        "/var/lib/sshd-sensor/events.ndjson",
    );
    let _ = write!(
        out,
        "\n[log]\nlevel = {}\n\n[sensor]\nconnect_hook = {}\nstats_interval_seconds = {}\n",
        string(&c.log.level),
        string(hook),
        c.sensor.stats_interval_seconds,
    );
    out
}
