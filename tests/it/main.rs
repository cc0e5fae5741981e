//! voxload's integration tests, one binary with themed modules.

mod util;

mod atomic;
mod augment;
mod augment_intensity;
mod bad_corpus;
mod bad_input;
mod cli;
mod concurrent;
mod config;
mod foreign;
mod fuzz_replay;
mod geometry;
mod hostile_sizes;
mod hostile_stores;
mod ingest;
mod ingest_util;
mod interop;
mod loader;
mod loader_buffers;
mod overwrite_safety;
mod predict;
mod read;
mod resume;
mod roundtrip;
mod sample_cli;
mod sampler;
mod sampling;
mod sampling_index;
mod sampling_volumes;
