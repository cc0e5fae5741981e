//! [`VolumeScales`]: the zooms of a volume's arrays by role.

use super::ZoomOrder;
use crate::DType;

/// The zooms of a volume's arrays by role, for
/// [`Volume::open_scaled`](crate::sampler::Volume::open_scaled): PyTC's `DATASET.IMAGE_SCALE`
/// (the image, zoomed by order 3), `LABEL_SCALE` (the label, order 0) and `VALID_MASK_SCALE`
/// (the valid mask, order 0), each `(z, y, x)`. An extra target zoomed by order 3 (an image)
/// follows the image's scale, one zoomed by order 0 (a label or mask) the label's. The default
/// zooms nothing.
///
/// ```
/// use voxload::store::{VolumeScales, ZoomOrder};
/// // DATA_SCALE for every role, and a float32 target zoomed as a label.
/// let scales = VolumeScales::uniform([1.0, 0.5, 0.5])
///     .image([1.0, 0.25, 0.25])
///     .target_order("distance", ZoomOrder::Nearest);
/// assert_eq!((scales.label, scales.image), ([1.0, 0.5, 0.5], [1.0, 0.25, 0.25]));
/// assert!(VolumeScales::default().is_unit() && !scales.is_unit());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct VolumeScales {
    /// `IMAGE_SCALE`: the image's, by cubic B-spline (order 3).
    pub image: [f64; 3],
    /// `LABEL_SCALE`: the label's, by nearest neighbour (order 0).
    pub label: [f64; 3],
    /// `VALID_MASK_SCALE`: the valid mask's, by nearest neighbour (order 0).
    pub valid_mask: [f64; 3],
    /// How extra targets are zoomed, by target name (PyTC's target types: `img` by
    /// [`ZoomOrder::Cubic`], `mask` by [`ZoomOrder::Nearest`]). A target not listed is zoomed
    /// as an image when it is stored as `float32`, and as a label otherwise.
    pub target_orders: Vec<(String, ZoomOrder)>,
}

impl Default for VolumeScales {
    fn default() -> Self {
        VolumeScales::uniform([1.0; 3])
    }
}

impl VolumeScales {
    /// `scale` for every role: PyTC's `DATA_SCALE`, which the per-role scales default to.
    #[must_use]
    pub fn uniform(scale: [f64; 3]) -> Self {
        VolumeScales {
            image: scale,
            label: scale,
            valid_mask: scale,
            target_orders: Vec::new(),
        }
    }

    /// With the image's scale.
    #[must_use]
    pub fn image(mut self, scale: [f64; 3]) -> Self {
        self.image = scale;
        self
    }

    /// With the label's scale.
    #[must_use]
    pub fn label(mut self, scale: [f64; 3]) -> Self {
        self.label = scale;
        self
    }

    /// With the valid mask's scale.
    #[must_use]
    pub fn valid_mask(mut self, scale: [f64; 3]) -> Self {
        self.valid_mask = scale;
        self
    }

    /// With extra target `target` zoomed by `order` (and the image's or the label's scale).
    #[must_use]
    pub fn target_order(mut self, target: &str, order: ZoomOrder) -> Self {
        self.target_orders.retain(|(t, _)| t != target);
        self.target_orders.push((target.into(), order));
        self
    }

    /// True when no role is zoomed.
    #[must_use]
    pub fn is_unit(&self) -> bool {
        [self.image, self.label, self.valid_mask]
            .iter()
            .all(|s| *s == [1.0; 3])
    }

    /// The scale and order of extra target `target`, stored as `dtype`.
    ///
    /// ```
    /// use voxload::store::{VolumeScales, ZoomOrder};
    /// use voxload::DType;
    /// let scales = VolumeScales::default().image([1.0, 2.0, 2.0]).target_order("aff", ZoomOrder::Nearest);
    /// assert_eq!(scales.target("aff", DType::F32), ([1.0; 3], ZoomOrder::Nearest));
    /// assert_eq!(scales.target("other", DType::F32), ([1.0, 2.0, 2.0], ZoomOrder::Cubic));
    /// assert_eq!(scales.target("other", DType::U16).1, ZoomOrder::Nearest);
    /// ```
    #[must_use]
    pub fn target(&self, target: &str, dtype: DType) -> ([f64; 3], ZoomOrder) {
        let listed = self.target_orders.iter().find(|(t, _)| t == target);
        let order = listed.map_or(
            if dtype == DType::F32 {
                ZoomOrder::Cubic
            } else {
                ZoomOrder::Nearest
            },
            |(_, order)| *order,
        );
        match order {
            ZoomOrder::Cubic => (self.image, order),
            ZoomOrder::Nearest => (self.label, order),
        }
    }
}
