//! 2D images (PNG, TIFF) read as depth-1 arrays without ingest: each image is one chunk,
//! decoded on demand and kept in a small process-wide cache, so memory holds only the images in
//! flight (SPEC section 4, streaming 2D inputs).

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use lru::LruCache;

use crate::image::{decode_file, Content, Plane};
use std::marker::PhantomData;

use super::chunks::ChunkSource;
use super::meta::{ArrayMeta, Layout, Status};
use super::MappedArray;
use crate::{ChunkGrid, DType, Element, Error, Result, Shape};

/// Decoded images kept at once, whatever the number of images (a few per worker).
const CACHED_IMAGES: usize = 16;

type Decoded = Arc<Vec<u8>>;

fn cache() -> &'static Mutex<LruCache<(PathBuf, DType), Decoded>> {
    static CACHE: std::sync::OnceLock<Mutex<LruCache<(PathBuf, DType), Decoded>>> =
        std::sync::OnceLock::new();
    CACHE.get_or_init(|| {
        Mutex::new(LruCache::new(
            NonZeroUsize::new(CACHED_IMAGES).unwrap_or(NonZeroUsize::MIN),
        ))
    })
}

/// One image file serving as a `(1, H, W)` array.
#[derive(Debug)]
pub(crate) struct ImageFile {
    pub path: PathBuf,
    pub content: Content,
    pub dtype: DType,
}

fn failed(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Unsupported {
        path: path.to_path_buf(),
        reason: format!("cannot read the image: {e}"),
    }
}

/// The voxels of `plane` as `T`, as little-endian bytes.
fn plane_bytes<T: Element>(path: &Path, plane: &Plane, content: Content) -> Result<Vec<u8>> {
    let voxels = plane.to_voxels::<T>(content).ok_or_else(|| {
        failed(
            path,
            format!("its {} pixels do not fit {}", plane.kind(), T::DTYPE),
        )
    })?;
    Ok(bytemuck::cast_slice(&voxels.into_raw_vec_and_offset().0).to_vec())
}

impl ImageFile {
    /// Decodes `path` once to learn its shape and natural type (`uint8`/`uint16`/… for images,
    /// packed ids for colour labels).
    pub(crate) fn probe(path: &Path, content: Content) -> Result<(ImageFile, Shape)> {
        let plane = decode_file(path).map_err(|e| failed(path, e))?;
        let (h, w) = plane.dim();
        let image = ImageFile {
            path: path.to_path_buf(),
            content,
            dtype: plane.natural_dtype(content),
        };
        let bytes = image.to_bytes(&plane)?;
        put(&image, bytes);
        Ok((image, [1, h as u64, w as u64]))
    }

    fn to_bytes(&self, plane: &Plane) -> Result<Decoded> {
        let p = &self.path;
        let bytes =
            crate::dispatch_dtype!(self.dtype, T => plane_bytes::<T>(p, plane, self.content)?);
        Ok(Arc::new(bytes))
    }

    /// The image's voxels (decoded now unless cached), `expected` bytes long.
    pub(crate) fn bytes(&self, expected: usize) -> Result<Decoded> {
        let key = (self.path.clone(), self.dtype);
        if let Some(b) = cache().lock().map_err(|_| poisoned())?.get(&key).cloned() {
            return Ok(b);
        }
        let plane = decode_file(&self.path).map_err(|e| failed(&self.path, e))?;
        let bytes = self.to_bytes(&plane)?;
        if bytes.len() != expected {
            return Err(failed(
                &self.path,
                "the file changed size since it was opened",
            ));
        }
        put(self, bytes.clone());
        Ok(bytes)
    }
}

impl<T: Element> MappedArray<T> {
    /// A 2D PNG or TIFF image as a `(1, H, W)` array, with no ingest: decoded on demand (and
    /// once now, to learn its size), the last few decoded images kept in a small process-wide
    /// cache. `label` decodes colour as packed ids (`R·65536 + G·256 + B`), as ingest does.
    ///
    /// # Errors
    /// [`Error::Unsupported`] naming the file when it cannot be decoded, and
    /// [`Error::DtypeMismatch`] when its pixels are not of type `T`
    /// (see [`super::AnyArray::open_image`] to take the file's own type).
    pub fn open_image(path: impl AsRef<Path>, label: bool) -> Result<Self> {
        let content = crate::image::Content::from_label(label);
        let (image, shape) = ImageFile::probe(path.as_ref(), content)?;
        Self::from_image(image, shape)
    }

    /// The array of a probed image file.
    pub(crate) fn from_image(image: ImageFile, shape: Shape) -> Result<Self> {
        if image.dtype != T::DTYPE {
            return Err(Error::DtypeMismatch {
                path: image.path.clone(),
                stored: image.dtype.to_string(),
                requested: T::DTYPE.to_string(),
            });
        }
        let meta = ArrayMeta {
            path: image.path.clone(),
            shape,
            chunk: shape,
            dtype: image.dtype,
            layout: Layout::Decoded {
                codecs: vec!["image file, decoded on demand".into()],
            },
            status: Status::Unmarked,
            attributes: serde_json::Map::new(),
        };
        Ok(MappedArray {
            grid: ChunkGrid::new(shape, shape)?,
            meta,
            source: ChunkSource::Image(image),
            fill: T::default(),
            zoom: None,
            remote: false,
            _type: PhantomData,
        })
    }
}

fn put(image: &ImageFile, bytes: Decoded) {
    if let Ok(mut c) = cache().lock() {
        c.put((image.path.clone(), image.dtype), bytes);
    }
}

fn poisoned() -> Error {
    Error::Geometry("the decoded-image cache lock was poisoned by a panic".into())
}
