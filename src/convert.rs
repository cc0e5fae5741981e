//! Moving voxels into batch arrays: integer voxels to `float32` images in `[0, 1]` (`v / MAX` of
//! the voxel type, correctly rounded, as fast as the CPU allows), and copies whose stores
//! bypass the caches.
//!
//! The loader turns every image window into `float32` this way (`uint8 / 255`,
//! `uint16 / 65535`). A division per voxel costs more than reading the window, and multiplying
//! by the rounded reciprocal is wrong in the last bit for about half the `uint8` values. Here
//! `1 / MAX` is split into a power-of-two head `hi` and a tail `lo`: `v · hi` is exact, so `v · hi + v · lo` is rounded once and lands on the same
//! `float32` as the division for every input — checked exhaustively for all 256 `uint8` and all
//! 65 536 `uint16` values. Two multiplies and an add vectorise well; the loop is compiled for
//! AVX-512, AVX2 and the baseline and chosen at run time ([`crate::simd`]), with identical
//! results.
//!
//! Internal to the crate (the loader's workers call it); its unit tests check every `uint8` and
//! `uint16` value against the division, and the streamed forms against the plain ones.

/// Voxel types whose values scale to `[0, 1]` by their maximum.
pub trait UnitScale: Copy {
    /// Writes `src[i] / MAX` to `dst[i]`, rounded to the nearest `float32` (exactly as the
    /// division would), for `i < min(src.len(), dst.len())`.
    fn unit_f32(src: &[Self], dst: &mut [f32]);

    /// As [`UnitScale::unit_f32`], bypassing the caches where the CPU can (see
    /// [`unit_f32_streaming`]).
    fn unit_f32_streaming(src: &[Self], dst: &mut [f32]) {
        Self::unit_f32(src, dst);
    }
}

/// `src[i] / MAX` into `dst[i]`, exactly rounded; see the [module docs](self).
pub fn unit_f32<T: UnitScale>(src: &[T], dst: &mut [f32]) {
    T::unit_f32(src, dst);
}

/// `src[i] / MAX` into `dst[i]` like [`unit_f32`], with non-temporal stores where the CPU has
/// them (x86-64 with AVX2): the output bypasses the caches instead of evicting what is in them,
/// and is not read from memory before being overwritten. For outputs that are large and read
/// much later by another thread (the loader's batch arrays); results are identical.
pub fn unit_f32_streaming<T: UnitScale>(src: &[T], dst: &mut [f32]) {
    T::unit_f32_streaming(src, dst);
}

/// Copies `src` into `dst` (their common prefix) with non-temporal stores where the CPU has
/// them (x86-64 with AVX2), like [`unit_f32_streaming`]: for large destinations read much later
/// by another thread, such as a batch array filled from an augmented sample.
pub fn copy_streaming<T: bytemuck::Pod>(src: &[T], dst: &mut [T]) {
    let n = src.len().min(dst.len());
    let src: &[u8] = bytemuck::cast_slice(&src[..n]);
    let dst: &mut [u8] = bytemuck::cast_slice_mut(&mut dst[..n]);
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { stream_bytes_avx2(src, dst) };
        return;
    }
    dst.copy_from_slice(src);
}

/// `dst.copy_from_slice(src)` (equal lengths) with 32-byte non-temporal stores; the unaligned
/// head and the tail are copied normally.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn stream_bytes_avx2(src: &[u8], dst: &mut [u8]) {
    use std::arch::x86_64::{__m256i, _mm256_loadu_si256, _mm256_stream_si256, _mm_sfence};
    let n = src.len().min(dst.len());
    let head = dst.as_ptr().align_offset(32).min(n);
    let end = head + (n - head) / 32 * 32;
    dst[..head].copy_from_slice(&src[..head]);
    for i in (head..end).step_by(32) {
        // SAFETY: `i + 32 <= n` for both slices, and `dst[i]` is 32-byte aligned.
        unsafe {
            let v = _mm256_loadu_si256(src.as_ptr().add(i).cast::<__m256i>());
            _mm256_stream_si256(dst.as_mut_ptr().add(i).cast::<__m256i>(), v);
        }
    }
    _mm_sfence();
    dst[end..n].copy_from_slice(&src[end..n]);
}

/// `1 / 255` as the head `2⁻⁸` and the tail `1/255 − 2⁻⁸` (rounded).
const U8_SPLIT: (f32, f32) = (1.0 / 256.0, (1.0 / 255.0 - 1.0 / 256.0) as f32);

