//! An array of any voxel type, as a sample's target holds it.

use ndarray::Array3;

use crate::match_dtype;

crate::element::dtype_enum! {
    /// One target's array: `float32` for images, the stored integer type for masks.
    ///
    /// Code over every type matches it with [`crate::match_dtype!`]:
    ///
    /// ```
    /// use ndarray::Array3;
    /// use voxload::augment::Voxels;
    /// use voxload::{match_dtype, DType};
    ///
    /// let mask = Voxels::from(Array3::<u16>::ones((2, 3, 4)));
    /// assert_eq!((mask.dtype(), mask.shape()), (DType::U16, [2, 3, 4]));
    /// let flipped = match_dtype!(&mask, Voxels(a) => Voxels::from(a.slice(ndarray::s![.., ..;-1, ..]).to_owned()));
    /// assert_eq!(flipped, mask);
    /// ```
    #[derive(Clone, Debug, PartialEq)]
    pub enum Voxels of Array3;
}

impl Voxels {
    /// Hands the array's buffer to this thread's pool ([`crate::recycle`]).
    pub(crate) fn recycle(self) {
        match_dtype!(self, Voxels(a) => crate::recycle::give_array(a));
    }

    /// The array's shape `(z, y, x)`.
    #[must_use]
    pub fn shape(&self) -> [usize; 3] {
        match_dtype!(self, Voxels(a) => {
            let (d, h, w) = a.dim();
            [d, h, w]
        })
    }

    /// The `float32` array, if this is one.
    #[must_use]
    pub fn as_f32(&self) -> Option<&Array3<f32>> {
        match self {
            Voxels::F32(a) => Some(a),
            _ => None,
        }
    }

    /// Every voxel as `f64`, in C order (for tests and diagnostics).
    #[must_use]
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match_dtype!(self, Voxels(a) => a.iter().map(|&v| v as f64).collect())
    }
}
