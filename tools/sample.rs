//! `voxload sample`, `voxload preview`, `voxload bench loader` and `voxload bench augment`:
//! the loader of a configuration file, run from the command line.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use ndarray::{ArrayViewD, Axis};
use serde_json::json;
use voxload::config::ConfigMode;

use crate::config_cmd::ConfigFiles;
use voxload::loader::{
    Batch, BatchArray, LoaderBuilder, Manifest, ManifestSample, ManifestStats, Mode,
};

/// `train` draws random windows as in training; `grid` walks the inference grid.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ModeArg {
    /// Random windows, rejection sampling, augmentation.
    Train,
    /// The inference grid (PyTC's test mode), in order, never augmented.
    Grid,
    /// PyTC's validation mode: the VAL_* volumes on a grid of half-window stride, with labels.
    Val,
}

impl ModeArg {
    /// The loader's mode and how the configuration is read for it (the library's names).
    fn modes(self) -> (Mode, ConfigMode) {
        let name = match self {
            ModeArg::Train => "train",
            ModeArg::Grid => "grid",
            ModeArg::Val => "val",
        };
        voxload::loader::pytc_mode(name).expect("the library knows every mode name")
    }

    /// How the configuration is read for this mode.
    fn stage(self) -> ConfigMode {
        self.modes().1
    }
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        m.modes().0
    }
}

#[derive(Args)]
pub struct SampleArgs {
    #[command(flatten)]
    config: ConfigFiles,
    /// train (default) or grid.
    #[arg(long, value_enum, default_value = "train")]
    mode: ModeArg,
    /// Samples to write (default: 16 in train mode, the whole grid in grid mode).
    #[arg(long)]
    count: Option<u64>,
    /// Seed of every sample.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Epoch, mixed into every sample's seed.
    #[arg(long, default_value_t = 0)]
    epoch: u64,
    /// Worker threads (default: SYSTEM.NUM_CPUS).
    #[arg(long)]
    workers: Option<usize>,
    /// This process's rank (with --world-size).
    #[arg(long, default_value_t = 0)]
    rank: u64,
    /// Number of processes sharing the work.
    #[arg(long, default_value_t = 1)]
    world_size: u64,
    /// Output folder: NNNNNN_<key>.npy per sample and manifest.json (written last: a folder
    /// without it holds no complete run).
    #[arg(long)]
    out: PathBuf,
    /// Replace an earlier run's files in the output folder (its manifest first, then its
    /// NNNNNN_*.npy files); without it such a folder is refused.
    #[arg(long)]
    overwrite: bool,
}

fn loader(
    config: &ConfigFiles,
    mode: ModeArg,
    workers: Option<usize>,
    seed: u64,
    epoch: u64,
) -> Result<LoaderBuilder> {
    let cfg = config.load(mode.stage())?;
    let mut b = LoaderBuilder::from_config(&cfg, Mode::from(mode))?
        .seed(seed)
        .epoch(epoch);
    if let Some(w) = workers {
        b = b.workers(w.max(1));
    }
    Ok(b)
}

/// Writes sample `i` of `batch`'s array `a` as an NPY file, atomically (temporary file, then
/// rename), so an interrupted run never leaves a torn file under a sample's name.
fn write_npy(path: &Path, a: &BatchArray, i: usize) -> Result<()> {
    fn one<T: ndarray_npy::WritableElement>(path: &Path, a: ArrayViewD<'_, T>) -> Result<()> {
        use ndarray_npy::WriteNpyExt;
        let mut bytes = Vec::new();
        a.write_npy(&mut bytes)
            .with_context(|| format!("encoding {}", path.display()))?;
        voxload::internals::atomic::write_atomic(path, &bytes)
            .with_context(|| format!("writing {}", path.display()))
    }
    voxload::match_dtype!(a, BatchArray(a) => one(path, a.index_axis(Axis(0), i)))
}

