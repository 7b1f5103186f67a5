//! Which directories to watch so that every change to a parent executable's path is seen, and
//! when to act on what was seen; pure. A path's own directory is watched for its file name;
//! a directory that does not exist yet (openssh-server not installed) is stood in for by its
//! nearest existing ancestor, watched for the next component, so its creation is seen and the
//! plan deepens. Events are debounced: a package upgrade is a burst, and one resolution after
//! it settles is enough, yet never later than [`LONGEST`] after the first event.

use std::{
    collections::{BTreeMap, BTreeSet},
    ffi::{OsStr, OsString},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// Quiet time after the last event before resolving.
pub const QUIET: Duration = Duration::from_millis(100);
/// Longest delay from the first event of a burst to the resolution.
pub const LONGEST: Duration = Duration::from_millis(400);
/// Ancestors climbed looking for an existing directory.
pub const MAX_DEPTH: usize = 32;

/// Directory -> names in it whose changes matter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub dirs: BTreeMap<PathBuf, BTreeSet<OsString>>,
}

/// The watches for `paths` (absolute), given which directories exist now.
pub fn plan(paths: &[PathBuf], is_dir: impl Fn(&Path) -> bool) -> Plan {
    let mut plan = Plan::default();
    for path in paths {
        let (Some(mut dir), Some(mut name)) = (path.parent(), path.file_name()) else {
            continue;
        };
        for _ in 0..MAX_DEPTH {
            if is_dir(dir) {
                plan.dirs
                    .entry(dir.to_path_buf())
                    .or_default()
                    .insert(name.to_owned());
                break;
            }
            match (dir.parent(), dir.file_name()) {
                (Some(up), Some(n)) => {
                    name = n;
                    dir = up;
                }
                _ => break,
            }
        }
    }
    plan
}

impl Plan {
    /// Whether an event on `dir` about `name` matters (an event without a name, on the
    /// directory itself, always does).
    pub fn wants(&self, dir: &Path, name: Option<&OsStr>) -> bool {
        match name {
            None => true,
            Some(name) => self.dirs.get(dir).is_some_and(|names| names.contains(name)),
        }
    }
}

/// When a burst of events is to be acted on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Debounce {
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Debounce {
    /// A relevant event arrived at `now`.
    pub fn event(&mut self, now: Instant) {
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// When to resolve, if something is pending.
    pub fn deadline(&self) -> Option<Instant> {
        Some((self.last? + QUIET).min(self.first? + LONGEST))
    }

    /// True (and reset) when the deadline has passed at `now`.
    pub fn fire(&mut self, now: Instant) -> bool {
        let due = self.deadline().is_some_and(|d| d <= now);
        if due {
            *self = Debounce::default();
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exists<'a>(dirs: &'a [&'a str]) -> impl Fn(&Path) -> bool + 'a {
        move |p| dirs.iter().any(|d| Path::new(d) == p)
    }

    fn names(plan: &Plan, dir: &str) -> Vec<String> {
        plan.dirs
            .get(Path::new(dir))
            .map(|n| n.iter().map(|s| s.to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn existing_directories_are_watched_for_the_file_name() {
        let paths = [
            PathBuf::from("/usr/sbin/sshd"),
            PathBuf::from("/usr/lib/openssh/sshd-session"),
            PathBuf::from("/usr/libexec/openssh/sshd-session"),
            PathBuf::from("/usr/lib/ssh/sshd-session"),
        ];
        let plan = plan(
            &paths,
            exists(&["/", "/usr", "/usr/sbin", "/usr/lib", "/usr/lib/openssh"]),
        );
        assert_eq!(names(&plan, "/usr/sbin"), ["sshd"]);
        assert_eq!(names(&plan, "/usr/lib/openssh"), ["sshd-session"]);
        // /usr/libexec is missing: /usr is watched for it; /usr/lib/ssh: /usr/lib for "ssh".
        assert_eq!(names(&plan, "/usr"), ["libexec"]);
        assert_eq!(names(&plan, "/usr/lib"), ["ssh"]);
        assert_eq!(plan.dirs.len(), 4);
        assert!(plan.wants(Path::new("/usr/sbin"), Some(OsStr::new("sshd"))));
        assert!(!plan.wants(Path::new("/usr/sbin"), Some(OsStr::new("sshd.dpkg-new"))));
        assert!(!plan.wants(Path::new("/usr/sbin"), Some(OsStr::new("ssh"))));
        assert!(plan.wants(Path::new("/usr/sbin"), None));
        assert!(!plan.wants(Path::new("/etc"), Some(OsStr::new("sshd"))));
    }

    #[test]
    fn nothing_exists_but_root() {
        let plan = plan(&[PathBuf::from("/a/b/c/sshd")], exists(&["/"]));
        assert_eq!(names(&plan, "/"), ["a"]);
        let plan = super::plan(&[PathBuf::from("/a/b/c/sshd")], exists(&[]));
        assert!(plan.dirs.is_empty());
        let plan = super::plan(&[PathBuf::from("/")], exists(&["/"]));
        assert!(plan.dirs.is_empty());
    }

    #[test]
    fn climbing_is_bounded() {
        let deep: PathBuf = std::iter::once("/".to_owned())
            .chain((0..100).map(|i| format!("d{i}")))
            .collect();
        assert!(plan(&[deep], exists(&["/"])).dirs.is_empty());
    }

    #[test]
    fn debounce_waits_for_quiet_but_not_forever() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut d = Debounce::default();
        assert_eq!(d.deadline(), None);
        assert!(!d.fire(ms(1000)));
        d.event(ms(0));
        assert_eq!(d.deadline(), Some(ms(100)));
        d.event(ms(50));
        assert_eq!(d.deadline(), Some(ms(150)));
        assert!(!d.fire(ms(149)));
        // A steady stream of events still resolves 400 ms after the first.
        for t in (100..1000).step_by(50) {
            d.event(ms(t));
        }
        assert_eq!(d.deadline(), Some(ms(400)));
        assert!(d.fire(ms(400)));
        assert_eq!(d.deadline(), None, "reset after firing");
    }
}
