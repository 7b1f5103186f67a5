//! Hooks for TCP connect attempts, IPv4 and IPv6 (including IPv4-mapped destinations on
//! AF_INET6 sockets, which show as AF_INET6 with a mapped address).
//!
//! Preferred: tracepoint `sock/inet_sock_set_state` (Linux 4.16+), transition CLOSE -> SYN_SENT.
//! It fires inside `tcp_v4_connect`/`tcp_v6_connect` in the connecting task, once per
//! attempt, blocking or not. It is attached as a raw tracepoint (a BPF link, no
//! `perf_event_open`): the arguments are `TP_PROTO(sk, oldstate, newstate)`, `newstate` is a
//! direct context read, and the socket is read through BTF offsets (`sk_protocol`, a u16 since
//! Linux 5.6, and `sock_common`). Fallbacks, chosen by userspace by actually attaching: the same
//! tracepoint through perf (its record's layout changed across kernels, `protocol` grew from u8
//! to u16, so every offset comes from its `format` file), then fentry and kprobe on
//! `tcp_connect` (called by both connect paths with the socket already in SYN_SENT), reading
//! `sock_common` through BTF offsets.
//!
//! A connect is sent only when the connecting process's parent is a recent stage-1 process.

use aya_ebpf::{
    EbpfContext,
    macros::{fentry, kprobe, raw_tracepoint, tracepoint},
    programs::{FEntryContext, ProbeContext, RawTracePointContext, TracePointContext},
};
use sensor_common::{AF_INET, AF_INET6, ConnectEvent, Header, KIND_CONNECT, TP_SK_NEWSTATE_FAST};

use crate::{
    config::off,
    exec::{bpf_ktime_get_ns_safe, is_recent_stage1},
    maps::{EVENTS, count_drop},
    task,
};

const TCP_SYN_SENT: i32 = 2;
const TCP_CLOSE: i32 = 7;
const IPPROTO_TCP: u16 = 6;

#[raw_tracepoint(tracepoint = "inet_sock_set_state")]
pub fn raw_inet_sock_set_state(ctx: RawTracePointContext) -> i32 {
    // `newstate` is args[2]: a direct, fixed-offset context read, no helper call.
    let newstate: i32 = ctx.arg(2);
    if newstate == TCP_SYN_SENT && ctx.arg::<i32>(1) == TCP_CLOSE {
        let sk: *const u8 = ctx.arg(0);
        let _ = try_raw(sk);
    }
    0
}

/// A CLOSE -> SYN_SENT transition seen by the raw tracepoint: lineage first, then the socket.
#[inline(always)]
fn try_raw(sk: *const u8) -> Result<(), i32> {
    if off!(ready) == 0 || sk.is_null() {
        return Ok(());
    }
    let Some(lineage) = Lineage::of_stage2_candidate()? else {
        return Ok(());
    };
    // SAFETY: probe read through a BTF offset; a bad address yields an error.
    let protocol: u16 = unsafe { task::read(sk, off!(sk_protocol))? };
    if protocol != IPPROTO_TCP {
        return Ok(());
    }
    emit_from_sock(&lineage, sk)
}

#[tracepoint(category = "sock", name = "inet_sock_set_state")]
pub fn inet_sock_set_state(ctx: TracePointContext) -> u32 {
    // SAFETY: the offset comes from the format file; a bad read yields an error.
    let newstate: Result<i32, i32> = unsafe { ctx.read_at(off!(tp_sk_newstate)) };
    if newstate == Ok(TCP_SYN_SENT) {
        let _ = try_set_state(&ctx);
    }
    0
}

/// The same, for the layout whose `newstate` sits at [`TP_SK_NEWSTATE_FAST`] (checked by
/// userspace against the format file): this tracepoint fires on every TCP state change of the
/// host, and a direct context read rejects all but CLOSE -> SYN_SENT without a helper call.
#[tracepoint(category = "sock", name = "inet_sock_set_state")]
pub fn inet_sock_set_state_fast(ctx: TracePointContext) -> u32 {
    // SAFETY: userspace attaches this program only when the format file puts the 4-byte
    // `newstate` at this aligned offset inside the record.
    let newstate = unsafe {
        (ctx.as_ptr() as *const u8)
            .add(TP_SK_NEWSTATE_FAST as usize)
            .cast::<i32>()
            .read()
    };
    if newstate == TCP_SYN_SENT {
        let _ = try_set_state(&ctx);
    }
    0
}

