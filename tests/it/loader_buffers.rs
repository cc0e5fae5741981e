//! Recycled buffers never show in results: what a thread's pools held before, and which batch
//! buffers come back from dropped batches, change nothing in the stream.

use ndarray::Array3;
use voxload::augment::{Compose, TargetKind};
use voxload::internals::recycle;
use voxload::loader::{Batch, Loader, LoaderBuilder};
use voxload::sampler::{ArrayNames, Volume};
use voxload::{write_array, Encoding, OpenOptions};

fn builder(dir: &std::path::Path, seed: u64) -> LoaderBuilder {
    let image = Array3::from_shape_fn((24, 120, 120), |(z, y, x)| {
        ((z * 11 + y * 5 + x * 3) % 253) as u8
    });
    let label = image.mapv(|v| u16::from(v % 5 == 0) * u16::from(v));
    write_array(dir, "image", &image, [8, 40, 40], Encoding::Raw).unwrap();
    write_array(dir, "label", &label, [8, 40, 40], Encoding::Raw).unwrap();
    let names = ArrayNames::new("image").label("label");
    let volume = Volume::open(0, dir, &names, &OpenOptions::default()).unwrap();
    let compose = Compose::new(
        Compose::pytc_defaults(),
        [6, 48, 48],
        [("label", TargetKind::Mask)],
    )
    .unwrap();
    Loader::builder(vec![volume], compose)
        .batch_size(3)
        .samples(30)
        .seed(seed)
}

/// Fills this thread's pools with buffers of garbage (NaN, all-ones bits) of many sizes.
fn poison_this_thread() {
    for n in [7, 300, 4_100, 20_000, 70_000, 300_000, 1_200_000] {
        recycle::give(vec![f32::NAN; n]);
        recycle::give(vec![f64::NAN; n]);
        recycle::give(vec![u8::MAX; n]);
        recycle::give(vec![u16::MAX; n]);
        recycle::give(vec![u32::MAX; n]);
        recycle::give(vec![u64::MAX; n]);
        recycle::give(vec![true; n]);
        recycle::give(vec![[f32::NAN; 2]; n]);
    }
}

fn all(b: &LoaderBuilder) -> Vec<Batch> {
    b.build()
        .unwrap()
        .collect::<voxload::Result<Vec<_>>>()
        .unwrap()
}

#[test]
fn batches_do_not_depend_on_what_the_pools_held() {
    let dir = tempfile::tempdir().unwrap();
    let b = builder(dir.path(), 3);
    let fresh = {
        let b = b.clone();
        std::thread::spawn(move || all(&b)).join().unwrap()
    };
    let other = builder(dir.path(), 4);
    let reused = std::thread::spawn(move || {
        poison_this_thread();
        // Another stream leaves its own buffers behind, then garbage again on top.
        drop(all(&other));
        poison_this_thread();
        // Each batch dropped before the next is made: its arrays are refilled by the next.
        b.build()
            .unwrap()
            .map(|batch| batch.unwrap())
            .collect::<Vec<_>>()
    });
    let reused = reused.join().unwrap();
    assert_eq!(fresh.len(), 10);
    assert!(fresh[0].array("image").is_some_and(
        |a| matches!(a, voxload::loader::BatchArray::F32(x) if x.iter().all(|v| v.is_finite()))
    ));
    assert_eq!(fresh, reused);
}

#[test]
fn dropped_batches_hand_their_arrays_back_for_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let b = builder(dir.path(), 9);
    let kept = all(&b);
    let mut it = b.build().unwrap();
    let first = it.next().unwrap().unwrap();
    let first_address = match first.array("image") {
        Some(voxload::loader::BatchArray::F32(a)) => a.as_ptr(),
        _ => panic!("float32 image"),
    };
    assert_eq!(first, kept[0]);
    drop(first);
    let second = it.next().unwrap().unwrap();
    let second_address = match second.array("image") {
        Some(voxload::loader::BatchArray::F32(a)) => a.as_ptr(),
        _ => panic!("float32 image"),
    };
    assert_eq!(
        second_address, first_address,
        "the dropped batch's buffer is reused"
    );
    assert_eq!(second, kept[1]);
}
