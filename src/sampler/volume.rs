//! Volumes as named arrays of equal shape: an image, an optional label and valid mask, and any
//! number of extra named targets (SPEC section 4's `(image, label?, valid_mask?)` tuples).
//!
//! Arrays are shared (`Arc`), so handing a volume's label and mask to a
//! [`RandomSampler`](super::RandomSampler) copies nothing. Arrays made by `ingest --separate`
//! (`NAME/0000`, `NAME/0001`, ..., each of shape `(1, H, W)`) are listed in order by
//! [`separate_arrays`] and opened as depth-1 volumes by [`Volume::open_separate`].
//!
//! [`Volume::open_scaled`] zooms each array by its role's scale ([`VolumeScales`]: PyTC's
//! `IMAGE_SCALE`, `LABEL_SCALE`, `VALID_MASK_SCALE`), lazily (see [`crate::store::zoom`]): the
//! volume's shape, and every window read from it, are then those of the zoomed grid.

use std::path::Path;
use std::sync::Arc;

use super::SampleVolume;
use crate::store::zoom::{min_size_frame, Resize};
use crate::store::{list_arrays, AnyArray, ArrayMeta, OpenOptions, VolumeScales, Zoom, ZoomOrder};
use crate::{Error, PadMode, Padding, Result, Shape};

/// One array of a volume with the name errors call it by.
#[derive(Clone)]
struct Named {
    /// The target's name (`image`, `label`, `valid_mask` for the others).
    key: String,
    /// How errors call it: role and store name.
    name: String,
    array: Arc<AnyArray>,
}

/// One volume: an image and, optionally, a label, a valid mask and named extra targets, all of
/// the same shape.
///
/// ```
/// use ndarray::Array3;
/// use voxload::sampler::{ArrayNames, Volume};
/// use voxload::{write_array, Encoding, OpenOptions};
///
/// let dir = tempfile::tempdir().unwrap();
/// write_array(dir.path(), "em", &Array3::<u8>::zeros((4, 8, 8)), [4, 8, 8], Encoding::Raw).unwrap();
/// write_array(dir.path(), "seg", &Array3::<u16>::zeros((4, 8, 8)), [4, 8, 8], Encoding::Raw).unwrap();
/// write_array(dir.path(), "bad", &Array3::<u8>::zeros((4, 8, 9)), [4, 8, 8], Encoding::Raw).unwrap();
///
/// let names = ArrayNames::new("em").label("seg");
/// let volume = Volume::open(0, dir.path(), &names, &OpenOptions::default()).unwrap();
/// assert_eq!(volume.shape(), [4, 8, 8]);
/// assert!(volume.sample_volume().label.is_some());
///
/// let err = Volume::open(3, dir.path(), &names.target("boundary", "bad"), &OpenOptions::default())
///     .err()
///     .unwrap();
/// assert!(err.to_string().contains("volume 3"));
/// ```
#[derive(Clone)]
pub struct Volume {
    index: usize,
    image: Named,
    label: Option<Named>,
    valid_mask: Option<Named>,
    targets: Vec<Named>,
}

/// The store names of one volume's arrays, for [`Volume::open`] (or, as prefixes of separate
/// arrays, for [`Volume::open_separate`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArrayNames {
    /// `IMAGE_NAME`.
    pub image: String,
    /// `LABEL_NAME`.
    pub label: Option<String>,
    /// `VALID_MASK_NAME`.
    pub valid_mask: Option<String>,
    /// Extra targets: `(target name, array name)`.
    pub targets: Vec<(String, String)>,
}

impl ArrayNames {
    /// Names with only an image.
    #[must_use]
    pub fn new(image: &str) -> Self {
        ArrayNames {
            image: image.into(),
            ..ArrayNames::default()
        }
    }

    /// With a label.
    #[must_use]
    pub fn label(mut self, name: &str) -> Self {
        self.label = Some(name.into());
        self
    }

    /// With a valid mask.
    #[must_use]
    pub fn valid_mask(mut self, name: &str) -> Self {
        self.valid_mask = Some(name.into());
        self
    }

