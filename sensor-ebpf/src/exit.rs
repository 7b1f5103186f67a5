//! Hook: tracepoint `sched/sched_process_exit`. When a thread-group leader exits, its
//! `STAGE1` entry goes, so the table holds live processes only (it is an LRU besides).

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid, macros::tracepoint, programs::TracePointContext,
};

use crate::maps::STAGE1;

#[tracepoint(category = "sched", name = "sched_process_exit")]
pub fn sched_process_exit(_ctx: TracePointContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    if pid_tgid as u32 == tgid {
        let _ = STAGE1.remove(&tgid);
    }
    0
}
