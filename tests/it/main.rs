//! voxload's integration tests, one binary with themed modules.

mod util;

mod atomic;
mod bad_input;
mod cli;
mod foreign;
mod geometry;
mod ingest;
mod ingest_util;
mod interop;
mod read;
mod resume;
mod roundtrip;
mod sampler;
mod sampling;
