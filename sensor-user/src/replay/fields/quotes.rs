//! Stage one of the scanner ([`super::scan`]): where the strings of one line end, found 64 bytes
//! at a time with SIMD compares (AVX2 where the processor has it, else SSE2) and bit
//! arithmetic (the simdjson method) rather than a loop over each string's bytes. It gives a
//! bitmap of the line's unescaped `"` (backslash runs resolved across blocks), so stage two
//! finds a string's end with one bit search; it rejects a line whose last string is
//! unterminated or that holds a control character inside a string; and it says whether the line
//! has any backslash or byte over 0x7f, so stage two checks escapes and UTF-8 only in lines that
//! have them. Bytes outside strings are stage two's to validate.

/// What stage one saw in the whole line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Flags {
    /// A `\\` somewhere in the line.
    pub backslash: bool,
    /// A byte over 0x7f somewhere in the line.
    pub non_ascii: bool,
}

/// The bits of one 64-byte block, bit `i` for byte `i`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Masks {
    quote: u64,
    backslash: u64,
    /// Below 0x20.
    ctrl: u64,
    /// Over 0x7f.
    high: u64,
}

/// The state carried from one block to the next.
#[derive(Default)]
struct Carry {
    /// The next block's first byte is escaped by a backslash.
    escaped: bool,
    /// The next block's first byte is inside a string.
    in_string: bool,
}

/// Words of zeros after the bitmap, so a search may read the word after any byte's.
pub(super) const PAD_WORDS: usize = 2;

/// Fills `out` (cleared first) with the bitmap of `line`'s unescaped quotes, bit `i % 64` of
/// word `i / 64` for byte `i`, followed by [`PAD_WORDS`] zero words; `None` if a string is
/// unterminated or holds a control character.
pub(super) fn quotes(line: &[u8], out: &mut Vec<u64>) -> Option<Flags> {
    out.clear();
    out.reserve(line.len() / 64 + 1 + PAD_WORDS);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { quotes_avx2(line, out) };
    }
    quotes_with(line, out, classify)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn quotes_avx2(line: &[u8], out: &mut Vec<u64>) -> Option<Flags> {
    // The closure inherits AVX2 from this function.
    quotes_with(line, out, |block| classify_avx2(block))
}

/// [`quotes`] with one block classifier (inlined into each caller's instruction set).
#[inline(always)]
fn quotes_with(
    line: &[u8],
    out: &mut Vec<u64>,
    classify: impl Fn(&[u8; 64]) -> Masks,
) -> Option<Flags> {
    let mut carry = Carry::default();
    let (mut backslash, mut high) = (0u64, 0u64);
    let mut blocks = line.chunks_exact(64);
    for block in &mut blocks {
        let m = classify(block.try_into().ok()?);
        backslash |= m.backslash;
        high |= m.high;
        out.push(block_quotes(&m, &mut carry)?);
    }
    let rest = blocks.remainder();
    if !rest.is_empty() {
        // Padded with spaces: no quote, backslash or control character.
        let mut block = [b' '; 64];
        block[..rest.len()].copy_from_slice(rest);
        let m = classify(&block);
        backslash |= m.backslash;
        high |= m.high;
        out.push(block_quotes(&m, &mut carry)?);
    }
    if carry.in_string {
        return None;
    }
    out.extend([0; PAD_WORDS]);
    Some(Flags {
        backslash: backslash != 0,
        non_ascii: high != 0,
    })
}

/// One block's unescaped quotes, or `None` for a control character inside a string.
#[inline(always)]
fn block_quotes(m: &Masks, carry: &mut Carry) -> Option<u64> {
    let escaped = if m.backslash == 0 && !carry.escaped {
        0
    } else {
        escaped(m.backslash, &mut carry.escaped)
    };
    let quotes = m.quote & !escaped;
    // Set from an opening quote up to (not including) its closing quote.
    let in_string = prefix_xor(quotes) ^ if carry.in_string { u64::MAX } else { 0 };
    carry.in_string = in_string >> 63 == 1;
    (m.ctrl & in_string == 0).then_some(quotes)
}

/// The bits of the bytes escaped by a backslash (one not itself escaped), given the block's
/// backslashes; `carry` says the block's first byte is escaped, and is set for the next.
#[inline(never)]
fn escaped(backslash: u64, carry: &mut bool) -> u64 {
    let mut escaped = u64::from(*carry);
    *carry = false;
    let mut escaping = backslash & !escaped;
    while escaping != 0 {
        let i = escaping.trailing_zeros();
        escaping &= escaping - 1;
        if i == 63 {
            *carry = true;
        } else {
            let next = 1u64 << (i + 1);
            escaped |= next;
            escaping &= !next;
        }
    }
    escaped
}

