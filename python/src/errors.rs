//! voxload's errors as Python exceptions: the classes are defined in `voxload/_errors.py` (so
//! each can also derive from the matching built-in), raised here with the library's message.

use pyo3::prelude::*;

/// Which Python class an error becomes.
#[derive(Clone, Copy)]
enum Kind {
    /// `voxload.Error`.
    Base,
    /// `voxload.NotFoundError` (also a `FileNotFoundError`): a missing store, array or file.
    NotFound,
    /// `voxload.ArrayKeyError` (also a `KeyError`): no array of that name in the store.
    Key,
    /// `voxload.ValueError` (also a `ValueError`): a bad argument or configuration value.
    Value,
}

impl Kind {
    fn class_name(self) -> &'static str {
        match self {
            Kind::Base => "Error",
            Kind::NotFound => "NotFoundError",
            Kind::Key => "ArrayKeyError",
            Kind::Value => "ValueError",
        }
    }
}

fn kind_of(error: &voxload::Error) -> Kind {
    use voxload::ingest::IngestError as I;
    use voxload::Error as E;
    match error {
        E::Ingest(I::Missing { .. }) => Kind::NotFound,
        E::Ingest(I::Json { .. } | I::Options { .. } | I::TileSize { .. } | I::TileType { .. }) => {
            Kind::Value
        }
        E::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => Kind::NotFound,
        E::NotZarr { .. } => Kind::NotFound,
        E::Config { .. }
        | E::Parse { .. }
        | E::Geometry(_)
        | E::ArrayName { .. }
        | E::DtypeMismatch { .. }
        | E::Prediction { .. } => Kind::Value,
        _ => Kind::Base,
    }
}

/// Builds an exception of `kind` with `message` (falling back to `RuntimeError` if the Python
/// side of the package cannot be imported, which only a broken install causes).
fn raise(py: Python<'_>, kind: Kind, message: String) -> PyErr {
    let class = py
        .import("voxload._errors")
        .and_then(|m| m.getattr(kind.class_name()));
    match class {
        Ok(class) => match class.call1((message.clone(),)) {
            Ok(instance) => PyErr::from_value(instance),
            Err(e) => e,
        },
        Err(_) => pyo3::exceptions::PyRuntimeError::new_err(message),
    }
}

/// The library's error as the matching Python exception, with the command line's message.
pub fn to_py(error: voxload::Error) -> PyErr {
    let message = voxload::error::report(&error);
    Python::attach(|py| raise(py, kind_of(&error), message))
}

/// A `voxload.ArrayKeyError` (a `KeyError`) with `message`.
pub fn key_error(message: String) -> PyErr {
    Python::attach(|py| raise(py, Kind::Key, message))
}

/// A `voxload.ValueError` (a `ValueError`) with `message`.
pub fn value_error(message: String) -> PyErr {
    Python::attach(|py| raise(py, Kind::Value, message))
}

/// A `voxload.Error` with `message`.
#[allow(dead_code)]
pub fn error(message: String) -> PyErr {
    Python::attach(|py| raise(py, Kind::Base, message))
}
