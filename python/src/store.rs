//! `voxload.open`, `Store` and `Array`: padded windows of any box as numpy arrays.

use std::path::PathBuf;
use std::sync::Arc;

use numpy::{IntoPyArray, PyArrayDescr, PyUntypedArray};
use pyo3::prelude::*;
use pyo3::types::{PyEllipsis, PySlice, PySliceMethods, PyTuple};
use voxload::store::{list_arrays, split_address, AnyArray};
use voxload::{match_dtype, Bbox, OpenOptions, PadMode};

use crate::errors;

/// Opens a Zarr store (v3 or v2; or one array of it, `STORE.zarr/NAME`), an OME-Zarr image, an
/// HDF5 file (`FILE.h5`, its datasets as arrays) or a TIFF file (one array, `""`).
///
/// A path naming an array inside a store (after its last component ending in `.zarr`) opens
/// the store; `store[name]` then gives the array. Remote stores (`s3://`, `gs://`,
/// `http(s)://`) open the same way, read through voxload's local cache.
#[pyfunction]
pub fn open(py: Python<'_>, path: PathBuf) -> PyResult<Store> {
    let (root, _) = split_address(&path);
    // Listing checks that the store exists and is Zarr, with the library's message; it may
    // wait on the network, so without the GIL.
    py.detach(|| list_arrays(&root)).map_err(errors::to_py)?;
    Ok(Store { root })
}

/// A Zarr store: its arrays by name.
#[pyclass(frozen, module = "voxload")]
pub struct Store {
    root: PathBuf,
}

#[pymethods]
impl Store {
    /// The names of the store's arrays, sorted (nested ones as `group/name`).
    fn array_names(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        Ok(py
            .detach(|| list_arrays(&self.root))
            .map_err(errors::to_py)?
            .into_iter()
            .map(|(name, _)| name)
            .collect())
    }

    /// The array `name`; a `KeyError` naming it and listing the arrays there are otherwise.
    fn __getitem__(&self, py: Python<'_>, name: &str) -> PyResult<Array> {
        let mut names = self.array_names(py)?;
        if !names.iter().any(|n| n == name) {
            // A remote store that cannot be listed (a web server) shows a node once fetched.
            py.detach(|| voxload::store::remote::prepare(&self.root, name))
                .map_err(errors::to_py)?;
            names = self.array_names(py)?;
        }
        // An OME-Zarr image group is not itself an array, yet opens as its level 0.
        let local = voxload::store::remote::localize(&self.root).map_err(errors::to_py)?;
        let is_image =
            voxload::store::ome::Multiscale::read(&voxload::store::array_dir(&local, name))
                .is_ok_and(|m| m.is_some());
        if !is_image && !names.iter().any(|n| n == name) {
            return Err(errors::key_error(format!(
                "{}: no array `{name}`; the store has: {}",
                self.root.display(),
                if names.is_empty() {
                    "no arrays".to_string()
                } else {
                    names.join(", ")
                }
            )));
        }
        let array = py
            .detach(|| AnyArray::open(&self.root, name, &OpenOptions::default()))
            .map_err(errors::to_py)?;
        Ok(Array {
            inner: Arc::new(array),
            name: name.to_string(),
        })
    }

    /// Whether the store has an array `name`.
    fn __contains__(&self, py: Python<'_>, name: &str) -> PyResult<bool> {
        Ok(self.array_names(py)?.iter().any(|n| n == name))
    }

    /// The store's directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.root.clone()
    }

    fn __repr__(&self) -> String {
        format!("voxload.Store({:?})", self.root.display().to_string())
    }
}

/// One array of a store: any box of it, inside or outside the volume, as a numpy array.
#[pyclass(frozen, module = "voxload")]
pub struct Array {
    inner: Arc<AnyArray>,
    name: String,
}

#[pymethods]
impl Array {
    /// The volume's shape `(z, y, x)`.
    #[getter]
    fn shape(&self) -> (u64, u64, u64) {
        let [d, h, w] = self.inner.shape();
        (d, h, w)
    }

