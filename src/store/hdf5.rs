//! HDF5 datasets as volumes (placeholder until the reader lands).

use std::path::Path;

use super::foreign::ForeignVolume;
use crate::{Error, Result};

/// Opens dataset `dataset` of the HDF5 file `file`.
pub(crate) fn open(file: &Path, dataset: &str) -> Result<ForeignVolume> {
    Err(Error::Unsupported {
        path: file.to_path_buf(),
        reason: format!("HDF5 dataset `{dataset}`: HDF5 files are not readable yet"),
    })
}

/// Every dataset of the HDF5 file `file`, by path, sorted.
pub(crate) fn list_datasets(
    file: &Path,
) -> Result<Vec<(String, Result<(crate::Shape, crate::DType)>)>> {
    Err(Error::Unsupported {
        path: file.to_path_buf(),
        reason: "HDF5 files are not readable yet".into(),
    })
}
