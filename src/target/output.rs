//! Writing targets and weights out: the centre crop of `MODEL.OUTPUT_SIZE` as a region of the
//! label window, and row writers that fill a `(C, D', H', W')` `float32` buffer with the
//! cropped rows of a full-window map, in short runs staged in the cache and streamed to the
//! destination (which is usually a batch array read much later by another thread).

use crate::{Error, Result};

/// The region of a `(D, H, W)` window that targets and weights are written for: the whole
/// window, or its centre crop to `MODEL.OUTPUT_SIZE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Crop {
    /// The window's shape.
    pub(crate) full: [usize; 3],
    /// The first voxel of the region on each axis.
    pub(crate) lo: [usize; 3],
    /// The region's shape.
    pub(crate) shape: [usize; 3],
}

impl Crop {
    /// The whole of a window of shape `full`.
    pub(crate) fn whole(full: [usize; 3]) -> Crop {
        Crop {
            full,
            lo: [0; 3],
            shape: full,
        }
    }

    /// The centre crop of a window of shape `full` to `output` (`None`: the whole window): on
    /// each axis from `(full − output) / 2`, rounded down, as PyTC's `center_crop`.
    ///
    /// # Errors
    /// [`Error::Geometry`] when `output` is larger than the window on some axis.
    pub(crate) fn centre(full: [usize; 3], output: Option<[usize; 3]>) -> Result<Crop> {
        let Some(shape) = output else {
            return Ok(Crop::whole(full));
        };
        if (0..3).any(|a| shape[a] > full[a]) {
            return Err(Error::Geometry(format!(
                "output size {shape:?} is larger than the target's {full:?}"
            )));
        }
        Ok(Crop {
            full,
            lo: std::array::from_fn(|a| (full[a] - shape[a]) / 2),
            shape,
        })
    }

    /// Whether the region is the whole window.
    pub(crate) fn is_whole(&self) -> bool {
        self.shape == self.full
    }

    /// Voxels in the whole window.
    pub(crate) fn full_voxels(&self) -> usize {
        self.full.iter().product()
    }

    /// Voxels in the region.
    pub(crate) fn voxels(&self) -> usize {
        self.shape.iter().product()
    }

    /// The `(C, D', H', W')` shape of a `channels`-channel array of the region.
    pub(crate) fn dims(&self, channels: usize) -> [usize; 4] {
        [channels, self.shape[0], self.shape[1], self.shape[2]]
    }
}

/// Values staged before they are streamed out (16 KiB, well inside L1) by the portable build,
/// which fences its streamed stores once per run.
const RUN: usize = 4096;

/// Values staged per run by the AVX2 and AVX-512 builds, which stream them with one fence at
/// the end: short runs let the streamed stores of one run drain while the next is computed.
const RUN_STREAMED: usize = 512;

/// Floats per cache line: runs are streamed to line-aligned parts of the output, so no cache
/// line is written partly by streaming stores and partly by plain ones.
const LINE: usize = 16;

/// Fills `out` (`channels` channels of `crop`'s region, C order) run by run: `fill(channel,
/// start, run)` writes into `run` the values of the region's voxels from `start` on, `start`
/// the index of the run's first voxel in the whole window (one channel's worth), and `run` no
/// longer than the rest of the region's row. The values are staged in the cache and streamed
/// to `out` in line-aligned runs, with non-temporal stores where the CPU has them.
///
/// `out` must hold `channels · crop.voxels()` values.
pub(crate) fn write_rows(
    out: &mut [f32],
    crop: &Crop,
    channels: usize,
    fill: impl FnMut(usize, usize, &mut [f32]),
) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F, checked just above.
        unsafe { write_rows_avx512(out, crop, channels, fill) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { write_rows_avx2(out, crop, channels, fill) };
        return;
    }
    let mut staged = [0f32; RUN];
    rows(out, crop, channels, &mut staged, fill, |run, dst| {
        crate::convert::copy_streaming(run, dst);
    });
}

