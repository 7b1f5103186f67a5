//! Hook: tracepoint `sched/sched_process_exec` (stable since Linux 3.4). It fires in the
//! exec'ing task after the new image is committed, so `current` is the new image; its parent is
//! the process that forked it ([`Parent`]: from `FORKS` when a recent stage-1 process forked it,
//! so a child orphaned before its exec still counts as that process's child; else
//! `real_parent`).
//!
//! Two attachments, one body: the raw tracepoint (preferred, Linux 4.17+: a BPF link made by
//! `BPF_RAW_TRACEPOINT_OPEN`, no `perf_event_open`, so `kernel.perf_event_paranoid` does not
//! apply; its arguments are `TP_PROTO(task, old_pid, bprm)` and the path comes from
//! `bprm->filename` through a BTF offset), and the perf tracepoint (fallback; the path comes
//! from the record's `__data_loc filename`, whose offset is in the `format` file).
//!
//! Lineage is decided here, race-free: an exec is a stage-1 candidate when the parent's
//! executable (device + inode of `mm->exe_file`) is one of the configured parent executables;
//! it is then remembered in `STAGE1`. An exec whose parent is a recent stage-1 process is sent
//! too (flag `EXEC_CHILD_OF_STAGE1`): it tells userspace which image a possible stage-2
//! process runs. Either record is charged to the stage-1 process's budget (`stage1.rs`).
//! Everything else is dropped after a few map lookups.

use aya_ebpf::{
    EbpfContext,
    helpers::{
        bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_kernel_str_bytes,
        bpf_probe_read_user_buf,
    },
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};
use sensor_common::{
    ARGS_LEN, EXEC_CHILD_OF_STAGE1, EXEC_STAGE1, ExecEvent, FILENAME_LEN, Header, KIND_EXEC,
    counter,
};

use crate::{
    config::off,
    maps::{EVENTS, PARENT_EXES, count, count_drop},
    stage1::{self, Bucket},
    task::{self, Parent},
};

#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn raw_sched_process_exec(ctx: RawTracePointContext) -> i32 {
    let bprm: *const u8 = ctx.arg(2);
    let _ = try_exec(|out| {
        // SAFETY: probe reads tolerate any address; the offset comes from BTF.
        let Ok(name) = (unsafe { task::read::<*const u8>(bprm, off!(bprm_filename)) }) else {
            return 0;
        };
        // SAFETY: as above.
        match unsafe { bpf_probe_read_kernel_str_bytes(name, out) } {
            Ok(bytes) => bytes.len() as u32,
            Err(_) => 0,
        }
    });
    0
}

#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    let _ = try_exec(|out| {
        // SAFETY: the offset comes from the format file; a bad read yields an error.
        let data_loc: u32 = unsafe { ctx.read_at(off!(tp_exec_filename)) }.unwrap_or(0);
        let name_off = (data_loc & 0xffff) as usize;
        // SAFETY: probe reads tolerate any address.
        match unsafe {
            bpf_probe_read_kernel_str_bytes((ctx.as_ptr() as *const u8).wrapping_add(name_off), out)
        } {
            Ok(bytes) => bytes.len() as u32,
            Err(_) => 0,
        }
    });
    0
}

/// The common body. `read_filename` copies the exec'd path into its argument and returns the
/// bytes used (0 when unreadable).
#[inline(always)]
fn try_exec(read_filename: impl FnOnce(&mut [u8; FILENAME_LEN]) -> u32) -> Result<(), i32> {
    if off!(ready) == 0 {
        return Ok(());
    }
    let now = bpf_ktime_get_ns_safe();
    let current = task::current();
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let parent = Parent::of(current, tgid).inspect_err(|_| {
        count(counter::READ_FAILED);
    })?;
    let parent_exe = parent.exe();

    let mut flags = 0;
    let mut parent_index = u32::MAX;
    if parent_exe.ino != 0 {
        // SAFETY: the value is copied out at once.
        if let Some(index) = unsafe { PARENT_EXES.get(parent_exe) } {
            flags |= EXEC_STAGE1;
            parent_index = *index;
        }
    }
    if flags & EXEC_STAGE1 != 0 {
        let start_ns = task::start_of(current).inspect_err(|_| {
            count(counter::READ_FAILED);
        })?;
        if !stage1::remember_exec(tgid, start_ns, now) {
            count(counter::BUDGET_EXEC);
            return Ok(());
        }
    } else {
        let Some(stage1) = stage1::recent(&parent, now)? else {
            return Ok(());
        };
        if !stage1.charge(Bucket::Exec, now) {
            count(counter::BUDGET_EXEC);
            return Ok(());
        }
        flags |= EXEC_CHILD_OF_STAGE1;
    }

    let Some(mut slot) = EVENTS.reserve::<ExecEvent>(0) else {
        count_drop();
        return Ok(());
    };
    let ev = slot.as_mut_ptr();
    // SAFETY: `ev` points at a reserved, exclusively owned ring-buffer record of the right
    // size; every field userspace reads is written below (byte arrays are bounded by their
    // `_len` fields).
    unsafe {
        (*ev).header = Header {
            kind: KIND_EXEC,
            flags,
            ktime_ns: now,
        };
        task::fill(&mut (*ev).task, current, &parent);
        (*ev).parent_index = parent_index;

        (*ev).filename_len = read_filename(&mut (*ev).filename);

        let (total, len) = read_args(current, &mut (*ev).args);
        (*ev).args_total = total;
        (*ev).args_len = len;
    }
    slot.submit(0);
    Ok(())
}

/// Copies the start of `mm->arg_start..arg_end` (NUL-separated argv) into `out`. The region
/// sits at the top of the new stack; a fixed-size read may run past its end, so shorter reads
/// are tried in turn. Returns (bytes in the region, bytes copied).
#[inline(always)]
fn read_args(current: *const u8, out: &mut [u8; ARGS_LEN]) -> (u32, u32) {
    let Ok(mm) = (unsafe { task::read::<*const u8>(current, off!(task_mm)) }) else {
        return (0, 0);
    };
    if mm.is_null() {
        return (0, 0);
    }
    // SAFETY: probe reads tolerate any address.
    let start = unsafe { task::read::<u64>(mm, off!(mm_arg_start)) }.unwrap_or(0);
    // SAFETY: as above.
    let end = unsafe { task::read::<u64>(mm, off!(mm_arg_end)) }.unwrap_or(0);
    if start == 0 || end <= start {
        return (0, 0);
    }
    let total = (end - start).min(u32::MAX as u64) as u32;
    let src = start as *const u8;
    // SAFETY: bpf_probe_read_user tolerates any address; each slice is a constant length.
    unsafe {
        if bpf_probe_read_user_buf(src, &mut out[..ARGS_LEN]).is_ok() {
            return (total, ARGS_LEN as u32);
        }
        if bpf_probe_read_user_buf(src, &mut out[..256]).is_ok() {
            return (total, 256);
        }
        if bpf_probe_read_user_buf(src, &mut out[..128]).is_ok() {
            return (total, 128);
        }
        if bpf_probe_read_user_buf(src, &mut out[..64]).is_ok() {
            return (total, 64);
        }
    }
    (total, 0)
}

#[inline(always)]
pub fn bpf_ktime_get_ns_safe() -> u64 {
    // SAFETY: the helper has no preconditions.
    unsafe { bpf_ktime_get_ns() }
}