    /// With an extra target `target` read from array `name`.
    #[must_use]
    pub fn target(mut self, target: &str, name: &str) -> Self {
        self.targets.push((target.into(), name.into()));
        self
    }
}

/// `array`, called `name` in volume `index`, zoomed by `scale` with `order`; errors name both.
fn zoom_role(
    index: usize,
    name: &str,
    array: AnyArray,
    (scale, order): ([f64; 3], ZoomOrder),
) -> Result<Arc<AnyArray>> {
    Zoom::new(scale, order)
        .and_then(|zoom| array.zoomed(zoom))
        .map(Arc::new)
        .map_err(|e| match e {
            Error::Geometry(reason) => Error::Geometry(format!("volume {index}: {name}: {reason}")),
            other => other,
        })
}

/// `array`'s shape for error messages, with its stored shape and scale when it is zoomed.
fn shape_text(array: &AnyArray) -> String {
    match array.zoom() {
        Some(zoom) => format!(
            "{:?} (zoomed from {:?} by {:?})",
            array.shape(),
            array.meta().shape,
            zoom.scale()
        ),
        None => format!("{:?}", array.shape()),
    }
}

impl Volume {
    /// Volume number `index` (used in error messages) with `image` alone.
    pub fn new(index: usize, image: impl Into<Arc<AnyArray>>) -> Self {
        Volume {
            index,
            image: Named {
                key: "image".into(),
                name: "image".into(),
                array: image.into(),
            },
            label: None,
            valid_mask: None,
            targets: Vec::new(),
        }
    }

    /// Checks that `array`, called `name`, has the image's shape.
    fn check(&self, key: &str, name: String, array: impl Into<Arc<AnyArray>>) -> Result<Named> {
        let array = array.into();
        if self.shape() != array.shape() {
            return Err(Error::Geometry(format!(
                "volume {}: {name} has shape {} but {} has shape {}; all arrays of a volume must have the same shape",
                self.index,
                shape_text(&array),
                self.image.name,
                shape_text(&self.image.array)
            )));
        }
        Ok(Named {
            key: key.into(),
            name,
            array,
        })
    }

    /// With a label.
    ///
    /// # Errors
    /// [`Error::Geometry`] naming the volume, both arrays and both shapes when the label's
    /// shape is not the image's.
    pub fn with_label(mut self, label: impl Into<Arc<AnyArray>>) -> Result<Self> {
        self.label = Some(self.check("label", "label".into(), label)?);
        Ok(self)
    }

    /// With a valid mask.
    ///
    /// # Errors
    /// As [`Volume::with_label`].
    pub fn with_valid_mask(mut self, mask: impl Into<Arc<AnyArray>>) -> Result<Self> {
        self.valid_mask = Some(self.check("valid_mask", "valid_mask".into(), mask)?);
        Ok(self)
    }

    /// With an extra target called `name` (replacing a target of that name).
    ///
    /// # Errors
    /// As [`Volume::with_label`].
    pub fn with_target(mut self, name: &str, array: impl Into<Arc<AnyArray>>) -> Result<Self> {
        let named = self.check(name, format!("target `{name}`"), array)?;
        self.targets.retain(|t| t.key != name);
        self.targets.push(named);
        Ok(self)
    }

    /// Volume number `index`, its arrays opened from the store at `store` by name.
    ///
    /// # Errors
    /// As [`AnyArray::open`] for each array, and [`Error::Geometry`] naming the volume, both
    /// arrays (by role and store name) and both shapes when two shapes differ.
    pub fn open(
        index: usize,
        store: &Path,
        names: &ArrayNames,
        options: &OpenOptions,
    ) -> Result<Self> {
        Volume::open_scaled(index, store, names, options, &VolumeScales::default())
    }

