//! `ingest`: tile datasets, image lists and stacks into a chunked Zarr v3 store.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use voxload::geometry::parse_triple;
use voxload::ingest::Ingest;
use voxload::{Encoding, Shape};

mod process;

/// Convert a PyTorch Connectomics tile JSON, a .txt list of images, a multi-page TIFF or a
/// folder of PNG/TIFF slices into a chunked Zarr v3 array.
#[derive(Parser)]
#[command(
    version,
    about,
    after_help = "Examples:\n  ingest mito.json em.zarr --array image\n  ingest labels.json em.zarr --array label --label\n  ingest slices/ em.zarr --chunk 16,256,1024 --shard 32,512,2048\n  ingest --finalize em.zarr --array image\n\nExit status: 0 on success, 2 on an error."
)]
struct Cli {
    /// The input (tile .json, .txt list, .tif stack or folder); omitted with --finalize.
    input: Option<PathBuf>,
    /// The output store (a directory ending in .zarr by convention).
    output: Option<PathBuf>,
    /// Array name in the store.
    #[arg(long, default_value = "image")]
    array: String,
    /// The input is a label volume: nearest resizing, RGB packed as R*65536 + G*256 + B.
    #[arg(long)]
    label: bool,
    /// Chunk shape Z,Y,X (the inner chunk shape with --shard), clipped to the volume; default
    /// 16,256,1024. Refused when one file would exceed --max-chunk-bytes.
    #[arg(long)]
    chunk: Option<String>,
    /// Write sharded raw with this shard shape Z,Y,X (a multiple of the chunk shape).
    #[arg(long)]
    shard: Option<String>,
    /// raw, zstd or zstd:LEVEL.
    #[arg(long, default_value = "raw")]
    codec: String,
    /// Decoding threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Finish an interrupted ingest: skip recorded slabs, redo the rest.
    #[arg(long)]
    resume: bool,
    /// Replace an existing array.
    #[arg(long)]
    overwrite: bool,
    /// Only slices [A, B), aligned to the chunk depth (shard depth with --shard).
    #[arg(long, value_name = "A:B")]
    z_range: Option<String>,
    /// Mark the array complete once every z range is recorded (no INPUT).
    #[arg(long)]
    finalize: bool,
    /// Fill missing tiles with 0, or with FILL (`--allow-missing=FILL`).
    #[arg(long, value_name = "FILL", num_args = 0..=1, require_equals = true, default_missing_value = "0")]
    allow_missing: Option<f64>,
    /// Write each image of a list or folder as its own (1, H, W) array NAME/0000, NAME/0001, ...
    #[arg(long)]
    separate: bool,
    /// Write chunk files through the page cache instead of with O_DIRECT.
    #[arg(long)]
    buffered: bool,
    /// Skip flushing the chunk files to stable storage before the array is marked complete
    /// (faster; for scratch data: a crash of the machine may then leave a complete-marked array
    /// with chunks missing).
    #[arg(long)]
    no_sync: bool,
    /// The largest uncompressed chunk file (shard file with --shard) to allow, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = voxload::ingest::MAX_CHUNK_BYTES)]
    max_chunk_bytes: u64,
    /// Write an OME-Zarr image: ARRAY becomes an NGFF 0.5 image group of ARRAY/0 (the volume)
    /// and N further levels, each 2x down in y and x (and in z once z is finer); mean for
    /// images, most frequent non-zero id with --label.
    #[arg(long, value_name = "N")]
    pyramid: Option<u32>,
    /// The voxel size Z,Y,X (recorded in the array's attributes, and as the levels' scales
    /// with --pyramid); default 1,1,1.
    #[arg(long, value_name = "Z,Y,X")]
    voxel_size: Option<String>,
    /// The unit of --voxel-size (an NGFF unit name).
    #[arg(long, default_value = "nanometer")]
    unit: String,
    /// No progress bar or summary.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    process::init();
    process::exit(run(Cli::parse()))
}

