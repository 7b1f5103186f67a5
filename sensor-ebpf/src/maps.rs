//! Every map of the object. All are bounded: the stage-1 table is an LRU and entries of exited
//! processes are removed by `exit.rs`; the ring buffer counts each failed reservation per CPU.

use aya_ebpf::{
    macros::map,
    maps::{HashMap, LruHashMap, PerCpuArray, RingBuf},
};
use sensor_common::{ExeId, PARENT_EXES_MAX, Stage1};

/// Records to userspace.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(1 << 20, 0);

/// Failed ring-buffer reservations, one counter per CPU (index 0).
#[map]
pub static RINGBUF_DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Identity of each configured parent executable -> its index in the configuration.
#[map]
pub static PARENT_EXES: HashMap<ExeId, u32> = HashMap::with_max_entries(PARENT_EXES_MAX, 0);

/// tgid -> the newest stage-1 exec of that process.
#[map]
pub static STAGE1: LruHashMap<u32, Stage1> = LruHashMap::with_max_entries(16384, 0);

/// Counts a lost record.
#[inline(always)]
pub fn count_drop() {
    if let Some(counter) = RINGBUF_DROPS.get_ptr_mut(0) {
        // SAFETY: per-CPU slot, only this CPU writes it while this program runs.
        unsafe { *counter += 1 };
    }
}