    /// [`Volume::open`] with each array zoomed by its role's scale (see [`VolumeScales`]), as
    /// PyTC zooms its volumes at load: the volume's shape is the zoomed shape, and all zoomed
    /// arrays must share it. Unit scales leave the arrays as [`Volume::open`] opens them.
    ///
    /// ```
    /// use ndarray::Array3;
    /// use voxload::sampler::{ArrayNames, Volume};
    /// use voxload::store::VolumeScales;
    /// use voxload::{write_array, Encoding, OpenOptions};
    /// let dir = tempfile::tempdir()?;
    /// write_array(dir.path(), "em", &Array3::<u8>::zeros((4, 64, 64)), [4, 64, 64], Encoding::Raw)?;
    /// write_array(dir.path(), "seg", &Array3::<u16>::zeros((4, 32, 32)), [4, 32, 32], Encoding::Raw)?;
    /// let names = ArrayNames::new("em").label("seg");
    /// // The image is zoomed to the label's grid.
    /// let scales = VolumeScales::default().image([1.0, 0.5, 0.5]);
    /// let volume = Volume::open_scaled(0, dir.path(), &names, &OpenOptions::default(), &scales)?;
    /// assert_eq!(volume.shape(), [4, 32, 32]);
    /// let err = Volume::open_scaled(0, dir.path(), &names, &OpenOptions::default(), &VolumeScales::default())
    ///     .err().unwrap();
    /// assert!(err.to_string().contains("[4, 32, 32]"));
    /// let bad = VolumeScales::default().label([1.0, f64::NAN, 1.0]);
    /// let err = Volume::open_scaled(2, dir.path(), &names, &OpenOptions::default(), &bad).err().unwrap();
    /// assert!(err.to_string().contains("volume 2: label `seg`: zoom scale NaN on axis y"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Volume::open`]; [`Error::Geometry`] naming the volume, the array and the value when
    /// a scale is not a positive finite number or zooms an axis to no voxel.
    pub fn open_scaled(
        index: usize,
        store: &Path,
        names: &ArrayNames,
        options: &OpenOptions,
        scales: &VolumeScales,
    ) -> Result<Self> {
        let open = |name: &str, what: &str, zoom: ([f64; 3], ZoomOrder)| {
            zoom_role(index, what, AnyArray::open(store, name, options)?, zoom)
        };
        let image_name = format!("image `{}`", names.image);
        let image = open(&names.image, &image_name, (scales.image, ZoomOrder::Cubic))?;
        let mut volume = Volume::new(index, image);
        volume.image.name = image_name;
        if let Some(name) = &names.label {
            let what = format!("label `{name}`");
            let array = open(name, &what, (scales.label, ZoomOrder::Nearest))?;
            volume.label = Some(volume.check("label", what, array)?);
        }
        if let Some(name) = &names.valid_mask {
            let what = format!("valid_mask `{name}`");
            let array = open(name, &what, (scales.valid_mask, ZoomOrder::Nearest))?;
            volume.valid_mask = Some(volume.check("valid_mask", what, array)?);
        }
        for (target, name) in &names.targets {
            let what = format!("target `{target}` (`{name}`)");
            let stored = AnyArray::open(store, name, options)?;
            let zoom = scales.target(target, stored.dtype());
            let array = zoom_role(index, &what, stored, zoom)?;
            volume.targets.push(volume.check(target, what, array)?);
        }
        Ok(volume)
    }

    /// The depth-1 volumes of separate arrays (`ingest --separate`): volume `i` is made of
    /// `PREFIX/i` for each prefix in `names` (image, label, mask, targets), numbered from 0.
    ///
    /// # Errors
    /// As [`separate_arrays`] and [`Volume::open`]; [`Error::Geometry`] when the prefixes hold
    /// different numbers of arrays.
    pub fn open_separate(
        store: &Path,
        names: &ArrayNames,
        options: &OpenOptions,
    ) -> Result<Vec<Self>> {
        Volume::open_separate_scaled(store, names, options, &VolumeScales::default())
    }

