//! x86-64 gathers with AVX2 and AVX-512. Each kernel does as many whole vectors as it can,
//! returns how many voxels it wrote, and leaves the rest (and any vector holding an offset it
//! cannot prove inside the source) to the scalar reference, which then reads — or panics —
//! exactly as it always did. The arithmetic is the scalar reference's, lane by lane.

use std::arch::x86_64::*;

/// Whether every block start `off ≤ last` can be read with 32-bit signed gather indices.
fn fits_i32(len: usize) -> bool {
    len <= i32::MAX as usize / 8
}

/// The even (`0`) or odd (`1`) 32-bit lanes of two 512-bit vectors, in order.
#[target_feature(enable = "avx512f")]
fn lanes_512(parity: i32) -> __m512i {
    let i = |k: i32| 2 * k + parity;
    _mm512_setr_epi32(
        i(0),
        i(1),
        i(2),
        i(3),
        i(4),
        i(5),
        i(6),
        i(7),
        i(8),
        i(9),
        i(10),
        i(11),
        i(12),
        i(13),
        i(14),
        i(15),
    )
}

/// Bilinear gather (see [`super::gather_linear`]), 16 voxels per step.
///
/// # Safety
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn linear_avx512(
    src: &[f32],
    w: usize,
    offsets: &[u32],
    fracs: &[[f32; 2]],
    out: &mut [f32],
) -> usize {
    let n = out.len().min(offsets.len()).min(fracs.len());
    // A block at `off` reads up to `off + w + 1`: every start below `src.len() − w − 1` is inside.
    let Some(limit) = src.len().checked_sub(w + 1) else {
        return 0;
    };
    if !fits_i32(src.len()) {
        return 0;
    }
    let (limit, row) = (_mm512_set1_epi32(limit as i32), _mm512_set1_epi32(w as i32));
    let (even, odd) = (lanes_512(0), lanes_512(1));
    let base = src.as_ptr().cast::<i64>();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: `i + 16 <= n` keeps the 16 offsets, 16 fraction pairs and 16 outputs read and
        // written here inside their slices.
        let offs = unsafe { _mm512_loadu_si512(offsets.as_ptr().add(i).cast()) };
        if _mm512_cmpge_epu32_mask(offs, limit) != 0 {
            break;
        }
        let below = _mm512_add_epi32(offs, row);
        let pairs = |v: __m512i| {
            let (lo, hi) = (_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64::<1>(v));
            // SAFETY: every offset is below `limit`, so both voxels of each pair (`off`,
            // `off + 1`, and `off + w`, `off + w + 1` for the row below) are inside `src`.
            unsafe {
                (
                    _mm512_castsi512_ps(_mm512_i32gather_epi64::<4>(lo, base)),
                    _mm512_castsi512_ps(_mm512_i32gather_epi64::<4>(hi, base)),
                )
            }
        };
        let (ab0, ab1) = pairs(offs);
        let (cd0, cd1) = pairs(below);
        let (a, b) = (
            _mm512_permutex2var_ps(ab0, even, ab1),
            _mm512_permutex2var_ps(ab0, odd, ab1),
        );
        let (c, d) = (
            _mm512_permutex2var_ps(cd0, even, cd1),
            _mm512_permutex2var_ps(cd0, odd, cd1),
        );
        // SAFETY: as above, 32 floats of `fracs` from pair `i`.
        let (f0, f1) = unsafe {
            let f = fracs.as_ptr().add(i).cast::<f32>();
            (_mm512_loadu_ps(f), _mm512_loadu_ps(f.add(16)))
        };
        let fy = _mm512_permutex2var_ps(f0, even, f1);
        let fx = _mm512_permutex2var_ps(f0, odd, f1);
        let top = _mm512_add_ps(a, _mm512_mul_ps(_mm512_sub_ps(b, a), fx));
        let bottom = _mm512_add_ps(c, _mm512_mul_ps(_mm512_sub_ps(d, c), fx));
        let value = _mm512_add_ps(top, _mm512_mul_ps(_mm512_sub_ps(bottom, top), fy));
        // SAFETY: 16 outputs from `i`, inside `out`.
        unsafe { _mm512_storeu_ps(out.as_mut_ptr().add(i), value) };
        i += 16;
    }
    i
}

