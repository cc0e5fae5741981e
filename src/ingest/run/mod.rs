//! The ingest builder and its streaming, resumable run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Map};

use super::progress::ProgressLog;
use super::source::Input;
use super::IngestError;
use crate::error::LibraryOption;
use crate::geometry::Chunking;
use crate::image::{Content, Limits};
use crate::store::{ArrayMeta, ArraySlot, ArrayWriter, Encoding, Existing, Status, DEFAULT_CHUNK};
use crate::{DType, Element, Result, Shape};

mod layout;
pub use layout::{MANY_FILES, MAX_CHUNK_BYTES};

/// Called after each slab with `(slices done, bytes done)` of this run.
pub type ProgressFn = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// An ingest job: where from, where to, and how.
#[derive(Clone)]
pub struct Ingest {
    input: PathBuf,
    store: PathBuf,
    array: String,
    label: bool,
    chunk: Option<Shape>,
    shard: Option<Shape>,
    codec: Encoding,
    threads: Option<usize>,
    resume: bool,
    overwrite: bool,
    z_range: Option<(u64, u64)>,
    allow_missing: Option<f64>,
    separate: bool,
    direct_io: bool,
    durable: bool,
    progress: Option<ProgressFn>,
    max_chunk_bytes: u64,
    limits: Limits,
    voxel_size: Option<([f64; 3], String)>,
    pyramid: Option<u32>,
}

/// What an ingest did.
#[derive(Clone, Debug, PartialEq)]
pub struct IngestReport {
    /// The volume's shape.
    pub shape: Shape,
    /// The stored data type.
    pub dtype: DType,
    /// Slabs written by this run.
    pub slabs_written: u64,
    /// Slabs skipped because they were already recorded (resume).
    pub slabs_skipped: u64,
    /// Missing tiles filled under `allow_missing`.
    pub missing_tiles: u64,
    /// Bytes of volume written by this run.
    pub bytes: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The array is marked complete.
    pub complete: bool,
}

impl Ingest {
    /// An ingest of `input` (tile JSON, `.txt` list, multi-page TIFF or folder) into array
    /// `image` of the store at `store`, with the default chunk shape and raw chunks.
    pub fn new(input: impl Into<PathBuf>, store: impl Into<PathBuf>) -> Self {
        Ingest {
            input: input.into(),
            store: store.into(),
            array: "image".into(),
            label: false,
            chunk: None,
            shard: None,
            codec: Encoding::Raw,
            threads: None,
            resume: false,
            overwrite: false,
            z_range: None,
            allow_missing: None,
            separate: false,
            direct_io: true,
            durable: true,
            progress: None,
            max_chunk_bytes: MAX_CHUNK_BYTES,
            limits: Limits::default(),
            voxel_size: None,
            pyramid: None,
        }
    }

    setter!(/// The array's name in the store.
        array: &str => array.into());
    setter!(/// Treat the input as labels (nearest resizing, RGB packed as `R·65536 + G·256 + B`).
        label: bool);
    setter!(/// The chunk shape (the inner chunk shape when sharded). Default: [`DEFAULT_CHUNK`]. Either
        /// is clipped to the volume on each axis (see [`Chunking`]), and refused when one file
        /// would exceed [`Ingest::max_chunk_bytes`] (see [`Ingest::check_layout`]).
        chunk: Shape => Some(chunk));
    setter!(/// Write sharded raw with this shard shape (a multiple of the chunk shape), clipped to the
        /// volume rounded up to a multiple of the chunk shape.
        shard: Option<Shape>);
    setter!(/// Raw or zstd chunks (ignored when sharded).
        codec: Encoding);
    setter!(/// Decoding threads (default: all cores).
        threads: Option<usize>);
    setter!(/// Skip slabs already recorded as finished; redo the rest.
        resume: bool);
    setter!(/// Replace an existing array of the same name.
        overwrite: bool);
    setter!(/// Only slices `[a, b)`, aligned to the slab depth; other processes may fill other ranges.
        z_range: Option<(u64, u64)>);
    setter!(/// Fill missing tiles with this value instead of failing.
        allow_missing: Option<f64>);
    setter!(/// Write each image of a list or folder as its own `(1, H, W)` array, `NAME/0000`,
        /// `NAME/0001`, … (images may then differ in size; PyTC's per-image `DO_SINGLY` use).
        separate: bool);
    setter!(/// Write chunk files with `O_DIRECT`, bypassing the page cache (default on; falls back to
        /// buffered writes where the filesystem refuses it).
        direct_io: bool);
    setter!(/// Flush every chunk file to stable storage before the array is marked complete, so a
        /// power loss never leaves an array marked complete with missing or torn chunks (default
        /// on; off for scratch data: then only a killed process, not a crashed machine, is safe).
        durable: bool);
    setter!(/// Report progress after each slab.
        progress: Option<ProgressFn>);
    setter!(/// The largest uncompressed chunk file (shard file when sharded) a chunk shape may imply,
        /// in bytes (default [`MAX_CHUNK_BYTES`]); larger shapes are refused by
        /// [`Ingest::check_layout`].
        max_chunk_bytes: u64);
    setter!(/// The decode limits every input image is checked against before its pixels are
        /// allocated (default [`Limits::default`]: 4 GiB, or 4096 times the file's length).
        limits: Limits);

