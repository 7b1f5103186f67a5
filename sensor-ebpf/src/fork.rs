//! Hook: raw tracepoint `sched_process_fork` (`TP_PROTO(parent, child)`, two `task_struct`
//! pointers, read through BTF offsets; Linux 4.17+ for raw tracepoints). It fires in the forking
//! task once the child is set up. When a recent stage-1 process starts a new thread group, the
//! child is remembered in `FORKS` with its parent's identity, so the child's later exec and
//! connect count as that parent's child even after the parent has exited and the child was
//! reparented to a reaper (the rule's parent is the process that forked, fixed at creation).
//!
//! There is no perf-tracepoint variant: `sched/sched_process_fork` as a tracefs tracepoint
//! carries thread ids only, and a program there cannot tell a new process from a new thread or
//! read the child's start time to guard against pid reuse. With the perf fallback the sensor
//! uses `real_parent` (an orphaned child is then missed) and `check` says so.

use aya_ebpf::{macros::raw_tracepoint, programs::RawTracePointContext};
use sensor_common::{Fork, counter};

use crate::{
    config::off,
    exec::bpf_ktime_get_ns_safe,
    maps::{FORKS, count},
    stage1,
    task::{self, Parent},
};

#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn raw_sched_process_fork(ctx: RawTracePointContext) -> i32 {
    let parent: *const u8 = ctx.arg(0);
    let child: *const u8 = ctx.arg(1);
    if try_fork(parent, child).is_err() {
        count(counter::READ_FAILED);
    }
    0
}

#[inline(always)]
fn try_fork(parent: *const u8, child: *const u8) -> Result<(), i32> {
    if off!(ready) == 0 {
        return Ok(());
    }
    let parent_tgid = task::tgid_of(parent)?;
    let child_tgid = task::tgid_of(child)?;
    if parent_tgid == child_tgid {
        // A new thread, not a new process.
        return Ok(());
    }
    let now = bpf_ktime_get_ns_safe();
    // The forking process itself must be a recent stage-1 process (same tgid, same start).
    if stage1::recent(&Parent::Live(parent), now)?.is_none() {
        return Ok(());
    }
    let fork = Fork {
        parent_tgid,
        _pad: 0,
        parent_start_ns: task::start_of(parent)?,
        parent_exe: task::exe_of(parent),
        child_start_ns: task::start_of(child)?,
    };
    if FORKS.insert(child_tgid, fork, 0).is_err() {
        count(counter::FORK_INSERT_FAILED);
    }
    Ok(())
}
