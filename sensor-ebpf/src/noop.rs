//! Empty programs on the same hooks as the real ones: the benchmark attaches these to measure
//! the floor, what merely hooking costs.

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};

#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn noop_exec(_ctx: TracePointContext) -> u32 {
    0
}

#[tracepoint(category = "sched", name = "sched_process_exit")]
pub fn noop_exit(_ctx: TracePointContext) -> u32 {
    0
}

#[tracepoint(category = "sock", name = "inet_sock_set_state")]
pub fn noop_sock_set_state(_ctx: TracePointContext) -> u32 {
    0
}
