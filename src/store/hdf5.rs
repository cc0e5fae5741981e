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
