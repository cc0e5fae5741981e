//! Multi-page TIFF files as volumes (placeholder until the reader lands).

use std::path::Path;

use super::foreign::ForeignVolume;
use crate::{Error, Result};

/// Opens the TIFF file `file` as a `(pages, H, W)` volume.
pub(crate) fn open(file: &Path) -> Result<ForeignVolume> {
    Err(Error::Unsupported {
        path: file.to_path_buf(),
        reason: "multi-page TIFF volumes are not readable yet".into(),
    })
}
