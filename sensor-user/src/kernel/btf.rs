//! A small, self-contained reader for the kernel's BTF (`/sys/kernel/btf/vmlinux`): it
//! validates the blob and indexes the types (this file), answers "at which byte offset is this
//! member of this struct", through dotted paths, typedefs/qualifiers and anonymous
//! structs/unions (`lookup`), and turns those answers into the kernel-structure offsets of
//! [`sensor_common::Config`] (`offsets`, [`fill_btf_offsets`]). Bad input yields a
//! [`BtfError`], never a panic: every read is bounds-checked and every walk has a limit.

use std::path::{Path, PathBuf};

/// Where the running kernel exposes its own BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

const MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;
const TYPE_LEN: usize = 12;
/// Longest typedef/qualifier/array chain followed before the data is called corrupt.
const MAX_TYPE_HOPS: usize = 64;

/// BTF kinds (`BTF_KIND_*`).
mod kind {
    pub const VOID: u32 = 0;
    pub const INT: u32 = 1;
    pub const PTR: u32 = 2;
    pub const ARRAY: u32 = 3;
    pub const STRUCT: u32 = 4;
    pub const UNION: u32 = 5;
    pub const ENUM: u32 = 6;
    pub const FWD: u32 = 7;
    pub const TYPEDEF: u32 = 8;
    pub const VOLATILE: u32 = 9;
    pub const CONST: u32 = 10;
    pub const RESTRICT: u32 = 11;
    pub const FUNC: u32 = 12;
    pub const FUNC_PROTO: u32 = 13;
    pub const VAR: u32 = 14;
    pub const DATASEC: u32 = 15;
    pub const FLOAT: u32 = 16;
    pub const DECL_TAG: u32 = 17;
    pub const TYPE_TAG: u32 = 18;
    pub const ENUM64: u32 = 19;
}

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("cannot read BTF from {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("BTF data is truncated: {0}")]
    Truncated(String),
    #[error("bad BTF magic {0:#06x} (expected 0xeb9f): not BTF data")]
    BadMagic(u16),
    #[error("unsupported BTF version {0} (only version 1 is understood)")]
    BadVersion(u8),
    #[error("corrupt BTF: {0}")]
    Corrupt(String),
    #[error("struct {0} not found in BTF")]
    StructNotFound(String),
    #[error("member {member} not found in struct {struct_name}")]
    MemberNotFound { struct_name: String, member: String },
    #[error("{struct_name}.{member} is not a struct or union, cannot descend into it")]
    NotComposite { struct_name: String, member: String },
    #[error(
        "{struct_name}.{member} is a bitfield at bit offset {bit_offset}, not on a byte boundary"
    )]
    UnalignedBitfield {
        struct_name: String,
        member: String,
        bit_offset: u64,
    },
    #[error("{struct_name}.{member} has an unexpected type: expected {expected}, found {found}")]
    UnexpectedType {
        struct_name: String,
        member: String,
        expected: String,
        found: String,
    },
    #[error("unexpected kernel layout: {0}")]
    Layout(String),
}

type Result<T> = std::result::Result<T, BtfError>;

/// One entry of the type table: the fixed `struct btf_type` part plus where it lives.
#[derive(Clone, Copy, Debug)]
struct Ty {
    /// Byte offset of the `btf_type` in the type section.
    pos: usize,
    name_off: u32,
    kind: u32,
    kind_flag: bool,
    vlen: u32,
    /// `size` or `type`, depending on the kind.
    size_type: u32,
}

impl Ty {
    fn is_composite(&self) -> bool {
        matches!(self.kind, kind::STRUCT | kind::UNION)
    }
}

/// A parsed, validated BTF blob (base BTF such as vmlinux; split BTF is not supported).
///
/// Memory is the sensor's start-up peak, so the blob is held once (no copies of its sections)
/// and the index is one `u32` per type (where its record starts); a type's fields are decoded
/// from the blob when asked for, and a struct is found by name with a scan (the sensor looks up
/// about ten).
pub struct Btf {
    big_endian: bool,
    data: Vec<u8>,
    types: std::ops::Range<usize>,
    strings: std::ops::Range<usize>,
    /// Byte offset in the type section of each type's record, indexed by type id minus one
    /// (id 0 is `void` and has no record).
    positions: Vec<u32>,
}

impl std::fmt::Debug for Btf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Btf")
            .field("types", &self.positions.len())
            .field("big_endian", &self.big_endian)
            .finish_non_exhaustive()
    }
}

fn read_u32(buf: &[u8], pos: usize, big_endian: bool) -> Option<u32> {
    let bytes: [u8; 4] = buf.get(pos..pos.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(bytes)
    } else {
        u32::from_le_bytes(bytes)
    })
}

