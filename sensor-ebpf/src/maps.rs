//! Every map of the object, and the helpers that count into `COUNTERS`. All are bounded: the
//! stage-1 and fork tables are LRUs (entries also go when their process exits, `exit.rs`), the
//! excluded-destination tries have a fixed size userspace checks, and every failure or refusal
//! is counted per CPU, by cause ([`sensor_common::counter`]).

use aya_ebpf::{
    macros::map,
    maps::{HashMap, LpmTrie, LruHashMap, PerCpuArray, RingBuf},
};
use sensor_common::{
    EXCLUDED_CIDRS_MAX, ExeId, FORKS_MAX, Fork, PARENT_EXES_MAX, STAGE1_MAX, Stage1, counter,
};

/// Records to userspace.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(1 << 20, 0);

/// Kernel-side counters, one slot per cause ([`sensor_common::counter`]), per CPU.
#[map]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counter::COUNT, 0);

/// Identity of each configured parent executable -> its index in the configuration.
#[map]
pub static PARENT_EXES: HashMap<ExeId, u32> = HashMap::with_max_entries(PARENT_EXES_MAX, 0);

/// tgid -> the newest stage-1 exec of that process, and its record budget.
#[map]
pub static STAGE1: LruHashMap<u32, Stage1> = LruHashMap::with_max_entries(STAGE1_MAX, 0);

/// Child tgid -> the recent stage-1 process that forked it (`fork.rs`).
#[map]
pub static FORKS: LruHashMap<u32, Fork> = LruHashMap::with_max_entries(FORKS_MAX, 0);

/// IPv4 destinations the rule excludes (network-order address, prefix length) -> 1. Filled by
/// userspace from exactly the engine's exclusion list; IPv4-mapped IPv6 destinations are looked
/// up here too.
#[map]
pub static EXCLUDED_V4: LpmTrie<[u8; 4], u8> = LpmTrie::with_max_entries(EXCLUDED_CIDRS_MAX, 0);

/// IPv6 destinations the rule excludes.
#[map]
pub static EXCLUDED_V6: LpmTrie<[u8; 16], u8> = LpmTrie::with_max_entries(EXCLUDED_CIDRS_MAX, 0);

/// Adds one to counter `cause` of this CPU. The first time a failure or refusal counter of a
/// CPU goes from 0 to 1 it also logs one line (aya-log); never again for that CPU and cause, so
/// the log stays rare whatever the rate of failures (the counters say how many).
#[inline(always)]
pub fn count(cause: u32) {
    let Some(slot) = COUNTERS.get_ptr_mut(cause) else {
        return;
    };
    // SAFETY: per-CPU slot, only this CPU writes it while this program runs.
    let before = unsafe {
        let before = *slot;
        *slot = before + 1;
        before
    };
    if before == 0 && cause != counter::EXCLUDED_CONNECT {
        report_first(cause);
    }
}

/// The one log line of a counter's first occurrence on a CPU (a subprogram, so the logging
/// code is not copied into every caller).
#[inline(never)]
fn report_first(cause: u32) {
    aya_log_ebpf::warn!(
        &(),
        "kernel counter {} (see sensor_common::counter) went from 0 to 1 on this CPU; later \
         occurrences are only counted",
        cause
    );
}

/// Counts a lost record (a failed ring-buffer reservation).
#[inline(always)]
pub fn count_drop() {
    count(counter::RING_FULL);
}
