//! Ingest inputs, recognised by their form, read one slice at a time.

use std::path::{Path, PathBuf};

use ndarray::{s, Array2};
use rayon::prelude::*;

use super::resize::resize;
use super::spec::{TilePlacement, TileSpec};
use super::IngestError;
use crate::image::{
    decode_file_with, image_list, is_image_list, read_stack, tiff_pages, Content, Limits, Plane,
};
use crate::{DType, Element};

/// Where the slices come from.
#[derive(Clone, Debug)]
pub enum Input {
    /// A PyTorch Connectomics tile JSON.
    Tiles(TileSpec),
    /// A list of 2D image files (a `.txt` list, or a folder's PNG/TIFF files in natural order).
    Images(Vec<PathBuf>),
    /// A multi-page TIFF, one page per slice.
    Stack(PathBuf),
    /// A volume voxload reads directly: an HDF5 dataset (`FILE.h5`, `FILE.h5/group/dataset`),
    /// a Zarr v2 or v3 array or an OME-Zarr image (`STORE.zarr/NAME`), read slab by slab.
    Volume(PathBuf),
}

impl Input {
    /// Recognises `path`: a folder, a `.json` tile spec, a `.txt` list or a `.tif`/`.tiff` stack.
    ///
    /// # Errors
    /// [`IngestError::Input`] when the form is not recognised or the list is empty,
    /// [`IngestError::Json`] for a bad tile JSON.
    pub fn recognise(path: &Path) -> Result<Input, IngestError> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let is_zarr = ["zarr.json", ".zarray", ".zgroup"]
            .iter()
            .any(|f| path.join(f).is_file());
        let is_hdf5 = matches!(
            crate::store::foreign_address(path),
            Some(crate::store::ForeignKind::Hdf5)
        );
        Ok(if is_zarr || is_hdf5 {
            Input::Volume(path.to_path_buf())
        } else if is_image_list(path) {
            Input::Images(image_list(path)?)
        } else if ext == "json" {
            Input::Tiles(TileSpec::read(path)?)
        } else if ext == "tif" || ext == "tiff" {
            Input::Stack(path.to_path_buf())
        } else {
            return Err(IngestError::Input {
                path: path.into(),
                reason: "expected a folder of PNG/TIFF slices, a tile .json, a .txt list of images, a multi-page .tif, an HDF5 dataset (FILE.h5[/dataset]) or a Zarr array (STORE.zarr/NAME)".into(),
            });
        })
    }

    /// The volume's shape and natural data type, reading the first image where needed (within
    /// [`Limits::default`]).
    ///
    /// # Errors
    /// The first image's decoding error.
    pub fn probe(&self, content: Content) -> Result<([u64; 3], DType), IngestError> {
        self.probe_with(content, &Limits::default())
    }

    /// As [`Input::probe`], decoding within `limits`.
    ///
    /// # Errors
    /// As [`Input::probe`].
    pub fn probe_with(
        &self,
        content: Content,
        limits: &Limits,
    ) -> Result<([u64; 3], DType), IngestError> {
        match self {
            Input::Tiles(spec) => Ok((spec.shape, spec.dtype)),
            Input::Volume(path) => {
                let array = open_volume(path)?;
                Ok((array.shape(), array.dtype()))
            }
            Input::Images(files) => {
                let first = decode_file_with(&files[0], limits)?;
                let (h, w) = first.dim();
                Ok((
                    [files.len() as u64, h as u64, w as u64],
                    first.natural_dtype(content),
                ))
            }
            Input::Stack(path) => {
                let file = crate::file::open_regular(path)
                    .map_err(|e| IngestError::decode(path, e))?
                    .file;
                let mut depth = 0;
                let mut first = None;
                for page in tiff_pages(file, 0, limits).map_err(|e| IngestError::decode(path, e))? {
                    let page = page.map_err(|e| IngestError::decode(path, e))?;
                    first.get_or_insert(page);
                    depth += 1;
                }
                let first =
                    first.ok_or_else(|| IngestError::decode(path, "the TIFF has no page"))?;
                let (h, w) = first.dim();
                Ok(([depth, h as u64, w as u64], first.natural_dtype(content)))
            }
        }
    }

    /// Reads slices `[z0, z1)` as one slab `(z1 - z0, h, w)`, decoding in parallel (within
    /// [`Limits::default`]).
    ///
    /// # Errors
    /// Missing files (unless `fill` is given), undecodable files, wrong sizes or types, each
    /// naming the file.
    pub fn read_slab<T: Element>(
        &self,
        shape: [u64; 3],
        (z0, z1): (u64, u64),
        content: Content,
        fill: Option<f64>,
    ) -> Result<(ndarray::Array3<T>, u64), IngestError> {
        let (h, w) = (shape[1] as usize, shape[2] as usize);
        let mut slab = ndarray::Array3::<T>::default(((z1 - z0) as usize, h, w));
        let limits = Limits::default();
        let missing =
            self.read_slab_into(shape, (z0, z1), content, fill, &limits, slab.view_mut())?;
        Ok((slab, missing))
    }

    /// As [`Input::read_slab`], decoding within `limits`, into `slab` (shape
    /// `(z1 - z0, h, w)`), so buffers can be reused; returns the number of missing tiles filled.
    ///
    /// # Errors
    /// As [`Input::read_slab`].
    pub fn read_slab_into<T: Element>(
        &self,
        shape: [u64; 3],
        (z0, z1): (u64, u64),
        content: Content,
        fill: Option<f64>,
        limits: &Limits,
        mut slab: ndarray::ArrayViewMut3<'_, T>,
    ) -> Result<u64, IngestError> {
        if let Input::Volume(path) = self {
            read_volume_slab(path, shape, (z0, z1), slab)?;
            return Ok(0);
        }
        let jobs: Vec<(usize, TilePlacement)> = (z0..z1)
            .flat_map(|z| {
                self.placements(z as usize, [shape[1], shape[2]])
                    .into_iter()
                    .map(move |t| ((z - z0) as usize, t))
            })
            .collect();
        let stack_pages = match self {
            Input::Stack(path) => Some(read_stack_pages(path, z0, z1, limits)?),
            _ => None,
        };
        // Decode in batches of a few tiles per thread, placing each batch before the next, so
        // at most one batch of decoded tiles is held beside the slab.
        let batch = 4 * rayon::current_num_threads().max(1);
        let mut missing = 0;
        for jobs in jobs.chunks(batch) {
            let tiles: Vec<Result<Option<Fitted<T>>, IngestError>> = jobs
                .par_iter()
                .map(|(dz, tile)| {
                    let plane = match &stack_pages {
                        Some(pages) => Ok(pages[*dz].clone()),
                        None => decode_file_with(&tile.path, limits),
                    };
                    match plane {
                        Err(IngestError::Missing { .. }) if fill.is_some() => Ok(None),
                        Err(e) => Err(e),
                        Ok(plane) => self.fit_tile::<T>(plane, tile, content).map(Some),
                    }
                })
                .collect();
            for ((dz, tile), data) in jobs.iter().zip(tiles) {
                let [y, x] = tile.at.map(|v| v as usize);
                let [th, tw] = tile.size.map(|v| v as usize);
                let mut region = slab.slice_mut(s![*dz, y..y + th, x..x + tw]);
                match data? {
                    Some(data) => region.assign(&data.view().slice(s![..th, ..tw])),
                    None => {
                        missing += 1;
                        region.fill(T::from_f64(fill.unwrap_or(0.0)));
                    }
                }
            }
        }
        Ok(missing)
    }

    /// Decodes every file of the input once and discards the pixels (the decode-only rate that
    /// ingest is measured against), within [`Limits::default`]; returns `(files, decoded
    /// bytes)`. Runs on the current rayon pool.
    ///
    /// # Errors
    /// The first file that cannot be decoded.
    pub fn decode_only(&self, shape: [u64; 3]) -> Result<(u64, u64), IngestError> {
        let limits = Limits::default();
        let bytes_of = |p: &Plane| -> u64 {
            let (h, w) = p.dim();
            let per = match p {
                Plane::Gray(g) => g.dtype().size(),
                Plane::Rgb8(a) => a.dim().2,
                Plane::Rgb16(a) => 2 * a.dim().2,
            };
            (h * w * per) as u64
        };
        if let Input::Volume(path) = self {
            let bytes = shape.iter().product::<u64>() * open_volume(path)?.dtype().size() as u64;
            return Ok((1, bytes));
        }
        if let Input::Stack(path) = self {
            let pages = read_stack_pages(path, 0, shape[0], &limits)?;
            return Ok((pages.len() as u64, pages.iter().map(bytes_of).sum()));
        }
        let files: Vec<PathBuf> = (0..shape[0] as usize)
            .flat_map(|z| self.placements(z, [shape[1], shape[2]]))
            .map(|t| t.path)
            .collect();
        let bytes = files
            .par_iter()
            .map(|f| decode_file_with(f, &limits).map(|p| bytes_of(&p)))
            .collect::<Result<Vec<u64>, _>>()?;
        Ok((files.len() as u64, bytes.iter().sum()))
    }

    fn placements(&self, z: usize, [h, w]: [u64; 2]) -> Vec<TilePlacement> {
        match self {
            Input::Tiles(spec) => spec.tiles(z),
            Input::Images(files) => vec![TilePlacement {
                path: files[z].clone(),
                at: [0, 0],
                size: [h, w],
            }],
            Input::Stack(path) | Input::Volume(path) => vec![TilePlacement {
                path: path.clone(),
                at: [0, 0],
                size: [h, w],
            }],
        }
    }

    /// Converts a decoded tile to `T` (unless it already holds `T`), resizes it by the tile
    /// ratio and checks its size.
    fn fit_tile<T: Element>(
        &self,
        plane: Plane,
        tile: &TilePlacement,
        content: Content,
    ) -> Result<Fitted<T>, IngestError> {
        let (ratio, max) = match self {
            Input::Tiles(spec) => {
                let whole_slice =
                    tile.size == [spec.shape[1], spec.shape[2]] && spec.tiles(0).len() == 1;
                (
                    spec.tile_ratio,
                    if whole_slice { tile.size } else { spec.tile },
                )
            }
            _ => (1.0, tile.size),
        };
        if ratio != 1.0 {
            // The size the resize would make, checked before anything is allocated.
            let (h, w) = plane.dim();
            let resized = [h, w].map(|n| (n as f64 * ratio).round().max(1.0));
            if resized[0] > max[0] as f64 || resized[1] > max[1] as f64 {
                return Err(IngestError::TileSize {
                    path: tile.path.clone(),
                    found: resized.map(|n| n as u64),
                    expected: tile.size,
                });
            }
        }
        let fitted = if ratio == 1.0 && plane.view_as::<T>().is_some() {
            Fitted::Plane(plane)
        } else {
            let data = plane
                .to_voxels::<T>(content)
                .ok_or_else(|| IngestError::TileType {
                    path: tile.path.clone(),
                    found: plane.kind(),
                    expected: T::DTYPE,
                })?;
            Fitted::Voxels(if ratio == 1.0 {
                data
            } else {
                resize(&data, ratio, content)
            })
        };
        let (h, w) = fitted.view().dim();
        let fits = (h as u64) >= tile.size[0]
            && (w as u64) >= tile.size[1]
            && h as u64 <= max[0]
            && w as u64 <= max[1];
        if !fits {
            return Err(IngestError::TileSize {
                path: tile.path.clone(),
                found: [h as u64, w as u64],
                expected: tile.size,
            });
        }
        Ok(fitted)
    }
}

