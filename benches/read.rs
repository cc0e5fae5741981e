//! Window-read throughput from a warm, page-cached 1 GiB store, beside memcpy of the same sizes.
//!
//! `cargo bench --bench read` builds (once) 1 GiB uint8 stores under `target/bench-data/`:
//! raw chunks `(32, 256, 256)`, the same sharded into `(64, 512, 512)` shards, and zstd; then
//! measures random `(8, 256, 256)` and `(32, 320, 320)` windows, interior and straddling the
//! volume edge with reflect padding, on one thread. Figures come out in bytes/s.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use voxload::bench::{Placement, WindowStream};
use voxload::{Encoding, MappedArray, PadMode, Shape};

const VOLUME: Shape = [256, 2048, 2048];
const CHUNK: Shape = [32, 256, 256];
const WINDOWS: [Shape; 2] = [[8, 256, 256], [32, 320, 320]];

fn store(name: &str, encoding: Encoding) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    let store = dir.join(format!("{name}.zarr"));
    if MappedArray::<u8>::open(&store, "image").is_err() {
        eprintln!("writing {} (once)", store.display());
        voxload::synth::write_volume(&store, "image", VOLUME, CHUNK, encoding, 1)
            .expect("writing the bench store");
    }
    store
}

fn reads(c: &mut Criterion) {
    let stores = [
        ("raw", Encoding::Raw),
        (
            "sharded",
            Encoding::ShardedRaw {
                shard: [64, 512, 512],
            },
        ),
        ("zstd", Encoding::Zstd { level: 3 }),
    ];
    for window in WINDOWS {
        let bytes = window.iter().product::<u64>();
        let mut group =
            c.benchmark_group(format!("read_{}x{}x{}", window[0], window[1], window[2]));
        group.throughput(Throughput::Bytes(bytes));
        group.measurement_time(Duration::from_secs(4));
        for (name, encoding) in stores {
            let array = MappedArray::<u8>::open(store(name, encoding), "image").unwrap();
            let mut out = vec![0u8; bytes as usize];
            for (placement, label) in [
                (Placement::Interior, "interior"),
                (Placement::Straddle, "straddle"),
            ] {
                if name == "zstd" && placement == Placement::Straddle {
                    continue;
                }
                let mut stream = WindowStream::new(VOLUME, window, placement, 5);
                group.bench_function(BenchmarkId::new(name, label), |b| {
                    b.iter(|| {
                        array
                            .read_into(stream.next_window(), PadMode::Reflect, &mut out)
                            .unwrap()
                    });
                });
            }
        }
        // The reference: one contiguous copy of the same size from random places of a 1 GiB
        // buffer, so no cache holds the source.
        let source: Vec<u8> = (0..1usize << 30).map(|i| (i % 251) as u8).collect();
        let mut dest = vec![0u8; bytes as usize];
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        let slots = (source.len() - dest.len()) / 64;
        group.bench_function("memcpy_1GiB_source", |b| {
            b.iter(|| {
                let at = rng.random_range(0..slots) * 64;
                let n = dest.len();
                dest.copy_from_slice(&source[at..at + n]);
                std::hint::black_box(&mut dest);
            });
        });
        group.finish();
    }
}

#[allow(missing_docs)]
mod harness {
    criterion::criterion_group!(benches, super::reads);
}
criterion_main!(harness::benches);
