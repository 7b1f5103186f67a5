//! The identities of the parent executables over time, as a pure state machine fed with
//! resolutions and with what processes run. Each configured path has its current identity
//! (none while the file is absent). When a path's file is replaced (a package upgrade renames
//! a new file over it) or removed, its old identity is retained for as long as some process
//! still runs it, because an sshd started before the upgrade keeps starting sessions from the
//! old image; it is retired once no process runs it. Whether one does is decided by the
//! `stat` identity of `/proc/PID/exe` compared with identities resolved here earlier, never
//! by the path `/proc/PID/exe` reads as (another mount namespace can show any file under the
//! parent's path). [`Identities::table`] is what `PARENT_EXES` must hold: current identities
//! first, then retained ones, newest first; what exceeds the kernel table is returned apart,
//! to be reported, never silently cut.

use super::ident::{Ident, KernelId, StatId};

/// One identity no path resolves to any more, kept while a process runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retained {
    pub path: String,
    pub ident: Ident,
}

/// What an update changed, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The path resolves for the first time (or again after being absent).
    Found { path: String, ident: Ident },
    /// The path now resolves to another file; the old one is retained.
    Replaced {
        path: String,
        old: Ident,
        new: Ident,
    },
    /// The path no longer resolves; the old identity is retained.
    Vanished { path: String, old: Ident },
    /// No process runs this retained identity any more: it leaves the table.
    Retired { path: String, ident: Ident },
    /// More retained identities than the kernel table holds: the oldest is forgotten.
    Forgotten { path: String, ident: Ident },
    /// The path is no longer configured: its identities leave the table.
    Unwatched { path: String, ident: Ident },
}

/// The entries `PARENT_EXES` must hold (identity -> index of the configured path), and the
/// identities that did not fit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    pub entries: Vec<(KernelId, u32)>,
    pub overflow: Vec<Retained>,
}

/// Current and retained identities of the configured paths.
#[derive(Clone, Debug)]
pub struct Identities {
    paths: Vec<String>,
    current: Vec<Option<Ident>>,
    /// Oldest first; at most `capacity` entries.
    retained: Vec<Retained>,
    capacity: usize,
}

impl Identities {
    /// No identity known yet; `capacity` is the kernel table's size.
    pub fn new(paths: Vec<String>, capacity: usize) -> Identities {
        let current = vec![None; paths.len()];
        Identities {
            paths,
            current,
            retained: Vec::new(),
            capacity,
        }
    }

    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// The current identity of each path, in order.
    pub fn current(&self) -> &[Option<Ident>] {
        &self.current
    }

    pub fn retained(&self) -> &[Retained] {
        &self.retained
    }

    /// Takes one fresh resolution per configured path (`None`: absent), in order.
    pub fn update(&mut self, resolved: Vec<Option<Ident>>) -> Vec<Change> {
        assert_eq!(resolved.len(), self.paths.len(), "one resolution per path");
        let mut changes = Vec::new();
        let mut replaced = Vec::new();
        for ((path, old), new) in self.paths.iter().zip(&mut self.current).zip(resolved) {
            match (*old, new) {
                (None, Some(ident)) => changes.push(Change::Found {
                    path: path.clone(),
                    ident,
                }),
                (Some(o), Some(n)) if o != n => {
                    changes.push(Change::Replaced {
                        path: path.clone(),
                        old: o,
                        new: n,
                    });
                    replaced.push((path.clone(), o));
                }
                (Some(o), None) => {
                    changes.push(Change::Vanished {
                        path: path.clone(),
                        old: o,
                    });
                    replaced.push((path.clone(), o));
                }
                _ => {}
            }
            *old = new;
        }
        for (path, ident) in replaced {
            if !self.retained.iter().any(|r| r.ident == ident) {
                self.retained.push(Retained { path, ident });
            }
        }
        // A file renamed back is current again, not retained.
        let current = &self.current;
        self.retained
            .retain(|r| !current.iter().flatten().any(|c| *c == r.ident));
        while self.retained.len() > self.capacity {
            let Retained { path, ident } = self.retained.remove(0);
            changes.push(Change::Forgotten { path, ident });
        }
        changes
    }

    /// The `stat` identities whose running processes keep a retained identity alive: a scan
    /// of `/proc` is needed only when this is not empty.
    pub fn retained_images(&self) -> Vec<StatId> {
        self.retained.iter().map(|r| r.ident.stat).collect()
    }

    /// Retires every retained identity for which `running` is false.
    pub fn retire_unused(&mut self, running: impl Fn(StatId) -> bool) -> Vec<Change> {
        let mut changes = Vec::new();
        self.retained.retain(|r| {
            let keep = running(r.ident.stat);
            if !keep {
                changes.push(Change::Retired {
                    path: r.path.clone(),
                    ident: r.ident,
                });
            }
            keep
        });
        changes
    }

    /// A new list of paths (a reload). Paths still configured keep their current and retained
    /// identities under their new index; the others' identities leave. The caller resolves
    /// again afterwards.
    pub fn set_paths(&mut self, paths: Vec<String>) -> Vec<Change> {
        let mut changes = Vec::new();
        let current: Vec<Option<Ident>> = paths
            .iter()
            .map(|p| {
                let old = self.paths.iter().position(|q| q == p);
                old.and_then(|i| self.current[i])
            })
            .collect();
        for (path, ident) in self.paths.iter().zip(&self.current) {
            if let Some(ident) = ident
                && !paths.contains(path)
            {
                changes.push(Change::Unwatched {
                    path: path.clone(),
                    ident: *ident,
                });
            }
        }
        self.retained.retain(|r| {
            let keep = paths.contains(&r.path);
            if !keep {
                changes.push(Change::Unwatched {
                    path: r.path.clone(),
                    ident: r.ident,
                });
            }
            keep
        });
        self.paths = paths;
        self.current = current;
        changes
    }

