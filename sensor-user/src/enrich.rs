//! Kernel records to rule events. Adds what the kernel does not carry: wall-clock time, entity
//! ids, the symlink-resolved executable (verified against the kernel's device + inode, never
//! guessed), argv, user names. A bounded cache of processes seen exec'ing (stage-1 processes
//! and their children) lets a connect name its process and parent even after they exited;
//! what cannot be verified is left empty, never invented.

use std::{
    collections::{HashMap, VecDeque},
    fs,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    os::unix::fs::MetadataExt,
    path::Path,
};

use sensor_common::{AF_INET, ConnectEvent, EXEC_STAGE1, ExeId, ExecEvent, Task};

use crate::{
    decode::{self, Record},
    event::{Destination, Event, Process, Session},
    host::Host,
    kernel::parents::ident::MountDevs,
    rule::exclusions::normalize_ip,
};

/// User names remembered.
pub const USER_CACHE_LEN: usize = 1024;

/// Processes remembered; the oldest is forgotten first.
pub const PROCESS_CACHE_LEN: usize = 4096;

#[derive(Clone, Debug, Default)]
struct Image {
    exe: ExeId,
    executable: Option<String>,
    args: Option<Vec<String>>,
    session: Option<Session>,
}

/// Turns records into events.
pub struct Enricher {
    host: Host,
    parent_executables: Vec<String>,
    images: HashMap<(u32, u64), Image>,
    order: VecDeque<(u32, u64)>,
    users: HashMap<u32, Option<String>>,
    mounts: MountDevs,
}

/// The executable of `pid` if `/proc/PID/exe` is still the image the kernel reported (its
/// device taken from its mount, as the kernel's is: `st_dev` differs on btrfs and overlays).
fn verified_proc_exe(mounts: &mut MountDevs, pid: u32, exe: ExeId) -> Option<String> {
    if !mounts.is_exe(pid, (exe.dev, exe.ino))? {
        return None;
    }
    fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// argv of `pid` from `/proc/PID/cmdline` (call only after verifying the image).
fn proc_cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let len = u32::try_from(raw.len()).unwrap_or(u32::MAX);
    Some(decode::args(&raw, len, len))
}

/// The exec'd path, resolved on this host, if it is the image the kernel reported.
fn verified_path(mounts: &mut MountDevs, filename: &str, exe: ExeId) -> Option<String> {
    if !filename.starts_with('/') {
        return None;
    }
    let real = fs::canonicalize(filename).ok()?;
    (mounts.kernel_id(&real).ok()? == (exe.dev, exe.ino))
        .then(|| real.to_string_lossy().into_owned())
}

fn file_name(path: &Option<String>) -> Option<String> {
    path.as_deref()
        .and_then(|p| Path::new(p).file_name())
        .map(|n| n.to_string_lossy().into_owned())
}

fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the call; `buf` outlives the use of `pwd`'s strings.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded, pw_name is a NUL-terminated string inside `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