pub fn sample(args: &SampleArgs) -> Result<()> {
    voxload::loader::check_rank(args.rank, args.world_size)?;
    let mode = Mode::from(args.mode);
    let mut b = loader(&args.config, args.mode, args.workers, args.seed, args.epoch)?
        .rank(args.rank, args.world_size);
    let count = match (mode, args.count) {
        (Mode::Train, None) => Some(16),
        (_, c) => c,
    };
    if let Some(n) = count {
        b = b.samples(n);
    }
    let mut it = b.build_prefetch()?;
    clear_earlier_run(&args.out, args.overwrite)?;
    let mut samples = Vec::new();
    for batch in it.by_ref() {
        let batch = batch?;
        for (i, info) in batch.samples.iter().enumerate() {
            let stem = info.file_stem();
            for (key, array) in &batch.arrays {
                let path = args.out.join(format!("{stem}_{key}.npy"));
                write_npy(&path, array, i)?;
            }
            samples.push(ManifestSample::from(info));
        }
    }
    let stats = it.stats();
    let manifest = Manifest {
        samples,
        stats: ManifestStats::from(&stats),
    };
    manifest.write(&args.out.join("manifest.json"))?;
    eprintln!(
        "wrote {} samples to {} ({:.0} samples/s, {} rejected candidates, {} forced)",
        manifest.samples.len(),
        args.out.display(),
        stats.samples_per_s(),
        stats.rejected,
        stats.forced
    );
    Ok(())
}

/// Whether `name` is a file a `sample` run writes: `manifest.json` or `NNNNNN_<key>.npy`
/// (predictions `NNNNNN_pred.npy` added beside them included).
fn is_run_file(name: &str) -> bool {
    let numbered = name.len() > 11
        && name.as_bytes()[..6].iter().all(u8::is_ascii_digit)
        && name.as_bytes()[6] == b'_'
        && name.ends_with(".npy");
    numbered || name == "manifest.json"
}