/// A build of [`write_rows`] for an x86-64 feature: `fill` compiled with it (the per-voxel
/// loops of the fills run in its registers), each run streamed by non-temporal stores of
/// `$lanes` floats (a whole cache line at a time with AVX-512).
macro_rules! streamed_build {
    ($name:ident, $feature:literal, $lanes:literal, $load:ident, $stream:ident) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        fn $name(
            out: &mut [f32],
            crop: &Crop,
            channels: usize,
            fill: impl FnMut(usize, usize, &mut [f32]),
        ) {
            use std::arch::x86_64::{_mm_sfence, $load, $stream};
            const BYTES: usize = $lanes * size_of::<f32>();
            let mut staged = [0f32; RUN_STREAMED];
            rows(out, crop, channels, &mut staged, fill, |run, dst| {
                // The first run (unless aligned) and the last one's tail are stored plainly.
                let streamed = if dst.as_ptr().align_offset(BYTES) == 0 {
                    dst.len() / $lanes * $lanes
                } else {
                    0
                };
                let (body, tail) = dst.split_at_mut(streamed);
                for (d, v) in body.chunks_exact_mut($lanes).zip(run.chunks_exact($lanes)) {
                    // SAFETY: the feature is enabled here; `v` holds and `d` has room for
                    // `$lanes` floats, and `d` is aligned to their size (`dst` is, and each
                    // block is that long).
                    unsafe { $stream(d.as_mut_ptr(), $load(v.as_ptr())) };
                }
                tail.copy_from_slice(&run[streamed..]);
            });
            // Orders the streamed stores before any later store (the batch's hand-over).
            _mm_sfence();
        }
    };
}

streamed_build!(
    write_rows_avx2,
    "avx2",
    8,
    _mm256_loadu_ps,
    _mm256_stream_ps
);
streamed_build!(
    write_rows_avx512,
    "avx512f",
    16,
    _mm512_loadu_ps,
    _mm512_stream_ps
);

/// The body of [`write_rows`], inlined into each of its builds: runs of at most
/// `staged.len()` values (a multiple of [`LINE`]) are filled, then handed to `flush` with
/// their place in `out`; every run but the first starts on a cache line of `out`.
#[inline(always)]
fn rows(
    out: &mut [f32],
    crop: &Crop,
    channels: usize,
    staged: &mut [f32],
    mut fill: impl FnMut(usize, usize, &mut [f32]),
    mut flush: impl FnMut(&[f32], &mut [f32]),
) {
    assert_eq!(out.len(), channels * crop.voxels(), "output buffer size");
    let [_, fh, fw] = crop.full;
    let [d, h, w] = crop.shape;
    let [z0, y0, x0] = crop.lo;
    let size = staged.len();
    // The first run ends on a cache line of `out`, and so every later one.
    let skew = (out.as_ptr() as usize / size_of::<f32>()) % LINE;
    let mut run_len = (size - skew).min(out.len());
    let (mut filled, mut done) = (0, 0);
    for c in 0..channels {
        for z in z0..z0 + d {
            for y in y0..y0 + h {
                let start = (z * fh + y) * fw + x0;
                let mut x = 0;
                while x < w {
                    let n = (w - x).min(run_len - filled);
                    fill(c, start + x, &mut staged[filled..filled + n]);
                    (filled, x) = (filled + n, x + n);
                    if filled == run_len {
                        flush(&staged[..run_len], &mut out[done..done + run_len]);
                        done += run_len;
                        (filled, run_len) = (0, size.min(out.len() - done));
                    }
                }
            }
        }
    }
    debug_assert_eq!(done, out.len());
}

/// Writes a 0/1 map of the whole window (`channels` channels, C order) as `float32` over
/// `crop`'s region into `out`.
pub(crate) fn write_map(map: &[u8], channels: usize, crop: &Crop, out: &mut [f32]) {
    let voxels = crop.full_voxels();
    write_rows(out, crop, channels, |c, start, run| {
        let src = &map[c * voxels + start..][..run.len()];
        for (o, &m) in run.iter_mut().zip(src) {
            *o = f32::from(m);
        }
    });
}

