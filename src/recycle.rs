//! Reusable buffers: the loader's workers take their voxel-sized buffers from a [`Pool`] and give
//! them back when done, so that in steady state no voxel buffer is allocated per sample.
//!
//! Two kinds of pool serve the loader: one per thread ([`take`], [`give`]) for the buffers a
//! sample lives in while it is read and augmented, and one shared by the workers and the
//! consumer for the batch arrays, which a [`crate::loader::Batch`] hands back when dropped.
//! A pool keeps a bounded number of buffers, so memory stays bounded by what is in flight.

use std::sync::Mutex;

use ndarray::{ArrayBase, Dimension, OwnedRepr};

use crate::{match_dtype, Element};

crate::element::dtype_enum! {
    /// A recycled voxel buffer, whatever its data type.
    #[derive(Debug)]
    #[doc(hidden)]
    pub enum VoxelBuffer of Vec;
}

/// One recycled buffer, whatever its element type.
#[derive(Debug)]
#[doc(hidden)]
pub enum Buffer {
    Voxel(VoxelBuffer),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    Pair(Vec<[f32; 2]>),
}

impl Buffer {
    fn capacity(&self) -> usize {
        match self {
            Buffer::Voxel(v) => match_dtype!(v, VoxelBuffer(v) => v.capacity()),
            Buffer::F64(v) => v.capacity(),
            Buffer::Bool(v) => v.capacity(),
            Buffer::Pair(v) => v.capacity(),
        }
    }
}

/// Element types a [`Pool`] recycles: every [`Element`], and the few other types the
/// augmentations keep scratch buffers of.
pub trait Recyclable: Copy + Default + Send + 'static {
    #[doc(hidden)]
    fn wrap(v: Vec<Self>) -> Buffer;
    #[doc(hidden)]
    fn unwrap(b: &mut Buffer) -> Option<&mut Vec<Self>>;
}

impl<T: Element> Recyclable for T {
    fn wrap(v: Vec<Self>) -> Buffer {
        Buffer::Voxel(VoxelBuffer::from(v))
    }
    fn unwrap(b: &mut Buffer) -> Option<&mut Vec<Self>> {
        match b {
            Buffer::Voxel(v) => v.as_typed_mut(),
            _ => None,
        }
    }
}

