//! Queries on a parsed [`Btf`]: member offsets by (dotted) path, through typedefs,
//! qualifiers and anonymous structs/unions, with the member's size and bitfield width.

use super::{Btf, BtfError, MAX_TYPE_HOPS, Result, TYPE_LEN, kind};

/// Deepest nesting of anonymous structs/unions searched.
const MAX_DEPTH: usize = 32;
/// Most members visited by one lookup (guards against pathological type graphs).
const MAX_VISITS: usize = 1 << 20;

/// What [`Btf::member`] knows about a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// Byte offset from the start of the outermost struct.
    pub offset: u32,
    /// Size in bytes, when BTF records it (not for pointers, functions or forward declarations).
    pub size: Option<u32>,
    /// The member (after typedefs and qualifiers) is a pointer.
    pub is_pointer: bool,
    /// Width in bits when the member is a byte-aligned bitfield.
    pub bitfield_bits: Option<u32>,
}

/// A member found by [`Btf::find_member`], relative to the struct searched.
struct Found {
    bit_offset: u64,
    bitfield_bits: u32,
    type_id: u32,
}

impl Btf {
    /// Size in bytes of a type, when BTF records one.
    fn size_of(&self, id: u32) -> Result<Option<u32>> {
        let mut id = id;
        let mut count: u64 = 1;
        for _ in 0..MAX_TYPE_HOPS {
            let (_, ty) = self.resolve(id)?;
            let base = match ty.kind {
                kind::INT
                | kind::ENUM
                | kind::ENUM64
                | kind::FLOAT
                | kind::STRUCT
                | kind::UNION => ty.size_type,
                kind::ARRAY => {
                    let (elem, nelems) = self
                        .rd(ty.pos + TYPE_LEN)
                        .zip(self.rd(ty.pos + TYPE_LEN + 8))
                        .ok_or_else(|| BtfError::Corrupt("array record out of range".into()))?;
                    id = elem;
                    count = count.saturating_mul(u64::from(nelems));
                    continue;
                }
                _ => return Ok(None),
            };
            return u32::try_from(count.saturating_mul(u64::from(base)))
                .map(Some)
                .map_err(|_| BtfError::Corrupt(format!("type id {id} is larger than 4 GiB")));
        }
        Err(BtfError::Corrupt(format!(
            "array nesting deeper than {MAX_TYPE_HOPS} at type id {id}"
        )))
    }

    /// Searches the struct/union `id` for a member called `name`, looking inside anonymous
    /// struct/union members too.
    fn find_member(
        &self,
        id: u32,
        name: &str,
        depth: usize,
        visits: &mut usize,
    ) -> Result<Option<Found>> {
        if depth > MAX_DEPTH {
            return Err(BtfError::Corrupt(format!(
                "anonymous members nested deeper than {MAX_DEPTH} (cycle?) at type id {id}"
            )));
        }
        let (_, ty) = self.resolve(id)?;
        if !ty.is_composite() {
            return Ok(None);
        }
        for i in 0..ty.vlen {
            *visits += 1;
            if *visits > MAX_VISITS {
                return Err(BtfError::Corrupt(format!(
                    "more than {MAX_VISITS} members visited looking for {name}"
                )));
            }
            let (name_off, type_id, offset) = self.raw_member(&ty, i)?;
            let (bit_offset, bitfield_bits) = if ty.kind_flag {
                (offset & 0x00ff_ffff, offset >> 24)
            } else {
                (offset, 0)
            };
            let member_name = self.name_bytes(name_off)?;
            if member_name.is_empty() {
                if let Some(inner) = self.find_member(type_id, name, depth + 1, visits)? {
                    return Ok(Some(Found {
                        bit_offset: inner.bit_offset + u64::from(bit_offset),
                        ..inner
                    }));
                }
            } else if member_name == name.as_bytes() {
                return Ok(Some(Found {
                    bit_offset: u64::from(bit_offset),
                    bitfield_bits,
                    type_id,
                }));
            }
        }
        Ok(None)
    }

