//! The loader: serial and prefetching streams agree, errors end the stream, memory is bounded.

use std::path::Path;
use std::time::{Duration, Instant};

use ndarray::Array3;
use serde_json::{Map, Value};
use voxload::augment::{Compose, Sample, SampleRng, TargetKind, Transform};
use voxload::loader::{Batch, BatchArray, Loader, LoaderBuilder, Mode};
use voxload::sampler::{ArrayNames, Volume};
use voxload::{write_array, Bbox, Encoding, MappedArray, OpenOptions, PadMode};

use crate::util::{in_child_process, naive_window, rss_anon_kib};

const LABEL: [(&str, TargetKind); 1] = [("label", TargetKind::Mask)];

fn store(dir: &Path, shape: [usize; 3]) -> (Array3<u8>, Array3<u16>) {
    let image = Array3::from_shape_fn((shape[0], shape[1], shape[2]), |(z, y, x)| {
        ((z * 7 + y * 3 + x * 5) % 251) as u8
    });
    let label = Array3::from_shape_fn((shape[0], shape[1], shape[2]), |(z, y, x)| {
        ((z / 4) * 16 + (y / 16) * 4 + x / 16) as u16 % 7
    });
    write_array(dir, "image", &image, [8, 32, 32], Encoding::Raw).unwrap();
    write_array(dir, "label", &label, [8, 32, 32], Encoding::Raw).unwrap();
    (image, label)
}

fn volume(dir: &Path) -> Volume {
    let names = ArrayNames::new("image").label("label");
    Volume::open(0, dir, &names, &OpenOptions::default()).unwrap()
}

fn builder(dir: &Path, compose: Compose) -> LoaderBuilder {
    Loader::builder(vec![volume(dir)], compose)
        .batch_size(3)
        .samples(12)
}

fn collect(it: impl Iterator<Item = voxload::Result<Batch>>) -> Vec<Batch> {
    it.collect::<voxload::Result<Vec<_>>>().unwrap()
}

#[test]
fn prefetch_equals_serial_for_any_workers_and_depth() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), [24, 96, 96]);
    let compose = Compose::new(Compose::pytc_defaults(), [4, 32, 32], LABEL).unwrap();
    let b = builder(dir.path(), compose).seed(11);
    let serial = collect(b.build().unwrap());
    assert_eq!(serial.len(), 4);
    assert_eq!(serial[0].array("image").unwrap().shape(), &[3, 4, 32, 32]);
    assert_eq!(serial[0].array("label").unwrap().shape(), &[3, 4, 32, 32]);
    for workers in [1, 2, 4] {
        for depth in [1, 3] {
            let threaded = collect(
                b.clone()
                    .workers(workers)
                    .prefetch(depth)
                    .build_prefetch()
                    .unwrap(),
            );
            assert_eq!(threaded, serial, "workers {workers}, prefetch {depth}");
        }
    }
    let other_seed = collect(b.clone().seed(12).build().unwrap());
    let other_epoch = collect(b.clone().epoch(1).build().unwrap());
    assert_ne!(other_seed[0].samples[0].start, serial[0].samples[0].start);
    assert_ne!(other_epoch, serial);
    // Batch k holds samples k·B … k·B + B − 1.
    for (k, batch) in serial.iter().enumerate() {
        let indices: Vec<u64> = batch.samples.iter().map(|s| s.index).collect();
        assert_eq!(
            indices,
            (3 * k as u64..3 * k as u64 + 3).collect::<Vec<_>>()
        );
    }
}