/// Bilinear gather (see [`super::gather_linear`]), 8 voxels per step.
///
/// # Safety
/// The CPU has AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn linear_avx2(
    src: &[f32],
    w: usize,
    offsets: &[u32],
    fracs: &[[f32; 2]],
    out: &mut [f32],
) -> usize {
    let n = out.len().min(offsets.len()).min(fracs.len());
    let Some(limit) = src.len().checked_sub(w + 1) else {
        return 0;
    };
    if !fits_i32(src.len()) {
        return 0;
    }
    // Unsigned `off < limit` as a signed compare: flip the top bit of both sides.
    let flip = _mm256_set1_epi32(i32::MIN);
    let limit = _mm256_xor_si256(_mm256_set1_epi32(limit as i32), flip);
    let row = _mm256_set1_epi32(w as i32);
    let base = src.as_ptr().cast::<i64>();
    // Pairs [x0 y0 x1 y1 | x2 y2 x3 y3] and [x4 y4 x5 y5 | x6 y6 x7 y7] → x0..x7 (even) or y0..y7.
    let split = |p: __m256, q: __m256| {
        let even = _mm256_shuffle_ps::<0b10_00_10_00>(p, q);
        let odd = _mm256_shuffle_ps::<0b11_01_11_01>(p, q);
        let order = |v: __m256| {
            _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)))
        };
        (order(even), order(odd))
    };
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n` keeps the 8 offsets, fraction pairs and outputs inside their slices.
        let offs = unsafe { _mm256_loadu_si256(offsets.as_ptr().add(i).cast()) };
        let inside = _mm256_cmpgt_epi32(limit, _mm256_xor_si256(offs, flip));
        if _mm256_movemask_epi8(inside) != -1 {
            break;
        }
        let below = _mm256_add_epi32(offs, row);
        let pairs = |v: __m256i| {
            let (lo, hi) = (_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
            // SAFETY: every offset is below `limit`: both voxels of each pair are inside `src`.
            unsafe {
                (
                    _mm256_castsi256_ps(_mm256_i32gather_epi64::<4>(base, lo)),
                    _mm256_castsi256_ps(_mm256_i32gather_epi64::<4>(base, hi)),
                )
            }
        };
        let (ab0, ab1) = pairs(offs);
        let (cd0, cd1) = pairs(below);
        let (a, b) = split(ab0, ab1);
        let (c, d) = split(cd0, cd1);
        // SAFETY: 16 floats of `fracs` from pair `i`.
        let (f0, f1) = unsafe {
            let f = fracs.as_ptr().add(i).cast::<f32>();
            (_mm256_loadu_ps(f), _mm256_loadu_ps(f.add(8)))
        };
        let (fy, fx) = split(f0, f1);
        let top = _mm256_add_ps(a, _mm256_mul_ps(_mm256_sub_ps(b, a), fx));
        let bottom = _mm256_add_ps(c, _mm256_mul_ps(_mm256_sub_ps(d, c), fx));
        let value = _mm256_add_ps(top, _mm256_mul_ps(_mm256_sub_ps(bottom, top), fy));
        // SAFETY: 8 outputs from `i`, inside `out`.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(i), value) };
        i += 8;
    }
    i
}

/// 16 offsets from `i`, if all are below `limit` (else `None`: the scalar path takes over).
///
/// # Safety
/// `i + 16 <= offsets.len()`.
#[target_feature(enable = "avx512f")]
unsafe fn offsets_512(offsets: &[u32], i: usize, limit: __m512i) -> Option<__m512i> {
    // SAFETY: the caller keeps 16 offsets from `i` inside the slice.
    let offs = unsafe { _mm512_loadu_si512(offsets.as_ptr().add(i).cast()) };
    (_mm512_cmpge_epu32_mask(offs, limit) == 0).then_some(offs)
}

/// Nearest gather of 4-byte voxels, 16 per step.
///
/// # Safety
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn nearest_4_avx512(src: &[u32], offsets: &[u32], out: &mut [u32]) -> usize {
    let n = out.len().min(offsets.len());
    if !fits_i32(src.len()) {
        return 0;
    }
    let limit = _mm512_set1_epi32(src.len() as i32);
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: `i + 16 <= n`.
        let Some(offs) = (unsafe { offsets_512(offsets, i, limit) }) else {
            break;
        };
        // SAFETY: every offset is inside `src`; 16 outputs from `i` are inside `out`.
        unsafe {
            let v = _mm512_i32gather_epi32::<4>(offs, src.as_ptr().cast());
            _mm512_storeu_si512(out.as_mut_ptr().add(i).cast(), v);
        }
        i += 16;
    }
    i
}

/// Nearest gather of 8-byte voxels, 8 per step.
///
/// # Safety
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn nearest_8_avx512(src: &[u64], offsets: &[u32], out: &mut [u64]) -> usize {
    let n = out.len().min(offsets.len());
    if !fits_i32(src.len()) {
        return 0;
    }
    let limit = _mm256_set1_epi32(src.len() as i32);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n` keeps the offsets read and the outputs written inside.
        unsafe {
            let offs = _mm256_loadu_si256(offsets.as_ptr().add(i).cast());
            if _mm256_cmpge_epu32_mask(offs, limit) != 0 {
                break;
            }
            // SAFETY: every offset is inside `src`.
            let v = _mm512_i32gather_epi64::<8>(offs, src.as_ptr().cast());
            _mm512_storeu_si512(out.as_mut_ptr().add(i).cast(), v);
        }
        i += 8;
    }
    i
}

