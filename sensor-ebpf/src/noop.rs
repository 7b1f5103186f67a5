//! Empty programs on the same hooks as the real ones, in both attach kinds: the benchmark
//! attaches these to measure the floor, what merely hooking costs.

use aya_ebpf::{
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};

#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn noop_raw_exec(_ctx: RawTracePointContext) -> i32 {
    0
}

#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn noop_raw_exit(_ctx: RawTracePointContext) -> i32 {
    0
}

#[raw_tracepoint(tracepoint = "inet_sock_set_state")]
pub fn noop_raw_sock_set_state(_ctx: RawTracePointContext) -> i32 {
    0
}

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
