//! `voxload stitch`: blend a folder of predicted grid windows (`NNNNNN_pred.npy` beside the
//! manifest of `voxload sample --mode grid`) into a Zarr array.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use ndarray::{Array4, ArrayD, Ix4};
use rayon::prelude::*;
use voxload::config::ConfigMode;

use crate::config_cmd::ConfigFiles;
use voxload::geometry::parse_triple;
use voxload::loader::{Manifest, ManifestSample};
use voxload::predict::{
    Finished, OutputPlan, OutputSettings, OutputType, Placement, VariantCombiner, Weight,
};
use voxload::store::{array_dir, split_address};
use voxload::{Encoding, Shape};

#[derive(Args)]
pub struct StitchArgs {
    /// The folder holding manifest.json and NNNNNN_pred.npy files ((C, d, h, w), or (d, h, w)
    /// for one channel; (C, h, w) or (h, w) in 2D).
    dir: PathBuf,
    /// The configuration the grid was sampled with (volumes, MODEL.INPUT_SIZE,
    /// INFERENCE.STRIDE, DATASET.PAD_SIZE, DO_2D, INFERENCE.DO_SINGLY).
    #[command(flatten)]
    config: ConfigFiles,
    /// STORE/ARRAY to write; with several volumes or DO_SINGLY, ARRAY/0000, ARRAY/0001, ...
    #[arg(long)]
    out: PathBuf,
    /// gaussian, bump or constant (default: the configuration's INFERENCE.BLENDING, gaussian
    /// unless set).
    #[arg(long)]
    weight: Option<String>,
    /// float32 or uint8 (x 255, rounded, clipped).
    #[arg(long, default_value = "float32")]
    dtype: String,
    /// raw, zstd or zstd:LEVEL.
    #[arg(long, default_value = "raw")]
    codec: String,
    /// Spatial chunk Z,Y,X of the output (default: window depth, 256, 256).
    #[arg(long)]
    chunk: Option<String>,
    /// Threads reading and blending predictions (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Replace existing output arrays (with DO_SINGLY, complete arrays are skipped instead
    /// and unfinished ones replaced; with --world-size, an unfinished array of the same grid
    /// is joined).
    #[arg(long)]
    overwrite: bool,
    /// This job's rank: it blends its own block of the grid (the windows `voxload sample
    /// --mode grid --rank R --world-size W` wrote) into the array the other ranks write too;
    /// the last rank to finish completes it, bit-identical to one job stitching everything.
    #[arg(long, default_value_t = 0, requires = "world_size")]
    rank: u64,
    /// The number of ranks sharing the grid.
    #[arg(long, default_value_t = 1)]
    world_size: u64,
}

/// Reads one prediction as `(C, d, h, w)`.
fn read_pred(path: &Path, window: Shape) -> Result<Array4<f32>> {
    use ndarray_npy::ReadNpyExt;
    use std::io::{Read, Seek};
    let context = || format!("reading {} (float32 or float64 .npy)", path.display());
    // A regular file only (a FIFO would block), whose header is checked against the window
    // and the file's length before anything is allocated for it.
    let opened = voxload::file::open_regular(path).with_context(context)?;
    let mut file = std::io::BufReader::new(opened.file);
    let mut head = vec![0u8; 16 << 10];
    let got = (&mut file)
        .take(head.len() as u64)
        .read(&mut head)
        .with_context(context)?;
    head.truncate(got);
    let window_values = window.iter().product::<u64>();
    let float64 = npy_check(
        &head,
        opened.len,
        window_values.saturating_mul(MAX_CHANNELS),
    )
    .with_context(|| format!("{}: not a usable prediction .npy", path.display()))?;
    file.rewind().with_context(context)?;
    let any: ArrayD<f32> = if float64 {
        ArrayD::<f64>::read_npy(file)
            .with_context(context)?
            .mapv(|v| v as f32)
    } else {
        ArrayD::<f32>::read_npy(file).with_context(context)?
    };
    let s = any.shape().to_vec();
    let [d, h, w] = window.map(|v| v as usize);
    let shape = match s.as_slice() {
        [_, _, _, _] => s.clone(),
        [z, y, x] if *z == d && [*y, *x] == [h, w] => vec![1, d, h, w],
        [c, y, x] if d == 1 && [*y, *x] == [h, w] => vec![*c, 1, h, w],
        [y, x] if d == 1 => vec![1, 1, *y, *x],
        _ => s.clone(),
    };
    let reshaped = any
        .into_shape_with_order(shape)
        .ok()
        .and_then(|a| a.into_dimensionality::<Ix4>().ok());
    reshaped.with_context(|| {
        format!(
            "{}: prediction of shape {s:?}, expected (C, {d}, {h}, {w}) or ({d}, {h}, {w})",
            path.display()
        )
    })
}

