//! `voxload demo`: the whole data path on synthetic data, printing what it costs.
//!
//! It writes a PyTorch Connectomics tile dataset of PNG tiles, ingests it into a Zarr v3 store,
//! then streams randomly sampled, reflect-padded training windows from the store, on one thread
//! and on every core.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use voxload::geometry::parse_triple;
use voxload::ingest::Ingest;
use voxload::sampler::{RandomSampler, Rejection, SampleVolume, WindowSettings};
use voxload::{MappedArray, Shape};

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
    let bytes = volume.iter().product::<u64>() as f64;
    println!("voxload demo in {}", root.display());

    let t = Instant::now();
    let tiles = root.join("tiles");
    let json = voxload::synth::write_tile_dataset(
        &tiles,
        volume,
        tile,
        voxload::synth::TileFormat::Png,
        1,
    )?;
    println!(
        "1. synthesised a {volume:?} uint8 tile dataset ({tile}x{tile} PNG tiles, PyTC JSON) in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let store = root.join("demo.zarr");
    let report = Ingest::new(&json, &store).overwrite(true).run()?;
    println!(
        "2. ingested it into {}/image in {:.1} s ({:.0} MB/s), chunks {:?}",
        store.display(),
        report.seconds,
        bytes / report.seconds / 1e6,
        voxload::store::ArrayMeta::read(&store.join("image"))?.chunk
    );

    let image = MappedArray::<u8>::open(&store, "image")?;
    let settings = WindowSettings::default();
    let sampler = RandomSampler::new(
        vec![SampleVolume {
            shape: volume,
            label: None,
            valid_mask: None,
        }],
        settings,
        Rejection::default(),
    )?;
    let window_bytes = settings.sample.iter().product::<u64>() as f64;
    let stream = |first: u64, step: u64| -> Result<u64> {
        let mut out = vec![0u8; window_bytes as usize];
        let start = Instant::now();
        let mut i = first;
        let mut n = 0;
        while start.elapsed().as_secs_f64() < seconds {
            let draw = sampler.draw(0, 0, i)?;
            image.read_into(draw.window, settings.pad_mode, &mut out)?;
            i += step;
            n += 1;
        }
        Ok(n)
    };
    let t = Instant::now();
    let one = stream(0, 1)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "3. streamed random {:?} training windows (PAD_SIZE {:?}, reflect): {:.0} windows/s, {:.2} GB/s on 1 thread",
        settings.sample,
        settings.pad,
        one as f64 / secs,
        one as f64 * window_bytes / secs / 1e9
    );
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let t = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| s.spawn(move || stream(k, threads)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().ok().and_then(|r| r.ok()).unwrap_or(0))
            .sum()
    });
    let secs = t.elapsed().as_secs_f64();
    println!(
        "   {:.0} windows/s, {:.2} GB/s on {threads} threads",
        total as f64 / secs,
        total as f64 * window_bytes / secs / 1e9
    );
    println!(
        "done. Next: `voxload info STORE`, `voxload bench read STORE/ARRAY`, `ingest --help`."
    );
    Ok(())
}
