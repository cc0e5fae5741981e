//! The command-line tools' tests: everything that runs the `voxload` and `ingest` binaries
//! (with the library's own API for set-up and oracles), one binary with themed modules. The
//! helpers shared with the library's tests live in `tests/it/` at the repository's root.

#[path = "../../../tests/it/ingest_util.rs"]
mod ingest_util;
#[path = "../../../tests/it/util.rs"]
mod shared_util;

mod bins;

/// The shared helpers and the binary runners under one name.
mod util {
    pub use crate::bins::*;
    pub use crate::shared_util::*;
}

mod bad_corpus;
mod cli;
mod concurrent;
mod hostile_sizes;
mod hostile_stores;
mod interop;
mod overwrite_safety;
mod predict;
mod predict_shared;
mod resume;
mod sample_cli;
