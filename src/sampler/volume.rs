//! Volumes as named arrays of equal shape: an image, an optional label and valid mask, and any
//! number of extra named targets (SPEC section 4's `(image, label?, valid_mask?)` tuples).
//!
//! Arrays are shared (`Arc`), so handing a volume's label and mask to a
//! [`RandomSampler`](super::RandomSampler) copies nothing. Arrays made by `ingest --separate`
//! (`NAME/0000`, `NAME/0001`, ..., each of shape `(1, H, W)`) are listed in order by
//! [`separate_arrays`] and opened as depth-1 volumes by [`Volume::open_separate`].

use std::path::Path;
use std::sync::Arc;

use super::SampleVolume;
use crate::store::{list_arrays, AnyArray, ArrayMeta, OpenOptions};
use crate::{Error, Result, Shape};

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
        let (want, got) = (self.shape(), array.shape());
        if want != got {
            return Err(Error::Geometry(format!(
                "volume {}: {name} has shape {got:?} but {} has shape {want:?}; all arrays of a volume must have the same shape",
                self.index, self.image.name
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
        let open = |name: &str| AnyArray::open(store, name, options).map(Arc::new);
        let mut volume = Volume::new(index, open(&names.image)?);
        volume.image.name = format!("image `{}`", names.image);
        if let Some(name) = &names.label {
            volume.label = Some(volume.check("label", format!("label `{name}`"), open(name)?)?);
        }
        if let Some(name) = &names.valid_mask {
            volume.valid_mask =
                Some(volume.check("valid_mask", format!("valid_mask `{name}`"), open(name)?)?);
        }
        for (target, name) in &names.targets {
            let named =
                volume.check(target, format!("target `{target}` (`{name}`)"), open(name)?)?;
            volume.targets.push(named);
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
                Volume::open(i, store, &names, options)
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