/// The most channels a prediction may have.
const MAX_CHANNELS: u64 = 4096;

/// Checks the header of a `.npy` file of `file_len` bytes starting with `head`: little-endian
/// float32 or float64 in C order, at most `max_values` values, and exactly as many data bytes
/// as the file holds after its header (a header claiming 13 GB in a small file is refused).
/// Returns whether the values are float64.
fn npy_check(head: &[u8], file_len: u64, max_values: u64) -> Result<bool> {
    if !head.starts_with(b"\x93NUMPY") || head.len() < 10 {
        bail!("no .npy magic");
    }
    let (len_at, len_size) = if head[6] == 1 { (8, 2) } else { (8, 4) };
    let header_len = head
        .get(len_at..len_at + len_size)
        .map(|b| b.iter().rev().fold(0u64, |n, &x| (n << 8) | u64::from(x)))
        .context("truncated header")?;
    let start = (len_at + len_size) as u64;
    let text = head
        .get(start as usize..(start + header_len) as usize)
        .context("header longer than 16 KiB or truncated")?;
    let text = String::from_utf8_lossy(text);
    let float64 = if text.contains("'<f8'") {
        true
    } else if text.contains("'<f4'") {
        false
    } else {
        bail!("values are not little-endian float32 or float64 (header {text})");
    };
    if text.contains("'fortran_order': True") {
        bail!("Fortran order is not supported; save in C order");
    }
    let dims = text
        .split("'shape':")
        .nth(1)
        .and_then(|t| t.split_once('(')?.1.split_once(')'))
        .map(|(inside, _)| inside)
        .context("no shape in the header")?;
    let values = dims
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .try_fold(1u64, |n, d| n.checked_mul(d.parse::<u64>().ok()?))
        .context("a shape that is not a list of sizes, or overflows")?;
    if values > max_values {
        bail!("the header declares {values} values ({dims}), more than the window allows ({max_values} at most {MAX_CHANNELS} channels)");
    }
    let expected = start + header_len + values * if float64 { 8 } else { 4 };
    if expected != file_len {
        bail!("the header declares ({dims}), {expected} bytes with its header, but the file is {file_len} bytes; it is truncated or corrupt");
    }
    Ok(float64)
}

