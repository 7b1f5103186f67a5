//! `sshd-sensor rule show`: the compiled rule (its identity, both stages as the engine evaluates
//! them, and what the kernel and replay filter before the engine), and the `--rule` /
//! `--profile` arguments `run`, `replay` and `rule show` share.

use std::{fmt::Write as _, path::PathBuf, process::ExitCode, sync::Arc};

use anyhow::anyhow;

use crate::{
    config::live_parents,
    rule::{
        compiled::CompiledRule,
        profiles::{Profile, RuleSource},
    },
};

/// Which rule to run: a file, or an embedded profile.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct RuleArgs {
    /// An Elastic detection-rule TOML file (EQL) to run instead of the configured rule.
    #[arg(long = "rule", value_name = "FILE", conflicts_with = "profile")]
    pub file: Option<PathBuf>,
    /// An embedded rule: v4 (Elastic's version 4, the default) or latest (Elastic's current
    /// rewrite, "... Suspicious SSHD Child Process").
    #[arg(long, value_enum)]
    pub profile: Option<Profile>,
}

impl RuleArgs {
    /// The source named, if any.
    pub fn source(&self) -> Option<RuleSource> {
        match (&self.file, self.profile) {
            (Some(file), _) => Some(RuleSource::File(file.clone())),
            (None, Some(p)) => Some(RuleSource::Profile(p)),
            (None, None) => None,
        }
    }

    /// The named rule, loaded and compiled.
    pub fn load(&self) -> anyhow::Result<Option<(RuleSource, Arc<CompiledRule>)>> {
        self.source()
            .map(|source| {
                let rule = source.load().map_err(|e| anyhow!("{e}"))?;
                Ok((source, rule))
            })
            .transpose()
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Print the compiled rule: stages, conditions, and what is filtered before the engine.
    Show(ShowArgs),
}

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// A rule file to show (as --rule) [default: the embedded profile v4].
    #[arg(value_name = "FILE", conflicts_with = "profile")]
    pub file: Option<PathBuf>,
    #[arg(long, value_enum)]
    pub profile: Option<Profile>,
}

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Show(show) => {
            let rule_args = RuleArgs {
                file: show.file,
                profile: show.profile,
            };
            let (source, rule) = rule_args
                .load()?
                .unwrap_or_else(|| (RuleSource::default(), Profile::default().rule()));
            print!("{}", describe(&source, &rule));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The text `rule show` prints.
pub fn describe(source: &RuleSource, rule: &CompiledRule) -> String {
    let m = &rule.meta;
    let mut out = String::new();
    let _ = writeln!(out, "rule:      {} ({})", m.name, m.rule_id);
    let _ = writeln!(
        out,
        "version:   {}",
        m.version.as_deref().unwrap_or("(not in the file)")
    );
    let _ = writeln!(out, "source:    {source}");
    let _ = writeln!(
        out,
        "severity:  {} (risk score {})",
        m.severity, m.risk_score
    );
    let _ = writeln!(
        out,
        "sequence:  by {} with maxspan={}",
        rule.join.name(),
        span(rule.maxspan_ns)
    );
    for (n, stage) in [(1, &rule.stage1), (2, &rule.stage2)] {
        let _ = writeln!(
            out,
            "stage {n}:   [{} where {}] by {}",
            stage.category,
            stage.cond,
            stage.key.name()
        );
    }
    let _ = writeln!(out, "before the engine:");
    match live_parents(rule) {
        Some(parents) => {
            let _ = writeln!(
                out,
                "  kernel: reports execs whose parent runs one of {} (stage 1's process.parent.executable; live mode adds every sshd-session location to /usr/sbin/sshd)",
                parents.join(", ")
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  kernel: stage 1 tests no process.parent.executable; `run` needs [rule] parent_executables"
            );
        }
    }
    let ex = rule.stage2_exclusions();
    if ex.networks.is_empty() && ex.names.is_empty() && ex.executables.is_empty() {
        let _ = writeln!(
            out,
            "  stage 2 has no `not (...)` exclusion block of a shape the prefilters use: every connect goes to the engine"
        );
    } else {
        let networks: Vec<String> = ex.networks.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "  destinations excluded before enrichment{}: {}",
            if ex.null_destination {
                " (and null)"
            } else {
                ""
            },
            networks.join(", ")
        );
        let _ = writeln!(
            out,
            "  processes excluded before enrichment when known: executables [{}], names [{}]",
            ex.executables.join(", "),
            ex.names.join(", ")
        );
    }
    out
}

fn span(ns: i64) -> String {
    match ns {
        n if n % 1_000_000_000 == 0 => format!("{}s", n / 1_000_000_000),
        n => format!("{}ms", n / 1_000_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_both_stages_and_the_prefilters() {
        let text = describe(&RuleSource::default(), &Profile::V4.rule());
        assert!(
            text.contains("Network Connection Initiated by SSHD Child Process"),
            "{text}"
        );
        assert!(
            text.contains("sequence:  by host.id with maxspan=1s"),
            "{text}"
        );
        assert!(text.contains("stage 1:   [process where"), "{text}");
        assert!(text.contains("] by process.parent.entity_id"), "{text}");
        assert!(
            text.contains("/usr/sbin/sshd, /usr/lib/openssh/sshd-session"),
            "{text}"
        );
        assert!(text.contains("172.16.0.0/12"), "{text}");
        let latest = describe(
            &RuleSource::Profile(Profile::Latest),
            &Profile::Latest.rule(),
        );
        assert!(latest.contains("like~"), "{latest}");
        assert!(latest.contains("sqlplus"), "{latest}");
        assert!(latest.contains("version:   (not in the file)"), "{latest}");
    }
}
