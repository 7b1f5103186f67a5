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
//! A connect is sent only when the connecting process's parent (the process that forked it,
//! [`Parent`]) is a recent stage-1 process, its destination is not one the rule excludes
//! (`excluded.rs`), and that stage-1 process's record budget is not spent.

use aya_ebpf::{
    EbpfContext,
    helpers::bpf_get_current_pid_tgid,
    macros::{fentry, kprobe, raw_tracepoint, tracepoint},
    programs::{FEntryContext, ProbeContext, RawTracePointContext, TracePointContext},
};
use sensor_common::{
    AF_INET, AF_INET6, ConnectEvent, Header, KIND_CONNECT, TP_SK_NEWSTATE_FAST, counter,
};

use crate::{
    config::off,
    excluded,
    exec::bpf_ktime_get_ns_safe,
    maps::{EVENTS, count, count_drop},
    stage1::{self, Bucket, Recent},
    task::{self, Parent},
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
        // inet_sock_set_state also fires for DCCP, SCTP and MPTCP sockets.
        let _ = from_sock(sk, true);
    }
    0
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
    let _ = from_sock(sk, false);
    0
}

#[kprobe]
pub fn tcp_connect_kprobe(ctx: ProbeContext) -> u32 {
    if let Some(sk) = ctx.arg::<*const u8>(0) {
        let _ = from_sock(sk, false);
    }
    0
}

/// The raw tracepoint, fentry and kprobe path (`struct sock` starts with `struct sock_common`):
/// lineage first, then the socket. `tcp_connect` sees TCP sockets only; the tracepoint checks
/// `sk_protocol`.
#[inline(always)]
fn from_sock(sk: *const u8, check_protocol: bool) -> Result<(), i32> {
    if off!(ready) == 0 || sk.is_null() {
        return Ok(());
    }
    let Some(lineage) = Lineage::of_stage2_candidate()? else {
        return Ok(());
    };
    if check_protocol {
        // SAFETY: probe read through a BTF offset; a bad address yields an error.
        let protocol: u16 = unsafe { task::read(sk, off!(sk_protocol))? };
        if protocol != IPPROTO_TCP {
            return Ok(());
        }
    }
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
    parent: Parent,
    stage1: Recent,
}

impl Lineage {
    #[inline(always)]
    fn of_stage2_candidate() -> Result<Option<Lineage>, i32> {
        let now = bpf_ktime_get_ns_safe();
        let current = task::current();
        let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
        let parent = Parent::of(current, tgid)?;
        Ok(stage1::recent(&parent, now)?.map(|stage1| Lineage {
            now,
            current,
            parent,
            stage1,
        }))
    }

    /// Sends the attempt to userspace, unless the destination is excluded (decided here, so it
    /// never reaches the ring) or the stage-1 process's budget is spent; a refusal and a failed
    /// reservation are counted.
    #[inline(always)]
    fn emit(&self, family: u16, dport: u16, daddr: [u8; 16]) {
        if excluded::destination(family, &daddr) {
            count(counter::EXCLUDED_CONNECT);
            return;
        }
        if !self.stage1.charge(Bucket::Connect, self.now) {
            count(counter::BUDGET_CONNECT);
            return;
        }
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
            task::fill(&mut (*ev).task, self.current, &self.parent);
            (*ev).family = family;
            (*ev).dport = dport;
            (*ev)._pad = 0;
            (*ev).daddr = daddr;
        }
        slot.submit(0);
    }
}
