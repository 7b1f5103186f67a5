//! The stage-1 table (`STAGE1`): which processes are recent stage-1 processes, and the record
//! budget each of them has. A stage-1 process's entry is created or refreshed by its stage-1
//! exec; its children's records, and its own exec records, are charged to it. The budget is two
//! token buckets, exec and connect ([`Bucket`]; each [`sensor_common::BUDGET_BURST`] deep,
//! refilled one record every [`sensor_common::BUDGET_NS_PER_RECORD`]), kept lock-free as
//! "allowed since an origin" minus "used", charged with a plain atomic add (fetching atomics
//! need Linux 5.12): concurrent charges on several CPUs can overshoot a bucket by at most one
//! record per CPU.

use core::intrinsics::{AtomicOrdering, atomic_xadd};

use sensor_common::{BUDGET_BURST, BUDGET_NS_PER_RECORD, KERNEL_WINDOW_NS, Stage1, counter};

use crate::{
    maps::{STAGE1, count},
    task::Parent,
};

/// The `STAGE1` entry of a recent stage-1 process.
pub struct Recent(*mut Stage1);

/// `parent`'s entry when it is a stage-1 process whose newest exec is recent (the entry is about
/// that very process: same start time).
#[inline(always)]
pub fn recent(parent: &Parent, now: u64) -> Result<Option<Recent>, i32> {
    let ppid = parent.tgid()?;
    let Some(entry) = STAGE1.get_ptr_mut(ppid) else {
        return Ok(None);
    };
    // SAFETY: a map value pointer, valid for this program's run.
    let (start_ns, exec_ns) = unsafe { ((*entry).start_ns, (*entry).exec_ns) };
    if start_ns != parent.start_ns()? || now.wrapping_sub(exec_ns) > KERNEL_WINDOW_NS {
        return Ok(None);
    }
    Ok(Some(Recent(entry)))
}

#[inline(always)]
fn allowance(origin_ns: u64, now: u64) -> u64 {
    BUDGET_BURST + now.saturating_sub(origin_ns) / BUDGET_NS_PER_RECORD
}

/// Which of a stage-1 process's buckets a record is charged to.
#[derive(Clone, Copy)]
pub enum Bucket {
    Exec,
    Connect,
}

impl Recent {
    /// Takes one record from `bucket`; `false` (and nothing taken) when it is spent.
    #[inline(always)]
    pub fn charge(&self, bucket: Bucket, now: u64) -> bool {
        let entry = self.0;
        // SAFETY: a map value pointer, valid for this program's run; other CPUs may update the
        // fields concurrently, hence the volatile reads and the atomic add.
        unsafe {
            let used = match bucket {
                Bucket::Exec => &raw mut (*entry).exec_used,
                Bucket::Connect => &raw mut (*entry).connect_used,
            };
            let origin = core::ptr::read_volatile(&raw const (*entry).budget_origin_ns);
            if core::ptr::read_volatile(used) >= allowance(origin, now) {
                return false;
            }
            atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(used, 1);
        }
        true
    }
}

/// `BUDGET_BURST - credit` for a bucket whose credit is capped at one burst, as `used` against
/// an origin moved to now.
#[inline(always)]
fn rebased(origin_ns: u64, used: u64, now: u64) -> u64 {
    let credit = allowance(origin_ns, now)
        .saturating_sub(used)
        .min(BUDGET_BURST);
    BUDGET_BURST - credit
}

/// A stage-1 exec by the current process (tgid `tgid`, started at `start_ns`): refreshes its
/// entry (keeping its budget, with the saved credit of each bucket capped at one burst) or
/// creates one with full buckets, and charges the exec record to the exec bucket. Returns whether the record may be sent.
#[inline(always)]
pub fn remember_exec(tgid: u32, start_ns: u64, now: u64) -> bool {
    if let Some(entry) = STAGE1.get_ptr_mut(tgid) {
        // SAFETY: a map value pointer, valid for this program's run. Its process is exec'ing
        // (single-threaded now); only its children's charges on other CPUs can race, and losing
        // one of them only makes the bucket more generous by a record.
        unsafe {
            if (*entry).start_ns == start_ns {
                let origin = (*entry).budget_origin_ns;
                let exec_used = rebased(origin, (*entry).exec_used, now);
                (*entry).connect_used = rebased(origin, (*entry).connect_used, now);
                (*entry).budget_origin_ns = now;
                (*entry).exec_ns = now;
                if exec_used >= BUDGET_BURST {
                    (*entry).exec_used = exec_used;
                    return false;
                }
                (*entry).exec_used = exec_used + 1;
                return true;
            }
        }
    }
    let entry = Stage1 {
        start_ns,
        exec_ns: now,
        budget_origin_ns: now,
        exec_used: 1,
        connect_used: 0,
    };
    if STAGE1.insert(tgid, entry, 0).is_err() {
        count(counter::STAGE1_INSERT_FAILED);
    }
    true
}
