//! `voxload`: inspect stores, read windows, measure read speed, and run the demo.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use voxload::bench::{measure_reads, memcpy_rate, Placement, WindowStream};
use voxload::geometry::parse_triple;
use voxload::store::{list_arrays, split_address, ArrayMeta};
use voxload::{Bbox, Encoding, MappedArray, OpenOptions, PadMode, Shape};

mod cache_cmd;
mod config_cmd;
mod demo;
mod font;
mod montage;
mod process;
mod pyramid;
mod sample;
mod stitch;
mod verify;

/// Fast data loading for deep learning on huge 3D EM volumes.
#[derive(Parser)]
#[command(
    version,
    about = "Fast data loading for deep learning on huge 3D EM volumes.",
    after_help = "Exit status: 0 on success, 1 when `verify` found problems, 2 on an error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List a store's arrays: shape, data type, chunking, encoding, completeness.
    Info {
        /// The store directory (or an array directory).
        store: PathBuf,
    },
    /// Read one window (padded where it leaves the volume) into a .npy file.
    Window(WindowArgs),
    /// Measure throughput on this machine.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Synthesise a tile dataset, ingest it, and stream augmented batches, printing throughput.
    Demo(DemoArgs),
    /// Print a configuration as voxload reads it (YAML or JSON files merged in order, PyTC's
    /// defaults filled in, test-mode overrides with --mode test): a summary, or --json.
    Config(config_cmd::ConfigArgs),
    /// Write a configuration's samples (train draws or the inference grid) as .npy files and a
    /// manifest.
    Sample(sample::SampleArgs),
    /// A PNG montage of a configuration's samples: middle slices, masks overlaid in colour.
    Preview(sample::PreviewArgs),
    /// Write a synthetic EM-like uint8 volume into a store (test data for your own disk).
    Synth(SynthArgs),
    /// Blend predicted grid windows (NNNNNN_pred.npy beside a `sample --mode grid` manifest)
    /// into a Zarr array (C, D, H, W).
    Stitch(stitch::StitchArgs),
    /// Add OME-Zarr levels to an array: NAME becomes an NGFF 0.5 image group of NAME/0 (the
    /// volume) and NAME/1 ... NAME/N, each 2x down in y and x (and in z once z is finer).
    Pyramid(pyramid::PyramidArgs),
    /// The local cache of remote stores (s3://, gs://, http(s)://): its size, or clear it.
    #[command(subcommand)]
    Cache(cache_cmd::CacheCommand),
    /// Check a store without reading voxels (metadata, completion, chunk lengths, shard
    /// indexes), optionally comparing voxels with the ingest input; exit code 1 on any problem.
    Verify(verify::VerifyArgs),
}

#[derive(Args)]
struct SynthArgs {
    /// The store directory to write (created; an existing array of that name is replaced).
    store: PathBuf,
    /// Array name.
    #[arg(long, default_value = "image")]
    array: String,
    /// Volume shape D,H,W.
    #[arg(long, default_value = "256,2048,2048")]
    volume: String,
    /// Chunk shape D,H,W (the inner chunk shape with --shard).
    #[arg(long, default_value = "16,256,1024")]
    chunk: String,
    /// Shard shape D,H,W: write sharded raw.
    #[arg(long)]
    shard: Option<String>,
    /// raw, zstd or zstd:LEVEL (ignored with --shard).
    #[arg(long, default_value = "raw")]
    codec: String,
    /// Instead of a store, write a tile dataset (STORE is then its folder): png or tiff (LZW).
    #[arg(long, value_name = "FORMAT")]
    tiles: Option<String>,
    /// Tile side for --tiles.
    #[arg(long, default_value_t = 1024)]
    tile: u64,
}

#[derive(Args)]
struct WindowArgs {
    /// STORE/ARRAY, split after the last component ending in `.zarr`.
    address: PathBuf,
    /// First voxel Z,Y,X (negative values are padded).
    #[arg(long, allow_hyphen_values = true)]
    start: String,
    /// Window shape D,H,W.
    #[arg(long)]
    shape: String,
    /// constant, constant:V, reflect, symmetric or edge.
    #[arg(long, default_value = "constant")]
    pad: String,
    /// Output .npy file.
    #[arg(long)]
    out: PathBuf,
    /// Read an array still marked in-progress.
    #[arg(long)]
    allow_incomplete: bool,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Random window reads from one array, beside this machine's memcpy bandwidth.
    Read(BenchReadArgs),
    /// Decode-only rate of an ingest input's files (what ingest is measured against).
    Decode(BenchDecodeArgs),
    /// Augmentation time per sample of a configuration's AUGMENTOR section (one thread).
    Augment(sample::BenchAugmentArgs),
    /// Samples/s and MB/s of a configuration's loader (workers, prefetch, augmentation).
    Loader(sample::BenchLoaderArgs),
}

