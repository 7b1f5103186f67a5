//! An in-memory `/proc` for unit tests: processes, files, sockets and users exist only if a test
//! adds them, so no test depends on which pids the host happens to have.

use std::collections::HashMap;

use super::procfs::{Bounded, PROC_READ_MAX, ProcFs};
use crate::kernel::parents::ident::KernelId;

/// One fake process.
#[derive(Clone, Debug, Default)]
pub struct FakeProcess {
    pub exe: Option<(String, KernelId)>,
    pub cmdline: Vec<u8>,
    pub owner: u32,
    pub ppid: u32,
    pub sockets: Vec<u64>,
    /// `/proc/PID/net/tcp` and `tcp6`.
    pub tcp: String,
    pub tcp6: String,
}

/// The fake host.
#[derive(Clone, Debug, Default)]
pub struct FakeProcFs {
    pub processes: HashMap<u32, FakeProcess>,
    /// Path -> (resolved path, kernel identity).
    pub files: HashMap<String, (String, KernelId)>,
    pub users: HashMap<u32, String>,
    /// How many times any `/proc/PID/...` file was read (tests of what is not read).
    pub reads: usize,
}

impl FakeProcFs {
    fn process(&mut self, pid: u32) -> Option<&FakeProcess> {
        self.reads += 1;
        self.processes.get(&pid)
    }
}

impl ProcFs for FakeProcFs {
    fn is_exe(&mut self, pid: u32, id: KernelId) -> Option<bool> {
        let exe = self.process(pid)?.exe.as_ref()?;
        Some(exe.1 == id)
    }

    fn exe_path(&mut self, pid: u32) -> Option<String> {
        Some(self.process(pid)?.exe.as_ref()?.0.clone())
    }

    fn resolve(&mut self, path: &str) -> Option<(String, KernelId)> {
        self.files.get(path).cloned()
    }

    fn cmdline(&mut self, pid: u32) -> Option<Bounded> {
        let raw = &self.process(pid)?.cmdline;
        Some(Bounded {
            bytes: raw[..raw.len().min(PROC_READ_MAX)].to_vec(),
            truncated: raw.len() > PROC_READ_MAX,
        })
    }

    fn owner(&mut self, pid: u32) -> Option<u32> {
        Some(self.process(pid)?.owner)
    }

    fn parent_pid(&mut self, pid: u32) -> Option<u32> {
        Some(self.process(pid)?.ppid)
    }

    fn socket_inodes(&mut self, pid: u32) -> Vec<u64> {
        self.process(pid)
            .map(|p| p.sockets.clone())
            .unwrap_or_default()
    }

    fn tcp_table(&mut self, pid: u32, v6: bool) -> Option<String> {
        let p = self.process(pid)?;
        Some(if v6 { p.tcp6.clone() } else { p.tcp.clone() })
    }

    fn user_name(&mut self, uid: u32) -> Option<String> {
        self.users.get(&uid).cloned()
    }
}