/// Narrow voxels (`BYTES` of 1 or 2) read as the 32-bit word that holds them: the word starts
/// at `min(off, len − 4 / BYTES)` voxels (so it never leaves `src`) and is shifted right by the
/// voxels it starts early.
///
/// # Safety
/// The CPU has AVX-512F and AVX-512BW; `src` is `len` voxels of `BYTES` bytes at `base`, with
/// `len ≥ 4 / BYTES`, `i + 16 <= offsets.len()`.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn narrow_words_512<const BYTES: i32>(
    base: *const u8,
    len: usize,
    offsets: &[u32],
    i: usize,
) -> Option<__m512i> {
    let limit = _mm512_set1_epi32(len as i32);
    // SAFETY: the caller keeps 16 offsets from `i` inside the slice.
    let offs = unsafe { offsets_512(offsets, i, limit) }?;
    let last = _mm512_set1_epi32((len - 4 / BYTES as usize) as i32);
    let start = _mm512_min_epu32(offs, last);
    let shift = _mm512_mullo_epi32(_mm512_sub_epi32(offs, start), _mm512_set1_epi32(8 * BYTES));
    // SAFETY: each word starts at voxel `start ≤ len − 4 / BYTES`, so its 4 bytes are inside.
    let words = unsafe { _mm512_i32gather_epi32::<BYTES>(start, base.cast()) };
    Some(_mm512_srlv_epi32(words, shift))
}

/// Nearest gather of 2-byte voxels, 16 per step.
///
/// # Safety
/// The CPU has AVX-512F and AVX-512BW.
#[target_feature(enable = "avx512f,avx512bw")]
pub(super) unsafe fn nearest_2_avx512(src: &[u16], offsets: &[u32], out: &mut [u16]) -> usize {
    let n = out.len().min(offsets.len());
    if src.len() < 2 || !fits_i32(src.len()) {
        return 0;
    }
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: `src` is `src.len() ≥ 2` voxels of 2 bytes; `i + 16 <= n`.
        let Some(v) =
            (unsafe { narrow_words_512::<2>(src.as_ptr().cast(), src.len(), offsets, i) })
        else {
            break;
        };
        // SAFETY: 16 outputs from `i`, inside `out`.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().add(i).cast(), _mm512_cvtepi32_epi16(v)) };
        i += 16;
    }
    i
}