/// `1 / 65535` as the head `2⁻¹⁶` and the tail `1/65535 − 2⁻¹⁶` (rounded).
const U16_SPLIT: (f32, f32) = (1.0 / 65536.0, (1.0 / 65535.0 - 1.0 / 65536.0) as f32);

impl UnitScale for u8 {
    fn unit_f32(src: &[u8], dst: &mut [f32]) {
        split_scale(src, dst, U8_SPLIT);
    }

    fn unit_f32_streaming(src: &[u8], dst: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { stream_u8_avx2(src, dst, U8_SPLIT) };
            return;
        }
        split_scale(src, dst, U8_SPLIT);
    }
}

impl UnitScale for u16 {
    fn unit_f32(src: &[u16], dst: &mut [f32]) {
        split_scale(src, dst, U16_SPLIT);
    }

    fn unit_f32_streaming(src: &[u16], dst: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { stream_u16_avx2(src, dst, U16_SPLIT) };
            return;
        }
        split_scale(src, dst, U16_SPLIT);
    }
}

/// An AVX2 loop of [`split_scale_portable`] with non-temporal stores: eight voxels at a time
/// widened to `i32` (`$widen`), converted exactly to `f32`, scaled, streamed to an aligned
/// destination; the unaligned head and the tail go through the portable loop.
macro_rules! streaming_kernel {
    ($name:ident, $t:ty, $widen:ident) => {
        /// # Safety
        /// The CPU must support AVX2.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        unsafe fn $name(src: &[$t], dst: &mut [f32], (hi, lo): (f32, f32)) {
            use std::arch::x86_64::{
                _mm256_add_ps, _mm256_cvtepi32_ps, _mm256_mul_ps, _mm256_set1_ps, _mm256_stream_ps,
                _mm_sfence,
            };
            let n = src.len().min(dst.len());
            let (src, dst) = (&src[..n], &mut dst[..n]);
            let head = dst.as_ptr().align_offset(32).min(n);
            let end = head + (n - head) / 8 * 8;
            split_scale_portable(&src[..head], &mut dst[..head], (hi, lo));
            let (vh, vl) = (_mm256_set1_ps(hi), _mm256_set1_ps(lo));
            for i in (head..end).step_by(8) {
                // SAFETY: `i + 8 <= n` for both slices, and `dst[i]` is 32-byte aligned
                // (`head` aligns it, steps are 32 bytes).
                unsafe {
                    let x = _mm256_cvtepi32_ps($widen(src.as_ptr().add(i)));
                    let y = _mm256_add_ps(_mm256_mul_ps(x, vh), _mm256_mul_ps(x, vl));
                    _mm256_stream_ps(dst.as_mut_ptr().add(i), y);
                }
            }
            // Orders the streamed stores before any later store (the batch's hand-over).
            _mm_sfence();
            split_scale_portable(&src[end..], &mut dst[end..], (hi, lo));
        }
    };
}

/// Eight `uint8` at `p` widened to `i32` lanes.
///
/// # Safety
/// AVX2, and 8 readable bytes at `p`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn widen_u8(p: *const u8) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::{__m128i, _mm256_cvtepu8_epi32, _mm_loadl_epi64};
    // SAFETY: the caller guarantees 8 readable bytes.
    _mm256_cvtepu8_epi32(unsafe { _mm_loadl_epi64(p.cast::<__m128i>()) })
}

/// Eight `uint16` at `p` widened to `i32` lanes.
///
/// # Safety
/// AVX2, and 8 readable values at `p`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn widen_u16(p: *const u16) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::{__m128i, _mm256_cvtepu16_epi32, _mm_loadu_si128};
    // SAFETY: the caller guarantees 16 readable bytes.
    _mm256_cvtepu16_epi32(unsafe { _mm_loadu_si128(p.cast::<__m128i>()) })
}

streaming_kernel!(stream_u8_avx2, u8, widen_u8);
streaming_kernel!(stream_u16_avx2, u16, widen_u16);
impl UnitScale for u32 {
    fn unit_f32(src: &[u32], dst: &mut [f32]) {
        for (o, &v) in dst.iter_mut().zip(src) {
            *o = (f64::from(v) / f64::from(u32::MAX)) as f32;
        }
    }
}

impl UnitScale for u64 {
    fn unit_f32(src: &[u64], dst: &mut [f32]) {
        for (o, &v) in dst.iter_mut().zip(src) {
            *o = (v as f64 / u64::MAX as f64) as f32;
        }
    }
}

