//! Tests for the BTF reader: synthetic blobs built by [`Builder`], corruption, and the running
//! kernel's own BTF.

use super::*;
use sensor_common::Config;

/// Encodes BTF types and strings into a blob, assigning type ids in order from 1.
struct Builder {
    words: Vec<u32>,
    strings: Vec<u8>,
    next_id: u32,
}

const fn info(kind: u32, kind_flag: bool, vlen: u32) -> u32 {
    (kind_flag as u32) << 31 | kind << 24 | vlen
}

impl Builder {
    fn new() -> Self {
        Builder {
            words: Vec::new(),
            strings: vec![0],
            next_id: 1,
        }
    }

    fn name(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    fn raw(&mut self, name: &str, info: u32, size_type: u32, extra: &[u32]) -> u32 {
        let name_off = self.name(name);
        self.words.extend([name_off, info, size_type]);
        self.words.extend_from_slice(extra);
        self.next_id += 1;
        self.next_id - 1
    }

    fn int(&mut self, name: &str, size: u32) -> u32 {
        self.raw(name, info(kind::INT, false, 0), size, &[size * 8])
    }

    fn ptr(&mut self, target: u32) -> u32 {
        self.raw("", info(kind::PTR, false, 0), target, &[])
    }

    fn typedef(&mut self, name: &str, target: u32) -> u32 {
        self.raw(name, info(kind::TYPEDEF, false, 0), target, &[])
    }

    fn konst(&mut self, target: u32) -> u32 {
        self.raw("", info(kind::CONST, false, 0), target, &[])
    }

    fn array(&mut self, elem: u32, index: u32, n: u32) -> u32 {
        self.raw("", info(kind::ARRAY, false, 0), 0, &[elem, index, n])
    }

    /// A struct/union; members are `(name, type, offset word)` (bits, or the kind_flag
    /// encoding when `kind_flag`).
    fn composite(
        &mut self,
        k: u32,
        name: &str,
        size: u32,
        kind_flag: bool,
        members: &[(&str, u32, u32)],
    ) -> u32 {
        let mut extra = Vec::new();
        for &(m, ty, off) in members {
            extra.extend([self.name(m), ty, off]);
        }
        let vlen = members.len() as u32;
        self.raw(name, info(k, kind_flag, vlen), size, &extra)
    }

    fn strukt(&mut self, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
        self.composite(kind::STRUCT, name, size, false, members)
    }

    fn union(&mut self, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
        self.composite(kind::UNION, name, size, false, members)
    }

    fn build_endian(&self, big_endian: bool) -> Vec<u8> {
        let enc = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let type_len = self.words.len() as u32 * 4;
        let mut out = Vec::new();
        out.extend(if big_endian {
            MAGIC.to_be_bytes()
        } else {
            MAGIC.to_le_bytes()
        });
        out.extend([1, 0]);
        for v in [24, 0, type_len, type_len, self.strings.len() as u32] {
            out.extend(enc(v));
        }
        for &w in &self.words {
            out.extend(enc(w));
        }
        out.extend(&self.strings);
        out
    }

    fn build(&self) -> Vec<u8> {
        self.build_endian(false)
    }
}

/// `struct mm_like { int a; union { struct { long x; long y; }; int z; }; long w; }` plus a
/// typedef'd, const-qualified nested struct member.
fn nested_blob() -> Vec<u8> {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    let long = b.int("long", 8);
    let inner = b.strukt("", 16, &[("x", long, 0), ("y", long, 64)]);
    let anon_union = b.union("", 16, &[("", inner, 0), ("z", int, 0)]);
    let mm = b.strukt(
        "mm_like",
        32,
        &[("a", int, 0), ("", anon_union, 64), ("w", long, 192)],
    );
    let mm_t = b.typedef("mm_like_t", mm);
    let mm_ct = b.konst(mm_t);
    let p = b.ptr(mm);
    let arr = b.array(int, int, 4);
    b.strukt(
        "outer",
        72,
        &[("p", p, 0), ("arr", arr, 64), ("mm", mm_ct, 192)],
    );
    b.build()
}

#[test]
fn finds_members_in_nested_anonymous_unions() {
    let btf = Btf::parse(&nested_blob()).unwrap();
    assert!(btf.has_struct("mm_like"));
    assert!(btf.has_struct("outer"));
    assert!(!btf.has_struct("nope"));
    assert_eq!(btf.member_offset("mm_like", "a").unwrap(), 0);
    assert_eq!(btf.member_offset("mm_like", "x").unwrap(), 8);
    assert_eq!(btf.member_offset("mm_like", "y").unwrap(), 16);
    assert_eq!(btf.member_offset("mm_like", "z").unwrap(), 8);
    assert_eq!(btf.member_offset("mm_like", "w").unwrap(), 24);
    let y = btf.member("mm_like", "y").unwrap();
    assert_eq!(y.size, Some(8));
    assert!(!y.is_pointer);
}

#[test]
fn descends_dotted_paths_through_typedef_and_const() {
    let btf = Btf::parse(&nested_blob()).unwrap();
    assert_eq!(btf.member_offset("outer", "mm.a").unwrap(), 24);
    assert_eq!(btf.member_offset("outer", "mm.y").unwrap(), 24 + 16);
    assert_eq!(btf.member_offset("outer", "mm.w").unwrap(), 24 + 24);
    let p = btf.member("outer", "p").unwrap();
    assert!(p.is_pointer);
    assert_eq!(btf.member("outer", "arr").unwrap().size, Some(16));
    assert_eq!(btf.member("outer", "mm").unwrap().size, Some(32));
}

#[test]
fn missing_members_and_bad_paths_are_named() {
    let btf = Btf::parse(&nested_blob()).unwrap();
    let err = btf.member_offset("outer", "mm.nope").unwrap_err();
    assert!(matches!(&err, BtfError::MemberNotFound { member, .. } if member == "mm.nope"));
    assert_eq!(err.to_string(), "member mm.nope not found in struct outer");
    let err = btf.member_offset("nope", "a").unwrap_err();
    assert_eq!(err.to_string(), "struct nope not found in BTF");
    assert!(matches!(
        btf.member_offset("outer", "p.a"),
        Err(BtfError::NotComposite { .. })
    ));
    assert!(matches!(
        btf.member_offset("outer", "arr.x"),
        Err(BtfError::NotComposite { .. })
    ));
    for bad in ["", ".", "mm.", ".mm"] {
        assert!(
            matches!(
                btf.member_offset("outer", bad),
                Err(BtfError::MemberNotFound { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn kind_flag_bitfields() {
    let mut b = Builder::new();
    let u8t = b.int("u8", 1);
    let u32t = b.int("u32", 4);
    b.composite(
        kind::STRUCT,
        "bits",
        8,
        true,
        &[
            ("lo", u8t, 3 << 24),          // 3-bit bitfield at bit 0
            ("mid", u8t, (4 << 24) | 3),   // 4-bit bitfield at bit 3
            ("byte1", u8t, (4 << 24) | 8), // 4-bit bitfield at bit 8 (aligned)
            ("plain", u32t, 32),           // ordinary member at byte 4
        ],
    );
    let btf = Btf::parse(&b.build()).unwrap();
    assert_eq!(btf.member_offset("bits", "lo").unwrap(), 0);
    assert_eq!(btf.member("bits", "lo").unwrap().bitfield_bits, Some(3));
    let err = btf.member_offset("bits", "mid").unwrap_err();
    assert!(matches!(
        err,
        BtfError::UnalignedBitfield { bit_offset: 3, .. }
    ));
    assert!(err.to_string().contains("bits.mid"));
    assert_eq!(btf.member_offset("bits", "byte1").unwrap(), 1);
    let plain = btf.member("bits", "plain").unwrap();
    assert_eq!(
        (plain.offset, plain.size, plain.bitfield_bits),
        (4, Some(4), None)
    );
}

#[test]
fn legacy_int_encoded_bitfield() {
    let mut b = Builder::new();
    // int with 5 bits at bit offset 2 within the storage unit.
    let bf = b.raw("int", info(kind::INT, false, 0), 4, &[(2 << 16) | 5]);
    let int = b.int("int", 4);
    b.strukt("legacy", 8, &[("f", bf, 0), ("g", int, 32)]);
    let btf = Btf::parse(&b.build()).unwrap();
    assert!(matches!(
        btf.member_offset("legacy", "f"),
        Err(BtfError::UnalignedBitfield { bit_offset: 2, .. })
    ));
    assert_eq!(btf.member_offset("legacy", "g").unwrap(), 4);
}

#[test]
fn big_endian_blob() {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    b.strukt("s", 8, &[("a", int, 0), ("b", int, 32)]);
    let btf = Btf::parse(&b.build_endian(true)).unwrap();
    assert_eq!(btf.member_offset("s", "b").unwrap(), 4);
}

#[test]
fn bad_magic_and_version() {
    let mut blob = nested_blob();
    blob[0] = 0x12;
    assert!(matches!(Btf::parse(&blob), Err(BtfError::BadMagic(_))));
    let mut blob = nested_blob();
    blob[2] = 2;
    let err = Btf::parse(&blob).unwrap_err();
    assert!(matches!(err, BtfError::BadVersion(2)), "{err}");
    assert!(matches!(
        Btf::parse(b"hello world"),
        Err(BtfError::BadMagic(_))
    ));
}

#[test]
fn every_truncation_is_an_error() {
    let blob = nested_blob();
    for len in 0..blob.len() {
        let err = Btf::parse(&blob[..len]).err();
        assert!(err.is_some(), "prefix of {len} bytes parsed");
    }
    assert!(matches!(
        Btf::parse(&blob[..30]),
        Err(BtfError::Truncated(_))
    ));
}

#[test]
fn corrupt_header_and_types() {
    // Header length beyond the data.
    let mut blob = nested_blob();
    blob[4..8].copy_from_slice(&10_000u32.to_le_bytes());
    assert!(matches!(Btf::parse(&blob), Err(BtfError::Truncated(_))));
    // Section offset overflowing usize arithmetic.
    let mut blob = nested_blob();
    blob[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    blob[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(Btf::parse(&blob), Err(BtfError::Truncated(_))));
    // Unknown kind.
    let mut b = Builder::new();
    b.raw("x", info(31, false, 0), 0, &[]);
    assert!(matches!(Btf::parse(&b.build()), Err(BtfError::Corrupt(_))));
    // Member referring to a type id that does not exist.
    let mut b = Builder::new();
    b.strukt("s", 4, &[("a", 77, 0)]);
    let btf = Btf::parse(&b.build()).unwrap();
    assert!(matches!(
        btf.member_offset("s", "a"),
        Err(BtfError::Corrupt(_))
    ));
    // Name offset out of range.
    let mut b = Builder::new();
    b.words.extend([9999, info(kind::STRUCT, false, 0), 0]);
    assert!(matches!(Btf::parse(&b.build()), Err(BtfError::Corrupt(_))));
}

#[test]
fn cycles_are_bounded() {
    // struct loop { struct loop; struct loop; } through anonymous members: ids are 1 and 2.
    let mut b = Builder::new();
    b.strukt("loop", 4, &[("", 1, 0), ("", 2, 0)]);
    b.typedef("loop_t", 1);
    let btf = Btf::parse(&b.build()).unwrap();
    assert!(matches!(
        btf.member_offset("loop", "x"),
        Err(BtfError::Corrupt(_))
    ));
    // A typedef cycle.
    let mut b = Builder::new();
    let t = b.typedef("a", 2);
    b.typedef("b", t);
    b.strukt("s", 4, &[("m", t, 0)]);
    let btf = Btf::parse(&b.build()).unwrap();
    assert!(matches!(btf.member("s", "m"), Err(BtfError::Corrupt(_))));
}

#[test]
fn random_corruption_never_panics() {
    let blob = nested_blob();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..5_000 {
        let mut bad = blob.clone();
        for _ in 0..(next() % 4 + 1) {
            let i = (next() % bad.len() as u64) as usize;
            bad[i] = next() as u8;
        }
        if let Ok(btf) = Btf::parse(&bad) {
            for (s, p) in [("outer", "mm.y"), ("mm_like", "z"), ("outer", "arr")] {
                let _ = btf.member(s, p);
            }
        }
    }
}

/// The structs [`fill_btf_offsets`] reads, laid out like a (tiny) kernel, with `sock_common`
/// at `common_at` bytes into `sock`.
fn kernel_like_blob(common_at: u32) -> Vec<u8> {
    let mut b = Builder::new();
    let u8t = b.int("unsigned char", 1);
    let u16t = b.int("unsigned short", 2);
    let u32t = b.int("unsigned int", 4);
    let u64t = b.int("long long unsigned int", 8);
    let be32 = b.typedef("__be32", u32t);
    let be16 = b.typedef("__be16", u16t);
    let pid_t = b.typedef("pid_t", u32t);
    let dev_t = b.typedef("dev_t", u32t);
    let void_p = b.ptr(0);
    let arr16 = b.array(u8t, u32t, 16);
    let in6 = b.strukt("in6_addr", 16, &[("s6_addr", arr16, 0)]);
    b.strukt(
        "task_struct",
        64,
        &[
            ("tgid", pid_t, 8 * 8),
            ("real_parent", void_p, 16 * 8),
            ("group_leader", void_p, 24 * 8),
            ("start_time", u64t, 32 * 8),
            ("mm", void_p, 40 * 8),
            ("signal", void_p, 48 * 8),
        ],
    );
    let int_t = b.int("int", 4);
    let atomic = b.strukt("", 4, &[("counter", int_t, 0)]);
    let atomic_t = b.typedef("atomic_t", atomic);
    b.strukt(
        "signal_struct",
        32,
        &[("nr_threads", int_t, 0), ("live", atomic_t, 8 * 8)],
    );
    let anon = b.strukt("", 16, &[("exe_file", void_p, 0), ("arg_start", u64t, 64)]);
    b.strukt(
        "mm_struct",
        64,
        &[("", anon, 128), ("arg_end", u64t, 32 * 8)],
    );
    b.strukt("file", 32, &[("f_inode", void_p, 32)]);
    b.strukt(
        "inode",
        64,
        &[("i_sb", void_p, 40 * 8), ("i_ino", u64t, 64 * 8)],
    );
    b.strukt("super_block", 32, &[("s_dev", dev_t, 16 * 8)]);
    let addrs = b.strukt(
        "",
        8,
        &[("skc_daddr", be32, 0), ("skc_rcv_saddr", be32, 32)],
    );
    let addr_union = b.union("", 8, &[("skc_addrpair", u64t, 0), ("", addrs, 0)]);
    let ports = b.strukt("", 4, &[("skc_dport", be16, 0), ("skc_num", u16t, 16)]);
    let port_union = b.union("", 4, &[("skc_portpair", u32t, 0), ("", ports, 0)]);
    let common = b.strukt(
        "sock_common",
        56,
        &[
            ("", addr_union, 0),
            ("", port_union, 96),
            ("skc_family", u16t, 128),
            ("skc_v6_daddr", in6, 32 * 8),
        ],
    );
    b.strukt(
        "sock",
        128,
        &[
            ("__sk_common", common, common_at * 8),
            ("sk_protocol", u16t, 72 * 8),
        ],
    );
    let char_p = b.ptr(u8t);
    b.strukt("linux_binprm", 64, &[("filename", char_p, 48 * 8)]);
    b.build()
}

#[test]
fn fills_config_from_kernel_like_btf() {
    let btf = Btf::parse(&kernel_like_blob(0)).unwrap();
    let mut cfg = Config::default();
    fill_btf_offsets(&btf, &mut cfg).unwrap();
    assert_eq!(
        (cfg.task_tgid, cfg.task_real_parent, cfg.task_group_leader),
        (8, 16, 24)
    );
    assert_eq!((cfg.task_start_time, cfg.task_mm), (32, 40));
    assert_eq!((cfg.task_signal, cfg.signal_live), (48, 8));
    assert_eq!(
        (cfg.mm_exe_file, cfg.mm_arg_start, cfg.mm_arg_end),
        (16, 24, 32)
    );
    assert_eq!(
        (cfg.file_f_inode, cfg.inode_i_sb, cfg.inode_i_ino),
        (4, 40, 64)
    );
    assert_eq!(cfg.sb_s_dev, 16);
    assert_eq!((cfg.skc_daddr, cfg.skc_dport, cfg.skc_family), (0, 12, 16));
    assert_eq!(cfg.skc_v6_daddr, 32);
    assert_eq!((cfg.sk_protocol, cfg.bprm_filename), (72, 48));
}

#[test]
fn rejects_sock_common_not_first() {
    let btf = Btf::parse(&kernel_like_blob(8)).unwrap();
    let err = fill_btf_offsets(&btf, &mut Config::default()).unwrap_err();
    assert!(matches!(err, BtfError::Layout(_)), "{err}");
    assert!(err.to_string().contains("sock.__sk_common"), "{err}");
}

#[test]
fn rejects_wrong_member_size() {
    let mut b = Builder::new();
    let u16t = b.int("unsigned short", 2);
    b.strukt("task_struct", 8, &[("real_parent", u16t, 0)]);
    let btf = Btf::parse(&b.build()).unwrap();
    let err = fill_btf_offsets(&btf, &mut Config::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "task_struct.real_parent has an unexpected type: expected a pointer, found 2 bytes"
    );
}

/// The running kernel's BTF. Deliberately fails (rather than skips) when it is missing: the
/// sensor cannot work without it.
#[cfg(target_os = "linux")]
#[test]
fn real_vmlinux_offsets_are_plausible() {
    assert!(
        Path::new(VMLINUX_BTF).exists(),
        "{VMLINUX_BTF} is missing: this kernel was built without CONFIG_DEBUG_INFO_BTF, and the \
         sensor needs it"
    );
    let btf = Btf::from_sys_fs().unwrap_or_else(|e| panic!("parsing {VMLINUX_BTF}: {e}"));
    for s in [
        "task_struct",
        "mm_struct",
        "file",
        "inode",
        "super_block",
        "sock",
        "sock_common",
    ] {
        assert!(btf.has_struct(s), "{s}");
    }
    let mut cfg = Config::default();
    fill_btf_offsets(&btf, &mut cfg).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{cfg:#?}");
    let groups: [&[u32]; 5] = [
        &[
            cfg.task_real_parent,
            cfg.task_group_leader,
            cfg.task_tgid,
            cfg.task_start_time,
            cfg.task_mm,
            cfg.task_signal,
        ],
        &[cfg.mm_exe_file, cfg.mm_arg_start, cfg.mm_arg_end],
        &[cfg.inode_i_ino, cfg.inode_i_sb],
        &[
            cfg.skc_daddr,
            cfg.skc_dport,
            cfg.skc_family,
            cfg.skc_v6_daddr,
        ],
        &[cfg.file_f_inode, cfg.sb_s_dev],
    ];
    for (i, g) in groups.iter().enumerate() {
        let mut sorted = g.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        if i < 4 {
            assert_eq!(
                sorted.len(),
                g.len(),
                "offsets within a struct must differ: {g:?}"
            );
        }
        assert!(g.iter().all(|&o| o < 16_384), "implausible offset in {g:?}");
    }
    assert!(cfg.task_tgid > 0 && cfg.task_mm > 0 && cfg.task_real_parent > 0);
    assert!(cfg.mm_arg_end > cfg.mm_arg_start);
    assert_eq!(cfg.mm_arg_end - cfg.mm_arg_start, 8);
    assert!(cfg.skc_daddr < 8 && cfg.skc_dport < 16 && cfg.skc_family < 32);
    assert!(cfg.skc_v6_daddr >= 16);
    // sock_common offsets measured directly agree with those through struct sock.
    assert_eq!(
        btf.member_offset("sock_common", "skc_dport").unwrap(),
        cfg.skc_dport
    );
    assert_eq!(
        btf.member_offset("sock_common", "skc_daddr").unwrap(),
        cfg.skc_daddr
    );
}