    setter!(/// The voxel size `(z, y, x)` and its unit (an NGFF unit name such as `nanometer`),
        /// recorded in the array's attributes (`voxel_size`, `unit`) and, with
        /// [`Ingest::pyramid`], as the image's multiscale scales.
        voxel_size: Option<([f64; 3], String)>);
    setter!(/// Write an OME-Zarr image instead of a plain array: `NAME` becomes an NGFF 0.5 image
        /// group of `NAME/0` (the volume) and `N` further levels, each 2x down in y and x (and
        /// in z once z is the finer axis; see [`crate::store::pyramid`]). `Some(0)` writes the
        /// group with level 0 only; `None` (the default) a plain array.
        pyramid: Option<u32>);

    /// The input, recognised, with the content type and data type the ingest will use.
    ///
    /// # Errors
    /// As [`Input::recognise`] and [`Input::probe_with`].
    pub fn plan(&self) -> Result<(Input, Content, Shape, DType)> {
        let input = Input::recognise(&self.input)?;
        let implied_label =
            matches!(&input, Input::Tiles(s) if matches!(s.dtype, DType::U32 | DType::U64));
        let content = Content::from_label(self.label || implied_label);
        let (shape, dtype) = input.probe_with(content, &self.limits)?;
        Ok((input, content, shape, dtype))
    }

    /// Runs the ingest.
    ///
    /// # Errors
    /// [`crate::Error::Ingest`] for what only an ingest reports ([`IngestError`]: inputs, tile
    /// JSON keys, settings), other [`crate::Error`]s from the store; slabs written before the
    /// error stay recorded, so a `resume` run continues from there.
    pub fn run(&self) -> Result<IngestReport> {
        crate::store::check_array_name(&self.array)?;
        if self.separate {
            return self.run_separate();
        }
        if let Some(levels) = self.pyramid {
            return self.run_pyramid(levels);
        }
        let (input, content, shape, dtype) = self.plan()?;
        self.run_dtype(&input, content, shape, dtype, Place::Named(&self.array))
    }

    /// Level 0 at `NAME/0`, then (once it is complete) the levels below and the image group.
    fn run_pyramid(&self, levels: u32) -> Result<IngestReport> {
        if self.separate {
            return Err(IngestError::Options {
                options: &[crate::error::LibraryOption::Separate],
                reason: "an image pyramid is one volume; it cannot be written as separate arrays (drop separate, or the pyramid)".into(),
            }
            .into());
        }
        let level0 = Ingest {
            array: format!("{}/0", self.array.trim_end_matches('/')),
            pyramid: None,
            ..self.clone()
        };
        let report = level0.run()?;
        if report.complete {
            let (size, unit) = self
                .voxel_size
                .clone()
                .unwrap_or(([1.0; 3], "nanometer".to_string()));
            let options = crate::store::pyramid::PyramidOptions {
                levels,
                voxel_size: size,
                unit,
                label: self.label,
            };
            crate::store::pyramid::build(&self.store, &self.array, &options, &mut |_, _, _| {})?;
        }
        Ok(report)
    }

