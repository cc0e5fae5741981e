//! A label as instance ids in its own unsigned integer type: targets compare and test ids in
//! the type the label was read in (`u8`, `u16`, `u32` or `u64`), so a `uint16` label is never
//! widened for the targets that only compare ids. Float labels are converted once, to `u64`
//! (truncated, negative and NaN values as 0).

use std::borrow::Cow;

use crate::recycle::Recyclable;

/// An unsigned integer type whose values are instance ids (0: background).
pub(crate) trait Id: Copy + Ord + Default + Recyclable + Sync + 'static {
    /// The largest id of the type.
    const MAX: Self;
    /// The id as `u64` (exact).
    fn wide(self) -> u64;
    /// Whether the id is 0 (background).
    #[inline]
    fn is_zero(self) -> bool {
        self == Self::default()
    }
    /// Ids of this type as `u64`: borrowed for `u64`, else widened into a buffer from this
    /// thread's pool.
    fn wide_slice(label: &[Self]) -> Cow<'_, [u64]> {
        Cow::Owned(widen(label))
    }
}

macro_rules! impl_id {
    ($($t:ty),*) => {$(
        impl Id for $t {
            const MAX: Self = <$t>::MAX;
            #[inline]
            fn wide(self) -> u64 {
                u64::from(self)
            }
        }
    )*};
}

impl_id!(u8, u16, u32);

impl Id for u64 {
    const MAX: Self = u64::MAX;
    #[inline]
    fn wide(self) -> u64 {
        self
    }
    fn wide_slice(label: &[u64]) -> Cow<'_, [u64]> {
        Cow::Borrowed(label)
    }
}

/// A label's voxels (C order) as ids, borrowed in their own type.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ids<'a> {
    /// `uint8` ids.
    U8(&'a [u8]),
    /// `uint16` ids.
    U16(&'a [u16]),
    /// `uint32` ids.
    U32(&'a [u32]),
    /// `uint64` ids (and float labels, converted).
    U64(&'a [u64]),
}

/// Runs `$body` with `$s` bound to the typed slice of an [`Ids`], monomorphised per type.
macro_rules! match_ids {
    ($ids:expr, $s:ident => $body:expr) => {
        match $ids {
            $crate::target::ids::Ids::U8($s) => $body,
            $crate::target::ids::Ids::U16($s) => $body,
            $crate::target::ids::Ids::U32($s) => $body,
            $crate::target::ids::Ids::U64($s) => $body,
        }
    };
}
pub(crate) use match_ids;

impl Ids<'_> {
    /// The ids as `u64`, borrowed when they already are.
    pub(crate) fn wide(&self) -> Cow<'_, [u64]> {
        match_ids!(*self, s => Id::wide_slice(s))
    }
}

/// `label` as `u64` ids, in a buffer from this thread's pool.
pub(crate) fn widen<T: Id>(label: &[T]) -> Vec<u64> {
    let mut out = crate::recycle::take::<u64>(label.len());
    for (o, &v) in out.iter_mut().zip(label) {
        *o = v.wide();
    }
    out
}

/// Hands a buffer made by [`Id::wide_slice`] back to this thread's pool.
pub(crate) fn recycle_wide(wide: Cow<'_, [u64]>) {
    if let Cow::Owned(v) = wide {
        crate::recycle::give(v);
    }
}

/// A stored voxel type read as an instance id.
pub(crate) trait AsId: Copy {
    /// The voxel's id: integers as they are; floats truncated, negative values and NaN as 0.
    fn id(self) -> u64;
}

impl<T: Id> AsId for T {
    #[inline]
    fn id(self) -> u64 {
        self.wide()
    }
}

impl AsId for f32 {
    #[inline]
    fn id(self) -> u64 {
        if self > 0.0 {
            self as u64
        } else {
            0
        }
    }
}