    /// [`Volume::open_separate`] with each array zoomed as [`Volume::open_scaled`] zooms it.
    ///
    /// # Errors
    /// As [`Volume::open_separate`] and [`Volume::open_scaled`].
    pub fn open_separate_scaled(
        store: &Path,
        names: &ArrayNames,
        options: &OpenOptions,
        scales: &VolumeScales,
    ) -> Result<Vec<Self>> {
        let images = separate_arrays(store, &names.image)?;
        let list = |prefix: &str| -> Result<Vec<String>> {
            let found = separate_arrays(store, prefix)?;
            if found.len() != images.len() {
                return Err(Error::Geometry(format!(
                    "`{prefix}` holds {} separate arrays but image `{}` holds {}",
                    found.len(),
                    names.image,
                    images.len()
                )));
            }
            Ok(found.into_iter().map(|(name, _)| name).collect())
        };
        let labels = names.label.as_deref().map(list).transpose()?;
        let masks = names.valid_mask.as_deref().map(list).transpose()?;
        let targets = names
            .targets
            .iter()
            .map(|(t, prefix)| Ok((t.clone(), list(prefix)?)))
            .collect::<Result<Vec<_>>>()?;
        (0..images.len())
            .map(|i| {
                let names = ArrayNames {
                    image: images[i].0.clone(),
                    label: labels.as_ref().map(|l| l[i].clone()),
                    valid_mask: masks.as_ref().map(|m| m[i].clone()),
                    targets: targets
                        .iter()
                        .map(|(t, list)| (t.clone(), list[i].clone()))
                        .collect(),
                };
                Volume::open_scaled(i, store, &names, options, scales)
            })
            .collect()
    }

    /// The volume's index.
    #[must_use]
    pub fn index(&self) -> usize {
        self.index
    }

    /// The shape all its arrays share.
    #[must_use]
    pub fn shape(&self) -> Shape {
        self.image.array.shape()
    }

    /// The image.
    #[must_use]
    pub fn image(&self) -> &Arc<AnyArray> {
        &self.image.array
    }

    /// The label, if any.
    #[must_use]
    pub fn label(&self) -> Option<&Arc<AnyArray>> {
        self.label.as_ref().map(|n| &n.array)
    }

    /// The valid mask, if any.
    #[must_use]
    pub fn valid_mask(&self) -> Option<&Arc<AnyArray>> {
        self.valid_mask.as_ref().map(|n| &n.array)
    }

    /// The extra target called `name` (as given to [`Volume::with_target`] or
    /// [`ArrayNames::target`]).
    #[must_use]
    pub fn target(&self, name: &str) -> Option<&Arc<AnyArray>> {
        self.targets()
            .find(|(n, _)| *n == name)
            .map(|(_, array)| array)
    }

    /// The extra targets in the order they were added, by name.
    pub fn targets(&self) -> impl Iterator<Item = (&str, &Arc<AnyArray>)> {
        self.targets.iter().map(|t| (t.key.as_str(), &t.array))
    }

    /// Every array with the key it has in a sample: `image`, then `label` and `valid_mask` when
    /// present, then the extra targets in order.
    #[must_use]
    pub fn keyed(&self) -> Vec<(&str, &Arc<AnyArray>)> {
        let mut arrays = vec![("image", self.image())];
        arrays.extend(self.label().map(|a| ("label", a)));
        arrays.extend(self.valid_mask().map(|a| ("valid_mask", a)));
        arrays.extend(self.targets());
        arrays
    }

