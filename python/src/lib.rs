//! `voxload._voxload`: the Python bindings of voxload (the `voxload` package re-exports them).
//!
//! Thin by design: each function parses its Python arguments, calls the library with the GIL
//! released, and hands the result to numpy; every capability lives in the `voxload` crate.

mod errors;
mod ingest;
mod loader;
mod predict;
mod store;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _voxload(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(store::open, m)?)?;
    m.add_function(wrap_pyfunction!(ingest::ingest, m)?)?;
    m.add_function(wrap_pyfunction!(predict::read_prediction, m)?)?;
    m.add_class::<store::Store>()?;
    m.add_class::<store::Array>()?;
    m.add_class::<loader::Loader>()?;
    m.add_class::<loader::BatchBuffer>()?;
    m.add_class::<predict::Writer>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
