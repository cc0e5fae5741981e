//! The voxel types voxload stores and reads, and the one place per-type code is dispatched.
//!
//! The data types are listed once, in the `__dtype_list!` macro of this file
//! (`(variant, Rust type, Zarr v3 name)`). Everything that does the same thing for every type
//! is expanded from that list: [`DType`] and its names and sizes, the [`Element`] impls,
//! [`dispatch_dtype!`](crate::dispatch_dtype) (a run-time [`DType`] to a compile-time type),
//! [`match_dtype!`](crate::match_dtype) (one arm per variant of a per-type enum) and the
//! per-type enums themselves
//! ([`crate::store::AnyArray`], [`crate::augment::Voxels`], [`crate::loader::BatchArray`],
//! [`crate::image::GrayPlane`], the pooled buffers of [`crate::internals::recycle`]).
//!
//! **Adding a data type is one line in that list.** The compiler then points at the few
//! exhaustive matches that are decisions about the new type rather than dispatch: its range in
//! [`crate::pad::representable`], its `[0, 1]` scaling (the crate's `convert::UnitScale`), the
//! lossless widenings and the pixel-kind name of decoded planes ([`crate::image::Plane`]).

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// The one list of data types voxload stores: `(variant, Rust type, Zarr v3 name)`, in the
/// order of [`DType::ALL`]; it calls `$callback! { [list] args }`. See the module documentation:
/// adding a data type is one line here.
#[doc(hidden)]
#[macro_export]
macro_rules! __dtype_list {
    ([$($callback:tt)*] $($args:tt)*) => {
        $($callback)*! {
            [
                (U8, u8, "uint8"),
                (U16, u16, "uint16"),
                (U32, u32, "uint32"),
                (U64, u64, "uint64"),
                (F32, f32, "float32")
            ]
            $($args)*
        }
    };
}

/// Defines [`DType`] and the [`Element`] impls from the list.
macro_rules! define_dtypes {
    ([$(($variant:ident, $t:ty, $name:literal)),*]) => {
        /// A stored data type, named as in Zarr v3 metadata.
        ///
        /// ```
        /// use voxload::DType;
        /// let d: DType = "uint16".parse().unwrap();
        /// assert_eq!(d.size(), 2);
        /// assert_eq!(d.to_string(), "uint16");
        /// ```
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum DType {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl DType {
            /// All supported types.
            pub const ALL: [DType; [$($name),*].len()] = [$(DType::$variant),*];

            /// Bytes per voxel.
            #[must_use]
            pub const fn size(self) -> usize {
                match self {
                    $(DType::$variant => size_of::<$t>(),)*
                }
            }

            /// The Zarr v3 name.
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self {
                    $(DType::$variant => $name,)*
                }
            }
        }

        $(
            impl Element for $t {
                const DTYPE: DType = DType::$variant;
                fn from_f64(v: f64) -> Self {
                    v as $t
                }
                fn to_f64(self) -> f64 {
                    self as f64
                }
            }
        )*
    };
}
__dtype_list!([define_dtypes]);

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        DType::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| Error::Parse {
                what: "data type",
                input: s.to_string(),
                reason: expected_names(),
            })
    }
}

/// "expected uint8, uint16, uint32, uint64 or float32".
fn expected_names() -> String {
    let names = DType::ALL.map(DType::name);
    let (last, rest) = names.split_last().expect("at least one data type");
    format!("expected {} or {last}", rest.join(", "))
}

/// A voxel type: plain old data that zarrs can store.
///
/// Implemented for `u8`, `u16`, `u32`, `u64` and `f32`.
pub trait Element:
    bytemuck::Pod
    + Default
    + PartialEq
    + fmt::Debug
    + Send
    + Sync
    + zarrs::array::Element
    + zarrs::array::ElementOwned
    + 'static
{
    /// The matching stored type.
    const DTYPE: DType;
    /// The value nearest to `v` (saturating for integers, as `as` casts do).
    fn from_f64(v: f64) -> Self;
    /// The value as `f64` (exact for all but the largest `u64`).
    fn to_f64(self) -> f64;
}

/// Runs `$body` once, with `T` (any name you choose) bound to the Rust type of a [`DType`]
/// value: the one place a run-time data type becomes a compile-time one. Dispatch happens
/// here, once per array; the body is generic code monomorphised for each type.
///
/// ```
/// use voxload::{dispatch_dtype, DType, Element};
///
/// fn zero_bytes(dtype: DType, n: usize) -> usize {
///     dispatch_dtype!(dtype, T => vec![T::default(); n].len() * size_of::<T>())
/// }
/// assert_eq!(zero_bytes(DType::U16, 3), 6);
/// assert_eq!(dispatch_dtype!(DType::F32, V => V::DTYPE), DType::F32);
/// ```
#[macro_export]
macro_rules! dispatch_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {
        $crate::__dtype_list!([$crate::__dispatch_dtype] $dtype, $T => $body)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __dispatch_dtype {
    ([$(($variant:ident, $t:ty, $name:literal)),*] $dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $(
                $crate::DType::$variant => {
                    #[allow(dead_code)]
                    type $T = $t;
                    $body
                }
            )*
        }
    };
}

