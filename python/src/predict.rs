//! `voxload.PredictionWriter`: a grid loader's predictions blended back into Zarr arrays, one
//! writer per volume, shared with the other ranks of the same grid.

use std::path::PathBuf;

use ndarray::{ArrayView4, Axis};
use numpy::{PyArrayDyn, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rayon::prelude::*;
use voxload::augment::Variant;
use voxload::config::Config;
use voxload::loader::Mode;
use voxload::predict::{
    Finished, OutputPlan, OutputSettings, OutputType, PredictionWriter, VariantCombiner, Weight,
};
use voxload::{Coord, Encoding};

use crate::errors;
use crate::loader::{read_config, Loader};

/// The configuration, mode and share of a loader (a `voxload.Loader`, or an object with
/// `config`, `mode` and `shares()` such as `voxload.torch.VolumeDataset`).
fn loader_grid(loader: &Bound<'_, PyAny>) -> PyResult<(Config, Mode, u64, u64)> {
    if let Ok(l) = loader.extract::<PyRef<'_, Loader>>() {
        let (config, mode, rank, world) = l.grid_source();
        return Ok((config.clone(), mode, rank, world));
    }
    let py = loader.py();
    let (Ok(config), Ok(mode), Ok(shares)) = (
        loader.getattr("config"),
        loader.getattr("mode"),
        loader.call_method0("shares"),
    ) else {
        return Err(errors::value_error(format!(
            "loader: expected a voxload.Loader or a voxload.torch.VolumeDataset, got {}",
            loader.get_type().name()?
        )));
    };
    let (rank, world): (u64, u64) = shares.extract()?;
    let (mode, stage) = voxload::loader::pytc_mode(&mode.extract::<String>()?)
        .map_err(|e| errors::value_error(e.to_string()))?;
    Ok((read_config(py, &config, stage)?, mode, rank, world))
}

/// One volume's output.
enum Output {
    /// Being written; finished as soon as its last window of this rank is added.
    Open(Box<PredictionWriter>),
    /// Finished by this writer (`true` when the array is complete, `false` when other ranks
    /// complete it).
    Closed(bool),
    /// Not this rank's (no window of the volume), or skipped as complete (`DO_SINGLY`).
    None,
}

/// Blends the predictions of a grid loader's batches into one Zarr array per volume (see the
/// stub file for the full description).
#[pyclass(module = "voxload", name = "PredictionWriter")]
pub struct Writer {
    outputs: Vec<Output>,
    two_d: bool,
    paths: Vec<PathBuf>,
    /// Windows added to the outputs already finished.
    closed_added: u64,
    /// Combines each window's test-time variants (`INFERENCE.AUG_NUM`) before blending.
    combiner: Option<VariantCombiner>,
}

