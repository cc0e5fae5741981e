//! Run-time choice of instruction set for the hot loops: the augmentation kernels and the
//! float conversions.
//!
//! The hot loops of the transforms (gathers, coordinate maps, smoothing, intensity curves, noise,
//! float conversions) are compiled several times by [`multiversion`], once per instruction set
//! in [`dispatched!`]'s list (AVX-512, AVX2 with FMA, the portable baseline), and the best one
//! the CPU has is chosen the first time a kernel runs.
//!
//! **Results do not depend on the instruction set.** Every version performs the same IEEE-754
//! operations on the same values in the same order: the kernels are written so that the
//! compiler vectorises across voxels, never reassociating a sum, and no version fuses a multiply
//! and an add (Rust never contracts them on its own). The same seed therefore gives bit-identical
//! samples on machines with and without AVX-512 or AVX2; the tests compare every kernel with
//! its scalar reference bit for bit.

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
            // SAFETY: AVX-512F is enabled in this version; the kernel checks every offset
            // against `src` before it reads.
            "x86_64+avx512f" => unsafe { x86::linear_avx512(src, w, offsets, fracs, out) },
            // SAFETY: AVX2 is enabled in this version; the kernel checks every offset.
            "x86_64+avx2" => unsafe { x86::linear_avx2(src, w, offsets, fracs, out) },
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

/// `out[i] = src[offsets[i]]` for any plain type of 1, 2, 4 or 8 bytes (other sizes one voxel at
/// a time).
///
/// # Panics
/// If an offset is outside `src`.
pub(crate) fn gather_nearest<T: bytemuck::Pod>(src: &[T], offsets: &[u32], out: &mut [T]) {
    let out = &mut out[..offsets.len()];
    match size_of::<T>() {
        1 => nearest_1(
            bytemuck::cast_slice(src),
            offsets,
            bytemuck::cast_slice_mut(out),
        ),
        2 if align_of::<T>() == 2 => nearest_2(
            bytemuck::cast_slice(src),
            offsets,
            bytemuck::cast_slice_mut(out),
        ),
        4 if align_of::<T>() == 4 => nearest_4(
            bytemuck::cast_slice(src),
            offsets,
            bytemuck::cast_slice_mut(out),
        ),
        8 if align_of::<T>() == 8 => nearest_8(
            bytemuck::cast_slice(src),
            offsets,
            bytemuck::cast_slice_mut(out),
        ),
        _ => nearest_scalar(src, offsets, out),
    }
}

/// The reference of [`gather_nearest`].
#[inline(always)]
pub(crate) fn nearest_scalar<T: Copy>(src: &[T], offsets: &[u32], out: &mut [T]) {
    for (o, &off) in out.iter_mut().zip(offsets) {
        *o = src[off as usize];
    }
}

/// One dispatched nearest gather per voxel size: `$name(src, offsets, out)` runs the kernels
/// listed per target (each returning how many voxels it did), then the scalar rest.
macro_rules! nearest_kernel {
    ($name:ident, $t:ty, [$($target:literal => $kernel:path),*]) => {
        dispatched! {
            fn $name(src: &[$t], offsets: &[u32], out: &mut [$t]) {
                let done: usize = multiversion::target::match_target! {
                    $(
                        // SAFETY: the kernel's feature is enabled in this version; it checks
                        // every offset against `src` before it reads.
                        $target => unsafe { $kernel(src, offsets, out) },
                    )*
                    _ => 0,
                };
                nearest_scalar(src, &offsets[done..], &mut out[done..]);
            }
        }
    };
}