/// Nearest gather of 1-byte voxels, 16 per step.
///
/// # Safety
/// The CPU has AVX-512F and AVX-512BW.
#[target_feature(enable = "avx512f,avx512bw")]
pub(super) unsafe fn nearest_1_avx512(src: &[u8], offsets: &[u32], out: &mut [u8]) -> usize {
    let n = out.len().min(offsets.len());
    if src.len() < 4 || !fits_i32(src.len()) {
        return 0;
    }
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: `src` is `src.len() ≥ 4` bytes; `i + 16 <= n`.
        let Some(v) = (unsafe { narrow_words_512::<1>(src.as_ptr(), src.len(), offsets, i) })
        else {
            break;
        };
        // SAFETY: 16 outputs from `i`, inside `out`.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().add(i).cast(), _mm512_cvtepi32_epi8(v)) };
        i += 16;
    }
    i
}

/// 8 offsets from `i`, if all are below `len` (else `None`).
///
/// # Safety
/// `i + 8 <= offsets.len()`.
#[target_feature(enable = "avx2")]
unsafe fn offsets_256(offsets: &[u32], i: usize, len: usize) -> Option<__m256i> {
    let flip = _mm256_set1_epi32(i32::MIN);
    let limit = _mm256_xor_si256(_mm256_set1_epi32(len as i32), flip);
    // SAFETY: the caller keeps 8 offsets from `i` inside the slice.
    let offs = unsafe { _mm256_loadu_si256(offsets.as_ptr().add(i).cast()) };
    let inside = _mm256_cmpgt_epi32(limit, _mm256_xor_si256(offs, flip));
    (_mm256_movemask_epi8(inside) == -1).then_some(offs)
}

/// Nearest gather of 4-byte voxels, 8 per step.
///
/// # Safety
/// The CPU has AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn nearest_4_avx2(src: &[u32], offsets: &[u32], out: &mut [u32]) -> usize {
    let n = out.len().min(offsets.len());
    if !fits_i32(src.len()) {
        return 0;
    }
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n`.
        let Some(offs) = (unsafe { offsets_256(offsets, i, src.len()) }) else {
            break;
        };
        // SAFETY: every offset is inside `src`; 8 outputs from `i` inside `out`.
        unsafe {
            let v = _mm256_i32gather_epi32::<4>(src.as_ptr().cast(), offs);
            _mm256_storeu_si256(out.as_mut_ptr().add(i).cast(), v);
        }
        i += 8;
    }
    i
}

/// Nearest gather of 2-byte voxels, 8 per step (words as in [`narrow_words_512`]).
///
/// # Safety
/// The CPU has AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn nearest_2_avx2(src: &[u16], offsets: &[u32], out: &mut [u16]) -> usize {
    let n = out.len().min(offsets.len());
    if src.len() < 2 || !fits_i32(src.len()) {
        return 0;
    }
    let last = _mm256_set1_epi32(src.len() as i32 - 2);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n`.
        let Some(offs) = (unsafe { offsets_256(offsets, i, src.len()) }) else {
            break;
        };
        let start = _mm256_min_epu32(offs, last);
        let shift = _mm256_slli_epi32::<4>(_mm256_sub_epi32(offs, start));
        // SAFETY: each word starts at voxel `start ≤ len − 2`: its 4 bytes are inside `src`.
        let words = unsafe { _mm256_i32gather_epi32::<2>(src.as_ptr().cast(), start) };
        let v = _mm256_and_si256(_mm256_srlv_epi32(words, shift), _mm256_set1_epi32(0xffff));
        // 8 × u32 (each ≤ 0xffff) → 8 × u16 in order.
        let packed = _mm256_packus_epi32(v, v);
        let ordered = _mm256_permute4x64_epi64::<0b10_00_10_00>(packed);
        // SAFETY: 8 outputs from `i`, inside `out`.
        unsafe {
            _mm_storeu_si128(
                out.as_mut_ptr().add(i).cast(),
                _mm256_castsi256_si128(ordered),
            );
        }
        i += 8;
    }
    i
}