#[pymethods]
impl Writer {
    #[new]
    #[pyo3(signature = (store, array, loader, channels = 1, dtype = None,
                        blending = None, codec = "raw", chunk = None, overwrite = false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        store: PathBuf,
        array: &str,
        loader: &Bound<'_, PyAny>,
        channels: usize,
        dtype: Option<&Bound<'_, PyAny>>,
        blending: Option<&str>,
        codec: &str,
        chunk: Option<[u64; 3]>,
        overwrite: bool,
    ) -> PyResult<Self> {
        let (config, mode, rank, world) = loader_grid(loader)?;
        if mode != Mode::Grid {
            return Err(errors::value_error(
                "loader: predictions are blended over the inference grid; use mode=\"grid\"".into(),
            ));
        }
        let dtype: OutputType = dtype
            .map_or(Ok("float32".to_string()), dtype_name)?
            .parse()
            .map_err(errors::to_py)?;
        let weight: Weight = blending
            .unwrap_or(&config.blending)
            .parse()
            .map_err(errors::to_py)?;
        let encoding: Encoding = codec.parse().map_err(errors::to_py)?;
        voxload::store::check_array_name(array).map_err(errors::to_py)?;
        let plan = py
            .detach(|| OutputPlan::from_config(&config))
            .map_err(errors::to_py)?;
        let mut outputs = Vec::new();
        let mut paths = Vec::new();
        let settings = OutputSettings {
            channels,
            weight,
            dtype,
            encoding,
            chunk,
            overwrite,
        };
        for v in 0..plan.volumes().len() {
            paths.push(voxload::store::array_dir(&store, &plan.name(array, v)));
            let writer = py
                .detach(|| {
                    let placement = plan.placement(v, &store, array, (rank, world))?;
                    plan.create(v, &store, placement, &settings)
                })
                .map_err(errors::to_py)?;
            outputs.push(writer.map_or(Output::None, |w| Output::Open(Box::new(w))));
        }
        let tta = &config.test_augment;
        Ok(Writer {
            outputs,
            two_d: config.do_2d,
            paths,
            closed_added: 0,
            combiner: (tta.len() > 1).then(|| VariantCombiner::new(tta.clone())),
        })
    }

    /// Adds a grid batch's predictions: `predictions` is a numpy array or a CPU torch tensor of
    /// shape `(B, C, D, H, W)` (`(B, C, H, W)` with `DO_2D`), `batch` the loader's batch (its
    /// `"info"` says where each window goes).
    fn add(
        &mut self,
        py: Python<'_>,
        batch: &Bound<'_, PyAny>,
        predictions: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let info = batch.get_item("info").map_err(|_| {
            errors::value_error("batch: no \"info\"; pass the loader's batch".into())
        })?;
        let info = info.cast::<PyList>().map_err(|_| {
            errors::value_error("batch[\"info\"]: expected the loader's list of dicts".into())
        })?;
        let mut places: Vec<(usize, Coord)> = Vec::with_capacity(info.len());
        let mut variants: Vec<(u64, (usize, Variant))> = Vec::new();
        for item in info.iter() {
            let item = item.cast::<PyDict>().map_err(|_| {
                errors::value_error("batch[\"info\"]: expected the loader's list of dicts".into())
            })?;
            let volume: usize = required(item, "volume")?.extract()?;
            let start: Coord = required(item, "start")?.extract()?;
            if volume >= self.outputs.len() {
                return Err(errors::value_error(format!(
                    "batch[\"info\"]: volume {volume}, but the configuration has {}",
                    self.outputs.len()
                )));
            }
            places.push((volume, start));
            if let Some(c) = &self.combiner {
                variants.push(recorded_variant(item, c.test_augment().len())?);
            }
        }
        let array = as_float32(py, predictions)?;
        let array = array.readonly();
        let view = array.as_array();
        let shape = view.shape().to_vec();
        let expected = if self.two_d { 4 } else { 5 };
        if shape.len() != expected || shape[0] != places.len() {
            return Err(errors::value_error(format!(
                "predictions of shape {shape:?}: expected (B, C, {}) with B = {} windows of the batch",
                if self.two_d { "H, W" } else { "D, H, W" },
                places.len()
            )));
        }
        let view = if self.two_d {
            view.insert_axis(Axis(2))
        } else {
            view
        };
        let view = view
            .into_dimensionality::<ndarray::Ix5>()
            .map_err(|e| errors::value_error(e.to_string()))?;
        let (outputs, combiner) = (&self.outputs, &self.combiner);
        py.detach(|| {
            places
                .par_iter()
                .enumerate()
                .try_for_each(|(b, &(volume, start))| match &outputs[volume] {
                    Output::Open(writer) => {
                        let window: ArrayView4<'_, f32> = view.index_axis(Axis(0), b);
                        let Some(combiner) = combiner else {
                            return writer.add(start, window);
                        };
                        let (index, variant) = variants[b];
                        match combiner.add(volume, index, variant, window)? {
                            Some(combined) => writer.add(start, combined.view()),
                            None => Ok(()),
                        }
                    }
                    _ => Ok(()),
                })
        })
        .map_err(errors::to_py)?;
        // A volume whose windows of this rank are all in is finished now (DO_SINGLY runs
        // complete their arrays one by one, so an interrupted run resumes).
        let mut touched: Vec<usize> = places.iter().map(|p| p.0).collect();
        touched.dedup();
        for v in touched {
            let full = match &self.outputs[v] {
                Output::Open(w) => {
                    let (lo, hi) = w.own_windows();
                    w.added() == hi - lo
                }
                _ => false,
            };
            if full {
                self.finish_volume(py, v)?;
            }
        }
        Ok(())
    }

    /// Finishes every output: returns True when all of this writer's arrays are complete,
    /// False when some are completed by other ranks still writing. Fails (the arrays stay
    /// in-progress) when windows of this rank were never added.
    fn close(&mut self, py: Python<'_>) -> PyResult<bool> {
        for v in 0..self.outputs.len() {
            self.finish_volume(py, v)?;
        }
        Ok(self
            .outputs
            .iter()
            .all(|o| !matches!(o, Output::Closed(false))))
    }

    /// The output arrays' directories, one per volume.
    #[getter]
    fn paths(&self) -> Vec<PathBuf> {
        self.paths.clone()
    }

    /// Windows added so far (over all volumes).
    #[getter]
    fn added(&self) -> u64 {
        self.outputs
            .iter()
            .map(|o| match o {
                Output::Open(w) => w.added(),
                Output::Closed(_) | Output::None => 0,
            })
            .sum::<u64>()
            + self.closed_added
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Closes the writer unless the block raised (then the arrays stay in-progress).
    fn __exit__(
        &mut self,
        py: Python<'_>,
        kind: Option<&Bound<'_, PyAny>>,
        _value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        if kind.is_none() {
            self.close(py)?;
        }
        Ok(())
    }
}