/// A transition to SYN_SENT: cheapest test first. Most connects on a host are not made by a
/// child of a recent stage-1 process, so lineage is checked before the record is read.
fn try_set_state(ctx: &TracePointContext) -> Result<(), i32> {
    if off!(ready) == 0 {
        return Ok(());
    }
    let Some(lineage) = Lineage::of_stage2_candidate()? else {
        return Ok(());
    };
    // SAFETY (all reads below): offsets come from the tracepoint's format file; read_at uses
    // bpf_probe_read_kernel, which tolerates any address.
    let oldstate: i32 = unsafe { ctx.read_at(off!(tp_sk_oldstate))? };
    if oldstate != TCP_CLOSE {
        return Ok(());
    }
    let protocol: u16 = if off!(tp_sk_protocol_size) == 1 {
        u16::from(unsafe { ctx.read_at::<u8>(off!(tp_sk_protocol))? })
    } else {
        unsafe { ctx.read_at::<u16>(off!(tp_sk_protocol))? }
    };
    if protocol != IPPROTO_TCP {
        return Ok(());
    }
    let family: u16 = unsafe { ctx.read_at(off!(tp_sk_family))? };
    let dport: u16 = unsafe { ctx.read_at(off!(tp_sk_dport))? };
    let mut daddr = [0u8; 16];
    match family {
        AF_INET => {
            let v4: [u8; 4] = unsafe { ctx.read_at(off!(tp_sk_daddr))? };
            daddr[..4].copy_from_slice(&v4);
        }
        AF_INET6 => daddr = unsafe { ctx.read_at(off!(tp_sk_daddr_v6))? },
        _ => return Ok(()),
    }
    lineage.emit(family, dport, daddr);
    Ok(())
}

#[fentry(function = "tcp_connect")]
pub fn tcp_connect_fentry(ctx: FEntryContext) -> u32 {
    let sk: *const u8 = ctx.arg(0);
    let _ = from_sock(sk);
    0
}

#[kprobe]
pub fn tcp_connect_kprobe(ctx: ProbeContext) -> u32 {
    if let Some(sk) = ctx.arg::<*const u8>(0) {
        let _ = from_sock(sk);
    }
    0
}

/// The fentry and kprobe path: `struct sock` starts with `struct sock_common`.
#[inline(always)]
fn from_sock(sk: *const u8) -> Result<(), i32> {
    if off!(ready) == 0 || sk.is_null() {
        return Ok(());
    }
    let Some(lineage) = Lineage::of_stage2_candidate()? else {
        return Ok(());
    };
    emit_from_sock(&lineage, sk)
}

/// Reads family, destination port and address from `sk`'s `sock_common` and emits.
#[inline(always)]
fn emit_from_sock(lineage: &Lineage, sk: *const u8) -> Result<(), i32> {
    // SAFETY (all reads): probe reads through BTF offsets; a bad address yields an error.
    let family: u16 = unsafe { task::read(sk, off!(skc_family))? };
    let dport = u16::from_be(unsafe { task::read::<u16>(sk, off!(skc_dport))? });
    let mut daddr = [0u8; 16];
    match family {
        AF_INET => {
            let v4: [u8; 4] = unsafe { task::read(sk, off!(skc_daddr))? };
            daddr[..4].copy_from_slice(&v4);
        }
        AF_INET6 => daddr = unsafe { task::read(sk, off!(skc_v6_daddr))? },
        _ => return Ok(()),
    }
    lineage.emit(family, dport, daddr);
    Ok(())
}

/// The connecting task and its parent, when the parent is a recent stage-1 process.
struct Lineage {
    now: u64,
    current: *const u8,
    parent: *const u8,
}

impl Lineage {
    #[inline(always)]
    fn of_stage2_candidate() -> Result<Option<Lineage>, i32> {
        let now = bpf_ktime_get_ns_safe();
        let current = task::current();
        let parent = task::parent_of(current)?;
        let ppid = task::tgid_of(parent)?;
        Ok(is_recent_stage1(parent, ppid, now).then_some(Lineage {
            now,
            current,
            parent,
        }))
    }

    /// Sends the attempt to userspace (a failed reservation is counted).
    #[inline(always)]
    fn emit(&self, family: u16, dport: u16, daddr: [u8; 16]) {
        let Some(mut slot) = EVENTS.reserve::<ConnectEvent>(0) else {
            count_drop();
            return;
        };
        let ev = slot.as_mut_ptr();
        // SAFETY: `ev` is a reserved, exclusively owned record; every field is written.
        unsafe {
            (*ev).header = Header {
                kind: KIND_CONNECT,
                flags: 0,
                ktime_ns: self.now,
            };
            task::fill(&mut (*ev).task, self.current, self.parent);
            (*ev).family = family;
            (*ev).dport = dport;
            (*ev)._pad = 0;
            (*ev).daddr = daddr;
        }
        slot.submit(0);
    }
}
