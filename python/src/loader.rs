//! `voxload.Loader`: the library's threaded prefetch loader, its batches handed to numpy
//! without a copy.

use std::path::PathBuf;
use std::time::Duration;

use numpy::PyArray;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use voxload::config::{Config, ConfigMode};
use voxload::loader::{BatchArray, LoaderBuilder, Mode, PooledArray, Prefetch};
use voxload::match_dtype;

use crate::errors;

/// How long one wait for a batch lasts before Python's signal handlers (Ctrl-C) get a turn.
const POLL: Duration = Duration::from_millis(50);

/// A batch array owned by Python: the numpy arrays of a batch view its memory, and it goes back
/// to the loader's pool when the last of them is gone.
#[pyclass(frozen, module = "voxload")]
pub struct BatchBuffer {
    array: PooledArray,
}

/// The loader of a configuration (a file path, or a dict shaped like the file): iterating
/// yields batches as `dict[str, numpy.ndarray]` plus `"info"`.
#[pyclass(module = "voxload")]
pub struct Loader {
    batches: Option<Prefetch>,
    /// What a `PredictionWriter` needs of it: the configuration, mode and share.
    config: Config,
    mode: Mode,
    rank: u64,
    world_size: u64,
}

impl Loader {
    /// The configuration, mode, rank and world size the loader was made with.
    pub fn grid_source(&self) -> (&Config, Mode, u64, u64) {
        (&self.config, self.mode, self.rank, self.world_size)
    }
}

#[pymethods]
impl Loader {
    #[new]
    #[pyo3(signature = (config, mode = "train", seed = 0, epoch = 0, rank = 0, world_size = 1,
                        workers = None, prefetch = None, samples = None,
                        widen_integers = false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        config: &Bound<'_, PyAny>,
        mode: &str,
        seed: u64,
        epoch: u64,
        rank: u64,
        world_size: u64,
        workers: Option<usize>,
        prefetch: Option<usize>,
        samples: Option<u64>,
        widen_integers: bool,
    ) -> PyResult<Self> {
        let (mode, stage) =
            voxload::loader::pytc_mode(mode).map_err(|e| errors::value_error(e.to_string()))?;
        let config = read_config(py, config, stage)?;
        let mut builder = LoaderBuilder::from_config(&config, mode)
            .map_err(errors::to_py)?
            .seed(seed)
            .epoch(epoch)
            .rank(rank, world_size)
            .widen_integers(widen_integers);
        if let Some(w) = workers {
            builder = builder.workers(w);
        }
        if let Some(p) = prefetch {
            builder = builder.prefetch(p);
        }
        if let Some(n) = samples {
            builder = builder.samples(n);
        }
        let batches = py
            .detach(|| builder.build_prefetch())
            .map_err(errors::to_py)?;
        Ok(Loader {
            batches: Some(batches),
            config,
            mode,
            rank,
            world_size,
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next batch; waiting releases the GIL, and Ctrl-C stops the workers promptly.
    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyDict>>> {
        let Some(batches) = self.batches.as_mut() else {
            return Ok(None);
        };
        let next = loop {
            if let Some(next) = py.detach(|| batches.next_within(POLL)) {
                break next;
            }
            if let Err(interrupt) = py.check_signals() {
                self.close(py);
                return Err(interrupt);
            }
        };
        let Some(batch) = next else {
            self.close(py);
            return Ok(None);
        };
        let batch = batch.map_err(errors::to_py)?;
        let (arrays, samples) = batch.into_pooled();
        let out = PyDict::new(py);
        for (key, array) in arrays {
            let buffer = Bound::new(py, BatchBuffer { array })?;
            // Targets and weights carry their channel axis already.
            let channels = key.starts_with("target_") || key.starts_with("weight_");
            out.set_item(&key, numpy_view(&buffer, !channels)?)?;
        }
        let json = py.import("json")?;
        let info = PyList::empty(py);
        for sample in &samples {
            info.append(json.call_method1("loads", (sample.to_json().to_string(),))?)?;
        }
        out.set_item("info", info)?;
        Ok(Some(out.unbind()))
    }

    /// The number of batches of the stream: in grid mode this rank's block, in train mode with
    /// `samples=N` `ceil(N / batch size)`; a `TypeError` for an endless train stream.
    fn __len__(&self) -> PyResult<usize> {
        let batches = self.batches.as_ref().and_then(Prefetch::batches);
        batches.map(|n| n as usize).ok_or_else(|| {
            pyo3::exceptions::PyTypeError::new_err(
                "an endless train loader has no length; pass samples=N, or use mode=\"grid\"",
            )
        })
    }

    /// The loader's statistics (samples, rejections, waits, …) as a dict.
    fn stats(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let Some(batches) = self.batches.as_ref() else {
            return Err(errors::error("the loader is closed".into()));
        };
        let text = batches.stats().to_json().to_string();
        Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
    }

    /// Stops the workers and joins their threads (also done when the loader is dropped or the
    /// iteration ends).
    fn close(&mut self, py: Python<'_>) {
        if let Some(batches) = self.batches.take() {
            py.detach(move || drop(batches));
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &mut self,
        py: Python<'_>,
        _kind: Option<&Bound<'_, PyAny>>,
        _value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) {
        self.close(py);
    }
}

/// The numpy array viewing `buffer`'s memory, with the channel axis models expect added when
/// `add_channel`: `(B, 1, D, H, W)` (`(B, 1, H, W)` for 2D batches).
fn numpy_view<'py>(
    buffer: &Bound<'py, BatchBuffer>,
    add_channel: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let array: &BatchArray = buffer.get().array.get();
    let container = buffer.clone().into_any();
    let view = match_dtype!(array, BatchArray<T>(a) => {
        // SAFETY: `container` (the BatchBuffer that owns the data) becomes the numpy array's
        // base object, so the memory lives as long as any view of it, and the buffer is never
        // reallocated or touched from Rust while Python holds it: it only goes back to the pool
        // when the BatchBuffer is dropped, after the last view.
        unsafe { PyArray::<T, _>::borrow_from_array(a, container) }.into_any()
    });
    if !add_channel {
        return Ok(view);
    }
    let numpy = view.py().import("numpy")?;
    numpy.call_method1("expand_dims", (view, 1))
}

/// A configuration from a path (`str`/`os.PathLike`, YAML or JSON), a list of paths (merged in
/// order, later values winning, as PyTC merges a base and a task file), or a dict shaped like
/// the file; read for `mode` (PyTC's test mode applies its inference overrides).
pub fn read_config(
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    mode: ConfigMode,
) -> PyResult<Config> {
    if let Ok(path) = config.extract::<PathBuf>() {
        return py
            .detach(|| Config::load(&[path], mode))
            .map_err(errors::to_py);
    }
    if config.is_instance_of::<PyDict>() {
        let text: String = py
            .import("json")?
            .call_method1("dumps", (config,))?
            .extract()?;
        let here = std::env::current_dir().unwrap_or_default();
        return Config::from_str_mode(&text, here, mode).map_err(errors::to_py);
    }
    if let Ok(paths) = config.extract::<Vec<PathBuf>>() {
        return py
            .detach(|| Config::load(&paths, mode))
            .map_err(errors::to_py);
    }
    Err(errors::value_error(format!(
        "config: expected a path, a list of paths or a dict, got {}",
        config.get_type().name()?
    )))
}
