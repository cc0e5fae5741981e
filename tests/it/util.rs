//! Helpers shared by the integration tests: synthetic volumes and a naïve padding oracle.
//! Shared by the library's tests (`tests/it`) and the command-line crate's (`tools/tests/cli`);
//! each uses a part.
#![allow(dead_code)]

use ndarray::Array3;
use voxload::{Bbox, Element, PadMode};

/// The value formula shared with the zarr-python fixtures (`tests/fixtures/make_zarr_python.py`).
pub fn formula(z: usize, y: usize, x: usize) -> u64 {
    (z * 10007 + y * 101 + x * 7 + 3) as u64
}

/// A value of the fixture formula in each data type's convention.
pub trait Formula: Element {
    fn at(z: usize, y: usize, x: usize) -> Self;
}
impl Formula for u8 {
    fn at(z: usize, y: usize, x: usize) -> Self {
        (formula(z, y, x) % 256) as u8
    }
}
impl Formula for u16 {
    fn at(z: usize, y: usize, x: usize) -> Self {
        (formula(z, y, x) % 65536) as u16
    }
}
impl Formula for u32 {
    fn at(z: usize, y: usize, x: usize) -> Self {
        formula(z, y, x) as u32
    }
}
impl Formula for u64 {
    fn at(z: usize, y: usize, x: usize) -> Self {
        formula(z, y, x) + (1 << 40)
    }
}
impl Formula for f32 {
    fn at(z: usize, y: usize, x: usize) -> Self {
        formula(z, y, x) as f32 * 0.125
    }
}

/// A volume filled with the fixture formula.
pub fn formula_volume<T: Formula>(shape: [usize; 3]) -> Array3<T> {
    Array3::from_shape_fn((shape[0], shape[1], shape[2]), |(z, y, x)| T::at(z, y, x))
}

/// The in-volume index for coordinate `i` on an axis of length `n`, by the definition of each
/// mode as repeated mirroring about the volume's faces (no modular arithmetic), or `None` for
/// constant padding.
pub fn mirror(i: i64, n: i64, mode: PadMode) -> Option<i64> {
    if (0..n).contains(&i) {
        return Some(i);
    }
    match mode {
        PadMode::Constant(_) => None,
        PadMode::Edge => Some(i.clamp(0, n - 1)),
        PadMode::Reflect if n == 1 => Some(0),
        // Mirror about the first / last voxel's centre.
        PadMode::Reflect if i < 0 => mirror(-i, n, mode),
        PadMode::Reflect => mirror(2 * (n - 1) - i, n, mode),
        // Mirror about the volume's faces.
        PadMode::Symmetric if i < 0 => mirror(-1 - i, n, mode),
        PadMode::Symmetric => mirror(2 * n - 1 - i, n, mode),
    }
}

/// The window as numpy would give it: every voxel looked up independently through `mirror`.
pub fn naive_window<T: Element>(volume: &Array3<T>, window: Bbox, mode: PadMode) -> Array3<T> {
    let dims = volume.shape().to_vec();
    let cval = T::from_f64(mode.constant().unwrap_or(0.0));
    let [d, h, w] = window.shape.map(|v| v as usize);
    Array3::from_shape_fn((d, h, w), |(z, y, x)| {
        let pos = [z, y, x];
        let mut src = [0usize; 3];
        for a in 0..3 {
            match mirror(window.begin[a] + pos[a] as i64, dims[a] as i64, mode) {
                Some(s) => src[a] = s as usize,
                None => return cval,
            }
        }
        volume[src]
    })
}

pub const ALL_MODES: [PadMode; 5] = [
    PadMode::Constant(0.0),
    PadMode::Constant(7.0),
    PadMode::Reflect,
    PadMode::Symmetric,
    PadMode::Edge,
];

/// Anonymous resident memory of this process (`RssAnon` in /proc/self/status), KiB; mapped
/// page cache does not count.
pub fn rss_anon_kib() -> u64 {
    voxload::internals::memory::rss_anon_kib().expect("RssAnon in /proc/self/status")
}

/// Runs `test` alone in a child process of this test binary (RssAnon is per process, and other
/// tests allocate in parallel), asserting that it passed; true in the parent, false in the child.
pub fn in_child_process(test: &str) -> bool {
    if std::env::var_os("VOXLOAD_TEST_CHILD").is_some() {
        return false;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--test-threads", "1", "--nocapture"])
        .env("VOXLOAD_TEST_CHILD", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

/// Every regular file under `dir` (recursively, symlinks not followed) with a hash of its
/// bytes, by path relative to `dir`: compare before and after to show nothing changed.
pub fn tree_hash(dir: &std::path::Path) -> std::collections::BTreeMap<String, u64> {
    use std::hash::{Hash, Hasher};
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            let rel = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(&path).unwrap().hash(&mut h);
                out.insert(rel, h.finish());
            } else {
                out.insert(rel, 0);
            }
        }
    }
    out
}

/// The repository's root (the library's manifest directory), from the library's tests or the
/// command-line crate's (`tools/`).
pub fn repo_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    if dir.join("tools").is_dir() {
        dir.to_path_buf()
    } else {
        dir.parent().unwrap().to_path_buf()
    }
}

/// The Python interpreter with zarr and numpy: `$VOXLOAD_PYTHON`, else `python3`.
pub fn python() -> String {
    std::env::var("VOXLOAD_PYTHON").unwrap_or_else(|_| "python3".into())
}

pub fn run_python(args: &[&str]) {
    let script_dir = repo_dir().join("tests/interop");
    let mut cmd = std::process::Command::new(python());
    cmd.arg(script_dir.join(args[0])).args(&args[1..]);
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "cannot run {} (set VOXLOAD_PYTHON or run scripts/test.sh): {e}",
            python()
        )
    });
    assert!(
        out.status.success(),
        "{} failed:\n{}\n{}",
        args[0],
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