#[derive(Args)]
struct BenchDecodeArgs {
    /// The ingest input: tile .json, .txt list, .tif stack or folder.
    input: PathBuf,
    /// Decoding threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Decode as labels (colour packed into ids).
    #[arg(long)]
    label: bool,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct BenchReadArgs {
    /// STORE/ARRAY.
    address: PathBuf,
    /// Window shape D,H,W.
    #[arg(long, default_value = "8,256,256")]
    shape: String,
    /// Pad mode for windows that leave the volume.
    #[arg(long, default_value = "reflect")]
    pad: String,
    /// Place every window across a face of the volume.
    #[arg(long)]
    straddle: bool,
    /// Seconds to measure (after one second of warm-up).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Seed of the random windows.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Size of the memcpy source buffer in GiB (at least 1, so no cache holds it).
    #[arg(long, default_value_t = 1.0)]
    memcpy_source_gib: f64,
    /// Skip reading the array's files once before measuring (measure the page cache as it is).
    #[arg(long)]
    cold: bool,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct DemoArgs {
    /// Where to write the demo store (default: a temporary directory, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Volume shape D,H,W.
    #[arg(long, default_value = "48,1024,1024")]
    volume: String,
    /// Tile side of the synthetic tile dataset.
    #[arg(long, default_value_t = 512)]
    tile: u64,
    /// Seconds of streaming.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
}

fn main() -> ExitCode {
    process::init();
    process::exit(run(Cli::parse()))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Info { store } => info(&store),
        Command::Window(args) => window(&args),
        Command::Bench(BenchCommand::Read(args)) => bench_read(&args),
        Command::Bench(BenchCommand::Decode(args)) => bench_decode(&args),
        Command::Bench(BenchCommand::Augment(args)) => sample::bench_augment(&args),
        Command::Bench(BenchCommand::Loader(args)) => sample::bench_loader(&args),
        Command::Sample(args) => sample::sample(&args),
        Command::Preview(args) => sample::preview(&args),
        Command::Demo(args) => demo::run(&args.dir, &args.volume, args.tile, args.seconds),
        Command::Synth(args) => synth(&args),
        Command::Stitch(args) => stitch::stitch(&args),
        Command::Config(args) => config_cmd::config(&args),
        Command::Verify(args) => verify::verify(&args),
        Command::Pyramid(args) => pyramid::pyramid(&args),
        Command::Cache(command) => cache_cmd::cache(&command),
    }
}

fn info(store: &Path) -> Result<()> {
    let arrays = list_arrays(store)?;
    // A remote store is read from its local mirror, which listing has filled.
    let local = voxload::store::remote::localize(store)?;
    if arrays.is_empty() {
        println!("{}: a Zarr group with no arrays", store.display());
    }
    let mut images_shown = std::collections::HashSet::new();
    for (name, meta) in arrays {
        let parent = name.rsplit_once('/').map_or("", |(p, _)| p).to_string();
        if images_shown.insert(parent.clone()) {
            print_multiscale(&local, &parent)?;
        }
        let name = if name.is_empty() { "(root)" } else { &name };
        match meta {
            Ok(m) => print_meta(name, &m),
            Err(e) => println!("{name}: unreadable: {e}"),
        }
    }
    Ok(())
}

/// The OME-Zarr image at `group` of `store`, if it is one: its levels with their voxel size
/// and translation, and the axes' units.
fn print_multiscale(store: &Path, group: &str) -> Result<()> {
    let Ok(Some(m)) =
        voxload::store::ome::Multiscale::read(&voxload::store::array_dir(store, group))
    else {
        return Ok(());
    };
    let shown = if group.is_empty() { "(root)" } else { group };
    let axes: Vec<String> = m
        .axes
        .iter()
        .map(|a| match &a.unit {
            Some(u) => format!("{} ({u})", a.name),
            None => a.name.clone(),
        })
        .collect();
    println!(
        "{shown}: OME-Zarr image (NGFF {}), {} levels, axes {}; opens as level 0 (`{}`)",
        m.version.as_deref().unwrap_or("?"),
        m.levels.len(),
        axes.join(", "),
        m.levels[0].path
    );
    let numbers = |v: &[f64]| {
        let parts: Vec<String> = v.iter().map(|x| format!("{x}")).collect();
        format!("[{}]", parts.join(", "))
    };
    for level in &m.levels {
        println!(
            "  level {:<4} scale {}  translation {}",
            level.path,
            numbers(&level.scale),
            numbers(&level.translation)
        );
    }
    Ok(())
}

fn print_meta(name: &str, m: &ArrayMeta) {
    let bytes = m.shape.iter().product::<u64>() * m.dtype.size() as u64;
    let status = match m.status {
        voxload::store::Status::Complete => "complete",
        voxload::store::Status::InProgress => "IN PROGRESS (unfinished ingest)",
        voxload::store::Status::Unmarked => "unmarked (written by another tool)",
    };
    println!("{name}");
    println!(
        "  shape     {:?} (z, y, x), {}",
        m.shape,
        human_bytes(bytes as f64)
    );
    println!("  dtype     {}", m.dtype);
    println!("  chunks    {:?}", m.chunk);
    println!("  encoding  {}", m.layout.describe());
    println!("  status    {status}");
    if m.status == voxload::store::Status::InProgress {
        let slabs = m.shape[0].div_ceil(m.chunk[0].max(1));
        let done = voxload::ingest::ProgressLog::new(&m.path).count();
        println!("  progress  {done} of {slabs} slabs recorded; finish with `ingest ... --resume` (or `ingest --finalize` after --z-range jobs)");
    }
}

fn human_bytes(b: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", units[u])
}

fn open_meta(address: &Path) -> Result<(PathBuf, String, ArrayMeta)> {
    let (store, name) = split_address(address);
    let options = OpenOptions {
        allow_incomplete: true,
        ..OpenOptions::default()
    };
    // Opening resolves what is not a plain Zarr array: an OME-Zarr image (its level 0), an
    // HDF5 dataset, a TIFF file.
    let meta = voxload::store::AnyArray::open(&store, &name, &options)?
        .meta()
        .clone();
    Ok((store, name, meta))
}

fn window(args: &WindowArgs) -> Result<()> {
    let start = parse_triple::<i64>(&args.start).context("--start")?;
    let shape = parse_triple::<u64>(&args.shape).context("--shape")?;
    let pad: PadMode = args.pad.parse()?;
    if (0..3).any(|a| start[a].checked_add_unsigned(shape[a]).is_none()) {
        bail!("--start {start:?} with --shape {shape:?}: the window ends beyond 2^63");
    }
    let (store, name, meta) = open_meta(&args.address)?;
    if let Some(c) = pad.constant() {
        voxload::pad::representable(c, meta.dtype)
            .map_err(|reason| anyhow::anyhow!("--pad {pad}: {reason}"))?;
    }
    voxload::geometry::check_allocation("--shape", shape, meta.dtype.size())?;
    let options = OpenOptions {
        allow_incomplete: args.allow_incomplete,
        ..OpenOptions::default()
    };
    let window = Bbox::new(start, shape);
    voxload::dispatch_dtype!(meta.dtype, T => {
        let array = MappedArray::<T>::open_with(&store, &name, &options)?;
        let data = array.read(window, pad)?;
        ndarray_npy::write_npy(&args.out, &data)
            .with_context(|| format!("writing {}", args.out.display()))?;
    });
    eprintln!(
        "wrote {} ({:?} {} voxels at {:?}, pad {pad})",
        args.out.display(),
        shape,
        meta.dtype,
        start
    );
    Ok(())
}

fn bench_read(args: &BenchReadArgs) -> Result<()> {
    let shape = parse_triple::<u64>(&args.shape).context("--shape")?;
    let pad: PadMode = args.pad.parse()?;
    positive_seconds(args.seconds)?;
    if !(args.memcpy_source_gib.is_finite()
        && (0.0..=MAX_MEMCPY_GIB).contains(&args.memcpy_source_gib))
    {
        bail!(
            "--memcpy-source-gib {}: expected a number of GiB up to {MAX_MEMCPY_GIB} (values below 1 count as 1)",
            args.memcpy_source_gib
        );
    }
    let (store, name, meta) = open_meta(&args.address)?;
    let placement = if args.straddle {
        Placement::Straddle
    } else {
        Placement::Interior
    };
    let mut stream = WindowStream::new(meta.shape, shape, placement, args.seed);
    let warmed = if args.cold {
        0
    } else {
        voxload::bench::warm_page_cache(&meta.path)?
    };
    let rate = voxload::dispatch_dtype!(meta.dtype, T => {
        let array = MappedArray::<T>::open(&store, &name)?;
        measure_reads::<T>(&array, &mut stream, pad, 1.0, args.seconds)?
    });
    let copy_bytes = (shape.iter().product::<u64>() as usize) * meta.dtype.size();
    let source = (args.memcpy_source_gib.max(1.0) * (1u64 << 30) as f64) as usize;
    let memcpy =
        memcpy_rate(copy_bytes, source, args.seconds.min(3.0)).context("--memcpy-source-gib")?;
    let ratio = rate.bytes_per_s() / memcpy.bytes_per_s();
    if args.json {
        let out = serde_json::json!({
            "command": "bench read",
            "array": args.address,
            "window": shape,
            "placement": if args.straddle { "straddle" } else { "interior" },
            "pad": pad.to_string(),
            "encoding": meta.layout.describe(),
            "chunks": meta.chunk,
            "warmed_bytes": warmed,
            "windows": rate.items,
            "seconds": rate.seconds,
            "items_per_s": rate.items_per_s(),
            "bytes_per_s": rate.bytes_per_s(),
            "memcpy_bytes_per_s": memcpy.bytes_per_s(),
            "ratio_to_memcpy": ratio,
        });
        println!("{out}");
    } else {
        println!(
            "{} windows {:?} ({}), 1 thread: {:.0} windows/s, {:.2} GB/s",
            if args.straddle {
                "straddling"
            } else {
                "interior"
            },
            shape,
            meta.layout.describe(),
            rate.items_per_s(),
            rate.bytes_per_s() / 1e9
        );
        println!(
            "memcpy of the same size from a {:.0} GiB buffer: {:.2} GB/s; reads reach {:.0} % of it",
            source as f64 / (1u64 << 30) as f64,
            memcpy.bytes_per_s() / 1e9,
            100.0 * ratio
        );
    }
    Ok(())
}

fn bench_decode(args: &BenchDecodeArgs) -> Result<()> {
    use voxload::image::Content;
    use voxload::ingest::Input;
    let input = Input::recognise(&args.input)?;
    let content = Content::from_label(args.label);
    let (shape, _) = input.probe(content)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()?;
    let threads = pool.current_num_threads();
    let t = Instant::now();
    let (files, bytes) = pool.install(|| input.decode_only(shape))?;
    let secs = t.elapsed().as_secs_f64();
    if args.json {
        let out = serde_json::json!({
            "command": "bench decode",
            "input": args.input,
            "threads": threads,
            "files": files,
            "seconds": secs,
            "items_per_s": files as f64 / secs,
            "bytes_per_s": bytes as f64 / secs,
        });
        println!("{out}");
    } else {
        println!(
            "decoded {files} files, {} in {secs:.2} s on {threads} threads: {:.0} MB/s, {:.0} files/s",
            human_bytes(bytes as f64),
            bytes as f64 / secs / 1e6,
            files as f64 / secs
        );
    }
    Ok(())
}

/// The largest memcpy source buffer `bench read` allocates, GiB.
const MAX_MEMCPY_GIB: f64 = 1024.0;

/// Checks a `--seconds` value: a finite number above 0.
pub(crate) fn positive_seconds(seconds: f64) -> Result<()> {
    if !(seconds.is_finite() && seconds > 0.0) {
        bail!("--seconds {seconds}: expected a finite number of seconds above 0");
    }
    Ok(())
}

fn synth(args: &SynthArgs) -> Result<()> {
    let volume: Shape = parse_triple(&args.volume).context("--volume")?;
    if args.tile == 0 {
        bail!("--tile 0: the tile side must be at least 1 pixel");
    }
    if let Some(format) = &args.tiles {
        let format = match format.as_str() {
            "png" => voxload::synth::TileFormat::Png,
            "tiff" | "tif" => voxload::synth::TileFormat::TiffLzw,
            other => bail!("--tiles {other}: expected png or tiff"),
        };
        let t = Instant::now();
        let json = voxload::synth::write_tile_dataset(&args.store, volume, args.tile, format, 1)?;
        println!(
            "wrote {} ({volume:?}, {} tiles) in {:.1} s",
            json.display(),
            args.tile,
            t.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let chunk: Shape = parse_triple(&args.chunk).context("--chunk")?;
    let encoding = match &args.shard {
        Some(shard) => Encoding::ShardedRaw {
            shard: parse_triple(shard).context("--shard")?,
        },
        None => args.codec.parse()?,
    };
    let t = Instant::now();
    let bytes = voxload::synth::write_volume(&args.store, &args.array, volume, chunk, encoding, 1)?;
    println!(
        "wrote {} {volume:?} as {}/{} in {:.1} s",
        human_bytes(bytes as f64),
        args.store.display(),
        args.array,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