/// Bit `i` is the parity of the set bits at `0..=i`.
#[inline(always)]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// The masks of one block: SSE2 (part of every x86_64 target), else a byte loop.
#[inline(always)]
fn classify(block: &[u8; 64]) -> Masks {
    #[cfg(target_arch = "x86_64")]
    {
        classify_sse2(block)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        classify_bytes(block)
    }
}

/// `pmovmskb` as an opaque instruction: through the intrinsic, LLVM sees a vector of booleans
/// and may split the bit arithmetic that follows into single bytes.
#[cfg(target_arch = "x86_64")]
macro_rules! movemask {
    ($v:expr, $reg:ident, $insn:literal) => {{
        let v = $v;
        let bits: u32;
        // SAFETY: reads a register, writes a register, touches no memory; the callers have the
        // instruction's feature (SSE2 always; AVX2 where `$insn` is `vpmovmskb` on a `ymm`).
        unsafe {
            std::arch::asm!(
                $insn,
                bits = lateout(reg) bits,
                v = in($reg) v,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        u64::from(bits)
    }};
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn classify_sse2(block: &[u8; 64]) -> Masks {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8 as eq, _mm_loadu_si128, _mm_max_epu8, _mm_set1_epi8 as splat,
    };
    let mut m = Masks::default();
    for (k, chunk) in block.chunks_exact(16).enumerate() {
        // SAFETY: SSE2 is part of every x86_64 target; `chunk` is 16 readable bytes and
        // `loadu` needs no alignment.
        let (quote, backslash, ctrl, x) = unsafe {
            let x = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
            // x < 0x20 exactly when max(x, 0x1f) == 0x1f (unsigned).
            let ctrl = eq(_mm_max_epu8(x, splat(0x1f)), splat(0x1f));
            (eq(x, splat(b'"' as i8)), eq(x, splat(b'\\' as i8)), ctrl, x)
        };
        let shift = 16 * k;
        m.quote |= movemask!(quote, xmm_reg, "pmovmskb {bits:e}, {v}") << shift;
        m.backslash |= movemask!(backslash, xmm_reg, "pmovmskb {bits:e}, {v}") << shift;
        m.ctrl |= movemask!(ctrl, xmm_reg, "pmovmskb {bits:e}, {v}") << shift;
        m.high |= movemask!(x, xmm_reg, "pmovmskb {bits:e}, {v}") << shift;
    }
    m
}

/// [`classify`] with AVX2: two 32-byte halves. (No closures: they would not inherit the
/// target feature.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn classify_avx2(block: &[u8; 64]) -> Masks {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8 as eq, _mm256_loadu_si256, _mm256_max_epu8,
        _mm256_set1_epi8 as splat,
    };
    let mut m = Masks::default();
    for (k, chunk) in block.chunks_exact(32).enumerate() {
        // SAFETY: `chunk` is 32 readable bytes and `loadu` needs no alignment; AVX2 is
        // enabled for this function.
        let x = unsafe { _mm256_loadu_si256(chunk.as_ptr().cast::<__m256i>()) };
        let ctrl = eq(_mm256_max_epu8(x, splat(0x1f)), splat(0x1f));
        let shift = 32 * k;
        let quote = eq(x, splat(b'"' as i8));
        let backslash = eq(x, splat(b'\\' as i8));
        m.quote |= movemask!(quote, ymm_reg, "vpmovmskb {bits:e}, {v}") << shift;
        m.backslash |= movemask!(backslash, ymm_reg, "vpmovmskb {bits:e}, {v}") << shift;
        m.ctrl |= movemask!(ctrl, ymm_reg, "vpmovmskb {bits:e}, {v}") << shift;
        m.high |= movemask!(x, ymm_reg, "vpmovmskb {bits:e}, {v}") << shift;
    }
    m
}

