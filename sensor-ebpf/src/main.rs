//! sshd-sensor's kernel programs. This file only wires modules together; each hook lives in its
//! own file, headed by the kernel interface it depends on.
//!
//! | program                 | attach point                       | needs          |
//! |-------------------------|------------------------------------|----------------|
//! | `sched_process_exec`    | tracepoint `sched/sched_process_exec` | Linux 3.4   |
//! | `sched_process_exit`    | tracepoint `sched/sched_process_exit` | Linux 2.6.x |
//! | `raw_sched_process_fork`| raw tracepoint `sched_process_fork` (no perf variant) | Linux 4.17 |
//! | `inet_sock_set_state`   | tracepoint `sock/inet_sock_set_state` | Linux 4.16  |
//! | `tcp_connect_fentry`    | fentry `tcp_connect` (fallback)       | BPF trampolines |
//! | `tcp_connect_kprobe`    | kprobe `tcp_connect` (fallback)       | CONFIG_KPROBES |
//! | `noop_*`                | the same tracepoints, empty (the benchmark's floor) | |
#![no_std]
#![no_main]
// `core::intrinsics::atomic_xadd`: the bpfel target has no `AtomicU64::fetch_add`, and an add
// whose result is unused compiles to BPF_XADD, which every kernel the sensor supports verifies.
#![feature(core_intrinsics)]
#![expect(internal_features, reason = "atomic_xadd, see above")]

mod config;
mod connect;
mod excluded;
mod exec;
mod exit;
mod fork;
mod maps;
mod noop;
mod stage1;
mod task;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // SAFETY: the verifier rejects any program that could reach this; it is never executed.
    unsafe { core::hint::unreachable_unchecked() }
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