impl UnitScale for f32 {
    /// Floats are images already: copied unchanged.
    fn unit_f32(src: &[f32], dst: &mut [f32]) {
        let n = src.len().min(dst.len());
        dst[..n].copy_from_slice(&src[..n]);
    }
}

crate::simd::dispatched! {
    /// `dst[i] = x·hi + x·lo` with `x = src[i]`, in the widest registers the CPU has. Rust
    /// never fuses the multiply and add, so every version gives the portable loop's results.
    fn split_scale<T: Copy + Into<f32>>(src: &[T], dst: &mut [f32], split: (f32, f32)) {
        split_scale_portable(src, dst, split);
    }
}

#[inline(always)]
fn split_scale_portable<T: Copy + Into<f32>>(src: &[T], dst: &mut [f32], (hi, lo): (f32, f32)) {
    for (o, &v) in dst.iter_mut().zip(src) {
        let x: f32 = v.into();
        *o = x * hi + x * lo;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value of the type, converted both ways: the split must equal the division.
    fn exhaustive<T: UnitScale + Into<f32>>(all: Vec<T>, max: f32) {
        let mut fast = vec![0.0f32; all.len()];
        unit_f32(&all, &mut fast);
        // Streamed, at every alignment of the destination, with a tail.
        for shift in 0..8 {
            let mut streamed = vec![-1.0f32; all.len() + 8];
            let dst = &mut streamed[shift..shift + all.len() - shift.min(3)];
            unit_f32_streaming(&all, dst);
            for (a, b) in dst.iter().zip(&fast) {
                assert_eq!(a.to_bits(), b.to_bits(), "streamed, shift {shift}");
            }
            assert!(streamed[shift + all.len() - shift.min(3)..]
                .iter()
                .all(|&v| v == -1.0));
        }
        let mut portable = vec![0.0f32; all.len()];
        let split = if max == 255.0 { U8_SPLIT } else { U16_SPLIT };
        split_scale_portable(&all, &mut portable, split);
        for (i, &v) in all.iter().enumerate() {
            let want = v.into() / max;
            assert_eq!(fast[i].to_bits(), want.to_bits(), "value {}", v.into());
            assert_eq!(portable[i].to_bits(), want.to_bits(), "value {}", v.into());
        }
    }

    #[test]
    fn every_u8_equals_the_division() {
        exhaustive((0..=255u8).collect(), 255.0);
    }

    #[test]
    fn every_u16_equals_the_division() {
        exhaustive((0..=u16::MAX).collect(), 65535.0);
    }

    #[test]
    fn the_split_constants_are_what_they_claim() {
        for ((hi, lo), max) in [(U8_SPLIT, 255.0f64), (U16_SPLIT, 65535.0)] {
            // The head is a power of two, so `v · hi` is exact.
            assert_eq!(hi.to_bits() & 0x7F_FFFF, 0, "head of 1/{max}");
            assert_eq!(lo, (1.0 / max - f64::from(hi)) as f32, "tail of 1/{max}");
        }
        // A negative control: multiplying by the rounded reciprocal is not exact.
        let r = 1.0f32 / 255.0;
        assert!((0..=255u8).any(|v| f32::from(v) * r != f32::from(v) / 255.0));
    }

    #[test]
    fn streamed_copies_equal_plain_copies_at_every_alignment() {
        let src: Vec<u16> = (0..3000u16).map(|v| v.wrapping_mul(40_503)).collect();
        for (from, to, len) in [
            (0, 0, 3000),
            (1, 0, 2999),
            (0, 3, 2990),
            (5, 7, 17),
            (2, 1, 0),
        ] {
            let mut dst = vec![0xABCDu16; 3010];
            copy_streaming(&src[from..from + len], &mut dst[to..to + len]);
            assert_eq!(
                &dst[to..to + len],
                &src[from..from + len],
                "{from} {to} {len}"
            );
            assert!(dst[..to]
                .iter()
                .chain(&dst[to + len..])
                .all(|&v| v == 0xABCD));
        }
    }

    #[test]
    fn shorter_destination_or_source_converts_the_common_prefix() {
        let mut out = [7.0f32; 3];
        unit_f32(&[255u8, 0], &mut out);
        assert_eq!(out, [1.0, 0.0, 7.0]);
        let mut short = [0.0f32; 1];
        unit_f32(&[51u8, 102], &mut short);
        assert_eq!(short, [0.2]);
    }
}