/// [`classify`] a byte at a time: the portable path, and the reference the tests hold the SIMD
/// ones to.
#[cfg_attr(all(target_arch = "x86_64", not(test)), allow(dead_code))]
fn classify_bytes(block: &[u8; 64]) -> Masks {
    let mut m = Masks::default();
    for (i, &c) in block.iter().enumerate() {
        let bit = 1u64 << i;
        let set = |mask: &mut u64, yes: bool| {
            if yes {
                *mask |= bit;
            }
        };
        set(&mut m.quote, c == b'"');
        set(&mut m.backslash, c == b'\\');
        set(&mut m.ctrl, c < 0x20);
        set(&mut m.high, c > 0x7f);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bitmap a byte-at-a-time reading of the line gives, or `None`. Outside strings a
    /// backslash escapes too, as the SIMD pass counts it (such a line is never JSON: stage two
    /// rejects the backslash).
    fn reference(line: &[u8]) -> Option<Vec<u64>> {
        let mut out = vec![0u64; line.len().div_ceil(64) + PAD_WORDS];
        let (mut in_string, mut escaped) = (false, false);
        for (i, &c) in line.iter().enumerate() {
            if in_string && c < 0x20 {
                return None;
            }
            if c == b'"' && !escaped {
                in_string = !in_string;
                out[i / 64] |= 1 << (i % 64);
            }
            escaped = c == b'\\' && !escaped;
        }
        (!in_string).then_some(out)
    }

    /// One way of running [`quotes`].
    type Path<'f> = &'f dyn Fn(&[u8], &mut Vec<u64>) -> Option<Flags>;

    /// Every block classifier this processor can run, each through the whole line.
    fn all_paths(line: &[u8]) -> Vec<(&'static str, Option<Flags>, Vec<u64>)> {
        let mut runs = Vec::new();
        let mut run = |name, f: Path<'_>| {
            let mut out = Vec::new();
            let flags = f(line, &mut out);
            runs.push((name, flags, out));
        };
        run("dispatch", &|l, o| quotes(l, o));
        run("bytes", &|l, o| quotes_with(l, o, classify_bytes));
        #[cfg(target_arch = "x86_64")]
        {
            run("sse2", &|l, o| quotes_with(l, o, classify_sse2));
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                run("avx2", &|l, o| unsafe { quotes_avx2(l, o) });
            }
        }
        runs
    }

    fn check(line: &[u8]) {
        for (path, flags, got) in all_paths(line) {
            assert_eq!(
                flags.map(|_| got),
                reference(line),
                "{path}: {:?}",
                String::from_utf8_lossy(line)
            );
            if let Some(flags) = flags {
                assert_eq!(flags.backslash, line.contains(&b'\\'), "{path}");
                assert_eq!(flags.non_ascii, line.iter().any(|&c| c > 0x7f), "{path}");
            }
        }
    }

    #[test]
    fn simd_masks_equal_the_byte_loop() {
        let mut block = [0u8; 64];
        for start in (0..256).step_by(64) {
            for (i, b) in block.iter_mut().enumerate() {
                *b = (start + i) as u8;
            }
            assert_eq!(
                classify(&block),
                classify_bytes(&block),
                "bytes from {start}"
            );
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                let avx2 = unsafe { classify_avx2(&block) };
                assert_eq!(avx2, classify_bytes(&block), "bytes from {start}");
            }
        }
    }

    #[test]
    fn bitmap_matches_a_byte_loop_across_block_edges() {
        for line in [
            &br#"{"a":1}"#[..],
            br#"{"a":"b\"c","d":[true,null,-1.5e3]}"#,
            br#"{"a":"x\\"}"#,
            br#"{"a":"unterminated}"#,
            b"{\"a\":\"tab\tin string\"}",
            b"{\"a\":1,\t\r\n\"b\":2}",
            "{\"é\":\"ü\"}".as_bytes(),
            br#"{"a":1}\"x""#,
            b"",
        ] {
            check(line);
        }
        // Backslash runs and quotes at every offset around the 64-byte edges.
        for pad in 0..140 {
            for tail in [
                &br#"\\"},"b":1}"#[..],
                br#"\"x","b":1}"#,
                br#"\\\"x","b":1}"#,
                br#"","b":true}"#,
                br#"x\n\u0041",  "b":  123 }"#,
            ] {
                let mut line = br#"{"a":""#.to_vec();
                line.extend(std::iter::repeat_n(b'x', pad));
                line.extend_from_slice(tail);
                check(&line);
            }
        }
    }

    #[test]
    fn bitmap_matches_a_byte_loop_on_random_lines() {
        const ALPHABET: &[u8] = b"{}[]:,\"\"\"\\\\ \t\n\x01\x1f0129-.etrufalsnAbz\xc3\xa9";
        let mut rng = super::super::tests::Rng(0x2545_F491_4F6C_DD1D);
        let mut rand = move |n: usize| rng.below(n);
        for _ in 0..20_000 {
            let len = rand(300);
            let line: Vec<u8> = (0..len).map(|_| ALPHABET[rand(ALPHABET.len())]).collect();
            check(&line);
        }
    }
}
