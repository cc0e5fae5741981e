//! voxload's integration tests, one binary with themed modules.

mod util;

mod atomic;
mod augment;
mod augment_intensity;
mod bad_input;
mod config;
mod config_yaml;
mod foreign;
mod fuzz_replay;
mod geometry;
mod ingest;
mod ingest_util;
mod intensity;
mod loader;
mod loader_buffers;
mod loader_labels;
mod loader_targets;
mod read;
mod roundtrip;
mod sampler;
mod sampling;
mod sampling_index;
mod sampling_volumes;
mod targets;