/// The grid index and test-time variant a batch's info entry records.
fn recorded_variant(item: &Bound<'_, PyDict>, count: usize) -> PyResult<(u64, (usize, Variant))> {
    let index: u64 = required(item, "index")?.extract()?;
    let missing = || {
        errors::value_error(format!(
            "batch[\"info\"]: window {index} records no test-time variant, but the configuration has INFERENCE.AUG_NUM {count}; pass batches of the loader of this configuration"
        ))
    };
    let transforms = required(item, "transforms")?;
    for t in transforms.try_iter()? {
        let t = t?;
        let t = t.cast::<PyDict>().map_err(|_| missing())?;
        if required(t, "name")?.extract::<String>()? != voxload::augment::TEST_AUGMENT {
            continue;
        }
        let on = |key: &str| -> PyResult<bool> { required(t, key)?.extract() };
        let variant = Variant {
            flip_x: on("flip_x")?,
            flip_y: on("flip_y")?,
            flip_z: on("flip_z")?,
            transpose: on("transpose")?,
        };
        return Ok((index, (required(t, "variant")?.extract()?, variant)));
    }
    Err(missing())
}

impl Writer {
    fn finish_volume(&mut self, py: Python<'_>, v: usize) -> PyResult<()> {
        let output = std::mem::replace(&mut self.outputs[v], Output::None);
        let Output::Open(writer) = output else {
            self.outputs[v] = output;
            return Ok(());
        };
        let (lo, hi) = writer.own_windows();
        match py.detach(|| writer.finish()) {
            Ok(finished) => {
                self.outputs[v] = Output::Closed(finished == Finished::Complete);
                self.closed_added += hi - lo;
                Ok(())
            }
            Err(e) => Err(errors::to_py(e)),
        }
    }
}

fn required<'py>(item: &Bound<'py, PyDict>, key: &str) -> PyResult<Bound<'py, PyAny>> {
    item.get_item(key)?
        .ok_or_else(|| errors::value_error(format!("batch[\"info\"]: an entry without \"{key}\"")))
}

/// `"float32"`, `"uint8"`, or a numpy dtype / type of those names.
fn dtype_name(dtype: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = dtype.extract::<String>() {
        return Ok(s);
    }
    let numpy = dtype.py().import("numpy")?;
    numpy.getattr("dtype")?.call1((dtype,))?.str()?.extract()
}

/// The predictions as a C-ordered float32 numpy array (no copy when they are one already; a
/// torch tensor must be on the CPU, and is detached from autograd).
fn as_float32<'py>(
    py: Python<'py>,
    predictions: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let mut value = predictions.clone();
    if value.hasattr("detach")? && value.hasattr("device")? {
        let device: String = value.getattr("device")?.getattr("type")?.extract()?;
        if device != "cpu" {
            return Err(errors::value_error(format!(
                "predictions are on the {device} device; move them to the CPU first (predictions.cpu())"
            )));
        }
        value = value.call_method0("detach")?.call_method0("numpy")?;
    }
    let numpy = py.import("numpy")?;
    let array = numpy.call_method1("ascontiguousarray", (value, "float32"))?;
    array.cast_into::<PyArrayDyn<f32>>().map_err(|_| {
        errors::value_error("predictions: expected a numeric numpy array or CPU tensor".into())
    })
}

/// Reads a whole prediction array `(C, D, H, W)` into a float32 numpy array (uint8 arrays give
/// their stored values 0–255): for checking small outputs; large ones are read with any Zarr
/// client, window by window.
#[pyfunction]
pub fn read_prediction<'py>(
    py: Python<'py>,
    store: PathBuf,
    array: &str,
) -> PyResult<Bound<'py, numpy::PyArray4<f32>>> {
    let values = py
        .detach(|| voxload::predict::read_prediction(&store, array))
        .map_err(errors::to_py)?;
    Ok(numpy::PyArray4::from_owned_array(py, values))
}