nearest_kernel!(nearest_1, u8, ["x86_64+avx512f" => x86::nearest_1_avx512]);
nearest_kernel!(nearest_2, u16, ["x86_64+avx512f" => x86::nearest_2_avx512, "x86_64+avx2" => x86::nearest_2_avx2]);
nearest_kernel!(nearest_4, u32, ["x86_64+avx512f" => x86::nearest_4_avx512, "x86_64+avx2" => x86::nearest_4_avx2]);
nearest_kernel!(nearest_8, u64, ["x86_64+avx512f" => x86::nearest_8_avx512]);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A plane of `h × w` distinct-ish values and `n` offsets into it, some at its very end.
    fn plane_and_offsets(
        max_side: usize,
        margin: usize,
    ) -> impl Strategy<Value = (usize, usize, Vec<u32>)> {
        (2..max_side, 2..max_side, 0..200usize).prop_flat_map(move |(h, w, n)| {
            let last = (h * w - margin) as u32;
            let offsets = prop::collection::vec(
                prop_oneof![0..=last, Just(last), Just(last.saturating_sub(1)), Just(0)],
                n,
            );
            (Just(h), Just(w), offsets)
        })
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|f| f.to_bits()).collect()
    }

    proptest! {
        #[test]
        fn linear_gather_equals_scalar_bit_for_bit(
            (h, w, offsets) in plane_and_offsets(40, 0),
            seed in any::<u32>(),
        ) {
            // Interior blocks only: a top-left voxel with a right and a lower neighbour.
            let offsets: Vec<u32> = offsets
                .into_iter()
                .map(|o| {
                    let (y, x) = ((o as usize / w).min(h - 2), (o as usize % w).min(w - 2));
                    (y * w + x) as u32
                })
                .collect();
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
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") {
                let mut avx2 = vec![0.0; offsets.len()];
                // SAFETY: the CPU has AVX2, checked just above.
                let done = unsafe { x86::linear_avx2(&src, w, &offsets, &fracs, &mut avx2) };
                linear_scalar(&src, w, &offsets[done..], &fracs[done..], &mut avx2[done..]);
                prop_assert_eq!(bits(&avx2), bits(&slow));
            }
        }

        #[test]
        fn nearest_gathers_equal_scalar_for_every_size((h, w, offsets) in plane_and_offsets(40, 1)) {
            let n = h * w;
            fn check<T: bytemuck::Pod + PartialEq + std::fmt::Debug>(
                src: &[T],
                offsets: &[u32],
            ) -> Result<(), TestCaseError> {
                let mut fast = vec![T::zeroed(); offsets.len()];
                let mut slow = vec![T::zeroed(); offsets.len()];
                gather_nearest(src, offsets, &mut fast);
                nearest_scalar(src, offsets, &mut slow);
                prop_assert_eq!(fast, slow);
                Ok(())
            }
            check(&(0..n).map(|i| (i * 7) as u8).collect::<Vec<_>>(), &offsets)?;
            check(&(0..n).map(|i| (i * 4099) as u16).collect::<Vec<_>>(), &offsets)?;
            check(&(0..n).map(|i| (i as u32).wrapping_mul(2_654_435_761)).collect::<Vec<_>>(), &offsets)?;
            check(&(0..n).map(|i| (i as u64) << 40 | i as u64).collect::<Vec<_>>(), &offsets)?;
            check(&(0..n).map(|i| i as f32 * 0.5).collect::<Vec<_>>(), &offsets)?;
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") {
                let src: Vec<u16> = (0..n).map(|i| (i * 4099) as u16).collect();
                let mut avx2 = vec![0u16; offsets.len()];
                // SAFETY: the CPU has AVX2, checked just above.
                let done = unsafe { x86::nearest_2_avx2(&src, &offsets, &mut avx2) };
                nearest_scalar(&src, &offsets[done..], &mut avx2[done..]);
                let mut slow = vec![0u16; offsets.len()];
                nearest_scalar(&src, &offsets, &mut slow);
                prop_assert_eq!(&avx2, &slow);
                let src: Vec<u32> = (0..n).map(|i| i as u32 * 3).collect();
                let mut avx2 = vec![0u32; offsets.len()];
                // SAFETY: as above.
                let done = unsafe { x86::nearest_4_avx2(&src, &offsets, &mut avx2) };
                nearest_scalar(&src, &offsets[done..], &mut avx2[done..]);
                prop_assert_eq!(avx2, offsets.iter().map(|&o| o * 3).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    #[should_panic(expected = "index out of bounds")]
    fn an_offset_outside_the_plane_panics_instead_of_reading_it() {
        let src = vec![1u16; 64];
        let mut offsets = vec![3u32; 32];
        offsets[20] = 64;
        gather_nearest(&src, &offsets, &mut [0u16; 32]);
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