fn run(cli: Cli) -> Result<()> {
    if cli.finalize {
        let store = match (&cli.input, &cli.output) {
            (Some(store), None) => store.clone(),
            _ => bail!("--finalize takes only the store: ingest --finalize OUT.zarr --array NAME"),
        };
        Ingest::finalize(&store, &cli.array)?;
        if !cli.quiet {
            eprintln!("{}/{}: complete", store.display(), cli.array);
        }
        return Ok(());
    }
    let (Some(input), Some(output)) = (cli.input.clone(), cli.output.clone()) else {
        bail!("usage: ingest INPUT OUT.zarr [options] (see --help)");
    };
    let chunk: Option<Shape> = cli
        .chunk
        .as_deref()
        .map(parse_triple)
        .transpose()
        .context("--chunk")?;
    let shard: Option<Shape> = cli
        .shard
        .as_deref()
        .map(parse_triple)
        .transpose()
        .context("--shard")?;
    let codec: Encoding = cli.codec.parse()?;
    let voxel_size: Option<[f64; 3]> = cli
        .voxel_size
        .as_deref()
        .map(parse_triple)
        .transpose()
        .context("--voxel-size")?;
    if let Some(v) = voxel_size.filter(|v| v.iter().any(|s| !(s.is_finite() && *s > 0.0))) {
        bail!("--voxel-size {v:?}: every size must be a positive number");
    }
    if cli.pyramid.is_some() && voxel_size.is_none() && !cli.quiet {
        eprintln!(
            "note: --pyramid without --voxel-size: the levels' scales assume 1,1,1 {}",
            cli.unit
        );
    }
    let z_range = cli.z_range.as_deref().map(parse_range).transpose()?;
    let mut job = Ingest::new(&input, &output)
        .array(&cli.array)
        .label(cli.label);
    if let Some(chunk) = chunk {
        job = job.chunk(chunk);
    }
    let job = job
        .shard(shard)
        .codec(codec)
        .threads(cli.threads)
        .resume(cli.resume)
        .overwrite(cli.overwrite)
        .z_range(z_range)
        .allow_missing(cli.allow_missing)
        .separate(cli.separate)
        .direct_io(!cli.buffered)
        .durable(!cli.no_sync)
        .max_chunk_bytes(cli.max_chunk_bytes)
        .pyramid(cli.pyramid)
        .voxel_size(voxel_size.map(|v| (v, cli.unit.clone())));
    let (plan_input, _, shape, dtype) = job.plan()?;
    // With --separate each image is its own array, checked as it is written.
    if !cli.separate {
        for warning in job.check_layout(shape, dtype)? {
            eprintln!("warning: {}", process::warning(&warning));
        }
    }
    if let voxload::ingest::Input::Tiles(spec) = &plan_input {
        if !spec.unknown_keys.is_empty() && !cli.quiet {
            eprintln!(
                "note: {} has keys the tile format does not define, ignored: {}",
                input.display(),
                spec.unknown_keys.join(", ")
            );
        }
    }
    let slices = z_range.map_or(shape[0], |(a, b)| b - a);
    let bar = if cli.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(slices)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} slices  {msg}  ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let progress_bar = bar.clone();
    let report = job
        .progress(Some(Arc::new(move |done, bytes| {
            progress_bar.set_position(done);
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            progress_bar.set_message(format!("{:.0} MB/s", bytes as f64 / secs / 1e6));
        })))
        .run()?;
    bar.finish_and_clear();
    if !cli.quiet {
        let status = if report.complete {
            "complete"
        } else {
            "range done; run `ingest --finalize` once every range is done"
        };
        eprintln!(
            "{}/{}: {:?} {} — {} slabs written, {} skipped, {} missing tiles filled, {:.0} MB in {:.1} s ({:.0} MB/s); {status}",
            output.display(),
            cli.array,
            shape,
            dtype,
            report.slabs_written,
            report.slabs_skipped,
            report.missing_tiles,
            report.bytes as f64 / 1e6,
            report.seconds,
            report.bytes as f64 / report.seconds.max(1e-9) / 1e6,
        );
    }
    Ok(())
}

fn parse_range(text: &str) -> Result<(u64, u64)> {
    let (a, b) = text.split_once(':').context("--z-range takes A:B")?;
    Ok((
        a.trim().parse().context("--z-range A")?,
        b.trim().parse().context("--z-range B")?,
    ))
}