/// Writes `values` of the whole window (`channels` channels, C order) over `crop`'s region
/// into `out`.
pub(crate) fn write_values(values: &[f32], channels: usize, crop: &Crop, out: &mut [f32]) {
    let voxels = crop.full_voxels();
    write_rows(out, crop, channels, |c, start, run| {
        run.copy_from_slice(&values[c * voxels + start..][..run.len()]);
    });
}

/// Fills `out` with `value` (streamed like [`write_rows`]).
pub(crate) fn fill(out: &mut [f32], value: f32) {
    let row = Crop::whole([1, 1, out.len()]);
    write_rows(out, &row, 1, |_, _, run| run.fill(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cropped_rows_are_the_centre_of_each_channel() {
        let full = [3, 4, 5];
        let voxels = 60;
        let values: Vec<f32> = (0..2 * voxels).map(|v| v as f32).collect();
        let crop = Crop::centre(full, Some([1, 2, 3])).unwrap();
        assert_eq!(crop.lo, [1, 1, 1]);
        let mut out = vec![0f32; 2 * crop.voxels()];
        write_values(&values, 2, &crop, &mut out);
        let at = |c: usize, z: usize, y: usize, x: usize| (c * voxels + (z * 4 + y) * 5 + x) as f32;
        let want: Vec<f32> = (0..2)
            .flat_map(|c| (1..3).flat_map(move |y| (1..4).map(move |x| at(c, 1, y, x))))
            .collect();
        assert_eq!(out, want);
        assert!(Crop::centre(full, Some([4, 1, 1])).is_err());
        assert!(Crop::centre(full, None).unwrap().is_whole());
    }

    #[test]
    fn every_build_writes_every_value_at_every_alignment() {
        let full = [3, 37, 45];
        let voxels = 3 * 37 * 45;
        let values: Vec<f32> = (0..2 * voxels).map(|v| v as f32 * 0.5).collect();
        let crop = Crop::centre(full, Some([2, 30, 41])).unwrap();
        let [d, h, w] = crop.shape;
        let want: Vec<f32> = (0..2 * d * h * w)
            .map(|i| {
                let (c, z, y, x) = (i / (d * h * w), i / (h * w) % d, i / w % h, i % w);
                values[c * voxels + (z * 37 + y + 3) * 45 + x + 2]
            })
            .collect();
        assert_eq!(crop.lo, [0, 3, 2]);
        let fill = |c: usize, start: usize, run: &mut [f32]| {
            run.copy_from_slice(&values[c * voxels + start..][..run.len()]);
        };
        let mut staged = [0f32; RUN];
        for offset in 0..LINE {
            let mut buffer = vec![f32::NAN; want.len() + LINE];
            let out = &mut buffer[offset..offset + want.len()];
            rows(out, &crop, 2, &mut staged, fill, |run, dst| {
                crate::convert::copy_streaming(run, dst);
            });
            assert_eq!(out, &want[..], "portable, offset {offset}");
            #[cfg(target_arch = "x86_64")]
            for (build, detected) in [
                ("avx2", std::is_x86_feature_detected!("avx2")),
                ("avx512f", std::is_x86_feature_detected!("avx512f")),
            ] {
                if !detected {
                    continue;
                }
                out.fill(f32::NAN);
                match build {
                    // SAFETY: the CPU supports AVX2, checked above.
                    "avx2" => unsafe { write_rows_avx2(out, &crop, 2, fill) },
                    // SAFETY: the CPU supports AVX-512F, checked above.
                    _ => unsafe { write_rows_avx512(out, &crop, 2, fill) },
                }
                assert_eq!(out, &want[..], "{build}, offset {offset}");
            }
        }
    }

    #[test]
    fn long_rows_are_written_in_runs_across_rows() {
        let full = [1, 3, 2 * RUN + 7];
        let map: Vec<u8> = (0..full.iter().product::<usize>())
            .map(|i| u8::from(i % 3 == 0))
            .collect();
        let crop = Crop::whole(full);
        let mut out = vec![9f32; map.len()];
        write_map(&map, 1, &crop, &mut out);
        assert!(out.iter().zip(&map).all(|(&o, &m)| o == f32::from(m)));
        fill(&mut out, 0.5);
        assert!(out.iter().all(|&o| o == 0.5));
    }
}
