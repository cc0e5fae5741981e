//! Run-time choice of instruction set for the hot loops: the augmentation kernels and the
//! float conversions.
//!
//! The hot loops of the transforms (coordinate maps, the elastic field's smoothing and
//! displacement, the interpolation tables and gathers, the gamma curve, MotionBlur's filter) and
//! the unit conversions are compiled several times by [`multiversion`], once per instruction set
//! in `dispatched!`'s list (AVX-512, AVX2 with FMA, NEON, the portable baseline), and the best
//! one the CPU has is chosen the first time a kernel runs. One kernel is written by hand with
//! AVX-512 intrinsics (`x86`: the bilinear gather's row loads and permutes).
//!
//! **Results do not depend on the instruction set.** Every version performs the same IEEE-754
//! operations on the same values in the same order: the dispatched loops are one source that the
//! compiler vectorises across voxels (it never reassociates a floating-point sum), no version
//! fuses a multiply and an add (Rust never contracts them on its own), and the hand-written kernel
//! does the scalar reference's operations lane by lane (tested against it bit for bit). The same
//! seed therefore gives bit-identical samples on machines with and without AVX-512 or AVX2.

/// Compiles the function that follows once per supported instruction set, dispatching at run
/// time (one atomic load per call after the first).
macro_rules! dispatched {
    ($($item:tt)*) => {
        #[multiversion::multiversion(targets(
            "x86_64+avx512f+avx512bw+avx512vl+avx512dq+avx2+fma",
            "x86_64+avx2+fma",
            "aarch64+neon",
        ))]
        $($item)*
    };
}
pub(crate) use dispatched;

