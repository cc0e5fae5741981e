//! Helpers shared by the integration tests: synthetic volumes and a naïve padding oracle.

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
    voxload::memory::rss_anon_kib().expect("RssAnon in /proc/self/status")
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

/// Runs the `voxload` binary: whether it succeeded, and its stdout then stderr.
pub fn run_voxload(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_voxload"))
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// How a binary run under [`run_bounded`] ended.
#[derive(Debug)]
pub struct Bounded {
    /// The exit code; `None` when a signal ended the process (an abort, or the deadline).
    pub code: Option<i32>,
    /// Whether the deadline killed it.
    pub timed_out: bool,
    /// Its stdout, then its stderr.
    pub text: String,
}

impl Bounded {
    /// Asserts a clean failure: exit code 2 or 1 (not a signal, not a timeout), no panic, no
    /// aborted allocation, and the message contains every one of `names`.
    pub fn assert_clean_error(&self, names: &[&str]) {
        assert!(
            !self.timed_out,
            "still running at the deadline: {}",
            self.text
        );
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "expected a failing exit code, got {:?}: {}",
            self.code,
            self.text
        );
        assert!(!self.text.contains("panicked"), "{}", self.text);
        assert!(!self.text.contains("memory allocation"), "{}", self.text);
        for name in names {
            assert!(
                self.text.contains(name),
                "`{name}` not named in: {}",
                self.text
            );
        }
    }
}

/// Runs one of the crate's binaries (`voxload` or `ingest`) with `args` under an address-space
/// limit of `mem_mib` MiB (so an absurd allocation aborts it) and a deadline of `secs` seconds
/// (after which it is killed), with stdin closed.
pub fn run_bounded(bin: &str, args: &[&str], mem_mib: u64, secs: u64) -> Bounded {
    let exe = match bin {
        "voxload" => env!("CARGO_BIN_EXE_voxload"),
        "ingest" => env!("CARGO_BIN_EXE_ingest"),
        other => panic!("unknown binary {other}"),
    };
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {} && exec \"$0\" \"$@\"",
            mem_mib * 1024
        ))
        .arg(exe)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut timed_out = false;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            timed_out = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Bounded {
        code: out.status.code(),
        timed_out,
        text,
    }
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