/// Matches a value of a per-type enum ([`crate::store::AnyArray`], [`crate::augment::Voxels`],
/// [`crate::loader::BatchArray`], …; the enum's name must be in scope), running `$body` with
/// the inner value bound to `a` (any name) and, in the `Enum<T>(a)` form, `T` bound to its
/// element type. To rebuild the same variant from the body's result, wrap it in `Enum::from`.
///
/// ```
/// use voxload::loader::BatchArray;
/// use voxload::{match_dtype, Element};
///
/// let a = BatchArray::from(ndarray::ArrayD::<u16>::zeros(vec![2, 3]));
/// assert_eq!(match_dtype!(&a, BatchArray(x) => x.len()), 6);
/// assert_eq!(match_dtype!(&a, BatchArray<T>(x) => x.len() * size_of::<T>()), 12);
/// // The body is compiled for every type: here a transposed copy, of whatever type `a` holds.
/// let t = match_dtype!(&a, BatchArray(x) => BatchArray::from(x.t().to_owned()));
/// assert_eq!((t.dtype(), t.shape()), (voxload::DType::U16, &[3, 2][..]));
/// ```
#[macro_export]
macro_rules! match_dtype {
    ($value:expr, $E:ident<$T:ident>($a:ident) => $body:expr) => {
        $crate::__dtype_list!([$crate::__match_dtype] $value, $E, $T, $a => $body)
    };
    ($value:expr, $E:ident($a:ident) => $body:expr) => {
        $crate::__dtype_list!([$crate::__match_dtype] $value, $E, __T, $a => $body)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __match_dtype {
    (
        [$(($variant:ident, $t:ty, $name:literal)),*]
        $value:expr, $E:ident, $T:ident, $a:ident => $body:expr
    ) => {
        match $value {
            $(
                $E::$variant($a) => {
                    #[allow(dead_code)]
                    type $T = $t;
                    $body
                }
            )*
        }
    };
}

/// Defines a public enum with one variant per data type, each holding `$container<T>`, with
/// `dtype()`, typed access (`as_typed`, `as_typed_mut`) and `From<$container<T>>`.
///
/// `dtype_enum! { /// docs  #[derive(..)]  pub enum Voxels of Array3; }`
macro_rules! dtype_enum {
    ($(#[$attr:meta])* pub enum $E:ident of $container:ident;) => {
        $crate::__dtype_list!([$crate::element::define_dtype_enum] [$(#[$attr])*] $E $container);
    };
}
pub(crate) use dtype_enum;

macro_rules! define_dtype_enum {
    (
        [$(($variant:ident, $t:ty, $name:literal)),*]
        [$($attr:tt)*] $E:ident $container:ident
    ) => {
        $($attr)*
        pub enum $E {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant($container<$t>),
            )*
        }

        impl $E {
            /// The element type.
            #[must_use]
            pub fn dtype(&self) -> $crate::DType {
                match self {
                    $($E::$variant(_) => $crate::DType::$variant,)*
                }
            }

            /// The inner value, if its elements are `T`.
            #[must_use]
            pub fn as_typed<T: $crate::Element>(&self) -> Option<&$container<T>> {
                match self {
                    $(
                        $E::$variant(a) if T::DTYPE == $crate::DType::$variant => {
                            (a as &dyn ::std::any::Any).downcast_ref()
                        }
                    )*
                    _ => None,
                }
            }

            /// The inner value, mutably, if its elements are `T`.
            #[must_use]
            pub fn as_typed_mut<T: $crate::Element>(&mut self) -> Option<&mut $container<T>> {
                match self {
                    $(
                        $E::$variant(a) if T::DTYPE == $crate::DType::$variant => {
                            (a as &mut dyn ::std::any::Any).downcast_mut()
                        }
                    )*
                    _ => None,
                }
            }
        }

        impl<T: $crate::Element> From<$container<T>> for $E {
            /// The variant of `T`.
            ///
            /// # Panics
            /// If `T` is not one of [`DType`]($crate::DType)'s types (an `Element` implemented
            /// outside voxload).
            fn from(value: $container<T>) -> Self {
                let mut slot = Some(value);
                let any: &mut dyn ::std::any::Any = &mut slot;
                $(
                    if let Some(v) = any.downcast_mut::<Option<$container<$t>>>() {
                        return $E::$variant(v.take().expect("just filled"));
                    }
                )*
                panic!("{} is not one of voxload's data types", ::std::any::type_name::<T>())
            }
        }
    };
}
pub(crate) use define_dtype_enum;