/// The `[off, off+len)` section after the header, or an error naming it.
fn section<'a>(data: &'a [u8], hdr_len: usize, off: u32, len: u32, what: &str) -> Result<&'a [u8]> {
    let start = hdr_len.checked_add(off as usize);
    let end = start.and_then(|s| s.checked_add(len as usize));
    match (start, end) {
        (Some(start), Some(end)) if end <= data.len() => data
            .get(start..end)
            .ok_or_else(|| BtfError::Truncated(format!("{what} section out of range"))),
        _ => Err(BtfError::Truncated(format!(
            "{what} section (offset {off}, length {len} after a {hdr_len}-byte header) extends \
             beyond the {} bytes of data",
            data.len()
        ))),
    }
}

/// Bytes of kind-specific data following a `btf_type`.
fn extra_len(kind: u32, vlen: u32, id: usize) -> Result<usize> {
    let vlen = vlen as usize;
    Ok(match kind {
        kind::INT | kind::VAR | kind::DECL_TAG => 4,
        kind::PTR
        | kind::FWD
        | kind::TYPEDEF
        | kind::VOLATILE
        | kind::CONST
        | kind::RESTRICT
        | kind::FUNC
        | kind::FLOAT
        | kind::TYPE_TAG => 0,
        kind::ARRAY => 12,
        kind::STRUCT | kind::UNION | kind::DATASEC | kind::ENUM64 => 12 * vlen,
        kind::ENUM | kind::FUNC_PROTO => 8 * vlen,
        other => {
            return Err(BtfError::Corrupt(format!(
                "unknown type kind {other} at type id {id}"
            )));
        }
    })
}

impl Btf {
    /// Reads and parses the running kernel's BTF.
    pub fn from_sys_fs() -> Result<Btf> {
        Btf::from_path(Path::new(VMLINUX_BTF))
    }

    /// Reads and parses a raw BTF file.
    pub fn from_path(path: &Path) -> Result<Btf> {
        let data = std::fs::read(path).map_err(|source| BtfError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Btf::parse_owned(data)
    }

    /// Parses a raw BTF blob (either byte order), validating the header, section bounds and
    /// every type record.
    pub fn parse(data: &[u8]) -> Result<Btf> {
        Btf::parse_owned(data.to_vec())
    }

    /// [`Btf::parse`] of a blob it takes ownership of, without copying it.
    pub fn parse_owned(data: Vec<u8>) -> Result<Btf> {
        let magic_bytes: [u8; 2] = data
            .get(0..2)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| BtfError::Truncated(format!("{} bytes, no header", data.len())))?;
        let big_endian = if u16::from_le_bytes(magic_bytes) == MAGIC {
            false
        } else if u16::from_be_bytes(magic_bytes) == MAGIC {
            true
        } else {
            return Err(BtfError::BadMagic(u16::from_le_bytes(magic_bytes)));
        };
        let version = data
            .get(2)
            .copied()
            .ok_or_else(|| BtfError::Truncated("header ends before the version".into()))?;
        if version != 1 {
            return Err(BtfError::BadVersion(version));
        }
        let field = |pos: usize| {
            read_u32(&data, pos, big_endian).ok_or_else(|| {
                BtfError::Truncated(format!(
                    "{} bytes, shorter than the {HEADER_LEN}-byte header",
                    data.len()
                ))
            })
        };
        let hdr_len = field(4)? as usize;
        let (type_off, type_len, str_off, str_len) =
            (field(8)?, field(12)?, field(16)?, field(20)?);
        if hdr_len < HEADER_LEN {
            return Err(BtfError::Corrupt(format!(
                "header length {hdr_len} is shorter than {HEADER_LEN}"
            )));
        }
        if hdr_len > data.len() {
            return Err(BtfError::Truncated(format!(
                "header length {hdr_len} exceeds the {} bytes of data",
                data.len()
            )));
        }
        let types = section(&data, hdr_len, type_off, type_len, "type")?;
        let strings = section(&data, hdr_len, str_off, str_len, "string")?;
        if strings.first().is_some_and(|&b| b != 0) || strings.last().is_some_and(|&b| b != 0) {
            return Err(BtfError::Corrupt(
                "string section must start and end with a NUL byte".into(),
            ));
        }
        // `section` checked both ranges against the data.
        let types = hdr_len + type_off as usize..hdr_len + type_off as usize + types.len();
        let strings = hdr_len + str_off as usize..hdr_len + str_off as usize + strings.len();
        let mut btf = Btf {
            big_endian,
            data,
            types,
            strings,
            positions: Vec::new(),
        };
        btf.index()?;
        Ok(btf)
    }

    fn types(&self) -> &[u8] {
        self.data.get(self.types.clone()).unwrap_or_default()
    }

    fn strings(&self) -> &[u8] {
        self.data.get(self.strings.clone()).unwrap_or_default()
    }

