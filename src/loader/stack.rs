//! Stacking samples into a batch: one array per key, taken from the loader's pool of batch
//! buffers and filled slot by slot, either read straight from the store or copied from an
//! augmented sample (whose buffers then go back to the worker's own pool).

use std::ops::Range;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};

use super::learn::Sink;
use super::BatchArray;
use super::{Intensity, Learning};
use crate::augment::Voxels;
use crate::recycle::{self, Pool};
use crate::store::{AnyArray, ImageScale};
use crate::{dispatch_dtype, match_dtype, Bbox, DType, Element, Error, PadMode, Result};

/// The batch arrays being filled, one slot per sample.
pub(crate) struct Stacker {
    pool: Arc<Pool>,
    shape: Vec<usize>,
    slot: usize,
    columns: Vec<(String, BatchArray)>,
    /// The learning targets' and weights' arrays, after the columns ([`Stacker::push_learning`]).
    learned: Vec<(String, BatchArray)>,
    /// `uint16` and `uint32` columns one width wider ([`widened`]).
    widen: bool,
}

/// The column type of arrays of `dtype` when integers are widened: `uint16` → `uint32`,
/// `uint32` → `uint64`, so that the signed view of the column (`int32`, `int64`) is exact.
pub(crate) fn widened(dtype: DType) -> DType {
    match dtype {
        DType::U16 => DType::U32,
        DType::U32 => DType::U64,
        other => other,
    }
}

/// Copies `src` (of a type one width narrower than the column's, see [`widened`]) into
/// `range` of `column`.
fn copy_widened<T: Element>(src: &[T], column: &mut BatchArray, range: Range<usize>) {
    fn widen<N: bytemuck::Pod, W: From<N> + Copy>(src: &[impl bytemuck::Pod], out: &mut [W]) {
        let narrow: &[N] = bytemuck::cast_slice(src);
        for (o, &v) in out.iter_mut().zip(narrow) {
            *o = W::from(v);
        }
    }
    match column {
        BatchArray::U32(a) if T::DTYPE == DType::U16 => widen::<u16, u32>(src, &mut flat(a)[range]),
        BatchArray::U64(a) if T::DTYPE == DType::U32 => widen::<u32, u64>(src, &mut flat(a)[range]),
        _ => unreachable!("copy_widened is called for the widened column types only"),
    }
}

impl Stacker {
    /// Arrays for `samples` samples of `input` voxels each (`(B, D, H, W)`, or `(B, H, W)`
    /// when `two_d` and `D` is 1).
    pub(crate) fn new(pool: Arc<Pool>, samples: usize, input: [usize; 3], two_d: bool) -> Self {
        let mut shape = vec![samples, input[0], input[1], input[2]];
        if two_d && input[0] == 1 {
            shape.remove(1);
        }
        Stacker {
            pool,
            shape,
            slot: input.iter().product(),
            columns: Vec::new(),
            learned: Vec::new(),
            widen: false,
        }
    }

    /// With `uint16` and `uint32` columns one width wider (see [`widened`]).
    pub(crate) fn widening(mut self, widen: bool) -> Self {
        self.widen = widen;
        self
    }

    /// The column type of an array (or sample) of `dtype`.
    fn column_type(&self, dtype: DType) -> DType {
        if self.widen {
            widened(dtype)
        } else {
            dtype
        }
    }

    /// Column `k` (`key`, of type `dtype`), created on first use.
    fn column(&mut self, k: usize, key: &str, dtype: DType) -> Result<&mut BatchArray> {
        let shape = self.shape.clone();
        self.column_shaped(k, key, dtype, &shape)
    }

    /// Column `k` of the batch shape `shape` (the sample count first).
    fn column_shaped(
        &mut self,
        k: usize,
        key: &str,
        dtype: DType,
        shape: &[usize],
    ) -> Result<&mut BatchArray> {
        if k == self.columns.len() {
            let array = BatchArray::pooled(dtype, shape, &self.pool);
            self.columns.push((key.to_string(), array));
        }
        let (name, array) = &mut self.columns[k];
        if name != key || array.dtype() != dtype {
            return Err(Error::Geometry(format!(
                "samples of one batch differ: `{key}` ({dtype}) where `{name}` ({}) was",
                array.dtype()
            )));
        }
        Ok(array)
    }

    /// Reads `window` of `array` into sample `i`'s slot of column `k`: as a `float32` image
    /// scaled and normalised as `image` says, else (`None`) in its stored type.
    pub(crate) fn read(
        &mut self,
        (k, key): (usize, &str),
        i: usize,
        (array, window, pad): (&AnyArray, Bbox, PadMode),
        image: Option<(ImageScale, &Intensity)>,
    ) -> Result<()> {
        let slot = self.slot;
        let range = i * slot..(i + 1) * slot;
        let dtype = if image.is_some() {
            DType::F32
        } else {
            self.column_type(array.dtype())
        };
        let column = self.column(k, key, dtype)?;
        if window.num_voxels() != slot as u64 {
            return Err(Error::Geometry(format!(
                "window {window:?} does not fill a batch slot of {slot} voxels"
            )));
        }
        if let Some((scale, intensity)) = image {
            let out = &mut flat(column.as_typed_mut::<f32>().expect("an image column"))[range];
            if scale == ImageScale::Unit && intensity.is_identity() {
                return array.read_image_streaming(window, pad, out);
            }
            array.read_image_scaled(window, pad, out, scale)?;
            intensity.normalize(out);
            return Ok(());
        }
        if dtype != array.dtype() {
            return match_dtype!(array, AnyArray<T>(a) => {
                let mut narrow = recycle::take::<T>(slot);
                let read = a.read_into(window, pad, &mut narrow);
                if read.is_ok() {
                    copy_widened(&narrow, column, range);
                }
                recycle::give(narrow);
                read
            });
        }
        match_dtype!(array, AnyArray<T>(a) => {
            let out = column.as_typed_mut::<T>().expect("a column of the array's type");
            a.read_into(window, pad, &mut flat(out)[range])
        })
    }

