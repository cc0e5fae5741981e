//! Throughput measurement shared by `voxload bench` and `benches/`: random windows, timed
//! reads, and this machine's memcpy bandwidth for the same copy sizes.

use std::path::Path;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::Serialize;

use crate::augment::{Compose, Sample, Voxels};
use crate::{Bbox, Element, MappedArray, PadMode, Result, Shape};

/// Items and bytes moved in a measured time.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Rate {
    /// Items (windows, samples, copies) completed.
    pub items: u64,
    /// Bytes of output delivered.
    pub bytes: u64,
    /// Wall-clock seconds measured.
    pub seconds: f64,
}

impl Rate {
    /// Items per second.
    #[must_use]
    pub fn items_per_s(&self) -> f64 {
        self.items as f64 / self.seconds
    }

    /// Bytes per second.
    #[must_use]
    pub fn bytes_per_s(&self) -> f64 {
        self.bytes as f64 / self.seconds
    }
}

/// Where random benchmark windows are placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Wholly inside the volume.
    Interior,
    /// Crossing at least one face of the volume by 1 to half the window's extent.
    Straddle,
}

/// A deterministic stream of random windows of one shape over a volume.
///
/// ```
/// use voxload::bench::{Placement, WindowStream};
/// let mut s = WindowStream::new([100, 100, 100], [8, 16, 16], Placement::Straddle, 1);
/// let w = s.next_window();
/// let volume = voxload::Bbox::from_shape([100, 100, 100]);
/// assert!(!volume.contains(&w) && w.intersect(&volume).is_some());
/// ```
pub struct WindowStream {
    volume: Shape,
    shape: Shape,
    placement: Placement,
    rng: Xoshiro256PlusPlus,
}

impl WindowStream {
    /// Windows of `shape` in a volume of shape `volume`, seeded by `seed`.
    #[must_use]
    pub fn new(volume: Shape, shape: Shape, placement: Placement, seed: u64) -> Self {
        WindowStream {
            volume,
            shape,
            placement,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        }
    }

    /// The next window.
    pub fn next_window(&mut self) -> Bbox {
        let mut begin = [0i64; 3];
        for (a, b) in begin.iter_mut().enumerate() {
            let room = self.volume[a].saturating_sub(self.shape[a]);
            *b = self.rng.random_range(0..=room) as i64;
        }
        if self.placement == Placement::Straddle {
            let axis = self.rng.random_range(0..3);
            let over = self.rng.random_range(1..=(self.shape[axis] / 2).max(1)) as i64;
            begin[axis] = if self.rng.random_bool(0.5) {
                -over
            } else {
                self.volume[axis] as i64 - self.shape[axis] as i64 + over
            };
        }
        Bbox::new(begin, self.shape)
    }
}

/// Reads windows from `stream` for `seconds` (after `warmup` seconds of unmeasured reads).
///
/// # Errors
/// [`crate::Error::Geometry`] for a window too large to allocate; the first read error.
pub fn measure_reads<T: Element>(
    array: &MappedArray<T>,
    stream: &mut WindowStream,
    pad: PadMode,
    warmup: f64,
    seconds: f64,
) -> Result<Rate> {
    let voxels = crate::geometry::check_allocation("window shape", stream.shape, size_of::<T>())?;
    let mut out = vec![T::default(); voxels];
    let run = |stream: &mut WindowStream, out: &mut [T], limit: f64| -> Result<Rate> {
        let start = Instant::now();
        let mut items = 0;
        while items == 0 || start.elapsed().as_secs_f64() < limit {
            array.read_into(stream.next_window(), pad, out)?;
            items += 1;
        }
        Ok(Rate {
            items,
            bytes: items * (voxels * size_of::<T>()) as u64,
            seconds: start.elapsed().as_secs_f64(),
        })
    };
    run(stream, &mut out, warmup)?;
    run(stream, &mut out, seconds)
}