dispatched! {
    /// The instruction set the augmentation kernels run with on this CPU: `"avx512"`,
    /// `"avx2"`, `"neon"` or `"portable"`.
    ///
    /// ```
    /// let level = voxload::simd::kernel_level();
    /// assert!(["avx512", "avx2", "neon", "portable"].contains(&level));
    /// ```
    #[must_use]
    pub fn kernel_level() -> &'static str {
        multiversion::target::match_target! {
            "x86_64+avx512f" => "avx512",
            "x86_64+avx2" => "avx2",
            "aarch64+neon" => "neon",
            _ => "portable",
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86;

dispatched! {
    /// `out[i]` = the bilinear interpolation of the 2×2 block of `src` (a plane of row length
    /// `w`) whose top-left voxel is `offsets[i]`, with fractions `fracs[i] = [fy, fx]`:
    /// `top + (bottom − top)·fy` where `top = a + (b − a)·fx` and `bottom = c + (d − c)·fx`.
    ///
    /// # Panics
    /// If a block is not inside `src`, or the slices' lengths differ.
    pub(crate) fn gather_linear(src: &[f32], w: usize, offsets: &[u32], fracs: &[[f32; 2]], out: &mut [f32]) {
        assert!(offsets.len() == out.len() && fracs.len() == out.len(), "one offset and fraction per output");
        let done: usize = multiversion::target::match_target! {
            // SAFETY: AVX-512F is enabled in this version; the kernel checks that every
            // vector it loads is inside `src`.
            "x86_64+avx512f" => unsafe { x86::linear_avx512(src, w, offsets, fracs, out) },
            _ => 0,
        };
        linear_scalar(src, w, &offsets[done..], &fracs[done..], &mut out[done..]);
    }
}

/// The reference of [`gather_linear`], one voxel at a time.
#[inline(always)]
pub(crate) fn linear_scalar(
    src: &[f32],
    w: usize,
    offsets: &[u32],
    fracs: &[[f32; 2]],
    out: &mut [f32],
) {
    for ((o, &off), &[fy, fx]) in out.iter_mut().zip(offsets).zip(fracs) {
        let i = off as usize;
        let block = &src[i..i + w + 2];
        let (a, b, c, d) = (block[0], block[1], block[w], block[w + 1]);
        let top = a + (b - a) * fx;
        let bottom = c + (d - c) * fx;
        *o = top + (bottom - top) * fy;
    }
}

dispatched! {
    /// `out[i] = src[offsets[i]]`. Hardware gathers were measured slower than this loop on the
    /// AMD EPYC of BENCHMARKS.md (0.6–0.7x for Rescale and Elastic), so every version is this
    /// loop, compiled for its instruction set.
    ///
    /// # Panics
    /// If an offset is outside `src`.
    pub(crate) fn gather_nearest<T: Copy>(src: &[T], offsets: &[u32], out: &mut [T]) {
        for (o, &off) in out.iter_mut().zip(offsets) {
            *o = src[off as usize];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A plane of `h × w` and offsets of interior blocks along a path with steps of up to
    /// `max_step` voxels (so that runs of 16 fall inside one window, as a rescale's rows do),
    /// with occasional jumps anywhere (which must take the scalar path).
    fn plane_and_path() -> impl Strategy<Value = (usize, usize, Vec<u32>)> {
        (
            2..48usize,
            2..80usize,
            0..300usize,
            0.0..2.5f64,
            any::<u64>(),
        )
            .prop_map(|(h, w, n, max_step, seed)| {
                let mut state = seed | 1;
                let mut next = move || {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state
                };
                let interior = |o: u64| {
                    let o = o as usize % (h * w);
                    let (y, x) = ((o / w).min(h - 2), (o % w).min(w - 2));
                    (y * w + x) as u32
                };
                let mut at = next() % (h * w) as u64;
                let offsets = (0..n)
                    .map(|_| {
                        at = if next() % 97 == 0 {
                            next()
                        } else {
                            at + (next() % 1000) * (max_step * 1000.0) as u64 / 1_000_000
                        };
                        interior(at)
                    })
                    .collect();
                (h, w, offsets)
            })
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|f| f.to_bits()).collect()
    }

    proptest! {
        #[test]
        fn linear_gather_equals_scalar_bit_for_bit((h, w, offsets) in plane_and_path(), seed in any::<u32>()) {
            let src: Vec<f32> = (0..h * w)
                .map(|i| ((i as u32).wrapping_mul(2_654_435_761) ^ seed) as f32 * 1e-9)
                .collect();
            let fracs: Vec<[f32; 2]> = (0..offsets.len())
                .map(|i| [(i % 17) as f32 / 17.0, (i % 29) as f32 / 29.0])
                .collect();
            let mut fast = vec![0.0; offsets.len()];
            let mut slow = vec![0.0; offsets.len()];
            gather_linear(&src, w, &offsets, &fracs, &mut fast);
            linear_scalar(&src, w, &offsets, &fracs, &mut slow);
            prop_assert_eq!(bits(&fast), bits(&slow));
        }
    }

    #[test]
    fn a_rescaled_row_takes_the_vector_path_and_equals_scalar() {
        let (h, w) = (8, 200);
        let src: Vec<f32> = (0..h * w).map(|i| (i as f32).sqrt()).collect();
        // A row scaled by 1.2: 160 blocks over 192 voxels of row 3.
        let offsets: Vec<u32> = (0..160).map(|i| (3 * w + i * 6 / 5) as u32).collect();
        let fracs: Vec<[f32; 2]> = (0..160).map(|i| [0.25, (i % 5) as f32 / 5.0]).collect();
        let (mut fast, mut slow) = (vec![0.0; 160], vec![0.0; 160]);
        gather_linear(&src, w, &offsets, &fracs, &mut fast);
        linear_scalar(&src, w, &offsets, &fracs, &mut slow);
        assert_eq!(bits(&fast), bits(&slow));
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512f") {
            let mut direct = vec![0.0; 160];
            // SAFETY: the CPU has AVX-512F, checked just above.
            let done = unsafe { x86::linear_avx512(&src, w, &offsets, &fracs, &mut direct) };
            assert_eq!((done, bits(&direct)), (160, bits(&slow)));
        }
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn a_block_outside_the_plane_panics_instead_of_reading_it() {
        let src = vec![1.0f32; 64];
        let mut offsets = vec![3u32; 32];
        offsets[20] = 63;
        gather_linear(&src, 8, &offsets, &[[0.5; 2]; 32], &mut [0.0; 32]);
    }

    #[test]
    fn the_level_names_an_instruction_set_this_cpu_has() {
        let level = kernel_level();
        #[cfg(target_arch = "x86_64")]
        {
            match level {
                "avx512" => assert!(std::is_x86_feature_detected!("avx512bw")),
                "avx2" => assert!(std::is_x86_feature_detected!("avx2")),
                other => assert_eq!(other, "portable"),
            }
            // AVX2 and FMA present: never the portable loops.
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                assert_ne!(level, "portable");
            }
        }
        assert!(!level.is_empty());
    }
}
