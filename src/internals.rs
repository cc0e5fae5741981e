//! Not part of the stable API: used by voxload's own front ends (`voxload-cli`, the Python
//! package), benches and tests, and free to change in any release.
//!
//! The tools need a few of the library's internals to do their work the way the library does
//! it: the allocator tuning they call at the start of `main`, the buffer pools the loader
//! recycles voxel buffers through (benches and tests watch them), and the atomic writer every
//! file the library writes goes through, with its fault-injection variables. A user of the
//! library needs none of them.
//!
//! ```
//! use voxload::internals::{atomic, recycle};
//!
//! let dir = tempfile::tempdir()?;
//! atomic::write_atomic(&dir.path().join("a.txt"), b"whole or nothing")?;
//! let buffer = recycle::take::<f32>(1024);
//! recycle::give(buffer);
//! # Ok::<(), std::io::Error>(())
//! ```

/// Process-wide memory tuning and measurement.
pub mod memory {
    pub use crate::memory::{keep_freed_memory, rss_anon_kib};
}

/// Buffer pools: this thread's (`take`, `give`) and shared ones ([`Pool`](recycle::Pool)).
pub mod recycle {
    pub use crate::recycle::{give, give_array, take, take_filled, Pool, Recyclable};
}

/// Atomic file writes (temporary file, then rename) and the fault hooks' variables.
pub mod atomic {
    pub use crate::store::atomic::{
        remove_stale_temporaries, write_atomic, write_atomic_with, FAULT_ENV, FULL_DISK_ENV,
        TEMP_MARKER,
    };
}