/// A tile ready to be placed: the decoded plane itself when it already holds `T` voxels (no
/// copy), else converted voxels.
enum Fitted<T> {
    Plane(Plane),
    Voxels(Array2<T>),
}

impl<T: Element> Fitted<T> {
    fn view(&self) -> ndarray::ArrayView2<'_, T> {
        match self {
            Fitted::Plane(p) => p
                .view_as::<T>()
                .expect("fit_tile keeps a plane only when it holds T voxels"),
            Fitted::Voxels(a) => a.view(),
        }
    }
}

fn read_stack_pages(
    path: &Path,
    z0: u64,
    z1: u64,
    limits: &Limits,
) -> Result<Vec<Plane>, IngestError> {
    let page = |z: u64| usize::try_from(z).map_err(|e| IngestError::decode(path, e));
    read_stack(path, page(z0)?, page(z1)?, limits)
}

/// Opens the volume at `path` (`STORE.zarr/NAME`, `FILE.h5/dataset`).
fn open_volume(path: &Path) -> Result<crate::store::AnyArray, IngestError> {
    let (root, name) = crate::store::split_address(path);
    crate::store::AnyArray::open(&root, &name, &crate::OpenOptions::default())
        .map_err(|e| IngestError::decode(path, e))
}

/// Reads slices `[z0, z1)` of the volume at `path` into `slab`, converting to `T` (exactly
/// when the volume already holds `T`).
fn read_volume_slab<T: Element>(
    path: &Path,
    shape: [u64; 3],
    (z0, z1): (u64, u64),
    mut slab: ndarray::ArrayViewMut3<'_, T>,
) -> Result<(), IngestError> {
    let array = open_volume(path)?;
    let window = crate::Bbox::new([z0 as i64, 0, 0], [z1 - z0, shape[1], shape[2]]);
    let fail = |e: crate::Error| IngestError::decode(path, e);
    use crate::store::AnyArray;
    crate::match_dtype!(&array, AnyArray(a) => {
        let data = a.read(window, crate::PadMode::Edge).map_err(fail)?;
        let same_type = array.dtype() == T::DTYPE;
        match data.as_slice().filter(|_| same_type) {
            // The volume already holds `T`: its voxels are copied as they are (exact for every
            // `u64`, which a trip through `f64` is not).
            Some(voxels) => {
                let voxels: &[T] = bytemuck::cast_slice(voxels);
                let view = ndarray::ArrayView3::from_shape(slab.dim(), voxels)
                    .map_err(|e| IngestError::decode(path, e))?;
                slab.assign(&view);
            }
            None => slab.zip_mut_with(&data, |o, v| *o = T::from_f64(v.to_f64())),
        }
    });
    Ok(())
}