impl Enricher {
    pub fn new(host: Host, parent_executables: Vec<String>) -> Enricher {
        Enricher {
            host,
            parent_executables,
            images: HashMap::new(),
            order: VecDeque::new(),
            users: HashMap::new(),
            mounts: MountDevs::default(),
        }
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    pub fn set_parent_executables(&mut self, parents: Vec<String>) {
        self.parent_executables = parents;
    }

    fn remember(&mut self, key: (u32, u64), image: Image) {
        if self.images.insert(key, image).is_none() {
            self.order.push_back(key);
            while self.order.len() > PROCESS_CACHE_LEN {
                if let Some(old) = self.order.pop_front() {
                    self.images.remove(&old);
                }
            }
        }
    }

    fn user(&mut self, uid: u32) -> Option<String> {
        if self.users.len() >= USER_CACHE_LEN && !self.users.contains_key(&uid) {
            // Bounded: forget every name (they are looked up again on demand).
            self.users.clear();
        }
        self.users
            .entry(uid)
            .or_insert_with(|| user_name(uid))
            .clone()
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
        true
    }

    fn exec(&mut self, ev: &ExecEvent) -> Event {
        let task = ev.task;
        let mut event = self.base(&task, ev.header.ktime_ns);
        event.category = vec!["process".into()];
        event.event_type = vec!["start".into()];
        event.action = Some("exec".into());
        let filename =
            String::from_utf8_lossy(&ev.filename[..ev.filename_len as usize]).into_owned();
        let proc_exe = verified_proc_exe(&mut self.mounts, task.tgid, task.exe);
        let proc_is_this_image = proc_exe.is_some();
        let executable = proc_exe.or_else(|| verified_path(&mut self.mounts, &filename, task.exe));
        let args = decode::args(&ev.args, ev.args_len, ev.args_total);
        event.process.executable = executable.clone();
        event.process.name = file_name(&executable);
        event.process.args = Some(args.clone());
        let mut session = None;
        if ev.header.flags & EXEC_STAGE1 != 0 {
            // The SSH login this shell serves; read only while /proc/PID is still this image.
            if proc_is_this_image {
                session = fs::read(format!("/proc/{}/environ", task.tgid))
                    .ok()
                    .and_then(|env| Session::from_environ(&env));
            }
            // The kernel matched the parent's image against configured parent `parent_index`.
            event.parent.executable = self
                .parent_executables
                .get(ev.parent_index as usize)
                .cloned();
            event.parent.name = file_name(&event.parent.executable);
            // sshd is long-lived: its command line and owner are read while it is verified.
            let parent_image = (task.parent_exe.dev, task.parent_exe.ino);
            if self.mounts.is_exe(task.ppid, parent_image) == Some(true) {
                event.parent.args = proc_cmdline(task.ppid);
                event.parent.user_id = fs::metadata(format!("/proc/{}", task.ppid))
                    .ok()
                    .map(|m| m.uid());
                event.parent.user_name = event.parent.user_id.and_then(|uid| self.user(uid));
            }
        } else if !self.fill_from_cache(&mut event.parent, (task.ppid, task.parent_start_ns)) {
            event.parent.executable =
                verified_proc_exe(&mut self.mounts, task.ppid, task.parent_exe);
            event.parent.name = file_name(&event.parent.executable);
        }
        event.session = session.clone();
        self.remember(
            (task.tgid, task.start_ns),
            Image {
                exe: task.exe,
                executable,
                args: Some(args),
                session,
            },
        );
        event
    }

    fn connect(&mut self, ev: &ConnectEvent) -> Event {
        let task = ev.task;
        let mut event = self.base(&task, ev.header.ktime_ns);
        event.category = vec!["network".into()];
        event.event_type = vec!["start".into()];
        event.action = Some("connection_attempted".into());
        event.transport = Some("tcp".into());
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
        event.destination = Destination {
            ip: Some(normalize_ip(ip)),
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
        } else if let Some(exe) = verified_proc_exe(&mut self.mounts, task.tgid, task.exe) {
            event.process.name = file_name(&Some(exe.clone()));
            event.process.executable = Some(exe);
            event.process.args = proc_cmdline(task.tgid);
        } else if self
            .images
            .get(&parent_key)
            .is_some_and(|i| i.exe == task.exe)
        {
            // Forked without exec: the child runs its parent's image.
            let image = &self.images[&parent_key];
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{Engine, Limits, RuleConfig};
    use sensor_common::{
        AF_INET6, ARGS_LEN, EXEC_CHILD_OF_STAGE1, FILENAME_LEN, Header, KIND_CONNECT, KIND_EXEC,
    };

    const UNKNOWN: ExeId = ExeId {
        dev: 0xdead,
        _pad: 0,
        ino: 0xbeef,
    };

    fn host() -> Host {
        Host {
            id: Some("host-1".into()),
            name: Some("h".into()),
            boot_id: "b".into(),
            monotonic_to_epoch_ns: 1_000,
        }
    }

    fn task(tgid: u32, start_ns: u64, ppid: u32, parent_start_ns: u64) -> Task {
        Task {
            pid: tgid,
            tgid,
            ppid,
            uid: 0,
            gid: 0,
            _pad: 0,
            start_ns,
            parent_start_ns,
            exe: UNKNOWN,
            parent_exe: UNKNOWN,
            comm: [0; 16],
        }
    }

    fn exec(t: Task, flags: u32, at: u64, argv: &[u8]) -> Record {
        let mut args = [0u8; ARGS_LEN];
        args[..argv.len()].copy_from_slice(argv);
        Record::Exec(Box::new(ExecEvent {
            header: Header {
                kind: KIND_EXEC,
                flags,
                ktime_ns: at,
            },
            task: t,
            parent_index: if flags == EXEC_STAGE1 { 0 } else { u32::MAX },
            filename_len: 0,
            args_total: argv.len() as u32,
            args_len: argv.len() as u32,
            filename: [0; FILENAME_LEN],
            args,
        }))
    }

    fn connect(t: Task, at: u64, daddr: [u8; 16]) -> Record {
        Record::Connect(ConnectEvent {
            header: Header {
                kind: KIND_CONNECT,
                flags: 0,
                ktime_ns: at,
            },
            task: t,
            family: AF_INET6,
            dport: 443,
            _pad: 0,
            daddr,
        })
    }

    #[test]
    fn a_stage1_exec_and_its_childs_connect_join_and_alert() {
        let mut enricher = Enricher::new(host(), vec!["/usr/sbin/sshd".into()]);
        let mut engine = Engine::new(RuleConfig::default(), Limits::default());
        // Fake pids whose /proc entries (if any) are other images: nothing can be verified.
        let shell = task(4_000_001, 7, 4_000_000, 3);
        let child = task(4_000_002, 9, 4_000_001, 7);
        let stage1 = enricher.enrich(&exec(shell, EXEC_STAGE1, 100, b"sh\0-c\0x; true\0"));
        assert_eq!(stage1.parent.executable.as_deref(), Some("/usr/sbin/sshd"));
        assert_eq!(
            stage1.process.args.as_deref(),
            Some(&["sh".to_owned(), "-c".into(), "x; true".into()][..])
        );
        assert_eq!(
            stage1.process.executable, None,
            "an unverifiable executable is left empty"
        );
        assert!(engine.process(stage1).is_none());
        let child_exec = enricher.enrich(&exec(child, EXEC_CHILD_OF_STAGE1, 200, b"curl\0"));
        assert!(engine.process(child_exec).is_none());
        let mapped = Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x0808, 0x0808).octets();
        let attempt = enricher.enrich(&connect(child, 300, mapped));
        assert_eq!(
            attempt.destination.ip,
            Some(IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)))
        );
        assert_eq!(
            attempt.parent.args.as_ref().map(Vec::len),
            Some(3),
            "parent taken from the cache"
        );
        assert_eq!(attempt.timestamp, 1_300);
        let alert = engine
            .process(attempt)
            .expect("the child's connect joins its parent's exec");
        assert_eq!(
            alert.stage1.process.entity_id,
            alert.stage2.parent.entity_id
        );
        assert_eq!(
            alert.stage2.process.args.as_deref(),
            Some(&["curl".to_owned()][..])
        );
    }

    #[test]
    fn pid_reuse_gives_a_different_entity_id() {
        let mut enricher = Enricher::new(host(), vec!["/usr/sbin/sshd".into()]);
        let mut engine = Engine::new(RuleConfig::default(), Limits::default());
        let shell = task(4_000_001, 7, 4_000_000, 3);
        engine.process(enricher.enrich(&exec(shell, EXEC_STAGE1, 100, b"sh\0")));
        // Same parent pid, but a parent that started at another time: another process.
        let stranger = task(4_000_002, 9, 4_000_001, 8);
        let attempt = enricher.enrich(&connect(stranger, 300, [1; 16]));
        assert!(engine.process(attempt).is_none());
    }
}