#[test]
fn unaugmented_samples_equal_the_window_at_their_recorded_position() {
    let dir = tempfile::tempdir().unwrap();
    let (image, label) = store(dir.path(), [20, 64, 64]);
    let compose = Compose::disabled([4, 24, 24], LABEL).unwrap();
    let batches = collect(builder(dir.path(), compose).seed(3).build().unwrap());
    let mut outside = 0;
    for batch in &batches {
        let (BatchArray::F32(images), BatchArray::U16(labels)) =
            (batch.array("image").unwrap(), batch.array("label").unwrap())
        else {
            panic!("image float32, label uint16 expected");
        };
        for (i, s) in batch.samples.iter().enumerate() {
            assert_eq!(s.shape, [4, 24, 24]);
            assert!(s.transforms.is_empty());
            outside += usize::from(s.start.iter().any(|&c| c < 0));
            let window = Bbox::new(s.start, s.shape);
            let want_image =
                naive_window(&image, window, PadMode::Reflect).mapv(|v| f32::from(v) / 255.0);
            let want_label = naive_window(&label, window, PadMode::Reflect);
            assert_eq!(
                images.index_axis(ndarray::Axis(0), i),
                want_image.into_dyn()
            );
            assert_eq!(
                labels.index_axis(ndarray::Axis(0), i),
                want_label.into_dyn()
            );
        }
    }
    assert!(
        outside > 0,
        "PAD_SIZE lets windows start outside the volume"
    );
}

#[test]
fn grid_mode_walks_the_padded_grid_in_order_and_splits_ranks() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), [8, 40, 40]);
    let compose = Compose::disabled([4, 16, 16], LABEL).unwrap();
    let b = Loader::builder(vec![volume(dir.path())], compose)
        .mode(Mode::Grid)
        .pad([0, 4, 4])
        .stride([4, 16, 16])
        .batch_size(4);
    let all: Vec<_> = collect(b.build().unwrap())
        .into_iter()
        .flat_map(|b| b.into_parts().1)
        .collect();
    // Padded volume (8, 48, 48): starts 0, 4 in z and 0, 16, 32 in y and x, shifted by −4.
    assert_eq!(all.len(), 2 * 3 * 3);
    assert_eq!(all[0].start, [0, -4, -4]);
    assert_eq!(all[1].start, [0, -4, 12]);
    assert_eq!(all[17].start, [4, 28, 28]);
    assert!(all
        .iter()
        .all(|s| s.rejections == 0 && !s.forced && s.transforms.is_empty()));
    let mut ranks = Vec::new();
    for r in 0..3 {
        let part: Vec<_> = collect(b.clone().rank(r, 3).build_prefetch().unwrap())
            .into_iter()
            .flat_map(|b| b.into_parts().1)
            .collect();
        ranks.extend(part);
    }
    assert_eq!(
        ranks, all,
        "rank blocks are contiguous, disjoint and complete"
    );
}

#[test]
fn two_d_batches_drop_the_z_axis() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), [6, 64, 64]);
    let compose = Compose::new(Compose::pytc_defaults(), [1, 32, 32], LABEL).unwrap();
    let b = builder(dir.path(), compose).pad([0, 16, 16]).two_d(true);
    let batches = collect(b.build().unwrap());
    assert_eq!(batches[0].array("image").unwrap().shape(), &[3, 32, 32]);
    assert_eq!(batches[0].array("label").unwrap().shape(), &[3, 32, 32]);
}

/// A transform that panics on the third sample it sees.
#[derive(Debug)]
struct PanicOnThird(std::sync::atomic::AtomicUsize);

impl Transform for PanicOnThird {
    fn name(&self) -> &'static str {
        "PanicOnThird"
    }
    fn probability(&self) -> f64 {
        1.0
    }
    fn apply(&self, _: &mut Sample, _: &mut SampleRng) -> voxload::Result<Map<String, Value>> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        assert!(n != 2, "injected failure in a transform");
        Ok(Map::new())
    }
}

fn watchdog<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the loader hung")
}

#[test]
fn a_panicking_transform_ends_the_stream_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), [16, 64, 64]);
    let path = dir.path().to_path_buf();
    let items = watchdog(move || {
        let t = PanicOnThird(Default::default());
        let compose = Compose::new(vec![Box::new(t)], [4, 16, 16], LABEL).unwrap();
        let it = builder(&path, compose)
            .batch_size(1)
            .workers(2)
            .build_prefetch()
            .unwrap();
        it.map(|r| r.map(|b| b.index).map_err(|e| e.to_string()))
            .collect::<Vec<_>>()
    });
    let last = items.last().unwrap();
    assert!(
        last.as_ref().is_err_and(|e| e.contains("injected failure")),
        "{items:?}"
    );
    assert_eq!(
        items.iter().filter(|r| r.is_err()).count(),
        1,
        "the stream ends at the error"
    );
}

