//! Reading while another process ingests: threads read random windows of a store while an
//! `ingest --z-range` process writes a different z range of it. Finished chunks read exactly
//! as the source; unfinished ones read as fill or are refused with a typed error; nothing reads
//! as data that is neither.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use voxload::{Bbox, MappedArray, OpenOptions, PadMode};

use crate::ingest_util::*;

#[test]
fn readers_see_finished_chunks_or_fill_while_another_process_ingests() {
    let dir = tempfile::tempdir().unwrap();
    let shape = [40usize, 160, 160];
    let volume = random_volume(shape, 256, 21).mapv(|v| v.max(1)); // 0 only as fill
    let json = write_tile_dataset(dir.path(), &volume, [80, 80], [0, 0], TileFormat::Png8);
    let json = json.to_str().unwrap();
    let store = dir.path().join("live.zarr");
    let s = store.to_str().unwrap();
    let ingest = |range: &str| {
        Command::new(env!("CARGO_BIN_EXE_ingest"))
            .args([
                json,
                s,
                "--chunk",
                "2,32,32",
                "--z-range",
                range,
                "--threads",
                "1",
                "--quiet",
            ])
            .spawn()
            .unwrap()
    };
    // The first half is finished before the readers start; the second is written under them.
    assert!(ingest("0:20").wait().unwrap().success());
    let mut writer = ingest("20:40");

    let options = OpenOptions {
        allow_incomplete: true,
        ..OpenOptions::default()
    };
    let done = Arc::new(AtomicBool::new(false));
    let volume = Arc::new(volume);
    let (reads, fills, refusals) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let readers: Vec<_> = (0..4u64)
        .map(|t| {
            let (done, volume, store, options) =
                (done.clone(), volume.clone(), store.clone(), options);
            let (reads, fills, refusals) = (reads.clone(), fills.clone(), refusals.clone());
            std::thread::spawn(move || {
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ t;
                let mut next = |n: usize| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    (rng % n as u64) as i64
                };
                // Reads go on until the writer is done, and at least 50 per thread.
                let mut mine = 0;
                while !done.load(Ordering::Relaxed) || mine < 50 {
                    mine += 1;
                    // Reopened now and then, so that newly finished chunks are seen.
                    let array = MappedArray::<u8>::open_with(&store, "image", &options).unwrap();
                    let window = Bbox::new([next(36), next(140), next(140)], [4, 20, 20]);
                    let got = match array.read(window, PadMode::Edge) {
                        Ok(got) => got,
                        Err(voxload::Error::ChunkSize { .. } | voxload::Error::Io { .. }) => {
                            refusals.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        Err(e) => panic!("unexpected error reading {window:?}: {e}"),
                    };
                    reads.fetch_add(1, Ordering::Relaxed);
                    for ((z, y, x), &v) in got.indexed_iter() {
                        let at = [
                            window.begin[0] as usize + z,
                            window.begin[1] as usize + y,
                            window.begin[2] as usize + x,
                        ];
                        let want = volume[at] as u8;
                        if at[0] < 20 {
                            assert_eq!(v, want, "finished region at {at:?}");
                        } else if v == 0 {
                            fills.fetch_add(1, Ordering::Relaxed);
                        } else {
                            assert_eq!(v, want, "region being written at {at:?}");
                        }
                    }
                }
            })
        })
        .collect();
    assert!(writer.wait().unwrap().success());
    done.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert!(reads.load(Ordering::Relaxed) >= 200);
    eprintln!(
        "{} windows read, {} voxels read as fill, {} reads refused",
        reads.load(Ordering::Relaxed),
        fills.load(Ordering::Relaxed),
        refusals.load(Ordering::Relaxed)
    );
    // Once both ranges are in and finalised, everything reads as the source.
    assert!(Command::new(env!("CARGO_BIN_EXE_ingest"))
        .args(["--finalize", s])
        .status()
        .unwrap()
        .success());
    let array = MappedArray::<u8>::open(&store, "image").unwrap();
    let whole = array
        .read(Bbox::from_shape(shape.map(|v| v as u64)), PadMode::Edge)
        .unwrap();
    assert_eq!(whole, volume.mapv(|v| v as u8));
}
