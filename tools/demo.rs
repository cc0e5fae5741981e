//! `voxload demo`: the whole data path on synthetic data, printing what it costs.
//!
//! It writes PyTorch Connectomics tile datasets (PNG tiles) of an EM-like image, sparse labels
//! and a partial valid mask, ingests them into one Zarr v3 store, writes a PyTC-style config,
//! then streams augmented batches with rejection sampling on one worker and on every core, and
//! writes a preview montage.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use voxload::config::Config;
use voxload::geometry::parse_triple;
use voxload::ingest::Ingest;
use voxload::loader::{LoaderBuilder, Mode};
use voxload::synth::{write_tiles, TileContent, TileFormat};
use voxload::Shape;

/// The demo's configuration: PyTC's defaults plus labels, a valid mask and rejection sampling.
const CONFIG: &str = r#"{
  "DATASET": {
    "INPUT_PATH": "demo.zarr",
    "IMAGE_NAME": "image",
    "LABEL_NAME": "label",
    "VALID_MASK_NAME": "valid_mask",
    "REJECT_SAMPLING": {"SIZE_THRES": 1000, "P": 0.95}
  },
  "MODEL": {"INPUT_SIZE": [8, 256, 256]},
  "SOLVER": {"SAMPLES_PER_BATCH": 2}
}
"#;

fn ingest(json: &Path, store: &Path, array: &str, label: bool) -> Result<f64> {
    let report = Ingest::new(json, store)
        .array(array)
        .label(label)
        .overwrite(true)
        .run()
        .with_context(|| format!("ingesting {}", json.display()))?;
    Ok(report.seconds)
}

pub fn run(dir: &Option<PathBuf>, volume: &str, tile: u64, seconds: f64) -> Result<()> {
    let volume: Shape = parse_triple(volume).context("--volume")?;
    let temp;
    let root = match dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    println!("voxload demo in {}", root.display());

    let t = Instant::now();
    let tiles = |name: &str, content| {
        write_tiles(&root.join(name), volume, tile, TileFormat::Png, content)
            .with_context(|| format!("writing the {name} tiles"))
    };
    let image_json = tiles("image", TileContent::Image { seed: 1 })?;
    let label_json = tiles("label", TileContent::Label { seed: 1 })?;
    let mask_json = tiles("mask", TileContent::ValidMask)?;
    println!(
        "1. synthesised {volume:?} tile datasets ({tile}x{tile} PNG tiles, PyTC JSON): EM-like image, sparse labels, valid mask over 70 % of x, in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let store = root.join("demo.zarr");
    let bytes = volume.iter().product::<u64>() as f64;
    let secs = ingest(&image_json, &store, "image", false)?;
    let label_secs = ingest(&label_json, &store, "label", true)?;
    let mask_secs = ingest(&mask_json, &store, "valid_mask", false)?;
    println!(
        "2. ingested them into {}: image {:.0} MB/s, label {:.1} s, valid_mask {:.1} s",
        store.display(),
        bytes / secs / 1e6,
        label_secs,
        mask_secs
    );

    let config_path = root.join("demo.json");
    std::fs::write(&config_path, CONFIG)?;
    let config = Config::from_file(&config_path)?;
    let builder = LoaderBuilder::from_config(&config, Mode::Train)?;
    println!(
        "3. config {}: input {:?}, sample {:?} (PyTC's default augmentation), SIZE_THRES 1000, P 0.95, VALID_RATIO 0.5",
        config_path.display(),
        config.input_size,
        config.compose()?.sample_size()
    );
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut one = 0.0;
    for workers in [1, cores] {
        let b = builder.clone().workers(workers).prefetch(2 * workers);
        let (samples, bytes, secs, stats) = crate::sample::stream_for(&b, seconds)?;
        let rate = samples as f64 / secs;
        if workers == 1 {
            one = rate;
        }
        println!(
            "   {workers} worker{}: {rate:.1} augmented samples/s ({:.0} MB/s of float32 batches){}; {:.0} % of candidates rejected, {} forced accepts",
            if workers == 1 { " " } else { "s" },
            bytes as f64 / secs / 1e6,
            if workers > 1 { format!(", {:.2}x one worker", rate / one) } else { String::new() },
            100.0 * stats.rejection_rate(),
            stats.forced
        );
    }

    let preview = match dir {
        Some(d) => d.join("preview.png"),
        None => PathBuf::from("voxload-demo-preview.png"),
    };
    let batches = builder
        .clone()
        .batch_size(1)
        .samples(8)
        .build_prefetch()?
        .collect::<voxload::Result<Vec<_>>>()?;
    crate::montage::write(&preview, &batches)?;
    println!(
        "4. wrote {}: 8 samples' middle slices, labels in colour, outside the valid mask in red",
        preview.display()
    );
    println!("done. Next: `voxload sample --config CFG.json --out DIR`, `voxload info STORE`, `ingest --help`.");
    Ok(())
}