#[test]
fn a_failing_read_ends_the_stream_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), [16, 64, 64]);
    // Truncate every label chunk: reads of the label now fail with a typed error.
    for entry in walk(&dir.path().join("label")) {
        if entry.file_name().is_some_and(|n| n != "zarr.json") && entry.is_file() {
            std::fs::write(&entry, b"short").unwrap();
        }
    }
    let path = dir.path().to_path_buf();
    let items = watchdog(move || {
        let compose = Compose::disabled([4, 16, 16], LABEL).unwrap();
        let it = builder(&path, compose).workers(2).build_prefetch().unwrap();
        it.map(|r| r.map(|b| b.index).map_err(|e| e.to_string()))
            .collect::<Vec<_>>()
    });
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(
        items[0].as_ref().is_err_and(|e| e.contains("truncated")),
        "{items:?}"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn dropping_a_half_consumed_loader_joins_its_workers() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), [16, 64, 64]);
    let path = dir.path().to_path_buf();
    watchdog(move || {
        let compose = Compose::new(Compose::pytc_defaults(), [4, 16, 16], LABEL).unwrap();
        let b = Loader::builder(vec![volume(&path)], compose)
            .workers(3)
            .prefetch(4);
        let before = threads();
        let mut it = b.build_prefetch().unwrap();
        assert!(threads() >= before + 3);
        it.next().unwrap().unwrap();
        let start = Instant::now();
        drop(it);
        assert!(start.elapsed() < Duration::from_secs(20));
        // Other tests run threads too: the three workers must be gone at least.
        assert!(threads() < before + 3, "workers leaked");
    });
}

#[test]
fn anonymous_memory_stays_bounded_by_the_prefetch_depth() {
    if in_child_process("loader::anonymous_memory_stays_bounded_by_the_prefetch_depth") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // 128 MiB of image and 256 MiB of label on disk.
    let shape = (128, 1024, 1024);
    let image = Array3::from_shape_fn(shape, |(z, y, x)| ((z + y + x) % 256) as u8);
    write_array(dir.path(), "image", &image, [16, 256, 256], Encoding::Raw).unwrap();
    drop(image);
    let label = Array3::from_shape_fn(shape, |(_, y, x)| ((y / 64 + x / 64) % 3) as u16);
    write_array(dir.path(), "label", &label, [16, 256, 256], Encoding::Raw).unwrap();
    drop(label);
    let compose = Compose::new(Compose::pytc_defaults(), [8, 128, 128], LABEL).unwrap();
    let b = Loader::builder(vec![volume(dir.path())], compose)
        .batch_size(2)
        .samples(160)
        .workers(2)
        .prefetch(2);
    let mut it = b.build_prefetch().unwrap();
    for _ in 0..10 {
        it.next().unwrap().unwrap();
    }
    let warm = rss_anon_kib();
    let mut peak = warm;
    for batch in it {
        batch.unwrap();
        peak = peak.max(rss_anon_kib());
    }
    // A batch is ~2 × (8·128·128) × 6 bytes ≈ 1.5 MiB, plus per-worker samples of ~4 MiB; the
    // volume (384 MiB) must never be resident as anonymous memory.
    let growth_mib = (peak.saturating_sub(warm)) / 1024;
    println!(
        "RssAnon after warm-up {} MiB, peak {} MiB",
        warm / 1024,
        peak / 1024
    );
    assert!(
        growth_mib < 64,
        "RssAnon grew by {growth_mib} MiB while streaming"
    );
    assert!(
        peak / 1024 < 200,
        "RssAnon {} MiB: the volume is resident",
        peak / 1024
    );
    let _ = MappedArray::<u8>::open(dir.path(), "image").unwrap();
}

