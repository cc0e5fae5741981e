//! `voxload.ingest`: tile JSON, image lists, stacks and folders into a Zarr array, as the
//! `ingest` command does.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use voxload::ingest::Ingest;
use voxload::Encoding;

use crate::errors;

/// Ingests `input` into array `array` of the store at `store` and returns what was done
/// (`shape`, `dtype`, `slabs_written`, `slabs_skipped`, `missing_tiles`, `bytes`, `seconds`,
/// `complete`). `chunk`/`shard` are `(z, y, x)`; `codec` is `"raw"`, `"zstd"` or `"zstd:L"`;
/// `z_range` is `(a, b)`. With `progress`, a one-line bar is drawn on standard error. The GIL
/// is released while it runs.
#[pyfunction]
#[pyo3(signature = (input, store, array = "image", label = false, chunk = None, shard = None,
                    codec = "raw", threads = None, resume = false, overwrite = false,
                    z_range = None, progress = true))]
#[allow(clippy::too_many_arguments)]
pub fn ingest<'py>(
    py: Python<'py>,
    input: PathBuf,
    store: PathBuf,
    array: &str,
    label: bool,
    chunk: Option<(u64, u64, u64)>,
    shard: Option<(u64, u64, u64)>,
    codec: &str,
    threads: Option<usize>,
    resume: bool,
    overwrite: bool,
    z_range: Option<(u64, u64)>,
    progress: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let codec: Encoding = codec.parse().map_err(errors::to_py)?;
    let mut job = Ingest::new(&input, &store)
        .array(array)
        .label(label)
        .shard(shard.map(|(z, y, x)| [z, y, x]))
        .codec(codec)
        .threads(threads)
        .resume(resume)
        .overwrite(overwrite)
        .z_range(z_range);
    if let Some((z, y, x)) = chunk {
        job = job.chunk([z, y, x]);
    }
    if progress {
        let total = py.detach(|| job.plan()).map_err(errors::to_py)?.2[0];
        let total = z_range.map_or(total, |(a, b)| b.saturating_sub(a));
        job = job.progress(Some(bar(total)));
    }
    let report = py.detach(|| job.run()).map_err(errors::to_py)?;
    if progress {
        eprintln!();
    }
    let out = PyDict::new(py);
    out.set_item("shape", report.shape.to_vec())?;
    out.set_item("dtype", report.dtype.name())?;
    out.set_item("slabs_written", report.slabs_written)?;
    out.set_item("slabs_skipped", report.slabs_skipped)?;
    out.set_item("missing_tiles", report.missing_tiles)?;
    out.set_item("bytes", report.bytes)?;
    out.set_item("seconds", report.seconds)?;
    out.set_item("complete", report.complete)?;
    Ok(out)
}

/// A progress line on standard error, redrawn in place in a terminal (and in notebooks, which
/// honour the carriage return), one line per slab elsewhere.
fn bar(total: u64) -> voxload::ingest::ProgressFn {
    let started = Instant::now();
    let in_place = std::io::stderr().is_terminal() || std::env::var_os("JPY_PARENT_PID").is_some();
    Arc::new(move |done, bytes| {
        let width = 30;
        let filled = (done * width / total.max(1)).min(width) as usize;
        let rate = bytes as f64 / started.elapsed().as_secs_f64().max(1e-9) / 1e6;
        let line = format!(
            "[{}{}] {done}/{total} slices, {rate:.0} MB/s",
            "#".repeat(filled),
            " ".repeat(width as usize - filled)
        );
        let mut err = std::io::stderr().lock();
        let _ = if in_place {
            write!(err, "\r{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    })
}
