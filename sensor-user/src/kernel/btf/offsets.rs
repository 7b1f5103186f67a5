//! [`fill_btf_offsets`]: the kernel-structure offsets of [`Config`], read from BTF and
//! checked against the sizes the eBPF programs read.

use sensor_common::Config;

use super::{Btf, BtfError, Member, Result};

/// What a member used by the eBPF programs must look like.
#[derive(Clone, Copy)]
enum Expect {
    Pointer,
    Bytes(u32),
}

fn checked(btf: &Btf, struct_name: &str, path: &str, expect: Expect) -> Result<u32> {
    let m = btf.member(struct_name, path)?;
    let ok = match expect {
        Expect::Pointer => m.is_pointer,
        Expect::Bytes(n) => m.size == Some(n) && m.bitfield_bits.is_none(),
    };
    if ok {
        return Ok(m.offset);
    }
    let describe = |m: &Member| match (m.is_pointer, m.bitfield_bits, m.size) {
        (true, _, _) => "a pointer".to_owned(),
        (_, Some(b), _) => format!("a {b}-bit bitfield"),
        (_, _, Some(s)) => format!("{s} bytes"),
        _ => "a type of unknown size".to_owned(),
    };
    Err(BtfError::UnexpectedType {
        struct_name: struct_name.to_owned(),
        member: path.to_owned(),
        expected: match expect {
            Expect::Pointer => "a pointer".to_owned(),
            Expect::Bytes(n) => format!("{n} bytes"),
        },
        found: describe(&m),
    })
}

/// Fills the kernel-structure offsets of `cfg` (task, signal, mm, file, inode, super_block,
/// linux_binprm, sock and sock_common members) from `btf`, checking each member's size or pointer-ness against what
/// the eBPF programs read (a 64-bit kernel is assumed). The `skc_*` offsets are offsets within
/// `struct sock`, whose first member `__sk_common` must be a `struct sock_common` at offset 0.
pub fn fill_btf_offsets(btf: &Btf, out: &mut Config) -> Result<()> {
    use Expect::{Bytes, Pointer};
    let mut cfg = *out;
    cfg.task_real_parent = checked(btf, "task_struct", "real_parent", Pointer)?;
    cfg.task_group_leader = checked(btf, "task_struct", "group_leader", Pointer)?;
    cfg.task_tgid = checked(btf, "task_struct", "tgid", Bytes(4))?;
    cfg.task_start_time = checked(btf, "task_struct", "start_time", Bytes(8))?;
    cfg.task_mm = checked(btf, "task_struct", "mm", Pointer)?;
    cfg.task_signal = checked(btf, "task_struct", "signal", Pointer)?;
    cfg.signal_live = checked(btf, "signal_struct", "live", Bytes(4))?;
    cfg.mm_exe_file = checked(btf, "mm_struct", "exe_file", Pointer)?;
    cfg.mm_arg_start = checked(btf, "mm_struct", "arg_start", Bytes(8))?;
    cfg.mm_arg_end = checked(btf, "mm_struct", "arg_end", Bytes(8))?;
    cfg.file_f_inode = checked(btf, "file", "f_inode", Pointer)?;
    cfg.inode_i_ino = checked(btf, "inode", "i_ino", Bytes(8))?;
    cfg.inode_i_sb = checked(btf, "inode", "i_sb", Pointer)?;
    cfg.sb_s_dev = checked(btf, "super_block", "s_dev", Bytes(4))?;
    cfg.bprm_filename = checked(btf, "linux_binprm", "filename", Pointer)?;
    // A u16 since Linux 5.6 (a bitfield before); the sensor needs 5.8+ for ring buffers.
    cfg.sk_protocol = checked(btf, "sock", "sk_protocol", Bytes(2))?;

    let common = btf.member("sock", "__sk_common")?;
    let common_type = btf.member_type_name("sock", "__sk_common")?;
    if common.offset != 0 || common_type != "sock_common" {
        return Err(BtfError::Layout(format!(
            "sock.__sk_common is a `{common_type}` at offset {}, expected a `sock_common` at \
             offset 0",
            common.offset
        )));
    }
    cfg.skc_daddr = checked(btf, "sock", "__sk_common.skc_daddr", Bytes(4))?;
    cfg.skc_dport = checked(btf, "sock", "__sk_common.skc_dport", Bytes(2))?;
    cfg.skc_family = checked(btf, "sock", "__sk_common.skc_family", Bytes(2))?;
    cfg.skc_v6_daddr = checked(btf, "sock", "__sk_common.skc_v6_daddr", Bytes(16))?;
    *out = cfg;
    Ok(())
}