    /// What `PARENT_EXES` must hold: current identities by path order, then retained ones,
    /// newest first, each kernel identity once; beyond `capacity`, the overflow.
    pub fn table(&self) -> Table {
        let mut table = Table::default();
        let currents = self
            .paths
            .iter()
            .zip(&self.current)
            .filter_map(|(p, c)| c.map(|c| (p, c)));
        let retained = self.retained.iter().rev().map(|r| (&r.path, r.ident));
        for (path, ident) in currents.chain(retained) {
            if table.entries.iter().any(|(k, _)| *k == ident.kernel) {
                continue;
            }
            let index = self.paths.iter().position(|p| p == path);
            match index.and_then(|i| u32::try_from(i).ok()) {
                Some(i) if table.entries.len() < self.capacity => {
                    table.entries.push((ident.kernel, i));
                }
                _ => table.overflow.push(Retained {
                    path: path.clone(),
                    ident,
                }),
            }
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> Ident {
        Ident {
            kernel: (39, n),
            stat: (41, n),
        }
    }

    fn paths(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    fn keys(t: &Table) -> Vec<(u64, u32)> {
        t.entries.iter().map(|((_, ino), i)| (*ino, *i)).collect()
    }

    #[test]
    fn found_then_replaced_keeps_old_while_running() {
        let mut s = Identities::new(
            paths(&["/usr/sbin/sshd", "/usr/lib/openssh/sshd-session"]),
            64,
        );
        let c = s.update(vec![Some(id(1)), None]);
        assert_eq!(
            c,
            [Change::Found {
                path: "/usr/sbin/sshd".into(),
                ident: id(1)
            }]
        );
        assert_eq!(keys(&s.table()), [(1, 0)]);
        // Unchanged resolution: nothing happens.
        assert_eq!(s.update(vec![Some(id(1)), None]), []);
        // Upgrade: renamed over, and the session binary appears.
        let c = s.update(vec![Some(id(2)), Some(id(3))]);
        assert_eq!(c.len(), 2);
        assert!(matches!(c[0], Change::Replaced { old, new, .. } if old == id(1) && new == id(2)));
        assert_eq!(keys(&s.table()), [(2, 0), (3, 1), (1, 0)]);
        assert_eq!(s.retained_images(), [id(1).stat]);
        // The old listener still runs: kept.
        assert_eq!(s.retire_unused(|st| st == id(1).stat), []);
        assert_eq!(keys(&s.table()), [(2, 0), (3, 1), (1, 0)]);
        // It exited: retired, by its stat identity, not its kernel one.
        let c = s.retire_unused(|st| st == (39, 1));
        assert_eq!(
            c,
            [Change::Retired {
                path: "/usr/sbin/sshd".into(),
                ident: id(1)
            }]
        );
        assert_eq!(keys(&s.table()), [(2, 0), (3, 1)]);
        assert!(s.retained_images().is_empty());
    }

    #[test]
    fn vanished_is_retained_and_renamed_back_is_current() {
        let mut s = Identities::new(paths(&["/a"]), 64);
        s.update(vec![Some(id(1))]);
        let c = s.update(vec![None]);
        assert_eq!(
            c,
            [Change::Vanished {
                path: "/a".into(),
                old: id(1)
            }]
        );
        assert_eq!(keys(&s.table()), [(1, 0)]);
        s.update(vec![Some(id(1))]);
        assert!(s.retained().is_empty(), "current again, not retained");
        assert_eq!(keys(&s.table()), [(1, 0)]);
    }

    #[test]
    fn same_identity_twice_is_one_entry() {
        // /sbin/sshd and /usr/sbin/sshd through a symlink.
        let mut s = Identities::new(paths(&["/usr/sbin/sshd", "/sbin/sshd"]), 64);
        s.update(vec![Some(id(1)), Some(id(1))]);
        assert_eq!(keys(&s.table()), [(1, 0)]);
    }

    #[test]
    fn overflow_is_reported_never_cut_silently() {
        let mut s = Identities::new(paths(&["/a", "/b"]), 3);
        s.update(vec![Some(id(1)), Some(id(2))]);
        s.update(vec![Some(id(3)), Some(id(4))]);
        let t = s.table();
        // Current identities come first; the newest retained fills the last slot.
        assert_eq!(keys(&t), [(3, 0), (4, 1), (2, 1)]);
        assert_eq!(
            t.overflow,
            [Retained {
                path: "/a".into(),
                ident: id(1)
            }]
        );
        // Retained identities beyond the capacity are forgotten, and said so.
        let c = s.update(vec![Some(id(5)), Some(id(6))]);
        assert!(
            c.iter()
                .any(|c| matches!(c, Change::Forgotten { ident, .. } if *ident == id(1)))
        );
        assert_eq!(s.retained().len(), 3);
    }

    #[test]
    fn reload_remaps_indices_and_unwatches_dropped_paths() {
        let mut s = Identities::new(paths(&["/a", "/b"]), 64);
        s.update(vec![Some(id(1)), Some(id(2))]);
        s.update(vec![Some(id(3)), Some(id(2))]);
        let c = s.set_paths(paths(&["/b", "/c"]));
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(
            c.iter()
                .all(|c| matches!(c, Change::Unwatched { path, .. } if path == "/a"))
        );
        assert_eq!(keys(&s.table()), [(2, 0)]);
        assert_eq!(s.update(vec![Some(id(2)), None]), []);
    }
}
