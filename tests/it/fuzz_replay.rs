//! Every input the fuzzers found interesting, replayed: the committed corpora
//! (`fuzz/corpus-min/TARGET/`, minimised with `cargo fuzz cmin`) and crash inputs
//! (`fuzz/crashes/TARGET/`) run through the fuzz targets' own checks (`fuzz/cases.rs`), so CI
//! covers them without a fuzzer. A panic in a check fails the test, naming the input file.

#[path = "../../fuzz/cases.rs"]
mod cases;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// The files of `fuzz/{kind}/{target}`, sorted (none when the directory does not exist).
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// Runs `check` on every corpus and crash input of `target`; returns how many ran.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let corpus = inputs("corpus-min", target);
    assert!(
        !corpus.is_empty(),
        "no committed corpus for `{target}` in fuzz/corpus-min/{target}"
    );
    let all: Vec<PathBuf> = corpus
        .into_iter()
        .chain(inputs("crashes", target))
        .collect();
    for file in &all {
        let data = std::fs::read(file).unwrap();
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            panic!("fuzz input {} makes `{target}` panic", file.display());
        }
    }
    all.len()
}

#[test]
fn config_corpus() {
    replay("config", cases::config);
}

#[test]
fn tile_json_corpus() {
    replay("tile_json", cases::tile_json);
}

#[test]
fn zarr_meta_corpus() {
    replay("zarr_meta", cases::zarr_meta);
}

#[test]
fn shard_file_corpus() {
    replay("shard_file", cases::shard_file);
}

#[test]
fn window_corpus() {
    replay("window", cases::window);
}

/// The replay can fail: an input that breaks a check is reported with its file.
#[test]
fn a_failing_check_names_its_input() {
    fn fussy(data: &[u8]) {
        assert!(data.len() > 1_000_000, "short input");
    }
    let caught = catch_unwind(|| replay("config", fussy)).unwrap_err();
    let message = caught.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("fuzz/corpus-min/config/") && message.contains("`config` panic"),
        "{message}"
    );
}

#[test]
fn array_name_corpus() {
    replay("array_name", cases::array_name);
}

#[test]
fn options_corpus() {
    replay("options", cases::options);
}

#[test]
fn zstd_chunk_corpus() {
    replay("zstd_chunk", cases::zstd_chunk);
}