    /// What happens to an existing array of the name: replaced (overwrite), shared with other
    /// z-range writers, or kept as its only writer (resume).
    fn existing(&self) -> Existing {
        if self.overwrite {
            Existing::Replace
        } else if self.z_range.is_some() {
            Existing::Share
        } else {
            Existing::Keep
        }
    }

    fn run_dtype(
        &self,
        input: &Input,
        content: Content,
        shape: Shape,
        dtype: DType,
        place: Place<'_>,
    ) -> Result<IngestReport> {
        crate::dispatch_dtype!(dtype, T => self.run_typed::<T>(input, content, shape, place))
    }

    /// One `(1, H, W)` array per image.
    fn run_separate(&self) -> Result<IngestReport> {
        let Input::Images(files) = Input::recognise(&self.input)? else {
            return Err(IngestError::invalid(
                &[LibraryOption::Separate],
                format!(
                    "{}: {} takes a .txt list of images or a folder of images",
                    self.input.display(),
                    LibraryOption::Separate
                ),
            )
            .into());
        };
        if self.z_range.is_some() {
            return Err(IngestError::invalid(
                &[LibraryOption::Separate, LibraryOption::ZRange],
                format!(
                    "{} cannot be combined with {}",
                    LibraryOption::Separate,
                    LibraryOption::ZRange
                ),
            )
            .into());
        }
        // The group of per-image arrays is one place: a replacement builds the whole new group
        // beside the old one and swaps it in at the end.
        let existing = if self.overwrite {
            Existing::Replace
        } else {
            Existing::Keep
        };
        let group = ArraySlot::claim(&self.store, &self.array, existing)?;
        if group.kept() && ArrayMeta::read(&group.write_dir()).is_ok() {
            return Err(IngestError::invalid(
                &[LibraryOption::Overwrite],
                format!(
                    "{}: exists as a single array; set {} to replace it with one array per image",
                    group.write_dir().display(),
                    LibraryOption::Overwrite
                ),
            )
            .into());
        }
        let content = Content::from_label(self.label);
        let start = Instant::now();
        let mut total: Option<IngestReport> = None;
        for (i, file) in files.iter().enumerate() {
            let input = Input::Images(vec![file.clone()]);
            let (shape, dtype) = input.probe_with(content, &self.limits)?;
            let place = Place::Child(&group, format!("{i:04}"));
            let r = self.run_dtype(&input, content, shape, dtype, place)?;
            total = Some(match total {
                None => r,
                Some(t) => IngestReport {
                    shape: [
                        t.shape[0] + 1,
                        t.shape[1].max(r.shape[1]),
                        t.shape[2].max(r.shape[2]),
                    ],
                    slabs_written: t.slabs_written + r.slabs_written,
                    slabs_skipped: t.slabs_skipped + r.slabs_skipped,
                    missing_tiles: t.missing_tiles + r.missing_tiles,
                    bytes: t.bytes + r.bytes,
                    complete: t.complete && r.complete,
                    ..t
                },
            });
        }
        let mut total = total.ok_or_else(|| IngestError::Input {
            path: self.input.clone(),
            reason: "no images".into(),
        })?;
        if total.complete {
            group.commit()?;
        }
        total.seconds = start.elapsed().as_secs_f64();
        Ok(total)
    }

    /// The encoding for a volume of `shape` (the shard shape clipped to it).
    fn encoding(&self, shape: Shape) -> Encoding {
        self.chunking(shape)
            .shard
            .map_or(self.codec, |shard| Encoding::ShardedRaw { shard })
    }

    /// The chunk and shard shapes for a volume of `shape`: as given (default
    /// [`DEFAULT_CHUNK`]), clipped to the volume.
    fn chunking(&self, shape: Shape) -> Chunking {
        Chunking::clipped(shape, self.chunk.unwrap_or(DEFAULT_CHUNK), self.shard)
    }

    /// The chunk shape used for a volume of `shape`.
    fn chunk_for(&self, shape: Shape) -> Shape {
        self.chunking(shape).chunk
    }