    /// Walks the type section once, recording where each type starts; every step consumes at
    /// least [`TYPE_LEN`] bytes, so the loop is bounded by the section length.
    fn index(&mut self) -> Result<()> {
        let len = self.types.len();
        let mut positions = Vec::with_capacity(len / 32);
        let mut pos = 0usize;
        while pos < len {
            let id = positions.len() + 1;
            let truncated = || BtfError::Truncated(format!("type id {id} at byte {pos}"));
            let name_off = self.rd(pos).ok_or_else(truncated)?;
            let info = self.rd(pos + 4).ok_or_else(truncated)?;
            self.rd(pos + 8).ok_or_else(truncated)?;
            let kind = (info >> 24) & 0x1f;
            let next = pos + TYPE_LEN + extra_len(kind, info & 0xffff, id)?;
            if next > len {
                return Err(truncated());
            }
            if matches!(kind, kind::STRUCT | kind::UNION) && name_off != 0 {
                // Names of structs are what lookups compare: check them once here.
                self.name_bytes(name_off)?;
            }
            positions.push(
                u32::try_from(pos)
                    .map_err(|_| BtfError::Corrupt("type section beyond 4 GiB".into()))?,
            );
            pos = next;
        }
        positions.shrink_to_fit();
        self.positions = positions;
        Ok(())
    }

    /// The id of the struct or union named `name` (the first definition; a struct beats a
    /// union), by a scan of the type table.
    fn composite(&self, name: &str) -> Option<u32> {
        let mut union = None;
        for id in 1..=self.positions.len() as u32 {
            let Ok(ty) = self.ty(id) else { continue };
            if !ty.is_composite() || ty.name_off == 0 {
                continue;
            }
            if self.name_bytes(ty.name_off).ok() != Some(name.as_bytes()) {
                continue;
            }
            if ty.kind == kind::STRUCT {
                return Some(id);
            }
            union = union.or(Some(id));
        }
        union
    }

    fn rd(&self, pos: usize) -> Option<u32> {
        read_u32(self.types(), pos, self.big_endian)
    }

    /// The NUL-terminated name at `off` in the string section.
    fn name_bytes(&self, off: u32) -> Result<&[u8]> {
        let strings = self.strings();
        let rest = strings.get(off as usize..).ok_or_else(|| {
            BtfError::Corrupt(format!(
                "name offset {off} beyond the {}-byte string section",
                strings.len()
            ))
        })?;
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| BtfError::Corrupt(format!("unterminated name at offset {off}")))?;
        Ok(rest.get(..end).unwrap_or_default())
    }

    fn ty(&self, id: u32) -> Result<Ty> {
        if id == 0 {
            return Ok(Ty {
                pos: 0,
                name_off: 0,
                kind: kind::VOID,
                kind_flag: false,
                vlen: 0,
                size_type: 0,
            });
        }
        let out_of_range = || {
            BtfError::Corrupt(format!(
                "type id {id} out of range ({} types)",
                self.positions.len()
            ))
        };
        let pos = *self
            .positions
            .get(id as usize - 1)
            .ok_or_else(out_of_range)? as usize;
        // `index` checked that every record lies within the section.
        let (name_off, info, size_type) = (
            self.rd(pos).ok_or_else(out_of_range)?,
            self.rd(pos + 4).ok_or_else(out_of_range)?,
            self.rd(pos + 8).ok_or_else(out_of_range)?,
        );
        Ok(Ty {
            pos,
            name_off,
            kind: (info >> 24) & 0x1f,
            kind_flag: info >> 31 != 0,
            vlen: info & 0xffff,
            size_type,
        })
    }

    /// Follows typedefs and qualifiers to the underlying type.
    fn resolve(&self, mut id: u32) -> Result<(u32, Ty)> {
        for _ in 0..MAX_TYPE_HOPS {
            let ty = self.ty(id)?;
            match ty.kind {
                kind::TYPEDEF | kind::VOLATILE | kind::CONST | kind::RESTRICT | kind::TYPE_TAG => {
                    id = ty.size_type;
                }
                _ => return Ok((id, ty)),
            }
        }
        Err(BtfError::Corrupt(format!(
            "typedef/qualifier chain longer than {MAX_TYPE_HOPS} at type id {id}"
        )))
    }

    /// `(name_off, type, offset)` of member `i` of a struct/union.
    fn raw_member(&self, ty: &Ty, i: u32) -> Result<(u32, u32, u32)> {
        let pos = ty.pos + TYPE_LEN + 12 * i as usize;
        let get = |p: usize| {
            self.rd(p)
                .ok_or_else(|| BtfError::Corrupt(format!("member {i} out of range")))
        };
        Ok((get(pos)?, get(pos + 4)?, get(pos + 8)?))
    }
}

mod lookup;
mod offsets;

pub use lookup::Member;
pub use offsets::fill_btf_offsets;

#[cfg(test)]
mod tests;