pub fn stitch(args: &StitchArgs) -> Result<()> {
    // The output's name first, before anything is read or written.
    voxload::store::check_array_name(&split_address(&args.out).1)
        .context("--out takes STORE.zarr/ARRAY")?;
    let cfg = args.config.load(ConfigMode::Test)?;
    let weight: Weight = args.weight.as_deref().unwrap_or(&cfg.blending).parse()?;
    let dtype: OutputType = args.dtype.parse()?;
    let encoding: Encoding = args.codec.parse()?;
    let chunk: Option<Shape> = args
        .chunk
        .as_deref()
        .map(parse_triple)
        .transpose()
        .context("--chunk")?;
    voxload::loader::check_rank(args.rank, args.world_size)?;
    let plan = OutputPlan::from_config(&cfg)?;
    let tta = &cfg.test_augment;
    let window: Shape = plan.window();
    let all = Manifest::read(&args.dir.join("manifest.json"))?.samples;
    let (store, base) = split_address(&args.out);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()?;
    let batch = 4 * pool.current_num_threads();
    let t = Instant::now();
    let (mut windows, mut skipped) = (0u64, 0usize);
    let non_finite = std::sync::atomic::AtomicU64::new(0);
    for (v, &shape) in plan.volumes().iter().enumerate() {
        let placement = plan.placement(v, &store, &base, (args.rank, args.world_size))?;
        let (name, share) = match &placement {
            Placement::Write { name, share } => (name.clone(), share.as_ref()),
            Placement::NotThisRank | Placement::NotVisited => continue,
            Placement::Complete { name } => {
                eprintln!("{}: complete, skipped", array_dir(&store, name).display());
                skipped += 1;
                continue;
            }
        };
        // A rank takes the windows of its block, from its own manifest or the whole grid's.
        let (lo, hi) = share.map_or((0, u64::MAX), |s| s.range());
        let first_window = plan.first_window(v);
        let mine: Vec<&ManifestSample> = all
            .iter()
            .filter(|e| e.volume == v)
            .filter(|e| (lo..hi).contains(&e.index.saturating_sub(first_window)))
            .collect();
        let Some(first) = mine.first() else {
            bail!("the manifest has no window of volume {v}: sample the whole grid (voxload sample --mode grid without --count), or this rank's block with the same --rank and --world-size");
        };
        if let Some(e) = mine.iter().find(|e| e.shape != window) {
            bail!(
                "sample {} has shape {:?}, not MODEL.INPUT_SIZE {window:?}: was it sampled with --mode grid and this configuration?",
                e.index,
                e.shape
            );
        }
        let pred_path = |e: &ManifestSample| args.dir.join(format!("{}_pred.npy", e.file_stem()));
        let channels = read_pred(&pred_path(first), window)?.shape()[0];
        let settings = OutputSettings {
            channels,
            weight,
            dtype,
            encoding,
            chunk,
            overwrite: args.overwrite,
        };
        let Some(writer) = plan.create(v, &store, placement, &settings)? else {
            continue;
        };
        let combiner = (tta.len() > 1).then(|| VariantCombiner::new(tta.clone()));
        // Batches in manifest (grid) order keep arrival nearly in order, so memory stays a slab.
        for part in mine.chunks(batch) {
            pool.install(|| {
                part.par_iter().try_for_each(|e| -> Result<()> {
                    // A transposing test-time variant's prediction has y and x swapped.
                    let seen = match e.variant() {
                        Some((_, v)) if v.transpose => [window[0], window[2], window[1]],
                        _ => window,
                    };
                    let pred = read_pred(&pred_path(e), seen)?;
                    let bad = pred.iter().filter(|v| !v.is_finite()).count() as u64;
                    if bad > 0 {
                        non_finite.fetch_add(bad, std::sync::atomic::Ordering::Relaxed);
                    }
                    let context = || format!("sample {}", e.file_stem());
                    let Some(combiner) = &combiner else {
                        return writer.add(e.start, pred.view()).with_context(context);
                    };
                    let variant = e.variant().with_context(|| {
                        format!("sample {}: the configuration has INFERENCE.AUG_NUM {} but the manifest records no test-time variant; sample the grid with this configuration", e.index, tta.len())
                    })?;
                    match combiner.add(v, e.index, variant, pred.view()).with_context(context)? {
                        Some(combined) => writer.add(e.start, combined.view()).with_context(context),
                        None => Ok(()),
                    }
                })
            })?;
        }
        windows += writer.added();
        let peak = writer.peak_bytes();
        let path = array_dir(&store, &name);
        let state = match writer.finish()? {
            Finished::Complete => "complete".to_string(),
            Finished::Waiting { waiting } => format!(
                "rank {} done; the last of {waiting} other ranks still writing completes it",
                args.rank
            ),
        };
        eprintln!(
            "wrote {} ({channels} x {shape:?} {}, {weight}; {} windows; peak {:.1} MiB of accumulators; {state})",
            path.display(),
            dtype.name(),
            mine.len() / tta.len(),
            peak as f64 / (1 << 20) as f64
        );
    }
    let non_finite = non_finite.into_inner();
    if non_finite > 0 {
        eprintln!(
            "warning: {non_finite} predicted values were NaN or infinite; they are blended as they are, so every output voxel they touch is NaN (float32) or 0 (uint8) — check the model's output"
        );
    }
    eprintln!(
        "stitched {windows} windows in {:.1} s{}",
        t.elapsed().as_secs_f64(),
        if skipped > 0 {
            format!(", {skipped} complete arrays skipped")
        } else {
            String::new()
        }
    );
    Ok(())
}
