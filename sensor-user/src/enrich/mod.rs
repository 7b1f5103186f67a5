//! Kernel records to rule events (the event builder). Adds what the kernel does not carry:
//! wall-clock time, entity ids, the symlink-resolved executable (verified against the kernel's
//! device + inode, never guessed), argv, user names, and the SSH connection of a login (from
//! sshd's own socket, never from the user's environment). Its parts: [`cache`] (bounded memory
//! of process images, sessions and user names, so a connect names its process and parent even
//! after they exited), [`procfs`] (every `/proc` read, bounded, behind a trait), [`session`]
//! (sshd's connection). What cannot be verified is left empty, never invented.
//!
//! A connect the rule excludes is dropped before any `/proc` read
//! ([`Enricher::enrich_unless_excluded`]): its destination always, its executable or name when
//! the process's image is already cached.

pub mod cache;
#[cfg(test)]
pub mod fake;
pub mod procfs;
pub mod session;
#[cfg(test)]
mod tests;

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::Path,
};

use sensor_common::{AF_INET, ConnectEvent, EXEC_STAGE1, ExeId, ExecEvent, Task};

use self::{
    cache::{
        Image, PROCESS_CACHE_LEN, ProcessCache, SESSION_CACHE_LEN, SessionCache, USER_CACHE_LEN,
        UserCache,
    },
    procfs::{ProcFs, RealProcFs},
};
use crate::{
    decode::{self, Record},
    event::{Destination, Event, Process, Session, TimestampNs},
    host::Host,
    rule::exclusions::{Exclusions, normalize_ip},
};

/// What [`Enricher::enrich_unless_excluded`] gives.
#[derive(Debug)]
pub enum Enriched {
    Event(Box<Event>),
    /// A connect the rule excludes, known only by its time: feed it to
    /// [`Engine::skip_excluded`](crate::rule::Engine::skip_excluded).
    Excluded {
        timestamp: TimestampNs,
    },
}

/// Turns records into events.
pub struct Enricher<P: ProcFs = RealProcFs> {
    host: Host,
    parent_executables: Vec<String>,
    images: ProcessCache,
    sessions: SessionCache,
    users: UserCache,
    proc: P,
}

fn file_name(path: &Option<String>) -> Option<String> {
    path.as_deref()
        .and_then(|p| Path::new(p).file_name())
        .map(|n| n.to_string_lossy().into_owned())
}

fn kernel_id(exe: ExeId) -> (u32, u64) {
    (exe.dev, exe.ino)
}

/// The destination of a connect, IPv4-mapped addresses as IPv4.
pub fn destination_ip(ev: &ConnectEvent) -> IpAddr {
    let ip = if ev.family == AF_INET {
        IpAddr::V4(Ipv4Addr::new(
            ev.daddr[0],
            ev.daddr[1],
            ev.daddr[2],
            ev.daddr[3],
        ))
    } else {
        IpAddr::V6(Ipv6Addr::from(ev.daddr))
    };
    normalize_ip(ip)
}

impl Enricher<RealProcFs> {
    pub fn new(host: Host, parent_executables: Vec<String>) -> Enricher {
        Enricher::with_proc(host, parent_executables, RealProcFs::default())
    }
}

