//! The loader's steady state: once warmed up, its workers take their voxel-sized buffers (samples
//! being read and augmented, interpolation tables, smoothed fields, batch arrays) from their
//! pools. A buffer is allocated only when a sample needs a larger intermediate than any its
//! worker has met (Rescale and Rotate change sizes), which becomes rare: without the pools the
//! same batches allocate about a thousand.
//!
//! A test binary of its own: it counts allocations with a global allocator, which would see
//! other tests' allocations if it shared a process with them.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::Array3;
use voxload::augment::{Compose, TargetKind};
use voxload::loader::{Batch, Loader, LoaderBuilder};
use voxload::sampler::{ArrayNames, Volume};
use voxload::{write_array, Encoding, OpenOptions};

/// Allocations of at least this size are buffers (a slice of a `(64, 64)` float32 plane is
/// 16 KiB, a sample here is megabytes); smaller ones are per-sample bookkeeping.
const BUFFER_BYTES: usize = 64 << 10;

static BUFFERS: AtomicU64 = AtomicU64::new(0);
static ALL: AtomicU64 = AtomicU64::new(0);

struct Counting;

impl Counting {
    fn count(size: usize) {
        ALL.fetch_add(1, Ordering::Relaxed);
        if size >= BUFFER_BYTES {
            BUFFERS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

// SAFETY: every call is passed straight to the system allocator; counting has no effect on it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Counting::count(layout.size());
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Counting::count(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Counting::count(new_size);
        // SAFETY: the caller's contract for `realloc` is passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn loader(dir: &std::path::Path) -> LoaderBuilder {
    let image = Array3::from_shape_fn((32, 256, 256), |(z, y, x)| {
        ((z * 7 + y * 3 + x * 5) % 251) as u8
    });
    let label = image.mapv(|v| u16::from(v % 17 == 0) * (u16::from(v) + 1));
    write_array(dir, "image", &image, [8, 64, 64], Encoding::Raw).unwrap();
    write_array(dir, "label", &label, [8, 64, 64], Encoding::Raw).unwrap();
    let names = ArrayNames::new("image").label("label");
    let volume = Volume::open(0, dir, &names, &OpenOptions::default()).unwrap();
    // Every transform of PyTC's default set, each applied with its default probability.
    let compose = Compose::new(
        Compose::pytc_defaults(),
        [8, 64, 64],
        [("label", TargetKind::Mask)],
    )
    .unwrap();
    Loader::builder(vec![volume], compose).batch_size(2).seed(5)
}

/// Buffer-sized and all allocations while `batches` more batches are taken, handed to `keep`.
fn allocations(
    it: &mut impl Iterator<Item = voxload::Result<Batch>>,
    batches: usize,
    mut keep: impl FnMut(Batch),
) -> (u64, u64) {
    let (buffers, all) = (BUFFERS.load(Ordering::SeqCst), ALL.load(Ordering::SeqCst));
    for _ in 0..batches {
        keep(it.next().unwrap().unwrap());
    }
    (
        BUFFERS.load(Ordering::SeqCst) - buffers,
        ALL.load(Ordering::SeqCst) - all,
    )
}

#[test]
fn warmed_up_workers_allocate_no_buffers() {
    let dir = tempfile::tempdir().unwrap();
    let mut it = loader(dir.path())
        .workers(2)
        .prefetch(4)
        .build_prefetch()
        .unwrap();
    // Warm-up: the pools fill with every size a sample and a batch need.
    allocations(&mut it, 40, drop);
    let (buffers, all) = allocations(&mut it, 60, drop);
    eprintln!(
        "steady state: {buffers} buffer allocations, {all} allocations in all, in 120 samples"
    );
    // At most one per 20 samples (0–2 seen; ~1 000 with the pools off).
    assert!(
        buffers <= 6,
        "workers allocated {buffers} buffers of ≥ 64 KiB in 60 steady-state batches"
    );

    // The control: batches kept by the consumer never come back, so every new batch needs new
    // arrays — the counter sees them.
    let mut kept = Vec::new();
    let (buffers, _) = allocations(&mut it, 10, |b| kept.push(b));
    assert!(
        buffers >= 8,
        "10 batches kept by the consumer should need new arrays, counted {buffers}"
    );
}