    /// Copies an augmented sample's target into sample `i`'s slot of column `k`, then gives
    /// the target's buffer back to this thread's pool.
    pub(crate) fn push(&mut self, (k, key): (usize, &str), i: usize, data: Voxels) -> Result<()> {
        let slot = self.slot;
        if data.shape().iter().product::<usize>() != slot {
            return Err(Error::Geometry(format!(
                "sample target `{key}` has shape {:?}, not the batch's slot of {slot} voxels",
                data.shape()
            )));
        }
        let range = i * slot..(i + 1) * slot;
        let dtype = self.column_type(data.dtype());
        let column = self.column(k, key, dtype)?;
        if dtype != data.dtype() {
            match_dtype!(data, Voxels<T>(a) => {
                let standard = a.as_standard_layout();
                copy_widened(standard.as_slice().expect("standard layout"), column, range);
                drop(standard);
                recycle::give_array(a);
            });
            return Ok(());
        }
        match_dtype!(data, Voxels<T>(a) => {
            let out = &mut flat(column.as_typed_mut::<T>().expect("a column of the target's type"))[range];
            match a.as_slice() {
                Some(s) => crate::convert::copy_streaming(s, out),
                None => out.iter_mut().zip(a.iter()).for_each(|(d, &v)| *d = v),
            }
            recycle::give_array(a);
        });
        Ok(())
    }

    /// Computes sample `i`'s learning targets and weights from its (augmented) `label` and
    /// `valid_mask` straight into its slots of the learned arrays (`float32`, `(B, C, D, H,
    /// W)`, `(B, C, H, W)` in 2D), which follow every other column in [`Stacker::finish`].
    ///
    /// # Errors
    /// [`Learning::compute`]'s errors; [`Error::Geometry`] when the sample's learned arrays
    /// differ in shape from the batch's first sample's.
    pub(crate) fn push_learning(
        &mut self,
        learning: &Learning,
        i: usize,
        (label, valid_mask): (Option<&Voxels>, Option<&Voxels>),
        two_d: bool,
    ) -> Result<()> {
        let mut slots = LearnedSlots {
            stack: self,
            sample: i,
        };
        learning.compute_into(label, valid_mask, two_d, &mut slots)
    }

    /// The batch shape of a learned array of sample shape `(C, D, H, W)`: the sample count
    /// first, without the z axis in 2D batches.
    fn learned_shape(&self, sample: &[usize]) -> Vec<usize> {
        let mut shape = vec![self.shape[0]];
        shape.extend_from_slice(sample);
        if self.shape.len() == 3 && shape.len() == 5 && shape[2] == 1 {
            shape.remove(2); // 2D batches have no z axis
        }
        shape
    }

    /// The filled arrays, by key.
    pub(crate) fn finish(mut self) -> Vec<(String, BatchArray)> {
        self.columns.append(&mut self.learned);
        self.columns
    }
}

/// An error unless a learned array's batch `column` has the batch `shape` of the sample's.
fn check_learned_shape(
    key: &str,
    column: &BatchArray,
    (batch, sample): (&[usize], &[usize]),
) -> Result<()> {
    if column.shape() == batch {
        return Ok(());
    }
    Err(Error::Geometry(format!(
        "sample target `{key}` has shape {sample:?}, not the batch's {:?}",
        &column.shape()[1..]
    )))
}

/// Sample `sample`'s slots of a batch's learned arrays, created on first use.
struct LearnedSlots<'a> {
    stack: &'a mut Stacker,
    sample: usize,
}

impl Sink for LearnedSlots<'_> {
    fn slot(&mut self, index: usize, key: &str, shape: [usize; 4]) -> Result<&mut [f32]> {
        let batch_shape = self.stack.learned_shape(&shape);
        let learned = &mut self.stack.learned;
        if index == learned.len() {
            let array = BatchArray::pooled(DType::F32, &batch_shape, &self.stack.pool);
            learned.push((key.to_string(), array));
        }
        let (name, column) = &mut learned[index];
        if name != key {
            return Err(Error::Geometry(format!(
                "samples of one batch differ: `{key}` where `{name}` was"
            )));
        }
        check_learned_shape(key, column, (&batch_shape, &shape))?;
        let slot: usize = shape.iter().product();
        let i = self.sample;
        Ok(
            &mut flat(column.as_typed_mut::<f32>().expect("a float32 column"))
                [i * slot..(i + 1) * slot],
        )
    }
}

/// The voxels of a batch array made by [`BatchArray::pooled`] (standard layout).
fn flat<T>(a: &mut ArrayD<T>) -> &mut [T] {
    a.as_slice_mut()
        .expect("batch arrays are made in standard layout")
}

impl BatchArray {
    /// An array of `shape` and `dtype` on a buffer from `pool` (contents unspecified).
    pub(crate) fn pooled(dtype: DType, shape: &[usize], pool: &Pool) -> BatchArray {
        let n = shape.iter().product();
        let shape = IxDyn(shape);
        dispatch_dtype!(dtype, T => BatchArray::from(
            ArrayD::from_shape_vec(shape, pool.take::<T>(n))
                .expect("a pooled buffer of the shape's size"),
        ))
    }

    /// Hands the array's buffer back to `pool`.
    pub(crate) fn recycle(self, pool: &Pool) {
        match_dtype!(self, BatchArray(a) => pool.give_array(a));
    }
}
