//! The contract between the eBPF programs and userspace: the `#[repr(C)]` records that travel
//! in the ring buffer, the globals userspace patches in before load, and the names of maps and
//! programs. Both sides compile this crate (the kernel side with `no_std`); sizes are asserted
//! at compile time so a layout change cannot go unnoticed.
#![cfg_attr(not(feature = "user"), no_std)]

/// Record kind: an exec seen by `sched/sched_process_exec`.
pub const KIND_EXEC: u32 = 1;
/// Record kind: a TCP connect attempt (CLOSE -> SYN_SENT).
pub const KIND_CONNECT: u32 = 2;

/// Exec flag: the exec'ing task's parent runs one of the configured parent executables
/// (a stage-1 candidate).
pub const EXEC_STAGE1: u32 = 1;
/// Exec flag: the exec'ing task's parent is a recent stage-1 process (context for stage 2:
/// it gives userspace the image the grandchild runs).
pub const EXEC_CHILD_OF_STAGE1: u32 = 2;

/// Bytes of the exec filename kept (the path as passed to exec).
pub const FILENAME_LEN: usize = 256;
/// Bytes of the argument area (`mm->arg_start..arg_end`) kept.
pub const ARGS_LEN: usize = 512;
/// `task->comm` length.
pub const COMM_LEN: usize = 16;

/// Window in which the kernel still treats a stage-1 exec as recent: a little over the rule's
/// 1 s maxspan, so the kernel passes a superset and userspace decides exactly.
pub const KERNEL_WINDOW_NS: u64 = 1_250_000_000;

/// Entries of `STAGE1`: stage-1 processes remembered at once (an LRU; an entry outlives its
/// process for the rest of its window, then goes at the next exit or by LRU eviction).
pub const STAGE1_MAX: u32 = 16384;

/// Entries of `FORKS`: children forked by a recent stage-1 process, remembered until they exit
/// (an LRU). A session keeping more children than this alive at once can push the oldest out;
/// such a child then falls back to its `real_parent`.
pub const FORKS_MAX: u32 = 65536;

/// Ring records of each kind (exec, connect) a stage-1 process may cause at once (its own exec
/// records, and its children's exec and connect records): the depth of each of its two token
/// buckets. A session that floods spends its own
/// budget and no other session's; what the bucket refuses is counted per cause.
pub const BUDGET_BURST: u64 = 256;
/// The bucket's refill: one record every this many ns (256 records a second). A stage-1
/// process causes records only within [`KERNEL_WINDOW_NS`] of its newest exec, so one window
/// costs at most `BUDGET_BURST + KERNEL_WINDOW_NS / BUDGET_NS_PER_RECORD` (576) records of each
/// kind.
pub const BUDGET_NS_PER_RECORD: u64 = 1_000_000_000 / 256;

/// Entries of each excluded-destination table (`EXCLUDED_V4`, `EXCLUDED_V6`): the rule's seed
/// ranges plus the user's `extra_excluded_cidrs`. Userspace refuses a configuration whose ranges
/// do not fit.
pub const EXCLUDED_CIDRS_MAX: u32 = 1024;

/// Kernel-side counters (`COUNTERS`, one slot per cause, per CPU). Failures and refusals are
/// counted, never silent; userspace sums them in its stats line.
pub mod counter {
    /// A ring-buffer reservation failed: the record is lost.
    pub const RING_FULL: u32 = 0;
    /// An exec record refused by its stage-1 process's budget.
    pub const BUDGET_EXEC: u32 = 1;
    /// A connect record refused by its stage-1 process's budget.
    pub const BUDGET_CONNECT: u32 = 2;
    /// A read of kernel memory (task, socket, tracepoint record) failed.
    pub const READ_FAILED: u32 = 3;
    /// Inserting into `STAGE1` failed.
    pub const STAGE1_INSERT_FAILED: u32 = 4;
    /// Inserting into `FORKS` failed.
    pub const FORK_INSERT_FAILED: u32 = 5;
    /// Connects to an excluded destination, dropped in the kernel (not a failure).
    pub const EXCLUDED_CONNECT: u32 = 6;
    /// Number of counters.
    pub const COUNT: u32 = 7;
    /// Each counter's name in the stats line, by index.
    pub const NAMES: [&str; COUNT as usize] = [
        "ring_full",
        "budget_exec",
        "budget_connect",
        "read_failed",
        "stage1_insert_failed",
        "fork_insert_failed",
        "kernel_excluded",
    ];
}