    /// The element type as a `numpy.dtype`.
    #[getter]
    fn dtype<'py>(&self, py: Python<'py>) -> Bound<'py, PyArrayDescr> {
        match_dtype!(self.inner.as_ref(), AnyArray<T>(_a) => numpy::dtype::<T>(py))
    }

    /// The chunk shape `(z, y, x)` (the shard shape for sharded arrays).
    #[getter]
    fn chunks(&self) -> (u64, u64, u64) {
        let [d, h, w] = self.inner.meta().chunk;
        (d, h, w)
    }

    /// The array's name in its store.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// The box of `shape` voxels starting at `start` (`(z, y, x)`, may be negative or beyond
    /// the volume), padded where it leaves the volume by `pad`: `"constant"`, `"constant:V"`,
    /// `"reflect"`, `"symmetric"` or `"edge"` (numpy.pad's rules). The GIL is released while
    /// voxels are copied.
    #[pyo3(signature = (start, shape, pad = "reflect"))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        start: (i64, i64, i64),
        shape: (u64, u64, u64),
        pad: &str,
    ) -> PyResult<Bound<'py, PyUntypedArray>> {
        let pad: PadMode = pad.parse().map_err(errors::to_py)?;
        let window = Bbox::new([start.0, start.1, start.2], [shape.0, shape.1, shape.2]);
        read_window(py, &self.inner, window, pad)
    }

    /// numpy's basic indexing for boxes inside the volume: `a[z0:z1, y0:y1, x0:x1]`, integers
    /// (which drop their axis), negative indices counting from the end, `...` and fewer than
    /// three indices. Steps other than 1 are refused; padding is `read`'s job.
    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        index: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (window, keep) = numpy_box(index, self.inner.shape())?;
        let data = read_window(py, &self.inner, window, PadMode::Constant(0.0))?;
        let dims: Vec<usize> = (0..3)
            .filter(|&a| keep[a])
            .map(|a| window.shape[a] as usize)
            .collect();
        data.call_method1("reshape", (PyTuple::new(py, dims)?,))
    }

    /// The volume's depth.
    fn __len__(&self) -> usize {
        self.inner.shape()[0] as usize
    }

    fn __repr__(&self) -> String {
        let [d, h, w] = self.inner.shape();
        format!(
            "voxload.Array({:?}, shape=({d}, {h}, {w}), dtype={}, chunks={:?})",
            self.name,
            self.inner.dtype(),
            self.inner.meta().chunk
        )
    }
}

/// Reads `window` with the GIL released and moves the result into numpy (no copy).
fn read_window<'py>(
    py: Python<'py>,
    array: &Arc<AnyArray>,
    window: Bbox,
    pad: PadMode,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    match_dtype!(array.as_ref(), AnyArray<T>(a) => {
        let data = py.detach(|| a.read(window, pad)).map_err(errors::to_py)?;
        Ok(data.into_pyarray(py).into_any().cast_into::<PyUntypedArray>()?)
    })
}

/// The box an index selects, and which axes the result keeps (an integer drops its axis).
fn numpy_box(index: &Bound<'_, PyAny>, shape: [u64; 3]) -> PyResult<(Bbox, [bool; 3])> {
    let items: Vec<Bound<'_, PyAny>> = match index.cast::<PyTuple>() {
        Ok(t) => t.iter().collect(),
        Err(_) => vec![index.clone()],
    };
    let ellipses = items
        .iter()
        .filter(|i| i.is_instance_of::<PyEllipsis>())
        .count();
    if ellipses > 1 {
        return Err(errors::value_error(
            "an index can only have one ellipsis ('...')".into(),
        ));
    }
    let given = items.len() - ellipses;
    if given > 3 {
        return Err(errors::value_error(format!(
            "too many indices for a 3D array: {given} were given"
        )));
    }
    // Expand `...` (or the missing trailing axes) into full slices.
    let mut axes: Vec<Option<Bound<'_, PyAny>>> = Vec::with_capacity(3);
    for item in &items {
        if item.is_instance_of::<PyEllipsis>() {
            axes.extend(std::iter::repeat_n(None, 3 - given));
        } else {
            axes.push(Some(item.clone()));
        }
    }
    axes.resize(3, None);
    let (mut begin, mut size, mut keep) = ([0i64; 3], [0u64; 3], [true; 3]);
    for (a, item) in axes.iter().enumerate() {
        let n = shape[a] as isize;
        match item {
            None => size[a] = shape[a],
            Some(item) => {
                if let Ok(slice) = item.cast::<PySlice>() {
                    let ix = slice.indices(n)?;
                    if ix.step != 1 {
                        return Err(errors::value_error(format!(
                            "axis {a}: step {} is not supported; read the box and step it in numpy",
                            ix.step
                        )));
                    }
                    begin[a] = ix.start as i64;
                    size[a] = (ix.stop - ix.start).max(0) as u64;
                } else if let Ok(i) = item.extract::<i64>() {
                    let at = if i < 0 { i + shape[a] as i64 } else { i };
                    if !(0..shape[a] as i64).contains(&at) {
                        return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                            "index {i} is out of bounds for axis {a} with size {}",
                            shape[a]
                        )));
                    }
                    begin[a] = at;
                    size[a] = 1;
                    keep[a] = false;
                } else {
                    return Err(errors::value_error(format!(
                        "axis {a}: only integers, slices and `...` index an Array (got {})",
                        item.get_type().name()?
                    )));
                }
            }
        }
    }
    Ok((Bbox::new(begin, size), keep))
}