    /// True if a struct (or union) of that name exists.
    pub fn has_struct(&self, name: &str) -> bool {
        self.composite(name).is_some()
    }

    /// Byte offset of `path` (dotted for nested named members) within `struct_name`.
    pub fn member_offset(&self, struct_name: &str, path: &str) -> Result<u32> {
        self.member(struct_name, path).map(|m| m.offset)
    }

    /// Offset, size and kind of `path` (dotted for nested named members) within `struct_name`.
    pub fn member(&self, struct_name: &str, path: &str) -> Result<Member> {
        let not_found = |member: &str| BtfError::MemberNotFound {
            struct_name: struct_name.to_owned(),
            member: member.to_owned(),
        };
        let mut cur = self
            .composite(struct_name)
            .ok_or_else(|| BtfError::StructNotFound(struct_name.to_owned()))?;
        let mut bits: u64 = 0;
        let mut visits = 0usize;
        let mut parts = path.split('.').peekable();
        let mut prefix_len = 0usize;
        while let Some(part) = parts.next() {
            prefix_len += part.len() + usize::from(prefix_len > 0);
            let prefix = path.get(..prefix_len).unwrap_or(path);
            if part.is_empty() {
                return Err(not_found(prefix));
            }
            let found = self
                .find_member(cur, part, 0, &mut visits)?
                .ok_or_else(|| not_found(prefix))?;
            bits += found.bit_offset;
            let (resolved_id, resolved) = self.resolve(found.type_id)?;
            let mut bitfield_bits = found.bitfield_bits;
            if bitfield_bits == 0 && resolved.kind == kind::INT {
                // Without kind_flag a bitfield is encoded in the int type itself.
                let data = self.rd(resolved.pos + TYPE_LEN).unwrap_or_default();
                let (int_bits, int_off) = (data & 0xff, (data >> 16) & 0xff);
                bits += u64::from(int_off);
                if int_off != 0 || int_bits != resolved.size_type.saturating_mul(8) {
                    bitfield_bits = int_bits;
                }
            }
            if !bits.is_multiple_of(8) {
                return Err(BtfError::UnalignedBitfield {
                    struct_name: struct_name.to_owned(),
                    member: prefix.to_owned(),
                    bit_offset: bits,
                });
            }
            if parts.peek().is_none() {
                let offset = u32::try_from(bits / 8).map_err(|_| {
                    BtfError::Corrupt(format!("{struct_name}.{path} lies beyond 4 GiB"))
                })?;
                return Ok(Member {
                    offset,
                    size: self.size_of(found.type_id)?,
                    is_pointer: resolved.kind == kind::PTR,
                    bitfield_bits: (bitfield_bits != 0).then_some(bitfield_bits),
                });
            }
            if !resolved.is_composite() || bitfield_bits != 0 {
                return Err(BtfError::NotComposite {
                    struct_name: struct_name.to_owned(),
                    member: prefix.to_owned(),
                });
            }
            cur = resolved_id;
        }
        Err(not_found(path))
    }

    /// Name of the type `path` has within `struct_name`, after typedefs and qualifiers.
    pub(super) fn member_type_name(&self, struct_name: &str, path: &str) -> Result<String> {
        let mut cur = self
            .composite(struct_name)
            .ok_or_else(|| BtfError::StructNotFound(struct_name.to_owned()))?;
        for part in path.split('.') {
            let found = self.find_member(cur, part, 0, &mut 0)?.ok_or_else(|| {
                BtfError::MemberNotFound {
                    struct_name: struct_name.to_owned(),
                    member: path.to_owned(),
                }
            })?;
            cur = self.resolve(found.type_id)?.0;
        }
        let ty = self.ty(cur)?;
        Ok(String::from_utf8_lossy(self.name_bytes(ty.name_off)?).into_owned())
    }
}