    /// The slab depth: the shard depth when sharded, else the chunk depth (at least 1; zero
    /// extents are refused by [`Ingest::check_layout`]).
    fn slab_depth(&self, shape: Shape) -> u64 {
        self.chunking(shape).file_shape()[0].max(1)
    }

    fn slabs(&self, shape: Shape) -> Vec<(u64, u64)> {
        let (depth, step) = (shape[0], self.slab_depth(shape));
        (0..depth.div_ceil(step))
            .map(|i| (i * step, ((i + 1) * step).min(depth)))
            .collect()
    }

    fn run_typed<T: Element>(
        &self,
        input: &Input,
        content: Content,
        shape: Shape,
        place: Place<'_>,
    ) -> Result<IngestReport> {
        let start = Instant::now();
        self.check_layout(shape, T::DTYPE)?;
        self.check_fill(T::DTYPE)?;
        let all = self.slabs(shape);
        let range = self.checked_range(shape, &all)?;
        let step = all.first().map_or(1, |s| s.1 - s.0) as usize;
        self.check_slab::<T>(step, shape)?;
        let slot = place.claim(self)?;
        let dir = slot.write_dir();
        // An existing array is kept only when not replacing (a replacement writes a new one).
        let exists = slot.kept();
        if exists && !(self.resume || self.z_range.is_some()) {
            return Err(IngestError::Exists { path: dir }.into());
        }
        let mut report = IngestReport {
            shape,
            dtype: T::DTYPE,
            slabs_written: 0,
            slabs_skipped: 0,
            missing_tiles: 0,
            bytes: 0,
            seconds: 0.0,
            complete: false,
        };
        if exists && ArrayMeta::read(&dir)?.status == Status::Complete {
            report.complete = true;
            report.slabs_skipped = all.len() as u64;
            return Ok(report);
        }
        let mut attributes = Map::from_iter([(
            "source".to_string(),
            json!({ "input": self.input.to_string_lossy(), "label": content == Content::Label }),
        )]);
        if let Some((size, unit)) = &self.voxel_size {
            attributes.insert("voxel_size".into(), json!(size));
            attributes.insert("unit".into(), json!(unit));
        }
        let mut writer = ArrayWriter::<T>::create_in(
            &self.store,
            shape,
            self.chunk_for(shape),
            self.encoding(shape),
            attributes,
            slot,
        )?;
        writer.set_direct_io(self.direct_io);
        writer.set_durable(self.durable);
        if self.resume {
            crate::store::atomic::remove_stale_temporaries(writer.path())
                .map_err(|e| crate::Error::io(writer.path(), e))?;
        }
        let log = ProgressLog::new(writer.path());
        let todo: Vec<(u64, u64)> = range.iter().copied().filter(|s| !log.is_done(*s)).collect();
        report.slabs_skipped = (range.len() - todo.len()) as u64;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads.unwrap_or(0))
            .build()
            .map_err(|e| {
                IngestError::invalid(
                    &[LibraryOption::Threads],
                    format!("{}: {e}", LibraryOption::Threads),
                )
            })?;
        let slab_bytes = |s: (u64, u64)| (s.1 - s.0) * shape[1] * shape[2] * size_of::<T>() as u64;
        // Two slab buffers circulate between the decoder and the writer (the channel is a
        // rendezvous), so each is allocated and first touched once, not once per slab.
        let (sender, receiver) = crossbeam_channel::bounded::<((u64, u64), ndarray::Array3<T>)>(0);
        let (recycle, reuse) = crossbeam_channel::bounded::<ndarray::Array3<T>>(3);
        let written = std::thread::scope(|scope| -> Result<u64> {
            let writer = &writer;
            let log = &log;
            let progress = self.progress.clone();
            let handle = scope.spawn(move || -> Result<u64> {
                let (mut slices, mut bytes) = (0, 0);
                for (slab, data) in receiver {
                    let depth = (slab.1 - slab.0) as usize;
                    writer
                        .write_region([slab.0, 0, 0], data.slice(ndarray::s![..depth, .., ..]))?;
                    // The slab's chunks reach stable storage before its record does.
                    writer.sync_layer(slab.0)?;
                    log.record(slab)?;
                    let _ = recycle.try_send(data);
                    slices += slab.1 - slab.0;
                    bytes += slab_bytes(slab);
                    if let Some(p) = &progress {
                        p(slices, bytes);
                    }
                }
                Ok(bytes)
            });
            let mut result = Ok(());
            for slab in &todo {
                let mut buffer = reuse.try_recv().unwrap_or_else(|_| {
                    ndarray::Array3::<T>::default((step, shape[1] as usize, shape[2] as usize))
                });
                let depth = (slab.1 - slab.0) as usize;
                let view = buffer.slice_mut(ndarray::s![..depth, .., ..]);
                match pool.install(|| {
                    let fill = self.allow_missing;
                    input.read_slab_into::<T>(shape, *slab, content, fill, &self.limits, view)
                }) {
                    Ok(missing) => {
                        report.missing_tiles += missing;
                        if sender.send((*slab, buffer)).is_err() {
                            break; // the writer failed; its error is reported below
                        }
                    }
                    Err(e) => {
                        result = Err(e.into());
                        break;
                    }
                }
            }
            drop(sender);
            let bytes = handle
                .join()
                .map_err(|_| IngestError::invalid(&[], "the writer thread panicked"))??;
            result.map(|()| bytes)
        })?;
        report.slabs_written = todo.len() as u64;
        report.bytes = written;
        if self.z_range.is_none() {
            report.complete = finish(writer, &log, &all)?;
        }
        report.seconds = start.elapsed().as_secs_f64();
        Ok(report)
    }

    /// Marks array `name` of `store` complete if every slab is recorded (after
    /// [`Ingest::z_range`] runs).
    ///
    /// # Errors
    /// [`IngestError::Unfinished`] naming the first unfinished slab; store errors.
    pub fn finalize(store: &Path, name: &str) -> Result<bool> {
        let dir = crate::store::array_dir(store, name);
        let meta = ArrayMeta::read(&dir)?;
        if meta.status == Status::Complete {
            return Ok(true);
        }
        // One slab per chunk-grid layer (shard layer when sharded).
        let depth = meta.chunk[0];
        let slabs: Vec<(u64, u64)> = (0..meta.shape[0].div_ceil(depth))
            .map(|i| (i * depth, ((i + 1) * depth).min(meta.shape[0])))
            .collect();
        let log = ProgressLog::new(&dir);
        let done = crate::dispatch_dtype!(meta.dtype, T => {
            finish(ArrayWriter::<T>::open(store, name)?, &log, &slabs)
        })?;
        if !done {
            let missing = ProgressLog::new(&dir).missing(&slabs);
            return Err(IngestError::Unfinished {
                path: dir,
                missing: missing.len() as u64,
                slabs: slabs.len() as u64,
                first: missing[0],
            }
            .into());
        }
        Ok(true)
    }
}

/// Where an ingest writes one array; claimed (name checked, lock taken, directories made) only
/// once the input is known to fit, so a refused input leaves no trace.
enum Place<'a> {
    /// Array `name` of the job's store.
    Named(&'a str),
    /// Array `leaf` inside the claimed group (one array per image).
    Child(&'a ArraySlot, String),
}

impl Place<'_> {
    fn claim(&self, job: &Ingest) -> Result<ArraySlot> {
        Ok(match self {
            Place::Named(name) => ArraySlot::claim(&job.store, name, job.existing())?,
            Place::Child(group, leaf) => group.child(leaf, job.existing())?,
        })
    }
}

/// Marks the array complete when every slab is recorded; returns whether it did. The records
/// go first: a crash between the two leaves an in-progress array that a resume redoes
/// (correct, only slower), never a complete one with stale records beside it.
fn finish<T: Element>(
    writer: ArrayWriter<T>,
    log: &ProgressLog,
    all: &[(u64, u64)],
) -> Result<bool> {
    if !log.missing(all).is_empty() {
        return Ok(false);
    }
    log.clear()?;
    writer.finish()?;
    Ok(true)
}
