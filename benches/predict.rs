//! Blending predictions back: windows/s and MB/s for `(1, 8, 256, 256)` float32 predictions at
//! stride `(4, 128, 128)` (half the window), gaussian weights, one thread, written as a raw
//! float32 Zarr array — the accumulation, normalisation and chunk writes all counted.
//!
//! `cargo bench --bench predict` prints the figures; `-- --json` prints one JSON object (used by
//! `benches/run_predict_bench.sh`, which runs numpy's blend beside it). `-- --big DIR` instead
//! blends a `(512, 4096, 4096)` uint8 raw output into `DIR` (8 GiB on disk) and reports the peak
//! memory (VmHWM, RssAnon).
//!
//! Environment: `VOXLOAD_PREDICT_VOLUME=D,H,W` (default `64,1024,1024`).

use std::path::Path;
use std::time::Instant;

use ndarray::Array4;
use voxload::predict::{OutputType, PredictionWriter, Weight};
use voxload::Shape;

const WINDOW: Shape = [8, 256, 256];
const STRIDE: Shape = [4, 128, 128];

fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A model output: smooth values in [0, 1].
fn prediction() -> Array4<f32> {
    Array4::from_shape_fn((1, 8, 256, 256), |(_, z, y, x)| {
        0.5 + 0.4 * ((z * 3 + y) as f32 * 0.05).sin() * ((x as f32) * 0.03).cos()
    })
}

/// Blends the whole grid over `volume` into `dir`; returns (windows, seconds, peak bytes held
/// by the writer).
fn blend(dir: &Path, volume: Shape, dtype: OutputType) -> (u64, f64, u64) {
    let pred = prediction();
    let writer = PredictionWriter::builder(volume, WINDOW, STRIDE)
        .weight(Weight::Gaussian)
        .dtype(dtype)
        .overwrite(true)
        .create(dir, "pred")
        .unwrap();
    let positions: Vec<_> = writer.positions().collect();
    let t = Instant::now();
    for p in &positions {
        writer.add(*p, pred.view()).unwrap();
    }
    let peak = writer.peak_bytes();
    writer.finish().unwrap();
    (positions.len() as u64, t.elapsed().as_secs_f64(), peak)
}

fn main() {
    voxload::internals::memory::keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    let json = args.iter().any(|a| a == "--json");
    if let Some(i) = args.iter().position(|a| a == "--big") {
        let dir = args.get(i + 1).expect("--big DIR");
        let volume = [512, 4096, 4096];
        let (n, secs, held) = blend(Path::new(dir), volume, OutputType::U8);
        println!(
            "(512, 4096, 4096) uint8 raw output: {n} windows in {secs:.0} s ({:.0} windows/s); writer held at most {:.0} MiB; VmHWM {:.0} MiB, RssAnon at the end {:.0} MiB (numpy's float32 result + weight: {:.0} GiB)",
            n as f64 / secs,
            held as f64 / (1 << 20) as f64,
            status_kib("VmHWM:") as f64 / 1024.0,
            status_kib("RssAnon:") as f64 / 1024.0,
            512.0 * 4096.0 * 4096.0 * 8.0 / (1u64 << 30) as f64,
        );
        return;
    }
    let volume: Shape = std::env::var("VOXLOAD_PREDICT_VOLUME")
        .ok()
        .and_then(|v| voxload::geometry::parse_triple(&v).ok())
        .unwrap_or([64, 1024, 1024]);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    // One warm-up run (page cache, allocator), then the measured one.
    blend(dir.path(), [16, 512, 512], OutputType::F32);
    let (n, secs, held) = blend(dir.path(), volume, OutputType::F32);
    let window_bytes = (WINDOW.iter().product::<u64>() * 4) as f64;
    let per_s = n as f64 / secs;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "volume": volume, "window": WINDOW, "stride": STRIDE, "weight": "gaussian",
                "windows": n, "seconds": secs, "items_per_s": per_s,
                "bytes_per_s": per_s * window_bytes, "writer_peak_bytes": held,
                "vm_hwm_kib": status_kib("VmHWM:"),
            })
        );
    } else {
        println!(
            "blend {volume:?} float32 raw, (1, 8, 256, 256) windows at stride (4, 128, 128), gaussian, 1 thread: {n} windows in {secs:.2} s, {per_s:.0} windows/s, {:.0} MB/s of predictions; writer held at most {:.0} MiB",
            per_s * window_bytes / 1e6,
            held as f64 / (1 << 20) as f64
        );
    }
}
