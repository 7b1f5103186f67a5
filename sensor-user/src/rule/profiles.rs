//! The rule files that ship inside the binary, selected by `[rule] profile`: Elastic's version 4
//! (the seed, the default) and Elastic's latest rewrite, both as Elastic ships them
//! (`profiles/README.md`), parsed and compiled by the same code as a user's file, once.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::compiled::CompiledRule;
use super::file;

/// `rule.ruleset` of the embedded rules: Elastic's, reimplemented here.
pub const PREBUILT_RULESET: &str = "elastic-prebuilt (reimplemented by sshd-sensor)";

/// An embedded rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// "Network Connection Initiated by SSHD Child Process", version 4 (the seed).
    #[default]
    V4,
    /// "Network Connection Initiated by Suspicious SSHD Child Process", updated 2026/03/24.
    Latest,
}

impl Profile {
    pub const ALL: [Profile; 2] = [Profile::V4, Profile::Latest];

    /// The name used in configuration files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Profile::V4 => "v4",
            Profile::Latest => "latest",
        }
    }

    pub fn named(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The rule file as Elastic ships it.
    pub fn text(self) -> &'static str {
        match self {
            Profile::V4 => include_str!("profiles/persistence_ssh_netcon.v4.toml"),
            Profile::Latest => include_str!("profiles/persistence_ssh_netcon.latest.toml"),
        }
    }

    /// Elastic's version number, which lives outside its files (`version.lock.json`); known for
    /// version 4 only.
    fn version(self) -> Option<&'static str> {
        match self {
            Profile::V4 => Some("4"),
            Profile::Latest => None,
        }
    }

    /// The compiled rule (compiled once per process).
    pub fn rule(self) -> Arc<CompiledRule> {
        static COMPILED: [OnceLock<Arc<CompiledRule>>; 2] = [OnceLock::new(), OnceLock::new()];
        COMPILED[self as usize]
            .get_or_init(|| {
                let origin = format!("embedded profile {}", self.name());
                let mut parsed = file::parse(self.text(), &origin)
                    .unwrap_or_else(|e| unreachable!("{e} (tests::every_profile_compiles)"));
                parsed.meta.version = self.version().map(str::to_owned);
                parsed.meta.ruleset = PREBUILT_RULESET.to_owned();
                Arc::new(
                    CompiledRule::compile(&parsed)
                        .unwrap_or_else(|e| unreachable!("{origin}: {e} (tests)")),
                )
            })
            .clone()
    }
}

/// Where the running rule comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleSource {
    Profile(Profile),
    /// An Elastic detection-rule TOML file (absolute path).
    File(PathBuf),
}

impl Default for RuleSource {
    fn default() -> Self {
        RuleSource::Profile(Profile::default())
    }
}

impl fmt::Display for RuleSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleSource::Profile(p) => write!(f, "embedded profile {}", p.name()),
            RuleSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Reads, parses and compiles the rule file at `path`; the error is one line naming the file,
/// the line and column, and the problem.
pub fn load_file(path: &Path) -> Result<Arc<CompiledRule>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the rule file: {e}", path.display()))?;
    let name = path.display().to_string();
    let parsed = file::parse(&text, &name).map_err(|e| e.to_string())?;
    CompiledRule::compile(&parsed).map(Arc::new).map_err(|e| {
        let origin = parsed.query_origin;
        format!("{name}:{}", e.shifted(origin))
    })
}

impl RuleSource {
    /// The compiled rule.
    pub fn load(&self) -> Result<Arc<CompiledRule>, String> {
        match self {
            RuleSource::Profile(p) => Ok(p.rule()),
            RuleSource::File(path) => load_file(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_compiles_with_its_identity() {
        for p in Profile::ALL {
            let rule = p.rule();
            assert_eq!(rule.meta.rule_id, "63431796-f813-43af-820b-492ee2efec8e");
            assert_eq!(Profile::named(p.name()), Some(p));
        }
        assert_eq!(Profile::V4.rule().meta.version.as_deref(), Some("4"));
        assert!(Profile::Latest.rule().meta.name.contains("Suspicious"));
    }

    /// A source shows as the profile's name or the file's path.
    #[test]
    fn sources_show_what_they_are() {
        assert_eq!(RuleSource::default().to_string(), "embedded profile v4");
        assert_eq!(
            RuleSource::Profile(Profile::Latest).to_string(),
            "embedded profile latest"
        );
        assert_eq!(
            RuleSource::File(PathBuf::from("/etc/sshd-sensor/rule.toml")).to_string(),
            "/etc/sshd-sensor/rule.toml"
        );
    }
}
