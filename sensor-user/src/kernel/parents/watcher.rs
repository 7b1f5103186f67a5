//! Keeps `PARENT_EXES` following the files while the sensor runs: inotify on the directories
//! of the parent executables (see [`super::watch`]), registered with tokio, debounced; a slow
//! timer re-resolves too (changes inotify cannot see, such as mounts) and retires old
//! identities no process runs any more; SIGHUP calls [`Watcher::reload`]. A replaced, new or
//! reinstalled executable is in the kernel table well within a second. After start-up, every
//! change of the table is also told to systemd (`STATUS=`, shown by `systemctl status`).
//! Failures are logged and the sensor keeps running with the table it has.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use aya::Ebpf;
use tokio::{io::unix::AsyncFd, time::Instant};
use tracing::{error, info, warn};

use super::{
    candidates,
    ident::Ident,
    identities::{Change, Identities},
    inotify::{self, Inotify},
    table::{self, TableError},
    watch::{self, Debounce, Plan},
};

/// Period of the slow re-resolution and retirement check.
pub const SLOW_CHECK: Duration = Duration::from_secs(30);
/// Reads of the inotify queue per wake-up (then the select loop gets its turn).
const MAX_READS: usize = 64;

/// Why [`Watcher::due`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// Watched paths changed (debounced).
    Changed,
    /// The slow timer.
    Timer,
}

/// The running watch over the parent executables.
pub struct Watcher {
    state: Identities,
    inotify: Option<AsyncFd<Inotify>>,
    /// Watch descriptor -> the directories it stands for (one inode, several paths).
    watches: BTreeMap<i32, Vec<PathBuf>>,
    plan: Plan,
    unwatchable: Vec<PathBuf>,
    debounce: Debounce,
    next_check: Instant,
    /// Tell systemd about changes (not during start-up, which ends with READY=1).
    report_status: bool,
}

fn show(ident: &Ident) -> String {
    let (dev, ino) = ident.kernel;
    format!("dev {}:{} ino {ino}", dev >> 20, dev & 0xf_ffff)
}

fn log_change(change: &Change) {
    match change {
        Change::Found { path, ident } => {
            info!(path = %path, identity = %show(ident), "parent executable found")
        }
        Change::Replaced { path, old, new } => info!(
            path = %path, old = %show(old), new = %show(new),
            "parent executable replaced: watching the new file, and the old one while a process runs it"
        ),
        Change::Vanished { path, old } => warn!(
            path = %path, old = %show(old),
            "parent executable removed: logins through a new copy of it will be seen once it is back"
        ),
        Change::Retired { path, ident } => {
            info!(path = %path, identity = %show(ident), "old parent executable retired: no process runs it")
        }
        Change::Forgotten { path, ident } => error!(
            path = %path, identity = %show(ident),
            "too many old parent executables still running: forgetting the oldest; restart the old sshd processes"
        ),
        Change::Unwatched { path, ident } => {
            info!(path = %path, identity = %show(ident), "parent executable no longer configured")
        }
    }
}

impl Watcher {
    /// Starts watching `paths` and writes their identities; logs what was found.
    pub fn start(ebpf: &mut Ebpf, paths: &[String]) -> Watcher {
        // SAFETY: the AsyncFd owns the Inotify, so the fd stays open while it is registered.
        let inotify = match Inotify::new().and_then(|i| Ok(unsafe { AsyncFd::register(i) }?)) {
            Ok(fd) => Some(fd),
            Err(e) => {
                error!(
                    "cannot watch the parent executables with inotify ({e}): a replaced or new sshd is seen only every {}s or on SIGHUP; raise fs.inotify.max_user_instances",
                    SLOW_CHECK.as_secs()
                );
                None
            }
        };
        let mut watcher = Watcher {
            state: Identities::new(paths.to_vec(), table::capacity()),
            inotify,
            watches: BTreeMap::new(),
            plan: Plan::default(),
            unwatchable: Vec::new(),
            debounce: Debounce::default(),
            next_check: Instant::now() + SLOW_CHECK,
            report_status: false,
        };
        watcher.refresh(ebpf, Due::Changed);
        watcher.log_summary();
        watcher.report_status = true;
        watcher
    }

    fn log_summary(&self) {
        let paths = self.state.paths();
        let found: Vec<&str> = paths
            .iter()
            .zip(self.state.current())
            .filter(|(_, c)| c.is_some())
            .map(|(p, _)| p.as_str())
            .collect();
        let absent: Vec<&str> = paths
            .iter()
            .zip(self.state.current())
            .filter(|(_, c)| c.is_none())
            .map(|(p, _)| p.as_str())
            .collect();
        if candidates::is_default(paths) {
            info!(found = ?found, "parent executables: the default (sshd and sshd-session wherever the distribution puts it); the absent ones are watched and picked up if they appear");
        } else {
            for path in &absent {
                warn!(path = %path, "parent executable not found on this host; logins through it are seen once it appears");
            }
            info!(found = ?found, "parent executables: as configured");
        }
        if found.is_empty() {
            warn!(
                "no parent executable exists on this host yet: no SSH login can be seen until one appears"
            );
        }
    }