fn write_png_u8(path: &Path, a: &ndarray::Array2<u8>) {
    let (h, w) = a.dim();
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut enc = png::Encoder::new(file, w as u32, h as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let data: Vec<u8> = a.iter().copied().collect();
    enc.write_header().unwrap().write_image_data(&data).unwrap();
}

#[test]
fn streamed_image_lists_need_no_ingest_and_are_visited_in_order() {
    use voxload::config::Config;
    let dir = tempfile::tempdir().unwrap();
    let sizes = [(40, 56), (64, 48), (40, 40)];
    let mut images = Vec::new();
    let (mut im_list, mut lb_list) = (String::from("# images\n"), String::new());
    for (i, &(h, w)) in sizes.iter().enumerate() {
        let im =
            ndarray::Array2::from_shape_fn((h, w), |(y, x)| ((y * 3 + x * 5 + i * 7) % 251) as u8);
        let lb: Vec<u16> = (0..h * w).map(|k| ((k / w) / 10 + i) as u16).collect();
        write_png_u8(&dir.path().join(format!("im{i}.png")), &im);
        voxload::image::write_png_u16(
            &dir.path().join(format!("lb{i}.png")),
            w as u32,
            h as u32,
            &lb,
        )
        .unwrap();
        im_list += &format!("im{i}.png\n");
        lb_list += &format!("lb{i}.png\n");
        images.push(im);
    }
    std::fs::write(dir.path().join("images.txt"), im_list).unwrap();
    std::fs::write(dir.path().join("labels.txt"), lb_list).unwrap();
    let config = r#"{"DATASET": {"IMAGE_NAME": "images.txt", "LABEL_NAME": "labels.txt", "DO_2D": true, "MATCH_ACT": "sigmoid",
        "PAD_SIZE": [0, 0, 0]}, "MODEL": {"INPUT_SIZE": [1, 32, 32]}, "INFERENCE": {"STRIDE": [1, 16, 16], "DO_SINGLY": true},
        "AUGMENTOR": {"ENABLED": false}, "SOLVER": {"SAMPLES_PER_BATCH": 2}}"#;
    let cfg = Config::from_str_at(config, dir.path()).unwrap();
    let grid = collect(
        voxload::loader::LoaderBuilder::from_config(&cfg, Mode::Grid)
            .unwrap()
            .workers(2)
            .build_prefetch()
            .unwrap(),
    );
    let mut volumes = Vec::new();
    for batch in &grid {
        let BatchArray::F32(img) = batch.array("image").unwrap() else {
            panic!("float32 image")
        };
        assert_eq!(&img.shape()[1..], &[32, 32], "2D batches are (B, H, W)");
        for (k, s) in batch.samples.iter().enumerate() {
            volumes.push(s.volume);
            let [_, y0, x0] = s.start.map(|v| v as usize);
            let want = images[s.volume]
                .slice(ndarray::s![y0..y0 + 32, x0..x0 + 32])
                .mapv(|v| f32::from(v) / 255.0);
            assert_eq!(img.index_axis(ndarray::Axis(0), k), want.into_dyn());
        }
    }
    // Grids of 2x3, 3x2 and 2x2 windows, one image after the other.
    assert_eq!(volumes, [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2]);
    // Training over the list, with rejection reading the labels.
    let train = r#"{"DATASET": {"IMAGE_NAME": "images.txt", "LABEL_NAME": "labels.txt", "DO_2D": true,
        "PAD_SIZE": [0, 16, 16], "REJECT_SAMPLING": {"SIZE_THRES": 100}}, "MODEL": {"INPUT_SIZE": [1, 24, 24]}}"#;
    let cfg = Config::from_str_at(train, dir.path()).unwrap();
    let b = voxload::loader::LoaderBuilder::from_config(&cfg, Mode::Train)
        .unwrap()
        .samples(6);
    assert_eq!(
        collect(b.build().unwrap()),
        collect(b.workers(2).build_prefetch().unwrap())
    );
    // A missing image names the file.
    std::fs::remove_file(dir.path().join("im1.png")).unwrap();
    let err = voxload::loader::LoaderBuilder::from_config(&cfg, Mode::Train)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("im1.png"), "{err}");
}