impl<P: ProcFs> Enricher<P> {
    pub fn with_proc(host: Host, parent_executables: Vec<String>, proc: P) -> Enricher<P> {
        Enricher {
            host,
            parent_executables,
            images: ProcessCache::new(PROCESS_CACHE_LEN),
            sessions: SessionCache::new(SESSION_CACHE_LEN),
            users: UserCache::new(USER_CACHE_LEN),
            proc,
        }
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    #[cfg(test)]
    pub fn proc_mut(&mut self) -> &mut P {
        &mut self.proc
    }

    pub fn set_parent_executables(&mut self, parents: Vec<String>) {
        self.parent_executables = parents;
    }

    fn user(&mut self, uid: u32) -> Option<String> {
        if let Some(name) = self.users.get(&uid) {
            return name.clone();
        }
        let name = self.proc.user_name(uid);
        self.users.insert(uid, name.clone());
        name
    }

    /// The executable of `pid` if `/proc/PID/exe` is still the image the kernel reported.
    fn verified_proc_exe(&mut self, pid: u32, exe: ExeId) -> Option<String> {
        if !self.proc.is_exe(pid, kernel_id(exe))? {
            return None;
        }
        self.proc.exe_path(pid)
    }

    /// The exec'd path, resolved on this host, if it is the image the kernel reported.
    fn verified_path(&mut self, filename: &str, exe: ExeId) -> Option<String> {
        if !filename.starts_with('/') {
            return None;
        }
        let (real, id) = self.proc.resolve(filename)?;
        (id == kernel_id(exe)).then_some(real)
    }

    /// argv of `pid`, bounded (call only after verifying the image), and whether it was cut.
    fn cmdline(&mut self, pid: u32) -> (Option<Vec<String>>, bool) {
        match self.proc.cmdline(pid) {
            Some(raw) => {
                let len = u32::try_from(raw.bytes.len()).unwrap_or(u32::MAX);
                (Some(decode::args(&raw.bytes, len, len)), raw.truncated)
            }
            None => (None, false),
        }
    }

    fn base(&mut self, task: &Task, timestamp: u64) -> Event {
        let user_name = self.user(task.uid);
        Event {
            timestamp: self.host.epoch_ns(timestamp),
            host_id: self.host.id.clone(),
            host_name: self.host.name.clone(),
            host_os_type: Some("linux".into()),
            process: Process {
                pid: Some(task.tgid),
                entity_id: Some(self.host.entity_id(task.tgid, task.start_ns)),
                user_id: Some(task.uid),
                user_name,
                group_id: Some(task.gid),
                start: Some(self.host.epoch_ns(task.start_ns)),
                ..Process::default()
            },
            parent: Process {
                pid: Some(task.ppid),
                entity_id: Some(self.host.entity_id(task.ppid, task.parent_start_ns)),
                start: Some(self.host.epoch_ns(task.parent_start_ns)),
                ..Process::default()
            },
            ..Event::default()
        }
    }

    /// Fills `p` from the cache entry of (tgid, start), if any.
    fn fill_from_cache(&self, p: &mut Process, key: (u32, u64)) -> bool {
        let Some(image) = self.images.get(&key) else {
            return false;
        };
        p.executable = image.executable.clone();
        p.name = file_name(&image.executable);
        p.args = image.args.clone();
        p.args_truncated = image.args_truncated;
        true
    }

    /// The login a stage-1 process serves: the connection of its sshd parent (cached per sshd
    /// process when its monitor confirms it) and the name of the stage-1 process's own uid as the kernel reported it.
    fn session(&mut self, task: &Task) -> Session {
        let sshd = (task.ppid, task.parent_start_ns);
        let connection = match self.sessions.get(&sshd) {
            Some(known) => Some(known.clone()),
            None => {
                let found =
                    session::connection(&mut self.proc, task.ppid, kernel_id(task.parent_exe));
                let session = found.map(|c| Session {
                    client_ip: Some(c.client.0),
                    client_port: Some(c.client.1),
                    server_ip: Some(c.server.0),
                    server_port: Some(c.server.1),
                    user: None,
                });
                if let Some(s) = &session
                    && found.is_some_and(|c| c.lasting)
                {
                    self.sessions.insert(sshd, s.clone());
                }
                session
            }
        };
        Session {
            user: self.user(task.uid),
            ..connection.unwrap_or_default()
        }
    }

    fn exec(&mut self, ev: &ExecEvent) -> Event {
        let task = ev.task;
        let mut event = self.base(&task, ev.header.ktime_ns);
        event.category = vec!["process".into()];
        event.event_type = vec!["start".into()];
        event.action = Some("exec".into());
        let filename =
            String::from_utf8_lossy(&ev.filename[..ev.filename_len as usize]).into_owned();
        let executable = match self.verified_proc_exe(task.tgid, task.exe) {
            Some(exe) => Some(exe),
            None => self.verified_path(&filename, task.exe),
        };
        let args = decode::args(&ev.args, ev.args_len, ev.args_total);
        let args_truncated = ev.args_len < ev.args_total;
        event.process.executable = executable.clone();
        event.process.name = file_name(&executable);
        event.process.args = Some(args.clone());
        event.process.args_truncated = args_truncated;
        let mut session = None;
        if ev.header.flags & EXEC_STAGE1 != 0 {
            // The kernel matched the parent's image against configured parent `parent_index`.
            event.parent.executable = self
                .parent_executables
                .get(ev.parent_index as usize)
                .cloned();
            event.parent.name = file_name(&event.parent.executable);
            // sshd is long-lived: its command line, owner and socket are read while verified.
            if self.proc.is_exe(task.ppid, kernel_id(task.parent_exe)) == Some(true) {
                let (args, truncated) = self.cmdline(task.ppid);
                event.parent.args = args;
                event.parent.args_truncated = truncated;
                event.parent.user_id = self.proc.owner(task.ppid);
                event.parent.user_name = event.parent.user_id.and_then(|uid| self.user(uid));
                session = Some(self.session(&task));
            } else {
                session = Some(Session {
                    user: self.user(task.uid),
                    ..Session::default()
                });
            }
        } else if !self.fill_from_cache(&mut event.parent, (task.ppid, task.parent_start_ns)) {
            event.parent.executable = self.verified_proc_exe(task.ppid, task.parent_exe);
            event.parent.name = file_name(&event.parent.executable);
        }
        event.session = session.clone();
        self.images.insert(
            (task.tgid, task.start_ns),
            Image {
                exe: task.exe,
                executable,
                args: Some(args),
                args_truncated,
                session,
            },
        );
        event
    }

    /// Whether the rule excludes this connect on what is known without `/proc`: its
    /// destination, or its process's executable and name when its image is cached.
    fn excluded(&self, ev: &ConnectEvent, exclusions: &Exclusions) -> bool {
        if exclusions.excludes_destination(Some(destination_ip(ev))) {
            return true;
        }
        let task = ev.task;
        self.images
            .get(&(task.tgid, task.start_ns))
            .filter(|i| i.exe == task.exe)
            .is_some_and(|i| {
                exclusions
                    .excludes_process(i.executable.as_deref(), file_name(&i.executable).as_deref())
            })
    }

    fn connect(&mut self, ev: &ConnectEvent) -> Event {
        let task = ev.task;
        let mut event = self.base(&task, ev.header.ktime_ns);
        event.category = vec!["network".into()];
        event.event_type = vec!["start".into()];
        event.action = Some("connection_attempted".into());
        event.transport = Some("tcp".into());
        event.destination = Destination {
            ip: Some(destination_ip(ev)),
            port: Some(ev.dport),
        };

        let parent_key = (task.ppid, task.parent_start_ns);
        self.fill_from_cache(&mut event.parent, parent_key);
        event.session = self.images.get(&parent_key).and_then(|i| i.session.clone());
        let own_key = (task.tgid, task.start_ns);
        let cached_own = self
            .images
            .get(&own_key)
            .filter(|i| i.exe == task.exe)
            .is_some();
        if cached_own {
            self.fill_from_cache(&mut event.process, own_key);
        } else if let Some(exe) = self.verified_proc_exe(task.tgid, task.exe) {
            event.process.name = file_name(&Some(exe.clone()));
            event.process.executable = Some(exe);
            let (args, truncated) = self.cmdline(task.tgid);
            event.process.args = args;
            event.process.args_truncated = truncated;
        } else if let Some(image) = self.images.get(&parent_key).filter(|i| i.exe == task.exe) {
            // Forked without exec: the child runs its parent's image.
            event.process.executable = image.executable.clone();
            event.process.name = file_name(&image.executable);
        }
        event
    }

    /// One record to one event.
    pub fn enrich(&mut self, record: &Record) -> Event {
        match record {
            Record::Exec(ev) => self.exec(ev),
            Record::Connect(ev) => self.connect(ev),
        }
    }

    /// [`Enricher::enrich`], except that a connect `exclusions` exclude is dropped before any
    /// `/proc` read or cache change: its destination is excluded, or its process's image is
    /// cached with an excluded executable or name. The engine's answer is the same: such an
    /// event is not a stage-2 candidate, so it never matches or consumes a stage 1 (pass its
    /// timestamp to [`Engine::skip_excluded`](crate::rule::Engine::skip_excluded), which
    /// changes the engine's state exactly as `process` of the whole event would).
    pub fn enrich_unless_excluded(&mut self, record: &Record, exclusions: &Exclusions) -> Enriched {
        match record {
            Record::Connect(ev) if self.excluded(ev, exclusions) => Enriched::Excluded {
                timestamp: self.host.epoch_ns(ev.header.ktime_ns),
            },
            _ => Enriched::Event(Box::new(self.enrich(record))),
        }
    }
}
