//! Hook: tracepoint `sched/sched_process_exit`, as a raw tracepoint (preferred) or a perf
//! tracepoint (fallback). When a thread-group leader exits, its `STAGE1` entry goes, so the
//! table holds live processes only (it is an LRU besides). Neither variant reads its
//! arguments: the exiting task is `current`.

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};

use crate::maps::STAGE1;

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
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    if pid_tgid as u32 == tgid {
        let _ = STAGE1.remove(tgid);
    }
}