/// This machine's single-thread memcpy bandwidth for copies of `copy_bytes` from random
/// offsets of a source buffer of `source_bytes` (use at least 1 GiB so no cache holds it).
///
/// # Errors
/// [`crate::Error::Geometry`] when the buffers cannot be allocated.
pub fn memcpy_rate(copy_bytes: usize, source_bytes: usize, seconds: f64) -> Result<Rate> {
    let source_bytes = source_bytes.max(copy_bytes);
    let mut source: Vec<u8> = Vec::new();
    let mut dest: Vec<u8> = Vec::new();
    for (buffer, bytes, what) in [
        (&mut source, source_bytes, "memcpy source"),
        (&mut dest, copy_bytes, "memcpy copy"),
    ] {
        buffer.try_reserve_exact(bytes).map_err(|_| {
            crate::Error::Geometry(format!(
                "a {what} buffer of {bytes} bytes: the allocator refused (not enough memory)"
            ))
        })?;
    }
    // Touch every page so the copies measure memory, not page faults.
    source.extend((0..source_bytes).map(|i| (i % 251) as u8));
    dest.resize(copy_bytes, 0);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    let slots = (source_bytes - copy_bytes) / 64 + 1;
    let start = Instant::now();
    let mut items = 0u64;
    while items == 0 || start.elapsed() < Duration::from_secs_f64(seconds) {
        let at = rng.random_range(0..slots) * 64;
        dest.copy_from_slice(&source[at..at + copy_bytes]);
        std::hint::black_box(&mut dest);
        items += 1;
    }
    Ok(Rate {
        items,
        bytes: items * copy_bytes as u64,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Brings every file under `dir` (or the file `dir` itself) into the page cache before a
/// benchmark; returns the bytes.
///
/// Files are mapped with `MADV_HUGEPAGE` and populated through the mapping, so pages read from
/// disk land in huge page-cache folios where the kernel supports it, as they do when a
/// [`MappedArray`] faults them in; where that fails the files are simply read. (Machines that
/// reclaim cold page-cache pages proactively, such as this project's CI machines, otherwise
/// measure a mix of memory and disk reads.)
///
/// # Errors
/// The first I/O error, naming the file.
pub fn warm_page_cache(dir: &Path) -> Result<u64> {
    if dir.is_file() {
        // A volume that is one file (an HDF5 dataset's file, a TIFF).
        return warm_file(dir).map_err(|e| crate::Error::io(dir, e));
    }
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| crate::Error::io(&d, e))?;
        for entry in entries {
            let path = entry.map_err(|e| crate::Error::io(&d, e))?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                total += warm_file(&path).map_err(|e| crate::Error::io(&path, e))?;
            }
        }
    }
    Ok(total)
}

fn warm_file(path: &Path) -> std::io::Result<u64> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > 0 {
        // SAFETY: a read-only mapping that lives only inside this function; nothing is read
        // through it except by the kernel's populate call.
        if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
            #[cfg(target_os = "linux")]
            if map.advise(memmap2::Advice::HugePage).is_ok()
                && map.advise(memmap2::Advice::PopulateRead).is_ok()
            {
                return Ok(len);
            }
        }
    }
    std::io::copy(&mut file, &mut std::io::sink())
}

/// One line of an augmentation benchmark: a transform alone (`P` 1, then the centre crop) or
/// the whole chain, with its median time per sample on the calling thread.
#[derive(Clone, Debug, Serialize)]
pub struct AugmentTiming {
    /// The transform's name, or `"chain"` for the whole configured chain.
    pub case: String,
    /// Samples timed.
    pub samples: u64,
    /// Median milliseconds per sample.
    pub median_ms: f64,
    /// Fastest sample, milliseconds.
    pub min_ms: f64,
    /// Mean milliseconds per sample.
    pub mean_ms: f64,
}

/// Times `compose` on the calling thread for about `seconds` (at least three samples): each
/// sample a fresh copy of one synthetic EM-like image (`f32` in `[0, 1]`) and, for every
/// other declared target, a `u16` label of blocks, drawn with sample RNG `(0, 0, i)`. Only
/// [`Compose::apply`] and [`Sample::into_parts`] (which carries out the pending warps) are timed,
/// not the copies.
///
/// ```
/// use voxload::augment::{Compose, TargetKind};
/// let compose = Compose::new(Compose::pytc_defaults(), [4, 32, 32], [("label", TargetKind::Mask)])?;
/// let t = voxload::bench::time_augment("chain", &compose, 0.05)?;
/// assert!(t.samples >= 3 && t.min_ms <= t.median_ms);
/// # Ok::<(), voxload::Error>(())
/// ```
///
/// # Errors
/// The first error of [`Compose::apply`].
pub fn time_augment(case: &str, compose: &Compose, seconds: f64) -> Result<AugmentTiming> {
    let [d, h, w] = compose.sample_size();
    let image =
        crate::synth::volume([d as u64, h as u64, w as u64], 0).mapv(|v| f32::from(v) / 255.0);
    let label = ndarray::Array3::from_shape_fn((d, h, w), |(z, y, x)| {
        crate::synth::label(z as u64, y as u64, x as u64, 0)
    });
    let masks: Vec<&String> = compose.targets().keys().filter(|n| *n != "image").collect();
    let mut times = Vec::new();
    let started = Instant::now();
    while times.len() < 3 || started.elapsed().as_secs_f64() < seconds {
        let mut sample = Sample::new(image.clone());
        for name in &masks {
            sample.insert(name, Voxels::U16(label.clone()));
        }
        let mut rng = crate::sampler::sample_rng(0, 0, times.len() as u64);
        let start = Instant::now();
        // The pending warps are carried out when the sample is taken apart: timed too.
        let out = compose.apply(sample, &mut rng)?.into_parts();
        times.push(start.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(out);
    }
    times.sort_by(f64::total_cmp);
    Ok(AugmentTiming {
        case: case.to_string(),
        samples: times.len() as u64,
        median_ms: times[times.len() / 2],
        min_ms: times[0],
        mean_ms: times.iter().sum::<f64>() / times.len() as f64,
    })
}
