//! Reads the current task, its thread-group leader and its parent through offsets from BTF:
//! init-namespace ids, start times (for entity ids that survive pid reuse), and executable
//! identity (`mm->exe_file->f_inode`: device and inode, what the image really is, never the
//! string passed to exec). [`Parent`] is the parent that counts for the rule: the process that
//! forked the task (from `FORKS`) when the fork hook recorded it, else `real_parent`.

use aya_ebpf::helpers::{
    bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_task, bpf_get_current_uid_gid,
    bpf_probe_read_kernel,
};
use sensor_common::{ExeId, Fork, Task};

use crate::{config::off, maps::FORKS};

/// Reads a `T` at `base + off` in kernel memory.
#[inline(always)]
pub unsafe fn read<T>(base: *const u8, off: usize) -> Result<T, i32> {
    // SAFETY: bpf_probe_read_kernel tolerates any address; a bad one yields an error.
    unsafe { bpf_probe_read_kernel(base.wrapping_add(off) as *const T) }
}

#[inline(always)]
fn read_ptr(base: *const u8, off: usize) -> Result<*const u8, i32> {
    if base.is_null() {
        return Err(-1);
    }
    // SAFETY: see `read`.
    unsafe { read::<*const u8>(base, off) }
}

/// `task->group_leader->real_parent`: the parent process (not thread) of `task`.
#[inline(always)]
pub fn parent_of(task: *const u8) -> Result<*const u8, i32> {
    let leader = read_ptr(task, off!(task_group_leader))?;
    read_ptr(leader, off!(task_real_parent))
}

/// `task->tgid`.
#[inline(always)]
pub fn tgid_of(task: *const u8) -> Result<u32, i32> {
    // SAFETY: see `read`.
    unsafe { read::<u32>(task, off!(task_tgid)) }
}

/// `task->group_leader->start_time`: the process start, CLOCK_MONOTONIC ns.
#[inline(always)]
pub fn start_of(task: *const u8) -> Result<u64, i32> {
    let leader = read_ptr(task, off!(task_group_leader))?;
    // SAFETY: see `read`.
    unsafe { read::<u64>(leader, off!(task_start_time)) }
}

/// Device and inode of `task->mm->exe_file`; zero for kernel threads or on a failed read.
#[inline(always)]
pub fn exe_of(task: *const u8) -> ExeId {
    exe_of_inner(task).unwrap_or_default()
}

#[inline(always)]
fn exe_of_inner(task: *const u8) -> Result<ExeId, i32> {
    let mm = read_ptr(task, off!(task_mm))?;
    let file = read_ptr(mm, off!(mm_exe_file))?;
    let inode = read_ptr(file, off!(file_f_inode))?;
    let sb = read_ptr(inode, off!(inode_i_sb))?;
    // SAFETY: see `read`.
    let ino = unsafe { read::<u64>(inode, off!(inode_i_ino))? };
    // SAFETY: see `read`.
    let dev = unsafe { read::<u32>(sb, off!(sb_s_dev))? };
    Ok(ExeId { dev, _pad: 0, ino })
}

/// The current task as a raw pointer.
#[inline(always)]
pub fn current() -> *const u8 {
    // SAFETY: the helper has no preconditions.
    unsafe { bpf_get_current_task() as *const u8 }
}

/// `task->signal->live`: the number of live threads of the task's thread group (0 once the
/// last one is exiting).
#[inline(always)]
pub fn live_threads(task: *const u8) -> Result<i32, i32> {
    let signal = read_ptr(task, off!(task_signal))?;
    // SAFETY: see `read`.
    unsafe { read::<i32>(signal, off!(signal_live)) }
}

/// The parent of a task, as the rule sees it.
pub enum Parent {
    /// Recorded when a recent stage-1 process forked the task: valid after reparenting.
    Forked(Fork),
    /// `task->group_leader->real_parent`.
    Live(*const u8),
}

impl Parent {
    /// The parent of `task` (tgid `tgid`): its `FORKS` entry if that entry is about this very
    /// process (same start time), else its live `real_parent`.
    #[inline(always)]
    pub fn of(task: *const u8, tgid: u32) -> Result<Parent, i32> {
        // SAFETY: the value is copied out at once.
        if let Some(fork) = unsafe { FORKS.get(tgid) }.copied()
            && fork.child_start_ns == start_of(task)?
        {
            return Ok(Parent::Forked(fork));
        }
        Ok(Parent::Live(parent_of(task)?))
    }

    #[inline(always)]
    pub fn tgid(&self) -> Result<u32, i32> {
        match self {
            Parent::Forked(fork) => Ok(fork.parent_tgid),
            Parent::Live(task) => tgid_of(*task),
        }
    }

    #[inline(always)]
    pub fn start_ns(&self) -> Result<u64, i32> {
        match self {
            Parent::Forked(fork) => Ok(fork.parent_start_ns),
            Parent::Live(task) => start_of(*task),
        }
    }

    #[inline(always)]
    pub fn exe(&self) -> ExeId {
        match self {
            Parent::Forked(fork) => fork.parent_exe,
            Parent::Live(task) => exe_of(*task),
        }
    }
}

/// Fills `out` for the current task `task`, whose parent is `parent`.
#[inline(always)]
pub fn fill(out: &mut Task, task: *const u8, parent: &Parent) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let uid_gid = bpf_get_current_uid_gid();
    out.pid = pid_tgid as u32;
    out.tgid = (pid_tgid >> 32) as u32;
    out.uid = uid_gid as u32;
    out.gid = (uid_gid >> 32) as u32;
    out._pad = 0;
    out.ppid = parent.tgid().unwrap_or(0);
    out.start_ns = start_of(task).unwrap_or(0);
    out.parent_start_ns = parent.start_ns().unwrap_or(0);
    out.exe = exe_of(task);
    out.parent_exe = parent.exe();
    out.comm = bpf_get_current_comm().unwrap_or([0; 16]);
}