    /// Waits until the table is due for a refresh: debounced changes or the slow timer.
    /// Cancel-safe: what was read stays in `self`.
    pub async fn due(&mut self) -> Due {
        loop {
            let deadline = self.debounce.deadline().map_or(self.next_check, |d| {
                Instant::from_std(d).min(self.next_check)
            });
            let events = match &self.inotify {
                Some(fd) => tokio::select! {
                    ready = fd.readable() => Some(ready.and_then(|mut guard| {
                        let mut out = Vec::new();
                        let mut buf = [0u8; 4096];
                        for _ in 0..MAX_READS {
                            match guard.try_io(|i| i.get_ref().read(&mut buf)) {
                                Ok(Ok(n)) => out.extend(inotify::decode(&buf[..n])),
                                Ok(Err(e)) => return Err(e),
                                Err(_would_block) => break,
                            }
                        }
                        Ok(out)
                    })),
                    () = tokio::time::sleep_until(deadline) => None,
                },
                None => {
                    tokio::time::sleep_until(deadline).await;
                    None
                }
            };
            match events {
                Some(Ok(events)) => self.note(&events),
                Some(Err(e)) => {
                    error!(
                        "reading inotify events failed ({e}): parent executables are re-resolved only every {}s or on SIGHUP",
                        SLOW_CHECK.as_secs()
                    );
                    self.inotify = None;
                }
                None => {
                    let now = Instant::now();
                    if self.debounce.fire(now.into_std()) {
                        return Due::Changed;
                    }
                    if now >= self.next_check {
                        self.next_check = now + SLOW_CHECK;
                        return Due::Timer;
                    }
                }
            }
        }
    }

    /// Feeds decoded events to the debounce; only those about watched names count.
    fn note(&mut self, events: &[inotify::Event]) {
        let self_events =
            libc::IN_Q_OVERFLOW | libc::IN_IGNORED | libc::IN_DELETE_SELF | libc::IN_MOVE_SELF;
        let relevant = events.iter().any(|e| {
            e.mask & self_events != 0
                || self
                    .watches
                    .get(&e.wd)
                    .is_some_and(|dirs| dirs.iter().any(|d| self.plan.wants(d, e.name.as_deref())))
        });
        if relevant {
            self.debounce.event(Instant::now().into_std());
        }
    }

    /// Re-plans the watches (directories may have appeared), re-resolves, retires old
    /// identities no process runs, and writes the table if anything changed.
    pub fn refresh(&mut self, ebpf: &mut Ebpf, due: Due) {
        self.rewatch();
        let resolved = table::resolve_all(self.state.paths());
        let mut changes = self.state.update(resolved);
        let retained = self.state.retained_images();
        if !retained.is_empty() {
            let running = table::running_images(&retained);
            changes.extend(self.state.retire_unused(|s| running.contains(&s)));
        }
        changes.iter().for_each(log_change);
        if !changes.is_empty() || due == Due::Changed {
            self.write(ebpf);
        }
        if !changes.is_empty() && self.report_status {
            let found = self.state.current().iter().flatten().count();
            let status = format!(
                "STATUS=parent executables: {found} of {} paths found, {} old images still running",
                self.state.paths().len(),
                self.state.retained().len()
            );
            if let Err(e) = crate::notify::notify(&status) {
                warn!(error = %e, "telling systemd the parent executables' status failed");
            }
        }
    }

    fn write(&self, ebpf: &mut Ebpf) {
        let table = self.state.table();
        for r in &table.overflow {
            error!(
                path = %r.path, identity = %show(&r.ident),
                "more parent-executable identities than the kernel table holds ({}): this one is NOT watched; restart the sshd processes still running old images",
                table::capacity()
            );
        }
        if let Err(e) = table::write(ebpf, &table) {
            error!("{e}");
        }
    }

    /// A reloaded configuration: new paths, resolved now. Refused (state untouched) when the
    /// paths do not fit the kernel table.
    pub fn reload(&mut self, ebpf: &mut Ebpf, paths: &[String]) -> Result<(), TableError> {
        table::check_count(paths)?;
        let changes = self.state.set_paths(paths.to_vec());
        changes.iter().for_each(log_change);
        self.refresh(ebpf, Due::Changed);
        Ok(())
    }

    /// Watches what [`watch::plan`] says for the paths and their symlink targets.
    fn rewatch(&mut self) {
        let Some(fd) = &self.inotify else { return };
        let mut targets: Vec<PathBuf> = Vec::new();
        for path in self.state.paths() {
            let path = PathBuf::from(path);
            if let Ok(real) = std::fs::canonicalize(&path)
                && real != path
            {
                targets.push(real);
            }
            targets.push(path);
        }
        self.plan = watch::plan(&targets, |d| d.is_dir());
        let mut watches: BTreeMap<i32, Vec<PathBuf>> = BTreeMap::new();
        let mut failed = Vec::new();
        for dir in self.plan.dirs.keys() {
            match fd.get_ref().add(dir) {
                Ok(wd) => watches.entry(wd).or_default().push(dir.clone()),
                Err(e) => failed.push((dir.clone(), e)),
            }
        }
        for wd in self.watches.keys().filter(|wd| !watches.contains_key(wd)) {
            fd.get_ref().remove(*wd);
        }
        self.watches = watches;
        let failed_dirs: Vec<PathBuf> = failed.iter().map(|(d, _)| d.clone()).collect();
        if failed_dirs != self.unwatchable {
            for (dir, e) in &failed {
                warn!(dir = %dir.display(), "cannot watch ({e}): changes there are seen only every {}s or on SIGHUP", SLOW_CHECK.as_secs());
            }
            self.unwatchable = failed_dirs;
        }
    }
}
