//! The `CONFIG` global: struct offsets (from BTF) and tracepoint field offsets (from tracefs
//! `format` files) that userspace writes into `.rodata` before load. Nothing is baked in for
//! one kernel; until userspace sets `ready`, every program returns at once.

use sensor_common::Config;

#[unsafe(no_mangle)]
pub(crate) static CONFIG: Config = Config {
    task_real_parent: 0,
    task_group_leader: 0,
    task_tgid: 0,
    task_start_time: 0,
    task_mm: 0,
    task_signal: 0,
    signal_live: 0,
    mm_exe_file: 0,
    mm_arg_start: 0,
    mm_arg_end: 0,
    file_f_inode: 0,
    inode_i_ino: 0,
    inode_i_sb: 0,
    sb_s_dev: 0,
    bprm_filename: 0,
    sk_protocol: 0,
    skc_daddr: 0,
    skc_dport: 0,
    skc_family: 0,
    skc_v6_daddr: 0,
    tp_exec_filename: 0,
    tp_sk_oldstate: 0,
    tp_sk_newstate: 0,
    tp_sk_dport: 0,
    tp_sk_family: 0,
    tp_sk_protocol: 0,
    tp_sk_protocol_size: 0,
    tp_sk_daddr: 0,
    tp_sk_daddr_v6: 0,
    ready: 0,
};

/// Reads one field of `CONFIG`; the volatile read stops the compiler from folding the
/// placeholder zeros that userspace replaces at load time.
macro_rules! off {
    ($field:ident) => {
        crate::config::get(&crate::config::CONFIG.$field)
    };
}
pub(crate) use off;

/// Volatile read of one `CONFIG` field.
#[inline(always)]
pub(crate) fn get(field: &u32) -> usize {
    // SAFETY: `field` is a reference into CONFIG: valid, aligned, never written by programs.
    unsafe { core::ptr::read_volatile(field) as usize }
}