    /// PyTC's `DATASET.ENSURE_MIN_SIZE`: when the volume padded by `pad` (with `mode`, as the
    /// loader pads it) is smaller than `sample` on some axis, every array is seen resized as
    /// PyTC resizes its padded volumes (`skimage.transform.resize` to `max(padded, sample)`,
    /// order 3 for the image, 0 for the others; see [`Resize`]), in the volume's frame
    /// ([`Resize::in_volume_frame`]): a loader padding by `pad` then samples exactly the
    /// resized grid. A volume large enough is returned as it is.
    ///
    /// ```
    /// use ndarray::Array3;
    /// use voxload::sampler::{ArrayNames, Volume};
    /// use voxload::{write_array, Encoding, OpenOptions, PadMode};
    /// let dir = tempfile::tempdir()?;
    /// write_array(dir.path(), "em", &Array3::<u8>::zeros((3, 40, 40)), [3, 40, 40], Encoding::Raw)?;
    /// let volume = Volume::open(0, dir.path(), &ArrayNames::new("em"), &OpenOptions::default())?;
    /// // Padded to (5, 44, 44), below the sample in z: resized to (9, 44, 44), which the
    /// // loader's own padding by (1, 2, 2) covers when the volume is seen as (7, 40, 40).
    /// let resized = volume.ensure_min_size([9, 32, 32], [1, 2, 2], PadMode::Reflect)?;
    /// assert_eq!(resized.shape(), [7, 40, 40]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`AnyArray::resized`]; [`Error::Geometry`] naming the volume when its arrays are
    /// already shared (resize volumes before handing them to a loader).
    pub fn ensure_min_size(
        mut self,
        sample: Shape,
        pad: impl Into<Padding>,
        mode: PadMode,
    ) -> Result<Self> {
        let pad = pad.into();
        let frame = |order| min_size_frame(self.shape(), sample, pad, mode, order);
        let (Some(cubic), Some(nearest)) = (frame(ZoomOrder::Cubic), frame(ZoomOrder::Nearest))
        else {
            return Ok(self);
        };
        let index = self.index;
        let resize = |named: Named, framed: Resize| -> Result<Named> {
            let Named { key, name, array } = named;
            let array = Arc::try_unwrap(array).map_err(|_| {
                Error::Geometry(format!(
                    "volume {index}: {name} is shared, so it cannot be resized for DATASET.ENSURE_MIN_SIZE"
                ))
            })?;
            let array = Arc::new(array.resized(framed)?);
            Ok(Named { key, name, array })
        };
        self.image = resize(self.image, cubic)?;
        let nearest = |n| resize(n, nearest);
        self.label = self.label.map(nearest).transpose()?;
        self.valid_mask = self.valid_mask.map(nearest).transpose()?;
        self.targets = self
            .targets
            .into_iter()
            .map(nearest)
            .collect::<Result<_>>()?;
        Ok(self)
    }

    /// What a [`RandomSampler`](super::RandomSampler) needs of the volume: its shape, label and
    /// mask, shared, not copied.
    #[must_use]
    pub fn sample_volume(&self) -> SampleVolume {
        SampleVolume {
            shape: self.shape(),
            label: self.label().cloned(),
            valid_mask: self.valid_mask().cloned(),
        }
    }
}

/// The arrays `PREFIX/0000`, `PREFIX/0001`, ... that `ingest --separate` wrote into the store
/// at `store`, in numeric order, with their metadata. Other arrays under `PREFIX` (and
/// voxload's foreground indexes) are not listed.
///
/// ```
/// use ndarray::Array3;
/// use voxload::{write_array, Encoding};
/// let dir = tempfile::tempdir().unwrap();
/// for (i, w) in [5usize, 7, 6].iter().enumerate() {
///     let name = format!("image/{i:04}");
///     write_array(dir.path(), &name, &Array3::<u8>::zeros((1, 4, *w)), [1, 4, 8], Encoding::Raw).unwrap();
/// }
/// let found = voxload::sampler::separate_arrays(dir.path(), "image").unwrap();
/// let names: Vec<_> = found.iter().map(|(n, _)| n.as_str()).collect();
/// assert_eq!(names, ["image/0000", "image/0001", "image/0002"]);
/// assert_eq!(found[1].1.shape, [1, 4, 7]);
/// ```
///
/// # Errors
/// [`Error::NotZarr`] when the store cannot be listed or holds no such array; the metadata
/// error of a listed array that cannot be read.
pub fn separate_arrays(store: &Path, prefix: &str) -> Result<Vec<(String, ArrayMeta)>> {
    let prefix = prefix.trim_matches('/');
    let mut found = Vec::new();
    for (name, meta) in list_arrays(store)? {
        let rest = if prefix.is_empty() {
            Some(name.as_str())
        } else {
            name.strip_prefix(prefix).and_then(|r| r.strip_prefix('/'))
        };
        let Some(number) = rest
            .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|r| r.parse::<u64>().ok())
        else {
            continue;
        };
        found.push((number, name, meta?));
    }
    if found.is_empty() {
        return Err(Error::NotZarr {
            path: crate::store::array_dir(store, prefix),
            reason: format!(
                "no separate arrays `{prefix}/0000`, `{prefix}/0001`, ... here (as {} writes them)",
                crate::error::LibraryOption::Separate
            ),
        });
    }
    found.sort_by_key(|(number, _, _)| *number);
    Ok(found
        .into_iter()
        .map(|(_, name, meta)| (name, meta))
        .collect())
}
