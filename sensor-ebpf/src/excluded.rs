//! The rule's excluded destinations, decided in the kernel: a connect to one of them never
//! reaches the ring. The tries (`EXCLUDED_V4`, `EXCLUDED_V6`) hold exactly the ranges the
//! engine excludes (seed ranges, `0.0.0.0`, the user's extra ranges), filled by userspace at
//! load and on SIGHUP; an IPv4-mapped IPv6 destination is looked up as the IPv4 address, as
//! the engine matches it. Excluded names and executables are decided in userspace: the rule
//! matches `process.name` and `process.executable` as the absolute, symlink-resolved path of
//! the image, which the kernel sees only as a device and inode (or the path as passed to
//! exec, possibly relative or a symlink), so a kernel-side string match could exclude what
//! the rule alerts on.

use aya_ebpf::maps::lpm_trie::Key;
use sensor_common::{AF_INET, AF_INET6};

use crate::maps::{EXCLUDED_V4, EXCLUDED_V6};

/// Whether the rule excludes `daddr` (network order; IPv4 in the first 4 bytes).
#[inline(always)]
pub fn destination(family: u16, daddr: &[u8; 16]) -> bool {
    match family {
        AF_INET => v4([daddr[0], daddr[1], daddr[2], daddr[3]]),
        AF_INET6 => {
            let head = u64::from_ne_bytes([
                daddr[0], daddr[1], daddr[2], daddr[3], daddr[4], daddr[5], daddr[6], daddr[7],
            ]);
            let mapped = head == 0
                && daddr[8] == 0
                && daddr[9] == 0
                && daddr[10] == 0xff
                && daddr[11] == 0xff;
            if mapped {
                v4([daddr[12], daddr[13], daddr[14], daddr[15]])
            } else {
                EXCLUDED_V6.get(Key::new(128, *daddr)).is_some()
            }
        }
        _ => false,
    }
}

#[inline(always)]
fn v4(addr: [u8; 4]) -> bool {
    EXCLUDED_V4.get(Key::new(32, addr)).is_some()
}