/// Entries of `PARENT_EXES`: identities of parent executables the kernel can match at once.
/// Userspace refuses a configuration with more parent executables, and reports (never
/// silently drops) identities beyond it.
pub const PARENT_EXES_MAX: u32 = 64;

/// Offset of `newstate` in the `sock/inet_sock_set_state` record on every kernel since 4.16
/// (the 8-byte common header, `skaddr`, `oldstate`). The verifier only allows context reads at
/// offsets fixed in the instruction, so the fast program reads it there; userspace attaches
/// that program only when the tracepoint's `format` file confirms the offset, and the generic
/// one (offset from the format file, read through a helper) otherwise.
pub const TP_SK_NEWSTATE_FAST: u32 = 20;

/// Names of maps and programs in the object; userspace reports a missing one as an error.
pub mod names {
    pub const EVENTS: &str = "EVENTS";
    pub const PARENT_EXES: &str = "PARENT_EXES";
    pub const STAGE1: &str = "STAGE1";
    pub const FORKS: &str = "FORKS";
    pub const COUNTERS: &str = "COUNTERS";
    pub const EXCLUDED_V4: &str = "EXCLUDED_V4";
    pub const EXCLUDED_V6: &str = "EXCLUDED_V6";
    pub const PROG_FORK_RAW: &str = "raw_sched_process_fork";
    pub const CONFIG: &str = "CONFIG";
    pub const PROG_EXEC_RAW: &str = "raw_sched_process_exec";
    pub const PROG_EXIT_RAW: &str = "raw_sched_process_exit";
    pub const PROG_CONNECT_RAW: &str = "raw_inet_sock_set_state";
    pub const PROG_EXEC: &str = "sched_process_exec";
    pub const PROG_EXIT: &str = "sched_process_exit";
    pub const PROG_CONNECT_TP: &str = "inet_sock_set_state";
    pub const PROG_CONNECT_TP_FAST: &str = "inet_sock_set_state_fast";
    pub const PROG_CONNECT_FENTRY: &str = "tcp_connect_fentry";
    pub const PROG_CONNECT_KPROBE: &str = "tcp_connect_kprobe";
    pub const NOOP_EXEC_RAW: &str = "noop_raw_exec";
    pub const NOOP_EXIT_RAW: &str = "noop_raw_exit";
    pub const NOOP_CONNECT_RAW: &str = "noop_raw_sock_set_state";
    pub const NOOP_EXEC: &str = "noop_exec";
    pub const NOOP_EXIT: &str = "noop_exit";
    pub const NOOP_CONNECT: &str = "noop_sock_set_state";
}

/// Identity of an executable file as the kernel sees it: `inode->i_sb->s_dev` (kernel
/// encoding, `major << 20 | minor`) and `inode->i_ino`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ExeId {
    pub dev: u32,
    pub _pad: u32,
    pub ino: u64,
}

/// What the kernel remembers of a stage-1 process, keyed by its tgid.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Stage1 {
    /// Start time of the thread-group leader (`task->start_time`), guards against pid reuse.
    pub start_ns: u64,
    /// `bpf_ktime_get_ns()` of its newest stage-1 exec.
    pub exec_ns: u64,
    /// The record budget: two token buckets, one for exec records and one for connect records
    /// (so a flood of execs, which ordinary scripts also make, cannot spend the budget of the
    /// connects the rule is about), each kept as "allowed since `budget_origin_ns`" minus "used":
    /// `BUDGET_BURST + (now - budget_origin_ns) / BUDGET_NS_PER_RECORD - *_used` records
    /// remain. Charged with an atomic add (no fetch, so it verifies on 5.10); each stage-1 exec
    /// caps the saved credit of both at `BUDGET_BURST`.
    pub budget_origin_ns: u64,
    pub exec_used: u64,
    pub connect_used: u64,
}

/// A child forked by a recent stage-1 process (`FORKS`, keyed by the child's tgid): the parent
/// that counts for the rule, fixed at fork, even after the child is reparented.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Fork {
    pub parent_tgid: u32,
    pub _pad: u32,
    /// The forking process's `group_leader->start_time`.
    pub parent_start_ns: u64,
    /// The forking process's executable at fork.
    pub parent_exe: ExeId,
    /// The child's `start_time`: the entry applies only to that process (pid reuse).
    pub child_start_ns: u64,
}