macro_rules! recyclable {
    ($($t:ty => $variant:ident),*) => {$(
        impl Recyclable for $t {
            fn wrap(v: Vec<Self>) -> Buffer {
                Buffer::$variant(v)
            }
            fn unwrap(b: &mut Buffer) -> Option<&mut Vec<Self>> {
                match b {
                    Buffer::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    )*};
}

recyclable!(f64 => F64, bool => Bool, [f32; 2] => Pair);

/// A bounded set of free buffers.
///
/// ```
/// use voxload::internals::recycle::Pool;
///
/// let pool = Pool::new(4);
/// let mut a = pool.take::<f32>(1000);
/// a[0] = 1.0;
/// let address = a.as_ptr();
/// pool.give(a);
/// let b = pool.take::<f32>(800); // served from the buffer given back
/// assert_eq!((b.len(), b.as_ptr()), (800, address));
/// ```
#[derive(Debug)]
pub struct Pool {
    free: Mutex<Vec<Buffer>>,
    keep: usize,
}

impl Pool {
    /// A pool that keeps at most `keep` free buffers (the largest ones).
    #[must_use]
    pub const fn new(keep: usize) -> Pool {
        Pool {
            free: Mutex::new(Vec::new()),
            keep,
        }
    }

    /// A buffer of `len` elements. Its contents are unspecified (old values or `T::default()`):
    /// the caller overwrites what it uses.
    #[must_use]
    pub fn take<T: Recyclable>(&self, len: usize) -> Vec<T> {
        if len == 0 {
            // Nothing to hold: don't tie up a free buffer.
            return Vec::new();
        }
        let mut free = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The smallest free buffer of this type that is large enough; of equal ones the one
        // given back last, whose memory is the most likely to be in cache still.
        let best = free
            .iter_mut()
            .enumerate()
            .filter_map(|(i, b)| T::unwrap(b).map(|v| (i, v.capacity())))
            .filter(|&(_, cap)| cap >= len)
            .min_by_key(|&(i, cap)| (cap, std::cmp::Reverse(i)))
            .map(|(i, _)| i);
        let Some(i) = best else {
            drop(free);
            return vec![T::default(); len];
        };
        let mut buffer = free.remove(i);
        drop(free);
        let v = T::unwrap(&mut buffer).expect("chosen by type");
        let mut v = std::mem::take(v);
        if v.len() >= len {
            v.truncate(len);
        } else {
            v.resize(len, T::default());
        }
        v
    }

    /// A buffer of `len` elements, all `value`.
    #[must_use]
    pub fn take_filled<T: Recyclable>(&self, len: usize, value: T) -> Vec<T> {
        let mut v = self.take(len);
        v.fill(value);
        v
    }

    /// Hands `v` back for reuse (dropping the smallest free buffer when the pool is full).
    pub fn give<T: Recyclable>(&self, v: Vec<T>) {
        if v.capacity() == 0 || self.keep == 0 {
            return;
        }
        let mut free = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        free.push(T::wrap(v));
        if free.len() > self.keep {
            let smallest = (0..free.len())
                .min_by_key(|&i| free[i].capacity())
                .expect("not empty");
            let dropped = free.remove(smallest);
            drop(free);
            drop(dropped);
        }
    }

    /// Hands the storage of an owned array back for reuse.
    pub fn give_array<T: Recyclable, D: Dimension>(&self, a: ArrayBase<OwnedRepr<T>, D>) {
        self.give(a.into_raw_vec_and_offset().0);
    }

    /// The number of free buffers held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.free.lock().map_or(0, |f| f.len())
    }

    /// Whether no free buffer is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Free buffers a thread keeps for the samples it makes.
const THREAD_KEEP: usize = 64;

thread_local! {
    static SCRATCH: Pool = const { Pool::new(THREAD_KEEP) };
}

/// A buffer of `len` elements from this thread's pool (contents unspecified, see [`Pool::take`]).
#[must_use]
pub fn take<T: Recyclable>(len: usize) -> Vec<T> {
    SCRATCH.with(|p| p.take(len))
}

/// A buffer of `len` elements, all `value`, from this thread's pool.
#[must_use]
pub fn take_filled<T: Recyclable>(len: usize, value: T) -> Vec<T> {
    SCRATCH.with(|p| p.take_filled(len, value))
}

/// Hands `v` back to this thread's pool.
pub fn give<T: Recyclable>(v: Vec<T>) {
    SCRATCH.with(|p| p.give(v));
}

/// Hands an owned array's storage back to this thread's pool.
pub fn give_array<T: Recyclable, D: Dimension>(a: ArrayBase<OwnedRepr<T>, D>) {
    SCRATCH.with(|p| p.give_array(a));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_smallest_buffer_that_fits_and_of_the_right_type() {
        let pool = Pool::new(8);
        let small = vec![0u16; 10];
        let large = vec![0u16; 100];
        let (ps, pl) = (small.as_ptr(), large.as_ptr());
        pool.give(large);
        pool.give(small);
        pool.give(vec![0f32; 50]);
        let (first, second) = (pool.take::<u16>(8), pool.take::<u16>(20));
        assert_eq!((first.as_ptr(), second.as_ptr()), (ps, pl));
        // Nothing large enough left: a new buffer, zeroed.
        assert_eq!(pool.take::<u16>(30), vec![0; 30]);
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn keeps_at_most_its_bound_dropping_the_smallest() {
        let pool = Pool::new(2);
        for n in [30usize, 10, 20] {
            pool.give(vec![1u8; n]);
        }
        assert_eq!(pool.len(), 2);
        // The 10-long buffer went: nothing of capacity 10..20 is left.
        assert!(pool.take::<u8>(15).capacity() >= 20);
        assert!(pool.take::<u8>(25).capacity() >= 30);
    }

    #[test]
    fn filled_buffers_hold_only_the_value() {
        let pool = Pool::new(2);
        pool.give(vec![7.0f64; 64]);
        assert_eq!(pool.take_filled(40, 0.5f64), vec![0.5; 40]);
        pool.give(vec![true; 3]);
        // Growing a short buffer fills the new part too.
        assert_eq!(pool.take_filled(5, false), vec![false; 5]);
    }

    #[test]
    fn arrays_give_their_storage_back() {
        let a = ndarray::Array3::<f32>::zeros((2, 3, 4));
        let p = a.as_ptr();
        give_array(a);
        let again = take::<f32>(24);
        assert_eq!(again.as_ptr(), p);
    }
}