/// Makes `out` a folder for a new run: created if missing; an earlier run's files refused, or
/// with `overwrite` removed — the manifest first, so an interruption in between leaves a folder
/// that is clearly not a complete run. Other files are left alone.
fn clear_earlier_run(out: &Path, overwrite: bool) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut earlier: Vec<PathBuf> = std::fs::read_dir(out)
        .with_context(|| format!("listing {}", out.display()))?
        .flatten()
        .filter(|e| is_run_file(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    if earlier.is_empty() {
        return Ok(());
    }
    if !overwrite {
        bail!(
            "{}: holds {} files of an earlier run (manifest.json, NNNNNN_*.npy); pass --overwrite to replace them, or choose an empty folder",
            out.display(),
            earlier.len()
        );
    }
    earlier.sort_by_key(|p| !p.ends_with("manifest.json"));
    for path in earlier {
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}

#[derive(Args)]
pub struct BenchLoaderArgs {
    #[command(flatten)]
    config: ConfigFiles,
    /// Worker threads (default: SYSTEM.NUM_CPUS).
    #[arg(long)]
    workers: Option<usize>,
    /// Seconds to stream (after one second of warm-up).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// Streams batches for `seconds` after a one-second warm-up; returns (samples, bytes, secs,
/// the loader's statistics at the end).
pub fn stream_for(
    b: &LoaderBuilder,
    seconds: f64,
) -> Result<(u64, u64, f64, voxload::loader::LoaderStats)> {
    let mut it = b.build_prefetch()?;
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_secs(1) {
        it.next().context("the stream ended")??;
    }
    let (mut samples, mut bytes) = (0u64, 0u64);
    let t = Instant::now();
    while t.elapsed().as_secs_f64() < seconds {
        let batch: Batch = it.next().context("the stream ended")??;
        samples += batch.samples.len() as u64;
        bytes += batch.nbytes() as u64;
    }
    Ok((samples, bytes, t.elapsed().as_secs_f64(), it.stats()))
}

pub fn bench_loader(args: &BenchLoaderArgs) -> Result<()> {
    crate::positive_seconds(args.seconds)?;
    let b = loader(&args.config, ModeArg::Train, args.workers, 0, 0)?;
    let (samples, bytes, secs, stats) = stream_for(&b, args.seconds)?;
    let per_s = samples as f64 / secs;
    if args.json {
        let out = json!({
            "command": "bench loader",
            "config": args.config.files,
            "samples": samples,
            "seconds": secs,
            "items_per_s": per_s,
            "bytes_per_s": bytes as f64 / secs,
            "rejection_rate": stats.rejection_rate(),
            "forced": stats.forced,
            "waited_s": stats.waited.as_secs_f64(),
            "stats": stats.to_json(),
        });
        println!("{out}");
    } else {
        println!(
            "loader: {per_s:.1} samples/s, {:.1} MB/s delivered; {:.1} % of candidates rejected, {} forced; consumer waited {:.0} % of the time",
            bytes as f64 / secs / 1e6,
            100.0 * stats.rejection_rate(),
            stats.forced,
            100.0 * stats.waited.as_secs_f64() / stats.elapsed.as_secs_f64().max(1e-9)
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct BenchAugmentArgs {
    #[command(flatten)]
    config: ConfigFiles,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// The output size D,H,W instead of the configuration's MODEL.INPUT_SIZE.
    #[arg(long, value_name = "D,H,W")]
    input_size: Option<String>,
    /// Also time each transform of the chain alone (P 1, then the centre crop).
    #[arg(long)]
    each: bool,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub fn bench_augment(args: &BenchAugmentArgs) -> Result<()> {
    use voxload::augment::{Always, Compose};
    crate::positive_seconds(args.seconds)?;
    let cfg = args.config.load(ConfigMode::Train)?;
    let input = match &args.input_size {
        Some(text) => voxload::geometry::parse_triple::<usize>(text).context("--input-size")?,
        None => cfg.input_size,
    };
    let smooth = cfg.augment.smooth;
    let build = |transforms| -> Result<Compose> {
        Ok(Compose::new(transforms, input, cfg.targets())?.with_smoothing(smooth))
    };
    let compose = build(cfg.transforms())?;
    let chain = voxload::bench::time_augment("chain", &compose, args.seconds)?;
    let mut each = Vec::new();
    if args.each {
        for t in cfg.transforms() {
            let name = t.name();
            let alone = build(vec![Box::new(Always(t))])?;
            each.push(voxload::bench::time_augment(name, &alone, args.seconds)?);
        }
    }
    let [d, h, w] = compose.sample_size();
    let voxels = input.iter().product::<usize>() as f64;
    let targets = compose.targets().len();
    let per_sample = chain.mean_ms / 1e3;
    if args.json {
        println!(
            "{}",
            json!({
                "command": "bench augment",
                "config": args.config.files,
                "sample_size": [d, h, w],
                "input_size": input,
                "targets": targets,
                "samples": chain.samples,
                "ms_per_sample": chain.mean_ms,
                "median_ms": chain.median_ms,
                "min_ms": chain.min_ms,
                "items_per_s": 1.0 / per_sample,
                "bytes_per_s": voxels * 4.0 / per_sample,
                "ns_per_output_voxel": per_sample * 1e9 / voxels,
                "transforms": each,
                "kernels": voxload::simd::kernel_level(),
            })
        );
    } else {
        println!(
            "augment: {:.2} ms per sample (median {:.2}; {input:?} from {:?}, {targets} targets, 1 thread, {} kernels), {:.1} samples/s, {:.1} ns per output voxel",
            chain.mean_ms,
            chain.median_ms,
            [d, h, w],
            voxload::simd::kernel_level(),
            1.0 / per_sample,
            per_sample * 1e9 / voxels
        );
        for t in &each {
            println!(
                "  {:<15} median {:>7.3} ms  min {:>7.3} ms  ({} samples, P 1 + crop)",
                t.case, t.median_ms, t.min_ms, t.samples
            );
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct PreviewArgs {
    #[command(flatten)]
    config: ConfigFiles,
    /// Samples in the montage.
    #[arg(long, default_value_t = 8)]
    count: u64,
    /// Seed of the samples.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The PNG to write.
    #[arg(long)]
    out: PathBuf,
}

pub fn preview(args: &PreviewArgs) -> Result<()> {
    let b = loader(&args.config, ModeArg::Train, None, args.seed, 0)?
        .samples(args.count)
        .batch_size(1);
    let batches = b.build_prefetch()?.collect::<voxload::Result<Vec<_>>>()?;
    let legend = crate::montage::write(&args.out, &batches)?;
    for line in &legend {
        println!("{line}");
    }
    let text = args.out.with_extension("txt");
    std::fs::write(&text, legend.join("\n") + "\n")?;
    eprintln!(
        "wrote {} ({} samples; legend in {})",
        args.out.display(),
        batches.len(),
        text.display()
    );
    Ok(())
}

/// A sample's transforms as one line.
pub fn describe(transforms: &[voxload::augment::Applied]) -> String {
    if transforms.is_empty() {
        return "no transform".into();
    }
    transforms
        .iter()
        .map(|t| {
            let params: Vec<String> = t
                .params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .take(3)
                .collect();
            format!("{}({})", t.name, params.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}