/// The fields and offsets the programs need, read at start-up from `/sys/kernel/btf/vmlinux`
/// (and, only when falling back to perf tracepoints, the tracepoints' `format` files), and
/// written into the `CONFIG` global before load.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    // task_struct
    pub task_real_parent: u32,
    pub task_group_leader: u32,
    pub task_tgid: u32,
    pub task_start_time: u32,
    pub task_mm: u32,
    /// `task_struct.signal` (pointer) and `signal_struct.live` (atomic_t): the exit hook reads
    /// `live` to know the thread group is dead (it is decremented before the tracepoint).
    pub task_signal: u32,
    pub signal_live: u32,
    // mm_struct
    pub mm_exe_file: u32,
    pub mm_arg_start: u32,
    pub mm_arg_end: u32,
    // file / inode / super_block
    pub file_f_inode: u32,
    pub inode_i_ino: u32,
    pub inode_i_sb: u32,
    pub sb_s_dev: u32,
    // linux_binprm (raw tracepoint `sched_process_exec`: the exec'd path)
    pub bprm_filename: u32,
    // sock (raw tracepoint `inet_sock_set_state`: a u16 since Linux 5.6)
    pub sk_protocol: u32,
    // sock_common (raw tracepoint, fentry and kprobe)
    pub skc_daddr: u32,
    pub skc_dport: u32,
    pub skc_family: u32,
    pub skc_v6_daddr: u32,
    // sched/sched_process_exec format (perf tracepoint fallback only)
    pub tp_exec_filename: u32,
    // sock/inet_sock_set_state format (perf tracepoint fallback only)
    pub tp_sk_oldstate: u32,
    pub tp_sk_newstate: u32,
    pub tp_sk_dport: u32,
    pub tp_sk_family: u32,
    pub tp_sk_protocol: u32,
    /// Size in bytes of `protocol` (u8 before Linux 6.1's change, u16 after).
    pub tp_sk_protocol_size: u32,
    pub tp_sk_daddr: u32,
    pub tp_sk_daddr_v6: u32,
    /// Non-zero once userspace filled the structure; programs do nothing until then.
    pub ready: u32,
}

/// Fixed header of every ring-buffer record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub kind: u32,
    pub flags: u32,
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC) when the event happened.
    pub ktime_ns: u64,
}

/// The task that caused an event, and its parent, in init-namespace ids.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Task {
    pub pid: u32,
    pub tgid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub _pad: u32,
    /// `group_leader->start_time` (CLOCK_MONOTONIC ns): with tgid and boot id, the entity id.
    pub start_ns: u64,
    /// The parent's `group_leader->start_time`.
    pub parent_start_ns: u64,
    /// The task's executable (`mm->exe_file`), zero when unknown.
    pub exe: ExeId,
    /// The parent's executable.
    pub parent_exe: ExeId,
    pub comm: [u8; COMM_LEN],
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExecEvent {
    pub header: Header,
    pub task: Task,
    /// Index into the configured parent executables that matched (stage 1), else u32::MAX.
    pub parent_index: u32,
    /// Bytes of `filename` used (without NUL); 0 if unreadable.
    pub filename_len: u32,
    /// `mm->arg_end - mm->arg_start` (may exceed what `args` holds).
    pub args_total: u32,
    /// Bytes of `args` valid.
    pub args_len: u32,
    pub filename: [u8; FILENAME_LEN],
    /// NUL-separated argv, as in `/proc/PID/cmdline`.
    pub args: [u8; ARGS_LEN],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectEvent {
    pub header: Header,
    pub task: Task,
    /// AF_INET (2) or AF_INET6 (10).
    pub family: u16,
    /// Destination port, host byte order.
    pub dport: u16,
    pub _pad: u32,
    /// IPv4: first 4 bytes; IPv6: all 16 (network order).
    pub daddr: [u8; 16],
}

pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

const _: () = assert!(core::mem::size_of::<Header>() == 16);
const _: () = assert!(core::mem::size_of::<Stage1>() == 40);
const _: () = assert!(core::mem::size_of::<Fork>() == 40);
const _: () = assert!(core::mem::size_of::<Task>() == 88);
const _: () = assert!(core::mem::size_of::<ExecEvent>() == 16 + 88 + 16 + FILENAME_LEN + ARGS_LEN);
const _: () = assert!(core::mem::size_of::<ConnectEvent>() == 16 + 88 + 8 + 16);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all are #[repr(C)], Copy, contain only integers and byte arrays, and have no
    // implicit padding (sizes asserted above).
    unsafe impl aya::Pod for super::ExeId {}
    unsafe impl aya::Pod for super::Stage1 {}
    unsafe impl aya::Pod for super::Fork {}
    unsafe impl aya::Pod for super::Config {}
}
