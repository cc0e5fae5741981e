//! x86-64 kernels written with AVX-512 intrinsics. A kernel does as many whole vectors as it
//! can, returns how many voxels it wrote, and leaves the rest (and any vector it cannot prove
//! inside the source) to the scalar reference, which then reads — or panics — exactly as it
//! always did. The arithmetic is the scalar reference's, lane by lane.

use std::arch::x86_64::*;

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

/// Bilinear gather (see [`super::gather_linear`]), 16 voxels per step, without hardware
/// gathers (slower than scalar loads on the AMD cores this was measured on): when the 16 blocks
/// of a step start within 30 voxels of the first one — scaling, small displacements, the rows
/// of a mild rotation — both source rows are loaded as two 16-float vectors each and the four
/// corners picked out by permutes; any other step (or one whose window would leave `src`) is
/// done by the scalar reference, voxel by voxel.
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
    let (even, odd) = (lanes_512(0), lanes_512(1));
    let (span, one) = (_mm512_set1_epi32(30), _mm512_set1_epi32(1));
    let mut i = 0;
    while i + 16 <= n {
        let first = offsets[i] as usize;
        // SAFETY: `i + 16 <= n` keeps the 16 offsets inside the slice.
        let offs = unsafe { _mm512_loadu_si512(offsets.as_ptr().add(i).cast()) };
        let rel = _mm512_sub_epi32(offs, _mm512_set1_epi32(first as i32));
        // Both windows (32 voxels at `first` and at `first + w`) inside `src`, and every block
        // starting within the first 31 voxels of its window (a negative `rel` is a large unsigned one).
        let inside = first
            .checked_add(w + 32)
            .is_some_and(|end| end <= src.len());
        if !inside || _mm512_cmpgt_epu32_mask(rel, span) != 0 {
            let range = i..i + 16;
            super::linear_scalar(
                src,
                w,
                &offsets[range.clone()],
                &fracs[range.clone()],
                &mut out[range],
            );
            i += 16;
            continue;
        }
        let next = _mm512_add_epi32(rel, one);
        // SAFETY: `first + w + 32 <= src.len()`: the four 16-float loads are inside `src`.
        let (t0, t1, b0, b1) = unsafe {
            let p = src.as_ptr().add(first);
            (
                _mm512_loadu_ps(p),
                _mm512_loadu_ps(p.add(16)),
                _mm512_loadu_ps(p.add(w)),
                _mm512_loadu_ps(p.add(w + 16)),
            )
        };
        let a = _mm512_permutex2var_ps(t0, rel, t1);
        let b = _mm512_permutex2var_ps(t0, next, t1);
        let c = _mm512_permutex2var_ps(b0, rel, b1);
        let d = _mm512_permutex2var_ps(b0, next, b1);
        // SAFETY: `i + 16 <= n`: 32 floats of `fracs` from pair `i`.
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
