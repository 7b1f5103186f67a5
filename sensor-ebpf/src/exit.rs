//! Hook: tracepoint `sched/sched_process_exit`, as a raw tracepoint (preferred) or a perf
//! tracepoint (fallback). Neither variant reads its arguments: the exiting task is `current`.
//! When the last thread of a process exits (`signal->live` is already 0: `do_exit` decrements
//! it before the tracepoint), the process's `FORKS` entry goes, and its `STAGE1` entry goes
//! unless it is still recent: a stage-1 process that exited stays joinable for the rest of its
//! window (its orphaned children may still exec and connect), and pid reuse is guarded by the
//! start time in the entry. Both tables are LRUs besides.

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};
use sensor_common::{KERNEL_WINDOW_NS, counter};

use crate::{
    config::off,
    exec::bpf_ktime_get_ns_safe,
    maps::{FORKS, STAGE1, count},
    task,
};

#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn raw_sched_process_exit(_ctx: RawTracePointContext) -> i32 {
    forget_current();
    0
}

#[tracepoint(category = "sched", name = "sched_process_exit")]
pub fn sched_process_exit(_ctx: TracePointContext) -> u32 {
    forget_current();
    0
}

#[inline(always)]
fn forget_current() {
    if off!(ready) == 0 {
        return;
    }
    match task::live_threads(task::current()) {
        Ok(0) => {}
        Ok(_) => return,
        Err(_) => {
            count(counter::READ_FAILED);
            return;
        }
    }
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let _ = FORKS.remove(tgid);
    // SAFETY: the value is copied out at once.
    if let Some(entry) = unsafe { STAGE1.get(tgid) }.copied()
        && bpf_ktime_get_ns_safe().wrapping_sub(entry.exec_ns) > KERNEL_WINDOW_NS
    {
        let _ = STAGE1.remove(tgid);
    }
}
